"""The App Home view (bot/web/home.py), pure: what needs attention, buttons by permission, Slack's limits.

Every view is checked with slack_sdk's own models, which validate each block and warn (an error
here) about any field they do not know.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.core.policy import DEFAULT_PERMISSIONS, Actor, Policy
from bot.core.slack_text import code, escape
from bot.web.home import MAX_BLOCKS, REFRESH_ACTION, Box, Fleet, Viewer, home_view

POLICY = Policy(roles={"admin": ["U0ADMIN"], "operator": ["U0OPS"], "viewer": ["*"]}, permissions=DEFAULT_PERMISSIONS)
NOW = 1_760_000_000.0


def viewer(user: str = "U0OPS") -> Viewer:
    role = POLICY.role_of(Actor(user, "home"))
    return Viewer(user, role, frozenset(POLICY.granted(role or "")))


def box(name: str, state: str, detail: str, host: str = "local") -> dict[str, Any]:
    return {"host": host, "name": name, "image": "busybox", "status": state, "statusText": detail}


def valid(view: dict[str, Any]) -> dict[str, Any]:
    """slack_sdk's View takes every field and validates every block (100 at most in a Home)."""
    assert View(**view).to_dict() == view
    return view


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def buttons(view: dict[str, Any]) -> list[str]:
    out = []
    for block in view["blocks"]:
        out += [e["action_id"] for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            out.append(block["accessory"]["action_id"])
    return out


FLEET = Fleet.from_list_data(
    {
        "containers": [
            box("web", "running", "Up 5 minutes"),
            box("sick", "running", "Up 2 minutes (unhealthy)"),
            box("crashed", "exited", "Exited (3) 1 minute ago"),
            box("done", "exited", "Exited (0) 1 hour ago"),
            box("looping", "restarting", "Restarting (1) 2 seconds ago"),
            box("db", "running", "Up 1 day (healthy)", host="beta"),
        ],
        "hosts": ["local", "beta", "idle"],
        "silent": ["`gamma` (no answer in time)"],
    },
    NOW,
)


@pytest.mark.parametrize(
    ("state", "detail", "trouble"),
    [
        ("exited", "Exited (3) 1 minute ago", "exited with code 3"),
        ("exited", "Exited (137) 2 hours ago", "exited with code 137"),
        ("exited", "Exited (0) 1 hour ago", None),
        ("running", "Up 2 minutes (unhealthy)", "unhealthy"),
        ("running", "Up 2 minutes (healthy)", None),
        ("running", "Up 2 minutes (health: starting)", None),
        ("restarting", "Restarting (1) 2 seconds ago", "restarting"),
        ("dead", "Dead", "dead"),
        ("created", "Created", None),
    ],
)
def test_what_needs_attention(state: str, detail: str, trouble: str | None) -> None:
    """Exited non-zero, unhealthy, restarting and dead need attention; a clean exit or a healthy one does not."""
    assert Box("local", "x", "busybox", state, detail).trouble == trouble


def test_counts_by_state_per_host_and_idle_hosts_listed() -> None:
    """Each host a line with its containers by state; a host with none still appears; silent hosts are named."""
    view = valid(home_view(viewer(), FLEET, None, [], NOW))
    shown = texts(view)
    assert FLEET.counts("local") == {"running": 2, "exited": 2, "restarting": 1}
    assert "*local*  ⚫ 2 exited · 🔁 1 restarting · 🟢 2 running" in shown
    assert "*beta*  🟢 1 running" in shown and "*idle*  no containers" in shown
    assert "No answer in time from `gamma` (no answer in time)" in shown


def test_attention_rows_worst_first_and_nothing_else() -> None:
    """Restarting before unhealthy before exited with an error; running and cleanly exited ones are not rows."""
    view = valid(home_view(viewer(), FLEET, None, [], NOW))
    rows = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and " on `" in b["text"]["text"]]
    assert [r.split("*")[1] for r in rows] == ["looping", "sick", "crashed"]
    assert "restarting" in rows[0] and "unhealthy" in rows[1] and "exited with code 3" in rows[2]


