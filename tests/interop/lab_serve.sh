#!/bin/sh
# lab_serve.sh: `certkit lab` as a command, and its servers seen by real
# peers (openssl s_client, curl, dig): options and exit codes, readiness,
# clean shutdown on SIGTERM/SIGINT (temporary directory removed, --dir
# kept), --json, and that the endpoints look to OpenSSL and curl exactly as
# the codes they reproduce say. Then `--demo` finishes quickly and reports.
#
# Env: CERTKIT. Uses only 127.0.0.1 and ephemeral ports.
set -u
: "${CERTKIT:?}"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy \
    ALL_PROXY all_proxy
OPENSSL=${OPENSSL:-openssl}
T=$(mktemp -d "${TMPDIR:-/tmp}/certkit-labserve.XXXXXX")
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
nok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { # NAME COMMAND...: passes when the command succeeds
	name=$1
	shift
	if "$@" >"$T/out" 2>&1; then ok "$name"; else
		nok "$name"
		sed 's/^/  | /' "$T/out" | head -20
	fi
}
expect_exit() { # NAME CODE COMMAND...
	name=$1 code=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null
	got=$?
	if [ "$got" = "$code" ]; then ok "$name"; else
		nok "$name: exit $got, expected $code"
		sed 's/^/  | /' "$T/err" | head -10
	fi
}
# Waits (bounded) for "lab ready: FILE" in $1; prints FILE.
wait_ready() {
	i=0
	while ! grep -q '^lab ready: ' "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 300 ] && return 1
		sleep 0.1
	done
	sed -n 's/^lab ready: //p' "$1" | head -1
}
# Kills PID with SIG and waits at most 10 s; sets RC to its exit status.
stop() {
	kill "-$2" "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			kill -9 "$1" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$1"
	RC=$?
}

# ---- options ----
expect_exit "--help exits 0" 0 "$CERTKIT" lab --help
grep -q 'usage: certkit lab' "$T/out" && ok "--help prints the usage" ||
    nok "--help prints the usage"
expect_exit "no mode is a usage error" 2 "$CERTKIT" lab
grep -q 'exactly one of --serve or --demo' "$T/err" &&
    ok "the usage error says what is missing" ||
    nok "the usage error says what is missing"
expect_exit "both modes is a usage error" 2 "$CERTKIT" lab --serve --demo
expect_exit "a bad --timeout is a usage error" 2 "$CERTKIT" lab --demo \
    --timeout 0
expect_exit "an extra argument is a usage error" 2 "$CERTKIT" lab --serve x
: >"$T/afile"
expect_exit "--dir naming a file is an input error" 2 "$CERTKIT" lab \
    --serve --dir "$T/afile"
grep -q "$T/afile" "$T/err" && ok "the error names the path" ||
    nok "the error names the path: $(cat "$T/err")"

# ---- --serve in a temporary directory, stopped by SIGTERM ----
"$CERTKIT" lab --serve >"$T/s1.out" 2>"$T/s1.err" &
P1=$!
PIDS="$PIDS $P1"
if ENV=$(wait_ready "$T/s1.out"); then
	ok "--serve prints lab ready"
else
	nok "--serve prints lab ready"
	sed 's/^/  | /' "$T/s1.err"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
LABDIR=$(dirname "$ENV")
case $LABDIR in
"$TMPDIR"/certkit-lab.*) ok "the default directory is a fresh temporary one" ;;
*) nok "the default directory is a fresh temporary one: $LABDIR" ;;
esac
# shellcheck disable=SC1090
. "$ENV"
for f in "$LAB_PROFILE" "$LAB_TRUST" "$LAB_REFERENCE" "$LAB_JSON"; do
	[ -s "$f" ] && ok "$(basename "$f") is written" ||
	    nok "$(basename "$f") is written"
done
grep -q '^\[tls_interception\]' "$LAB_PROFILE" &&
    ok "the listing's profile has a section per code" ||
    nok "the listing's profile has a section per code"
grep -q 'ok.lab.test' "$T/s1.out" && ok "--serve lists the endpoints" ||
    nok "--serve lists the endpoints"

