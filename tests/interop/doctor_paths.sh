#!/bin/sh
# doctor_paths.sh: a chain that verifies only through an alternate path
# (issue 13, verify_path.c) against real peers on 127.0.0.1, with the
# cross-sign of tests/cli/crosssign.sh (the DST Root CA X3 / ISRG Root X1
# case): the server sends leaf, R3 cross-signed by the expired Old Root,
# then R3 signed by New Root; the device trusts both roots.
#  1. `openssl s_client` (OpenSSL's one chain) refuses it: the case is real.
#  2. certkit doctor: online, "ok", and the warning alternate_path with the
#     path used (to New Root) and the certificate left off it.
#  3. Only the cross-signed R3 sent: still the expired root, as before.
#  4. certkit identity install of leaf + both R3: installed, through the
#     other path (finding alternate_path); the fullchain written is leaf +
#     R3 by New Root, which s_client then accepts served by s_server, and
#     the doctor finds plainly ok.
#
# Env: CERTKIT, CERTKIT_TEST_PKI. Every wait is bounded; every server is
# killed on exit, by PID.
set -u
: "${CERTKIT:?}"
OPENSSL=${OPENSSL:-openssl}
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR \
	CERTKIT_HOME CERTKIT_PASSWORD
HERE=$(cd "$(dirname "$0")" && pwd)

. "$HERE/peer_lib.inc"
workdir paths
bad() {
	fail=$((fail + 1))
	echo "not ok - $1"
	[ -f "$W/out" ] && sed 's/^/  | /' "$W/out" | head -60
	[ -f "$W/err" ] && sed 's/^/  err| /' "$W/err" | head -20
}

sh "$HERE/../cli/crosssign.sh" "$W" || { echo "crosssign.sh failed"; exit 1; }
AT=$(cat "$W/at")
ATTIME=$(cat "$W/attime")
H=www.example.test

stop() {
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
}

doctor() {
	timeout 60 "$CERTKIT" doctor --json --at "$AT" --timeout 2 \
		--trust "$W/roots.pem" --resolve "$H:$PORT:127.0.0.1" "$H:$PORT" \
		>"$W/out" 2>"$W/err"
	echo $? >"$W/rc"
}

# check 'EXPR': Python over e (the endpoint), d (its diagnoses by code)
# and fp(file) (a PEM certificate's SHA-256).
check() {
	python3 - "$W/out" "$W" "$1" <<'EOF'
import hashlib, json, ssl, sys
r = json.load(open(sys.argv[1]))
e = r["endpoints"][0]
d = {x["code"]: x for x in e["diagnosis"]}
def fp(f):
    pem = open(sys.argv[2] + "/" + f).read()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
sys.exit(0 if eval(sys.argv[3]) else 1)
EOF
}

expect() {
	# expect NAME EXIT 'PYTHON-EXPR'
	rc=$(cat "$W/rc")
	if [ "$rc" = "$2" ] && check "$3"; then ok "$1"; else echo "  exit $rc"; bad "$1"; fi
}

SRV="$OPENSSL s_server -accept 127.0.0.1:@PORT@ -www -quiet"

# ---- 1-2: leaf, cross-signed R3, R3 ------------------------------------------
start cross "$SRV -cert $W/leaf.pem -key $W/leaf.key -cert_chain $W/inter.pem" || exit 1
if echo | timeout 20 "$OPENSSL" s_client -connect "127.0.0.1:$PORT" \
	-servername $H -CAfile "$W/roots.pem" -attime "$ATTIME" \
	-verify_return_error >"$W/out" 2>&1; then
	bad "s_client refuses the chain (OpenSSL builds one chain, to the expired root)"
else
	ok "s_client refuses the chain (OpenSSL builds one chain, to the expired root)"
fi
doctor
expect "doctor: online, ok, and the warning alternate_path" 0 \
	'e["status"] == "online" and "ok" in d and d["alternate_path"]["severity"] == "warning" and not any(x["severity"] == "error" for x in e["diagnosis"])'
expect "alternate_path: the path used, to New Root, and the certificate left off it" 0 \
	'[c["sha256"] for c in d["alternate_path"]["evidence"]["path"]] == [fp("leaf.pem"), fp("r3new.pem"), fp("new.pem")] and [c["sha256"] for c in d["alternate_path"]["evidence"]["not_on_path"]] == [fp("r3cross.pem")]'
expect "alternate_path: the first path's failure, the clients that fail, a fix" 0 \
	'd["alternate_path"]["evidence"]["first_failure"] == {"code": "cert_expired", "depth": 2} and d["alternate_path"]["evidence"]["paths_tried"] >= 1 and any("OpenSSL" in c for c in d["alternate_path"]["evidence"]["fails_in"]) and "Old Root" in d["alternate_path"]["remedies"][0] and d["ok"]["evidence"]["root"]["name"] == "New Root"'
stop

# ---- 3: only the cross-signed R3 ---------------------------------------------
start crossonly "$SRV -cert $W/leaf.pem -key $W/leaf.key -cert_chain $W/r3cross.pem" || exit 1
doctor
expect "only the cross-signed R3: the expired root, as before, no alternate_path" 1 \
	'e["status"] == "unreachable" and e["diagnosis"][0]["code"] == "cert_expired" and "alternate_path" not in d'
stop

# ---- 4: identity install of such a chain -------------------------------------
mkdir "$W/home"
if CERTKIT_HOME="$W/home" CERTKIT_HOSTNAME=$H CERTKIT_IPS= SSL_CERT_FILE="$W/roots.pem" \
	timeout 60 "$CERTKIT" identity install --json --cert "$W/leaf.pem" --key "$W/leaf.key" \
	--chain "$W/inter.pem" --at "$AT" >"$W/out" 2>"$W/err"; then
	ok "identity install accepts the chain valid through the other path"
else
	bad "identity install accepts the chain valid through the other path"
fi
if python3 - "$W/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
f = {x["code"]: x for x in r["findings"]}
a = f["alternate_path"]
sys.exit(0 if a["severity"] == "info" and len(a["evidence"]["path"]) == 3
         and a["evidence"]["first_failure"]["code"] == "cert_expired"
         and "unrelated_certificate" not in f and "chain_invalid" not in f
         and r["changed"] is True else 1)
EOF
then
	ok "identity install --json: alternate_path (info) with the path, no warning"
else
	bad "identity install --json: alternate_path (info) with the path, no warning"
fi
FC="$W/home/identity/current/fullchain.pem"
if [ -f "$FC" ] && [ "$(grep -c 'BEGIN CERTIFICATE' "$FC")" = 2 ] &&
	python3 - "$FC" "$W/r3new.pem" <<'EOF'
import sys
fc, r3 = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.exit(0 if fc.rstrip().endswith(r3.rstrip()) else 1)
EOF
then
	ok "the fullchain installed is leaf + R3 by New Root"
else
	bad "the fullchain installed is leaf + R3 by New Root"
fi
CUR="$W/home/identity/current"
start installed "$SRV -cert $CUR/cert.pem -key $CUR/key.pem -cert_chain $CUR/chain.pem" || exit 1
if echo | timeout 20 "$OPENSSL" s_client -connect "127.0.0.1:$PORT" \
	-servername $H -CAfile "$W/roots.pem" -attime "$ATTIME" \
	-verify_return_error >"$W/out" 2>&1; then
	ok "s_client accepts the installed chain served by s_server"
else
	bad "s_client accepts the installed chain served by s_server"
fi
doctor
expect "doctor: the installed chain is plainly ok" 0 \
	'e["status"] == "online" and "ok" in d and "alternate_path" not in d'
stop

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
