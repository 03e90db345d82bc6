#!/bin/sh
# serve_pairing.sh: the pairing walk of `certkit serve` with curl and
# openssl s_client (client_policy = pairing, the default).
#
#  1. no client certificate: 401 application/problem+json,
#     type client_cert_required; /healthz needs none
#  2. an unknown client: 202, Retry-After, {"state":"pending","spki_sha256"}
#     equal to its key's SHA-256; again: still 202, one registry row
#  3. `certkit clients approve` (by SPKI prefix): the next request is 200
#     (within 1 s), /api/v1/status says approved, a heartbeat is taken
#     (and not logged: presence goes to the registry in batches)
#  4. `certkit clients revoke` while an s_client connection is open: the
#     connection is closed within 2 s, and the next request is 403
#     client_revoked
#  5. errors are problem+json: 404 not_found, 405 method_not_allowed (with
#     Allow), 400 bad_request (a body that is not JSON), 413
#     payload_too_large
#  6. SIGHUP reloads and keeps an open connection; SIGTERM stops with 0;
#     the log is key=value, and JSON lines with --log-json; readiness,
#     reloads and the stop go to $NOTIFY_SOCKET (sd_notify's protocol)
# Env: CERTKIT. Loopback only, port 0 (the kernel's), every wait bounded.
set -u
. "$(dirname "$0")/serve_lib.inc"

"$CERTKIT" identity init >"$work/init.out" 2>&1 ||
	{ bad "identity init: $(cat "$work/init.out")"; finish; }
"$CERTKIT" registry migrate >"$work/mig.out" 2>&1 ||
	{ bad "registry migrate: $(cat "$work/mig.out")"; finish; }
mkclient dev1 gateway-01
SPKI=$(spki "$work/dev1.pem")
start_server || { bad "serve starts"; finish; }
ok "serve starts on 127.0.0.1:$port"

# 1. No certificate.
r=$(http - /api/v1/status)
if [ "$r" = "401 application/problem+json" ] &&
    [ "$(jget type)" = client_cert_required ] &&
    [ "$(jget code)" = client_cert_required ] && [ "$(jget status)" = 401 ]; then
	ok "no client certificate: 401 problem+json client_cert_required"
else
	bad "no client certificate: got '$r' $(cat "$work/resp")"
fi
r=$(http - /healthz)
[ "$r" = "200 application/json" ] && [ "$(jget status)" = ok ] &&
	ok "/healthz needs no certificate" || bad "/healthz: '$r'"

# 2. Unknown client: pending.
r=$(http dev1 /api/v1/status)
if [ "$r" = "202 application/json" ] && [ "$(jget state)" = pending ] &&
    [ "$(jget spki_sha256)" = "$SPKI" ] && [ "$(jget retry_after)" = 30 ] &&
    grep -qi '^Retry-After: 30' "$work/head"; then
	ok "unknown client: 202 pending, its SPKI, Retry-After: 30"
else
	bad "unknown client: got '$r' $(cat "$work/resp")"
fi
http dev1 /api/v1/status >/dev/null
n=$("$CERTKIT" clients list --json | grep -c '"spki_sha256"')
[ "$n" = 1 ] && ok "a second request: still one registry row" ||
	bad "registry rows after two requests: $n"

# 3. Approve by SPKI prefix: served within 1 s.
PREFIX=$(printf %s "$SPKI" | cut -c1-12)
"$CERTKIT" clients approve "$PREFIX" --reason "interop test" \
    >"$work/approve.out" 2>&1 || bad "clients approve: $(cat "$work/approve.out")"
grep -q "$SPKI" "$work/approve.out" && ok "approve shows the SPKI" ||
	bad "approve output lacks the SPKI: $(cat "$work/approve.out")"
# The server follows the registry within about 1 s (bench/enroll.sh
# measures it); a slow CI machine gets up to 10 s here.
t0=$(date +%s%N)
i=0
while r=$(http dev1 /api/v1/status); [ "$r" != "200 application/json" ] && [ $i -lt 50 ]; do
	sleep 0.2; i=$((i + 1))
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$r" = "200 application/json" ] && [ "$(jget state)" = approved ]; then
	ok "approved: 200 after $ms ms, status says approved"
else
	bad "after approve: '$r' $(cat "$work/resp")"
fi
r=$(http dev1 /api/v1/heartbeat -X POST -H 'Content-Type: application/json' \
    --data '{"agent_version":"1.0.0","facts":{"model":"x"}}')
[ "$r" = "200 application/json" ] && [ "$(jget heartbeat)" = 30 ] &&
    [ "$(jget state)" = approved ] && [ "$(jget spki_sha256)" = "$SPKI" ] &&
    grep -qi '^Cache-Control: no-store' "$work/head" &&
	ok "heartbeat: 200 approved, its SPKI, every 30 s, no-store" ||
	bad "heartbeat: '$r' $(cat "$work/resp")"
# Presence, not a log line each (the status request above is logged).
if grep -q 'event=request .*path=/api/v1/status status=200' "$log" &&
    ! grep -q 'event=request .*path=/api/v1/heartbeat' "$log"; then
	ok "an approved heartbeat is not logged, the status request is"
else
	bad "log of the approved requests: $(grep 'event=request' "$log" | tail -3)"
fi

# 5. Errors as problems.
r=$(http dev1 /nope)
[ "$r" = "404 application/problem+json" ] && [ "$(jget type)" = not_found ] &&
	ok "404 not_found" || bad "unknown path: '$r'"
