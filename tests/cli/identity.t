# certkit identity: the device's own certificate, end to end.
# Names are pinned with CERTKIT_HOSTNAME / CERTKIT_IPS, time with --at, and
# the test root stands in for the system store (SSL_CERT_FILE).

name: --help lists every subcommand and the exit codes
run: $CERTKIT identity --help
stdout: certkit identity COMMAND
stdout: install --p12 FILE
stdout: export --format pem|der|p12
stdout: Exit codes: 0 ok, 1 problem found

name: an unknown subcommand is a usage error
run: $CERTKIT identity frob
exit: 2
stderr: 'frob' is not an identity command

name: an option another subcommand takes is refused
run: CERTKIT_HOME=$T $CERTKIT identity status --force
exit: 2
stderr: identity status does not take --force

name: status with no identity says what to run, exit 1
run: CERTKIT_HOME=$T $CERTKIT identity status
exit: 1
stdout: no_identity: this device has no identity yet: run certkit identity init

name: init makes the self-signed default with every name in the SAN, CN a copy of the first
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test,nvr01 CERTKIT_IPS=192.0.2.10,2001:db8::10
run: $CERTKIT identity init --at 2026-06-01T00:00:00Z >/dev/null || exit 9
run: openssl x509 -in $T/identity/current/cert.pem -noout -subject -ext subjectAltName,basicConstraints,keyUsage,extendedKeyUsage
stdout: subject=CN = nvr01.example.test
stdout: DNS:nvr01.example.test, DNS:nvr01, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:10
stdout: CA:FALSE
stdout: Digital Signature
stdout: TLS Web Server Authentication, TLS Web Client Authentication

name: init writes every file, keys mode 0600, and bundle.pem is the key then the chain
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=192.0.2.10
run: $CERTKIT identity init >/dev/null || exit 9
run: cd $T/identity/current && stat -c '%n %a' cert.pem key.pem chain.pem fullchain.pem bundle.pem identity.p12 && head -1 bundle.pem
run: openssl pkcs12 -in identity.p12 -passin pass:changeit -info -noout 2>&1 | grep -c AES-256-CBC
stdout: key.pem 600
stdout: bundle.pem 600
stdout: identity.p12 600
stdout: cert.pem 644
stdout: -----BEGIN PRIVATE KEY-----
stdout: 2

name: init --key rsa-3072 --days 30 makes that key and lifetime, with keyEncipherment
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init --key rsa-3072 --days 30 --at 2026-06-01T00:00:00Z
run: openssl x509 -in $T/identity/current/cert.pem -noout -enddate -ext keyUsage
stdout: Key:       RSA 3072
stdout: notAfter=Jul  1 00:00:00 2026 GMT
stdout: Digital Signature, Key Encipherment

name: a second init refuses and says how to replace it
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init >/dev/null && $CERTKIT identity init
exit: 2
stderr: an identity exists already
stderr: reset replaces it

name: ensure with nothing to do exits 0 and changes nothing
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=192.0.2.10
run: $CERTKIT identity ensure >/dev/null && a=$(readlink $T/identity/current) && $CERTKIT identity ensure && [ "$a" = "$(readlink $T/identity/current)" ]
stdout: identity OK: self-signed default
stdout: nothing to do

name: ensure creates the default when there is none
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS= $CERTKIT identity ensure
stdout: renewing the default: there is no identity yet
stdout: self-test: passed

name: ensure regenerates the default when the IP address changed (exacq), keeping a backup
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test
run: CERTKIT_IPS=192.0.2.10 $CERTKIT identity ensure >/dev/null
run: CERTKIT_IPS=192.0.2.77 $CERTKIT identity ensure && ls $T/identity/backups | wc -l
stdout: the default does not cover the detected address 192.0.2.77
stdout: backup of the previous one:
stdout: 1

name: ensure regenerates an expired default (Nx default.pem)
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init --days 30 --at 2026-01-01T00:00:00Z >/dev/null
run: $CERTKIT identity ensure --at 2026-03-01T00:00:00Z
stdout: the default expired on 2026-01-31
stdout: new version:

