#!/bin/sh
# bench/run.sh BUILD_DIR: runs every benchmark and rewrites docs/PERFORMANCE.md.
#
# Contract for bench/NAME.sh: called as `sh bench/NAME.sh BUILD_DIR WORKDIR`,
# it measures certkit and a peer in the same run (these machines are shared and
# noisy: only ratios measured side by side mean anything) and prints one
# Markdown section (starting with "## ") to stdout: what was measured, the
# figures, the ratio against the peer, the target, and the exact command.
# Progress goes to stderr. It must bound its own run time.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
out="$src/docs/PERFORMANCE.md"
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

tmp="$out.tmp.$$"
{
	echo "# Performance"
	echo
	echo "Written by \`make bench\` (bench/run.sh); do not edit by hand."
	echo
	echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "- certkit: $("$build/certkit" --version)"
	echo "- Build: CMAKE_BUILD_TYPE=Release, no sanitizers"
	echo
	echo "Every figure is a ratio against a peer measured in the same run, on a shared"
	echo "and noisy machine; absolute times are given for scale only."
	echo
	for b in "$src"/bench/*.sh; do
		[ "$(basename "$b")" = run.sh ] && continue
		name=$(basename "$b" .sh)
		echo "bench: $name" >&2
		mkdir -p "$work/$name"
		sh "$b" "$build" "$work/$name"
		echo
	done
} >"$tmp"
mv "$tmp" "$out"
echo "bench: wrote $out" >&2
