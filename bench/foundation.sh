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
# The verify figures are CPU time (user + system, from /usr/bin/time) as
# well as wall time: on a loaded machine the wall time of a CPU-bound run
# measures the other tenants. The runs are interleaved, round by round, so
# that a busy spell hits every command alike; each figure is the best.
vargs="--at $at --roots $p/root-ca.pem --untrusted $p/int-ca.pem $p/many-leaves.pem"
strict_ok=false
if "$certkit" verify --help 2>&1 | grep -q -- '--policy'; then strict_ok=true; fi
# run_v NAME CMD...: one run; keeps the best wall and CPU ms in
# $work/NAME.wall and $work/NAME.cpu.
run_v() {
	name=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$work/t.$$" "$@" >/dev/null 2>&1 || true
	# shellcheck disable=SC2046 # three numbers, split on purpose
	set -- $(tail -n 1 "$work/t.$$")
	w=$(awk -v e="$1" 'BEGIN { printf "%d", e * 1000 }')
	c=$(awk -v u="$2" -v s="$3" 'BEGIN { printf "%d", (u + s) * 1000 }')
	for k in wall cpu; do
		v=$w
		[ $k = cpu ] && v=$c
		if [ ! -s "$work/$name.$k" ] || [ "$v" -lt "$(cat "$work/$name.$k")" ]; then
			echo "$v" >"$work/$name.$k"
		fi
	done
}
i=0
while [ $i -lt "$RUNS" ]; do
	run_v loop "$work/verify_loop" "$p/root-ca.pem" "$p/int-ca.pem" "$p/many-leaves.pem" $epoch
	# shellcheck disable=SC2086
	run_v quiet "$certkit" verify --each --quiet $vargs
	# shellcheck disable=SC2086
	run_v text "$certkit" verify --each $vargs
	# shellcheck disable=SC2086
	run_v json "$certkit" verify --each --json $vargs
	# shellcheck disable=SC2086
	$strict_ok && run_v strict "$certkit" verify --each --policy strict $vargs
	i=$((i + 1))
done
row() { # row NAME LABEL
	echo "| $2 | $(cat "$work/$1.cpu") ms | $(ratio "$(cat "$work/$1.cpu")" "$(cat "$work/loop.cpu")") | $(cat "$work/$1.wall") ms | $(ratio "$(cat "$work/$1.wall")" "$(cat "$work/loop.wall")") |"
}
strict_row=""
if $strict_ok; then
	strict_row=$(row strict '`certkit verify --each --policy strict` (text report)')
fi
load=$(cut -d' ' -f1-3 /proc/loadavg)

# Instructions executed (valgrind's callgrind), on 1,000 leaves: the same
# count on every run, whatever the load. Skipped without valgrind.
instr_table=""
if command -v valgrind >/dev/null 2>&1; then
	q=$work/pki1k
	qargs="--at $at --roots $q/root-ca.pem --untrusted $q/int-ca.pem $q/many-leaves.pem"
	# instr NAME CMD...: the instruction count of one run.
	instr() {
		name=$1
		shift
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" \
			>/dev/null 2>"$work/cg.$name" || true
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/cg.$name"
	}
	echo "foundation: instruction counts (callgrind)" >&2
	iloop=$(instr loop "$work/verify_loop" "$q/root-ca.pem" "$q/int-ca.pem" "$q/many-leaves.pem" $epoch)
	# shellcheck disable=SC2086
	itext=$(instr text "$certkit" verify --each $qargs)
	# shellcheck disable=SC2086
	ijson=$(instr json "$certkit" verify --each --json $qargs)
	istrict=""
	# shellcheck disable=SC2086
	$strict_ok && istrict=$(instr strict "$certkit" verify --each --policy strict $qargs)
	irow() { echo "| $1 | $2 | $(ratio "$2" "$iloop") |"; }
	instr_table="| run (1,000 leaves) | instructions | ratio |
|---|---|---|
$(irow 'bare loop' "$iloop")
$(irow '`--each` (text report)' "$itext")
$(irow '`--each --json`' "$ijson")"
	[ -n "$istrict" ] && instr_table="$instr_table
$(irow '`--each --policy strict`' "$istrict")"
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
the option). The machine is shared: wall time measures the other tenants
too, and CPU time (user + system) still moves with their load (caches, SMT);
the instruction counts below (callgrind, 1,000 leaves) are the same on every
run and are the figure to compare across runs.

| run | CPU, best of $RUNS | ratio (CPU) | wall, best of $RUNS | ratio (wall) |
|---|---|---|---|---|
$(row loop 'bare `X509_verify_cert` loop')
$(row quiet '`certkit verify --each --quiet`')
$(row text '`certkit verify --each` (text report)')
$(row json '`certkit verify --each --json`')
$strict_row

Load average during the timed runs: $load (on $(nproc) cores).

$instr_table

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
