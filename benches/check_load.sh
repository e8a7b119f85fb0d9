#!/usr/bin/env bash
# The check path under HTTP load, every row as a ratio to a bare actix-web
# server doing the same look-up (examples/bare_check.rs: no middleware, no
# authentication, no logging, no metrics), all measured in one run and
# interleaved: each round runs every row once, in order, and the table
# shows the median over the rounds of each row's requests/s and of its
# ratio to the bare server *in the same round* (so a machine that gets
# busier or quieter during the run moves both sides of a ratio).
#
#   bare                       examples/bare_check.rs, same worker count
#   /healthz                   a trivial route of revokd: its per-request floor
#   /v1/check                  the in-memory mirror, with a client key
#   /v1/forward-auth ...       home-assistant profile; jwt profile verified
#                              with HS256 (a secret) and RS256 (a JWK Set);
#                              half the tokens revoked (answered 401)
#   /v1/introspect             home-assistant tokens, half revoked
#   /v1/check naive            check.source = "store": Redis per request
#
# then the in-process cost of the same token work (benches/gate_verify.rs:
# Gate::identify, one thread), the ratio of each forward-auth row to it,
# and the propagation between two instances on one Redis.
# wrk: 2 threads, 64 connections, ids drawn at random from 1000, half
# revoked. Everything binds 127.0.0.1 and stops when the script ends. The
# load average before and after the run is printed with the table: ratios
# hold up under load better than absolute numbers, but not perfectly.
#
# Usage: benches/check_load.sh [seconds per run, default 10] [rounds, default 3]
#        (needs redis-server, wrk, curl, python3, openssl)
# Environment: OLD_BIN=<a revokd binary> adds its /healthz, /v1/check,
# forward-auth and introspect rows to the same rounds (before and after a
# change, in one run);
# PROPAGATION=0 skips the propagation measurement (which builds
# benches/propagation.rs); BIN, BARE_BIN and VERIFY_BIN (all three: the
# revokd, examples/bare_check and benches/gate_verify executables) skip the
# build and run those.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rounds=${2:-3}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

source benches/redis_bench.sh
need redis-server redis-cli wrk curl python3 openssl
# One build of the three, so that they share one feature set (a bench or
# an example turns dev-dependency features on; building revokd alone
# after them would build it again).
if [[ -n ${BIN:-} && -n ${BARE_BIN:-} && -n ${VERIFY_BIN:-} ]]; then
    bin=$BIN bare_bin=$BARE_BIN verify_bin=$VERIFY_BIN
