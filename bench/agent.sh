#!/bin/sh
# bench/agent.sh BUILD_DIR WORKDIR: the agent's figures (issue 11), against
# a real `certkit serve` with its CA on loopback:
#
#  1. approve to certificate: R rounds of `agent enroll` (pending), then
#     `agent enroll --wait 30` polling with retry_after = 2s, and
#     `certkit clients approve` at a varying point of the poll period; the
#     time from the approve's return to the agent's exit (certificate
#     installed). Target: <= Retry-After + 1 s.
#  2. idle agent memory: `certkit-agent run` and `certkit agent run`
#     online, between heartbeats: VmRSS, its file-backed and anonymous
#     parts, Private_Dirty, the largest mappings; beside them the floor, a
#     bare OpenSSL TLS client (bench/tls_floor.c) doing the same heartbeat
#     with the same identity. Target: <= 8 MiB RSS.
#  3. renewal: N simplereenroll requests, each on a new TLS connection
#     with the agent's certificate (what a renewal costs the server: a
#     handshake, the CSR, a signature, two registry writes, PKCS#7), against
#     N GET /healthz on new connections with the same certificate; the
#     server's CPU (utime + stime of /proc/PID/stat) for each, and the
#     share of one core for 10,000 clients. Target: < 20% of one core.
# Bounded: every wait has a limit; about a minute in all.
set -eu
build=$(cd "$1" && pwd)
work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
ck="$build/certkit"
H="$work/home"
R=6   # approve rounds
N=200 # renewals
mkdir -p "$H"
export CERTKIT_HOME="$H" CERTKIT_HOSTNAME=localhost CERTKIT_IPS=127.0.0.1
unset CERTKIT_FAULT NOTIFY_SOCKET
spid="" apid=""
trap 'kill $spid $apid 2>/dev/null || true' EXIT INT TERM

"$ck" identity init >/dev/null 2>&1
"$ck" registry migrate >/dev/null
"$ck" ca init >/dev/null
printf '[server]\nretry_after = 2s\n' >"$H/certkit.conf"
mkfifo "$work/ready"
"$ck" serve --listen 127.0.0.1:0 --ready-fd 3 3>"$work/ready" 2>"$work/log" &
spid=$!
port=$(timeout 10 sed -n 's/^READY=1 listen=127.0.0.1:\([0-9]*\)$/\1/p' "$work/ready")
[ -n "$port" ] || { echo "bench agent: serve did not start" >&2; exit 1; }
pin=$(openssl x509 -in "$H/identity/current/cert.pem" -noout -pubkey |
    openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64)
mkagent() { # HOME
	mkdir -p "$1"
	printf '[agent]\nprimary = 127.0.0.1:%s\nprimary_pin = sha256/%s\nheartbeat = 5s\n' \
	    "$port" "$pin" >"$1/certkit.conf"
}
ms_now() { date +%s%N | cut -c1-13; }

# 1. approve to certificate
echo "bench agent: approve to certificate, $R rounds" >&2
lat=""
i=0
while [ $i -lt $R ]; do
	A="$work/a$i"
	mkagent "$A"
	export CERTKIT_HOSTNAME="agent$i.localdomain" # a new name: no conflict
	timeout 30 "$ck" --home "$A" agent enroll >/dev/null 2>&1 || true
	spki=$(openssl req -in "$A/agent/request.csr" -noout -pubkey |
	    openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -c1-64)
	timeout 40 "$ck" --home "$A" agent enroll --wait 30 >/dev/null 2>&1 &
	w=$!
	# approve at a different point of the 2 s poll period each round
	sleep "$(awk -v i=$i -v r=$R 'BEGIN { printf "%.2f", 0.3 + 2 * i / r }')"
	"$ck" clients approve "$spki" >/dev/null
	t0=$(ms_now)
	wait $w || { echo "bench agent: round $i failed" >&2; exit 1; }
	lat="$lat $(($(ms_now) - t0))"
	i=$((i + 1))
