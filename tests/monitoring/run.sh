#!/usr/bin/env bash
# The monitoring suite (scripts/test monitoring): the alert rules and the
# Grafana dashboard, proven with Debian's `prometheus` package.
#
#  1. `promtool check rules` and `promtool test rules` (a unit test per alert,
#     deploy/prometheus/revokd-rules.test.yml).
#  2. A real revokd (the debug binary; TLS on its API listener, /metrics on
#     a plain ops_listen) and a real Prometheus scraping it every second with
#     the rules loaded, on loopback ports, plus a tiny OpenID Provider (its
#     discovery document and JWKS served by python3's http.server, its
#     logout tokens signed with `openssl dgst`), which is also the Shared
#     Signals transmitter of a managed stream (its ssf-configuration and
#     stream configuration, status and verification endpoints, in python).
#  3. A scripted scenario in two rounds a few scrapes apart (so every rate
#     and histogram has two samples): admin revocations, checks, a session
#     registration, forward-auth, a /v1/events subscriber, a valid logout
#     token and one refused by the audience rule, a SET, a Universal Logout
#     call, and a verification of the managed stream (at start and on
#     demand), answered with a verification SET carrying revokd's state.
#  4. Every `expr` of every panel of deploy/grafana/revokd.json is asked of
#     Prometheus's HTTP API and must return at least one sample that is a
#     number (not NaN); every metric family revokd's /metrics exports must
#     appear in some panel; every rule must have loaded and evaluated.
#
# Needs: prometheus (promtool), openssl, python3, curl; cargo builds revokd.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

echo "--- promtool check rules / test rules"
promtool check rules deploy/prometheus/revokd-rules.yml
(cd deploy/prometheus && promtool test rules revokd-rules.test.yml)

cargo build --locked --quiet --bin revokd
revokd=$root/target/debug/revokd

