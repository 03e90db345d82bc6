# certkit show: every input form of the test PKI, the chain findings, key
# matching across files, and the exit codes (0 fine, 1 error finding, 2 bad
# input). Time is pinned so nothing here ever expires.

name: --help explains the command and its exit codes
run: $CERTKIT show --help
stdout: usage: certkit show [--json] [--password-file FILE] [--at TIME]
stdout: [--policy compat|strict] FILE...
stdout: Exit codes: 0 nothing wrong found; 1 a finding of severity error

name: no FILE is a usage error
run: $CERTKIT show
exit: 2
stderr: show: no FILE given

name: an unknown option is a usage error
run: $CERTKIT show --frobnicate $PKI/leaf.pem
exit: 2
stderr: usage: certkit show

name: a bad --at is a usage error
run: $CERTKIT show --at yesterday $PKI/leaf.pem
exit: 2
stderr: --at: 'yesterday' is not a time

# ---- every field of the main leaf, in text ----------------------------------

name: leaf.pem in text: the fields an admin reads first
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.pem
stdout: leaf.pem: block 1 (CERTIFICATE)
stdout:   Subject     C = US, O = certkit tests, CN = device.example.test
stdout:   Issuer      C = US, O = certkit tests, CN = certkit Test Issuing CA
stdout:   Serial      5F:91:16:1F:43:43:3E:49:A6:DE:6D:B6:80:D7:9F:60
stdout:   Valid       2025-01-01T00:00:00Z .. 2027-01-01T00:00:00Z (expires in 214 days)
stdout:   Names       DNS:device.example.test, DNS:*.cams.example.test, IP:192.0.2.10,
stdout: IP:2001:db8::10, email:admin@example.test,
stdout: URI:https://device.example.test/
stdout:   Key         EC P-256 (256 bits), signed with ecdsa-with-SHA256
stdout:   Usage       digitalSignature; EKU serverAuth, clientAuth
stdout:   CA          no
stdout:   Role        leaf, its issuer is not in this bundle
stdout:   AIA         CA issuers http://127.0.0.1:8080/int-ca.der
stdout:   CRL         http://127.0.0.1:8080/int.crl
stdout:   SPKI pin    sha256/
stdout: 1 certificate: no problems found

name: the SHA-256 fingerprint is the one openssl prints
run: fp=$(openssl x509 -in $PKI/leaf.pem -noout -fingerprint -sha256 | sed 's/.*=//')
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.pem | grep -F "SHA-256     $fp"

