#!/bin/sh
# registry_pg_cli.sh: certkit's admin commands against a real PostgreSQL
# (started by tests/pg_harness.inc, as an unprivileged user, Unix socket).
#
#   1. roles: `registry migrate` as the database owner; `clients` with a
#      role that has only SELECT/INSERT/UPDATE/DELETE (docs/PRIMARIES.md);
#      that role cannot migrate (it never creates tables) and an unmigrated
#      database is refused with "run: certkit registry migrate"
#   2. passwords: one in the connection string is refused without being
#      printed; registry_password_file and PGPASSFILE (pgpass) work
#   3. export SQLite -> PostgreSQL and import back: the same rows and
#      versions on both sides
#   4. 20 concurrent `clients approve` then 20 concurrent `clients revoke`
#      from separate processes lose no update; 10 concurrent approvals of
#      one client: exactly one wins
# Env: CERTKIT, CERTKIT_SRC. Every wait bounded.
set -u
: "${CERTKIT:?}"
. "$CERTKIT_SRC/tests/pg_harness.inc"
pgh_start
work=$PGH_DIR/work
mkdir -p "$work"
unset CERTKIT_FAULT CERTKIT_LOCK_TIMEOUT CERTKIT_HOME PGPASSFILE
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
CI="host=$PGH_SOCK port=$PGH_PORT"
SECRET=sekrit-pw-4711

# home DIR REGISTRY [EXTRA]: a CERTKIT_HOME whose [server] names REGISTRY.
home() {
	mkdir -p "$1"
	printf '[server]\nregistry = %s\n%s' "$2" "${3:-}" >"$1/certkit.conf"
}
ck() { h=$1; shift; timeout 60 "$CERTKIT" --home "$h" "$@"; }
sq() { psql -X -q -At "$CI user=ckadmin dbname=$1" -c "$2"; }

pgh_psql postgres "CREATE ROLE ck_owner LOGIN; CREATE ROLE ck_server LOGIN;
    CREATE ROLE ck_pw LOGIN PASSWORD '$SECRET'" || exit 1
for d in certkit certkit2 certkit3; do
	pgh_psql postgres "CREATE DATABASE $d OWNER ck_owner" || exit 1
done

# ---- 1. roles ---------------------------------------------------------------
home "$work/owner" "$CI dbname=certkit user=ck_owner"
home "$work/srv" "$CI dbname=certkit user=ck_server"
ck "$work/owner" registry migrate >"$work/m1" 2>&1
check "migrate as the owner: schema 0 -> current" "grep -q 'schema version 0 -> [1-9]' '$work/m1'"
ck "$work/owner" registry migrate >"$work/m2" 2>&1
check "migrate again: up to date" "grep -q 'up to date' '$work/m2'"
psql -X -q "$CI user=ck_owner dbname=certkit" -c "
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
      TO ck_server, ck_pw;
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ck_server, ck_pw" ||
	bad "grants"
ck "$work/srv" clients list --json >"$work/l1" 2>&1
check "clients list with the DML-only role" "grep -q '\"backend\": \"postgresql\"' '$work/l1'"
home "$work/srv2" "$CI dbname=certkit2 user=ck_server"
ck "$work/srv2" clients list >"$work/l2" 2>&1
rc=$?
check "an unmigrated database is refused (exit $rc)" \
	"[ $rc -ne 0 ] && grep -q 'run: certkit registry migrate' '$work/l2'"
ck "$work/srv2" registry migrate >"$work/m3" 2>&1
rc=$?
check "the DML-only role cannot create tables (exit $rc)" \
	"[ $rc -ne 0 ] && grep -q 'permission denied' '$work/m3'"
check "nothing was created" "[ \"\$(sq certkit2 \"SELECT count(*) FROM pg_tables WHERE schemaname = 'public'\")\" = 0 ]"

# ---- 2. passwords -----------------------------------------------------------
home "$work/pw1" "$CI dbname=certkit user=ck_pw password=$SECRET"
ck "$work/pw1" clients list >"$work/p1" 2>&1
rc=$?
check "a password in the connection string is refused (exit $rc)" \
	"[ $rc -eq 2 ] && grep -q registry_password_file '$work/p1' && ! grep -q '$SECRET' '$work/p1'"
printf '*:*:*:ck_pw:%s\n' "$SECRET" >"$work/pgpass"
chmod 600 "$work/pgpass"
home "$work/pw2" "$CI dbname=certkit user=ck_pw" \
	"registry_password_file = $work/pgpass
"
ck "$work/pw2" clients list >"$work/p2" 2>&1
rc=$?
check "registry_password_file (exit $rc)" "[ $rc -eq 0 ]"
home "$work/pw3" "$CI dbname=certkit user=ck_pw"
ck "$work/pw3" clients list >"$work/p3" 2>&1
rc=$?
check "no password: refused by the server (exit $rc)" "[ $rc -ne 0 ]"
PGPASSFILE=$work/pgpass ck "$work/pw3" clients list >"$work/p4" 2>&1
rc=$?
check "PGPASSFILE (exit $rc)" "[ $rc -eq 0 ]"
check "no log or message shows the password" \
	"! grep -rq '$SECRET' '$work'/p[1-4] '$PGH_DIR/server.log'"

