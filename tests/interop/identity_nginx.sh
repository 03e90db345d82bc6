#!/bin/sh
# identity_nginx.sh: nginx serves what certkit installs.
#
#  1. certkit identity init makes the self-signed default; nginx, started with
#     ssl_certificate current/fullchain.pem and ssl_certificate_key
#     current/key.pem, serves it, and openssl s_client -verify_return_error
#     accepts it when it trusts that certificate.
#  2. certkit identity install of a CA-issued leaf, with on_change sending
#     nginx SIGHUP, makes nginx serve the new certificate and its
#     intermediate; s_client (trusting the test root) and curl accept it.
#  3. An install whose on_change fails is rolled back: `current` is the
#     previous identity again and nginx still serves it.
# Env: CERTKIT, CERTKIT_TEST_PKI. nginx on 127.0.0.1, a random high port.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
PKI=$CERTKIT_TEST_PKI
NGINX=${NGINX:-/usr/sbin/nginx}
AT=2026-06-01T00:00:00Z
ATT=1780272000
if [ ! -x "$NGINX" ]; then
	echo "not ok - $NGINX is not installed (apt-get install nginx-light)"
	echo "0 passed, 1 failed"
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/certkit-nginx.XXXXXX")
H="$work/home"
mkdir -p "$H" "$work/tmp"
ngpid=""
cleanup() {
	[ -n "$ngpid" ] && kill "$ngpid" 2>/dev/null && sleep 0.2
	[ -n "$ngpid" ] && kill -9 "$ngpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
export CERTKIT_HOME=$H CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10
export SSL_CERT_FILE="$PKI/root-ca.pem"
unset CERTKIT_FAULT CERTKIT_IDENTITY_CRASH_AT CERTKIT_PASSWORD
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'; }

# served_fp CAFILE [extra s_client args]: the fingerprint nginx serves, if
# s_client verifies it (empty otherwise).
served_fp() {
	ca=$1; shift
	timeout 10 openssl s_client -connect "127.0.0.1:$port" \
	    -servername device.example.test -verify_return_error \
	    -verify_hostname device.example.test -CAfile "$ca" "$@" \
	    </dev/null >"$work/s_client.out" 2>&1 || return 0
	openssl x509 -in "$work/s_client.out" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}

if ! "$CERTKIT" identity init --at $AT >"$work/init.out" 2>&1; then
	bad "certkit identity init: $(cat "$work/init.out")"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok "certkit identity init made the default"
DEFAULT=$(fp "$H/identity/current/cert.pem")

# Start nginx on a random free port (a few tries: the port may be taken).
started=0
for try in 1 2 3 4 5; do
	port=$(awk -v s="$$$try" 'BEGIN { srand(s); printf "%d", 20000 + rand() * 40000 }')
	cat >"$work/nginx.conf" <<EOF
user root;
worker_processes 1;
error_log $work/error.log info;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $work/tmp/body;
	proxy_temp_path $work/tmp/proxy;
	fastcgi_temp_path $work/tmp/fastcgi;
	uwsgi_temp_path $work/tmp/uwsgi;
	scgi_temp_path $work/tmp/scgi;
	server {
		listen 127.0.0.1:$port ssl;
		server_name device.example.test;
		ssl_certificate $H/identity/current/fullchain.pem;
		ssl_certificate_key $H/identity/current/key.pem;
		location / { return 200 "certkit ok\n"; }
	}
}
EOF
	"$NGINX" -p "$work" -e "$work/error.log" -c "$work/nginx.conf" \
	    -g "daemon off; pid $work/nginx.pid;" >"$work/nginx.out" 2>&1 &
	ngpid=$!
	i=0
	while [ $i -lt 50 ]; do
		if ! kill -0 "$ngpid" 2>/dev/null; then
			break
		fi
		if [ -s "$work/nginx.pid" ] &&
		    timeout 2 openssl s_client -connect "127.0.0.1:$port" </dev/null >/dev/null 2>&1; then
			started=1
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	[ $started = 1 ] && break
	kill "$ngpid" 2>/dev/null
	wait "$ngpid" 2>/dev/null
	ngpid=""
done
if [ $started != 1 ]; then
	bad "nginx did not start: $(cat "$work/nginx.out" "$work/error.log" 2>/dev/null | tail -5)"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok "nginx serves current/fullchain.pem on 127.0.0.1:$port"