else
    echo "== cargo build --release --bin revokd --example bare_check --bench gate_verify" >&2
    executables=$(cargo build --release --quiet --bin revokd --example bare_check --bench gate_verify \
        --message-format=json | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
    bin=$(grep '/revokd$' <<<"$executables")
    bare_bin=$(grep '/bare_check$' <<<"$executables")
    verify_bin=$(grep '/gate_verify-' <<<"$executables")
fi
workers=$(nproc)
start_redis

admin="bench-admin-key-0123456789"
client="bench-client-key-0123456789"
issuer="https://app.bench"

# Keys for the jwt profile: an HS256 secret, an RSA key as a JWK Set.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/hs256.key"
chmod 600 "$work/hs256.key"
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

config() { # source, then TOML lines -> a configuration file's path
    local file="$work/revokd-$RANDOM$RANDOM.toml" source=$1; shift
    {
        echo "store = \"redis\""
        echo "[redis]"; echo "url = \"redis://127.0.0.1:$redis_port\""
        echo "[log]"; echo "filter = \"warn\""
        echo "[http]"; echo "workers = $workers"
        echo "[check]"; echo "source = \"$source\""
        echo "[[keys]]"; echo "name = \"bench\""; echo "role = \"admin\""; echo "key = \"$admin\""
        echo "[[keys]]"; echo "name = \"load\""; echo "role = \"client\""; echo "key = \"$client\""
        printf '%s\n' "$@"
    } >"$file"
    echo "$file"
}
hs_config=$(config mirror "[forward_auth]" 'routes = [{prefix = "/api/", profile = "home-assistant"}]' \
    "[forward_auth.jwt]" "hmac_secret_file = \"$work/hs256.key\"" "issuer = \"$issuer\"")
rs_config=$(config mirror "[forward_auth.jwt]" "jwks_file = \"$work/jwks.json\"" "issuer = \"$issuer\"")
naive_config=$(config store)

started_url=""
start_revokd() { # config -> sets started_url (no subshell: its pid must reach the cleanup)
    local port; port=$(free_port)
    REVOKD_LISTEN="127.0.0.1:$port" "$bin" --config "$1" >>"$work/revokd.log" 2>&1 &
    pids+=($!)
    started_url="http://127.0.0.1:$port"
}
start_revokd "$hs_config"; mirror=$started_url
start_revokd "$rs_config"; rs=$started_url
start_revokd "$naive_config"; naive=$started_url
old="" old_rs=""
if [[ -n ${OLD_BIN:-} ]]; then
    saved_bin=$bin; bin=$OLD_BIN
    start_revokd "$hs_config"; old=$started_url
    start_revokd "$rs_config"; old_rs=$started_url
    bin=$saved_bin
fi
bare_port=$(free_port)
"$bare_bin" "$bare_port" "$workers" 1000 >>"$work/bare.log" 2>&1 &
pids+=($!)
bare="http://127.0.0.1:$bare_port"
for url in "$mirror" "$rs" "$naive" "$bare" $old $old_rs; do wait_ready "$url"; done

# 1000 ids, the odd ones revoked; as Home Assistant tokens (`iss` is the
# id) and as jwt tokens (`jti` is the id) signed HS256 and RS256.
python3 - "$work" "$issuer" "$(date +%s)" <<'PY'
import base64, hashlib, hmac, json, subprocess, sys
work, issuer, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
part = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
secret = open(f"{work}/hs256.key", "rb").read().strip()
ids = ["%032x" % i for i in range(1, 1001)]
ha, hs, rs = [], [], []
for i, id in enumerate(ids):
    ha.append(part({"alg": "HS256", "typ": "JWT"}) + "." +
              part({"iss": id, "iat": now, "exp": now + 3600}) + ".c2ln")
    claims = part({"iss": issuer, "sub": "user-%d" % i, "jti": id, "iat": now, "exp": now + 3600})
    head = part({"alg": "HS256", "typ": "JWT"}) + "." + claims
    hs.append(head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest()))
    head = part({"alg": "RS256", "typ": "JWT", "kid": "bench"}) + "." + claims
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{work}/rsa.pem"],
                         input=head.encode(), capture_output=True, check=True).stdout
    rs.append(head + "." + b64(sig))
with open(f"{work}/data.lua", "w") as lua:
    for name, values in [("ids", ids), ("ha", ha), ("hs", hs), ("rs", rs)]:
        lua.write(name + " = {\n" + "".join('  "%s",\n' % v for v in values) + "}\n")
for name, values in [("ha", ha), ("hs", hs), ("rs", rs)]:
    open(f"{work}/{name}.tokens", "w").write("\n".join(values) + "\n")
