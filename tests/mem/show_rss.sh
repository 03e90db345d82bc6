#!/bin/sh
# show_rss.sh: the memory bound of one input (man/certkit-show.md, MEMORY).
# Measures peak RSS with tests/mem/peakrss (getrusage), never time:
#  - `certkit show` and `show --json` of ~6 MB of the test PKI's certificates,
#    keys and CRLs repeated: peak RSS at most 8 times the input plus the peak
#    of showing one certificate (the process's own size);
#  - a PEM file of 30,000 certificates: refused (exit 2) naming the file, the
#    limit and the count found, before parsing, within the same bound;
#  - 25,000 small EC certificates (the most objects one input may hold, the
#    most memory per byte): accepted, under 512 MiB;
#  - 5,000 copies of a key, its certificates, a CRL and a CSR (25,000
#    objects that all match each other): accepted, under 512 MiB.
# Not registered in sanitizer builds, whose shadow memory is not ours;
# `make check` runs it in a Release build.
#
# Env: CERTKIT, CERTKIT_TEST_PKI, CERTKIT_BUILD (for peakrss and mkpki).
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}" "${CERTKIT_BUILD:?}"
P=$CERTKIT_TEST_PKI
RSS=$CERTKIT_BUILD/tests/peakrss
AT=2026-06-01T00:00:00Z
W=$(mktemp -d "${TMPDIR:-/tmp}/certkit-mem.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

# peak NAME CMD...: runs CMD (bounded) under peakrss; $rc and $kb are set.
peak() {
	n=$1; shift
	timeout 240 "$RSS" "$W/$n.rss" "$@" >"$W/$n.out" 2>"$W/$n.err"
	rc=$?
	kb=$(cat "$W/$n.rss" 2>/dev/null || echo 999999999)
}
size_kb() { echo $(( $(wc -c <"$1") / 1024 )); }
# within NAME KB LIMIT_KB
within() {
	if [ "$2" -le "$3" ]; then ok "$1: $2 KiB <= $3 KiB"; else bad "$1: $2 KiB > $3 KiB"; fi
}

peak one "$CERTKIT" show --at $AT "$P/leaf.pem"
base=$kb
echo "# one certificate: $base KiB"

# ~6 MB of everything the test PKI has in PEM (certificates, keys, CRLs).
for f in "$P"/*.pem "$P"/*.crl; do
	case $f in *many-leaves*) continue ;; esac
	"$CERTKIT" show "$f" >/dev/null 2>&1
	[ $? -le 1 ] && cat "$f"
done >"$W/one-set.pem"
i=0
: >"$W/mix.pem"
while [ $i -lt 400 ] && [ "$(size_kb "$W/mix.pem")" -lt 6144 ]; do
	cat "$W/one-set.pem" >>"$W/mix.pem"
	i=$((i + 1))
done
in=$(size_kb "$W/mix.pem")
for mode in text json; do
	opt=; [ $mode = json ] && opt=--json
	peak mix-$mode "$CERTKIT" show $opt --at $AT "$W/mix.pem"
	if [ $rc -le 1 ] && [ -s "$W/mix-$mode.out" ]; then ok "show $mode of $in KiB: exit $rc"; else bad "show $mode: exit $rc"; head -5 "$W/mix-$mode.err"; fi
	within "show $mode of $in KiB" "$kb" $((base + 8 * in))
done

# 30,000 blocks: refused before parsing.
awk 'NR == FNR { s = s $0 "\n"; next } END { for (i = 0; i < 30000; i++) printf "%s", s }' \
	"$P/leaf.pem" /dev/null >"$W/many.pem"
in=$(size_kb "$W/many.pem")
peak many "$CERTKIT" show --at $AT "$W/many.pem"
if [ $rc -eq 2 ] && grep -q "many.pem: holds 30000 PEM blocks; certkit reads at most 25000 objects" "$W/many.err"; then
	ok "30,000 blocks refused: $(cat "$W/many.err")"
else
	bad "30,000 blocks: exit $rc, expected 2 and the limit"; head -3 "$W/many.err"
fi
within "refusal of $in KiB" "$kb" $((base + 8 * in))

# 25,000 small EC leaves: the most one input may hold.
mkdir -p "$W/pki"
"$CERTKIT_BUILD/tests/mkpki" --leaves 24999 "$W/pki" >/dev/null 2>&1
cat "$W/pki/many-leaves.pem" "$W/pki/int-ca.pem" >"$W/max.pem"
in=$(size_kb "$W/max.pem")
peak max "$CERTKIT" show --at $AT "$W/max.pem"
if [ $rc -le 1 ]; then ok "25,000 certificates accepted"; else bad "25,000 certificates: exit $rc"; head -3 "$W/max.err"; fi
within "show of 25,000 small certificates ($in KiB)" "$kb" $((512 * 1024))
echo "# 25,000 small certificates: $kb KiB for $in KiB, $(( (kb - base) * 10 / in ))/10 times the input beyond the process"

# 5,000 copies of a key, its certificate and intermediate, a CRL and a CSR
# from the key: 25,000 objects that all match each other.
awk 'NR == FNR { s = s $0 "\n"; next } END { for (i = 0; i < 5000; i++) printf "%s", s }' \
	"$P/mixed.pem" /dev/null >"$W/pairs.pem"
in=$(size_kb "$W/pairs.pem")
peak pairs "$CERTKIT" show --at $AT "$W/pairs.pem"
if [ $rc -le 1 ]; then ok "5,000 key/certificate/CSR copies accepted"; else bad "key/certificate/CSR copies: exit $rc"; head -3 "$W/pairs.err"; fi
within "show of 5,000 key/certificate/CSR copies ($in KiB)" "$kb" $((512 * 1024))

echo "# $pass passed, $fail failed"
[ $fail -eq 0 ]
