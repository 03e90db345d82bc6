# A trust store given by the user that yields no certificate is one input
# error, with one message and exit 2, for verify --roots and doctor --trust,
# whether it is an empty directory, a directory of other files, or an empty
# file (lib/verify/verify.c, cki_no_anchors). The doctor never reaches the
# network.

name: verify --roots with an empty directory
run: mkdir $T/d; $CERTKIT verify --at 2026-06-01T00:00:00Z --roots $T/d $PKI/chain.pem
exit: 2
stderr: d: no trust anchor in it: the directory is empty; expected CA certificates (PEM, DER, PKCS#7 or PKCS#12) in a file or a directory of files

name: doctor --trust with an empty directory: the same error
run: mkdir $T/d; $CERTKIT doctor --timeout 1 --trust $T/d 127.0.0.1:1
exit: 2
stderr: d: no trust anchor in it: the directory is empty; expected CA certificates (PEM, DER, PKCS#7 or PKCS#12) in a file or a directory of files
!stdout: tcp_refused

name: verify --roots with an empty file
run: : > $T/e.pem; $CERTKIT verify --at 2026-06-01T00:00:00Z --roots $T/e.pem $PKI/chain.pem
exit: 2
stderr: e.pem: no trust anchor in it: the file is empty; expected CA certificates (PEM, DER, PKCS#7 or PKCS#12) in a file or a directory of files

name: doctor --trust with an empty file: the same error
run: : > $T/e.pem; $CERTKIT doctor --timeout 1 --trust $T/e.pem 127.0.0.1:1
exit: 2
stderr: e.pem: no trust anchor in it: the file is empty; expected CA certificates (PEM, DER, PKCS#7 or PKCS#12) in a file or a directory of files
!stdout: tcp_refused

name: verify --roots with a directory of files that hold no certificate
run: mkdir $T/d; cp $PKI/text.txt $PKI/leaf.key $T/d/; $CERTKIT verify --at 2026-06-01T00:00:00Z --roots $T/d $PKI/chain.pem
exit: 2
stderr: d: no trust anchor in it: none of the 2 files in the directory holds a certificate

name: doctor --trust with a directory of files that hold no certificate: the same error
run: mkdir $T/d; cp $PKI/text.txt $PKI/leaf.key $T/d/; $CERTKIT doctor --timeout 1 --trust $T/d 127.0.0.1:1
exit: 2
stderr: d: no trust anchor in it: none of the 2 files in the directory holds a certificate
!stdout: tcp_refused

name: doctor --trust with a file that holds only a key is an input error, as for verify
run: $CERTKIT doctor --timeout 1 --trust $PKI/leaf.key 127.0.0.1:1
exit: 2
stderr: leaf.key: this is a private key, not a certificate
!stdout: tcp_refused
