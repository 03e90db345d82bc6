#!/bin/sh
# serve_primaries.sh: three `certkit serve` primaries on one PostgreSQL
# registry (tests/pg_harness.inc starts it: initdb in a temporary
# directory, an unprivileged user, a Unix socket), with curl and openssl
# s_client. The primaries use a role with only SELECT/INSERT/UPDATE/DELETE.
#
#  1. a new client on A is pending; `clients approve` (an admin on A's
#     host) is accepted by B and C within 1 s
#  2. `clients revoke` closes the client's live connection on C within 2 s
#  3. pending expiry runs on one primary only (the advisory-lock holder);
#     when that primary is killed (-9), another takes the job
#  4. PostgreSQL stopped under load: the approved client keeps working on
#     every primary, a new client gets 503 registry_unavailable with
#     Retry-After; each primary logs the outage once; PostgreSQL back: the
#     end is logged once, the new client is pending, no row duplicated, and
#     a revocation made then applies everywhere
# Env: CERTKIT, CERTKIT_SRC. Loopback only, port 0, every wait bounded.
set -u
: "${CERTKIT:?}"
. "$CERTKIT_SRC/tests/pg_harness.inc"
pgh_serve_start
pgh_registry ck_server ck_b

# primary NAME: a home (its own identity) and a running serve; sets
# port_NAME, pid_NAME; the log is $work/NAME.log.
primary() {
	h=$work/$1
	mkdir -p "$h"
	CERTKIT_HOME=$h "$CERTKIT" identity init >/dev/null 2>&1 || return 1
	# One CA, made on A, on every primary (each may sign enrollments).
	if [ "$1" = A ]; then
		CERTKIT_HOME=$h "$CERTKIT" ca init --name "Primaries CA" \
		    >/dev/null 2>&1 || return 1
	else
		cp -a "$work/A/ca" "$h/ca" || return 1
	fi
	# B has a role of its own, so that B alone can be cut off (step 6).
	role=ck_server
	[ "$1" = B ] && role=ck_b
	printf '\n[server]\nregistry = %s user=%s\npending_ttl = 60\n' \
	    "$CI" "$role" >>"$h/certkit.conf"
	pgh_serve "$1"
}
for n in A B C; do
	primary $n || { bad "primary $n starts"; exit 1; }
done
ok "three primaries on one PostgreSQL (ports $port_A $port_B $port_C)"

mkclient() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/$1.key" -out "$work/$1.pem" -subj "/CN=$1" \
	    -days 30 -addext extendedKeyUsage=clientAuth 2>/dev/null
}
# code WHO PORT: the HTTP status of GET /api/v1/status.
code() {
	timeout 5 curl -sk -o "$work/resp" -D "$work/head" -w '%{http_code}' \
	    --cert "$work/$1.pem" --key "$work/$1.key" \
	    "https://127.0.0.1:$2/api/v1/status" 2>/dev/null
}
# until_all WHO CODES: WHO's answers from A, B and C, in $all, until they
# are CODES, at most 10 s.
until_all() {
	t0=$(ms)
	while :; do
		all=""
		for p in $port_A $port_B $port_C; do all="$all$(code "$1" "$p")"; done
		[ "$all" = "$2" ] || [ $(($(ms) - t0)) -ge 10000 ] && break
		sleep 0.1
	done
}
q() { psql -X -q -At "$CI user=ckadmin" -c "$1"; }
admin() { timeout 60 "$CERTKIT" --home "$work/A" clients "$@"; }
mkclient dev1
mkclient dev2
mkclient dev3

# ---- 1. approve on A, accepted by B and C within 1 s ------------------------
r=$(code dev1 "$port_A")
[ "$r" = 202 ] && ok "a new client on A: 202 pending" || bad "new client on A: $r"
ID=$(q "SELECT id FROM clients WHERE name = 'dev1'")
admin approve "$ID" >"$work/approve.out" 2>&1 || bad "approve: $(cat "$work/approve.out")"
t0=$(ms)
seen=""
while [ $(($(ms) - t0)) -lt 1000 ]; do
	[ "$(code dev1 "$port_B")" = 200 ] && [ "$(code dev1 "$port_C")" = 200 ] &&
		{ seen=$(($(ms) - t0)); break; }
done
[ -n "$seen" ] && ok "approve: accepted by B and C ${seen} ms later" ||
	bad "approve: not accepted by B and C within 1 s"

