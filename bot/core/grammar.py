"""The one command grammar: text in, a frozen ``Command`` or a ``CommandError`` out.

Pure: no I/O, no Slack, no Docker. Words are split the way a shell splits them
(quotes work) and never reach a shell. Slack's typography is undone first: clients
turn ``--all`` into ``—all`` and straight quotes into curly ones.
"""

from __future__ import annotations

import difflib
import html
import re
import shlex

from bot.core import commands as c
from bot.core.errors import CommandError
from bot.core.masking import mask_command, mask_text
from bot.core.slack_text import code
from bot.core.specs import MAX_TEXT, SPECS, find, lookup
from bot.core.syntax import Parsed, Spec
from bot.core.units import format_size, parse_duration, parse_size

_TYPOGRAPHY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"})
_DASH = re.compile(r"(?:(?<=\s)|^)[\u2014\u2013](?=\S)")


def normalize(text: str) -> str:
    """Undo what Slack does to typed text: entities, curly quotes, long dashes."""
    text = html.unescape(text).translate(_TYPOGRAPHY)
    return _DASH.sub("--", text).strip()


def command_name(text: str) -> str:
    """The command's own verb (`ps` -> `list`), or `unknown`: a label that stays a small set."""
    words = text.split(maxsplit=1)
    spec = find(words[0]) if words else None
    return spec.verb if spec else "unknown"


def parse(text: str) -> c.Command:
    """Parse one command. Empty text asks for help."""
    if len(text) > MAX_TEXT:
        raise CommandError(f"The command is {len(text)} characters long; the most is {MAX_TEXT}. Shorten it.")
    try:
        words = shlex.split(normalize(text))
    except ValueError:
        raise CommandError(
            'The command has an unclosed quote: close it, e.g. `run busybox -- echo "hi there"`.'
        ) from None
    if not words:
        return c.Help()
    spec = lookup(words[0])
    parsed = _tokenize(spec, words[1:])
    return spec.build(parsed)


def _tokenize(spec: Spec, words: list[str]) -> Parsed:
    parsed = Parsed(spec)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--" and spec.takes_command:
            parsed.rest = words[i:]
            break
        if not word.startswith("-") or word == "-":
            parsed.args.append(word)
            continue
        name, eq, inline = word.partition("=")
        opt = spec.option(name)
        if opt is None and not word.startswith("--") and len(word) > 2:
            opt, inline, eq = spec.option(word[:2]), word[2:], "="  # -p8080:80
        if opt is None:
            _unknown_option(spec, name)
            continue
        if opt.kind == "optional":
            if eq:
                parsed.values[opt.dest] = inline
            elif i < len(words) and _is_duration(words[i]):
                parsed.values[opt.dest], i = words[i], i + 1
            else:
                parsed.values[opt.dest] = True
            continue
        if opt.kind == "flag":
            if eq:
                raise CommandError(f"`{spec.verb}`: `{opt.names[0]}` takes no value. Usage: `{spec.usage}`")
            parsed.values[opt.dest] = True
            continue
        if eq:
            value = inline
        elif i < len(words) and not (words[i].startswith("-") and len(words[i]) > 1):
            value, i = words[i], i + 1
        else:
            raise CommandError(f"`{spec.verb}`: `{opt.names[0]}` needs a value ({opt.metavar}). Usage: `{spec.usage}`")
        if opt.kind == "multi":
            parsed.values.setdefault(opt.dest, []).append(value)
        elif opt.dest in parsed.values:
            raise CommandError(f"`{spec.verb}`: `{opt.names[0]}` is given twice; give it once.")
        else:
            parsed.values[opt.dest] = value
    _check_positionals(spec, parsed.args)
    return parsed


def _is_duration(word: str) -> bool:
    try:
        parse_duration(word)
    except ValueError:
        return False
    return True


def _unknown_option(spec: Spec, name: str) -> None:
    known = [n for o in spec.options for n in o.names]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    options = ", ".join(f"`{o.usage()}`" for o in spec.options) or "none"
    raise CommandError(f"`{spec.verb}` has no option {code(name)}.{hint} Its options: {options}.")


def _check_positionals(spec: Spec, args: list[str]) -> None:
    required = len(spec.positionals)
    most = required + (1 if spec.optional_positional else 0)
    if len(args) < required:
        missing = spec.positionals[len(args)]
        raise CommandError(f"`{spec.verb}` needs {missing}. Usage: `{spec.usage}`. Example: `{spec.examples[0]}`")
    if len(args) > most:
        extra = " ".join(args[most:])
        tip = " Put the container's command after `--`." if spec.takes_command else ""
        raise CommandError(f"`{spec.verb}`: unexpected {code(extra)}.{tip} Usage: `{spec.usage}`")


def shown(text: str, command: c.Command | None = None) -> str:
    """The command as it may be shown, audited and logged, with its secrets masked.

    Masked on the parsed command (a run's `-e` values and its CMD), so however the words were
    written (`-e=API_TOKEN=x`, quotes, `--env`) the values are found; a run that carried a secret
    is shown rebuilt from its masked fields. Text that does not parse is masked as free text.
    """
    if command is None:
        try:
            command = parse(text)
        except CommandError:
            return mask_text(text)
    masked = mask_command(command)
    return to_text(masked) if isinstance(masked, c.Run) and masked != command else mask_text(text)


def to_text(run: c.Run) -> str:
    """A run written back as a command line that parses to the same run."""
    words = ["run", run.image]
    words += ["--name", run.name] if run.name else []
    words += [w for port in run.ports for w in ("-p", str(port))]
    words += [w for key, value in run.env for w in ("-e", f"{key}={value}")]
    if run.memory is not None:
        size = format_size(run.memory)
        words += ["--memory", size if parse_size(size) == run.memory else f"{run.memory}b"]
    words += ["--cpus", f"{run.cpus:g}"] if run.cpus is not None else []
    words += ["--host", run.host] if run.host else []
    return shlex.join(words + (["--", *run.command] if run.command else []))


def help_text(topic: str | None = None) -> str:
    """The help reply: every command in a line, or one command in detail."""
    if topic:
        spec = lookup(topic)
        lines = [f"*{spec.verb}*: {spec.summary}", f"`{spec.usage}`"]
        if spec.aliases:
            lines.append("Also written: " + ", ".join(f"`{a}`" for a in spec.aliases))
        lines += [f"  `{o.usage()}`  {o.help}" for o in spec.options]
        lines.append("Examples: " + "  ".join(f"`{e}`" for e in spec.examples))
        return "\n".join(lines)
    rows = [f"`{s.usage}`\n    {s.summary}" for s in SPECS.values()]
    return "*Dockerverse commands*\n" + "\n".join(rows) + "\n`help COMMAND` shows options and examples."
