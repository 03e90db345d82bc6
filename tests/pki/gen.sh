#!/bin/sh
# tests/pki/gen.sh: build the certkit test PKI (see tests/pki/README.md).
#
#   sh tests/pki/gen.sh MKPKI_BINARY OUTDIR
#
# Runs mkpki (certificates, keys, CRLs), then derives the format variants with
# the openssl CLI. Safe to re-run: every file is rewritten, and OUTDIR/.done is
# removed first and written last, so its presence means a complete PKI.
# Set OPENSSL to use another openssl binary.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: gen.sh MKPKI_BINARY OUTDIR" >&2
	exit 1
fi
mkpki=$1
out=$2
ossl=${OPENSSL:-openssl}
pass=secret

if [ ! -x "$mkpki" ]; then
	echo "gen.sh: $mkpki is not an executable mkpki" >&2
	exit 1
fi
mkdir -p "$out"
rm -f "$out/.done"
# Left over from an earlier `mkpki --leaves`: signed by an int-ca key that is
# about to be replaced.
rm -f "$out/many-leaves.pem" "$out/many-leaves.key"

"$mkpki" "$out"

cd "$out"

# ---- DER encodings ----------------------------------------------------
for c in leaf root-ca int-ca; do
	"$ossl" x509 -in "$c.pem" -outform DER -out "$c.der"
done
"$ossl" crl -in int-ca.crl -outform DER -out int-ca.crl.der
"$ossl" crl -in root-ca.crl -outform DER -out root-ca.crl.der

# ---- CSR --------------------------------------------------------------
"$ossl" req -new -config /dev/null -key leaf.key -sha256 \
	-subj "/C=US/O=certkit tests/CN=device.example.test" \
	-addext "subjectAltName=DNS:device.example.test,IP:192.0.2.10" \
	-out leaf.csr
"$ossl" req -in leaf.csr -outform DER -out leaf.csr.der

# ---- PEM bundle variants ----------------------------------------------
cat root-ca.pem int-ca.pem leaf.pem > reversed.pem
awk '{ printf "%s\r\n", $0 }' fullchain.pem > crlf.pem
{ printf '\357\273\277'; cat chain.pem; } > bom.pem
cat leaf.pem int-ca.pem int-ca.pem > dup.pem
cat leaf.pem root-ca.pem > gap.pem
n=$(wc -l < chain.pem)
head -n $((n - 2)) chain.pem > truncated.pem
cat leaf.key leaf.pem int-ca.pem int-ca.crl leaf.csr > mixed.pem

# noisy.pem: `openssl x509 -text` style. Text before, between and after the
# two blocks; text lines end in spaces; in the second (int-ca) block every
# line, BEGIN/END and base64 included, ends in spaces or a tab (OpenSSL's
# own PEM reader accepts that).
{
	printf 'Certificate chain for device.example.test   \n'
	printf 'exported by a very chatty tool \n'
	printf '\n'
	"$ossl" x509 -in leaf.pem -text | awk '
		/^-----BEGIN/ { pem = 1 }
		{ if (pem) print; else printf "%s  \n", $0 }
		/^-----END/ { pem = 0 }'
	printf '\n--- issuer follows ---   \n\n'
	"$ossl" x509 -in int-ca.pem -text | awk '
		/^-----BEGIN/ { pem = 1 }
		{ if (pem) printf "%s \t\n", $0; else printf "%s  \n", $0 }
		/^-----END/ { pem = 0 }'
	printf '\nend of chain   \n'
} > noisy.pem

# ---- PKCS#7 -----------------------------------------------------------
"$ossl" crl2pkcs7 -nocrl -certfile fullchain.pem -out chain.p7b
"$ossl" crl2pkcs7 -nocrl -certfile fullchain.pem -outform DER -out chain.p7b.der

# ---- PKCS#12 (fullchain.pem holds leaf, int-ca, root-ca) --------------
"$ossl" pkcs12 -export -in fullchain.pem -inkey leaf.key -name device \
	-passout "pass:$pass" -out leaf.p12
"$ossl" pkcs12 -export -legacy -in fullchain.pem -inkey leaf.key \
	-name device -passout "pass:$pass" -out leaf-legacy.p12
"$ossl" pkcs12 -export -in fullchain.pem -inkey leaf.key -name device \
	-passout pass: -out leaf-empty.p12
"$ossl" pkcs12 -export -in fullchain.pem -inkey leaf.key -name device \
	-nomac -keypbe NONE -certpbe NONE -passout pass: -out leaf-nopass.p12
"$ossl" pkcs12 -export -nokeys -in fullchain.pem \
	-passout "pass:$pass" -out certs-only.p12

# ---- keys -------------------------------------------------------------
"$ossl" pkcs8 -topk8 -v2 aes-256-cbc -in leaf.key -passout "pass:$pass" \
	-out leaf-pkcs8-enc.key
"$ossl" pkey -in root-ca.key -traditional -out root-ca-trad.key
"$ossl" pkey -in leaf.key -traditional -out leaf-trad.key
"$ossl" pkey -in leaf.key -traditional -aes256 -passout "pass:$pass" \
	-out leaf-trad-enc.key
"$ossl" pkcs8 -topk8 -nocrypt -in leaf.key -outform DER -out leaf.key.der
"$ossl" pkey -in leaf.key -pubout -out leaf-pub.pem

# ---- passwords --------------------------------------------------------
printf '%s' "$pass" > password.txt
printf '%s\n' "$pass" > password-nl.txt
printf 'wrong' > wrong-password.txt

# ---- garbage ----------------------------------------------------------
printf '<html><body>Not found</body></html>\n' > html.der
: > empty.pem
printf 'certkit random.bin' | "$ossl" dgst -sha512 -binary > random.bin
printf 'hello\n' > text.txt

# Sanity checks: a silently broken PKI would make every test fail obscurely.
for f in root-ca.pem int-ca.pem leaf.pem leaf.p12 leaf-legacy.p12 chain.p7b \
	leaf-trad-enc.key random.bin; do
	if [ ! -s "$f" ]; then
		echo "gen.sh: $out/$f is missing or empty" >&2
		exit 1
	fi
done
if [ "$(wc -c < random.bin)" -ne 64 ]; then
	echo "gen.sh: random.bin is not 64 bytes" >&2
	exit 1
fi

: > .done
