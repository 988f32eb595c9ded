"""Only the web signs jobs: workers hold verify keys, refuse anything else, and keys rotate without downtime.

A real web and worker (tests/support/stack.py: the web has DOCKERVERSE_SIGNING_KEY, the worker only
DOCKERVERSE_VERIFY_KEY). Forged jobs are written straight into Redis, as whoever owns a worker's host
could, and each test waits for the job's final state before saying it did not run.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.core.grammar import parse
from bot.core.policy import Actor
from bot.wire.payload import EXECUTE, ReplyTo, envelope, new_payload, open_envelope
from bot.wire.signing import HmacKey, Signer, generate, parse_signing_key, parse_verify_keys
from tests.support.jobs import settled
from tests.support.services import TEST_IMAGE, TEST_LABEL
from tests.support.stack import JOB_KEY, ROOT, SIGNING_KEY, VERIFY_KEY, Stack
from tests.support.stack_factory import StackOptions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NEW, NEW_PUB = generate()


# The worker trusts the old key and the new one (mid-rotation); the web already signs with the new one.
STACK = StackOptions(db=13, env={"DOCKERVERSE_SIGNING_KEY": NEW, "DOCKERVERSE_VERIFY_KEY": f"{VERIFY_KEY},{NEW_PUB}"})


@pytest.fixture
def db(stack: Stack) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    yield conn
    conn.close()


def forge(db: redis.Redis, key: Signer, text: str) -> str:
    """Enqueue `text` as an admin job signed with `key`, straight into the host's queue; returns its id."""
    p = new_payload(uuid.uuid4().hex, text, parse(text), Actor("U0ADMIN", "shell", role="admin"), ReplyTo(), "local")
    Queue("dockerverse:local", connection=db, serializer=JSONSerializer).enqueue(
        EXECUTE, kwargs=envelope(key, p), job_id=p.id, ttl=60, result_ttl=600, failure_ttl=600
    )
    return p.id


def worker_machine_key(stack: Stack) -> HmacKey:
    return HmacKey(bytes.fromhex((Path(stack.env["DOCKERVERSE_STATE_DIR"]) / "worker-seal.key").read_text()))


def test_jobs_signed_with_any_key_but_the_webs_are_refused_and_never_run(
    stack: Stack, db: redis.Redis, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """An admin `rm` signed with the shared legacy key, a worker's own machine key or a stranger's Ed25519 key
    fails unrun: the container is still there."""
    victim = docker_cleanup.containers.run(
        TEST_IMAGE, ["sleep", "300"], name=f"dvtest-keep-{uuid.uuid4().hex[:6]}", labels={TEST_LABEL: "1"}, detach=True
    )
    stranger, _ = generate()
    keys: list[Signer] = [
        HmacKey(JOB_KEY.encode()),
        worker_machine_key(stack),
        parse_signing_key("K", stranger),
    ]
    for key in keys:
        state = settled(stack, forge(db, key, f"rm {victim.name} --force"))
        assert state["status"] == "failed" and "signature" in (state.get("error") or ""), state
    victim.reload()
    assert victim.status == "running"


def test_a_worker_with_old_and_new_verify_keys_runs_jobs_signed_by_either(
    stack: Stack, db: redis.Redis, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Mid-rotation the worker trusts "old,new": the web's jobs (new key) run, and so does one still signed
    with the old key; the worker never had a key that signs."""
    shell = stack.shell("list --all")
    assert shell.returncode == 0, shell.stdout + shell.stderr
    old = settled(stack, forge(db, parse_signing_key("K", SIGNING_KEY), "list --all"))
    assert old["status"] == "finished", old
    logs = stack.logs[0].read_text()
    assert "DOCKERVERSE_JOB_KEY is a shared secret" not in logs


def test_fleet_wide_list_is_split_and_signed_by_the_web(stack: Stack, db: redis.Redis) -> None:
    """`list --all-hosts` runs as one web-signed job per host, named in the asking job's signed payload; the
    worker (which cannot sign) only gathers them."""
    shell = stack.shell("list --all --all-hosts")
    assert shell.returncode == 0 and "on 1 hosts" in shell.stdout, shell.stdout + shell.stderr
    verify = parse_verify_keys("V", NEW_PUB)
    *_, asking = sorted(  # the newest: the database may hold an earlier module's fleet-wide jobs
        (
            j
            for j in Job.fetch_many(
                [k.decode().removeprefix("rq:job:") for k in db.scan_iter("rq:job:*") if b":" not in k[7:]],
                connection=db,
                serializer=JSONSerializer,
            )
            if j is not None and (j.kwargs.get("payload") or {}).get("parts")
        ),
        key=lambda j: j.created_at or 0,
    )
    p = open_envelope(verify, asking.kwargs, asking.id)
    [(host, part_id)] = p.parts
    part = open_envelope(verify, Job.fetch(part_id, connection=db, serializer=JSONSerializer).kwargs, part_id)
    assert host == "local" and part.host == "local" and not part.command.all_hosts  # type: ignore[attr-defined]


def start(stack: Stack, role: str, **env: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "bot.cli.main", role] + (["--lane", "quick"] if role == "worker" else ["--port", "9"])
    return subprocess.run(args, env={**stack.env, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_worker_with_the_signing_key_and_a_web_with_only_a_verify_key_refuse_to_start(stack: Stack) -> None:
    """A worker holding DOCKERVERSE_SIGNING_KEY, or one whose verify key is malformed, stops at start; so does a
    web without the signing key."""
    worker = start(stack, "worker")
    assert worker.returncode == 2 and "DOCKERVERSE_SIGNING_KEY is set for this worker" in worker.stderr
    bad = start(stack, "worker", DOCKERVERSE_SIGNING_KEY="", DOCKERVERSE_VERIFY_KEY="ed25519pk_nope")
    assert bad.returncode == 2 and "DOCKERVERSE_VERIFY_KEY is not an Ed25519 public key" in bad.stderr
    web = start(stack, "web", DOCKERVERSE_SIGNING_KEY="")
    assert web.returncode == 2 and "DOCKERVERSE_VERIFY_KEY is set but DOCKERVERSE_SIGNING_KEY is not" in web.stderr
