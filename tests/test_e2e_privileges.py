"""No privilege by surprise: a redeploy keeps what the policy and an admin allow; `start` obeys ownership.

Real dockerd, Debian's docker-registry, web and worker. The redeployed containers are made directly
with docker-py (an added capability, the host's PID namespace, a device, the Docker socket bound in)
and carry the bot's labels, as one the bot manages would after someone changed it by hand.
"""

from __future__ import annotations

import contextlib
import io
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from tests.support import services
from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import Registry
from tests.support.stack import Stack
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e
ALLOWED_NAMES = "dv-keep-*"
EXTRA = f'redeploy:\n  inherit_privileges: ["{ALLOWED_NAMES}"]\n'
SOCKET = "/var/run/docker.sock"
FINAL = ("✅", "❌", "⚠️")


STACK = StackOptions(db=13, policy_extra=EXTRA)  # containers named dv-keep-* keep privileges


@pytest.fixture
def image(
    docker_cleanup: docker.DockerClient, docker_registry: Registry, test_image: str
) -> Iterator[Callable[[str], str]]:
    """Build a sleeping image from the test image and push it to the local registry under a tag."""
    built: list[str] = []

    def build(tag: str) -> str:
        ref = f"{docker_registry.url}/dockerverse-test/priv:{tag}"
        label = f"LABEL {services.TEST_LABEL}={services.SESSION}"
        dockerfile = f'FROM {test_image}\n{label}\nSTOPSIGNAL SIGKILL\nCMD ["sleep", "600"]\n'
        found, _ = docker_cleanup.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True)
        docker_registry.push(docker_cleanup, ref)
        built.append(str(found.id))
        return ref

    yield build
    for image_id in built:
        with contextlib.suppress(docker.errors.APIError):
            docker_cleanup.api.remove_image(image_id, force=True)


def privileged(client: docker.DockerClient, ref: str, name: str, start: bool = True, **more: Any) -> dict[str, Any]:
    """A container as the bot would have made it, then given privileges by hand; its inspect.

    (This machine's dockerd cannot start a `--privileged` container: "unable to apply caps". One is
    created unstarted to show privileged mode is named too; the running ones hold the rest.)"""
    make = client.containers.run if start else client.containers.create
    make(
        ref,
        name=name,
        detach=True,
        cap_add=["NET_ADMIN"],
        pid_mode="host",
        devices=["/dev/null:/dev/xnull:rwm"],
        volumes={SOCKET: {"bind": SOCKET, "mode": "ro"}},
        labels={
            "dockerverse.managed-by": "dockerverse",
            "dockerverse.creator": "U0OPS",
            services.TEST_LABEL: services.SESSION,
        },
        **more,
    )
    return dict(client.api.inspect_container(name))


