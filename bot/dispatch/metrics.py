"""`GET /metrics`: Prometheus text for the web process and, read from Redis at scrape time, the fleet.

Decisions are counted where they are made (the dispatcher's audit step), so every way in (Slack,
hooks, the API, the shell) shows up the same. Queue lengths, live workers and job registries are
read from RQ's own keys on each scrape: workers need no metrics endpoint of their own, and a
worker that died simply drops out.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from bot.core.grammar import command_name
from bot.wire.hosts import lane_of_queue, workers
from bot.wire.job_state import as_str

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRIES = {"started": StartedJobRegistry, "finished": FinishedJobRegistry, "failed": FailedJobRegistry}


class FleetCollector(Collector):
    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("dockerverse_redis_up", "1 when Redis answered this scrape")
        try:
            families = self._fleet()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _fleet(self) -> list[Metric]:
        live = GaugeMetricFamily("dockerverse_workers", "Live worker processes", labels=["host", "lane"])
        counts: dict[tuple[str, str], int] = {}
        for w in workers(self.conn):
            for lane in w.lanes:
                counts[w.host, lane] = counts.get((w.host, lane), 0) + 1
        queues = sorted({(name, where) for name in _queue_names(self.conn) if (where := lane_of_queue(name))})
        for (host, lane), n in sorted(counts.items()):
            live.add_metric([host, lane], n)
        waiting = GaugeMetricFamily("dockerverse_queue_jobs", "Jobs waiting in a lane", labels=["host", "lane"])
        jobs = GaugeMetricFamily(
            "dockerverse_jobs", "Jobs in RQ's registries (kept for their TTL)", labels=["host", "lane", "state"]
        )
        with self.conn.pipeline(transaction=False) as pipe:
            for name, _ in queues:
                pipe.llen(f"rq:queue:{name}")
                for registry in REGISTRIES.values():
                    pipe.zcard(registry(name, connection=self.conn).key)
            answers = iter(pipe.execute())
        for _name, (host, lane) in queues:
            waiting.add_metric([host, lane], next(answers))
            for state in REGISTRIES:
                jobs.add_metric([host, lane, state], next(answers))
        return [live, waiting, jobs]


def _queue_names(conn: redis.Redis) -> list[str]:
    return [as_str(key).removeprefix("rq:queue:") for key in conn.smembers("rq:queues")]


class Metrics:
    def __init__(self, conn: redis.Redis) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "dockerverse_commands",
            "Commands received, by origin (slash, mention, dm, button, hook, api, shell), command and decision",
            ["origin", "command", "decision"],
            registry=self.registry,
        )
        self.registry.register(FleetCollector(conn))

    def decided(self, origin: str, text: str, decision: str) -> None:
        self.commands.labels(origin, command_name(text), decision).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
