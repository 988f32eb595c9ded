"""The terms a command's spec is written in: an option, a spec, the words found for one, and the
converters that type a value.

Pure. A converter raises ``ValueError`` with a short reason; ``convert`` turns it into a
``CommandError`` that names the argument and shows the command's usage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core import commands as c
from bot.core.errors import CommandError
from bot.core.slack_text import escape
from bot.core.units import parse_docker_time, parse_size

OptKind = Literal["flag", "value", "multi", "optional"]  # optional: a value only if the next word fits


@dataclass(frozen=True)
class Opt:
    names: tuple[str, ...]
    dest: str
    kind: OptKind = "flag"
    metavar: str = ""
    help: str = ""

    def usage(self) -> str:
        return f"{self.names[0]} {self.metavar}".strip()


@dataclass(frozen=True)
class Spec:
    """How one command is written: its words, options, positionals and examples."""

    verb: str
    summary: str
    usage: str
    examples: tuple[str, ...]
    build: Callable[[Parsed], c.Command]
    options: tuple[Opt, ...] = ()
    aliases: tuple[str, ...] = ()
    positionals: tuple[str, ...] = ()  # required, in order
    optional_positional: str | None = None
    takes_command: bool = False  # `-- CMD ARG...` ends the options

    def option(self, name: str) -> Opt | None:
        return next((o for o in self.options if name in o.names), None)


@dataclass
class Parsed:
    """What the tokenizer found for one spec, before typing."""

    spec: Spec
    args: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    rest: list[str] = field(default_factory=list)

    def value(self, dest: str, converter: Callable[[str], Any], default: Any = None) -> Any:
        raw = self.values.get(dest)
        if raw is None:
            return default
        return convert(self.spec, dest, raw, converter)


def convert(spec: Spec, what: str, raw: str, converter: Callable[[str], Any]) -> Any:
    """``converter(raw)``, or a ``CommandError`` naming ``what`` and the command's usage."""
    try:
        return converter(raw)
    except ValueError as exc:
        raise CommandError(f"`{spec.verb}`: {what}: {escape(exc)}. Usage: `{spec.usage}`") from None


def int_range(low: int, high: int) -> Callable[[str], int]:
    def converter(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"'{text}' is not a whole number from {low} to {high}")
        return int(text)

    return converter


def cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a number of CPUs (example: 0.5)") from None
    if not 0.01 <= value <= 256:
        raise ValueError(f"{text} CPUs is outside 0.01 to 256")
    return value


def memory(text: str) -> int:
    size = parse_size(text)
    if size < 6 * 1024**2:
        raise ValueError(f"{text} is below Docker's minimum of 6m")
    return size


def docker_time(text: str) -> str:
    """A Docker log timestamp, kept as written (a follow resumes after it)."""
    parse_docker_time(text)
    return text
