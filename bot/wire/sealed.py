"""Records in Redis that a process acts on, sealed so nobody else can write them.

Redis is not a trust boundary: whoever can write to it could otherwise forge a redeploy journal
(and have a worker remove any container), a confirmation (and have a click run any command), a
quiet mark (and hide a crash), or a follow's keep-alive (and hold a worker for an hour). Each
such record is stored as ``{"d": data, "exp": expiry, "s": signature}``; the signature covers the
Redis key it lives under, so a record copied to another key, changed, or kept past its expiry is refused.

Who seals with what (bot/wire/signing.py): records the web writes for workers (a follow's keep-alive and
Stop) and for itself (confirmations) are signed with the web's Ed25519 key, which workers can check
but not make; records a worker writes for its own machine's workers (quiet marks, redeploy journals)
use that machine's own HMAC key (bot/local_state.worker_secret). No worker seals anything that the
web or another machine's worker acts on.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bot.wire.signing import Signer, Verifier

log = logging.getLogger(__name__)


def _body(name: str, data: Any, exp: float | None) -> bytes:
    return json.dumps([name, data, exp], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(key: Signer, name: str, data: Any, ttl: float | None = None, now: float | None = None) -> str:
    """``data`` as the JSON text to store under the Redis key ``name``; good for ``ttl`` seconds if given."""
    exp = None if ttl is None else round((time.time() if now is None else now) + ttl, 3)
    return json.dumps({"d": data, "exp": exp, "s": key.sign(_body(name, data, exp))}, ensure_ascii=False)


def unseal(key: Verifier, name: str, raw: bytes | str | None, now: float | None = None) -> Any:
    """The data sealed under ``name``, or None when there is no record, or it is forged, moved or expired
    (those are logged: something wrote to Redis what no process of ours did)."""
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        data, exp, mac = record["d"], record["exp"], record["s"]
        genuine = isinstance(mac, str) and key.verify(_body(name, data, exp), mac)
    except (ValueError, TypeError, KeyError):
        genuine = False
    if not genuine:
        log.warning("ignored %s: its record in Redis is not sealed by Dockerverse (forged or tampered)", name)
        return None
    if exp is not None and (time.time() if now is None else now) > float(exp):
        log.warning("ignored %s: its sealed record expired (replayed?)", name)
        return None
    return data
