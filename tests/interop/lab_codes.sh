#!/bin/sh
# lab_codes.sh: every diagnosis code `certkit lab` reproduces is diagnosed
# by `certkit doctor`. Starts `certkit lab --serve` in the background, then
# for EVERY endpoint of its lab.json runs
#   certkit doctor --json --profile ONE-SECTION --trust --reference --dns
# and asserts the primary diagnosis code, the status, the exit code and the
# key evidence (lab.json "evidence": strings diagnosis[0] must mention,
# compared without case and punctuation), plus per-code checks (the
# inspection CA's fingerprint for tls_interception). Then one run over the
# whole profile must give the expected online/unreachable/offline counts.
#
# Env: CERTKIT (the binary). Uses only 127.0.0.1 and ephemeral ports.
set -u
: "${CERTKIT:?}"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy \
    ALL_PROXY all_proxy
T=$(mktemp -d "${TMPDIR:-/tmp}/certkit-labcodes.XXXXXX")
LABPID=""
cleanup() {
	if [ -n "$LABPID" ]; then
		kill "$LABPID" 2>/dev/null
		wait "$LABPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$CERTKIT" lab --serve --dir "$T/lab" >"$T/serve.out" 2>"$T/serve.err" &
LABPID=$!
# Bounded wait (30 s) for the readiness line.
i=0
until grep -q '^lab ready: ' "$T/serve.out" 2>/dev/null; do
	i=$((i + 1))
	if ! kill -0 "$LABPID" 2>/dev/null; then
		echo "not ok - the lab exited before it was ready"
		sed 's/^/  | /' "$T/serve.err"
		echo "0 passed, 1 failed"
		exit 1
	fi
	if [ $i -gt 300 ]; then
		echo "not ok - the lab was not ready within 30 s"
		echo "0 passed, 1 failed"
		exit 1
	fi
	sleep 0.1
done
# shellcheck disable=SC1091
. "$T/lab/lab.env"

python3 - "$CERTKIT" "$T" <<'EOF'
import concurrent.futures, json, os, re, subprocess, sys

certkit, tmp = sys.argv[1], sys.argv[2]
lab = json.load(open(os.environ['LAB_JSON']))
profile = open(os.environ['LAB_PROFILE']).read()

# One profile per section: the text between "[name]" and the next "[".
sections = {}
for m in re.finditer(r'^\[([^\]]+)\]\n(.*?)(?=^\[|\Z)', profile, re.M | re.S):
    sections[m.group(1)] = '[%s]\n%s' % (m.group(1), m.group(2))

def norm(s):
    return re.sub(r'[^a-z0-9]', '', s.lower())

def doctor(args):
    cmd = [certkit, 'doctor', '--json', '--trust', os.environ['LAB_TRUST'],
           '--reference', os.environ['LAB_REFERENCE'],
           '--dns', os.environ['LAB_DNS'], '--timeout', '2'] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, None, 'doctor did not finish within 60 s'
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        return p.returncode, None, 'not JSON (exit %d): %s %s' % (
            p.returncode, p.stdout[:200], p.stderr[:300])

def check(ep):
    name = ep['name']
    if name not in sections:
        return 'no section [%s] in the profile' % name
    path = os.path.join(tmp, 'p-%s.ini' % name)
    with open(path, 'w') as f:
        f.write(sections[name])
    rc, rep, err = doctor(['--profile', path])
    if rep is None:
        return err
    eps = rep.get('endpoints') or []
    if len(eps) != 1:
        return 'expected 1 endpoint in the report, got %d' % len(eps)
    e = eps[0]
    diag = e.get('diagnosis') or [{}]
    got, status = diag[0].get('code'), e.get('status')
    why = []
    if got != ep['code']:
        why.append('code %s, expected %s (%s)' % (got, ep['code'],
                   diag[0].get('summary', '')))
    if status != ep['status']:
        why.append('status %s, expected %s' % (status, ep['status']))
    want_rc = 0 if ep['status'] == 'online' else 1
    if rc != want_rc:
        why.append('exit %s, expected %d' % (rc, want_rc))
    text = norm(json.dumps(diag[0]))
    for ev in ep['evidence']:
        if norm(ev) not in text:
            why.append('evidence lacks "%s"' % ev)
    if ep['code'] == 'tls_interception':
        # The issue: name the inspecting CA by subject AND fingerprint.
        zs = [c for c in e.get('chain', []) if 'Zscaler' in c.get('subject', '')]
        if not zs:
            why.append('the report shows no Zscaler certificate in the chain')
        elif norm(zs[0]['sha256']) not in text:
            why.append('evidence lacks the inspection CA fingerprint')
    if ep['code'] == 'missing_root' and 'certkit trust' not in json.dumps(diag[0]):
        why.append('no certkit command to install the root')
    if ep['code'] != 'ok' and not diag[0].get('remedies'):
        why.append('no remedies')
    return '; '.join(why)

endpoints = lab['endpoints']
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    results = list(pool.map(check, endpoints))

passed = failed = 0
for ep, why in zip(endpoints, results):
    label = ep['code'] if ep['name'] == ep['code'] else '%s (%s)' % (ep['code'], ep['name'])
    if why:
        failed += 1
        print('not ok - %s: %s' % (label, why))
    else:
        passed += 1
        print('ok - %s' % label)

# Every code of the issue is reproduced by at least one endpoint.
codes = set(ep['code'] for ep in endpoints)
issue = {'ok', 'dns_failure', 'dns_timeout', 'dns_sinkhole', 'tcp_refused',
         'tcp_timeout', 'tcp_reset', 'proxy_failure', 'proxy_auth_required',
         'handshake_timeout', 'tls_reset', 'not_tls', 'tls_protocol_mismatch',
         'tls_cipher_mismatch', 'client_cert_required', 'client_cert_rejected',
         'cert_expired', 'cert_not_yet_valid', 'clock_skew', 'self_signed_leaf',
         'hostname_mismatch', 'fallback_certificate', 'weak_signature',
         'weak_key', 'revoked', 'incomplete_chain', 'missing_root',
         'expired_root_in_store', 'tls_interception', 'untrusted_root'}
if issue - codes:
    failed += 1
    print('not ok - the lab reproduces every code: missing %s' % sorted(issue - codes))
else:
    passed += 1
    print('ok - the lab reproduces all %d codes' % len(issue))

# The whole profile at once: the summary counts match.
rc, rep, err = doctor(['--profile', os.environ['LAB_PROFILE']])
if rep is None:
    failed += 1
    print('not ok - whole profile: %s' % err)
else:
    want = lab['expected']
    got = rep.get('summary', {})
    if all(got.get(k) == want[k] for k in ('online', 'unreachable', 'offline')) and rc == 1:
        passed += 1
        print('ok - whole profile: %s' % json.dumps(want, sort_keys=True))
    else:
        failed += 1
        print('not ok - whole profile: summary %s exit %s, expected %s exit 1' % (
            json.dumps(got, sort_keys=True), rc, json.dumps(want, sort_keys=True)))

print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
EOF
