#!/bin/sh
# serve_signers.sh: the CA key only on signers (issue 12). Three `certkit
# serve` on one PostgreSQL (tests/pg_harness.inc): S1 and S2 hold the CA
# (HOME/ca: ca = signer), N has none (ca = none). The registry is the
# queue: N records enrollment requests, a signer signs them, N answers the
# poll from the registry.
#
#  1. N with no signer up: enrollment answers 503 no_signer + Retry-After
#  2. signers up: a token enrollment through N answers 202
#     pending_signature + Retry-After; polled on N it is issued (signed by
#     a signer, verifies to the CA); cacerts on N gives the signers' chain
#  2b. a renewal (simplereenroll) through N: checked there (another key is
#     400, nothing queued), 202 pending_signature + Retry-After, asked
#     again the certificate a signer issued; `certkit agent` renews through
#     N the same way (202: online, its certificate kept; then installed)
#  2c. a request queued on N is signed at once (the signers are woken by
#     the registry's NOTIFY, not the 1 s sweep): 7 of 9 within 400 ms
#  2d. a revoke reaches N's /crl at once (the CRL job woken by NOTIFY, N's
#     read copy dropped when a CRL is stored): 7 of 9 within 400 ms
#  3. the CRL is built by one signer and stored in the registry: GET /crl
#     gives the same bytes on every primary; a revoke reaches every
#     primary's /crl with a greater CRL number
#  4. kill -9 of the CRL builder: the other signer takes the job (the
#     advisory lock goes with the dead session); an enrollment through N
#     is still signed and a revoke after that reaches /crl everywhere
#  5. every signer stopped: N answers 503 no_signer + Retry-After
# Env: CERTKIT, CERTKIT_SRC. Loopback only, port 0, every wait bounded.
set -u
: "${CERTKIT:?}"
. "$CERTKIT_SRC/tests/pg_harness.inc"
pgh_serve_start
q() { psql -X -q -At "$CI user=ckadmin" -c "$1"; }
pgh_registry ck_server
mkdir -p "$work/admin"
printf '[server]\nregistry = %s user=ck_server\n' "$CI" >"$work/admin/certkit.conf"
admin() { timeout 60 "$CERTKIT" --home "$work/admin" clients "$@"; }

# primary NAME signer|none: a home and a running serve; port_NAME, pid_NAME.
primary() {
	h=$work/$1
	mkdir -p "$h"
	[ -f "$h/certkit.conf" ] || {
		CERTKIT_HOME=$h "$CERTKIT" identity init >/dev/null 2>&1 || return 1
		if [ "$2" = signer ] && [ -d "$work/S1/ca" ]; then
			cp -a "$work/S1/ca" "$h/ca" || return 1
		elif [ "$2" = signer ]; then
			CERTKIT_HOME=$h "$CERTKIT" ca init --name "Signers CA" \
			    >/dev/null 2>&1 || return 1
		fi
		printf '\n[server]\nregistry = %s user=ck_server\nca = %s\n' \
		    "$CI" "$2" >>"$h/certkit.conf"
	}
	pgh_serve "$1"
}

