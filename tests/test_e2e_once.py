"""Jobs run at most once and only while fresh; what workers act on from Redis is sealed.

Each test attacks a real web + worker through Redis, as someone who can write to it would, and
waits on a job's final state (or on a genuine record being handled in the same pass) before it
says that something did not happen.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import redis

from bot.wire.sealed import seal
from bot.wire.signing import HmacKey
from tests.support.fakeslack import FakeSlack
from tests.support.jobs import settled
from tests.support.services import TEST_IMAGE, TEST_LABEL
from tests.support.stack import Stack
from tests.support.stack_factory import StackOptions
from tests.test_e2e_hooks import hook

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE = 4  # seconds: the policy's `deadlines: {default: 4s}` for this module


# Short job deadlines and a quickly lapsing registration. A host is called down only after a minute here:
# these tests are about jobs queued for a host whose worker is gone but not yet known to be
# (tests/test_e2e_fleet.py covers down hosts).
STACK = StackOptions(
    db=11,
    policy_extra=f"deadlines: {{default: {DEADLINE}s}}\n",
    env={"DOCKERVERSE_WORKER_TTL": "16", "DOCKERVERSE_DOWN_AFTER": "60"},
)


@pytest.fixture
def db(stack: Stack) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    yield conn
    conn.close()


def labelled(client: docker.DockerClient, name: str) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": TEST_LABEL, "name": name})]


def test_a_replayed_job_id_never_runs_twice(
    stack: Stack, slack: FakeSlack, db: redis.Redis, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A finished `run` whose id is pushed back onto its queue is dropped unrun: one container, and the first
    run's record is untouched."""
    first = hook(stack, "ci", {"command": f"run {TEST_IMAGE} -- sleep 300", "wait": 30})  # no name to clash on
    assert first.status_code == 200 and first.json()["status"] == "finished", first.text
    job_id = first.json()["job_id"]

    db.lpush("rq:queue:dockerverse:local", job_id)  # the replay, as anyone with Redis access could
    after = hook(stack, "ci", {"command": "list", "wait": 30})  # one worker, in order: the replay came first
    assert after.json()["status"] == "finished", after.text

    assert len(docker_cleanup.containers.list(all=True, filters={"label": f"dockerverse.job={job_id}"})) == 1
    assert settled(stack, job_id)["status"] == "finished"
    assert db.llen("rq:queue:dockerverse:local") == 0
    assert f"job {job_id} was claimed before" in stack.logs[0].read_text()


