/*
 * x509.c: small accessors of an X509 that every module above core shares
 * (the trust store, its audit, the reference roots): digests, subject
 * fields, a short label, validity at a time, the key's description, and
 * fingerprint text as people paste it.
 *
 * Guarantees: no I/O, no error on the context; a missing attribute is NULL
 * (or "unknown"), never a crash; digests are lower-case hex.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"

void
cki_x509_fp(X509 *x, char fp[65])
{
	ck_cert c = {x};

	ck_cert_sha256(&c, fp);
}

void
cki_x509_spki(X509 *x, char spki[65])
{
	ck_cert c = {x};

	ck_cert_spki_sha256(&c, spki);
}

char *
cki_x509_subject_field(X509 *x, int nid)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	unsigned char *utf8 = NULL;
	char *out;
	int len;

	if (i < 0)
		return NULL;
	len = ASN1_STRING_to_UTF8(
	    &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (len <= 0) {
		OPENSSL_free(utf8);
		return NULL;
	}
	out = strndup((char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return out;
}

char *
cki_x509_label(X509 *x)
{
	char *s;

	if ((s = cki_x509_common_name(x)) != NULL)
		return s;
	if ((s = cki_x509_subject_field(x, NID_organizationalUnitName)) != NULL)
		return s;
	if ((s = cki_x509_subject_field(x, NID_organizationName)) != NULL)
		return s;
	return cki_name_oneline(X509_get_subject_name(x));
}

const char *
cki_x509_validity(X509 *x, int64_t now)
{
	int64_t nb = 0, na = 0;

	cki_asn1_time(X509_get0_notBefore(x), &nb);
	cki_asn1_time(X509_get0_notAfter(x), &na);
	if (now < nb)
		return "not_yet_valid";
	if (now > na)
		return "expired";
	return "valid";
}

void
cki_x509_key(X509 *x, char *buf, size_t size, int *rsa_bits)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64];
	size_t glen = 0;

	*rsa_bits = 0;
	if (pk == NULL) {
		snprintf(buf, size, "unknown");
		return;
	}
	if (EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "RSA-PSS")) {
		*rsa_bits = EVP_PKEY_get_bits(pk);
		snprintf(buf, size, "RSA %d", *rsa_bits);
	} else if (EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_utf8_string_param(
	        pk, "group", group, sizeof(group), &glen)) {
		snprintf(buf, size, "EC %s",
		    strcmp(group, "prime256v1") == 0      ? "P-256"
		        : strcmp(group, "secp384r1") == 0 ? "P-384"
		        : strcmp(group, "secp521r1") == 0 ? "P-521"
		                                          : group);
	} else {
		snprintf(buf, size, "%s %d", EVP_PKEY_get0_type_name(pk),
		    EVP_PKEY_get_bits(pk));
	}
}

bool
cki_fp_parse(
    const char *in, char out[65], enum cki_pin *kind, bool *explicit_kind)
{
	static const char *const cert_prefix[] = {
	    "sha256:", "sha256=", "sha256 fingerprint=", "sha2-256:", NULL};
	static const char *const spki_prefix[] = {
	    "spki:", "spki-", "pin-sha256:", NULL};
	size_t n = 0;

	*kind = CKI_PIN_CERT;
	*explicit_kind = false;
	while (isspace((unsigned char)*in))
		in++;
	for (int i = 0; cert_prefix[i] != NULL; i++)
		if (strncasecmp(in, cert_prefix[i], strlen(cert_prefix[i])) ==
		    0) {
			in += strlen(cert_prefix[i]);
			*explicit_kind = true;
			break;
		}
	for (int i = 0; !*explicit_kind && spki_prefix[i] != NULL; i++)
		if (strncasecmp(in, spki_prefix[i], strlen(spki_prefix[i])) ==
		    0) {
			in += strlen(spki_prefix[i]);
			*kind = CKI_PIN_SPKI;
			*explicit_kind = true;
		}
	if (!*explicit_kind && strncasecmp(in, "sha256-", 7) == 0) {
		in += 7;
		*explicit_kind = true;
	}
	for (; *in != '\0'; in++) {
		if (*in == ':' || *in == ' ')
			continue;
		if (!isxdigit((unsigned char)*in) || n >= 64)
			return false;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n == 64;
}
