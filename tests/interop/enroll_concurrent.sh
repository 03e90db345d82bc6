#!/bin/sh
# enroll_concurrent.sh: 20 concurrent enrollments under client_policy =
# trusted-ca, each authenticated by a bootstrap certificate of a CA in
# client_ca (a manufacturer's): all 20 are issued at once, all serials are
# different (the registry's certs table holds 20 unique rows), and an
# enrollment without a trusted certificate is 403 issuer_not_trusted.
# Env: CERTKIT. Loopback only, port 0, every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"
N=20

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/mfg.key" -out "$work/mfg.pem" -subj "/CN=Maker CA" \
    -days 30 -addext basicConstraints=critical,CA:true \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/boot.key" -subj "/CN=boot" -out "$work/boot.csr" 2>/dev/null
printf 'extendedKeyUsage = clientAuth\n' >"$work/ext"
openssl x509 -req -in "$work/boot.csr" -CA "$work/mfg.pem" -CAkey "$work/mfg.key" \
    -CAcreateserial -days 30 -extfile "$work/ext" -out "$work/boot.pem" 2>/dev/null
cp "$work/mfg.pem" "$H/mfg.pem"
printf '[server]\nclient_policy = trusted-ca\nclient_ca = mfg.pem\n' >"$H/certkit.conf"
"$CERTKIT" identity init >/dev/null 2>&1 && "$CERTKIT" registry migrate >/dev/null 2>&1 &&
    "$CERTKIT" ca init >/dev/null 2>&1 || { bad "setup"; finish; }
i=1
while [ $i -le $N ]; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/d$i.key" -subj "/CN=dev-$i" -outform DER \
	    -out "$work/d$i.der" 2>/dev/null
	base64 <"$work/d$i.der" >"$work/d$i.b64"
	i=$((i + 1))
done
start_server || { bad "serve starts"; finish; }

i=1
pids=""
while [ $i -le $N ]; do
	timeout 20 curl -sk --cert "$work/boot.pem" --key "$work/boot.key" \
	    -o "$work/r$i" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$work/d$i.b64" \
	    "https://127.0.0.1:$port/.well-known/est/simpleenroll" >"$work/c$i" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
n200=0
: >"$work/serials"
i=1
while [ $i -le $N ]; do
	[ "$(cat "$work/c$i")" = 200 ] && n200=$((n200 + 1))
	base64 -d <"$work/r$i" 2>/dev/null | openssl pkcs7 -inform DER -print_certs \
	    2>/dev/null | openssl x509 -noout -serial 2>/dev/null >>"$work/serials"
	i=$((i + 1))
done
[ "$n200" = $N ] && ok "$N concurrent enrollments under trusted-ca: all 200" ||
	bad "concurrent: $n200 of $N were 200 ($(cat "$work/c1") $(head -c 200 "$work/r1"))"
u=$(sort -u "$work/serials" | wc -l)
[ "$(wc -l <"$work/serials")" = $N ] && [ "$u" = $N ] &&
	ok "$N certificates, $N different serials" || bad "serials: $u unique of $(wc -l <"$work/serials")"
if command -v sqlite3 >/dev/null 2>&1; then
	r=$(sqlite3 "$H/server/registry.db" \
	    "SELECT count(*), count(DISTINCT serial) FROM certs; SELECT count(*) FROM clients WHERE state = 'approved' AND policy = 'trusted-ca'")
	[ "$(echo "$r" | tr '\n' ' ')" = "$N|$N $N " ] &&
		ok "the registry: $N certificate rows, $N approved trusted-ca clients" ||
		bad "registry: $r"
fi
r=$(http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/d1.b64")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/x.key" -subj "/CN=x" -outform DER 2>/dev/null | base64 >"$work/x.b64"
r=$(http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/x.b64")
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = issuer_not_trusted ] &&
	ok "trusted-ca without a trusted certificate: 403 issuer_not_trusted" ||
	bad "untrusted: '$r' $(cat "$work/resp")"
finish
