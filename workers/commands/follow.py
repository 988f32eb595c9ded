"""`logs --follow`: a container's new lines go into a Redis stream as they come.

The reader (the web's SSE relay, or the shell) holds `<stream>:alive` while it reads; when
that sealed key lapses the follow stops reading from Docker (bot/wire/follow_control.py).
It also ends when the container stops or its time is up. Lines are masked and written in batches,
many lines to a stream entry (bot/wire/job_state.py `line_batch`), whatever has come within 50 ms:
a chatty container costs a round trip and an entry per batch, not per line, and a quiet one still
shows each line within about 50 ms.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import redis

from bot.core import commands as c
from bot.core.masking import LineMasker
from bot.core.slack_text import clip, code, escape
from bot.core.units import format_duration, parse_docker_time
from bot.wire import fair_share
from bot.wire.follow_control import follow_key, reader_alive, stop_pressed
from bot.wire.job_state import line_batch
from bot.wire.payload import Payload
from bot.wire.queues import STOP_ACTION
from bot.wire.signing import Verifier
from workers.commands.context import Context
from workers.docker.access import readable
from workers.slack.render import Outcome
from workers.slack.reply import Session

# Entries kept for a reader that fell behind: one line each when quiet, up to ENTRY_CHARS of lines
# each when chatty; so at most about 32 MB a stream, and 2,000 lines to hundreds of thousands.
STREAM_MAX = 2_000
STREAM_TTL = 600  # seconds the stream outlives its follow, for a reconnect to pick up
FLUSH_SECONDS = 0.05  # the longest a line waits to be written: what has come by then goes at once
ENTRY_CHARS = 16_384  # characters of lines per stream entry; a batch is written as a few when longer
BACKLOG_CHARS = 4_000_000  # pending past this, the read waits for a write: Redis slower than Docker
SLACK_EVERY = 1.0  # seconds between posts or edits in a thread: about Slack's pace for one channel
SLACK_MESSAGE = 3500  # characters of lines per thread message, inside Slack's limits
GRACE = 2.0  # seconds before the reader's key is first checked (the web sets it right after enqueueing)


class Batcher:
    """Lines the read loop adds, written by the watcher thread (``flush``): reading Docker never waits on
    Redis, and whatever came while a write was on its way goes in the next."""

    def __init__(self, conn: redis.Redis, key: str) -> None:
        self.conn, self.key = conn, key
        self.pending: list[tuple[str, str]] = []
        self.size = 0  # characters of lines pending
        self.lock = threading.Lock()  # guards pending
        self.writing = threading.Lock()  # one write at a time, so entries keep the lines' order
        self.wake = threading.Event()  # a full entry waits: the watcher writes it now
        self.sent = 0
        self.masker = LineMasker()  # in the lines' order: writes are one at a time

    def add(self, lines: list[tuple[str, str]]) -> None:
        with self.lock:
            self.pending += lines
            self.size += sum(len(line) for _, line in lines)
            size = self.size
        if size >= ENTRY_CHARS:
            self.wake.set()
        if size >= BACKLOG_CHARS:
            self.flush()

    def flush(self, end: str | None = None) -> None:
        with self.writing:
            with self.lock:
                batch, self.pending, self.size = self.pending, [], 0
            if not batch and end is None:
                return
            with self.conn.pipeline(transaction=False) as pipe:
                for stamps, lines in _entries(batch):
                    fields: dict[Any, Any] = line_batch(stamps, self.masker.mask(lines))  # redis-py's own field types
                    pipe.xadd(self.key, fields, maxlen=STREAM_MAX, approximate=True)
                if end is not None:
                    pipe.xadd(self.key, {"end": end}, maxlen=STREAM_MAX, approximate=True)
                    pipe.expire(self.key, STREAM_TTL)
                pipe.execute()
            self.sent += len(batch)


def _entries(batch: list[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
    """The batch as (stamps, lines) per stream entry, each about ENTRY_CHARS at most (a longer line alone)."""
    out: list[tuple[list[str], list[str]]] = []
    size = ENTRY_CHARS
    for stamp, line in batch:
        if size + len(line) > ENTRY_CHARS:
            out.append(([], []))
            size = 0
        out[-1][0].append(stamp)
        out[-1][1].append(line)
        size += len(line) + 1
    return out


class RedisSink:
    """For the API's SSE relay and the shell: lines into a Redis stream, while the reader holds its key."""

    def __init__(self, conn: redis.Redis, key: str, name: str, seal_key: Verifier) -> None:
        self.conn, self.key, self.seal_key = conn, key, seal_key
        self.out = Batcher(conn, key)
        self.wake = self.out.wake
        conn.xadd(key, {"start": name}, maxlen=STREAM_MAX, approximate=True)  # the reader may begin

    def add(self, lines: list[tuple[str, str]]) -> None:
        self.out.add(lines)

    def flush(self, end: str | None = None) -> None:
        self.out.flush(end=end)

    def gone(self) -> str | None:
        return None if reader_alive(self.conn, self.seal_key, self.key) else "the reader disconnected"

    @property
    def sent(self) -> int:
        return self.out.sent


