#!/bin/sh
# hostile_text.sh: no text certkit prints lets a certificate, a peer or a
# file name drive the terminal. The test PKI's hostile-* certificates carry
# ESC, BEL, CR, LF, NUL, DEL, C1 controls (raw and as UTF-8) and a
# right-to-left override in their CN, O and SAN; a file is named with ESC,
# BEL and a newline. Every command that can print them runs here (show,
# verify, doctor against `openssl s_server` on 127.0.0.1, trust add / list /
# audit / remove, trust add --from, identity install / status, convert), and
# every byte of its stdout and stderr is scanned: no C0 control but LF and
# TAB, no DEL, no C1 (raw or UTF-8), no invalid UTF-8, no bidi override, and
# no forged line ("FAKE: ..."). JSON output is scanned too: jansson escapes
# C0 itself; the values stay exact (docs/json.md).
#
# Env: CERTKIT, CERTKIT_TEST_PKI. Every wait is bounded; every server is
# killed on exit.
set -u
: "${CERTKIT:?}" "${CERTKIT_TEST_PKI:?}"
P=$CERTKIT_TEST_PKI
AT=2026-06-01T00:00:00Z
OPENSSL=${OPENSSL:-openssl}
command -v python3 >/dev/null 2>&1 || { echo "python3 is required"; exit 1; }
unset HTTPS_PROXY https_proxy NO_PROXY no_proxy SSL_CERT_FILE SSL_CERT_DIR \
	CERTKIT_HOME CERTKIT_PASSWORD
export NO_COLOR=1

. "$(dirname "$0")/peer_lib.inc"
workdir hostile
bad() { fail=$((fail + 1)); echo "not ok - $1"; }

# scan NAME FILE: fails NAME if FILE holds a byte a terminal would act on.
scan() {
	if python3 - "$2" >"$W/why" 2>&1 <<'EOF'; then ok "$1"; else bad "$1"; sed 's/^/  | /' "$W/why" | head -20; fi
import sys
data = open(sys.argv[1], "rb").read()
bad = []
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    bad.append("invalid UTF-8 at byte %d: %r" % (e.start, data[max(0, e.start - 20):e.start + 20]))
    text = data.decode("utf-8", "replace")
for i, ch in enumerate(text):
    o = ord(ch)
    if (o < 0x20 and ch not in "\n\t") or 0x7f <= o <= 0x9f or \
            0x202a <= o <= 0x202e or 0x2066 <= o <= 0x2069:
        bad.append("U+%04X at %d: %r" % (o, i, text[max(0, i - 30):i + 30]))
for line in text.split("\n"):
    if line.lstrip().startswith("FAKE:"):
        bad.append("forged line: %r" % line)
for b in bad[:10]:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

# run NAME CMD...: runs certkit with a 60 s bound, scans stdout and stderr.
run() {
	name=$1
	shift
	timeout 60 "$CERTKIT" "$@" >"$W/out" 2>"$W/err" </dev/null
	echo $? >"$W/rc"
	cat "$W/out" "$W/err" >"$W/all"
	scan "$name" "$W/all"
}

# A server whose chain carries the hostile names.
start_server() {
	start server "$OPENSSL" s_server -accept "127.0.0.1:@PORT@" -www -quiet \
		-cert "$P/hostile-leaf.pem" -key "$P/hostile-leaf.key" \
		-cert_chain "$P/hostile-ca.pem"
}

# A file name with ESC, BEL and a newline that forges a line.
EVIL="$W/evil$(printf '\033]0;TITLE\007\nFAKE: ONLINE\033[2J')"
cp "$P/leaf.pem" "$EVIL.pem"
cp "$P/leaf.key" "$EVIL.key"
H="$W/home"

# ---- certificates with hostile names --------------------------------------------
run "show: hostile CN, O and SAN" show "$P/hostile-chain.pem"
run "show --json: hostile names" show --json "$P/hostile-chain.pem"
run "verify: hostile chain, untrusted" verify --at "$AT" "$P/hostile-leaf.pem"
run "verify: hostile chain, trusted" verify --at "$AT" --roots "$P/hostile-ca.pem" "$P/hostile-leaf.pem"
run "verify --json: hostile chain" verify --json --at "$AT" "$P/hostile-chain.pem"
run "trust add: hostile CA from a file" --home "$H" trust add "$P/hostile-ca.pem"
run "trust list: hostile CA" --home "$H" trust list
run "trust list --json: hostile CA" --home "$H" trust list --json
run "trust audit: hostile CA" --home "$H" trust audit --at "$AT"
alias=$(python3 - "$H" <<'EOF'
import os, sys
d = os.path.join(sys.argv[1], "trust", "anchors")
names = sorted(os.listdir(d)) if os.path.isdir(d) else []
print(names[0].rsplit(".", 1)[0] if names else "none")
EOF
)
run "trust remove: hostile CA" --home "$H" trust remove "$alias"
run "identity install: hostile leaf" --home "$H" identity install --cert "$P/hostile-leaf.pem" --key "$P/hostile-leaf.key" --chain "$P/hostile-ca.pem" --insecure-accept-warnings
run "identity status: hostile leaf" --home "$H" identity status --at "$AT"

# ---- a peer with hostile names -------------------------------------------------
if start_server; then
	run "doctor: hostile peer, untrusted" doctor --at "$AT" --timeout 5 "127.0.0.1:$PORT"
	run "doctor: hostile peer, trusted" doctor --at "$AT" --timeout 5 --trust "$P/hostile-ca.pem" "127.0.0.1:$PORT"
	run "doctor --json: hostile peer" doctor --json --at "$AT" --timeout 5 "127.0.0.1:$PORT"
	run "trust add --from: hostile peer" --home "$W/home2" trust add --from "127.0.0.1:$PORT" --timeout 5
	run "trust list after --from" --home "$W/home2" trust list
else
	bad "openssl s_server with the hostile chain starts"
fi

# ---- a hostile file name ----------------------------------------------------
run "show: hostile file name" show "$EVIL.pem"
run "show: hostile file name, missing" show "$EVIL.missing"
run "verify: hostile file name" verify --at "$AT" --roots "$P/root-ca.pem" "$EVIL.pem"
run "verify: hostile file name as roots" verify --at "$AT" --roots "$EVIL.pem" "$P/leaf.pem"
run "trust add: hostile file name" --home "$W/home3" trust add "$EVIL.pem"
run "trust add: hostile file name, missing" --home "$W/home3" trust add "$EVIL.missing"
run "doctor --trust: hostile file name, missing" doctor --at "$AT" --trust "$EVIL.missing" "127.0.0.1:1"
run "convert: hostile file name" convert --to pem --out "$W/out.pem" "$EVIL.pem" "$EVIL.key"
run "convert: hostile output name, refused" convert --to p12 --out "$EVIL.p12" "$EVIL.pem"
run "identity install: hostile file name" --home "$W/home4" identity install --cert "$EVIL.missing"
run "password file: hostile file name" show --password-file "$EVIL.missing" "$P/leaf.p12"
run "--home: hostile directory name" --home "$EVIL.home" trust list

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
