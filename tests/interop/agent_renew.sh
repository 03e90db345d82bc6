#!/bin/sh
# agent_renew.sh: when `certkit agent run` renews, against a real
# `certkit serve` with its CA (certkit ca init).
#
# Renewal is due at a point of the lifetime in [2/3, 3/4] chosen by the
# key (lib/agent: cki_agent_renew_at): the first two bytes of the SPKI
# SHA-256 as a fraction of 65536 of the window, the window's end at least
# 1 hour before notAfter, never before 2/3. The test computes that point
# from the certificate (its dates, its key) as the agent must:
#  1. `agent status --json` shows it as renew_at, for the issued certificate
#  2. a certificate of the same key (10 years long, recorded in the
#     registry) past 2/3 of its lifetime but 5 minutes before the key's
#     point: `agent run` sends a heartbeat and does not renew
#  3. the same, 2 minutes past the key's point: `agent run` renews it
#     (simplereenroll, a new serial, the same key)
#  4. heartbeat = 1d and the key's point 8 s ahead: `agent run` sends a
#     heartbeat, then wakes at the key's point (not a day later) and renews
# Env: CERTKIT, CERTKIT_TEST_PKI. Loopback only, port 0, every wait bounded.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
P=$CERTKIT_TEST_PKI
export CERTKIT_HOSTNAME=localhost CERTKIT_IPS=127.0.0.1
A="$work/a1"
C="$A/agent/identity/current/cert.pem"
agent() { timeout 60 "$CERTKIT" --home "$A" agent "$@"; }
csrspki() {
	openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -r | cut -c1-64
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f; }
epoch() { # FILE startdate|enddate
	date -u -d "$(openssl x509 -in "$1" -noout -"$2" | cut -d= -f2)" +%s
}
# offset NB NA SPKI: seconds from notBefore to the key's renewal point.
offset() {
	life=$(($2 - $1))
	early=$((life * 2 / 3)) late=$((life * 3 / 4))
	[ $late -gt $((life - 3600)) ] && late=$((life - 3600))
	[ $late -lt $early ] && late=$early
	echo $((early + (late - early) * 0x$(echo "$3" | cut -c1-4) / 65536))
}
fmt() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
renew_at() {
	agent status --json | python3 -c '
import json,sys; print(json.load(sys.stdin)["certificate"]["renew_at"])'
}
# forge NB NA: the agent's certificate replaced by one of its key, by the
# server's CA, valid from NB to NA (epoch seconds), recorded in the
# registry for the same client.
forge() {
	d=$A/agent/identity/current f=$work/forge.$1
	s=$(printf '5%031x' "$(date +%s%N | cut -c1-15)")
	mkdir -p "$f" && : >"$f/index" && echo "$s" >"$f/serial"
	printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\nnew_certs_dir = %s\nserial = %s\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n[ext]\nextendedKeyUsage = clientAuth\nsubjectAltName = DNS:localhost\n' \
	    "$f/index" "$f" "$f/serial" >"$f/cnf"
	openssl req -new -key "$d/key.pem" -subj /CN=localhost -out "$f/req" 2>/dev/null
	openssl ca -batch -config "$f/cnf" -cert "$H/ca/ca.pem" \
	    -keyfile "$H/ca/ca.key" -in "$f/req" -out "$f/cert.pem" \
	    -extensions ext -notext \
	    -startdate "$(date -u -d "@$1" +%Y%m%d%H%M%SZ)" \
	    -enddate "$(date -u -d "@$2" +%Y%m%d%H%M%SZ)" >/dev/null 2>&1 ||
	    return 1
	der=$(openssl x509 -in "$f/cert.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')
	sqlite3 "$H/server/registry.db" "
	    INSERT INTO certs (serial, client_id, spki, not_before, not_after, der)
	    SELECT '$(echo "$s" | tr A-F a-f)', client_id, spki, $1, $2, X'$der'
	    FROM certs WHERE serial = '$(serial "$d/cert.pem")'" || return 1
	openssl x509 -in "$f/cert.pem" -out "$d/cert.pem"
	cat "$d/cert.pem" "$d/chain.pem" >"$d/fullchain.pem"
}
# run_until: `agent run` until it has renewed or sent a heartbeat (at most
# 20 s), then stopped. The state file of the run before is removed, so its
# "heartbeat answered" does not stop this one before its first cycle ends.
run_until() {
	old=$(serial "$C")
	rm -f "$A/agent/state.json"
	"$CERTKIT" --home "$A" agent run >"$work/run.out" 2>&1 &
	apid=$!
	bgpids=$apid
	n=0
	until [ "$(serial "$C")" != "$old" ] ||
	    grep -q '"why": "heartbeat answered"' "$A/agent/state.json" 2>/dev/null ||
	    [ $n -ge 100 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	kill "$apid"
	wait "$apid" 2>/dev/null
	bgpids=""
}

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/srv.key" -out "$work/srv.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/srv.ext"
openssl x509 -req -in "$work/srv.csr" -CA "$P/int-ca.pem" -CAkey "$P/int-ca.key" \
    -set_serial 7004 -days 90 -extfile "$work/srv.ext" -out "$work/srv.pem" 2>/dev/null
SSL_CERT_FILE=$P/root-ca.pem "$CERTKIT" identity install --cert "$work/srv.pem" \
    --key "$work/srv.key" --chain "$P/int-ca.pem" >"$work/inst.out" 2>&1 ||
	{ bad "serve identity: $(cat "$work/inst.out")"; finish; }
printf '[server]\nretry_after = 1\nheartbeat = 5\n' >"$H/certkit.conf"
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }
"$CERTKIT" ca init --name "Agent Renew CA" >/dev/null 2>&1 || { bad "ca init"; finish; }
start_server || { bad "serve starts"; finish; }
mkdir -p "$A"
printf '[agent]\nprimary = 127.0.0.1:%s\nprimary_ca = %s\nheartbeat = 5s\n' \
    "$port" "$P/root-ca.pem" >"$A/certkit.conf"
agent enroll >/dev/null 2>&1
KEY=$(csrspki "$A/agent/request.csr")
"$CERTKIT" clients approve "$KEY" >/dev/null 2>&1 &&
    agent enroll --wait 10 >"$work/out" 2>&1 && [ -f "$C" ] ||
	{ bad "enrolled: $(cat "$work/out")"; finish; }

# 1. renew_at of the issued certificate: the key's point, in [2/3, 3/4]
NB=$(epoch "$C" startdate) NA=$(epoch "$C" enddate)
OFF=$(offset "$NB" "$NA" "$KEY")
L=$((NA - NB))
[ "$(renew_at)" = "$(fmt $((NB + OFF)))" ] && [ $OFF -ge $((L * 2 / 3)) ] &&
    [ $OFF -le $((L * 3 / 4)) ] &&
	ok "agent status: renew_at is the key's point in [2/3, 3/4] ($(renew_at))" ||
	bad "renew_at: $(renew_at), want $(fmt $((NB + OFF))) (key ${KEY%${KEY#????}}, life $L s)"

# 2. and 3. a 10-year certificate of the same key, placed so that now is
# just before, then just after, the key's point
L=$((3650 * 86400))
NOW=$(date +%s)
OFF=$(offset "$NOW" $((NOW + L)) "$KEY")
if [ $((OFF - 300)) -le $((L * 2 / 3)) ]; then
	# the key's first two bytes are 0: its point is 2/3 itself
	ok "# skip: this key renews at exactly 2/3 (SPKI ${KEY%${KEY#????}}...)"
else
	NB=$((NOW - OFF + 300))
	forge "$NB" $((NB + L)) || bad "forge before"
	OLD=$(serial "$C")
	[ "$(renew_at)" = "$(fmt $((NB + OFF)))" ] || bad "forged renew_at: $(renew_at)"
	run_until
	[ "$(serial "$C")" = "$OLD" ] &&
	    grep -q '"why": "heartbeat answered"' "$A/agent/state.json" &&
		ok "past 2/3, 5 minutes before the key's point: a heartbeat, no renewal" ||
		bad "before the key's point: $(cat "$work/run.out") $(agent status)"
fi
NB=$((NOW - OFF - 120))
forge "$NB" $((NB + L)) || bad "forge after"
OLD=$(serial "$C")
run_until
[ "$(serial "$C")" != "$OLD" ] && [ "$(spki "$C")" = "$KEY" ] &&
    openssl x509 -in "$C" -noout -checkend 86400 >/dev/null 2>&1 &&
	ok "2 minutes past the key's point: agent run renews (a new serial)" ||
	bad "after the key's point: $(cat "$work/run.out") $(agent status) $(tail -5 "$log")"

# 4. the next cycle comes at the key's point, whatever the heartbeat
sed -i 's/^heartbeat = .*/heartbeat = 1d/' "$A/certkit.conf"
NOW=$(date +%s)
NB=$((NOW - OFF + 8))
forge "$NB" $((NB + L)) || bad "forge ahead"
OLD=$(serial "$C")
rm -f "$A/agent/state.json"
"$CERTKIT" --home "$A" agent run >"$work/run.out" 2>&1 &
apid=$!
bgpids=$apid
n=0
until [ "$(serial "$C")" != "$OLD" ] || [ $n -ge 150 ]; do
	sleep 0.2
	n=$((n + 1))
done
kill "$apid"
wait "$apid" 2>/dev/null
bgpids=""
[ "$(serial "$C")" != "$OLD" ] && [ "$(spki "$C")" = "$KEY" ] &&
	ok "heartbeat 1d, the key's point 8 s ahead: agent run wakes then and renews" ||
	bad "wake at the key's point: $(cat "$work/run.out") $(agent status)"
finish
