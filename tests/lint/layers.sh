#!/bin/sh
# layers.sh BUILD: the module layering of libcertkit, checked on the built
# objects rather than on #include lines, so a call through a forward
# declaration (or a header of another module) is caught too.
#
# Every object of the library (the members of BUILD/libcertkit_static.a,
# exactly what is linked, no stale object of an old build) comes from a file
# lib/MODULE/NAME.c and so belongs to MODULE. For each undefined symbol of an
# object (nm), the object that defines it is looked up; the edge
# MODULE -> DEFINER must point down the order
#
#   core -> pki -> verify -> trust -> identity -> net -> doctor -> ca
#        -> server/agent
#
# (a module may call itself or any module to its left). ca is the issuing
# CA the server uses (pure functions over OpenSSL objects; the registry is
# the server's). server and agent share a rank: neither may call the other. The lab (BUILD/libcertkit_lab.a,
# lab/) sits above them all and is no part of the library; the tool (cli/)
# may call only the public API (ck_*).
#
# Invariants checked:
#   1. no edge from a module to one of higher or equal-but-other rank;
#   2. every library object comes from a known module folder (the lab's
#      files are not in the library);
#   3. no library object references a lab symbol;
#   4. no cycle between files, of the library or of the lab (tsort);
#   5. cli objects reference no library or lab symbol but ck_*.
# The source tree is the one BUILD was configured from (CMakeCache.txt).
set -u
build=${1:?usage: layers.sh BUILD}
fail() {
	echo "layers.sh: $*"
	echo "0 passed, 1 failed"
	exit 1
}
src=$(sed -n 's/^certkit_SOURCE_DIR:STATIC=//p' "$build/CMakeCache.txt" 2>/dev/null)
[ -n "$src" ] && [ -d "$src/lib" ] || fail "$build is not a configured certkit build"
for tool in nm tsort awk; do
	command -v $tool >/dev/null 2>&1 || fail "$tool not found"
done
lib=$build/libcertkit_static.a
lab=$build/libcertkit_lab.a
clidir=$build/CMakeFiles/certkit_cli.dir/cli
for f in "$lib" "$lab"; do
	[ -f "$f" ] || fail "no $f (build first)"
done
[ -d "$clidir" ] || fail "no $clidir (build first)"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The module of an archive member NAME.c.o: the folder of lib/*/NAME.c.
# Generated sources are named here with the module they belong to.
modof() {
	n=${1%.o}
	case $n in
	reference_data.c) echo trust; return ;; # cmake/reference.cmake, for trust/reference.c
	esac
	set -- "$src"/lib/*/"$n"
	if [ $# -gt 1 ]; then
		echo "(ambiguous)"
	elif [ -f "$1" ]; then
		d=${1%/*}
		echo "${d##*/}"
	elif [ -f "$src/lab/$n" ]; then
		echo lab
	else
		echo "(unknown)"
	fi
}

# nm -A -P: "ARCHIVE[MEMBER]: SYMBOL TYPE ...", or "OBJECT: SYMBOL TYPE ...".
# defs: SYMBOL MODULE FILE; uses: MODULE FILE SYMBOL (FILE = MODULE/NAME.c).
members() { nm -A -P "$1" | sed -n 's/^[^[]*\[\([^]]*\)\]: .*/\1/p' | sort -u; }
for m in $(members "$lib"); do
	printf '%s %s\n' "$m" "$(modof "$m")"
done >"$tmp/libmods"
for m in $(members "$lab"); do
	echo "$m lab"
done >"$tmp/labmods"
[ -s "$tmp/libmods" ] || fail "no objects in $lib"
scan() { # ARCHIVE MODS: defs and uses of its members
	nm -A -P "$1" | awk -v modsf="$2" -v defs="$tmp/defs" -v uses="$tmp/uses" '
	BEGIN { while ((getline l < modsf) > 0) { split(l, a, " "); mod[a[1]] = a[2] } }
	{
		m = $1; sub(/^[^[]*\[/, "", m); sub(/\]:$/, "", m)
		f = mod[m] "/" m; sub(/\.o$/, "", f)
		if ($3 ~ /^[TDBRVW]$/) print $2, mod[m], f >> defs
		else if ($3 == "U") print mod[m], f, $2 >> uses
	}'
}
: >"$tmp/defs"
: >"$tmp/uses"
scan "$lib" "$tmp/libmods"
scan "$lab" "$tmp/labmods"

bad=0
# 2. objects from a known module folder.
awk '$2 !~ /^(core|pki|verify|trust|identity|net|doctor|ca|server|agent)$/ {
	if ($2 == "lab") printf "%s: a lab file in libcertkit (the lab is certkit_lab)\n", $1
	else printf "%s: %s module folder (lib/MODULE/%s)\n", $1, $2, $1
	bad = 1
} END { exit bad }' "$tmp/libmods" || bad=1

# 1, 3. module edges down the order; no library call into the lab.
awk -v tmp="$tmp" '
function rank(m) {
	if (m == "core") return 1; if (m == "pki") return 2; if (m == "verify") return 3
	if (m == "trust") return 4; if (m == "identity") return 5; if (m == "net") return 6
	if (m == "doctor") return 7; if (m == "ca") return 8
	if (m == "server" || m == "agent") return 9
	if (m == "lab") return 10
	return 0
}
FILENAME == ARGV[1] { def[$1] = $2; deff[$1] = $3; next }
{
	from = $1; file = $2; sym = $3
	if (!(sym in def)) next
	to = def[sym]
	if (deff[sym] != file) print file, deff[sym] > (tmp "/edges")
	if (to == from || rank(from) == 0) next
	if (rank(to) >= rank(from)) {
		printf "%s (%s) calls %s, defined in %s (%s): %s may not depend on %s\n",
		    file, from, sym, deff[sym], to, from, to
		bad = 1
	}
}
END { exit bad }
' "$tmp/defs" "$tmp/uses" || bad=1

# 4. no cycle between files (tsort names the files of each loop).
sort -u "$tmp/edges" >"$tmp/fedges" 2>/dev/null
[ -s "$tmp/fedges" ] || fail "no call between files found: nm read nothing?"
if ! tsort "$tmp/fedges" >/dev/null 2>"$tmp/loops"; then
	echo "a cycle between files (a loop of calls):"
	awk '{ sub(/^tsort: /, "") }
	/input contains a loop/ { if (l != "") print "  " l " -> " f; l = ""; next }
	{ if (l == "") { l = $0; f = $0 } else l = l " -> " $0 }
	END { if (l != "") print "  " l " -> " f }' "$tmp/loops"
	bad=1
fi

# 5. the tool calls only the public API.
for o in "$clidir"/*.c.o; do
	s=${o##*/}
	[ -f "$src/cli/${s%.o}" ] || continue # a stale object of a removed file
	nm -P --undefined-only "$o" | awk '{print $1}'
done | sort -u >"$tmp/cliuses"
[ -s "$tmp/cliuses" ] || fail "no cli objects under $clidir"
priv=$(awk 'FILENAME == ARGV[1] { def[$1] = $3; next }
	($1 in def) && $1 !~ /^ck_/ { print "  " $1 " (" def[$1] ")" }' "$tmp/defs" "$tmp/cliuses")
if [ -n "$priv" ]; then
	echo "cli/ uses library internals (only ck_* is public):"
	echo "$priv"
	bad=1
fi

if [ $bad -ne 0 ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
echo "layers: $(wc -l <"$tmp/libmods") library objects, $(wc -l <"$tmp/labmods") lab objects, $(wc -l <"$tmp/fedges") file edges, no cycle"
echo "1 passed, 0 failed"
