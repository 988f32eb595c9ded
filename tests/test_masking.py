"""The one masking module: secrets found by name and by value, and the command shown from the parsed one."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core import commands as c
from bot.core.errors import CommandError, DockerverseError
from bot.core.grammar import parse, shown
from bot.core.masking import (
    MASK,
    PEM_MAX_LINES,
    LineMasker,
    mask_argv,
    mask_command,
    mask_env,
    mask_lines,
    mask_text,
    secret_flag,
)

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAs3cr3t\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("API_TOKEN=hunter2", f"API_TOKEN={MASK}"),
        ("aws_secret_access_key=abc", f"aws_secret_access_key={MASK}"),
        ("DB_PASSWORD=", "DB_PASSWORD="),  # nothing to hide
        ("MODE=demo", "MODE=demo"),
        ("DATABASE_URL=postgres://app:s3cret@db:5432/app", f"DATABASE_URL=postgres://app:{MASK}@db:5432/app"),
        ("REDIS_URL=redis://:s3cret@cache:6379/0", f"REDIS_URL=redis://:{MASK}@cache:6379/0"),
        ("CACHE=redis://cache:6379/0", "CACHE=redis://cache:6379/0"),
        (
            "UPSTREAM=https://x-access-token:s3cret@github.com/o/r",
            f"UPSTREAM=https://x-access-token:{MASK}@github.com/o/r",
        ),
        ("SLACK=xoxb-1234567890-abcdefghij", f"SLACK=xoxb-{MASK}"),
        ("PATH=/usr/bin:/bin", "PATH=/usr/bin:/bin"),
    ],
)
def test_env_entries_are_masked_by_name_and_by_value(entry: str, expected: str) -> None:
    """An env entry hides a secret-named value whole, and a password or token inside any other value."""
    assert mask_env(entry) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["redis-server", "--requirepass", "s3cret"], ["redis-server", "--requirepass", MASK]),
        (["app", "--password=s3cret", "--port", "80"], ["app", f"--password={MASK}", "--port", "80"]),
        (["app", "--db-password", "s3cret"], ["app", "--db-password", MASK]),
        (["app", "--api-key", "s3cret", "--token", "t0k"], ["app", "--api-key", MASK, "--token", MASK]),
        (["app", "--password-file", "/run/secrets/db"], ["app", "--password-file", "/run/secrets/db"]),
        (["ftp", "--passive", "host"], ["ftp", "--passive", "host"]),
        (["app", "--password", "--verbose"], ["app", "--password", "--verbose"]),
        (["/usr/bin/mysql", "-uroot", "-ps3cret"], ["/usr/bin/mysql", "-uroot", f"-p{MASK}"]),
        (["redis-cli", "-a", "s3cret", "ping"], ["redis-cli", "-a", MASK, "ping"]),
        (["nginx", "-p", "/etc/nginx"], ["nginx", "-p", "/etc/nginx"]),  # -p is a password only for mysql
        (["sh", "-c", "redis-server --requirepass s3cret"], ["sh", "-c", f"redis-server --requirepass {MASK}"]),
        (["sh", "-c", "mysql -ps3cret db"], ["sh", "-c", f"mysql -p{MASK} db"]),
        (["env", "API_TOKEN=s3cret", "app"], ["env", f"API_TOKEN={MASK}", "app"]),
        (["curl", "https://u:s3cret@h/x"], ["curl", f"https://u:{MASK}@h/x"]),
    ],
)
def test_command_lines_are_masked(argv: list[str], expected: list[str]) -> None:
    """Secret flags in Entrypoint/Cmd hide their value (`--flag v`, `--flag=v`, mysql's `-pV`), in `sh -c` too."""
    assert mask_argv(argv) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:pw@127.0.0.1:6379/0", f"redis://:{MASK}@127.0.0.1:6379/0"),
        ("redis://:p@ss@host/0", f"redis://:{MASK}@host/0"),  # an unescaped @ in the password
        ("rediss://user:pw@host", f"rediss://user:{MASK}@host"),
        (
            "redis+sentinel://:pw@s1:26379/m?sentinel_password=spw&x=1",
            f"redis+sentinel://:{MASK}@s1:26379/m?sentinel_password={MASK}&x=1",
        ),
        ("https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com", f"https://ghp_{MASK}@github.com"),
        ("https://0123456789abcdef0123456789@git.example", f"https://{MASK}@git.example"),
        ("ssh://git@github.com/o/r", "ssh://git@github.com/o/r"),
        ("token xapp-1-A0123-456-abcdef0123", f"token xapp-{MASK}"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", f"github_pat_{MASK}"),
        ("key AKIAIOSFODNN7EXAMPLE here", f"key AKIA{MASK} here"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", f"whsec_{MASK}"),
        (f"a {PEM} b", f"a -----BEGIN RSA PRIVATE KEY-----{MASK}-----END RSA PRIVATE KEY----- b"),
        ("-----BEGIN PRIVATE KEY-----\nMIIcut sho", f"-----BEGIN PRIVATE KEY-----{MASK}-----END PRIVATE KEY-----"),
        ("Usage: run IMAGE [-e KEY=VALUE]...", "Usage: run IMAGE [-e KEY=VALUE]..."),
        ("export DOCKERVERSE_JOB_KEY=$(openssl rand -hex 32)", "export DOCKERVERSE_JOB_KEY=$(openssl rand -hex 32)"),
        ("Set SLACK_BOT_TOKEN (an xoxb- bot token)", "Set SLACK_BOT_TOKEN (an xoxb- bot token)"),
        ("`--token` needs a value", "`--token` needs a value"),
    ],
)
def test_free_text_is_masked_by_value(text: str, expected: str) -> None:
    """URL passwords, token shapes and PEM keys are masked anywhere in text; usage and advice stay readable."""
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    ("flag", "secret"),
    [
        *[("--requirepass", True), ("--masterauth", True), ("--secret-key", True), ("--access-key", True)],
        *[("--key", False), ("--keyfile", False), ("--token-path", False), ("--author", False), ("-p", False)],
    ],
)
def test_secret_flags_are_known_by_their_parts(flag: str, secret: bool) -> None:
    """A flag is secret by a part of its name, not a substring: `--author` and `--keyfile` are not."""
    assert secret_flag(flag) is secret