done
lat_max=$(echo $lat | tr ' ' '\n' | sort -n | tail -1)
lat_med=$(echo $lat | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

# 2. idle agent memory
# idle TAG CMD...: runs the agent (CMD, in HOME $A), waits until online, samples it between
# heartbeats; sets rss anon file priv, writes $work/maps.TAG.
idle() {
	tag=$1
	shift
	"$@" >/dev/null 2>&1 &
	apid=$!
	rm -f "$A/agent/state.json"
	n=0
	until grep -q '"state": "online"' "$A/agent/state.json" 2>/dev/null || [ $n -ge 50 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	sleep 1
	rss=0 anon=0 file=0 priv=0
	for k in 1 2 3 4 5; do
		r=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\) kB/\1/p' "/proc/$apid/status")
		if [ "$r" -gt "$rss" ]; then
			rss=$r
			anon=$(sed -n 's/^RssAnon:[^0-9]*\([0-9]*\) kB/\1/p' "/proc/$apid/status")
			file=$(sed -n 's/^RssFile:[^0-9]*\([0-9]*\) kB/\1/p' "/proc/$apid/status")
			priv=$(sed -n 's/^Private_Dirty:[^0-9]*\([0-9]*\) kB/\1/p' "/proc/$apid/smaps_rollup")
		fi
		sleep 0.4
	done
	awk '/^[0-9a-f]+-/ { name = $6 } /^Rss:/ { r[name] += $2 }
		END { for (n in r) if (r[n] >= 100) printf "| %s | %d |\n", (n == "" ? "(anonymous)" : n), r[n] }' \
	    "/proc/$apid/smaps" | sed "s|$build/||" | sort -t'|' -k3 -rn >"$work/maps.$tag"
	kill $apid 2>/dev/null || true
	wait $apid 2>/dev/null || true
	apid=""
}
echo "bench agent: idle memory" >&2
A="$work/a0"
idle tool "$ck" --home "$A" agent run
t_rss=$rss t_anon=$anon t_file=$file t_priv=$priv
libs=$(awk -F'|' '$2 ~ /libsqlite3|libm\.so|libevent_core|libevent_openssl/ { s += $3 } END { print s + 0 }' "$work/maps.tool")
exe=$(awk -F'|' '$2 ~ /^ certkit / { s += $3 } END { print s + 0 }' "$work/maps.tool")
idle agent "$build/certkit-agent" --home "$A" run
exe2=$(awk -F'|' '$2 ~ /^ certkit-agent / { s += $3 } END { print s + 0 }' "$work/maps.agent")
floor="n/a"
if cc -O2 -o "$work/tls_floor" "$src/bench/tls_floor.c" -lssl -lcrypto 2>"$work/cc.err"; then
	D="$A/agent/identity/current"
	floor=$("$work/tls_floor" "$port" "$D/fullchain.pem" "$D/key.pem" || echo "n/a")
fi

# 3. renewal
echo "bench agent: $N renewals" >&2
D="$A/agent/identity/current"
openssl req -new -key "$D/key.pem" -subj /CN=localhost -outform DER |
    base64 >"$work/renew.b64"
cpu() { awk '{ print $14 + $15 }' "/proc/$spid/stat"; }
hz=$(getconf CLK_TCK)
burst() { # PATH [curl args]: N requests, each on a new connection; server CPU ms
	p=$1
	shift
	c0=$(cpu)
	t0=$(ms_now)
	j=0
	: >"$work/codes"
	while [ $j -lt $N ]; do
		timeout 10 curl -sk -o /dev/null -w '%{http_code}\n' --cert "$D/cert.pem" \
		    --key "$D/key.pem" "$@" "https://127.0.0.1:$port$p" >>"$work/codes" || true
		j=$((j + 1))
	done
	echo "$(( ($(cpu) - c0) * 1000 / hz )) $(($(ms_now) - t0)) $(grep -vc '^200$' "$work/codes" || true)"
}
set -- $(burst /healthz)
hz_cpu=$1 hz_wall=$2 hz_bad=$3
set -- $(burst /.well-known/est/simplereenroll -H 'Content-Type: application/pkcs10' \
    --data-binary "@$work/renew.b64")
rn_cpu=$1 rn_wall=$2 rn_bad=$3
kill $spid 2>/dev/null || true
wait $spid 2>/dev/null || true
spid=""
per=$(awk -v c="$rn_cpu" -v n=$N 'BEGIN { printf "%.2f", c / n }')
per_hs=$(awk -v c="$hz_cpu" -v n=$N 'BEGIN { printf "%.2f", c / n }')
win=$(awk -v p="$per" 'BEGIN { printf "%.5f", 10000 * p / 1000 / (7.5 * 86400) * 100 }')
hour=$(awk -v p="$per" 'BEGIN { printf "%.2f", 10000 * p / 1000 / 3600 * 100 }')
cores_s=$(awk -v p="$per" 'BEGIN { printf "%.0f", 10000 * p / 1000 }')

cat <<MD
## certkit agent: approve to certificate, idle memory, renewal load

### Approve to certificate

$R agents each left a pending request, then ran \`agent enroll --wait 30\`
against a server with \`retry_after = 2s\`; \`certkit clients approve\` was
run at a different point of the 2 s poll period each round. Time from the
approve's return to the agent's exit with its certificate installed
(validated, backed up, written into HOME/agent/identity):

| rounds | median ms | max ms | target |
|---|---|---|---|
| $R | $lat_med | $lat_max | <= 3000 (Retry-After + 1 s) |

All rounds (ms):$lat.

### Idle agent memory

The agent online, sampled 5 times between two heartbeats (largest kept),
run as \`certkit agent run\` (the tool) and as \`certkit-agent run\` (the
same command built alone, linked --as-needed: what dist/certkit-agent.service
runs). Target: 8192 KiB RSS.

| | VmRSS KiB | file-backed KiB | anonymous KiB | Private_Dirty KiB |
|---|---|---|---|---|
| certkit-agent run | $rss | $file | $anon | $priv |
| certkit agent run | $t_rss | $t_file | $t_anon | $t_priv |

The floor: bench/tls_floor.c, a bare OpenSSL client making the same
heartbeat (TLS 1.3 with the agent's client certificate, POST
/api/v1/heartbeat) and nothing else: $floor.

| certkit-agent: mapping (>= 100 KiB resident) | RSS KiB |
|---|---|
$(cat "$work/maps.agent")

$(awk -v t="$t_rss" -v a="$rss" -v libs="$libs" -v exe="$exe" -v exe2="$exe2" -v priv="$priv" -v f="$floor" 'BEGIN {
	printf "The tool maps %d KiB more than certkit-agent: %d KiB of libsqlite3, libm\n", t - a, libs
	printf "(loaded by SQLite), libevent_core and libevent_openssl, which the agent does\n"
	printf "not use (the server does), and %d KiB of its own pages against %d KiB.\n", exe, exe2
	if (split(f, w, /[ (]+/) < 8) exit
	printf "certkit-agent is %d KiB above the bare OpenSSL client, %d KiB of it\n", a - w[2], a - w[2] - (priv - w[7])
	printf "file-backed (its executable, libevent for the doctor'"'"'s probes, jansson,\n"
	printf "inih, more of libc). Nearly all of the floor is clean pages of libcrypto\n"
	printf "(all of its text is resident in both) and libc, shared by every process\n"
	printf "that maps them.\n"
}')

### Renewal of 10,000 clients

$N renewals (\`simplereenroll\` with the current certificate, each on a new
TLS connection made by curl: handshake with the client certificate, the
CSR checked, a certificate signed and recorded, PKCS#7 back) against $N
\`GET /healthz\` on new connections with the same certificate. The
server's CPU is utime + stime from /proc/PID/stat (resolution 1/$hz s).

| | requests | server CPU ms | per request ms | wall ms | not 200 |
|---|---|---|---|---|---|
| GET /healthz, new connection | $N | $hz_cpu | $per_hs | $hz_wall | $hz_bad |
| simplereenroll, new connection | $N | $rn_cpu | $per | $rn_wall | $rn_bad |

10,000 clients renew once per lifetime (cert_days 90: each at a point
its key chooses between 2/3 and 3/4 of the lifetime, days 60 to 67.5):
10,000 x $per ms = $cores_s CPU seconds per lifetime. Devices enrolled
in the same hour are spread over that 7.5-day window: $cores_s s /
648,000 s = $win% of one core. Even if all 10,000 came within one hour
(only if forced: an admin running \`agent enroll --renew\` on every
device at once): $cores_s s / 3,600 s =
$hour% of one core. Target: < 20%.

Command: \`sh bench/agent.sh BUILD WORKDIR\` (part of \`make bench\`).
MD
