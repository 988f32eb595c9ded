"""Records a worker or the web acts on from Redis are sealed: a forged one is ignored (real Redis)."""

from __future__ import annotations

import json

import redis

from bot.wire import confirm
from bot.wire.follow_control import alive_record, follow_key, reader_alive, stop_pressed, stop_record
from bot.wire.payload import ReplyTo
from bot.wire.signing import HmacKey, generate, parse_signing_key, parse_verify_keys
from workers.alerts import quiet

SECRET, PUBLIC = generate()
KEY = parse_signing_key("DOCKERVERSE_SIGNING_KEY", SECRET)  # the web's
WORKER = parse_verify_keys("DOCKERVERSE_VERIFY_KEY", PUBLIC)  # what a worker holds: checks, cannot sign
LOCAL = HmacKey(b"a-worker-machine-key-of-32-bytes")  # a worker machine's own, for its quiet marks


def no_job(job_id: str) -> None:
    raise AssertionError(f"no job should be looked up, got {job_id}")


def test_a_forged_confirmation_is_ignored_and_a_genuine_one_works_once(redis_url: str) -> None:
    """Only a confirmation the bot wrote runs on Confirm; a record written into Redis by anyone else is None."""
    conn = redis.Redis.from_url(redis_url)
    pending = confirm.Pending("rm web", "rm web", "U0OPS", ReplyTo("C1"))
    token = confirm.ask(conn, KEY, pending)
    assert confirm.take(conn, KEY, token, no_job) == pending and confirm.take(conn, KEY, token, no_job) is None
    forged = {"text": "rmi postgres --force", "shown": "x", "requested_by": "U0ADMIN", "reply": {"channel": "C1"}}
    conn.set(confirm.PREFIX + "forgedtoken", json.dumps(forged))
    assert confirm.take(conn, KEY, "forgedtoken", no_job) is None


def test_a_worker_confirmation_names_only_its_job_and_the_web_reads_the_command_from_it(redis_url: str) -> None:
    """A worker cannot seal a confirmation the web trusts: it stores the job's id, the web resolves it, once."""
    conn = redis.Redis.from_url(redis_url)
    token = confirm.ask_for_job(conn, "job123")
    asked: list[str] = []
    pending = confirm.Pending("rm web", "rm web", "U0ADMIN", ReplyTo("C1"))
    assert confirm.take(conn, KEY, token, lambda j: asked.append(j) or pending) == pending
    assert asked == ["job123"] and confirm.take(conn, KEY, token, no_job) is None


def test_a_forged_quiet_mark_hides_no_crash(redis_url: str) -> None:
    """The event watcher stays quiet only for a death the bot itself caused and sealed."""
    conn = redis.Redis.from_url(redis_url)
    conn.set(quiet.key("local", "c1"), b"1")
    assert not quiet.take(conn, LOCAL, "local", "c1")
    marks = quiet.QuietMarks(conn, LOCAL, "local")
    marks.mark("c2")
    assert not quiet.take(conn, HmacKey(b"another-machine-key-of-32-bytes!"), "local", "c2")
    marks.mark("c2")
    assert quiet.take(conn, LOCAL, "local", "c2") and not quiet.take(conn, LOCAL, "local", "c2")


def test_a_forged_keep_alive_or_stop_does_nothing_to_a_follow(redis_url: str) -> None:
    """A follow keeps reading only while its real reader renews the sealed key, and stops only on a sealed Stop."""
    conn = redis.Redis.from_url(redis_url)
    stream = follow_key("f" * 32)
    conn.set(stream + ":alive", b"1", ex=10)
    conn.set(stream + ":stop", b"1", ex=10)
    assert not reader_alive(conn, WORKER, stream) and not stop_pressed(conn, WORKER, stream)
    conn.set(*stop_record(LOCAL, stream), ex=10)  # sealed by a worker's own key: not the web's, refused
    assert not stop_pressed(conn, WORKER, stream)
    conn.set(*alive_record(KEY, stream), ex=10)
    conn.set(*stop_record(KEY, stream), ex=10)
    assert reader_alive(conn, WORKER, stream) and stop_pressed(conn, WORKER, stream)
    other = follow_key("e" * 32)  # a genuine record copied under another follow's key is refused
    conn.set(other + ":alive", conn.get(stream + ":alive") or b"")
    assert not reader_alive(conn, WORKER, other)
