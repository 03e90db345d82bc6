#!/bin/sh
# fuzz/run.sh BUILD_DIR SECONDS: runs every libFuzzer target for SECONDS each,
# starting from its committed corpus (new finds go to a scratch directory, so
# the committed corpus changes only when a developer copies a find in).
set -eu
build=$1
secs=${2:-60}
src=$(cd "$(dirname "$0")" && pwd)
status=0
for t in "$build"/fuzz/fuzz_*; do
	case $t in *_replay) continue ;; esac
	[ -x "$t" ] || continue
	name=$(basename "$t")
	corpus="$src/corpus/${name#fuzz_}"
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/certkit-$name.XXXXXX")
	echo "fuzz: $name for ${secs}s (corpus $corpus)"
	if ! "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$scratch/" "$scratch" "$corpus"; then
		echo "fuzz: $name FOUND A CRASH; reproducer in $scratch" >&2
		status=1
		continue
	fi
	rm -rf "$scratch"
done
exit $status