# ---- 3. export / import -----------------------------------------------------
home "$work/lite" sqlite
ck "$work/lite" registry migrate >/dev/null 2>&1
sqlite3 "$work/lite/server/registry.db" "
    INSERT INTO clients (id, spki, name, state, policy, version, first_seen,
      last_seen, changed, agent_version, facts) VALUES
      ('00000000000000a1', printf('%064x', 161), 'gw-1', 'approved', 'admin', 4, 10, 99, 50, '1.0', '{\"os\":\"x\"}'),
      ('00000000000000a2', printf('%064x', 162), 'gw-2', 'revoked', 'admin', 3, 11, 0, 51, NULL, NULL),
      ('00000000000000a3', printf('%064x', 163), 'gw-1', 'pending', 'pairing', 1, 12, 12, 12, NULL, NULL);
    UPDATE clients SET conflict_of = '00000000000000a1' WHERE id = '00000000000000a3';
    INSERT INTO audit (time, client_id, spki, who, action, to_state) VALUES
      (10, '00000000000000a1', 'x', 'server', 'pending', 'pending'),
      (20, '00000000000000a1', 'x', 'admin:t', 'approve', 'approved')" ||
	bad "sqlite rows"
ck "$work/lite" registry export "$CI dbname=certkit3 user=ck_owner" >"$work/e1" 2>&1
check "export SQLite -> PostgreSQL" "grep -q 'Copied 3 clients and 2 audit rows' '$work/e1'"
check "the rows and versions in PostgreSQL" \
	"[ \"\$(sq certkit3 \"SELECT string_agg(id || ' ' || version || ' ' || state, ',' ORDER BY id) FROM clients\")\" = '00000000000000a1 4 approved,00000000000000a2 3 revoked,00000000000000a3 1 pending' ]"
ck "$work/lite" registry export "$CI dbname=certkit3 user=ck_owner" >"$work/e2" 2>&1
check "export into a registry with rows is refused" "grep -q 'not empty' '$work/e2'"
home "$work/back" sqlite
ck "$work/back" registry import "$CI dbname=certkit3 user=ck_owner" --json >"$work/i1" 2>&1
check "import PostgreSQL -> SQLite" "grep -q '\"verified\": true' '$work/i1'"
dump() { sqlite3 "$1/server/registry.db" "SELECT id, spki, name, state, version, first_seen, last_seen, changed, coalesce(conflict_of, '-'), coalesce(facts, '-') FROM clients ORDER BY id; SELECT time, client_id, action FROM audit ORDER BY seq"; }
check "the round trip keeps every row" "[ \"\$(dump '$work/lite')\" = \"\$(dump '$work/back')\" ]"

# ---- 4. concurrent admin changes --------------------------------------------
sq certkit "INSERT INTO clients (id, spki, name, state, policy, first_seen,
    last_seen, changed) SELECT lpad(to_hex(i), 16, '0'), lpad(to_hex(i), 64,
    '0'), 'dev-' || i, 'pending', 'pairing', 1000, 1000, 1000 FROM
    generate_series(1, 21) i" >/dev/null || bad "pending rows"
run_all() { # ACTION: one process per client 1..20, all at once
	pids=""
	for i in $(seq 1 20); do
		ck "$work/srv" clients "$1" "$(printf '%016x' "$i")" \
		    >"$work/c.$1.$i" 2>&1 &
		pids="$pids $!"
	done
	n=0
	for p in $pids; do wait "$p" && n=$((n + 1)); done
	echo "$n"
}
n=$(run_all approve)
check "20 concurrent approvals: all succeed ($n)" "[ $n = 20 ]"
n=$(run_all revoke)
check "20 concurrent revocations: all succeed ($n)" "[ $n = 20 ]"
check "no update lost: 20 revoked at version 3" \
	"[ \"\$(sq certkit \"SELECT count(*) FROM clients WHERE state = 'revoked' AND version = 3\")\" = 20 ]"
check "40 audit rows" "[ \"\$(sq certkit 'SELECT count(*) FROM audit')\" = 40 ]"
pids=""
for i in $(seq 1 10); do
	ck "$work/srv" clients approve 0000000000000015 >"$work/one.$i" 2>&1 &
	pids="$pids $!"
done
n=0
for p in $pids; do wait "$p" && n=$((n + 1)); done
check "10 concurrent approvals of one client: one wins ($n)" \
	"[ $n = 1 ] && [ \"\$(sq certkit \"SELECT version FROM clients WHERE id = '0000000000000015'\")\" = 2 ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
