#!/usr/bin/env bash
# The test command: sets up a fresh machine, builds, runs every test, then a quick benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test
# The benchmark prints figures only; a quick run proves it still works without asserting on timing.
swift build -c release
.build/release/warden-bench --quick
