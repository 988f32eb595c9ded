"""End to end through the REST API: uvicorn, workers and dockerd, checked against the docker CLI."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import docker
import httpx
import pytest

from bot.core.masking import MASK
from bot.core.units import parse_docker_time
from tests.support.services import SESSION, TEST_LABEL, free_port
from tests.support.stack import API_TOKEN, VIEWER_TOKEN, Stack
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = pytest.mark.e2e
LOOP = "i=0; while true; do i=$((i+1)); echo line$i; sleep 0.05; done"


STACK = StackOptions(db=4)  # web, a quick worker and the stream workers (the real `dockerverse worker`)


@pytest.fixture
def api(stack: Stack, docker_cleanup: docker.DockerClient) -> Iterator[httpx.Client]:
    """An admin client; test containers are removed afterwards."""
    with httpx.Client(base_url=stack.web_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=40) as c:
        yield c


def docker_cli(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(["docker", *args, "--format", "{{json .}}"], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def create(api: httpx.Client, image: str, **body: Any) -> dict[str, Any]:
    resp = api.post("/api/containers", json={"image": image, "name": f"dvtest-{uuid.uuid4().hex[:8]}", **body})
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


def test_containers_match_the_docker_cli(api: httpx.Client, test_image: str) -> None:
    """GET /api/containers agrees with `docker ps -a`: names without '/', ms timestamps, published ports only."""
    port = free_port()
    web = create(api, test_image, ports=[f"{port}:80"], command=["sh", "-c", "sleep 300"])
    quiet = create(api, test_image, command=["true"])
    listed = {c["name"]: c for c in api.get("/api/containers").json()["containers"]}
    cli = {c["Names"]: c for c in docker_cli("ps", "-a", "--no-trunc")}
    for name in (web["name"], quiet["name"]):
        ours, theirs = listed[name], cli[name]
        assert ours["id"] == theirs["ID"] and not ours["name"].startswith("/")
        assert ours["image"] == theirs["Image"] == test_image
        assert ours["status"] == theirs["State"]
        created = datetime.strptime(theirs["CreatedAt"].rsplit(" ", 1)[0], "%Y-%m-%d %H:%M:%S %z")
        assert ours["createdAt"] // 1000 == int(created.timestamp())  # milliseconds, the same instant
    assert listed[web["name"]]["ports"] == [f"{port}:80"]
    assert listed[quiet["name"]]["ports"] == []


def test_create_applies_labels_and_limits_and_returns_first_logs(
    api: httpx.Client, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """POST /api/containers makes a labelled, limited container (as chat does) and returns its first lines."""
    made = create(
        api,
        test_image,
        env={"GREETING": "hi"},
        command=["sh", "-c", "echo API_TOKEN=hunter2; echo $GREETING; sleep 300"],
    )
    assert set(made) >= {"id", "name", "status", "logs"} and made["status"] == "running"
    container = docker_cleanup.containers.get(made["id"])
    assert container.labels["dockerverse.creator"] == "token:default"
    assert container.labels["dockerverse.managed-by"] == "dockerverse"
    assert container.attrs["HostConfig"]["Memory"] == 64 * 1024**2 and container.attrs["HostConfig"]["PidsLimit"] == 64
    deadline = time.monotonic() + 10
    while "hi" not in api.get(f"/api/containers/{made['name']}/logs").text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.get(f"/api/containers/{made['name']}/logs?tail=1").text == "hi\n"
    # A container's output is masked as a follow's is: in the tail and in the first lines `run` returns.
    assert api.get(f"/api/containers/{made['name']}/logs?tail=2").text == "API_TOKEN=••••\nhi\n"
    assert "hunter2" not in json.dumps(made)


def test_lifecycle_and_delete_by_name_and_prefix(
    api: httpx.Client, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """stop/start/restart change the state; DELETE works with a unique id prefix and stops a running one."""
    made = create(api, test_image, command=["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"])
    assert api.post(f"/api/containers/{made['name']}/stop").json()["status"] == "exited"
    assert api.post(f"/api/containers/{made['name']}/start").json()["status"] == "running"
    assert api.post(f"/api/containers/{made['name']}/restart").json()["status"] == "running"
    gone = api.delete(f"/api/containers/{made['id'][:12]}")
    assert gone.status_code == 200 and gone.json() == {"success": True, "id": made["id"]}
    with pytest.raises(docker.errors.NotFound):
        docker_cleanup.containers.get(made["id"])


def test_images_grouped_by_repository_and_untag_versus_delete(
    api: httpx.Client, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """Images come one per repository with its tags; removing one of two tags only untags; the last deletes."""
    image = docker_cleanup.containers.create(test_image, ["true"], labels={TEST_LABEL: SESSION})
    repo = f"dockerverse-test/api-{uuid.uuid4().hex[:6]}"
    committed = image.commit(repository=repo, tag="one")
    image.remove()
    committed.tag(repo, "two")
    images = api.get("/api/images").json()["images"]
    [ours] = [i for i in images if i["name"] == repo]
    assert sorted(ours["tags"]) == ["one", "two"] and ours["id"] == committed.id
    # Other test runs on the same daemon tag their own busybox build (another image id) in this
    # repository: each is an entry of its own, so look for our tag among all of them.
    busybox = [t for i in images if i["name"] == "dockerverse-test/busybox" for t in i["tags"]]
    assert test_image.rpartition(":")[2] in busybox

    conflict = api.delete(f"/api/images/{committed.id}")
    assert conflict.status_code == 409 and "must be forced" in conflict.json()["error"]
    untag = api.delete(f"/api/images/{committed.id}/tags/one")
    assert untag.status_code == 200 and untag.json()["deleted"] is False
    assert docker_cleanup.images.get(committed.id).tags == [f"{repo}:two"]
    last = api.delete(f"/api/images/{committed.id[7:19]}/tags/two")
    assert last.json() == {"success": True, "id": committed.id, "untagged": f"{repo}:two", "deleted": True}
    with pytest.raises(docker.errors.ImageNotFound):
        docker_cleanup.images.get(committed.id)


def test_bad_input_and_auth(api: httpx.Client, stack: Stack, test_image: str) -> None:
    """Bad bodies, names and ports are 400; unknown ids 404; tokens 401; a viewer token 403; never a 5xx."""
    cases = [
        ({"image": test_image, "bogus": 1}, "`bogus`: Extra inputs"),
        ({"image": test_image, "ports": ["70000:80"]}, "not a port from 1 to 65535"),
        ({"image": test_image, "ports": ["80"]}, "HOSTPORT:CONTAINERPORT"),
        ({"image": test_image, "name": "no spaces"}, "not a container name"),
        ({"image": 5}, "`image`"),
        ({"image": "redis"}, "not on the allow-list"),
    ]
    for body, said in cases:
        resp = api.post("/api/containers", json=body)
        assert resp.status_code in (400, 403) and said in resp.json()["error"], (body, resp.text)
    assert api.post("/api/containers", content=b"{not json").status_code == 400
    assert api.get("/api/containers/no-such-thing/logs").status_code == 404
    assert api.delete("/api/containers/no-such-thing").json()["error"].startswith("No container no-such-thing")
    assert api.get("/api/no/such/route").json()["error"].startswith("No route")
    bare = httpx.get(f"{stack.web_url}/api/containers")
    assert bare.status_code == 401 and "bearer" in bare.json()["error"]
    wrong = httpx.get(f"{stack.web_url}/api/containers", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    assert httpx.get(f"{stack.web_url}/api/containers", headers=viewer).status_code == 200
    refused = httpx.post(f"{stack.web_url}/api/containers", headers=viewer, json={"image": test_image})
    assert refused.status_code == 403 and "Not allowed: run" in refused.json()["error"]
    assert "set its role under tokens:" in refused.json()["error"]
    assert httpx.get(f"{stack.web_url}/api/audit", headers=viewer).status_code == 403
    entries = api.get("/api/audit?limit=5").json()["entries"]
    assert entries[0]["actor"] == "token:dashboard" and entries[0]["decision"] == "refused"
    assert any(
        e["outcome"].startswith("failed: No container") for e in api.get("/api/audit?limit=50").json()["entries"]
    )


def read_events(resp: httpx.Response, count: int) -> list[dict[str, str]]:
    events, current = [], {}
    for line in resp.iter_lines():
        if not line:
            if current:
                events.append(current)
                current = {}
            if len(events) >= count:
                break
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    return events


def test_sse_follows_stops_when_the_client_leaves_and_resumes(
    api: httpx.Client, stack: Stack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Log lines stream as SSE; disconnecting ends the worker's follow; Last-Event-ID resumes without gaps."""
    made = create(api, test_image, command=["sh", "-c", LOOP])
    sse = {"Accept": "text/event-stream"}
    with api.stream("GET", f"/api/containers/{made['name']}/logs?tail=1", headers=sse) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        job = resp.headers["x-dockerverse-job"]
        first = read_events(resp, 20)
    numbers = [int(e["data"].removeprefix("line")) for e in first]
    assert numbers == list(range(numbers[0], numbers[0] + 20)) and all(e["id"].endswith("Z") for e in first)

    deadline = time.monotonic() + 15
    while api.get(f"/api/jobs/{job}").json()["status"] != "finished" and time.monotonic() < deadline:
        time.sleep(0.2)
    ended = api.get(f"/api/jobs/{job}").json()
    assert ended["status"] == "finished" and ended["result"]["data"]["ended"] == "the reader disconnected"

    with api.stream(
        "GET", f"/api/containers/{made['name']}/logs", headers={**sse, "Last-Event-ID": first[-1]["id"]}
    ) as resp:
        resumed = read_events(resp, 5)
    assert [e["data"] for e in resumed] == [f"line{n}" for n in range(numbers[-1] + 1, numbers[-1] + 6)]


