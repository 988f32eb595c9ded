#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real: redis-server (Redis tests, TLS too),
# redis-sentinel (the failover test's three sentinels),
# docker.io (dockerd + CLI), busybox-static (the test image's only binary) and
# docker-registry (a local registry for pull/push tests), curl and openssl (the README's hook
# example, run by a test), webhook (adnanh/webhook, the hook benchmark's peer) and wrk (load),
# docker-compose (runs deploy/docker-compose.yml), mmdebstrap (makes the base image its images are built
# from, with no registry: scripts/local-base-image.sh), python3-pip (Debian's python3 fetches the wheels
# for that image: the same Python as the base's) and systemd (its systemd-analyze checks the units
# in deploy/systemd; it is only run as a tool, never as PID 1), and chromium (the dashboard's browser tests
# and benchmark drive it through Playwright, whose own browser download is not reachable). A fresh CI
# machine has none of them; when all are present this does nothing, so it is safe to run before every test run.
set -euo pipefail

packages=(redis-server redis-sentinel docker.io busybox-static docker-registry curl openssl webhook wrk docker-compose
          mmdebstrap python3-pip systemd chromium)

missing=0
command -v redis-server >/dev/null 2>&1 || missing=1
command -v redis-sentinel >/dev/null 2>&1 || missing=1
command -v dockerd >/dev/null 2>&1 || missing=1
command -v docker-registry >/dev/null 2>&1 || missing=1
# curl and openssl run the README's hook example in the tests; webhook is the benchmark's peer.
for tool in curl openssl webhook wrk docker-compose mmdebstrap systemd-analyze chromium; do command -v "$tool" >/dev/null 2>&1 || missing=1; done
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || missing=1
# The image is built "FROM scratch", so /bin/busybox must be the *static* build; Debian's plain
# `busybox` package also installs /bin/busybox but links it dynamically.
if [ ! -x /bin/busybox ] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
    missing=1
fi
[ "$missing" -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
log="$(mktemp -t dockerverse-apt.XXXXXX)"
echo "install-system-deps: installing ${packages[*]} (log: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq && \
       "${sudo[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 "${packages[@]}"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "install-system-deps: apt-get failed (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
