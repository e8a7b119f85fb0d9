#!/usr/bin/env bash
# deploy/revokd.service and the install steps of deploy/README.md, for real:
#
# 1. `systemd-analyze verify` has nothing to say about the unit, and
#    `systemd-analyze security --offline=yes` rates it at most 2.0 (and the
#    same unit without its hardening above 2.0: the threshold can fail);
# 2. the README's install block runs as written, with every absolute path
#    under a temporary root (and target/debug for target/release);
# 3. what systemd would do for the unit is done by hand, as far as this
#    machine allows without systemd as PID 1: each LoadCredential= file is
#    copied into a credentials directory owned by an unprivileged uid, the
#    StateDirectory= made, and ExecStartPre= (check-config) and ExecStart=
#    run as that uid (setpriv) with CREDENTIALS_DIRECTORY set; then /readyz
#    answers 200, the admin key revokes, the client key checks, and the uid
#    cannot read the key files themselves.
#
# Needs root (chown, setpriv), systemd-analyze (systemd), openssl, curl, and
# the debug binary (built here if missing). Usage: tests/systemd/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

unit=deploy/revokd.service
max_exposure=2.0
# An unprivileged uid with no account, in systemd's DynamicUser= range.
uid=61999

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- systemd: $*"; }

[[ $(id -u) == 0 ]] || fail "run as root (the test chowns files and drops to uid $uid)"
for tool in systemd-analyze setpriv openssl curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/test installs it)"
done

