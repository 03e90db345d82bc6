# certkit agent: usage, the [agent] section, and the states that need no
# primary (never_connected; offline with the doctor's code when nothing
# listens). The life with a primary is tests/interop/agent_*.sh.

name: agent --help lists every subcommand and the exit codes
run: $CERTKIT agent --help
stdout: certkit agent run
stdout: certkit agent status [--json]
stdout: certkit agent enroll [--token T] [--wait SECONDS] [--renew] [--json]
stdout: Exit codes: 0 ok

name: every subcommand has --help
run: for s in run status enroll; do $CERTKIT agent $s --help >/dev/null || echo "FAIL $s"; done; echo done
stdout: done
!stdout: FAIL

name: an unknown subcommand is a usage error
run: $CERTKIT agent frob
exit: 2
stderr: 'frob' is not a subcommand

name: an option of another subcommand is a usage error
run: $CERTKIT --home $T agent status --wait 3
exit: 2
stderr: agent status: an option of another subcommand

name: --wait out of range
run: $CERTKIT --home $T agent enroll --wait -1
exit: 2
stderr: --wait: expected seconds from 0 to 86400, found '-1'

name: status before anything: never_connected, exit 1
run: $CERTKIT --home $T agent status
exit: 1
stdout: State: never_connected

name: status --json has the state word
run: $CERTKIT --home $T agent status --json
exit: 1
stdout: "state": "never_connected"
stdout: "certificate": null

name: enroll without a primary names the key to set
run: $CERTKIT --home $T agent enroll
exit: 2
stderr: [agent] primary is not set: expected primary = host:port

name: a bad [agent] value names FILE:LINE, expected and found
run: printf '[agent]\nprimary = 127.0.0.1:1\nheartbeat = 1s\n' >$T/certkit.conf; $CERTKIT --home $T agent status
exit: 2
stderr: certkit.conf:3: [agent] heartbeat: expected a duration from 5s to 1d (a number with s, m, h or d), found '1s'

name: nothing listens on the primary's port: offline with the doctor's tcp_refused, key 0600, request kept
run: printf '[agent]\nprimary = 127.0.0.1:1\n' >$T/certkit.conf; $CERTKIT --home $T agent enroll; echo "rc=$?"; $CERTKIT --home $T agent status --json; stat -c '%a' $T/agent/identity/pending/*
stdout: State: offline
stdout: Why: offline: tcp_refused
stdout: rc=1
stdout: "code": "tcp_refused"
stdout: "state": "offline"
stdout: 600

name: the agent's link never falls back to plain HTTP: a plain HTTP port is offline (not_tls)
run: printf 'import os, socket\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\ns.listen(4)\nprint(s.getsockname()[1], flush=True)\nif os.fork() == 0:\n    import signal\n    signal.alarm(20)\n    for _ in range(8):\n        c, _ = s.accept()\n        c.recv(4096)\n        c.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n")\n        c.close()\n' >$T/http.py
run: timeout 30 python3 $T/http.py >$T/port
run: printf '[agent]\nprimary = 127.0.0.1:%s\nhttps = if-available\n' "$(cat $T/port)" >$T/certkit.conf; $CERTKIT --home $T agent enroll; echo "rc=$?"
stdout: Why: offline: not_tls
stdout: rc=1
!stdout: plain_http

name: --renew without a certificate is a usage error, not an offline state
run: printf '[agent]\nprimary = 127.0.0.1:1\n' >$T/certkit.conf; $CERTKIT --home $T agent enroll --renew; echo "rc=$?"; test -e $T/agent/state.json || echo "no state"
stdout: rc=2
stdout: no state
stderr: no certificate to renew: run certkit agent enroll first
