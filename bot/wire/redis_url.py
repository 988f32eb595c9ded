"""Redis clients from REDIS_URL: redis://, rediss:// (TLS), unix://, with passwords, and Sentinel.

Sentinel has no standard URL in redis-py, so we take
`redis+sentinel://[:password@]host:port[,host:port...]/SERVICE[/DB]` (the password is the
master's; `?sentinel_password=` if the sentinels have their own) and ask the sentinels for the
current master on every connection, so a failover needs no restart. A worker's client also retries
every command through the failover (``failover_retry``), so a job in hand is finished and recorded.

TLS takes redis-py's own query parameters: `rediss://host:6380/0?ssl_ca_certs=/etc/redis/ca.pem`, plus
`ssl_certfile` and `ssl_keyfile` when Redis asks for a client certificate (its `tls-auth-clients`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis import exceptions
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bot.core.masking import mask_text

SENTINEL = "redis+sentinel"
FAILOVER_SECONDS = 20.0  # how long a worker keeps retrying a command: sentinels promote within a few seconds
_BACKOFF_CAP = 0.5


def is_sentinel(url: str) -> bool:
    return url.startswith(SENTINEL + "://")


def failover_retry(seconds: float = FAILOVER_SECONDS) -> Retry:
    """Retry a command (pipelines too) on a lost or read-only master for about ``seconds``: each try
    reconnects, and a Sentinel client asks the sentinels where the master is now."""
    return Retry(
        ExponentialBackoff(cap=_BACKOFF_CAP, base=0.05),
        int(seconds / _BACKOFF_CAP) + 1,
        supported_errors=(exceptions.ConnectionError, exceptions.TimeoutError, exceptions.ReadOnlyError),
    )


def _sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int, dict[str, Any], dict[str, Any]]:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    password = unquote(netloc[0].partition(":")[2]) if len(netloc) == 2 else None
    hosts = []
    for hostport in netloc[-1].split(","):
        host, _, port = hostport.rpartition(":")
        hosts.append((host or hostport, int(port) if port.isdigit() else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(
            f"{mask_text(url)}: name the master, e.g. redis+sentinel://sentinel1:26379,sentinel2:26379/mymaster/0"
        )
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    # A hung sentinel must not hang the caller: the next one is asked instead.
    sentinel_kwargs: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 0.8}
    if "sentinel_password" in query:
        sentinel_kwargs["password"] = query["sentinel_password"][0]
    return hosts, service, db, {"password": password} if password else {}, sentinel_kwargs


def client(url: str, **kwargs: Any) -> redis.Redis:
    if is_sentinel(url):
        hosts, service, db, auth, sentinel_kwargs = _sentinel_parts(url)
        sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            hosts, sentinel_kwargs=sentinel_kwargs, socket_connect_timeout=0.8
        )
        master: redis.Redis = sentinel.master_for(service, db=db, **auth, **kwargs)  # type: ignore[no-untyped-call]
        return master
    return redis.Redis.from_url(url, **kwargs)


def async_client(url: str, **kwargs: Any) -> redis.asyncio.Redis:
    if is_sentinel(url):
        hosts, service, db, auth, sentinel_kwargs = _sentinel_parts(url)
        sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            hosts, sentinel_kwargs=sentinel_kwargs, socket_connect_timeout=0.8
        )
        master: redis.asyncio.Redis = sentinel.master_for(service, db=db, **auth, **kwargs)
        return master
    return redis.asyncio.Redis.from_url(url, **kwargs)
