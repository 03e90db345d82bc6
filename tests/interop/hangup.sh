#!/bin/sh
# hangup.sh: certkit doctor and trust add --from against a server that
# accepts, reads the client's hello and hangs up (FIN, then RST at once):
# the client reads end-of-file, and OpenSSL's alert meets a reset socket.
# Both commands must report it (tls_reset or tcp_reset, exit 1) and never
# die of SIGPIPE (exit 141, no output). Each runs three times: the FIN and
# the RST race the client's read.
#
# Env: CERTKIT (the binary). Loopback only; every wait is bounded; the
# server is killed on exit.
set -u
: "${CERTKIT:?}"
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy

. "$(dirname "$0")/peer_lib.inc"
workdir hangup

# The server picks a free port (bind to 0) and writes it to $W/port.
py_server <<'EOF_PY'
import select, socket, struct, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
end = time.time() + 240
while time.time() < end:
    if not select.select([s], [], [], 0.5)[0]:
        continue
    c, _ = s.accept()
    if select.select([c], [], [], 2)[0]:
        try:
            c.recv(65536)
        except OSError:
            pass
    try:
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
EOF_PY

for n in 1 2 3; do
	timeout 60 "$CERTKIT" doctor --json --timeout 2 "127.0.0.1:$PORT" >"$W/out" 2>"$W/err"
	rc=$?
	if [ $rc = 1 ] && grep -qE '"code":"(tls|tcp)_reset"' "$W/out"; then
		pass=$((pass + 1)); echo "ok - doctor $n: a server that hangs up is a reset, exit 1"
	else
		fail=$((fail + 1)); echo "not ok - doctor $n: exit $rc"; head -c 2000 "$W/out" "$W/err"
	fi
	CERTKIT_HOME="$W/home" timeout 60 "$CERTKIT" trust add --from "127.0.0.1:$PORT" \
	    --timeout 2 --yes >"$W/out" 2>"$W/err"
	rc=$?
	if [ $rc = 1 ] && grep -q "127.0.0.1:$PORT" "$W/err"; then
		pass=$((pass + 1)); echo "ok - trust add --from $n: a server that hangs up is an error, exit 1"
	else
		fail=$((fail + 1)); echo "not ok - trust add --from $n: exit $rc"; head -c 2000 "$W/out" "$W/err"
	fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
