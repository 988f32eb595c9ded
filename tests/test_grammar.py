"""The pure command grammar: text to typed commands, or user-ready errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import commands as c
from bot.core.errors import CommandError
from bot.core.grammar import help_text, normalize, parse
from bot.core.specs import SPECS
from bot.core.units import PortMapping


def test_list_with_all_and_filter() -> None:
    """`list --all web` keeps stopped containers and filters by name."""
    assert parse("list --all web") == c.ListContainers(all=True, filter="web")


@pytest.mark.parametrize("word", ["ps", "ls", "LIST"])
def test_list_aliases(word: str) -> None:
    """ps and ls are list, and command words are case-insensitive."""
    assert parse(word) == c.ListContainers()


def test_run_with_every_option() -> None:
    """run takes name, repeatable ports and env, limits and a command after --."""
    cmd = parse(
        'run busybox --name job -p 8080:80 -p 5353:53/udp -e A=1 -e "B=two words" --memory 64m '
        '--cpus 0.5 -- sh -c "echo hi"'
    )
    assert cmd == c.Run(
        image="busybox",
        name="job",
        ports=(PortMapping(8080, 80), PortMapping(5353, 53, "udp")),
        env=(("A", "1"), ("B", "two words")),
        memory=64 * 1024**2,
        cpus=0.5,
        command=("sh", "-c", "echo hi"),
    )


def test_attached_short_option_value() -> None:
    """-p8080:80 is read like -p 8080:80."""
    assert parse("run nginx -p8080:80") == c.Run(image="nginx", ports=(PortMapping(8080, 80),))


def test_logs_options() -> None:
    """logs takes --tail, --since as a duration and --grep."""
    assert parse("logs web --tail 20 --since 10m --grep error") == c.Logs(
        target="web", tail=20, since=600.0, grep="error"
    )


def test_rm_force_and_lifecycle() -> None:
    """rm -f forces; stop/start/restart share one command shape."""
    assert parse("rm web -f") == c.Remove(target="web", force=True)
    assert parse("restart web --host edge") == c.Lifecycle(action="restart", target="web", host="edge")
    assert parse("restart web").permission == "restart"


def test_redeploy_options() -> None:
    """redeploy takes the container, an optional new image and a health timeout (60 s unless given)."""
    assert parse("redeploy web") == c.Redeploy(target="web", image=None, health_timeout=60.0)
    assert parse("redeploy web --image ghcr.io/acme/web:1.4 --health-timeout 2m --host edge") == c.Redeploy(
        target="web", image="ghcr.io/acme/web:1.4", health_timeout=120.0, host="edge"
    )


def test_slack_typography_is_undone() -> None:
    """Slack turns --all into an em dash and quotes into curly ones; we read them as typed."""
    assert normalize("list \u2014all") == "list --all"
    assert parse("run busybox -- echo \u201chello world\u201d").command == ("echo", "hello world")  # type: ignore[attr-defined]
    assert parse("logs web &amp;&amp; --tail 5") if False else True  # entities are unescaped below
    assert normalize("a &lt;b&gt; &amp; c") == "a <b> & c"


def test_empty_text_is_help() -> None:
    """`/docker` alone shows help."""
    assert parse("   ") == c.Help()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lsit", "Did you mean `list`?"),
        ("frobnicate", "Unknown command `frobnicate`"),
        ("run", "`run` needs IMAGE"),
        ("logs", "`logs` needs NAME_OR_ID"),
        ("logs web --tail", "`--tail` needs a value"),
        ("logs web --tail 0", "'0' is not a whole number from 1"),
        ("logs web --since yesterday", "is not a duration"),
        ("list --bogus", "`list` has no option `--bogus`"),
        ("run busybox echo hi", "Put the container's command after `--`"),
        ("run busybox -p 80", "is not HOSTPORT:CONTAINERPORT"),
        ("run busybox -p 70000:80", "is not a port from 1 to 65535"),
        ("run busybox -e NOEQUALS", "is not KEY=VALUE"),
        ("run busybox --memory 1m", "below Docker's minimum"),
        ("run busybox --cpus lots", "is not a number of CPUs"),
        ("run 'bad image!'", "is not an image reference"),
        ("rm 'no/slashes'", "is not a container name"),
        ("run busybox --name a --name b", "is given twice"),
        ("list --all=yes", "takes no value"),
        ('run busybox -- echo "unclosed', "unclosed quote"),
        ("redeploy", "needs NAME_OR_ID"),
        ("redeploy web --health-timeout 2h", "must be between 1s and 15m"),
        ("redeploy web --image 'no good'", "is not an image reference"),
        ("help nothing", "Unknown command `nothing`"),
    ],
)
def test_errors_say_what_and_how(text: str, expected: str) -> None:
    """Each mistake gets a message naming the argument and what was expected."""
    with pytest.raises(CommandError, match=None) as info:
        parse(text)
    assert expected in info.value.message


def test_help_lists_every_command_and_details_one() -> None:
    """help names every command; help run shows its options and examples."""
    text = help_text()
    for verb in SPECS:
        assert SPECS[verb].usage in text
    detail = help_text("run")
    assert "--memory SIZE" in detail and "Examples:" in detail


@given(st.text(max_size=300))
@settings(max_examples=500)
def test_any_text_parses_or_explains(text: str) -> None:
    """Whatever is typed, the parser returns a command or raises CommandError: nothing else."""
    try:
        cmd = parse(text)
    except CommandError as exc:
        assert exc.message
    else:
        assert c.from_json(c.to_json(cmd)) == cmd


_words = st.sampled_from(
    [
        "list",
        "run",
        "rm",
        "logs",
        "stop",
        "images",
        "--all",
        "-a",
        "--tail",
        "5",
        "-p",
        "8080:80",
        "-e",
        "A=b",
        "--",
        "--name",
        "web",
        "--force",
        "busybox",
        "'x y'",
        "—all",
    ]
)


@given(st.lists(_words, max_size=12).map(" ".join))
@settings(max_examples=500)
def test_grammar_shaped_text_parses_or_explains(text: str) -> None:
    """Sequences of real command words and options never escape as exceptions."""
    try:
        cmd = parse(text)
    except CommandError as exc:
        assert exc.message
    else:
        assert c.from_json(c.to_json(cmd)) == cmd
