#!/usr/bin/env bash
# A flame graph of revokd answering `GET /v1/check` under load: one release
# instance on the in-memory mirror (Redis on loopback), 1000 ids of which
# the odd ones are revoked, wrk -t2 -c64 for the recording, and
# `perf record --call-graph dwarf` on revokd's process meanwhile.
#
# Usage: benches/check_profile.sh <out.svg> [seconds, default 8]
#   BIN=/path/to/revokd to profile another build (e.g. a copy of the one
#   before a change).
# Needs: perf (Debian: linux-perf), inferno (`cargo install inferno`:
# inferno-collapse-perf, inferno-flamegraph), redis-server, wrk, curl.
set -euo pipefail
out=$(realpath -m "$1")
seconds=${2:-8}
cd "$(dirname "$0")/.."
source benches/redis_bench.sh
need perf inferno-collapse-perf inferno-flamegraph redis-server wrk curl
if [[ -n ${BIN:-} ]]; then bin=$BIN; else build_release; fi
start_redis
admin="bench-admin-key-0123456789"
client="bench-client-key-0123456789"
port=$(free_port)
REVOKD_LISTEN="127.0.0.1:$port" REVOKD_STORE=redis REVOKD_REDIS__URL="redis://127.0.0.1:$redis_port" \
    REVOKD_LOG__FILTER=warn REVOKD_CHECK__SOURCE=mirror \
    REVOKD_KEYS="[{name=\"bench\", role=\"admin\", key=\"$admin\"}, {name=\"load\", role=\"client\", key=\"$client\"}]" \
    "$bin" >>"$work/revokd.log" 2>&1 &
revokd_pid=$!
pids+=("$revokd_pid")
base="http://127.0.0.1:$port"
wait_ready "$base"
for i in $(seq 1 2 1000); do
    printf '{"jti":"%032x"}' "$i" | curl -fsS -o /dev/null -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' --data-binary @- "$base/v1/admin/tokens/revoke"
done
cat >"$work/check.lua" <<LUA
math.randomseed(os.time())
request = function()
  local id = string.format("%032x", math.random(1000))
  return wrk.format("GET", "/v1/check?jti=" .. id, { ["Authorization"] = "Bearer $client" })
end
LUA
wrk -t2 -c64 -d$((seconds + 4))s -s "$work/check.lua" "$base/v1/check" >"$work/wrk.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 2
perf record -F 499 --call-graph dwarf,16384 -p "$revokd_pid" -o "$work/perf.data" -- sleep "$seconds" \
    2>"$work/perf.err" >/dev/null
wait "$wrk_pid" || true
grep 'Requests/sec' "$work/wrk.txt"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/folded"
inferno-flamegraph --title "revokd GET /v1/check under wrk -t2 -c64" <"$work/folded" >"$out"
cp "$work/folded" "${out%.svg}.folded"
# The heaviest frames (inclusive share of samples), for the report.
python3 - "$work/folded" <<'PY'
import collections, sys
total, incl = 0, collections.Counter()
for line in open(sys.argv[1]):
    stack, n = line.rsplit(" ", 1)
    n = int(n); total += n
    for frame in set(stack.split(";")):
        incl[frame] += n
print(f"{total} samples; inclusive share of the heaviest frames:")
for frame, n in incl.most_common(45):
    print(f"{100 * n / total:5.1f}%  {frame[:150]}")
# Where revokd's own code goes: frames under the outermost middleware.
print("inclusive share of frames under observe_request, outside the kernel:")
for frame, n in incl.most_common():
    if n / total < 0.004 or any(k in frame for k in ("_sys_", "tcp_", "ip_", "__x64", "syscall")):
        continue
    if any(k in frame for k in ("revokd", "prometheus", "sha2", "serde", "actix_web", "actix_router", "tracing", "alloc", "malloc", "free", "memcpy", "fmt")):
        print(f"{100 * n / total:5.1f}%  {frame[:150]}")
PY
echo "flame graph: $out"
