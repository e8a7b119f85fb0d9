#!/usr/bin/env bash
# The add-on's entry point: turns the add-on options (/data/options.json)
# into a revokd configuration, has revokd check it, then runs revokd.
#
#   run.sh          write the configuration, check it, exec `revokd serve`
#   run.sh check    write the configuration and check it (tests)
#
# OPTIONS_FILE, CONFIG_FILE, DATA_DIR and ADDON_BINARY move the paths (tests);
# none is a REVOKD_* name, which revokd would refuse as an unknown key.
set -euo pipefail

OPTIONS_FILE=${OPTIONS_FILE:-/data/options.json}
DATA_DIR=${DATA_DIR:-/data}
CONFIG_FILE=${CONFIG_FILE:-/tmp/revokd/revokd.toml}
ADDON_BINARY=${ADDON_BINARY:-/usr/local/bin/revokd}

fail() {
    echo "revokd add-on: $*" >&2
    exit 1
}

[ -r "$OPTIONS_FILE" ] || fail "$OPTIONS_FILE cannot be read"
jq -e 'type == "object"' "$OPTIONS_FILE" >/dev/null 2>&1 ||
    fail "$OPTIONS_FILE is not a JSON object"

# The Supervisor validates the options against config.yaml's schema; this
# names what is still wrong when the file comes from elsewhere.
problems=$(jq -r '
    def need($path; $type): if (getpath($path) | type) == $type then empty
        else "option \($path | map(tostring) | join(".")) must be a \($type)" end;
    need(["log_level"]; "string"), need(["fail_mode"]; "string"),
    need(["keys"]; "array"), need(["providers"]; "array"),
    ((.keys // []) | to_entries[] | .key as $i | .value as $k |
        (["name", "role", "key"][] as $f
         | if ($k[$f] | type) == "string" then empty
           else "option keys.\($i).\($f) must be a string" end)),
    ((.providers // []) | to_entries[] | .key as $i | .value as $p |
        (["name", "issuer", "client_id"][] as $f
         | if ($p[$f] | type) == "string" then empty
           else "option providers.\($i).\($f) must be a string" end))
' "$OPTIONS_FILE")
[ -z "$problems" ] || fail "${problems//$'\n'/; }"

mkdir -p "$(dirname "$CONFIG_FILE")" "$DATA_DIR/revokd"
# The keys are in the configuration: only this user may read it.
umask 077
# A JSON string (jq's tojson) is a TOML basic string: same quotes, same
# escapes. revokd's own names (keys[0].key, providers[1].issuer, ...) match
# the option names, so its error messages point at the right option.
jq -r --arg data "$DATA_DIR/revokd" '
    def s: tojson;
    "# Written by the add-on from /data/options.json at every start.",
    "listen = \"0.0.0.0:8080\"",
    "store = \"embedded\"",
    "",
    "[embedded]",
    "path = \($data | s)",
    "",
    "[log]",
    "format = \"pretty\"",
    "filter = \(.log_level | s)",
    "",
    "[check]",
    "fail_mode = \(.fail_mode | s)",
    (.keys[] | "", "[[keys]]",
        "name = \(.name | s)", "role = \(.role | s)", "key = \(.key | s)"),
    (.providers[] | "", "[[providers]]",
        "name = \(.name | s)", "issuer = \(.issuer | s)",
        "client_ids = [\(.client_id | s)]",
        (if .jwks_uri then "jwks_uri = \(.jwks_uri | s)" else empty end),
        (if .allow_insecure_http then "allow_insecure_http = true" else empty end))
' "$OPTIONS_FILE" >"$CONFIG_FILE"

# Stops here, with revokd's message naming the key, on a bad option.
if ! summary=$("$ADDON_BINARY" --config "$CONFIG_FILE" check-config 2>&1); then
    fail "the options are not a valid revokd configuration: ${summary#revokd: }"
fi
echo "revokd add-on: $summary" >&2

case "${1:-serve}" in
check) exit 0 ;;
serve) exec "$ADDON_BINARY" --config "$CONFIG_FILE" serve ;;
*) fail "unknown argument $1 (serve or check)" ;;
esac
