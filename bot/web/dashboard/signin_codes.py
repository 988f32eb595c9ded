"""One-time sign-in codes: `dockerverse up` prints a link that signs the local admin in with one click.

A code is random, good once and for a few minutes. Redis holds only a sealed record under a hash of it
(bot/wire/sealed.py, with the web's signing key): whoever reads Redis learns no code, and whoever can
write to it cannot make one the web would take. The link carries the code after `#`, so it never
reaches a server log or a Referer header; the page sends it once, in a POST.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping

import redis
import redis.asyncio

from bot.core.settings import Settings
from bot.wire import sealed
from bot.wire.job_keys import web_keys
from bot.wire.queues import connect
from bot.wire.signing import Signer

log = logging.getLogger(__name__)
PREFIX = "dockerverse:dashboard:signin:"
TTL = 600  # seconds a link stays good
DEFAULT_CREDENTIAL = "default"  # DOCKERVERSE_API_TOKEN's name among the API's credentials


def _record(code: str) -> str:
    return PREFIX + hashlib.sha256(code.encode()).hexdigest()


def mint(conn: redis.Redis, key: Signer, credential: str = DEFAULT_CREDENTIAL, ttl: int = TTL) -> str:
    """A fresh code that signs in as the API token named ``credential``, once, within ``ttl`` seconds."""
    code = secrets.token_urlsafe(24)
    name = _record(code)
    conn.set(name, sealed.seal(key, name, {"credential": credential}, ttl=ttl), ex=ttl)
    return code


async def take(conn: redis.asyncio.Redis, key: Signer, code: str) -> str | None:
    """The credential a code signs in as, once (GETDEL); None when unknown, used, expired or forged."""
    if not 16 <= len(code) <= 128:
        return None
    name = _record(code)
    data = sealed.unseal(key, name, await conn.getdel(name))
    return str(data["credential"]) if isinstance(data, dict) and "credential" in data else None


def signin_line(web_env: Mapping[str, str], redis_url: str, web_url: str) -> str:
    """The banner line of `dockerverse up`: a one-time sign-in link to the dashboard for the local admin,
    or how to get one when the web has no API token to sign in with."""
    if not web_env.get("DOCKERVERSE_API_TOKEN"):
        return f"dashboard  {web_url}/  (sign-in needs an API token: set DOCKERVERSE_API_TOKEN)"
    settings = Settings(
        REDIS_URL=redis_url,
        DOCKERVERSE_SIGNING_KEY=web_env.get("DOCKERVERSE_SIGNING_KEY") or None,
        DOCKERVERSE_VERIFY_KEY=web_env.get("DOCKERVERSE_VERIFY_KEY") or None,
        DOCKERVERSE_JOB_KEY=web_env.get("DOCKERVERSE_JOB_KEY") or None,
    )
    try:
        conn = connect(redis_url)
        try:
            code = mint(conn, web_keys(settings).signer)
        finally:
            conn.close()
    except redis.RedisError as exc:
        log.warning("no one-time sign-in link: %s", exc)
        return f"dashboard  {web_url}/  (sign in with the API token)"
    return f"dashboard  {web_url}/#signin={code}  (signs you in once, within {TTL // 60} minutes)"
