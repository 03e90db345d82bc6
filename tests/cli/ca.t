# certkit ca: the primary's issuing CA under HOME/ca (init, show, crl).
# Each case starts from an empty home $T/h.

name: ca --help lists every subcommand
run: $CERTKIT ca --help
stdout: certkit ca init [--name TEXT] [--key ec-p256|rsa-3072]
stdout: certkit ca show [--json]
stdout: certkit ca crl [--out FILE]
stdout: Exit codes: 0 ok, 1 problem found, 2 usage or input error.

name: every subcommand has --help
run: for s in init show crl; do $CERTKIT ca $s --help >/dev/null || echo "FAIL $s"; done; echo done
stdout: done
!stdout: FAIL

name: an unknown subcommand or key type is a usage error
run: $CERTKIT ca frob; echo "rc=$?"; $CERTKIT --home $T/h ca init --key dsa; echo "rc=$?"; ls $T/h/ca 2>&1; true
stdout: rc=2
!stdout: rc=0
stderr: 'frob' is not a subcommand
stderr: --key 'dsa': expected ec-p256 or rsa-3072
stdout: No such file

name: init makes the CA once: keys 0600, directory 0700; a second init is refused and changes nothing
run: $CERTKIT --home $T/h ca init --name "Acme Primary" >/dev/null && sum1=$(cat $T/h/ca/ca.key | cksum)
run: $CERTKIT --home $T/h ca init; echo "rc=$?"; [ "$(cat $T/h/ca/ca.key | cksum)" = "$sum1" ] && echo same-key
run: cd $T/h && stat -c '%a %n' ca ca/ca.key ca/root.key ca/ca.pem
stdout: rc=2
stdout: same-key
stdout: 700 ca
stdout: 600 ca/ca.key
stdout: 600 ca/root.key
stdout: 644 ca/ca.pem
stderr: a CA exists already

name: the issuing CA chains to the root (openssl verify)
run: $CERTKIT --home $T/h ca init --key rsa-3072 >/dev/null
run: openssl verify -CAfile $T/h/ca/root.pem $T/h/ca/ca.pem
run: openssl x509 -in $T/h/ca/ca.pem -noout -text
stdout: ca.pem: OK
stdout: Public-Key: (3072 bit)
stdout: CA:TRUE, pathlen:0

name: init --root-out exports the root key (0600) and keeps only the issuing key
run: $CERTKIT --home $T/h ca init --root-out $T/root.key
run: stat -c 'mode %a' $T/root.key; ls $T/h/ca | sed 's/^/in-ca: /'; $CERTKIT --home $T/h ca show --json
stdout: Root key written to
stdout: mode 600
stdout: in-ca: ca.key
!stdout: in-ca: root.key
stdout: "root_key": "exported"

name: init --root-out never overwrites a file, and then makes no CA
run: echo keep >$T/root.key; $CERTKIT --home $T/h ca init --root-out $T/root.key; echo "rc=$?"; cat $T/root.key; ls $T/h/ca 2>&1; true
stdout: rc=2
stdout: keep
stdout: No such file
stderr: exists

name: show --json
run: $CERTKIT --home $T/h ca init --name "Acme" >/dev/null && $CERTKIT --home $T/h ca show --json
stdout: "name": "Acme"
stdout: "key": "EC P-256"
stdout: "cert_days": 90
stdout: "subject": "CN = Acme Root"
stdout: "root_key": "kept"

name: show without a CA says to run init
run: $CERTKIT --home $T/h ca show
exit: 2
stderr: no CA here (no ca.pem); run 'certkit ca init'

name: a name with control characters is escaped in text, exact in JSON
run: $CERTKIT --home $T/h ca init --name "$(printf 'Evil\033[2JCA')" | od -c | grep -c 033; $CERTKIT --home $T/h ca show --json
stdout: 0
stdout: Evil\u001B[2JCA

name: crl --out writes a signed DER CRL that openssl verifies; its number grows
run: $CERTKIT --home $T/h ca init >/dev/null && $CERTKIT --home $T/h ca crl --out $T/a.crl && $CERTKIT --home $T/h ca crl --out $T/b.crl
run: openssl crl -inform DER -in $T/a.crl -CAfile $T/h/ca/ca.pem -noout -verify 2>&1
run: a=$(openssl crl -inform DER -in $T/a.crl -noout -crlnumber); b=$(openssl crl -inform DER -in $T/b.crl -noout -crlnumber); [ "$(printf '%d' ${b#*=})" -gt "$(printf '%d' ${a#*=})" ] && echo grows
stdout: verify OK
stdout: grows
stderr: CRL written to

name: crl to standard output (redirected) is DER
run: $CERTKIT --home $T/h ca init >/dev/null && $CERTKIT --home $T/h ca crl >$T/c.crl && openssl crl -inform DER -in $T/c.crl -noout -text
stdout: No Revoked Certificates.

name: crl without a CA is an input error
run: $CERTKIT --home $T/h ca crl --out $T/x.crl
exit: 2
stderr: no CA here
