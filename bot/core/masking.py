"""The one masking module: everything shown to a person or written down for later (Slack replies,
the shell, the API, the audit log, job descriptions, error messages, `doctor`, `up`) passes
through here first, so a secret typed into a command or set on a container is never echoed.

Pure: no I/O. Secrets are found two ways:
- by name: an environment variable, a `NAME=value` word or a URL query parameter whose name says
  secret (`API_TOKEN`, `db_password`, `?sentinel_password=`);
- by value, whatever the name: the password in any URL (`redis://:pw@`, `postgres://u:pw@`),
  secret flags in a command line (`--requirepass pw`, `--password=pw`, `mysql -ppw`,
  `redis-cli -a pw`), and well-known token shapes (Slack, GitHub, AWS access keys, PEM private
  keys, Standard Webhooks `whsec_` secrets).

Masking errs on the side of hiding: a harmless value that looks like a secret is masked too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from bot.core import commands as c

MASK = "••••"

# Environment variables (and NAME=value words) whose names look like secrets.
SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth|private", re.IGNORECASE)

# Flag names are matched on their parts (`--redis-password` -> redis, password): a substring rule
# would hide the host after `--passive` or the file after `--keyfile`.
_FLAG_PARTS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pw",
        "pwd",
        "passphrase",
        "requirepass",
        "masterauth",
        "secret",
        "token",
        "auth",
        "credential",
        "credentials",
        "apikey",
        "privatekey",
    }
)
_KEY_OWNERS = frozenset({"api", "access", "secret", "private", "signing", "license", "encryption", "master"})
# `--password-file /run/secrets/db` names where the secret is, which is worth seeing.
_NOT_A_VALUE = frozenset({"file", "path", "dir", "env", "cmd", "command"})
# Programs whose short flags take a password: `mysql -pPW` (attached), `redis-cli -a PW`.
_MYSQL = frozenset({"mysql", "mysqldump", "mysqladmin", "mysqlcheck", "mysqlimport", "mysqlsh", "mariadb"})
_REDIS_CLI = frozenset({"redis-cli", "valkey-cli", "keydb-cli"})

# Well-known token shapes: (the prefix kept to say what it was, the secret part).
_TOKENS = tuple(
    re.compile(f"(?P<prefix>{prefix})(?:{body})")
    for prefix, body in (
        (r"xox[abeoprs]-", r"[A-Za-z0-9-]{8,}"),  # Slack bot, user, refresh... tokens
        (r"xapp-", r"\d-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
        (r"github_pat_", r"[A-Za-z0-9_]{20,}"),  # GitHub fine-grained tokens
        (r"gh[opsur]_", r"[A-Za-z0-9]{20,}"),  # GitHub classic, OAuth, app and refresh tokens
        (r"whsec_", r"[A-Za-z0-9+/=]{8,}"),  # Standard Webhooks secrets
    )
)
_AWS = re.compile(r"(?P<prefix>(?<![A-Z0-9])(?:AKIA|ASIA))[A-Z0-9]{16}")  # AWS access key ids
# A PEM private key, or what is left of one cut short (a truncated log line, a 500-character audit).
_PEM = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END (?P=kind)PRIVATE KEY-----|\Z)", re.DOTALL
)
# scheme://user:password@ : the password runs to the last `@` of the word (people do write
# `redis://:p@ss@host`), so it stops only at whitespace or a backtick.
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@`]*)(?::(?P<password>[^\s`]*))?@")
_LONE_USER = 16  # `https://<token>@github.com`: a user part this long and alone is taken for a token
_QUERY = re.compile(r"(?P<lead>[?&;])(?P<name>[A-Za-z_][\w.-]*)=(?P<value>[^&#\s`'\"]*)")
# NAME=value in free text; a value starting with `$` is a reference (`$(openssl rand -hex 32)`).
_ASSIGN = re.compile(r"(?<![\w.])(?P<name>[A-Za-z_][\w.-]*)=(?P<value>(?!\$)[^\s`'\"&]+)")
_PLACEHOLDERS = frozenset({"VALUE", "...", "…"})  # usage text: `-e KEY=VALUE`
_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
_FLAG_VALUE = re.compile(r"(?:=|[ \t]+)(?!--)('[^']*'|\"[^\"]*\"|[^\s`'\"]+)")
_SHORT = re.compile(r"(?<!\S)(?P<flag>-p)(?P<value>[^\s`'\"]+)")
_WORDS = re.compile(r"[\w.-]+")


def secret_name(name: str) -> bool:
    """Whether a variable's name says its value is a secret (`DB_PASSWORD`, `api_token`)."""
    return bool(SECRET_NAME.search(name))


