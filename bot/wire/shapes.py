"""The REST API's shapes, one pydantic model each: the one place they are written down.

Workers build a job's JSON data through these models, the web validates what comes back through
them before answering, and /openapi.json is generated from them, so the three cannot disagree.
They live in the wire layer because a job's data crosses Redis from worker to web.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# What the chat grammar accepts, for clients reading the document; the grammar enforces them with
# messages that name the argument, so the request model documents them without checking them twice.
IMAGE_PATTERN = (
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
NAME_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
PORT_PATTERN = "^[0-9]{1,5}:[0-9]{1,5}(/(tcp|udp|sctp))?$"
ENV_KEY_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
MEMORY_PATTERN = "^[0-9]+(\\.[0-9]+)?[bkmgBKMG]?[bB]?$"


class Shape(BaseModel):
    """An answer: built by Python name, written with the API's names (createdAt); every field is
    always present, so the document marks them all required."""

    model_config = ConfigDict(
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
    )

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict, as it crosses Redis and goes out over HTTP."""
        return self.model_dump(mode="json")


class Error(Shape):
    """Every refusal: what went wrong and what to do; a job's id when one ran."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    error: str
    job_id: str | None = Field(None, description="the job that ran, when one did")
    status_url: str | None = Field(None, description="where to follow a job still running")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Container(Shape):
    id: str
    name: str = Field(description="without Docker's leading slash")
    image: str
    status: str = Field(description="running, exited, created, ...")
    created_at: int = Field(alias="createdAt", description="milliseconds since the epoch")
    ports: list[str] = Field(description="published only, HOST:CONTAINER")
    status_text: str = Field("", alias="statusText", description="Docker's words: Up 5 minutes (unhealthy), ...")

    def with_logs(self, logs: list[str]) -> Created:
        return Created(**self.model_dump(), logs=logs)


class Created(Container):
    """A container just started, with what it printed so far."""

    logs: list[str] = Field(description="its first log lines")


class ContainerList(Shape):
    containers: list[Container]


class Image(Shape):
    """One image in one repository (an image tagged in two repositories is two entries)."""

    id: str
    name: str = Field(description="the repository, or <none>")
    tags: list[str]
    size: int = Field(description="bytes")
    created_at: int = Field(alias="createdAt", description="milliseconds since the epoch")

    def references(self) -> list[tuple[str, str]]:
        """(tag, REPOSITORY:TAG) for each of its tags."""
        return [(tag, f"{self.name}:{tag}") for tag in self.tags]

    def named(self, wanted: str) -> bool:
        """Whether `wanted` names it: its id, a unique id prefix (with or without sha256:) or a reference."""
        short = wanted.removeprefix("sha256:")
        if len(short) >= 4 and all(ch in "0123456789abcdef" for ch in short):
            return self.id.removeprefix("sha256:").startswith(short)
        return wanted == self.name or wanted in {ref for _, ref in self.references()}


class ImageList(Shape):
    images: list[Image]


class Deleted(Shape):
    success: Literal[True] = True
    id: str


class RemovedContainer(Deleted):
    """The `rm` job's data; the API answers with its Deleted part."""

    name: str


class ImageDeleted(Deleted):
    deleted: bool = Field(description="false when the image only lost a reference and keeps others")


class TagDeleted(ImageDeleted):
    untagged: str = Field(description="the REPOSITORY:TAG removed")


class JobState(Shape):
    """GET /api/jobs/{id}, and a hook's answer when it waited for the job."""

    id: str
    status: str = Field(description="queued, started, finished, failed, ...")
    command: str | None
    result: Any = Field(description="the job's outcome once it ended: ok, summary and its data")
    error: str | None
    created_at: int | None = Field(alias="createdAt", description="milliseconds since the epoch")
    ended_at: int | None = Field(alias="endedAt", description="milliseconds since the epoch")
    progress: str | None = Field(None, description="a pull's layer totals while it runs (the dashboard shows them)")


class AuditEntry(Shape):
    at: float = Field(description="seconds since the epoch")
    actor: str
    origin: str
    channel: str | None
    command: str
    decision: str = Field(description="allowed, refused or asked")
    job_id: str | None
    outcome: str
    duration: float | None = Field(description="seconds the job ran")


class AuditLog(Shape):
    entries: list[AuditEntry] = Field(description="newest first")


class ContainerCreate(BaseModel):
    """POST /api/containers: the seed's {image, name, ports}, plus optional env, command and limits."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image: str = Field(
        min_length=1,
        max_length=255,
        description="an image reference the policy allows, e.g. nginx:1.27",
        json_schema_extra={"pattern": IMAGE_PATTERN},
    )
    name: str | None = Field(None, max_length=128, json_schema_extra={"pattern": NAME_PATTERN})
    ports: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="HOST:CONTAINER[/tcp|udp|sctp], ports 1-65535",
        json_schema_extra={"items": {"type": "string", "pattern": PORT_PATTERN}},
    )
    env: dict[str, str] = Field(
        default_factory=dict, max_length=64, json_schema_extra={"propertyNames": {"pattern": ENV_KEY_PATTERN}}
    )
    command: list[str] = Field(default_factory=list, max_length=64)
    memory: str | None = Field(
        None,
        max_length=16,
        description="at least 6m and at most the policy's cap, e.g. 256m",
        json_schema_extra={"pattern": MEMORY_PATTERN},
    )
    cpus: float | None = Field(
        None, description="at most the policy's cap", json_schema_extra={"minimum": 0.01, "maximum": 256}
    )

    def words(self) -> list[str]:
        """The same request as a `run` command, so the grammar checks it as it checks chat."""
        words = ["run", self.image]
        if self.name is not None:
            words += ["--name", self.name]
        for port in self.ports:
            words += ["-p", port]
        for key, value in self.env.items():
            words += ["-e", f"{key}={value}"]
        if self.memory is not None:
            words += ["--memory", self.memory]
        if self.cpus is not None:
            words += ["--cpus", repr(self.cpus)]
        return [*words, "--", *self.command] if self.command else words


# The dashboard's routes (bot/web/api_actions.py).


class FleetContainer(Container):
    host: str = Field(description="the Docker host it runs on")


class Fleet(Shape):
    """GET /api/fleet: every host's containers, as the workers answered at `at`."""

    containers: list[FleetContainer]
    hosts: list[str] = Field(description="the hosts that answered")
    silent: list[str] = Field(description="hosts that did not answer in time, with why")
    down: list[str] = Field(description="hosts whose workers stopped beating, with when each was last seen")
    at: int = Field(description="when the workers answered, milliseconds since the epoch")


class HostList(Shape):
    """GET /api/hosts: each host's workers, Docker version, containers by state and last heartbeat; a host
    whose workers stopped beating has `down` and `last_seen` instead."""

    hosts: list[dict[str, Any]]


class RecentJobs(AuditLog):
    scope: str = Field(description="`everyone` for the top role, else the caller whose jobs these are")


class PullRequest(BaseModel):
    """POST /api/images/pull: {"image": "registry/repo:tag"}."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image: str = Field(min_length=1, max_length=255, json_schema_extra={"pattern": IMAGE_PATTERN})


class Accepted(Shape):
    """A job begun and not waited for: follow it at status_url."""

    job_id: str
    status_url: str
