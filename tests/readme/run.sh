#!/usr/bin/env bash
# Runs the README's examples as a reader pastes them: every ```sh block right
# after a `<!-- tested: quick-start -->` line, in the order of the README, in
# one bash session (so a key made in one block is there in the next), in a new
# empty directory, with `revokd` on PATH where the README's install command
# put it (run with --debug into a temporary root).
#
# Checks: each command succeeds (`set -euo pipefail`: the examples use
# `curl -fsS`, so an HTTP error fails), and every comment line `# -> TEXT`
# in a tested block is found, as it is, in what the blocks printed.
#
# The one change to what is pasted: 127.0.0.1:8080, the address of the
# examples, becomes a free port (in the blocks, and REVOKD_LISTEN for
# revokd), so that the test cannot meet another revokd on 8080. Any revokd the blocks start is stopped at the end.
#
# Usage: tests/readme/run.sh [README]   (the repository's README.md by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
readme=${1:-README.md}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

blocks=$(awk '
  /^<!-- tested: quick-start -->$/ { marked = 1; next }
  marked && /^```sh$/ { inside = 1; marked = 0; n++; printf "# --- block %d (line %d)\n", n, NR; next }
  marked && NF { marked = 0 }
  inside && /^```$/ { inside = 0; next }
  inside { print }
' "$readme")
count=$(grep -c '^# --- block ' <<<"$blocks" || true)
((count > 0)) || fail "$readme has no \`\`\`sh block after <!-- tested: quick-start -->"
echo "--- readme: $count tested blocks"

work=$(mktemp -d /tmp/revokd-readme.XXXXXX)
mkdir "$work/home"

# The README's install command (the block after `<!-- tested: install -->`),
# run from the repository's root with `--debug --root <temporary>` added: the
# same install, into a directory of the test's, from the debug build the
# other suites use (a release build would take minutes more). The blocks
# below then find `revokd` where it installed it.
install=$(awk '
  /^<!-- tested: install -->$/ { marked = 1; next }
  marked && /^```sh$/ { inside = 1; marked = 0; next }
  inside && /^```$/ { exit }
  inside { print }
' "$readme")
[[ $install == "cargo install "* && $install != *$'\n'* ]] ||
  fail "the block after <!-- tested: install --> must be one cargo install line, not: $install"
echo "--- readme: $install --debug --root <temporary>"
read -ra install_words <<<"$install"
"${install_words[@]}" --debug --root "$work/install" --quiet
[[ -x $work/install/bin/revokd ]] || fail "$install installed no revokd"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A driver that runs the blocks, then stops what they started in the
# background (the README's `revokd ... &`).
{
  echo 'set -euo pipefail'
  echo "trap 'kill \$(jobs -p) 2>/dev/null; wait' EXIT"
  sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" <<<"$blocks"
} >"$work/blocks.sh"

cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# A fresh start: an empty directory, a plain environment (no REVOKD_* of the
# caller's), revokd on PATH.
status=0
(
  cd "$work/home"
  env -i HOME="$work/home" PATH="$work/install/bin:/usr/local/bin:/usr/bin:/bin" \
    REVOKD_LISTEN="127.0.0.1:$port" bash "$work/blocks.sh"
) >"$work/out" 2>&1 || status=$?
cat "$work/out"
((status == 0)) || fail "the README's tested blocks failed (exit $status); the script ran was:
$(cat -n "$work/blocks.sh")"

expected=0
while IFS= read -r line; do
  want=${line#*# -> }
  expected=$((expected + 1))
  grep -qF -- "$want" "$work/out" || fail "the README says the output holds $want, it does not"
done < <(grep -E '^[[:space:]]*# -> ' <<<"$blocks")
((expected > 0)) || fail "no '# -> ' output line in the tested blocks: nothing is checked"
echo "--- readme: ok ($count blocks, $expected outputs checked)"
