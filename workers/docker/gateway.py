"""The only Docker client: docker-py behind one class, its errors turned into ours.

The client is made on first use and kept open across jobs; when the daemon goes
away the next call reconnects, so a restarted Docker needs no worker restart.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker
import docker.errors
import docker.utils
import requests

from bot.core import commands as c
from bot.core.errors import DockerFailure, DockerUnavailable, NotFound
from bot.core.slack_text import code, escape

log = logging.getLogger(__name__)

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


def _ports(raw: list[dict[str, Any]]) -> tuple[str, ...]:
    """Published ports only, once each (Docker lists IPv4 and IPv6 bindings separately)."""
    seen: dict[str, None] = {}
    for p in raw or []:
        if p.get("PublicPort"):
            proto = "" if p.get("Type", "tcp") == "tcp" else f"/{p['Type']}"
            seen[f"{p['PublicPort']}:{p['PrivatePort']}{proto}"] = None
    return tuple(seen)


def _row(raw: dict[str, Any]) -> ContainerRow:
    names = raw.get("Names") or ["/" + raw["Id"][:12]]
    return ContainerRow(
        id=raw["Id"],
        name=names[0].lstrip("/"),
        image=raw.get("Image", ""),
        state=raw.get("State", ""),
        status=raw.get("Status", ""),
        created=int(raw.get("Created", 0)),
        ports=_ports(raw.get("Ports", [])),
        labels=raw.get("Labels") or {},
    )


class _APIClient(docker.APIClient):  # type: ignore[misc]
    def _retrieve_server_version(self) -> Any:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's own CA, so with either
        # set (common on managed machines) the daemon's TLS certificate would be checked against the
        # wrong CA. The daemon's CA is DOCKER_CERT_PATH/ca.pem; proxies do not apply either.
        if self.verify not in (True, False, None):
            self.trust_env = False
        return super()._retrieve_server_version()


def client_from_env(environment: dict[str, str] | None) -> docker.DockerClient:
    """docker-py's from_env (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), with the CA it was given."""
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = _APIClient(timeout=60, **docker.utils.kwargs_from_env(environment=environment or None))
    return client


def _sentence(text: object) -> str:
    """Docker's explanations often lack a full stop; ours add advice after them."""
    text = str(text).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _volumes_to_keep(old: dict[str, Any], host_config: dict[str, Any]) -> list[str]:
    """`NAME:/dest[:ro]` for the old container's volumes that HostConfig does not name (anonymous ones,
    and those an image's VOLUME made): without them the new container would start on empty ones."""
    named = {str(b).split(":")[1] for b in host_config.get("Binds") or [] if ":" in str(b)}
    named |= {str(m.get("Target")) for m in host_config.get("Mounts") or []}
    return [
        f"{m['Name']}:{m['Destination']}" + ("" if m.get("RW", True) else ":ro")
        for m in old.get("Mounts") or []
        if m.get("Type") == "volume" and m.get("Name") and m.get("Destination") not in named
    ]


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


def _layer(event: dict[str, Any], before: tuple[int, int, bool]) -> tuple[int, int, bool]:
    status = str(event["status"])
    detail = event.get("progressDetail") or {}
    done = before[2] or status in ("Pull complete", "Already exists", "Download complete")
    return int(detail.get("current") or before[0]), int(detail.get("total") or before[1]), done


def _pull_summary(ref: str, layers: dict[str, tuple[int, int, bool]]) -> str:
    done = sum(1 for _, _, d in layers.values() if d)
    have = sum(c for c, _, _ in layers.values())
    total = sum(t for _, t, _ in layers.values())
    size = f", {have / 1e6:.1f} of {total / 1e6:.1f} MB" if total else ""
    return f"Pulling {code(ref)}: {done} of {len(layers)} layers done{size}"


