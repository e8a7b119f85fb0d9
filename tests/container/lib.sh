# Shared by tests/container/*.sh: a podman set-up the tests own, and the
# locally built stand-ins for the base images no registry can give us here.
#
# Nothing in /etc is read or changed: CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF point at files written below, so a fresh machine
# with the Debian packages (podman buildah runc mmdebstrap uidmap jq curl)
# gets exactly this set-up.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Images and layers (vfs copies every layer in full: a few GB).
CONTAINERS_DIR=${CONTAINER_SUITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/revokd-containers}
if [ "$(id -u)" = 0 ]; then
    CONTAINERS_RUN=/run/revokd-containers
else
    CONTAINERS_RUN=${XDG_RUNTIME_DIR:-/tmp/revokd-containers-$(id -u)}/revokd-containers
fi

log() { printf '[container] %s\n' "$*" >&2; }
die() { printf '[container] FAIL: %s\n' "$*" >&2; exit 1; }

setup_podman() {
    mkdir -p "$CONTAINERS_DIR/conf" "$CONTAINERS_DIR/storage" "$CONTAINERS_RUN"
    # vfs: no overlay or fuse-overlayfs needed. The rest is what this kind of
    # machine needs (crun fails on its cgroup set-up; no systemd; the
    # default nofile ulimit is refused).
    cat >"$CONTAINERS_DIR/conf/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$CONTAINERS_DIR/storage"
runroot = "$CONTAINERS_RUN/storage"
CONF
    cat >"$CONTAINERS_DIR/conf/containers.conf" <<CONF
[containers]
default_ulimits = []
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$CONTAINERS_RUN/libpod"
CONF
    export CONTAINERS_CONF="$CONTAINERS_DIR/conf/containers.conf"
    export CONTAINERS_STORAGE_CONF="$CONTAINERS_DIR/conf/storage.conf"
    # buildah (and `podman build`) read the same files.
    export BUILDAH_ISOLATION=oci
    # No systemd here: podman cannot start health-check timers and logs an
    # error saying so (harmless); the tests run the HEALTHCHECK with
    # `podman healthcheck run`, and one-shot runs pass --no-healthcheck.
}

# The value of `ARG <name>=<default>` in a Containerfile.
arg_default() { # file name
    sed -n "s/^ARG $2=\(.*\)$/\1/p" "$1" | head -1
}

image_label() { # image label
    podman image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}

# A content key: what an image is built from (the commands that build it,
# the Debian suite, the toolchain version). Same key, same image: a second
# run reuses it. Debian's point releases do not change it; remove
# $CONTAINERS_DIR to start from scratch.
base_key() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# mmdebstrap a minimal Debian bookworm root filesystem into the image
# tagged $1, labelled with the content key $2. The other base images are
# built on it (apt-get in a container is much faster than another
# mmdebstrap: only their own packages are installed).
debootstrap_image() { # tag key
    local tag=$1 key=$2
    if [ "$(image_label "$tag" revokd.test.base-key)" = "$key" ]; then
        log "base image $tag is current ($key)"
        return
    fi
    log "building base image $tag with mmdebstrap ($key)"
    local started=$SECONDS
    # Like the official slim image: no docs, man pages or locales.
    # force-unsafe-io: no fsync per unpacked file (a throw-away build).
    mmdebstrap --variant=minbase --mode=root --format=tar \
        --dpkgopt='force-unsafe-io' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        bookworm - http://deb.debian.org/debian \
        | podman import --change "LABEL revokd.test.base-key=$key" \
            --change 'CMD ["bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            - "$tag" >/dev/null
    log "built $tag in $((SECONDS - started))s"
}

# An image $1 (keyed by $2 and its lines) built FROM the Debian image with the
# Containerfile lines on stdin; extra `podman build` arguments follow.
derived_image() { # tag key-seed [podman build args...] < containerfile-lines
    local tag=$1 key lines
    lines=$(cat)
    key=$(base_key "$2" "$lines")
    shift 2
    if [ "$(image_label "$tag" revokd.test.base-key)" = "$key" ]; then
        log "base image $tag is current ($key)"
        return
    fi
    log "building base image $tag ($key)"
    local started=$SECONDS
    printf 'FROM %s\n%s\nLABEL revokd.test.base-key=%s\n' "$DEBIAN_IMAGE" "$lines" "$key" |
        podman build --format docker --network host --layers=false "$@" -t "$tag" -f - "$CONTAINERS_DIR/conf" >&2
    log "built $tag in $((SECONDS - started))s"
}

APT_INSTALL='apt-get update && apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io'
APT_CLEAN='rm -rf /var/lib/apt/lists/*'

