#!/bin/sh
# agent_edge.sh: the agent's edge cases against a real `certkit serve` with
# its CA (certkit ca init):
#
#  1. a device rebuilt with a new key (HOME/agent removed, the same
#     names): `agent enroll` is pending and the server lists a key conflict;
#     after `certkit clients replace-key` the agent gets its certificate,
#     of the new key
#  2. renewal after expiry, driven from the agent (the device was off; its
#     certificate is replaced by one of the same key that expired DAYS ago,
#     recorded as the client's newest; renew_grace 30d):
#     - 10 days ago: `agent enroll --renew` renews it through
#       simplereenroll: a new serial, valid now
#     - 40 days ago: refused (certificate_expired, beyond renew_grace),
#       exit 1, and the agent keeps the certificate it had
# Env: CERTKIT, CERTKIT_TEST_PKI. Loopback only, port 0, every wait bounded.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
P=$CERTKIT_TEST_PKI
export CERTKIT_HOSTNAME=localhost CERTKIT_IPS=127.0.0.1
agent() { # HOME ARGS...
	h=$1
	shift
	timeout 60 "$CERTKIT" --home "$h" agent "$@"
}
mkagent() { # HOME
	mkdir -p "$1"
	printf '[agent]\nprimary = 127.0.0.1:%s\nprimary_ca = %s\nheartbeat = 5s\n' \
	    "$port" "$P/root-ca.pem" >"$1/certkit.conf"
}
csrspki() {
	openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -r | cut -c1-64
}
certspki() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -r | cut -c1-64
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f; }
enrolled() { # HOME: enroll, approve, enroll --wait; 0 when installed
	agent "$1" enroll >/dev/null 2>&1
	"$CERTKIT" clients approve "$(csrspki "$1/agent/request.csr")" >/dev/null 2>&1 &&
	    agent "$1" enroll --wait 10 >/dev/null 2>&1
}
# expire HOME DAYS: the agent's certificate replaced by one of its key by
# the server's CA that expired DAYS ago, recorded as its client's newest
# (the real one removed from the registry): a device that was switched off.
expire() {
	d=$1/agent/identity/current ago=$2
	s=$(printf '4%031x' "$(date +%s%N | cut -c1-15)")
	mkdir -p "$work/ca.$ago" && : >"$work/ca.$ago/index" &&
	    echo "$s" >"$work/ca.$ago/serial"
	printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\nnew_certs_dir = %s\nserial = %s\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n[ext]\nextendedKeyUsage = clientAuth\nsubjectAltName = DNS:localhost\n' \
	    "$work/ca.$ago/index" "$work/ca.$ago" "$work/ca.$ago/serial" >"$work/ca.$ago/cnf"
	openssl req -new -key "$d/key.pem" -subj /CN=localhost -out "$work/ca.$ago/req" 2>/dev/null
	openssl ca -batch -config "$work/ca.$ago/cnf" -cert "$H/ca/ca.pem" \
	    -keyfile "$H/ca/ca.key" -in "$work/ca.$ago/req" -out "$work/exp.pem" \
	    -extensions ext -notext \
	    -startdate "$(date -u -d "-$((ago + 60)) days" +%Y%m%d%H%M%SZ)" \
	    -enddate "$(date -u -d "-$ago days" +%Y%m%d%H%M%SZ)" >/dev/null 2>&1 ||
	    return 1
	der=$(openssl x509 -in "$work/exp.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')
	old=$(serial "$d/cert.pem")
	sqlite3 "$H/server/registry.db" "
	    INSERT INTO certs (serial, client_id, spki, not_before, not_after, der)
	    SELECT '$(echo "$s" | tr A-F a-f)', client_id, spki,
	        $(($(date +%s) - (ago + 60) * 86400)), $(($(date +%s) - ago * 86400)),
	        X'$der' FROM certs WHERE serial = '$old';
	    UPDATE requests SET serial = '$(echo "$s" | tr A-F a-f)' WHERE serial = '$old';
	    DELETE FROM certs WHERE serial = '$old'" || return 1
	openssl x509 -in "$work/exp.pem" -out "$d/cert.pem"
	cat "$d/cert.pem" "$d/chain.pem" >"$d/fullchain.pem"
}

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/srv.key" -out "$work/srv.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/srv.ext"
openssl x509 -req -in "$work/srv.csr" -CA "$P/int-ca.pem" -CAkey "$P/int-ca.key" \
    -set_serial 7003 -days 90 -extfile "$work/srv.ext" -out "$work/srv.pem" 2>/dev/null
SSL_CERT_FILE=$P/root-ca.pem "$CERTKIT" identity install --cert "$work/srv.pem" \
    --key "$work/srv.key" --chain "$P/int-ca.pem" >"$work/inst.out" 2>&1 ||
	{ bad "serve identity: $(cat "$work/inst.out")"; finish; }
printf '[server]\nretry_after = 1\nheartbeat = 5\nrenew_grace = 30d\n' >"$H/certkit.conf"
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }
"$CERTKIT" ca init --name "Agent Edge CA" >/dev/null 2>&1 || { bad "ca init"; finish; }
start_server || { bad "serve starts"; finish; }
A="$work/a1"
C="$A/agent/identity/current/cert.pem"
mkagent "$A"

