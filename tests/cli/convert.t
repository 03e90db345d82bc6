# certkit convert: what goes where, passwords, summaries and every refusal.
# Fingerprints are compared with openssl, never hard-coded (the PKI's keys
# change on every run).

name: --help documents formats, passwords and exit codes
run: $CERTKIT convert --help
stdout: usage: certkit convert --to FORMAT --out FILE
stdout: --out-password-file FILE
stdout: --key-out FILE
stdout: Exit codes: 0 written, 1 internal failure, 2 usage, input or write

name: a p12 becomes a clean fullchain; the key is not dropped silently
run: $CERTKIT convert --to pem --out $T/fullchain.pem --password-file $PKI/password.txt $PKI/leaf.p12 && cmp $T/fullchain.pem $PKI/fullchain.pem && stat -c %a $T/fullchain.pem
stdout: wrote
stdout: fullchain.pem: 3 certificates (PEM, mode 0644)
stdout: 644
stderr: 1 private key from the input was not written: write it to its own file (mode 0600) with --key-out FILE

name: --key-out writes the key to its own 0600 file, unencrypted PKCS#8
run: $CERTKIT convert --to pem --out $T/fullchain.pem --key-out $T/key.pem --password-file $PKI/password.txt $PKI/leaf.p12 && stat -c %a $T/key.pem && head -1 $T/key.pem && openssl pkey -in $T/key.pem -check -noout
stdout: key.pem: 1 key (PEM, key unencrypted, mode 0600)
stdout: 600
stdout: -----BEGIN PRIVATE KEY-----
stdout: Key is valid
!stderr: warning

