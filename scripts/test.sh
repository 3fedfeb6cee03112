#!/usr/bin/env bash
# The test command (README, CI): builds the test images, then runs every test of the
# workspace against the real Docker engine and exits with the tests' status.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test harness`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! docker info >/dev/null 2>&1; then
    echo "test.sh: no Docker engine answers; the integration tests need one" >&2
    exit 1
fi

scripts/build-images.sh
cargo test --workspace --all-targets --locked "$@"
