#!/bin/sh
# bench/serve.sh BUILD_DIR WORKDIR: the primary server (issue 10) side by
# side with nginx (ssl_verify_client on, 1 worker) and bench/trivial_tls.c
# (the floor: OpenSSL's handshake and a fixed answer, nothing else), on the
# same machine, keys, load generator (bench/mtls_load.c) and client count:
#   - full mTLS handshakes (TLS 1.3, P-256, 100 known client keys in turn,
#     one request each): rate and server CPU per handshake;
#   - resumed handshakes (tickets), the authorisation asked on each request;
#   - IDLE idle mTLS connections (10,000; fewer when RLIMIT_NOFILE cannot
#     hold them): server RSS per connection;
#   - then heartbeats of those clients every 30 s: server CPU %;
#   - a flood of 2,000 unknown keys while 100 approved clients send a
#     request every 100 ms: their p99 with and without the flood, and (for
#     certkit) the pending queue against max_pending;
#   - what a refused client is told (curl).
# certkit serve is measured when this build has it (`certkit serve --help`),
# with a registry made by `certkit registry migrate`; else its rows say so.
# Prints one Markdown section (bench/run.sh contract); progress on stderr.
# Every command is bounded by `timeout`; only 127.0.0.1 is used.
# While iterating: SERVE_BENCH_PARTS (default "handshakes hold refusals
# flood") runs only the parts named, SERVE_BENCH_REPS the handshake runs
# (3), SERVE_BENCH_IDLE the held connections, SERVE_BENCH_HB_WINDOW the
# heartbeat window (15 s), SERVE_BENCH_FLOOD the unknown keys (2,000);
# rows of a part not run are left out of the section.
set -eu
build=$(cd "$1" && pwd)
work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
CERTKIT=$build/certkit
REPS=${SERVE_BENCH_REPS:-3}
IDLE=${SERVE_BENCH_IDLE:-10000}
HB_WINDOW=${SERVE_BENCH_HB_WINDOW:-15}
FLOOD=${SERVE_BENCH_FLOOD:-2000}
PARTS=${SERVE_BENCH_PARTS:-handshakes hold refusals flood}
MAX_PENDING=1000
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
mkdir -p "$work"
cd "$work"
log() { echo "bench serve: $*" >&2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "## certkit serve"; echo; echo "nginx not found: skipped."; exit 0; }
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# The file-descriptor limit: each process holds IDLE sockets.
hard=$(ulimit -Hn)
idle_note=""
if [ "$hard" != unlimited ] && [ $((IDLE + 256)) -gt "$hard" ]; then
	idle_note="(capped from $IDLE: RLIMIT_NOFILE's hard limit here is $hard)"
	IDLE=$((hard - 256))
fi
ulimit -n "$hard" 2>/dev/null || true

