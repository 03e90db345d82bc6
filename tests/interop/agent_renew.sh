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
. "$(dirname "$0")/agent_lib.inc"
export CERTKIT_HOSTNAME=localhost CERTKIT_IPS=127.0.0.1
A="$work/a1"
C="$A/agent/identity/current/cert.pem"
agent() { timeout 60 "$CERTKIT" --home "$A" agent "$@"; }
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
forge() { agent_forge "$A" "$@"; }
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

agent_primary 7004 "Agent Renew CA"
mkagent "$A"
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