@pytest.mark.parametrize(
    "text",
    [
        "run busybox -e=API_TOKEN=s3cret -- true",
        "run busybox --env=API_TOKEN=s3cret",
        "run busybox --env API_TOKEN=s3cret",
        "run busybox -eAPI_TOKEN=s3cret",
        "run busybox -e 'API_TOKEN=s3cret'",
        "run busybox -e API_TOKEN=s3\\cret",
        "run busybox -e DATABASE_URL=postgres://app:s3cret@db/app",
        "run busybox -- redis-server --requirepass s3cret",
        "run busybox -- sh -c 'redis-server --requirepass=s3cret'",
    ],
)
def test_a_run_is_shown_from_its_parsed_command(text: str) -> None:
    """However the words are written, the shown command has no secret, and still parses to the same run."""
    out = shown(text)
    assert "s3cret" not in out and "s3\\cret" not in out and MASK in out
    again = parse(out)
    assert isinstance(again, c.Run) and again == mask_command(parse(text))


def test_commands_without_secrets_are_shown_as_typed() -> None:
    """A command with nothing to hide is shown exactly as typed; one that does not parse is masked as text."""
    assert shown("run busybox  -e MODE=demo -- echo hi") == "run busybox  -e MODE=demo -- echo hi"
    assert shown("list --all") == "list --all"
    assert shown("run busybox -e API_TOKEN=s3cret --bogus") == f"run busybox -e API_TOKEN={MASK} --bogus"


def test_error_messages_are_masked_as_they_are_made() -> None:
    """An error quoting a URL or token the user typed carries it masked onward."""
    with pytest.raises(CommandError) as caught:
        parse("pull https://u:s3cret@registry.example/app")
    assert "s3cret" not in caught.value.message and "s3cret" not in str(caught.value)
    assert "xoxb" in DockerverseError("bad xoxb-0123456789-abc").message
    assert "0123456789" not in DockerverseError("bad xoxb-0123456789-abc").message


