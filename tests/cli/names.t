# File names and --home that are not UTF-8 (byte 0xff), and names that are
# not text at all: every command keeps working, JSON shows such a name with
# \xNN (docs/json.md, rule 6), and nothing is reported as "out of memory".
# See also tests/interop/hostile_text.sh (control bytes on a terminal).

name: verify --json names a non-UTF-8 file escaped, with its verdict
run: F="$T/le$(printf '\377')af.pem"; cp "$PKI/chain.pem" "$F"
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$F"
stdout: "file": "
stdout: le\\xffaf.pem"
stdout: "valid": true
!stderr: out of memory

name: verify --json with two files, one of them non-UTF-8, lists both
run: F="$T/le$(printf '\377')af.pem"; cp "$PKI/chain.pem" "$F"
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/chain.pem" "$F"
stdout: le\\xffaf.pem"
stdout: "file": "
stdout: chain.pem"
!stdout: "results": []
!stderr: out of memory

name: verify --json of a missing non-UTF-8 file records its error
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/chain.pem" "$T/gone$(printf '\377').pem"
exit: 2
stdout: gone\\xff.pem"
stdout: "error":
!stderr: out of memory

name: doctor --trust with a non-UTF-8 file gives its report
run: F="$T/ro$(printf '\377')ot.pem"; cp "$PKI/root-ca.pem" "$F"
run: $CERTKIT doctor --json --timeout 1 --trust "$F" 127.0.0.1:1
exit: 1
stdout: "trust":"
stdout: ro\\xffot.pem"
stdout: "code":"tcp_refused"
!stderr: out of memory

name: doctor with a non-UTF-8 --home gives its report
run: H="$T/ho$(printf '\377')me"; $CERTKIT --home "$H" trust add "$PKI/root-ca.pem" >/dev/null
run: $CERTKIT --home "$H" doctor --json --timeout 1 127.0.0.1:1
exit: 1
stdout: ho\\xffme/trust/out/ca-bundle.pem"
!stderr: out of memory

name: identity csr under a non-UTF-8 --home keeps its pending key
run: H="$T/ho$(printf '\377')me"
run: $CERTKIT --home "$H" identity csr --name dev.example.test --out "$T/req.csr" && ls "$H"/identity/pending/ && test -s "$T/req.csr"
stdout: .key.pem
stdout: .csr.pem
stdout: Key:       EC P-256, kept in
stdout: ho\xffme/identity/pending/
!stderr: out of memory

name: identity csr to a non-UTF-8 --out reports it escaped
run: H="$T/home"
run: $CERTKIT --home "$H" identity csr --json --name dev.example.test --out "$T/re$(printf '\377')q.csr" && ls "$H"/identity/pending/
stdout: "out": "
stdout: re\\xffq.csr"
stdout: .key.pem
!stderr: out of memory

name: identity status, install and backups under a non-UTF-8 --home
run: H="$T/ho$(printf '\377')me"; F="$T/le$(printf '\377')af"
run: cp "$PKI/leaf.pem" "$F.pem"; cp "$PKI/leaf.key" "$F.key"
run: $CERTKIT --home "$H" identity init --name a.example.test >/dev/null &&
run: $CERTKIT --home "$H" identity install --json --at 2026-06-01T00:00:00Z --insecure-accept-warnings --cert "$F.pem" --key "$F.key" --chain "$PKI/int-ca.pem" &&
run: $CERTKIT --home "$H" identity backups --json && $CERTKIT --home "$H" identity status --json --at 2026-06-01T00:00:00Z
exit: 1
stdout: "input": "
stdout: le\\xffaf.pem"
stdout: "directory": "
stdout: ho\\xffme/identity"
!stderr: out of memory

name: trust add, list, audit and rebuild under a non-UTF-8 --home
run: H="$T/ho$(printf '\377')me"; F="$T/ro$(printf '\377')ot.pem"; cp "$PKI/root-ca.pem" "$F"
run: $CERTKIT --home "$H" trust add --json "$F" && $CERTKIT --home "$H" trust list --json --source custom &&
run: $CERTKIT --home "$H" trust rebuild --json; $CERTKIT --home "$H" trust audit --json --at 2026-06-01T00:00:00Z
exit: 1
stdout: "origin": "
stdout: ro\\xffot.pem: block 1 (CERTIFICATE)"
stdout: "store": "
stdout: ho\\xffme/trust"
stdout: "clean":
!stderr: out of memory
