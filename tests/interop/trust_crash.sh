#!/bin/sh
# trust_crash.sh: a change of many trust anchors is all or nothing, wherever
# certkit dies (lib/trust/trust_journal.c).
#
# A `trust add` of 1,000 certificates (and a `trust remove`) is killed at
# every named step (CERTKIT_TRUST_CRASH_AT makes certkit _exit(9) there, as
# kill -9 would) and with kill -9 at moments spread over the change. Then:
#   - the next certkit command (a reader: trust list) finds the unfinished
#     change, rolls it back and says so;
#   - the store is entirely old or entirely new: anchors/ holds 1 or 1,001
#     anchors, out/ca-bundle.pem holds the system root plus exactly those,
#     and no journal or set-aside file is left;
#   - re-running the same command succeeds and gives the whole new store.
# Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
PKI=$CERTKIT_TEST_PKI
N=1000
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-tcrash.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export SSL_CERT_FILE="$PKI/other-root.pem"
unset CERTKIT_FAULT CERTKIT_TRUST_CRASH_AT CERTKIT_TRUST_SLEEP_AFTER
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

# N distinct CA certificates (one key; only the subject differs) in one file.
openssl ecparam -name prime256v1 -genkey -noout -out "$work/k.pem" 2>/dev/null
i=0
while [ $i -lt $N ]; do
	i=$((i + 1))
	openssl req -x509 -new -key "$work/k.pem" -subj "/O=crash test/CN=bulk $i" \
	    -days 3650 -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
done >"$work/bulk.pem"
[ "$(grep -c BEGIN "$work/bulk.pem")" = $N ] || { echo "could not make $N certificates"; exit 1; }

tpl="$work/tpl"
"$CERTKIT" --home "$tpl" trust add "$PKI/root-ca.pem" >/dev/null 2>&1 || { echo "setup failed"; exit 1; }

# check_whole HOME LABEL: one of the two states, nothing left over.
check_whole() {
	h=$1 label=$2
	"$CERTKIT" --home "$h" trust list --source custom --json >"$work/list" 2>"$work/list.err"
	listed=$(grep -o '"alias"' "$work/list" | wc -l)
	na=$(ls "$h/trust/anchors" | wc -l)
	nb=$(grep -c BEGIN "$h/trust/out/ca-bundle.pem")
	left=$(find "$h/trust" -name '.journal*' -o -name '*.removed' -o -name '*.tmp.*' | wc -l)
	why=""
	[ "$na" = 1 ] || [ "$na" = $((N + 1)) ] || why="$na anchors (neither 1 nor $((N + 1)))"
	[ "$listed" = "$na" ] || why="$why; list shows $listed, anchors/ has $na"
	[ "$nb" = $((na + 1)) ] || why="$why; the bundle holds $nb certificates for $na anchors"
	[ "$left" = 0 ] || why="$why; $left journal/temporary files left"
	if [ -z "$why" ]; then ok "$label: whole ($na anchors)"; else bad "$label: $why"; fi
}

# check_rerun HOME LABEL: the same add again succeeds; the store is new.
check_rerun() {
	h=$1 label=$2
	if timeout 100 "$CERTKIT" --home "$h" trust add --alias bulk "$work/bulk.pem" >"$work/rerun" 2>&1 &&
	    [ "$(ls "$h/trust/anchors" | wc -l)" = $((N + 1)) ] &&
	    [ "$(grep -c BEGIN "$h/trust/out/ca-bundle.pem")" = $((N + 2)) ]; then
		ok "$label: the same add again succeeds"
	else
		bad "$label: re-running failed: $(tail -2 "$work/rerun")"
	fi
}

for step in journaled inputs-partial inputs-written rebuilt committed; do
	h="$work/$step"
	rm -rf "$h"; cp -a "$tpl" "$h"
	CERTKIT_TRUST_CRASH_AT=$step timeout 100 "$CERTKIT" --home "$h" trust add \
	    --alias bulk "$work/bulk.pem" >/dev/null 2>&1
	rc=$?
	[ $rc = 9 ] || bad "crash at $step: exit $rc, expected 9 (the hook did not fire)"
	[ $step = inputs-partial ] && [ -f "$h/trust/.journal" ] &&
		[ "$(ls "$h/trust/anchors" | wc -l)" -gt 1 ] &&
		[ "$(ls "$h/trust/anchors" | wc -l)" -lt $((N + 1)) ] &&
		ok "crash at $step: anchors/ really was half-written"
	check_whole "$h" "crash at $step"
	if [ $step = committed ]; then
		grep -q "rolled back" "$work/list.err" && bad "crash at $step: a committed change was rolled back"
	else
		grep -q "rolled back" "$work/list.err" && ok "crash at $step: the next command says it rolled back" ||
			bad "crash at $step: no word of the rollback: $(cat "$work/list.err")"
	fi
	# A whole add takes seconds (an fsync per file): re-run it after a
	# rollback from the middle, and after a commit.
	case $step in inputs-partial | committed) check_rerun "$h" "crash at $step" ;; esac
done

# trust remove killed at each step: the anchor is there or gone, whole.
for step in journaled inputs-written rebuilt committed; do
	h="$work/rm-$step"
	rm -rf "$h"; cp -a "$tpl" "$h"
	CERTKIT_TRUST_CRASH_AT=$step "$CERTKIT" --home "$h" trust remove certkit-test-root-ca >/dev/null 2>&1
	[ $? = 9 ] || bad "remove, crash at $step: the hook did not fire"
	"$CERTKIT" --home "$h" trust list --source custom --json >/dev/null 2>&1
	na=$(ls "$h/trust/anchors" | wc -l)
	nb=$(grep -c BEGIN "$h/trust/out/ca-bundle.pem")
	left=$(find "$h/trust" -name '.journal*' -o -name '*.removed' | wc -l)
	want=1
	[ $step = committed ] && want=0
	if [ "$nb" = $((na + 1)) ] && [ "$left" = 0 ] && [ "$na" = $want ]; then
		ok "remove, crash at $step: whole ($na anchors)"
	else
		bad "remove, crash at $step: $na anchors, bundle $nb, $left left over"
	fi
done

# kill -9 at moments spread over the whole add.
"$CERTKIT" --home "$work/timing" trust add "$PKI/root-ca.pem" >/dev/null 2>&1
t0=$(date +%s%N)
"$CERTKIT" --home "$work/timing" trust add --alias bulk "$work/bulk.pem" >/dev/null 2>&1
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# a whole add of $N takes $ms ms"
for i in 2 4 6; do
	h="$work/kill$i"
	rm -rf "$h"; cp -a "$tpl" "$h"
	"$CERTKIT" --home "$h" trust add --alias bulk "$work/bulk.pem" >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v i=$i -v ms=$ms 'BEGIN { printf "%.3f", ms * i / 7000 }')"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	check_whole "$h" "kill -9 at $i/7 of the add"
	[ $i = 4 ] && check_rerun "$h" "kill -9 at $i/7 of the add"
done

echo "$pass passed, $fail failed"
[ $fail = 0 ]