def secret_flag(flag: str) -> bool:
    """Whether a command-line flag takes a secret (`--requirepass`, `--db-password`, `--api-key`)."""
    parts = [p.lower() for p in re.split(r"[-_.]+", flag.lstrip("-")) if p]
    if not parts or parts[-1] in _NOT_A_VALUE:
        return False
    keyed = any(p == "key" and i and parts[i - 1] in _KEY_OWNERS for i, p in enumerate(parts))
    return keyed or any(p in _FLAG_PARTS for p in parts)


def _url(m: re.Match[str]) -> str:
    user, password = m["user"], m["password"]
    if password is not None:
        return f"{m['scheme']}{user}:{MASK if password else ''}@"
    return f"{m['scheme']}{MASK if len(user) >= _LONE_USER else user}@"


def _named(m: re.Match[str], lead: str = "") -> str:
    value = m["value"]
    hide = value and value.rstrip("])},.;:") not in _PLACEHOLDERS and secret_name(m["name"])
    return f"{lead}{m['name']}={MASK if hide else value}"


def _mask_flags(text: str) -> str:
    """`--requirepass pw` and `--password=pw` anywhere in text (a `sh -c` string, a log line)."""
    out, done = [], 0
    for flag in _FLAG.finditer(text):
        value = _FLAG_VALUE.match(text, flag.end()) if flag.start() >= done and secret_flag(flag[0]) else None
        if value:
            out += [text[done : value.start(1)], MASK]
            done = value.end(1)
    return "".join(out) + text[done:]


def mask_text(text: str) -> str:
    """Free text (a message, a URL, a shell command line) with every secret it holds masked."""
    text = _PEM.sub(lambda m: f"-----BEGIN {m['kind']}PRIVATE KEY-----{MASK}-----END {m['kind']}PRIVATE KEY-----", text)
    for shape in _TOKENS:
        text = shape.sub(lambda m: m["prefix"] + MASK, text)
    # Each guard below is a literal its rule cannot match without: the regexes that begin with a
    # lookbehind scan every character, which a follow of thousands of lines a second feels.
    if "AKIA" in text or "ASIA" in text:
        text = _AWS.sub(lambda m: m["prefix"] + MASK, text)
    if "://" in text:
        text = _URL.sub(_url, text)
    if "=" in text:
        text = _QUERY.sub(lambda m: _named(m, m["lead"]), text)
        text = _ASSIGN.sub(_named, text)
    if "-" in text:
        text = _mask_flags(text)
    if "-p" in text or "-a" in text:
        words = set(_WORDS.findall(text))  # `/usr/bin/mysql` holds the word `mysql`
        if "-p" in text and words & _MYSQL:
            text = _SHORT.sub(lambda m: m["flag"] + MASK, text)
        if "-a" in text and words & _REDIS_CLI:
            text = re.sub(r"(?<!\S)-a[ \t]+[^\s`'\"]+", "-a " + MASK, text)
    return text


_PEM_BEGIN = re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----")
# A line of a key's body, once stripped: base64, or an encrypted key's `Proc-Type:`/`DEK-Info:` header, or
# blank. (Matched on the stripped line: `\s*` around the alternatives backtracked quadratically over a long
# run of blanks that a container can print.)
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=]{1,100}|[A-Za-z-]+: \S+|")
PEM_MAX_LINES = 200  # an 8192-bit RSA key is about 100 lines; a BEGIN never ended stops hiding after this