r=$(http dev1 /api/v1/heartbeat)
[ "$r" = "405 application/problem+json" ] &&
    [ "$(jget type)" = method_not_allowed ] && grep -qi '^Allow: POST' "$work/head" &&
	ok "405 method_not_allowed with Allow: POST" || bad "GET heartbeat: '$r'"
r=$(http dev1 /api/v1/heartbeat -X POST --data 'not json')
[ "$r" = "400 application/problem+json" ] && [ "$(jget type)" = bad_request ] &&
	ok "400 bad_request for a body that is not JSON" || bad "bad body: '$r'"
head -c 70000 /dev/zero | tr '\0' 'a' >"$work/big"
r=$(http dev1 /api/v1/heartbeat -X POST --data-binary @"$work/big")
[ "$r" = "413 application/problem+json" ] &&
    [ "$(jget type)" = payload_too_large ] &&
	ok "413 payload_too_large" || bad "big body: '$r'"

# 6a. SIGHUP keeps an open connection: two requests on one connection, a
# reload between them (curl reuses the connection for both URLs).
req='GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
(printf "$req"; sleep 1; kill -HUP "$spid"; sleep 1; printf "$req"; sleep 1) |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
    -cert "$work/dev1.pem" -key "$work/dev1.key" >"$work/hup.out" 2>/dev/null
n=$(grep -c '^HTTP/1.1 200' "$work/hup.out")
if [ "$n" = 2 ] && grep -q 'event=reload result=ok' "$log"; then
	ok "SIGHUP reloads; the open connection is served before and after"
else
	bad "SIGHUP: $n answers on the connection; log: $(grep reload "$log")"
fi

# 4. Revoke while a connection is open: closed within 2 s.
(printf 'GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 4) |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
    -cert "$work/dev1.pem" -key "$work/dev1.key" >"$work/live.out" 2>&1 &
scpid=$!
bgpids="$scpid"
i=0
while [ $i -lt 50 ] && ! grep -q '"approved"' "$work/live.out"; do
	sleep 0.1; i=$((i + 1)); done
grep -q '"approved"' "$work/live.out" && ok "live connection served" ||
	bad "live connection: $(cat "$work/live.out")"
"$CERTKIT" clients revoke "$PREFIX" --reason "stolen" >"$work/revoke.out" 2>&1 ||
	bad "clients revoke: $(cat "$work/revoke.out")"
t0=$(date +%s%N)
i=0
while [ $i -lt 40 ] && kill -0 "$scpid" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
if ! kill -0 "$scpid" 2>/dev/null && [ "$ms" -le 2000 ] &&
    grep -q 'event=close .*reason="client no longer approved"' "$log"; then
	ok "revoke: the live connection was closed ${ms} ms later"
else
	bad "revoke: the live connection is still open after ${ms} ms"
fi
r=$(http dev1 /api/v1/status)
[ "$r" = "403 application/problem+json" ] && [ "$(jget type)" = client_revoked ] &&
    [ "$(jget state)" = revoked ] &&
	ok "after revoke: 403 client_revoked" || bad "after revoke: '$r' $(cat "$work/resp")"

# 6b. The log and SIGTERM.
grep -q "event=request peer=127.0.0.1:[0-9]* path=/api/v1/status status=202 spki=$SPKI" "$log" &&
	ok "the log has one key=value line per request" ||
	bad "log: $(head -5 "$log")"
stop_server && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $src"
start_server --log-json || bad "serve --log-json starts"
http - /api/v1/status >/dev/null
stop_server
if python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)
' "$log" 2>/dev/null && grep -q '"event":"request"' "$log"; then
	ok "--log-json: every line is a JSON object"
else
	bad "--log-json: $(head -3 "$log")"
fi

# 6c. systemd's notify protocol: READY=1 (with MAINPID), RELOADING=1 then
# READY=1 on SIGHUP, STOPPING=1, as datagrams to $NOTIFY_SOCKET.
cat >"$work/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
open(sys.argv[1] + ".bound", "w").close()
try:
    while True:
        m = s.recv(4096).decode()
        print(m.replace("\n", "|"), flush=True)
        if m.startswith("STOPPING=1"):
            break
except socket.timeout:
    print("timeout")
PY
python3 "$work/notify.py" "$work/notify" >"$work/notify.out" 2>&1 &
bgpids="$bgpids $!"
i=0
while [ $i -lt 50 ] && [ ! -e "$work/notify.bound" ]; do sleep 0.1; i=$((i + 1)); done
export NOTIFY_SOCKET="$work/notify"
start_server || bad "serve under NOTIFY_SOCKET"
unset NOTIFY_SOCKET
kill -HUP "$spid"
i=0
while [ $i -lt 100 ] && ! grep -q '^RELOADING=1$' "$work/notify.out"; do
	sleep 0.1; i=$((i + 1))
done
npid=$spid
stop_server
sleep 0.3
if grep -q "^READY=1|MAINPID=$npid|STATUS=listening on 127.0.0.1:" "$work/notify.out" &&
    grep -q '^RELOADING=1$' "$work/notify.out" &&
    grep -q '^STOPPING=1$' "$work/notify.out"; then
	ok "NOTIFY_SOCKET: READY=1 with MAINPID, RELOADING=1, STOPPING=1"
else
	bad "NOTIFY_SOCKET: $(tr '\n' ' ' <"$work/notify.out")"
fi
finish
