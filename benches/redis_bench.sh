# Shared by the shell benchmarks that run revokd on a Redis of their own
# (check_load.sh, startup_load.sh, live_set_load.sh): sourced, not run.
#
# Gives: $work (a temporary directory) and $pids (processes to stop), both
# cleaned up on exit; need, free_port, wait_ready, build_release (sets
# $bin), start_redis (sets $redis_port) and write_token_revocations.

need() { # tool...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
    done
}

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { # url [seconds, default 30]
    for _ in $(seq $((${2:-30} * 20))); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/readyz") == 200 ]] && return 0
        sleep 0.05
    done
    echo "$1 never became ready" >&2; exit 2
}

build_release() { # sets $bin
    echo "== cargo build --release" >&2
    cargo build --release --quiet
    local target
    target=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    bin="$target/release/revokd"
}

start_redis() { # sets $redis_port
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$work" >"$work/redis.log" 2>&1 &
    pids+=($!)
    until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
}

# Writes N token revocations `tok:<name>-<hex i>` (expiring in a day)
# straight into the Redis of start_redis with `redis-cli --pipe`, as
# revokd's scripts store them: the key with its value and `EXAT`, and its
# field in its bucket of the snapshot index, which is marked complete.
write_token_revocations() { # N name
    echo "== writing $1 token revocations into Redis" >&2
    python3 - "$1" "$2" "$(($(date +%s) + 86400))" <<'PY' | redis-cli -p "$redis_port" --pipe >&2
import hashlib, sys
n, name, exp = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
out = sys.stdout.buffer
def cmd(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
for i in range(n):
    field = b"tok:%s-%024x" % (name, i)
    cmd(b"SET", b"revokd:" + field, exp, b"EXAT", exp)
    bucket = hashlib.sha1(field).hexdigest()[:4].encode()
    cmd(b"HSET", b"revokd:mirror:" + bucket, field, exp)
cmd(b"HSET", b"revokd:mirror", b"complete", b"0")
PY
}
