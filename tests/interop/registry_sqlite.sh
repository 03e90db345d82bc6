#!/bin/sh
# registry_sqlite.sh: the SQLite registry (lib/server/registry_sqlite.c)
# against the real sqlite3 shell and concurrent certkit processes.
#
#   1. A long admin transaction (sqlite3 holding BEGIN IMMEDIATE) makes
#      `clients approve` wait CERTKIT_LOCK_TIMEOUT, then fail with
#      "registry locked" and exit 1, changing nothing; readers (`clients
#      list`) are not blocked (WAL); once the lock goes, approve works.
#   2. A change killed after its writes but before its commit
#      (CERTKIT_FAULT=registry-commit exits as kill -9 would) leaves the
#      client pending and no audit row.
#   3. 100 `clients approve` runs, 50 of them killed with kill -9 at moments
#      spread over a run: PRAGMA integrity_check is ok, every run that
#      reported success left its client approved, and every approved client
#      has exactly one "approve" audit row.
#   4. 20 concurrent runs: 20 approves of 20 clients all succeed; 10
#      suspends and 10 resumes of one client lose no update (its version is
#      1 + the successful runs, one audit row each, state by parity).
# Env: CERTKIT. Needs sqlite3 (scripts/deps, test tier).
set -u
: "${CERTKIT:?}"
command -v sqlite3 >/dev/null 2>&1 || { echo "sqlite3 not found (scripts/deps)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-reg.XXXXXX")
holder=""
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
unset CERTKIT_FAULT CERTKIT_LOCK_TIMEOUT CERTKIT_HOME
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# fresh HOME N: a migrated registry with N pending clients: ids
# %016x and SPKIs %064x of 1..N, names dev-1..dev-N.
fresh() {
	rm -rf "$1"
	"$CERTKIT" --home "$1" registry migrate >/dev/null || return 1
	sqlite3 "$1/server/registry.db" "WITH RECURSIVE n(i) AS (SELECT 1
	    UNION ALL SELECT i + 1 FROM n WHERE i < $2) INSERT INTO clients
	    (id, spki, name, state, policy, first_seen, last_seen, changed)
	    SELECT printf('%016x', i), printf('%064x', i), 'dev-' || i,
	    'pending', 'pairing', 1000, 1000, 1000 FROM n"
}
q() { sqlite3 "$1/server/registry.db" "$2"; }
id() { printf '%016x' "$1"; }

# ---- 1. a long admin transaction ------------------------------------------
h=$work/lock
fresh "$h" 3 || { echo "setup failed"; exit 1; }
mkfifo "$work/in"
sqlite3 "$h/server/registry.db" <"$work/in" >"$work/held" 2>&1 &
holder=$!
exec 9>"$work/in"
echo "BEGIN IMMEDIATE; UPDATE clients SET reason = 'held' WHERE 0; SELECT 'held';" >&9
i=0
while [ $i -lt 100 ] && ! grep -q held "$work/held"; do
	sleep 0.05; i=$((i + 1))
done
check "sqlite3 holds the write lock" 'grep -q held "$work/held"'
t0=$(date +%s%N)
CERTKIT_LOCK_TIMEOUT=1 "$CERTKIT" --home "$h" clients approve "$(id 1)" >"$work/out" 2>"$work/err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "approve under the lock fails with exit 1 (got $rc)" '[ $rc = 1 ]'
check "it says \"registry locked\"" 'grep -q "registry locked: .*registry.db is held by another process (waited 1000 ms)" "$work/err"'
check "it waited the lock timeout (${ms} ms)" '[ $ms -ge 900 ] && [ $ms -lt 8000 ]'
"$CERTKIT" --home "$h" clients list >"$work/list" 2>&1
check "a reader is not blocked by the lock" 'grep -q "Pending" "$work/list"'
echo "COMMIT; .quit" >&9
exec 9>&-
wait $holder
holder=""
check "nothing changed under the lock" '[ "$(q "$h" "SELECT count(*) FROM audit")" = 0 ]'
"$CERTKIT" --home "$h" clients approve "$(id 1)" >/dev/null 2>&1
st=$(q "$h" "SELECT state FROM clients WHERE id = '$(id 1)'")
check "after the lock, approve works ($st)" '[ "$st" = approved ]'

# ---- 2. killed between the writes and the commit ---------------------------
CERTKIT_FAULT=registry-commit "$CERTKIT" --home "$h" clients approve "$(id 2)" >/dev/null 2>&1
rc=$?
check "the fault hook killed approve (exit $rc)" '[ $rc = 9 ]'
st=$(q "$h" "SELECT state FROM clients WHERE id = '$(id 2)'")
na=$(q "$h" "SELECT count(*) FROM audit")
check "the uncommitted change is gone: $st, $na audit row in all" '[ "$st" = pending ] && [ "$na" = 1 ]'
check "integrity_check after it: ok" '[ "$(q "$h" "PRAGMA integrity_check")" = ok ]'