def test_buttons_follow_the_viewers_permissions() -> None:
    """An operator gets Logs, Restart/Stop or Start and Remove; a viewer only Logs and List; each reuses the
    list's action ids, and destructive ones ask Slack's are-you-sure first."""
    operator = buttons(valid(home_view(viewer("U0OPS"), FLEET, None, [], NOW)))
    reader = buttons(valid(home_view(viewer("U0SOMEONE"), FLEET, None, [], NOW)))
    assert set(operator) == {REFRESH_ACTION} | {
        f"dockerverse_btn_{k}" for k in ("logs", "restart", "stop", "start", "remove", "more")
    }
    assert set(reader) == {REFRESH_ACTION, "dockerverse_btn_logs", "dockerverse_btn_more"}
    view = home_view(viewer("U0OPS"), FLEET, None, [], NOW)
    remove = next(
        e for b in view["blocks"] for e in b.get("elements", []) if e.get("action_id") == "dockerverse_btn_remove"
    )
    assert remove["style"] == "danger" and "confirm" in remove
    assert json.loads(remove["value"]) == {"name": "looping", "host": "local"}


def test_no_role_sees_no_fleet_and_says_how_to_get_one() -> None:
    """Someone the policy gives no role sees no containers, and is told who can change that."""
    view = valid(home_view(Viewer("U0NOBODY", None, frozenset()), None, None, [], NOW))
    shown = texts(view)
    assert "no role" in shown and "roles:" in shown and "may not list containers" in shown
    assert buttons(view) == [REFRESH_ACTION]


def test_a_thousand_troubled_containers_stay_within_100_blocks() -> None:
    """Slack allows 100 blocks in a Home: rows that do not fit are counted with the command that shows all."""
    many = [box(f"c{i:04d}", "exited", "Exited (1) 1 minute ago", host=f"h{i % 30:02d}") for i in range(1000)]
    fleet = Fleet.from_list_data({"containers": many, "hosts": []}, NOW)
    jobs = [{"at": NOW, "command": "list --all", "outcome": "finished", "duration": 0.2}] * 50
    view = valid(home_view(viewer(), fleet, None, jobs, NOW))
    assert len(view["blocks"]) <= MAX_BLOCKS
    more = next(b for b in view["blocks"] if b["type"] == "context" and "more: `list --all --all-hosts`" in texts(b))
    shown_rows = sum(1 for b in view["blocks"] if b["type"] == "section" and "exited with code 1" in texts(b))
    assert f"… and {1000 - shown_rows} more" in texts(more)
    assert "… and 10 more hosts" in texts(view)


def test_last_jobs_with_outcomes_and_escaped_text() -> None:
    """The viewer's jobs show the command, the outcome and the duration; Slack's special characters are escaped."""
    jobs = [
        {"at": NOW, "command": "list --all", "decision": "queued", "outcome": "finished", "duration": 0.25},
        {
            "at": NOW - 60,
            "command": "rm <web> `x`",
            "decision": "refused",
            "outcome": "Not allowed: `rm`",
            "duration": None,
        },
        {"at": NOW - 90, "command": "logs web --follow", "decision": "queued", "outcome": "started", "duration": None},
    ]
    view = valid(home_view(viewer(), FLEET, None, jobs, NOW))
    section = next(b for b in view["blocks"] if b["type"] == "section" and "list --all" in texts(b))["text"]["text"]
    lines = section.splitlines()
    assert lines[0].startswith("✅ `list --all`: finished in 0.2 s · <!date^1760000000^")
    assert lines[1].startswith("❌ `rm &lt;web&gt; 'x'`: Not allowed: `rm`")
    assert lines[2].startswith("⏳ `logs web --follow`: started")
    assert escape("a & <b> `c`") == "a &amp; &lt;b&gt; `c`" and code("a `b`") == "`a 'b'`"


def test_a_failed_refresh_says_why_and_when_the_shown_fleet_is_from() -> None:
    """A stale snapshot is shown with the reason the refresh failed and the time of the snapshot."""
    note = "The fleet could not be refreshed: No worker is serving Docker host `local`."
    view = valid(home_view(viewer(), FLEET, note, [], NOW + 600))
    shown = texts(view)
    assert (
        "No worker is serving Docker host `local`." in shown and "Showing the fleet as of <!date^1760000000^" in shown
    )


def test_fleet_round_trips_through_its_cache_form() -> None:
    """What is kept in Redis reads back as the same fleet."""
    assert Fleet.from_json(FLEET.to_json()) == FLEET
