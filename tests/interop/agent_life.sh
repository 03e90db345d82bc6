#!/bin/sh
# agent_life.sh: the life of `certkit agent` on loopback.
#
#  1. enroll against an EST primary (tests/interop/agent_est.py, a stand-in
#     until `certkit serve` has the enrollment routes): pending -> exit 1,
#     "Requesting Pairing" and the SPKI of the request's key; again: the
#     same request (same SPKI) is resumed; approved -> the certificate is
#     installed in HOME/agent/identity (key 0600), not in HOME/identity
#  2. a wrong primary_ca: offline, the doctor's untrusted_root in the status
#  3. renewal (enroll --renew): simplereenroll with the client certificate
#     and a CSR of the same key (the primary knows the client by it), a new
#     certificate installed
#  4. heartbeats against a real `certkit serve` (pairing policy): the
#     agent's key is pending there -> requesting_pairing; `certkit clients
#     approve` -> online; the server stopped -> offline with the doctor's
#     tcp_refused; started again -> online; `certkit clients revoke` ->
#     revoked, and the next try is hours away (no fast retry)
# Env: CERTKIT, CERTKIT_TEST_PKI. Loopback only, every wait bounded.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
P=$CERTKIT_TEST_PKI
A="$work/agent-home"
E="$work/est"
mkdir -p "$A" "$E"
export CERTKIT_HOSTNAME=localhost CERTKIT_IPS=127.0.0.1
agent() { timeout 60 "$CERTKIT" --home "$A" agent "$@"; }
ajget() { # KEY: a top-level value of the agent's status
	agent status --json | python3 -c 'import json,sys; v=json.load(sys.stdin); k=sys.argv[1].split("."); [v := (v or {}).get(x) for x in k]; print("" if v is None else v)' "$1"
}
conf() { # PORT [trust line]
	printf '[agent]\nprimary = 127.0.0.1:%s\n%s\nheartbeat = 5s\n' "$1" \
	    "${2:-primary_ca = $P/root-ca.pem}" >"$A/certkit.conf"
}

# The primary's TLS certificate: 127.0.0.1, issued by the test CA.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/srv.key" -out "$work/srv.csr" -subj /CN=localhost \
    2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/srv.ext"
openssl x509 -req -in "$work/srv.csr" -CA "$P/int-ca.pem" -CAkey "$P/int-ca.key" \
    -set_serial 7001 -days 90 -extfile "$work/srv.ext" -out "$work/srv.pem" 2>/dev/null
cat "$work/srv.pem" "$P/int-ca.pem" "$P/root-ca.pem" >"$work/srv-full.pem"
cat "$P/int-ca.pem" "$P/root-ca.pem" >"$work/cacerts.pem"

python3 "$(dirname "$0")/agent_est.py" "$E/port" "$work/srv-full.pem" \
    "$work/srv.key" "$P/int-ca.pem" "$P/int-ca.key" "$work/cacerts.pem" "$E" \
    2>"$E/log" &
bgpids="$!"
i=0
while [ ! -s "$E/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$E/port" ] || { bad "EST stand-in starts: $(cat "$E/log")"; finish; }
EP=$(cat "$E/port")
conf "$EP"

# ---- 1. enroll: pending, resumed, approved, installed ----------------------
agent status >"$work/out"; rc=$?
[ $rc = 1 ] && grep -q "State: never_connected" "$work/out" &&
	ok "before anything: never_connected, exit 1" || bad "status before: $rc $(cat "$work/out")"
agent enroll >"$work/out"; rc=$?
S1=$(openssl req -in "$A/agent/request.csr" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -c1-64)
if [ $rc = 1 ] && grep -q "^Requesting Pairing" "$work/out" && grep -q "$S1" "$work/out" &&
    [ "$(ajget state)" = requesting_pairing ] && [ "$(ajget spki_sha256)" = "$S1" ]; then
	ok "enroll while pending: exit 1, Requesting Pairing and the request's SPKI"
else
	bad "enroll pending: rc=$rc $(cat "$work/out")"
fi
agent enroll --wait 2 >"$work/out"; rc=$?
[ $rc = 1 ] && grep -q "$S1" "$work/out" && [ "$(grep -c simpleenroll "$E/requests.log")" -ge 3 ] &&
	ok "enroll again (--wait 2): the same request resumed, polled on Retry-After" ||
	bad "resume: rc=$rc $(cat "$work/out") $(cat "$E/requests.log")"