# enroll NAME PORT: POST /api/v1/enroll with a new key and the token;
# the status in $work/NAME.code, the body in $work/NAME.out.
enroll() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$work/$1.key" -subj "/CN=$1" -outform DER 2>/dev/null |
	    base64 | python3 -c 'import json,sys; print(json.dumps({"csr": sys.stdin.read(), "token": sys.argv[1]}))' \
	    "$TOK" >"$work/$1.json"
	timeout 10 curl -sk -o "$work/$1.out" -D "$work/$1.head" \
	    -w '%{http_code}' -H 'Content-Type: application/json' \
	    --data-binary "@$work/$1.json" \
	    "https://127.0.0.1:$2/api/v1/enroll" >"$work/$1.code" 2>/dev/null
}
field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null
}
# poll NAME PORT: GET /api/v1/requests/ID until 200 (at most 15 s).
poll() {
	id=$(field "$work/$1.out" request)
	t0=$(ms)
	while [ $(($(ms) - t0)) -lt 15000 ]; do
		c=$(timeout 5 curl -sk -o "$work/$1.poll" -w '%{http_code}' \
		    "https://127.0.0.1:$2/api/v1/requests/$id" 2>/dev/null)
		[ "$c" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}
# crl NAME PORT: GET /crl into $work/NAME.crl; its status.
crl() {
	timeout 5 curl -sk -o "$work/$1.crl" -w '%{http_code}' \
	    "https://127.0.0.1:$2/crl" 2>/dev/null
}
# crlnum FILE: the CRL's number, decimal (0: none).
crlnum() {
	h=$(openssl crl -inform DER -in "$1" -noout -crlnumber 2>/dev/null |
	    sed 's/.*=//; s/^0x//')
	echo $((0x${h:-0}))
}
# lists SERIAL PORT...: true when /crl of every port lists the serial.
lists() {
	s=$1
	shift
	for p in "$@"; do
		[ "$(crl x "$p")" = 200 ] || return 1
		openssl crl -inform DER -in "$work/x.crl" -noout -text 2>/dev/null |
		    tr -d ' :' | grep -qi "^SerialNumber$s\$" || return 1
	done
}
# holder JOB: the application_name ("certkit HOST PID") of the session
# holding the job's advisory lock.
holder() {
	q "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a
	    ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND
	    l.objid = (hashtext('certkit:$1')::bigint & 4294967295)"
}

# ---- 1. no signer up -------------------------------------------------------
primary N none || { bad "N starts without a CA"; exit 1; }
grep -q 'enrollment="on (ca = none: signed by the signers)"' "$work/N.log" &&
	ok "N starts with ca = none: enrollment on, signed by the signers" ||
	bad "N's start log: $(grep event=start "$work/N.log")"
admin token create --uses 10 --ttl 1h --json >"$work/tok.json" 2>&1 ||
	bad "token create: $(cat "$work/tok.json")"
TOK=$(field "$work/tok.json" token)
enroll e0 "$port_N"
if [ "$(cat "$work/e0.code")" = 503 ] && grep -q '"no_signer"' "$work/e0.out" &&
    grep -qi '^Retry-After: [0-9]' "$work/e0.head"; then
	ok "no signer up: enrollment on N is 503 no_signer with Retry-After"
else
	bad "no signer: $(cat "$work/e0.code") $(cat "$work/e0.out")"
fi

c=$(timeout 5 curl -sk -o "$work/cacerts0" -D "$work/cacerts0.head" \
    -w '%{http_code}' "https://127.0.0.1:$port_N/.well-known/est/cacerts")
[ "$c" = 503 ] && grep -q '"no_signer"' "$work/cacerts0" &&
    grep -qi '^Retry-After: [0-9]' "$work/cacerts0.head" &&
	ok "no signer ever up: cacerts on N is 503 no_signer (no chain in the registry)" ||
	bad "cacerts without a signer: $c $(cat "$work/cacerts0")"

# ---- 2. signers up: N records, a signer signs ------------------------------
for n in S1 S2; do
	primary $n signer || { bad "signer $n starts"; exit 1; }
done
ok "two signers up (ports $port_S1 $port_S2)"
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ]; do
	enroll e1 "$port_N"
	[ "$(cat "$work/e1.code")" != 503 ] && break
	sleep 0.3
done
if [ "$(cat "$work/e1.code")" = 202 ] &&
    grep -q '"pending_signature"' "$work/e1.out" &&
    grep -qi '^Retry-After: [0-9]' "$work/e1.head"; then
	ok "token enrollment on N: 202 pending_signature with Retry-After"
else
	bad "enrollment on N: $(cat "$work/e1.code") $(cat "$work/e1.out")"
fi
if poll e1 "$port_N"; then
	field "$work/e1.poll" certificate >"$work/e1.pem"
	field "$work/e1.poll" chain >"$work/e1.chain"
	openssl verify -CAfile "$work/S1/ca/root.pem" \
	    -untrusted "$work/e1.chain" "$work/e1.pem" >/dev/null 2>&1 &&
		ok "polled on N: issued by a signer, verifies to the CA (chain from the registry)" ||
		bad "the certificate from N does not verify: $(cat "$work/e1.poll")"
else
	bad "not signed within 15 s: $(cat "$work/e1.poll" 2>/dev/null)"
fi
SER1=$(field "$work/e1.poll" serial)
[ "$(q "SELECT count(*) FROM audit WHERE action = 'issue'")" = 1 ] &&
	ok "one certificate recorded" || bad "audit: $(q 'SELECT action, who, why FROM audit')"
