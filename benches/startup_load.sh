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
#        BIN=path times that revokd instead of a release build of this tree
#        OLD_BIN=path also times a second revokd on the same Redis (written
#          once), the two alternated ROUNDS times each (default 3; 1
#          without OLD_BIN), and prints the medians side by side
#        Besides the wall time to ready, each run reports revokd's CPU time
#        up to ready (user + system, from /proc/<pid>/stat), which other
#        work on a shared machine disturbs far less.
#        PERF_DIR=dir: afterwards one more run of each binary under
#          `perf record -F 499 -g` (dir/new.data, dir/old.data), not timed
#        (needs redis-server, redis-cli, curl, python3; about 4 GB of memory
#        for 10M: Redis holds each fact twice)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}

source benches/redis_bench.sh
need redis-server redis-cli curl python3
if [[ -n ${BIN:-} ]]; then bin=$BIN; else build_release; fi
old_bin=${OLD_BIN:-}
rounds=${ROUNDS:-$([[ -n $old_bin ]] && echo 3 || echo 1)}
start_redis
write_token_revocations "$n" big
echo "redis used_memory: $(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory_human/ { print $2 }' | tr -d '\r')" >&2
ticks=$(getconf CLK_TCK)

# Starts revokd ($1) on the Redis store, waits for /readyz, prints the
# seconds to ready and its CPU seconds (user + system) up to then.
time_to_ready() {
    local bin=$1 port; port=$(free_port)
    local started; started=$(date +%s.%N)
    REVOKD_LISTEN="127.0.0.1:$port" REVOKD_STORE=redis \
    REVOKD_REDIS__URL="redis://127.0.0.1:$redis_port" REVOKD_LOG__FILTER=warn \
    REVOKD_CHECK__SOURCE=mirror ${perf_data:+perf record -F 499 -g -o "$perf_data" --} "$bin" >>"$work/revokd.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]; do
        kill -0 "$pid" 2>/dev/null || { echo "revokd exited; see its log:" >&2; cat "$work/revokd.log" >&2; exit 2; }
        sleep 0.05
    done
    local ended; ended=$(date +%s.%N)
    # utime and stime: fields 14 and 15, 12 and 13 after "pid (comm)".
    local cpu; cpu=$(sed 's/^.*) //' "/proc/$pid/stat" | awk -v t="$ticks" '{ printf "%.1f", ($12 + $13) / t }')
    awk -v a="$started" -v b="$ended" -v c="$cpu" 'BEGIN { printf "%.1f %s\n", b - a, c }'
    curl -s "http://127.0.0.1:$port/metrics" |
        grep -E '^revokd_mirror_(entries\{kind="token"\}|bytes)' | tr '\n' ' ' >&2
    echo >&2
    # Under perf, $pid is perf's: stop revokd, its child, and perf writes.
    if [[ -n ${perf_data:-} ]]; then kill $(cat "/proc/$pid/task/$pid/children"); else kill "$pid"; fi
    wait "$pid" 2>/dev/null || true
}

median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

new_wall=() new_cpu=() old_wall=() old_cpu=()
for round in $(seq "$rounds"); do
    echo "== round $round: a new instance, from the snapshot index ($bin)" >&2
    time_to_ready "$bin" >"$work/run"; read -r wall cpu <"$work/run"
    echo "   ready after $wall s, $cpu s of CPU" >&2
    new_wall+=("$wall") new_cpu+=("$cpu")
    if [[ -n $old_bin ]]; then
        echo "== round $round: the same with OLD_BIN ($old_bin)" >&2
        time_to_ready "$old_bin" >"$work/run"; read -r wall cpu <"$work/run"
        echo "   ready after $wall s, $cpu s of CPU" >&2
        old_wall+=("$wall") old_cpu+=("$cpu")
    fi
done
if [[ -n ${PERF_DIR:-} ]]; then
    need perf
    mkdir -p "$PERF_DIR"
    echo "== under perf record: $bin" >&2
    perf_data="$PERF_DIR/new.data" time_to_ready "$bin" >/dev/null
    if [[ -n $old_bin ]]; then
        echo "== under perf record: $old_bin" >&2
        perf_data="$PERF_DIR/old.data" time_to_ready "$old_bin" >/dev/null
    fi
fi
indexed=$(echo "${new_wall[*]}" | median)
indexed_cpu=$(echo "${new_cpu[*]}" | median)

if [[ -n $old_bin ]]; then
    echo
    echo "| $n revocations, from the snapshot index ($rounds runs each, alternated) | ready after | median | CPU (user + sys) | median |"
    echo "|---|---|---|---|---|"
    echo "| OLD_BIN | ${old_wall[*]} s | $(echo "${old_wall[*]}" | median) s | ${old_cpu[*]} s | $(echo "${old_cpu[*]}" | median) s |"
    echo "| BIN | ${new_wall[*]} s | $indexed s | ${new_cpu[*]} s | $indexed_cpu s |"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
if [[ ${SCAN:-1} == 0 ]]; then
    echo
    echo "$n revocations loaded from the snapshot index and ready after $indexed s ($indexed_cpu s of CPU)"
    exit 0
fi
echo "== a new instance, without a complete index (SCAN, builds it)" >&2
redis-cli -p "$redis_port" hdel revokd:mirror complete >/dev/null
time_to_ready "$bin" >"$work/run"; read -r scanned scanned_cpu <"$work/run"

echo
echo "| $n revocations in Redis | ready after | CPU (user + sys) |"
echo "|---|---|---|"
echo "| from the snapshot index (HGETALL of its buckets) | $indexed s | $indexed_cpu s |"
echo "| without it (SCAN + GET, builds the index) | $scanned s | $scanned_cpu s |"
echo
echo "index / scan: $(awk -v a="$indexed" -v b="$scanned" 'BEGIN { printf "%.2f", a / b }')"
