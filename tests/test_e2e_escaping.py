"""One escaping rule, end to end: real containers print hostile text, people type it, and every request
the real web and worker make to the fake Slack (and every slash command acknowledgement) is read the way
Slack reads it. Slack must find no mention, broadcast or link in them that we did not make ourselves,
and no ``` that outside text opened or closed."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.support.fakeslack import Call, FakeSlack
from tests.support.services import MANAGED, SESSION, TEST_LABEL, Registry
from tests.support.stack import Stack
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DB = 14
ALERTS = "C0ESCALERTS"
VIEWER = "U0ESCVIEW"
HOSTILE = "<!channel> <!here> <@U0ADMIN> <https://evil.example|login> &lt; ``` *bold*"
SHOWN = "&lt;!channel&gt; &lt;!here&gt; &lt;@U0ADMIN&gt; &lt;https://evil.example|login&gt; &amp;lt;"
# What we put in messages ourselves: the asker's mention and Slack's date formatting.
OURS = re.compile(r"<@(?:U0OPS|U0ESCVIEW)>|<!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[^<>|]*>")
RENDERED = {"text", "title", "initial_comment", "fallback", "pretext"}  # the fields Slack shows as text
NOTIFY = f"""
notify:
  - channel: {ALERTS}
    events: [die, unhealthy]
    containers: ["dve-*"]
"""
WAIT = 60.0


STACK = StackOptions(db=DB, policy_extra=NOTIFY)


@pytest.fixture(scope="module")
def stack(stack_factory: StackFactory, slack_server: FakeSlack, test_image: str) -> Iterator[Stack]:
    """Web and worker, alerting on `dve-*` containers; ready once the watcher posted a first alert."""
    with stack_factory(STACK) as running, contextlib.closing(docker.from_env()) as client:
        name = f"dve-warmup-{uuid.uuid4().hex[:6]}"
        client.containers.run(test_image, ["sh", "-c", "exit 5"], name=name, detach=True, labels={TEST_LABEL: SESSION})
        try:
            slack_server.wait_for("chat.postMessage", lambda c: name in str(c.params.get("text")), timeout=WAIT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{running.dump_logs()}") from None
        yield running


# --- reading requests as Slack does ------------------------------------------------------------


def rendered(value: Any, key: str = "") -> Iterator[str]:
    """Every string Slack would show as text or mrkdwn, anywhere in a message, view or file list."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from rendered(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from rendered(v, key)
    elif isinstance(value, str) and key in RENDERED:
        yield value


def texts(call: Call) -> list[str]:
    found = list(rendered({k: v for k, v in call.params.items() if isinstance(v, str)}))
    for name in ("blocks", "attachments", "view", "files"):
        if call.params.get(name):
            found += rendered(call.json_param(name))
    return found


def foreign_markup(text: str) -> list[str]:
    """`<...>` sequences (mentions, broadcasts, links) we did not make, and fences left unpaired."""
    bad = [m for m in re.findall(r"<[^<>]*>", text) if not OURS.fullmatch(m)]
    return bad + (["an unpaired ```"] if text.count("```") % 2 else [])


def check(slack: FakeSlack, *acks: dict[str, Any]) -> str:
    """Every request this test made to Slack, and the acknowledgements, render nothing of outside text;
    returns all the text, for the caller to see the hostile text did arrive (escaped)."""
    every = [(c.method, t) for c in slack.calls() for t in texts(c)] + [("ack", t) for a in acks for t in rendered(a)]
    for method, text in every:
        assert not foreign_markup(text), f"{method} would render {foreign_markup(text)} in:\n{text}"
    return "\n".join(t for _, t in every)


def final(slack: FakeSlack, channel: str, words: str) -> Call:
    """The message (posted, or edited to) in `channel` whose text has `words`: the job's final state."""
    deadline = time.monotonic() + WAIT
    while True:
        for c in slack.calls("chat.postMessage") + slack.calls("chat.update"):
            if c.params.get("channel") == channel and words in str(c.params.get("text")):
                return c
        assert time.monotonic() < deadline, f"no message with {words!r} in {channel}: {slack.calls()}"
        time.sleep(0.1)


