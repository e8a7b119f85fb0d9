#!/usr/bin/env bash
# The container image (Containerfile), built and run for real with podman:
# /readyz, the HEALTHCHECK, a revocation through the admin API that survives
# a new container on the same volume, a non-root process on a read-only
# root filesystem, and refusals (bad config, nothing listening, not ready).
# Run by tests/container/run.sh after the base images exist.
source "$(dirname "$0")/lib.sh"
setup_podman

work=$(mktemp -d)
NAME=revokd-test-$$
VOLUME=revokd-test-data-$$
cleanup() {
    podman rm -f -t 0 "$NAME" "$NAME-unready" >/dev/null 2>&1 || true
    podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

[ "$(podman image inspect --format '{{.Config.Healthcheck}}' "$TEST_IMAGE")" != "<nil>" ] ||
    die "$TEST_IMAGE has no HEALTHCHECK (built without --format docker?)"
[ "$(podman image inspect --format '{{.Config.User}}' "$TEST_IMAGE")" = 10001:10001 ] ||
    die "the image's user is not 10001:10001"
[ "$(image_label "$TEST_IMAGE" org.opencontainers.image.licenses)" = Apache-2.0 ] ||
    die "the image lacks its OCI labels"

cmp -s "$REPO_ROOT/.containerignore" "$REPO_ROOT/.dockerignore" ||
    die ".dockerignore (docker) differs from .containerignore (podman)"

PORT=$(free_port)
ADMIN_KEY=$(random_key)
CLIENT_KEY=$(random_key)
# The admin key from a mounted file (readable by the container's user), the
# client key as a digest in the environment: both ways the README shows.
printf '%s\n' "$ADMIN_KEY" >"$work/admin.key"
chmod 0644 "$work/admin.key"
KEYS="[{name=\"operator\", role=\"admin\", file=\"/run/secrets/admin.key\"}, {name=\"home-assistant\", role=\"client\", sha256=\"$(sha256_of "$CLIENT_KEY")\"}]"
BASE=http://127.0.0.1:$PORT

run_revokd() {
    # As the README shows it, on a free host port.
    podman run -d --name "$NAME" --read-only --network bridge -p "127.0.0.1:$PORT:8080" \
        -v "$VOLUME:/var/lib/revokd" \
        -v "$work/admin.key:/run/secrets/admin.key:ro" \
        -e REVOKD_KEYS="$KEYS" \
        "$TEST_IMAGE" >/dev/null
    wait_http_200 "$BASE/readyz" 60 || { podman logs "$NAME" >&2; die "/readyz is not 200 within 60s"; }
}

check_alice() { # expected body
    local iat body
    iat=$(($(date +%s) - 60))
    body=$(curl -sS -H "Authorization: Bearer $CLIENT_KEY" \
        "$BASE/v1/check?iss=https://auth.example.com&sub=alice&iat=$iat")
    [ "$body" = "$1" ] || die "check of alice: expected $1, got $body"
}

podman volume create "$VOLUME" >/dev/null
run_revokd
log "revokd answers /readyz 200 in the container on port $PORT"

out=$(podman healthcheck run "$NAME" 2>&1) || die "podman healthcheck run failed: $out"
[ "$(podman inspect --format '{{.State.Health.Status}}' "$NAME")" = healthy ] ||
    die "health status is $(podman inspect --format '{{.State.Health.Status}}' "$NAME")"
log "HEALTHCHECK (revokd healthcheck) reports healthy"

# Not root: the process as the host sees it (rootful podman, no user namespace).
pid=$(podman inspect --format '{{.State.Pid}}' "$NAME")
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[ "$uids" = "10001 10001 10001 10001" ] || die "revokd runs with uids $uids, not 10001"
log "the process runs as uid 10001 (/proc/$pid/status: Uid $uids)"

# Read-only root filesystem: nothing outside the volume can be written.
if podman exec "$NAME" /bin/sh -c 'echo x >/etc/revokd/x' 2>/dev/null; then
    die "the root filesystem is writable"
fi
podman exec "$NAME" /bin/sh -c 'test -w /var/lib/revokd' || die "the volume is not writable by the user"

check_alice '{"active":true}'
status=$(curl -sS -o "$work/disable.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"iss": "https://auth.example.com", "sub": "alice", "reason": "container test"}' \
    "$BASE/v1/admin/subjects/disable")
[ "$status" = 200 ] || die "disable answered $status: $(cat "$work/disable.json")"
check_alice '{"active":false,"reason":"subject_disabled"}'
log "admin disable through the API; /v1/check says inactive"

# A new container on the same volume still knows it.
podman stop -t 10 "$NAME" >/dev/null
[ "$(podman inspect --format '{{.State.ExitCode}}' "$NAME")" = 0 ] || die "revokd did not exit 0 on SIGTERM"
podman rm "$NAME" >/dev/null
run_revokd
check_alice '{"active":false,"reason":"subject_disabled"}'
log "after stop, rm and a new container on the same volume: still inactive"

# Not ready: a Redis store nobody answers (the container's own loopback).
# The instance runs, /readyz is
# 503, the HEALTHCHECK reports unhealthy with /readyz's status.
UNREADY_PORT=$(free_port)
podman run -d --name "$NAME-unready" --read-only --network bridge -p "127.0.0.1:$UNREADY_PORT:8080" \
    -e REVOKD_STORE=redis -e REVOKD_REDIS__URL="redis://127.0.0.1:6379" \
    "$TEST_IMAGE" >/dev/null
wait_http_200 "http://127.0.0.1:$UNREADY_PORT/healthz" 30 || { podman logs "$NAME-unready" >&2; die "the unready instance did not start"; }
if out=$(podman exec "$NAME-unready" /usr/local/bin/revokd healthcheck 2>&1); then
    die "healthcheck passed against an instance whose store is unreachable: $out"
fi
[[ "$out" == *"/readyz answered 503"* ]] || die "healthcheck said: $out"
if podman healthcheck run "$NAME-unready" >/dev/null 2>&1; then
    die "podman healthcheck run passed for the unready instance"
fi
log "store unreachable: healthcheck exits 1 ($out)"

# Not running: nothing listens on 8080 in the container's own network.
if out=$(podman run --rm --no-healthcheck --network bridge "$TEST_IMAGE" healthcheck 2>&1); then
    die "healthcheck passed with nothing listening: $out"
fi
[[ "$out" == *"could not be asked"* ]] || die "healthcheck said: $out"
log "nothing listening: healthcheck exits 1 ($out)"

# An invalid configuration stops the container at once, naming the key.
if out=$(podman run --rm --read-only --no-healthcheck -e REVOKD_LISTEN=everywhere "$TEST_IMAGE" 2>&1); then
    die "revokd started with listen = everywhere"
fi
[[ "${out,,}" == *listen* ]] || die "the refusal does not name listen: $out"
if out=$(podman run --rm --read-only --no-healthcheck -e REVOKD_LISTN=0.0.0.0:1 "$TEST_IMAGE" 2>&1); then
    die "revokd started with an unknown REVOKD_ variable"
fi
[[ "$out" == *"did you mean \`REVOKD_LISTEN\`"* ]] || die "the refusal does not suggest REVOKD_LISTEN: $out"
log "invalid configuration: exit non-zero with ${out:0:90}..."

log "image $TEST_IMAGE: $(image_size_mb "$TEST_IMAGE") MB"
log "image: all checks passed"
