"""The one routing table: every command type to the handler that runs it.

A handler takes the worker's context, its typed command and the signed payload, and returns an
``Outcome``; it raises ``DockerverseError`` for anything the user should hear about, which the job
turns into a failed outcome with the message as it is. Variants of one command (`logs --follow`,
`list --all-hosts`, `hosts` across the fleet) are the business of that command's handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core import commands as c
from bot.wire.payload import Payload
from workers.commands import about, containers, images, inspect, logs
from workers.commands.context import Context
from workers.commands.redeploy.command import redeploy
from workers.slack.render import Outcome

Handler = Callable[[Context, Any, Payload], Outcome]

ROUTES: dict[type[c.Command], Handler] = {
    c.Help: about.help_,
    c.Hosts: about.hosts,
    c.Audit: about.audit_log,
    c.ListContainers: containers.list_containers,
    c.Run: containers.run,
    c.Remove: containers.remove,
    c.Lifecycle: containers.lifecycle,
    c.Logs: logs.logs,
    c.Inspect: inspect.inspect,
    c.Images: images.images,
    c.RemoveImage: images.remove_image,
    c.Pull: images.pull,
    c.Redeploy: redeploy,
}


def handle(ctx: Context, p: Payload) -> Outcome:
    """Run the payload's command through its handler."""
    return ROUTES[type(p.command)](ctx, p.command, p)