root=$(mktemp -d /tmp/revokd-systemd.XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT
chmod 0755 "$root"

# The absolute paths of the unit and the install steps, moved under $root.
under_root() {
  sed -E -e "s#(^|[[:space:]>:=])/(etc|usr|var|run)/#\\1$root/\\2/#g" \
    -e 's#target/release/#target/debug/#g'
}

step "exposure (systemd-analyze security --offline=yes $unit)"
exposure_of() {
  systemd-analyze security --offline=yes "$1" 2>&1 |
    sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p'
}
exposure=$(exposure_of "$unit")
[[ -n $exposure ]] || fail "systemd-analyze security printed no exposure level"
echo "exposure $exposure (at most $max_exposure)"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' ||
  fail "$unit: exposure $exposure is above $max_exposure"
# The same unit with only its [Unit], Exec and DynamicUser lines: the
# measurement tells hardened from not.
mkdir "$root/bare"
grep -E '^(\[|Description=|ExecStart|DynamicUser=|WantedBy=)' "$unit" >"$root/bare/revokd.service"
bare=$(exposure_of "$root/bare/revokd.service")
awk -v e="$bare" -v m="$max_exposure" 'BEGIN { exit !(e > m) }' ||
  fail "the unhardened unit rates $bare, not above $max_exposure: the check proves nothing"

step "install steps of deploy/README.md, under $root"
steps=$(awk '
  /<!-- tested: systemd-install/ { marked = 1; next }
  marked && /^```sh$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }
' deploy/README.md)
[[ -n $steps ]] || fail "deploy/README.md has no block marked <!-- tested: systemd-install"
[[ -x target/debug/revokd ]] || cargo build --locked --quiet --bin revokd
# What a Debian system already has.
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/var/lib" "$root/run"
under_root <<<"$steps" >"$root/install.sh"
bash -euo pipefail "$root/install.sh"

mode() { stat -c '%a %U' "$1"; }
[[ $(mode "$root/etc/revokd/revokd.toml") == "644 root" ]] || fail "revokd.toml: $(mode "$root/etc/revokd/revokd.toml")"
[[ $(mode "$root/etc/revokd/credentials") == "700 root" ]] || fail "credentials: $(mode "$root/etc/revokd/credentials")"
for key in admin home-assistant; do
  file=$root/etc/revokd/credentials/$key.key
  [[ $(mode "$file") == "600 root" ]] || fail "$key.key: $(mode "$file")"
  [[ $(wc -c <"$file") -ge 33 ]] || fail "$key.key is too short"
done

step "systemd-analyze verify (the installed unit, paths under $root)"
mkdir "$root/verify"
under_root <"$root/etc/systemd/system/revokd.service" >"$root/verify/revokd.service"
verify=$(systemd-analyze verify --man=no "$root/verify/revokd.service" 2>&1) ||
  fail "systemd-analyze verify: $verify"
[[ -z $verify ]] || fail "systemd-analyze verify warns: $verify"

step "what systemd does for the unit, as uid $uid"
installed=$root/etc/systemd/system/revokd.service
value() { sed -n "s/^$1=//p" "$installed"; }
credentials=$root/run/credentials/revokd.service
mkdir -p "$credentials"
loaded=0
while IFS=: read -r id source; do
  cp "$(under_root <<<"$source")" "$credentials/$id"
  chmod 0400 "$credentials/$id"
  loaded=$((loaded + 1))
done < <(value LoadCredential)
[[ $loaded == 2 ]] || fail "expected 2 LoadCredential= lines, found $loaded"
chown -R "$uid:$uid" "$credentials"
chmod 0500 "$credentials"
state=$root/var/lib/$(value StateDirectory)
install -d -m "$(value StateDirectoryMode)" -o "$uid" -g "$uid" "$state"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
ops_port=$(free_port)
# The service's environment: what systemd sets, plus the test's moves; its
# umask, and its uid with no supplementary groups.
umask_of_unit=$(value UMask)
service=(env -i PATH=/usr/bin:/bin
  CREDENTIALS_DIRECTORY="$credentials" STATE_DIRECTORY="$state"
  REVOKD_EMBEDDED__PATH="$state"
  REVOKD_LISTEN="127.0.0.1:$port" REVOKD_OPS_LISTEN="127.0.0.1:$ops_port"
  setpriv --reuid="$uid" --regid="$uid" --clear-groups)
as_service() { (umask "$umask_of_unit" && exec "${service[@]}" "$@"); }
read -ra pre <<<"$(value ExecStartPre | under_root)"
read -ra start <<<"$(value ExecStart | under_root)"

if as_service cat "$root/etc/revokd/credentials/admin.key" >/dev/null 2>&1; then
  fail "uid $uid can read the admin key file itself"
fi
as_service cat "$root/etc/revokd/revokd.toml" >/dev/null || fail "uid $uid cannot read the configuration"
# Without the credentials directory the keys are refused, by name.
if out=$(env -i PATH=/usr/bin:/bin setpriv --reuid="$uid" --regid="$uid" --clear-groups "${pre[@]}" 2>&1); then
  fail "check-config passed without CREDENTIALS_DIRECTORY: $out"
fi
[[ $out == *'keys[0].file'*'CREDENTIALS_DIRECTORY is not set'* ]] || fail "unexpected error: $out"

summary=$(as_service "${pre[@]}") || fail "ExecStartPre (check-config) failed: $summary"
echo "$summary"
[[ $summary == *"keys: 1 admin, 1 client"* ]] || fail "check-config did not load both keys"

# (One process from here to revokd, so that $! is revokd.)
(umask "$umask_of_unit" && exec "${service[@]}" "${start[@]}") >"$root/revokd.log" 2>&1 &
pid=$!
ready=
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$ops_port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
[[ -n $ready ]] || fail "/readyz never answered 200: $(tail -n 20 "$root/revokd.log")"
[[ $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status") == "$uid" ]] || fail "revokd does not run as uid $uid"

admin_key=$(cat "$root/etc/revokd/credentials/admin.key")
client_key=$(cat "$root/etc/revokd/credentials/home-assistant.key")
api=http://127.0.0.1:$port
curl -fsS -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d '{"jti": "systemd-test-token"}' "$api/v1/admin/tokens/revoke" >/dev/null ||
  fail "the admin key could not revoke"
answer=$(curl -fsS -H "Authorization: Bearer $client_key" "$api/v1/check?jti=systemd-test-token")
[[ $answer == *'"active":false'* ]] || fail "check answered $answer"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $client_key" \
  -H 'Content-Type: application/json' -d '{"jti": "x"}' "$api/v1/admin/tokens/revoke")
[[ $status == 403 ]] || fail "the client key on an admin route answered $status, not 403"
[[ -n $(ls -A "$state") ]] || fail "nothing was written to the state directory"
[[ $(stat -c %u "$state") == "$uid" ]] || fail "the state directory changed owner"

kill -TERM "$pid"
wait "$pid" || fail "revokd did not stop cleanly on SIGTERM"
pid=
echo "--- systemd: ok"
