# certkit clients and certkit registry migrate: the registry of clients of
# certkit serve. Each case migrates a fresh home $T/h and, where it needs
# rows, loads tests/cli/clients.sql with the sqlite3 shell (one row per
# status: dev-p1 Requesting Pairing, dev-p2 Pending, dev-a1 Online, dev-a2
# Offline, dev-a3 Never Connected, a Conflict for dev-a1, dev-r1 Revoked,
# and a name with an escape character).

name: clients --help lists every subcommand
run: $CERTKIT clients --help
stdout: certkit clients list [--state STATE] [--json]
stdout: certkit clients approve|reject|suspend|resume|revoke|remove ID... [--reason TEXT]
stdout: certkit clients replace-key|discard ID...
stdout: certkit clients audit [--since TIME] [--json]
stdout: Exit codes: 0 ok, 1 problem found, 2 usage or input error.

name: every subcommand has --help
run: for s in list show approve reject suspend resume revoke remove replace-key discard audit; do $CERTKIT clients $s --help >/dev/null || echo "FAIL $s"; done; $CERTKIT registry --help >/dev/null || echo FAIL registry; echo done
stdout: done
!stdout: FAIL

name: an unknown subcommand is a usage error
run: $CERTKIT clients frob
exit: 2
stderr: 'frob' is not a subcommand

name: no registry: clients refuses and says to migrate, creating nothing
run: $CERTKIT --home $T/h clients list; rc=$?; ls $T/h 2>&1; exit $rc
exit: 2
stderr: run: certkit registry migrate
stdout: No such file

name: registry migrate creates the schema once (0700 dir, 0600 file); again changes nothing
run: $CERTKIT --home $T/h registry migrate && $CERTKIT --home $T/h registry migrate
run: stat -c '%a %n' $T/h/server $T/h/server/registry.db
stdout: schema version 0 -> 2
stdout: schema version 2, up to date
stdout: 700 
stdout: 600 

name: registry migrate --json
run: $CERTKIT --home $T/h registry migrate --json
stdout: "backend": "sqlite"
stdout: "from": 0
stdout: "to": 2
stdout: "migrated": true

name: a newer schema is refused by clients and by migrate
run: $CERTKIT --home $T/h registry migrate >/dev/null
run: sqlite3 $T/h/server/registry.db 'UPDATE schema_version SET version = 7'
run: $CERTKIT --home $T/h clients list; echo "rc=$?"; $CERTKIT --home $T/h registry migrate; echo "rc=$?"
stdout: rc=2
!stdout: rc=0
stderr: has schema version 7, this certkit expects 2; use a newer certkit
stderr: newer than this certkit's 2

name: a schema 1 registry is refused until migrate adds the enrollment tables, keeping its clients
run: $CERTKIT --home $T/h registry migrate >/dev/null
run: sqlite3 $T/h/server/registry.db "DROP TABLE requests; DROP TABLE certs; DROP TABLE tokens; UPDATE schema_version SET version = 1; INSERT INTO clients (id, spki, state, first_seen, changed) VALUES ('00112233445566aa', '$(printf 'a%.0s' $(seq 64))', 'approved', 1, 1)"
run: $CERTKIT --home $T/h clients list >/dev/null; echo "rc=$?"
run: $CERTKIT --home $T/h registry migrate && $CERTKIT --home $T/h clients list --json
run: sqlite3 $T/h/server/registry.db "SELECT count(*) FROM certs; SELECT count(*) FROM tokens; SELECT count(*) FROM requests"
stdout: rc=2
stderr: has schema version 1, this certkit expects 2; run: certkit registry migrate
stdout: schema version 1 -> 2
stdout: 00112233445566aa

name: an empty registry lists no clients
run: $CERTKIT --home $T/h registry migrate >/dev/null && $CERTKIT --home $T/h clients list
stdout: No clients in

