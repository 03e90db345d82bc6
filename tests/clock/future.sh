#!/bin/sh
# future.sh: a few real-peer tests run under libfaketime two years ahead of
# the real clock (`faketime -f +730d`, which reaches every child process:
# certkit, openssl, curl, nginx, python3). The test PKI ends 2027-01-01, so
# a test that checks it against the real clock (a peer that cannot pin the
# time, a certkit command without --at) fails here long before it would in
# the calendar. Each test must make what the real clock checks at test time
# (serve_lib.inc's mkissued), or pin the time (--at, -attime).
# Not under sanitizers (LD_PRELOAD does not mix with ASan): `make check`
# runs it in the Release build with tests/mem. Exits 77 (skipped) without
# faketime. Env: CERTKIT, CERTKIT_TEST_PKI, CERTKIT_SRC.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}" "${CERTKIT_SRC:?}"
command -v faketime >/dev/null 2>&1 || { echo "faketime is not installed (apt-get install faketime)"; exit 77; }
now=$(date +%Y)
fut=$(faketime -f +730d date +%Y)
if [ "$fut" -lt $((now + 2)) ]; then
	echo "not ok - faketime does not move the clock: $now, then $fut"
	exit 1
fi
pass=0 fail=0
for t in interop/serve_trustedca.sh interop/doctor_problem.sh \
    interop/identity_nginx.sh interop/doctor_basic.sh cli/stdin.t; do
	case $t in
	*.t) set -- sh "$CERTKIT_SRC/tests/cli/run.sh" "$CERTKIT_SRC/tests/$t" ;;
	*) set -- sh "$CERTKIT_SRC/tests/$t" ;;
	esac
	if faketime -f +730d "$@" >"${TMPDIR:-/tmp}/certkit-future.$$" 2>&1; then
		pass=$((pass + 1)); echo "ok - $t at $fut"
	else
		fail=$((fail + 1)); echo "not ok - $t at $fut:"
		grep 'not ok' "${TMPDIR:-/tmp}/certkit-future.$$" | sed 's/^/#   /' | head -20
	fi
done
rm -f "${TMPDIR:-/tmp}/certkit-future.$$"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
