#!/bin/sh
# funclen.sh SRC [MAX]: fails if a function in lib/, lab/ or cli/ is longer
# than MAX lines (120, the house limit; docs/DEVELOPING.md). The code is
# clang-formatted (.clang-format): a definition's name starts at column 0
# with its "(" on the same line, and the body's "{" and "}" are alone at
# column 0, so a scanner is enough. The length counts the body from "{"
# to "}" inclusive. Lists every function over the limit with its length.
set -u
src=${1:?usage: funclen.sh SRC [MAX]}
max=${2:-120}

# Functions allowed over the limit for now, as FILE:NAME, one a line, each
# with its reason. Remove an entry when the function is split.
allow=''

cd "$src" || exit 2
files=$(ls lib/*/*.c lab/*.c cli/*.c 2>/dev/null)
[ -n "$files" ] || { echo "funclen.sh: no sources under $src"; exit 2; }
# shellcheck disable=SC2086
awk -v max="$max" -v allow="$allow" '
BEGIN { n = split(allow, a, "\n"); for (i = 1; i <= n; i++) ok[a[i]] = 1 }
FNR == 1 { name = ""; start = 0 }
# A definition starts at column 0 and has its "(" on that line: the type
# on the line before ("ck_status" / "cki_commit(...") or on the same line
# ("static const STACK_OF(X509) * ref_roots(...)").
start == 0 && /^[A-Za-z_].*\(/ && !/;[ \t]*$/ {
	s = $0; gsub(/STACK_OF\([^)]*\)/, "", s)
	if (match(s, /[A-Za-z_][A-Za-z0-9_]*\(/)) {
		name = substr(s, RSTART, RLENGTH - 1); next
	}
}
start == 0 && /^\{/ && name != "" { start = FNR; next }
start != 0 && /^\}/ {
	len = FNR - start + 1; key = FILENAME ":" name
	if (len > max) {
		if (key in ok) {
			printf "allowed  %4d %s\n", len, key; allowed++
			used[key] = 1
		} else {
			printf "TOO LONG %4d %s (line %d)\n", len, key, start
			bad++
		}
	}
	seen++; name = ""; start = 0; next
}
# Any other line at column 0 (a declaration, a comment, a brace of a
# table) ends the candidate: a parameter list continues indented.
start == 0 && /^[^ \t#]/ { name = "" }
END {
	for (k in ok)
		if (k != "" && !(k in used))
			printf "note: %s is no longer over %d lines: " \
			    "remove it from the allow list\n", k, max
	printf "%d functions scanned, %d over %d lines (%d allowed)\n",
	    seen, bad + allowed, max, allowed + 0
	if (seen == 0) { print "funclen.sh: no function found"; exit 2 }
	if (bad > 0) { print "0 passed, 1 failed"; exit 1 }
	print "1 passed, 0 failed"
}' $files
