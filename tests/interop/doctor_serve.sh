#!/bin/sh
# doctor_serve.sh: certkit doctor, run from a device against `certkit
# serve` (client_policy = pairing), names each refusal with its code:
#  1. no client certificate: client_cert_required (HTTP 401, problem type
#     client_cert_required);
#  2. an unknown key: client_pending_approval, with the key's SHA-256 and
#     Retry-After, and the remedy `certkit clients approve`;
#  3. after `certkit clients approve`: ok (exit 0);
#  4. after `certkit clients revoke`: client_cert_rejected, the reason the
#     server's problem type (client_revoked) and its detail in the summary.
# Env: CERTKIT. Loopback only, port 0, every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"
export CERTKIT_HOSTNAME=primary.example.test CERTKIT_IPS=192.0.2.10
AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)

"$CERTKIT" identity init >"$work/init.out" 2>&1 ||
	{ bad "identity init: $(cat "$work/init.out")"; finish; }
"$CERTKIT" registry migrate >"$work/mig.out" 2>&1 ||
	{ bad "registry migrate: $(cat "$work/mig.out")"; finish; }
mkclient dev1 gateway-01
SPKI=$(spki "$work/dev1.pem")
start_server || { bad "serve starts"; finish; }

# doctor [WHO]: certkit doctor --json as the device WHO (none: no --cert),
# trusting the server's own certificate.
doctor() {
	if [ -n "${1:-}" ]; then
		set -- --cert "$work/$1.pem" --key "$work/$1.key"
	fi
	timeout 60 "$CERTKIT" doctor --json --timeout 3 --at "$AT" \
	    --trust "$H/identity/current/cert.pem" \
	    --resolve "primary.example.test:$port:127.0.0.1" "$@" \
	    "primary.example.test:$port" >"$work/out" 2>"$work/err"
	echo $? >"$work/rc"
}
# doctor_until WHO EXIT: the doctor again until it exits EXIT, at most 10 s
# (the server follows the registry within about 1 s; CI machines are slow).
doctor_until() {
	t=0
	while doctor "$1" && [ "$(cat "$work/rc")" != "$2" ] && [ $t -lt 50 ]; do
		sleep 0.2; t=$((t + 1))
	done
}
# expect NAME EXIT 'PYTHON-EXPR' over d (the first diagnosis), v (its evidence).
expect() {
	rc=$(cat "$work/rc")
	if [ "$rc" = "$2" ] && python3 - "$work/out" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["endpoints"][0]["diagnosis"][0]
v = d["evidence"]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
	then ok "$1"; else bad "$1 (exit $rc)"; sed 's/^/#   /' "$work/out" "$work/err" | head -30; fi
}

doctor
expect "no client certificate: client_cert_required from the 401 problem" 1 \
	'd["code"] == "client_cert_required" and v["problem_type"] == "client_cert_required" and v["http_status"] == 401'
doctor dev1
expect "an unknown key: client_pending_approval with its SPKI and Retry-After" 1 \
	'd["code"] == "client_pending_approval" and v["spki_sha256"] == "'"$SPKI"'" and v["retry_after"] == 30 and "certkit clients approve" in d["remedies"][0]'
PREFIX=$(printf %s "$SPKI" | cut -c1-12)
"$CERTKIT" clients approve "$PREFIX" --reason "doctor test" >"$work/act.out" 2>&1 ||
	bad "clients approve: $(cat "$work/act.out")"
doctor_until dev1 0
expect "approved: ok" 0 'd["code"] == "ok"'
"$CERTKIT" clients revoke "$PREFIX" --reason "stolen" >"$work/act.out" 2>&1 ||
	bad "clients revoke: $(cat "$work/act.out")"
doctor_until dev1 1
expect "revoked: client_cert_rejected, reason client_revoked, the server's detail" 1 \
	'd["code"] == "client_cert_rejected" and v["reason"] == "client_revoked" and v["http_status"] == 403 and v.get("detail", "") in d["summary"] and v.get("detail")'
stop_server
finish
