#!/usr/bin/env bash
# The admin web page (`admin_ui = true`) in a real browser: Debian's
# headless Chromium driven through Debian's chromedriver by Selenium (PyPI),
# against the real revokd binary on its embedded store.
#
#   tests/browser/run.sh
#
# Settings (environment; none is a REVOKD_* name, which revokd would read):
#   BROWSER_VENV  where the Python venv lives (target/browser-venv)
#   BROWSER_BIN   a revokd binary to test instead of building one
#   BROWSER_SCREENSHOTS  where the two screenshots go (target/browser-screenshots;
#                 BROWSER_SCREENSHOTS=deploy/screenshots renews the README's)
#
# Needs chromium, chromium-driver and python3-venv (scripts/test installs
# them) and PyPI once (the pinned tests/browser/requirements.txt). Writes
# admin-desktop.png and admin-phone.png (see BROWSER_SCREENSHOTS).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${BROWSER_VENV:-target/browser-venv}
here=tests/browser

if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  echo "--- browser: installing $(grep -v '^#' "$here/requirements.txt" | xargs) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

if [[ -n ${BROWSER_BIN:-} ]]; then
  bin=$BROWSER_BIN
else
  cargo build --locked --quiet --bin revokd
  bin=target/debug/revokd
fi

# Selenium Manager would fetch a driver from the network: the test names
# Debian's, and this keeps it offline.
SE_OFFLINE=true timeout 300 "$venv/bin/python" "$here/admin_page.py" "$bin"
