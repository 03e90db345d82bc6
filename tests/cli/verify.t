# certkit verify: verdicts, explanations, bad input, and agreement with
# `openssl verify`. Every case pins the time with --at (tests/pki/README.md).

name: --help prints the usage and exits 0
run: $CERTKIT verify --help
stdout: usage: certkit verify [OPTIONS] CERT...
stdout: --each

name: a valid chain is OK, with the chain as built and the anchor marked
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/chain.pem"
stdout: chain.pem: OK
stdout: depth=0 C = US, O = certkit tests, CN = device.example.test
stdout: depth=1 C = US, O = certkit tests, CN = certkit Test Issuing CA
stdout: depth=2 C = US, O = certkit tests, CN = certkit Test Root CA (trust anchor)

name: intermediates from --untrusted, DER leaf
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.der" --untrusted "$PKI/int-ca.der" "$PKI/leaf.der"
stdout: leaf.der: OK

name: an intermediate given as the only root is an anchor (partial chain)
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/int-ca.pem" "$PKI/leaf.pem"
stdout: depth=1 C = US, O = certkit tests, CN = certkit Test Issuing CA (trust anchor)

name: a PKCS#12 file as CERT, with its password
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --password-file "$PKI/password.txt" "$PKI/leaf.p12"
stdout: leaf.p12: OK

name: a directory of roots: hashed names or not, other files skipped
run: mkdir "$T/roots" && cp "$PKI/root-ca.pem" "$T/roots/a.pem" && cp "$PKI/text.txt" "$PKI/leaf.key" "$T/roots/" && cp "$PKI/root-ca.der" "$T/roots/5ad8a5d6.0"
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$T/roots" "$PKI/chain.pem"
stdout: chain.pem: OK

name: expired: code, subject, date and what to do
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-expired.pem"
exit: 1
stdout: leaf-expired.pem: INVALID
stdout: cert_expired at depth=0 C = US, O = certkit tests, CN = expired.example.test
stdout: expired on 2021-01-01T00:00:00Z
stdout: Fix: Renew the certificate

name: --at is honoured: the expired leaf was valid in 2020
run: $CERTKIT verify --at 2020-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-expired.pem"
stdout: leaf-expired.pem: OK

name: not yet valid
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-notyet.pem"
exit: 1
stdout: cert_not_yet_valid at depth=0
stdout: valid only from 2030-01-01T00:00:00Z

name: self-signed leaf
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/leaf-selfsigned.pem"
exit: 1
stdout: self_signed_leaf at depth=0

name: a leaf from another root: untrusted_root, naming that root
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/other-leaf.pem"
exit: 1
stdout: untrusted_root at depth=0
stdout: its issuer 'C = US, O = certkit tests, CN = Other Untrusted Root'

name: the intermediate is missing: incomplete_chain with the AIA URL
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/gap.pem"
exit: 1
stdout: incomplete_chain at depth=0
stdout: 'C = US, O = certkit tests, CN = certkit Test Issuing CA', was not found
stdout: http://127.0.0.1:8080/int-ca.der

name: revoked, with the date and the reason from the CRL
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --crl "$PKI/int-ca.crl" --crl "$PKI/root-ca.crl" "$PKI/leaf-revoked.pem"
exit: 1
stdout: revoked at depth=0
stdout: revoked on 2026-02-01T00:00:00Z (reason: keyCompromise)

name: only the root's CRL: the leaf's is missing
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --crl "$PKI/root-ca.crl" "$PKI/chain.pem"
exit: 1
stdout: crl_missing at depth=0
stdout: http://127.0.0.1:8080/int.crl

name: both CRLs, not revoked
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --crl "$PKI/int-ca.crl" --crl "$PKI/root-ca.crl" "$PKI/chain.pem"
stdout: chain.pem: OK

name: a client certificate is not a server certificate
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-client.pem"
exit: 1
stdout: bad_usage at depth=0
stdout: extendedKeyUsage is clientAuth

name: ... but it is a client certificate
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --purpose client --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-client.pem"
stdout: leaf-client.pem: OK

