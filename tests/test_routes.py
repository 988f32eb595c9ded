"""The worker's one routing table: every command the grammar can produce goes through it."""

from __future__ import annotations

from bot.core import commands as c
from workers.commands.routes import ROUTES


def test_every_command_kind_has_a_route() -> None:
    """Each command type the web can sign has its handler in the table, and the table names nothing else."""
    assert set(ROUTES) == set(c.KINDS.values())
