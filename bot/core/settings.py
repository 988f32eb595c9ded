"""The one place that reads the environment (and a `.env` file in the working directory).

Built once per process and passed in; tests build ``Settings(**plain_dict)``.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.errors import DockerverseError
from bot.core.keys import require_key
from bot.core.units import parse_size

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _body_size(value: Any) -> int:
    size = parse_size(value) if isinstance(value, str) and not value.strip().isdigit() else int(value)
    if not 1024 <= size <= 64 * 1024**2:
        raise ValueError("DOCKERVERSE_MAX_BODY must be between 1k and 64m")
    return size


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    redis_url: str = Field(DEFAULT_REDIS_URL, alias="REDIS_URL")
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    api_token: str | None = Field(None, alias="DOCKERVERSE_API_TOKEN")
    config_path: str | None = Field(None, alias="DOCKERVERSE_CONFIG")
    host_name: str = Field("local", alias="DOCKERVERSE_HOST_NAME")
    # Legacy: one shared secret that web and workers both sign jobs with (any worker can mint jobs);
    # used only when the two Ed25519 variables below are unset. Redis is not a trust boundary.
    job_key: str | None = Field(None, alias="DOCKERVERSE_JOB_KEY")
    # Ed25519: the web's private key (never on a worker), the workers' public key(s), comma-separated.
    signing_key: str | None = Field(None, alias="DOCKERVERSE_SIGNING_KEY")
    verify_key: str | None = Field(None, alias="DOCKERVERSE_VERIFY_KEY")
    # How long a queued job may wait for a worker before it expires unrun.
    job_ttl: int = Field(300, alias="DOCKERVERSE_JOB_TTL")
    job_timeout: int = Field(600, alias="DOCKERVERSE_JOB_TIMEOUT")
    log_level: str = Field("INFO", alias="DOCKERVERSE_LOG_LEVEL")
    # Set by `dockerverse up` for its web, which echoes it at /healthz: up then knows the answer is its own.
    instance: str | None = Field(None, alias="DOCKERVERSE_INSTANCE")
    # Worker processes per host for long jobs (log follows, pulls), beside the one for quick commands.
    stream_workers: int = Field(3, alias="DOCKERVERSE_STREAM_WORKERS", ge=0, le=64)
    # The Docker daemon a worker talks to (docker-py's own variables).
    docker_host: str | None = Field(None, alias="DOCKER_HOST")
    docker_tls_verify: str | None = Field(None, alias="DOCKER_TLS_VERIFY")
    docker_cert_path: str | None = Field(None, alias="DOCKER_CERT_PATH")
    # Plain tcp:// to a daemon is root for anyone on that network: refused unless this says otherwise.
    # It says so for a socket proxy (deploy/docker-compose.yml's): that speaks plain HTTP, refuses every
    # API call but the gateway's, and sits on an internal network only it and the workers share. Not
    # implied for loopback addresses: every local user and host-network container can reach those.
    allow_plain_tcp: bool = Field(False, alias="DOCKERVERSE_ALLOW_PLAIN_TCP")
    # Seconds a worker's registration lives without a heartbeat: a killed worker drops out after this.
    worker_ttl: int = Field(30, alias="DOCKERVERSE_WORKER_TTL", ge=16, le=3600)
    # A host is down within this many seconds of its workers stopping (they beat every 2 s): its commands
    # are refused at once, `hosts` says when it was last seen, and `notify:` may post `host_down`.
    down_after: float = Field(10.0, alias="DOCKERVERSE_DOWN_AFTER", ge=6, le=3600)
    # A command is acknowledged (and a job begun) only once this many Redis replicas hold it, waiting at
    # most DOCKERVERSE_REDIS_WAIT_MS: a failover then loses no acknowledged command. 0: Redis's own default.
    redis_replicas: int = Field(0, alias="DOCKERVERSE_REDIS_REPLICAS", ge=0, le=16)
    redis_wait_ms: int = Field(500, alias="DOCKERVERSE_REDIS_WAIT_MS", ge=10, le=10_000)
    # Also append every audit entry as a JSON line to this file (the Redis stream is always written).
    audit_file: str | None = Field(None, alias="DOCKERVERSE_AUDIT_FILE")
    # Comma-separated origins allowed to call /api/* from a browser; unset: no CORS.
    cors_origins: str | None = Field(None, alias="DOCKERVERSE_CORS_ORIGINS")
    # Every request body is capped before anything reads it (bot/web/body_limit.py): `1m`, `256k` or bytes.
    max_body: Annotated[int, BeforeValidator(_body_size)] = Field(1024 * 1024, alias="DOCKERVERSE_MAX_BODY")
    # The App Home is rebuilt at most this often per person, and the fleet it shows asked for at most
    # this often (one `list --all --all-hosts` job), however often people open it.
    home_refresh: float = Field(5.0, alias="DOCKERVERSE_HOME_REFRESH", ge=1, le=3600)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def socket_mode(self) -> bool:
        """Slack over an outbound WebSocket: needs the app-level token and the bot token (for replies)."""
        return bool(self.slack_app_token and self.slack_bot_token)

    @property
    def slack_base_url(self) -> str:
        # slack_sdk joins method names onto base_url, which must end in a slash.
        return self.slack_api_url if self.slack_api_url.endswith("/") else self.slack_api_url + "/"

    def lookup(self, name: str) -> str | None:
        """A variable the configuration names (a hook's `secret_env`), from the environment or `.env`."""
        from dotenv import dotenv_values

        value = os.environ.get(name)
        if value is None:
            value = dotenv_values(".env").get(name)
        return value or None

    def docker_environment(self) -> dict[str, str]:
        """The variables docker-py's from_env reads, from these settings; refuses plain TCP unless allowed."""
        host = self.docker_host or ""
        tls = (self.docker_tls_verify or "") not in ("", "0", "false")
        if host.startswith("tcp://") and not tls and not self.allow_plain_tcp:
            raise DockerverseError(
                f"DOCKER_HOST={host} is plain TCP without TLS: anyone who can reach it is root on that host. "
                "Use mutual TLS (DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH with ca.pem, cert.pem, key.pem), or, "
                "when it is a socket proxy on a private network (as in deploy/docker-compose.yml), "
                "set DOCKERVERSE_ALLOW_PLAIN_TCP=1."
            )
        env = {"DOCKER_HOST": host} if host else {}
        if tls:
            env["DOCKER_TLS_VERIFY"] = "1"
        if self.docker_cert_path:
            env["DOCKER_CERT_PATH"] = self.docker_cert_path
        return env

    def require_job_key(self) -> bytes:
        """The job-signing key; a DockerverseError saying how to make one when it is unset or not a real key."""
        if not self.job_key:
            raise DockerverseError(
                "No job key is set. Run `dockerverse keygen`: give its DOCKERVERSE_SIGNING_KEY line to the web "
                "only and its DOCKERVERSE_VERIFY_KEY line to every worker (or, legacy, set the same "
                "DOCKERVERSE_JOB_KEY on both). `dockerverse up` makes its own pair."
            )
        return require_key("DOCKERVERSE_JOB_KEY", self.job_key)

    def api_token_key(self) -> bytes | None:
        """The bearer token for /api/*, or None when unset (then /api/* answers 503)."""
        return require_key("DOCKERVERSE_API_TOKEN", self.api_token) if self.api_token else None
