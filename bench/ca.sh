#!/bin/sh
# bench/ca.sh BUILD WORK: the issuing CA (lib/ca, issue 11).
#  - CRL rebuild with 10,000 revoked entries (ck_ca_crl: build, sort, sign,
#    encode, the CRL number file), against `openssl ca -gencrl` on the same
#    10,000 entries (its index.txt) in the same run. Target: < 100 ms.
#  - issuance rate of ck_ca_issue (one CSR, 1,000 certificates).
# Each figure is the best of RUNS runs (the machine is shared and noisy).
set -eu
build=$(cd "$1" && pwd)
work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
N=10000

echo "ca: building bench/ca_crl.c" >&2
# shellcheck disable=SC2046
cc -O2 -I"$src/include" -o "$work/ca_crl" "$src/bench/ca_crl.c" \
	"$build/libcertkit_static.a" \
	$(pkg-config --libs jansson libevent libevent_openssl inih sqlite3) \
	-lssl -lcrypto -lpthread
set -- $("$work/ca_crl" "$work" $N "$RUNS" | awk '{ printf "%s %s ", $2, $3 }')
ck_ms=$1 ck_bytes=$2 issue_rate=$3

echo "ca: openssl ca -gencrl on $N entries" >&2
o="$work/ossl"
mkdir -p "$o"
exp=$(date -u -d '+1 day' +%y%m%d%H%M%SZ)
rev=$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)
awk -v n=$N -v ex="$exp" -v rev="$rev" 'BEGIN {
	for (i = 0; i < n; i++)
		printf "R\t%s\t%s,%s\t4%031X\tunknown\t/CN=c%d\n", ex, rev,
		    (i % 2) ? "keyCompromise" : "unspecified", i * 2654435761 % 4294967296, i
}' >"$o/index.txt"
echo 1000 >"$o/crlnumber"
cat >"$o/ca.cnf" <<CNF
[ ca ]
default_ca = d
[ d ]
database = $o/index.txt
crlnumber = $o/crlnumber
certificate = $work/ca/ca.pem
private_key = $work/ca/ca.key
default_md = sha256
default_crl_days = 1
unique_subject = no
CNF
best=""
i=0
while [ $i -lt "$RUNS" ]; do
	t0=$(date +%s%N)
	openssl ca -config "$o/ca.cnf" -gencrl -out "$o/crl.pem" 2>/dev/null
	t1=$(date +%s%N)
	ms=$(( (t1 - t0) / 1000000 ))
	if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
	i=$((i + 1))
done
ossl_count=$(openssl crl -in "$o/crl.pem" -noout -text | grep -c 'Serial Number')
met=$(awk -v a="$ck_ms" 'BEGIN { print (a < 100) ? "met" : "NOT met" }')
ratio=$(awk -v a="$best" -v b="$ck_ms" 'BEGIN { printf "%.1f", a / b }')

cat <<MD
## certkit ca: CRL of 10,000 revoked certificates, issuance

\`ck_ca_crl\` (lib/ca/ca_crl.c) building, sorting, signing (EC P-256) and
encoding a CRL of $N revoked entries, the CRL number file included, in one
process; peer: \`openssl ca -gencrl\` on the same $N entries (its index.txt;
a process start and the index parse included, $ossl_count entries out).
Best of $RUNS runs.

| run | time | CRL size |
|---|---|---|
| \`ck_ca_crl\`, $N entries | $ck_ms ms | $ck_bytes bytes |
| \`openssl ca -gencrl\`, $N entries | $best ms | $(wc -c <"$o/crl.pem") bytes (PEM) |

certkit is ${ratio}x faster than \`openssl ca -gencrl\`.

Target: a rebuild with 10,000 entries under 100 ms: $ck_ms ms, $met.

Issuance: \`ck_ca_issue\` signs $issue_rate client certificates per second
(one thread; the CSR's signature verified each time; EC P-256 CA).

Commands (\`sh bench/ca.sh BUILD WORK\`):

\`\`\`
cc -O2 -Iinclude bench/ca_crl.c BUILD/libcertkit_static.a ... -o ca_crl
./ca_crl WORK $N $RUNS
openssl ca -config ca.cnf -gencrl -out crl.pem    # index.txt with $N R lines
\`\`\`
MD
