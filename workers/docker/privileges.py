"""What a container holds over its host beyond an ordinary container, and whether a redeploy may keep it. Pure.

`redeploy` configures the new container as the old one was (HostConfig whole), from an image that
may be another one: privileged mode, the host's namespaces, devices, added capabilities or a bind of
the Docker socket (root on the host) would pass to whatever that image runs. So they are carried
over only for containers the policy names under `redeploy.inherit_privileges`, and in Slack only
once an admin confirmed; otherwise the redeploy is refused before anything changes.
"""

from __future__ import annotations

import fnmatch
import posixpath
from typing import Any

from bot.core.errors import PolicyError
from bot.core.policy import SLACK_SOURCES
from bot.wire.payload import Payload

SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
NAMESPACES = (("PidMode", "PID"), ("IpcMode", "IPC"), ("NetworkMode", "network"), ("UTSMode", "UTS"))
HOW = "an admin can add it (or a pattern for it) under `redeploy: {inherit_privileges: [...]}` in the policy file"


def found(inspect: dict[str, Any]) -> list[str]:
    """The privileges in a container's inspect, each named as a person would say it."""
    hc: dict[str, Any] = inspect.get("HostConfig") or {}
    out = ["privileged mode"] if hc.get("Privileged") else []
    out += [f"the host's {what} namespace" for key, what in NAMESPACES if str(hc.get(key) or "") == "host"]
    if str(hc.get("UsernsMode") or "") == "host":
        out.append("the host's user namespace")
    devices = [str(d.get("PathOnHost") or d) for d in hc.get("Devices") or []]
    if devices:
        out.append("devices " + ", ".join(devices))
    if hc.get("DeviceRequests") or hc.get("DeviceCgroupRules"):
        out.append("device requests or cgroup device rules")
    if hc.get("CapAdd"):
        out.append("added capabilities " + ", ".join(str(c) for c in hc["CapAdd"]))
    sockets = socket_binds(inspect)
    if sockets:
        out.append("a bind of the Docker socket (" + ", ".join(sockets) + ")")
    # (`label=disable` is left out: Docker adds it by itself to host-PID, host-IPC and privileged containers.)
    unconfined = [str(o) for o in hc.get("SecurityOpt") or [] if "unconfined" in str(o)]
    if unconfined:
        out.append("security options " + ", ".join(unconfined))
    return out


def socket_binds(inspect: dict[str, Any]) -> list[str]:
    """Host paths bound into the container that are, or hold, the Docker socket (`/var/run` holds it too)."""
    hc: dict[str, Any] = inspect.get("HostConfig") or {}
    sources = [str(b).split(":", 1)[0] for b in hc.get("Binds") or []]
    sources += [str(m.get("Source") or "") for m in hc.get("Mounts") or [] if m.get("Type") == "bind"]
    sources += [str(m.get("Source") or "") for m in inspect.get("Mounts") or [] if m.get("Type") == "bind"]
    hits: list[str] = []
    for source in sources:
        if not source.startswith("/"):
            continue  # a named volume
        path = "/" + posixpath.normpath(source).lstrip("/")  # normpath keeps a leading `//`
        prefix = path.rstrip("/") + "/"
        if any(sock == path or sock.startswith(prefix) for sock in SOCKETS) and source not in hits:
            hits.append(source)
    return hits


def gate(name: str, privileges: list[str], allowed: tuple[str, ...], p: Payload) -> str | None:
    """None: go ahead. A question: a Slack user must have an admin confirm first. ``PolicyError``: refused."""
    if not privileges:
        return None
    held = "; ".join(privileges)
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
        raise PolicyError(
            f"`{name}` runs with {held}. A redeploy would give the same to its new container, and the policy "
            f"does not allow that for `{name}` (`redeploy.inherit_privileges`), so nothing was changed. To allow "
            f"it, {HOW}; in Slack an admin then confirms each such redeploy. Or recreate `{name}` without them."
        )
    if p.actor.source not in SLACK_SOURCES or (p.confirmed and p.admin):
        return None
    if p.confirmed:
        raise PolicyError(
            f"`{name}` runs with {held}: only an admin may confirm a redeploy that keeps them, and "
            f"{p.actor.display} is not one. Nothing was changed."
        )
    return f"`{name}` on `{p.host}` runs with {held}. Redeploy it keeping them? An admin must confirm."
