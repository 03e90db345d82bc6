#!/bin/sh
# doctor_problem.sh: certkit doctor reads why a server refused the device
# after the TLS handshake, from the HTTP body, as certkit serve answers:
#  - 202 {"state": "pending", "spki_sha256", "retry_after"} is
#    client_pending_approval (the key and Retry-After in the evidence);
#  - 403 application/problem+json {"type": "certificate_revoked", "detail":
#    "certificate revoked (OCSP, keyCompromise)"} is client_cert_rejected
#    with that type as the reason and the detail in the summary;
#  - 401 problem+json client_cert_required without a certificate is
#    client_cert_required (before: "ok", since the handshake passed);
#  - a body sent after a pause, or without Content-Length (until the
#    close), is still read; one over 4 KiB, or an HTML 403, falls back to
#    the generic not_authorised reading.
# The server is python3's ssl module on 127.0.0.1 (a random port), asking
# for an optional client certificate; it answers by the mode in $W/mode.
# Env: CERTKIT, CERTKIT_TEST_PKI. Every wait is bounded.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
P=$CERTKIT_TEST_PKI
AT=2026-06-01T00:00:00Z
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR

W=$(mktemp -d "${TMPDIR:-/tmp}/certkit-problem.XXXXXX")
SPID=""
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; sed 's/^/  | /' "$W/out" "$W/err" 2>/dev/null | head -40; }

cat "$P/root-ca.pem" "$P/int-ca.pem" >"$W/root+int.pem"
cat "$P/leaf.pem" "$P/int-ca.pem" >"$W/server.pem"
# The python3 server verifies the client certificate at the real time, so
# the client is issued by int-ca now, for 30 days (leaf-client, to
# 2027-01-01, would not stand the clock); doctor keeps --at $AT.
printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
	extendedKeyUsage=clientAuth subjectKeyIdentifier=hash \
	authorityKeyIdentifier=keyid subjectAltName=DNS:gateway-01.example.test >"$W/client.ext"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$W/client.key" -subj "/C=US/O=certkit tests/CN=gateway-01" \
	-out "$W/client.csr" 2>/dev/null &&
	openssl x509 -req -in "$W/client.csr" -CA "$P/int-ca.pem" -CAkey "$P/int-ca.key" \
	-set_serial 0x5eed02 -days 30 -extfile "$W/client.ext" -out "$W/client.pem" 2>/dev/null ||
	{ echo "not ok - issuing the client certificate"; exit 1; }
SPKI=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

cat >"$W/server.py" <<'EOF'
import json, socket, ssl, sys, time
port_file, mode_file, cert, key, cas = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(cas)
ctx.verify_mode = ssl.CERT_OPTIONAL
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
open(port_file + ".tmp", "w").write(str(ls.getsockname()[1]))
import os; os.rename(port_file + ".tmp", port_file)
SPKI = "0123456789abcdef" * 4
def answer(mode, has_cert):
    if mode == "pending":
        b = json.dumps({"state": "pending", "spki_sha256": SPKI, "retry_after": 30})
        return 202, "Accepted", "application/json", b, {"Retry-After": "30"}
    if mode == "required" or not has_cert:
        b = json.dumps({"type": "client_cert_required", "title": "Unauthorized",
                        "status": 401, "detail": "a client certificate is required",
                        "code": "client_cert_required"})
        return 401, "Unauthorized", "application/problem+json", b, {}
    if mode in ("revoked", "slow", "nolength"):
        b = json.dumps({"type": "certificate_revoked", "title": "Forbidden", "status": 403,
                        "detail": "certificate revoked (OCSP, keyCompromise)",
                        "code": "certificate_revoked", "spki_sha256": SPKI})
        return 403, "Forbidden", "application/problem+json", b, {}
    if mode == "big":
        b = json.dumps({"type": "client_revoked", "detail": "x" * 6000})
        return 403, "Forbidden", "application/problem+json", b, {}
    if mode == "html":
        return 403, "Forbidden", "text/html", "<h1>403 client_revoked</h1>", {}
    return 200, "OK", "text/plain", "ok\n", {}
