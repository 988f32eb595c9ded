"""The gateway's container calls: list and resolve, run with limits, remove, stop/start/restart, inspect."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import docker.errors

from bot.core import commands as c
from bot.core.errors import DockerFailure, NotFound
from bot.core.slack_text import code
from workers.docker.images import ImageCalls
from workers.docker.rows import ContainerRow, container_row


class ContainerCalls(ImageCalls):  # a run pulls the image it lacks
    def containers(self, all: bool = False, filter: str | None = None, label: str | None = None) -> list[ContainerRow]:
        filters: dict[str, str] = {}
        if filter:
            filters["name"] = filter
        if label:
            filters["label"] = label
        with self.errors("list"):
            raw = self.client.api.containers(all=all, filters=filters or None)
        return sorted((container_row(r) for r in raw), key=lambda r: r.name)

    def container(self, target: str) -> ContainerRow:
        """One container by id, unique id prefix or name, as Docker resolves them."""
        with self.errors("inspect", target):
            cid = self.client.api.inspect_container(target)["Id"]
            raw = self.client.api.containers(all=True, filters={"id": cid})
        if not raw:
            raise NotFound(self.not_found("inspect", target, docker.errors.NotFound("gone")))
        return container_row(raw[0])

    def run(self, cmd: c.Run, labels: dict[str, str]) -> ContainerRow:
        """Create, then start; a container that fails to start is removed, not left behind."""
        if cmd.memory is None or cmd.cpus is None or cmd.pids is None:
            raise DockerFailure("Refusing to create a container without memory, CPU and PID limits.")
        kwargs: dict[str, Any] = {
            "image": cmd.image,
            "command": list(cmd.command) or None,
            "name": cmd.name,
            "environment": dict(cmd.env),
            "ports": {f"{p.container}/{p.proto}": p.host for p in cmd.ports},
            "labels": labels,
            "mem_limit": cmd.memory,
            "nano_cpus": int(cmd.cpus * 1e9),
            "pids_limit": cmd.pids,
            "detach": True,
        }
        with self.errors("run", cmd.image):
            try:
                container = self.client.containers.create(**kwargs)
            except docker.errors.ImageNotFound:
                try:
                    self.pull(cmd.image)
                except (NotFound, DockerFailure) as exc:
                    raise type(exc)(
                        f"Image {code(cmd.image)} is not on host {code(self.host_name)} and pulling it failed: "
                        f"{exc.message} Pull or build it there first, or check the name."
                    ) from None
                container = self.client.containers.create(**kwargs)
            try:
                container.start()
            except docker.errors.APIError:
                with contextlib.suppress(docker.errors.APIError):  # keep the start error, the one that matters
                    container.remove(force=True)
                raise
        return self.container(container.id)

    def remove(self, target: str, force: bool) -> ContainerRow:
        row = self.container(target)
        with self.errors("rm", target):
            try:
                self.client.api.remove_container(row.id, force=force)
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and not force:
                    raise DockerFailure(
                        f"{code(row.name)} is running: stop it first ({code('stop ' + row.name)}) "
                        f"or use {code('rm ' + row.name + ' --force')}."
                    ) from None
                raise
        return row

    def lifecycle(self, action: str, target: str) -> ContainerRow:
        row = self.container(target)
        with self.errors(action, target):
            # docker-py's APIClient names these stop/start/restart (there is no `stop_container`).
            api = self.client.api
            calls: dict[str, Callable[[str], Any]] = {"stop": api.stop, "start": api.start, "restart": api.restart}
            if action not in calls:
                raise DockerFailure(f"{code(action)} is not a container action: use stop, start or restart.")
            calls[action](row.id)
        return self.container(row.id)

    def inspect(self, target: str) -> dict[str, Any]:
        with self.errors("inspect", target):
            return dict(self.client.api.inspect_container(target))

    def find(self, target: str) -> dict[str, Any] | None:
        """A container's inspect, or None when there is none by that id or name."""
        try:
            return self.inspect(target)
        except NotFound:
            return None

    # --- the steps of a redeploy's swap (workers/commands/redeploy/) ----------------------------------

    def rename(self, target: str, name: str) -> None:
        with self.errors("rename", target):
            self.client.api.rename(target, name)

    def stop(self, target: str, timeout: int = 10) -> None:
        with self.errors("stop", target):
            self.client.api.stop(target, timeout=timeout)

    def start(self, target: str) -> None:
        with self.errors("start", target):
            self.client.api.start(target)

    def discard(self, target: str) -> None:
        """Remove a container, running or not; one that is already gone is fine."""
        with self.errors("rm", target), contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(target, force=True)
