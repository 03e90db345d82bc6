/*
 * encode_int.h: what lib/pki/encode.c shares with its tests.
 */
#ifndef CERTKIT_ENCODE_INT_H
#define CERTKIT_ENCODE_INT_H

#include "ck_internal.h"

/* ---- internal ------------------------------------------------------------ */

/* The Oracle JDK's "trusted key usage" attribute (no name in OpenSSL 3.0;
 * 3.2 calls it NID_oracle_jdk_trustedkeyusage). Java's PKCS12KeyStore lists a
 * certificate bag that carries it as a trustedCertEntry; without it a
 * certificate that belongs to no key is invisible to Java. */
#define CKI_OID_JDK_TRUSTED_KEY_USAGE "2.16.840.1.113894.746875.1.1"
#define CKI_OID_ANY_EKU "2.5.29.37.0"

/* The public ck_write_opts. Inside the library a writer may fill one on
 * the stack, borrowing its strings: {password, name} and zeros. */
struct ck_write_opts {
	const char *password; /* borrowed, or own_password */
	const char *name;     /* borrowed, or own_name */
	int java_trusted;
	int p7b_pem;
	int p12_legacy;
	ck_ctx *ctx; /* from ck_write_opts_new; NULL on the stack */
	char *own_password;
	char *own_name;
};

/* "PEM", "DER", "PKCS#12", "PKCS#7"; "?" for anything else. */
const char *cki_format_name(ck_format fmt);
/* 1 if writing the bundle in `fmt` would put a private key in the file (the
 * file is then mode 0600). */
int cki_encode_holds_key(const ck_bundle *b, ck_format fmt);

#endif /* CERTKIT_ENCODE_INT_H */
