#!/bin/sh
# identity_crash.sh: no half-written identity, whatever fails and wherever
# certkit dies during a change.
#
# For every named step of the change path (CERTKIT_IDENTITY_CRASH_AT makes
# certkit _exit(9) there, as a power cut would), for injected write, fsync
# and rename failures (CERTKIT_FAULT), and for kill -9 at random moments, it
# asserts that:
#   - `current` names a complete identity: every file present, the key
#     matches the certificate, fullchain starts with cert.pem, bundle.pem is
#     the key plus the full chain, identity.p12 opens;
#   - that identity is the whole old one or the whole new one;
#   - when it is the new one, the old one is in backups/;
#   - key files are mode 0600;
#   - the next change recovers: it succeeds and leaves no temporary files
#     and no stray versions.
# Env: CERTKIT, CERTKIT_TEST_PKI.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
PKI=$CERTKIT_TEST_PKI
AT=2026-06-01T00:00:00Z
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-crash.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10
export SSL_CERT_FILE="$PKI/root-ca.pem"
unset CERTKIT_FAULT CERTKIT_IDENTITY_CRASH_AT CERTKIT_PASSWORD
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'; }
pub() { openssl "$1" -in "$2" -pubkey -noout 2>/dev/null || openssl pkey -in "$2" -pubout 2>/dev/null; }

