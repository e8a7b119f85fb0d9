#!/usr/bin/env bash
# Full RS256 logout-token validation (decode + verify, criterion bench
# `logout_token/RS256`) against the raw RSA-2048 verify rate that
# `openssl speed` measures on the same machine, in one run.
#
# Requirement: ratio >= 0.5 (verification speed is an attack surface: anyone
# may POST logout tokens). Both numbers are single-threaded. Exits 1 below
# the threshold, 2 when a number cannot be read.
#
# Usage: benches/logout_token_ratio.sh   (from anywhere; builds the bench)
set -euo pipefail
cd "$(dirname "$0")/.."
threshold=0.5

echo "== openssl speed -seconds 3 rsa2048"
openssl_out=$(openssl speed -seconds 3 rsa2048 2>/dev/null)
printf '%s\n' "$openssl_out" | grep -E 'sign/s|^rsa' || true
# OpenSSL 3: "rsa 2048 bits <sign s> <verify s> <sign/s> <verify/s>".
openssl_verify=$(printf '%s\n' "$openssl_out" | awk '/^rsa +2048 bits/ { print $7; exit }')

echo "== cargo bench --bench logout_token -- RS256"
cargo bench --bench logout_token -- 'logout_token/RS256$'

target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
estimates="$target_dir/criterion/logout_token/RS256/new/estimates.json"
# Mean time per validation, in nanoseconds.
mean_ns=$(sed -n 's/.*"mean":{"confidence_interval":{[^}]*},"point_estimate":\([0-9.eE+-]*\).*/\1/p' "$estimates")

if [[ -z "$openssl_verify" || -z "$mean_ns" ]]; then
    echo "could not read openssl verify/s ('$openssl_verify') or bench mean ('$mean_ns')" >&2
    exit 2
fi

awk -v v="$openssl_verify" -v ns="$mean_ns" -v t="$threshold" 'BEGIN {
    rate = 1e9 / ns
    ratio = rate / v
    printf "openssl rsa2048 verify/s:            %10.1f\n", v
    printf "RS256 logout-token validations/s:    %10.1f  (%.2f us each)\n", rate, ns / 1000
    printf "ratio (validations/s / verify/s):    %10.2f  (required >= %.2f)\n", ratio, t
    exit (ratio >= t) ? 0 : 1
}'