name: ensure renews inside the window (--renew-before), not before it
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init --days 100 --at 2026-01-01T00:00:00Z >/dev/null
run: $CERTKIT identity ensure --renew-before 10 --at 2026-03-01T00:00:00Z | head -1
run: $CERTKIT identity ensure --renew-before 10 --at 2026-04-05T00:00:00Z | head -1
stdout: identity OK
stdout: renewing the default: the default expires on 2026-04-11T00:00:00Z, inside the renewal window

name: ensure never replaces a CA-issued identity: it warns and exits 1
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --chain $PKI/int-ca.pem --at 2026-06-01T00:00:00Z >/dev/null || exit 9
run: a=$(readlink $T/identity/current)
run: CERTKIT_IPS=192.0.2.99 $CERTKIT identity ensure --at 2026-06-01T00:00:00Z; rc=$?
run: [ "$a" = "$(readlink $T/identity/current)" ] && exit $rc
exit: 1
stderr: the installed certificate does not cover the detected address 192.0.2.99

name: ensure warns about an expiring CA-issued identity
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --chain $PKI/int-ca.pem --at 2026-06-01T00:00:00Z >/dev/null || exit 9
run: $CERTKIT identity ensure --at 2026-12-20T00:00:00Z
exit: 1
stderr: the installed certificate expires in 12 days

