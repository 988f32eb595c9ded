"""Workers run only signed jobs for workers.runtime.tasks.execute; the dispatcher refuses fast when nothing can run."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Callback, Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.core import commands as c
from bot.core.errors import QueueUnavailable
from bot.core.policy import Actor, Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.wire.payload import EXECUTE, ReplyTo, envelope, new_payload
from bot.wire.queues import connect, queue_name
from bot.wire.signing import HmacKey
from tests.support.services import free_port
from workers.runtime.main import build_worker

HOST = "local"
KEY = "k" * 32  # the legacy shared key: in-process web and worker share these settings (test_e2e_job_keys: Ed25519)
SHELL = Actor("shell:t", "shell")
# The contract's job shape, and `progress` (a pull's layer totals, which the dashboard shows while it runs).
STATE_KEYS = {"id", "status", "command", "result", "error", "createdAt", "endedAt", "progress"}


def touch_marker(job: Job, *args: Any) -> None:
    """An rq callback that proves it ran: it creates the file named in the job's meta."""
    Path(job.meta["marker"]).touch()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(REDIS_URL=redis_url, DOCKERVERSE_JOB_KEY=KEY, DOCKERVERSE_HOST_NAME=HOST)


@pytest.fixture
def conn(redis_url: str) -> redis.Redis:
    return connect(redis_url)


@pytest.fixture
def queue(conn: redis.Redis) -> Queue:
    return Queue(queue_name(HOST), connection=conn, serializer=JSONSerializer)


def _work(settings: Settings) -> None:
    """Run one in-process worker until the queue is empty."""
    build_worker(settings, HOST).work(burst=True)


def _fetch(conn: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)


def _signed_help(job_id: str, key: str = KEY) -> dict[str, Any]:
    payload = new_payload(job_id, "help", c.Help(), SHELL, ReplyTo(), HOST)
    return envelope(HmacKey(key.encode()), payload)


def _assert_refused(conn: redis.Redis, job_id: str, reason: str) -> None:
    job = _fetch(conn, job_id)
    assert job.get_status() == JobStatus.FAILED
    assert job.return_value() is None
    error = job.meta.get("error", "")
    assert error.startswith("Refused by the worker:"), error
    assert reason in error
    assert error.endswith("Nothing was run.")


@pytest.mark.parametrize(
    ("func", "make_args"),
    [
        ("os.system", lambda marker: [f"touch {marker}"]),
        ("builtins.exec", lambda marker: [f"open({str(marker)!r}, 'w').close()"]),
        ("subprocess.call", lambda marker: [["touch", str(marker)]]),
    ],
    ids=["os.system", "builtins.exec", "subprocess.call"],
)
def test_job_for_another_function_is_refused_and_not_run(
    settings: Settings, conn: redis.Redis, queue: Queue, tmp_path: Path, func: str, make_args: Any
) -> None:
    """A job written straight into Redis for any function but workers.runtime.tasks.execute fails, unrun."""
    marker = tmp_path / "pwned"
    job = queue.enqueue(func, *make_args(marker))

    _work(settings)

    _assert_refused(conn, job.id, f"refusing to run {func!r}: only {EXECUTE} runs here")
    assert not marker.exists()


def test_job_with_a_wrong_signature_is_refused(settings: Settings, conn: redis.Redis, queue: Queue) -> None:
    """A payload signed with another key is refused and nothing runs."""
    job_id = uuid.uuid4().hex
    job = queue.enqueue(EXECUTE, kwargs=_signed_help(job_id, key="x" * 32), job_id=job_id)

    _work(settings)

    _assert_refused(conn, job.id, "signature is missing or invalid")


def test_job_with_a_tampered_payload_is_refused(settings: Settings, conn: redis.Redis, queue: Queue) -> None:
    """Changing a signed payload after signing (here: the command) voids the signature."""
    job_id = uuid.uuid4().hex
    kwargs = _signed_help(job_id)
    kwargs["payload"]["command"] = c.to_json(c.Remove(target="web", force=True))
    kwargs["payload"]["text"] = "rm web --force"
    job = queue.enqueue(EXECUTE, kwargs=kwargs, job_id=job_id)

    _work(settings)

    _assert_refused(conn, job.id, "signature is missing or invalid")