# ---- the PKI: P-256 everywhere -------------------------------------------------
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "making the PKI and building the generator"
ec() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }
ec -x509 -keyout ca.key -out ca.pem -days 30 -subj "/CN=certkit bench client CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
ec -x509 -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=not in client_ca" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
leaf() { # leaf NAME CA EKU
	ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$1.bench.test"
	printf 'subjectAltName=DNS:%s.bench.test,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' \
		"$1" "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
leaf server ca serverAuth
leaf client ca clientAuth
leaf stranger other-ca clientAuth
openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem \
	-passout pass:changeit -out server.p12
echo changeit >p12.pass
LIBS="-levent_openssl -levent -lssl -lcrypto"
cc -O2 -Wall -o mtls_load "$src/bench/mtls_load.c" $LIBS
cc -O2 -Wall -o trivial_tls "$src/bench/trivial_tls.c" $LIBS

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# wait_tls PORT: up to 10 s until a TLS handshake completes there.
wait_tls() {
	i=0
	until timeout 2 openssl s_client -connect "127.0.0.1:$1" -cert client.pem -key client.key \
	    </dev/null >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.1
	done
}

# ---- the servers -----------------------------------------------------------------
# Each runs under `timeout` (the job's PID; a TERM to it reaches the server):
# child_of PID is the server process itself, whose CPU and RSS are read.
child_of() { pgrep -P "$1" | head -1; }
start_trivial() {
	timeout 1800 ./trivial_tls -c server.pem -k server.key -a ca.pem >trivial.port 2>trivial.err &
	PIDS="$PIDS $!"
	i=0
	while [ ! -s trivial.port ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	TRIVIAL_PORT=$(sed 's/port=//' trivial.port)
	wait_tls "$TRIVIAL_PORT"
	TRIVIAL_PID=$(child_of $!)
}

start_nginx() {
	NGINX_PORT=$(free_port)
	# Room to spare: with fewer than 1/16 of worker_connections free,
	# nginx closes idle keep-alive connections to reuse them.
	NGINX_CONNS=$((IDLE * 2 + 1000))
	[ "$hard" != unlimited ] && [ "$NGINX_CONNS" -gt "$hard" ] && NGINX_CONNS=$hard
	mkdir -p nginx
	cat >nginx/nginx.conf <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile $hard;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections $NGINX_CONNS; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_timeout 600s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $work/server.pem;
    ssl_certificate_key $work/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate $work/ca.pem;
    ssl_verify_client on;
    location / { default_type application/json; return 200 '{"state":"approved"}'; }
  }
}
EOF
	timeout 1800 "$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>nginx/stderr &
	PIDS="$PIDS $!"
	wait_tls "$NGINX_PORT" || { cat nginx/stderr nginx/error.log >&2; return 1; }
	# The one worker does the work: its CPU and memory are measured.
	NGINX_WORKER=$(child_of "$(child_of $!)")
}

HAVE_CERTKIT=0
"$CERTKIT" serve --help >/dev/null 2>&1 && HAVE_CERTKIT=1
start_certkit() {
	H=$work/home
	mkdir -p "$H"
	cat >"$H/certkit.conf" <<EOF
[server]
identity = p12
p12 = $work/server.p12
p12_password_file = $work/p12.pass
client_policy = trusted-ca+pairing
client_ca = $work/ca.pem
max_pending = $MAX_PENDING
heartbeat = 30s
EOF
	timeout 60 "$CERTKIT" --home "$H" registry migrate >migrate.out 2>&1 ||
		{ cat migrate.out >&2; return 1; }
	CERTKIT_PORT=$(free_port)
	timeout 1800 "$CERTKIT" --home "$H" serve --listen "127.0.0.1:$CERTKIT_PORT" \
		>certkit.out 2>certkit.log &
	PIDS="$PIDS $!"
	wait_tls "$CERTKIT_PORT" || { tail -20 certkit.log >&2; return 1; }
	CERTKIT_PID=$(child_of $!)
}

log "starting trivial_tls, nginx$([ $HAVE_CERTKIT = 1 ] && echo ' and certkit serve')"
start_trivial
start_nginx
SERVERS="trivial nginx"
if [ $HAVE_CERTKIT = 1 ]; then
	if start_certkit; then SERVERS="$SERVERS certkit"; else HAVE_CERTKIT=0; fi
fi
pid_of() { case $1 in trivial) echo "$TRIVIAL_PID" ;; nginx) echo "$NGINX_WORKER" ;; certkit) echo "$CERTKIT_PID" ;; esac; }
port_of() { case $1 in trivial) echo "$TRIVIAL_PORT" ;; nginx) echo "$NGINX_PORT" ;; certkit) echo "$CERTKIT_PORT" ;; esac; }

# load SERVER OUT ARGS...: one mtls_load run; its key=value line in OUT.
load() {
	s=$1 out=$2
	shift 2
	timeout 300 ./mtls_load -p "$(port_of "$s")" -P "$(pid_of "$s")" -C client.pem -K client.key \
		"$@" >"$out" 2>>load.err || { echo "mtls_load failed on $s: $(tail -3 load.err)" >&2; return 1; }
}
# get KEY FILE: a value of a key=value line.
get() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p"; }

