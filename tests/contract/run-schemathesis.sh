#!/usr/bin/env bash
# The OpenAPI contract against the real server: Schemathesis generates
# requests from openapi/revokd.yaml (every check: no 5xx, responses as
# documented, schema-valid requests accepted, schema-invalid ones refused,
# ...) and sends them to a revokd binary on its embedded store.
#
#   tests/contract/run-schemathesis.sh            # build, start, run
#
# Settings (environment; none is a REVOKD_* name, which revokd would read):
#   CONTRACT_EXAMPLES  test cases per operation and phase (default 25)
#   CONTRACT_SEED      the generator's seed (default fixed, so CI is stable;
#                      any number explores other cases)
#   CONTRACT_TIMEOUT   seconds before the run is stopped and failed (600)
#   CONTRACT_VENV      where the Python venv lives (target/contract-venv)
#   CONTRACT_BIN       a revokd binary to test instead of building one
#
# Needs python3 with venv and PyPI (the pinned tests/contract/requirements.txt).
# Prints Schemathesis's report, then a last line `N passed, N failed`
# (operations); exits non-zero on any failure, or if revokd panicked.
set -euo pipefail
cd "$(dirname "$0")/../.."

examples=${CONTRACT_EXAMPLES:-25}
seed=${CONTRACT_SEED:-20261207}
limit=${CONTRACT_TIMEOUT:-600}
venv=${CONTRACT_VENV:-target/contract-venv}
here=tests/contract

# The venv, made again whenever the pinned requirements change.
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  echo "--- contract: installing $(grep -v '^#' "$here/requirements.txt" | xargs) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if [[ -n ${CONTRACT_BIN:-} ]]; then
  bin=$CONTRACT_BIN
else
  cargo build --locked --quiet --bin revokd
  bin=target/debug/revokd
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/revokd-contract.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

admin_key=contract-admin-key-0123456789abcdef
client_key=contract-client-key-0123456789abcdef
scim_token=contract-scim-token-0123456789abcdef

# revokd on a free loopback port, with an admin and a client key and an
# embedded store of its own. `env -i`: no REVOKD_* variable of the caller's
# reaches it (revokd refuses names it does not know).
start_revokd() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env -i PATH="$PATH" \
    REVOKD_LISTEN="127.0.0.1:$port" \
    REVOKD_EMBEDDED__PATH="$work/data" \
    REVOKD_LOG__FORMAT=json \
    REVOKD_KEYS="[{name=\"contract-admin\", role=\"admin\", key=\"$admin_key\"}, {name=\"contract-app\", role=\"client\", key=\"$client_key\"}]" \
    REVOKD_SCIM="[{name=\"contract\", issuer=\"https://idp.example.com\", token=\"$scim_token\", subject_attribute=\"userName\"}]" \
    "$bin" >"$work/revokd.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
      url="http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  return 1
}
url=
for _ in 1 2 3; do
  start_revokd && break
done
if [[ -z $url ]]; then
  echo "revokd did not start:" >&2
  cat "$work/revokd.log" >&2
  exit 1
fi
echo "--- contract: revokd at $url, $examples examples per operation, seed $seed"

status=0
CONTRACT_ADMIN_KEY=$admin_key CONTRACT_CLIENT_KEY=$client_key CONTRACT_SCIM_TOKEN=$scim_token \
  PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks \
  timeout "$limit" "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" --no-color \
  run openapi/revokd.yaml --url "$url" \
  --checks all --max-examples "$examples" --seed "$seed" \
  --workers 2 --generation-database none \
  --report junit --report-junit-path "$work/junit.xml" || status=$?

if grep -q 'panicked' "$work/revokd.log"; then
  echo "revokd panicked:" >&2
  grep -B2 -A10 'panicked' "$work/revokd.log" >&2
  status=1
fi

# One line a person or CI can read: operations that passed and failed.
counts=$(python3 - "$work/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
except (OSError, ET.ParseError):
    print("0 0")
    sys.exit()
passed = failed = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is None:
        passed += 1
print(passed, failed)
PY
)
read -r passed failed <<<"$counts"
if ((status == 0 && failed == 0 && passed == 0)); then
  echo "no report from schemathesis" >&2
  status=1
fi
if ((failed > 0 && status == 0)); then
  status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