c=$(timeout 5 curl -sk -o "$work/cacerts" -w '%{http_code}' \
    "https://127.0.0.1:$port_N/.well-known/est/cacerts")
n=$(base64 -d "$work/cacerts" 2>/dev/null |
    openssl pkcs7 -inform DER -print_certs 2>/dev/null | grep -c '^subject')
[ "$c" = 200 ] && [ "$n" = 2 ] && ok "cacerts on N: the signers' chain (2 certificates)" ||
	bad "cacerts on N: $c, $n certificates"

# ---- 2b. renewal through N: checked, queued, signed by a signer -----------
# reenroll OUT PORT CSRKEY NAME: simplereenroll authenticated by NAME.pem
# (key NAME.key) with a CSR of CSRKEY.key; status in OUT.code, body OUT.out.
reenroll() {
	openssl req -new -key "$work/$3.key" -subj "/CN=$4" -outform DER \
	    2>/dev/null | base64 >"$work/$1.csr"
	timeout 10 curl -sk -o "$work/$1.out" -D "$work/$1.head" \
	    -w '%{http_code}' --cert "$work/$4.pem" --key "$work/$4.key" \
	    -H 'Content-Type: application/pkcs10' --data-binary "@$work/$1.csr" \
	    "https://127.0.0.1:$2/.well-known/est/simplereenroll" \
	    >"$work/$1.code" 2>/dev/null
}
# p7leaf FILE: the first certificate of a base64 PKCS#7 answer, PEM.
p7leaf() {
	base64 -d "$1" 2>/dev/null | openssl pkcs7 -inform DER -print_certs \
	    2>/dev/null | awk '/BEGIN/{n++} n==1{print} /END/&&n==1{exit}'
}
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null; }
certkey() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
openssl ecparam -name prime256v1 -genkey -noout -out "$work/other.key" 2>/dev/null
nreq=$(q "SELECT count(*) FROM requests")
reenroll r0 "$port_N" other e1
[ "$(cat "$work/r0.code")" = 400 ] && [ "$(q "SELECT count(*) FROM requests")" = "$nreq" ] &&
	ok "renewal through N with another key: 400, nothing queued" ||
	bad "renewal with another key: $(cat "$work/r0.code") $(cat "$work/r0.out")"
# The signers are stopped meanwhile (SIGSTOP: N still counts them up for
# a few seconds), so that the answer is the 202 and not already the
# certificate (a woken signer is that quick).
kill -STOP "$pid_S1" "$pid_S2"
reenroll r1 "$port_N" e1 e1
kill -CONT "$pid_S1" "$pid_S2"
if [ "$(cat "$work/r1.code")" = 202 ] && grep -q '"pending_signature"' "$work/r1.out" &&
    grep -qi '^Retry-After: [0-9]' "$work/r1.head"; then
	ok "renewal (simplereenroll) through N: 202 pending_signature with Retry-After"
else
	bad "renewal through N: $(cat "$work/r1.code") $(cat "$work/r1.out")"
fi
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ]; do
	reenroll r2 "$port_N" e1 e1
	[ "$(cat "$work/r2.code")" = 200 ] && break
	sleep 0.2
done
p7leaf "$work/r2.out" >"$work/r2.pem"
RSER=$(openssl x509 -in "$work/r2.pem" -noout -serial 2>/dev/null | cut -d= -f2 | tr A-F a-f)
if [ "$(cat "$work/r2.code")" = 200 ] && [ -n "$RSER" ] && [ "$RSER" != "$SER1" ] &&
    [ "$(certkey "$work/r2.pem")" = "$(pubkey "$work/e1.key")" ] &&
    openssl verify -CAfile "$work/S1/ca/root.pem" -untrusted "$work/e1.chain" \
        "$work/r2.pem" >/dev/null 2>&1 &&
    [ "$(q "SELECT state FROM requests WHERE id = '$(field "$work/r1.out" request)'")" = issued ]; then
	ok "asked again on N: the renewed certificate a signer issued (same key, serial $RSER)"
else
	bad "renewal not answered with a new certificate: $(cat "$work/r2.code") $RSER"
fi

# the agent renews through N (pinned to N's key): 202, then the certificate
A=$work/agent
mkdir -p "$A"
PIN=$(openssl x509 -in "$work/N/identity/current/cert.pem" -noout -pubkey |
    openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64)
