#!/usr/bin/env bash
# Makes sure a Docker daemon answers: starts Debian's dockerd when none does (as root, no systemd
# needed). A dockerd killed hard leaves /var/run/docker.pid behind and the next refuses to start,
# so a pid file whose process is gone is removed first.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
fi
if ! pgrep -x dockerd >/dev/null; then
    log=/tmp/dockerverse-dockerd.log
    echo "ensure-dockerd: starting dockerd (log: $log)"
    setsid dockerd >"$log" 2>&1 < /dev/null &
fi
for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "ensure-dockerd: Docker did not answer within 60 s; see /tmp/dockerverse-dockerd.log" >&2
exit 1
