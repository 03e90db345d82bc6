#!/bin/sh
# identity_fulldisk.sh: an install onto a full filesystem fails cleanly and
# changes nothing; with just enough space it succeeds whole.
#
# The state directory lives on a small tmpfs mounted here (so this needs
# root: as another user it prints SKIP and exits 0). A version directory
# takes 8 files, each at least one 4 KiB page on tmpfs: about 36 KiB, and a
# change needs room for the new version and the backup of the old one.
#   1. size=64k: the default fits, an install cannot: it must fail with
#      "No space left on device", leave every file as it was and no
#      temporary file behind.
#   2. size=256k, filled up to leave 0, 8, 16, ... 96 KiB: each install
#      either fails with nothing changed, or succeeds with a whole new
#      identity and the old one backed up.
# Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
PKI=$CERTKIT_TEST_PKI
AT=2026-06-01T00:00:00Z
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: not root, so no tmpfs can be mounted for the full-disk test"
	echo "0 passed, 0 failed"
	exit 0
fi
export CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10
export SSL_CERT_FILE="$PKI/root-ca.pem"
unset CERTKIT_FAULT CERTKIT_IDENTITY_CRASH_AT CERTKIT_PASSWORD
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-full.XXXXXX")
mnt="$work/mnt"
mkdir -p "$mnt"
cleanup() {
	umount "$mnt" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'; }
# Every file with its size and content hash: "nothing changed" means equal.
snapshot() { (cd "$1" && find . -printf '%p %s %m\n' | sort && find . -type f -exec sha256sum {} + | sort) | cksum; }

install_leaf() {
	CERTKIT_HOME=$1 timeout 60 "$CERTKIT" identity install --at $AT \
	    --cert "$PKI/leaf.pem" --key "$PKI/leaf.key" \
	    --chain "$PKI/int-ca.pem" >"$work/out" 2>"$work/err"
}

mount_tmpfs() {
	umount "$mnt" 2>/dev/null
	if ! mount -t tmpfs -o "size=$1" tmpfs "$mnt"; then
		echo "not ok - mount -t tmpfs -o size=$1 failed as root"
		echo "$pass passed, $((fail + 1)) failed"
		exit 1
	fi
}

# 1. No room for a second version at all.
mount_tmpfs 64k
h="$mnt/home"
mkdir -p "$h"
if CERTKIT_HOME=$h "$CERTKIT" identity init --at $AT >/dev/null 2>"$work/err"; then
	ok "64k: the default fits"
else
	bad "64k: init failed: $(cat "$work/err")"
fi
OLD=$(fp "$h/identity/current/cert.pem")
before=$(snapshot "$h")
install_leaf "$h"
rc=$?
after=$(snapshot "$h")
[ $rc != 0 ] && ok "64k: install fails (exit $rc)" || bad "64k: install succeeded on a full disk"
grep -q "No space left on device" "$work/err" &&
	ok "64k: the error says the disk is full" || bad "64k: unclear error: $(cat "$work/err")"
[ "$before" = "$after" ] && ok "64k: nothing changed, no temporary file left" ||
	bad "64k: the state changed: $(cd "$h" && find . | sort | tr '\n' ' ')"
[ "$(fp "$h/identity/current/cert.pem")" = "$OLD" ] && ok "64k: current is the old identity" ||
	bad "64k: current changed"
CERTKIT_HOME=$h "$CERTKIT" identity status --at $AT >/dev/null 2>&1
[ $? -le 1 ] && ok "64k: status still works" || bad "64k: status fails"

# 2. Every amount of free space: all or nothing.
mount_tmpfs 256k
NEW=$(fp "$PKI/leaf.pem")
succeeded=0 refused=0
for free in 0 8 16 24 32 40 48 56 64 72 80 88 96; do
	rm -rf "$mnt"/*
	h="$mnt/home"
	mkdir -p "$h"
	CERTKIT_HOME=$h "$CERTKIT" identity init --at $AT >/dev/null 2>&1 ||
		{ bad "free=${free}k: init failed"; continue; }
	OLD=$(fp "$h/identity/current/cert.pem")
	dd if=/dev/zero of="$mnt/fill" bs=4096 2>/dev/null
	truncate -s "-${free}K" "$mnt/fill" 2>/dev/null
	before=$(snapshot "$h")
	install_leaf "$h"
	rc=$?
	after=$(snapshot "$h")
	cur=$(fp "$h/identity/current/cert.pem")
	if [ $rc != 0 ]; then
		if [ "$before" = "$after" ] && [ "$cur" = "$OLD" ]; then
			refused=$((refused + 1))
			ok "free=${free}k: fails (exit $rc) and changes nothing"
		else
			bad "free=${free}k: failed but left changes behind"
		fi
	else
		backed=0
		for b in "$h"/identity/backups/*/cert.pem; do
			[ -f "$b" ] && [ "$(fp "$b")" = "$OLD" ] && backed=1
		done
		if [ "$cur" = "$NEW" ] && [ $backed = 1 ] &&
		    openssl pkcs12 -in "$h/identity/current/identity.p12" -passin pass:changeit -noout 2>/dev/null; then
			succeeded=$((succeeded + 1))
			ok "free=${free}k: succeeds whole, the old one backed up"
		else
			bad "free=${free}k: exit 0 but the identity is not whole"
		fi
	fi
	rm -f "$mnt/fill"
done
echo "# full disk: $refused installs refused cleanly, $succeeded succeeded"
[ $refused -gt 0 ] && [ $succeeded -gt 0 ] && ok "both outcomes were exercised" ||
	bad "only one outcome was exercised ($refused refused, $succeeded succeeded)"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
