#!/bin/sh
# doctor_basic.sh: certkit doctor against real peers on 127.0.0.1:
# `openssl s_server` (ok, incomplete chain, untrusted/missing root,
# hostname mismatch, fallback certificate, expired, self-signed, weak key,
# a device clock in 2012, an intermediate behind an unreachable AIA URL,
# a name only in the CN under --policy strict and a profile's policy,
# TLS 1.0 only, client certificates), a plaintext HTTP server (not_tls;
# plain_http with --https if-available), a
# silent listener (handshake_timeout) and a closed port (tcp_refused).
#
# Env: CERTKIT (the binary), CERTKIT_TEST_PKI (the test PKI). Every wait is
# bounded; every server is killed on exit. Verification time is pinned.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
P=$CERTKIT_TEST_PKI
AT=2026-06-01T00:00:00Z
OPENSSL=${OPENSSL:-openssl}
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR

. "$(dirname "$0")/peer_lib.inc"
workdir doctor
bad() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$W/out" ] && sed 's/^/  | /' "$W/out" | head -60; }

cat "$P/root-ca.pem" "$P/int-ca.pem" >"$W/root+int.pem"

# doctor_at TIME ARGS...: runs certkit doctor --json --at TIME with a 60 s
# bound; doctor ARGS... does it at the pinned time.
doctor_at() {
	at=$1
	shift
	timeout 60 "$CERTKIT" doctor --json --at "$at" --timeout 2 "$@" >"$W/out" 2>"$W/err"
	echo $? >"$W/rc"
}
doctor() {
	doctor_at "$AT" "$@"
}

# jq-like check with python: check 'EXPR' (EXPR is Python over r = report,
# e = first endpoint, d = primary diagnosis).
check() {
	python3 - "$W/out" "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["endpoints"][0]
d = e["diagnosis"][0]
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)
EOF
}

expect() {
	# expect NAME EXIT 'PYTHON-EXPR'
	rc=$(cat "$W/rc")
	if [ "$rc" = "$2" ] && check "$3"; then ok "$1"; else echo "  exit $rc"; cat "$W/err"; bad "$1"; fi
}

R=device.example.test
SRV="$OPENSSL s_server -accept 127.0.0.1:@PORT@ -www -quiet"

# ---- ok, and the JSON schema --------------------------------------------------
start ok "$SRV -cert $P/leaf.pem -key $P/leaf.key -cert_chain $P/int-ca.pem"
doctor --trust "$P/root-ca.pem" --reference "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "ok: a complete chain to a trusted root is online" 0 \
  'e["status"] == "online" and d["code"] == "ok" and r["summary"]["online"] == 1'
expect "the report has the documented schema" 0 \
  'set(["endpoint","status","diagnosis","chain","tls","timings_ms"]) <= set(e) and set(["code","severity","summary","evidence","remedies"]) <= set(d) and set(["depth","subject","issuer","not_before","not_after","sha256","spki_sha256"]) <= set(e["chain"][0]) and e["tls"]["version"].startswith("TLSv1") and set(["online","unreachable","offline"]) <= set(r["summary"]) and e["endpoint"] == "'"$R:$PORT"'"'
timeout 60 "$CERTKIT" doctor --at "$AT" --trust "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT" >"$W/out" 2>&1
if [ $? = 0 ] && grep -q "depth=1 C = US, O = certkit tests, CN = certkit Test Issuing CA" "$W/out" &&
    grep -q "Summary: 1 endpoint: 1 online" "$W/out"; then
	ok "text output shows the chain s_client style and a summary"
else
	bad "text output shows the chain s_client style and a summary"
fi

# ---- hostname: a certificate for another name, and a fallback certificate -------
# Its only certificate, CA-issued, is for another name, with or without SNI:
# the fix is the name. That it may be the server's default certificate is
# the other reading, said in the evidence.
doctor --trust "$P/root-ca.pem" --resolve "wrong.example.test:$PORT:127.0.0.1" "wrong.example.test:$PORT"
expect "one CA-issued certificate for another name (also without SNI) is hostname_mismatch, the default-certificate reading in the evidence" 1 \
  'd["code"] == "hostname_mismatch" and e["status"] == "unreachable" and d["evidence"]["same_without_sni"] is True and "default" in d["evidence"]["other_reading"] and not any(x["code"] == "fallback_certificate" for x in e["diagnosis"])'
doctor --trust "$P/root-ca.pem" "127.0.0.1:$PORT"
expect "an IP address the certificate does not cover is hostname_mismatch" 1 \
  'd["code"] == "hostname_mismatch" and "IP:192.0.2.10" in d["evidence"]["certificate_names"]'

