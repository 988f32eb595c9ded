"""The web dashboard in a real browser (Debian's chromium, driven by Playwright) against the real web,
workers, Redis and dockerd: sign in, see and change containers, follow logs, pull, see a refusal, sign out.

Screenshots of every tab are saved to tests/artifacts/ (one is docs/dashboard.png in the README).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from bot.web.dashboard import signin_codes
from bot.wire.signing import parse_signing_key
from tests.support.jobs import audit, settled
from tests.support.services import SESSION, TEST_LABEL, Registry
from tests.support.stack import API_TOKEN, SIGNING_KEY, VIEWER_TOKEN, Stack
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e

STACK = StackOptions(db=10)
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT = 40_000  # ms: a job's answer, a state change, a pull
expect.set_options(timeout=WAIT)
LOOP = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line$i; sleep 0.2; done"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium (Playwright's own browser download is not reachable); --no-sandbox as root."""
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=stack.web_url, viewport={"width": 1280, "height": 800}, accept_downloads=True)
    made.set_default_timeout(WAIT)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def outside(docker_cleanup: docker.DockerClient, test_image: str) -> Iterator[str]:
    """A container made with docker-py, not by the bot, printing a numbered line five times a second."""
    name = f"dvdash-{uuid.uuid4().hex[:8]}"
    docker_cleanup.containers.run(test_image, ["sh", "-c", LOOP], name=name, detach=True, labels={TEST_LABEL: SESSION})
    yield name


def sign_in(page: Page, token: str = API_TOKEN, who: str = "token:default (admin)") -> None:
    page.goto("/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text(who)


def row(page: Page, name: str) -> object:
    return page.locator("#c-table .body [role=row]").filter(
        has=page.locator("[role=cell][data-label=Name]").get_by_text(name, exact=True)
    )


def shot(page: Page, name: str) -> None:
    """The page as it shows now, saved as a test artefact (tests/artifacts/ is not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"))


def test_sign_in_then_stop_and_start_a_container_made_outside_the_bot(page: Page, outside: str) -> None:
    """A container docker-py made shows up with its host and state; Stop and Start change the row in place."""
    sign_in(page)
    line = row(page, outside)
    expect(line.locator(".state")).to_have_text("running")
    expect(line).to_contain_text("local")
    page.evaluate("window.notReloaded = true")
    line.get_by_role("button", name=f"Stop {outside} on local").click()
    expect(line.locator(".state")).to_have_text("exited")
    expect(page.locator("#status")).to_contain_text(f"Stopped {outside} on local")
    line.get_by_role("button", name=f"Start {outside} on local").click()
    expect(line.locator(".state")).to_have_text("running")
    assert page.evaluate("window.notReloaded") is True
    shot(page, "containers")


def test_a_new_container_appears_without_a_reload(
    page: Page, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """The table polls the fleet: a container made after the page loaded shows up on its own; filter and sort."""
    sign_in(page)
    expect(page.locator("#c-count")).to_contain_text("containers")
    name, other = (f"dvdash-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for each in (name, other):  # two, so the filter has something to leave out even on an empty daemon
        docker_cleanup.containers.run(
            test_image, ["sleep", "300"], name=each, detach=True, labels={TEST_LABEL: SESSION}
        )
    expect(row(page, name).locator(".state")).to_have_text("running")
    page.get_by_label("Filter").fill(name)
    expect(page.locator("#c-count")).to_contain_text("1 of ")
    expect(page.locator("#c-table .body [role=row]")).to_have_count(1)
    page.get_by_role("button", name="Name", exact=True).click()
    expect(page.get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "descending")


def test_logs_follow_live_with_pause_search_and_download(page: Page, outside: str) -> None:
    """The Logs tab tails over SSE: new lines arrive; pause holds them until resume; search marks; download saves."""
    sign_in(page)
    row(page, outside).get_by_role("button", name=f"Logs {outside} on local").click()
    expect(page.get_by_role("tab", name="Logs")).to_have_attribute("aria-selected", "true")
    lines = page.locator("#l-lines")
    expect(lines).to_contain_text("line")
    first = int(lines.inner_text().split()[-1].removeprefix("line"))
    expect(lines).to_contain_text(f"line{first + 5}\n")  # five more, arrived live
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#l-state")).to_contain_text("Paused")
    held = lines.inner_text()
    page.get_by_role("button", name="Resume").click()
    expect(lines).not_to_have_text(held)
    assert lines.inner_text().startswith(held)  # what came while paused follows, in order
    page.get_by_label("Search").fill("line1")
    expect(page.locator("#l-count")).to_contain_text("lines match")
    assert all("line1" in text for text in lines.inner_text().splitlines())
    expect(lines.locator("mark").first).to_have_text("line1")
    shot(page, "logs")
    with page.expect_download() as done:
        page.get_by_role("button", name="Download").click()
    saved = Path(done.value.path()).read_text()
    assert done.value.suggested_filename == f"{outside}-logs.txt" and "line2\n" in saved


def test_pull_from_the_local_registry_shows_progress_then_the_image(
    page: Page, stack: Stack, docker_cleanup: docker.DockerClient, docker_registry: Registry, test_image: str
) -> None:
    """Pull runs as a job; the page shows its progress and result, and the image is then listed."""
    repo = f"{docker_registry.url}/dockerverse-test/dashboard"
    ref = f"{repo}:{SESSION}"
    docker_cleanup.images.get(test_image).tag(ref)
    try:
        docker_registry.push(docker_cleanup, ref)
        docker_cleanup.images.remove(ref)  # only the tag: the pull must fetch it back
        sign_in(page)
        page.get_by_role("tab", name="Images").click()
        page.get_by_label("Image to pull").fill(ref)
        page.get_by_role("button", name="Pull").click()
        expect(page.locator("#pull-text")).to_contain_text(f"Pulled {ref} on local")
        listed = page.locator("#i-table tbody tr").filter(has=page.get_by_role("cell", name=repo, exact=True))
        expect(listed).to_contain_text(SESSION)
        shot(page, "images")
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):  # not pulled: the failure above says why
            docker_cleanup.images.remove(ref)


def test_pull_progress_is_kept_with_the_job(
    stack: Stack, docker_cleanup: docker.DockerClient, docker_registry: Registry, test_image: str
) -> None:
    """POST /api/images/pull answers 202 at once; the job then shows the pull's layer totals as `progress`."""
    ref = f"{docker_registry.url}/dockerverse-test/dashboard-api:{SESSION}"
    docker_cleanup.images.get(test_image).tag(ref)
    try:
        docker_registry.push(docker_cleanup, ref)
        docker_cleanup.images.remove(ref)
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        started = httpx.post(f"{stack.web_url}/api/images/pull", json={"image": ref}, headers=auth, timeout=10)
        assert started.status_code == 202 and started.headers["location"] == started.json()["status_url"]
        job = settled(stack, started.json()["job_id"])
        assert job["status"] == "finished" and "layers done" in job["progress"], job
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):  # not pulled: the failure above says why
            docker_cleanup.images.remove(ref)