# ---- 3. kill -9 among 100 approvals ----------------------------------------
h=$work/kill
fresh "$h" 100 || { echo "setup failed"; exit 1; }
: >"$work/done"
i=0
while [ $i -lt 100 ]; do
	i=$((i + 1))
	"$CERTKIT" --home "$h" clients approve "$(id $i)" >/dev/null 2>&1 &
	pid=$!
	if [ $((i % 2)) = 0 ]; then
		sleep "0.00$((i % 10))" # 0 to 9 ms into the run
		kill -9 $pid 2>/dev/null
	fi
	wait $pid && id $i >>"$work/done" && echo >>"$work/done"
done
wait
check "integrity_check after 50 kill -9: ok" '[ "$(q "$h" "PRAGMA integrity_check")" = ok ]'
check "foreign_key_check: nothing" '[ -z "$(q "$h" "PRAGMA foreign_key_check")" ]'
lost=0
while read -r cid; do
	[ "$(q "$h" "SELECT state FROM clients WHERE id = '$cid'")" = approved ] || lost=$((lost + 1))
done <"$work/done"
n_done=$(wc -l <"$work/done")
n_app=$(q "$h" "SELECT count(*) FROM clients WHERE state = 'approved'")
n_aud=$(q "$h" "SELECT count(*) FROM audit WHERE action = 'approve'")
n_pen=$(q "$h" "SELECT count(*) FROM clients WHERE state = 'pending'")
echo "# $n_done runs reported success, $n_app approved, $n_pen pending"
check "no approved client lost ($lost of $n_done)" '[ $lost = 0 ] && [ $n_done -ge 50 ]'
check "one approve audit row per approved client ($n_aud, $n_app)" '[ "$n_aud" = "$n_app" ] && [ $((n_app + n_pen)) = 100 ]'

# ---- 4. 20 concurrent runs --------------------------------------------------
h=$work/conc
fresh "$h" 21 || { echo "setup failed"; exit 1; }
"$CERTKIT" --home "$h" clients approve "$(id 21)" >/dev/null 2>&1
: >"$work/rcs"
i=0
while [ $i -lt 20 ]; do
	i=$((i + 1))
	( "$CERTKIT" --home "$h" clients approve "$(id $i)" >/dev/null 2>"$work/a$i.err"
	  echo "approve $?" >>"$work/rcs" ) &
	if [ $((i % 2)) = 0 ]; then act=suspend; else act=resume; fi
	( "$CERTKIT" --home "$h" clients $act "$(id 21)" >/dev/null 2>"$work/s$i.err"
	  echo "$act $?" >>"$work/rcs" ) &
done
wait
a_ok=$(grep -c "approve 0" "$work/rcs")
n_app=$(q "$h" "SELECT count(*) FROM clients WHERE state = 'approved' AND id != '$(id 21)'")
check "20 concurrent approves of 20 clients all succeed ($a_ok, $n_app)" '[ "$a_ok" = 20 ] && [ "$n_app" = 20 ]'
s_ok=$(grep -c "suspend 0" "$work/rcs")
r_ok=$(grep -c "resume 0" "$work/rcs")
others=$(grep -Ec "(suspend|resume) [^02]" "$work/rcs")
ver=$(q "$h" "SELECT version FROM clients WHERE id = '$(id 21)'")
aud=$(q "$h" "SELECT count(*) FROM audit WHERE client_id = '$(id 21)' AND action IN ('suspend', 'resume')")
st=$(q "$h" "SELECT state FROM clients WHERE id = '$(id 21)'")
want=approved
[ "$s_ok" != "$r_ok" ] && want=suspended
echo "# suspend ok $s_ok, resume ok $r_ok, version $ver, audit $aud, state $st"
check "every suspend/resume either changed the client or was refused by its state" '[ "$others" = 0 ]'
check "no lost update: version = 2 + changes, one audit row each" \
    '[ "$ver" = $((2 + s_ok + r_ok)) ] && [ "$aud" = $((s_ok + r_ok)) ]'
check "the state follows the successful changes ($st)" '[ "$st" = "$want" ] && [ $((s_ok - r_ok)) -ge 0 ] && [ $((s_ok - r_ok)) -le 1 ]'

echo "$pass passed, $fail failed"
[ $fail = 0 ]
