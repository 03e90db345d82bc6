# Passwords: an empty one is refused for every output it would "protect",
# with one message (lib/encode.c invariant 4); password files that cannot be
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