def test_a_viewer_sees_the_policy_refusal(page: Page, outside: str) -> None:
    """A viewer's Stop is refused by the policy, in the policy's own words, and the container keeps running."""
    sign_in(page, VIEWER_TOKEN, "token:dashboard (viewer)")
    line = row(page, outside)
    line.get_by_role("button", name=f"Stop {outside} on local").click()
    expect(page.locator("#status")).to_contain_text("Not allowed: stop")
    expect(page.locator("#status")).to_contain_text("role viewer")
    expect(line.locator(".state")).to_have_text("running")


def test_jobs_and_hosts_tabs(page: Page, outside: str) -> None:
    """Jobs lists recent commands with who, from where and the outcome; Hosts lists the host with its workers."""
    sign_in(page)
    expect(row(page, outside)).to_be_visible()
    page.get_by_role("tab", name="Jobs").click()
    jobs = page.locator("#j-table tbody")
    expect(jobs).to_contain_text("list --all --all-hosts")
    expect(jobs).to_contain_text("token:default")
    expect(page.locator("#j-scope")).to_contain_text("Everyone")
    shot(page, "jobs")
    page.get_by_role("tab", name="Hosts").click()
    host = page.locator("#h-table tbody tr").filter(has=page.get_by_role("cell", name="local", exact=True))
    expect(host).to_contain_text("1 quick")
    expect(host).to_contain_text("running")
    shot(page, "hosts")


