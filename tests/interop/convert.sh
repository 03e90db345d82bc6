#!/bin/sh
# convert.sh: everything `certkit convert` writes is read back by the real
# consumers (openssl x509/pkcs12/pkcs7/pkey/crl/req and Java's keytool), with
# certificate fingerprints unchanged, the right file modes, and a failed
# write leaving the old file byte-identical.
#
# Env: CERTKIT (binary), CERTKIT_TEST_PKI (pki dir). No network, no daemons.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
P=$CERTKIT_TEST_PKI
unset CERTKIT_PASSWORD CERTKIT_OUT_PASSWORD CERTKIT_HOME CERTKIT_FAULT
export NO_COLOR=1
W=$(mktemp -d "${TMPDIR:-/tmp}/certkit-interop-convert.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
PW=$P/password.txt
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
# check NAME CMD...: runs CMD (bounded), passes if it exits 0.
check() {
	n=$1; shift
	if timeout 60 "$@" >"$W/log" 2>&1; then ok "$n"; else bad "$n"; sed 's/^/  | /' "$W/log" | head -20; fi
}
# same NAME A B: passes if the two strings are equal and not empty.
same() {
	if [ -n "$2" ] && [ "$2" = "$3" ]; then ok "$1"; else bad "$1"; echo "  | '$2'"; echo "  | '$3'"; fi
}
ck() { timeout 60 "$CERTKIT" convert "$@" >"$W/ck.log" 2>&1 || { cat "$W/ck.log"; return 1; }; }

# Every certificate's SHA-256 in a PEM file, in order, one line.
fps() {
	rm -f "$W"/fp.*
	awk -v d="$W" '/-----BEGIN CERTIFICATE-----/{n++; in_=1} in_{print > (d "/fp." n)} /-----END CERTIFICATE-----/{in_=0; close(d "/fp." n)}' "$1"
	for f in $(ls "$W"/fp.* 2>/dev/null | sort -t. -k2 -n); do
		openssl x509 -in "$f" -noout -fingerprint -sha256 | sed 's/.*=//'
	done | tr '\n' ' '
}
fp1() { openssl x509 -in "$1" ${2:+-inform $2} -noout -fingerprint -sha256 | sed 's/.*=//'; }
mode() { stat -c %a "$1"; }

FULL=$(fps "$P/fullchain.pem")
LEAF=$(fp1 "$P/leaf.pem")

# ---- PEM <-> DER ----------------------------------------------------------
ck --to der --out "$W/leaf.der" "$P/leaf.pem" || bad "convert to der"
same "openssl x509 -inform DER reads certkit's DER" "$(fp1 "$W/leaf.der" DER)" "$LEAF"
ck --to pem --out "$W/leaf2.pem" "$W/leaf.der" || bad "convert der to pem"
same "pem -> der -> pem keeps the fingerprint" "$(fp1 "$W/leaf2.pem")" "$LEAF"
same "a certificate file is 0644" "$(mode "$W/leaf.der")" 644

# ---- keys ----------------------------------------------------------------
ck --to pem --out "$W/chain.pem" --key-out "$W/key.pem" --password-file "$PW" "$P/leaf.p12" || bad "split p12"
check "openssl pkey -check reads the --key-out key" openssl pkey -in "$W/key.pem" -check -noout
same "the key file is 0600" "$(mode "$W/key.pem")" 600
same "p12 -> pem chain keeps every fingerprint in order" "$(fps "$W/chain.pem")" "$FULL"
check "the key matches the leaf (openssl x509 -checkkey equivalent)" sh -c \
    "[ \"\$(openssl pkey -in '$W/key.pem' -pubout)\" = \"\$(openssl x509 -in '$P/leaf.pem' -noout -pubkey)\" ]"
ck --to pem --out "$W/c.pem" --key-out "$W/key-enc.pem" --out-password-file "$PW" "$P/leaf.key" "$P/leaf.pem" || bad "encrypted key"
check "openssl pkey opens the encrypted PKCS#8 key with the password" openssl pkey -in "$W/key-enc.pem" -passin "file:$PW" -check -noout
check "and refuses it with a wrong one" sh -c "! openssl pkey -in '$W/key-enc.pem' -passin pass:wrong -noout"
ck --to der --only key --out "$W/key.der" "$P/leaf.key" || bad "key to der"
check "openssl pkey -inform DER reads the DER key" openssl pkey -inform DER -in "$W/key.der" -check -noout
same "the DER key file is 0600" "$(mode "$W/key.der")" 600

# ---- CRL and CSR ----------------------------------------------------------
ck --to der --only crl --out "$W/crl.der" "$P/mixed.pem" || bad "crl to der"
check "openssl crl -inform DER verifies certkit's CRL" openssl crl -inform DER -in "$W/crl.der" -CAfile "$P/int-ca.pem" -noout
ck --to der --only csr --out "$W/csr.der" "$P/mixed.pem" || bad "csr to der"
check "openssl req -inform DER -verify accepts certkit's CSR" openssl req -inform DER -in "$W/csr.der" -verify -noout

# ---- PKCS#7 ----------------------------------------------------------------
ck --to pem --out "$W/from-p7b.pem" "$P/chain.p7b.der" || bad "p7b to pem"
same "p7b (DER, from openssl) -> pem keeps the chain" "$(fps "$W/from-p7b.pem")" "$FULL"
ck --to p7b --out "$W/c.p7b" "$P/fullchain.pem" || bad "pem to p7b"
openssl pkcs7 -in "$W/c.p7b" -print_certs >"$W/p7b-pem.txt" 2>&1 || bad "openssl pkcs7 reads certkit's PEM p7b"
same "openssl pkcs7 -print_certs (PEM) lists the chain in order" "$(fps "$W/p7b-pem.txt")" "$FULL"
ck --to p7b --der --out "$W/c.p7c" "$P/fullchain.pem" || bad "pem to p7b der"
openssl pkcs7 -inform DER -in "$W/c.p7c" -print_certs >"$W/p7b-der.txt" 2>&1 || bad "openssl pkcs7 reads certkit's DER p7b"
same "openssl pkcs7 -print_certs (DER) lists the chain in order" "$(fps "$W/p7b-der.txt")" "$FULL"
ck --to pem --out "$W/back.pem" "$W/c.p7b" || bad "p7b back to pem"
same "pem -> p7b -> pem keeps every fingerprint" "$(fps "$W/back.pem")" "$FULL"
ck --to p7b --out "$W/crl.p7b" "$P/chain.pem" "$P/int-ca.crl" || bad "p7b with crl"
check "openssl pkcs7 -print_certs shows the CRL too" sh -c "openssl pkcs7 -in '$W/crl.p7b' -print_certs | grep -q 'Certificate Revocation List'"

# ---- PKCS#12 ---------------------------------------------------------------
ck --to p12 --out-password-file "$PW" --out "$W/out.p12" --key "$P/leaf.key" \
    --chain "$P/int-ca.pem" --chain "$P/root-ca.pem" "$P/leaf.pem" || bad "pem to p12"
check "openssl pkcs12 -info reads certkit's p12" openssl pkcs12 -info -in "$W/out.p12" -passin "file:$PW" -noout
check "with the modern algorithms" sh -c "openssl pkcs12 -info -in '$W/out.p12' -passin 'file:$PW' -noout 2>&1 | grep -q 'MAC: sha256' && openssl pkcs12 -info -in '$W/out.p12' -passin 'file:$PW' -noout 2>&1 | grep -q 'AES-256-CBC'"
check "and refuses a wrong password" sh -c "! openssl pkcs12 -in '$W/out.p12' -passin pass:wrong -noout 2>/dev/null"
openssl pkcs12 -in "$W/out.p12" -passin "file:$PW" -nokeys >"$W/p12certs.txt" 2>&1 || bad "openssl pkcs12 -nokeys"
same "openssl pkcs12 -nokeys lists the chain in order" "$(fps "$W/p12certs.txt")" "$FULL"
check "the key openssl extracts from the p12 is valid" sh -c "openssl pkcs12 -in '$W/out.p12' -passin 'file:$PW' -nocerts -nodes | openssl pkey -check -noout"
same "a p12 with a key is 0600" "$(mode "$W/out.p12")" 600
ck --to pem --out "$W/p12back.pem" --password-file "$PW" "$W/out.p12" || bad "p12 back to pem"
same "pem -> p12 -> pem keeps every fingerprint" "$(fps "$W/p12back.pem")" "$FULL"

# Legacy (as Windows exports, RC2-40 certificates) -> modern.
ck --to p12 --password-file "$PW" --out "$W/modern.p12" "$P/leaf-legacy.p12" || bad "legacy to modern"
check "the re-encoded p12 opens without -legacy (no RC2)" openssl pkcs12 -in "$W/modern.p12" -passin "file:$PW" -noout
openssl pkcs12 -in "$W/modern.p12" -passin "file:$PW" -nokeys >"$W/modern.txt" 2>&1
same "legacy p12 -> modern p12 keeps every fingerprint" "$(fps "$W/modern.txt")" "$FULL"
ck --to p12 --legacy --out-password-file "$PW" --out "$W/legacy.p12" "$P/leaf.key" "$P/fullchain.pem" || bad "modern to legacy"
check "--legacy output: 3DES and a SHA-1 MAC, readable without the legacy provider" sh -c \
    "openssl pkcs12 -info -in '$W/legacy.p12' -passin 'file:$PW' -noout 2>&1 | grep -q 'MAC: sha1' && openssl pkcs12 -info -in '$W/legacy.p12' -passin 'file:$PW' -noout 2>&1 | grep -q TripleDES"

# Java's keytool.
if command -v keytool >/dev/null 2>&1; then
	kt() { timeout 120 keytool -list -keystore "$1" -storetype PKCS12 -storepass secret 2>&1; }
	kt "$W/out.p12" >"$W/kt1.txt"
	same "keytool lists the key entry as one PrivateKeyEntry" "$(grep -c PrivateKeyEntry "$W/kt1.txt")" 1
	same "under the leaf CN as alias" "$(grep PrivateKeyEntry "$W/kt1.txt" | cut -d, -f1)" "device.example.test"
	same "with the leaf's fingerprint" "$(grep 'SHA-256' "$W/kt1.txt" | sed 's/.*: //')" "$LEAF"
	kt "$W/legacy.p12" >"$W/kt2.txt"
	same "keytool reads the --legacy p12" "$(grep -c PrivateKeyEntry "$W/kt2.txt")" 1
	ck --to p12 --java-trust --out-password-file "$PW" --out "$W/trust.p12" "$P/fullchain.pem" || bad "java trust store"
	kt "$W/trust.p12" >"$W/kt3.txt"
	same "keytool lists 3 trustedCertEntry in a --java-trust p12" "$(grep -c trustedCertEntry "$W/kt3.txt")" 3
	same "with the chain's fingerprints" "$(grep 'SHA-256' "$W/kt3.txt" | sed 's/.*: //' | sort | tr '\n' ' ')" \
	    "$(echo "$FULL" | tr ' ' '\n' | grep . | sort | tr '\n' ' ')"
	same "a certificate-only trust store is 0644" "$(mode "$W/trust.p12")" 644
	ck --to p12 --out-password-file "$PW" --out "$W/notrust.p12" "$P/fullchain.pem" 2>/dev/null
	same "without --java-trust keytool sees no entry (hence the warning)" "$(kt "$W/notrust.p12" | grep -c Entry)" 0
else
	echo "# keytool not installed: Java checks skipped"
fi

# ---- a failed convert leaves the old file byte-identical ------------------
for f in write fsync rename; do
	cp "$P/chain.pem" "$W/keep.pem"
	CERTKIT_FAULT=$f timeout 60 "$CERTKIT" convert --to pem --out "$W/keep.pem" "$P/fullchain.pem" >/dev/null 2>&1
	rc=$?
	if [ $rc -eq 2 ] && cmp -s "$W/keep.pem" "$P/chain.pem" && ! ls "$W" | grep -q '\.tmp\.'; then
		ok "CERTKIT_FAULT=$f: exit 2, old file byte-identical, no temp file"
	else
		bad "CERTKIT_FAULT=$f: rc=$rc"; ls "$W"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
