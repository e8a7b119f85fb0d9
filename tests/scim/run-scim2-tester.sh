#!/usr/bin/env bash
# A real SCIM client against the real binary: python-scim's scim2-tester
# (tests/scim/requirements.txt, pinned) runs every check of its
# `check_server` (discovery endpoints, create, read, list, filter, replace,
# PATCH add/replace/remove, delete, errors) against revokd on its embedded
# store with one [[scim]] client. Checks known not to pass are listed with
# their reason in tests/scim/expected.tsv; any other failure fails the run.
#
#   tests/scim/run-scim2-tester.sh
#
# Settings (environment; none is a REVOKD_* name):
#   SCIM_VENV   where the Python venv lives (target/scim-venv)
#   SCIM_BIN    a revokd binary to test instead of building one
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${SCIM_VENV:-target/scim-venv}
here=tests/scim

if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  echo "--- scim: installing scim2-tester into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if [[ -n ${SCIM_BIN:-} ]]; then
  bin=$SCIM_BIN
else
  cargo build --locked --quiet --bin revokd
  bin=target/debug/revokd
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/revokd-scim.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

token=scim-tester-token-0123456789abcdef
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# `env -i`: no REVOKD_* variable of the caller's reaches revokd. The users
# map to their userName: scim2-tester fills every attribute the schema
# lists, and this keeps the run independent of the mapping's choice.
env -i PATH="$PATH" \
  REVOKD_LISTEN="127.0.0.1:$port" \
  REVOKD_EMBEDDED__PATH="$work/data" \
  REVOKD_LOG__FORMAT=json \
  REVOKD_SCIM="[{name=\"tester\", issuer=\"https://idp.example.com\", token=\"$token\", subject_attribute=\"userName\"}]" \
  "$bin" >"$work/revokd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$work/revokd.log" >&2; exit 1; }
  sleep 0.1
done

status=0
"$venv/bin/python" "$here/check.py" "http://127.0.0.1:$port/scim/v2" "$token" "$here/expected.tsv" || status=$?
if grep -q 'panicked' "$work/revokd.log"; then
  echo "revokd panicked:" >&2
  grep -B2 -A10 'panicked' "$work/revokd.log" >&2
  status=1
fi
exit "$status"