# ---- handshakes: full and resumed, interleaved ----------------------------------
# 100 known clients in turn (-G signs 100 keys with the client CA), 16 in
# flight, one request per connection; certkit approves them on first contact
# (trusted-ca) during the warm-up.
r=1
part handshakes || r=$((REPS + 1))
while [ $r -le "$REPS" ]; do
	for s in $SERVERS; do
		log "run $r: full and resumed handshakes, $s"
		load "$s" "full.$s.$r" -m full -c 16 -w 1 -t 4 -G ca.pem:ca.key -N 100
		load "$s" "resume.$s.$r" -m resume -c 16 -w 1 -t 4 -G ca.pem:ca.key -N 100
	done
	r=$((r + 1))
done

# ---- idle connections, then heartbeats --------------------------------------------
SERVERS_HOLD=$SERVERS
part hold || SERVERS_HOLD=""
for s in $SERVERS_HOLD; do
	[ "$s" = trivial ] && continue
	log "$IDLE idle connections, then heartbeats every 30 s for ${HB_WINDOW} s: $s"
	load "$s" "hold.$s" -m hold -c "$IDLE" -i 30 -t "$HB_WINDOW" -G ca.pem:ca.key -N "$IDLE"
done

# ---- refusals (before the flood fills the pending queue) ---------------------------
refusal() { # refusal SERVER LABEL [curl args]: "STATUS CONTENT-TYPE BODY"
	s=$1 label=$2
	shift 2
	printf '%s|%s|' "$s" "$label" >>refusals.txt
	timeout 10 curl -sk -o body.txt -w '%{http_code}|%{content_type}|' "$@" \
		"https://127.0.0.1:$(port_of "$s")/api/v1/status" >>refusals.txt 2>/dev/null || printf '000||' >>refusals.txt
	tr -d '\r\n' <body.txt | cut -c1-160 >>refusals.txt
	echo >>refusals.txt
}
: >refusals.txt
SERVERS_REF=$SERVERS
part refusals || SERVERS_REF=""
for s in $SERVERS_REF; do
	[ "$s" = trivial ] && continue
	refusal "$s" "no client certificate"
	refusal "$s" "certificate from a CA not in client_ca" --cert stranger.pem --key stranger.key
done

# ---- a flood of unknown keys while approved clients work --------------------------
# 100 approved clients each send a heartbeat every 100 ms (1,000 requests/s);
# their p99 alone, then with FLOOD new self-signed keys connecting at the
# same time (32 in flight, one request each).
SERVERS_FLOOD=$SERVERS
part flood || SERVERS_FLOOD=""
for s in $SERVERS_FLOOD; do
	[ "$s" = trivial ] && continue
	log "flood of $FLOOD unknown keys: $s"
	load "$s" "calm.$s" -m hold -c 100 -i 0.1 -t 8 -G ca.pem:ca.key -N 100
	load "$s" "busy.$s" -m hold -c 100 -i 0.1 -t 8 -G ca.pem:ca.key -N 100 &
	bpid=$!
	sleep 2
	load "$s" "flood.$s" -m full -c 32 -n "$FLOOD" -G self -N "$FLOOD" || true
	wait $bpid
done
PENDING=""
if [ $HAVE_CERTKIT = 1 ]; then
	timeout 60 "$CERTKIT" --home "$H" clients list --state pending --json >pending.json 2>&1 || true
	PENDING=$(python3 -c 'import json,sys; d=json.load(open("pending.json")); print(len(d["clients"] if isinstance(d, dict) else d))' 2>/dev/null || echo "?")
fi

