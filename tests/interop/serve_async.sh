#!/bin/sh
# serve_async.sh: requests whose decision waits for an OCSP answer
# (client_policy = trusted-ca, ocsp = hard-fail, a responder that accepts
# and never answers).
#
#  1. clients that give up while their request waits (curl --max-time 1):
#     the server drops the waiting request with the connection and goes on
#     (under the sanitizer build: nothing leaks, exit 0 at SIGTERM)
#  2. a client that waits gets 403 revocation_unavailable once the OCSP
#     fetch times out, with the responder named
#  3. /healthz is answered at once meanwhile (the wait blocks nothing)
# Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT_TEST_PKI:?}"
. "$(dirname "$0")/serve_lib.inc"
PKI=$CERTKIT_TEST_PKI

"$CERTKIT" identity init >/dev/null 2>&1 || { bad "identity init"; finish; }
"$CERTKIT" registry migrate >/dev/null 2>&1 || { bad "registry migrate"; finish; }
cat >"$work/silent.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(1)
held, end = [], time.monotonic() + 40
while time.monotonic() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
python3 "$work/silent.py" "$work/ocsp.port" &
bgpids="$!"
i=0
while [ $i -lt 50 ] && [ ! -s "$work/ocsp.port" ]; do sleep 0.1; i=$((i + 1)); done
OPORT=$(cat "$work/ocsp.port")
printf '[server]\nclient_policy = trusted-ca\nclient_ca = %s, %s\nocsp = hard-fail\nocsp_responder = http://127.0.0.1:%s/\n' \
    "$PKI/root-ca.pem" "$PKI/int-ca.pem" "$OPORT" >"$H/certkit.conf"
mkissued ca1 gateway-01 || { bad "mkissued"; finish; }
start_server || { bad "serve starts"; finish; }

# 1. Three clients give up while waiting.
for n in 1 2 3; do
	r=$(http ca1 /api/v1/status --max-time 1)
	[ "$r" = "000 " ] || bad "a waiting request was answered at once: '$r'"
done
kill -0 "$spid" 2>/dev/null && ok "clients that gave up while waiting: the server goes on" ||
	bad "the server died"

# 3. + 2.
http - /healthz --max-time 2 >"$work/h.out" &
hpid=$!
t0=$(date +%s)
r=$(http ca1 /api/v1/status --max-time 15)
t1=$(date +%s)
wait $hpid
grep -q '^200 ' "$work/h.out" && ok "/healthz is answered while a decision waits" ||
	bad "/healthz while waiting: $(cat "$work/h.out")"
if [ "$r" = "403 application/problem+json" ] &&
    [ "$(jget type)" = revocation_unavailable ] &&
    grep -q "127.0.0.1:$OPORT" "$work/resp"; then
	ok "hard-fail, silent responder: 403 revocation_unavailable after $((t1 - t0)) s, the responder named"
else
	bad "silent responder: '$r' $(cat "$work/resp")"
fi
stop_server && ok "SIGTERM: exit 0" || { bad "SIGTERM: exit $src"; tail -20 "$log"; }
finish