PY
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
local kind = "$1"
request = function()
  local i = math.random(#ids)
  if kind == "check" then
    return wrk.format("GET", "/v1/check?jti=" .. ids[i], { ["Authorization"] = "Bearer " .. key })
  elseif kind == "healthz" then
    return wrk.format("GET", "/healthz?jti=" .. ids[i], { ["Authorization"] = "Bearer " .. key })
  elseif kind == "introspect" then
    return wrk.format("POST", "/v1/introspect", {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/x-www-form-urlencoded" },
      "profile=home-assistant&token=" .. ha[i])
  else
    local tokens, uri = ha, "/api/states"
    if kind == "forward-hs" then tokens, uri = hs, "/app/data" end
    if kind == "forward-rs" then tokens, uri = rs, "/app/data" end
    return wrk.format("GET", "/v1/forward-auth", {
      ["Authorization"] = "Bearer " .. tokens[i], ["X-Revokd-Key"] = key,
      ["X-Original-URI"] = uri })
  end
end
LUA
}

# Sanity: an odd id is revoked, an even one active, everywhere; a verified
# token of each kind is let through, a revoked one refused.
expect() { # status url curl-args...
    local want=$1 url=$2; shift 2
    local got; got=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
    [[ $got == "$want" ]] || { echo "sanity: $url answered $got, not $want" >&2; exit 1; }
}
for base in "$mirror" "$naive" "$bare"; do
    curl -fsS -H "Authorization: Bearer $client" "$base/v1/check?jti=$(printf '%032x' 1)" | grep -q '"active":false'
    curl -fsS -H "Authorization: Bearer $client" "$base/v1/check?jti=$(printf '%032x' 2)" | grep -q '"active":true'
done
token() { sed -n "${2}p" "$work/$1.tokens"; }
for kind in ha hs rs; do
    base=$mirror uri=/app/data
    [[ $kind == rs ]] && base=$rs
    [[ $kind == ha ]] && uri=/api/states
    for n in 1 2; do
        want=401; [[ $n == 2 ]] && want=200
        expect "$want" "$base/v1/forward-auth" -H "Authorization: Bearer $(token "$kind" "$n")" \
            -H "X-Revokd-Key: $client" -H "X-Original-URI: $uri"
    done
done
curl -fsS -H "Authorization: Bearer $client" --data "profile=home-assistant&token=$(token ha 2)" \
    "$mirror/v1/introspect" | grep -q '"active":true'

rows=(
    "bare actix-web (same look-up)|$bare|check|/v1/check"
    "/healthz|$mirror|healthz|/healthz"
    "/v1/check (mirror, client key)|$mirror|check|/v1/check"
    "/v1/forward-auth home-assistant, half refused|$mirror|forward-ha|/v1/forward-auth"
    "/v1/forward-auth jwt HS256, half refused|$mirror|forward-hs|/v1/forward-auth"
    "/v1/forward-auth jwt RS256, half refused|$rs|forward-rs|/v1/forward-auth"
    "/v1/introspect (home-assistant, half inactive)|$mirror|introspect|/v1/introspect"
    "/v1/check naive (Redis per request)|$naive|check|/v1/check"
)
if [[ -n $old ]]; then
    rows+=(
        "/healthz, OLD_BIN|$old|healthz|/healthz"
        "/v1/check (mirror, client key), OLD_BIN|$old|check|/v1/check"
        "/v1/forward-auth home-assistant, half refused, OLD_BIN|$old|forward-ha|/v1/forward-auth"
        "/v1/forward-auth jwt HS256, half refused, OLD_BIN|$old|forward-hs|/v1/forward-auth"
        "/v1/forward-auth jwt RS256, half refused, OLD_BIN|$old_rs|forward-rs|/v1/forward-auth"
        "/v1/introspect (home-assistant, half inactive), OLD_BIN|$old|introspect|/v1/introspect"
    )
fi
to_us() { # wrk's "1.23ms" / "850.00us" / "1.01s" -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
        else if (v ~ /s$/) print n * 1000000; else print n }'
}
# results: "row round rps p99us errors" lines
: >"$work/results"
for round in $(seq 1 "$rounds"); do
    for r in "${!rows[@]}"; do
        IFS='|' read -r label base kind path <<<"${rows[$r]}"
        script "$kind" >"$work/$kind.lua"
        echo "== round $round: $label: wrk -t2 -c64 -d${duration}s --latency $base$path" >&2
        wrk -t2 -c64 -d"${duration}s" --latency -s "$work/$kind.lua" "$base$path" >"$work/out.txt"
        rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/out.txt")
        p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$work/out.txt")")
        errors=$(awk '/Socket errors/ { $1 = $2 = ""; gsub(/^ +/, ""); print }' "$work/out.txt")
        echo "   $rps requests/s, p99 ${p99} µs ${errors}" >&2
        echo "$r $round $rps $p99 ${errors:-none}" >>"$work/results"
    done
