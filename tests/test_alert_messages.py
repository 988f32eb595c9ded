"""Alert facts from a Docker event and `inspect`, and what the messages say about them. Pure."""

from __future__ import annotations

import json
from typing import Any

from workers.alerts import messages as msg

EVENT = {
    "Type": "container",
    "Action": "die",
    "Actor": {"ID": "c0ffee" * 10 + "abcd", "Attributes": {"name": "web", "image": "nginx:1.27", "exitCode": "137"}},
    "timeNano": 1_700_000_000_500_000_000,
}


def inspect(policy: str = "no", retries: int = 0, restart_count: int = 0, **state: Any) -> dict[str, Any]:
    return {
        "Id": EVENT["Actor"]["ID"],  # type: ignore[index]
        "Name": "/web",
        "RestartCount": restart_count,
        "Config": {"Image": "nginx:1.27", "Labels": {"team": "payments"}},
        "HostConfig": {"Memory": 16 * 1024**2, "RestartPolicy": {"Name": policy, "MaximumRetryCount": retries}},
        "State": {
            "Status": "exited",
            "ExitCode": 137,
            "StartedAt": "2023-11-14T22:13:10.250000000Z",
            "FinishedAt": "2023-11-14T22:13:20.500000000Z",
            **state,
        },
    }


def test_facts_of_a_removed_container_come_from_the_event() -> None:
    """`docker run --rm`: inspect finds nothing, so name, image and exit code come from the event."""
    f = msg.facts("local", EVENT, None)
    assert (f.name, f.image, f.exit_code, f.state, f.ran_for) == ("web", "nginx:1.27", 137, "removed", None)
    assert f.at == 1_700_000_000.5
    assert msg.labels_of(EVENT, None) == {}


def test_facts_from_inspect_how_long_it_ran_its_limit_and_labels() -> None:
    """Run time is FinishedAt - StartedAt; the memory limit and labels are the container's own."""
    f = msg.facts("local", EVENT, inspect(OOMKilled=True))
    assert f.ran_for is not None and abs(f.ran_for - 10.25) < 1e-6
    assert f.memory == 16 * 1024**2 and f.oom_killed and not f.will_restart
    assert msg.labels_of(EVENT, inspect()) == {"team": "payments"}


def test_which_restart_policies_bring_a_container_back() -> None:
    """always and unless-stopped always do; on-failure only after a failure and while retries are left."""
    assert msg.facts("h", EVENT, inspect("always")).will_restart
    assert msg.facts("h", EVENT, inspect("unless-stopped")).will_restart
    assert msg.facts("h", EVENT, inspect("on-failure", retries=3, restart_count=2)).will_restart
    assert not msg.facts("h", EVENT, inspect("on-failure", retries=3, restart_count=3)).will_restart
    assert msg.facts("h", EVENT, inspect("on-failure", retries=3)).restart_policy == "on-failure:3"
    clean = {**EVENT, "Actor": {"ID": "x", "Attributes": {"name": "web", "exitCode": "0"}}}
    assert not msg.facts("h", clean, inspect("on-failure")).will_restart


def test_a_death_names_the_signal_and_offers_logs_and_restart() -> None:
    """Exit 137 is SIGKILL; an OOM kill says so with the limit; the buttons carry the container and host."""
    text, blocks = msg.died(msg.facts("local", EVENT, inspect(OOMKilled=True)))
    assert text == "🔴 web died on local with exit code 137 (SIGKILL)"
    assert "ran for 10s" in blocks[0]["text"]["text"]
    assert "running out of memory (memory limit 16m)" in blocks[0]["text"]["text"]
    buttons = blocks[2]["elements"]
    assert [b["action_id"] for b in buttons] == ["dockerverse_btn_logs", "dockerverse_btn_restart"]
    assert json.loads(buttons[1]["value"]) == {"name": "web", "host": "local"} and "confirm" in buttons[1]
    assert "<!date^1700000000^" in blocks[1]["elements"][0]["text"]


def test_out_of_memory_without_a_limit_blames_the_host() -> None:
    """No memory limit: the host itself ran out."""
    facts = msg.facts("local", EVENT, {**inspect(), "HostConfig": {"Memory": 0}})
    assert "no memory limit (the host ran out)" in msg.out_of_memory(facts)[0]


def test_unhealthy_quotes_the_last_check_output_within_bounds() -> None:
    """The last health check's output is quoted, cut to a bounded length."""
    health = {"FailingStreak": 4, "Log": [{"ExitCode": 1, "Output": "old"}, {"ExitCode": 2, "Output": "x" * 5000}]}
    _, blocks = msg.unhealthy(msg.facts("local", EVENT, inspect(Status="running", Health=health)))
    body = blocks[0]["text"]["text"]
    assert "failed 4 times in a row (exit code 2)" in body and "old" not in body
    assert len(body) <= 3000 and "output cut" in body


def test_the_end_of_a_loop_says_how_it_ended() -> None:
    """Running again, stopped, or removed."""
    running = msg.facts("h", EVENT, inspect(Status="running"))
    assert msg.loop_ended(running, 5) == "✅ `web` recovered: running, no restart for 5m."
    assert "it is exited, exit code 137" in msg.loop_ended(msg.facts("h", EVENT, inspect()), 5)
    assert msg.loop_ended(msg.facts("h", EVENT, None), 5) == "⏹️ `web` stopped restarting: it was removed."


def test_log_lines_are_bounded() -> None:
    """At most the last N lines, each block within Slack's section limit."""
    short = msg.log_lines("web", [f"line {i}" for i in range(100)], 20)
    assert short.startswith("Last 20 log lines of `web`:\n```\nline 80\n") and short.endswith("line 99\n```")
    long = msg.log_lines("web", [f"line {i} " + "y" * 1000 for i in range(100)], 20)
    assert long.startswith("Last 5 log lines of `web`:\n```\nline 95 ") and "line 99 " in long and len(long) < 3000
    assert msg.log_lines("web", None, 20).startswith("The logs of `web` could not be read")
