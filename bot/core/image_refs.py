"""Image references read as Docker reads them, and allow-list patterns matched part by part. Pure.

A reference is `[registry[:port]/]path[:tag][@digest]`. Normalized as Docker does: no registry is
docker.io (so is index.docker.io), a single name there is `library/NAME`, no tag and no digest is
`:latest`; the path must be lowercase (Docker refuses it otherwise), and a registry's host name is
compared case-blind, as DNS does. A pattern is read the same way, then matched component by
component: `*` and `?` stay inside one component (never crossing `/`, `:` or `@`), `**` stands for
any number of whole path segments. So `busybox:*` (docker.io/library/busybox, any tag) never admits
`busybox:5000/anything` (a registry called busybox), and `nginx*` never admits `nginx.evil.com/x`.
Matching the raw text with one glob, as before, let `*` run across all of those.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRY = "index.docker.io"  # Docker's old name for Docker Hub
MAX_NAME = 255  # Docker's limit on registry/path
EXAMPLES = "examples: busybox, nginx:1.27, ghcr.io/acme/app:main, localhost:5000/app@sha256:<64 hex>"
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}  # the algorithms Docker accepts

_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = re.compile(rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_IMAGE_ID = re.compile(r"(?:sha256:)?[a-f0-9]{64}")
_HEX = re.compile(r"[a-f0-9]+")
_GLOB = re.compile(r"(\*\*|\*|\?)")


class BadReference(ValueError):
    """Text that is not an image reference (or pattern); the message says why and shows examples."""


@dataclass(frozen=True)
class ImageRef:
    """A normalized reference: `docker.io/library/busybox:latest`."""

    registry: str
    path: str
    tag: str | None  # None only when a digest pins the image and no tag was written
    digest: str | None

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.registry}/{self.path}{tag}{digest}"


@dataclass(frozen=True)
class ImagePattern:
    """An allow-list entry, normalized like a reference; `*` alone admits every image."""

    text: str
    ref: ImageRef | None  # None: the pattern `*`, every image
    tag_written: bool = True  # False: the tag is Docker's default `latest`, not the admin's choice

    def matches(self, ref: ImageRef) -> bool:
        p = self.ref
        if p is None:
            return True
        if not (_glob(p.registry).fullmatch(ref.registry) and _path_matches(p.path.split("/"), ref.path.split("/"))):
            return False
        # A pattern without a tag (only a digest) admits any tag, or none; one with a tag needs a matching tag.
        if p.tag is not None and (ref.tag is None or not _glob(p.tag).fullmatch(ref.tag)):
            return False
        # A digest runs whatever it names: a pattern admits digests only when it says so (`@*`, `@sha256:...`).
        if p.digest is None:
            return ref.digest is None
        return ref.digest is not None and (p.digest == "*" or bool(_glob(p.digest).fullmatch(ref.digest)))

    def same_repository(self, ref: ImageRef) -> bool:
        """Registry and path match (whatever the tag): for saying which tag the pattern stands for."""
        p = self.ref
        return p is not None and bool(
            _glob(p.registry).fullmatch(ref.registry) and _path_matches(p.path.split("/"), ref.path.split("/"))
        )


def parse_reference(text: str) -> ImageRef:
    """The normalized reference, or ``BadReference`` saying what is wrong with it."""
    if _IMAGE_ID.fullmatch(text):
        raise BadReference(
            f"'{text}' is an image id, not a reference: name the image as REPOSITORY[:TAG] so the allow-list "
            "can check it (`images` lists them)"
        )
    if _HEX.fullmatch(text):
        # Docker looks a name up as a reference first, then as the start of a local image's id: `3f57d9`
        # would run whichever image's id begins so, whatever the allow-list says of `library/3f57d9`.
        raise BadReference(
            f"'{text}' could be the start of an image id, which Docker would run whatever its name: "
            f"give a tag (`{text}:latest`) or name the image as REPOSITORY[:TAG] (`images` lists them)"
        )
    return _read(text, pattern=False)


def parse_pattern(text: str) -> ImagePattern:
    """An allow-list pattern, normalized; ``BadReference`` when it could never match a valid reference."""
    if text in ("*", "**"):
        return ImagePattern(text, None)
    return ImagePattern(text, _read(text, pattern=True), tag_written=_split(text)[2] is not None)


def normalize(text: str) -> str:
    """`busybox` -> `docker.io/library/busybox:latest`, as Docker resolves it."""
    return str(parse_reference(text))


def _split(text: str) -> tuple[str | None, str, str | None, str | None]:
    """(registry as written or None, path, tag, digest), split as Docker splits a reference."""
    name, at, digest = text.partition("@")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    first, slash, rest = name.partition("/")
    # Docker's rule: a first part with a dot, a port, `localhost` or a capital letter is a registry.
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest, tag, digest if at else None
    return None, name, tag, digest if at else None


def _read(text: str, pattern: bool) -> ImageRef:
    what = "an image pattern" if pattern else "an image reference"

    def bad(why: str) -> BadReference:
        return BadReference(f"'{text}' is not {what}: {why} ({EXAMPLES})")

    if not text or text != text.strip() or any(ch.isspace() for ch in text):
        raise bad("it is empty or has spaces")
    if text.count("@") > 1:
        raise bad("it has more than one `@`")
    registry, path, tag, digest = _split(text)
    name = f"{registry}/{path}" if registry is not None else path
    if len(name) > MAX_NAME:
        raise bad(f"the name is longer than {MAX_NAME} characters")
    if registry is not None and not _REGISTRY.fullmatch(_solid(registry, pattern, "a registry", bad)):
        raise bad(f"`{registry}` is not a registry (a host name or IP address, with an optional `:port`)")
    for part in path.split("/"):
        _check_path_part(part, pattern, bad)
    if tag == "":
        raise bad("nothing follows the `:` (write a tag, like `:1.27`, or leave the `:` out for `latest`)")
    if tag is not None and not _TAG.fullmatch(_solid(tag, pattern, "a tag", bad)):
        raise bad(f"`{tag}` is not a tag (letters, digits, _ . -; at most 128, not starting with . or -)")
    if digest is not None:
        _check_digest(digest, pattern, bad)
    host = (registry or DEFAULT_REGISTRY).lower()
    host = DEFAULT_REGISTRY if host == LEGACY_REGISTRY else host
    if host == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"  # Docker Hub's official images
    return ImageRef(host, path, "latest" if tag is None and digest is None else tag, digest)


Bad = Callable[[str], BadReference]


def _solid(part: str, pattern: bool, what: str, bad: Bad) -> str:
    """A pattern's component with its globs replaced by a character every component may hold, for checking
    the rest of it as Docker would; `**` belongs in the path only."""
    if not pattern:
        return part
    if "**" in part:
        raise bad(f"`**` stands for whole path segments (`ghcr.io/acme/**`); in {what} use `*`")
    return _GLOB.sub("0", part)


def _check_path_part(part: str, pattern: bool, bad: Bad) -> None:
    if pattern and part == "**":
        return
    if pattern and "**" in part:
        raise bad(f"`{part}`: `**` must be a whole path segment, like `ghcr.io/acme/**`; inside a name use `*`")
    solid = _GLOB.sub("0", part) if pattern else part
    if _PATH.fullmatch(solid):
        return
    if _PATH.fullmatch(solid.lower()):
        raise bad(f"repository names must be lowercase (`{part}`: write `{part.lower()}`)")
    if part in ("", ".", ".."):
        raise bad(f"`{part or '//'}` is not a path component")
    raise bad(f"`{part}` is not a path component (lowercase letters and digits, with . _ - between them)")


def _check_digest(digest: str, pattern: bool, bad: Bad) -> None:
    if pattern and digest == "*":
        return
    algorithm, colon, hex_part = digest.partition(":")
    length = DIGEST_LENGTHS.get(algorithm)
    solid = _solid(hex_part, pattern, "a digest", bad)
    globbed = solid != hex_part
    if not colon or length is None or not re.fullmatch(r"[a-f0-9]+", solid) or (not globbed and len(solid) != length):
        raise bad(f"`{digest}` is not a digest (`sha256:` and 64 lowercase hex digits)")


@functools.lru_cache(maxsize=512)
def _glob(component: str) -> re.Pattern[str]:
    """One component's glob as a regex: `*` and `?` never cross `/`, `:` or `@`."""
    parts = _GLOB.split(component)
    return re.compile("".join({"*": "[^/:@]*", "?": "[^/:@]"}.get(p, re.escape(p)) for p in parts))


def _path_matches(pattern: list[str], path: list[str]) -> bool:
    """Segment by segment; `**` takes any number of whole segments (none included)."""
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_path_matches(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and bool(_glob(pattern[0]).fullmatch(path[0])) and _path_matches(pattern[1:], path[1:])