# 1. The default, trusted as itself (a pinned self-signed certificate).
got=$(served_fp "$H/identity/current/cert.pem" -partial_chain -attime $ATT)
[ -n "$got" ] && [ "$got" = "$DEFAULT" ] &&
	ok "s_client -verify_return_error accepts the default (fingerprint matches)" ||
	bad "the default is not served or not accepted: $(tail -5 "$work/s_client.out")"

# 2. Install a CA-issued leaf; on_change reloads nginx.
printf '[identity]\non_change = kill -HUP $(cat %s/nginx.pid)\n' "$work" >"$H/certkit.conf"
# curl cannot pin the time, so the leaf is issued by int-ca now, for 365
# days, with the PKI leaf's names (leaf.pem ends 2027-01-01), and installed,
# served and verified at the real time.
printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
    extendedKeyUsage=serverAuth subjectKeyIdentifier=hash authorityKeyIdentifier=keyid \
    subjectAltName=DNS:device.example.test,IP:192.0.2.10 >"$work/leaf.ext"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/leaf.key" -subj "/C=US/O=certkit tests/CN=device.example.test" \
    -out "$work/leaf.csr" 2>/dev/null &&
    openssl x509 -req -in "$work/leaf.csr" -CA "$PKI/int-ca.pem" -CAkey "$PKI/int-ca.key" \
    -set_serial 0x5eed03 -days 365 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null ||
    bad "issuing the leaf"
if "$CERTKIT" identity install --cert "$work/leaf.pem" \
    --key "$work/leaf.key" --chain "$PKI/int-ca.pem" >"$work/install.out" 2>&1; then
	ok "certkit identity install of the PKI leaf"
else
	bad "install failed: $(cat "$work/install.out")"
fi
grep -q "on_change: .* succeeded" "$work/install.out" && ok "on_change (SIGHUP) ran" ||
	bad "on_change did not run: $(cat "$work/install.out")"
NEW=$(fp "$work/leaf.pem")
i=0 got=""
while [ $i -lt 50 ]; do
	got=$(served_fp "$PKI/root-ca.pem")
	[ "$got" = "$NEW" ] && break
	sleep 0.2
	i=$((i + 1))
done
[ "$got" = "$NEW" ] && ok "after the reload nginx serves the new certificate; s_client verifies it to the root" ||
	bad "nginx serves $got, expected $NEW: $(tail -5 "$work/s_client.out")"
# A reload is graceful: until the old workers have drained, a new
# connection may still reach one of them and get the old certificate. Wait
# (bounded) for the old workers to exit before the single-shot checks.
i=0
while [ $i -lt 50 ] &&
    [ "$(pgrep -P "$ngpid" 2>/dev/null | wc -l)" -gt 1 ]; do
	sleep 0.2
	i=$((i + 1))
done
n=$(timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername device.example.test \
    -showcerts </dev/null 2>/dev/null | grep -c "BEGIN CERTIFICATE")
[ "$n" = 2 ] && ok "nginx sends the leaf and its intermediate (fullchain.pem)" ||
	bad "nginx sends $n certificates, expected 2"
if command -v curl >/dev/null 2>&1; then
	body=$(timeout 10 curl -sS --cacert "$PKI/root-ca.pem" \
	    --resolve "device.example.test:$port:127.0.0.1" \
	    "https://device.example.test:$port/" 2>&1)
	[ "$body" = "certkit ok" ] && ok "curl accepts it with the right CA" ||
		bad "curl: $body"
fi

# 3. A failing on_change rolls back; nginx keeps serving the same identity.
printf '[identity]\non_change = exit 7\n' >"$H/certkit.conf"
"$CERTKIT" identity reset --at $AT >"$work/reset.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "ROLLED BACK" "$work/reset.out" &&
	ok "a failing on_change is rolled back (exit 1, says ROLLED BACK)" ||
	bad "reset with a failing on_change: exit $rc: $(cat "$work/reset.out")"
[ "$(fp "$H/identity/current/cert.pem")" = "$NEW" ] && ok "current is the previous identity again" ||
	bad "current changed despite the rollback"
got=$(served_fp "$PKI/root-ca.pem")
[ "$got" = "$NEW" ] && ok "nginx still serves it" || bad "nginx serves $got after the rollback"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