# ---- the section ------------------------------------------------------------------
python3 - "$work" "$REPS" "$IDLE" "$HB_WINDOW" "$FLOOD" "$MAX_PENDING" "$HAVE_CERTKIT" \
	"${PENDING:-}" "$idle_note" "$LOAD0" <<'EOF'
import os, statistics, sys
work, reps, idle, hbw, flood, maxp, have, pending, note, load0 = sys.argv[1:11]
reps, idle, flood, maxp, have = int(reps), int(idle), int(flood), int(maxp), have == "1"
def kv(name):
    p = os.path.join(work, name)
    if not os.path.exists(p):
        return None
    return dict(t.split("=", 1) for t in open(p).read().split() if "=" in t)
def med(mode, s, k):
    v = [float(kv("%s.%s.%d" % (mode, s, r))[k]) for r in range(1, reps + 1) if kv("%s.%s.%d" % (mode, s, r))]
    return statistics.median(v) if v else None
def runs(mode, s, k, fmt):
    return " ".join(fmt % float(kv("%s.%s.%d" % (mode, s, r))[k]) for r in range(1, reps + 1) if kv("%s.%s.%d" % (mode, s, r)))
servers = ["trivial", "nginx"] + (["certkit"] if have else [])
label = {"trivial": "floor (bench/trivial_tls.c)", "nginx": "nginx 1 worker, `ssl_verify_client on`", "certkit": "certkit serve"}
def mark(ok): return "met" if ok else "**missed**"
print("## certkit serve: mutual TLS against nginx")
print()
print("Every server on 127.0.0.1 with the same ECDSA P-256 server key, client CA "
      "and client keys, driven by the same load generator (`bench/mtls_load.c`: "
      "libevent, TLS 1.3, X25519, a client certificate on every connection, "
      "the server's CPU read from /proc/PID/stat over the window). The floor is "
      "`bench/trivial_tls.c`: OpenSSL verifying the client certificate and a "
      "fixed answer, no registry, no routes, no log. Load average when the "
      "run began: %s (other jobs share the machine: the ratios measured side "
      "by side are what counts, and the runs are listed)." % load0)
if not have:
    print()
    print("**certkit serve is not in this build**: its rows are missing "
          "(bench/serve.sh measures it as soon as `certkit serve --help` works).")
