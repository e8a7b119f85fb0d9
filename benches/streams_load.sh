#!/usr/bin/env bash
# What open event streams cost the writers (issue 17, item 7): the rate of
# admin revocations (`POST /v1/admin/tokens/revoke`, each a durable write
# that every open `/v1/events` stream is sent) with no stream open — the
# baseline, measured in the same run on the same instance — and with N
# streams open, each read to the end by a client that keeps up.
#
#   benches/streams_load.sh [N=2000] [seconds=10]
#
# Release build, embedded store (one fsync per write), wrk -t1 -c8 for the
# writes; the stream readers are one Python process (asyncio) on the same
# two cores. Everything targets 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/redis_bench.sh

streams=${1:-2000}
seconds=${2:-10}
need wrk curl python3

build_release

admin=bench-admin-key-0123456789abcdef
client=bench-client-key-0123456789abcdef
port=$(free_port)
# The caps on streams are raised so that N fit; the open-file limit is
# revokd's own business (it raises its soft limit at start-up).
env -i PATH="$PATH" \
    REVOKD_LISTEN="127.0.0.1:$port" \
    REVOKD_EMBEDDED__PATH="$work/data" \
    REVOKD_EVENTS__MAX_STREAMS=$((streams + 10)) \
    REVOKD_EVENTS__MAX_STREAMS_PER_KEY=$((streams + 10)) \
    REVOKD_LOG__FILTER=warn \
    REVOKD_KEYS="[{name=\"admin\", role=\"admin\", key=\"$admin\"}, {name=\"reader\", role=\"client\", key=\"$client\"}]" \
    "$bin" serve >"$work/revokd.log" 2>&1 &
pids+=($!)
revokd=$!
url="http://127.0.0.1:$port"
wait_ready "$url"

cat >"$work/revoke.lua" <<LUA
local n = 0
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $admin"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local body = string.format('{"jti":"bench-%d-%d-%d"}', id or 0, n, math.random(1, 1000000000))
  return wrk.format(nil, "/v1/admin/tokens/revoke", nil, body)
end
setup = function(thread) thread:set("id", math.random(1, 1000000)) end
LUA

# revokd's own CPU time (user + system), in seconds: the readers share
# the two cores, so the write rate alone also pays for them.
cpu() { awk -v tck="$(getconf CLK_TCK)" '{print ($14 + $15) / tck}' "/proc/$revokd/stat"; }

writes() { # label -> "label rate cpu-µs-per-write"
    local out rate before after
    before=$(cpu)
    out=$(wrk -t1 -c8 -d"${seconds}s" --latency -s "$work/revoke.lua" "$url")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$out" >&2
        echo "writes failed" >&2
        exit 1
    fi
    after=$(cpu)
    rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    echo "$1 $rate $(python3 -c "print(($after - $before) * 1e6 / ($rate * $seconds))")"
}

read -r _ baseline base_cpu <<<"$(writes none)"

# N readers: each opens /v1/events and reads until told to stop. The
# script prints "ready" once every stream has its 200 and hello.
python3 - "$port" "$client" "$streams" "$((seconds * 3 + 30))" >"$work/readers.log" 2>&1 <<'PY' &
import asyncio, sys
port, key, n, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
async def reader(ready):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    ready.release()
    while await r.read(65536):
        pass
async def main():
    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(reader(ready)) for _ in range(n)]
    for _ in range(n):
        await asyncio.wait_for(ready.acquire(), 60)
    print("ready", flush=True)
    await asyncio.sleep(limit)
    for t in tasks:
        t.cancel()
asyncio.run(main())
PY
pids+=($!)
for _ in $(seq 1200); do
    grep -q ready "$work/readers.log" && break
    if grep -q Error "$work/readers.log"; then cat "$work/readers.log" >&2; exit 1; fi
    sleep 0.05
done
grep -q ready "$work/readers.log" || { echo "the streams did not open" >&2; cat "$work/readers.log" >&2; exit 1; }

read -r _ loaded loaded_cpu <<<"$(writes with)"

echo
echo "| open /v1/events streams | writes/s | vs. none | revokd CPU per write |"
echo "|---|---|---|---|"
printf '| 0 (baseline) | %.0f | 1.00 | %.0f µs |\n' "$baseline" "$base_cpu"
printf '| %d | %.0f | %.2f | %.0f µs |\n' "$streams" "$loaded" \
    "$(python3 -c "print($loaded / $baseline)")" "$loaded_cpu"
printf 'revokd CPU per stream per event: %.2f µs\n' \
    "$(python3 -c "print(($loaded_cpu - $base_cpu) / $streams)")"
