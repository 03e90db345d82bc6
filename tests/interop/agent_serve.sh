#!/bin/sh
# agent_serve.sh: `certkit agent` against a real `certkit serve` with its CA
# (certkit ca init), the whole life on loopback:
#
#  1. agent enroll: pending -> exit 1, "Requesting Pairing" and the SPKI
#     that `certkit clients list` shows
#  2. `certkit clients approve`: agent enroll --wait installs the issued
#     certificate (verifies against the primary's CA, clientAuth) within
#     Retry-After + 1 s
#  3. agent run: heartbeats -> online
#  4. renewal: simplereenroll with the current certificate, a new serial
#  5. `certkit clients revoke` -> the agent reports revoked
#  6. a one-time token (clients token create --uses 1): a second device is
#     issued at once; a third with the same token is refused (token_invalid)
# Env: CERTKIT, CERTKIT_TEST_PKI. Loopback only, every wait bounded.
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
ajget() { # HOME KEY
	agent "$1" status --json | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get(sys.argv[1]) or "")' "$2"
}
certspki() {
	openssl "$1" -in "$2" -noout -pubkey | openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -r | cut -c1-64
}

# The primary: a TLS certificate for 127.0.0.1 from the test CA, its own
# enrollment CA, the registry.
agent_primary 7002 "Agent Test CA"
A="$work/a1"
mkagent "$A"

# 1. pending
agent "$A" enroll >"$work/out"; rc=$?
S1=$(certspki req "$A/agent/request.csr")
if [ $rc = 1 ] && grep -q "^Requesting Pairing" "$work/out" && grep -q "$S1" "$work/out" &&
    "$CERTKIT" clients list --json | grep -q "$S1"; then
	ok "enroll: pending, exit 1, Requesting Pairing with the SPKI clients list shows"
else
	bad "enroll pending: rc=$rc $(cat "$work/out")"
fi

# 2. approve -> installed within Retry-After + 1 s
agent "$A" enroll --wait 30 >"$work/wait.out" 2>&1 &
wpid=$!
sleep 0.5
"$CERTKIT" clients approve "$S1" >/dev/null 2>&1 || bad "clients approve"
t0=$(date +%s%N)
wait $wpid; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
C="$A/agent/identity/current/cert.pem"
D="$A/agent/identity/current"
if [ $rc = 0 ] && [ -f "$C" ] && [ "$(certspki x509 "$C")" = "$S1" ] &&
    openssl verify -CAfile "$D/root.pem" -untrusted "$D/chain.pem" \
        -purpose sslclient "$C" >/dev/null 2>&1 &&
    cmp -s "$D/root.pem" "$H/ca/root.pem"; then
	ok "approved: installed and verifying to the primary's CA, ${ms} ms after approve"
else
	bad "approve: rc=$rc $(cat "$work/wait.out"); $(ls "$H/ca" 2>&1)"
fi
[ "$ms" -le 2500 ] && ok "approve to certificate within Retry-After (1 s) + 1 s (+0.5 s slack): ${ms} ms" ||
	bad "approve to certificate took ${ms} ms"
SER1=$(openssl x509 -in "$C" -noout -serial)

# 3. heartbeats
"$CERTKIT" --home "$A" agent run >"$work/run.out" 2>&1 &
apid=$!
bgpids=$apid
n=0
while [ "$(ajget "$A" state)" != online ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
[ "$(ajget "$A" state)" = online ] && [ "$(ajget "$A" why)" = "heartbeat answered" ] &&
	ok "agent run: heartbeat answered, online" || bad "online: $(agent "$A" status)"
kill "$apid"; wait "$apid" 2>/dev/null; bgpids=""

# 4. renewal
agent "$A" enroll --renew >"$work/out"; rc=$?
SER2=$(openssl x509 -in "$C" -noout -serial)
[ $rc = 0 ] && [ "$SER1" != "$SER2" ] && ok "renewal through simplereenroll: new serial" ||
	bad "renewal: rc=$rc $SER1 $SER2 $(cat "$work/out")"

# 5. revoke
"$CERTKIT" clients revoke "$S1" --reason test >/dev/null 2>&1 || bad "clients revoke"
"$CERTKIT" --home "$A" agent run >"$work/run.out" 2>&1 &
apid=$!
bgpids=$apid
n=0
while [ "$(ajget "$A" state)" != revoked ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
[ "$(ajget "$A" state)" = revoked ] && agent "$A" status | grep -q "^Why: revoked" &&
	ok "revoked by the admin: the agent says revoked" || bad "revoked: $(agent "$A" status)"
kill "$apid"; wait "$apid" 2>/dev/null; bgpids=""

# 6. token
"$CERTKIT" clients token create --uses 1 --ttl 1h --json >"$work/tok.json" 2>&1
TOK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/tok.json")
mkagent "$work/a2"
mkagent "$work/a3"
agent "$work/a2" enroll --token "$TOK" >"$work/out"; rc=$?
[ $rc = 0 ] && [ -f "$work/a2/agent/identity/current/cert.pem" ] &&
	ok "a one-time token: issued at once" || bad "token: rc=$rc $(cat "$work/out")"
agent "$work/a3" enroll --token "$TOK" >"$work/out"; rc=$?
[ $rc = 1 ] && grep -q token_invalid "$work/out" && [ ! -e "$work/a3/agent/identity/current" ] &&
	ok "the token used twice: refused (token_invalid)" || bad "token twice: rc=$rc $(cat "$work/out")"
finish
