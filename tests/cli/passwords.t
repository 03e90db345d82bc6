# Passwords: an empty one is refused for every output it would "protect",
# with one message (lib/pki/encode.c invariant 4); password files that cannot be
# read say so; CERTKIT_PASSWORD's length limit is named.

name: identity export --format p12 refuses an empty password file, writes nothing
run: export CERTKIT_HOME=$T/home; $CERTKIT identity init >/dev/null || exit 9
run: : > $T/empty; $CERTKIT identity export --format p12 --password-file $T/empty --out $T/id.p12; r=$?; ls $T; exit $r
exit: 2
stderr: the PKCS#12 password is empty: a PKCS#12 file under an empty password keeps its private key readable by anyone
!stdout: id.p12

name: identity export --format p12 refuses an empty CERTKIT_PASSWORD
run: export CERTKIT_HOME=$T/home; $CERTKIT identity init >/dev/null || exit 9
run: CERTKIT_PASSWORD= $CERTKIT identity export --format p12 --out $T/id.p12; r=$?; ls $T; exit $r
exit: 2
stderr: the PKCS#12 password is empty: a PKCS#12 file under an empty password keeps its private key readable by anyone
!stdout: id.p12

name: trust export --format p12 refuses an empty password file, writes nothing
run: export CERTKIT_HOME=$T/home; $CERTKIT trust add "$PKI/root-ca.pem" >/dev/null || exit 9
run: : > $T/empty; $CERTKIT trust export --format p12 --password-file $T/empty --out $T/ts.p12; r=$?; ls $T; exit $r
exit: 2
stderr: the PKCS#12 password is empty: a PKCS#12 file under an empty password keeps its private key readable by anyone
!stdout: ts.p12

name: trust rebuild refuses an empty password file with the same message
run: export CERTKIT_HOME=$T/home; : > $T/empty; $CERTKIT trust rebuild --password-file $T/empty
exit: 2
stderr: the PKCS#12 password is empty: a PKCS#12 file under an empty password keeps its private key readable by anyone
stderr: --default-password

name: convert to an encrypted PEM key with an empty password speaks of PEM, not Java
run: : > $T/empty; $CERTKIT convert --to pem --include-key --out-password-file $T/empty --out $T/o.pem $PKI/leaf.key $PKI/leaf.pem; r=$?; ls $T; exit $r
exit: 2
stderr: the password to encrypt the PEM private key is empty
!stderr: Java
!stdout: o.pem

name: the PKCS#12 still works with a real password
run: export CERTKIT_HOME=$T/home; $CERTKIT identity init >/dev/null || exit 9
run: printf 'n3w\n' > $T/pw; $CERTKIT identity export --format p12 --password-file $T/pw --out $T/id.p12 && $CERTKIT show --password-file $T/pw $T/id.p12
stdout: PKCS#12

name: a password file that is a directory is reported as unreadable, not as a wrong password
run: mkdir $T/dir; $CERTKIT show --password-file $T/dir $PKI/leaf.p12
exit: 2
stderr: dir: cannot read the password file: Is a directory
!stderr: wrong password

name: /dev/zero as a password file is not a text file, not a wrong password
run: $CERTKIT show --password-file /dev/zero $PKI/leaf.p12
exit: 2
stderr: /dev/zero: the password file holds a NUL byte
!stderr: wrong password

name: a password file whose first line is 1,024 bytes is refused by its length
run: awk 'BEGIN { s = ""; for (i = 0; i < 1024; i++) s = s "a"; print s }' > $T/long; $CERTKIT show --password-file $T/long $PKI/leaf.p12
exit: 2
stderr: long: the password file's first line is longer than 1023 bytes, the longest password certkit takes
!stderr: wrong password

name: CERTKIT_PASSWORD of 1,024 characters is refused by name
run: CERTKIT_PASSWORD=$(awk 'BEGIN { s = ""; for (i = 0; i < 1024; i++) s = s "a"; print s }') $CERTKIT show $PKI/leaf.p12
exit: 2
stderr: certkit: CERTKIT_PASSWORD: the password is 1024 bytes long; certkit takes at most 1023
!stderr: wrong password

name: a 1,023-byte password works for PKCS#12 and for an encrypted PEM key
run: pw=$(awk 'BEGIN { s = ""; for (i = 0; i < 1023; i++) s = s "b"; print s }')
run: CERTKIT_OUT_PASSWORD=$pw $CERTKIT convert --to p12 --out $T/x.p12 $PKI/leaf.key $PKI/leaf.pem >/dev/null || exit 9
run: CERTKIT_OUT_PASSWORD=$pw $CERTKIT convert --to pem --include-key --out $T/k.pem $PKI/leaf.key $PKI/leaf.pem >/dev/null || exit 8
run: CERTKIT_PASSWORD=$pw $CERTKIT show --at 2026-06-01T00:00:00Z $T/x.p12 $T/k.pem
stdout: x.p12: PKCS#12 certificate (key's)
stdout: k.pem: block 2 (ENCRYPTED PRIVATE KEY)

name: an output password of 1,024 bytes is refused: certkit could not open the file again
run: CERTKIT_OUT_PASSWORD=$(awk 'BEGIN { s = ""; for (i = 0; i < 1024; i++) s = s "c"; print s }') $CERTKIT convert --to p12 --out $T/x.p12 $PKI/leaf.key $PKI/leaf.pem; r=$?; ls $T; exit $r
exit: 2
stderr: the password is 1024 bytes long; certkit takes at most 1023, and could not open the file again (from CERTKIT_OUT_PASSWORD)
!stdout: x.p12
