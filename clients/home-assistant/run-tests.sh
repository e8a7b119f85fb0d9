#!/usr/bin/env bash
# Tests of the Home Assistant integration, on real Home Assistant core
# (pytest-homeassistant-custom-component) against a real revokd binary:
# $REVOKD_BIN if set, else the repository's debug build (cargo build).
# Creates clients/home-assistant/.venv on first use. Extra arguments go to
# pytest; --install-only sets up the venv and stops (CI's install step).
set -euo pipefail
cd "$(dirname "$0")"

# The pinned harness (HA 2024.3) wants Python 3.11; prefer it where several exist.
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
  echo "--- creating .venv ($("$python" --version))"
  "$python" -m venv .venv
fi
stamp=.venv/.requirements_test.sha256
want=$(sha256sum requirements_test.txt | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "--- installing requirements_test.txt"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements_test.txt
  echo "$want" >"$stamp"
fi

if [[ ${1:-} == --install-only ]]; then
  exit 0
fi

if [[ -z ${REVOKD_BIN:-} ]]; then
  echo "--- cargo build --bin revokd"
  (cd ../.. && cargo build --quiet --locked --bin revokd)
  export REVOKD_BIN=$PWD/../../target/debug/revokd
fi

echo "--- ruff check, ruff format --check"
.venv/bin/ruff check --quiet custom_components tests
.venv/bin/ruff format --quiet --check custom_components tests

echo "--- pytest (revokd: $REVOKD_BIN)"
exec .venv/bin/python -m pytest -q -rs -p no:cacheprovider "$@"