def test_sign_out_ends_the_session_everywhere(page: Page, context: BrowserContext, stack: Stack) -> None:
    """Sign-out shows the sign-in form again, and the old cookie no longer opens the API."""
    sign_in(page)
    cookie = next(c for c in context.cookies() if c["name"] == "dockerverse_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "dockerverse_session"]
    again = httpx.get(f"{stack.web_url}/api/fleet", cookies={"dockerverse_session": cookie["value"]}, timeout=10)
    assert again.status_code == 401 and "sign in again" in again.json()["error"]


def test_the_one_time_link_signs_in_once(browser: Browser, stack: Stack) -> None:
    """The link `dockerverse up` prints signs the local admin in with one click, and works only once."""
    conn = redis.Redis.from_url(stack.env["REDIS_URL"])
    code = signin_codes.mint(conn, parse_signing_key("DOCKERVERSE_SIGNING_KEY", SIGNING_KEY))
    conn.close()
    for attempt, shown in ((1, "token:default (admin)"), (2, None)):
        context = browser.new_context(base_url=stack.web_url)
        page = context.new_page()
        page.goto(f"/#signin={code}")
        if shown:
            expect(page.locator("#who")).to_have_text(shown)
            assert "signin" not in page.url  # dropped from the address bar (and history)
        else:
            expect(page.locator("#signin-error")).to_contain_text("used already or has expired")
        context.close()
        assert attempt


def test_mutations_need_the_csrf_token(stack: Stack, outside: str) -> None:
    """With the session cookie alone a change is refused (403) and nothing runs; with X-CSRF-Token it runs.
    Signing in takes JSON only, which no cross-site form can send."""
    with httpx.Client(base_url=stack.web_url, timeout=40) as client:
        signed = client.post("/session", json={"token": API_TOKEN})
        assert signed.status_code == 200
        flags = signed.headers["set-cookie"].lower()
        assert "httponly" in flags and "samesite=strict" in flags and "max-age=" in flags
        refused = client.post(f"/api/containers/{outside}/restart")
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
        assert not [e for e in audit(stack) if e["command"] == f"restart {outside}"]
        done = client.post(f"/api/containers/{outside}/restart", headers={"X-CSRF-Token": signed.json()["csrf"]})
        assert done.status_code == 200 and done.json()["status"] == "running"
        assert [e for e in audit(stack) if e["command"] == f"restart {outside}" and e["actor"] == "token:default"]
        assert client.get("/api/fleet", headers={"Authorization": "Bearer wrong"}).status_code == 401
        form = client.post("/session", content=f'{{"token": "{API_TOKEN}"}}', headers={"Content-Type": "text/plain"})
        assert form.status_code == 400 and "set-cookie" not in form.headers  # what a cross-site form could send


def test_first_load_is_small_and_never_leaves_the_origin(page: Page, stack: Stack) -> None:
    """Everything the page loads comes from the web itself, under 150 KB in all, signed in and showing the fleet."""
    sizes: dict[str, int] = {}
    page.on(
        "requestfinished",
        lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]),
    )
    sign_in(page)
    expect(page.locator("#c-count")).to_contain_text("containers")
    assert all(url.startswith(stack.web_url) for url in sizes), sorted(sizes)
    assert sum(sizes.values()) < 150_000, sizes


def test_keyboard_and_a_narrow_screen(browser: Browser, stack: Stack, outside: str) -> None:
    """At 375 px wide nothing scrolls sideways; sign-in, tabs and actions work from the keyboard alone."""
    context = browser.new_context(base_url=stack.web_url, viewport={"width": 375, "height": 800})
    context.set_default_timeout(WAIT)
    page = context.new_page()
    try:
        page.goto("/")
        expect(page.get_by_label("API token")).to_be_focused()
        page.keyboard.type(API_TOKEN)
        page.keyboard.press("Enter")
        expect(row(page, outside)).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        shot(page, "narrow")
        page.get_by_role("tab", name="Containers").focus()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("tab", name="Images")).to_be_focused()
        expect(page.get_by_role("tab", name="Images")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("End")
        expect(page.get_by_role("tab", name="Hosts")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Home")
        remove = row(page, outside).get_by_role("button", name=f"Remove {outside} on local")
        remove.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("dialog")).to_be_visible()
        page.keyboard.press("Escape")  # cancelled: nothing removed
        expect(page.get_by_role("dialog")).to_be_hidden()
        expect(row(page, outside).locator(".state")).to_have_text("running")
    finally:
        context.close()