class SlackSink:
    """For chat: lines into the job's thread, at most one post or edit a second, with a Stop button."""

    def __init__(
        self, conn: redis.Redis, key: str, session: Session, name: str, limit: float, seal_key: Verifier
    ) -> None:
        self.conn, self.key, self.session, self.seal_key = conn, key, session, seal_key
        self.pending: list[str] = []
        self.wake = threading.Event()  # never set: the thread is written once a second, whatever waits
        self.current: tuple[str, list[str]] | None = None  # the thread message being filled, and its lines
        self.last = 0.0
        self.sent = 0
        self.lock = threading.Lock()
        self.masker = LineMasker()  # a PEM key's body can span flushes; masked under the lock, in order
        text = f"Following {code(name)} for up to {format_duration(limit)}; lines arrive in the thread."
        session.progress(
            text,
            force=True,
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": f"⏳ {text}"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": STOP_ACTION,
                            "value": key,
                            "text": {"type": "plain_text", "text": "Stop"},
                        }
                    ],
                },
                {"type": "context", "elements": [{"type": "mrkdwn", "text": session.context()}]},
            ],
        )

    def add(self, lines: list[tuple[str, str]]) -> None:
        with self.lock:
            self.pending += (line for _, line in lines)

    def flush(self, end: str | None = None) -> None:
        with self.lock:
            if not self.pending or (end is None and time.monotonic() - self.last < SLACK_EVERY):
                return
            lines, self.pending = self.masker.mask(self.pending), []
            self.last = time.monotonic()
        # Escaped (after masking) before they are measured: an escaped line can be four times as long.
        # Each fills the current message, or starts another.
        for line in (clip(escape(raw), SLACK_MESSAGE) for raw in lines):
            if self.current and sum(len(x) + 1 for x in self.current[1]) + len(line) < SLACK_MESSAGE:
                self.current[1].append(line)
                continue
            if self.current:
                self.session.thread_update(self.current[0], _block(self.current[1]))
            ts = self.session.thread_post(_block([line]))
            self.current = (ts, [line]) if ts else None
        if self.current:
            self.session.thread_update(self.current[0], _block(self.current[1]))
        self.sent += len(lines)

    def gone(self) -> str | None:
        return "Stop was pressed" if stop_pressed(self.conn, self.seal_key, self.key) else None


def _block(lines: list[str]) -> str:
    """Lines already escaped already (as `flush` does)."""
    return "```\n" + "\n".join(lines) + "\n```"


def follow(ctx: Context, cmd: c.Logs, p: Payload) -> Outcome:
    try:
        target = ctx.gateway.container(cmd.target)
        readable(target.managed, target.name, p)
        return _follow(ctx, cmd, p)
    finally:  # its slot is free again for the next follow (bot/wire/fair_share.py; it lapses by itself too)
        with contextlib.suppress(redis.RedisError):
            fair_share.give_back(ctx.conn, p.actor.id, p.host, p.id)


def _follow(ctx: Context, cmd: c.Logs, p: Payload) -> Outcome:
    gw, conn, seal_key, session = ctx.gateway, ctx.conn, ctx.key, ctx.progress.session
    key = follow_key(p.id)
    after = parse_docker_time(cmd.after) if cmd.after else None
    if after:  # resuming: everything from that second on, the lines already sent skipped below
        row, chunks, close = gw.follow(cmd.target, "all", after[0])
    else:
        since = int(time.time() - cmd.since) if cmd.since is not None else None
        row, chunks, close = gw.follow(cmd.target, cmd.tail, since)
    limit = cmd.follow or 0.0
    to_slack = session is not None and p.actor.source not in ("api", "shell")
    out: RedisSink | SlackSink = (
        SlackSink(conn, key, session, row.name, limit, seal_key)
        if session and to_slack
        else RedisSink(conn, key, row.name, seal_key)
    )
    ended = ["the container stopped"]
    done = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        """Write what waits, and stop the read when the reader left or time is up."""
        checked = started
        try:
            while not done.is_set():
                out.wake.wait(FLUSH_SECONDS)
                out.wake.clear()
                out.flush()
                now = time.monotonic()
                if ctx.stopping.is_set():  # SIGTERM: the warm shutdown must not wait an hour for this
                    ended[0] = "the worker is shutting down (reconnect to resume)"
                elif now - started >= limit:
                    ended[0] = f"its time limit ({format_duration(limit)}) was reached"
                elif now - started >= GRACE and now - checked >= 1.0:
                    checked = now
                    gone = out.gone()
                    if gone is None:
                        continue
                    ended[0] = gone
                else:
                    continue
                close()
                return
        except redis.RedisError:  # the read must not go on unwritten; the last flush then fails the job
            ended[0] = "Redis went away (reconnect to resume)"
            close()

    watcher = threading.Thread(target=watch, name=f"follow-{p.id[:8]}", daemon=True)
    watcher.start()
    rest = b""
    try:
        for chunk in chunks:
            complete, newline, rest = (rest + chunk).rpartition(b"\n")
            if not newline:
                continue
            # Decoded at once: a newline byte is never inside a UTF-8 character, so this splits as per line.
            lines: list[tuple[str, str]] = []
            for raw in complete.decode("utf-8", errors="replace").split("\n"):
                stamp, _, line = raw.partition(" ")
                if after and _stamp(stamp) <= after:
                    continue  # already sent before the reader reconnected
                if cmd.grep is None or cmd.grep in line:
                    lines.append((stamp, line))
            if lines:
                out.add(lines)
    finally:
        done.set()
        out.wake.set()
        watcher.join()
        out.flush(end=ended[0])
    took = format_duration(time.monotonic() - started)
    return Outcome(
        True,
        f"Followed {code(row.name)} on {code(gw.host_name)} for {took}: {out.sent} lines; ended because {ended[0]}.",
        data={"id": row.id, "name": row.name, "lines": out.sent, "ended": ended[0]},
    )


def _stamp(text: str) -> tuple[int, int]:
    try:
        return parse_docker_time(text)
    except ValueError:
        return (0, 0)
