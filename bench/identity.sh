#!/bin/sh
# bench/identity.sh BUILD_DIR WORKDIR: the cost of `certkit identity ensure`
# when nothing needs doing (it runs before every service start), against
# `true` as the process-start baseline, measured side by side.
#
# Two cases: real name detection (gethostname, the FQDN lookup, getifaddrs),
# and detection replaced by CERTKIT_HOSTNAME / CERTKIT_IPS (a container).
# hyperfine when installed (-N: no shell in between), else a loop timed with
# date +%s%N. Bounded: 200 runs each, about a second per case.
set -eu
build=$(cd "$1" && pwd)
work=$2
ck="$build/certkit"
home="$work/home"
runs=200
mkdir -p "$home"
export CERTKIT_HOME="$home"
unset CERTKIT_HOSTNAME CERTKIT_IPS
"$ck" identity ensure >/dev/null
"$ck" identity ensure >"$work/check.out"
grep -q "nothing to do" "$work/check.out" || {
	echo "bench identity: ensure does not settle: $(cat "$work/check.out")" >&2
	exit 1
}

# mean_ms CMD...: the mean wall time of CMD in milliseconds.
mean_ms() {
	if command -v hyperfine >/dev/null 2>&1; then
		hyperfine -N --warmup 20 --runs $runs --export-json "$work/hf.json" \
		    "$*" >/dev/null 2>&1
		awk -F: '/"mean"/ { gsub(/[ ,]/, "", $2); printf "%.3f", $2 * 1000; exit }' "$work/hf.json"
	else
		i=0
		t0=$(date +%s%N)
		while [ $i -lt $runs ]; do
			"$@" >/dev/null 2>&1
			i=$((i + 1))
		done
		t1=$(date +%s%N)
		awk -v a="$t0" -v b="$t1" -v n=$runs 'BEGIN { printf "%.3f", (b - a) / n / 1e6 }'
	fi
}

echo "bench identity: true" >&2
base=$(mean_ms true)
echo "bench identity: ensure (detection)" >&2
real=$(mean_ms "$ck" identity ensure)
echo "bench identity: ensure (CERTKIT_HOSTNAME/IPS)" >&2
export CERTKIT_HOSTNAME=bench.example.test CERTKIT_IPS=192.0.2.10
"$ck" identity ensure >/dev/null
fixed=$(mean_ms "$ck" identity ensure)
unset CERTKIT_HOSTNAME CERTKIT_IPS
tool=$(command -v hyperfine >/dev/null 2>&1 && echo "hyperfine -N --warmup 20 --runs $runs" || echo "a loop of $runs runs timed with date +%s%N")

cat <<EOF
## identity ensure: the nothing-to-do path

\`certkit identity ensure\` runs before every service start (systemd
\`ExecStartPre\`). When the identity is current it only reads certkit.conf,
\`current/cert.pem\` and \`current/meta.json\`, and the device's names: no lock,
no key generation, no network beyond the bounded FQDN lookup.

| Command | Mean | Over \`true\` |
| --- | ---: | ---: |
| \`true\` (process start) | ${base} ms | |
| \`certkit identity ensure\` (names detected) | ${real} ms | $(awk -v a="$real" -v b="$base" 'BEGIN { printf "+%.2f ms (%.1fx)", a - b, a / b }') |
| \`certkit identity ensure\` (CERTKIT_HOSTNAME/IPS set) | ${fixed} ms | $(awk -v a="$fixed" -v b="$base" 'BEGIN { printf "+%.2f ms (%.1fx)", a - b, a / b }') |

Target: under 5 ms. $(awk -v a="$real" 'BEGIN { print (a < 5 ? "Met" : "**Not met**") }') ($real ms with detection).

Measured with $tool, in a state directory made by \`certkit identity ensure\`:

    CERTKIT_HOME=\$WORK/home $ck identity ensure
    hyperfine -N --warmup 20 --runs $runs 'certkit identity ensure' 'true'
EOF
