#!/bin/sh
# enroll_flow.sh: enrollment on `certkit serve` walked by curl and openssl
# (the README's walk), client_policy = pairing (the default).
#
#  1. without HOME/ca: /.well-known/est/cacerts and simpleenroll are 404
#     not_found problems
#  2. cacerts: base64 certs-only PKCS#7 read by `openssl pkcs7 -print_certs`
#  3. simpleenroll (base64 DER CSR, no client certificate): 202 pending,
#     Retry-After, Location /api/v1/requests/ID; again: the same request
#  4. `certkit clients approve`: the next POST is 200 with a PKCS#7 whose
#     leaf verifies against the CA (`openssl verify`), clientAuth only, the
#     CSR's names, serial recorded; GET /api/v1/requests/ID answers the
#     same certificate as JSON
#  5. a rejected client: 403 client_rejected
#  6. a token: `clients token create --uses 1 --ttl 1h` (JSON and text);
#     POST /api/v1/enroll with it: issued at once; a second key with the
#     same token: 403 token_invalid; the token is not in the registry
#  7. revoke: the CRL from /crl (openssl crl -verify) lists the serial,
#     `openssl verify -crl_check` fails with "certificate revoked", and
#     `openssl ocsp -issuer -CA -url` says revoked; a good one says good
# Env: CERTKIT. Loopback only, port 0, every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"

# csr NAME [openssl req args]: key NAME.key and base64 DER CSR NAME.b64.
csr() {
	n=$1
	shift
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/$n.key" -subj "/CN=$n" "$@" -outform DER \
	    -out "$work/$n.der" 2>/dev/null &&
	    base64 <"$work/$n.der" >"$work/$n.b64"
}
est() { # est NAME PATH [curl args]
	n=$1 p=$2
	shift 2
	http - "/.well-known/est/$p" -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$work/$n.b64" "$@"
}
p7certs() { # p7certs OUT: the PKCS#7 of the last body as PEM certificates
	base64 -d <"$work/resp" | openssl pkcs7 -inform DER -print_certs \
	    -out "$1" 2>/dev/null
}

"$CERTKIT" identity init >"$work/init.out" 2>&1 ||
	{ bad "identity init: $(cat "$work/init.out")"; finish; }
"$CERTKIT" registry migrate >"$work/mig.out" 2>&1 ||
	{ bad "registry migrate: $(cat "$work/mig.out")"; finish; }
csr gw1 -addext "subjectAltName=DNS:gw1.example,IP:192.0.2.10"
start_server || { bad "serve starts"; finish; }

# 1. No CA: 404.
r=$(http - /.well-known/est/cacerts)
[ "$r" = "404 application/problem+json" ] && [ "$(jget type)" = not_found ] &&
    grep -q 'certkit ca init' "$work/resp" &&
	ok "no CA: cacerts is 404 not_found naming ca init" ||
	bad "no CA: cacerts '$r' $(cat "$work/resp")"
r=$(est gw1 simpleenroll)
[ "$r" = "404 application/problem+json" ] &&
	ok "no CA: simpleenroll is 404" || bad "no CA: simpleenroll '$r'"
stop_server

"$CERTKIT" ca init --name "Interop CA" >"$work/ca.out" 2>&1 ||
	{ bad "ca init: $(cat "$work/ca.out")"; finish; }
start_server || { bad "serve starts with a CA"; finish; }

# 2. cacerts.
r=$(http - /.well-known/est/cacerts)
if [ "${r%%;*}" = "200 application/pkcs7-mime" ] && p7certs "$work/cacerts.pem" &&
    [ "$(grep -c 'BEGIN CERTIFICATE' "$work/cacerts.pem")" = 2 ] &&
    grep -q 'Interop CA' "$work/cacerts.pem"; then
	ok "cacerts: certs-only PKCS#7 with the issuing CA and the root"
else
	bad "cacerts: '$r' $(head -c 300 "$work/resp")"
fi
awk '/BEGIN/{n++} n==1' "$work/cacerts.pem" >"$work/issuing.pem"
awk '/BEGIN/{n++} n==2' "$work/cacerts.pem" >"$work/root.pem"

