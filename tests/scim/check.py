"""Runs scim2-tester (python-scim's SCIM conformance checker) against a
running revokd: every check of its `check_server`, then prints one line per
check and a summary, and exits non-zero when a check that is expected to
pass did not.

    python check.py BASE_URL TOKEN EXPECTED_FILE

EXPECTED_FILE lists, one per line, `title<TAB>status<TAB>reason text` for
the check results known not to succeed (each with why in a comment): a
result matches when its title is the same and its reason contains the
text. Every other result must be SUCCESS, COMPLIANT or ACCEPTABLE, and
every listed one must occur with its status, so the list cannot fall
behind.
"""

import sys
from collections import Counter

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


def main():
    base_url, token, expected_file = sys.argv[1:4]
    expected = []
    with open(expected_file, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            title, status, needle = line.rstrip("\n").split("\t")
            expected.append((title, status, needle))
    met = set()
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    client = SyncSCIMClient(http)
    results = check_server(client)
    seen = Counter()
    failed = []
    for r in results:
        name = r.title or "?"
        seen[r.status.name] += 1
        reason = (r.reason or "").replace("\n", " ")[:160]
        resource = f" [{r.resource_type}]" if getattr(r, "resource_type", None) else ""
        known = [e for e in expected if e[0] == name and e[2] in (r.reason or "")]
        mark = " (known, tests/scim/expected.tsv)" if known else ""
        print(f"{r.status.name:10} {name}{resource}: {reason}{mark}")
        if known:
            met.add(known[0])
            if r.status.name != known[0][1]:
                failed.append(f"{name}: expected {known[0][1]}, got {r.status.name} ({reason})")
        elif r.status not in PASSING:
            failed.append(f"{name}: {r.status.name} ({reason})")
    for e in expected:
        if e not in met:
            failed.append(f"{e[0]}: listed as {e[1]} ({e[2]}) but did not occur")
    print("summary: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))
          + f"; {len(met)} of them known and listed with their reason")
    if failed:
        print("unexpected:", *failed, sep="\n  ")
        sys.exit(1)


main()