name: code signing is not TLS
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-ca-eku-codesign.pem"
exit: 1
stdout: bad_usage at depth=0
stdout: codeSigning

name: name constraints, violated and kept
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/nc-ca.pem" "$PKI/nc-leaf-bad.pem" "$PKI/nc-leaf-ok.pem"
exit: 1
stdout: nc-leaf-bad.pem: INVALID
stdout: name_constraints at depth=0
stdout: permits DNS:.allowed.test
stdout: nc-leaf-ok.pem: OK

name: path length, reported on the CA whose constraint is broken
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --untrusted "$PKI/sub-ca.pem" "$PKI/sub-leaf.pem"
exit: 1
stdout: path_length at depth=2 C = US, O = certkit tests, CN = certkit Test Issuing CA

name: a damaged signature
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-badsig.pem"
exit: 1
stdout: invalid_signature at depth=0

name: SHA-1 and RSA-1024 are refused
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-sha1.pem" "$PKI/leaf-weakkey.pem"
exit: 1
stdout: weak_signature at depth=0
stdout: ecdsa-with-SHA1
stdout: weak_key at depth=0
stdout: RSA key has 1024 bits

name: --max-depth 0 refuses one intermediate, 1 allows it
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --max-depth 0 --roots "$PKI/root-ca.pem" "$PKI/chain.pem"; echo "rc=$?"
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --max-depth 1 --roots "$PKI/root-ca.pem" "$PKI/chain.pem"
stdout: chain_too_long at depth=1
stdout: rc=1
stdout: chain.pem: OK

name: host, wildcard, IPv4 and IPv6 that match
run: for a in "--host device.example.test" "--host x.cams.example.test" "--ip 192.0.2.10" "--ip 2001:db8::10" "--email admin@example.test"; do
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" $a "$PKI/chain.pem" >/dev/null || { echo "FAILED: $a"; exit 1; }; done; echo all-matched
stdout: all-matched

name: security: --host is checked on an otherwise valid chain, SANs listed
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --host other.test "$PKI/chain.pem"
exit: 1
stdout: hostname_mismatch at depth=0
stdout: not valid for the host name 'other.test': it names DNS:device.example.test, DNS:*.cams.example.test, IP:192.0.2.10

name: security: --ip is checked, not skipped, on an otherwise valid chain
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --ip 192.0.2.11 "$PKI/chain.pem"
exit: 1
stdout: hostname_mismatch at depth=0
stdout: IP address '192.0.2.11'

name: security: a wildcard covers exactly one label
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --host a.b.cams.example.test "$PKI/chain.pem"
exit: 1
stdout: hostname_mismatch

name: every problem is reported, not just the first
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --host other.test "$PKI/leaf-expired.pem"
exit: 1
stdout: cert_expired at depth=0
stdout: hostname_mismatch at depth=0

