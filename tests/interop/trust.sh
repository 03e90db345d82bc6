#!/bin/sh
# trust.sh: certkit trust's three outputs against real peers: openssl verify
# (-CAfile and -CApath), curl against a local openssl s_server, Java's
# keytool, and `trust add --from` against the same server, directly and
# through an HTTP CONNECT proxy. Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
PKI=$CERTKIT_TEST_PKI
unset CERTKIT_HOME CERTKIT_PASSWORD SSL_CERT_DIR HTTPS_PROXY https_proxy NO_PROXY no_proxy
W=$(mktemp -d "${TMPDIR:-/tmp}/certkit-trust-interop.XXXXXX")
H=$W/home
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
no() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$W/log" ] && sed 's/^/  | /' "$W/log" | head -20; }
check() { # check NAME COMMAND...: passes when the command succeeds
	name=$1; shift
	if "$@" >"$W/log" 2>&1; then ok "$name"; else no "$name"; fi
}
ck() { "$CERTKIT" --home "$H" trust "$@"; }

# A one-root "system bundle", so nothing depends on this machine's store.
cp "$PKI/other-root.pem" "$W/system.pem"
export SSL_CERT_FILE=$W/system.pem

# A leaf valid today (the PKI's leaves are pinned to 2025-2027), issued by
# the test PKI's issuing CA, for 127.0.0.1.
cat >"$W/ext.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/srv.key" -subj "/CN=localhost" -out "$W/srv.csr" 2>/dev/null &&
openssl x509 -req -in "$W/srv.csr" -CA "$PKI/int-ca.pem" -CAkey "$PKI/int-ca.key" \
    -CAcreateserial -days 2 -extfile "$W/ext.cnf" -out "$W/srv.pem" 2>/dev/null ||
	{ echo "cannot make the server certificate"; exit 1; }

# openssl s_server on an ephemeral port, sending leaf + issuing CA.
start_server() {
	: >"$W/srv.out"
	openssl s_server -accept 127.0.0.1:0 -cert "$W/srv.pem" -key "$W/srv.key" \
	    -cert_chain "$PKI/int-ca.pem" -www >"$W/srv.out" 2>&1 &
	pids="$pids $!"
	i=0
	while ! grep -q '^ACCEPT' "$W/srv.out" && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	PORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$W/srv.out" | head -1)
	[ -n "$PORT" ] || { echo "s_server did not start"; cat "$W/srv.out"; exit 1; }
}
start_server

# 1. add the root; the three outputs agree.
check "add the test root" ck add --alias corp-root "$PKI/root-ca.pem"
n_bundle=$(grep -c 'BEGIN CERTIFICATE' "$H/trust/out/ca-bundle.pem")
n_dir=$(ls "$H/trust/out/certs" | wc -l)
check "bundle and hashed dir hold the same 2 certificates" \
    test "$n_bundle" = 2 -a "$n_dir" = 2

# 2. openssl verify with -CAfile and -CApath.
check "openssl verify -CAfile out/ca-bundle.pem" openssl verify \
    -no-CApath -CAfile "$H/trust/out/ca-bundle.pem" -untrusted "$PKI/int-ca.pem" "$W/srv.pem"
check "openssl verify -CApath out/certs" openssl verify \
    -no-CAfile -CApath "$H/trust/out/certs" -untrusted "$PKI/int-ca.pem" "$W/srv.pem"

# 3. curl --cacert against the TLS server.
check "curl --cacert out/ca-bundle.pem" curl -sS --max-time 10 \
    --cacert "$H/trust/out/ca-bundle.pem" -o /dev/null "https://127.0.0.1:$PORT/"
check "curl --capath out/certs" curl -sS --max-time 10 \
    --capath "$H/trust/out/certs" -o /dev/null \
    "https://127.0.0.1:$PORT/"
# The doctor uses the effective store by default (no --trust given).
check "certkit doctor trusts the server through the effective store" \
    "$CERTKIT" --home "$H" doctor --timeout 5 "127.0.0.1:$PORT"

# 4. keytool lists every anchor as a trustedCertEntry.
if command -v keytool >/dev/null 2>&1; then
	keytool -list -keystore "$H/trust/out/truststore.p12" -storetype PKCS12 \
	    -storepass changeit >"$W/kt" 2>&1
	n=$(grep -c trustedCertEntry "$W/kt")
	cp "$W/kt" "$W/log"
	if [ "$n" = 2 ]; then ok "keytool: 2 trustedCertEntry"; else no "keytool: $n trustedCertEntry, expected 2"; fi
	printf 'n3wpass\n' >"$W/pw"
	ck rebuild --password-file "$W/pw" >/dev/null
	check "keytool opens the truststore with the new password" sh -c \
	    "keytool -list -keystore '$H/trust/out/truststore.p12' -storetype PKCS12 -storepass n3wpass | grep -q trustedCertEntry"
	check "and no longer with changeit" sh -c \
	    "! keytool -list -keystore '$H/trust/out/truststore.p12' -storetype PKCS12 -storepass changeit"
	ck rebuild --default-password >/dev/null
else
	echo "skip - keytool not installed"
fi

# 5. remove: no dangling link, no stale entry, and curl now fails.
check "remove the anchor" ck remove corp-root
check "no dangling link under out/" sh -c "test \$(find -L '$H/trust/out/' -type l | wc -l) = 0"
check "the bundle no longer holds it" sh -c \
    "! grep -q 'certkit Test Root CA' '$H/trust/out/ca-bundle.pem' && test \$(grep -c BEGIN '$H/trust/out/ca-bundle.pem') = 1"
