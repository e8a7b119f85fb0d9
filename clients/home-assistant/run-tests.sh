#!/usr/bin/env bash
# Tests of the Home Assistant integration, on real Home Assistant core
# (pytest-homeassistant-custom-component) against a real revokd binary:
# $REVOKD_BIN if set, else the repository's debug build (cargo build).
#
# Two sets, each in its own venv (created on first use, reinstalled when its
# requirements file changes):
#   pinned  .venv         requirements_test.txt         HA 2024.3.3, Python 3.11
#             (the oldest release the integration supports: hacs.json)
#   latest  .venv-latest  requirements_test_latest.txt  HA 2025.4.4, Python 3.13
#             (the newest release that installs on this machine's Python)
# HA_TESTS=pinned|latest|all (default all) picks the sets. With no Python 3.13
# the latest set is skipped with a message, or fails the run when
# HA_TESTS_REQUIRE_LATEST=1 (CI, where the machine image has it).
# PYTHON= and PYTHON_LATEST= choose the interpreters. Extra arguments go to
# pytest (both sets); --install-only sets up the venvs and stops (CI's
# install step).
set -euo pipefail
cd "$(dirname "$0")"

sets=${HA_TESTS:-all}
case $sets in
  pinned | latest | all) ;;
  *)
    echo "HA_TESTS must be pinned, latest or all, not '$sets'" >&2
    exit 2
    ;;
esac
want_pinned=$([[ $sets != latest ]] && echo 1 || true)
want_latest=$([[ $sets != pinned ]] && echo 1 || true)

install_only=
if [[ ${1:-} == --install-only ]]; then
  install_only=1
  shift
fi

# ensure_venv DIR PYTHON REQUIREMENTS: create DIR with PYTHON, and install
# REQUIREMENTS unless the stamp says this very file is installed already.
ensure_venv() {
  local venv=$1 python=$2 requirements=$3
  if [[ ! -x $venv/bin/python ]]; then
    echo "--- creating $venv ($("$python" --version))"
    "$python" -m venv "$venv"
  fi
  local stamp=$venv/.${requirements%.txt}.sha256 want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "--- installing $requirements into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" >"$stamp"
  fi
}

# The latest set's Python: HA 2025.4.4 requires 3.13 (its wheels, numpy's
# among them, are built for 3.13), so look for a 3.13 that actually runs.
# `python3.13` on PATH may be a pyenv shim that only errors, so each
# candidate is run, not just found; pyenv's own 3.13 builds come after it.
find_python_latest() {
  if [[ -n ${PYTHON_LATEST:-} ]]; then
    echo "$PYTHON_LATEST"
    return
  fi
  local candidate
  for candidate in $(command -v python3.13 || true) \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 \
      /root/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV); do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
}

if [[ -n $want_pinned ]]; then
  # The pinned harness (HA 2024.3) wants Python 3.11; prefer it where several exist.
  ensure_venv .venv "${PYTHON:-$(command -v python3.11 || command -v python3)}" \
    requirements_test.txt
fi
if [[ -n $want_latest ]]; then
  python_latest=$(find_python_latest)
  if [[ -n $python_latest ]]; then
    ensure_venv .venv-latest "$python_latest" requirements_test_latest.txt
  elif [[ ${HA_TESTS_REQUIRE_LATEST:-} == 1 ]]; then
    echo "no Python 3.13 found (PYTHON_LATEST=, python3.13, pyenv), and" \
      "HA_TESTS_REQUIRE_LATEST=1: the latest Home Assistant set cannot run" >&2
    exit 1
  else
    echo "--- latest Home Assistant set skipped: no Python 3.13" \
      "(set PYTHON_LATEST= to a Python 3.13)"
    want_latest=
  fi
fi

if [[ -n $install_only ]]; then
  exit 0
fi

if [[ -z ${REVOKD_BIN:-} ]]; then
  echo "--- cargo build --bin revokd"
  (cd ../.. && cargo build --quiet --locked --bin revokd)
  export REVOKD_BIN=$PWD/../../target/debug/revokd
fi

if [[ -z $want_pinned && -z $want_latest ]]; then
  exit 0 # HA_TESTS=latest without a Python 3.13: skipped above
fi
# Lint once, from whichever venv this run has (both pin the same ruff).
lint_venv=$([[ -n $want_pinned ]] && echo .venv || echo .venv-latest)
echo "--- ruff check, ruff format --check"
"$lint_venv/bin/ruff" check --quiet custom_components tests
"$lint_venv/bin/ruff" format --quiet --check custom_components tests

# Run every chosen set even when one fails, so one run shows both; fail at
# the end if any did.
failed=()
if [[ -n $want_pinned ]]; then
  echo "--- pytest, pinned set: $(.venv/bin/python --version), homeassistant" \
    "$(.venv/bin/python -c 'import homeassistant.const as c; print(c.__version__)')" \
    "(revokd: $REVOKD_BIN)"
  .venv/bin/python -m pytest -q -rs -p no:cacheprovider "$@" || failed+=(pinned)
fi
if [[ -n $want_latest ]]; then
  echo "--- pytest, latest set: $(.venv-latest/bin/python --version), homeassistant" \
    "$(.venv-latest/bin/python -c 'import homeassistant.const as c; print(c.__version__)')" \
    "(revokd: $REVOKD_BIN)"
  .venv-latest/bin/python -m pytest -q -rs -p no:cacheprovider "$@" || failed+=(latest)
fi
if ((${#failed[@]})); then
  echo "--- Home Assistant tests failed in: ${failed[*]}" >&2
  exit 1
fi
