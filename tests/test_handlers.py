"""Handlers with the real gateway: long output stays within Slack's limits and says how to see the rest."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

from bot.core import commands as c
from bot.core.plain_text import plain
from bot.core.policy import Actor
from bot.wire.payload import Payload, ReplyTo, new_payload
from tests.support.fakeslack import FakeSlack
from tests.support.services import TEST_LABEL
from workers.commands import containers, images, logs
from workers.commands.context import Context
from workers.docker.gateway import DockerGateway
from workers.slack.render import SECTION_LIMIT, Outcome
from workers.slack.reply import SlackReplier

MB = 1024**2
MORE = re.compile(r"… (\d+) more lines? not shown")


def _payload(command: c.Command, text: str, channel: str | None = None) -> Payload:
    # As the web signs it for the console: the top role, which may read containers it did not make.
    shell = Actor("shell:t", "shell")
    return new_payload(
        uuid.uuid4().hex, text, command, shell, ReplyTo(channel), "local", admin=True, read_unmanaged=True
    )


def _run_to_exit(gw: DockerGateway, image: str, name: str, script: str, timeout: float = 30.0) -> None:
    """Run `sh -c script` in a test container and wait until it has exited."""
    cmd = c.Run(image=image, name=name, memory=64 * MB, cpus=1.0, pids=64, command=("sh", "-c", script))
    gw.run(cmd, {TEST_LABEL: "1"})
    deadline = time.monotonic() + timeout
    while gw.container(name).state != "exited":
        assert time.monotonic() < deadline, f"{name} did not exit within {timeout}s"
        time.sleep(0.05)


def _code_lines(block: str) -> list[str]:
    """The lines inside the ``` fences of one rendered block."""
    body = block.split("```\n", 1)[1].split("\n```", 1)[0]
    return body.split("\n")


def test_list_of_many_long_named_containers_fits_one_section(
    ctx: Context, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """list --all of 60 long-named containers is cut at a line to under 3,000 chars, with a 'more lines' note."""
    prefix = f"dvtest-list-{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{'long-container-name-' * 4}{i:02d}" for i in range(60)]

    def create(name: str) -> None:
        docker_cleanup.containers.create(test_image, name=name, labels={TEST_LABEL: "1"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, names))
    command = c.ListContainers(all=True, filter=prefix)

    outcome = containers.list_containers(ctx, command, _payload(command, f"list --all {prefix}"))

    assert outcome.ok
    assert outcome.summary == f"60 containers matching `{prefix}` on `local`"
    assert len(outcome.text) <= SECTION_LIMIT
    more = MORE.search(outcome.text)
    assert more, outcome.text[-200:]
    assert outcome.text.endswith("not shown: narrow the list with a FILTER")
    shown = _code_lines(outcome.text)
    assert shown[0].startswith("NAME")
    rows = shown[1:]
    assert len(rows) + int(more.group(1)) == 60
    assert 0 < len(rows) < 60
    # Cut at line boundaries: every shown row is a whole row for one of our containers, in name order.
    assert [row.split()[1] for row in rows] == sorted(names)[: len(rows)]
    assert all("Created" in row for row in rows)
    # The API still gets every container.
    assert sorted(r["name"] for r in outcome.data["containers"]) == sorted(names)


def test_logs_of_thousands_of_lines_go_up_as_a_file(gw: DockerGateway, ctx: Context, test_image: str) -> None:
    """logs of 3,000 lines (more than 5 messages hold) become a file for the thread, with the last lines shown."""
    name = f"dvtest-logs-{uuid.uuid4().hex[:8]}"
    _run_to_exit(
        gw, test_image, name, "i=1; while [ $i -le 3000 ]; do printf 'line %05d of the log\\n' $i; i=$((i+1)); done"
    )
    command = c.Logs(target=name, tail=5000)

    outcome = logs.logs(ctx, command, _payload(command, f"logs {name} --tail 5000"))

    assert outcome.ok
    assert outcome.summary == f"3000 log lines from `{name}` on `local`"
    assert outcome.attachment is not None
    filename, content = outcome.attachment
    assert filename == f"{name}-logs.txt"
    assert content.splitlines() == [f"line {i:05d} of the log" for i in range(1, 3001)]
    [note] = outcome.thread
    assert len(note) < SECTION_LIMIT and "All 3000 lines are in" in note
    assert _code_lines(note.split("\n", 1)[1])[-1] == "line 03000 of the log"
    assert len(outcome.data["lines"]) == 3000


def test_logs_grep_and_tail_fit_without_a_note(gw: DockerGateway, ctx: Context, test_image: str) -> None:
    """Narrowing with --grep keeps the output in one chunk with no 'not shown' note."""
    name = f"dvtest-grep-{uuid.uuid4().hex[:8]}"
    _run_to_exit(gw, test_image, name, 'i=1; while [ $i -le 2000 ]; do echo "row $i"; i=$((i+1)); done')
    command = c.Logs(target=name, tail=2000, grep="row 19")

    outcome = logs.logs(ctx, command, _payload(command, f"logs {name} --grep 'row 19'"))

    assert outcome.summary == f"111 log lines containing `row 19` from `{name}` on `local`"
    assert len(outcome.thread) == 1
    assert MORE.search(outcome.thread[0]) is None
    assert _code_lines(outcome.thread[0])[0] == "row 19"


def test_logs_with_one_very_long_line_show_it_clipped(gw: DockerGateway, ctx: Context, test_image: str) -> None:
    """A single log line longer than a section is shown clipped with …, not dropped as 'not shown'."""
    name = f"dvtest-longline-{uuid.uuid4().hex[:8]}"
    _run_to_exit(gw, test_image, name, "printf 'start-%06000d-end\\n' 7; echo after")
    command = c.Logs(target=name, tail=10)

    outcome = logs.logs(ctx, command, _payload(command, f"logs {name}"))

    assert len(outcome.thread) == 2
    assert all(len(chunk) < SECTION_LIMIT for chunk in outcome.thread)
    assert all(MORE.search(chunk) is None for chunk in outcome.thread)
    first = _code_lines(outcome.thread[0])
    assert len(first) == 1
    assert first[0].startswith("start-000") and first[0].endswith("…")
    assert _code_lines(outcome.thread[1]) == ["after"]


def test_long_logs_are_delivered_to_slack_within_its_limits(
    gw: DockerGateway, ctx: Context, test_image: str, fake_slack: FakeSlack
) -> None:
    """Delivering a long logs outcome posts a root message, one note in its thread and the file
    (files.getUploadURLExternal, the bytes, files.completeUploadExternal in that thread)."""
    name = f"dvtest-deliver-{uuid.uuid4().hex[:8]}"
    _run_to_exit(gw, test_image, name, 'i=1; while [ $i -le 4000 ]; do echo "entry number $i"; i=$((i+1)); done')
    command = c.Logs(target=name, tail=10_000)
    payload = _payload(command, f"logs {name} --tail 10000", channel="C1")
    outcome: Outcome = logs.logs(ctx, command, payload)

    delivery = SlackReplier("xoxb-test", fake_slack.url).session(payload).finish(outcome, 0.5)

    assert delivery["ok"] is True
    root, note = fake_slack.calls("chat.postMessage")
    assert root.params.get("thread_ts") is None and note.params["thread_ts"] == delivery["ts"]
    for block in root.json_param("blocks"):
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
        assert all(len(t) <= SECTION_LIMIT for t in texts)
    [done] = fake_slack.calls("files.completeUploadExternal")
    assert done.params["channel_id"] == "C1" and done.params["thread_ts"] == delivery["ts"]
    [uploaded] = fake_slack.uploads.values()
    assert uploaded.decode().splitlines()[-1] == "entry number 4000"


def test_run_is_idempotent_by_its_job_id(ctx: Context, test_image: str, docker_cleanup: docker.DockerClient) -> None:
    """The same run job executed twice finds the container it made instead of making a second."""
    name = f"dvtest-once-{uuid.uuid4().hex[:8]}"
    command = c.Run(image=test_image, name=name, memory=64 * 1024**2, cpus=0.5, pids=64, command=("sleep", "300"))
    payload = _payload(command, f"run {test_image} --name {name}")
    first = containers.run(ctx, command, payload)
    again = containers.run(ctx, command, payload)
    assert first.ok and again.ok and "already started by this job" in again.summary
    assert again.data["id"] == first.data["id"]
    made = docker_cleanup.containers.list(all=True, filters={"label": f"dockerverse.job={payload.id}"})
    assert len(made) == 1


def test_images_shows_one_row_per_tag_within_100_columns(
    ctx: Context, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """An image with six tags, one of them in a very long repository: a row per tag, none over 100 columns,
    the long reference losing its middle but keeping its tag; the shell's plain text is just as wide."""
    prefix = f"dockerverse-test/dvtest-img-{uuid.uuid4().hex[:8]}"
    refs = [f"{prefix}:release-{i}" for i in range(5)] + [f"{prefix}-{'very-long-repository-name-' * 5}x:edge"]
    image = docker_cleanup.images.get(test_image)
    for ref in refs:
        repo, _, tag = ref.rpartition(":")
        image.tag(repo, tag)
    try:
        command = c.Images(filter=f"{prefix}*")
        outcome = images.images(ctx, command, _payload(command, f"images {prefix}*"))
    finally:
        for ref in refs:
            docker_cleanup.images.remove(ref)

    assert outcome.ok and outcome.summary == "1 image on `local`"  # six tags of one image
    rows = _code_lines(outcome.text)
    assert rows[0].split() == ["IMAGE", "ID", "SIZE"]
    assert [r.split()[0] for r in rows[1:6]] == refs[:5]  # sorted: the repository's tags together
    long_row = rows[6].split()[0]
    assert "…" in long_row and long_row.startswith(prefix[:20]) and long_row.endswith("x:edge")
    assert len(rows) == 7
    assert all(len(line) <= 100 for line in rows)
    assert all(len(line) <= 100 for line in plain(outcome.text).splitlines())