name: csr writes a request with every name in the SAN and keeps the key pending (never printed)
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=192.0.2.10
run: $CERTKIT identity csr --name cam.example.test --out $T/req.csr || exit 9
run: openssl req -in $T/req.csr -noout -subject -verify 2>&1; openssl req -in $T/req.csr -noout -text | grep DNS
run: stat -c %a $T/identity/pending/*.key.pem
stdout: subject=CN = cam.example.test
stdout: DNS:cam.example.test, DNS:nvr01.example.test, IP Address:192.0.2.10
stdout: verify OK
stdout: 600
!stdout: PRIVATE KEY

name: csr --subject takes the OpenSSL slash form
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS= $CERTKIT identity csr --subject "/C=US/O=Acme, Inc./CN=nvr01" --out $T/r.csr >/dev/null && openssl req -in $T/r.csr -noout -subject
stdout: subject=C = US, O = "Acme, Inc.", CN = nvr01

name: csr --subject takes the comma form
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS= $CERTKIT identity csr --subject "C=DE, O=Beispiel GmbH, CN=nvr01" --out $T/r.csr >/dev/null && openssl req -in $T/r.csr -noout -subject
stdout: subject=C = DE, O = Beispiel GmbH, CN = nvr01

name: csr --subject with an unknown attribute is a usage error, nothing written
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01 CERTKIT_IPS= $CERTKIT identity csr --subject "/C=US/XX=1" --out $T/r.csr; rc=$?; [ ! -e $T/r.csr ] && exit $rc
exit: 2
stderr: unknown attribute 'XX'

name: csr without --out is a usage error
run: CERTKIT_HOME=$T $CERTKIT identity csr
exit: 2
stderr: --out FILE is required

name: the whole CSR path: csr, the CA signs, install without --key uses the pending key
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: $CERTKIT identity csr --out $T/req.csr >/dev/null || exit 9
run: printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:device.example.test,IP:192.0.2.10\n' >$T/ext
run: openssl x509 -req -in $T/req.csr -CA $PKI/int-ca.pem -CAkey $PKI/int-ca.key -set_serial 7 -days 200 -extfile $T/ext -out $T/signed.pem 2>/dev/null || exit 8
run: $CERTKIT identity install --cert $T/signed.pem --chain $PKI/int-ca.pem && ls $T/identity/pending | wc -l
stdout: info    chain_completed
stdout: self-test: passed
stdout: Kind:      CA-issued
stdout: 0

name: install of the PKI leaf: chain completed from the store, root kept, fullchain leaf+intermediate
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --chain $PKI/int-ca.pem --at 2026-06-01T00:00:00Z >/dev/null || exit 9
run: grep -c BEGIN $T/identity/current/fullchain.pem $T/identity/current/chain.pem $T/identity/current/root.pem
run: openssl verify -attime 1780272000 -CAfile $T/identity/current/root.pem -untrusted $T/identity/current/chain.pem $T/identity/current/cert.pem
stdout: fullchain.pem:2
stdout: chain.pem:1
stdout: root.pem:1
stdout: cert.pem: OK

name: install reorders a reversed chain (root, intermediate, leaf) and says so
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 $CERTKIT identity install --cert $PKI/reversed.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z
stdout: info    chain_reordered
stdout: self-test: passed

name: install of a PKCS#12 with --password-file
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 $CERTKIT identity install --p12 $PKI/leaf.p12 --password-file $PKI/password.txt --at 2026-06-01T00:00:00Z
stdout: self-test: passed
stdout: CN = device.example.test

name: install of a PKCS#12 with the wrong password is an input error naming the file
run: CERTKIT_HOME=$T $CERTKIT identity install --p12 $PKI/leaf.p12 --password-file $PKI/wrong-password.txt
exit: 2
stderr: leaf.p12

name: install with CRLF input says so and writes LF (Nexthink)
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10
run: $CERTKIT identity install --cert $PKI/crlf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z && ! grep -c "$(printf '\r')" $T/identity/current/fullchain.pem
stdout: info    crlf_input
stdout: 0

name: install refuses a key that does not match, with the reason, and changes nothing
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10
run: $CERTKIT identity init >/dev/null; a=$(readlink $T/identity/current)
run: $CERTKIT identity install --cert $PKI/fullchain.pem --key $PKI/other-leaf.key --insecure-accept-warnings --at 2026-06-01T00:00:00Z; rc=$?
run: [ "$a" = "$(readlink $T/identity/current)" ] && exit $rc
exit: 2
stdout: error   key_mismatch
stderr: insecure_accept_warnings accepts warnings, never errors
stderr: nothing was changed

name: install refuses an expired certificate even with --insecure-accept-warnings
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=expired.example.test CERTKIT_IPS= $CERTKIT identity install --cert $PKI/leaf-expired.pem --key $PKI/leaf-expired.key --chain $PKI/int-ca.pem --insecure-accept-warnings --at 2026-06-01T00:00:00Z
exit: 2
stdout: error   expired: the certificate expired on 2021-01-01T00:00:00Z

name: install refuses a client-only certificate (EKU without serverAuth)
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=gateway-01.example.test CERTKIT_IPS= $CERTKIT identity install --cert $PKI/leaf-client.pem --key $PKI/leaf-client.key --chain $PKI/int-ca.pem --at 2026-06-01T00:00:00Z
exit: 2
stdout: eku_no_server_auth

name: install refuses weak keys and SHA-1 signatures
run: export CERTKIT_HOME=$T CERTKIT_IPS=
run: CERTKIT_HOSTNAME=weakkey.example.test $CERTKIT identity install --cert $PKI/leaf-weakkey.pem --key $PKI/leaf-weakkey.key --chain $PKI/int-ca.pem --at 2026-06-01T00:00:00Z
run: CERTKIT_HOSTNAME=sha1.example.test $CERTKIT identity install --cert $PKI/leaf-sha1.pem --key $PKI/leaf-sha1.key --chain $PKI/int-ca.pem --at 2026-06-01T00:00:00Z
exit: 2
stdout: weak_key: the certificate's key is RSA 1024
stdout: weak_signature

name: install: a detected name not covered is a warning that --insecure-accept-warnings accepts, with a warning
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10,198.51.100.7 SSL_CERT_FILE=$PKI/root-ca.pem
run: $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z >/dev/null; echo "without --insecure-accept-warnings: $?"
run: $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z --insecure-accept-warnings
stdout: without --insecure-accept-warnings: 2
stderr: warning: --insecure-accept-warnings: warnings of the checks do not stop the install
stdout: warning detected_name_not_covered: the certificate does not cover the detected address 198.51.100.7
stdout: self-test: passed

name: install: a configured name not covered is an error
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: printf '[identity]\nnames = nvr.example.com\n' >$T/certkit.conf
run: $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z --insecure-accept-warnings
exit: 2
stdout: error   name_not_covered: the certificate does not cover the configured name nvr.example.com

name: install: a missing intermediate is a warning naming the issuer
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z
exit: 2
stdout: warning chain_incomplete: the issuer of "device.example.test", "C = US, O = certkit tests, CN = certkit Test Issuing CA", was found neither

name: install: a missing issuer is looked for in the reference roots too
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 $CERTKIT identity install --json --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z
exit: 2
stdout: nor in the trust store, the system store or certkit's reference roots

# The cross-sign of crosssign.sh (verify.t): leaf, R3 cross-signed by the
# expired Old Root first, R3 by New Root; both roots in the system store.
name: install: a chain valid only through another path is installed through it (alternate_path), the cross-sign left out
run: sh "$SRC/tests/cli/crosssign.sh" "$T" && cd "$T" && mkdir home &&
run: CERTKIT_HOME=$T/home CERTKIT_HOSTNAME=www.example.test CERTKIT_IPS= SSL_CERT_FILE=$T/roots.pem $CERTKIT identity install --cert leaf.pem --key leaf.key --chain inter.pem --at "$(cat at)" &&
run: cat leaf.pem r3new.pem | cmp - home/identity/current/fullchain.pem && echo fullchain-ok
stdout: info    alternate_path: the chain first built fails at certificate 3 "Old Root" (certificate has expired); another path is valid and is installed: "www.example.test" < "R3" < "New Root"; left out: "R3" (issued by "CN = Old Root")
stdout: info    chain_completed: the issuer of "R3", "New Root", was taken from the system store
stdout: fullchain-ok
!stdout: unrelated_certificate
!stdout: chain_invalid

name: install: only the cross-signed intermediate: refused as before (chain_invalid, no alternate_path)
run: sh "$SRC/tests/cli/crosssign.sh" "$T" && cd "$T" && mkdir home &&
run: CERTKIT_HOME=$T/home CERTKIT_HOSTNAME=www.example.test CERTKIT_IPS= SSL_CERT_FILE=$T/roots.pem $CERTKIT identity install --cert leaf.pem --key leaf.key --chain r3cross.pem --at "$(cat at)"
exit: 2
stdout: error   chain_invalid: the chain does not verify at certificate 3 "Old Root": certificate has expired
!stdout: alternate_path

name: install with no key anywhere says where it looked
run: CERTKIT_HOME=$T $CERTKIT identity install --cert $PKI/leaf.pem
exit: 2
stderr: no private key for this certificate
stderr: give the key file (key_path)

name: install of a missing file names it
run: CERTKIT_HOME=$T $CERTKIT identity install --cert $T/nope.pem
exit: 2
stderr: nope.pem: no such file

name: install of a CSR says to send it to the CA
run: CERTKIT_HOME=$T $CERTKIT identity install --cert $PKI/leaf.csr
exit: 2
stderr: a certificate signing request (send it to the CA

name: install needs exactly one of --cert and --p12
run: CERTKIT_HOME=$T $CERTKIT identity install --cert $PKI/leaf.pem --p12 $PKI/leaf.p12
exit: 2
stderr: give either --cert FILE

name: a failing on_change rolls back, says so, runs it again, exits 1
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init >/dev/null; a=$(readlink $T/identity/current)
run: printf '[identity]\non_change = echo reload failed >&2; exit 3\n' >$T/certkit.conf
run: $CERTKIT identity reset; rc=$?
run: [ "$a" = "$(readlink $T/identity/current)" ] && [ $(ls $T/identity/versions | wc -l) = 1 ] && exit $rc
exit: 1
stdout: exited with status 3
stdout: reload failed
stdout: on_change after the rollback
stderr: ROLLED BACK: on_change command exited with status 3

name: a failed self-test rolls back
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init >/dev/null; a=$(readlink $T/identity/current)
run: CERTKIT_FAULT=selftest $CERTKIT identity reset; rc=$?
run: [ "$a" = "$(readlink $T/identity/current)" ] && exit $rc
exit: 1
stdout: self-test: FAILED
stderr: ROLLED BACK: the self-test failed

name: an on_change that hangs is stopped after on_change_timeout and rolled back
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init >/dev/null
run: printf '[identity]\non_change = sleep 100\non_change_timeout = 1\n' >$T/certkit.conf
run: $CERTKIT identity reset
exit: 1
stdout: did not finish within 1 seconds
stderr: ROLLED BACK

name: on_change gets CERTKIT_IDENTITY_DIR and CERTKIT_IDENTITY_ACTION
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: printf '[identity]\non_change = echo "$CERTKIT_IDENTITY_ACTION $CERTKIT_IDENTITY_DIR" >%s/hook.out\n' $T >$T/certkit.conf
run: $CERTKIT identity init >/dev/null && cat $T/hook.out
stdout: init
stdout: /identity/current

name: backups, restore by unique prefix, and the restored one is current again
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity init >/dev/null; first=$(openssl x509 -in $T/identity/current/cert.pem -noout -fingerprint -sha256)
run: $CERTKIT identity reset >/dev/null
run: id=$(ls $T/identity/backups); $CERTKIT identity backups; $CERTKIT identity restore $(echo $id | cut -c1-24) >/dev/null || exit 9
run: [ "$first" = "$(openssl x509 -in $T/identity/current/cert.pem -noout -fingerprint -sha256)" ] && echo restored-ok
stdout: BACKED UP
stdout: self-signed-default
stdout: restored-ok

name: restore of an unknown backup names the directory
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: $CERTKIT identity restore 2099; $CERTKIT identity init >/dev/null; $CERTKIT identity reset >/dev/null; $CERTKIT identity restore 2099
exit: 2
stderr: there are no backups yet
stderr: no backup '2099'

name: backups are pruned to keep_backups
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: printf '[identity]\nkeep_backups = 2\n' >$T/certkit.conf
run: for i in 1 2 3 4 5; do $CERTKIT identity reset >/dev/null || exit 9; done; ls $T/identity/backups | wc -l
stdout: 2

name: export p12 with the configured password file, pem with the key mode 0600, der of the certificate
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=
run: printf 's3cret\n' >$T/pw; printf '[identity]\np12_password_file = %s/pw\n' $T >$T/certkit.conf
run: $CERTKIT identity init >/dev/null || exit 9
run: openssl pkcs12 -in $T/identity/current/identity.p12 -passin pass:s3cret -noout && echo p12-config-ok
run: $CERTKIT identity export --format p12 --out $T/x.p12 && openssl pkcs12 -in $T/x.p12 -passin pass:s3cret -noout && echo export-p12-ok
run: $CERTKIT identity export --format pem --with-key --out $T/x.pem && stat -c %a $T/x.pem
run: $CERTKIT identity export --format der --out $T/x.der && openssl x509 -inform der -in $T/x.der -noout -subject
stdout: p12-config-ok
stdout: export-p12-ok
stdout: 600
stdout: subject=CN = nvr01

name: export into the identity store itself is refused; the key stays
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01
run: $CERTKIT identity init >/dev/null || exit 9
run: cp $T/identity/current/key.pem $T/key.orig
run: $CERTKIT identity export --format der --out $T/identity/current/key.pem; echo "rc=$?"; cmp $T/key.orig $T/identity/current/key.pem && echo key-intact
stdout: rc=2
stdout: key-intact
stderr: is inside the identity store

name: csr into the identity store is refused
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01
run: $CERTKIT identity init >/dev/null || exit 9
run: cp $T/identity/current/cert.pem $T/cert.orig
run: $CERTKIT identity csr --out $T/identity/current/cert.pem; echo "rc=$?"; cmp $T/cert.orig $T/identity/current/cert.pem && echo cert-intact
stdout: rc=2
stdout: cert-intact
stderr: csr: 

name: export to a FIFO (a device) is refused
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01
run: $CERTKIT identity init >/dev/null || exit 9
run: mkfifo $T/dev && $CERTKIT identity export --format pem --out $T/dev; echo "rc=$?"; test -p $T/dev && echo still-fifo
stdout: rc=2
stdout: still-fifo
stderr: is a FIFO

name: export with no identity says to init
run: CERTKIT_HOME=$T $CERTKIT identity export --format pem --out $T/x.pem
exit: 2
stderr: there is no identity to export

name: status --json reports kind, names, coverage with what is missing, and chain
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=nvr01.example.test CERTKIT_IPS=192.0.2.10
run: $CERTKIT identity init >/dev/null || exit 9
run: CERTKIT_IPS=192.0.2.10,192.0.2.11 $CERTKIT identity status --json
exit: 1
stdout: "kind": "self-signed-default"
stdout: "complete": false
stdout: "name": "192.0.2.11"
stdout: "source": "detected"
stdout: "self_signed": true
stdout: "code": "names_not_covered"

name: a bad certkit.conf is an error naming the line
run: printf '[identity]\nkey = dsa-1024\n' >$T/certkit.conf; CERTKIT_HOME=$T $CERTKIT identity status
exit: 2
stderr: certkit.conf:2: [identity] key: expected ec-p256, rsa-2048 or rsa-3072, found 'dsa-1024'

name: a typo in certkit.conf is caught
run: printf '[identity]\nrenew_befor = 5\n' >$T/certkit.conf; CERTKIT_HOME=$T $CERTKIT identity status
exit: 2
stderr: unknown key 'renew_befor' in [identity]

name: --name with a bad DNS name is a usage error
run: CERTKIT_HOME=$T $CERTKIT identity init --name "bad name"
exit: 2
stderr: name 'bad name': expected a DNS name

name: CERTKIT_IPS with garbage is an error naming the variable
run: CERTKIT_HOME=$T CERTKIT_IPS=300.1.1.1 $CERTKIT identity init
exit: 2
stderr: CERTKIT_IPS: expected IPv4 or IPv6 addresses separated by commas, found '300.1.1.1'

name: no key material on stdout or stderr across the whole lifecycle
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: { $CERTKIT identity init; $CERTKIT identity status --json; $CERTKIT identity csr --out $T/r.csr --json; $CERTKIT identity install --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z --json; $CERTKIT identity backups --json; $CERTKIT identity reset --json; $CERTKIT identity export --format pem --with-key --out $T/k.pem; } >$T/log 2>&1
run: n=$(grep -c "PRIVATE KEY" $T/log); for k in $T/identity/current/key.pem $T/identity/pending/*.key.pem $PKI/leaf.key; do sed -n 2p $k | cut -c1-40 > $T/needle; n=$((n + $(grep -c -F -f $T/needle $T/log))); done; echo "key material found: $n"
stdout: key material found: 0

name: install --json: the finding model with the deprecated message, schema_version 2
run: CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 $CERTKIT identity install --json --cert $PKI/leaf.pem --key $PKI/leaf.key --at 2026-06-01T00:00:00Z
exit: 2
stdout: "schema_version": 2
stdout: "summary": "the issuer of
stdout: "remedies": []
stdout: "message": "the issuer of

name: install --policy strict refuses a chain the strict policy refuses (a critical EKU); compat installs it
run: export CERTKIT_HOME=$T CERTKIT_HOSTNAME=device.example.test CERTKIT_IPS=192.0.2.10 SSL_CERT_FILE=$PKI/root-ca.pem
run: $CERTKIT identity csr --out $T/req.csr >/dev/null || exit 9
run: printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,serverAuth\nsubjectAltName=DNS:device.example.test,IP:192.0.2.10\n' >$T/ext
run: openssl x509 -req -in $T/req.csr -CA $PKI/int-ca.pem -CAkey $PKI/int-ca.key -set_serial 7 -days 200 -extfile $T/ext -out $T/signed.pem 2>/dev/null || exit 8
run: $CERTKIT identity install --policy strict --cert $T/signed.pem --chain $PKI/int-ca.pem; echo "strict=$?"
run: $CERTKIT identity install --cert $T/signed.pem --chain $PKI/int-ca.pem >/dev/null; echo "compat=$?"
stdout: error   chain_invalid: the chain breaks the strict policy (leaf_eku_critical)
stdout: strict=2
stdout: compat=0

name: identity install --policy with an unknown value is a usage error
run: export CERTKIT_HOME=$T
run: $CERTKIT identity install --policy lax --cert $PKI/leaf.pem
exit: 2
stderr: --policy: unknown policy 'lax': expected compat or strict

name: --policy is for install and restore only
run: export CERTKIT_HOME=$T
run: $CERTKIT identity status --policy strict
exit: 2
stderr: identity status does not take --policy