print()
if kv("full.trivial.1"):  # SERVE_BENCH_PARTS without handshakes: no rows
    print("### Handshakes")
    print()
    print("100 known clients connecting in turn, 16 in flight, one request per "
          "connection; median of %d interleaved runs of 4 s after 1 s of warm-up." % reps)
    print()
    print("| Server | Full: handshakes/s | Full: server CPU per handshake | Resumed: handshakes/s | Resumed: CPU per handshake | p99 connect-to-answer (full) |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in servers:
        print("| %s | %.0f | %.3f ms | %.0f | %.3f ms | %.1f ms |" % (label[s],
            med("full", s, "conn_rate"), med("full", s, "server_cpu_ms_per"),
            med("resume", s, "conn_rate"), med("resume", s, "server_cpu_ms_per"),
            med("full", s, "conn_p99_ms")))
    print()
    print("Runs (server CPU ms per full handshake): " + "; ".join(
        "%s %s" % (s, runs("full", s, "server_cpu_ms_per", "%.3f")) for s in servers) + ".")
    print()
    g = med("full", "trivial", "gen_cpu_ms_per")
    print("The generator's own limit: %.3f ms of its CPU per full handshake "
          "(at most %.0f handshakes/s per core), and %.0f handshakes/s against the "
          "floor with both on this machine's %d cores; every server above is measured "
          "below that." % (g, 1000 / g if g else 0, med("full", "trivial", "conn_rate"), os.cpu_count()))
    print()
    if have:
        n, c = med("full", "nginx", "server_cpu_ms_per"), med("full", "certkit", "server_cpu_ms_per")
        nr, cr = med("resume", "nginx", "conn_rate"), med("resume", "certkit", "conn_rate")
        print("Targets:")
        print()
        print("- server CPU per full handshake at most nginx's: %.3f vs %.3f ms (%.2fx), %s; "
              "the goal, half of nginx's: %s" % (c, n, c / n, mark(c <= n), mark(c <= n / 2)))
        print("- resumed handshakes at least nginx's rate: %.0f vs %.0f/s, %s" % (cr, nr, mark(cr >= nr)))
        print()
print("### Idle connections and heartbeats")
print()
print("%d mTLS connections opened (256 handshakes in flight at most), one "
      "request each, then held; server RSS growth per connection 1 s after the "
      "last one%s. Then each client sends `POST /api/v1/heartbeat` every 30 s "
      "(random phase; one due while an answer is awaited waits for it, its "
      "latency counted from when it was due) for a %s s window: the server's CPU in %% of one core." % (idle, " " + note if note else "", hbw))
print()
print("| Server | Held | Dropped | RSS per idle connection | Heartbeats/s | Server CPU | p99 heartbeat |")
print("|---|---:|---:|---:|---:|---:|---:|")
for s in servers[1:]:
    h = kv("hold.%s" % s)
    if h:
        print("| %s | %s | %s | %.1f KiB | %.0f | %.2f %% | %.1f ms |" % (label[s], h["up"], h["dropped"],
            float(h["rss_per_conn_kib"]), float(h["req_rate"]), float(h["server_cpu_pct"]), float(h["req_p99_ms"])))
if have and kv("hold.certkit") and kv("hold.nginx"):
    hc, hn = kv("hold.certkit"), kv("hold.nginx")
    print()
    print("- RSS per idle connection at most nginx's: %.1f vs %.1f KiB, %s" % (float(hc["rss_per_conn_kib"]),
        float(hn["rss_per_conn_kib"]), mark(float(hc["rss_per_conn_kib"]) <= float(hn["rss_per_conn_kib"]))))
    print("- heartbeats of %d clients under 5%% of one core: %.2f %%, %s" % (int(hc["up"]),
        float(hc["server_cpu_pct"]), mark(float(hc["server_cpu_pct"]) < 5)))
print()
print("### A flood of %d unknown keys" % flood)
print()
print("100 approved clients send a heartbeat every 100 ms each (8 s); then the same "
      "while %d new self-signed keys connect (32 in flight, one request each). "
      "nginx has no pairing: it refuses them after the handshake (400)." % flood)
print()
print("| Server | p99 alone | p99 during the flood | Ratio | Flood: answers | Flood connections/s |")
print("|---|---:|---:|---:|---|---:|")
for s in servers[1:]:
    a, b, f = kv("calm.%s" % s), kv("busy.%s" % s), kv("flood.%s" % s)
    if a and b and f:
        print("| %s | %.1f ms | %.1f ms | %.2fx | %s 202, %s 4xx, %s 5xx, %s errors | %.0f |" % (label[s],
            float(a["req_p99_ms"]), float(b["req_p99_ms"]), float(b["req_p99_ms"]) / max(float(a["req_p99_ms"]), 0.001),
            f["s202"], f["s4xx"], f["s5xx"], f["errors"], float(f["conn_rate"])))
if have and kv("calm.certkit") and kv("busy.certkit"):
    ratio = float(kv("busy.certkit")["req_p99_ms"]) / max(float(kv("calm.certkit")["req_p99_ms"]), 0.001)
    print()
    print("- approved clients' p99 at most 2x without the flood: %.2fx, %s" % (ratio, mark(ratio <= 2)))
    print("- pending queue within max_pending (%d): %s pending after the flood, %s" % (maxp, pending,
        mark(pending.isdigit() and int(pending) <= maxp)))
print()
print("### What a refused client is told")
print()
print("`curl -sk [--cert stranger.pem --key stranger.key] https://127.0.0.1:PORT/api/v1/status`:")
print()
print("| Server | Client | Status | Content-Type | Body (first 160 bytes) |")
print("|---|---|---|---|---|")
for line in open(os.path.join(work, "refusals.txt")):
    p = line.rstrip("\n").split("|", 4)
    if len(p) == 5:
        print("| %s | %s | %s | %s | `%s` |" % (label[p[0]], p[1], p[2], p[3] or "-", p[4].replace("|", "\\|").replace("`", "'")))
EOF
cat <<'EOF'

Notes (what the figures depend on in certkit serve):

- A client certificate verified once is not verified again (a cache keyed by
  its SHA-256, dropped on any registry, CA or CRL change); OpenSSL still
  parses it in every full handshake, as nginx's does.
- One TLS 1.3 ticket per handshake, naming a session of the server's cache
  (stateful): OpenSSL 3.0 builds a stateless ticket by encoding and parsing
  the session again, client certificate included (about a quarter of a full
  handshake per ticket; nginx sends two), and parses it again on resumption.
  TCP_NODELAY on the listeners: an answer right after a ticket does not wait
  for the client's delayed ACK.
- An approved client's heartbeat is not a log line (presence goes to the
  registry in batches, every second); every other request is logged.