name: list shows the statuses the articles use, without colour off a tty
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients list
stdout: 1111aaaa00000001  Requesting Pairing  dev-p1
stdout: 1111aaaa00000002  Pending             dev-p2
stdout: 2222bbbb00000001  Online              dev-a1
stdout: 2222bbbb00000002  Offline             dev-a2
stdout: 2222bbbb00000003  Never Connected     dev-a3
stdout: 3333cccc00000001  Conflict            dev-a1
stdout: 4444dddd00000001  Revoked             dev-r1
!stdout: [0m

name: a client's name is escaped for the terminal and exact in JSON
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients list; $CERTKIT --home $T/h clients list --json
stdout: evil\x1b[31m
stdout: "name": "evil\u001B[31m"

name: list --json gives the fields of docs/json.md
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients list --json --state approved
stdout: "spki_sha256": "b100000000000000000000000000000000000000000000000000000000000000"
stdout: "state": "approved"
stdout: "presence": "online"
stdout: "presence": "never_connected"
stdout: "first_seen": "1970-01-01T00:16:40Z"
stdout: "last_seen": null
!stdout: "state": "pending"

name: list --state refuses an unknown state
run: $CERTKIT --home $T/h registry migrate >/dev/null && $CERTKIT --home $T/h clients list --state online
exit: 2
stderr: expected a state (pending, approved, rejected, suspended, revoked), found 'online'

name: approve shows the SPKI, the subject and the names; the audit row names the admin and the reason
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients approve 1111aaaa00000001 --reason "serial checked on the label"
run: $CERTKIT --home $T/h clients audit
stdout: Approved client 1111aaaa00000001 (dev-p1): pending -> approved
stdout:   SPKI SHA-256  a100000000000000000000000000000000000000000000000000000000000000
stdout:   Subject       CN = dev-p1
stdout:   Names         DNS:dev-p1.example, IP:192.0.2.1
stdout: admin:
stdout: approve     1111aaaa00000001  pending -> approved  serial checked on the label

name: an ID may be a unique prefix of the id or of the SPKI, any case
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients show 4444; $CERTKIT --home $T/h clients show B100
stdout: Client 4444dddd00000001  dev-r1
stdout: Client 2222bbbb00000001  dev-a1

name: an ambiguous prefix names the candidates and changes nothing
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients approve 1111aaaa; echo "rc=$?"; $CERTKIT --home $T/h clients audit | wc -l
exit: 0
stdout: rc=2
stdout: 0
stderr: '1111aaaa' is ambiguous: it matches
stderr: 1111aaaa00000001 (dev-p1)
stderr: 1111aaaa00000002 (dev-p2)
stderr: give more digits

name: a too-short or non-hex ID is a usage error
run: $CERTKIT --home $T/h registry migrate >/dev/null && $CERTKIT --home $T/h clients show abc
exit: 2
stderr: expected a client id or SPKI prefix (4 to 64 hex digits), found 'abc'

name: an unknown ID is an input error
run: $CERTKIT --home $T/h registry migrate >/dev/null && $CERTKIT --home $T/h clients revoke 0123456789
exit: 2
stderr: no client has an id or SPKI starting with '0123456789'

name: several IDs: each is changed, a refused one is reported and the exit status is 2
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients revoke 2222bbbb00000001 4444dddd00000001 2222bbbb00000002; echo "rc=$?"
run: $CERTKIT --home $T/h clients list --state revoked | wc -l
stdout: Revoked client 2222bbbb00000001 (dev-a1): approved -> revoked
stdout: Revoked client 2222bbbb00000002 (dev-a2): approved -> revoked
stdout: rc=2
stdout: 4
stderr: client 4444dddd00000001 (dev-r1) is revoked: cannot revoke it

name: revoked is final; suspend and resume go both ways
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients suspend 2222bbbb00000003 && $CERTKIT --home $T/h clients resume 2222bbbb00000003
run: $CERTKIT --home $T/h clients resume 4444dddd00000001
exit: 2
stdout: Suspended client 2222bbbb00000003 (dev-a3): approved -> suspended
stdout: Resumed client 2222bbbb00000003 (dev-a3): suspended -> approved
stderr: is revoked: cannot resume it

name: a conflict cannot be approved; replace-key gives the known client the new key
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients approve 3333cccc00000001; echo "rc=$?"
run: $CERTKIT --home $T/h clients replace-key 3333 --reason "device rebuilt"
run: $CERTKIT --home $T/h clients show 2222bbbb00000001 --json
stdout: rc=2
stdout: Client 2222bbbb00000001 (dev-a1) now has the key of the conflict entry 3333cccc00000001 (removed)
stdout: "spki_sha256": "c100000000000000000000000000000000000000000000000000000000000000"
stdout: "reason": "device rebuilt"
stderr: is a new key for the known client 2222bbbb00000001: use replace-key

name: discard drops a conflict entry; remove drops any client, the audit stays
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients discard 3333cccc00000001 && $CERTKIT --home $T/h clients remove 4444dddd00000001
run: $CERTKIT --home $T/h clients list | grep -c dev-; $CERTKIT --home $T/h clients audit --json
stdout: Discarded client 3333cccc00000001 (dev-a1): pending -> gone
stdout: Removed client 4444dddd00000001 (dev-r1): revoked -> gone
stdout: 5
stdout: "action": "discard"
stdout: "action": "remove"

name: replace-key and discard apply only to a conflict entry
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients discard 1111aaaa00000001
exit: 2
stderr: is not a conflict entry: discard applies only to one

name: actions --json lists the changes and the failures
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients reject 1111aaaa00000002 4444dddd00000001 --json
exit: 2
stdout: "action": "reject"
stdout: "to": "rejected"
stdout: "failed": [
stdout: "id": "4444dddd00000001"

name: audit --since takes RFC 3339 or an age, and refuses anything else
run: $CERTKIT --home $T/h registry migrate >/dev/null && sqlite3 $T/h/server/registry.db < $SRC/tests/cli/clients.sql
run: $CERTKIT --home $T/h clients approve 1111aaaa00000001 >/dev/null
run: $CERTKIT --home $T/h clients audit --since 1h | wc -l; $CERTKIT --home $T/h clients audit --since 2999-01-01T00:00:00Z | wc -l
run: $CERTKIT --home $T/h clients audit --since yesterday
exit: 2
stdout: 1
stdout: 0
stderr: --since 'yesterday': expected RFC 3339

name: list warns about a CRL of [server] that cannot be used (stderr; findings in JSON)
run: mkdir -p $T/h && echo garbage >$T/h/bad.crl && printf '[server]\ncrl = bad.crl\n' >$T/h/certkit.conf
run: $CERTKIT --home $T/h registry migrate >/dev/null && $CERTKIT --home $T/h clients list && $CERTKIT --home $T/h clients list --json 2>/dev/null
stderr: certkit: warning: 
stderr: bad.crl: not a certificate, key, CSR, CRL
stdout: No clients in
stdout: "code": "crl_unusable"

name: registry = sqlite:FILE in [server] is the registry clients and migrate use
run: mkdir -p $T/h && printf '[server]\nregistry = sqlite:reg/clients.db\n' >$T/h/certkit.conf
run: $CERTKIT --home $T/h registry migrate && $CERTKIT --home $T/h clients list && ls $T/h
stdout: /reg/clients.db: schema version 0 -> 2
stdout: No clients in 
!stdout: server

name: a broken [server] section stops clients, naming FILE:LINE
run: mkdir -p $T/h && printf '[server]\nregistri = x\n' >$T/h/certkit.conf
run: $CERTKIT --home $T/h clients list
exit: 2
stderr: certkit.conf:2: unknown key 'registri' in [server]
