"""Image references normalized as Docker does, and allow-list patterns matched component by component."""

from __future__ import annotations

import pytest

from bot.core.image_refs import BadReference, parse_pattern, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/acme/app:1", "docker.io/acme/app:1"),
        ("acme/app", "docker.io/acme/app:latest"),
        ("ghcr.io/acme/app:main", "ghcr.io/acme/app:main"),
        ("GHCR.IO/acme/app", "ghcr.io/acme/app:latest"),  # a host name is case-blind
        ("Registry/app", "registry/app:latest"),  # Docker: a capital letter makes the first part a registry
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("busybox:5000/anything", "busybox:5000/anything:latest"),  # a registry called busybox, port 5000
        ("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000/a/b/c:v1"),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ("nginx.evil.com/x", "nginx.evil.com/x:latest"),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),  # a digest alone: no tag
        (f"nginx:1.27@{DIGEST}", f"docker.io/library/nginx:1.27@{DIGEST}"),
        ("my_app__x-y.z:V1_2.3-rc", "docker.io/library/my_app__x-y.z:V1_2.3-rc"),  # tags keep their case
        ("3f57d9401f8d:latest", "docker.io/library/3f57d9401f8d:latest"),  # with a tag it is only a name
    ],
)
def test_references_are_normalized_as_docker_does(text: str, normalized: str) -> None:
    """Default registry, library/ prefix, index.docker.io, latest tag, registry ports and digests."""
    assert str(parse_reference(text)) == normalized


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("localhost:5000/../x", "`..` is not a path component"),
        ("Busybox", "repository names must be lowercase (`Busybox`: write `busybox`)"),
        ("ghcr.io/Acme/app", "must be lowercase"),
        ("a//b", "is not a path component"),
        ("nginx:", "nothing follows the `:`"),
        ("nginx:-x", "is not a tag"),
        ("nginx@sha256:abc", "is not a digest"),
        (f"nginx@md5:{'a' * 32}", "is not a digest"),
        ("nginx@a@b", "more than one `@`"),
        ("bad image", "has spaces"),
        ("", "is empty"),
        ("-x.com/app", "is not a registry"),
        ("x" * 256, "longer than 255"),
        ("a" * 64, "is an image id, not a reference"),
        ("sha256:" + "b" * 64, "is an image id, not a reference"),
        ("3f57d9401f8d", "could be the start of an image id"),  # Docker would run a local image by id prefix
    ],
)
def test_invalid_references_are_refused_saying_why(text: str, why: str) -> None:
    """Whatever Docker would refuse (or read as an image id) is refused with the reason and examples."""
    with pytest.raises(BadReference) as info:
        parse_reference(text)
    assert why in str(info.value) and ("examples:" in str(info.value) or "REPOSITORY[:TAG]" in str(info.value))


@pytest.mark.parametrize(
    ("pattern", "ref", "admitted"),
    [
        ("busybox:*", "busybox:1.36", True),
        ("busybox:*", "busybox:5000/anything", False),  # not a tag: a registry with a port
        ("nginx*", "nginx-alpine", True),
        ("nginx*", "nginx.evil.com/x", False),  # not an official image: a registry
        ("nginx*", "nginx:1.27", False),  # no tag in a pattern means latest, as in Docker
        ("busybox", "docker.io/library/busybox:latest", True),
        ("busybox", "index.docker.io/library/busybox", True),
        ("docker.io/library/busybox:latest", "busybox", True),
        ("busybox", "busybox:1.36", False),
        ("library/*:*", "redis:7", True),
        ("library/*:*", "acme/redis:7", False),
        ("*:*", "acme/app:1", False),  # `*` is one path segment: only official images
        ("ghcr.io/acme/*:*", "ghcr.io/acme/app:main", True),
        ("ghcr.io/acme/*:*", "ghcr.io/acme/team/app:main", False),  # `*` never crosses `/`
        ("ghcr.io/acme/**:*", "ghcr.io/acme/team/app:main", True),
        ("ghcr.io/acme/**:*", "ghcr.io/acmeevil/app:main", False),
        ("ghcr.io/acme/**/web:*", "ghcr.io/acme/web:1", True),  # `**` may stand for no segment
        ("ghcr.io/acme/*", "ghcr.io/acme/app:latest", True),
        ("ghcr.io/acme/*", "ghcr.io/acme/app:main", False),
        ("*.acme.com/app:*", "registry.acme.com/app:1", True),
        ("*.acme.com/app:*", "acme.com.evil.io/app:1", False),
        ("localhost:*/app:*", "localhost:5000/app:1", True),
        ("localhost:*/app:*", "localhost/app:1", False),
        ("127.0.0.1:*/dockerverse-test/*:*", "127.0.0.1:40851/dockerverse-test/web:v1", True),
        ("ghcr.io/acme/app:v?", "ghcr.io/acme/app:v1", True),
        ("ghcr.io/acme/app:v?", "ghcr.io/acme/app:v10", False),
        ("GHCR.io/acme/app:*", "ghcr.io/acme/app:1", True),
        ("nginx:*", f"nginx@{DIGEST}", False),  # a digest runs what it names: only `@` patterns admit one
        ("nginx:*", f"nginx:1.27@{DIGEST}", False),
        ("nginx@*", f"nginx@{DIGEST}", True),
        ("nginx@*", f"nginx:1.27@{DIGEST}", True),
        ("nginx@*", "nginx:1.27", False),
        (f"nginx@{DIGEST}", f"nginx@{DIGEST}", True),
        ("nginx@sha256:b*", f"nginx@{DIGEST}", False),
        ("nginx:1.27@*", f"nginx:1.27@{DIGEST}", True),
        ("nginx:1.27@*", f"nginx:1.26@{DIGEST}", False),
        ("*", "anything.example.com:443/a/b/c:tag", True),  # `*` alone: every image
        ("*", f"nginx@{DIGEST}", True),
        ("**", "ghcr.io/x:1", True),
    ],
)
def test_patterns_match_component_by_component(pattern: str, ref: str, admitted: bool) -> None:
    """`*` stays within one component (never across `/`, `:` or `@`); `**` spans path segments."""
    assert parse_pattern(pattern).matches(parse_reference(ref)) is admitted


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("a**b/c", "`**` must be a whole path segment"),
        ("**.io/x", "in a registry use `*`"),
        ("nginx:**", "in a tag use `*`"),
        ("Nginx", "must be lowercase"),
        ("localhost:5000/../*", "`..` is not a path component"),
        ("nginx@md5:*", "is not a digest"),
    ],
)
def test_patterns_that_could_never_match_are_refused(pattern: str, why: str) -> None:
    """A pattern is read like a reference, so a typo is caught when the policy is loaded."""
    with pytest.raises(BadReference, match="is not an image pattern") as info:
        parse_pattern(pattern)
    assert why in str(info.value)