# 3. Pending.
r=$(est gw1 simpleenroll)
REQ=$(jget request)
if [ "$r" = "202 application/json" ] && [ "$(jget state)" = pending ] &&
    grep -qi '^Retry-After: 30' "$work/head" &&
    grep -qi "^Location: /api/v1/requests/$REQ" "$work/head" &&
    [ ${#REQ} = 16 ]; then
	ok "simpleenroll: 202 pending, Retry-After, Location of request $REQ"
else
	bad "simpleenroll pending: '$r' $(cat "$work/resp") $(cat "$work/head")"
fi
r=$(est gw1 simpleenroll)
[ "$r" = "202 application/json" ] && [ "$(jget request)" = "$REQ" ] &&
	ok "again: the same pending request" ||
	bad "second simpleenroll: '$r' $(cat "$work/resp")"
r=$(http - "/api/v1/requests/$REQ")
[ "$r" = "202 application/json" ] && [ "$(jget state)" = pending ] &&
	ok "GET /api/v1/requests/ID: pending" || bad "poll: '$r' $(cat "$work/resp")"

# 4. Approve, then issued.
SPKI=$(openssl pkey -in "$work/gw1.key" -pubout -outform DER |
    openssl dgst -sha256 -r | cut -c1-64)
"$CERTKIT" clients approve "$(printf %s "$SPKI" | cut -c1-12)" \
    >"$work/approve.out" 2>&1 || bad "approve: $(cat "$work/approve.out")"
grep -q 'gw1.example' "$work/approve.out" &&
	ok "approve shows the names to be issued" ||
	bad "approve output: $(cat "$work/approve.out")"
r=$(est gw1 simpleenroll)
if [ "${r%%;*}" = "200 application/pkcs7-mime" ] && p7certs "$work/gw1.all" &&
    openssl x509 -in "$work/gw1.all" -out "$work/gw1.pem" &&
    openssl verify -CAfile "$work/root.pem" -untrusted "$work/issuing.pem" \
        "$work/gw1.pem" >/dev/null 2>&1; then
	ok "approved: 200 PKCS#7, the leaf verifies to the CA"
else
	bad "approved simpleenroll: '$r' $(head -c 300 "$work/resp")"
fi
openssl x509 -in "$work/gw1.pem" -noout -text >"$work/gw1.txt" 2>&1
if grep -q 'TLS Web Client Authentication' "$work/gw1.txt" &&
    ! grep -q 'TLS Web Server Authentication' "$work/gw1.txt" &&
    grep -q 'DNS:gw1.example' "$work/gw1.txt" &&
    grep -q 'IP Address:192.0.2.10' "$work/gw1.txt"; then
	ok "the leaf: clientAuth only, the approved names"
else
	bad "the leaf: $(cat "$work/gw1.txt")"
fi
SERIAL=$(openssl x509 -in "$work/gw1.pem" -noout -serial | cut -d= -f2 |
    tr 'A-F' 'a-f')
r=$(http - "/api/v1/requests/$REQ")
[ "$r" = "200 application/json" ] && [ "$(jget state)" = issued ] &&
    [ "$(jget serial)" = "$SERIAL" ] && jget certificate | grep -q BEGIN &&
	ok "GET /api/v1/requests/ID: issued, the same serial" ||
	bad "poll issued: '$r' $(head -c 300 "$work/resp")"
r=$(est gw1 simpleenroll)
p7certs "$work/gw1b.all"
openssl x509 -in "$work/gw1b.all" -noout -serial | grep -qi "=$SERIAL" &&
	ok "simpleenroll again: the same certificate, no new serial" ||
	bad "simpleenroll again: '$r'"

# 5. Rejected.
csr gw2
est gw2 simpleenroll >/dev/null
SPKI2=$(openssl pkey -in "$work/gw2.key" -pubout -outform DER |
    openssl dgst -sha256 -r | cut -c1-64)
"$CERTKIT" clients reject "$(printf %s "$SPKI2" | cut -c1-12)" >/dev/null 2>&1
r=$(est gw2 simpleenroll)
[ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = client_rejected ] &&
	ok "rejected: 403 client_rejected" || bad "rejected: '$r' $(cat "$work/resp")"

# 6. Tokens.
"$CERTKIT" clients token create --uses 1 --ttl 1h --json >"$work/tok.json" \
    2>"$work/tok.err" || bad "token create: $(cat "$work/tok.err")"
TOK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' \
    "$work/tok.json" 2>/dev/null)
"$CERTKIT" clients token create --uses 2 --ttl 10m >"$work/tok.txt" 2>&1 &&
    grep -q 'uses 2' "$work/tok.txt" && ok "token create: text output" ||
	bad "token create text: $(cat "$work/tok.txt")"
csr gw3
jcsr() { python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "token": sys.argv[2]}))' "$1" "$2"; }
jcsr "$work/gw3.b64" "$TOK" >"$work/gw3.json"
r=$(http - /api/v1/enroll -H 'Content-Type: application/json' \
    --data-binary "@$work/gw3.json")
