#!/bin/sh
# codes.sh DUMP SRC: the codes docs/json.md lists for each report are
# exactly those of the code table (lib/core/codes.c, printed by DUMP,
# tests/lint/codes_dump.c), with the same severity where the docs give one
# (show, trust audit). Fails on any code in one and not the other.
set -u
dump=${1:?usage: codes.sh DUMP SRC}
src=${2:?usage: codes.sh DUMP SRC}
doc="$src/docs/json.md"
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# The table: "report code" for every row, plus the severity for show/audit.
"$dump" | awk '{ print $1, $2; if ($1 == "show" || $1 == "audit")
	print $1, $2, $3 }' | sort -u >"$tmp/table" || exit 2

# The docs. Each section's codes sit in known places:
#  show:     the findings table ("| `code` | severity | ...")
#  verify:   "### Codes" table of the verify section
#  audit:    the table after "FINDING:" in "### trust audit"
#  identity: "Finding codes:" paragraph and the `problems` row
#  doctor:   "### Codes" table and the "Warnings (added codes)" paragraph
#  server:   "### Problem types" table of the "## serve" section (the
#            problem+json types) and "### Codes" of "## server" (warnings)
awk '
function ticks(line, report,    s, m) {
	s = line
	while (match(s, /`[a-z_]+`/)) {
		m = substr(s, RSTART + 1, RLENGTH - 2)
		print report, m
		s = substr(s, RSTART + RLENGTH)
	}
}
function row(line, report, withsev,    f) {
	split(line, f, "|")
	gsub(/[ `]/, "", f[2]); gsub(/ /, "", f[3])
	if (f[2] ~ /^[a-z_]+$/ && f[2] != "Code") {
		print report, f[2]
		if (withsev) print report, f[2], f[3]
	}
}
/^## /                 { sec = $0; sub_ = ""; para = "" }
/^### /                { sub_ = $0; para = "" }
/^$/                   { para = "" }
sec == "## show" && sub_ == "### `findings[]`" && /^\| `/ { row($0, "show", 1) }
sec == "## verify" && sub_ == "### Codes" && /^\| `/     { row($0, "verify", 0) }
sec == "## trust" && sub_ == "### trust audit" && /^\| `/ { row($0, "audit", 1) }
sec ~ /^## identity/ && /^\| `problems`/ {
	l = $0; sub(/^\| `problems` \|/, "", l); ticks(l, "identity") }
sec ~ /^## identity/ && /^Finding codes:/ { para = "idf" }
para == "idf"          { ticks($0, "identity") }
sec == "## doctor" && sub_ == "### Codes" && /^\| `/     { row($0, "doctor", 0) }
sec == "## doctor" && /^Warnings \(added codes\)/ { para = "dow" }
para == "dow"          { ticks($0, "doctor") }
sec ~ /^## serve/ && sub_ == "### Problem types" && /^\| `/ { row($0, "server", 0) }
sec == "## server" && sub_ == "### Codes" && /^\| `/     { row($0, "server", 0) }
' "$doc" | grep -v ' force$' | sort -u >"$tmp/docs"

if ! diff -u "$tmp/docs" "$tmp/table" >"$tmp/diff"; then
	echo "docs/json.md (-) and the code table lib/core/codes.c (+) differ:"
	grep '^[-+][a-z]' "$tmp/diff"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "$(wc -l <"$tmp/table") codes and severities agree; 1 passed, 0 failed"
