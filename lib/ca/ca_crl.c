/*
 * ca_crl.c: the CA's CRL (RFC 5280 section 5), built whole from the
 * caller's list of revoked certificates each time it changes.
 *
 * What a CRL holds:
 *   version      v2
 *   issuer       the issuing CA's subject; signed with its key, SHA-256
 *   thisUpdate   now; nextUpdate now + next_secs (default 1 day)
 *   entries      serial, revocationDate, reasonCode (absent for
 *                unspecified, RFC 5280 section 5.3.1), sorted by serial;
 *                a certificate past its notAfter is left out (section 3.3:
 *                an expired certificate's status need not be kept)
 *   extensions   authorityKeyIdentifier (section 5.2.1), cRLNumber
 *                (section 5.2.3)
 *
 * Invariant: the CRL number grows strictly across every CRL of the CA's
 * directory, whichever process makes it: under an exclusive lock on
 * DIR/crlnumber.lock it is max(last + 1, now in seconds), then DIR/crlnumber
 * is replaced atomically. The clock part keeps it growing even if the file
 * is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

#define CKI_PATH 4096

static uint64_t
read_last(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[32] = "";
	uint64_t v = 0;

	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) != NULL)
		v = strtoull(line, NULL, 10);
	fclose(f);
	return v;
}

/* The next CRL number of the CA's directory (see the invariant). */
static ck_status
next_number(ck_ctx *ctx, const ck_ca *ca, uint64_t *out)
{
	char lock[CKI_PATH], path[CKI_PATH], text[32];
	uint64_t last, now = (uint64_t)cki_now(ctx);
	ck_status rv;
	int fd;

	if (!cki_ca_path(lock, sizeof(lock), ca->dir, "crlnumber.lock") ||
	    !cki_ca_path(path, sizeof(path), ca->dir, "crlnumber"))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", ca->dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return cki_err(
		    ctx, CK_E_IO, "%s: cannot open: %s", lock, strerror(errno));
	if (flock(fd, LOCK_EX) == -1) {
		rv = cki_err(
		    ctx, CK_E_IO, "%s: cannot lock: %s", lock, strerror(errno));
		close(fd);
		return rv;
	}
	last = read_last(path);
	*out = last + 1 > now ? last + 1 : now;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", *out);
	rv = ck_write_file_atomic(ctx, path, text, strlen(text), 0644);
	close(fd); /* releases the lock */
	return rv;
}

static ASN1_INTEGER *
serial_int(const char *hex)
{
	char norm[CK_CA_SERIAL_HEX];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (!ck_ca_serial_norm(hex, norm) || !BN_hex2bn(&bn, norm))
		return NULL;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

/* One entry; false when out of memory. */
static bool
add_entry(X509_CRL *crl, ASN1_INTEGER *serial, int64_t at, int reason)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)at);
	ASN1_ENUMERATED *e = NULL;
	bool ok = r != NULL && t != NULL &&
	    X509_REVOKED_set_serialNumber(r, serial) &&
	    X509_REVOKED_set_revocationDate(r, t);

	/* RFC 5280 section 5.3.1: unspecified (0) SHOULD be absent. */
	if (ok && reason > 0) {
		ok = (e = ASN1_ENUMERATED_new()) != NULL &&
		    ASN1_ENUMERATED_set(e, reason) &&
		    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0) == 1;
	}
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	if (ok && X509_CRL_add0_revoked(crl, r))
		return true;
	X509_REVOKED_free(r);
	return false;
}

