#!/bin/sh
# bench/doctor.sh BUILD_DIR WORKDIR: certkit doctor on 1,000 distinct
# endpoints (1,000 names served over SNI by one nginx on 127.0.0.1 with a
# wildcard certificate), against, in the same run:
#   - the floor: bench/floor.c, handshake + chain/name verification only,
#     with the same concurrency (the physical limit of this job here);
#   - a shell loop of `openssl s_client -verify_return_error
#     -verify_hostname` (on a sample, extrapolated per endpoint);
#   - testssl.sh -S (on a sample of 1) and sslscan (on a sample of 2);
# and the doctor's peak RSS at 100 and 1,000 endpoints (/usr/bin/time -v).
# Prints one Markdown section (bench/run.sh contract); progress on stderr.
# Every command runs under `timeout`; only 127.0.0.1 is used.
set -eu
build=$(cd "$1" && pwd)
work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
CERTKIT=$build/certkit
N=${DOCTOR_BENCH_N:-1000}
J=32
SAMPLE=${DOCTOR_BENCH_SAMPLE:-50}
mkdir -p "$work"
cd "$work"
log() { echo "bench doctor: $*" >&2; }
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "## certkit doctor"; echo; echo "nginx not found: skipped."; exit 0; }

# ---- the PKI: a root and a wildcard leaf for *.bench.test ---------------------
log "making the PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout root.key -out root.pem -days 30 -subj "/CN=certkit bench root" \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout leaf.key -out leaf.csr -subj "/CN=*.bench.test" 2>/dev/null
printf 'subjectAltName=DNS:*.bench.test\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA root.pem -CAkey root.key -CAcreateserial \
	-days 30 -extfile leaf.ext -out leaf.pem 2>/dev/null

# ---- the server ------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
mkdir -p nginx
cat >nginx/nginx.conf <<EOF
user root;
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  ssl_session_cache off;
  ssl_session_tickets off;
  server {
    listen 127.0.0.1:$PORT ssl;
    server_name *.bench.test;
    ssl_certificate $work/leaf.pem;
    ssl_certificate_key $work/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 204; }
  }
}
EOF
timeout 900 "$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>nginx/stderr &
NPID=$!
trap 'kill $NPID 2>/dev/null; wait $NPID 2>/dev/null || true' EXIT INT TERM
i=0
until openssl s_client -connect "127.0.0.1:$PORT" -servername e1.bench.test </dev/null >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "nginx did not start:" >&2; cat nginx/stderr nginx/error.log >&2; exit 1; }
	sleep 0.1
done

# ---- the endpoints: N distinct names, all at 127.0.0.1 ----------------------------
mkprofile() {
	awk -v n="$1" -v port="$PORT" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "[e%05d]\nhost = e%05d.bench.test\nport = %d\naddress = 127.0.0.1\n", i, i, port
	}' >"$2"
}
mkprofile "$N" bench.ini
mkprofile 100 bench100.ini
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "e%05d.bench.test\n", i }' >names.txt

# ---- certkit doctor and the floor, interleaved ----------------------------------
# The machine is shared and noisy: alternate the two, 5 runs each, so both
# see the same conditions, and compare medians.
DOCTOR="$CERTKIT doctor --profile bench.ini --trust root.pem --reference root.pem --parallel $J --json"
cc -O2 -Wall -o floor "$src/bench/floor.c" -lssl -lcrypto
runs="" fruns=""
for r in 1 2 3 4 5; do
	log "run $r: doctor and floor on $N endpoints"
	t0=$(now)
	timeout 300 $DOCTOR >doctor.json || { echo "doctor failed (exit $?)" >&2; exit 1; }
	t1=$(now)
	runs="$runs $(ms "$t0" "$t1")"
	t0=$(now)
	timeout 300 ./floor -c root.pem -p "$PORT" -n names.txt -j "$J" >floor.out ||
		{ echo "floor failed: $(cat floor.out)" >&2; exit 1; }
	t1=$(now)
	fruns="$fruns $(ms "$t0" "$t1")"
done
# The median of the 5: robust to one lucky or one disturbed run.
doctor_ms=$(echo "$runs" | tr ' ' '\n' | grep . | sort -n | sed -n 3p)
floor_ms=$(echo "$fruns" | tr ' ' '\n' | grep . | sort -n | sed -n 3p)
online=$(python3 -c 'import json,sys; print(json.load(open("doctor.json"))["summary"]["online"])')
[ "$online" = "$N" ] || { echo "doctor: only $online of $N online" >&2; exit 1; }

# ---- memory: 100 vs N endpoints -----------------------------------------------------------
log "peak RSS"
rss() {
	/usr/bin/time -v timeout 300 "$CERTKIT" doctor --profile "$1" --trust root.pem \
		--reference root.pem --parallel $J --json >/dev/null 2>time.err || true
	awk -F': ' '/Maximum resident set size/ { print $2 }' time.err
}
rss100=$(rss bench100.ini)
rssN=$(rss bench.ini)

# ---- openssl s_client loop on a sample -------------------------------------------------------
log "s_client loop on $SAMPLE endpoints"
t0=$(now)
i=1
while [ $i -le "$SAMPLE" ]; do
	h=$(printf 'e%05d.bench.test' $i)
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername "$h" \
		-verify_return_error -verify_hostname "$h" -CAfile root.pem \
		</dev/null >/dev/null 2>&1 || { echo "s_client failed on $h" >&2; exit 1; }
	i=$((i + 1))