name: --json: one report, with findings, chain and parameters
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-expired.pem"
exit: 1
stdout: "file": "
stdout: "valid": false,
stdout: "code": "cert_expired",
stdout: "severity": "error",
stdout: "openssl_error": {
stdout: "code": 10,
stdout: "spki_sha256": "
stdout: "anchor": true
stdout: "time": "2026-06-01T00:00:00Z",
stdout: "crl_check": false,
!stdout: "results"

name: --json with several CERTs: results and an overall verdict
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/chain.pem" "$PKI/gap.pem"
exit: 1
stdout: "results": [
stdout: "code": "incomplete_chain",
stdout: "valid": false

name: --each verifies every end-entity certificate of a bundle; its CAs are the intermediates
run: cat "$PKI/leaf.pem" "$PKI/leaf-expired.pem" "$PKI/int-ca.pem" "$PKI/leaf-client.pem" > "$T/bundle.pem"
run: $CERTKIT verify --each --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$T/bundle.pem"
exit: 1
stdout: bundle.pem[1]: OK
stdout: bundle.pem[2]: INVALID
stdout: bundle.pem[4]: INVALID
!stdout: bundle.pem[3]

name: --each --quiet prints only what is wrong
run: cat "$PKI/leaf.pem" "$PKI/leaf-expired.pem" "$PKI/int-ca.pem" > "$T/bundle.pem"
run: $CERTKIT verify --each --quiet --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$T/bundle.pem"
exit: 1
stdout: bundle.pem[2]: INVALID
!stdout: bundle.pem[1]

name: without --roots: the system store, from SSL_CERT_FILE
run: SSL_CERT_FILE="$PKI/root-ca.pem" SSL_CERT_DIR="$T/none" $CERTKIT verify --at 2026-06-01T00:00:00Z "$PKI/chain.pem"
stdout: chain.pem: OK

name: the system store is not a partial-chain store: an intermediate in it is no anchor
run: SSL_CERT_FILE="$PKI/int-ca.pem" SSL_CERT_DIR="$T/none" $CERTKIT verify --at 2026-06-01T00:00:00Z "$PKI/chain.pem"
exit: 1
stdout: untrusted_root at depth=1

name: a missing system store is an error, not "untrusted"
run: SSL_CERT_FILE="$T/none.pem" SSL_CERT_DIR="$T/none" $CERTKIT verify --at 2026-06-01T00:00:00Z "$PKI/chain.pem" "$PKI/leaf.pem"
exit: 2
stderr: SSL_CERT_FILE=
!stdout: INVALID

name: an empty system store is an error
run: SSL_CERT_FILE="$PKI/text.txt" SSL_CERT_DIR="$T" $CERTKIT verify --at 2026-06-01T00:00:00Z "$PKI/chain.pem"
exit: 2
stderr: the system trust store is missing or empty

# ---- bad input ------------------------------------------------------------

name: a missing roots file
run: $CERTKIT verify --roots "$T/nope.pem" "$PKI/chain.pem"
exit: 2
stderr: nope.pem: no such file or directory

name: a roots file with no certificate in it
run: $CERTKIT verify --roots "$PKI/leaf.key" "$PKI/chain.pem"
exit: 2
stderr: leaf.key: this is a private key, not a certificate

name: a roots directory with no certificate in it
run: cp "$PKI/text.txt" "$PKI/int-ca.crl" "$T/" && $CERTKIT verify --roots "$T" "$PKI/chain.pem"
exit: 2
stderr: none of the 2 files in the directory holds a certificate

name: a bad --ip
run: $CERTKIT verify --roots "$PKI/root-ca.pem" --ip 192.0.2.300 "$PKI/chain.pem"
exit: 2
stderr: --ip: '192.0.2.300' is not an IP address

name: --host with --ip
run: $CERTKIT verify --roots "$PKI/root-ca.pem" --host device.example.test --ip 192.0.2.10 "$PKI/chain.pem"
exit: 2
stderr: give only one of them

name: a wildcard as --host
run: $CERTKIT verify --roots "$PKI/root-ca.pem" --host "*.cams.example.test" "$PKI/chain.pem"
exit: 2
stderr: no wildcard

name: a bad --at
run: $CERTKIT verify --roots "$PKI/root-ca.pem" --at 2026-13-01 "$PKI/chain.pem"
exit: 2
stderr: --at: '2026-13-01' is not a time

name: a bad --purpose and --max-depth
run: $CERTKIT verify --roots "$PKI/root-ca.pem" --purpose web "$PKI/chain.pem"; echo "rc=$?"; $CERTKIT verify --roots "$PKI/root-ca.pem" --max-depth x "$PKI/chain.pem"
exit: 2
stdout: rc=2
stderr: --purpose: 'web' is not a purpose
stderr: --max-depth: 'x' is not a number

name: a key given as CERT
run: $CERTKIT verify --roots "$PKI/root-ca.pem" "$PKI/leaf.key"
exit: 2
stderr: leaf.key: this is a private key, not a certificate

name: garbage given as CERT, the others still verified
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/random.bin" "$PKI/html.der" "$PKI/chain.pem"
exit: 2
stderr: random.bin: not a certificate
stderr: html.der: not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 file
stdout: chain.pem: OK

name: a CRL file that is not a CRL
run: $CERTKIT verify --roots "$PKI/root-ca.pem" --crl "$PKI/int-ca.pem" "$PKI/chain.pem"
exit: 2
stderr: int-ca.pem: this is a certificate, not a CRL

name: no CERT at all
run: $CERTKIT verify --roots "$PKI/root-ca.pem"
exit: 2
stderr: no certificate file given

# ---- the same verdict as openssl verify ------------------------------------

name: cross-check: same inputs, same verdict as openssl verify
run: V="-attime 1780272000 -partial_chain -auth_level 2 -purpose sslserver -CAfile $PKI/root-ca.pem"; bad=0
run: for c in "leaf.pem -untrusted $PKI/int-ca.pem" "leaf-expired.pem -untrusted $PKI/int-ca.pem" "leaf-notyet.pem -untrusted $PKI/int-ca.pem" "leaf-selfsigned.pem" "other-leaf.pem" "leaf-badsig.pem -untrusted $PKI/int-ca.pem" "leaf-sha1.pem -untrusted $PKI/int-ca.pem" "leaf-weakkey.pem -untrusted $PKI/int-ca.pem" "leaf-client.pem -untrusted $PKI/int-ca.pem" "nc-leaf-bad.pem -untrusted $PKI/nc-ca.pem" "nc-leaf-ok.pem -untrusted $PKI/nc-ca.pem" "sub-leaf.pem -untrusted $PKI/int-ca.pem -untrusted $PKI/sub-ca.pem"; do
run: set -- $c; f=$1; shift; openssl verify $V "$@" "$PKI/$f" >/dev/null 2>&1; o=$?
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" $(echo "$@" | sed 's/-untrusted/--untrusted/g') "$PKI/$f" >/dev/null 2>&1; k=$?
run: if { [ $o -eq 0 ] && [ $k -eq 0 ]; } || { [ $o -ne 0 ] && [ $k -eq 1 ]; }; then echo "same: $f"; else echo "DIFFERENT: $f openssl=$o certkit=$k"; bad=1; fi; done; exit $bad
stdout: same: leaf.pem
stdout: same: leaf-sha1.pem
stdout: same: sub-leaf.pem
!stdout: DIFFERENT

name: cross-check with a host name and with CRLs
run: V="-attime 1780272000 -partial_chain -auth_level 2 -purpose sslserver -CAfile $PKI/root-ca.pem -untrusted $PKI/int-ca.pem"
run: openssl verify $V -verify_hostname other.test "$PKI/leaf.pem" >/dev/null 2>&1 && echo "openssl: ok" || echo "openssl: fail"
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --host other.test "$PKI/leaf.pem" >/dev/null && echo "certkit: ok" || echo "certkit: fail"
run: openssl verify $V -crl_check_all -CRLfile "$PKI/int-ca.crl" -CRLfile "$PKI/root-ca.crl" "$PKI/leaf-revoked.pem" >/dev/null 2>&1 && echo "openssl crl: ok" || echo "openssl crl: fail"
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --crl "$PKI/int-ca.crl" --crl "$PKI/root-ca.crl" "$PKI/leaf-revoked.pem" >/dev/null && echo "certkit crl: ok" || echo "certkit crl: fail"
stdout: openssl: fail
stdout: certkit: fail
stdout: openssl crl: fail
stdout: certkit crl: fail

name: --json: the finding model (summary, evidence, remedies) with the deprecated message and remedy, version 2
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-expired.pem"
exit: 1
stdout: "version": 2,
stdout: "summary": "The certificate expired on 2021-01-01T00:00:00Z
stdout: "remedies": [
stdout: "message": "The certificate expired on 2021-01-01T00:00:00Z
stdout: "remedy": "Renew the certificate
stdout: "evidence": {}

# --policy (lib/verify/verify_rules.c; docs/json.md, verify "Policy")

name: --policy compat (the default): a CN-only name matches, with a warning naming who refuses it
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --host cnonly.example.test "$PKI/leaf-cn-only.pem"
stdout: leaf-cn-only.pem: OK
stdout: warning: cn_only_name at depth=0
stdout: Chrome, Go crypto/x509 and rustls/webpki refuse this certificate: the name is only in the CN
stdout: (RFC 6125 6.4.4, BR 7.1.2.7.12)

name: --policy strict: no CN fallback, and the rule is an error
run: $CERTKIT verify --policy strict --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" --host cnonly.example.test "$PKI/leaf-cn-only.pem"
exit: 1
stdout: leaf-cn-only.pem: INVALID
stdout: hostname_mismatch at depth=0
stdout: cn_only_name at depth=0
!stdout: warning:

name: --policy strict --json: severity error, evidence rule and refused_by, parameters.policy
run: $CERTKIT verify --json --policy strict --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --untrusted "$PKI/int-ca.pem" "$PKI/leaf-cn-only.pem"
exit: 1
stdout: "code": "cn_only_name",
stdout: "severity": "error",
stdout: "rule": "RFC 6125 6.4.4, BR 7.1.2.7.12",
stdout: "refused_by": [
stdout: "policy": "strict"

name: --policy strict accepts a chain that keeps every rule
run: $CERTKIT verify --policy strict --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" --host device.example.test "$PKI/chain.pem"
stdout: chain.pem: OK
!stdout: warning:

name: --policy with an unknown value is a usage error
run: $CERTKIT verify --policy lax --roots "$PKI/root-ca.pem" "$PKI/chain.pem"
exit: 2
stderr: --policy: unknown policy 'lax': expected compat or strict

# Path building that tries alternatives (verify_path.c): the cross-sign
# made by crosssign.sh. OpenSSL alone takes the cross-signed R3 (sent
# first) to the expired Old Root and never goes back.
name: a cross-signed intermediate to an expired root: OpenSSL alone fails, certkit takes the other R3 to New Root
run: sh "$SRC/tests/cli/crosssign.sh" "$T" && cd "$T" &&
run: if openssl verify -attime "$(cat attime)" -CAfile roots.pem -untrusted inter.pem leaf.pem >/dev/null 2>&1; then exit 9; fi &&
run: $CERTKIT verify --at "$(cat at)" --roots old.pem --roots new.pem --untrusted inter.pem --host www.example.test leaf.pem
stdout: leaf.pem: OK
stdout: depth=2 CN = New Root (trust anchor)
stdout: alternate_path
!stdout: alternate_path at depth
stdout: (cert_expired at depth 2)

name: the chosen path in --json: evidence path, paths_tried, first_failure
run: sh "$SRC/tests/cli/crosssign.sh" "$T" && cd "$T" &&
run: $CERTKIT verify --json --at "$(cat at)" --roots old.pem --roots new.pem --untrusted inter.pem leaf.pem
stdout: "valid": true,
stdout: "code": "alternate_path",
stdout: "severity": "info",
stdout: "paths_tried": 2,
stdout: "first_failure": {

name: only the cross-signed intermediate: the expiry is reported as before
run: sh "$SRC/tests/cli/crosssign.sh" "$T" && cd "$T" &&
run: $CERTKIT verify --at "$(cat at)" --roots old.pem --roots new.pem --untrusted r3cross.pem leaf.pem
exit: 1
stdout: cert_expired at depth=2 CN = Old Root
!stdout: alternate_path

name: --json wraps many reports exactly as an indented JSON document (json.dumps with indent 2)
run: cat "$PKI/leaf.pem" "$PKI/leaf-expired.pem" "$PKI/int-ca.pem" "$PKI/leaf-client.pem" > "$T/bundle.pem"
run: $CERTKIT verify --each --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$T/bundle.pem" "$T/missing.pem" > "$T/out.json"; echo "exit=$?"
run: python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print("layout=" + ("same" if json.dumps(json.loads(t), indent=2) + "\n" == t else "differs"))' "$T/out.json"
run: $CERTKIT verify --json --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" "$PKI/leaf.pem" > "$T/one.json"
run: python3 -c 'import json,sys; t=open(sys.argv[1]).read(); print("single=" + ("same" if json.dumps(json.loads(t), indent=2) + "\n" == t else "differs"))' "$T/one.json"
stdout: exit=2
stdout: layout=same
stdout: single=same