def answers(slack: FakeSlack, chan: str, count: int, timeout: float = 60.0) -> list[Call]:
    """The channel's finished answers (a result posted, or a running message edited into one), oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        done = [
            c
            for c in slack.calls()
            if c.method in ("chat.postMessage", "chat.update")
            and c.params.get("channel") == chan
            and str(c.params.get("text", "")).startswith(FINAL)
        ]
        if len(done) >= count or time.monotonic() > deadline:
            assert len(done) >= count, f"{len(done)} answers in {chan}: {[c.params.get('text') for c in done]}"
            return done
        time.sleep(0.2)


def confirm_token(call: Call) -> str:
    [actions] = [b for b in call.json_param("blocks") if b["type"] == "actions"]
    return str(actions["elements"][0]["value"])


def unchanged(client: docker.DockerClient, name: str, before: dict[str, Any]) -> None:
    after = client.api.inspect_container(name)
    assert after["Id"] == before["Id"] and after["State"]["Running"]
    assert [c.name for c in client.containers.list(all=True) if c.name.startswith(name)] == [name]


def test_privileges_not_allowed_by_the_policy_refuse_the_redeploy(
    stack: Stack, docker_cleanup: docker.DockerClient, image: Callable[[str], str]
) -> None:
    """Even the console (an admin) is refused before anything changes, told what the container holds and how
    to allow it."""
    v1, v2 = image("r1"), image("r2")
    name = f"dv-priv-{uuid.uuid4().hex[:6]}"
    before = privileged(docker_cleanup, v1, name)

    done = stack.shell(f"redeploy {name} --image {v2}")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    for named in (
        "added capabilities NET_ADMIN",
        f"Docker socket ({SOCKET})",
        "the host's PID namespace",
        "devices /dev/null",
        "nothing was changed",
        "redeploy: {inherit_privileges: [...]}",
    ):
        assert named in out, out
    unchanged(docker_cleanup, name, before)

    created = f"dv-priv-{uuid.uuid4().hex[:6]}"
    privileged(docker_cleanup, v1, created, start=False, privileged=True)
    done = stack.shell(f"redeploy {created} --image {v2}")
    assert done.returncode != 0 and "privileged mode" in done.stdout, done.stdout + done.stderr


def test_privileges_the_policy_allows_are_kept_once_an_admin_confirms_in_slack(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, image: Callable[[str], str]
) -> None:
    """An operator's redeploy asks; the operator's own click is refused; an admin's confirmation redeploys,
    and the new container keeps the privileges."""
    v1, v2 = image("k1"), image("k2")
    name = f"dv-keep-{uuid.uuid4().hex[:6]}"
    before = privileged(docker_cleanup, v1, name)
    chan = "C" + uuid.uuid4().hex[:10].upper()

    stack.slash(f"redeploy {name} --image {v2}", user="U0OPS", channel=chan)
    asked = answers(slack, chan, 1)[0]
    assert "added capabilities NET_ADMIN" in str(asked.params["text"]), asked.params
    assert "An admin must confirm" in str(asked.params["text"])
    stack.click("dockerverse_confirm", confirm_token(asked), slack.response_url("ops"), user="U0OPS", channel=chan)
    refused = answers(slack, chan, 2)[1]
    assert "only an admin may confirm" in str(refused.params["text"]), refused.params
    unchanged(docker_cleanup, name, before)

    stack.slash(f"redeploy {name} --image {v2}", user="U0ADMIN", channel=chan)
    asked = answers(slack, chan, 3)[2]
    stack.click("dockerverse_confirm", confirm_token(asked), slack.response_url("adm"), user="U0ADMIN", channel=chan)
    redeployed = answers(slack, chan, 4, timeout=90)[3]
    assert str(redeployed.params["text"]).startswith("✅ Redeployed"), redeployed.params
    after = docker_cleanup.api.inspect_container(name)
    assert after["Id"] != before["Id"] and after["Config"]["Image"] == v2
    assert after["HostConfig"]["CapAdd"] == ["NET_ADMIN"] and after["HostConfig"]["PidMode"] == "host"
    assert f"{SOCKET}:{SOCKET}:ro" in after["HostConfig"]["Binds"] and after["HostConfig"]["Devices"]


def test_start_obeys_ownership_as_stop_does(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Starting a container made outside the bot: refused for an operator and left stopped; an admin confirms first."""
    outsider = docker_cleanup.containers.create(
        test_image, ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"], labels={services.TEST_LABEL: services.SESSION}
    )
    chan = "C" + uuid.uuid4().hex[:10].upper()
    stack.slash(f"start {outsider.name}", user="U0OPS", channel=chan)
    refused = answers(slack, chan, 1)[0]
    assert "your role may start only containers the bot created" in str(refused.params["text"]), refused.params
    outsider.reload()
    assert outsider.status == "created"

    stack.slash(f"start {outsider.name}", user="U0ADMIN", channel=chan)
    asked = answers(slack, chan, 2)[1]
    assert "was not created by Dockerverse. Start it anyway?" in str(asked.params["text"]), asked.params
    outsider.reload()
    assert outsider.status == "created"
    stack.click("dockerverse_confirm", confirm_token(asked), slack.response_url("adm"), user="U0ADMIN", channel=chan)
    started = answers(slack, chan, 3)[2]
    assert str(started.params["text"]).startswith("✅ Started"), started.params
    outsider.reload()
    assert outsider.status == "running"
