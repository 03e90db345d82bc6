# The doctor's network side on hostile input: names that do not resolve,
# servers that close at once, descriptor limits, timeouts. Loopback and
# *.invalid names only (RFC 6761 6.4: never resolve); every case passes
# whatever DNS the machine has, none included (NXDOMAIN, an error or a
# timeout are all DNS diagnoses).

name: a name that does not resolve is a DNS diagnosis, not a crash
run: $CERTKIT doctor --json --timeout 1 nonexistent.invalid
exit: 1
stdout: "code":"dns_

name: --proxy NAME that does not resolve is a proxy diagnosis, not a crash
run: $CERTKIT doctor --json --timeout 1 --proxy bogus.invalid 127.0.0.1:1
exit: 1
stdout: "code":"proxy_failure"

name: --proxy URL whose host does not resolve is a proxy diagnosis
run: $CERTKIT doctor --json --timeout 1 --proxy http://bogus.invalid:8080 127.0.0.1:1
exit: 1
stdout: "code":"proxy_failure"

name: HTTPS_PROXY whose host does not resolve, with an IP endpoint
run: HTTPS_PROXY=http://nonexistent.invalid:3128 $CERTKIT doctor --json --timeout 1 127.0.0.1:1
exit: 1
stdout: "code":"proxy_failure"

name: a second profile without --profile is a usage error, not an endpoint
run: printf '[a]\nhost = 127.0.0.1:1\n' >"$T/a.ini"
run: printf '[b]\nhost = 127.0.0.1:2\n' >"$T/b.ini"
run: cd "$T" && $CERTKIT doctor --timeout 1 --profile a.ini b.ini
exit: 2
stderr: 'b.ini' looks like a profile, not an endpoint

name: the diagnosis is the finding model, version 2
run: $CERTKIT doctor --json --timeout 1 127.0.0.1:1
exit: 1
stdout: "diagnosis":[{"code":"tcp_refused","severity":"error","summary":
stdout: "evidence":{
stdout: "remedies":[
stdout: "version":2,

name: --policy with an unknown value is a usage error, before any connection
run: $CERTKIT doctor --policy lax 127.0.0.1:1
exit: 2
stderr: --policy: unknown policy 'lax': expected compat or strict
