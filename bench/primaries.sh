#!/bin/sh
# bench/primaries.sh BUILD_DIR WORKDIR: two `certkit serve` primaries on one
# PostgreSQL registry against one primary on SQLite, side by side.
#
#  1. Throughput: full mTLS handshakes, each followed by one request
#     (GET /api/v1/status: a per-request authorisation decision) and the
#     close, by two `openssl s_time -new -www` clients at once (both on the
#     SQLite primary; one on each PostgreSQL primary), for SECS seconds:
#     connections per second, and the server CPU per connection from
#     /proc/PID/stat.
#  2. Approve-to-effective latency across primaries: a new client asks
#     primary A (pending), `certkit clients approve` runs, and the time from
#     its return to the first 200 from primary B (curl in a loop: the
#     resolution is one curl handshake, a few ms). RUNS samples; median, p99.
# PostgreSQL is started by tests/pg_harness.inc (initdb in WORKDIR's temp
# dir, Unix socket). Bounded: about 2 * SECS + RUNS * 1 s.
set -eu
build=$(cd "$1" && pwd)
work=$2
ck="$build/certkit"
SECS=${SECS:-8}
RUNS=${RUNS:-30}
CERTKIT_SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"
unset CERTKIT_HOME PGPASSFILE NOTIFY_SOCKET
export NO_COLOR=1
pids=""
# The harness's trap stops PostgreSQL; ours stops the servers first.
. "$CERTKIT_SRC/tests/pg_harness.inc"
pgh_start >&2
trap 'for p in $pids; do kill $p 2>/dev/null; done; sleep 0.3; pgh_cleanup' EXIT
CI="host=$PGH_SOCK port=$PGH_PORT dbname=certkit user=ckadmin"
pgh_psql postgres "CREATE DATABASE certkit" >&2
ms() { echo $(($(date +%s%N) / 1000000)); }

# start NAME REGISTRY: a primary with its own home; sets port_NAME, pid_NAME.
start() {
	h=$work/$1
	mkdir -p "$h"
	CERTKIT_HOME=$h "$ck" identity init >/dev/null 2>&1
	printf '\n[server]\nregistry = %s\n' "$2" >>"$h/certkit.conf"
	CERTKIT_HOME=$h "$ck" registry migrate >/dev/null
	rm -f "$work/ready"
	mkfifo "$work/ready"
	CERTKIT_HOME=$h "$ck" serve --listen 127.0.0.1:0 --ready-fd 3 \
	    3>"$work/ready" 2>"$work/$1.log" &
	eval "pid_$1=$!"
	pids="$pids $!"
	p=$(timeout 10 sed -n 's/^READY=1 listen=127.0.0.1:\([0-9]*\)$/\1/p' "$work/ready")
	[ -n "$p" ] || { cat "$work/$1.log" >&2; exit 1; }
	eval "port_$1=$p"
}
mkclient() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/$1.key" -out "$work/$1.pem" -subj "/CN=$1" -days 30 \
	    -addext extendedKeyUsage=clientAuth 2>/dev/null
}
code() {
	curl -sk -o /dev/null -w '%{http_code}' --cert "$work/$1.pem" \
	    --key "$work/$1.key" "https://127.0.0.1:$2/api/v1/status" 2>/dev/null
}
# pair HOME PORT NAME: first contact on PORT, then approve through HOME.
pair() {
	code "$3" "$2" >/dev/null
	CERTKIT_HOME=$1 "$ck" clients approve "$(
	    openssl x509 -in "$work/$3.pem" -noout -pubkey |
	    openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -c1-16)" \
	    >/dev/null
}
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# stime PORT: connections/s of one s_time run (SECS seconds).
stime() {
	openssl s_time -connect "127.0.0.1:$1" -new -cert "$work/dev.pem" \
	    -key "$work/dev.key" -www /api/v1/status -time "$SECS" 2>/dev/null |
	    sed -n 's/^\([0-9]*\) connections in [0-9.]*s; \([0-9.]*\) connections\/user sec.*/\1/p' |
	    head -1
}