# ---- 2. revoke: the live connection on C closes within 2 s ------------------
(printf 'GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 5) |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port_C" \
    -cert "$work/dev1.pem" -key "$work/dev1.key" >"$work/live.out" 2>&1 &
sc=$!
pids="$pids $sc"
i=0
while [ $i -lt 50 ] && ! grep -q '"approved"' "$work/live.out"; do
	sleep 0.1; i=$((i + 1)); done
grep -q '"approved"' "$work/live.out" && ok "a live connection on C" ||
	bad "live connection: $(cat "$work/live.out")"
admin revoke "$ID" >"$work/revoke.out" 2>&1 || bad "revoke: $(cat "$work/revoke.out")"
t0=$(ms)
while [ $(($(ms) - t0)) -lt 2000 ] && kill -0 "$sc" 2>/dev/null; do sleep 0.05; done
t=$(($(ms) - t0))
if ! kill -0 "$sc" 2>/dev/null &&
    grep -q 'reason="client no longer approved"' "$work/C.log"; then
	ok "revoke on A: the live connection on C closed ${t} ms later"
else
	bad "revoke: the connection on C is still open after ${t} ms"
fi
[ "$(code dev1 "$port_B")" = 403 ] && ok "revoked: 403 on B" || bad "revoked on B"

# ---- 3. pending expiry: one primary holds the job ---------------------------
# Each primary runs the expiry at start; only the first gets the advisory
# lock. pg_stat_activity's application_name is "certkit HOST PID".
held() {
	q "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a
	    ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND
	    l.objid = (hashtext('certkit:expire')::bigint & 4294967295)"
}
h=$(held)
[ "$(echo "$h" | grep -c .)" = 1 ] && [ "${h##* }" = "$pid_A" ] &&
	ok "one primary (A, the first) holds the expiry job" ||
	bad "expiry job holders: '$h' (A is $pid_A)"

# ---- 4. PostgreSQL stops under load -----------------------------------------
r=$(code dev2 "$port_A")
[ "$r" = 202 ] || bad "dev2 pending: $r"
ID2=$(q "SELECT id FROM clients WHERE name = 'dev2'")
admin approve "$ID2" >/dev/null 2>&1 || bad "approve dev2"
until_all dev2 200200200
# Load: dev2 asks every primary in a loop while the database goes away.
(
	end=$(($(ms) + 6000))
	while [ "$(ms)" -lt "$end" ]; do
		for p in $port_A $port_B $port_C; do
			timeout 5 curl -sk -o /dev/null -w '%{http_code}\n' \
			    --cert "$work/dev2.pem" --key "$work/dev2.key" \
			    "https://127.0.0.1:$p/api/v1/status" 2>/dev/null
		done
	done
) >"$work/load.out" &
lp=$!
pids="$pids $lp"
sleep 1
pgh_stop || bad "pg_ctl stop"
t0=$(ms)
while r=$(code dev3 "$port_B"); [ "$r" != 503 ] && [ $(($(ms) - t0)) -lt 10000 ]; do
	sleep 0.2
done
if [ "$r" = 503 ] && grep -qi '^Retry-After:' "$work/head" &&
    grep -q registry_unavailable "$work/resp"; then
	ok "database down: a new client gets 503 registry_unavailable + Retry-After"
else
	bad "database down: new client got '$r' $(cat "$work/resp")"
fi
wait "$lp"
n=$(grep -c . "$work/load.out")
good=$(grep -c '^200$' "$work/load.out")
[ "$n" -gt 0 ] && [ "$good" = "$n" ] &&
	ok "database down: the approved client kept working ($good/$n answers 200)" ||
	bad "under load: $good of $n answers were 200: $(sort "$work/load.out" | uniq -c)"
downs=0
for n in A B C; do
	d=$(grep -c 'event=registry state=down' "$work/$n.log")
	[ "$d" = 1 ] && downs=$((downs + 1))
done
[ $downs = 3 ] && ok "each primary logged the outage once" ||
	bad "outage logged: $(grep -c 'event=registry state=down' "$work/A.log" "$work/B.log" "$work/C.log")"
pgh_restart
t0=$(ms)
while [ $(($(ms) - t0)) -lt 5000 ]; do
	u=0
	for n in A B C; do grep -q 'event=registry state=up' "$work/$n.log" && u=$((u + 1)); done
	[ $u = 3 ] && break
	sleep 0.1
done
ups=0
for n in A B C; do
	[ "$(grep -c 'event=registry state=up' "$work/$n.log")" = 1 ] && ups=$((ups + 1))
done
[ $ups = 3 ] && ok "each primary logged the end of the outage once ($(($(ms) - t0)) ms)" ||
	bad "end of outage logged by $ups primaries"
r=""
t0=$(ms)
while [ $(($(ms) - t0)) -lt 5000 ]; do
	r=$(code dev3 "$port_B")
	[ "$r" = 202 ] && break
	sleep 0.2
done
[ "$r" = 202 ] && ok "database back: the new client is pending" || bad "after: dev3 $r"
[ "$(q "SELECT count(*) FROM clients WHERE name = 'dev3'")" = 1 ] &&
	[ "$(q "SELECT count(*) FROM clients")" = 3 ] &&
	ok "no row lost or duplicated" || bad "rows: $(q 'SELECT name, state FROM clients')"
admin revoke "$ID2" >/dev/null 2>&1 || bad "revoke dev2"
until_all dev2 403403403
[ "$all" = 403403403 ] && ok "a revocation after the outage applies on every primary" ||
	bad "after the outage, dev2: $all"

# ---- 5. 50 concurrent enrollments across the primaries: unique serials ----
admin token create --uses 50 --ttl 1h --json >"$work/tok.json" 2>&1 ||
	bad "token create: $(cat "$work/tok.json")"
TOK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/tok.json")
i=0
while [ $i -lt 50 ]; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/e$i.key" -subj "/CN=enr-$i" -outform DER 2>/dev/null |
	    base64 | python3 -c 'import json,sys; print(json.dumps({"csr": sys.stdin.read(), "token": sys.argv[1]}))' \
	    "$TOK" >"$work/e$i.json"
	i=$((i + 1))
done
i=0
epids=""
for p in $(seq 1 50); do
	case $((i % 3)) in 0) pt=$port_A ;; 1) pt=$port_B ;; *) pt=$port_C ;; esac
	timeout 30 curl -sk -o "$work/e$i.out" -w '%{http_code}' \
	    -H 'Content-Type: application/json' --data-binary "@$work/e$i.json" \
	    "https://127.0.0.1:$pt/api/v1/enroll" >"$work/e$i.code" 2>/dev/null &
	epids="$epids $!"
	i=$((i + 1))