done

# In-process: the same token work on one thread (Gate::identify).
inproc() { # config profile tokens-kind -> "ns per-second"
    "$verify_bin" "$1" "$2" "$work/$3.tokens" |
        awk '{ print $2, $3 }'
}
read -r ha_ns ha_rate <<<"$(inproc "$hs_config" home-assistant ha)"
read -r hs_ns hs_rate <<<"$(inproc "$hs_config" jwt hs)"
read -r rs_ns rs_rate <<<"$(inproc "$rs_config" jwt rs)"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work/results" "$rounds" "$ha_rate" "$hs_rate" "$rs_rate" <<PY
import statistics, sys
rows = [l.split("|")[0] for l in """$(printf '%s\n' "${rows[@]}")""".strip().split("\n")]
results, rounds = sys.argv[1], int(sys.argv[2])
inproc = {3: float(sys.argv[3]), 4: float(sys.argv[4]), 5: float(sys.argv[5])}
rps, p99, errors = {}, {}, {}
for line in open(results):
    r, rnd, v, p, err = line.split(" ", 4)
    rps[(int(r), int(rnd))] = float(v)
    p99[(int(r), int(rnd))] = float(p)
    if err.strip() != "none":
        errors.setdefault(int(r), []).append(err.strip())
med = statistics.median
print("| route | requests/s (median of %d) | × bare (median of per-round ratios) | p99 | p99 × bare |" % rounds)
print("|---|---|---|---|---|")
for r, label in enumerate(rows):
    rs = [rps[(r, k)] for k in range(1, rounds + 1)]
    ratio = med([rps[(r, k)] / rps[(0, k)] for k in range(1, rounds + 1)])
    p = med([p99[(r, k)] for k in range(1, rounds + 1)])
    pr = med([p99[(r, k)] / p99[(0, k)] for k in range(1, rounds + 1)])
    note = " (socket errors: %s)" % "; ".join(errors[r]) if r in errors else ""
    print("| %s | %.1fk | **%.2f ×** | %.0f µs | %.2f × |%s" % (label, med(rs) / 1000, ratio, p, pr, note))
print()
print("Forward-auth against the same token work in-process (Gate::identify, one thread):")
print()
print("| profile | in-process per token | in-process tokens/s | HTTP requests/s ÷ in-process tokens/s |")
print("|---|---|---|---|")
names = {3: "home-assistant (no signature)", 4: "jwt HS256", 5: "jwt RS256"}
for r in (3, 4, 5):
    http = med([rps[(r, k)] for k in range(1, rounds + 1)])
    print("| %s | %.2f µs | %.0fk | %.2f × |" % (names[r], 1e6 / inproc[r], inproc[r] / 1000, http / inproc[r]))
PY
echo
echo "command: benches/check_load.sh $duration $rounds ($workers workers each, wrk -t2 -c64 -d${duration}s --latency)"
echo "load average (1, 5, 15 min) before: $load_before; after: $load_after; $(nproc) cores"

[[ ${PROPAGATION:-1} == 1 ]] || exit 0
echo "== propagation" >&2
start_revokd "$hs_config"; other=$started_url
wait_ready "$other"
PROPAGATION_A="$mirror" PROPAGATION_B="$other" ADMIN_KEY="$admin" CLIENT_KEY="$client" \
    cargo bench --quiet --bench propagation 2>>"$work/bench.err" | grep propagation
