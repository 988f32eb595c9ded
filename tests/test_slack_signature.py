"""Slack's v0 request signature, checked with Slack's own published example."""

from __future__ import annotations

from slack_sdk.signature import Clock, SignatureVerifier

from tests.support.stack import slack_signature

# From Slack's "Verifying requests from Slack" page.
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_verifier_accepts_slacks_example() -> None:
    """The verifier bolt runs on /slack/events accepts Slack's published example at its time."""
    verifier = SignatureVerifier(SECRET, clock=FixedClock(int(TIMESTAMP) + 10))
    assert verifier.is_valid(BODY, TIMESTAMP, SIGNATURE)


def test_verifier_refuses_tampering_and_replays() -> None:
    """A changed body, a wrong signature or a timestamp over five minutes old is refused."""
    verifier = SignatureVerifier(SECRET, clock=FixedClock(int(TIMESTAMP) + 10))
    assert not verifier.is_valid(BODY.replace("roadrunner", "coyote"), TIMESTAMP, SIGNATURE)
    assert not verifier.is_valid(BODY, TIMESTAMP, SIGNATURE[:-1] + "0")
    stale = SignatureVerifier(SECRET, clock=FixedClock(int(TIMESTAMP) + 301))
    assert not stale.is_valid(BODY, TIMESTAMP, SIGNATURE)


def test_test_suite_signs_like_slack() -> None:
    """The e2e tests' signer reproduces Slack's example, so they sign requests as Slack does."""
    assert slack_signature(SECRET, TIMESTAMP, BODY.encode()) == SIGNATURE
