#!/bin/sh
# agent_diag.sh: when the agent cannot reach its primary, its status names
# the doctor's root cause. The primary stand-in is an endpoint of `certkit
# lab --serve` that is re-signed by an SSL-inspection CA (Zscaler):
#
#  1. primary_pin = the real service's CA key: the chain fails the pin ->
#     "offline: tls_interception — ... Zscaler ..." with the remedies
#  2. primary_ca = the lab's reference roots (the real service's public
#     CA): the re-signed chain does not verify -> offline: tls_interception
#     too (a known inspection product). A wrong primary_ca in front of a
#     private CA (untrusted_root) is in agent_life.sh.
# Env: CERTKIT. Loopback only, every wait bounded, the lab killed on exit.
set -u
: "${CERTKIT:?}"
W=$(mktemp -d "${TMPDIR:-/tmp}/certkit-agentdiag.XXXXXX")
LPID=""
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "$LPID" ] && wait "$LPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR

mkdir -p "$W/lab" "$W/a"
"$CERTKIT" lab --serve --dir "$W/lab" >"$W/lab.out" 2>&1 &
LPID=$!
i=0
while ! grep -q '^lab ready: ' "$W/lab.out" 2>/dev/null && [ $i -lt 300 ]; do
	kill -0 "$LPID" 2>/dev/null || break
	sleep 0.1; i=$((i + 1))
done
grep -q '^lab ready: ' "$W/lab.out" || { echo "lab did not start: $(cat "$W/lab.out")"; exit 1; }
set -- $(python3 -c 'import configparser,sys
c = configparser.ConfigParser(); c.read(sys.argv[1])
print(c["tls_interception"]["port"], c["tls_interception_pin"]["pin"])' "$W/lab/profile.ini")
PORT=$1 PIN=$2

printf '[agent]\nprimary = 127.0.0.1:%s\nprimary_pin = %s\n' "$PORT" "$PIN" >"$W/a/certkit.conf"
timeout 60 "$CERTKIT" --home "$W/a" agent enroll >"$W/out" 2>&1; rc=$?
timeout 60 "$CERTKIT" --home "$W/a" agent status --json >"$W/st.json"
if [ $rc = 1 ] && grep -q "^Why: offline: tls_interception — .*Zscaler" "$W/out" &&
    grep -q "Mutual TLS (client certificates) cannot pass through inspection" "$W/out" &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["state"]=="offline" and d["diagnosis"]["code"]=="tls_interception" else 1)' "$W/st.json"; then
	ok "an inspecting proxy between agent and primary: offline: tls_interception, naming Zscaler, with the remedies"
else
	bad "inspection: rc=$rc $(cat "$W/out")"
fi

# The device trusts the public roots the real service chains to.
printf '[agent]\nprimary = 127.0.0.1:%s\nprimary_ca = %s\n' "$PORT" "$W/lab/reference.pem" >"$W/a/certkit.conf"
timeout 60 "$CERTKIT" --home "$W/a" agent status --json >/dev/null
timeout 60 "$CERTKIT" --home "$W/a" agent enroll >"$W/out" 2>&1; rc=$?
code=$(timeout 60 "$CERTKIT" --home "$W/a" agent status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["diagnosis"]["code"])')
if [ $rc = 1 ] && [ "$code" = tls_interception ] && grep -q "^Why: offline: $code" "$W/out"; then
	ok "a primary_ca the chain does not lead to: offline with the doctor's $code"
else
	bad "wrong primary_ca: rc=$rc code=$code $(cat "$W/out")"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
