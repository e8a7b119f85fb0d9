#!/usr/bin/env bash
# A flame graph of revokd answering one route under load: one release
# instance on the in-memory mirror (Redis on loopback), 1000 ids of which
# the odd ones are revoked, wrk -t2 -c64 for the recording, and
# `perf record --call-graph dwarf` on revokd's process meanwhile. The
# requests are those of benches/check_load.sh for the same row.
#
# Usage: benches/check_profile.sh <out.svg> [seconds, default 8] [route, default check]
#   route: check | forward-ha (home-assistant profile) | forward-hs (jwt,
#   HS256) | forward-rs (jwt, RS256) | introspect (home-assistant tokens)
#   BIN=/path/to/revokd to profile another build (e.g. a copy of the one
#   before a change).
# Writes <out.svg> and <out>.folded (the folded stacks) and prints the
# heaviest frames' inclusive shares.
# Needs: perf (Debian: linux-perf), inferno (`cargo install inferno`:
# inferno-collapse-perf, inferno-flamegraph), redis-server, wrk, curl,
# python3, openssl.
set -euo pipefail
out=$(realpath -m "$1")
seconds=${2:-8}
route=${3:-check}
cd "$(dirname "$0")/.."
source benches/redis_bench.sh
need perf inferno-collapse-perf inferno-flamegraph redis-server wrk curl python3 openssl
case $route in
check | forward-ha | forward-hs | forward-rs | introspect) ;;
*) echo "unknown route $route" >&2; exit 2 ;;
esac
if [[ -n ${BIN:-} ]]; then bin=$BIN; else build_release; fi
start_redis
admin="bench-admin-key-0123456789"
client="bench-client-key-0123456789"
issuer="https://app.bench"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/hs256.key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
python3 - "$work/rsa.pem" >"$work/jwks.json" <<'PY'
import base64, json, subprocess, sys
out = subprocess.run(["openssl", "rsa", "-in", sys.argv[1], "-noout", "-modulus"],
                     capture_output=True, text=True, check=True).stdout
n = bytes.fromhex(out.strip().split("=", 1)[1])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
                            "n": b64(n), "e": "AQAB"}]}))
PY
{
    echo "store = \"redis\""
    echo "[redis]"; echo "url = \"redis://127.0.0.1:$redis_port\""
    echo "[log]"; echo "filter = \"warn\""
    echo "[http]"; echo "workers = $(nproc)"
    echo "[check]"; echo "source = \"mirror\""
    echo "[[keys]]"; echo "name = \"bench\""; echo "role = \"admin\""; echo "key = \"$admin\""
    echo "[[keys]]"; echo "name = \"load\""; echo "role = \"client\""; echo "key = \"$client\""
    if [[ $route == forward-rs ]]; then
        echo "[forward_auth.jwt]"; echo "jwks_file = \"$work/jwks.json\""; echo "issuer = \"$issuer\""
    else
        echo "[forward_auth]"; echo 'routes = [{prefix = "/api/", profile = "home-assistant"}]'
        echo "[forward_auth.jwt]"; echo "hmac_secret_file = \"$work/hs256.key\""; echo "issuer = \"$issuer\""
    fi
} >"$work/revokd.toml"
port=$(free_port)
REVOKD_LISTEN="127.0.0.1:$port" "$bin" --config "$work/revokd.toml" >>"$work/revokd.log" 2>&1 &
revokd_pid=$!
pids+=("$revokd_pid")
base="http://127.0.0.1:$port"
wait_ready "$base"
for i in $(seq 1 2 1000); do
    printf '{"jti":"%032x"}' "$i" | curl -fsS -o /dev/null -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' --data-binary @- "$base/v1/admin/tokens/revoke"
done
# The tokens of check_load.sh: ids as Home Assistant tokens (`iss`) and as
# jwt tokens (`jti`) signed HS256 and RS256.
python3 - "$work" "$issuer" "$(date +%s)" "$route" <<'PY'
import base64, hashlib, hmac, json, subprocess, sys
work, issuer, now, route = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
part = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
secret = open(f"{work}/hs256.key", "rb").read().strip()
ids = ["%032x" % i for i in range(1, 1001)]
tokens = []
for i, id in enumerate(ids):
    claims = part({"iss": issuer, "sub": "user-%d" % i, "jti": id, "iat": now, "exp": now + 3600})
    if route in ("forward-ha", "introspect"):
        tokens.append(part({"alg": "HS256", "typ": "JWT"}) + "." +
                      part({"iss": id, "iat": now, "exp": now + 3600}) + ".c2ln")
    elif route == "forward-hs":
        head = part({"alg": "HS256", "typ": "JWT"}) + "." + claims
        tokens.append(head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest()))
    elif route == "forward-rs":
        head = part({"alg": "RS256", "typ": "JWT", "kid": "bench"}) + "." + claims
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{work}/rsa.pem"],
                             input=head.encode(), capture_output=True, check=True).stdout
        tokens.append(head + "." + b64(sig))
with open(f"{work}/data.lua", "w") as lua:
    lua.write("ids = {\n" + "".join('  "%s",\n' % v for v in ids) + "}\n")
    lua.write("tokens = {\n" + "".join('  "%s",\n' % v for v in tokens) + "}\n")
PY
{
    cat "$work/data.lua"
    cat <<LUA
math.randomseed(os.time())
local key, route = "$client", "$route"
request = function()
  local i = math.random(#ids)
  if route == "check" then
    return wrk.format("GET", "/v1/check?jti=" .. ids[i], { ["Authorization"] = "Bearer " .. key })
  elseif route == "introspect" then
    return wrk.format("POST", "/v1/introspect", {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/x-www-form-urlencoded" },
      "profile=home-assistant&token=" .. tokens[i])
  else
    local uri = "/app/data"
    if route == "forward-ha" then uri = "/api/states" end
    return wrk.format("GET", "/v1/forward-auth", {
      ["Authorization"] = "Bearer " .. tokens[i], ["X-Revokd-Key"] = key,
      ["X-Original-URI"] = uri })
  end
end
LUA
} >"$work/load.lua"
path=/v1/check
[[ $route == introspect ]] && path=/v1/introspect
[[ $route == forward-* ]] && path=/v1/forward-auth
wrk -t2 -c64 -d$((seconds + 4))s --latency -s "$work/load.lua" "$base$path" >"$work/wrk.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 2
perf record -F 499 --call-graph dwarf,16384 -p "$revokd_pid" -o "$work/perf.data" -- sleep "$seconds" \
    2>"$work/perf.err" >/dev/null
wait "$wrk_pid" || true
grep -E 'Requests/sec|Non-2xx' "$work/wrk.txt"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/folded"
inferno-flamegraph --title "revokd $route ($path) under wrk -t2 -c64" <"$work/folded" >"$out"
cp "$work/folded" "${out%.svg}.folded"
benches/profile_shares.py "$work/folded"
echo "flame graph: $out"
