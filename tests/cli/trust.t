# certkit trust: the layered trust store. Every case uses a fresh home in
# $T/h and SSL_CERT_FILE pointing at a one-root "system bundle", so nothing
# depends on the machine's store.

name: trust --help lists every subcommand
run: $CERTKIT trust --help
stdout: certkit trust add --from HOST[:PORT] [--depth N] [--yes]
stdout: certkit trust audit [--require NAME|FINGERPRINT]...
stdout: Exit codes: 0 ok, 1 problem found, 2 usage or input error.

name: every subcommand has --help
run: for s in list add remove distrust audit export rebuild; do $CERTKIT trust $s --help >/dev/null || echo "FAIL $s"; done; echo done
stdout: done
!stdout: FAIL

name: an unknown subcommand is a usage error
run: $CERTKIT trust frob
exit: 2
stderr: 'frob' is not a subcommand

name: add a root: one anchor file, three outputs with the same certificates
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem
run: ls $T/h/trust/anchors; grep -c BEGIN $T/h/trust/out/ca-bundle.pem; ls $T/h/trust/out/certs | wc -l
stdout: Added anchor 'certkit-test-root-ca': certkit Test Root CA
stdout: certkit-test-root-ca.pem
stdout: Rebuilt the outputs: 2 certificates (1 system, 1 custom; 0 distrusted left out)
stdout: 2

name: the hashed directory verifies with openssl -CApath
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: openssl verify -attime 1780272000 -no-CAfile -CApath $T/h/trust/out/certs -untrusted $PKI/int-ca.pem $PKI/leaf.pem
stdout: leaf.pem: OK

name: adding the same certificate twice is a no-op that says so
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust add --alias again $PKI/root-ca.der; ls $T/h/trust/anchors
stdout: Unchanged: certkit Test Root CA is already the anchor 'certkit-test-root-ca'
!stdout: again.pem

name: re-adding an anchor (even twice in one file) says so once and rebuilds nothing
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: cat $PKI/root-ca.pem $PKI/root-ca.pem >$T/two.pem; before=$(readlink $T/h/trust/out)
run: $CERTKIT --home $T/h trust add $T/two.pem >$T/o; echo "rc=$?"; cat $T/o; echo "lines=$(grep -c Unchanged $T/o)"
run: [ "$(readlink $T/h/trust/out)" = "$before" ] && echo same-generation
run: echo "rebuild-keys=$($CERTKIT --home $T/h trust add --json $PKI/root-ca.pem | grep -c '"rebuild"')"
stdout: rc=0
stdout: lines=1
stdout: same-generation
stdout: rebuild-keys=0
!stdout: Rebuilt the outputs

name: a leaf is refused with an explanation
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/leaf.pem
exit: 2
stderr: is not a CA certificate
stderr: insecure_any_cert

name: a chain file is all or nothing: its leaf stops the whole add
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/fullchain.pem; ls $T/h/trust/anchors 2>/dev/null | wc -l
exit: 0
stdout: 0
stderr: block 1 (CERTIFICATE): "device.example.test" is not a CA certificate

name: --insecure-any-cert pins a leaf, with warnings
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --insecure-any-cert --alias pinned $PKI/leaf.pem
stdout: Added anchor 'pinned'
stderr: warning: --insecure-any-cert: the checks that an anchor is a CA and valid are off
stderr: warning: 'pinned': not a CA: pinned as a trusted leaf

name: an intermediate CA is accepted with a warning about partial chains
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/int-ca.pem
stdout: Added anchor 'certkit-test-issuing-ca'
stderr: an intermediate CA, not a root

name: CRLF, BOM and PKCS#7 input; many certificates become one anchor each
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --insecure-any-cert --alias site $PKI/crlf.pem >/dev/null && ls $T/h/trust/anchors
stdout: site.pem
stdout: site-2.pem
stdout: site-3.pem

