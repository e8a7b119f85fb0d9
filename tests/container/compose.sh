#!/usr/bin/env bash
# deploy/compose/compose.yaml driven by podman-compose (PyPI): the file is
# valid and keeps Redis durable (AOF, appendfsync always, noeviction); up
# with the `ha` profile, a revocation through instance 1 is seen by instance
# 2; it survives a Redis restart (instance 2 restarted reloads it from
# Redis); down removes everything.
# Run by tests/container/run.sh after the revokd and Redis images exist.
source "$(dirname "$0")/lib.sh"
setup_podman

COMPOSE_FILE=$REPO_ROOT/deploy/compose/compose.yaml
PROJECT=revokd-test-$$
venv=$(compose_venv)
compose() { "$venv/bin/podman-compose" -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }
cleanup() { compose --profile ha down -v -t 0 >/dev/null 2>&1 || true; }
trap cleanup EXIT

ADMIN_KEY=$(random_key)
CLIENT_KEY=$(random_key)
# What .env holds for a user (compose interpolation; not seen by revokd).
export ADMIN_KEY_SHA256 CLIENT_KEY_SHA256 HOST_PORT_1 HOST_PORT_2
ADMIN_KEY_SHA256=$(sha256_of "$ADMIN_KEY")
CLIENT_KEY_SHA256=$(sha256_of "$CLIENT_KEY")
HOST_PORT_1=$(free_port)
HOST_PORT_2=$(free_port)

config=$(compose --profile ha config) || die "podman-compose config refused compose.yaml"
# What the file must keep, read from podman-compose's resolved view.
"$venv/bin/python" - "$config" <<'PY' || die "compose.yaml lacks a durability, health or profile setting"
import sys, yaml
config = yaml.safe_load(sys.argv[1])
services = config["services"]
redis = services["redis"]
command = " ".join(redis["command"])
assert "--appendonly yes" in command, command
assert "--appendfsync always" in command, command
assert "--maxmemory-policy noeviction" in command, command
assert "redis-data:/data" in redis["volumes"], redis["volumes"]
assert "redis-data" in config["volumes"], config.get("volumes")
assert redis["healthcheck"]["test"][1:] == ["redis-cli", "ping"], redis["healthcheck"]
for name in ("revokd", "revokd-2"):
    revokd = services[name]
    assert revokd["read_only"] is True, name
    assert revokd["healthcheck"]["test"][1:] == ["/usr/local/bin/revokd", "healthcheck"], name
    assert revokd["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert "\n" not in revokd["environment"]["REVOKD_KEYS"], "REVOKD_KEYS spans lines"
assert services["revokd-2"]["profiles"] == ["ha"], services["revokd-2"].get("profiles")
assert "profiles" not in services["revokd"]
PY
log "podman-compose config: valid; AOF always, noeviction, profile ha, health checks, named volume"

# The revokd image compose.yaml names: the one built from the Containerfile.
podman tag "$TEST_IMAGE" "$(sed -n 's/^  image: *//p' "$COMPOSE_FILE" | head -1)"
started=$SECONDS
compose --profile ha up -d >&2
one=http://127.0.0.1:$HOST_PORT_1
two=http://127.0.0.1:$HOST_PORT_2
for url in "$one" "$two"; do
    wait_http_200 "$url/readyz" 90 || { compose logs >&2; die "$url/readyz is not 200 within 90s"; }
done
log "compose up (redis, revokd, revokd-2): both /readyz 200 in $((SECONDS - started))s"

for service in redis revokd revokd-2; do
    container=$(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$service")
    [ -n "$container" ] || die "no container for $service"
    podman healthcheck run "$container" >/dev/null || die "$service is not healthy"
done
log "health checks of redis, revokd and revokd-2 pass"

check_alice() { # base-url expected
    local body
    body=$(curl -sS -H "Authorization: Bearer $CLIENT_KEY" \
        "$1/v1/check?iss=https://auth.example.com&sub=alice&iat=$(($(date +%s) - 60))")
    [ "$body" = "$2" ]
}
check_alice "$two" '{"active":true}' || die "alice is not active on instance 2 at first"
status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"iss": "https://auth.example.com", "sub": "alice", "reason": "compose test"}' \
    "$one/v1/admin/subjects/disable")
[ "$status" = 200 ] || die "disable on instance 1 answered $status"
seen=
for _ in $(seq 1 50); do
    if check_alice "$two" '{"active":false,"reason":"subject_disabled"}'; then seen=1; break; fi
    sleep 0.1
done
[ -n "$seen" ] || die "instance 2 does not see the disable made through instance 1"
log "disabled through instance 1, instance 2 says inactive"

# Redis killed (SIGKILL: no shutdown save, only what the AOF holds) and
# started again, then instance 2 restarted: its mirror is refilled from
# Redis alone.
redis=$(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=redis")
podman kill --signal KILL "$redis" >/dev/null
podman start "$redis" >/dev/null
compose --profile ha restart revokd-2 >&2
wait_http_200 "$two/readyz" 90 || { compose logs >&2; die "instance 2 is not ready after the restarts"; }
check_alice "$two" '{"active":false,"reason":"subject_disabled"}' ||
    die "the revocation did not survive a Redis restart"
log "after killing and starting redis, restarting revokd-2: still inactive (AOF)"

compose --profile ha down -v -t 5 >&2
[ -z "$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT")" ] || die "down left containers"
log "compose: all checks passed"
