# Sourced by the CRL benchmarks: `big_crl DIR N` makes DIR/ca.key and DIR/ca.pem (a P-256
# CA) and DIR/ca.crl, a DER CRL of N revoked serials written by `openssl ca -gencrl` over an
# index of N entries (a builder that copies its list per entry, as Python cryptography's
# does, is quadratic).
big_crl() {
    local work=$1 n=$2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" \
        -out "$work/ca.pem" -subj "/CN=Bench CRL CA" -days 365 \
        -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    python3 - "$work/index.txt" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"R\t301231000000Z\t250101000000Z\t{0x10000000 + i:X}\tunknown\t/CN=u{i}\n")
PY
    echo 01 > "$work/crlnumber"
    cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
database = $work/index.txt
crlnumber = $work/crlnumber
default_md = sha256
default_crl_days = 7
CNF
    openssl ca -batch -config "$work/ca.cnf" -gencrl -keyfile "$work/ca.key" -cert "$work/ca.pem" \
        -out "$work/ca-crl.pem" 2>/dev/null
    openssl crl -in "$work/ca-crl.pem" -outform DER -out "$work/ca.crl"
}