work=$(mktemp -d -t revokd-monitoring.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
ops_port=$(free_port)
idp_port=$(free_port)
prom_port=$(free_port)
issuer="http://127.0.0.1:$idp_port"
admin_key="monitoring-admin-key-0123456789"
client_key="monitoring-client-key-0123456789"
push_token="monitoring-push-token-0123456789"
tx_token="monitoring-transmitter-token-0123456789"
printf %s "$push_token" >"$work/push-token"
printf %s "$tx_token" >"$work/tx-token"
scim_token="monitoring-scim-token-0123456789"

echo "--- the OpenID Provider on $issuer"
mkdir -p "$work/idp/.well-known"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/idp.pem" 2>/dev/null
modulus=$(openssl rsa -in "$work/idp.pem" -noout -modulus | cut -d= -f2)
python3 - "$work/idp" "$issuer" "$modulus" <<'EOF'
import base64, json, sys
root, issuer, modulus = sys.argv[1:]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
json.dump({
    "issuer": issuer, "jwks_uri": issuer + "/jwks",
    "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
    "response_types_supported": ["code"], "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "backchannel_logout_supported": True, "backchannel_logout_session_supported": True,
}, open(root + "/.well-known/openid-configuration", "w"))
json.dump({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                     "n": b64(bytes.fromhex(modulus)), "e": "AQAB"}]}, open(root + "/jwks", "w"))
json.dump({
    "spec_version": "1_0", "issuer": issuer, "jwks_uri": issuer + "/jwks",
    "delivery_methods_supported": ["urn:ietf:rfc:8935"],
    "configuration_endpoint": issuer + "/ssf/streams", "status_endpoint": issuer + "/ssf/status",
    "verification_endpoint": issuer + "/ssf/verify",
}, open(root + "/.well-known/ssf-configuration", "w"))
EOF
# The provider's files, and the SSF transmitter's endpoints (SSF 1.0 §8):
# streams created/updated/listed, status `enabled`, each verification
# request's state written to $work/verify-state for the scenario to answer.
cat >"$work/transmitter.py" <<'EOF'
import http.server, json, sys, urllib.parse
root, port, token, state_file = sys.argv[1:]
streams = {}
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def reply(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def authorized(self):
        return self.headers.get("Authorization") == "Bearer " + token
    def body(self):
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if not url.path.startswith("/ssf/"):
            return super().do_GET()
        if not self.authorized():
            return self.reply(401)
        if url.path == "/ssf/streams":
            return self.reply(200, list(streams.values()))
        ids = urllib.parse.parse_qs(url.query).get("stream_id", [])
        if url.path == "/ssf/status" and ids and ids[0] in streams:
            return self.reply(200, {"stream_id": ids[0], "status": "enabled"})
        self.reply(404)
    def configure(self, create):
        if not self.authorized():
            return self.reply(401)
        body = self.body()
        sid = "s1" if create else body.get("stream_id")
        if not create and sid not in streams:
            return self.reply(404)
        streams[sid] = {"stream_id": sid, "delivery": body["delivery"],
                        "events_requested": body["events_requested"],
                        "events_delivered": body["events_requested"]}
        self.reply(201 if create else 200, streams[sid])
    def do_PATCH(self):
        if self.path == "/ssf/streams":
            return self.configure(False)
        self.reply(404)
    def do_POST(self):
        if self.path == "/ssf/streams":
            return self.configure(True)
        if self.path == "/ssf/verify" and self.authorized():
            open(state_file, "w").write(self.body()["state"])
            return self.reply(204)
        self.reply(404)
http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
EOF
python3 "$work/transmitter.py" "$work/idp" "$idp_port" "$tx_token" "$work/verify-state" >"$work/idp.log" 2>&1 &
pids+=($!)

# signed_jwt HEADER CLAIMS: a compact JWS signed by the provider's key (RS256).
signed_jwt() {
  python3 - "$1" "$2" <<'EOF' >"$work/signing-input"
import base64, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(b64(sys.argv[1].encode()) + "." + b64(sys.argv[2].encode()), end="")
EOF
  local signature
  signature=$(openssl dgst -sha256 -sign "$work/idp.pem" -binary "$work/signing-input" |
    python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode())')
  printf '%s.%s' "$(cat "$work/signing-input")" "$signature"
}

# logout_token AUD JTI: a logout token for alice signed by the provider.
logout_token() {
  local now
  now=$(date +%s)
  signed_jwt '{"alg":"RS256","kid":"k1","typ":"logout+jwt"}' \
    "{\"iss\":\"$issuer\",\"aud\":\"$1\",\"iat\":$now,\"exp\":$((now + 120)),\"jti\":\"$2\",\"sub\":\"alice\",\"sid\":\"session-$2\",\"events\":{\"http://schemas.openid.net/event/backchannel-logout\":{}}}"
}

# security_event JTI SUB: a Shared Signals SET (RISC account-disabled) for SUB.
security_event() {
  signed_jwt '{"alg":"RS256","kid":"k1","typ":"secevent+jwt"}' \
    "{\"iss\":\"$issuer\",\"aud\":\"https://revokd.test/ssf/push/idp\",\"iat\":$(date +%s),\"jti\":\"$1\",\"txn\":\"txn-$1\",\"sub_id\":{\"format\":\"iss_sub\",\"iss\":\"$issuer\",\"sub\":\"$2\"},\"events\":{\"https://schemas.openid.net/secevent/risc/event-type/account-disabled\":{}}}"
}

# universal_logout_caller JTI: the provider's bearer token for a Global
# Token Revocation (Okta Universal Logout) call.
universal_logout_caller() {
  local now
  now=$(date +%s)
  signed_jwt '{"alg":"RS256","kid":"k1","typ":"JWT"}' \
    "{\"iss\":\"$issuer\",\"aud\":\"https://revokd.test/global-token-revocation/idp\",\"iat\":$now,\"exp\":$((now + 120)),\"jti\":\"$1\"}"
}

echo "--- revokd on https://127.0.0.1:$api_port, /metrics on 127.0.0.1:$ops_port"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/tls.key" -out "$work/tls.pem" 2>/dev/null
cat >"$work/revokd.toml" <<EOF
listen = "127.0.0.1:$api_port"
ops_listen = "127.0.0.1:$ops_port"
store = "embedded"
[embedded]
path = "$work/data"
[tls]
cert_file = "$work/tls.pem"
key_file = "$work/tls.key"
[[keys]]
name = "ops"
role = "admin"
key = "$admin_key"
[[keys]]
name = "app"
role = "client"
key = "$client_key"
[[providers]]
name = "idp"
issuer = "$issuer"
client_ids = ["revokd-app"]
[[streams]]
name = "idp"
provider = "idp"
audience = ["https://revokd.test/ssf/push/idp"]
push_token_file = "$work/push-token"
[streams.management]
transmitter = "$issuer"
token_file = "$work/tx-token"
delivery = "push"
push_endpoint_url = "https://127.0.0.1:$api_port/ssf/push/idp"
retry_interval = "1s"
[[global_token_revocation]]
provider = "idp"
audience = ["https://revokd.test/global-token-revocation/idp"]
[[scim]]
name = "idp"
issuer = "$issuer"
token = "$scim_token"
EOF
env -i PATH="$PATH" "$revokd" --config "$work/revokd.toml" >"$work/revokd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$ops_port/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$ops_port/readyz" >/dev/null || {
  cat "$work/revokd.log"
  echo "revokd did not become ready" >&2
  exit 1
}

echo "--- prometheus on 127.0.0.1:$prom_port, scraping every second"
cp deploy/prometheus/revokd-rules.yml "$work/"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - revokd-rules.yml
scrape_configs:
  - job_name: revokd
    static_configs:
      - targets: ["127.0.0.1:$ops_port"]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break
  sleep 0.1
done

api() { # api METHOD PATH KEY [JSON]: an API call over TLS, its status code
  local args=(-s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" -X "$1"
    -H "Authorization: Bearer $3" "https://127.0.0.1:$api_port$2")
  [[ $# -ge 4 ]] && args+=(-H 'Content-Type: application/json' --data "$4")
  curl "${args[@]}"
}
expect() { # expect WANT GOT WHAT
  [[ $1 == "$2" ]] || { echo "$3: expected $1, got $2" >&2; exit 1; }
}

# answer_verification JTI: as the transmitter, push the verification SET
# carrying the state revokd last asked for (SSF 1.0 §8.1.4.2).
answer_verification() {
  for _ in $(seq 100); do [[ -s $work/verify-state ]] && break; sleep 0.1; done
  local state
  state=$(cat "$work/verify-state")
  rm -f "$work/verify-state"
  expect 202 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" \
    -H "Authorization: Bearer $push_token" -H 'Content-Type: application/secevent+jwt' \
    --data "$(signed_jwt '{"alg":"RS256","kid":"k1","typ":"secevent+jwt"}' \
      "{\"iss\":\"$issuer\",\"aud\":\"https://revokd.test/ssf/push/idp\",\"iat\":$(date +%s),\"jti\":\"$1\",\"sub_id\":{\"format\":\"opaque\",\"id\":\"s1\"},\"events\":{\"https://schemas.openid.net/secevent/ssf/event-type/verification\":{\"state\":\"$state\"}}}")" \
    "https://127.0.0.1:$api_port/ssf/push/idp")" "the verification SET"
}

# A subscriber for the whole scenario: the event stream's fan-out.
curl -sN --cacert "$work/tls.pem" -H "Authorization: Bearer $admin_key" \
  "https://127.0.0.1:$api_port/v1/events" >"$work/events.txt" 2>/dev/null &
pids+=($!)

round() { # round N: one of each thing the dashboard shows
  local n=$1 now
  now=$(date +%s)
  expect 200 "$(api POST /v1/admin/tokens/revoke "$admin_key" "{\"jti\":\"revoked-$n\"}")" "revoke a token"
  expect 200 "$(api POST /v1/admin/sessions/revoke "$admin_key" "{\"iss\":\"$issuer\",\"sid\":\"admin-$n\"}")" "revoke a session"
  for jti in "revoked-$n" "never-revoked-$n"; do
    api GET "/v1/check?jti=$jti" "$client_key" >/dev/null
  done
  expect 200 "$(api POST /v1/sessions "$client_key" \
    "{\"iss\":\"$issuer\",\"sub\":\"alice\",\"sid\":\"s-$n\",\"token_ids\":[\"t-$n\"],\"expires_at\":$((now + 3600))}")" \
    "register a session"
  curl -s -o /dev/null --cacert "$work/tls.pem" -H "X-Revokd-Key: $client_key" \
    -H 'Authorization: Bearer not-a-token' "https://127.0.0.1:$api_port/v1/forward-auth"
  local token refused
  token=$(logout_token revokd-app "logout-$n")
  expect 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" \
    --data-urlencode "logout_token=$token" "https://127.0.0.1:$api_port/backchannel-logout")" \
    "a valid logout token"
  refused=$(logout_token someone-else "refused-$n")
  expect 400 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" \
    --data-urlencode "logout_token=$refused" "https://127.0.0.1:$api_port/backchannel-logout")" \
    "a logout token for another audience"
  expect 202 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" \
    -H "Authorization: Bearer $push_token" -H 'Content-Type: application/secevent+jwt' \
    --data "$(security_event "set-$n" "carol-$n")" "https://127.0.0.1:$api_port/ssf/push/idp")" \
    "a Shared Signals SET pushed"
  expect 204 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" \
    -H "Authorization: Bearer $(universal_logout_caller "gtr-$n")" -H 'Content-Type: application/json' \
    --data "{\"sub_id\":{\"format\":\"iss_sub\",\"iss\":\"$issuer\",\"sub\":\"dave-$n\"}}" \
    "https://127.0.0.1:$api_port/global-token-revocation/idp")" \
    "a Universal Logout (Global Token Revocation) call"
  expect 202 "$(api POST /v1/admin/streams/idp/verify "$admin_key")" "a verification asked for"
  answer_verification "verify-$n"
  local user
  user=$(curl -s --cacert "$work/tls.pem" -H "Authorization: Bearer $scim_token" \
    -H 'Content-Type: application/scim+json' \
    --data "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"erin-$n\",\"externalId\":\"erin-$n\"}" \
    "https://127.0.0.1:$api_port/scim/v2/Users" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  expect 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/tls.pem" -X PATCH \
    -H "Authorization: Bearer $scim_token" -H 'Content-Type: application/scim+json' \
    --data '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}' \
    "https://127.0.0.1:$api_port/scim/v2/Users/$user")" \
    "a SCIM user created and deactivated"
}

echo "--- the scenario, two rounds"
answer_verification verify-start
sleep 3
round 1
sleep 4
round 2
sleep 5

echo "--- every panel's query returns data"
python3 - "http://127.0.0.1:$prom_port" "http://127.0.0.1:$ops_port/metrics" deploy/grafana/revokd.json <<'EOF'
import json, math, re, sys, urllib.parse, urllib.request
prom, metrics_url, dashboard = sys.argv[1:]
get = lambda url: json.load(urllib.request.urlopen(url, timeout=10))
panels = [p for p in json.load(open(dashboard))["panels"] if p.get("type") != "row"]
failed, exprs = [], []
for panel in panels:
    for target in panel["targets"]:
        expr = target["expr"]
        exprs.append(expr)
        answer = get(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        values = [float(r["value"][1]) for r in answer["data"]["result"]]
        numbers = [v for v in values if not math.isnan(v)]
        print(f"{'ok  ' if numbers else 'FAIL'} {panel['title']}: {expr} -> {len(values)} series")
        if not numbers:
            failed.append(f"{panel['title']}: {expr}")
text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
families = re.findall(r"^# TYPE (\S+) \S+$", text, re.M)
assert families, "no metric family in /metrics"
missing = [f for f in families
           if not any(re.search(re.escape(f) + r"(_bucket|_count|_sum)?\b", e) for e in exprs)]
for family in missing:
    print(f"FAIL metric family {family} has no panel")
rules = get(prom + "/api/v1/rules")["data"]["groups"]
loaded = [r for g in rules for r in g["rules"]]
bad = [r["name"] for r in loaded if r.get("health") != "ok"]
print(f"{len(loaded)} alert rules loaded in Prometheus, unhealthy: {bad}")
if failed or missing or bad or len(loaded) != 7:
    sys.exit(f"{len(failed)} panel queries without data, {len(missing)} families without a panel, rules: {len(loaded)} loaded, unhealthy {bad}")
print(f"{len(exprs)} panel queries returned data; all {len(families)} metric families have a panel")
EOF
curl -s "http://127.0.0.1:$ops_port/readyz" | python3 -c '
import json, sys
stream = json.load(sys.stdin)["checks"]["stream:idp"]
assert stream["status"] == "up" and "verified_at=never" not in stream["info"], stream
print("managed stream:", stream["info"])'
grep -q '"kind":"token_revoked"\|token_revoked' "$work/events.txt" || {
  echo "the /v1/events subscriber saw no revocation" >&2
  exit 1
}
echo "monitoring: ok"
