"""The App Home tab as Block Kit: per host, containers by state and those that need attention;
the viewer's last jobs; buttons for what the viewer may do. Pure: data in, a view out.

The fleet is what a `list --all --all-hosts` job returned (workers/commands/fanout.py); the jobs are the
viewer's audit entries (bot/wire/audit.py). A home view holds at most 100 blocks: rows that do not fit
are counted, with the command that shows them all.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.core.blocks import STATE_EMOJI, button, row_buttons
from bot.core.slack_text import code, escape

MAX_BLOCKS = 100  # Slack's limit for a Home tab view
MAX_HOSTS = 20  # hosts listed one block each; more are summed up in one line
JOBS_SHOWN = 8
REFRESH_ACTION = "dockerverse_home_refresh"
_EXITED = re.compile(r"^Exited \((-?\d+)\)")
REFRESH_BUTTON: dict[str, Any] = {
    "type": "button",
    "action_id": REFRESH_ACTION,
    "value": "refresh",
    "text": {"type": "plain_text", "text": "Refresh"},
}


@dataclass(frozen=True)
class Box:
    """One container, as the App Home shows it."""

    host: str
    name: str
    image: str
    state: str  # running, exited, restarting, ...
    detail: str  # Docker's words: "Exited (3) 2 minutes ago", "Up 5 minutes (unhealthy)"

    @property
    def trouble(self) -> str | None:
        """Why it needs attention (exited non-zero, unhealthy, restarting, dead), or None."""
        if self.state == "restarting":
            return "restarting"
        if self.state == "dead":
            return "dead"
        if "(unhealthy)" in self.detail:
            return "unhealthy"
        exited = _EXITED.match(self.detail)
        if self.state == "exited" and exited and int(exited.group(1)) != 0:
            return f"exited with code {exited.group(1)}"
        return None


@dataclass(frozen=True)
class Fleet:
    """Every host's containers at one moment: `at` is when the workers answered (epoch seconds)."""

    at: float
    hosts: tuple[str, ...]
    boxes: tuple[Box, ...]
    silent: tuple[str, ...] = ()  # hosts that did not answer in time, with why
    down: tuple[str, ...] = ()  # hosts whose workers stopped beating, with when each was last seen

    @classmethod
    def from_list_data(cls, data: dict[str, Any], at: float) -> Fleet:
        """From a `list --all --all-hosts` job's data."""
        boxes = tuple(
            Box(str(c["host"]), str(c["name"]), str(c["image"]), str(c["status"]), str(c.get("statusText") or ""))
            for c in data.get("containers", [])
        )
        hosts = sorted(set(data.get("hosts") or ()) | {b.host for b in boxes})
        silent, down = (tuple(str(s) for s in data.get(k) or ()) for k in ("silent", "down"))
        return cls(at, tuple(hosts), boxes, silent, down)

    def to_json(self) -> str:
        return json.dumps(
            {
                "at": self.at,
                "hosts": self.hosts,
                "boxes": [asdict(b) for b in self.boxes],
                "silent": self.silent,
                "down": self.down,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Fleet:
        data = json.loads(raw)
        boxes = tuple(Box(**b) for b in data["boxes"])
        return cls(float(data["at"]), tuple(data["hosts"]), boxes, tuple(data["silent"]), tuple(data.get("down", ())))

    def counts(self, host: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.boxes:
            if b.host == host:
                out[b.state] = out.get(b.state, 0) + 1
        return out

    def troubled(self) -> list[Box]:
        """Restarting and dead first, then unhealthy, then exited with an error; by host and name within."""
        order = {"restarting": 0, "dead": 1, "unhealthy": 2}
        found = [b for b in self.boxes if b.trouble]
        return sorted(found, key=lambda b: (order.get(b.trouble or "", 3), b.host, b.name))


@dataclass(frozen=True)
class Viewer:
    user: str
    role: str | None
    granted: frozenset[str]


def _when(at: float) -> str:
    """A time Slack shows in the reader's own time zone (UTC as the fallback)."""
    fallback = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time_secs}}|{fallback}>"


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
    if accessory:
        block["accessory"] = accessory
    return block


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _host_line(fleet: Fleet, host: str) -> str:
    counts = fleet.counts(host)
    states = " · ".join(f"{STATE_EMOJI.get(s, '❔')} {n} {s}" for s, n in sorted(counts.items()))
    return f"*{escape(host)}*  {states or 'no containers'}"


def _box_blocks(box: Box, viewer: Viewer) -> list[dict[str, Any]]:
    text = (
        f"{'🟠' if box.trouble == 'unhealthy' else STATE_EMOJI.get(box.state, '❔')} "
        f"*{escape(box.name)}* on {code(box.host)}: {box.trouble}\n"
        f"{code(box.image[:80])} · {escape(box.detail)}"
    )
    buttons = row_buttons(box.name, box.state, box.host, viewer.granted)
    return [_section(text)] + ([{"type": "actions", "elements": buttons}] if buttons else [])


def _fleet_blocks(fleet: Fleet | None, note: str | None, viewer: Viewer, room: int) -> list[dict[str, Any]]:
    """Hosts and the containers that need attention, in at most `room` blocks."""
    if "list" not in viewer.granted:
        return [_section("Your role may not list containers, so the fleet is not shown here.")]
    blocks = [_header("Hosts")]
    if note:
        when = f" Showing the fleet as of {_when(fleet.at)}." if fleet is not None else ""
        blocks.append(_context(f"⚠️ {note}{when}"))  # our message: its values are escaped already
    if fleet is None:
        return blocks
    for host in fleet.hosts[:MAX_HOSTS]:
        more = json.dumps({"page": 1, "all": True, "filter": None, "host": host})
        blocks.append(_section(_host_line(fleet, host), button("more", "List", more)))
    if len(fleet.hosts) > MAX_HOSTS:
        blocks.append(_context(f"… and {len(fleet.hosts) - MAX_HOSTS} more hosts: `hosts` lists them all."))
    if not fleet.hosts:
        blocks.append(_section("No Docker host answered: start `dockerverse worker` on one."))
    if fleet.silent:
        blocks.append(_context("No answer in time from " + escape(", ".join(fleet.silent))))
    if fleet.down:
        blocks.append(_context("⛔ Down (workers stopped beating): " + escape(", ".join(fleet.down))))
    blocks.append(_header("Needs attention"))
    troubled = fleet.troubled()
    if not troubled:
        blocks.append(_section("✅ Nothing: no container exited with an error, is unhealthy or is restarting."))
        return blocks
    shown = 0
    for box in troubled:
        rows = _box_blocks(box, viewer)
        # Keep one block for the line that counts what did not fit.
        if len(blocks) + len(rows) > room - 1:
            break
        blocks += rows
        shown += 1
    if shown < len(troubled):
        blocks.append(_context(f"… and {len(troubled) - shown} more: `list --all --all-hosts` shows every container."))
    return blocks


def _jobs_blocks(jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks = [_header("Your last jobs")]
    if not jobs:
        return [*blocks, _section("None yet: try `/docker help`, or `@dockerverse list` in a channel.")]
    lines = []
    for e in jobs[:JOBS_SHOWN]:
        outcome = str(e.get("outcome") or e.get("decision") or "")
        mark = "✅" if outcome == "finished" else "⏳" if outcome in ("queued", "started", "deferred") else "❌"
        took = f" in {e['duration']:.1f} s" if isinstance(e.get("duration"), float) else ""
        lines.append(f"{mark} {code(str(e['command'])[:80])}: {escape(outcome[:160])}{took} · {_when(e['at'])}")
    return [*blocks, _section("\n".join(lines))]


def home_view(
    viewer: Viewer,
    fleet: Fleet | None,
    note: str | None,
    jobs: Sequence[dict[str, Any]],
    now: float,
    every: float = 5.0,
) -> dict[str, Any]:
    """The whole Home tab for one person (rebuilt at most `every` seconds): never more than 100 blocks."""
    role = f"role `{viewer.role}`" if viewer.role else "no role (an admin can add you under `roles:` in the policy)"
    top = [
        _header("Dockerverse"),
        _context(f"<@{viewer.user}> · {role} · updated {_when(now)}, at most every {every:g} s"),
        {"type": "actions", "elements": [REFRESH_BUTTON]},
    ]
    tail = [{"type": "divider"}, *_jobs_blocks(jobs)]
    middle = _fleet_blocks(fleet, note, viewer, MAX_BLOCKS - len(top) - len(tail))
    blocks = top + middle + tail
    assert len(blocks) <= MAX_BLOCKS, len(blocks)  # _fleet_blocks keeps within its room
    return {"type": "home", "blocks": blocks}
