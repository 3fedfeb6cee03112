#!/usr/bin/env bash
# Builds the controller image composectl:latest locally, without a registry: a static
# composectl binary (built on the host) COPYed into the root Dockerfile's FROM scratch.
#
#   scripts/build-controller-image.sh [IMAGE]     (default composectl:latest)
#
# Idempotent and quick when nothing changed: the image carries the hash of its inputs
# (src/, Cargo.toml, Cargo.lock, Dockerfile) in the label io.composectl.inputs, and neither
# cargo nor docker runs when that hash is unchanged. The static release build of composectl
# takes minutes from cold; it shares target/static with scripts/build-images.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
image=${1:-composectl:latest}
context=$root/target/static/images/controller
binary=$root/target/static/x86_64-unknown-linux-gnu/release/composectl
inputs_label=io.composectl.inputs
export DOCKER_BUILDKIT=0 # the classic builder: works on every engine, no buildx needed

log() { printf 'build-controller-image: %s\n' "$*" >&2; }

# inputs_hash: one sha256 over the names and contents of every input file.
inputs_hash() {
    find src Cargo.toml Cargo.lock Dockerfile .dockerignore -type f | LC_ALL=C sort |
        while read -r file; do
            printf '%s\n' "$file"
            sha256sum <"$file"
        done | sha256sum | cut -d' ' -f1
}

inputs=$(inputs_hash)
current=$(docker image inspect --format "{{ index .Config.Labels \"$inputs_label\" }}" "$image" 2>/dev/null || true)
if [[ "$current" == "$inputs" ]]; then
    echo "up to date: $image ($(docker image inspect --format '{{.Id}}' "$image"))"
    exit 0
fi

log "cargo build (static, release) of composectl"
RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR="$root/target/static" \
    cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu --bin composectl

# The build context holds the binary and the Dockerfile only: nothing else is sent.
rm -rf "$context"
mkdir -p "$context"
install -m 0755 "$binary" "$context/composectl"
cp Dockerfile .dockerignore "$context/"

previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
log "docker build of $image"
if ! err=$(docker build --quiet --tag "$image" --build-arg "INPUTS=$inputs" "$context" 2>&1 >/dev/null); then
    printf '%s\n' "$err" >&2
    log "docker build of $image failed"
    exit 1
fi
id=$(docker image inspect --format '{{.Id}}' "$image")
echo "built: $image ($id)"
# The replaced image, now untagged, goes too (unless a container still uses it).
if [[ -n "$previous" && "$previous" != "$id" ]]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
fi