touch "$E/approve"
agent enroll --wait 10 >"$work/out"; rc=$?
if [ $rc = 0 ] && [ -f "$A/agent/identity/current/cert.pem" ] && [ ! -e "$A/identity" ] &&
    [ "$(stat -c %a "$A/agent/identity/current/key.pem")" = 600 ] &&
    openssl x509 -in "$A/agent/identity/current/cert.pem" -noout -ext extendedKeyUsage | grep -q "Client Auth" &&
    [ "$(openssl x509 -in "$A/agent/identity/current/cert.pem" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -c1-64)" = "$S1" ]; then
	ok "approved: the certificate of the request's key is installed in HOME/agent/identity (key 0600)"
else
	bad "install: rc=$rc $(cat "$work/out"); $(ls -R "$A")"
fi
SER1=$(openssl x509 -in "$A/agent/identity/current/cert.pem" -noout -serial)

# ---- 2. a wrong primary_ca: the doctor says why ---------------------------------
conf "$EP" "primary_ca = $P/other-root.pem"
agent enroll --renew >"$work/out"; rc=$?
if [ $rc = 1 ] && [ "$(ajget state)" = offline ] &&
    [ "$(ajget diagnosis.code)" = untrusted_root ] && grep -q "offline: untrusted_root" "$work/out"; then
	ok "wrong primary_ca: offline, the doctor names untrusted_root"
else
	bad "wrong CA: rc=$rc $(cat "$work/out")"
fi
conf "$EP"

# ---- 3. renewal ----------------------------------------------------------------
agent enroll --renew >"$work/out"; rc=$?
SER2=$(openssl x509 -in "$A/agent/identity/current/cert.pem" -noout -serial)
if [ $rc = 0 ] && [ "$SER1" != "$SER2" ] &&
    grep -q "POST /.well-known/est/simplereenroll cert=yes" "$E/requests.log" &&
    [ "$(ls "$A/agent/identity/backups" | wc -l)" -ge 1 ]; then
	ok "renewal: simplereenroll with the client certificate, a new one installed, the old one backed up"
else
	bad "renewal: rc=$rc $SER1 $SER2 $(cat "$work/out")"
fi

# ---- 4. heartbeats against certkit serve --------------------------------------
kill $bgpids 2>/dev/null
bgpids=""
cat >"$H/certkit.conf" <<EOC
[server]
retry_after = 1
heartbeat = 5
EOC
SSL_CERT_FILE=$P/root-ca.pem "$CERTKIT" identity install --cert "$work/srv.pem" \
    --key "$work/srv.key" --chain "$P/int-ca.pem" >"$work/inst.out" 2>&1 ||
	{ bad "serve identity: $(cat "$work/inst.out")"; finish; }
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "migrate"; finish; }
start_server || { bad "serve starts"; finish; }
conf "$port"
ASPKI=$(spki "$A/agent/identity/current/cert.pem")
"$CERTKIT" --home "$A" agent run >"$work/run.out" 2>&1 &
apid=$!
bgpids="$apid"
waitstate() { # WORD SECONDS
	n=0
	while [ $n -lt $(($2 * 5)) ]; do
		[ "$(ajget state)" = "$1" ] && return 0
		sleep 0.2; n=$((n + 1))
	done
	return 1
}
waitstate requesting_pairing 10 && [ "$(ajget spki_sha256)" = "$ASPKI" ] &&
	ok "heartbeat to serve, key unknown there: requesting_pairing with the SPKI" ||
	bad "pending at serve: $(agent status)"
"$CERTKIT" clients approve "$ASPKI" >/dev/null 2>&1 || bad "clients approve"
waitstate online 5 && agent status >/dev/null && ok "approved: the agent is online within Retry-After + heartbeat" ||
	bad "online: $(agent status)"
stop_server
waitstate offline 15 && [ "$(ajget diagnosis.code)" = tcp_refused ] &&
	agent status | grep -q "offline: tcp_refused" &&
	ok "server stopped: offline, with the doctor's tcp_refused" || bad "offline: $(agent status)"
kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null
start_server || { bad "serve restarts"; finish; }
conf "$port"
"$CERTKIT" --home "$A" agent run >"$work/run.out" 2>&1 &
apid=$!
bgpids="$apid"
waitstate online 10 && ok "server back: online again" || bad "back: $(agent status)"
"$CERTKIT" clients revoke "$ASPKI" --reason test >/dev/null 2>&1 || bad "clients revoke"
waitstate revoked 15 && ok "revoked by the admin: the agent says revoked" || bad "revoked: $(agent status)"
n1=$(grep -c heartbeat "$work/serve.log")
sleep 3
n2=$(grep -c heartbeat "$work/serve.log")
[ "$n1" = "$n2" ] && ok "revoked: no fast retry (no request in 3 s)" || bad "retries after revoke: $n1 -> $n2"
kill -TERM "$apid"; i=0
while kill -0 "$apid" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
wait "$apid"; rc=$?
[ $rc = 0 ] && ok "agent run stops on SIGTERM with 0" || bad "agent run exit $rc"
finish