def test_job_without_a_signature_is_refused(settings: Settings, conn: redis.Redis, queue: Queue) -> None:
    """A job for execute whose arguments are not exactly a payload and its signature is refused."""
    job_id = uuid.uuid4().hex
    kwargs = _signed_help(job_id)
    job = queue.enqueue(EXECUTE, kwargs={"payload": kwargs["payload"]}, job_id=job_id)

    _work(settings)

    _assert_refused(conn, job.id, "arguments are not a signed payload")


def test_validly_signed_job_replayed_under_another_id_is_refused(
    settings: Settings, conn: redis.Redis, queue: Queue
) -> None:
    """A correctly signed envelope copied into a job with a different id is refused."""
    original = uuid.uuid4().hex
    replay = uuid.uuid4().hex
    job = queue.enqueue(EXECUTE, kwargs=_signed_help(original), job_id=replay)

    _work(settings)

    _assert_refused(conn, job.id, f"payload was signed for job {original!r}, not {replay!r}")


@pytest.mark.parametrize("hook", ["on_success", "on_failure", "on_stopped"])
def test_signed_job_with_callbacks_is_refused_and_callback_never_runs(
    settings: Settings, conn: redis.Redis, queue: Queue, tmp_path: Path, hook: str
) -> None:
    """A signed job that carries an rq callback is refused, and the callback is never imported or called."""
    marker = tmp_path / "callback-ran"
    job_id = uuid.uuid4().hex
    callback = Callback(f"{__name__}.{touch_marker.__name__}")
    job = queue.enqueue(
        EXECUTE, kwargs=_signed_help(job_id), job_id=job_id, meta={"marker": str(marker)}, **{hook: callback}
    )

    _work(settings)

    _assert_refused(conn, job.id, "refusing a job with callbacks")
    assert not marker.exists()


def test_signed_help_job_runs_and_finishes(settings: Settings, conn: redis.Redis) -> None:
    """A help command submitted through the Dispatcher runs on the worker and finishes ok with the help text."""
    worker: SimpleWorker = build_worker(settings, HOST)
    worker.register_birth()  # type: ignore[no-untyped-call]
    dispatcher = Dispatcher(settings, Policy(), conn)
    submitted = dispatcher.submit("help", SHELL, ReplyTo())
    worker.register_death()  # type: ignore[no-untyped-call]

    worker.work(burst=True)

    job = _fetch(conn, submitted.job_id)
    assert job.get_status() == JobStatus.FINISHED
    result = job.return_value()
    assert isinstance(result, dict)
    assert result["ok"] is True
    assert result["summary"].startswith("Help")
    assert "run IMAGE" in result["text"]
    assert result["host"] == HOST
    assert result["delivery"] == {"ok": True, "posted": 0}


def test_a_finished_job_leaves_the_records_rq_keeps(settings: Settings, conn: redis.Redis, queue: Queue) -> None:
    """The worker records success in one transaction of its own (workers/runtime/main.py): what RQ's tools
    and the web read afterwards is what RQ's worker leaves."""
    worker = build_worker(settings, HOST)
    worker.register_birth()  # type: ignore[no-untyped-call]
    submitted = Dispatcher(settings, Policy(), conn).submit("help", SHELL, ReplyTo())
    worker.register_death()  # type: ignore[no-untyped-call]

    worker.work(burst=True)

    job = _fetch(conn, submitted.job_id)
    assert job.get_status() == JobStatus.FINISHED
    assert job.id in queue.finished_job_registry.get_job_ids()
    assert job.id not in queue.started_job_registry.get_job_ids()
    assert not conn.keys(f"rq:execution:{job.id}:*")  # the execution record is cleaned up
    assert 0 < conn.ttl(job.key) <= job.get_result_ttl(worker.default_result_ttl)  # kept as long as its result
    assert conn.hget(worker.key, "successful_job_count") == b"1"
    assert conn.hget(worker.key, "state") == b"idle"
    assert job.latest_result() is not None and job.return_value()["summary"].startswith("Help")


