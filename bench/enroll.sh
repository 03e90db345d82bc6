#!/bin/sh
# bench/enroll.sh BUILD_DIR WORKDIR: enrollments per second issued by
# `certkit serve` under client_policy = trusted-ca (each request: parse and
# check the CSR, record the client, sign, record the certificate, answer
# PKCS#7), against GET /healthz on the same server and connections as the
# floor (TLS, HTTP, curl), measured side by side.
#
# P curl processes, each sending R requests over one keep-alive TLS
# connection (--next), so the figure is the server's work, not handshakes.
# Bounded: 4 x 100 requests per case, a 120 s limit per case.
set -eu
build=$(cd "$1" && pwd)
work=$2
ck="$build/certkit"
H="$work/home"
P=4
R=100
mkdir -p "$H"
export CERTKIT_HOME="$H"
unset CERTKIT_FAULT NOTIFY_SOCKET

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/mfg.key" -out "$H/mfg.pem" -subj "/CN=Maker CA" -days 30 \
    -addext basicConstraints=critical,CA:true \
    -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/boot.key" -subj "/CN=boot" -out "$work/boot.csr" 2>/dev/null
printf 'extendedKeyUsage = clientAuth\n' >"$work/ext"
openssl x509 -req -in "$work/boot.csr" -CA "$H/mfg.pem" -CAkey "$work/mfg.key" \
    -CAcreateserial -days 30 -extfile "$work/ext" -out "$work/boot.pem" 2>/dev/null
printf '[server]\nclient_policy = trusted-ca\nclient_ca = mfg.pem\nmax_pending = 100000\n' \
    >"$H/certkit.conf"
"$ck" identity init >/dev/null 2>&1
"$ck" registry migrate >/dev/null
"$ck" ca init >/dev/null
echo "bench enroll: $((P * R)) CSRs" >&2
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$work/dev.key" 2>/dev/null
i=0
while [ $i -lt $((P * R)) ]; do
	# One key, many subjects would be one client: a key per CSR.
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout /dev/null -subj "/CN=dev-$i" -outform DER 2>/dev/null |
	    base64 >"$work/c$i.b64"
	i=$((i + 1))
done

mkfifo "$work/ready"
"$ck" serve --listen 127.0.0.1:0 --ready-fd 3 3>"$work/ready" 2>"$work/log" &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT INT TERM
port=$(timeout 10 sed -n 's/^READY=1 listen=127.0.0.1:\([0-9]*\)$/\1/p' "$work/ready")
[ -n "$port" ] || { echo "bench enroll: serve did not start" >&2; exit 1; }
url="https://127.0.0.1:$port"

# run CASE: P workers of R requests each; prints the elapsed ms.
run() {
	w=0
	while [ $w -lt $P ]; do
		: >"$work/args$w"
		j=0
		while [ $j -lt $R ]; do
			n=$((w * R + j))
			[ $j -gt 0 ] && echo "--next" >>"$work/args$w"
			if [ "$1" = enroll ]; then
				printf -- '-o\n/dev/null\n-w\n%%{http_code}\\n\n--data-binary\n@%s\n-H\nContent-Type: application/pkcs10\n%s\n' \
				    "$work/c$n.b64" "$url/.well-known/est/simpleenroll" >>"$work/args$w"
			else
				printf -- '-o\n/dev/null\n-w\n%%{http_code}\\n\n%s\n' "$url/healthz" >>"$work/args$w"
			fi
			printf -- '-sk\n--cert\n%s\n--key\n%s\n' "$work/boot.pem" "$work/boot.key" >>"$work/args$w"
			j=$((j + 1))
		done
		w=$((w + 1))
	done
	t0=$(date +%s%N)
	w=0
	pids=""
	while [ $w -lt $P ]; do
		tr '\n' '\0' <"$work/args$w" | timeout 120 xargs -0 curl >"$work/codes$w" &
		pids="$pids $!"
		w=$((w + 1))
	done
	# A curl that failed is counted below (not 200), not a stop of the run.
	for p in $pids; do wait "$p" || true; done
	t1=$(date +%s%N)
	cat "$work"/codes* | grep -vc '^200$' >"$work/bad" || true
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'
}
echo "bench enroll: GET /healthz" >&2
floor=$(run healthz)
echo "bench enroll: simpleenroll" >&2
enr=$(run enroll)
bad=$(cat "$work/bad")
issued=$(sqlite3 "$H/server/registry.db" 'SELECT count(DISTINCT serial) FROM certs' 2>/dev/null || echo "?")
kill $spid 2>/dev/null || true
n=$((P * R))

cat <<MD
## certkit serve: enrollments per second (EST, trusted-ca)

$n EST \`simpleenroll\` requests (a new EC P-256 key each, so $n new clients)
under \`client_policy = trusted-ca\`, sent by $P curl processes over one
keep-alive TLS connection each with a bootstrap certificate of a \`client_ca\`:
each is parsed, checked, recorded approved, signed by the issuing CA (EC P-256),
recorded with its unique serial in the SQLite registry and answered as PKCS#7.
The floor is \`GET /healthz\` over the same connections.

| | requests | wall ms | per second | ms per request |
|---|---|---|---|---|
| GET /healthz (floor) | $n | $floor | $(awk -v n=$n -v t="$floor" 'BEGIN { printf "%.0f", n * 1000 / t }') | $(awk -v n=$n -v t="$floor" 'BEGIN { printf "%.2f", t / n }') |
| simpleenroll, issued | $n | $enr | $(awk -v n=$n -v t="$enr" 'BEGIN { printf "%.0f", n * 1000 / t }') | $(awk -v n=$n -v t="$enr" 'BEGIN { printf "%.2f", t / n }') |

Ratio enrollment / floor: $(awk -v a="$enr" -v b="$floor" 'BEGIN { printf "%.1f", a / b }')x.
Answers other than 200: $bad. Distinct serials recorded: $issued of $n.
Each enrollment is three registry write transactions (the client, the
request, the certificate) and one signature (EC P-256) on the server's
event loop; the floor is the same connections' request round trip, so the
enrollment's own cost is the difference between the two rows.

Command: \`sh bench/enroll.sh BUILD WORKDIR\` (part of \`make bench\`).
MD
