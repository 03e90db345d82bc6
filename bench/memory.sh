#!/bin/sh
# bench/memory.sh BUILD WORK: peak memory and time of `certkit show` on large
# inputs (issue 8): 10,000 and 25,000 (the most one input may hold) small EC
# leaves from `mkpki --leaves`, the worst case per byte, and a refused file of
# 60,000 (47 MB, the size of the file in the issue). Peer: bench/x509_hold.c, a bare libcrypto loop that keeps every
# X509 of the file (the floor for any tool that analyses it as one chain),
# run on the same file in the same run. Targets: peak RSS at most 8 times
# the input beyond one certificate's run, at most 512 MiB; time linear.
# Peak RSS by tests/mem/peakrss.c (getrusage); best of RUNS for times.
set -eu
build=$1 work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
certkit="$build/certkit"
RUNS=${RUNS:-3}
at=2026-06-01T00:00:00Z

cc -O2 -o "$work/peakrss" "$src/tests/mem/peakrss.c"
cc -O2 -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -o "$work/x509_hold" \
	"$src/bench/x509_hold.c" -lcrypto

# measure CMD...: best wall ms of $RUNS and the peak RSS (KiB) of the last.
measure() {
	best=""
	i=0
	while [ $i -lt "$RUNS" ]; do
		t0=$(date +%s%N)
		"$work/peakrss" "$work/rss" "$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000000 ))
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
		i=$((i + 1))
	done
	echo "$best $(cat "$work/rss")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
kib() { echo $(( $(wc -c <"$1") / 1024 )); }

echo "memory: generating 60,000 leaves" >&2
mkdir -p "$work/pki"
"$build/tests/mkpki" --leaves 60000 "$work/pki" >/dev/null
awk '/BEGIN/ { c++ } c <= 9999' "$work/pki/many-leaves.pem" >"$work/b10k.pem"
awk '/BEGIN/ { c++ } c <= 24999' "$work/pki/many-leaves.pem" >"$work/b25k.pem"
awk '/BEGIN/ { c++ } c <= 59999' "$work/pki/many-leaves.pem" >"$work/b60k.pem"
cat "$work/pki/int-ca.pem" >>"$work/b10k.pem"
cat "$work/pki/int-ca.pem" >>"$work/b25k.pem"
cat "$work/pki/int-ca.pem" >>"$work/b60k.pem"

set -- $(measure "$certkit" show --at $at "$work/pki/leaf.pem")
one=$2
rows=""
for n in 10k 25k; do
	f=$work/b$n.pem
	in=$(kib "$f")
	set -- $(measure "$work/x509_hold" "$f"); fms=$1 frss=$2
	set -- $(measure "$certkit" show --at $at "$f"); tms=$1 trss=$2
	set -- $(measure "$certkit" show --json --at $at "$f"); jms=$1 jrss=$2
	rows="$rows| $n certificates, $in KiB | $frss KiB, $fms ms | $trss KiB ($(ratio $((trss - one)) "$in")x), $tms ms | $jrss KiB ($(ratio $((jrss - one)) "$in")x), $jms ms | $(ratio "$trss" "$frss") |
"
done
in=$(kib "$work/b60k.pem")
set -- $(measure "$certkit" show --at $at "$work/b60k.pem"); rms=$1 rrss=$2

cat <<EOT
## certkit show: memory of one large input

Peer: \`bench/x509_hold.c\`, a bare libcrypto loop that keeps every
certificate of the file (the floor). Inputs: \`mkpki --leaves N\` small EC
leaves plus their intermediate (about 800 bytes of PEM each, the most memory
per byte). Targets: peak RSS at most 8 times the input beyond the run on one
certificate ($one KiB), and at most 512 MiB for any input.

| input | bare X509 loop | \`show\` (x input beyond one cert) | \`show --json\` | show / loop |
|---|---|---|---|---|
$rows| 60,000 certificates, $in KiB (the issue's 47 MB) | | refused (exit 2): $rrss KiB, $rms ms | | |

Command: \`certkit show [--json] --at $at FILE\`; peak RSS from getrusage
(tests/mem/peakrss.c), times best of $RUNS.
EOT
