#!/usr/bin/env bash
# The run command: sets up a fresh machine, builds Warden, creates credentials for the example
# services when certs/ has none, and runs the broker on the shipped acls/ with a local nats-server.
# Extra arguments go to `warden serve` (e.g. --listen 0.0.0.0:4443 or --upstream tls://nats:4222).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product warden
warden=.build/release/warden
if [ ! -f certs/ca/ca.pem ]; then
    echo "run: certs/ is empty: creating Warden's CA and enrolling the example services"
    "$warden" init
    # The services named under `services:` in the ACL files.
    for service in $(awk '/^[^ #]/ { inServices = ($0 ~ /^services:/) }
                          inServices && /^  [A-Za-z0-9_-]+:/ { sub(/^  /, ""); sub(/:.*/, ""); print }' acls/*.yaml | sort -u); do
        "$warden" enroll "$service"
    done
fi
"$warden" check
exec "$warden" serve "$@"