name: an alias clash names the existing anchor, case-insensitively
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --alias Corp $PKI/root-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust add --alias corp $PKI/int-ca.pem
exit: 2
stderr: alias 'corp' is taken by the anchor 'Corp' (certkit Test Root CA

name: a bad alias is refused
run: $CERTKIT --home $T/h trust add --alias 'a/b' $PKI/root-ca.pem
exit: 2
stderr: 'a/b' is not a valid alias

name: a missing file and a key file are input errors naming the file
run: $CERTKIT --home $T/h trust add $T/nope.pem; $CERTKIT --home $T/h trust add $PKI/leaf.key
exit: 2
stderr: nope.pem: no such file
stderr: leaf.key: this is a private key, not a certificate

name: remove takes the anchor out of every output, leaving no dangling link
exit: 2
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --alias corp $PKI/root-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust remove CORP > $T/out && grep "^Removed" $T/out
run: echo "bundle=$(grep -c BEGIN $T/h/trust/out/ca-bundle.pem) dangling=$(find -L $T/h/trust/out/ -type l | wc -l) certs=$(ls $T/h/trust/out/certs | wc -l)"
run: openssl verify -attime 1780272000 -no-CAfile -CApath $T/h/trust/out/certs -untrusted $PKI/int-ca.pem $PKI/leaf.pem
stdout: Removed anchor 'corp': certkit Test Root CA
stdout: bundle=1 dangling=0 certs=1
stderr: unable to get local issuer certificate

name: removing an unknown anchor is an input error
run: $CERTKIT --home $T/h trust remove nothing
exit: 2
stderr: no custom anchor is named or has the SHA-256 'nothing'

name: a system root cannot be removed; the error gives the distrust command
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust remove $(openssl x509 -in $PKI/other-root.pem -noout -fingerprint -sha256 | cut -d= -f2)
exit: 2
stderr: is a system root
stderr: certkit trust distrust

name: a distrusted system root stays out after the system bundle is updated
run: cp $PKI/other-root.pem $T/sys.pem; export SSL_CERT_FILE=$T/sys.pem
run: FP=$(openssl x509 -in $PKI/other-root.pem -noout -fingerprint -sha256 | cut -d= -f2)
run: $CERTKIT --home $T/h trust distrust $FP --reason "test: compromised" >/dev/null
run: cat $PKI/other-root.pem $PKI/root-ca.pem > $T/sys.pem; $CERTKIT --home $T/h trust rebuild >/dev/null
run: grep -c BEGIN $T/h/trust/out/ca-bundle.pem; $CERTKIT --home $T/h trust list --source distrusted
stdout: 1
stdout: reason: test: compromised
stdout: present in the system bundle or anchors: kept out

name: distrust --undo brings it back
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: FP=$(openssl x509 -in $PKI/other-root.pem -noout -fingerprint -sha256 | cut -d= -f2)
run: $CERTKIT --home $T/h trust distrust $FP >/dev/null; $CERTKIT --home $T/h trust distrust --undo $FP; grep -c BEGIN $T/h/trust/out/ca-bundle.pem
stdout: No longer distrusted
stdout: 1

name: distrust --expired takes every expired certificate out
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --alias corp $PKI/int-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust distrust --expired --at 2036-01-01
stdout: Distrusted
stdout: certkit Test Issuing CA
stdout: 1 certificates (1 system, 0 custom; 1 distrusted left out)

name: distrust of garbage is a usage error
run: $CERTKIT --home $T/h trust distrust hello
exit: 2
stderr: neither a custom anchor's alias nor a SHA-256 fingerprint

name: list --json is the library's report
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust list --json
stdout: "source": "effective"
stdout: "validity": "valid"
stdout: "count": 1

name: list --source rejects an unknown layer
run: $CERTKIT --home $T/h trust list --source foo
exit: 2
stderr: expected effective, system, custom or distrusted

name: audit of a clean store exits 0
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --at 2026-06-01
stdout: Clean: 0 errors, 0 warnings

name: audit expired_anchor
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --at 2041-01-01
exit: 1
stdout: expired_anchor: Other Untrusted Root
stdout: fix: certkit trust distrust

name: audit expiring_anchor
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --at 2039-12-01 --json
exit: 1
stdout: "code": "expiring_anchor"
stdout: "severity": "warning"

name: audit not_yet_valid_anchor
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --at 2019-06-01
exit: 1
stdout: not_yet_valid_anchor
stdout: device clock is probably wrong

name: audit weak_anchor_key and non_ca_anchor
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --insecure-any-cert --alias weak $PKI/leaf-weakkey.pem >/dev/null 2>&1; $CERTKIT --home $T/h trust audit --at 2026-06-01
exit: 1
stdout: weak_anchor_key: weakkey.example.test
stdout: RSA 1024
stdout: non_ca_anchor: weakkey.example.test
stdout: fix: certkit trust remove weak

name: audit duplicate_anchor: one key under two names
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: openssl req -x509 -key $PKI/root-ca.key -subj "/CN=Same Key Root" -days 3650 -out $T/dup.pem 2>/dev/null
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem $T/dup.pem >/dev/null; $CERTKIT --home $T/h trust audit
exit: 1
stdout: duplicate_anchor
stdout: one key is trusted under several certificates

name: audit missing_required_root, with the reference command as the fix
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --require "ISRG Root X1" --require "other untrusted"
exit: 1
stdout: required root "other untrusted": present
stdout: required root "ISRG Root X1": MISSING
stdout: fix: certkit trust add --reference "ISRG Root X1"

name: audit reads required_roots from a doctor profile
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: printf '[cloud]\nhost = x.example\nrequired_roots = Starfield Root Certificate Authority - G2, Other Untrusted Root\n' > $T/p.ini
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --profile $T/p.ini
exit: 1
stdout: required root "Starfield Root Certificate Authority - G2": MISSING
stdout: required root "Other Untrusted Root": present

name: audit distrusted_present: a distrusted root appended by hand
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null; $CERTKIT --home $T/h trust distrust certkit-test-root-ca >/dev/null
run: cat $PKI/root-ca.pem >> $T/h/trust/out/ca-bundle.pem; $CERTKIT --home $T/h trust audit
exit: 1
stdout: distrusted_present: certkit Test Root CA
stdout: edited by hand

name: audit outputs_stale: the system bundle changed after the build
run: cp $PKI/other-root.pem $T/sys.pem; export SSL_CERT_FILE=$T/sys.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; sleep 0.05; cat $PKI/root-ca.pem >> $T/sys.pem; $CERTKIT --home $T/h trust audit
exit: 1
stdout: outputs_stale
stdout: the system bundle was updated
stdout: fix: certkit trust rebuild

name: audit of a store never built reports stale outputs
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust audit
exit: 1
stdout: outputs_stale
stdout: have not been built

name: add --reference installs a root from the embedded set
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add --reference "ISRG Root X1"
stdout: Added anchor 'isrg-root-x1': ISRG Root X1
stdout: 96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6

name: add --reference lists every candidate on ambiguity
run: $CERTKIT --home $T/h trust add --reference "ISRG Root"
exit: 2
stderr: 'ISRG Root' matches 2 roots
stderr: "ISRG Root X2"

name: add --reference of an unknown root
run: $CERTKIT --home $T/h trust add --reference "Nonexistent Root CA"
exit: 2
stderr: no root in the embedded reference set

name: add --from needs --yes without a terminal
run: $CERTKIT --home $T/h trust add --from 127.0.0.1:1 --timeout 2
exit: 1
stderr: 127.0.0.1:1: cannot connect

name: add --from with a bad endpoint is a usage error
run: $CERTKIT --home $T/h trust add --from '[::1' --yes
exit: 2
stderr: expected HOST[:PORT]

name: add takes exactly one source
run: $CERTKIT --home $T/h trust add --reference x $PKI/root-ca.pem
exit: 2
stderr: exactly one of them

name: export pem, dir and p12
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust export --format pem --out $T/a.pem && grep -c BEGIN $T/a.pem
run: $CERTKIT --home $T/h trust export --format dir --out $T/d && ls $T/d | wc -l
run: $CERTKIT --home $T/h trust export --format p12 --out $T/a.p12 && openssl pkcs12 -in $T/a.p12 -nokeys -passin pass:changeit | grep -c BEGIN
stdout: Exported the effective store to
stdout: password "changeit"
stdout: 2

name: export over the system bundle (an input) is refused; it stays as it was
run: cp $PKI/other-root.pem $T/sys.pem && ln $T/sys.pem $T/sys-link.pem; export SSL_CERT_FILE=$T/sys.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust export --format pem --out $T/sys-link.pem; echo "rc=$?"; cmp $T/sys.pem $PKI/other-root.pem && echo system-intact
stdout: rc=2
stdout: system-intact
stderr: is the system bundle

name: export into the store's own outputs is refused
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: $CERTKIT --home $T/h trust export --format pem --out $T/h/trust/out/ca-bundle.pem; echo "rc=$?"; $CERTKIT --home $T/h trust export --format dir --out $T/h/trust/newdir; echo "rc=$?"
stdout: rc=2
!stdout: rc=0
stderr: is inside the trust store

name: export rejects an unknown format and a non-empty directory
run: $CERTKIT --home $T/h trust export --format der --out $T/x; mkdir $T/full; touch $T/full/f; $CERTKIT --home $T/h trust export --format dir --out $T/full
exit: 2
stderr: expected pem, dir or p12
stderr: the directory is not empty

name: rebuild --password-file sets the truststore password and keeps it
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: printf 's3cret\n' > $T/pw; $CERTKIT --home $T/h trust rebuild --password-file $T/pw >/dev/null
run: stat -c %a $T/h/trust/truststore.password; $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null
run: openssl pkcs12 -in $T/h/trust/out/truststore.p12 -nokeys -passin pass:s3cret | grep -c BEGIN
stdout: 600
stdout: 2

name: the lock: a second writer waits, then fails clearly
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null
run: flock $T/h/trust/.lock sleep 3 & sleep 0.3
run: CERTKIT_LOCK_TIMEOUT=0.5 $CERTKIT --home $T/h trust add $PKI/root-ca.pem; r=$?; wait; exit $r
exit: 1
stderr: another process is changing the trust store
stderr: waited 500 ms

name: a failing rename leaves inputs and outputs as they were
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null; cp $T/h/trust/out/ca-bundle.pem $T/before
run: CERTKIT_FAULT=rename $CERTKIT --home $T/h trust remove certkit-test-root-ca; echo "rc=$?"
run: cmp $T/before $T/h/trust/out/ca-bundle.pem && ls $T/h/trust/anchors
stdout: rc=2
stdout: certkit-test-root-ca.pem
stderr: nothing was changed

name: kill -9 in the middle of a rebuild leaves the old outputs whole
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust add $PKI/root-ca.pem >/dev/null; cp $T/h/trust/out/ca-bundle.pem $T/before
run: for step in 1 2 3; do
run:   CERTKIT_TRUST_SLEEP_AFTER=$step $CERTKIT --home $T/h trust add $PKI/int-ca.pem >/dev/null 2>$T/err & pid=$!
run:   i=0; while ! grep -q "paused after step $step" $T/err && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
run:   kill -9 $pid; wait $pid 2>/dev/null
run:   cmp $T/before $T/h/trust/out/ca-bundle.pem && echo "step $step: old outputs"
run:   ls $T/h/trust/out/certs | wc -l | sed "s/^/step $step certs: /"
run: done
run: $CERTKIT --home $T/h trust rebuild | head -1; ls $T/h/trust/generations | wc -l; ls $T/h/trust/anchors
stdout: step 1: old outputs
stdout: step 2: old outputs
stdout: step 3: old outputs
stdout: step 3 certs: 2
stdout: Rebuilt the outputs: 2 certificates
!stdout: certkit-test-issuing-ca
stderr: was killed before it finished was found and rolled back

name: audit --json: the finding model with the deprecated message and fix, version 2
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --at 2041-01-01 --json
exit: 1
stdout: "version": 2,
stdout: "summary": "\"Other Untrusted Root\" expired
stdout: "evidence": {
stdout: "remedies": [
stdout: "fix": "certkit trust distrust
stdout: "message": "\"Other Untrusted Root\" expired

name: add --from checks the endpoint as the doctor does: port out of range
run: $CERTKIT --home $T/h trust add --from 127.0.0.1:99999 --yes
exit: 2
stderr: expected HOST[:PORT]

name: add --from checks the endpoint as the doctor does: not a host name
run: $CERTKIT --home $T/h trust add --from 'bad_host!:443' --yes
exit: 2
stderr: expected HOST[:PORT]

name: audit reads a profile with the INI reader certkit.conf uses: an overlong line is named by its own number
run: printf '[a]\nhost = a.test\nrequired_roots = %s\n' "$(printf 'Root %.0s' $(seq 60))" > $T/long.ini
run: $CERTKIT --home $T/h trust audit --profile $T/long.ini
exit: 2
stderr: long.ini:3: line is longer than 197 characters

name: audit adds up repeated and continued required_roots of every section
run: export SSL_CERT_FILE=$PKI/other-root.pem
run: printf '[a]\nhost = a.test\nrequired_roots = Other Untrusted Root\n  Starfield Root Certificate Authority - G2\n[b]\nhost = b.test\nrequired_roots = ISRG Root X1\n' > $T/multi.ini
run: $CERTKIT --home $T/h trust rebuild >/dev/null; $CERTKIT --home $T/h trust audit --profile $T/multi.ini
exit: 1
stdout: required root "Other Untrusted Root": present
stdout: required root "Starfield Root Certificate Authority - G2": MISSING
stdout: required root "ISRG Root X1": MISSING
