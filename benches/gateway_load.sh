#!/usr/bin/env bash
# Requests per second through nginx with and without `auth_request` to
# revokd's /v1/forward-auth, in one run on this machine, and their ratio.
#
# One nginx serves three things: a trivial upstream (`return 200`, the
# fairest stand-in: no application time hides the gateway's cost), a server
# that proxies /api/ straight to it, and one that asks revokd first, wired as
# deploy/nginx/home-assistant.conf is. revokd runs from the release build on
# the embedded store with the home-assistant profile; 10 of the 100 Home
# Assistant-shaped tokens the load picks from are revoked. Everything binds
# 127.0.0.1 and stops when the script ends.
#
# Usage: benches/gateway_load.sh [seconds per run, default 10]
#        (needs nginx and wrk: apt-get install nginx-light wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=64
threads=2

for tool in nginx wrk curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2; exit 2
}

echo "== cargo build --release"
cargo build --release --quiet
bin=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/revokd

admin="bench-admin-key-0123456789"
client="bench-client-key-0123456789"
revokd_port=$(free_port)
REVOKD_LISTEN="127.0.0.1:$revokd_port" \
REVOKD_EMBEDDED__PATH="$work/data" \
REVOKD_LOG__FILTER=warn \
REVOKD_FORWARD_AUTH__PROFILE=home-assistant \
REVOKD_KEYS="[{name=\"bench\", role=\"admin\", key=\"$admin\"}, {name=\"nginx\", role=\"client\", key=\"$client\"}]" \
    "$bin" >"$work/revokd.log" 2>&1 &
pids+=($!)
wait_port "$revokd_port"

upstream_port=$(free_port)
direct_port=$(free_port)
guarded_port=$(free_port)
user=""; [[ $(id -u) == 0 ]] && user="user root;"
cat >"$work/nginx.conf" <<CONF
$user
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/body; proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
    upstream app { server 127.0.0.1:$upstream_port; keepalive 64; }
    upstream revokd { server 127.0.0.1:$revokd_port; keepalive 64; }
    server {
        listen 127.0.0.1:$upstream_port;
        location / { return 200 '{"ok":true}'; }
    }
    server {
        listen 127.0.0.1:$direct_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /api/ { proxy_pass http://app; }
    }
    server {
        listen 127.0.0.1:$guarded_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /api/ {
            auth_request /_revokd;
            proxy_pass http://app;
        }
        location = /_revokd {
            internal;
            proxy_pass http://revokd/v1/forward-auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Revokd-Key "$client";
        }
    }
}
CONF
nginx -p "$work" -e "$work/error.log" -c "$work/nginx.conf" &
pids+=($!)
wait_port "$guarded_port"

# 100 Home Assistant-shaped access tokens (claims iss = refresh-token id,
# iat, exp; signed with a key revokd never sees); the first 10 revoked.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
now=$(date +%s)
{
    echo "tokens = {"
    for i in $(seq 1 100); do
        id=$(printf 'refresh-%04d' "$i")
        payload=$(printf '{"iss":"%s","iat":%d,"exp":%d}' "$id" "$now" $((now + 3600)) | b64url)
        sig=$(printf '%s' "$id" | openssl dgst -sha256 -binary | b64url)
        echo "  \"$header.$payload.$sig\","
        if ((i <= 10)); then
            curl -fsS -o /dev/null -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
                -d "{\"jti\":\"$id\"}" "http://127.0.0.1:$revokd_port/v1/admin/tokens/revoke"
        fi
    done
    echo "}"
    cat <<'LUA'
math.randomseed(os.time())
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/states", { ["Authorization"] = "Bearer " .. token })
end
LUA
} >"$work/tokens.lua"

# Sanity: the guard refuses a revoked token and passes an active one.
revoked=$(sed -n '2p' "$work/tokens.lua" | tr -d ' ",')
active=$(sed -n '100p' "$work/tokens.lua" | tr -d ' ",')
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $revoked" "http://127.0.0.1:$guarded_port/api/states") == 401 ]] ||
    { echo "the guarded server does not refuse a revoked token" >&2; exit 2; }
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $active" "http://127.0.0.1:$guarded_port/api/states") == 200 ]] ||
    { echo "the guarded server does not pass an active token" >&2; exit 2; }

run() { # port label
    echo "== $2: wrk -t$threads -c$connections -d${duration}s --latency" >&2
    wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$work/tokens.lua" \
        "http://127.0.0.1:$1/api/states" >"$work/$2.txt"
    cat "$work/$2.txt" >&2
    local rps p50 p99
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/$2.txt")
    p50=$(awk '$1 == "50%" { print $2 }' "$work/$2.txt")
    p99=$(awk '$1 == "99%" { print $2 }' "$work/$2.txt")
    echo "$rps $p50 $p99"
}

read -r direct_rps direct_p50 direct_p99 < <(run "$direct_port" direct)
read -r guarded_rps guarded_p50 guarded_p99 < <(run "$guarded_port" guarded)
ratio=$(awk -v a="$guarded_rps" -v b="$direct_rps" 'BEGIN { printf "%.2f", a / b }')

echo
echo "| nginx → upstream | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| direct (baseline) | $direct_rps | $direct_p50 | $direct_p99 |"
echo "| with auth_request to revokd | $guarded_rps | $guarded_p50 | $guarded_p99 |"
echo
echo "ratio with / without auth_request: $ratio"
