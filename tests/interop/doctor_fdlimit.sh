#!/bin/sh
# doctor_fdlimit.sh: certkit doctor under a small descriptor limit
# (ulimit -n in a subshell). --parallel 1024 is lowered to what the limit
# leaves room for, so 60 endpoints of a silent server are all diagnosed
# alike (handshake_timeout) and none is reported as "tcp_refused: Too many
# open files"; a limit too small to run at all is a local error (exit 2),
# never a finding about a server.
#
# Env: CERTKIT (the binary). Loopback only; every wait is bounded; the
# server is killed on exit.
set -u
: "${CERTKIT:?}"
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy

. "$(dirname "$0")/peer_lib.inc"
workdir fdlimit

# A silent server: accepts and holds every connection, says nothing. It
# picks a free port and writes it to $W/port.
py_server <<'EOF_PY'
import os, select, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1024)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
end = time.time() + 240
while time.time() < end:
    if select.select([s], [], [], 0.5)[0]:
        held.append(s.accept()[0])
EOF_PY
eps=""
i=0
while [ $i -lt 60 ]; do eps="$eps 127.0.0.1:$PORT"; i=$((i + 1)); done

bad() { fail=$((fail + 1)); echo "not ok - $1"; head -c 1500 "$W/out"; cat "$W/err"; }

# shellcheck disable=SC2086
(ulimit -n 48 && exec timeout 120 "$CERTKIT" doctor --json --timeout 1 \
    --parallel 1024 $eps) >"$W/out" 2>"$W/err"
rc=$?
n=$(grep -o '"code":"handshake_timeout"' "$W/out" | wc -l)
if [ $rc = 1 ] && [ "$n" = 60 ] && ! grep -q 'Too many open files' "$W/out"; then
	ok "--parallel 1024 under ulimit -n 48: 60 of 60 alike, no EMFILE finding"
else
	bad "--parallel 1024 under ulimit -n 48: exit $rc, $n of 60 handshake_timeout"
fi
if grep -qE '"parallel":([1-9]|[1-3][0-9])[,}]' "$W/out"; then
	ok "the report gives the parallelism used (below 40)"
else
	bad "the report gives the parallelism used (below 40)"
fi

(ulimit -n 6 && exec timeout 60 "$CERTKIT" doctor --json --timeout 1 \
    "127.0.0.1:$PORT") >"$W/out" 2>"$W/err"
rc=$?
if [ $rc = 2 ] && grep -q 'file descriptors are free' "$W/err" &&
    ! grep -q '"code"' "$W/out"; then
	ok "ulimit -n 6: a local error (exit 2), no finding about the server"
else
	bad "ulimit -n 6: exit $rc"
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
