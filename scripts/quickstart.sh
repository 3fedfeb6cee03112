#!/usr/bin/env bash
# The quick start (README): builds composectl and the demo images locally, converges the
# sample desired state in desired/ on the local Docker engine, then shows that nothing is
# left to do. Safe to run again: a converged host gets no writes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! docker info >/dev/null 2>&1; then
    echo "quickstart: no Docker engine answers (start dockerd, or set DOCKER_HOST)" >&2
    exit 1
fi

scripts/build-images.sh
cargo build --release --locked --bin composectl
bin=target/release/composectl

echo
echo "==> composectl validate --desired desired"
"$bin" validate --desired desired
echo
echo "==> composectl apply --once --desired desired"
"$bin" apply --once --desired desired
echo
echo "==> composectl plan --desired desired"
"$bin" plan --desired desired
echo
echo "The sample runs. Keep it converged with: $bin run --desired desired"
