"""The one place that reads the environment (and a `.env` file in the working directory).

Built once per process and passed in; tests build ``Settings(**plain_dict)``.
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


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
    # Web and workers sign every job with this key; Redis is not a trust boundary.
    job_key: str | None = Field(None, alias="DOCKERVERSE_JOB_KEY")
    # How long a queued job may wait for a worker before it expires unrun.
    job_ttl: int = Field(300, alias="DOCKERVERSE_JOB_TTL")
    job_timeout: int = Field(600, alias="DOCKERVERSE_JOB_TIMEOUT")
    log_level: str = Field("INFO", alias="DOCKERVERSE_LOG_LEVEL")
    # Worker processes per host for long jobs (log follows, pulls), beside the one for quick commands.
    stream_workers: int = Field(2, alias="DOCKERVERSE_STREAM_WORKERS", ge=0, le=64)
    # Also append every audit entry as a JSON line to this file (the Redis stream is always written).
    audit_file: str | None = Field(None, alias="DOCKERVERSE_AUDIT_FILE")
    # Comma-separated origins allowed to call /api/* from a browser; unset: no CORS.
    cors_origins: str | None = Field(None, alias="DOCKERVERSE_CORS_ORIGINS")

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

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

    def require_job_key(self) -> bytes:
        if not self.job_key or len(self.job_key) < 16:
            from bot.errors import DockerverseError

            raise DockerverseError(
                "DOCKERVERSE_JOB_KEY is not set (or shorter than 16 characters). Web and workers sign jobs with "
                "this shared key: set the same random value for both, e.g. `export DOCKERVERSE_JOB_KEY=$(openssl "
                "rand -hex 32)`. `dockerverse up` makes one for you."
            )
        return self.job_key.encode()