static ck_status
add_entries(ck_ctx *ctx, X509_CRL *crl, const ck_ca_revoked *list, size_t n,
    int64_t now)
{
	ASN1_INTEGER *serial;
	size_t i;
	bool ok;

	for (i = 0; i < n; i++) {
		if (list[i].not_after != 0 && list[i].not_after < now)
			continue; /* expired: dropped (RFC 5280 section 3.3) */
		if (list[i].reason > 10 || list[i].reason == 7)
			return cki_err(ctx, CK_E_USAGE,
			    "revoked entry %zu (serial %s): reason %d is not a "
			    "CRLReason (RFC 5280 section 5.3.1)",
			    i, list[i].serial, list[i].reason);
		if ((serial = serial_int(list[i].serial)) == NULL)
			return cki_err(ctx, CK_E_USAGE,
			    "revoked entry %zu: serial '%s': expected %d hex "
			    "digits",
			    i, list[i].serial ? list[i].serial : "(null)",
			    CK_CA_SERIAL_HEX - 1);
		ok = add_entry(crl, serial, list[i].revoked_at, list[i].reason);
		ASN1_INTEGER_free(serial);
		if (!ok)
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	return CK_OK;
}

static bool
add_crl_exts(X509_CRL *crl, const ck_ca *ca, uint64_t number)
{
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert->x509);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	bool ok = akid != NULL && ski != NULL && num != NULL &&
	    (akid->keyid = ASN1_OCTET_STRING_dup(ski)) != NULL &&
	    ASN1_INTEGER_set_uint64(num, number) &&
	    X509_CRL_add1_ext_i2d(
	        crl, NID_authority_key_identifier, akid, 0, 0) == 1 &&
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;

	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(num);
	return ok;
}

static ck_status
encode(ck_ctx *ctx, X509_CRL *crl, uint8_t **der, size_t *der_len)
{
	unsigned char *enc = NULL;
	int n = i2d_X509_CRL(crl, &enc);

	if (n <= 0)
		return cki_err(ctx, CK_E_INTERNAL, "cannot encode the CRL: %s",
		    cki_ossl_reason());
	if ((*der = malloc((size_t)n)) == NULL) {
		OPENSSL_free(enc);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	memcpy(*der, enc, (size_t)n);
	*der_len = (size_t)n;
	OPENSSL_free(enc);
	return CK_OK;
}

ck_status
ck_ca_crl(ck_ctx *ctx, ck_ca *ca, const ck_ca_revoked *list, size_t n,
    int64_t next_secs, uint8_t **der, size_t *der_len)
{
	uint64_t number = 0;

	return ck_ca_crl_number(
	    ctx, ca, list, n, next_secs, &number, der, der_len);
}

ck_status
ck_ca_crl_number(ck_ctx *ctx, ck_ca *ca, const ck_ca_revoked *list, size_t n,
    int64_t next_secs, uint64_t *number, uint8_t **der, size_t *der_len)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *t0 = NULL, *t1 = NULL;
	time_t now;
	ck_status rv;

	cki_begin(ctx);
	*der = NULL;
	*der_len = 0;
	now = cki_now(ctx);
	if (n > 0 && list == NULL)
		return cki_err(ctx, CK_E_USAGE, "ck_ca_crl: no list");
	if (next_secs <= 0)
		next_secs = 86400;
	rv = CK_E_INTERNAL;
	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(
	        crl, X509_get_subject_name(ca->cert->x509)) ||
	    (t0 = ASN1_TIME_set(NULL, now)) == NULL ||
	    (t1 = ASN1_TIME_adj(NULL, now, 0, (long)next_secs)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t0) ||
	    !X509_CRL_set1_nextUpdate(crl, t1))
		goto ossl;
	if ((rv = add_entries(ctx, crl, list, n, (int64_t)now)) != CK_OK ||
	    (*number == 0 && (rv = next_number(ctx, ca, number)) != CK_OK))
		goto err;
	rv = CK_E_INTERNAL;
	if (!X509_CRL_sort(crl) || !add_crl_exts(crl, ca, *number) ||
	    X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0)
		goto ossl;
	rv = encode(ctx, crl, der, der_len);
	goto err;
ossl:
	cki_err_keep(
	    ctx, CK_E_INTERNAL, "cannot make the CRL: %s", cki_ossl_reason());
err:
	ASN1_TIME_free(t0);
	ASN1_TIME_free(t1);
	X509_CRL_free(crl);
	return rv;
}
