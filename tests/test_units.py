"""Value parsers for durations, sizes, ports and image references."""

from __future__ import annotations

import pytest

from bot.core.units import (
    PortMapping,
    check_image,
    format_duration,
    format_size,
    parse_duration,
    parse_port,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    """Durations read like Docker's --since."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "1h 30m", "-5s", "10m5"])
def test_bad_durations(text: str) -> None:
    """Anything else is a ValueError with an example."""
    with pytest.raises(ValueError, match="examples"):
        parse_duration(text)


def test_sizes_are_binary_like_docker() -> None:
    """256m is 256 MiB; sizes format back the same way."""
    assert parse_size("256m") == 256 * 1024**2
    assert parse_size("1.5g") == int(1.5 * 1024**3)
    assert parse_size("512MB") == 512 * 1024**2
    assert format_size(512 * 1024**2) == "512m" and format_size(2 * 1024**3) == "2g"


def test_ports() -> None:
    """HOST:CONTAINER[/proto], printed without /tcp."""
    assert parse_port("8080:80") == PortMapping(8080, 80)
    assert str(parse_port("5353:53/udp")) == "5353:53/udp"
    with pytest.raises(ValueError):
        parse_port("0:80")


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "nginx:1.27",
        "ghcr.io/org/app:main",
        "localhost:5000/x/y:1",
        "127.0.0.1:5000/busybox",
        "library/redis@sha256:" + "a" * 64,
    ],
)
def test_image_refs(ref: str) -> None:
    """Real image references are accepted as written."""
    assert check_image(ref) == ref


def test_format_duration() -> None:
    """Short human durations."""
    assert [format_duration(s) for s in (0.25, 42, 303, 7800, 90000)] == ["250ms", "42s", "5m 3s", "2h 10m", "1d 1h"]
