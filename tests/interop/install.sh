#!/bin/sh
# install.sh: `cmake --install` puts the binary, the shared library, the
# headers (not the lab's), the pkg-config file and the man pages in place,
# the shared library holds nothing of the lab, and a program
# built with `pkg-config --cflags --libs certkit` against the installed copy
# runs. The peer here is the system's compiler and pkg-config.
set -u
: "${CERTKIT_BUILD:?}" "${CERTKIT_TEST_PKI:?}"
dest=$(mktemp -d "${TMPDIR:-/tmp}/certkit-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT INT TERM
pass=0 fail=0
check() {
	if eval "$2"; then pass=$((pass + 1)); echo "ok - $1"
	else fail=$((fail + 1)); echo "not ok - $1"; fi
}

DESTDIR="$dest" cmake --install "$CERTKIT_BUILD" --prefix /usr/local >"$dest/log" 2>&1
check "cmake --install succeeds" '[ $? -eq 0 ] || { cat "$dest/log"; false; }'
root=$dest/usr/local
lib=$(ls -d "$root"/lib* | head -n 1)
check "binary installed" '[ -x "$root/bin/certkit" ]'
check "certkit does not load libpq at start (opened only for a PostgreSQL registry)" '! ldd "$root/bin/certkit" | grep -q libpq'
check "the agent's own binary installed, without SQLite" '[ -x "$root/bin/certkit-agent" ] && "$root/bin/certkit-agent" --help >/dev/null && ! ldd "$root/bin/certkit-agent" | grep -q sqlite'
check "shared library installed" 'ls "$lib"/libcertkit.so.0* >/dev/null 2>&1'
check "public headers installed" '[ -f "$root/include/certkit/certkit.h" ]'
check "pkg-config file installed" '[ -f "$lib/pkgconfig/certkit.pc" ]'
check "man pages installed" '[ -f "$root/share/man/man1/certkit.1" ] && [ -f "$root/share/man/man1/certkit-show.1" ]'
check "man page renders" 'MANWIDTH=80 man -l "$root/share/man/man1/certkit.1" 2>/dev/null | grep -q "keep the TLS of connected devices"'
check "public headers include no OpenSSL header" '! grep -l "include <openssl" "$root"/include/certkit/*.h'
# (ck_cert_label is no lab symbol: a name matches when "lab" is a whole
# part of it, as in ck_lab_start or cki_lab_specs.)
check "the lab is not in the shared library (nm -D shows no lab symbol)" '[ -z "$(nm -D "$lib"/libcertkit.so.0 | awk "{print \$NF}" | grep -iE "(^|_)lab(_|\$)")" ]'
check "the lab's header is not installed" '[ ! -e "$root/include/certkit/lab.h" ] && [ -f "$root/include/certkit/doctor.h" ]'
check "library exports only ck_ symbols" '[ -z "$(nm -D --defined-only "$lib"/libcertkit.so.0 | awk "\$2 ~ /[TDB]/ {print \$3}" | grep -v "^ck_")" ]'

cat >"$dest/prog.c" <<'EOC'
#include <stdio.h>
#include <certkit/certkit.h>
int main(int argc, char **argv) {
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	char fp[65];
	if (argc != 2 || ctx == NULL) return 2;
	if (ck_load_file(ctx, argv[1], &b) != CK_OK) {
		fprintf(stderr, "%s\n", ck_ctx_error(ctx));
		return 1;
	}
	ck_cert_sha256(ck_bundle_get0_cert(b, 0), fp);
	printf("%s\n", fp);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	return 0;
}
EOC
pc="$lib/pkgconfig"
flags=$(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs certkit)
# The .pc names the final prefix; point it at the staging copy.
flags=$(echo "$flags" | sed "s#/usr/local#$root#g")
# A sanitizer build's library needs the sanitizer runtime in the program.
if grep -q '^CERTKIT_SANITIZE:BOOL=ON' "$CERTKIT_BUILD/CMakeCache.txt"; then
	flags="-fsanitize=address,undefined $flags"
fi
# shellcheck disable=SC2086
cc -o "$dest/prog" "$dest/prog.c" $flags >"$dest/cc.log" 2>&1
check "a program compiles against the installed API with pkg-config" '[ $? -eq 0 ] || { cat "$dest/cc.log"; false; }'
want=$(openssl x509 -in "$CERTKIT_TEST_PKI/leaf.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
got=$(LD_LIBRARY_PATH=$lib "$dest/prog" "$CERTKIT_TEST_PKI/leaf.der" 2>&1)
check "it runs and agrees with openssl" '[ "$got" = "$want" ] || { echo "got $got want $want"; false; }'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