check "curl now rejects the server" sh -c \
    "! curl -sS --max-time 10 --cacert '$H/trust/out/ca-bundle.pem' -o /dev/null https://127.0.0.1:$PORT/"
check "openssl -CApath now fails too" sh -c \
    "! openssl verify -no-CAfile -CApath '$H/trust/out/certs' -untrusted '$PKI/int-ca.pem' '$W/srv.pem'"
check "and certkit doctor, by default, no longer does" sh -c \
    "\"$CERTKIT\" --home '$H' doctor --json --timeout 5 127.0.0.1:$PORT | grep -q '\"status\": *\"unreachable\"'"

# 6. trust add --from: the chain is shown, the topmost CA is added.
check "add --from without --yes and without a tty refuses" sh -c \
    "! \"$CERTKIT\" --home '$H' trust add --from 127.0.0.1:$PORT </dev/null"
ck add --from "127.0.0.1:$PORT" --yes >"$W/from" 2>&1
cp "$W/from" "$W/log"
if grep -q 'Selected depth 1: C = US, O = certkit tests, CN = certkit Test Issuing CA' "$W/from" &&
    grep -q "Added anchor 'certkit-test-issuing-ca'" "$W/from"; then
	ok "add --from shows the chain and adds the topmost CA"
else
	no "add --from shows the chain and adds the topmost CA"
fi
check "curl trusts the server through the fetched CA" curl -sS --max-time 10 \
    --cacert "$H/trust/out/ca-bundle.pem" -o /dev/null "https://127.0.0.1:$PORT/"
check "add --from --depth 0 refuses the leaf without --insecure-any-cert" sh -c \
    "! \"$CERTKIT\" --home '$H' trust add --from 127.0.0.1:$PORT --depth 0 --yes"

# 7. the same through an HTTP CONNECT proxy (HTTPS_PROXY), and NO_PROXY.
if command -v python3 >/dev/null 2>&1; then
	cat >"$W/proxy.py" <<'EOF'
import socket, sys, threading
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
open(sys.argv[1], "a").close()
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        for x in (a, b):
            try: x.shutdown(socket.SHUT_RDWR)
            except OSError: pass
def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(1)
        if not d: return
        head += d
    line = head.split(b"\r\n")[0].decode()
    with open(sys.argv[1], "a") as log: log.write(line + "\n")
    host, port = line.split()[1].rsplit(":", 1)
    u = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
    pipe(c, u)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
	timeout 120 python3 "$W/proxy.py" "$W/proxy.log" >"$W/proxy.port" 2>&1 &
	pids="$pids $!"
	i=0
	while [ ! -s "$W/proxy.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	PPORT=$(head -1 "$W/proxy.port")
	HTTPS_PROXY=http://127.0.0.1:$PPORT "$CERTKIT" --home "$W/h2" trust add \
	    --from "127.0.0.1:$PORT" --yes >"$W/out" 2>&1
	check "add --from through HTTPS_PROXY (CONNECT)" grep -q "CONNECT 127.0.0.1:$PORT HTTP/1.1" "$W/proxy.log"
	: >"$W/proxy.log"
	HTTPS_PROXY=http://127.0.0.1:$PPORT NO_PROXY=127.0.0.1 "$CERTKIT" --home "$W/h3" \
	    trust add --from "127.0.0.1:$PORT" --yes >"$W/out" 2>&1
	check "NO_PROXY bypasses the proxy" test ! -s "$W/proxy.log"
	rm -rf "$W/h4"
	HTTPS_PROXY=http://127.0.0.1:$PPORT NO_PROXY=127.0.0.0/8 "$CERTKIT" --home "$W/h4" \
	    trust add --from "127.0.0.1:$PORT" --yes >"$W/out" 2>&1
	check "NO_PROXY matches a CIDR range, as in the doctor" test ! -s "$W/proxy.log"
	HTTPS_PROXY=http://127.0.0.1:1 "$CERTKIT" --home "$W/h4" trust add \
	    --from "127.0.0.1:$PORT" --yes --timeout 3 >"$W/out" 2>&1
	check "a dead proxy is named in the error" grep -q "via proxy 127.0.0.1:1" "$W/out"
else
	echo "skip - python3 not installed (proxy checks)"
fi

# 8. a distrusted system root stays out after the system bundle is updated.
FP=$(openssl x509 -in "$PKI/root-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
ck remove certkit-test-issuing-ca >/dev/null
ck distrust "$FP" --reason "interop test" >/dev/null 2>&1
cat "$PKI/other-root.pem" "$PKI/root-ca.pem" >"$W/system.pem"   # the "update"
ck rebuild >/dev/null
check "a distrusted root stays out of the bundle after a system update" sh -c \
    "! openssl verify -no-CApath -CAfile '$H/trust/out/ca-bundle.pem' -untrusted '$PKI/int-ca.pem' '$W/srv.pem'"
check "and out of the hashed directory" sh -c \
    "! openssl verify -no-CAfile -CApath '$H/trust/out/certs' -untrusted '$PKI/int-ca.pem' '$W/srv.pem'"
check "and out of curl's view" sh -c \
    "! curl -sS --max-time 10 --cacert '$H/trust/out/ca-bundle.pem' -o /dev/null https://127.0.0.1:$PORT/"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