- The registry is followed through its audit rows: a first contact or an
  admin change re-reads the clients it names, not every row. The server's
  own SQLite connections commit with synchronous=NORMAL (WAL); the admin
  tool's stay FULL.
- Approved clients' connections get a higher event priority than new
  handshakes, and the loop polls again after each step of a handshake
  (libevent's max_dispatch_interval), so an approved client's request
  waits for one handshake step at most. The flood ratio still depends most on the CPU left to the
  server while the generator's processes and other jobs share this
  machine's 2 cores.
- Spread seen on 2026-12-07 over three full runs (nearly the same build,
  nginx in brackets): flood ratio 1.79x, 5.77x, 10.71x (3.90x, 3.93x,
  4.59x); heartbeat CPU 6.60, 6.34, 5.67 % (2.53, 3.07, 3.13 %); RSS per
  idle connection 21.6, 19.0, 17.4 KiB (19.4 KiB each time). Of an idle
  connection's memory, about 18 KiB is OpenSSL's (the SSL object alone is
  7.6 KiB), 1.5 KiB libevent's (bufferevent, evhttp connection and its
  next request) and about 1 KiB certkit's caches of the client (registry
  row, verification result).
EOF
cat <<EOF

Commands (\`sh bench/serve.sh BUILD WORK\`; PKI, configurations and
binaries are generated in WORK; PORT and PID are the server's):

\`\`\`
cc -O2 bench/mtls_load.c -levent_openssl -levent -lssl -lcrypto -o mtls_load
cc -O2 bench/trivial_tls.c -levent_openssl -levent -lssl -lcrypto -o trivial_tls
mtls_load -p PORT -P PID -m full   -c 16 -w 1 -t 4 -G ca.pem:ca.key -N 100
mtls_load -p PORT -P PID -m resume -c 16 -w 1 -t 4 -G ca.pem:ca.key -N 100
mtls_load -p PORT -P PID -m hold -c $IDLE -i 30 -t $HB_WINDOW -G ca.pem:ca.key -N $IDLE
mtls_load -p PORT -P PID -m hold -c 100 -i 0.1 -t 8 -G ca.pem:ca.key -N 100   # alone, then with:
mtls_load -p PORT -P PID -m full -c 32 -n $FLOOD -G self -N $FLOOD
nginx: worker_processes 1; ssl_protocols TLSv1.2 TLSv1.3; ssl_verify_client on;
       ssl_client_certificate ca.pem; location / { return 200 ...; }
certkit.conf [server]: identity = p12, client_policy = trusted-ca+pairing,
       client_ca = ca.pem, max_pending = $MAX_PENDING; certkit serve --listen 127.0.0.1:PORT
\`\`\`
EOF
