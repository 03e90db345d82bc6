#!/bin/sh
# run.sh: the data-driven CLI test runner. Usage: run.sh FILE.t
#
# A .t file is a list of cases separated by blank lines. Each case:
#
#   name: what this case proves
#   run: certkit show "$PKI/leaf.pem"      (sh -c; may span several run: lines)
#   exit: 0                                (expected exit code; default 0)
#   stdout: fragment                       (fixed string that must appear)
#   !stdout: fragment                      (fixed string that must not appear)
#   stderr: fragment / !stderr: fragment
#
# Lines starting with '#' are comments. The commands see:
#   $CERTKIT  the certkit binary        $PKI  the generated test PKI
#   $T        a fresh empty directory for this case (removed afterwards)
#   $SRC      the source tree
# and NO_COLOR=1. Each case runs with a 60 s limit.
set -u
file=$1
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
PKI=$CERTKIT_TEST_PKI
SRC=${CERTKIT_SRC:-.}
export CERTKIT PKI SRC NO_COLOR=1
# Keep the tests off the real state directory and password sources.
unset CERTKIT_HOME CERTKIT_PASSWORD SSL_CERT_FILE SSL_CERT_DIR HTTPS_PROXY https_proxy

pass=0 fail=0
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

name="" cmd="" want_exit=0 checks=""
nl='
'

run_case() {
	[ -n "$cmd" ] || return 0
	T="$work/case"
	rm -rf "$T"; mkdir -p "$T"
	export T
	timeout 60 sh -c "$cmd" >"$work/out" 2>"$work/err" </dev/null
	got=$?
	ok=1 why=""
	if [ "$got" != "$want_exit" ]; then
		ok=0 why="exit $got, expected $want_exit"
	fi
	old_ifs=$IFS
	IFS=$nl
	for c in $checks; do
		IFS=$old_ifs
		kind=${c%%	*}
		frag=${c#*	}
		case $kind in
		stdout) grep -qF -- "$frag" "$work/out" || { ok=0; why="$why; stdout lacks: $frag"; } ;;
		!stdout) grep -qF -- "$frag" "$work/out" && { ok=0; why="$why; stdout has: $frag"; } ;;
		stderr) grep -qF -- "$frag" "$work/err" || { ok=0; why="$why; stderr lacks: $frag"; } ;;
		!stderr) grep -qF -- "$frag" "$work/err" && { ok=0; why="$why; stderr has: $frag"; } ;;
		esac
		IFS=$nl
	done
	IFS=$old_ifs
	if [ $ok = 1 ]; then
		pass=$((pass + 1))
		echo "ok - $name"
	else
		fail=$((fail + 1))
		echo "not ok - $name: $why"
		echo "  command: $cmd"
		sed 's/^/  stdout| /' "$work/out" | head -40
		sed 's/^/  stderr| /' "$work/err" | head -20
	fi
	name="" cmd="" want_exit=0 checks=""
}

while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	"#"*) ;;
	"") run_case ;;
	name:*) name=${line#name: } ;;
	run:*) if [ -n "$cmd" ]; then cmd="$cmd$nl${line#run: }"; else cmd=${line#run: }; fi ;;
	exit:*) want_exit=${line#exit: } ;;
	stdout:*) checks="$checks${checks:+$nl}stdout	${line#stdout: }" ;;
	"!stdout:"*) checks="$checks${checks:+$nl}!stdout	${line#!stdout: }" ;;
	stderr:*) checks="$checks${checks:+$nl}stderr	${line#stderr: }" ;;
	"!stderr:"*) checks="$checks${checks:+$nl}!stderr	${line#!stderr: }" ;;
	*) echo "$file: cannot parse line: $line" >&2; exit 2 ;;
	esac
done <"$file"
run_case

echo "$pass passed, $fail failed"
[ $fail = 0 ] && [ $pass -gt 0 ]
