#!/usr/bin/env python3
"""Cross-check conformance/pkits.json against `openssl verify` (OpenSSL 3).

For every row of the table this converts the DER certificates and CRLs the row
names to PEM (once, in a temporary directory), then runs

    openssl verify -attime <at> -CAfile TrustAnchor.pem
                   [-untrusted <path + extra_certs>] -CRLfile <crls>
                   -crl_check_all -policy_check -policy OID [-policy OID ...]
                   [-explicit_policy] [-inhibit_map] [-inhibit_any]
                   [-extended_crl -use_deltas] EE.pem

(an empty "policy" list is passed as -policy 2.5.29.32.0, i.e. anyPolicy)
and compares OpenSSL's verdict with the row's "expect".  One line is printed
per disagreement, then a summary "openssl: N right, M wrong of T".

-extended_crl (indirect CRLs, separate CRL-signing keys) and -use_deltas
(delta CRLs) are passed by default because PKITS 4.4.19-21, 4.5.6-8, 4.14 and
4.15 exercise exactly those features; --plain leaves them out.

Usage: pkits-openssl.py [--plain] [--verbose] [--data DIR] [--table FILE]
                        [--openssl BIN] [ID-PREFIX ...]
Standard library only.  Exit status: 0 if every selected row agrees, 1 if not.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TABLE = os.path.join(HERE, "pkits.json")
DEFAULT_DATA = os.environ.get("PKITS_DATA", os.path.join(HERE, "pkits"))
TRUST_ANCHOR = "TrustAnchorRootCertificate.crt"
ANY_POLICY = "2.5.29.32.0"


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


class PemCache:
    """Converts DER files to PEM once and concatenates bundles on demand."""

    def __init__(self, openssl, data, tmp):
        self.openssl = openssl
        self.data = data
        self.tmp = tmp
        self.pem = {}
        self.bundles = {}

    def get(self, kind, name):
        key = (kind, name)
        if key not in self.pem:
            src = os.path.join(self.data, "certs" if kind == "x509" else "crls", name)
            dst = os.path.join(self.tmp, name + ".pem")
            res = run([self.openssl, kind, "-inform", "DER", "-in", src,
                       "-outform", "PEM", "-out", dst])
            if res.returncode != 0:
                raise RuntimeError("cannot convert %s: %s" % (src, res.stderr.strip()))
            with open(dst) as f:
                self.pem[key] = (dst, f.read())
        return self.pem[key]

    def bundle(self, kind, names):
        key = (kind, tuple(names))
        if key not in self.bundles:
            path = os.path.join(self.tmp, "bundle-%d.pem" % len(self.bundles))
            with open(path, "w") as f:
                for n in names:
                    f.write(self.get(kind, n)[1])
            self.bundles[key] = path
        return self.bundles[key]


def verify(row, at, cache, openssl, plain):
    cmd = [openssl, "verify", "-attime", str(at),
           "-CAfile", cache.get("x509", TRUST_ANCHOR)[0]]
    untrusted = list(row["path"]) + list(row.get("extra_certs", []))
    if untrusted:
        cmd += ["-untrusted", cache.bundle("x509", untrusted)]
    if row["crls"]:
        cmd += ["-CRLfile", cache.bundle("crl", row["crls"])]
    cmd += ["-crl_check_all", "-policy_check"]
    if not plain:
        cmd += ["-extended_crl", "-use_deltas"]
    # An empty "policy" means user-initial-policy-set = {anyPolicy}.  Say so
    # explicitly: OpenSSL 3.0 leaves its user policy set empty when no -policy
    # is given, and then fails every path on which an explicit policy becomes
    # required ("no explicit policy") even though anyPolicy should accept it.
    for oid in row.get("policy") or [ANY_POLICY]:
        cmd += ["-policy", oid]
    if row.get("explicit_policy"):
        cmd.append("-explicit_policy")
    if row.get("inhibit_mapping"):
        cmd.append("-inhibit_map")
    if row.get("inhibit_any"):
        cmd.append("-inhibit_any")
    cmd.append(cache.get("x509", row["ee"])[0])
    res = run(cmd)
    out = (res.stdout + res.stderr).strip()
    ok = res.returncode == 0 and out.endswith(": OK")
    # the first "error N at depth D lookup: ..." line is the interesting one
    err = next((l for l in out.splitlines() if l.startswith("error ")), out.splitlines()[-1] if out else "")
    return ("valid" if ok else "invalid"), err, cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", default=DEFAULT_TABLE)
    ap.add_argument("--data", default=DEFAULT_DATA, help="PKITS_data directory (certs/, crls/)")
    ap.add_argument("--openssl", default="openssl")
    ap.add_argument("--plain", action="store_true", help="omit -extended_crl and -use_deltas")
    ap.add_argument("--verbose", action="store_true", help="also print the command of each mismatch")
    ap.add_argument("ids", nargs="*", help="only rows whose id starts with one of these")
    args = ap.parse_args()

    with open(args.table) as f:
        table = json.load(f)
    at = int(datetime.datetime.fromisoformat(table["at"].replace("Z", "+00:00")).timestamp())
    rows = [r for r in table["tests"]
            if not args.ids or any(r["id"] == p or r["id"].startswith(p + ".") for p in args.ids)]

    right = wrong = 0
    with tempfile.TemporaryDirectory(prefix="pkits-openssl-") as tmp:
        cache = PemCache(args.openssl, args.data, tmp)
        for row in rows:
            got, err, cmd = verify(row, at, cache, args.openssl, args.plain)
            if got == row["expect"]:
                right += 1
                continue
            wrong += 1
            print("%-9s %-55s expect %-7s openssl %-7s %s"
                  % (row["id"], row["name"], row["expect"], got, err))
            if args.verbose:
                print("          " + " ".join(cmd))
    print("openssl%s: %d right, %d wrong of %d"
          % (" (plain)" if args.plain else "", right, wrong, right + wrong))
    return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