start sni "$SRV -cert $P/other-leaf.pem -key $P/other-leaf.key -servername mismatch.example.test -cert2 $P/leaf.pem -key2 $P/leaf.key"
doctor --trust "$W/root+int.pem" --resolve "mismatch.example.test:$PORT:127.0.0.1" "mismatch.example.test:$PORT"
expect "a certificate chosen for the SNI name but for another name is hostname_mismatch" 1 \
  'd["code"] == "hostname_mismatch" and d["evidence"]["requested"] == "mismatch.example.test"'

# ---- the error-20 family --------------------------------------------------------
start incomplete "$SRV -cert $P/leaf.pem -key $P/leaf.key"
doctor --trust "$P/root-ca.pem" --reference "$W/root+int.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a server that omits its intermediate is incomplete_chain, verifiable once completed" 1 \
  'd["code"] == "incomplete_chain" and d["evidence"]["verifies_once_completed"] is True and d["evidence"]["missing"][0]["name"] == "certkit Test Issuing CA"'

start untrusted "$SRV -cert $P/other-leaf.pem -key $P/other-leaf.key -cert_chain $P/other-root.pem"
doctor --trust "$P/root-ca.pem" --reference "$P/root-ca.pem" --resolve "other.example.test:$PORT:127.0.0.1" "other.example.test:$PORT"
expect "a private CA not in any reference is untrusted_root, with the command that trusts it" 1 \
  'd["code"] == "untrusted_root" and d["evidence"]["root"]["name"] == "Other Untrusted Root" and any("certkit trust add --from other.example.test:" in c for c in d["commands"])'
doctor --public --trust "$P/root-ca.pem" --reference "$P/root-ca.pem" --resolve "other.example.test:$PORT:127.0.0.1" "other.example.test:$PORT"
expect "the same chain on a public endpoint is tls_interception" 1 \
  'd["code"] == "tls_interception" and d["evidence"]["inspecting_ca"]["name"] == "Other Untrusted Root" and len(d["remedies"]) >= 5'
doctor --trust "$P/other-root.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a trusted server whose only certificate is for other.example.test is hostname_mismatch" 1 \
  'd["code"] == "hostname_mismatch" and "DNS:other.example.test" in d["evidence"]["certificate_names"] and d["evidence"]["same_without_sni"] is True and not any(x["code"] == "fallback_certificate" for x in e["diagnosis"])'

start full "$SRV -cert $P/leaf.pem -key $P/leaf.key -cert_chain $P/int-ca.pem"
doctor --trust "$P/other-root.pem" --reference "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a public root missing from the device's store is missing_root, named" 1 \
  'd["code"] == "missing_root" and d["evidence"]["root"]["name"] == "certkit Test Root CA" and "certkit trust add --reference \"certkit Test Root CA\"" in d["commands"]'

# ---- the device's clock ---------------------------------------------------------
# 2012: before every certificate of the chain, the trust anchor in the
# device's own store included, and before certkit was built.
doctor_at 2012-03-04T05:06:07Z --trust "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a device clock in 2012, before its own trust anchor, is clock_skew" 1 \
  'd["code"] == "clock_skew" and d["evidence"]["local_time"] == "2012-03-04T05:06:07Z" and d["evidence"]["certificate"]["name"] == "certkit Test Root CA" and "certkit_built" in d["evidence"] and not any(x["code"] == "cert_not_yet_valid" for x in e["diagnosis"])'
timeout 60 "$CERTKIT" doctor --at 2012-03-04T05:06:07Z --timeout 2 --trust "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT" >"$W/out" 2>&1
if grep -q "clock_skew" "$W/out" && ! grep -qi "intermediate[^\"]*\"certkit Test Root CA\"" "$W/out"; then
	ok "the text report never calls the root an intermediate"
else
	bad "the text report never calls the root an intermediate"
fi

