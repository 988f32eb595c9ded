"""Which lane each command takes: a slow `stop` must never share the quick lane that `list` answers on."""

from __future__ import annotations

import pytest

from bot.core.grammar import parse
from bot.dispatch.enqueue import lane_of


@pytest.mark.parametrize(
    ("text", "lane"),
    [
        ("list", "quick"),
        ("logs web --tail 20", "quick"),
        ("inspect web", "quick"),
        ("start web", "quick"),
        ("rm web", "quick"),  # refused at once while it runs; quick when it has stopped
        ("run busybox --name b", "quick"),
        ("images", "quick"),
        ("stop web", "slow"),
        ("restart web", "slow"),
        ("rm web --force", "slow"),
        ("logs web --follow 1m", "stream"),
        ("pull busybox", "stream"),
        ("redeploy web", "stream"),
        ("list --all-hosts", "stream"),
        ("hosts", "stream"),
    ],
)
def test_each_command_takes_its_lane(text: str, lane: str) -> None:
    """Stop grace periods (stop, restart, rm --force) take the slow lane; follows, pulls, fan-outs the stream one."""
    assert lane_of(parse(text)) == lane