def test_a_job_past_its_deadline_never_runs_and_the_asker_is_told(
    stack: Stack, slack: FakeSlack, db: redis.Redis, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """With the host's only worker SIGKILLed, a slash `run` is queued; the worker that comes back after the
    deadline never runs it, and the channel hears that nothing was done. A hook waiting on such a job
    hears it from the web at the deadline."""
    name = f"dvtest-late-{uuid.uuid4().hex[:6]}"
    worker = stack.procs[0]
    stack.kill(worker)  # its registration lives on for up to 16 s: the web still takes commands
    try:
        ack = stack.slash(f"run {TEST_IMAGE} --name {name} -- sleep 300", user="U0OPS", channel="C0LATE")
        assert ack.status_code == 200 and "is queued as job" in ack.text, ack.text
        # Queued; or already moved to the intermediate list by the killed worker's blocking pop, when Redis
        # served it before noticing the connection was gone (a worker that dies so is a real case too).
        lists = ("rq:queue:dockerverse:local", "rq:queue:dockerverse:local:intermediate")
        queued = time.monotonic() + 5
        while not any(db.llen(k) for k in lists) and time.monotonic() < queued:
            time.sleep(0.05)
        [slash_job] = [i.decode() for k in lists for i in db.lrange(k, 0, -1)]
        sent = time.time()
        waited = hook(stack, "ci", {"command": f"run {TEST_IMAGE} --name {name}-hook -- sleep 300", "wait": 20})
        took = time.time() - sent
        body = waited.json()
        assert body["status"] == "failed" and "did not pick this up within 4s; nothing was done" in body["error"], body
        assert "nothing was done" in body["error"] and took < 15

        while time.time() < sent + DEADLINE + 1:  # the host comes back only after the deadline
            time.sleep(0.2)
    finally:  # the later tests need the worker back, whatever happened here
        stack.spawn(stack.logs[0].with_name("worker-back.log"), "worker")
        stack.procs.remove(worker)

    state = settled(stack, slash_job)
    assert state.get("status") == "failed" and "did not pick this up within 4s" in str(state.get("error")), state
    [told] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0LATE")
    assert "nothing was done" in json.dumps(told.params) and "U0OPS" in json.dumps(told.params)
    [hook_told] = slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0DEPLOY")
    assert "nothing was done" in json.dumps(hook_told.params)
    assert labelled(docker_cleanup, name) == []
    assert db.zcard("dockerverse:deadlines") == 0


def test_forged_and_tampered_redeploy_journals_are_ignored(
    stack: Stack, db: redis.Redis, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Recovery acts only on journals sealed by Dockerverse, and even then removes an old container only when
    the job's own new container holds the name: forged, tampered and mismatched journals touch nothing."""
    victim = docker_cleanup.containers.run(
        TEST_IMAGE,
        ["sleep", "300"],
        name=f"dvtest-victim-{uuid.uuid4().hex[:6]}",
        labels={TEST_LABEL: "1"},
        detach=True,
    )
    prefix = "dockerverse:redeploy:local:"
    forged = {
        "job": "f" * 32,
        "worker": "",
        "name": "web",
        "old_id": victim.id,
        "phase": "committed",
        "aside": victim.name,
    }
    # Journals are sealed with the worker machine's own key, kept in its state directory.
    local = HmacKey(bytes.fromhex((Path(stack.env["DOCKERVERSE_STATE_DIR"]) / "worker-seal.key").read_text()))
    db.set(prefix + "forged", json.dumps(forged), ex=600)
    db.set(prefix + "unsealed", json.dumps({"d": forged, "exp": None, "s": "0" * 64}), ex=600)
    tampered = json.loads(seal(local, prefix + "tampered", {**forged, "old_id": "0" * 64}))
    tampered["d"]["old_id"] = victim.id
    db.set(prefix + "tampered", json.dumps(tampered), ex=600)
    # Sealed, but the job never made a new container that holds the name: the old one stays.
    genuine = {**forged, "job": "a" * 32}
    db.set(prefix + "mismatched", seal(local, prefix + "mismatched", genuine), ex=600)
    # A genuine journal from before the swap: recovery simply releases it, in the same pass as the rest.
    before = {"job": "b" * 32, "worker": "", "name": "web2", "old_id": "1" * 64, "phase": "pulling"}
    db.set(prefix + "before", seal(local, prefix + "before", before), ex=600)

    # Recovery releases each sealed journal it has dealt with: once both are gone it has decided on the
    # mismatched one (and not merely not got to it yet), so the victim's state below is its final word.
    deadline = time.monotonic() + 30
    while db.exists(prefix + "before", prefix + "mismatched") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not db.exists(prefix + "before"), "no worker recovered the genuine journal"
    assert not db.exists(prefix + "mismatched"), "no worker dealt with the mismatched journal"
    victim.reload()
    assert victim.status == "running"
    assert all(db.exists(prefix + k) for k in ("forged", "unsealed", "tampered"))
    logs = "\n".join(log.read_text() for log in stack.logs if log.exists() and "worker" in log.name)
    assert "not sealed by Dockerverse" in logs


def test_a_sealed_record_moved_changed_or_expired_is_refused(tmp_path: Path) -> None:
    """The seal covers the key, the data and the expiry: any change, a copy to another key, or age refuses it."""
    from bot.wire.sealed import unseal

    key = HmacKey(b"k" * 32)
    raw = seal(key, "a", {"x": 1}, ttl=10, now=1000.0)
    assert unseal(key, "a", raw, now=1005.0) == {"x": 1}
    assert unseal(key, "b", raw, now=1005.0) is None
    assert unseal(key, "a", raw, now=1011.0) is None
    assert unseal(HmacKey(b"other" * 8), "a", raw, now=1005.0) is None
    assert unseal(key, "a", raw.replace('"x": 1', '"x": 2'), now=1005.0) is None
    assert unseal(key, "a", "not json") is None and unseal(key, "a", None) is None