printf '[agent]\nprimary = 127.0.0.1:%s\nprimary_pin = sha256/%s\n' \
    "$port_N" "$PIN" >"$A/certkit.conf"
agent() { timeout 60 "$CERTKIT" --home "$A" agent "$@"; }
AC=$A/agent/identity/current/cert.pem
agent enroll --token "$TOK" --wait 20 >"$work/ag.out" 2>&1 &&
	ok "agent enroll through N: installed" ||
	bad "agent enroll through N: $(cat "$work/ag.out")"
AS1=$(openssl x509 -in "$AC" -noout -serial 2>/dev/null)
kill -STOP "$pid_S1" "$pid_S2"
agent enroll --renew >"$work/ag.out" 2>&1
rc=$?
kill -CONT "$pid_S1" "$pid_S2"
AS2=$(openssl x509 -in "$AC" -noout -serial 2>/dev/null)
[ $rc = 1 ] && [ "$AS2" = "$AS1" ] && grep -q "State: online" "$work/ag.out" &&
    grep -q "renewal pending" "$work/ag.out" &&
	ok "agent renewal through N answered 202: online, renewal pending, the current certificate kept" ||
	bad "agent renewal 202: rc=$rc $AS1 $AS2 $(cat "$work/ag.out")"
agent enroll --renew --wait 20 >"$work/ag.out" 2>&1
rc=$?
AS3=$(openssl x509 -in "$AC" -noout -serial 2>/dev/null)
[ $rc = 0 ] && [ -n "$AS3" ] && [ "$AS3" != "$AS1" ] &&
	ok "agent renewal through N polled: the signer's certificate installed ($AS3)" ||
	bad "agent renewal through N: rc=$rc $AS1 -> $AS3 $(cat "$work/ag.out")"

# ---- 2c. signing is woken by the registry's notification -------------------
# Nine requests through N, each timed from N's 202 to its row issued (psql
# in a loop: a few ms of resolution). The 1 s sweep alone takes 0-1000 ms
# each; woken by NOTIFY, most are signed in tens of ms.
admin token create --uses 20 --ttl 1h --json >"$work/tok2.json" 2>&1
TOK=$(field "$work/tok2.json" token)
# within LIMIT MS...: true when at least 7 of the 9 are below LIMIT.
within() {
	lim=$1
	shift
	n=0
	for v in "$@"; do [ "$v" -lt "$lim" ] && n=$((n + 1)); done
	[ $n -ge 7 ]
}
median() { printf '%s\n' "$@" | sort -n | sed -n 5p; }
lat=""
for i in 1 2 3 4 5 6 7 8 9; do
	enroll "l$i" "$port_N"
	id=$(field "$work/l$i.out" request)
	t0=$(ms)
	while [ $(($(ms) - t0)) -lt 10000 ] &&
	    [ "$(q "SELECT state FROM requests WHERE id = '$id'")" != issued ]; do :; done
	lat="$lat $(($(ms) - t0))"
done
# shellcheck disable=SC2086
within 400 $lat &&
	ok "a request queued on N is signed at once: median $(median $lat) ms (ms:$lat)" ||
	bad "signing after N's 202 took (ms):$lat"

# ---- 2d. the CRL is rebuilt when a revoke is notified ----------------------
# The nine clients revoked one by one, each timed from the revoke's return
# to N's /crl listing it (one curl per look). The sweep alone: the signer's
# next second, then N's one-second read copy.
lat=""
for i in 1 2 3 4 5 6 7 8 9; do
	id=$(field "$work/l$i.out" request)
	ser=$(q "SELECT serial FROM requests WHERE id = '$id'")
	admin revoke "$(q "SELECT client_id FROM requests WHERE id = '$id'")" \
	    >/dev/null 2>&1 || bad "revoke l$i"
	t0=$(ms)
	while [ $(($(ms) - t0)) -lt 10000 ] && ! lists "$ser" "$port_N"; do :; done
	lat="$lat $(($(ms) - t0))"
done
# shellcheck disable=SC2086
within 400 $lat &&
	ok "a revoke is in N's /crl at once: median $(median $lat) ms (ms:$lat)" ||
	bad "revoke to N's /crl took (ms):$lat"

