#!/bin/sh
# scripts/demo.sh BUILD_DIR: what `make demo` runs.
#
# The main job is the doctor against the lab: every failure from the field
# articles reproduced on 127.0.0.1 and diagnosed. Before it, a short tour of
# show and verify on a generated sample PKI. Each step must end with the exit
# status it is shown for; otherwise the demo (and make demo) fails.
set -u
build=$(cd "${1:-build}" && pwd)
certkit="$build/certkit"
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# Bold only on a terminal, and never with NO_COLOR (https://no-color.org).
bold="" plain=""
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-}" != dumb ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
fi

# step WANT CMD...: shows and runs CMD; its exit status must be WANT (the
# tour shows problems on purpose, so 1 is wanted there). Anything else (a
# crash, a usage error, a wrong verdict) fails the demo, and so make demo.
failed=0
step() {
	want=$1
	shift
	printf '\n%s$ %s%s\n' "$bold" "$*" "$plain" | sed "s#$work/pki/##g; s#$certkit#certkit#"
	"$@"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "demo: exit status $got, expected $want: $*" >&2
		failed=1
	fi
}

sh "$(dirname "$0")/../tests/pki/gen.sh" "$build/tests/mkpki" "$work/pki" >/dev/null || exit 1
cd "$work/pki" || exit 1
at=2026-06-01T00:00:00Z

echo "certkit demo: a sample PKI was generated in a temporary directory."
echo "All checks run as of $at (--at), so the output never changes."

step 0 "$certkit" show --at $at crlf.pem
step 1 "$certkit" show --at $at reversed.pem
step 0 "$certkit" verify --at $at --roots root-ca.pem --host device.example.test chain.pem
step 1 "$certkit" verify --at $at --roots root-ca.pem leaf.pem
step 1 "$certkit" verify --at $at --roots root-ca.pem --untrusted int-ca.pem --host device.example.test leaf-expired.pem
step 2 "$certkit" show html.der

# The main job: every lab endpoint must get the diagnosis it reproduces.
step 0 "$certkit" lab --demo
if [ "$failed" -ne 0 ]; then
	echo "demo: FAILED (see the messages above)" >&2
	exit 1
fi
exit 0
