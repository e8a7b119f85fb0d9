#!/usr/bin/env bash
# What an app's resync costs when revokd holds many token revocations of
# other apps: reading the whole live set (`GET /v1/revocations`, every
# page) against reading only the facts about people
# (`kinds=session_revoked,subject_disabled,subject_revoked_before`), which
# is what the Home Assistant integration does, in one run on this machine.
#
# Writes N token revocations straight into Redis with `redis-cli --pipe`
# (as benches/startup_load.sh does), then records 100 session revocations
# and 10 disables through revokd's admin API, then times each read with a
# client that follows next_cursor (limit 1000) and counts what it got.
# Everything binds 127.0.0.1 and stops when the script ends.
#
# Usage: benches/live_set_load.sh [N, default 1000000]
#        (needs redis-server, redis-cli, curl, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}

source benches/redis_bench.sh
need redis-server redis-cli curl python3
build_release
start_redis
write_token_revocations "$n" other-app

admin_key=bench-admin-key-0123456789
client_key=bench-client-key-0123456789
port=$(free_port)
REVOKD_LISTEN="127.0.0.1:$port" REVOKD_STORE=redis \
REVOKD_REDIS__URL="redis://127.0.0.1:$redis_port" REVOKD_LOG__FILTER=warn \
REVOKD_KEYS="[{name=\"admin\", role=\"admin\", key=\"$admin_key\"}, {name=\"app\", role=\"client\", key=\"$client_key\"}]" \
    "$bin" >"$work/revokd.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$port"

echo "== 100 session revocations and 10 disables through the admin API" >&2
admin() {
    curl -sf -o /dev/null -H "Authorization: Bearer $admin_key" \
        -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$port$1"
}
for i in $(seq 100); do
    admin /v1/admin/sessions/revoke "{\"iss\":\"https://idp.example\",\"sid\":\"s-$i\"}"
done
for i in $(seq 10); do
    admin /v1/admin/subjects/disable "{\"iss\":\"https://idp.example\",\"sub\":\"u-$i\"}"
done

echo "== reading the live set, whole and people only" >&2
python3 - "http://127.0.0.1:$port" "$client_key" <<'PY'
import json, sys, time, urllib.parse, urllib.request
base, key = sys.argv[1], sys.argv[2]
def read(kinds):
    cursor, count, pages, size = None, 0, 0, 0
    started = time.perf_counter()
    while True:
        query = {"limit": "1000"}
        if cursor:
            query["cursor"] = cursor
        if kinds:
            query["kinds"] = kinds
        request = urllib.request.Request(
            f"{base}/v1/revocations?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {key}"},
        )
        with urllib.request.urlopen(request) as response:
            body = response.read()
        page = json.loads(body)
        count += len(page["revocations"])
        pages += 1
        size += len(body)
        cursor = page["next_cursor"]
        if not cursor:
            return time.perf_counter() - started, count, pages, size
whole = read(None)
people = read("session_revoked,subject_disabled,subject_revoked_before")
print()
print("| live set read | revocations | pages | bytes | seconds |")
print("|---|---|---|---|---|")
for name, (secs, count, pages, size) in (("whole", whole), ("people only (kinds=)", people)):
    print(f"| {name} | {count} | {pages} | {size} | {secs:.2f} |")
print()
print(f"people only / whole: {people[0] / whole[0]:.3f} of the time, {people[3] / whole[3]:.5f} of the bytes")
PY
