"""The lock and the record of a redeploy in flight: one sealed Redis key per container.

SET NX with the job's timeout makes it both the lock (one redeploy per container at a time) and
the journal of what was done, which `recovery` reads when the worker doing it died. It is sealed
with the machine's own key (bot/wire/sealed.py): a forged journal is ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from bot.core.errors import DockerFailure
from bot.core.slack_text import code
from bot.core.units import format_duration
from bot.wire.sealed import seal, unseal
from bot.wire.signing import Signer

PREFIX = "dockerverse:redeploy:"

# The journal is changed or deleted only by the job that holds it (a recovering worker may have
# taken it over meanwhile): compare the job id and act in one step.
_IF_OURS = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw)['d']['job'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
return 1
"""


def journal_key(host: str, name: str) -> str:
    return f"{PREFIX}{host}:{name}"


class TakenOver(DockerFailure):
    """The journal is no longer this job's: another worker judged it dead and put the old container back."""


@dataclass
class Journal:
    """The lock and the record of a redeploy in flight, kept in Redis."""

    conn: redis.Redis
    seal_key: Signer
    key: str
    data: dict[str, Any]
    expires: float

    def sealed(self) -> str:
        return seal(self.seal_key, self.key, self.data, ttl=max(1.0, self.expires - time.time()))

    def note(self, **changes: Any) -> bool:
        """Record progress; False when the journal is not ours any more."""
        self.data.update(changes)
        return bool(self.conn.eval(_IF_OURS, 1, self.key, self.data["job"], self.sealed()))

    def release(self) -> None:
        forget(self.conn, self.key, str(self.data["job"]))


def forget(conn: redis.Redis, key: str, job: str) -> None:
    """Delete the journal, if it is still the one of ``job``."""
    conn.eval(_IF_OURS, 1, key, job, "")


def acquire(conn: redis.Redis, seal_key: Signer, host: str, name: str, data: dict[str, Any], ttl: int) -> Journal:
    key = journal_key(host, name)
    journal = Journal(conn, seal_key, key, data, time.time() + ttl)
    if conn.set(key, journal.sealed(), nx=True, ex=ttl):
        return journal
    held = load(seal_key, key, conn.get(key)) or {}
    since = format_duration(time.time() - float(held.get("since", time.time())))
    raise DockerFailure(
        f"{code(name)} on {code(host)} is already being redeployed by {held.get('actor', 'someone')} "
        f"(job {code(str(held.get('job', '?'))[:12])}, started {since} ago). Wait for it to finish, then try again."
    )


def load(seal_key: Signer, key: str, raw: Any) -> dict[str, Any] | None:
    """The journal's data, or None when it is gone, forged or tampered with (logged by unseal)."""
    data = unseal(seal_key, key, raw)
    return data if isinstance(data, dict) else None