SECRETS = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"], exclude_characters="`'\""), min_size=6)
TOKEN_BODY = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), min_size=36)


@given(SECRETS)
def test_a_masked_value_never_contains_the_secret(secret: str) -> None:
    """Whatever the secret, it is gone from every place it may sit: a named variable, a URL, a flag."""
    places = [
        (mask_env, f"DB_PASSWORD={secret}"),
        (mask_env, f"DATABASE_URL=postgres://app:{secret}@db:5432/app"),
        (mask_text, f"REDIS_URL=redis://:{secret}@host:6379/0 and more"),
        (mask_text, f"sh -c 'redis-server --requirepass {secret} --port 6379'"),
        (mask_text, f"run it --password={secret}"),
        (lambda t: " ".join(mask_argv(t.split("\x00"))), f"redis-server\x00--requirepass\x00{secret}"),
        (lambda t: " ".join(mask_argv(t.split("\x00"))), f"app\x00--api-key={secret}"),
    ]
    for mask, text in places:
        assume(secret not in text.replace(secret, "\x01"))
        assume(not secret.startswith("--") and not secret.startswith("$"))
        out = mask(text)
        assert secret not in out, (text, out)
        assert mask(out) == out  # masking twice changes nothing more


@given(st.sampled_from(["xoxb-", "xoxp-", "ghp_", "gho_", "github_pat_", "whsec_"]), TOKEN_BODY)
def test_token_shapes_are_masked_wherever_they_appear(prefix: str, body: str) -> None:
    """A Slack, GitHub or webhook token is masked in free text and in any env value, whatever its name."""
    token = prefix + body
    for out in (mask_text(f"echo {token}."), mask_env(f"SOMETHING={token}"), " ".join(mask_argv(["app", token]))):
        assert body not in out and prefix + MASK in out


LOG_LINE = st.one_of(
    st.text(st.characters(codec="ascii", exclude_characters="\n"), max_size=40),
    st.sampled_from(
        [
            "connecting to redis://:hunter22@cache:6379/0",
            "API_TOKEN=abc123 mode=demo",
            "started with --requirepass s3cret --port 6379",
            "mysql -ppassw0rd -h db",
            "-----BEGIN RSA PRIVATE KEY-----MIIEow",
            "-----END RSA PRIVATE KEY-----",
            "key AKIAABCDEFGHIJKLMNOP used",
            "GET /?token=abc&page=2",
            "plain line 12 padding-to-look-like-a-log-line",
            "",
        ]
    ),
)


def _opens_a_key(line: str) -> bool:
    """A line whose last PEM BEGIN has no END after it: the key's body would follow on the next lines."""
    begins = list(re.finditer(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----", line))
    return bool(begins) and f"-----END {begins[-1][1]}PRIVATE KEY-----" not in line[begins[-1].end() :]


@given(st.lists(LOG_LINE, max_size=12))
def test_a_batch_of_log_lines_is_masked_as_each_line_alone(lines: list[str]) -> None:
    """mask_lines (one pass over a follow's batch) gives exactly what mask_text gives each line alone, up to
    a line that opens a PEM key; every line after that one is hidden until the key's END."""
    out = mask_lines(lines)
    assert len(out) == len(lines)
    if not any("PRIVATE KEY-----" in line for line in lines):
        assert out == [mask_text(line) for line in lines]
    opened = next((i for i, line in enumerate(lines) if _opens_a_key(line)), len(lines))
    # Before a key opens, a line is as masked alone, or hidden as the body of a key whose END follows.
    assert all(o in (mask_text(line), MASK) for line, o in zip(lines[: opened + 1], out, strict=False))
    if opened + 1 < len(lines):
        assert out[opened + 1].startswith(MASK)


def test_a_pem_key_printed_over_many_log_lines_is_hidden_to_its_end_across_batches() -> None:
    """A key's body lines, which alone look like base64, are hidden; the batch boundary of a follow does
    not end it; the END line keeps what follows the key; the count of lines stays (each has a timestamp)."""
    body = [f"MIIEowIBAAKCAQEA{n:04d}s3cr3tb0dy" for n in range(30)]
    lines = ["booting", "-----BEGIN OPENSSH PRIVATE KEY-----", *body, "-----END OPENSSH PRIVATE KEY----- ok", "ready"]
    masker = LineMasker()
    out = masker.mask(lines[:10]) + masker.mask(lines[10:])
    assert len(out) == len(lines)
    assert "s3cr3t" not in "\n".join(out)
    assert out[0] == "booting" and out[-1] == "ready"
    assert out[-2] == f"{MASK}-----END OPENSSH PRIVATE KEY----- ok"
    assert mask_lines(lines) == out  # one batch or two, the same lines


def test_a_tail_that_starts_inside_a_pem_key_hides_the_body_before_its_end() -> None:
    lines = ["MIIEowIBAAKCAQEAs3cr3t", "Zm9vYmFyYmF6s3cr3t==", "-----END PRIVATE KEY-----", "ready"]
    assert mask_lines(["GET /health 200", *lines]) == ["GET /health 200", MASK, MASK, lines[2], "ready"]


def test_a_container_printing_a_long_run_of_blanks_before_an_end_is_masked_in_one_pass() -> None:
    """A container's output is anyone's: a 200,000-blank line before a stray END once cost the worker minutes
    of backtracking (about 150 s by the old pattern's measured growth); it is a plain line, kept as it was."""
    blanks = " " * 200_000 + "!"
    lines = [blanks, "  MIIEowIBAAKCAQEAs3cr3t  ", "-----END PRIVATE KEY-----"]
    assert mask_lines(lines) == [blanks, MASK, lines[2]]


def test_a_pem_begin_never_ended_stops_hiding_after_the_longest_key() -> None:
    lines = ["-----BEGIN PRIVATE KEY-----", *(["x"] * (PEM_MAX_LINES + 5))]
    out = mask_lines(lines)
    assert out[1 : PEM_MAX_LINES + 1] == [MASK] * PEM_MAX_LINES
    assert out[PEM_MAX_LINES + 1 :] == ["x"] * 5


def test_secrets_inside_a_batch_of_log_lines_are_masked() -> None:
    """A secret on one line of a batch is masked there and the lines around it stay as they were."""
    pem = ["-----BEGIN PRIVATE KEY-----abc", "-----END PRIVATE KEY-----"]
    lines = ["booting", "DB_PASSWORD=hunter22", "redis://:pw1234@cache:6379", *pem, "ready"]
    out = mask_lines(lines)
    assert out[0] == "booting" and out[-1] == "ready" and len(out) == len(lines)
    assert "hunter22" not in "\n".join(out) and "pw1234" not in out[2] and "abc" not in out[3]
