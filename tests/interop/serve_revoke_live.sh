#!/bin/sh
# serve_revoke_live.sh: a revocation closes the live connections of the
# certificate it revokes (issue 10: "within 2 s"), with openssl s_client
# holding the connections, `openssl ca -gencrl` making the CRLs and
# `openssl ocsp` answering.
#
#  1. crl = FILE (client_policy = trusted-ca): two clients of int-ca hold
#     a served connection each; the file is replaced by a CRL revoking one
#     (keyCompromise): its connection is closed within 3 s (the CRL is
#     re-read within 1 s, the poll runs every 250 ms), the log names the
#     reason, the other client's connection stays open; its next request
#     is 403 certificate_revoked
#  2. a CRL that revokes nothing new (the same list, reissued) closes
#     nothing; SIGHUP adding a crl = file that revokes the other client
#     closes its connection
#  3. ocsp = hard-fail, `openssl ocsp` answers "revoked": a connection of
#     the certificate that is open (served /healthz) is closed once a
#     request of the same certificate gets 403 certificate_revoked (OCSP)
# Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
PKI=$CERTKIT_TEST_PKI

ms() { echo $(($(date +%s%N) / 1000000)); }

# hold NAME PATH: an s_client of client NAME that sends GET PATH and keeps
# the connection open for 30 s; sets $hpid (its PID), output in NAME.live.
# The writer's sleep holds none of the test's own descriptors (ctest
# would wait for it).
hold() {
	(printf 'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' "$2"; sleep 30) \
	    2>/dev/null </dev/null | timeout 40 openssl s_client -quiet -connect "127.0.0.1:$port" \
	    -cert "$work/$1.pem" -key "$work/$1.key" >"$work/$1.live" 2>&1 &
	hpid=$!
	bgpids="$bgpids $hpid"
}

# served NAME PATTERN: waits at most 10 s for PATTERN in NAME.live.
served() {
	i=0
	while [ $i -lt 100 ] && ! grep -q "$2" "$work/$1.live"; do
		sleep 0.1; i=$((i + 1)); done
	grep -q "$2" "$work/$1.live"
}

# alive PID: running (an ended child not reaped yet is a zombie).
alive() {
	kill -0 "$1" 2>/dev/null &&
	    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# closed PID: waits at most 10 s for PID to end; prints the ms it took.
closed() {
	t0=$(ms)
	while [ $(($(ms) - t0)) -lt 10000 ] && alive "$1"; do
		sleep 0.05; done
	echo $(($(ms) - t0))
	! alive "$1"
}

"$CERTKIT" identity init >/dev/null 2>&1 || { bad "identity init"; finish; }
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }

# An `openssl ca` database for int-ca.
mkdir -p "$work/db"
: >"$work/db/index.txt"
echo 01 >"$work/db/crlnumber"
cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = int
[int]
database = $work/db/index.txt
crlnumber = $work/db/crlnumber
certificate = $PKI/int-ca.pem
private_key = $PKI/int-ca.key
default_md = sha256
default_crl_days = 30
unique_subject = no
EOF
gencrl() {
	openssl ca -batch -config "$work/ca.cnf" -gencrl -out "$work/new.crl" \
	    >/dev/null 2>&1 && mv "$work/new.crl" "$work/int.crl"
}
revoke() {
	openssl ca -batch -config "$work/ca.cnf" -revoke "$work/$1.pem" \
	    -crl_reason keyCompromise >/dev/null 2>&1
}
gencrl || { bad "openssl ca -gencrl"; finish; }
mkissued ca1 gateway-01 && mkissued ca2 gateway-02 && mkissued ca3 gateway-03 ||
	{ bad "mkissued"; finish; }

# ---- 1. crl = FILE -----------------------------------------------------------
printf '[server]\nclient_policy = trusted-ca\nclient_ca = %s, %s\ncrl = %s\n' \
    "$PKI/root-ca.pem" "$PKI/int-ca.pem" "$work/int.crl" >"$H/certkit.conf"
start_server || { bad "serve starts"; finish; }
hold ca1 /api/v1/status; p1=$hpid
hold ca2 /api/v1/status; p2=$hpid
served ca1 '"approved"' && served ca2 '"approved"' &&
	ok "two live connections served (trusted-ca)" ||
	bad "live connections: $(cat "$work/ca1.live" "$work/ca2.live")"

# 2. A new CRL with nothing new in it.
sleep 1.1
gencrl || bad "gencrl (nothing new)"
sleep 2
alive "$p1" && alive "$p2" &&
    ! grep -q 'event=close' "$log" &&
	ok "a CRL that revokes nothing new closes nothing" ||
	bad "a CRL with nothing new: $(grep 'event=close' "$log")"