# ---- 3. one CRL, built by one signer, served by every primary --------------
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ] && [ "$(crl N "$port_N")" != 200 ]; do sleep 0.2; done
crl S1 "$port_S1" >/dev/null
crl S2 "$port_S2" >/dev/null
if cmp -s "$work/N.crl" "$work/S1.crl" && cmp -s "$work/N.crl" "$work/S2.crl" &&
    [ -n "$(holder crl)" ]; then
	ok "GET /crl: the same stored CRL on the three primaries (built by $(holder crl))"
else
	bad "the CRLs differ or nobody holds the job: $(holder crl)"
fi
N0=$(crlnum "$work/N.crl")
[ "$N0" -gt 0 ] && [ "$(q 'SELECT number FROM crl')" = "$N0" ] &&
	ok "the CRL number is the stored row's ($N0)" ||
	bad "CRL number $N0, stored $(q 'SELECT number FROM crl')"
ID1=$(field "$work/e1.poll" client_id)
admin revoke "$ID1" >/dev/null 2>&1 || bad "revoke e1"
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ] &&
    ! lists "$SER1" "$port_N" "$port_S1" "$port_S2"; do sleep 0.2; done
N1=$(crlnum "$work/x.crl")
lists "$SER1" "$port_N" "$port_S1" "$port_S2" &&
    [ "$N1" -gt "$N0" ] &&
	ok "revoke: every primary's /crl lists it within $(($(ms) - t0)) ms, number $N0 -> $N1" ||
	bad "revoke not in every /crl (number $N0 -> $N1)"

# ---- 4. kill -9 of the CRL builder: the other signer takes over ------------
B=$(holder crl)
case "$B" in
*" $pid_S1") dead=S1 live=S2 ;;
*" $pid_S2") dead=S2 live=S1 ;;
*) dead="" ;;
esac
[ -n "$dead" ] || { bad "the CRL builder is no signer: '$B'"; exit 1; }
eval "kill -9 \$pid_$dead"
eval "port_live=\$port_$live"
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ]; do
	case "$(holder crl)" in *" $(eval echo \$pid_$live)") break ;; esac
	sleep 0.1
done
case "$(holder crl)" in
*" $(eval echo \$pid_$live)") ok "kill -9 of $dead (the CRL builder): $live takes the job ($(($(ms) - t0)) ms)" ;;
*) bad "after kill -9 of $dead the CRL job is held by '$(holder crl)'" ;;
esac
enroll e2 "$port_N"
if poll e2 "$port_N"; then
	ok "after the kill: an enrollment through N is signed by $live"
else
	bad "e2 not signed: $(cat "$work/e2.code") $(cat "$work/e2.out")"
fi
SER2=$(field "$work/e2.poll" serial)
admin revoke "$(field "$work/e2.poll" client_id)" >/dev/null 2>&1 || bad "revoke e2"
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ] && ! lists "$SER2" "$port_N" "$port_live"; do
	sleep 0.2
done
N2=$(crlnum "$work/x.crl")
lists "$SER2" "$port_N" "$port_live" && lists "$SER1" "$port_N" &&
    [ "$N2" -gt "$N1" ] &&
	ok "a revoke after the takeover reaches /crl on N and $live (number $N1 -> $N2)" ||
	bad "revoke after the takeover not served (number $N1 -> $N2)"

# ---- 5. every signer stopped: 503 no_signer --------------------------------
eval "kill \$pid_$live"
eval "wait \$pid_$live"
t0=$(ms)
while [ $(($(ms) - t0)) -lt 10000 ]; do
	enroll e3 "$port_N"
	[ "$(cat "$work/e3.code")" = 503 ] && break
	sleep 0.5
done
if [ "$(cat "$work/e3.code")" = 503 ] && grep -q '"no_signer"' "$work/e3.out" &&
    grep -qi '^Retry-After: [0-9]' "$work/e3.head"; then
	ok "every signer stopped: N answers 503 no_signer with Retry-After ($(($(ms) - t0)) ms)"
else
	bad "signers gone: N answered $(cat "$work/e3.code") $(cat "$work/e3.out")"
fi
[ "$(crl N "$port_N")" = 200 ] && ok "N still serves the stored CRL" ||
	bad "N's /crl without signers"

kill "$pid_N" 2>/dev/null
wait "$pid_N"
r=$?
[ "$r" = 0 ] && ! grep -q Sanitizer "$work/N.log" && ok "SIGTERM: N stops with 0" ||
	bad "N stop: $r; $(grep -A5 Sanitizer "$work/N.log" | head -20)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