# ---- certificates made here, valid from now (NOW is 2 minutes later) ----------
# An intermediate the server omits, behind an AIA URL to a closed port on
# 127.0.0.1, and a self-signed "localhost" placeholder.
G=$W/gen
mkdir "$G"
AIADEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat >"$G/ossl.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:aia.example.test
authorityKeyIdentifier = keyid
authorityInfoAccess = caIssuers;URI:http://127.0.0.1:$AIADEAD/int.der
[localhost]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
EOF
# gen NAME SUBJECT EXTENSIONS [ISSUER]: an EC P-256 key and a 365-day
# certificate, self-signed without ISSUER.
gen() {
	$OPENSSL req -config "$G/ossl.cnf" -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$G/$1.key" -subj "$2" -out "$G/$1.csr" 2>>"$G/log" || return 1
	if [ $# -ge 4 ]; then
		$OPENSSL x509 -req -in "$G/$1.csr" -CA "$G/$4.pem" -CAkey "$G/$4.key" \
		    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 365 \
		    -extfile "$G/ossl.cnf" -extensions "$3" -out "$G/$1.pem" 2>>"$G/log"
	else
		$OPENSSL x509 -req -in "$G/$1.csr" -signkey "$G/$1.key" -days 365 \
		    -extfile "$G/ossl.cnf" -extensions "$3" -out "$G/$1.pem" 2>>"$G/log"
	fi
}
gen aroot "/CN=AIA Test Root" ca && gen aint "/CN=AIA Test Issuing CA" ca aroot &&
    gen aleaf "/CN=aia.example.test" leaf aint && gen lh "/CN=localhost" localhost ||
    { cat "$G/log"; bad "generate the certificates"; }
NOW=$(python3 -c 'import time; print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120)))')

start aia "$SRV -cert $G/aleaf.pem -key $G/aleaf.key"
doctor_at "$NOW" --trust "$G/aroot.pem" --reference "$G/aroot.pem" --resolve "aia.example.test:$PORT:127.0.0.1" "aia.example.test:$PORT"
expect "an omitted intermediate whose AIA URL cannot be fetched is incomplete_chain, with the URL and the failure" 1 \
  'd["code"] == "incomplete_chain" and d["evidence"]["missing_issuer"] == "AIA Test Issuing CA" and d["evidence"]["aia_url"] == "http://127.0.0.1:'"$AIADEAD"'/int.der" and "connection failed" in d["evidence"]["aia_result"] and "could not fetch it from http://127.0.0.1:'"$AIADEAD"'/int.der" in d["summary"] and not any(x["code"] == "untrusted_root" for x in e["diagnosis"])'

start localhost "$SRV -cert $G/lh.pem -key $G/lh.key"
doctor_at "$NOW" --trust "$P/root-ca.pem" --resolve "camera.example.test:$PORT:127.0.0.1" "camera.example.test:$PORT"
expect "a self-signed localhost placeholder is fallback_certificate" 1 \
  'd["code"] == "fallback_certificate" and "DNS:localhost" in d["evidence"]["certificate_names"]'

# ---- the server's certificate ------------------------------------------------------
start expired "$SRV -cert $P/leaf-expired.pem -key $P/leaf-expired.key -cert_chain $P/int-ca.pem"
doctor --trust "$P/root-ca.pem" --resolve "expired.example.test:$PORT:127.0.0.1" "expired.example.test:$PORT"
expect "an expired certificate is cert_expired" 1 \
  'd["code"] == "cert_expired" and d["evidence"]["depth"] == 0'

start selfsigned "$SRV -cert $P/leaf-selfsigned.pem -key $P/leaf-selfsigned.key"
doctor --trust "$P/root-ca.pem" --reference "$P/root-ca.pem" --resolve "selfsigned.example.test:$PORT:127.0.0.1" "selfsigned.example.test:$PORT"
expect "a self-signed server certificate is self_signed_leaf" 1 \
  'd["code"] == "self_signed_leaf"'

start weakkey "$SRV -cipher DEFAULT@SECLEVEL=0 -cert $P/leaf-weakkey.pem -key $P/leaf-weakkey.key -cert_chain $P/int-ca.pem"
doctor --trust "$P/root-ca.pem" --resolve "weakkey.example.test:$PORT:127.0.0.1" "weakkey.example.test:$PORT"
expect "an RSA-1024 key is weak_key" 1 \
  'd["code"] == "weak_key" and d["evidence"]["key_bits"] == 1024'

# ---- the handshake ------------------------------------------------------------------
start tls10 "$SRV -tls1 -cipher DEFAULT@SECLEVEL=0 -cert $P/leaf.pem -key $P/leaf.key -cert_chain $P/int-ca.pem"
doctor --trust "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a TLS 1.0-only server is tls_protocol_mismatch, naming its version" 1 \
  'd["code"] == "tls_protocol_mismatch" and d["evidence"].get("server_version") == "TLSv1"'

start http "python3 -u -m http.server --bind 127.0.0.1 @PORT@ --directory $W"
doctor --trust "$P/root-ca.pem" "127.0.0.1:$PORT"
expect "plain HTTP on the port is not_tls, quoting the answer" 1 \
  'd["code"] == "not_tls" and ("HTTP" in d["evidence"]["first_bytes"].upper() or "HTML" in d["evidence"]["first_bytes"].upper())'
doctor --trust "$P/root-ca.pem" --https required "127.0.0.1:$PORT"
expect "--https required: plain HTTP is still not_tls" 1 'd["code"] == "not_tls"'
doctor --trust "$P/root-ca.pem" --https if-available "127.0.0.1:$PORT"
expect "--https if-available: plain HTTP is plain_http, a warning, online" 0 \
  'd["code"] == "plain_http" and d["severity"] == "warning" and e["status"] == "online" and len(e["diagnosis"]) == 1'
timeout 10 "$CERTKIT" doctor --https sometimes "127.0.0.1:$PORT" >"$W/out" 2>&1
if [ $? = 2 ] && grep -q 'expected required or if-available' "$W/out"; then
	ok "--https with another word is a usage error"
else
	bad "--https with another word is a usage error"
fi

start silent "python3 -u -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"127.0.0.1\", @PORT@)); s.listen(16)
c=[]
while True:
    a,_=s.accept(); c.append(a)'"
doctor --trust "$P/root-ca.pem" --timeout 1 "127.0.0.1:$PORT"
expect "a listener that never answers the hello is handshake_timeout" 1 \
  'd["code"] == "handshake_timeout" and e["status"] == "unreachable"'

# A port that was just free: bind, note, close.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
doctor --trust "$P/root-ca.pem" "127.0.0.1:$DEAD"
expect "a closed port is tcp_refused and offline" 1 \
  'd["code"] == "tcp_refused" and e["status"] == "offline" and r["summary"]["offline"] == 1'

# ---- client certificates ----------------------------------------------------------------
# s_server verifies the client certificate at the pinned time, as doctor --at.
start mtls "$SRV -Verify 1 -verify_return_error -attime 1780272000 -CAfile $W/root+int.pem -cert $P/leaf.pem -key $P/leaf.key -cert_chain $P/int-ca.pem"
doctor --trust "$P/root-ca.pem" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a server that requires a client certificate is client_cert_required" 1 \
  'd["code"] == "client_cert_required" and e["tls"]["client_certificate_requested"] is True'
doctor --trust "$P/root-ca.pem" --cert "$P/leaf-client.pem" --key "$P/leaf-client.key" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "with the device's certificate the same server is online" 0 \
  'd["code"] == "ok" and e["tls"]["client_certificate_sent"] is True'
doctor --trust "$P/root-ca.pem" --cert "$P/other-leaf.pem" --key "$P/other-leaf.key" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a certificate from a CA the server does not know is client_cert_rejected (unknown_ca)" 1 \
  'd["code"] == "client_cert_rejected" and d["evidence"]["reason"] == "unknown_ca"'
doctor --trust "$P/root-ca.pem" --cert "$P/leaf.p12" --password-file "$P/password.txt" --resolve "$R:$PORT:127.0.0.1" "$R:$PORT"
expect "a PKCS#12 client identity with its password works" 0 \
  'd["code"] == "ok"'

# ---- --policy: a name only in the CN (verify_rules.c) -------------------------------
start cnonly "$SRV -cert $P/leaf-cn-only.pem -key $P/leaf-cn-only.key -cert_chain $P/int-ca.pem"
C=cnonly.example.test
doctor --trust "$P/root-ca.pem" --resolve "$C:$PORT:127.0.0.1" "$C:$PORT"
expect "a name only in the CN is ok under the default policy (compat)" 0 \
  'd["code"] == "ok"'
doctor --policy strict --trust "$P/root-ca.pem" --resolve "$C:$PORT:127.0.0.1" "$C:$PORT"
expect "--policy strict: a name only in the CN is chain_invalid, with the rule and who refuses it" 1 \
  'd["code"] == "chain_invalid" and d["evidence"]["policy_code"] == "cn_only_name" and "Chrome" in d["evidence"]["refused_by"]'
printf '[cam]\nhost = %s:%s\naddress = 127.0.0.1\npolicy = strict\n' "$C" "$PORT" >"$W/strict.ini"
doctor --trust "$P/root-ca.pem" --profile "$W/strict.ini"
expect "a profile's policy = strict does the same" 1 \
  'd["code"] == "chain_invalid" and d["evidence"]["policy_code"] == "cn_only_name"'

# ---- input errors ------------------------------------------------------------------------
timeout 20 "$CERTKIT" doctor --trust "$P/root-ca.pem" "bad host:443" >"$W/out" 2>&1
if [ $? = 2 ] && grep -q "bad host" "$W/out"; then ok "a bad endpoint is a usage error naming it"; else bad "a bad endpoint is a usage error naming it"; fi
timeout 20 "$CERTKIT" doctor --trust "$W/nonexistent.pem" "$R" >"$W/out" 2>&1
if [ $? = 2 ] && grep -q "nonexistent.pem" "$W/out"; then ok "a missing trust store is an input error naming it"; else bad "a missing trust store is an input error naming it"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
