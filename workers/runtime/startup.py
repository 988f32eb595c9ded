"""What a worker process opens once when it starts and keeps across its jobs: its context."""

from __future__ import annotations

import redis

from bot.core.settings import Settings
from bot.wire.job_keys import local_sealer, worker_keys
from workers.alerts.quiet import QuietMarks
from workers.commands.context import Context
from workers.docker.gateway import DockerGateway
from workers.slack.reply import SlackReplier


def build_context(settings: Settings, host: str, conn: redis.Redis, gateway: DockerGateway | None = None) -> Context:
    """The Docker gateway, Slack client, keys and switches this process's handlers are given."""
    replier = SlackReplier(settings.slack_bot_token, settings.slack_base_url) if settings.slack_bot_token else None
    docker_env = settings.docker_environment()  # refuses plain TCP before anything runs
    gateway = gateway or DockerGateway(host, environment=docker_env)
    keys, seal = worker_keys(settings).verifier, local_sealer(settings)
    return Context(
        gateway=gateway,
        conn=conn,
        key=keys,
        seal=seal,
        replier=replier,
        marks=QuietMarks(conn, seal, host),
        down_after=settings.down_after,
        replicas=(settings.redis_replicas, settings.redis_wait_ms),
    )
