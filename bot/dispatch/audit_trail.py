"""Every decision the way in makes (queued, refused, asked, confirmed, cancelled), recorded as it is
made: to the audit stream, to the optional JSON-lines file, and to the metrics."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from bot.core.policy import Actor
from bot.core.settings import Settings
from bot.dispatch.metrics import Metrics
from bot.dispatch.outage import redis_down
from bot.wire import audit

log = logging.getLogger(__name__)


class AuditTrail:
    def __init__(self, settings: Settings, connection: redis.Redis) -> None:
        self.redis = connection
        self.path = settings.audit_file
        self.metrics = Metrics(connection)

    def record(
        self,
        actor: Actor,
        text: str,
        decision: str,
        job_id: str | None = None,
        reason: str | None = None,
        pipe: redis.client.Pipeline | None = None,
    ) -> None:
        """With ``pipe``, the entry goes in the job's own pipeline: queued and audited in one round trip."""
        entry = {
            "at": f"{time.time():.3f}",
            "actor": actor.id,
            "origin": actor.source,
            "channel": actor.channel or "",
            "command": text[:500],
            "decision": decision,
            "job_id": job_id or "",
            "reason": reason or "",
        }
        self.metrics.decided(actor.source, text, decision)
        if self.path:
            self._to_file(self.path, entry)
        if pipe is not None:
            pipe.xadd(audit.STREAM, entry, maxlen=audit.MAX, approximate=True)  # type: ignore[arg-type]
            return
        try:
            self.redis.xadd(audit.STREAM, entry, maxlen=audit.MAX, approximate=True)  # type: ignore[arg-type]
        except redis.RedisError:
            log.warning("audit not written (redis down): %s", json.dumps(entry))

    @staticmethod
    def _to_file(path: str, entry: dict[str, str]) -> None:
        """One JSON line per decision, appended (O_APPEND keeps concurrent lines whole)."""
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("audit file %s not written: %s", path, exc)

    def entries(self, limit: int) -> list[dict[str, Any]]:
        """Newest first, each with its job's outcome (or the refusal's reason)."""
        with redis_down("Redis cannot be reached, so the audit log cannot be read now."):
            return audit.read(self.redis, limit)
