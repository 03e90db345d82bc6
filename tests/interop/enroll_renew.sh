#!/bin/sh
# enroll_renew.sh: simplereenroll on `certkit serve`, with curl and openssl.
#
#  1. (cert_days = 7: what is issued lives 7 days) a client enrolled with
#     a token renews with its current certificate as
#     the TLS client certificate: 200, a new serial, the same key and names
#     a renewal CSR asking for more names gets only the approved ones
#  2. no client certificate: 401 client_cert_required; a CSR with another
#     key: 400 bad_request; a certificate of another CA: 403
#     issuer_not_trusted
#  3. renewal after expiry (certificates made expired by `openssl ca` with
#     the server's CA key and recorded in the registry with sqlite3, as if
#     the device had been switched off):
#     - 10 days past notAfter, its client's newest, renew_grace 30d: 200
#     - 40 days past notAfter: 403 certificate_expired (beyond renew_grace)
#     - 10 days past notAfter but not the client's newest: 403
#       certificate_expired
#     - simpleenroll with the same key cannot get around it: beyond
#       renew_grace 403 certificate_expired (an admin approves again)
#  4. after `clients revoke`: 403 certificate_revoked
# Env: CERTKIT. Loopback only, port 0, every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"
command -v sqlite3 >/dev/null 2>&1 || { echo "1..0 # SKIP no sqlite3"; exit 0; }

csr() { # csr NAME [KEYFILE]: NAME.key (or KEYFILE) and base64 DER NAME.b64
	k=${2:-$work/$1.key}
	[ -f "$k" ] || openssl genpkey -algorithm EC \
	    -pkeyopt ec_paramgen_curve:P-256 -out "$k" 2>/dev/null
	openssl req -new -key "$k" -subj "/CN=$1" -outform DER \
	    -out "$work/$1.der" 2>/dev/null && base64 <"$work/$1.der" >"$work/$1.b64"
}
spkiof() {
	openssl pkey -in "$1" -pubout -outform DER | openssl dgst -sha256 -r |
	    cut -c1-64
}
reenroll() { # reenroll CSRNAME CERT KEY
	http - /.well-known/est/simplereenroll --cert "$2" --key "$3" \
	    -H 'Content-Type: application/pkcs10' --data-binary "@$work/$1.b64"
}
p7leaf() { # the leaf of the last PKCS#7 body into $1
	base64 -d <"$work/resp" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	    openssl x509 -out "$1" 2>/dev/null
}
clientid() { # clientid SPKI
	"$CERTKIT" clients show "$1" --json |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["client"]["id"])'
}
# forge NAME KEY DAYS_AGO: a certificate of NAME's key by the server's CA
# that expired DAYS_AGO days ago, recorded in the registry for its client.
forge() {
	n=$1 key=$2 ago=$3
	s=$(printf '4%031x' "$(date +%s%N | cut -c1-15)")
	mkdir -p "$work/ca.$n" && : >"$work/ca.$n/index" &&
	    echo "$s" >"$work/ca.$n/serial"
	cat >"$work/ca.$n/cnf" <<CNF
[ca]
default_ca = d
[d]
database = $work/ca.$n/index
new_certs_dir = $work/ca.$n
serial = $work/ca.$n/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[ext]
extendedKeyUsage = clientAuth
CNF
	openssl req -new -key "$key" -subj "/CN=$n" -out "$work/ca.$n/req" 2>/dev/null
	openssl ca -batch -config "$work/ca.$n/cnf" -cert "$H/ca/ca.pem" \
	    -keyfile "$H/ca/ca.key" -in "$work/ca.$n/req" -out "$work/$n.old.pem" \
	    -extensions ext -notext \
	    -startdate "$(date -u -d "-$((ago + 60)) days" +%Y%m%d%H%M%SZ)" \
	    -enddate "$(date -u -d "-$ago days" +%Y%m%d%H%M%SZ)" >/dev/null 2>&1 ||
	    return 1
	der=$(openssl x509 -in "$work/$n.old.pem" -outform DER | od -An -v -tx1 |
	    tr -d ' \n')
	sp=$(spkiof "$key")
	sqlite3 "$H/server/registry.db" "INSERT INTO certs (serial, client_id,
	    spki, not_before, not_after, der) VALUES ('$(echo "$s" | tr A-F a-f)',
	    '$(clientid "$sp")', '$sp', $(($(date +%s) - (ago + 60) * 86400)),
	    $(($(date +%s) - ago * 86400)), X'$der');
	    UPDATE requests SET state = 'issued', serial = '$(echo "$s" | tr A-F a-f)'
	    WHERE spki = '$sp'"
}

