"""Which containers a job may read: those the bot created, and others only with `read-unmanaged`.

A viewer may follow the logs of what the bot runs; the database next to it, or another team's service
on the same host, is not theirs to read (its logs and settings often hold secrets). The web decides
from the policy and signs the answer into the job (``Payload.read_unmanaged``).
"""

from __future__ import annotations

from bot.core.errors import PolicyError
from bot.core.policy_schema import READ_UNMANAGED
from bot.core.slack_text import code
from bot.wire.payload import Payload


def readable(managed: bool, name: str, p: Payload) -> None:
    """Raise ``PolicyError`` unless the job may read this container's logs or settings."""
    if managed or p.read_unmanaged:
        return
    raise PolicyError(
        f"Not allowed: {code(name)} on {code(p.host)} was not created by Dockerverse, and reading its logs or "
        f"settings needs the `{READ_UNMANAGED}` permission (the top role has it; an admin can grant it to a "
        "role under `permissions:`)."
    )
