"""A new container configured as an old one was, from another image: the heart of a redeploy.

What the old container took from its own image (command, entrypoint, env, labels, health check,
exposed ports, user, working dir) is left for the new image to give; what was set for the container
is kept: HostConfig (ports, limits, restart policy, mounts) whole, its volumes, and its networks.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker.errors

from workers.docker.containers import ContainerCalls


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


class RecreateCalls(ContainerCalls):
    def create_like(self, old: dict[str, Any], image: str, name: str, labels: dict[str, str]) -> str:
        """A new, not yet started container configured as `old` (its inspect) was, from `image`."""
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
        with self.errors("redeploy", name):
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