[ "$r" = "200 application/json" ] && [ "$(jget state)" = issued ] &&
	ok "JSON enroll with a token: issued at once" ||
	bad "token enroll: '$r' $(cat "$work/resp")"
csr gw4
jcsr "$work/gw4.b64" "$TOK" >"$work/gw4.json"
r=$(http - /api/v1/enroll -H 'Content-Type: application/json' \
    --data-binary "@$work/gw4.json")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = token_invalid ] &&
	ok "the same token twice: 403 token_invalid" ||
	bad "token twice: '$r' $(cat "$work/resp")"
if sqlite3 "$H/server/registry.db" 'SELECT sha256 FROM tokens' \
    >"$work/tokrows" 2>&1; then
	! grep -q "$TOK" "$work/tokrows" && [ -s "$work/tokrows" ] &&
		ok "tokens are stored hashed" || bad "token rows: $(cat "$work/tokrows")"
fi

# 7. Revocation: CRL and OCSP.
curl -sk -o "$work/crl0.der" "https://127.0.0.1:$port/crl"
openssl crl -inform DER -in "$work/crl0.der" -noout -CAfile "$work/cacerts.pem" \
    >"$work/crl0.out" 2>&1 && grep -q 'verify OK' "$work/crl0.out" &&
	ok "/crl: a DER CRL signed by the CA" || bad "/crl: $(cat "$work/crl0.out")"
"$CERTKIT" clients revoke "$(printf %s "$SPKI" | cut -c1-12)" \
    --reason "key compromise" >/dev/null 2>&1 || bad "revoke"
curl -sk -o "$work/crl1.der" "https://127.0.0.1:$port/crl"
openssl crl -inform DER -in "$work/crl1.der" -noout -text >"$work/crl1.txt" 2>&1
grep -qi "Serial Number: $SERIAL" "$work/crl1.txt" &&
    grep -q 'Key Compromise' "$work/crl1.txt" &&
	ok "after revoke: /crl lists the serial, keyCompromise" ||
	bad "crl after revoke: $(cat "$work/crl1.txt")"
openssl crl -inform DER -in "$work/crl1.der" -out "$work/crl1.pem"
cat "$work/cacerts.pem" "$work/crl1.pem" >"$work/crlchain.pem"
openssl verify -crl_check -CAfile "$work/crlchain.pem" "$work/gw1.pem" \
    >"$work/vfy.out" 2>&1
grep -q 'certificate revoked' "$work/vfy.out" &&
	ok "openssl verify -crl_check: certificate revoked" ||
	bad "verify -crl_check: $(cat "$work/vfy.out")"
ocsp() {
	timeout 10 openssl ocsp -issuer "$work/issuing.pem" -cert "$1" \
	    -CAfile "$work/cacerts.pem" -url "https://127.0.0.1:$port/ocsp" \
	    >"$work/ocsp.out" 2>&1
}
ocsp "$work/gw1.pem"
grep -q ': revoked' "$work/ocsp.out" && grep -q 'Response verify OK' "$work/ocsp.out" &&
    grep -qi 'keyCompromise' "$work/ocsp.out" &&
	ok "openssl ocsp -url /ocsp: revoked, keyCompromise, signature OK" ||
	bad "ocsp revoked: $(cat "$work/ocsp.out")"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificate"], end="")' \
    "$work/resp" >/dev/null 2>&1
jcsr "$work/gw3.b64" "" >/dev/null
r=$(http - /api/v1/enroll -H 'Content-Type: application/json' \
    --data-binary "@$work/gw3.json")
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificate"], end="")' \
    "$work/resp" >"$work/gw3.pem" 2>/dev/null
ocsp "$work/gw3.pem"
grep -q ': good' "$work/ocsp.out" &&
	ok "openssl ocsp: an unrevoked certificate is good" ||
	bad "ocsp good: $(cat "$work/ocsp.out")"
finish
