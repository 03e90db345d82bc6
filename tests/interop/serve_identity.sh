#!/bin/sh
# serve_identity.sh: what `certkit serve` serves as its own identity, and
# that it never falls back to another certificate.
#
#  1. identity = p12 with a keystore made by keytool (password "changeit",
#     SAFEQ's default): s_client sees the keystore's certificate
#  2. the wrong password: the start fails (exit 2) naming the keystore
#  3. an unreadable password file, a missing keystore: fail, named
#  4. the device identity with a key.pem that does not match cert.pem:
#     fails naming key.pem; no identity at all: fails, says what to run
#  0. no registry: exit 2, "run: certkit registry migrate", nothing made
#  5. --check-config prints the effective policy (text and --json: TLS
#     1.2-1.3, AEAD suites only); a bad [server] key fails with FILE:LINE
# Env: CERTKIT. keytool (openjdk) for 1.
set -u
. "$(dirname "$0")/serve_lib.inc"
KEYTOOL=${KEYTOOL:-keytool}

# 0. No registry: refused, never created implicitly.
"$CERTKIT" identity init >/dev/null 2>&1 || { bad "identity init"; finish; }
"$CERTKIT" serve --listen 127.0.0.1:0 >"$work/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "run: certkit registry migrate" "$work/out" &&
    [ ! -e "$H/server/registry.db" ] &&
	ok "no registry: exit 2, says to run certkit registry migrate, creates nothing" ||
	bad "no registry: exit $rc, $(cat "$work/out")"
rm -rf "$H/identity"
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }

# 4b. No identity yet.
"$CERTKIT" serve --listen 127.0.0.1:0 >"$work/out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "identity/current: no device identity" "$work/out" &&
    grep -q "certkit identity init" "$work/out" &&
	ok "no identity: refuses to start, says to run certkit identity init" ||
	bad "no identity: exit $rc, $(cat "$work/out")"

# 1. keytool keystore with "changeit".
if ! command -v "$KEYTOOL" >/dev/null 2>&1; then
	bad "keytool is not installed (openjdk-17-jre-headless)"
else
	timeout 60 "$KEYTOOL" -genkeypair -alias primary -keyalg EC -groupname secp256r1 \
	    -dname "CN=safeq.example.test" -validity 30 -storetype PKCS12 \
	    -keystore "$work/server.p12" -storepass changeit >"$work/kt.out" 2>&1 ||
		bad "keytool: $(cat "$work/kt.out")"
	printf 'changeit\n' >"$work/p12.pw"
	printf '[server]\nidentity = p12\np12 = %s\np12_password_file = %s\n' \
	    "$work/server.p12" "$work/p12.pw" >"$H/certkit.conf"
	if start_server; then
		timeout 10 openssl s_client -connect "127.0.0.1:$port" </dev/null \
		    >"$work/sc.out" 2>&1
		grep -q "subject=CN *= *safeq.example.test" "$work/sc.out" &&
			ok "keytool PKCS#12 (changeit) is served" ||
			bad "keytool PKCS#12: $(grep subject= "$work/sc.out")"
		stop_server
	else
		bad "serve with the keytool keystore did not start"
	fi
fi

# 2. Wrong password: no start, the keystore named, exit 2.
printf 'wrong\n' >"$work/p12.pw"
"$CERTKIT" serve --listen 127.0.0.1:0 >"$work/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "$work/server.p12: wrong password" "$work/out" &&
	ok "wrong keystore password: exit 2 naming the keystore" ||
	bad "wrong password: exit $rc, $(cat "$work/out")"
"$CERTKIT" serve --check-config >"$work/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "server.p12: wrong password" "$work/out" &&
	ok "--check-config fails the same way" || bad "--check-config: exit $rc"

# 3. Unreadable password file; missing keystore.
rm -f "$work/p12.pw"
"$CERTKIT" serve --listen 127.0.0.1:0 >"$work/out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "$work/p12.pw" "$work/out" &&
	ok "missing password file: refused, named" ||
	bad "missing password file: exit $rc, $(cat "$work/out")"
printf 'changeit\n' >"$work/p12.pw"
mv "$work/server.p12" "$work/moved.p12"
"$CERTKIT" serve --listen 127.0.0.1:0 >"$work/out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "$work/server.p12" "$work/out" &&
	ok "missing keystore: refused, named" ||
	bad "missing keystore: exit $rc, $(cat "$work/out")"

# 4a. Device identity whose key does not match.
rm -f "$H/certkit.conf"
"$CERTKIT" identity init >/dev/null 2>&1 || bad "identity init"
cur=$(readlink -f "$H/identity/current")
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$work/other.key" 2>/dev/null
cp "$cur/key.pem" "$work/good.key"
cat "$work/other.key" >"$cur/key.pem"
"$CERTKIT" serve --listen 127.0.0.1:0 >"$work/out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "$cur/key.pem: the key does not match" "$work/out" &&
	ok "mismatched device key: refused, key.pem named" ||
	bad "mismatched key: exit $rc, $(cat "$work/out")"
cat "$work/good.key" >"$cur/key.pem"

# 5. --check-config.
"$CERTKIT" serve --check-config --json >"$work/cc.json" 2>"$work/cc.err"
rc=$?
if [ $rc -eq 0 ] && python3 - "$work/cc.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tls"]
assert d["schema"] == "serve-config" and d["listen"] == ["*:8443"]
assert t["min_protocol"] == "TLSv1.2" and t["max_protocol"] == "TLSv1.3"
assert t["ciphersuites"] and t["ciphers"]
assert all(("GCM" in c or "CHACHA20" in c) and c.startswith("ECDHE") for c in t["ciphers"]), t["ciphers"]
assert d["client_policy"] == "pairing" and d["identity"]["source"] == "device"
assert len(d["identity"]["spki_sha256"]) == 64
EOF
then
	ok "--check-config --json: TLS 1.2-1.3, forward-secret AEAD only"
else
	bad "--check-config --json: exit $rc $(cat "$work/cc.err")"
fi
"$CERTKIT" serve --check-config >"$work/cc.txt" 2>&1 &&
    grep -q '^protocols *TLSv1.2 to TLSv1.3' "$work/cc.txt" &&
	ok "--check-config prints the policy as text" ||
	bad "--check-config text: $(cat "$work/cc.txt")"
printf '[server]\n\nmin_protocol = SSLv3\n' >"$H/certkit.conf"
"$CERTKIT" serve --check-config >"$work/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "certkit.conf:3: \[server\] min_protocol: expected TLSv1.2 or TLSv1.3, found 'SSLv3'" "$work/out" &&
	ok "a bad [server] key: exit 2 with FILE:LINE" ||
	bad "bad key: exit $rc $(cat "$work/out")"
"$CERTKIT" serve --listen 1.2.3.4 >"$work/out" 2>&1
rc=$?
[ $rc -eq 2 ] && ok "--listen without a port: exit 2" || bad "--listen: exit $rc"
finish