# The images the Containerfile, compose.yaml and the add-on name, built here
# from Debian packages (users pull the official ones).
build_base_images() {
    local containerfile=$REPO_ROOT/Containerfile
    local rust_image redis_image ha_image toolchain toolchain_dir rustc_version debian_key
    DEBIAN_IMAGE=$(arg_default "$containerfile" RUNTIME_IMAGE)
    rust_image=$(arg_default "$containerfile" RUST_IMAGE)
    redis_image=$(sed -n 's/^ *image: *\(.*redis.*\)$/\1/p' "$REPO_ROOT/deploy/compose/compose.yaml" | head -1)
    ha_image=$(sed -n 's/^ *amd64: *//p' "$REPO_ROOT/addons/revokd/build.yaml")
    [ -n "$DEBIAN_IMAGE" ] && [ -n "$rust_image" ] || die "Containerfile lacks ARG RUNTIME_IMAGE= / ARG RUST_IMAGE= defaults"
    [ -n "$redis_image" ] && [ -n "$ha_image" ] || die "no redis image in compose.yaml or amd64 base in build.yaml"

    debian_key=$(base_key "$(declare -f debootstrap_image)")
    debootstrap_image "$DEBIAN_IMAGE" "$debian_key"

    # The stand-in for the official rust:<version>-slim-bookworm image: the
    # Debian packages it has (gcc, libc6-dev, ca-certificates) and this
    # machine's toolchain (the one cargo uses here; Debian's rustc is older
    # than Cargo.toml's rust-version) where the official image has it.
    toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
    toolchain_dir=${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$toolchain
    rustc_version=$("$toolchain_dir/bin/rustc" --version)
    # It trusts what this machine trusts: the certificate authorities added
    # in /usr/local/share/ca-certificates (an egress proxy's, here), so
    # cargo reaches crates.io from the build stage as it does on the host.
    local local_cas=/usr/local/share/ca-certificates
    [ -d "$local_cas" ] || local_cas=$CONTAINERS_DIR/conf
    derived_image "$rust_image" "$debian_key $rustc_version $(find "$local_cas" -name '*.crt' -exec cat {} + | sha256sum)" \
        -v "$toolchain_dir:/toolchain:ro" -v "$local_cas:/host-ca:ro" <<LINES
RUN $APT_INSTALL ca-certificates gcc libc6-dev && $APT_CLEAN \
    && find /host-ca -name '*.crt' -exec cp {} /usr/local/share/ca-certificates/ \; \
    && update-ca-certificates \
    && mkdir -p /usr/local/cargo && cp -a /toolchain/bin /toolchain/lib /usr/local/cargo/
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LINES
    log "Rust stand-in $rust_image holds $rustc_version"

    # Like the official Redis image: redis-server as user redis in /data,
    # protected mode off (the official image builds Redis with that
    # default: its clients are other containers, never loopback).
    cat >"$CONTAINERS_DIR/conf/redis-entrypoint.sh" <<'SCRIPT'
#!/bin/sh
if [ "$1" = redis-server ]; then set -- "$@" --protected-mode no; fi
exec "$@"
SCRIPT
    derived_image "$redis_image" "$debian_key $(cat "$CONTAINERS_DIR/conf/redis-entrypoint.sh")" <<LINES
RUN $APT_INSTALL redis-server && $APT_CLEAN && mkdir -p /data && chown redis:redis /data
COPY --chmod=0755 redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER redis
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
LINES

    # Home Assistant's Debian base images have bash, jq, curl and CA certificates.
    derived_image "$ha_image" "$debian_key" <<LINES
RUN $APT_INSTALL bash jq curl ca-certificates && $APT_CLEAN
LINES
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until $1 answers 200, for at most $2 seconds.
wait_http_200() { # url seconds
    local deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" = 200 ] && return 0
        sleep 0.5
    done
    return 1
}

random_key() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
sha256_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The revokd image, built from the Containerfile as a user would, with one
# difference: the cargo profile `container-test` (Cargo.toml: release
# without LTO and optimisation), so that a cold build fits the CI budget.
# CONTAINER_SUITE_CARGO_PROFILE=release builds exactly the image users get.
# Layers are cached: with unchanged sources a second build takes seconds;
# after a change, the cargo cache mounts recompile only revokd itself.
TEST_IMAGE=localhost/revokd:test
build_revokd_image() {
    local started=$SECONDS
    log "building $TEST_IMAGE from Containerfile"
    podman build --format docker --network host \
        --build-arg REVISION="$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        --build-arg CARGO_PROFILE="${CONTAINER_SUITE_CARGO_PROFILE:-container-test}" \
        -f "$REPO_ROOT/Containerfile" -t "$TEST_IMAGE" "$REPO_ROOT" >&2
    log "built $TEST_IMAGE in $((SECONDS - started))s"
}

image_size_mb() {
    podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f", $1 / 1000000 }'
}

# podman-compose (PyPI) in a venv of its own in the cache dir; PyYAML comes
# with it (the add-on check uses it).
PODMAN_COMPOSE_VERSION=1.6.0
compose_venv() {
    local venv=$CONTAINERS_DIR/compose-venv-$PODMAN_COMPOSE_VERSION
    if [ ! -x "$venv/bin/podman-compose" ]; then
        log "installing podman-compose $PODMAN_COMPOSE_VERSION into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet "podman-compose==$PODMAN_COMPOSE_VERSION" >&2
    fi
    printf '%s\n' "$venv"
}
compose_python() { printf '%s/bin/python\n' "$(compose_venv)"; }