revoke ca1 && gencrl || bad "openssl ca -revoke / -gencrl"
if t=$(closed "$p1") && [ "$t" -le 3000 ] &&
    grep -q 'event=close .*reason="certificate revoked (CRL, keyCompromise)"' "$log"; then
	ok "CRL reload: the revoked client's live connection closed ${t} ms later"
else
	bad "CRL reload: the live connection is open after ${t} ms; log: $(grep 'event=close' "$log")"
fi
alive "$p2" && ok "the other client's connection stays open" ||
	bad "the good client's connection was closed too"
r=$(http ca1 /api/v1/status)
[ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = certificate_revoked ] &&
	ok "the revoked client's next request: 403 certificate_revoked" ||
	bad "after the CRL: '$r' $(cat "$work/resp")"

# 2b. SIGHUP adds a crl = file that revokes ca2: its connection closes.
revoke ca2 && openssl ca -batch -config "$work/ca.cnf" -gencrl \
    -out "$work/extra.crl" >/dev/null 2>&1 || bad "gencrl extra.crl"
printf '[server]\nclient_policy = trusted-ca\nclient_ca = %s, %s\ncrl = %s, %s\n' \
    "$PKI/root-ca.pem" "$PKI/int-ca.pem" "$work/int.crl" "$work/extra.crl" \
    >"$H/certkit.conf"
alive "$p2" || bad "ca2's connection ended before the reload"
kill -HUP "$spid"
if t=$(closed "$p2") && [ "$t" -le 3000 ] &&
    grep -q 'event=reload result=ok' "$log"; then
	ok "SIGHUP with a new crl = file: the client it revokes is closed ${t} ms later"
else
	bad "new crl file by SIGHUP: open after ${t} ms; log: $(grep 'event=close\|event=reload' "$log")"
fi
stop_server || bad "SIGTERM: exit $src"
n=$(sed -n 's/.*event=stop .*closed_revoked=\([0-9]*\).*/\1/p' "$log")
[ "${n:-0}" -ge 2 ] && grep -q 'event=stop .*served=[1-9]' "$log" &&
	ok "the stop line counts the connections revocations closed ($n)" ||
	bad "stop line: $(grep 'event=stop' "$log")"

# ---- 3. ocsp = hard-fail, openssl ocsp answers revoked -------------------------
revoke ca3 || bad "openssl ca -revoke ca3"
openssl ocsp -index "$work/db/index.txt" -port 0 -rsigner "$PKI/int-ca.pem" \
    -rkey "$PKI/int-ca.key" -CA "$PKI/int-ca.pem" >"$work/ocsp.out" 2>&1 &
bgpids="$bgpids $!"
i=0
while [ $i -lt 100 ] && ! grep -q 'ACCEPT' "$work/ocsp.out"; do
	sleep 0.1; i=$((i + 1)); done
OPORT=$(sed -n 's/^ACCEPT [^ ]*:\([0-9][0-9]*\).*/\1/p' "$work/ocsp.out" | head -1)
[ -n "$OPORT" ] || { bad "openssl ocsp: $(cat "$work/ocsp.out")"; finish; }
# int-ca is the anchor: only the leaf is asked.
printf '[server]\nclient_policy = trusted-ca\nclient_ca = %s\nocsp = hard-fail\nocsp_responder = http://127.0.0.1:%s/\n' \
    "$PKI/int-ca.pem" "$OPORT" >"$H/certkit.conf"
start_server || { bad "serve starts (ocsp)"; finish; }
hold ca3 /healthz; p3=$hpid
served ca3 '"ok"' && ok "a live connection of ca3 (served /healthz)" ||
	bad "live /healthz: $(cat "$work/ca3.live")"
r=$(http ca3 /api/v1/status)
if [ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = certificate_revoked ] && grep -q OCSP "$work/resp"; then
	ok "openssl ocsp says revoked: 403 certificate_revoked (OCSP)"
else
	bad "OCSP revoked: '$r' $(cat "$work/resp")"
fi
if t=$(closed "$p3") && [ "$t" -le 3000 ] &&
    grep -q 'event=close .*reason="certificate revoked (OCSP' "$log"; then
	ok "OCSP revoked: the certificate's live connection closed ${t} ms after the answer"
else
	bad "OCSP revoked: the live connection is open after ${t} ms; log: $(grep 'event=close' "$log")"
fi
stop_server && ok "SIGTERM: exit 0" || { bad "SIGTERM: exit $src"; tail -20 "$log"; }
finish
