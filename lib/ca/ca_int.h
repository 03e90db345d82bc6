/*
 * ca_int.h: what the files of the ca module share (ca.c: the CA's material
 * on disk; ca_issue.c: client certificates; ca_crl.c: CRLs; ca_ocsp.c: the
 * OCSP responder).
 *
 * The CA's directory (HOME/ca), made whole by ck_ca_init in a temporary
 * directory renamed into place:
 *   ca.key     the issuing CA's key, PEM PKCS#8, mode 0600
 *   ca.pem     the issuing CA's certificate
 *   root.pem   the root's certificate (self-signed)
 *   root.key   the root's key, mode 0600 (absent after --root-out)
 *   crlnumber  the last CRL number given, decimal (ck_ca_crl)
 */
#ifndef CERTKIT_CA_INT_H
#define CERTKIT_CA_INT_H

#include <openssl/x509.h>

#include "ck_internal.h"
#include "certkit/ca.h"

struct ck_ca {
	ck_cert *cert; /* the issuing CA */
	ck_cert *root;
	EVP_PKEY *key; /* the issuing CA's */
	char *dir;
	int days; /* of issued certificates */
	char *crl_url, *ocsp_url;
	bool root_key_kept;
};

/* Sets a fresh serial: 16 random bytes, the top bit clear and the next set
 * so it is positive and always 16 bytes (RFC 5280 section 4.1.2.2). */
bool cki_ca_serial(X509 *x);
/* The serial of x in the form of ck_ca_issued.serial. */
void cki_ca_serial_hex(const X509 *x, char out[CK_CA_SERIAL_HEX]);
/* Adds one extension from its OpenSSL config text; issuer may be NULL
 * (self-signed: x itself). */
bool cki_ca_ext(X509 *x, X509 *issuer, int nid, const char *value);
/* The path DIR/NAME into out; false if too long. */
bool cki_ca_path(char *out, size_t size, const char *dir, const char *name);

#endif /* CERTKIT_CA_INT_H */