def test_submit_refuses_when_no_worker_serves_the_host(settings: Settings, conn: redis.Redis, queue: Queue) -> None:
    """With no live worker for the host, submit raises QueueUnavailable quickly and queues nothing."""
    dispatcher = Dispatcher(settings, Policy(), conn)
    started = time.monotonic()

    with pytest.raises(QueueUnavailable) as refused:
        dispatcher.submit("help", SHELL, ReplyTo())

    assert time.monotonic() - started < 3
    assert f"No worker is serving Docker host `{HOST}`" in refused.value.message
    assert "nothing was queued" in refused.value.message
    assert refused.value.status == 503
    assert queue.count == 0


def test_submit_refuses_when_a_dead_worker_left_its_registration(
    settings: Settings, conn: redis.Redis, queue: Queue
) -> None:
    """A worker whose heartbeat key expired (killed) does not count as live: nothing is queued."""
    worker = build_worker(settings, HOST)
    worker.register_birth()  # type: ignore[no-untyped-call]
    conn.delete(worker.key)  # what an expired heartbeat looks like: still in the set, key gone

    with pytest.raises(QueueUnavailable, match="No worker is serving"):
        Dispatcher(settings, Policy(), conn).submit("help", SHELL, ReplyTo())

    assert queue.count == 0


def test_submit_refuses_fast_when_redis_is_unreachable() -> None:
    """With Redis down, submit raises QueueUnavailable within 3 s saying nothing was queued."""
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = Settings(REDIS_URL=url, DOCKERVERSE_JOB_KEY=KEY, DOCKERVERSE_HOST_NAME=HOST)
    dispatcher = Dispatcher(settings, Policy(), connect(url))
    started = time.monotonic()

    with pytest.raises(QueueUnavailable) as refused:
        dispatcher.submit("help", SHELL, ReplyTo())

    assert time.monotonic() - started < 3
    assert "cannot be reached" in refused.value.message
    assert "nothing was queued" in refused.value.message


def test_job_state_and_wait_have_the_contract_shape(settings: Settings, conn: redis.Redis) -> None:
    """job_state and wait return {id,status,command,result,error,createdAt,endedAt}; unknown ids give None."""
    worker = build_worker(settings, HOST)
    worker.register_birth()  # type: ignore[no-untyped-call]
    dispatcher = Dispatcher(settings, Policy(), conn)
    submitted = dispatcher.submit("help run", SHELL, ReplyTo())
    worker.register_death()  # type: ignore[no-untyped-call]

    queued = dispatcher.job_state(submitted.job_id)
    assert queued is not None
    assert set(queued) == STATE_KEYS
    assert queued["status"] == "queued"
    assert queued["result"] is None and queued["endedAt"] is None

    worker.work(burst=True)
    state = dispatcher.wait(submitted.job_id, timeout=5)

    assert state is not None
    assert set(state) == STATE_KEYS
    assert state["id"] == submitted.job_id
    assert state["status"] == "finished"
    assert state["command"] == "help run"
    assert state["error"] is None
    assert state["result"]["ok"] is True
    assert state["result"]["summary"] == "Help for `run`"
    assert isinstance(state["createdAt"], int) and isinstance(state["endedAt"], int)
    assert state["createdAt"] <= state["endedAt"]
    assert abs(state["createdAt"] - time.time() * 1000) < 60_000
    assert dispatcher.job_state("no-such-job") is None
    assert dispatcher.wait("no-such-job", timeout=0.1) is None


def test_job_state_of_a_refused_job_is_failed_with_the_reason(
    settings: Settings, conn: redis.Redis, queue: Queue
) -> None:
    """A refused job shows as failed in job_state, with the worker's refusal as the error."""
    job = queue.enqueue("os.system", "true")
    _work(settings)

    state = Dispatcher(settings, Policy(), conn).wait(job.id, timeout=1)

    assert state is not None
    assert set(state) == STATE_KEYS
    assert state["status"] == "failed"
    assert state["result"] is None
    assert state["error"].startswith("Refused by the worker: refusing to run 'os.system'")
