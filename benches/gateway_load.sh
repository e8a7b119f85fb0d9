#!/usr/bin/env bash
# What revokd costs a reverse proxy: nginx serving a trivial upstream, once
# straight and once through `auth_request` to revokd, under the same wrk
# load, in one run on this machine, interleaved over several rounds.
#
# Starts (all on 127.0.0.1, all stopped on exit, however it exits):
#   revokd (release build), embedded store in a temporary directory, a
#     client key for nginx, forward_auth.profile = "jwt";
#   nginx, with three server blocks: the upstream (`return 200`), a plain
#     proxy to it, and the same proxy guarded by deploy/nginx/revokd-auth.conf
#     (the file users copy) asking revokd at $AUTH_URI.
# Revokes 2 of 16 JWTs through the admin API, then runs wrk ($THREADS
# threads, $CONNECTIONS connections, $DURATION each, a random token per
# request) against both proxies, in $ROUNDS rounds: each round runs both
# proxies once (direct first in odd rounds, guarded first in even ones),
# and the ratio guarded / direct is taken within a round, so a machine
# that gets busier or quieter during the run moves both sides of it.
# Prints each round, then the median over the rounds of requests/s,
# p50/p99 latency and of the per-round ratio, and the load average before
# and after. Revoked tokens are answered 401 by the guarded proxy: they
# show as non-2xx and count as requests served.
#
# Exits 2 when the guarded proxy does not refuse a revoked token or does not
# pass an active one (with the default AUTH_URI): numbers from a broken
# guard would mean nothing.
#
# Usage: benches/gateway_load.sh [seconds per run, default 10] [rounds, default 3]
#        (from anywhere)
#   AUTH_URI=/healthz benches/gateway_load.sh   # the wiring alone, any revokd
# Environment: AUTH_URI (/v1/forward-auth), THREADS (2), CONNECTIONS (64),
# WARMUP (2s), BIN (a revokd binary to use instead of building one),
# NGINX_WORKERS (auto, Debian's default; with 1, nginx gets a
# single core in both runs and leaves more to revokd).
set -euo pipefail
cd "$(dirname "$0")/.."

AUTH_URI=${AUTH_URI:-/v1/forward-auth}
DURATION=${1:-10}s
ROUNDS=${2:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2s}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
ADMIN_KEY=bench-admin-key-0123456789abcdef
GATEWAY_KEY=bench-gateway-key-0123456789abcdef
TOKENS=16
REVOKED=2

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

for tool in nginx wrk curl openssl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is required (see .ci/run)" >&2; exit 2; }
done

work=$(mktemp -d -t revokd-gateway-bench-XXXXXX)
revokd_pid=
nginx_pid=
# Stops what this script started, by pid, and removes its files.
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $nginx_pid ]]; then
        # SIGTERM: nginx's fast shutdown, which stops its workers too.
        kill -TERM "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    if [[ -n $revokd_pid ]]; then
        kill -TERM "$revokd_pid" 2>/dev/null || true
        wait "$revokd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nothing on 127.0.0.1 answers on, below the kernel's ephemeral
