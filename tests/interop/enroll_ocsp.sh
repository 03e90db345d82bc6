#!/bin/sh
# enroll_ocsp.sh: `ocsp = hard-fail` with certkit's own CA. The server's
# OCSP client speaks http:// only, and what the server issues points at
# public_url (https://): the server answers the certificates of its own CA
# from the registry's CRL instead (revocation.c, "own CA").
#
#  1. client_policy = trusted-ca+pairing, client_ca = HOME/ca/root.pem and
#     a foreign root, ocsp = hard-fail, public_url = https://...: a client
#     enrolled by curl (pending, approve) is served 200 with its certificate
#  2. a second enrolled client too; after `certkit clients revoke` of the
#     first, its next connection is 403 (certificate_revoked or
#     client_revoked) and the second is still 200
#  3. a client of the foreign CA, whose certificate names no reachable
#     responder, is still refused: 403 revocation_unavailable
# Env: CERTKIT. Loopback only, port 0, every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"

csr() { # csr NAME: key NAME.key, base64 DER CSR NAME.b64
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/$1.key" -subj "/CN=$1" -outform DER \
	    -out "$work/$1.der" 2>/dev/null &&
	    base64 <"$work/$1.der" >"$work/$1.b64"
}
enroll() { # enroll NAME: pending, approve, issued -> NAME.pem (leaf+CA)
	csr "$1" || return 1
	http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$work/$1.b64" >/dev/null
	"$CERTKIT" clients approve "$(openssl pkey -in "$work/$1.key" -pubout \
	    -outform DER | openssl dgst -sha256 -r | cut -c1-64)" >/dev/null 2>&1 ||
		return 1
	r=$(http - /.well-known/est/simpleenroll -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$work/$1.b64")
	[ "${r%%;*}" = "200 application/pkcs7-mime" ] || return 1
	base64 -d <"$work/resp" | openssl pkcs7 -inform DER -print_certs \
	    -out "$work/$1.all" 2>/dev/null || return 1
	# the leaf and the issuing CA (the root is the anchor in client_ca)
	awk '/BEGIN/{n++} n<=2' "$work/$1.all" >"$work/$1.pem"
}
status() { # status NAME: "STATUS TYPE" of GET /api/v1/status
	r=$(http "$1" /api/v1/status)
	echo "${r%% *} $(jget type)"
}
wait_status() { # wait_status NAME WANT-PREFIX: bounded to 5 s
	n=0
	while [ $n -lt 25 ]; do
		s=$(status "$1")
		case "$s" in "$2"*) echo "$s"; return 0 ;; esac
		sleep 0.2
		n=$((n + 1))
	done
	echo "$s"
	return 1
}

"$CERTKIT" identity init >"$work/init.out" 2>&1 ||
	{ bad "identity init: $(cat "$work/init.out")"; finish; }
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }
"$CERTKIT" ca init --name "OCSP Test CA" >"$work/ca.out" 2>&1 ||
	{ bad "ca init: $(cat "$work/ca.out")"; finish; }
# A foreign CA and its client, without any OCSP URL.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/foreign-ca.key" -out "$work/foreign-ca.pem" -subj "/CN=Foreign CA" \
    -days 30 -addext basicConstraints=critical,CA:true \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/foreign.key" -out "$work/foreign.csr" -subj /CN=foreign 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$work/foreign.ext"
openssl x509 -req -in "$work/foreign.csr" -CA "$work/foreign-ca.pem" \
    -CAkey "$work/foreign-ca.key" -set_serial 77 -days 30 \
    -extfile "$work/foreign.ext" -out "$work/foreign.pem" 2>/dev/null ||
	{ bad "foreign client certificate"; finish; }
conf() { # conf MODE
	printf '[server]\nclient_policy = trusted-ca+pairing\nclient_ca = %s, %s\nocsp = %s\nretry_after = 1\npublic_url = https://127.0.0.1:9\n' \
	    "$H/ca/root.pem" "$work/foreign-ca.pem" "$1" >"$H/certkit.conf"
}
conf hard-fail
start_server || { bad "serve starts"; finish; }

# 1. an enrolled client under hard-fail
enroll gw1 || bad "enroll gw1: $(head -c 300 "$work/resp")"
openssl x509 -in "$work/gw1.pem" -noout -text | grep -q 'OCSP - URI:https://127.0.0.1:9/ocsp' ||
	bad "gw1's certificate names the https OCSP URL of public_url"
s=$(wait_status gw1 200)
[ "$s" = "200 " ] && ok "hard-fail: a client of the server's own CA is served 200" ||
	bad "hard-fail, own CA: '$s' $(head -c 300 "$work/resp")"

# 2. revoke one of two
enroll gw2 || bad "enroll gw2: $(head -c 300 "$work/resp")"
s=$(wait_status gw2 200)
[ "$s" = "200 " ] && ok "hard-fail: a second enrolled client is 200" ||
	bad "hard-fail, gw2: '$s' $(head -c 300 "$work/resp")"
"$CERTKIT" clients revoke "$(openssl x509 -in "$work/gw1.pem" -noout -pubkey |
    openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -c1-64)" \
    --reason keyCompromise >/dev/null 2>&1 || bad "clients revoke"
s=$(wait_status gw1 403)
case "$s" in
"403 certificate_revoked" | "403 client_revoked")
	ok "after clients revoke: 403 ($s)" ;;
*) bad "after revoke: '$s' $(head -c 300 "$work/resp")" ;;
esac
s=$(status gw2)
[ "$s" = "200 " ] && ok "the other client is still 200 after the CRL changed" ||
	bad "gw2 after revoke: '$s' $(head -c 300 "$work/resp")"

# 3. a foreign CA's client without a reachable responder
s=$(status foreign)
[ "$s" = "403 revocation_unavailable" ] &&
	ok "hard-fail: a foreign CA's client without a responder is refused" ||
	bad "foreign under hard-fail: '$s' $(head -c 300 "$work/resp")"
stop_server

finish