name: --key-out with --out-password-file encrypts the key (AES-256, PKCS#8)
run: $CERTKIT convert --to pem --out $T/c.pem --key-out $T/key.pem --out-password-file $PKI/password.txt $PKI/leaf.key $PKI/leaf.pem && head -1 $T/key.pem && openssl pkey -in $T/key.pem -passin pass:secret -noout && openssl asn1parse -in $T/key.pem | grep -c -e aes-256-cbc -e hmacWithSHA256
stdout: key.pem: 1 key (PEM, key encrypted with AES-256, mode 0600)
stdout: -----BEGIN ENCRYPTED PRIVATE KEY-----
stdout: 2

name: --include-key puts the key after the chain, and the file becomes 0600
run: $CERTKIT convert --to pem --include-key --out $T/combined.pem $PKI/leaf.key $PKI/chain.pem && stat -c %a $T/combined.pem && grep -- '-----BEGIN' $T/combined.pem | tr '\n' '|'
stdout: combined.pem: 1 key, 2 certificates (PEM, key unencrypted, mode 0600)
stdout: 600
stdout: -----BEGIN CERTIFICATE-----|-----BEGIN CERTIFICATE-----|-----BEGIN PRIVATE KEY-----|

name: a key alone converts without --include-key
run: $CERTKIT convert --to pem --out $T/k.pem $PKI/leaf.key.der && stat -c %a $T/k.pem && openssl pkey -in $T/k.pem -check -noout
stdout: k.pem: 1 key (PEM, key unencrypted, mode 0600)
stdout: Key is valid

name: PEM and DER give identical certificates
run: $CERTKIT convert --to der --out $T/leaf.der $PKI/leaf.pem && cmp $T/leaf.der $PKI/leaf.der && echo same
stdout: leaf.der: 1 certificate (DER, mode 0644)
stdout: same

name: DER refuses a chain and says how to pick
run: $CERTKIT convert --to der --out $T/x.der $PKI/chain.pem; ls $T
exit: 0
stderr: --to der writes exactly one object, but the input has 2 certificates to write: pick one with --index N
stderr: or use --to pem or --to p7b for a chain
!stdout: x.der

name: DER with several objects exits 2
run: $CERTKIT convert --to der --out $T/x.der $PKI/mixed.pem
exit: 2
stderr: the input has 2 certificates, 1 CSR and 1 CRL to write

name: --index picks the intermediate
run: $CERTKIT convert --to der --index 2 --out $T/int.der $PKI/chain.pem && cmp $T/int.der $PKI/int-ca.der && echo same
stdout: same
!stderr: warning

name: --index past the end is an input error
run: $CERTKIT convert --to der --index 3 --out $T/x.der $PKI/chain.pem
exit: 2
stderr: asked for certificate 3, but the input has 2 certificates

name: --index must be a positive number
run: $CERTKIT convert --to der --index 0 --out $T/x.der $PKI/chain.pem
exit: 2
stderr: --index '0': expected a number from 1

name: --only crl and --only csr pull single objects out of a mixed file
run: $CERTKIT convert --to der --only crl --out $T/crl.der $PKI/mixed.pem && cmp $T/crl.der $PKI/int-ca.crl.der && $CERTKIT convert --to der --only csr --out $T/csr.der $PKI/mixed.pem && cmp $T/csr.der $PKI/leaf.csr.der && echo both
stdout: both

name: --only with nothing of that type
run: $CERTKIT convert --to der --only crl --out $T/x.der $PKI/leaf.pem
exit: 2
stderr: --only crl: the input holds no CRLs

name: --only with an unknown type
run: $CERTKIT convert --to pem --only pubkey --out $T/x $PKI/leaf.pem
exit: 2
stderr: --only 'pubkey': unknown type; expected cert, key, crl or csr

name: p7b is PEM by default, DER with --der, and reads back in order
run: $CERTKIT convert --to p7b --out $T/c.p7b $PKI/fullchain.pem && $CERTKIT convert --to p7b --der --out $T/c.p7c $PKI/fullchain.pem && head -1 $T/c.p7b && openssl pkcs7 -inform DER -in $T/c.p7c -print_certs -noout | grep -c subject=
stdout: c.p7b: 3 certificates (PKCS#7 PEM, mode 0644)
stdout: c.p7c: 3 certificates (PKCS#7 DER, mode 0644)
stdout: -----BEGIN PKCS7-----
stdout: 3

name: p7b carries the CRLs and says why the key and CSR stayed out
run: $CERTKIT convert --to p7b --out $T/c.p7b $PKI/mixed.pem
stdout: c.p7b: 2 certificates, 1 CRL (PKCS#7 PEM, mode 0644)
stderr: 1 private key from the input was not written: PKCS#7 cannot carry a private key
stderr: 1 CSR from the input was not written: PKCS#7 cannot carry a CSR

name: p12 from PEM pieces, modern protection, 0600
run: $CERTKIT convert --to p12 --key $PKI/leaf.key --chain $PKI/int-ca.pem --chain $PKI/root-ca.pem --out-password-file $PKI/password.txt --out $T/out.p12 $PKI/leaf.pem && stat -c %a $T/out.p12 && openssl pkcs12 -in $T/out.p12 -info -noout -passin file:$PKI/password.txt 2>&1
stdout: out.p12: 1 key, 3 certificates (PKCS#12, AES-256, mode 0600)
stdout: 600
stdout: MAC: sha256, Iteration 2048
stdout: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256
stdout: Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC

name: --legacy writes 3DES and a SHA-1 MAC
run: $CERTKIT convert --to p12 --legacy --out-password-file $PKI/password.txt --out $T/old.p12 $PKI/leaf.key $PKI/chain.pem && openssl pkcs12 -in $T/old.p12 -info -noout -passin pass:secret 2>&1
stdout: (PKCS#12, 3DES, SHA-1 MAC (legacy), mode 0600)
stdout: MAC: sha1
stdout: pbeWithSHA1And3-KeyTripleDES-CBC
!stdout: AES

name: the input password is the p12 password unless another is given
run: $CERTKIT convert --to p12 --password-file $PKI/password.txt --out $T/new.p12 $PKI/leaf-legacy.p12 && openssl pkcs12 -in $T/new.p12 -noout -passin pass:secret && echo opened
stdout: new.p12: 1 key, 3 certificates (PKCS#12, AES-256, mode 0600)
stdout: opened

name: CERTKIT_OUT_PASSWORD sets the output password
run: CERTKIT_OUT_PASSWORD=hunter22 $CERTKIT convert --to p12 --out $T/o.p12 $PKI/leaf.key $PKI/leaf.pem && openssl pkcs12 -in $T/o.p12 -noout -passin pass:hunter22 && echo opened
stdout: opened
!stdout: hunter22
!stderr: hunter22

name: passwords are never echoed
run: $CERTKIT convert --to p12 --json --password-file $PKI/password.txt --out $T/o.p12 $PKI/leaf.p12
!stdout: secret
!stderr: secret

name: a p12 with no output password anywhere is refused (no tty here)
run: $CERTKIT convert --to p12 --out $T/o.p12 $PKI/leaf.key $PKI/leaf.pem; ls $T
stderr: o.p12: a PKCS#12 file needs a password: give it with --out-password-file FILE or CERTKIT_OUT_PASSWORD, or write an unprotected file with --no-password
!stdout: o.p12

name: an empty output password file is refused, and says why
run: : > $T/empty; $CERTKIT convert --to p12 --out-password-file $T/empty --out $T/o.p12 $PKI/chain.pem
exit: 2
stderr: o.p12: the PKCS#12 password is empty: a PKCS#12 file under an empty password keeps its private key readable by anyone
stderr: (from /

name: an empty input password file does not become the output password
run: : > $T/empty; $CERTKIT convert --to p12 --password-file $T/empty --out $T/o.p12 $PKI/leaf-empty.p12
exit: 2
stderr: a PKCS#12 file needs a password

name: --no-password writes an unprotected p12 and warns when it holds a key
run: $CERTKIT convert --to p12 --no-password --out $T/o.p12 $PKI/leaf.key $PKI/leaf.pem && openssl pkcs12 -in $T/o.p12 -info -noout -passin pass: 2>&1
stdout: (PKCS#12, no password, mode 0600)
stdout: Warning: MAC is absent!
stdout: Key bag
stderr: holds an unprotected private key (--no-password)

name: a certificate-only p12 warns that Java sees nothing without --java-trust
run: $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/t.p12 $PKI/fullchain.pem
stdout: t.p12: 3 certificates (PKCS#12, AES-256, mode 0644)
stderr: Java's keytool and KeyStore list no entries in it unless it is written with --java-trust

name: --java-trust marks every certificate
run: $CERTKIT convert --to p12 --java-trust --out-password-file $PKI/password.txt --out $T/t.p12 $PKI/fullchain.pem && openssl pkcs12 -in $T/t.p12 -nokeys -passin pass:secret 2>&1 | grep -c 2.16.840.1.113894.746875.1.1
stdout: 3
!stderr: warning

name: --java-trust refuses a key
run: $CERTKIT convert --to p12 --java-trust --out-password-file $PKI/password.txt --out $T/t.p12 $PKI/leaf.key $PKI/leaf.pem
exit: 2
stderr: --java-trust makes a trust store, which holds certificates only

name: --name sets the friendly name; the default is the leaf CN
run: $CERTKIT convert --to p12 --name nvr-01 --out-password-file $PKI/password.txt --out $T/a.p12 $PKI/leaf.key $PKI/leaf.pem && $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/b.p12 $PKI/leaf.key $PKI/leaf.pem && openssl pkcs12 -in $T/a.p12 -nokeys -passin pass:secret | grep friendlyName && openssl pkcs12 -in $T/b.p12 -nokeys -passin pass:secret | grep friendlyName
stdout: friendlyName: nvr-01
stdout: friendlyName: device.example.test

name: a key that belongs to another certificate is refused, naming both
run: $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/x.p12 --key $PKI/other-leaf.key $PKI/chain.pem; ls $T
stderr: other-leaf.key: block 1 (PRIVATE KEY)) does not belong to the certificate (
stderr: chain.pem: block 1 (CERTIFICATE), subject C = US, O = certkit tests, CN = device.example.test)
!stdout: x.p12

name: a key whose certificate is not first points to --normalize
run: $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/x.p12 --key $PKI/leaf.key $PKI/reversed.pem
exit: 2
stderr: but to certificate 3 (
stderr: put its certificate first (normalize the bundle)

name: --normalize puts the leaf first so the p12 can be written
run: $CERTKIT convert --to p12 --normalize --out-password-file $PKI/password.txt --out $T/x.p12 --key $PKI/leaf.key $PKI/reversed.pem
stdout: x.p12: 1 key, 3 certificates (PKCS#12, AES-256, mode 0600)

name: p12 with nothing to carry
run: $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/x.p12 $PKI/int-ca.crl
exit: 2
stderr: PKCS#12: nothing to write: the bundle holds no certificates and no private key

name: p12 with a key but no certificate
run: $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/x.p12 $PKI/leaf.key
exit: 2
stderr: needs its certificate

name: the same key twice (p12 and --key) counts once
run: $CERTKIT convert --to p12 --password-file $PKI/password.txt --out $T/x.p12 --key $PKI/leaf.key $PKI/leaf.p12
stdout: x.p12: 1 key, 3 certificates

name: --normalize alone writes a clean leaf-to-root PEM (reversed)
run: $CERTKIT convert --normalize --out $T/o.pem $PKI/reversed.pem && cmp $T/o.pem $PKI/fullchain.pem && echo clean
stdout: clean

name: --normalize drops duplicates
run: $CERTKIT convert --normalize --out $T/o.pem $PKI/dup.pem && cmp $T/o.pem $PKI/chain.pem && echo clean
stdout: clean

name: --normalize cleans CRLF
run: $CERTKIT convert --normalize --out $T/o.pem $PKI/crlf.pem && cmp $T/o.pem $PKI/fullchain.pem && echo clean
stdout: clean

name: --normalize cleans a BOM
run: $CERTKIT convert --normalize --out $T/o.pem $PKI/bom.pem && cmp $T/o.pem $PKI/chain.pem && echo clean
stdout: clean

name: --normalize drops text between blocks
run: $CERTKIT convert --normalize --out $T/o.pem $PKI/noisy.pem && cmp $T/o.pem $PKI/chain.pem && echo clean
stdout: clean

name: --json describes what was written and what was left out
run: $CERTKIT convert --to pem --json --out $T/f.pem --key-out $T/k.pem $PKI/mixed.pem
stdout: "written": [
stdout: "format": "PEM",
stdout: "mode": "0600",
stdout: "keys": 1,
stdout: "csrs": 1,
stdout: "left_out": []

name: --json records a left-out key
run: $CERTKIT convert --to p7b --json --out $T/f.p7b $PKI/mixed.pem
stdout: "type": "key",
stdout: "reason": "PKCS#7 cannot carry a private key; write it with --key-out FILE"
stdout: "format": "PKCS#7 PEM",

name: --out equal to an input is refused: a key+chain file keeps its key
run: cat $PKI/leaf.key $PKI/fullchain.pem >$T/haproxy.pem && cp $T/haproxy.pem $T/orig.pem; $CERTKIT convert --normalize --out $T/haproxy.pem $T/haproxy.pem; echo "rc=$?"; cmp $T/haproxy.pem $T/orig.pem && echo intact
exit: 0
stdout: rc=2
stdout: intact
stderr: is the input
stderr: Write to a new file

name: --out that is an input under another name (hard link, ./ path) is refused
run: cp $PKI/reversed.pem $T/r.pem && ln $T/r.pem $T/hard.pem && cd $T && $CERTKIT convert --normalize --out hard.pem ./r.pem; echo "rc=$?"; cmp r.pem $PKI/reversed.pem && echo intact
stdout: rc=2
stdout: intact
stderr: (the same file)

name: --key-out equal to an input (--key) is refused, nothing written
run: cp $PKI/leaf.key $T/k.pem && $CERTKIT convert --to pem --out $T/c.pem --key-out $T/k.pem --key $T/k.pem $PKI/leaf.pem; echo "rc=$?"; cmp $T/k.pem $PKI/leaf.key && echo intact; ls $T
stdout: rc=2
stdout: intact
!stdout: c.pem
stderr: --key-out

name: --key-out and --out one file under two names
run: cd $T && ln -s x.pem y.pem && touch x.pem && $CERTKIT convert --to pem --out x.pem --key-out y.pem $PKI/leaf.key $PKI/leaf.pem
exit: 2
stderr: is the same file as --out

name: a failed write leaves the old file byte-identical and no temp file
run: cp $PKI/chain.pem $T/out.pem; CERTKIT_FAULT=rename $CERTKIT convert --to pem --out $T/out.pem $PKI/fullchain.pem; echo "rc=$?"; cmp $T/out.pem $PKI/chain.pem && echo intact; ls $T
stdout: rc=2
stdout: intact
!stdout: .tmp.
stderr: out.pem: cannot replace

name: fsync failure as well
run: cp $PKI/chain.pem $T/out.p12; CERTKIT_FAULT=fsync $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/out.p12 $PKI/leaf.key $PKI/leaf.pem; cmp $T/out.p12 $PKI/chain.pem && echo intact; ls $T
stdout: intact
!stdout: .tmp.
stderr: fsync failed

name: a missing output directory is named
run: $CERTKIT convert --to pem --out $T/nodir/o.pem $PKI/leaf.pem
exit: 2
stderr: o.pem: cannot write here: the directory
stderr: nodir does not exist

name: no --out
run: $CERTKIT convert --to pem $PKI/leaf.pem
exit: 2
stderr: give the file to write with --out FILE

name: no --to
run: $CERTKIT convert --out $T/x $PKI/leaf.pem
exit: 2
stderr: give the output format with --to pem|der|p12|p7b

name: unknown --to
run: $CERTKIT convert --to jks --out $T/x $PKI/leaf.pem
exit: 2
stderr: --to 'jks': unknown format; expected pem, der, p12 or p7b

name: no input
run: $CERTKIT convert --to pem --out $T/x
exit: 2
stderr: give at least one input FILE

name: options that do not fit the format
run: $CERTKIT convert --to pem --legacy --out $T/x $PKI/leaf.pem
exit: 2
stderr: --legacy applies to --to p12 only

name: --key-out with p12 makes no sense
run: $CERTKIT convert --to p12 --key-out $T/k --out $T/x $PKI/leaf.pem
exit: 2
stderr: --key-out does not apply to --to p12

name: --key-out and --out the same file
run: $CERTKIT convert --to pem --key-out $T/x --out $T/x $PKI/leaf.pem
exit: 2
stderr: --key-out names the same file as --out

name: --key-out without a key in the input
run: $CERTKIT convert --to pem --key-out $T/k.pem --out $T/x $PKI/leaf.pem; ls $T
stderr: --key-out
stderr: the input holds no private key
!stdout: x

name: loader errors come through verbatim, naming the file
run: $CERTKIT convert --to pem --out $T/x $PKI/html.der
exit: 2
stderr: html.der: not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 file (starts with 3c 68 74 6d: looks like HTML

name: a missing input file
run: $CERTKIT convert --to pem --out $T/x $PKI/nope.pem
exit: 2
stderr: nope.pem: no such file

name: a p12 without its password
run: $CERTKIT convert --to pem --out $T/x $PKI/leaf.p12
exit: 2
stderr: leaf.p12: PKCS#12 file is protected by a password, and no password was given: give it with --password-file FILE

name: a wrong input password
run: $CERTKIT convert --to pem --password-file $PKI/wrong-password.txt --out $T/x $PKI/leaf.p12
exit: 2
stderr: leaf.p12: wrong password

name: --key must hold a key
run: $CERTKIT convert --to p12 --key $PKI/leaf.pem --out-password-file $PKI/password.txt --out $T/x $PKI/leaf.pem
exit: 2
stderr: leaf.pem: this is a certificate, not a private key

name: --chain must hold certificates
run: $CERTKIT convert --to pem --chain $PKI/leaf.key --out $T/x $PKI/leaf.pem
exit: 2
stderr: leaf.key: this is a private key, not a certificate

name: p7b of keys only
run: $CERTKIT convert --to p7b --out $T/x $PKI/leaf.key
exit: 2
stderr: nothing to write as p7b: the input holds only private keys, which PKCS#7 cannot carry

name: p12 from a mixed file names the CRL and CSR it cannot carry
run: $CERTKIT convert --to p12 --out-password-file $PKI/password.txt --out $T/m.p12 $PKI/mixed.pem
stdout: m.p12: 1 key, 2 certificates (PKCS#12, AES-256, mode 0600)
stderr: 1 CSR from the input was not written: PKCS#12 cannot carry a CSR
stderr: 1 CRL from the input was not written: PKCS#12 carries no CRLs; use --to pem or --to p7b

name: --out a FIFO (as /dev/stdout can be) is refused and stays a FIFO
run: mkfifo $T/fifo && $CERTKIT convert --to pem --out $T/fifo $PKI/leaf.pem; echo "rc=$?"; test -p $T/fifo && echo still-fifo
stdout: rc=2
stdout: still-fifo
stderr: is a FIFO (named pipe)

name: --out a symlink writes through to its target and keeps the link
run: cd $T && mkdir real && echo old >real/cert.pem && ln -s real/cert.pem link.pem && $CERTKIT convert --to pem --out link.pem $PKI/leaf.pem && test -L link.pem && echo link-kept && grep -c BEGIN real/cert.pem
stdout: link-kept
stdout: 1

name: --out a dangling symlink is refused
run: cd $T && ln -s nowhere/x.pem link.pem && $CERTKIT convert --to pem --out link.pem $PKI/leaf.pem
exit: 2
stderr: resolves to nothing