# range, where no client socket (of wrk, or of nginx to its upstreams) can
# hold it. A race with other programs remains: nginx is then restarted on
# new ports.
free_port() {
    local low port
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    for _ in $(seq 200); do
        port=$((10000 + RANDOM % (low - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    return 1
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# An HS256 JWT for token id $1 (the jwt profile reads it; signature
# checking is not configured here, so the key is arbitrary).
make_jwt() {
    local now header payload signature
    now=$(date +%s)
    header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
    payload=$(printf '{"iss":"https://bench.example","sub":"user-%s","jti":"%s","iat":%d,"exp":%d}' \
        "$1" "$1" "$now" $((now + 3600)) | b64url)
    signature=$(printf '%s.%s' "$header" "$payload" |
        openssl dgst -sha256 -hmac bench-secret-0123456789abcdef0123456789 -binary | b64url)
    printf '%s.%s.%s' "$header" "$payload" "$signature"
}

if [[ -n ${BIN:-} ]]; then
    revokd_bin=$BIN
else
    echo "== cargo build --release --bin revokd"
    cargo build --release --locked --bin revokd
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    revokd_bin="$target_dir/release/revokd"
fi

echo "== revokd"
revokd_env=(
    REVOKD_LISTEN=127.0.0.1:0
    REVOKD_LOG__FORMAT=json
    REVOKD_EMBEDDED__PATH="$work/data"
    REVOKD_KEYS="[{name=\"bench-admin\", role=\"admin\", key=\"$ADMIN_KEY\"}, {name=\"nginx\", role=\"client\", key=\"$GATEWAY_KEY\"}]"
)
revokd_env+=(REVOKD_FORWARD_AUTH__PROFILE=jwt REVOKD_FORWARD_AUTH__REQUIRE_CLIENT_KEY=true)
env -i PATH="$PATH" "${revokd_env[@]}" "$revokd_bin" >"$work/revokd.log" 2>&1 &
revokd_pid=$!
revokd_port=
for _ in $(seq 200); do
    revokd_port=$(sed -n 's/.*"message":"revokd listening[^"]*".*"port":\([0-9]*\).*/\1/p' "$work/revokd.log" | head -n 1)
    [[ -n $revokd_port ]] && break
    kill -0 "$revokd_pid" 2>/dev/null || { cat "$work/revokd.log" >&2; exit 1; }
    sleep 0.05
done
[[ -n $revokd_port ]] || { echo "revokd did not start" >&2; cat "$work/revokd.log" >&2; exit 1; }
revokd="http://127.0.0.1:$revokd_port"
echo "revokd on $revokd"

echo "== tokens: $TOKENS, revoking $REVOKED"
tokens=()
for i in $(seq 1 "$TOKENS"); do
    tokens+=("$(make_jwt "bench-token-$i")")
done
for i in $(seq 1 "$REVOKED"); do
    curl -sS --fail-with-body -o /dev/null \
        -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
        -d "{\"jti\": \"bench-token-$i\", \"reason\": \"gateway bench\"}" \
        "$revokd/v1/admin/tokens/revoke"
done
{
    echo 'tokens = {'
    for token in "${tokens[@]}"; do echo "  \"$token\","; done
    echo '}'
    cat <<'LUA'
math.randomseed(os.time())
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/states", { ["Authorization"] = "Bearer " .. token })
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status, errors))
end
LUA
} >"$work/tokens.lua"

echo "== nginx"
mkdir -p "$work/snippets" "$work/temp"
sed -e "s|{{KEY}}|$GATEWAY_KEY|" -e "s|/v1/forward-auth|$AUTH_URI|" \
    deploy/nginx/revokd-auth.conf >"$work/snippets/revokd-auth.conf"
# As root, workers would run as `nobody`, who cannot enter $work (0700).
user_line=
if [[ $EUID -eq 0 ]]; then user_line="user root;"; fi
# Writes nginx.conf for three fresh ports and starts nginx; fails when
# nginx exits (a port was taken) or does not answer.
start_nginx() {
    upstream_port=$(free_port)
    plain_port=$(free_port)
    guarded_port=$(free_port)
    cat >"$work/nginx.conf" <<EOF
$user_line
worker_processes $NGINX_WORKERS;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/temp/client_body;
    proxy_temp_path $work/temp/proxy;
    fastcgi_temp_path $work/temp/fastcgi;
    uwsgi_temp_path $work/temp/uwsgi;
    scgi_temp_path $work/temp/scgi;
    keepalive_requests 1000000;

    upstream app { server 127.0.0.1:$upstream_port; keepalive 64; }
    upstream revokd { server 127.0.0.1:$revokd_port; keepalive 64; }

    # The upstream: as trivial as an app can be.
    server {
        listen 127.0.0.1:$upstream_port;
        location / { return 200 "ok\n"; }
    }
    # Without auth.
    server {
        listen 127.0.0.1:$plain_port;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    # With auth: the same, plus the shipped snippet.
    server {
        listen 127.0.0.1:$guarded_port;
        include snippets/revokd-auth.conf;
        location / {
            auth_request /_revokd/auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' \
        2>>"$work/nginx-error.log" &
    nginx_pid=$!
    for _ in $(seq 100); do
        kill -0 "$nginx_pid" 2>/dev/null || { wait "$nginx_pid" || true; nginx_pid=; return 1; }
        if curl -s -o /dev/null "http://127.0.0.1:$plain_port/" &&
            curl -s -o /dev/null "http://127.0.0.1:$guarded_port/"; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}
for attempt in 1 2 3 4 5; do
    if start_nginx; then break; fi
    if ((attempt == 5)) || ! grep -q 'Address already in use' "$work/nginx-error.log"; then
        cat "$work/nginx-error.log" >&2
        exit 1
    fi
    : >"$work/nginx-error.log"
done

status_of() {
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "http://127.0.0.1:$1/api/states"
}
active_status=$(status_of "$guarded_port" "${tokens[$REVOKED]}")
revoked_status=$(status_of "$guarded_port" "${tokens[0]}")
plain_status=$(status_of "$plain_port" "${tokens[0]}")
echo "guarded proxy: active token $active_status, revoked token $revoked_status; plain proxy: $plain_status"
if [[ $AUTH_URI == /v1/forward-auth && ($active_status != 200 || $revoked_status != 401) ]]; then
    echo "the guarded proxy does not tell active from revoked tokens: no numbers" >&2
    exit 2
fi

# Runs wrk against port $1 and prints its RESULT line.
load() {
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$work/tokens.lua" "http://127.0.0.1:$1/" >/dev/null
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -s "$work/tokens.lua" \
        "http://127.0.0.1:$1/" | tee "$work/wrk-$1.txt" | grep '^RESULT'
}
# results: "round kind rps p50ms p99ms requests non2xx errors" lines
: >"$work/results"
for round in $(seq 1 "$ROUNDS"); do
    order=("direct $plain_port" "guarded $guarded_port")
    if ((round % 2 == 0)); then order=("guarded $guarded_port" "direct $plain_port"); fi
    for entry in "${order[@]}"; do
        read -r kind port <<<"$entry"
        echo "== round $round/$ROUNDS: $kind (nginx worker_processes $NGINX_WORKERS; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; auth $AUTH_URI)"
        result=$(load "$port")
        echo "$result"
        echo "$round $kind ${result#RESULT }" >>"$work/results"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
python3 - "$work/results" "$ROUNDS" "$AUTH_URI" <<'PY'
import statistics, sys
path, rounds, uri = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {}
for line in open(path):
    r, kind, rps, p50, p99, _requests, non2xx, errors = line.split()
    runs[(int(r), kind)] = (float(rps), float(p50), float(p99), int(non2xx), int(errors))
med = statistics.median
ks = range(1, rounds + 1)
print("| nginx -> upstream | requests/s (median of %d) | p50 | p99 | non-2xx (all rounds) | socket errors (all rounds) |" % rounds)
print("|---|---|---|---|---|---|")
for kind, label in [("direct", "direct (baseline)"), ("guarded", "auth_request to revokd " + uri)]:
    print("| %s | %.0f | %.2f ms | %.2f ms | %d | %d |" % (
        label, med([runs[(k, kind)][0] for k in ks]), med([runs[(k, kind)][1] for k in ks]),
        med([runs[(k, kind)][2] for k in ks]), sum(runs[(k, kind)][3] for k in ks),
        sum(runs[(k, kind)][4] for k in ks)))
ratios = [runs[(k, "guarded")][0] / runs[(k, "direct")][0] for k in ks]
print("\nratio with / without auth_request, per round: " + ", ".join("%.2f" % r for r in ratios))
print("median ratio with / without auth_request: %.2f (requests/s)" % med(ratios))
PY
echo "load average (1, 5, 15 min): before $load_before, after $load_after"