def start(client: docker.DockerClient, image: str, name: str, script: str, **kwargs: Any) -> None:
    # The bot's own label: a container it runs, whose logs any viewer may read.
    labels = {TEST_LABEL: SESSION, **MANAGED, **kwargs.pop("labels", {})}
    environment = {"HOSTILE": HOSTILE, **kwargs.pop("environment", {})}
    client.containers.run(
        image, ["sh", "-c", script], name=name, detach=True, labels=labels, environment=environment, **kwargs
    )


def channel() -> str:
    return "C0ESC" + uuid.uuid4().hex[:8].upper()


def printed(client: docker.DockerClient, name: str, lines: int) -> None:
    """Wait until the container has printed `lines` lines (its final state for `logs`)."""
    deadline = time.monotonic() + WAIT
    while client.containers.get(name).logs().count(b"\n") < lines:
        assert time.monotonic() < deadline, f"{name} did not print {lines} lines"
        time.sleep(0.1)


def thread_posts(slack: FakeSlack, chan: str, count: int) -> list[Call]:
    return slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == chan and bool(c.params.get("thread_ts")), count, WAIT
    )


# --- each kind of message ------------------------------------------------------------------------


def test_log_tails_and_log_files_show_container_output_as_text(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """`logs` of a container printing mentions, links and fences: the tail, a --grep echo and a log file
    posted to the thread render none of it."""
    name, chan = f"dve-logs-{uuid.uuid4().hex[:6]}", channel()
    script = 'echo "$HOSTILE"; i=0; while [ $i -lt 300 ]; do echo "$i $HOSTILE"; i=$((i+1)); done; sleep 300'
    start(docker_cleanup, test_image, name, script, stop_signal="SIGKILL")
    printed(docker_cleanup, name, 301)

    stack.slash(f"logs {name} --tail 3", channel=chan)
    thread_posts(slack, chan, 1)
    stack.slash(f'logs {name} --tail 2 --grep "<!here> <@U0ADMIN>"', channel=chan)
    thread_posts(slack, chan, 2)
    stack.slash(f"logs {name} --tail 400", channel=chan)  # more than a thread holds: a file
    slack.wait_for("files.completeUploadExternal", timeout=WAIT)

    shown = check(slack)
    assert SHOWN in shown and "containing `&lt;!here&gt; &lt;@U0ADMIN&gt;`" in shown
    assert f"{name}-logs.txt" in shown  # the file's title, checked with the rest


def test_a_follow_shows_new_lines_as_text(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """`logs --follow` posts and edits the thread as lines arrive: none of them renders as markup."""
    name, chan = f"dve-follow-{uuid.uuid4().hex[:6]}", channel()
    start(docker_cleanup, test_image, name, 'while true; do echo "$HOSTILE"; sleep 0.3; done', stop_signal="SIGKILL")
    stack.slash(f"logs {name} --follow 3s", channel=chan)
    final(slack, chan, "Followed")
    assert SHOWN in check(slack)


def test_inspect_shows_labels_env_and_command_as_text(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A label, an environment value and a command full of markup are shown, not rendered, by `inspect`."""
    name, chan = f"dve-inspect-{uuid.uuid4().hex[:6]}", channel()
    start(
        docker_cleanup,
        test_image,
        name,
        f"sleep 300 # {HOSTILE}",
        labels={"note": HOSTILE},
        environment={"GREETING": HOSTILE},
        stop_signal="SIGKILL",
    )
    stack.slash(f"inspect {name}", channel=chan)
    final(slack, chan, f"`{name}` on `local`")
    shown = check(slack)
    assert f"note={SHOWN}" in shown and f"GREETING={SHOWN}" in shown and f"# {SHOWN}" in shown


def test_errors_and_acknowledgements_show_what_was_typed_as_text(stack: Stack, slack: FakeSlack) -> None:
    """Refusals that echo the typed words (slash and mention), the queued acknowledgement and a result that
    echoes a filter render none of the markup typed; a confirmation and its click keep our own mention."""
    chan = channel()
    typed = ["<!channel> now", 'logs web --tail "<!here>"', "list --bogus<@U0ADMIN>", 'logs "<https://evil.example|x>"']
    acks = [stack.slash(text, channel=chan).json() for text in typed]
    acks.append(stack.slash(f'list "{HOSTILE}"', channel=chan).json())
    final(slack, chan, "No running containers matching")
    mention = {"type": "app_mention", "user": "U0OPS", "text": "<@U0LAN0Z89> <!here> please", "channel": chan}
    stack.event({**mention, "ts": "1515449522.000016", "event_ts": "1515449522.000016"}, "Ev" + uuid.uuid4().hex[:9])
    final(slack, chan, "Unknown command")

    asking = stack.slash("rm dve-none", channel=chan).json()
    [actions] = [b for b in asking["blocks"] if b["type"] == "actions"]
    stack.click("dockerverse_confirm", actions["elements"][0]["value"], slack.response_url("esc"), channel=chan)
    final(slack, chan, "No container `dve-none`")

    shown = check(slack, *acks, asking)
    for text, ack in zip(typed, acks, strict=False):
        assert "&lt;" in ack["text"] and "<" not in ack["text"].replace("<@U0OPS>", ""), (text, ack["text"])
    assert "Unknown command `&lt;!channel&gt;`" in acks[0]["text"]
    assert f"No running containers matching `{SHOWN.split(' &amp;')[0]}" in shown
    assert "Unknown command `&lt;!here&gt;`" in shown
    assert "<@U0OPS> confirmed `rm dve-none`" in shown  # our own markup stays


def test_alerts_show_a_dying_containers_output_as_text(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A container that prints markup and dies: its alert and the log lines in the alert's thread render none."""
    name = f"dve-die-{uuid.uuid4().hex[:6]}"
    start(docker_cleanup, test_image, name, 'echo "$HOSTILE"; echo "$HOSTILE" >&2; sleep 1; exit 3')
    root = slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == ALERTS and f"{name} died" in str(c.params.get("text")),
        timeout=WAIT,
    )[0]
    slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == root.response["ts"], timeout=WAIT)
    assert SHOWN in check(slack)


def test_redeploy_reports_and_health_alerts_show_health_output_as_text(
    stack: Stack,
    slack: FakeSlack,
    docker_cleanup: docker.DockerClient,
    docker_registry: Registry,
    test_image: str,
) -> None:
    """A health check printing markup: the `unhealthy` alert, the rollback summary and its steps render none."""
    ref = f"{docker_registry.url}/dockerverse-test/escaping:{SESSION}"
    docker_cleanup.images.get(test_image).tag(ref)
    try:
        docker_registry.push(docker_cleanup, ref)
        name, chan = f"dve-rd-{uuid.uuid4().hex[:6]}", channel()
        check_ = {"test": ["CMD-SHELL", 'echo "$HOSTILE"; exit 1'], "interval": 10**9, "retries": 1}
        labels = {"dockerverse.managed-by": "dockerverse"}  # made by the bot, so an operator may redeploy it
        start(docker_cleanup, ref, name, "sleep 300", labels=labels, healthcheck=check_, stop_signal="SIGKILL")
        slack.wait_for(
            "chat.postMessage",
            lambda c: c.params.get("channel") == ALERTS and f"{name} is unhealthy" in str(c.params.get("text")),
            timeout=WAIT,
        )
        stack.slash(f"redeploy {name} --health-timeout 20s", channel=chan)
        done = final(slack, chan, "Rolled back")
        thread_posts(slack, chan, 1)  # the steps, after the result
        shown = check(slack)
        assert SHOWN in str(done.params["text"]) and SHOWN in shown
    finally:
        docker_cleanup.images.remove(ref)


def test_the_app_home_shows_typed_commands_and_outcomes_as_text(stack: Stack, slack: FakeSlack) -> None:
    """A person's last jobs in their App Home (the command typed, its outcome) render none of the markup."""
    chan = channel()
    stack.slash(f'list "{HOSTILE}"', user=VIEWER, channel=chan)
    final(slack, chan, "No running containers matching")
    home = {"type": "app_home_opened", "user": VIEWER, "channel": "D0LAN2Q65", "tab": "home", "event_ts": "1.2"}
    assert stack.event(home, "Ev" + uuid.uuid4().hex[:10].upper()).status_code == 200
    slack.wait_for("views.publish", lambda c: c.params.get("user_id") == VIEWER, timeout=WAIT)
    check(slack)
    assert "&lt;!channel&gt; &lt;!here&gt;" in "\n".join(texts(slack.calls("views.publish")[0]))
