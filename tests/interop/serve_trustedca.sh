#!/bin/sh
# serve_trustedca.sh: client_policy = trusted-ca and trusted-ca+pairing,
# with curl, against client_ca = the test root (DER, .cer as SAFEQ imports
# it) and the issuing CA.
#
#  1. trusted-ca: a client of the test PKI (issued by int-ca at test time, clientAuth) is
#     approved on first contact (200), its row says policy trusted-ca
#  2. trusted-ca: a self-signed client and one from another CA get 403
#     issuer_not_trusted, "issuer not in client_ca"
#  3. a client chain of 50 certificates to a root not in client_ca: 403
#     issuer_not_trusted, and the server still serves the approved client
#  4. trusted-ca+pairing (after SIGHUP): the self-signed client goes
#     pending (202); the CA client is still 200
#  5. verify_policy = strict (after SIGHUP): a client of the issuing CA
#     without authorityKeyIdentifier gets 403 issuer_not_trusted naming
#     the rule (leaf_no_aki); the approved client is still 200
# Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
PKI=$CERTKIT_TEST_PKI

"$CERTKIT" identity init >/dev/null 2>&1 || { bad "identity init"; finish; }
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }
cp "$PKI/root-ca.der" "$work/root.cer"
printf '[server]\nclient_policy = trusted-ca\nclient_ca = %s, %s\n' \
    "$work/root.cer" "$PKI/int-ca.pem" >"$H/certkit.conf"
mkissued ca1 gateway-01 || { bad "mkissued"; finish; }
mkclient self1 gateway-02
start_server || { bad "serve starts"; finish; }

# 1.
r=$(http ca1 /api/v1/status)
if [ "$r" = "200 application/json" ] && [ "$(jget state)" = approved ] &&
    [ "$(jget policy)" = trusted-ca ]; then
	ok "trusted-ca: a client of client_ca is approved on first contact"
else
	bad "trusted-ca client: '$r' $(cat "$work/resp")"
fi

# 2.
r=$(http self1 /api/v1/status)
[ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = issuer_not_trusted ] &&
    grep -q 'issuer not in client_ca' "$work/resp" &&
	ok "trusted-ca: a self-signed client gets 403 issuer_not_trusted" ||
	bad "self-signed client: '$r' $(cat "$work/resp")"
mkissued other other other-root || { bad "mkissued other"; finish; }
r=$(http other /api/v1/status)
[ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = issuer_not_trusted ] &&
	ok "trusted-ca: a client of another CA gets 403 issuer_not_trusted" ||
	bad "other CA client: '$r' $(cat "$work/resp")"

# 3. A chain of 50 certificates: root, 48 CAs, the leaf.
mk() { # mk NAME SUBJECT ISSUER_NAME EXT
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/c/$1.key" -subj "/CN=$2" -out "$work/c/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$work/c/$1.csr" -CA "$work/c/$3.pem" \
	    -CAkey "$work/c/$3.key" -set_serial "$4" -days 30 \
	    -extfile "$work/c/ext" -extensions "$5" -out "$work/c/$1.pem" 2>/dev/null
}
mkdir "$work/c"
printf '[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n[leaf]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$work/c/ext"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/c/ca0.key" -out "$work/c/ca0.pem" -subj "/CN=Deep Root" \
    -days 30 2>/dev/null
i=1
while [ $i -le 48 ]; do
	mk "ca$i" "Deep CA $i" "ca$((i - 1))" "$i" ca || break
	i=$((i + 1))
done
mk deep "deep-client" ca48 100 leaf
cp "$work/c/deep.key" "$work/deep.key"
{ cat "$work/c/deep.pem"; i=48; while [ $i -ge 0 ]; do
	cat "$work/c/ca$i.pem"; i=$((i - 1)); done; } >"$work/deep.pem"
n=$(grep -c 'BEGIN CERTIFICATE' "$work/deep.pem")
r=$(http deep /api/v1/status)
[ "$n" = 50 ] && [ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = issuer_not_trusted ] &&
	ok "a 50-certificate client chain: 403 issuer_not_trusted" ||
	bad "50-certificate chain ($n certificates): '$r' $(cat "$work/resp")"
r=$(http ca1 /api/v1/status)
[ "$r" = "200 application/json" ] &&
	ok "the approved client is still served after the deep chain" ||
	bad "approved client after the deep chain: '$r'"

# 4. trusted-ca+pairing, by SIGHUP.
printf '[server]\nclient_policy = trusted-ca+pairing\nclient_ca = %s, %s\n' \
    "$work/root.cer" "$PKI/int-ca.pem" >"$H/certkit.conf"
kill -HUP "$spid"
i=0
while [ $i -lt 50 ] && ! grep -q 'event=reload result=ok' "$log"; do
	sleep 0.1; i=$((i + 1)); done
r=$(http self1 /api/v1/status)
[ "$r" = "202 application/json" ] && [ "$(jget state)" = pending ] &&
	ok "trusted-ca+pairing (after SIGHUP): the self-signed client goes pending" ||
	bad "trusted-ca+pairing: '$r' $(cat "$work/resp")"
r=$(http ca1 /api/v1/status)
[ "$r" = "200 application/json" ] &&
	ok "trusted-ca+pairing: the CA client is still approved" ||
	bad "CA client after reload: '$r'"
# 5. verify_policy = strict, by SIGHUP: a client of int-ca without AKI.
printf '[leaf]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:noaki.example.test\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n' >"$work/c/noaki.ext"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/noaki.key" -subj "/CN=gw-noaki" -out "$work/c/noaki.csr" 2>/dev/null
openssl x509 -req -in "$work/c/noaki.csr" -CA "$PKI/int-ca.pem" \
    -CAkey "$PKI/int-ca.key" -set_serial 0x5eed01 -days 30 \
    -extfile "$work/c/noaki.ext" -extensions leaf -out "$work/noaki.pem" 2>/dev/null
printf '[server]\nclient_policy = trusted-ca\nverify_policy = strict\nclient_ca = %s, %s\n' \
    "$work/root.cer" "$PKI/int-ca.pem" >"$H/certkit.conf"
kill -HUP "$spid"
i=0
while [ $i -lt 50 ] && [ "$(grep -c 'event=reload result=ok' "$log")" -lt 2 ]; do
	sleep 0.1; i=$((i + 1)); done
r=$(http noaki /api/v1/status)
[ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = issuer_not_trusted ] &&
    grep -q 'verify_policy = strict: leaf_no_aki (RFC 5280 4.2.1.1)' "$work/resp" &&
	ok "verify_policy = strict: a client without AKI gets 403 naming the rule" ||
	bad "verify_policy = strict: '$r' $(cat "$work/resp")"
r=$(http ca1 /api/v1/status)
[ "$r" = "200 application/json" ] &&
	ok "verify_policy = strict: the approved client is still served" ||
	bad "approved client under strict: '$r'"
# A reload with a bad configuration keeps the old one.
printf '[server]\nclient_policy = bogus\n' >"$H/certkit.conf"
kill -HUP "$spid"
i=0
while [ $i -lt 50 ] && ! grep -q 'event=reload result=failed' "$log"; do
	sleep 0.1; i=$((i + 1)); done
r=$(http ca1 /api/v1/status)
grep -q "event=reload result=failed.*certkit.conf:2" "$log" &&
    [ "$r" = "200 application/json" ] &&
	ok "a bad configuration at SIGHUP is logged (FILE:LINE); the old one stays" ||
	bad "bad reload: '$r' $(grep reload "$log")"
stop_server || bad "SIGTERM: exit $src"
finish
