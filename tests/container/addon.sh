#!/usr/bin/env bash
# The Home Assistant add-on (addons/revokd): its files against the documented
# add-on configuration keys, run.sh turning options into a configuration
# revokd accepts (and refusing bad ones), and its image built on the
# (stand-in) Home Assistant base image, run with /data/options.json: /readyz.
# Run by tests/container/run.sh after the revokd image is built.
source "$(dirname "$0")/lib.sh"
setup_podman

ADDON=$REPO_ROOT/addons/revokd
work=$(mktemp -d)
NAME=revokd-addon-test-$$
ADDON_IMAGE=localhost/revokd-addon:test
cleanup() {
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$(compose_python)" "$(dirname "$0")/addon_config.py" "$REPO_ROOT" ||
    die "the add-on's files do not match the documented add-on configuration"
log "config.yaml, build.yaml, translations/en.yaml, repository.yaml match the documented keys"

# run.sh on this host, with the revokd binary of the image (no second build).
podman create --name "$NAME-bin" "$TEST_IMAGE" >/dev/null
podman cp "$NAME-bin:/usr/local/bin/revokd" "$work/revokd"
podman rm "$NAME-bin" >/dev/null

run_script() { # options-json [argument]
    printf '%s' "$1" >"$work/options.json"
    OPTIONS_FILE=$work/options.json DATA_DIR=$work/data CONFIG_FILE=$work/conf/revokd.toml \
        ADDON_BINARY=$work/revokd "$ADDON/run.sh" "${2:-check}"
}
good='{"log_level": "info", "fail_mode": "closed",
  "keys": [{"name": "home-assistant", "role": "client", "key": "a-client-key-of-32-characters!!\"q"},
           {"name": "operator", "role": "admin", "key": "an-admin-key-long-enough"}],
  "providers": [{"name": "authentik", "issuer": "https://auth.example.com/application/o/ha/",
                 "client_id": "home-assistant"}]}'
out=$(run_script "$good" 2>&1) || die "run.sh refused good options: $out"
[[ "$out" == *"configuration is valid"* ]] || die "check-config did not say the configuration is valid: $out"
[ "$(stat -c %a "$work/conf/revokd.toml")" = 600 ] || die "the generated configuration is not 0600"
grep -q 'key = "a-client-key-of-32-characters!!\\"q"' "$work/conf/revokd.toml" ||
    die "a quote in a key is not escaped in the TOML"
log "run.sh: sample options give a configuration check-config accepts ($out)"

expect_refusal() { # options-json expected-words what
    local out
    if out=$(run_script "$1" 2>&1); then die "run.sh accepted $3"; fi
    [[ "$out" == *"$2"* ]] || die "run.sh's refusal of $3 lacks \"$2\": $out"
    log "run.sh refuses $3: $out"
}
expect_refusal '{"log_level": "info", "fail_mode": "closed", "keys": [{"name": "x", "role": "client", "key": "short"}], "providers": []}' \
    'keys[0].key' 'a short key'
expect_refusal '{"log_level": "info", "fail_mode": "closed", "keys": [], "providers": [{"name": "p", "issuer": "http://idp.example.com", "client_id": "ha"}]}' \
    'providers[0].issuer' 'a plain-http issuer'
expect_refusal '{"log_level": "info", "fail_mode": "sideways", "keys": [], "providers": []}' \
    'fail_mode' 'an unknown fail mode'
expect_refusal '{"log_level": "info", "fail_mode": "closed", "keys": [{"name": "x", "role": "client"}], "providers": []}' \
    'option keys.0.key must be a string' 'a key without its secret'
expect_refusal '[]' 'not a JSON object' 'a non-object options file'

# The image: Home Assistant's base (the stand-in here) and the revokd binary
# of the revokd image of this version (the one built above: tagged with the
# name the add-on's build.yaml gives, so the add-on's Dockerfile is unchanged).
base=$(sed -n 's/^ *amd64: *//p' "$ADDON/build.yaml")
revokd_image=$(sed -n 's/^ *REVOKD_IMAGE: *//p' "$ADDON/build.yaml")
podman tag "$TEST_IMAGE" "$revokd_image"
started=$SECONDS
podman build --format docker --network host --build-arg BUILD_FROM="$base" \
    --build-arg REVOKD_IMAGE="$revokd_image" \
    --build-arg BUILD_VERSION="$(sed -n 's/^version: *"\(.*\)"/\1/p' "$ADDON/config.yaml")" \
    --build-arg BUILD_ARCH=amd64 -t "$ADDON_IMAGE" "$ADDON" >&2
log "built $ADDON_IMAGE in $((SECONDS - started))s ($(image_size_mb "$ADDON_IMAGE") MB)"

# As the Supervisor runs it: its own network namespace, /data mounted.
mkdir -p "$work/addon-data"
printf '%s' "$good" >"$work/addon-data/options.json"
PORT=$(free_port)
podman run -d --name "$NAME" --network bridge -p "127.0.0.1:$PORT:8080" \
    -v "$work/addon-data:/data" "$ADDON_IMAGE" >/dev/null
wait_http_200 "http://127.0.0.1:$PORT/readyz" 60 || { podman logs "$NAME" >&2; die "the add-on's /readyz is not 200"; }
[ -d "$work/addon-data/revokd" ] || die "the embedded store is not in /data/revokd"
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer an-admin-key-long-enough' \
    "http://127.0.0.1:$PORT/v1/admin/subjects/status?iss=https://auth.example.com&sub=alice")
[ "$status" = 200 ] || die "the admin key from the options is not accepted ($status)"
log "add-on container: /readyz 200, store in /data/revokd, option keys accepted"

# A bad option stops the add-on with revokd's message.
podman rm -f -t 0 "$NAME" >/dev/null
printf '%s' '{"log_level": "info", "fail_mode": "closed", "keys": [{"name": "x", "role": "client", "key": "short"}], "providers": []}' \
    >"$work/addon-data/options.json"
if out=$(podman run --rm --network bridge -v "$work/addon-data:/data" "$ADDON_IMAGE" 2>&1); then
    die "the add-on started with a short key"
fi
[[ "$out" == *'keys[0].key'* ]] || die "the add-on's refusal does not name keys[0].key: $out"
log "add-on container refuses bad options: ${out:0:100}"
log "addon: all checks passed"
