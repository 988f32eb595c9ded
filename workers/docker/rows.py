"""What the gateway returns: Docker's container and image listings as plain rows, and the bot's labels. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LABEL_MANAGED = "dockerverse.managed-by"
LABEL_CREATOR = "dockerverse.creator"
LABEL_JOB = "dockerverse.job"


@dataclass(frozen=True)
class ContainerRow:
    id: str
    name: str
    image: str
    state: str  # running, exited, created, paused, restarting, dead
    status: str  # Docker's words: "Up 5 minutes", "Exited (1) 2 hours ago"
    created: int  # epoch seconds
    ports: tuple[str, ...]  # published only, "HOST:CONTAINER"
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.labels.get(LABEL_MANAGED) == "dockerverse"


@dataclass(frozen=True)
class ImageRow:
    id: str
    tags: tuple[str, ...]
    size: int
    created: int


def published_ports(raw: list[dict[str, Any]]) -> tuple[str, ...]:
    """Published ports only, once each (Docker lists IPv4 and IPv6 bindings separately)."""
    seen: dict[str, None] = {}
    for p in raw or []:
        if p.get("PublicPort"):
            proto = "" if p.get("Type", "tcp") == "tcp" else f"/{p['Type']}"
            seen[f"{p['PublicPort']}:{p['PrivatePort']}{proto}"] = None
    return tuple(seen)


def container_row(raw: dict[str, Any]) -> ContainerRow:
    """One entry of Docker's container list (GET /containers/json)."""
    names = raw.get("Names") or ["/" + raw["Id"][:12]]
    return ContainerRow(
        id=raw["Id"],
        name=names[0].lstrip("/"),
        image=raw.get("Image", ""),
        state=raw.get("State", ""),
        status=raw.get("Status", ""),
        created=int(raw.get("Created", 0)),
        ports=published_ports(raw.get("Ports", [])),
        labels=raw.get("Labels") or {},
    )


def image_row(raw: dict[str, Any]) -> ImageRow:
    """One entry of Docker's image list (GET /images/json), without the `<none>:<none>` placeholder tag."""
    return ImageRow(
        raw["Id"],
        tuple(t for t in (raw.get("RepoTags") or []) if t != "<none>:<none>"),
        int(raw.get("Size", 0)),
        int(raw.get("Created", 0)),
    )
