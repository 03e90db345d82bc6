#!/bin/sh
# serve_resume.sh: TLS 1.3 resumption of `certkit serve` with openssl
# s_client (-sess_out / -sess_in).
#
#  1. a full handshake gets one NewSessionTicket, and the ticket names a
#     session of the server's cache (a short reference): the server does
#     not encode, re-parse and encrypt the session with the client's
#     certificate for every ticket (the cost of OpenSSL 3.0's stateless
#     tickets, twice per handshake by default)
#     and a small answer (head and body) is one TLS record, not two
#  2. the ticket resumes ("Reused, TLSv1.3") and the resumed request is
#     decided for the certificate of the first handshake (200 approved);
#     the resumed connection's own ticket resumes again
#  3. after `certkit clients revoke`, a resumed request is 403
#     client_revoked: the decision is made per request
# Env: CERTKIT. Loopback only, port 0 (the kernel's), every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"

"$CERTKIT" identity init >"$work/init.out" 2>&1 ||
	{ bad "identity init: $(cat "$work/init.out")"; finish; }
"$CERTKIT" registry migrate >"$work/mig.out" 2>&1 ||
	{ bad "registry migrate: $(cat "$work/mig.out")"; finish; }
mkclient dev1 resume-01
SPKI=$(spki "$work/dev1.pem")
start_server || { bad "serve starts"; finish; }
http dev1 /api/v1/status >/dev/null
"$CERTKIT" clients approve "$(echo "$SPKI" | cut -c1-12)" >/dev/null 2>&1 ||
	bad "clients approve"
sleep 1.2

# sclient OUT [s_client args...]: one GET /api/v1/status over TLS 1.3 with
# dev1's certificate; the transcript (-msg) in OUT.
sclient() {
	out=$1
	shift
	printf 'GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	    timeout 10 openssl s_client -connect "127.0.0.1:$port" -tls1_3 \
	    -cert "$work/dev1.pem" -key "$work/dev1.key" -ign_eof -msg "$@" \
	    >"$out" 2>&1
}

# 1. One ticket, a reference to the server's cache.
sclient "$work/full.txt" -sess_out "$work/s1.pem"
n=$(grep -c 'NewSessionTicket' "$work/full.txt")
[ "$n" = 1 ] && ok "a full handshake gets one ticket" ||
	bad "a full handshake gets $n tickets (expected 1)"
len=$(openssl sess_id -in "$work/s1.pem" -noout -text 2>/dev/null |
    sed -n '/TLS session ticket:/,/^ *Start Time/p' | grep -c '^ *[0-9a-f]\{4\} - ')
# A stateless ticket carries the encrypted session with the client's
# certificate (hundreds of bytes: dozens of 16-byte dump lines); a
# reference is one session id (32 bytes: 2 lines).
if [ "$len" -ge 1 ] && [ "$len" -le 4 ]; then
	ok "the ticket is a reference ($len dump lines)"
else
	bad "the ticket has $len dump lines of 16 bytes (expected a reference, at most 4)"
fi

# The answer (head and JSON body) comes in one TLS record, not one per
# evbuffer chain: the records after the ticket.
n=$(sed -n '/NewSessionTicket/,$p' "$work/full.txt" | grep -c '^<<< .*RecordHeader')
[ "$n" = 1 ] && ok "the answer is one TLS record" ||
	bad "the answer took $n TLS records (expected 1)"

# 2. Resumption, decided per request; the resumed ticket resumes again.
sclient "$work/res1.txt" -sess_in "$work/s1.pem" -sess_out "$work/s2.pem"
if grep -q '^Reused, TLSv1.3' "$work/res1.txt" &&
    grep -q '^HTTP/1.1 200' "$work/res1.txt" &&
    grep -q '"state":"approved"' "$work/res1.txt"; then
	ok "the ticket resumes and the resumed request is 200 approved"
else
	bad "resumption: $(grep -E '^(New|Reused)|^HTTP' "$work/res1.txt" | tr '\n' ' ')"
fi
sclient "$work/res2.txt" -sess_in "$work/s2.pem"
grep -q '^Reused, TLSv1.3' "$work/res2.txt" &&
	ok "the resumed connection's ticket resumes again" ||
	bad "second resumption: $(grep -E '^(New|Reused)' "$work/res2.txt")"

# 3. Revoked: the resumed request is refused.
"$CERTKIT" clients revoke "$(echo "$SPKI" | cut -c1-12)" --reason test >/dev/null 2>&1 ||
	bad "clients revoke"
sleep 1.2
sclient "$work/res3.txt" -sess_in "$work/s2.pem"
if grep -q '^HTTP/1.1 403' "$work/res3.txt" &&
    grep -q '"type":"client_revoked"' "$work/res3.txt"; then
	ok "after revoke a resumed request is 403 client_revoked"
else
	bad "after revoke: $(grep -E '^(New|Reused)|^HTTP' "$work/res3.txt" | tr '\n' ' ')"
fi
stop_server || bad "serve stops with 0"
finish
