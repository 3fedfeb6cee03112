#!/usr/bin/env bash
# Builds every image the tests use, locally (no registry can be reached):
#   composectl-demo:v1, composectl-demo:v2   the static demo app FROM scratch
#   composectl-test/registry:latest          Debian's docker-registry FROM scratch
#   composectl-test/nginx:latest             Debian's nginx-light FROM scratch
#   composectl-test/stubborn:latest          Debian's static busybox sleeping as PID 1
#                                            (ignores SIGTERM), for the benchmark
# Arguments name the images to build (demo, registry, nginx, stubborn); none: all of them.
# Idempotent and quick when nothing changed: each image carries the hash of its inputs in
# the label io.composectl.test.inputs, and is rebuilt only when that hash differs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
stage=$root/target/static/images
inputs_label=io.composectl.test.inputs
export DOCKER_BUILDKIT=0 # the classic builder: works on every engine, no buildx needed

log() { printf 'build-images: %s\n' "$*" >&2; }

# hash_of FILE...: one sha256 over the contents of FILEs (names excluded).
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# current_inputs IMAGE: the inputs label of IMAGE, empty when it does not exist.
current_inputs() {
    docker image inspect --format "{{ index .Config.Labels \"$inputs_label\" }}" "$1" 2>/dev/null || true
}

# build IMAGE INPUTS CONTEXT DOCKERFILE [BUILD-ARG...]: build unless IMAGE has INPUTS.
build() {
    local image=$1 inputs=$2 context=$3 dockerfile=$4
    shift 4
    if [[ "$(current_inputs "$image")" == "$inputs" ]]; then
        echo "up to date: $image ($(docker image inspect --format '{{.Id}}' "$image"))"
        return
    fi
    local previous
    previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    local args=(--quiet --file "$dockerfile" --tag "$image" --build-arg "INPUTS=$inputs")
    for arg in "$@"; do args+=(--build-arg "$arg"); done
    local err
    if ! err=$(docker build "${args[@]}" "$context" 2>&1 >/dev/null); then
        printf '%s\n' "$err" >&2
        log "docker build of $image failed"
        return 1
    fi
    local id
    id=$(docker image inspect --format '{{.Id}}' "$image")
    echo "built: $image ($id)"
    # The replaced image, now untagged, goes too (unless a container still uses it).
    if [[ -n "$previous" && "$previous" != "$id" ]]; then
        docker rmi "$previous" >/dev/null 2>&1 || true
    fi
}

build_demo() {
    log "cargo build (static, release) of demo-app"
    RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR="$root/target/static" \
        cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p demo-app
    local context=$stage/demo dockerfile=$root/examples/demo-app/Dockerfile
    mkdir -p "$context"
    install -m 0755 "$root/target/static/x86_64-unknown-linux-gnu/release/demo-app" "$context/demo-app"
    for version in v1 v2; do
        local inputs
        inputs=$(printf '%s\n' "$version" | cat - "$context/demo-app" "$dockerfile" | sha256sum | cut -d' ' -f1)
        build "composectl-demo:$version" "$inputs" "$context" "$dockerfile" "VERSION=$version"
    done
}

# ensure_package FILE PACKAGE: installs Debian's PACKAGE unless FILE exists.
ensure_package() {
    [[ -x $1 ]] && return
    log "installing Debian's $2 package"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

# stage_registry ROOTFS: the binary, every library ldd lists (dereferenced) and the config.
stage_registry() {
    local rootfs=$1 binary=/usr/bin/docker-registry
    rm -rf "$rootfs"
    mkdir -p "$rootfs/usr/bin" "$rootfs/etc/docker/registry" "$rootfs/var/lib/registry" "$rootfs/tmp"
    cp -L "$binary" "$rootfs/usr/bin/"
    cp "$root/scripts/images/registry/config.yml" "$rootfs/etc/docker/registry/config.yml"
    local lib
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
}

build_registry() {
    ensure_package /usr/bin/docker-registry docker-registry
    local context=$stage/registry dir=$root/scripts/images/registry
    stage_registry "$context/rootfs"
    local inputs
    inputs=$(cd "$context" && find rootfs -type f | LC_ALL=C sort | xargs cat "$dir/Dockerfile" | sha256sum | cut -d' ' -f1)
    build composectl-test/registry:latest "$inputs" "$context" "$dir/Dockerfile"
}

# stage_nginx ROOTFS: the binary, every library ldd lists (dereferenced), passwd and group
# (root, and nobody for the workers), mime.types, a default nginx.conf, and the directories
# nginx writes to (temp files, pid, logs).
stage_nginx() {
    local rootfs=$1 binary=/usr/sbin/nginx dir=$root/scripts/images/nginx
    rm -rf "$rootfs"
    mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/nginx" "$rootfs/var/lib/nginx" \
        "$rootfs/var/log/nginx" "$rootfs/run" "$rootfs/var/lock"
    install -d -m 1777 "$rootfs/tmp"
    cp -L "$binary" "$rootfs/usr/sbin/"
    cp "$dir/passwd" "$dir/group" "$rootfs/etc/"
    cp "$dir/nginx.conf" "$rootfs/etc/nginx/nginx.conf"
    cp -L /etc/nginx/mime.types "$rootfs/etc/nginx/mime.types"
    local lib
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
}

build_nginx() {
    ensure_package /usr/sbin/nginx nginx-light
    local context=$stage/nginx dir=$root/scripts/images/nginx
    stage_nginx "$context/rootfs"
    local inputs
    inputs=$(cd "$context" && find rootfs -type f | LC_ALL=C sort | xargs cat "$dir/Dockerfile" | sha256sum | cut -d' ' -f1)
    build composectl-test/nginx:latest "$inputs" "$context" "$dir/Dockerfile"
}

build_stubborn() {
    ensure_package /bin/busybox busybox-static
    local context=$stage/stubborn dir=$root/scripts/images/stubborn
    rm -rf "$context/rootfs"
    mkdir -p "$context/rootfs/bin"
    cp -L /bin/busybox "$context/rootfs/bin/busybox"
    local inputs
    inputs=$(cat "$dir/Dockerfile" "$context/rootfs/bin/busybox" | sha256sum | cut -d' ' -f1)
    build composectl-test/stubborn:latest "$inputs" "$context" "$dir/Dockerfile"
}

if [[ $# -gt 0 ]]; then
    for image in "$@"; do
        case $image in
        demo | registry | nginx | stubborn) "build_$image" ;;
        *) log "unknown image $image (demo, registry, nginx, stubborn)"; exit 2 ;;
        esac
    done
    exit 0
fi

build_demo
build_registry
build_nginx
build_stubborn
# The equivalence test (tests/equivalence.rs) builds its image from Debian's static busybox
# and compares with docker-compose 1.29.
ensure_package /bin/busybox busybox-static
ensure_package /usr/bin/docker-compose docker-compose
# promtool checks the example alert rules and dashboard queries (tests/examples.rs);
# systemd-analyze verifies the unit files (tests/systemd.rs).
ensure_package /usr/bin/promtool prometheus
ensure_package /usr/bin/systemd-analyze systemd
