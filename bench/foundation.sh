#!/bin/sh
# bench/foundation.sh BUILD WORK: certkit verify and certkit show (issue 2).
#  - verify: 10,000 leaves in ONE `certkit verify --each` call, against
#    bench/verify_loop.c (a bare X509_verify_cert loop with the same
#    parameters) on the same leaves in the same run. Target: <= 10% overhead.
#  - show: bundles of 1,000 and 10,000 certificates. Target: linear cost.
# Each figure is the best of RUNS runs (the machine is shared and noisy).
set -eu
build=$1 work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
certkit="$build/certkit"
RUNS=${RUNS:-3}
at=2026-06-01T00:00:00Z
epoch=1780272000

# best_ms CMD...: the fastest of $RUNS runs, in milliseconds.
best_ms() {
	best=""
	i=0
	while [ $i -lt "$RUNS" ]; do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000000 ))
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
		i=$((i + 1))
	done
	echo "$best"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "foundation: generating 10,000 leaves" >&2
mkdir -p "$work/pki10k" "$work/pki1k"
"$build/tests/mkpki" --leaves 10000 "$work/pki10k" >/dev/null
"$build/tests/mkpki" --leaves 1000 "$work/pki1k" >/dev/null
cc -O2 -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -o "$work/verify_loop" \
	"$src/bench/verify_loop.c" -lcrypto

p=$work/pki10k
echo "foundation: verify" >&2
loop=$(best_ms "$work/verify_loop" "$p/root-ca.pem" "$p/int-ca.pem" "$p/many-leaves.pem" $epoch)
quiet=$(best_ms "$certkit" verify --each --quiet --at $at --roots "$p/root-ca.pem" \
	--untrusted "$p/int-ca.pem" "$p/many-leaves.pem")
text=$(best_ms "$certkit" verify --each --at $at --roots "$p/root-ca.pem" \
	--untrusted "$p/int-ca.pem" "$p/many-leaves.pem")
json=$(best_ms "$certkit" verify --each --json --at $at --roots "$p/root-ca.pem" \
	--untrusted "$p/int-ca.pem" "$p/many-leaves.pem")
# --policy strict (issue 13), once the verifier has it: target 1.25x.
strict_row=""
if "$certkit" verify --help 2>&1 | grep -q -- '--policy'; then
	strict=$(best_ms "$certkit" verify --each --policy strict --at $at \
		--roots "$p/root-ca.pem" --untrusted "$p/int-ca.pem" "$p/many-leaves.pem")
	strict_row="| \`certkit verify --each --policy strict\` (text report) | $strict ms | $(ratio "$strict" "$loop") |"
fi

echo "foundation: show" >&2
cat "$work/pki1k/many-leaves.pem" "$work/pki1k/int-ca.pem" >"$work/b1k.pem"
cat "$p/many-leaves.pem" "$p/int-ca.pem" >"$work/b10k.pem"
s1=$(best_ms "$certkit" show --at $at "$work/b1k.pem")
s10=$(best_ms "$certkit" show --at $at "$work/b10k.pem")
j1=$(best_ms "$certkit" show --json --at $at "$work/b1k.pem")
j10=$(best_ms "$certkit" show --json --at $at "$work/b10k.pem")

cat <<EOT
## certkit verify: 10,000 leaves in one call

Peer: \`bench/verify_loop.c\`, a bare libcrypto \`X509_verify_cert\` loop with the
same parameters (anchors, intermediate, time, server purpose, auth level 2).
Targets: \`--each\` with a text or JSON report at most 1.10x the bare loop;
with \`--policy strict\` at most 1.25x (its row appears once the verifier has
the option).

| run | best of $RUNS | ratio to the bare loop |
|---|---|---|
| bare \`X509_verify_cert\` loop | $loop ms | 1.00 |
| \`certkit verify --each --quiet\` | $quiet ms | $(ratio "$quiet" "$loop") |
| \`certkit verify --each\` (text report) | $text ms | $(ratio "$text" "$loop") |
| \`certkit verify --each --json\` | $json ms | $(ratio "$json" "$loop") |
$strict_row

Commands:

    mkpki --leaves 10000 DIR
    verify_loop DIR/root-ca.pem DIR/int-ca.pem DIR/many-leaves.pem $epoch
    certkit verify --each [--quiet|--json] --at $at --roots DIR/root-ca.pem \\
        --untrusted DIR/int-ca.pem DIR/many-leaves.pem

## certkit show: linear cost

| bundle | text | JSON |
|---|---|---|
| 1,000 certificates | $s1 ms | $j1 ms |
| 10,000 certificates | $s10 ms | $j10 ms |
| ratio 10k / 1k (linear: 10) | $(ratio "$s10" "$s1") | $(ratio "$j10" "$j1") |

Command: \`certkit show [--json] --at $at BUNDLE\` on \`many-leaves.pem\` plus its
intermediate, 1,000 and 10,000 leaves (\`mkpki --leaves N\`).
EOT