name: the SPKI pin is the one the openssl pin recipe gives
run: pin=$(openssl x509 -in $PKI/leaf.pem -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.pem | grep -F "SPKI pin    sha256/$pin"

name: the leaf in JSON: stable keys, RFC 3339 dates, days left
run: $CERTKIT show --json --at 2026-06-01T00:00:00Z $PKI/leaf.pem
stdout: "report": "show",
stdout: "at": "2026-06-01T00:00:00Z",
stdout: "not_after": "2027-01-01T00:00:00Z",
stdout: "validity": "valid",
stdout: "days_left": 214,
stdout: "2001:db8::10"
stdout: "extended_key_usage": [
stdout: "serverAuth",
stdout: "curve": "P-256",
stdout: "role": "leaf"
stdout: "findings": []

name: the JSON is valid and its SHA-256 matches openssl
run: fp=$(openssl x509 -in $PKI/leaf.pem -noout -fingerprint -sha256 | sed 's/.*=//')
run: $CERTKIT show --json --at 2026-06-01T00:00:00Z $PKI/leaf.pem > $T/out.json
run: python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["certificates"][0]["sha256_fingerprint"])' $T/out.json | grep -Fx "$fp"

name: the root: RSA, self-signed, no path length limit
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/root-ca.pem
stdout: Key         RSA 2048 bits, signed with sha256WithRSAEncryption
stdout: CA          yes, no path length limit
stdout: Role        root, self-signed

name: name constraints are shown
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/nc-ca.pem
stdout: Constraints permitted DNS:.allowed.test
stdout: CA          yes, path length 0

# ---- validity and the exit code ---------------------------------------------

name: an expired certificate is exit 1, with the days
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-expired.pem
exit: 1
stdout: (EXPIRED 1977 days ago)
stdout: error   cert_expired: certificate 1 "expired.example.test" expired on
stdout: 2021-01-01T00:00:00Z, 1977 days ago; clients reject an expired

name: a certificate not valid yet is exit 1
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-notyet.pem
exit: 1
stdout: (NOT YET VALID: starts in 1310 days)
stdout: cert_not_yet_valid

name: --at moves the clock: the leaf has expired in 2028
run: $CERTKIT show --at 2028-01-01 $PKI/leaf.pem
exit: 1
stdout: EXPIRED 365 days ago

name: a SHA-1 signature and an RSA-1024 key are warnings, exit 0
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-sha1.pem $PKI/leaf-weakkey.pem
stdout: signed with ecdsa-with-SHA1 WEAK SIGNATURE
stdout: RSA 1024 bits WEAK KEY
stdout: warning weak_signature
stdout: warning weak_key

# ---- every input form --------------------------------------------------------

name: DER certificate
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.der
stdout: leaf.der: DER certificate
stdout: CN = device.example.test

name: CRLF line ends
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/crlf.pem
stdout: crlf.pem: block 3 (CERTIFICATE)
stdout: 3 certificates: no problems found, 1 note

name: a UTF-8 BOM
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/bom.pem
stdout: bom.pem: block 2 (CERTIFICATE)
stdout: 2 certificates: no problems found

name: text around and between blocks
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/noisy.pem
stdout: noisy.pem: block 2 (CERTIFICATE)
stdout: Role        leaf, issued by certificate 2 "certkit Test Issuing CA" (the next one)

name: PKCS#7 in PEM
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/chain.p7b
stdout: chain.p7b: block 1 (PKCS7), certificate 3
stdout: 3 certificates: no problems found, 1 note

name: PKCS#7 in DER
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/chain.p7b.der
stdout: chain.p7b.der: DER PKCS#7, certificate 1
stdout: 3 certificates: no problems found, 1 note

name: PKCS#12 with --password-file: the key matches the leaf
run: $CERTKIT show --at 2026-06-01T00:00:00Z --password-file $PKI/password.txt $PKI/leaf.p12
stdout: leaf.p12: PKCS#12 private key
stdout: Matches     certificate 1 "device.example.test"
stdout: 3 certificates, 1 key: no problems found, 1 note

name: PKCS#12 with a password file ending in a newline
run: $CERTKIT show --at 2026-06-01T00:00:00Z --password-file $PKI/password-nl.txt $PKI/leaf.p12
stdout: 3 certificates, 1 key

name: PKCS#12 with CERTKIT_PASSWORD
run: CERTKIT_PASSWORD=secret $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.p12
stdout: Private key
stdout: leaf.p12: PKCS#12 private key (matches)

name: legacy PKCS#12 (RC2-40, as Windows exports)
run: CERTKIT_PASSWORD=secret $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-legacy.p12
stdout: leaf-legacy.p12: PKCS#12 certificate (key's)
stdout: 3 certificates, 1 key

name: PKCS#12 with the empty password needs none given
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-empty.p12
stdout: 3 certificates, 1 key

name: PKCS#12 with no MAC and no encryption
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-nopass.p12
stdout: 3 certificates, 1 key

name: certificate-only PKCS#12
run: CERTKIT_PASSWORD=secret $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/certs-only.p12
stdout: 3 certificates: no problems found

name: PKCS#12 without a password is exit 2, saying how to give it
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.p12
exit: 2
stderr: leaf.p12: PKCS#12 file is protected by a password, and no password was given: give it with --password-file FILE or the CERTKIT_PASSWORD variable
!stdout: Subject

name: a wrong PKCS#12 password is exit 2
run: $CERTKIT show --at 2026-06-01T00:00:00Z --password-file $PKI/wrong-password.txt $PKI/leaf.p12
exit: 2
stderr: leaf.p12: wrong password, or the file is damaged (MAC check failed)

name: an unreadable password file is exit 2
run: $CERTKIT show --password-file $T/nothing $PKI/leaf.p12
exit: 2
stderr: cannot read the password file

name: encrypted PKCS#8 key
run: $CERTKIT show --at 2026-06-01T00:00:00Z --password-file $PKI/password.txt $PKI/leaf-pkcs8-enc.key
stdout: leaf-pkcs8-enc.key: block 1 (ENCRYPTED PRIVATE KEY)
stdout: Key         EC P-256 (256 bits)
stdout: (no certificates given to compare with)

name: traditional encrypted EC key
run: CERTKIT_PASSWORD=secret $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-trad-enc.key
stdout: leaf-trad-enc.key: block 1 (EC PRIVATE KEY)

name: an encrypted key without a password is exit 2
run: $CERTKIT show $PKI/leaf-pkcs8-enc.key
exit: 2
stderr: is encrypted, and no password was given: give it with --password-file FILE or the CERTKIT_PASSWORD variable

name: an encrypted key with a wrong password is exit 2
run: $CERTKIT show --password-file $PKI/wrong-password.txt $PKI/leaf-trad-enc.key
exit: 2
stderr: leaf-trad-enc.key: block 1 (EC PRIVATE KEY): wrong password, or the key is damaged

name: traditional RSA key and DER PKCS#8 key
run: $CERTKIT show $PKI/root-ca-trad.key $PKI/leaf.key.der
stdout: Key         RSA 2048 bits
stdout: leaf.key.der: DER private key

name: the key is never printed
run: $CERTKIT show --json $PKI/leaf.key $PKI/leaf.pem > $T/out
run: ! grep -F "$(sed -n 2p $PKI/leaf.key)" $T/out && ! grep -q "BEGIN" $T/out

name: a CSR, PEM
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.csr
stdout: leaf.csr: block 1 (CERTIFICATE REQUEST)
stdout: Names       DNS:device.example.test, IP:192.0.2.10
stdout: Signature   verifies

name: a CSR, DER
run: $CERTKIT show --json $PKI/leaf.csr.der
stdout: "signature_valid": true

name: a CRL with its revoked serial, reason and date
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/int-ca.crl
stdout: Updated     2026-01-01T00:00:00Z, next 2027-01-01T00:00:00Z (current)
stdout: Number      1
stdout: Signed by   not checked: the issuer's certificate is not given
stdout: 76:15:B9:61:50:A7:CE:FE:DF:44:67:93:24:46:27:C3  2026-02-01T00:00:00Z  keyCompromise

name: a CRL with its issuer and the revoked certificate is exit 1
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-revoked.pem $PKI/int-ca.pem $PKI/int-ca.crl.der
exit: 1
stdout: Signed by   certificate 2 "certkit Test Issuing CA" (signature verifies)
stdout: REVOKED     on 2026-02-01T00:00:00Z, reason keyCompromise (CRL 1)
stdout: error   cert_revoked

name: a CRL past its nextUpdate is stale
run: $CERTKIT show --at 2028-01-01T00:00:00Z $PKI/root-ca.crl
stdout: (stale)
stdout: warning crl_stale

name: every type in one PEM file
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/mixed.pem
stdout: 2 certificates, 1 key, 1 CSR, 1 CRL: no problems found

name: standard input
run: cat $PKI/chain.pem | $CERTKIT show --at 2026-06-01T00:00:00Z -
stdout: (stdin): block 2 (CERTIFICATE)

name: DER on standard input
run: $CERTKIT show --at 2026-06-01T00:00:00Z - < $PKI/leaf.der
stdout: (stdin): DER certificate

# ---- bad input: exit 2 with the loader's message -----------------------------

name: truncated PEM
run: $CERTKIT show $PKI/truncated.pem
exit: 2
stderr: truncated.pem: block 2 (CERTIFICATE) is truncated: no END line

name: an HTML page saved as DER
run: $CERTKIT show $PKI/html.der
exit: 2
stderr: html.der: not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 file (starts with 3c 68 74 6d: looks like HTML, perhaps an error page saved instead of the file)

name: an empty file
run: $CERTKIT show $PKI/empty.pem
exit: 2
stderr: empty.pem: the file is empty

name: random bytes
run: $CERTKIT show $PKI/random.bin
exit: 2
stderr: random.bin: not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 file (starts with

name: plain text
run: $CERTKIT show $PKI/text.txt
exit: 2
stderr: looks like text with no PEM block in it

name: empty standard input
run: $CERTKIT show - < /dev/null
exit: 2
stderr: (stdin): the file is empty

name: a missing file
run: $CERTKIT show $T/missing.pem
exit: 2
stderr: missing.pem: no such file

name: a directory
run: $CERTKIT show $PKI
exit: 2
stderr: is a directory, expected a file

name: one bad file among good ones: each error is named, nothing is printed
run: $CERTKIT show $PKI/leaf.pem $T/missing.pem $PKI/html.der
exit: 2
stderr: missing.pem: no such file
stderr: html.der: not a certificate
!stdout: Subject

# ---- chain analysis -----------------------------------------------------------

name: a full chain in order: only the root note
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/fullchain.pem
stdout: 1 "device.example.test" <- 2 "certkit Test Issuing CA"
stdout: <- 3 "certkit Test Root CA" (root, self-signed)
stdout: info    root_included
stdout: Role        leaf, issued by certificate 2 "certkit Test Issuing CA" (the next one)

name: reversed.pem: leaf not first (error) and reversed order
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/reversed.pem
exit: 1
stdout: error   leaf_not_first: certificate 1 "certkit Test Root CA" is a CA
stdout: warning reversed_order: the bundle is in reverse order
stdout: fix: Put the leaf first: run `certkit convert --normalize --to pem
stdout: 3 "device.example.test" <- 2 "certkit Test Issuing CA"

name: reversed.pem in JSON: codes, severities, the normalized order
run: $CERTKIT show --json --at 2026-06-01T00:00:00Z $PKI/reversed.pem
exit: 1
stdout: "code": "leaf_not_first",
stdout: "severity": "error",
stdout: "code": "reversed_order",
stdout: "code": "root_included",

name: dup.pem: the duplicate is named
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/dup.pem
stdout: warning duplicate: certificate 3 "certkit Test Issuing CA" is an exact
stdout: copy of certificate 2
stdout: (a copy of certificate 2)

name: gap.pem: the missing intermediate and where to get it
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/gap.pem
exit: 1
stdout: error   gap: certificate 1 "device.example.test" is not issued by the next
stdout: http://127.0.0.1:8080/int-ca.der

name: two chains in one file
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/chain.pem $PKI/other-leaf.pem $PKI/other-root.pem
stdout: 3 "other.example.test" <- 4 "Other Untrusted Root" (root, self-signed)
stdout: warning multiple_leaves

name: a key and a certificate in two files are matched
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf.pem $PKI/leaf.key
stdout: Private key
stdout: leaf.key: block 1 (PRIVATE KEY) (matches)
stdout: Matches     certificate 1 "device.example.test"
stdout: 1 certificate, 1 key: no problems found

name: a key given with the wrong certificate is exit 1
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/other-leaf.pem $PKI/leaf.key
exit: 1
stdout: error   key_mismatch
stdout: Matches     no certificate given here

name: a key and its PKCS#12 in JSON list each other
run: $CERTKIT show --json --at 2026-06-01T00:00:00Z --password-file $PKI/password.txt $PKI/leaf.p12 $PKI/leaf-trad.key
stdout: "matches_total": 1

name: the normalized order's fix really fixes it
run: $CERTKIT convert --normalize --to pem --out $T/fixed.pem $PKI/reversed.pem
run: $CERTKIT show --at 2026-06-01T00:00:00Z $T/fixed.pem
stdout: 3 certificates: no problems found, 1 note

name: --json: the finding model (summary, evidence, remedies) with the deprecated message and fix, version 2
run: $CERTKIT show --json "$PKI/gap.pem"
exit: 1
stdout: "version": 2,
stdout: "summary": "certificate 1
stdout: "evidence": {
stdout: "remedies": [
stdout: "message": "certificate 1
stdout: "fix": "Insert the certificate

# ---- --policy: the rules of verify's policy on each certificate -------------
# (ck_rules_check, lib/verify/verify_rules.c; docs/json.md, show findings)

name: --policy compat (the default): a CN-only leaf is a warning naming who refuses it; exit 0
run: $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/leaf-cn-only.pem
stdout: warning cn_only_name: certificate 1 "cnonly.example.test": Chrome, Go
stdout: (RFC 6125 6.4.4,
stdout: 1 certificate: 1 warning
!stdout: error

name: --policy strict: the same rule is an error; exit 1
run: $CERTKIT show --policy strict --at 2026-06-01T00:00:00Z $PKI/leaf-cn-only.pem $PKI/int-ca.pem
exit: 1
stdout: error   cn_only_name: certificate 1 "cnonly.example.test"
stdout: 2 certificates: 1 error
!stdout: warning

name: --policy strict --json: the finding in show's form (certificates, evidence rule, refused_by, policy) and in the summary
run: $CERTKIT show --json --policy strict --at 2026-06-01T00:00:00Z $PKI/leaf-cn-only.pem
exit: 1
stdout: "errors": 1,
stdout: "code": "cn_only_name",
stdout: "severity": "error",
stdout: "rule": "RFC 6125 6.4.4, BR 7.1.2.7.12",
stdout: "refused_by": [
stdout: "policy": "strict"
stdout: "fix": "Reissue the certificate with the host names

name: --policy compat --json: a warning, counted as one
run: $CERTKIT show --json --at 2026-06-01T00:00:00Z $PKI/leaf-cn-only.pem
stdout: "errors": 0,
stdout: "warnings": 1,
stdout: "severity": "warning",
stdout: "policy": "compat"

name: --policy strict: a chain that keeps every rule has no finding and exits 0
run: $CERTKIT show --policy strict --at 2026-06-01T00:00:00Z $PKI/chain.pem $PKI/root-ca.pem
stdout: 3 certificates: no problems found, 1 note
!stdout: error
!stdout: warning

name: --policy strict: a CN-only certificate whose EKU is clientAuth only names no server: no cn_only_name (its serverAuth twin has it)
run: for e in clientAuth serverAuth; do printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n' $e >$T/$e.cnf
run: openssl req -x509 -config $T/$e.cnf -extensions ext -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $T/$e.key -subj "/CN=gw-$e" -days 30 -out $T/$e.pem 2>/dev/null; done
run: $CERTKIT show --policy strict $T/clientAuth.pem | grep -c cn_only_name; $CERTKIT show --policy strict $T/serverAuth.pem | grep -c 'cn_only_name: certificate 1 "gw-serverAuth"'
stdout: 0
stdout: 1

name: --policy: a root made by an old script (basicConstraints not critical, no SKI, an EKU), judged as a root
run: printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=none\nextendedKeyUsage=serverAuth\n' >$T/c.cnf
run: openssl req -x509 -config $T/c.cnf -extensions ext -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $T/r.key -subj "/CN=Old Script Root" -days 3650 -out $T/r.pem 2>/dev/null
run: $CERTKIT show $T/r.pem; echo "compat: $?"; $CERTKIT show --policy strict $T/r.pem; echo "strict: $?"
stdout: warning ca_basic_constraints_not_critical: certificate 1 "Old Script Root"
stdout: warning ca_no_ski: certificate 1 "Old Script Root"
stdout: warning root_eku: certificate 1 "Old Script Root"
stdout: compat: 0
stdout: error   root_eku: certificate 1 "Old Script Root"
stdout: 1 certificate: 3 errors
stdout: strict: 1
!stdout: leaf_no_aki

name: --policy strict: the rules' errors follow show's own errors, before its warnings
run: $CERTKIT show --json --policy strict --at 2026-06-01T00:00:00Z $PKI/int-ca.pem $PKI/leaf-cn-only.pem | grep -E '"code": "(leaf_not_first|cn_only_name|out_of_order|reversed_order)"' | tr -d ' \n'
exit: 0
stdout: "code":"leaf_not_first","code":"cn_only_name","code":"reversed_order"

name: --policy: a copy of a certificate is not reported again
run: $CERTKIT show --json --at 2026-06-01T00:00:00Z $PKI/leaf-cn-only.pem $PKI/leaf-cn-only.pem | grep -c '"code": "cn_only_name"'
stdout: 1

name: --policy with an unknown value is a usage error
run: $CERTKIT show --policy lax $PKI/leaf.pem
exit: 2
stderr: --policy: unknown policy 'lax': expected compat or strict
