"""DOCKERVERSE_REDIS_REPLICAS against a real master and replica: what is confirmed, what is withdrawn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.core.policy import Actor, Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.wire import claims, replicas
from bot.wire.payload import ReplyTo
from bot.wire.queues import connect
from tests.support.redis_ha import Node, server_args
from tests.support.services import free_port
from workers.runtime.main import build_worker

pytestmark = pytest.mark.redis


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    """A master and its replica, synced; both stopped afterwards."""
    m_port, r_port = free_port(), free_port()
    for name in ("m", "r"):
        (tmp_path / name).mkdir()
    master = Node(server_args(m_port, tmp_path / "m"), m_port, tmp_path / "m.log").start()
    replica_args = server_args(r_port, tmp_path / "r", "--replicaof", "127.0.0.1", str(m_port))
    replica = Node(replica_args, r_port, tmp_path / "r.log").start()
    conn = redis.Redis(port=m_port)
    try:
        conn.set("synced", 1)
        assert conn.wait(1, 10_000) == 1
        yield master, replica
    finally:
        replica.stop()
        master.stop()


def test_held_means_on_this_master_and_its_replicas(pair: tuple[Node, Node]) -> None:
    """A key is held once a replica has it, with the value asked for; a missing key, another value or a
    replica that is gone is not confirmed (after the wait)."""
    master, replica = pair
    conn = redis.Redis(port=master.port)
    conn.set("k", "v1")
    assert replicas.held(conn, "k", 1, 2000, "v1")
    assert not replicas.held(conn, "k", 1, 200, "v2")
    assert not replicas.held(conn, "missing", 1, 200)
    conn.hset("h", "status", "finished")
    assert replicas.held(conn, "h", 1, 2000, "finished", field="status")
    replica.kill()
    assert not replicas.held(conn, "k", 1, 200, "v1")
    assert replicas.held(conn, "k", 0, 200, "v1")  # 0 replicas asked: Redis's own default, nothing waited for


def test_a_claim_is_its_attempts_own(pair: tuple[Node, Node]) -> None:
    """Asking again with the same attempt token finds the claim its own (a reply lost in a failover);
    another attempt is refused."""
    conn = redis.Redis(port=pair[0].port)
    assert claims.claim_run(conn, "job1", "attempt-a")
    assert claims.claim_run(conn, "job1", "attempt-a")
    assert not claims.claim_run(conn, "job1", "attempt-b")


def test_a_job_no_replica_confirms_is_withdrawn_and_never_runs(pair: tuple[Node, Node]) -> None:
    """With DOCKERVERSE_REDIS_REPLICAS=1 and the replica gone, submit refuses saying the job was withdrawn;
    the job is failed with that reason and a worker that dequeues it does not run it."""
    master, replica = pair
    url = f"redis://127.0.0.1:{master.port}/0"
    settings = Settings(
        REDIS_URL=url, DOCKERVERSE_JOB_KEY="k" * 32, DOCKERVERSE_REDIS_REPLICAS=1, DOCKERVERSE_REDIS_WAIT_MS=100
    )
    worker = build_worker(settings, "local")
    worker.register_birth()
    dispatcher = Dispatcher(settings, Policy(), connect(url))
    confirmed = dispatcher.submit("help", Actor("shell:t", "shell"), ReplyTo())
    replica.kill()
    with pytest.raises(replicas.Withdrawn, match="withdrawn and will not run"):
        dispatcher.submit("help", Actor("shell:t", "shell"), ReplyTo())
    conn = redis.Redis(port=master.port)
    withdrawn = [j for j in conn.keys("dockerverse:claim:*") if conn.get(j) == b"withdrawn"]
    assert len(withdrawn) == 1
    job = Job.fetch(withdrawn[0].decode().removeprefix(claims.CLAIM_PREFIX), connection=conn, serializer=JSONSerializer)
    assert job.get_status() == "failed" and "withdrawn" in job.meta["error"]
    worker.register_death()
    conn.rpush("rq:queue:dockerverse:local", job.id)  # even pushed back onto its queue, it does not run
    state = dispatcher.job_state(confirmed.job_id)
    assert state is not None and state["status"] == "queued"
    settings_no_wait = Settings(REDIS_URL=url, DOCKERVERSE_JOB_KEY="k" * 32)
    build_worker(settings_no_wait, "local").work(burst=True)
    assert Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == "failed"
    finished = dispatcher.job_state(confirmed.job_id)
    assert finished is not None and finished["status"] == "finished"