BURST = (  # 3,000 lines as fast as the shell writes them, one of them with a secret, then quiet
    'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); if [ $i -eq 1000 ]; then echo "line$i API_TOKEN=hunter22"; '
    "else echo line$i; fi; done; sleep 300"
)


def test_sse_relays_a_burst_whole_in_order_masked_and_resumes_inside_a_batch(
    api: httpx.Client, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A burst the worker writes in batches arrives one event a line, each once and in order with its own Docker
    timestamp as id, a secret masked; Last-Event-ID from the middle of a batch resumes exactly after it."""
    made = create(api, test_image, command=["sh", "-c", BURST])
    deadline = time.monotonic() + 30
    while b"line3000" not in docker_cleanup.api.logs(made["id"], tail=1) and time.monotonic() < deadline:
        time.sleep(0.2)
    expected = [f"line{n}" for n in range(1, 3001)]
    expected[999] = "line1000 API_TOKEN=••••"
    sse = {"Accept": "text/event-stream"}
    with api.stream("GET", f"/api/containers/{made['name']}/logs?tail=3000", headers=sse) as resp:
        events = read_events(resp, 3000)
    assert [e["data"] for e in events] == expected
    ids = [e["id"] for e in events]
    stamps = [parse_docker_time(i) for i in ids]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "one distinct, rising timestamp a line"

    with api.stream("GET", f"/api/containers/{made['name']}/logs", headers={**sse, "Last-Event-ID": ids[1499]}) as resp:
        resumed = read_events(resp, 1500)
    assert [e["data"] for e in resumed] == expected[1500:] and [e["id"] for e in resumed] == ids[1500:]


PEM_PRINTER = (  # a private key printed as programs print one: a line each, its body plain base64
    "echo start; echo '-----BEGIN RSA PRIVATE KEY-----'; for i in 1 2 3; do echo MIIEowIBAAKCAQEAs3cr3t$i; done; "
    "echo '-----END RSA PRIVATE KEY-----'; echo done; sleep 300"
)


def test_a_private_key_printed_over_several_lines_is_hidden_in_the_tail_and_the_stream(
    api: httpx.Client, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """No line of its own says a key's body line is secret: the masking follows the key from BEGIN to END,
    in a `logs` tail, one that starts inside the key, and the live stream; every line keeps its place."""
    made = create(api, test_image, command=["sh", "-c", PEM_PRINTER])
    deadline = time.monotonic() + 30
    while b"done" not in docker_cleanup.api.logs(made["id"], tail=1) and time.monotonic() < deadline:
        time.sleep(0.1)
    begin, end = "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"
    shown = ["start", f"{begin}{MASK}{end}", MASK, MASK, MASK, f"{MASK}{end}", "done"]
    assert api.get(f"/api/containers/{made['name']}/logs?tail=7").text.splitlines() == shown
    assert api.get(f"/api/containers/{made['name']}/logs?tail=4").text.splitlines() == [MASK, MASK, end, "done"]
    with api.stream(
        "GET", f"/api/containers/{made['name']}/logs?tail=7", headers={"Accept": "text/event-stream"}
    ) as resp:
        events = read_events(resp, 7)
    assert [e["data"] for e in events] == shown


def test_sse_ends_when_the_container_stops(api: httpx.Client, test_image: str) -> None:
    """A follow ends with an `end` event when the container exits; an unknown container is a 404, not a stream."""
    made = create(api, test_image, command=["sh", "-c", "sleep 1; echo bye"])
    with api.stream("GET", f"/api/containers/{made['name']}/logs", headers={"Accept": "text/event-stream"}) as resp:
        events = read_events(resp, 2)
    assert events[0]["data"] == "bye" and events[1] == {"event": "end", "data": "the container stopped"}
    missing = api.get("/api/containers/no-such-thing/logs", headers={"Accept": "text/event-stream"})
    assert missing.status_code == 404


def test_unconfigured_api_answers_503_and_cors_is_opt_in(stack: Stack, stack_factory: StackFactory) -> None:
    """Without DOCKERVERSE_API_TOKEN /api/* is 503; CORS answers only for the origins configured."""
    preflight = {"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET"}
    off = httpx.options(f"{stack.web_url}/api/containers", headers=preflight)
    assert "access-control-allow-origin" not in off.headers
    unset = {"DOCKERVERSE_API_TOKEN": "", "DASHBOARD_TOKEN": "", "DOCKERVERSE_CORS_ORIGINS": "https://ui.example.com"}
    with stack_factory(StackOptions(db=6, env=unset)) as bare:
        resp = httpx.get(f"{bare.web_url}/api/containers", headers={"Authorization": "Bearer x"})
        assert resp.status_code == 503 and "DOCKERVERSE_API_TOKEN" in resp.json()["error"]
        on = httpx.options(f"{bare.web_url}/api/containers", headers=preflight)
        assert on.headers["access-control-allow-origin"] == "https://ui.example.com"


def test_metrics_count_decisions_and_read_the_fleet_from_redis(stack: Stack, api: httpx.Client) -> None:
    def scrape() -> dict[str, float]:
        resp = httpx.get(f"{stack.web_url}/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        return {
            name: float(value)
            for line in resp.text.splitlines()
            if line and not line.startswith("#")
            for name, value in [line.rsplit(" ", 1)]
        }

    listed = 'dockerverse_commands_total{command="list",decision="queued",origin="api"}'
    refused = 'dockerverse_commands_total{command="run",decision="refused",origin="api"}'
    before = scrape()
    assert api.get("/api/containers").status_code == 200
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    resp = httpx.post(f"{stack.web_url}/api/containers", json={"image": "busybox"}, headers=viewer)
    assert resp.status_code == 403
    after = scrape()
    assert after[listed] == before.get(listed, 0) + 1
    assert after[refused] == before.get(refused, 0) + 1
    assert after["dockerverse_redis_up"] == 1
    assert after['dockerverse_workers{host="local",lane="quick"}'] == 1
    assert after['dockerverse_workers{host="local",lane="stream"}'] >= 1
    assert after['dockerverse_queue_jobs{host="local",lane="quick"}'] == 0
    assert after['dockerverse_jobs{host="local",lane="quick",state="finished"}'] >= 1
