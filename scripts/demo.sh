#!/bin/sh
# scripts/demo.sh BUILD_DIR: what `make demo` runs.
#
# The main job is the doctor against the lab: every failure from the field
# articles reproduced on 127.0.0.1 and diagnosed. Before it, a short tour of
# show and verify on a generated sample PKI.
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

step() {
	printf '\n%s$ %s%s\n' "$bold" "$*" "$plain" | sed "s#$work/pki/##g; s#$certkit#certkit#"
	"$@"
}

sh "$(dirname "$0")/../tests/pki/gen.sh" "$build/tests/mkpki" "$work/pki" >/dev/null || exit 1
cd "$work/pki" || exit 1
at=2026-06-01T00:00:00Z

echo "certkit demo: a sample PKI was generated in a temporary directory."
echo "All checks run as of $at (--at), so the output never changes."

step "$certkit" show --at $at crlf.pem
step "$certkit" show --at $at reversed.pem
step "$certkit" verify --at $at --roots root-ca.pem --host device.example.test chain.pem
step "$certkit" verify --at $at --roots root-ca.pem leaf.pem
step "$certkit" verify --at $at --roots root-ca.pem --untrusted int-ca.pem --host device.example.test leaf-expired.pem
step "$certkit" show html.der

if "$certkit" lab --help >/dev/null 2>&1; then
	step "$certkit" lab --demo
fi
exit 0