port() {
	python3 -c 'import json,sys; print([e["port"] for e in json.load(open(sys.argv[1]))["endpoints"] if e["name"] == sys.argv[2]][0])' "$LAB_JSON" "$1"
}
sclient() { # PORT SNI CAFILE [ARGS]: s_client's output
	p=$1 sni=$2 ca=$3
	shift 3
	timeout 10 "$OPENSSL" s_client -connect "127.0.0.1:$p" \
	    -servername "$sni" -CAfile "$ca" "$@" </dev/null 2>&1
}
sclient "$(port ok)" ok.lab.test "$LAB_TRUST" -verify_hostname ok.lab.test \
    >"$T/sc"
grep -q 'Verify return code: 0 (ok)' "$T/sc" &&
    ok "s_client: ok verifies against trust.pem" ||
    nok "s_client: ok verifies against trust.pem"
sclient "$(port incomplete_chain)" incomplete-chain.lab.test "$LAB_TRUST" \
    >"$T/sc"
grep -q 'verify error:num=20:' "$T/sc" &&
    ok "s_client: incomplete_chain gives error 20" ||
    nok "s_client: incomplete_chain gives error 20"
AIA=$(sclient "$(port incomplete_chain)" incomplete-chain.lab.test \
    "$LAB_TRUST" | "$OPENSSL" x509 -noout -ext authorityInfoAccess 2>/dev/null |
    sed -n 's/.*CA Issuers - URI://p')
curl -sf --max-time 10 "$AIA" -o "$T/r3.der" &&
    "$OPENSSL" x509 -inform DER -in "$T/r3.der" -noout -subject |
    grep -q 'certkit Lab Public CA R3' &&
    ok "curl: the leaf's AIA URL serves the missing intermediate" ||
    nok "curl: the leaf's AIA URL serves the missing intermediate ($AIA)"
sclient "$(port expired_root_in_store)" expired-root.lab.test "$LAB_TRUST" \
    >"$T/sc"
grep -q 'Verify return code: 10 ' "$T/sc" &&
    ok "s_client: expired_root_in_store fails on the expired root" ||
    nok "s_client: expired_root_in_store fails on the expired root"
sclient "$(port expired_root_in_store)" expired-root.lab.test \
    "$LAB_REFERENCE" >"$T/sc"
grep -q 'Verify return code: 0 ' "$T/sc" &&
    ok "s_client: ... and verifies with the new root" ||
    nok "s_client: ... and verifies with the new root"
sclient "$(port revoked)" revoked.lab.test "$LAB_TRUST" -status >"$T/sc"
grep -q 'Cert Status: revoked' "$T/sc" &&
    ok "s_client: revoked staples an OCSP 'revoked'" ||
    nok "s_client: revoked staples an OCSP 'revoked'"
sclient "$(port fallback_certificate)" fallback.lab.test "$LAB_TRUST" >"$T/sc"
grep -q 'depth=0 .*CN = localhost' "$T/sc" &&
    ok "s_client: unknown SNI gets the localhost fallback" ||
    nok "s_client: unknown SNI gets the localhost fallback"
sclient "$(port client_cert_rejected)" mtls-unknown-ca.lab.test \
    "$LAB_TRUST" -cert "$LAB_DIR/clients/unknown-ca.pem" \
    -key "$LAB_DIR/clients/unknown-ca.key" -ign_eof >"$T/sc"
grep -q 'alert unknown ca' "$T/sc" &&
    ok "s_client: a client certificate from an unknown CA gets unknown_ca" ||
    nok "s_client: a client certificate from an unknown CA gets unknown_ca"
OKP=$(port ok)
curl -sf --max-time 10 --cacert "$LAB_TRUST" -x "$LAB_PROXY" \
    "https://ok.lab.test:$OKP/" | grep -q 'certkit lab: ok' &&
    ok "curl: the proxy tunnels to ok" || nok "curl: the proxy tunnels to ok"
AUTHP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["proxies"]["auth"])' "$LAB_JSON")
curl -s --max-time 10 -v --cacert "$LAB_TRUST" -x "$AUTHP" \
    "https://ok.lab.test:$OKP/" 2>&1 | grep -q '< HTTP/1.1 407' &&
    ok "curl: the auth proxy answers 407 without credentials" ||
    nok "curl: the auth proxy answers 407 without credentials"