done
for p in $epids; do wait "$p"; done
n=$(cat "$work"/e*.code | grep -o 200 | wc -l)
if [ "$n" = 50 ] && [ "$(q 'SELECT count(DISTINCT serial) FROM certs')" = 50 ] &&
    [ "$(q 'SELECT uses_left FROM tokens')" = 0 ]; then
	ok "50 concurrent enrollments on three primaries: 50 certificates, 50 serials, the token used up"
else
	for f in "$work"/e*.code; do
		[ "$(cat "$f")" = 200 ] || echo "# $f: $(cat "$f") $(head -c 300 "${f%.code}.out")"
	done
	bad "enrollments: $n answered 200; certs (all, distinct serials): $(q 'SELECT count(*), count(DISTINCT serial) FROM certs'); token uses left: $(q 'SELECT uses_left FROM tokens')"
fi

# kill -9 of the expiry job's holder: its lock goes with its session, so
# the next primary to run the job takes it (tests/unit/test_registry.c,
# "single-writer job", checks the taking over).
kill -9 "$pid_A" 2>/dev/null
t0=$(ms)
while [ $(($(ms) - t0)) -lt 5000 ] && [ -n "$(held)" ]; do sleep 0.1; done
[ -z "$(held)" ] && ok "kill -9 of the holder frees the expiry job ($(($(ms) - t0)) ms)" ||
	bad "expiry job still held: $(held)"

# ---- 6. B alone loses the database; a revocation made meanwhile ------------
# (the role B logs in with is disabled and its sessions ended: a partition of
# B). B serves its cache; the revocation applies on B when it is back.
r=$(code dev3 "$port_C")
ID3=$(q "SELECT id FROM clients WHERE name = 'dev3'")
admin approve "$ID3" >/dev/null 2>&1 || bad "approve dev3"
sleep 1
[ "$(code dev3 "$port_B")" = 200 ] || bad "dev3 not approved on B"
q "ALTER ROLE ck_b NOLOGIN" >/dev/null
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'ck_b'" >/dev/null
t0=$(ms)
while [ $(($(ms) - t0)) -lt 5000 ] &&
    [ "$(grep -c 'event=registry state=down' "$work/B.log")" -lt 2 ]; do sleep 0.1; done
[ "$(grep -c 'event=registry state=down' "$work/B.log")" = 2 ] &&
	ok "B cut off from the database: outage logged" || bad "B's outage not logged"
admin revoke "$ID3" >/dev/null 2>&1 || bad "revoke dev3"
sleep 1
rc=$(code dev3 "$port_C")$(code dev3 "$port_B")
[ "$rc" = 403200 ] && ok "revoked while B is cut off: 403 on C, B serves its cache (200)" ||
	bad "during B's outage: C and B answered $rc"
q "ALTER ROLE ck_b LOGIN" >/dev/null
t0=$(ms)
r=""
while [ $(($(ms) - t0)) -lt 5000 ]; do
	r=$(code dev3 "$port_B")
	[ "$r" = 403 ] && break
	sleep 0.1
done
[ "$r" = 403 ] && [ "$(grep -c 'event=registry state=up' "$work/B.log")" = 2 ] &&
	ok "B back: the revocation made during its outage applies ($(($(ms) - t0)) ms)" ||
	bad "B back: dev3 answered $r"

# SIGTERM: B and C stop cleanly (exit 0; under ASan, no report).
src=""
for n in B C; do
	eval "p=\$pid_$n"
	kill "$p" 2>/dev/null
	wait "$p"
	src="$src$?"
done
[ "$src" = 00 ] && ! grep -q Sanitizer "$work/B.log" "$work/C.log" &&
	ok "SIGTERM: B and C stop with 0" ||
	bad "stop: exit codes $src; $(grep -h -A3 Sanitizer "$work/B.log" "$work/C.log" | head -20)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
