#!/usr/bin/env bash
# The benchmark of issue 2 (docs/benchmark.md): composectl against docker-compose and the
# engine's own restart policy, on 10 services x 3 replicas of the demo image. Builds the
# images and the release binaries, runs examples/bench, prints the table. Not a test: it
# measures. Needs a Docker engine and docker-compose. The run is its own composectl
# instance (`--instance`), so other composectl instances on the engine are left alone.
# Extra arguments go to the benchmark (`scripts/bench.sh --kills 5`; `--help` lists them).
# Whatever the outcome, the containers and networks of both projects are removed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in docker docker-compose; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is not installed" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "bench.sh: no Docker engine answers" >&2; exit 1; }

scripts/build-images.sh >&2
echo "bench.sh: cargo build --release (composectl and the benchmark)" >&2
cargo build --release --locked --quiet --bin composectl --example bench

# The benchmark cleans up after itself; the timeout (5 minutes) bounds a stuck engine,
# and SIGTERM lets it clean up before it exits.
exec timeout --signal=INT --kill-after=60 300 \
    target/release/examples/bench --composectl target/release/composectl "$@"
