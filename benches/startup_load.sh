#!/usr/bin/env bash
# How long a new instance takes to load N revocations from Redis before it
# is ready: once from the snapshot index (`{prefix}mirror:*`, what every
# write keeps current) and once without it (the one-time `SCAN` that builds
# the index for data older than it), in one run on this machine.
#
# Writes N token revocations straight into Redis with `redis-cli --pipe`,
# as revokd's scripts store them: the key with its value and `EXAT`, and its
# field in its bucket of the index. Then starts revokd (release build) with the mirror and
# times start to a 200 from /readyz, which revokd answers only once the
# mirror is loaded; prints the mirror's entries and bytes from /metrics.
# Everything binds 127.0.0.1 and stops when the script ends.
#
# Usage: benches/startup_load.sh [N, default 10000000]
#        SCAN=0 skips the second instance (the build takes ~14 µs per fact)
#        (needs redis-server, redis-cli, curl, python3; about 4 GB of memory
#        for 10M: Redis holds each fact twice)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}

source benches/redis_bench.sh
need redis-server redis-cli curl python3
build_release
start_redis
write_token_revocations "$n" big
echo "redis used_memory: $(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory_human/ { print $2 }' | tr -d '\r')" >&2

# Starts revokd on the Redis store, waits for /readyz, prints the seconds.
time_to_ready() {
    local port; port=$(free_port)
    local started; started=$(date +%s.%N)
    REVOKD_LISTEN="127.0.0.1:$port" REVOKD_STORE=redis \
    REVOKD_REDIS__URL="redis://127.0.0.1:$redis_port" REVOKD_LOG__FILTER=warn \
    REVOKD_CHECK__SOURCE=mirror "$bin" >>"$work/revokd.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]; do
        kill -0 "$pid" 2>/dev/null || { echo "revokd exited; see its log:" >&2; cat "$work/revokd.log" >&2; exit 2; }
        sleep 0.05
    done
    local ended; ended=$(date +%s.%N)
    awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }'
    curl -s "http://127.0.0.1:$port/metrics" |
        grep -E '^revokd_mirror_(entries\{kind="token"\}|bytes)' | tr '\n' ' ' >&2
    echo >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "== a new instance, from the snapshot index" >&2
indexed=$(time_to_ready)
if [[ ${SCAN:-1} == 0 ]]; then
    echo
    echo "$n revocations loaded from the snapshot index and ready after $indexed s"
    exit 0
fi
echo "== a new instance, without a complete index (SCAN, builds it)" >&2
redis-cli -p "$redis_port" hdel revokd:mirror complete >/dev/null
scanned=$(time_to_ready)

echo
echo "| $n revocations in Redis | ready after |"
echo "|---|---|"
echo "| from the snapshot index (HGETALL of its buckets) | $indexed s |"
echo "| without it (SCAN + GET, builds the index) | $scanned s |"
echo
echo "index / scan: $(awk -v a="$indexed" -v b="$scanned" 'BEGIN { printf "%.2f", a / b }')"