start L "sqlite"
start A "$CI"
start B "$CI"
mkclient dev
pair "$work/L" "$port_L" dev
pair "$work/A" "$port_A" dev
sleep 1
[ "$(code dev "$port_L")$(code dev "$port_A")$(code dev "$port_B")" = 200200200 ] ||
	{ echo "bench primaries: the client is not approved everywhere" >&2; exit 1; }

echo "bench primaries: 1 primary on SQLite, ${SECS}s" >&2
c0=$(cpu "$pid_L")
stime "$port_L" >"$work/nl" &
s1=$!
nl2=$(stime "$port_L")
wait "$s1"
nl=$(( $(cat "$work/nl") + nl2 ))
cl=$(( $(cpu "$pid_L") - c0 ))
echo "bench primaries: 2 primaries on PostgreSQL, ${SECS}s" >&2
a0=$(cpu "$pid_A")
b0=$(cpu "$pid_B")
stime "$port_A" >"$work/na" &
s1=$!
nb=$(stime "$port_B")
wait "$s1"
na=$(cat "$work/na")
ca=$(( $(cpu "$pid_A") - a0 + $(cpu "$pid_B") - b0 ))
hz=$(getconf CLK_TCK)

# Approve-to-effective latency.
echo "bench primaries: approve-to-effective, $RUNS runs" >&2
: >"$work/lat"
i=0
while [ $i -lt "$RUNS" ]; do
	mkclient "n$i"
	code "n$i" "$port_A" >/dev/null
	id=$(psql -X -At "$CI" -c "SELECT id FROM clients WHERE name = 'n$i'")
	CERTKIT_HOME=$work/A "$ck" clients approve "$id" >/dev/null
	t0=$(ms)
	while [ "$(code "n$i" "$port_B")" != 200 ] && [ $(($(ms) - t0)) -lt 5000 ]; do :; done
	echo $(($(ms) - t0)) >>"$work/lat"
	i=$((i + 1))
done
sort -n "$work/lat" >"$work/lat.s"
med=$(awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' "$work/lat.s")
p99=$(awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); print v[i] }' "$work/lat.s")

cat <<EOF
## Several primaries: two on PostgreSQL against one on SQLite

Full mutual-TLS handshakes, each with one \`GET /api/v1/status\` (an
authorisation decision) and the close, by two \`openssl s_time -new -www\`
clients at once, ${SECS} s per configuration, on this $(nproc)-core machine
shared with other work (the clients run on the same cores). The two PostgreSQL primaries share one local
PostgreSQL (Unix socket).

| configuration | connections/s | server CPU per connection |
|---|---|---|
| 1 primary, SQLite (2 clients) | $(awk -v n="$nl" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }') | $(awk -v c="$cl" -v n="$nl" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.2f ms", c / hz * 1000 / n; else print "-" }') |
| 2 primaries, PostgreSQL (1 client each) | $(awk -v a="$na" -v b="$nb" -v s="$SECS" 'BEGIN { printf "%.0f + %.0f = %.0f", a / s, b / s, (a + b) / s }') | $(awk -v c="$ca" -v n="$((na + nb))" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.2f ms", c / hz * 1000 / n; else print "-" }') |

Ratio (two PostgreSQL primaries / one SQLite primary):
$(awk -v a="$((na + nb))" -v b="$nl" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }').
Where the time goes: a decision never touches the database (the primaries
answer from memory and follow the registry's revocation epoch: one
single-row SELECT every 250 ms, or on a NOTIFY), so each connection costs
the TLS handshake (ECDSA verification of the client's chain, the server's
signature) and the HTTP round trip, in the server and in the clients on the
same cores: with two cores, a second primary adds what the first left idle
while its clients worked.

Approve-to-effective across primaries (client pending on A, \`certkit
clients approve\` through A's configuration, first 200 from B), $RUNS runs:
median **${med} ms**, p99 **${p99} ms** (the resolution is one curl
handshake). B learns of the change by PostgreSQL's NOTIFY and re-reads the
rows at once; without it, the 250 ms epoch poll bounds the delay.

Command: \`sh bench/primaries.sh BUILD_DIR WORKDIR\` (SECS=$SECS RUNS=$RUNS).
EOF
