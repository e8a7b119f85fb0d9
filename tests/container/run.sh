#!/usr/bin/env bash
# The container suite: the image (Containerfile), compose.yaml and the Home
# Assistant add-on, built and run with podman for real.
#
#   tests/container/run.sh            (as root; see lib.sh for the set-up)
#
# Needs the Debian packages podman buildah runc mmdebstrap uidmap
# containernetworking-plugins jq curl, python3 with venv, and the Rust
# toolchain rustup uses here. Base images and podman-compose are cached in
# $CONTAINER_SUITE_DIR (default ~/.cache/revokd-containers), keyed by what
# they are built from; the cargo registry and target dirs of the image
# build are podman build cache mounts.
source "$(dirname "$0")/lib.sh"
setup_podman

for tool in podman buildah runc mmdebstrap jq curl python3 rustup; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install podman buildah runc mmdebstrap uidmap jq curl)"
done

suite_started=$SECONDS
phase() { # name command...
    local started=$SECONDS
    "${@:2}"
    log "phase $1: $((SECONDS - started))s"
}
phase base-images build_base_images
phase revokd-image build_revokd_image
phase image bash "$(dirname "$0")/image.sh"
phase compose bash "$(dirname "$0")/compose.sh"
phase addon bash "$(dirname "$0")/addon.sh"
# Untagged layers of earlier builds: vfs keeps each in full.
podman image prune -f >/dev/null
log "all container tests passed in $((SECONDS - suite_started))s; storage $(du -sh "$CONTAINERS_DIR" | cut -f1)"
