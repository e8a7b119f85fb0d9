#!/usr/bin/env bash
# The check path under HTTP load, in one run on this machine:
#
#   /v1/check         answered from the in-memory mirror (check.source = "mirror")
#   /v1/forward-auth  the same look-up behind a gateway's question
#   /healthz          a trivial route of the same server: the ceiling
#   /v1/check naive   a second instance with check.source = "store": one
#                     Redis round trip per request
#
# then the propagation between two instances on one Redis (p50/p99 from A's
# acknowledgement to B's answer). benches/startup_load.sh measures loading.
# wrk: 2 threads, 64 connections, ids drawn at random, half of them revoked.
# Everything binds 127.0.0.1 and stops when the script ends.
#
# Usage: benches/check_load.sh [seconds per run, default 10]
#        (needs redis-server, wrk, curl, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}

source benches/redis_bench.sh
need redis-server redis-cli wrk curl python3 openssl
build_release
start_redis

admin="bench-admin-key-0123456789"
client="bench-client-key-0123456789"
keys="[{name=\"bench\", role=\"admin\", key=\"$admin\"}, {name=\"load\", role=\"client\", key=\"$client\"}]"
started_url=""
start_revokd() { # source -> sets started_url (no subshell: its pid must reach the cleanup)
    local port; port=$(free_port)
    REVOKD_LISTEN="127.0.0.1:$port" REVOKD_STORE=redis \
    REVOKD_REDIS__URL="redis://127.0.0.1:$redis_port" REVOKD_LOG__FILTER=warn \
    REVOKD_CHECK__SOURCE="$1" REVOKD_FORWARD_AUTH__PROFILE=home-assistant \
    REVOKD_KEYS="$keys" "$bin" >>"$work/revokd.log" 2>&1 &
    pids+=($!)
    started_url="http://127.0.0.1:$port"
}
start_revokd mirror; mirror=$started_url
start_revokd store; naive=$started_url
wait_ready "$mirror"
wait_ready "$naive"

# 1000 ids, the odd ones revoked; as Home Assistant tokens for forward-auth.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
now=$(date +%s)
{
    echo "ids = {"
    for i in $(seq 1 1000); do printf '  "%032x",\n' "$i"; done
    echo "}"
    echo "tokens = {"
    for i in $(seq 1 1000); do
        id=$(printf '%032x' "$i")
        payload=$(printf '{"iss":"%s","iat":%d,"exp":%d}' "$id" "$now" $((now + 3600)) | b64url)
        echo "  \"$header.$payload.c2ln\","
    done
    echo "}"
} >"$work/data.lua"
for i in $(seq 1 2 1000); do
    printf '{"jti":"%032x"}' "$i" |
        curl -fsS -o /dev/null -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
            --data-binary @- "$mirror/v1/admin/tokens/revoke"
done

script() { # kind -> a wrk Lua script
    cat "$work/data.lua"
    cat <<LUA
math.randomseed(os.time())
local key = "$client"
request = function()
  local i = math.random(#ids)
  if "$1" == "check" then
    return wrk.format("GET", "/v1/check?jti=" .. ids[i], { ["Authorization"] = "Bearer " .. key })
  elseif "$1" == "forward" then
    return wrk.format("GET", "/v1/forward-auth", {
      ["Authorization"] = "Bearer " .. tokens[i], ["X-Revokd-Key"] = key,
      ["X-Original-URI"] = "/api/states" })
  else
    return wrk.format("GET", "/healthz?jti=" .. ids[i], { ["Authorization"] = "Bearer " .. key })
  end
end
LUA
}

# Sanity: an odd id is revoked, an even one active, on both instances.
for base in "$mirror" "$naive"; do
    curl -fsS -H "Authorization: Bearer $client" "$base/v1/check?jti=$(printf '%032x' 1)" | grep -q '"active":false'
    curl -fsS -H "Authorization: Bearer $client" "$base/v1/check?jti=$(printf '%032x' 2)" | grep -q '"active":true'
done

results=()
run() { # label base kind path
    script "$3" >"$work/$3.lua"
    echo "== $1: wrk -t2 -c64 -d${duration}s --latency $2$4" >&2
    wrk -t2 -c64 -d"${duration}s" --latency -s "$work/$3.lua" "$2$4" >"$work/out.txt"
    cat "$work/out.txt" >&2
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/out.txt")
    p50=$(awk '$1 == "50%" { print $2 }' "$work/out.txt")
    p99=$(awk '$1 == "99%" { print $2 }' "$work/out.txt")
    errors=$(awk '/Socket errors|Non-2xx/ { print }' "$work/out.txt" | tr '\n' ' ')
    results+=("$1|$rps|$p50|$p99|$errors")
}
run "/healthz (ceiling)" "$mirror" ceiling "/healthz"
run "/v1/check (mirror)" "$mirror" check "/v1/check"
run "/v1/forward-auth (mirror)" "$mirror" forward "/v1/forward-auth"
run "/v1/check (naive: Redis per request)" "$naive" check "/v1/check"

ceiling=$(echo "${results[0]}" | cut -d'|' -f2)
echo
echo "| route | requests/s | vs ceiling | p50 | p99 | notes |"
echo "|---|---|---|---|---|---|"
for row in "${results[@]}"; do
    IFS='|' read -r label rps p50 p99 notes <<<"$row"
    ratio=$(awk -v a="$rps" -v b="$ceiling" 'BEGIN { printf "%.2f", a / b }')
    echo "| $label | $rps | $ratio | $p50 | $p99 | $notes |"
done
check_rps=$(echo "${results[1]}" | cut -d'|' -f2)
naive_rps=$(echo "${results[3]}" | cut -d'|' -f2)
echo
echo "mirror / naive: $(awk -v a="$check_rps" -v b="$naive_rps" 'BEGIN { printf "%.2f", a / b }')"

echo "== propagation" >&2
start_revokd mirror; other=$started_url
wait_ready "$other"
PROPAGATION_A="$mirror" PROPAGATION_B="$other" ADMIN_KEY="$admin" CLIENT_KEY="$client" \
    cargo bench --quiet --bench propagation 2>>"$work/bench.err" | grep propagation

