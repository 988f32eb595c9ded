"""Socket Mode's pure parts: the backoff, the app-token check, and what `doctor` says about the set-up."""

from __future__ import annotations

import io

import pytest

from bot.cli.doctor import Doctor
from bot.core.settings import Settings
from bot.web.slack_socket import MAX_DELAY, backoff, token_problem


def test_backoff_doubles_with_jitter_up_to_a_minute() -> None:
    """1 s, 2 s, 4 s ... each taken at 50-100 %, never more than 60 s."""
    for failures, full in ((1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (50, 60.0)):
        waits = [backoff(failures) for _ in range(200)]
        assert all(full / 2 <= w <= full for w in waits), (failures, min(waits), max(waits))
    assert max(backoff(1000) for _ in range(100)) <= MAX_DELAY


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("xapp-1-A0-1-abc", None),
        ("xoxb-123-abc", "it starts with xoxb-, not xapp-"),
        ("abc", "it does not start with xapp-"),
    ],
)
def test_an_app_token_must_start_with_xapp(token: str, problem: str | None) -> None:
    """A bot token pasted as the app token is named before Slack is asked."""
    found = token_problem(token)
    assert found == problem if problem is None else problem in (found or "")


def doctor_says(**env: str) -> str:
    out = io.StringIO()
    Doctor(Settings(**env), out).check_slack(None)
    return out.getvalue()


def test_doctor_accepts_socket_mode_without_a_signing_secret() -> None:
    """Bot token + app token is a complete Slack set-up; a signing secret alone is not, nor a wrong app token."""
    assert doctor_says(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1") == ""
    assert "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode) is not set" in doctor_says(
        SLACK_BOT_TOKEN="xoxb-1"
    )
    assert "not an app-level token" in doctor_says(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xoxb-2")