curl -sf --max-time 10 --cacert "$LAB_TRUST" -x "$LAB_PROXY_AUTH" \
    "https://ok.lab.test:$OKP/" | grep -q 'certkit lab: ok' &&
    ok "curl: ... and tunnels with them" ||
    nok "curl: ... and tunnels with them"
if command -v dig >/dev/null 2>&1; then
	D=${LAB_DNS%:*} DP=${LAB_DNS##*:}
	[ "$(dig +short +time=2 +tries=1 @"$D" -p "$DP" ok.lab.test)" = 127.0.0.1 ] &&
	    ok "dig: ok.lab.test is 127.0.0.1" || nok "dig: ok.lab.test is 127.0.0.1"
	dig +time=2 +tries=1 @"$D" -p "$DP" nxdomain.lab.test | grep -q 'status: NXDOMAIN' &&
	    ok "dig: nxdomain.lab.test is NXDOMAIN" ||
	    nok "dig: nxdomain.lab.test is NXDOMAIN"
	dig +time=2 +tries=1 @"$D" -p "$DP" example.com | grep -q 'status: REFUSED' &&
	    ok "dig: names outside the zone are REFUSED" ||
	    nok "dig: names outside the zone are REFUSED"
fi
stop "$P1" TERM
rc=$RC
[ "$rc" = 0 ] && ok "SIGTERM stops --serve with exit 0" ||
    nok "SIGTERM stops --serve with exit 0 (got $rc)"
[ ! -e "$LABDIR" ] && ok "the temporary directory is removed" ||
    nok "the temporary directory is removed"
[ -s "$T/s1.err" ] && nok "--serve is quiet on stderr: $(head -3 "$T/s1.err")" ||
    ok "--serve is quiet on stderr (no ASan report)"

# ---- --serve --json --dir, stopped by SIGINT ----
"$CERTKIT" lab --serve --json --dir "$T/kept" >"$T/s2.out" 2>"$T/s2.err" &
P2=$!
PIDS="$PIDS $P2"
if wait_ready "$T/s2.err" >/dev/null; then
	ok "--json prints lab ready on stderr"
else
	nok "--json prints lab ready on stderr"
fi
stop "$P2" INT
rc=$RC
[ "$rc" = 0 ] && ok "SIGINT stops --serve with exit 0" ||
    nok "SIGINT stops --serve with exit 0 (got $rc)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["endpoints"]) > 30' "$T/s2.out" 2>/dev/null &&
    ok "--json stdout is the lab's JSON" || nok "--json stdout is the lab's JSON"
[ -s "$T/kept/profile.ini" ] && [ -s "$T/kept/lab.env" ] &&
    ok "--dir keeps the files after exit" || nok "--dir keeps the files after exit"

# ---- --demo ----
start=$(date +%s)
timeout 60 "$CERTKIT" lab --demo >"$T/demo.out" 2>"$T/demo.err"
rc=$?
secs=$(($(date +%s) - start))
grep -q '^lab check: ' "$T/demo.out" && ok "--demo prints the lab check" ||
    nok "--demo prints the lab check (exit $rc): $(tail -3 "$T/demo.err")"
[ $secs -le 20 ] && ok "--demo finishes in ${secs} s (at most 20)" ||
    nok "--demo finishes in ${secs} s (at most 20)"
if grep -q 'MISMATCH' "$T/demo.out"; then
	[ "$rc" = 1 ] && ok "--demo exits 1 on a mismatch" ||
	    nok "--demo exits 1 on a mismatch (got $rc)"
	grep 'MISMATCH' "$T/demo.out" | sed 's/^/  # /'
else
	[ "$rc" = 0 ] && ok "--demo exits 0: every endpoint diagnosed as expected" ||
	    nok "--demo exits 0 (got $rc)"
fi
[ -z "$(ls -A "$TMPDIR")" ] && ok "--demo removes its directory" ||
    nok "--demo removes its directory: $(ls "$TMPDIR")"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