while True:
    a, _ = ls.accept()
    a.settimeout(5)
    try:
        s = ctx.wrap_socket(a, server_side=True)
        req = b""
        while b"\r\n\r\n" not in req and len(req) < 16384:
            d = s.recv(4096)
            if not d:
                break
            req += d
        mode = open(mode_file).read().strip()
        st, rs, ct, body, extra = answer(mode, s.getpeercert(binary_form=True) is not None)
        body = body.encode()
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nConnection: close\r\n" % (st, rs, ct)
        if mode != "nolength":
            head += "Content-Length: %d\r\n" % len(body)
        for k, v in extra.items():
            head += "%s: %s\r\n" % (k, v)
        s.sendall((head + "\r\n").encode())
        if mode == "slow":
            time.sleep(0.4)
        s.sendall(body)
        s.close()
    except Exception as e:
        print("server:", e, file=sys.stderr, flush=True)
        a.close()
EOF

echo revoked >"$W/mode"
python3 "$W/server.py" "$W/port" "$W/mode" "$W/server.pem" "$P/leaf.key" "$W/root+int.pem" \
	2>"$W/server.log" &
SPID=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$W/port" ]; then
	echo "not ok - the python3 TLS server did not start: $(cat "$W/server.log")"
	echo "0 passed, 1 failed"
	exit 1
fi
PORT=$(cat "$W/port")
R=device.example.test

# doctor MODE [--cert]: runs certkit doctor --json against the server in MODE.
doctor() {
	echo "$1" >"$W/mode"
	if [ "${2:-}" = --cert ]; then
		set -- --cert "$W/client.pem" --key "$W/client.key"
	else
		set --
	fi
	timeout 60 "$CERTKIT" doctor --json --at $AT --timeout 3 --trust "$P/root-ca.pem" \
		--resolve "$R:$PORT:127.0.0.1" "$@" "$R:$PORT" >"$W/out" 2>"$W/err"
	echo $? >"$W/rc"
}
# expect NAME EXIT 'PYTHON-EXPR' over d (the first diagnosis) and v (its evidence).
expect() {
	rc=$(cat "$W/rc")
	if [ "$rc" = "$2" ] && python3 - "$W/out" "$3" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["endpoints"][0]["diagnosis"][0]
v = d["evidence"]
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
	then ok "$1"; else echo "  exit $rc"; bad "$1"; fi
}

doctor pending --cert
expect "202 pending is client_pending_approval with the key and Retry-After" 1 \
	'd["code"] == "client_pending_approval" and d["severity"] == "error" and v["spki_sha256"] == "'$SPKI'" and v["retry_after"] == 30 and "certkit clients approve" in d["remedies"][0]'
doctor revoked --cert
expect "403 problem+json is client_cert_rejected with its type and detail" 1 \
	'd["code"] == "client_cert_rejected" and v["reason"] == "certificate_revoked" and v["detail"] == "certificate revoked (OCSP, keyCompromise)" and "certificate revoked (OCSP, keyCompromise)" in d["summary"] and v["http_status"] == 403'
doctor required
expect "401 problem+json without a certificate is client_cert_required" 1 \
	'd["code"] == "client_cert_required" and v["problem_type"] == "client_cert_required" and v["http_status"] == 401'
doctor slow --cert
expect "a body sent 0.4 s after the head is still read" 1 \
	'd["code"] == "client_cert_rejected" and v["reason"] == "certificate_revoked"'
doctor nolength --cert
expect "a body without Content-Length is read until the close" 1 \
	'd["code"] == "client_cert_rejected" and v["reason"] == "certificate_revoked"'
doctor big --cert
expect "a body over 4 KiB is not read: the generic reading" 1 \
	'd["code"] == "client_cert_rejected" and v["reason"] == "not_authorised"'
doctor html --cert
expect "an HTML 403 keeps the generic reading (not_authorised)" 1 \
	'd["code"] == "client_cert_rejected" and v["reason"] == "not_authorised" and "problem_type" not in v'
doctor ok --cert
expect "a 200 is online" 0 'd["code"] == "ok"'
# Text output: the reason is shown, escaped.
echo revoked >"$W/mode"
timeout 60 "$CERTKIT" doctor --at $AT --timeout 3 --trust "$P/root-ca.pem" \
	--resolve "$R:$PORT:127.0.0.1" --cert "$W/client.pem" --key "$W/client.key" \
	"$R:$PORT" >"$W/out" 2>"$W/err"
grep -q "certificate revoked (OCSP, keyCompromise)" "$W/out" &&
	ok "the text report shows the server's reason" ||
	bad "the text report shows the server's reason"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