# check_whole HOME OLDFP NEWFP LABEL: the invariants above.
check_whole() {
	h=$1 old=$2 new=$3 label=$4
	c="$h/identity/current"
	why=""
	[ -L "$c" ] || why="current is not a symlink"
	for f in cert.pem key.pem chain.pem fullchain.pem bundle.pem identity.p12 meta.json; do
		[ -f "$c/$f" ] || why="$why; $f missing"
	done
	if [ -z "$why" ]; then
		kp=$(openssl pkey -in "$c/key.pem" -pubout 2>/dev/null)
		cp_=$(openssl x509 -in "$c/cert.pem" -pubkey -noout 2>/dev/null)
		[ -n "$kp" ] && [ "$kp" = "$cp_" ] || why="$why; key does not match cert"
		first=$(openssl x509 -in "$c/fullchain.pem" 2>/dev/null)
		[ "$first" = "$(openssl x509 -in "$c/cert.pem")" ] || why="$why; fullchain does not start with cert.pem"
		bkey=$(openssl pkey -in "$c/bundle.pem" -pubout 2>/dev/null)
		[ "$bkey" = "$kp" ] || why="$why; bundle.pem key differs"
		grep -q "BEGIN CERTIFICATE" "$c/bundle.pem" || why="$why; bundle.pem has no certificate"
		openssl pkcs12 -in "$c/identity.p12" -passin pass:changeit -noout 2>/dev/null || why="$why; identity.p12 does not open"
		for k in key.pem bundle.pem identity.p12; do
			m=$(stat -c %a "$c/$k")
			[ "$m" = 600 ] || why="$why; $k mode $m"
		done
		got=$(fp "$c/cert.pem")
		if [ "$got" = "$new" ]; then
			found=0
			for b in "$h"/identity/backups/*/cert.pem; do
				[ -f "$b" ] && [ "$(fp "$b")" = "$old" ] && found=1
			done
			[ $found = 1 ] || why="$why; current is new but the old one is not backed up"
		elif [ "$got" != "$old" ]; then
			why="$why; current is neither old nor new ($got)"
		fi
	fi
	if [ -z "$why" ]; then ok "$label"; else bad "$label: $why"; fi
}

# check_recovers HOME LABEL: the next install works and cleans up.
check_recovers() {
	h=$1 label=$2
	if CERTKIT_HOME=$h timeout 60 "$CERTKIT" identity install --at $AT \
	    --cert "$PKI/leaf.pem" --key "$PKI/leaf.key" \
	    --chain "$PKI/int-ca.pem" >"$work/rec.out" 2>&1; then
		left=$(find "$h/identity" -name '*.tmp*' -o -name '.tmp-*' | wc -l)
		nv=$(ls "$h/identity/versions" | wc -l)
		if [ "$left" = 0 ] && [ "$nv" = 1 ]; then
			ok "$label: the next install recovers"
		else
			bad "$label: after recovery $left temporary files, $nv versions"
		fi
	else
		bad "$label: the next install failed: $(cat "$work/rec.out")"
	fi
}

# A template home: the self-signed default, then a CA-issued identity is
# installed over it in each case.
tpl="$work/tpl"
mkdir -p "$tpl"
printf '[identity]\non_change = true\n' >"$tpl/certkit.conf"
CERTKIT_HOME=$tpl "$CERTKIT" identity init --at $AT >/dev/null 2>&1 || { echo "init failed"; exit 1; }
OLD=$(fp "$tpl/identity/current/cert.pem")
NEW=$(fp "$PKI/leaf.pem")

for step in version-partial version-written backup-partial backup-written \
    flip-symlink flipped selftest-done on-change-done; do
	h="$work/$step"
	rm -rf "$h"; cp -a "$tpl" "$h"
	CERTKIT_HOME=$h CERTKIT_IDENTITY_CRASH_AT=$step timeout 60 "$CERTKIT" \
	    identity install --at $AT --cert "$PKI/leaf.pem" \
	    --key "$PKI/leaf.key" --chain "$PKI/int-ca.pem" >/dev/null 2>&1
	rc=$?
	[ $rc = 9 ] || bad "crash at $step: exit $rc, expected 9 (the hook did not fire)"
	check_whole "$h" "$OLD" "$NEW" "crash at $step: current is whole"
	CERTKIT_HOME=$h "$CERTKIT" identity status --at $AT >/dev/null 2>&1
	[ $? -le 1 ] && ok "crash at $step: status still works" || bad "crash at $step: status fails"
	check_recovers "$h" "crash at $step"
done

# A crash while ensure makes the first default: no identity, or a whole one.
h="$work/keygen"; mkdir -p "$h"
CERTKIT_HOME=$h CERTKIT_IDENTITY_CRASH_AT=keygen "$CERTKIT" identity ensure >/dev/null 2>&1
if [ ! -e "$h/identity/current" ]; then ok "crash at keygen: no identity yet"; else bad "crash at keygen: current exists"; fi
CERTKIT_HOME=$h "$CERTKIT" identity ensure >/dev/null 2>&1 && [ -f "$h/identity/current/cert.pem" ] &&
	ok "crash at keygen: the next ensure creates the default" || bad "crash at keygen: the next ensure failed"

# Injected I/O failures: the change fails cleanly and changes nothing.
for f in write fsync rename fsyncdir; do
	h="$work/fault-$f"
	rm -rf "$h"; cp -a "$tpl" "$h"
	before=$(ls -R "$h/identity" | sort | cksum)
	CERTKIT_HOME=$h CERTKIT_FAULT=$f "$CERTKIT" identity install --at $AT \
	    --cert "$PKI/leaf.pem" --key "$PKI/leaf.key" \
	    --chain "$PKI/int-ca.pem" >"$work/out" 2>"$work/err"
	rc=$?
	after=$(ls -R "$h/identity" | sort | cksum)
	if [ $rc != 0 ] && [ "$before" = "$after" ] && [ "$(fp "$h/identity/current/cert.pem")" = "$OLD" ] &&
	    grep -q "$f\|write failed\|fsync failed\|cannot" "$work/err"; then
		ok "CERTKIT_FAULT=$f: fails (exit $rc), changes nothing, says why"
	else
		bad "CERTKIT_FAULT=$f: exit $rc, changed: $([ "$before" = "$after" ] && echo no || echo yes): $(cat "$work/err")"
	fi
	check_recovers "$h" "CERTKIT_FAULT=$f"
done

# kill -9 at random moments of installs and resets.
h="$work/kill"
rm -rf "$h"; cp -a "$tpl" "$h"
i=0 changed=0 unchanged=0
while [ $i -lt 12 ]; do
	i=$((i + 1))
	cur=$(fp "$h/identity/current/cert.pem")
	if [ $((i % 2)) = 0 ]; then
		CERTKIT_HOME=$h "$CERTKIT" identity install --at $AT \
		    --cert "$PKI/leaf.pem" --key "$PKI/leaf.key" \
		    --chain "$PKI/int-ca.pem" >/dev/null 2>&1 &
	else
		CERTKIT_HOME=$h "$CERTKIT" identity reset --at $AT >/dev/null 2>&1 &
	fi
	pid=$!
	# 30 ms, 60 ms, ... 360 ms: spread over a whole change (~250 ms)
	sleep "$(awk -v i=$i 'BEGIN { printf "%.3f", i * 0.03 }')"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	new=$(fp "$h/identity/current/cert.pem")
	# The old one is whatever was current; the new one anything else
	# (reset makes a fresh key), which must then have a backup of cur.
	if [ "$new" = "$cur" ]; then
		unchanged=$((unchanged + 1))
		check_whole "$h" "$cur" "-" "kill -9 #$i: current is whole (unchanged)"
	else
		changed=$((changed + 1))
		check_whole "$h" "$cur" "$new" "kill -9 #$i: current is whole (changed)"
	fi
	# The next command settles a change killed before its self-test
	# finished (rolls it back); the next round starts from there.
	CERTKIT_HOME=$h "$CERTKIT" identity status --at $AT >/dev/null 2>&1
	[ -e "$h/identity/.change" ] && bad "kill -9 #$i: the change marker outlived the next command"
done
echo "# kill -9: $changed changes completed, $unchanged interrupted before the flip"
check_recovers "$h" "kill -9 series"

# kill -9 during a slow on_change: the next command (status, ensure,
# export) finds the unsettled change, rolls it back, runs on_change again
# (action "rollback") and says so; the new version is gone.
for pair in reset:status install:ensure reset:export; do
	change=${pair%%:*} next=${pair#*:}
	h="$work/hook-$change-$next"
	rm -rf "$h"; cp -a "$tpl" "$h"
	{
		echo '#!/bin/sh'
		echo "echo \"\$CERTKIT_IDENTITY_ACTION \$\$\" >>'$h/hook.log'"
		echo '[ "$CERTKIT_IDENTITY_ACTION" = rollback ] && exit 0'
		echo 'sleep 60'
	} >"$h/hook.sh"
	printf '[identity]\non_change = sh %s/hook.sh\non_change_timeout = 120\n' "$h" >"$h/certkit.conf"
	if [ $change = reset ]; then
		CERTKIT_HOME=$h "$CERTKIT" identity reset --at $AT >/dev/null 2>&1 &
	else
		CERTKIT_HOME=$h "$CERTKIT" identity install --at $AT --cert "$PKI/leaf.pem" \
		    --key "$PKI/leaf.key" --chain "$PKI/int-ca.pem" >/dev/null 2>&1 &
	fi
	pid=$!
	i=0
	while ! [ -s "$h/hook.log" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	hpid=$(awk 'NR == 1 { print $2 }' "$h/hook.log" 2>/dev/null)
	[ -n "$hpid" ] && kill -9 -- "-$hpid" 2>/dev/null
	label="kill -9 of $change during on_change, then $next"
	if [ "$(fp "$h/identity/current/cert.pem")" = "$OLD" ]; then
		bad "$label: the window was missed (current is still old)"
		continue
	fi
	case $next in
	export) CERTKIT_HOME=$h "$CERTKIT" identity export --format pem --out "$h/x.pem" >"$work/out" 2>"$work/err" ;;
	*) CERTKIT_HOME=$h "$CERTKIT" identity $next --at $AT --json >"$work/out" 2>"$work/err" ;;
	esac
	rc=$?
	why=""
	[ $rc -le 1 ] || why="exit $rc: $(cat "$work/err")"
	[ "$(fp "$h/identity/current/cert.pem")" = "$OLD" ] || why="$why; current is not the old identity again"
	grep -q "rolled back" "$work/err" || why="$why; stderr does not say it rolled back"
	[ $next = export ] || grep -q '"recovered"' "$work/out" || why="$why; no \"recovered\" in the JSON"
	grep -q "^rollback " "$h/hook.log" || why="$why; on_change was not run again for the rollback"
	[ -e "$h/identity/.change" ] && why="$why; the marker is still there"
	[ "$(ls "$h/identity/versions" | wc -l)" = 1 ] || why="$why; $(ls "$h/identity/versions" | wc -l) versions"
	if [ -z "$why" ]; then ok "$label: rolled back and said so"; else bad "$label: $why"; fi
	CERTKIT_HOME=$h "$CERTKIT" identity status --at $AT >/dev/null 2>"$work/err2"
	grep -q "rolled back" "$work/err2" && bad "$label: the rollback is reported twice"
done

echo "$pass passed, $fail failed"
[ $fail = 0 ]