class LineMasker:
    """Log lines, in order, across as many batches as a follow reads: each line masked as ``mask_text``
    masks it alone, and the body of a PEM private key printed over several lines (which no line alone
    shows to be one) hidden line by line up to its END line; a batch that starts inside a key (a tail)
    hides the body lines before the END it holds. Lines keep their count: each is still one log line
    with its own timestamp.

    A batch is masked in one pass over its joined text when that text holds nothing to mask (nearly
    always: a follow masks thousands of lines a second). Exact: each rule matches within one line but
    the PEM one, whose match always changes the text; and the `mysql`/`redis-cli` word checks only widen
    on joined text. So joined text left unchanged, with no key's BEGIN or END in it, means every line
    alone is unchanged.
    """

    def __init__(self) -> None:
        self._inside: str | None = None  # the kind of the PEM key whose body is being read ("RSA ", "")
        self._hidden = 0

    def mask(self, lines: list[str]) -> list[str]:
        if self._inside is None:
            joined = "\n".join(lines)
            if mask_text(joined) == joined and "PRIVATE KEY-----" not in joined:  # no key's start or end
                return lines
        out: list[str] = []
        for line in lines:
            if self._inside is None and (end := _PEM_END.search(line)) and not _PEM_BEGIN.search(line, 0, end.start()):
                # An END whose BEGIN this masker never saw (a tail that starts inside a key): its body
                # lines are the ones just before it, still in this batch.
                for i in range(len(out) - 1, -1, -1):
                    if not _PEM_BODY.fullmatch(out[i].strip()):
                        break
                    out[i] = MASK
            out.append(self._line(line))
        return out

    def _line(self, line: str) -> str:
        if self._inside is not None:
            end = f"-----END {self._inside}PRIVATE KEY-----"
            at = line.find(end)
            self._hidden += 1
            if at < 0 and self._hidden <= PEM_MAX_LINES:
                return MASK
            self._inside = None
            if at < 0:
                return mask_text(line)
            return MASK + end + self._line(line[at + len(end) :])
        begun = None
        for m in _PEM_BEGIN.finditer(line):
            begun = m
        if begun is not None and f"-----END {begun['kind']}PRIVATE KEY-----" not in line[begun.end() :]:
            self._inside, self._hidden = begun["kind"], 0  # the key's body follows on the next lines
        return mask_text(line)


def mask_lines(lines: list[str]) -> list[str]:
    """A batch of log lines read on its own (a `logs` tail, a `run`'s first lines): see ``LineMasker``."""
    return LineMasker().mask(lines)


def mask_env(entry: str) -> str:
    """One `KEY=VALUE` environment entry: `API_TOKEN=••••` by name, secrets inside other values masked."""
    key, sep, value = entry.partition("=")
    if not sep:
        return mask_text(entry)
    return f"{key}={mask_value(key, value)}"


def mask_value(name: str, value: str) -> str:
    """The value of the variable `name`, as it may be shown."""
    return MASK if value and secret_name(name) else mask_text(value)


def mask_argv(args: Sequence[str]) -> list[str]:
    """A command line as a list (a container's Entrypoint + Cmd, a run's CMD): secret flags' values
    masked whether given as `--flag value` or `--flag=value`, and every word masked as text."""
    program = args[0].rsplit("/", 1)[-1] if args else ""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next and not arg.startswith("--"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = False
        flag, eq, value = arg.partition("=")
        if arg.startswith("-") and secret_flag(flag):
            out.append(f"{flag}={MASK}" if eq and value else arg)
            hide_next = not eq
        elif program in _MYSQL and arg.startswith("-p") and len(arg) > 2:
            out.append("-p" + MASK)
        elif program in _REDIS_CLI and arg == "-a":
            out.append(arg)
            hide_next = True
        else:
            out.append(mask_text(arg))
    return out


def mask_pairs(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """A run's parsed `-e` list, each value masked by its name and by its own shape."""
    return tuple((k, mask_value(k, v)) for k, v in pairs)


def mask_command(command: c.Command) -> c.Command:
    """The parsed command with the secrets it carries masked: for showing, never for running."""
    if isinstance(command, c.Run):
        return dataclasses.replace(command, env=mask_pairs(command.env), command=tuple(mask_argv(command.command)))
    return command
