# "-" (man certkit, "FILES AND -"): standard input for the FILE operands of
# show, verify, convert and trust add and for --password-file, read once per
# command; never standard output, and refused by every option that names a
# file (outputs are replaced atomically; those paths are read by name).

name: verify - reads the chain from standard input
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" - < "$PKI/chain.pem"
stdout: -: OK

name: verify - with a key on standard input: not a certificate
run: $CERTKIT verify --at 2026-06-01T00:00:00Z --roots "$PKI/root-ca.pem" - < "$PKI/leaf.key"
exit: 2
stderr: (stdin): holds no certificate

name: convert - reads its input from standard input
run: cat "$PKI/leaf.key" "$PKI/chain.pem" | $CERTKIT convert --to p12 --no-password --out $T/o.p12 - && $CERTKIT show --at 2026-06-01T00:00:00Z $T/o.p12
stdout: o.p12: PKCS#12 certificate (key's)

name: trust add - reads the CA from standard input
run: $CERTKIT --home $T trust add - < "$PKI/root-ca.pem"
stdout: Added anchor 'certkit-test-root-ca'

name: --password-file - reads the password from standard input
run: printf 'secret\n' | $CERTKIT show --at 2026-06-01T00:00:00Z --password-file - "$PKI/leaf.p12"
stdout: PKCS#12 certificate (key's)

name: standard input is read once per command
run: printf 'secret\n' | $CERTKIT show --password-file - -
exit: 2
stderr: -: standard input was read already; it can be given as - once per command

name: two - operands are refused, not an empty second file
run: $CERTKIT verify --roots "$PKI/root-ca.pem" - - < "$PKI/chain.pem"
exit: 2
stderr: -: standard input was read already

name: convert --out - is refused: standard output cannot be replaced atomically
run: $CERTKIT convert --to pem --out - "$PKI/leaf.pem"
exit: 2
stderr: --out -: standard input and output are not accepted here
!stdout: BEGIN CERTIFICATE

name: convert --key-out - is refused
run: $CERTKIT convert --to pem --out $T/c.pem --key-out - "$PKI/leaf.pem" "$PKI/leaf.key"
exit: 2
stderr: --key-out -: standard input and output are not accepted here

name: identity export --out - and identity install --cert - are refused
run: $CERTKIT --home $T identity export --format pem --out -; echo "rc $?"; $CERTKIT --home $T identity install --cert - --key "$PKI/leaf.key"
exit: 2
stdout: rc 2
stderr: --out -: standard input and output are not accepted here
stderr: --cert -: standard input and output are not accepted here

name: trust export --out - is refused
run: $CERTKIT --home $T trust export --format pem --out -
exit: 2
stderr: --out -: standard input and output are not accepted here

name: verify --roots -, --untrusted - and --crl - are refused
run: for o in --roots --untrusted --crl; do $CERTKIT verify $o - "$PKI/leaf.pem" < "$PKI/root-ca.pem"; echo "rc $?"; done
stdout: rc 2
!stdout: rc 0
!stdout: rc 1
stderr: --roots -: standard input and output are not accepted here
stderr: --untrusted -: standard input and output are not accepted here
stderr: --crl -: standard input and output are not accepted here

name: doctor --trust - and --profile - are refused before any connection
run: $CERTKIT doctor --timeout 1 --trust - 127.0.0.1:1 < "$PKI/root-ca.pem"; echo "rc $?"; $CERTKIT doctor --timeout 1 --profile - < /dev/null
exit: 2
stdout: rc 2
!stdout: tcp_refused
stderr: --trust -: standard input and output are not accepted here
stderr: --profile -: standard input and output are not accepted here

name: a file named - is given as ./-
run: cd $T && cp "$PKI/root-ca.pem" ./- && $CERTKIT verify --at 2026-06-01T00:00:00Z --roots ./- "$PKI/chain.pem"
stdout: chain.pem: OK