class DockerGateway:
    def __init__(
        self,
        host_name: str,
        factory: Callable[[], docker.DockerClient] | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.host_name = host_name
        # docker-py's from_env: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH (mutual TLS over tcp://).
        self._factory = factory or (lambda: client_from_env(environment))
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            with self._errors("connect"):
                self._client = self._factory()
        return self._client

    @contextmanager
    def _errors(self, what: str, target: str | None = None) -> Iterator[None]:
        """Turn docker-py's and requests' exceptions into our user-ready ones."""
        try:
            yield
        except docker.errors.NotFound as exc:
            raise NotFound(self._not_found(what, target, exc)) from None
        except docker.errors.APIError as exc:
            why = escape(_sentence(exc.explanation or exc))
            raise DockerFailure(f"Docker on {code(self.host_name)} refused {code(what)}: {why}") from None
        except requests.exceptions.Timeout:
            raise DockerUnavailable(
                f"Docker on host {code(self.host_name)} did not answer {code(what)} in time; it may be overloaded. "
                "Check `docker info` on that host, then try again."
            ) from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            self._client = None  # reconnect on the next call
            raise DockerUnavailable(
                f"Docker on host {code(self.host_name)} cannot be reached ({type(exc).__name__}). Nothing was done. "
                "Check that the Docker daemon is running; the worker reconnects by itself."
            ) from None

    def _not_found(self, what: str, target: str | None, exc: docker.errors.NotFound) -> str:
        if what in ("rmi", "pull") or (what == "run" and "image" in str(exc.explanation).lower()):
            return (
                f"No image {code(target)} on host {code(self.host_name)}: `images` lists what is there. "
                f"({escape(exc.explanation)})"
            )
        return f"No container {code(target)} on host {code(self.host_name)}: `list --all` shows the containers there."

    def ping(self) -> bool:
        with self._errors("ping"):
            return bool(self.client.ping())

    def containers(self, all: bool = False, filter: str | None = None, label: str | None = None) -> list[ContainerRow]:
        filters: dict[str, str] = {}
        if filter:
            filters["name"] = filter
        if label:
            filters["label"] = label
        with self._errors("list"):
            raw = self.client.api.containers(all=all, filters=filters or None)
        return sorted((_row(r) for r in raw), key=lambda r: r.name)

    def container(self, target: str) -> ContainerRow:
        """One container by id, unique id prefix or name, as Docker resolves them."""
        with self._errors("inspect", target):
            cid = self.client.api.inspect_container(target)["Id"]
            raw = self.client.api.containers(all=True, filters={"id": cid})
        if not raw:
            raise NotFound(self._not_found("inspect", target, docker.errors.NotFound("gone")))
        return _row(raw[0])

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
        with self._errors("run", cmd.image):
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
        with self._errors("rm", target):
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
        with self._errors(action, target):
            # docker-py's APIClient names these stop/start/restart (there is no `stop_container`).
            api = self.client.api
            calls: dict[str, Callable[[str], Any]] = {"stop": api.stop, "start": api.start, "restart": api.restart}
            if action not in calls:
                raise DockerFailure(f"{code(action)} is not a container action: use stop, start or restart.")
            calls[action](row.id)
        return self.container(row.id)

    def logs(self, target: str, tail: int, since: float | None) -> tuple[ContainerRow, list[str]]:
        row = self.container(target)
        kwargs: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True}
        if since is not None:
            kwargs["since"] = int(datetime.now().timestamp() - since)
        with self._errors("logs", target):
            raw: bytes = self.client.api.logs(row.id, **kwargs)
        return row, raw.decode("utf-8", errors="replace").splitlines()

    def follow(
        self, target: str, tail: int | str, since_epoch: int | None
    ) -> tuple[ContainerRow, Iterator[bytes], Callable[[], None]]:
        """A live log stream with Docker timestamps: (container, chunks, close). Close may be called
        from another thread; the chunks then end."""
        row = self.container(target)
        kwargs: dict[str, Any] = {"stream": True, "follow": True, "timestamps": True, "tail": tail}
        if since_epoch is not None:
            kwargs["since"] = since_epoch
        with self._errors("logs", target):
            stream = self.client.api.logs(row.id, **kwargs)
        return row, iter(stream), stream.close

    def events(
        self, since: str | None, filters: dict[str, list[str]]
    ) -> tuple[Iterator[dict[str, Any]], Callable[[], None]]:
        """Docker's event stream, decoded: (events, close). `since` is Docker's "seconds.nanoseconds" (the
        daemon replays what it still holds from then on); None: from now. The events end when the
        connection drops or close() is called, from any thread."""
        with self._errors("events"):
            stream = self.client.api.events(since=since, filters=filters, decode=True)

        def read() -> Iterator[dict[str, Any]]:
            try:
                yield from stream
            except requests.exceptions.RequestException as exc:  # e.g. a chunk cut short by a restart
                self._client = None
                raise DockerUnavailable(
                    f"Docker on host {code(self.host_name)} dropped its event stream: {escape(exc)}"
                ) from None

        return read(), stream.close

    def images(self, filter: str | None = None) -> list[ImageRow]:
        with self._errors("images"):
            raw = self.client.api.images(name=filter) if filter else self.client.api.images()
        rows = [
            ImageRow(
                r["Id"],
                tuple(t for t in (r.get("RepoTags") or []) if t != "<none>:<none>"),
                int(r.get("Size", 0)),
                int(r.get("Created", 0)),
            )
            for r in raw
        ]
        return sorted(rows, key=lambda r: (r.tags or ("~",))[0])

    def remove_image(self, ref: str) -> list[dict[str, str]]:
        """Untag, or delete when it was the last tag: exactly what `docker rmi` does."""
        with self._errors("rmi", ref):
            return list(self.client.api.remove_image(ref))

    def pull(self, ref: str, on_progress: Callable[[str], None] | None = None) -> str:
        """Pull, reporting per-layer totals as they change; returns the digest it pulled."""
        repo, tag = split_reference(ref)
        layers: dict[str, tuple[int, int, bool]] = {}  # id -> (bytes so far, total, done)
        with self._errors("pull", ref):
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

    def inspect(self, target: str) -> dict[str, Any]:
        with self._errors("inspect", target):
            return dict(self.client.api.inspect_container(target))

    def find(self, target: str) -> dict[str, Any] | None:
        """A container's inspect, or None when there is none by that id or name."""
        try:
            return self.inspect(target)
        except NotFound:
            return None

    def image_config(self, ref: str) -> dict[str, Any] | None:
        """An image's own Config (its defaults: Cmd, Env, Labels, Healthcheck...), None if it is gone."""
        with self._errors("inspect", ref):
            try:
                return dict(self.client.api.inspect_image(ref).get("Config") or {})
            except docker.errors.ImageNotFound:
                return None

    def create_like(self, old: dict[str, Any], image: str, name: str, labels: dict[str, str]) -> str:
        """A new, not yet started container configured as `old` (its inspect) was, from `image`.

        What `old` took from its own image (command, entrypoint, env, labels, health check, exposed
        ports, user, working dir) is left for the new image to give; what was set for the container
        is kept, HostConfig (ports, limits, restart policy, mounts) whole, and its networks."""
        config: dict[str, Any] = old.get("Config") or {}
        base = self.image_config(old.get("Image", "")) or {}

        def own(key: str) -> Any:
            value = config.get(key)
            return value if value and value != base.get(key) else None

        base_env = set(base.get("Env") or [])
        base_labels: dict[str, str] = base.get("Labels") or {}
        exposed = set(config.get("ExposedPorts") or {}) - set(base.get("ExposedPorts") or {})
        networks: dict[str, Any] = (old.get("NetworkSettings") or {}).get("Networks") or {}
        mode = str((old.get("HostConfig") or {}).get("NetworkMode") or "default")
        short_id = str(old.get("Id", ""))[:12]

        def endpoint(net: str) -> dict[str, Any]:
            aliases = [a for a in (networks.get(net) or {}).get("Aliases") or [] if a != short_id]
            return {"Aliases": aliases} if aliases else {}

        host_config: dict[str, Any] = dict(old.get("HostConfig") or {})
        volumes = _volumes_to_keep(old, host_config)
        if volumes:  # anonymous and image volumes: the new container must see the same data
            host_config["Binds"] = list(host_config.get("Binds") or []) + volumes
        hostname = config.get("Hostname")
        shared_net = mode == "host" or mode.startswith("container:")
        kwargs: dict[str, Any] = {
            "image": image,
            "name": name,
            # Docker's default hostname is the short id; with another's network stack none may be set.
            "hostname": hostname if hostname and hostname != short_id and not shared_net else None,
            "domainname": config.get("Domainname") or None,
            "stop_timeout": config.get("StopTimeout"),
            "command": own("Cmd"),
            "entrypoint": own("Entrypoint"),
            "environment": [e for e in config.get("Env") or [] if e not in base_env],
            "working_dir": own("WorkingDir"),
            "user": own("User"),
            "healthcheck": own("Healthcheck"),
            "labels": {**{k: v for k, v in (config.get("Labels") or {}).items() if base_labels.get(k) != v}, **labels},
            "ports": [tuple(p.split("/", 1)) for p in sorted(exposed)],
            "tty": bool(config.get("Tty")),
            "stdin_open": bool(config.get("OpenStdin")),
            "stop_signal": own("StopSignal"),
            "host_config": host_config,
            "detach": True,
        }
        extra = [n for n in networks if n != mode]
        if mode in networks and mode not in ("default", "bridge", "host", "none"):
            kwargs["networking_config"] = {"EndpointsConfig": {mode: endpoint(mode)}}
        with self._errors("redeploy", name):
            cid = str(self.client.api.create_container(**kwargs)["Id"])
            try:
                for net in extra if mode not in ("host", "none") and not mode.startswith("container:") else []:
                    if net not in ("bridge", mode):
                        self.client.api.connect_container_to_network(cid, net, aliases=endpoint(net).get("Aliases"))
            except docker.errors.APIError:
                with contextlib.suppress(docker.errors.APIError):
                    self.client.api.remove_container(cid, force=True)
                raise
        return cid

    def rename(self, target: str, name: str) -> None:
        with self._errors("rename", target):
            self.client.api.rename(target, name)

    def stop(self, target: str, timeout: int = 10) -> None:
        with self._errors("stop", target):
            self.client.api.stop(target, timeout=timeout)

    def start(self, target: str) -> None:
        with self._errors("start", target):
            self.client.api.start(target)

    def discard(self, target: str) -> None:
        """Remove a container, running or not; one that is already gone is fine."""
        with self._errors("rm", target), contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(target, force=True)

    def version(self) -> dict[str, Any]:
        with self._errors("version"):
            return dict(self.client.version())
