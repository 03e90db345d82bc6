#!/bin/sh
# serve_ca_reload.sh: SIGHUP reads HOME/ca again (no restart after
# `certkit ca init`), with curl and openssl.
#
#  1. serve without HOME/ca: GET /crl is 404 not_found
#  2. `certkit ca init`, SIGHUP: /crl is 200, a DER CRL that verifies
#     against the new CA (openssl crl -CAfile), and a token enrollment is
#     issued by it (openssl verify against its chain)
#  3. a broken HOME/ca (ca.pem damaged), SIGHUP: the reload fails (logged)
#     and the old CA stays: /crl 200 and an enrollment still issued by it
#  4. HOME/ca replaced by another CA, SIGHUP: enrollment is issued by the
#     new one, /crl is signed by it
# Env: CERTKIT. Loopback only, port 0, every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"

# csr NAME: key NAME.key and base64 DER CSR NAME.b64.
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/$1.key" -subj "/CN=$1" -outform DER \
	    -out "$work/$1.der" 2>/dev/null &&
	    base64 <"$work/$1.der" >"$work/$1.b64"
}

# hup: SIGHUP, then waits at most 10 s for one more reload line in the log.
hup() {
	n0=$(grep -c 'event=reload ' "$log")
	kill -HUP "$spid"
	i=0
	while [ $i -lt 100 ] && [ "$(grep -c 'event=reload ' "$log")" -le "$n0" ]; do
		sleep 0.1; i=$((i + 1)); done
}

# enroll NAME: a token enrollment of a new key NAME; the certificate in
# NAME.pem, the chain in NAME.chain. Prints the HTTP status.
enroll() {
	csr "$1" || return 1
	tok=$("$CERTKIT" clients token create --uses 1 --ttl 1h --json 2>/dev/null |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
	python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "token": sys.argv[2]}))' \
	    "$work/$1.b64" "$tok" >"$work/$1.json"
	r=$(http - /api/v1/enroll -H 'Content-Type: application/json' \
	    --data-binary "@$work/$1.json")
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["certificate"]); open(sys.argv[3],"w").write(d["chain"])' \
	    "$work/resp" "$work/$1.pem" "$work/$1.chain" 2>/dev/null
	echo "${r%% *}"
}

# issued_by NAME CA: NAME.pem verifies against NAME.chain and its issuer
# is CN=CA.
issued_by() {
	openssl verify -CAfile "$work/$1.chain" "$work/$1.pem" >/dev/null 2>&1 &&
	    openssl x509 -in "$work/$1.pem" -noout -issuer | grep -q "CN *= *$2\$"
}

# crl_by CA: GET /crl is 200 and the DER CRL verifies against HOME/ca's
# issuing CA certificate CN=CA.
crl_by() {
	r=$(http - /crl)
	[ "${r%% *}" = 200 ] &&
	    openssl crl -inform DER -in "$work/resp" -noout -issuer \
	    -CAfile "$H/ca/ca.pem" >"$work/crl.out" 2>&1 &&
	    grep -q 'verify OK' "$work/crl.out" && grep -q "CN *= *$1\$" "$work/crl.out"
}

"$CERTKIT" identity init >/dev/null 2>&1 || { bad "identity init"; finish; }
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }
start_server || { bad "serve starts"; finish; }

# 1.
r=$(http - /crl)
[ "$r" = "404 application/problem+json" ] && [ "$(jget type)" = not_found ] &&
	ok "no HOME/ca: /crl is 404 not_found" || bad "no CA: /crl '$r'"

# 2.
"$CERTKIT" ca init --name "First CA" >"$work/ca1.out" 2>&1 ||
	{ bad "ca init: $(cat "$work/ca1.out")"; finish; }
hup
grep -q 'event=reload result=ok enrollment=on' "$log" &&
	ok "SIGHUP after ca init: reload ok, enrollment on" ||
	bad "reload: $(grep 'event=reload' "$log")"
crl_by "First CA" && ok "/crl: 200, a CRL signed by the new CA" ||
	bad "/crl after the reload: '$r' $(cat "$work/crl.out" 2>/dev/null)"
r=$(enroll gw1)
[ "$r" = 200 ] && issued_by gw1 "First CA" &&
	ok "an enrollment is issued by the new CA" ||
	bad "enrollment after the reload: '$r' $(cat "$work/resp")"

# 3. A broken CA: the old one stays.
cp "$H/ca/ca.pem" "$work/ca.pem.good"
echo "not a certificate" >"$H/ca/ca.pem"
hup
grep -q 'event=reload result=failed' "$log" &&
	ok "a broken HOME/ca: the reload fails, logged" ||
	bad "broken CA reload: $(grep 'event=reload' "$log")"
cp "$work/ca.pem.good" "$H/ca/ca.pem"
r=$(enroll gw2)
[ "$r" = 200 ] && issued_by gw2 "First CA" && crl_by "First CA" &&
	ok "after the failed reload: the old CA still signs, /crl 200" ||
	bad "old CA after a failed reload: '$r' $(cat "$work/resp")"

# 4. Replaced.
mv "$H/ca" "$work/ca.old"
"$CERTKIT" ca init --name "Second CA" >"$work/ca2.out" 2>&1 ||
	{ bad "ca init 2: $(cat "$work/ca2.out")"; finish; }
hup
r=$(enroll gw3)
[ "$r" = 200 ] && issued_by gw3 "Second CA" && crl_by "Second CA" &&
	ok "HOME/ca replaced, SIGHUP: issued by the new CA, /crl signed by it" ||
	bad "replaced CA: '$r' $(cat "$work/resp") $(cat "$work/crl.out" 2>/dev/null)"
stop_server && ok "SIGTERM: exit 0" || { bad "SIGTERM: exit $src"; tail -20 "$log"; }
finish