done
t1=$(now)
sclient_ms=$(ms "$t0" "$t1")

# ---- testssl.sh and sslscan on samples ---------------------------------------------------------
testssl_ms=""
if command -v testssl >/dev/null 2>&1; then
	log "testssl -S on 1 endpoint"
	t0=$(now)
	timeout 600 testssl --quiet --color 0 --warnings off -S --ip 127.0.0.1 \
		--add-ca "$work/root.pem" "https://e00001.bench.test:$PORT" >testssl.out 2>&1 || true
	t1=$(now)
	testssl_ms=$(ms "$t0" "$t1")
fi
sslscan_ms=""
if command -v sslscan >/dev/null 2>&1; then
	log "sslscan on 2 endpoints"
	t0=$(now)
	for h in e00001.bench.test e00002.bench.test; do
		timeout 120 sslscan --no-colour --sni-name="$h" "127.0.0.1:$PORT" >sslscan.out 2>&1 || true
	done
	t1=$(now)
	sslscan_ms=$(($(ms "$t0" "$t1") / 2))
fi

# ---- the section --------------------------------------------------------------------------------
python3 - "$N" "$J" "$doctor_ms" "$floor_ms" "$sclient_ms" "$SAMPLE" "${testssl_ms:-}" \
	"${sslscan_ms:-}" "$rss100" "$rssN" "$runs" "$fruns" <<'EOF'
import sys
n, j = int(sys.argv[1]), int(sys.argv[2])
doc, flo, scl, sample = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
tss = float(sys.argv[7]) if sys.argv[7] else None
ssc = float(sys.argv[8]) if sys.argv[8] else None
r100, rn = int(sys.argv[9]), int(sys.argv[10])
doc_per = doc / n
rate = n / (doc / 1000)
flo_rate = n / (flo / 1000)
scl_per = scl / sample
def mark(ok): return "met" if ok else "**missed**"
print("## certkit doctor: %d endpoints" % n)
print()
print("%d distinct names (`eNNNNN.bench.test`) served over SNI by one nginx "
      "(1 worker, TLS 1.3, ECDSA P-256 wildcard certificate) on 127.0.0.1; "
      "%d connections in flight; median of 5 interleaved runs for certkit and the floor "
      "(runs: certkit%s ms, floor%s ms)." % (n, j, sys.argv[11], sys.argv[12]))
print()
print("| Tool | Endpoints measured | Wall time | Per endpoint | Endpoints/s | certkit is |")
print("|---|---|---|---|---|---|")
print("| certkit doctor (full diagnosis, JSON report) | %d | %.0f ms | %.2f ms | %.0f | - |" % (n, doc, doc_per, rate))
print("| floor (bench/floor.c: handshake + verification only) | %d | %.0f ms | %.2f ms | %.0f | %.2fx the floor's time |" % (n, flo, flo / n, flo_rate, doc / flo))
print("| `openssl s_client` shell loop | %d (sample) | %.0f ms | %.2f ms | %.0f | %.1fx faster |" % (sample, scl, scl_per, 1000 / scl_per, scl_per / doc_per))
if tss is not None:
    print("| testssl.sh `-S` | 1 (sample) | %.0f ms | %.0f ms | %.3f | %.0fx faster |" % (tss, tss, 1000 / tss, tss / doc_per))
if ssc is not None:
    print("| sslscan | 2 (sample) | %.0f ms | %.0f ms | %.2f | %.0fx faster |" % (ssc * 2, ssc, 1000 / ssc, ssc / doc_per))
print()
print("Peak RSS of `certkit doctor`: %d KiB at 100 endpoints, %d KiB at %d "
      "(%.2fx for 10x the endpoints)." % (r100, rn, n, rn / r100))
print()
print("Targets:")
print()
print("- at least 500 endpoints/s: %.0f/s, %s" % (rate, mark(rate >= 500)))
print("- at least 7x the `s_client` loop: %.1fx, %s" % (scl_per / doc_per, mark(scl_per / doc_per >= 7)))
if tss is not None:
    print("- at least 1,000x testssl.sh per endpoint: %.0fx, %s" % (tss / doc_per, mark(tss / doc_per >= 1000)))
print("- within 30%% of the floor: certkit's time is %.2fx the floor's, %s" % (doc / flo, mark(doc <= flo * 1.3)))
print("- flat memory: %.2fx the RSS for 10x the endpoints, %s" % (rn / r100, mark(rn <= r100 * 1.5)))
EOF
cat <<EOF

Commands (\`sh bench/doctor.sh BUILD WORK\`; PORT is a free port, the PKI
and profiles are generated in WORK):

\`\`\`
$DOCTOR
./floor -c root.pem -p PORT -n names.txt -j $J        # cc -O2 bench/floor.c -lssl -lcrypto
for h in e00001.bench.test ...: openssl s_client -connect 127.0.0.1:PORT -servername \$h \\
    -verify_return_error -verify_hostname \$h -CAfile root.pem </dev/null
testssl --quiet --color 0 --warnings off -S --ip 127.0.0.1 --add-ca root.pem https://e00001.bench.test:PORT
sslscan --no-colour --sni-name=e00001.bench.test 127.0.0.1:PORT
/usr/bin/time -v certkit doctor --profile bench100.ini ...   # and bench.ini, for peak RSS
\`\`\`
EOF
