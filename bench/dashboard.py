"""Benchmark: the dashboard in Chromium: what its first load transfers, and how fast it shows 1,000 containers.

A real `dockerverse web` serves the page and signs the browser in; the fleet it then asks for
(GET /api/fleet) is answered by the browser's route interception with 1,000 made-up containers on
4 hosts, so no worker or Docker is needed and the figure is the page's own. Render time is from the
fleet answer reaching the page to the first animation frame with all 1,000 rows in the table; an update
is a poll that changes every row's state (render and layout, measured in the page). Debian's chromium,
headless. Writes docs/bench-dashboard.md.

    .venv/bin/python -m bench.dashboard [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

from bot.wire.signing import generate
from tests.support.services import free_port, start_redis
from tests.support.stack import API_TOKEN

ROOT = Path(__file__).resolve().parent.parent
COUNT = 1000
STATES = ("running", "running", "running", "exited", "created", "restarting")
# Resolves with the time of the first frame that has every row: polled each frame from the page's start.
WATCH = f"""window.rendered = new Promise((resolve) => {{
  const check = () => document.querySelectorAll('#c-table .body [role=row]').length >= {COUNT}
    ? resolve(performance.now()) : requestAnimationFrame(check);
  requestAnimationFrame(check);
}});
const plainFetch = window.fetch;
window.fetch = (...args) => plainFetch(...args).then((resp) => {{
  if (String(args[0]).includes('/api/fleet')) window.fleetAt ??= performance.now();
  return resp;
}});"""
UPDATE = """async () => {
  const { fleet } = await import('/static/fleet.js');
  const { render } = await import('/static/containers.js');
  for (const c of fleet.containers) c.status = c.status === 'running' ? 'exited' : 'running';
  const start = performance.now();
  render();
  document.body.getBoundingClientRect();  // layout included
  return performance.now() - start;
}"""


def fleet(count: int = COUNT) -> dict[str, Any]:
    now = int(time.time() * 1000)
    boxes = [
        {
            "id": f"{i:064x}",
            "name": f"svc-{i:04d}",
            "image": f"registry.example/team{i % 7}/app:{i % 13}",
            "status": STATES[i % len(STATES)],
            "createdAt": now - i * 60_000,
            "ports": [f"{20000 + i}:8080"] if i % 3 == 0 else [],
            "statusText": "Up 5 minutes (healthy)" if i % 5 else "Exited (1) 2 minutes ago",
            "host": f"host-{i % 4}",
        }
        for i in range(count)
    ]
    return {"containers": boxes, "hosts": [f"host-{h}" for h in range(4)], "silent": [], "down": [], "at": now}


def one_load(browser: Browser, url: str, body: str) -> dict[str, float]:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sizes: dict[str, int] = {}
    page.on("requestfinished", lambda r: sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
    page.add_init_script(WATCH)
    page.route("**/api/fleet*", lambda route: route.fulfill(status=200, content_type="application/json", body=body))
    started = time.perf_counter()
    page.goto("/")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    rendered = page.evaluate("window.rendered")
    shown = time.perf_counter() - started
    render = rendered - page.evaluate("window.fleetAt")
    update = page.evaluate(UPDATE)
    own = sum(size for u, size in sizes.items() if "/api/fleet" not in u)
    context.close()
    return {"bytes": own, "render": render, "update": update, "shown": shown * 1000}


def serve(tmp: Path) -> tuple[subprocess.Popen[bytes], str, Any]:
    redis = start_redis(tmp / "redis")
    signing, verify = generate()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis.url,
        "DOCKERVERSE_API_TOKEN": API_TOKEN,
        "DOCKERVERSE_SIGNING_KEY": signing,
        "DOCKERVERSE_VERIFY_KEY": verify,
        "DOCKERVERSE_LOG_LEVEL": "WARNING",
    }
    web = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "web", "--port", str(port)], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return web, url, redis
        except httpx.HTTPError:
            time.sleep(0.1)
    web.kill()
    raise SystemExit("dockerverse web did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    body = json.dumps(fleet())
    with tempfile.TemporaryDirectory() as tmp:
        web, url, redis = serve(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                runs = [one_load(browser, url, body) for _ in range(args.runs + 1)][1:]  # the first warms the disk
                version = browser.version
                browser.close()
        finally:
            web.terminate()
            web.wait(timeout=15)
            redis.stop()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    worst = {k: max(r[k] for r in runs) for k in runs[0]}
    lines = [
        f"Dashboard benchmark, Chromium {version} headless, {COUNT:,} containers on 4 hosts, "
        f"{args.runs} cold loads, {time.strftime('%Y-%m-%d')}",
        "",
        "| measure | median | worst |",
        "| --- | ---: | ---: |",
        f"| first load: page, styles, scripts, session (bytes, uncompressed) | {med['bytes']:,.0f} | "
        f"{worst['bytes']:,.0f} |",
        f"| fleet answer with {COUNT:,} containers (bytes, uncompressed) | {len(body):,} | |",
        f"| render {COUNT:,} rows: fleet answer in -> frame with every row (ms) | {med['render']:.0f} | "
        f"{worst['render']:.0f} |",
        f"| update {COUNT:,} rows, every state changed: render + layout (ms) | {med['update']:.0f} | "
        f"{worst['update']:.0f} |",
        f"| open the page, sign in, see {COUNT:,} rows (ms) | {med['shown']:.0f} | {worst['shown']:.0f} |",
        "",
        f"Aims: a first load under 150 KB (it is {med['bytes'] / 1024:.0f} KiB); {COUNT:,} rows in under 1 s.",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-dashboard.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
