#!/usr/bin/env bash
# Prints the tag of a Debian image with Python 3 (venv included), made on this machine from Debian's
# packages alone (mmdebstrap, then `docker import`): a stand-in for python:3.11-slim where no image
# registry is reachable, as in CI. tests/test_e2e_compose.py builds every image of
# deploy/docker-compose.yml from it; a deployment can too:
#   DOCKERVERSE_BASE_IMAGE=$(bash scripts/local-base-image.sh) docker compose ... build
#
# Made once a machine: the root filesystem is kept in /var/cache/dockerverse (outside any clone, so a
# fresh CI clone finds it) and the image in dockerd; the first run takes about two minutes, later ones
# a moment (a re-import when only the tarball is left). A lock keeps parallel runs from making it twice.
# It does not follow Debian's updates: remove the tarball and the image to make a fresh one.
set -euo pipefail

# This machine's Debian release: its python3 is then the base's, so wheels fetched with it fit the image.
suite=${DOCKERVERSE_DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
suite=${suite:-bookworm}
packages=ca-certificates,python3,python3-venv
cache=${DOCKERVERSE_CACHE_DIR:-/var/cache/dockerverse}

# The mirror apt already uses here (the first Debian archive in /etc/apt/sources.list*), else Debian's CDN.
mirror_from_apt() {
    {
        grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
        grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -E '/debian/?$' | head -n 1
}
mirror=${DOCKERVERSE_DEBIAN_MIRROR:-$(mirror_from_apt || true)}
mirror=${mirror:-http://deb.debian.org/debian}

# The tag names what went in, so a change to the list above makes a new image beside the old one.
key=$(printf '%s\n' "$suite" "$packages" | sha256sum | cut -c1-12)
tag="dockerverse-local/python:$suite-$key"
tarball="$cache/python-$suite-$key.tar"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag"
    exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/python-$suite.lock"
flock 9
if ! docker image inspect "$tag" >/dev/null 2>&1; then  # another run may have made it while we waited
    if [ ! -s "$tarball" ]; then
        command -v mmdebstrap >/dev/null || { echo "local-base-image: mmdebstrap is missing: run scripts/install-system-deps.sh" >&2; exit 1; }
        log="$cache/python-$suite-$key.log"
        echo "local-base-image: making $tag from $mirror (about two minutes; log: $log)" >&2
        # minbase and no recommends: what python:3.11-slim has, less its docs, manuals and translations.
        if ! mmdebstrap --variant=minbase --format=tar --include="$packages" \
            --aptopt='APT::Install-Recommends "false"' \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
            "$suite" "$tarball.part" "$mirror" >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            rm -f "$tarball.part"
            echo "local-base-image: mmdebstrap failed (full log: $log)" >&2
            exit 1
        fi
        mv "$tarball.part" "$tarball"
    fi
    docker import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' "$tarball" "$tag" >/dev/null
fi
echo "$tag"
