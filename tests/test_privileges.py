"""The privileges a redeploy would carry over, read from a container's inspect, and who may let it."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core import commands as c
from bot.core.errors import PolicyError
from bot.core.policy import Actor, Source
from bot.wire.payload import ReplyTo, new_payload
from workers.docker.privileges import found, gate

PLAIN: dict[str, Any] = {"HostConfig": {"NetworkMode": "bridge", "PidMode": "", "CapAdd": None, "Binds": []}}


def payload(source: Source = "slash", admin: bool = False, confirmed: bool = False) -> Any:
    actor = Actor("U0ADMIN" if admin else "U0OPS", source, "C1")
    return new_payload(
        "j1", "redeploy mon", c.Redeploy(target="mon"), actor, ReplyTo("C1"), "local", admin=admin, confirmed=confirmed
    )


@pytest.mark.parametrize(
    ("host_config", "mounts", "named"),
    [
        ({"Privileged": True}, [], "privileged mode"),
        ({"PidMode": "host"}, [], "the host's PID namespace"),
        ({"IpcMode": "host"}, [], "the host's IPC namespace"),
        ({"NetworkMode": "host"}, [], "the host's network namespace"),
        ({"UTSMode": "host"}, [], "the host's UTS namespace"),
        ({"UsernsMode": "host"}, [], "the host's user namespace"),
        ({"Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse"}]}, [], "devices /dev/fuse"),
        ({"CapAdd": ["NET_ADMIN", "SYS_ADMIN"]}, [], "added capabilities NET_ADMIN, SYS_ADMIN"),
        ({"Binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"]}, [], "Docker socket (/var/run/docker.sock)"),
        ({"Binds": ["/run/docker.sock:/s"]}, [], "Docker socket (/run/docker.sock)"),
        ({"Binds": ["/var/run:/host-run"]}, [], "Docker socket (/var/run)"),  # the folder holds the socket
        ({"Binds": ["/:/host"]}, [], "Docker socket (/)"),
        ({"Binds": ["//var//run/./docker.sock:/s"]}, [], "Docker socket"),
        ({"Mounts": [{"Type": "bind", "Source": "/run/docker.sock", "Target": "/s"}]}, [], "Docker socket"),
        ({}, [{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/s"}], "Docker socket"),
        ({"SecurityOpt": ["seccomp=unconfined"]}, [], "security options seccomp=unconfined"),
    ],
)
def test_each_privilege_is_found_and_named(host_config: dict[str, Any], mounts: list[Any], named: str) -> None:
    """Privileged mode, host namespaces, devices, capabilities and any bind reaching the Docker socket."""
    assert any(named in line for line in found({"HostConfig": host_config, "Mounts": mounts}))


def test_an_ordinary_container_holds_none() -> None:
    """Bridge network, private namespaces, data binds and named volumes are not privileges."""
    ordinary = {**PLAIN["HostConfig"], "Binds": ["/srv/data:/data", "logs:/var/log", "/var/runner:/r"]}
    assert found({"HostConfig": ordinary, "Mounts": [{"Type": "volume", "Source": "/var/lib/docker/volumes/x"}]}) == []


def test_a_container_the_policy_does_not_name_is_refused_naming_what_it_holds() -> None:
    """Refused for everyone, admins and the console alike, saying which key allows it."""
    for p in (payload(), payload("shell", admin=True), payload("hook")):
        with pytest.raises(PolicyError, match=r"runs with privileged mode.*redeploy: \{inherit_privileges"):
            gate("mon", ["privileged mode"], ("web-*",), p)


def test_a_named_container_needs_an_admins_confirmation_in_slack_only() -> None:
    """Slack asks until an admin confirms; an operator's click is refused; hooks, API and console go ahead."""
    assert gate("mon", ["privileged mode"], ("mo*",), payload()) is not None
    assert "An admin must confirm" in str(gate("mon", ["privileged mode"], ("mo*",), payload(admin=True)))
    with pytest.raises(PolicyError, match="only an admin may confirm"):
        gate("mon", ["privileged mode"], ("mo*",), payload(confirmed=True))
    assert gate("mon", ["privileged mode"], ("mo*",), payload(admin=True, confirmed=True)) is None
    assert gate("mon", ["privileged mode"], ("mo*",), payload("hook")) is None
    assert gate("mon", [], (), payload()) is None  # nothing to carry over: nothing to ask