"$CERTKIT" identity init >"$work/init.out" 2>&1 &&
    "$CERTKIT" registry migrate >/dev/null 2>&1 &&
    "$CERTKIT" ca init >/dev/null 2>&1 || { bad "setup: $(cat "$work/init.out")"; finish; }
printf '[server]\ncert_days = 7\n' >"$H/certkit.conf"
start_server || { bad "serve starts"; finish; }

# 1. Enroll with a token, then renew.
TOK=$("$CERTKIT" clients token create --uses 1 --ttl 1h | head -1)
csr gw1
r=$(http - /.well-known/est/simpleenroll -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$work/gw1.b64")
p7leaf "$work/gw1.pem"
S1=$(openssl x509 -in "$work/gw1.pem" -noout -serial 2>/dev/null)
[ "${r%%;*}" = "200 application/pkcs7-mime" ] && [ -n "$S1" ] &&
	ok "simpleenroll with a token: issued at once" ||
	bad "token simpleenroll: '$r' $(cat "$work/resp")"
openssl x509 -in "$work/gw1.pem" -noout -checkend $((6 * 86400)) >/dev/null &&
    ! openssl x509 -in "$work/gw1.pem" -noout -checkend $((8 * 86400)) >/dev/null &&
	ok "cert_days = 7: the certificate lives 7 days" ||
	bad "cert_days: $(openssl x509 -in "$work/gw1.pem" -noout -dates)"
r=$(reenroll gw1 "$work/gw1.pem" "$work/gw1.key")
p7leaf "$work/gw1.new.pem"
S2=$(openssl x509 -in "$work/gw1.new.pem" -noout -serial 2>/dev/null)
if [ "${r%%;*}" = "200 application/pkcs7-mime" ] && [ -n "$S2" ] &&
    [ "$S1" != "$S2" ] &&
    [ "$(openssl x509 -in "$work/gw1.new.pem" -noout -pubkey | openssl dgst -sha256)" = \
      "$(openssl pkey -in "$work/gw1.key" -pubout | openssl dgst -sha256)" ]; then
	ok "simplereenroll with the current certificate: a new serial, the same key"
else
	bad "simplereenroll: '$r' $(head -c 300 "$work/resp")"
fi

# The names are those approved, never more of a later CSR.
openssl req -new -key "$work/gw1.key" -subj "/CN=gw1" \
    -addext "subjectAltName=DNS:evil.example,IP:203.0.113.9" -outform DER \
    2>/dev/null | base64 >"$work/gw1x.b64"
r=$(reenroll gw1x "$work/gw1.new.pem" "$work/gw1.key")
p7leaf "$work/gw1x.pem"
if [ "${r%%;*}" = "200 application/pkcs7-mime" ] &&
    openssl x509 -in "$work/gw1x.pem" -noout -subject | grep -q 'CN *= *gw1' &&
    ! openssl x509 -in "$work/gw1x.pem" -noout -text | grep -qE 'evil|203\.0\.113'; then
	ok "a renewal CSR asking for more names gets only the approved ones"
else
	bad "extra names: '$r' $(openssl x509 -in "$work/gw1x.pem" -noout -text 2>&1 | grep -A1 'Alternative')"
fi
cp "$work/gw1x.pem" "$work/gw1.new.pem"

# 2. Refusals.
r=$(http - /.well-known/est/simplereenroll -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/gw1.b64")
[ "$r" = "401 application/problem+json" ] && [ "$(jget type)" = client_cert_required ] &&
	ok "simplereenroll without a certificate: 401" || bad "no cert: '$r'"
csr other
r=$(reenroll other "$work/gw1.new.pem" "$work/gw1.key")
[ "$r" = "400 application/problem+json" ] && [ "$(jget type)" = bad_request ] &&
	ok "simplereenroll with another key: 400" || bad "other key: '$r' $(cat "$work/resp")"
mkclient stranger
r=$(http - /.well-known/est/simplereenroll --cert "$work/stranger.pem" \
    --key "$work/stranger.key" -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/other.b64")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = issuer_not_trusted ] &&
	ok "a certificate of another CA: 403 issuer_not_trusted" ||
	bad "stranger: '$r' $(cat "$work/resp")"

# 3. Expired: pending clients approved by an admin, each with one expired
# certificate (the device was off).
for n in gw5 gw6; do
	csr $n
	http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$work/$n.b64" >/dev/null
	"$CERTKIT" clients approve "$(spkiof "$work/$n.key" | cut -c1-16)" >/dev/null 2>&1
done
forge gw5 "$work/gw5.key" 10 || bad "forge gw5"
forge gw6 "$work/gw6.key" 40 || bad "forge gw6"
r=$(reenroll gw5 "$work/gw5.old.pem" "$work/gw5.key")
p7leaf "$work/gw5.new.pem"
[ "${r%%;*}" = "200 application/pkcs7-mime" ] &&
    openssl x509 -in "$work/gw5.new.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
	ok "expired 10 days ago, within renew_grace 30d: renewed" ||
	bad "in grace: '$r' $(cat "$work/resp")"
r=$(reenroll gw6 "$work/gw6.old.pem" "$work/gw6.key")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = certificate_expired ] &&
    grep -q 'beyond renew_grace' "$work/resp" &&
	ok "expired 40 days ago: 403 certificate_expired, beyond renew_grace" ||
	bad "out of grace: '$r' $(cat "$work/resp")"
r=$(reenroll gw5 "$work/gw5.old.pem" "$work/gw5.key")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = certificate_expired ] &&
    grep -q 'not its client' "$work/resp" &&
	ok "an expired certificate that is not the newest: 403" ||
	bad "not newest: '$r' $(cat "$work/resp")"

# simpleenroll with the same key: the newest good certificate (gw5's
# renewal), or, beyond renew_grace, a refusal (a new approval is needed).
http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/gw5.b64" >/dev/null
p7leaf "$work/gw5.again.pem"
[ "$(openssl x509 -in "$work/gw5.again.pem" -noout -serial 2>/dev/null)" = \
  "$(openssl x509 -in "$work/gw5.new.pem" -noout -serial)" ] &&
	ok "simpleenroll after a renewal: the newest certificate again" ||
	bad "simpleenroll gw5 again: $(head -c 200 "$work/resp")"
r=$(http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/gw6.b64")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = certificate_expired ] &&
    grep -q 'approve it again' "$work/resp" &&
	ok "simpleenroll of a key expired beyond renew_grace: 403, approve again" ||
	bad "simpleenroll gw6: '$r' $(cat "$work/resp")"

# 4. Revoked.
"$CERTKIT" clients revoke "$(spkiof "$work/gw1.key" | cut -c1-16)" >/dev/null 2>&1
r=$(reenroll gw1 "$work/gw1.new.pem" "$work/gw1.key")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = certificate_revoked ] &&
	ok "after clients revoke: 403 certificate_revoked" ||
	bad "revoked: '$r' $(cat "$work/resp")"
finish
