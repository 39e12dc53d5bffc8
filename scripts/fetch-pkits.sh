#!/usr/bin/env bash
# Fetches NIST PKITS (2011) as the `cryptography-vectors` package on PyPI ships it and puts
# its certificates, CRLs and signed messages into conformance/pkits/ (committed: the test
# in crates/certmail/tests/pkits.rs needs no network). Run again only to refresh them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=48.0.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps --quiet --dest "$tmp" "cryptography-vectors==$version"
python3 - "$tmp"/cryptography_vectors-"$version"-*.whl conformance/pkits <<'PY'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "cryptography_vectors/x509/PKITS_data/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        rest = name[len(prefix):] if name.startswith(prefix) else None
        if rest and rest.split("/")[0] in ("certs", "crls", "smime") and not name.endswith("/"):
            out = dest / rest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
PY
echo "PKITS data in conformance/pkits (cryptography-vectors $version)"