# 1. a rebuilt device
enrolled "$A" && [ -f "$C" ] || { bad "first enrollment"; finish; }
OLD=$(certspki "$C")
rm -rf "$A/agent"
agent "$A" enroll >"$work/out" 2>&1; rc=$?
NEW=$(csrspki "$A/agent/request.csr")
CID=$("$CERTKIT" clients list --json | python3 -c '
import json,sys
print([c["id"] for c in json.load(sys.stdin)["clients"] if c.get("conflict_of")][0])' 2>/dev/null)
[ $rc = 1 ] && grep -q "^Requesting Pairing" "$work/out" && [ "$NEW" != "$OLD" ] &&
    [ -n "$CID" ] &&
	ok "rebuilt device (new key): pending, the server lists a key conflict" ||
	bad "rebuilt: rc=$rc cid=$CID $(cat "$work/out")"
"$CERTKIT" clients replace-key "$CID" >"$work/rk.out" 2>&1 || bad "replace-key: $(cat "$work/rk.out")"
agent "$A" enroll --wait 10 >"$work/out" 2>&1; rc=$?
[ $rc = 0 ] && [ -f "$C" ] && [ "$(certspki "$C")" = "$NEW" ] &&
	ok "after clients replace-key: the agent gets the new key's certificate" ||
	bad "after replace-key: rc=$rc $(cat "$work/out")"

# 2. renewal after expiry, within and beyond renew_grace: another device
# (its client has one certificate; the forged one's notBefore is in the
# past, so it must not have a newer one)
A="$work/a2"
C="$A/agent/identity/current/cert.pem"
mkagent "$A"
CERTKIT_HOSTNAME=gw2.localdomain enrolled "$A" && [ -f "$C" ] || bad "a2 enrolled"
NEW=$(certspki "$C")
expire "$A" 10 || bad "expire 10"
EXP=$(serial "$C")
agent "$A" enroll --renew >"$work/out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(serial "$C")" != "$EXP" ] &&
    openssl x509 -in "$C" -noout -checkend 86400 >/dev/null 2>&1 &&
    [ "$(certspki "$C")" = "$NEW" ] &&
	ok "expired 10 days ago (renew_grace 30d): the agent renews it" ||
	bad "in grace: rc=$rc $(cat "$work/out")"
expire "$A" 40 || bad "expire 40"
EXP=$(serial "$C")
agent "$A" enroll --renew >"$work/out" 2>&1; rc=$?
[ $rc = 1 ] && [ "$(serial "$C")" = "$EXP" ] && grep -q certificate_expired "$work/out" &&
	ok "expired 40 days ago: refused (certificate_expired), the certificate kept" ||
	bad "beyond grace: rc=$rc $(cat "$work/out")"
finish
