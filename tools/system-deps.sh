#!/usr/bin/env bash
# The Debian packages make test needs besides the venv: chromium (browser e2e), postgresql and
# redis-server (the Celery e2e run). As root, missing ones are installed with apt-get; otherwise the
# script stops at once with the one command to run. No service is started: each test starts its own
# servers on 127.0.0.1 and stops them.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$EUID" -ne 0 ]; then
    echo "make test needs the Debian packages: ${missing[*]}. Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "Installing Debian packages for the test suite: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages must not start their system services (a PostgreSQL on :5432, a Redis on :6379): keep
# invoke-rc.d from starting anything during this install, unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
fi
trap 'if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi' EXIT
apt-get update -q
apt-get install -y -qq "${missing[@]}"
