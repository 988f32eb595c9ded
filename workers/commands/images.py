"""The image commands: `images`, `rmi`, `pull` (with its progress on the job's Slack message)."""

from __future__ import annotations

import time

from bot.core import commands as c
from bot.core.slack_text import code
from bot.core.units import format_duration, format_size
from bot.wire.payload import Payload
from bot.wire.shapes import Image, ImageList
from workers.commands.context import Context
from workers.docker.rows import ImageRow
from workers.slack.render import Outcome, code_block, table

WIDTH = 100  # columns: the shell's terminal and Slack's message pane show a row this wide unwrapped


def images(ctx: Context, cmd: c.Images, p: Payload) -> Outcome:
    gw = ctx.gateway
    rows = gw.images(cmd.filter)
    data = ImageList(images=group_by_repository(rows)).dump()
    if not rows:
        return Outcome(
            True,
            f"No images{f' matching {code(cmd.filter)}' if cmd.filter else ''} on {code(gw.host_name)}.",
            data=data,
        )
    lines = table(("IMAGE", "ID", "SIZE"), tag_rows(rows), width=WIDTH)
    return Outcome(
        True,
        f"{len(rows)} image{'s' if len(rows) != 1 else ''} on {code(gw.host_name)}",
        code_block(lines, more_hint=": narrow the list with a FILTER"),
        data=data,
    )


def tag_rows(rows: list[ImageRow]) -> list[tuple[str, str, str]]:
    """One row per tag, as `docker images` has it (all of an image's tags in one cell made rows 150
    columns wide); each the reference as typed in `run` or `rmi`, sorted, so a repository's tags sit together."""
    out = [
        (ref, r.id.removeprefix("sha256:")[:12], format_size(r.size)) for r in rows for ref in r.tags or ("<untagged>",)
    ]
    return sorted(out, key=lambda row: (row[0] == "<untagged>", row[0].rpartition(":")[::2]))


def group_by_repository(rows: list[ImageRow]) -> list[Image]:
    """The API's images: one entry per image and repository, with that repository's tags."""
    out: list[Image] = []
    for r in rows:
        repos: dict[str, list[str]] = {}
        for ref in r.tags:
            repo, _, tag = ref.rpartition(":")
            repos.setdefault(repo, []).append(tag)
        named = list(repos.items()) or [("<none>", [])]
        out += [Image(id=r.id, name=repo, tags=tags, size=r.size, created_at=r.created * 1000) for repo, tags in named]
    return out


def remove_image(ctx: Context, cmd: c.RemoveImage, p: Payload) -> Outcome:
    gw = ctx.gateway
    events = gw.remove_image(cmd.image)
    deleted = [e["Deleted"] for e in events if "Deleted" in e]
    what = "Deleted" if deleted else "Untagged"
    detail = (
        f" (image {deleted[0].removeprefix('sha256:')[:12]} is gone)"
        if deleted
        else " (the image keeps its other tags)"
    )
    return Outcome(
        True, f"{what} {code(cmd.image)} on {code(gw.host_name)}{detail}", data={"success": True, "events": events}
    )


def pull(ctx: Context, cmd: c.Pull, p: Payload) -> Outcome:
    gw = ctx.gateway
    started = time.monotonic()
    digest = gw.pull(cmd.image, ctx.progress.report)
    took = format_duration(time.monotonic() - started)
    return Outcome(
        True,
        f"Pulled {code(cmd.image)} on {code(gw.host_name)} in {took}",
        f"Digest: {code(digest)}",
        data={"image": cmd.image, "digest": digest},
    )
