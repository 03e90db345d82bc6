#!/bin/sh
# format.sh SRC: fails if a C file in the tree is not formatted with the
# repository's .clang-format (clang-format comes from scripts/deps).
set -u
src=${1:?usage: format.sh SRC}
cd "$src" || exit 1
command -v clang-format >/dev/null 2>&1 || {
	echo "clang-format is missing: run scripts/deps"
	echo "0 passed, 1 failed"
	exit 1
}
pass=0 fail=0
for f in include/certkit/*.h lib/*/*.c lib/*/*.h lab/*.c lab/*.h cli/*.c cli/*.h tests/unit/*.c \
    tests/unit/*.h tests/pki/*.c fuzz/*.c bench/*.c; do
	[ -f "$f" ] || continue
	if clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "not formatted: $f (run: clang-format -i $f)"
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
