"""How a follow's reader keeps it going and the Stop button ends it: two sealed keys beside its stream.

The reader (the web's SSE relay, or the shell) renews `<stream>:alive` every few seconds; the worker
reading the container stops when it lapses, or when `<stream>:stop` appears. Both are sealed with the
web's signing key (see bot/wire/sealed.py), which workers check and cannot make: a key written by anyone
else, a worker included, neither holds a worker for an hour nor stops a follow.
"""

from __future__ import annotations

import redis

from bot.wire.sealed import seal, unseal
from bot.wire.signing import Signer, Verifier

ALIVE_TTL = 10  # seconds; the reader renews it every few, the follow stops soon after it lapses
STOP_TTL = 3600


def follow_key(job_id: str) -> str:
    """The Redis stream a follow job writes its lines to."""
    return f"dockerverse:follow:{job_id}"


def alive_record(key: Signer, stream: str) -> tuple[str, str]:
    """(Redis key, sealed value) that says the reader of ``stream`` is still there."""
    name = stream + ":alive"
    return name, seal(key, name, "alive", ttl=ALIVE_TTL)


def stop_record(key: Signer, stream: str) -> tuple[str, str]:
    name = stream + ":stop"
    return name, seal(key, name, "stop", ttl=STOP_TTL)


def reader_alive(conn: redis.Redis, key: Verifier, stream: str) -> bool:
    name = stream + ":alive"
    return bool(unseal(key, name, conn.get(name)) == "alive")


def stop_pressed(conn: redis.Redis, key: Verifier, stream: str) -> bool:
    name = stream + ":stop"
    return bool(unseal(key, name, conn.get(name)) == "stop")
