#!/usr/bin/env python3
"""The heaviest frames of a folded profile (inferno-collapse-perf output),
as inclusive shares of all samples, for benches/check_profile.sh and to
compare two profiles of one route.

Usage: benches/profile_shares.py <folded> [frames, default 45]
"""
import collections
import sys

path = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 45
total, incl = 0, collections.Counter()
for line in open(path):
    stack, n = line.rsplit(" ", 1)
    n = int(n)
    total += n
    for frame in set(stack.split(";")):
        incl[frame] += n
print(f"{total} samples; inclusive share of the heaviest frames:")
for frame, n in incl.most_common(top):
    print(f"{100 * n / total:5.1f}%  {frame[:150]}")
# Where revokd's own code goes: frames under the outermost middleware.
print("inclusive share of revokd's, actix's, serde's, allocation frames, outside the kernel:")
keys = ("revokd", "prometheus", "sha2", "serde", "actix_web", "actix_router", "tracing",
        "alloc", "malloc", "free", "memcpy", "fmt", "josekit", "openssl", "ring", "aws_lc",
        "base64", "hmac", "EVP", "RSA", "BN_")
for frame, n in incl.most_common():
    if n / total < 0.004 or any(k in frame for k in ("_sys_", "tcp_", "ip_", "__x64", "syscall")):
        continue
    if any(k in frame for k in keys):
        print(f"{100 * n / total:5.1f}%  {frame[:150]}")
