"""Pure parsers for the values commands take: durations, sizes, ports, names.

Each returns a value or raises ``ValueError`` with a short reason; the grammar turns
that into a ``CommandError`` naming the argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.image_refs import parse_reference

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([bkmg]?)b?", re.IGNORECASE)
_SIZE_FACTOR = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# Docker's own rules for names and environment keys.
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A Docker image reference: [registry[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:[a-zA-Z0-9.-]+(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)


def parse_duration(text: str) -> float:
    """'90' or '90s' -> 90.0; '10m', '1h30m', '2d', '500ms' also work."""
    text = text.strip().lower()
    if text.isdigit():
        return float(text)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"'{text}' is not a duration (examples: 30s, 10m, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """A short human duration: 850ms, 42s, 5m 3s, 2h 10m, 3d 4h."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    s = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            rest = (s % size) // sub_size
            return f"{s // size}{unit} {rest}{sub}" if rest else f"{s // size}{unit}"
    return f"{s}s"


def parse_size(text: str) -> int:
    """'256m' -> bytes, with Docker's binary units (b, k, m, g)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a size (examples: 256m, 1g)")
    return int(float(match.group(1)) * _SIZE_FACTOR[match.group(2).lower()])


def format_size(size: int) -> str:
    """Bytes as Docker prints limits: 512m, 2g, 1.5g."""
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{size}b"


@dataclass(frozen=True)
class PortMapping:
    """A published port: HOST:CONTAINER[/proto]."""

    host: int
    container: int
    proto: str = "tcp"

    def __str__(self) -> str:
        suffix = "" if self.proto == "tcp" else f"/{self.proto}"
        return f"{self.host}:{self.container}{suffix}"


def parse_port(text: str) -> PortMapping:
    """'8080:80' or '5353:53/udp' -> PortMapping, ports 1-65535."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"protocol '{proto}' is not tcp, udp or sctp")
    host, sep, container = spec.partition(":")
    if not sep:
        raise ValueError(f"'{text}' is not HOSTPORT:CONTAINERPORT (example: 8080:80)")
    numbers = []
    for part in (host, container):
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise ValueError(f"'{part}' in '{text}' is not a port from 1 to 65535")
        numbers.append(int(part))
    return PortMapping(numbers[0], numbers[1], proto)


def check_name(text: str) -> str:
    if not _NAME.fullmatch(text) or len(text) > 128:
        raise ValueError(f"'{text}' is not a container name (letters, digits, _ . -; starting with a letter or digit)")
    return text


def check_image(text: str) -> str:
    """An image reference as Docker reads it (bot/core/image_refs.py says why one is not): what run, pull and
    redeploy take, so what the allow-list checks is what Docker pulls."""
    parse_reference(text)  # BadReference is a ValueError, with the reason
    return text


def check_image_or_id(text: str) -> str:
    """A reference or an image id (`rmi` takes either)."""
    if len(text) > 255 or not _IMAGE.fullmatch(text):
        raise ValueError(f"'{text}' is not an image reference (examples: busybox, nginx:1.27, ghcr.io/org/app:main)")
    return text


def parse_env(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not _ENV_KEY.fullmatch(key):
        raise ValueError(f"'{text}' is not KEY=VALUE (example: -e LOG_LEVEL=debug)")
    return key, value


_DOCKER_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")


def parse_docker_time(text: str) -> tuple[int, int]:
    """Docker's RFC 3339 UTC timestamp -> (epoch seconds, nanoseconds), comparable exactly."""
    import calendar

    match = _DOCKER_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a Docker timestamp (example: 2026-11-28T16:40:01.123456789Z)")
    y, mo, d, h, mi, s, frac = match.groups()
    try:
        seconds = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    except (ValueError, OverflowError):
        raise ValueError(f"'{text}' is not a valid date") from None
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31 and int(h) < 24 and int(mi) < 60 and int(s) < 61):
        raise ValueError(f"'{text}' is not a valid date")
    return seconds, int((frac or "0").ljust(9, "0"))
