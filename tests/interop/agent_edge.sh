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
#     - 10 days ago: `agent run` renews it unattended through
#       simplereenroll (a new serial, valid now, the same key); so does
#       `agent enroll --renew`
#     - 40 days ago: refused (certificate_expired, beyond renew_grace),
#       exit 1, and the agent keeps the certificate it had
#  3. certkit-agent (`certkit agent` built alone, for the service): maps no
#     SQLite (ldd), and `certkit-agent run` takes the device online
# Env: CERTKIT, CERTKIT_TEST_PKI. Loopback only, port 0, every wait bounded.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
P=$CERTKIT_TEST_PKI
. "$(dirname "$0")/agent_lib.inc"
export CERTKIT_HOSTNAME=localhost CERTKIT_IPS=127.0.0.1
agent() { # HOME ARGS...
	h=$1
	shift
	timeout 60 "$CERTKIT" --home "$h" agent "$@"
}
certspki() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -r | cut -c1-64
}
enrolled() { # HOME: enroll, approve, enroll --wait; 0 when installed
	agent "$1" enroll >/dev/null 2>&1
	"$CERTKIT" clients approve "$(csrspki "$1/agent/request.csr")" >/dev/null 2>&1 &&
	    agent "$1" enroll --wait 10 >/dev/null 2>&1
}
# expire HOME DAYS: the agent's certificate replaced by one of its key by
# the server's CA that expired DAYS ago, recorded as its client's only
# certificate (the others removed from the registry): a device that was
# switched off.
expire() {
	now=$(date +%s)
	agent_forge "$1" $((now - ($2 + 60) * 86400)) $((now - $2 * 86400)) ||
	    return 1
	sqlite3 "$H/server/registry.db" "
	    UPDATE requests SET serial = '$forged' WHERE serial IN
	        (SELECT serial FROM certs WHERE client_id =
	            (SELECT client_id FROM certs WHERE serial = '$forged'));
	    DELETE FROM certs WHERE serial != '$forged' AND client_id =
	        (SELECT client_id FROM certs WHERE serial = '$forged')"
}

agent_primary 7003 "Agent Edge CA" 'renew_grace = 30d\n'
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
"$CERTKIT" --home "$A" agent run >"$work/out" 2>&1 &
apid=$!
bgpids=$apid
n=0
while [ "$(serial "$C")" = "$EXP" ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
kill "$apid"
wait "$apid" 2>/dev/null
bgpids=""
[ "$(serial "$C")" != "$EXP" ] &&
    openssl x509 -in "$C" -noout -checkend 86400 >/dev/null 2>&1 &&
    [ "$(certspki "$C")" = "$NEW" ] &&
	ok "expired 10 days ago (renew_grace 30d): agent run renews it unattended" ||
	bad "in grace: $(cat "$work/out") $("$CERTKIT" --home "$A" agent status)"
expire "$A" 10 || bad "expire 10 again"
EXP=$(serial "$C")
agent "$A" enroll --renew >"$work/out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(serial "$C")" != "$EXP" ] &&
	ok "expired 10 days ago: agent enroll --renew renews it too" ||
	bad "in grace (enroll --renew): rc=$rc $(cat "$work/out")"
# a third device, so that its expired certificate is its client's newest
A="$work/a3"
C="$A/agent/identity/current/cert.pem"
mkagent "$A"
CERTKIT_HOSTNAME=gw3.localdomain enrolled "$A" && [ -f "$C" ] || bad "a3 enrolled"
expire "$A" 40 || bad "expire 40"
EXP=$(serial "$C")
agent "$A" enroll --renew >"$work/out" 2>&1; rc=$?
[ $rc = 1 ] && [ "$(serial "$C")" = "$EXP" ] && grep -q certificate_expired "$work/out" &&
    grep -q 'beyond renew_grace' "$log" &&
	ok "expired 40 days ago: refused (certificate_expired), the certificate kept" ||
	bad "beyond grace: rc=$rc $(cat "$work/out")"

# 3. certkit-agent
CA="$(dirname "$CERTKIT")/certkit-agent"
A="$work/a1"
if [ -x "$CA" ]; then
	! ldd "$CA" | grep -q libsqlite3 && ldd "$CA" | grep -q libcrypto &&
		ok "certkit-agent maps no SQLite" || bad "certkit-agent: $(ldd "$CA")"
	"$CA" --home "$A" run >"$work/run.out" 2>&1 &
	apid=$!
	bgpids=$apid
	n=0
	until grep -q '"state": "online"' "$A/agent/state.json" 2>/dev/null || [ $n -ge 50 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	kill "$apid"
	wait "$apid" 2>/dev/null
	bgpids=""
	[ "$(timeout 10 "$CA" --home "$A" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = online ] &&
		ok "certkit-agent run: online; certkit-agent status says so" ||
		bad "certkit-agent run: $(cat "$work/run.out") $("$CERTKIT" --home "$A" agent status)"
else
	bad "no certkit-agent beside $CERTKIT"
fi
finish
