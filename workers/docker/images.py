"""The gateway's image calls: list, pull (with per-layer progress), remove, and an image's own config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker.errors

from bot.core.errors import DockerFailure
from bot.core.slack_text import code, escape
from workers.docker.connection import Connection
from workers.docker.rows import ImageRow, image_row

Layer = tuple[int, int, bool]  # bytes so far, total, done


def split_reference(ref: str) -> tuple[str, str]:
    """`nginx:1.27` -> (nginx, 1.27); `host:5000/app` -> (host:5000/app, latest); a digest is kept whole."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = ref.rpartition(":")
        return repo, tag
    return ref, "latest"


def _layer(event: dict[str, Any], before: Layer) -> Layer:
    status = str(event["status"])
    detail = event.get("progressDetail") or {}
    done = before[2] or status in ("Pull complete", "Already exists", "Download complete")
    return int(detail.get("current") or before[0]), int(detail.get("total") or before[1]), done


def _pull_summary(ref: str, layers: dict[str, Layer]) -> str:
    done = sum(1 for _, _, d in layers.values() if d)
    have = sum(c for c, _, _ in layers.values())
    total = sum(t for _, t, _ in layers.values())
    size = f", {have / 1e6:.1f} of {total / 1e6:.1f} MB" if total else ""
    return f"Pulling {code(ref)}: {done} of {len(layers)} layers done{size}"


class ImageCalls(Connection):
    def images(self, filter: str | None = None) -> list[ImageRow]:
        with self.errors("images"):
            raw = self.client.api.images(name=filter) if filter else self.client.api.images()
        return sorted((image_row(r) for r in raw), key=lambda r: (r.tags or ("~",))[0])

    def remove_image(self, ref: str) -> list[dict[str, str]]:
        """Untag, or delete when it was the last tag: exactly what `docker rmi` does."""
        with self.errors("rmi", ref):
            return list(self.client.api.remove_image(ref))

    def pull(self, ref: str, on_progress: Callable[[str], None] | None = None) -> str:
        """Pull, reporting per-layer totals as they change; returns the digest it pulled."""
        repo, tag = split_reference(ref)
        layers: dict[str, Layer] = {}
        with self.errors("pull", ref):
            for event in self.client.api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise DockerFailure(
                        f"Pulling {code(ref)} on {code(self.host_name)} failed: {escape(event['error'])}"
                    )
                if on_progress and event.get("id") and event.get("status"):
                    layers[event["id"]] = _layer(event, layers.get(event["id"], (0, 0, False)))
                    on_progress(_pull_summary(ref, layers))
            image = self.client.api.inspect_image(
                ref if ":" in ref.rsplit("/", 1)[-1] or "@" in ref else f"{ref}:latest"
            )
        digests = image.get("RepoDigests") or [image["Id"]]
        return str(digests[0])

    def image_config(self, ref: str) -> dict[str, Any] | None:
        """An image's own Config (its defaults: Cmd, Env, Labels, Healthcheck...), None if it is gone."""
        with self.errors("inspect", ref):
            try:
                return dict(self.client.api.inspect_image(ref).get("Config") or {})
            except docker.errors.ImageNotFound:
                return None
