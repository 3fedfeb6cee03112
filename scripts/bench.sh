#!/usr/bin/env bash
# The benchmark of issues 2 and 12 (docs/benchmark.md): composectl against docker-compose
# and the engine's own restart policy. Figures 1-4 on 10 services x 3 replicas of the demo
# image; figures 5-8 converge and recreate stacks of 30 and 300 containers of an image that
# exits on SIGTERM and of one that ignores it. Builds the images and the release binaries,
# runs examples/bench, prints the table. Not a test: it measures. Needs a Docker engine and
# docker-compose. Every stack is its own composectl instance (`--instance`), so other
# composectl instances on the engine are left alone. Extra arguments go to the benchmark
# (`scripts/bench.sh --sizes 30 --images demo --kills 5` for a quick run; `--help` lists
# them). Whatever the outcome, the containers and networks of every project are removed.
# Honours CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in docker docker-compose; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is not installed" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "bench.sh: no Docker engine answers" >&2; exit 1; }

scripts/build-images.sh demo stubborn >&2
echo "bench.sh: cargo build --release (composectl and the benchmark)" >&2
cargo build --release --locked --quiet --bin composectl --example bench
release=${CARGO_TARGET_DIR:-target}/release

# The benchmark cleans up after itself. The timeout (90 minutes) bounds a stuck engine: the
# full run (both sizes, both images) took 31 minutes on a loaded 2-core host with docker-compose's
# two stalls at 300 containers ended by hand (each waits out its 15-minute step bound
# otherwise: about an hour); the
# quick one (--sizes 30) about 4; each converge or recreate is bounded by 15 minutes on
# its own. SIGINT lets the benchmark clean up before it exits.
exec timeout --signal=INT --kill-after=120 5400 \
    "$release/examples/bench" --composectl "$release/composectl" "$@"
