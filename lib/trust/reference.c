/*
 * reference.c: the reference set of well-known public roots.
 *
 * The set is Mozilla's root program as Debian ships it, embedded at build
 * time by cmake/reference.cmake, or any PEM file given at run time (the
 * doctor's --reference). It is never trusted by itself: it explains ("your
 * store lacks ISRG Root X1, which signs this chain") and repairs (`certkit
 * trust add --reference "ISRG Root X1"`, the Nx article's solution B).
 *
 * Lookups match a query against each root's one-line subject,
 * case-insensitively ("isrg root x1", "Starfield Root Certificate Authority
 * - G2"), or against its SHA-256 (any case, colons allowed).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "reference_int.h"
#include "trust_int.h"

static STACK_OF(X509) * embedded;
static pthread_once_t embedded_once = PTHREAD_ONCE_INIT;

static void
load_embedded(void)
{
	BIO *bio;
	X509 *x;

	if ((embedded = sk_X509_new_null()) == NULL)
		return;
	if (cki_reference_pem_len == 0)
		return;
	bio = BIO_new_mem_buf(cki_reference_pem, (int)cki_reference_pem_len);
	if (bio == NULL)
		return;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(embedded, x) <= 0)
			X509_free(x);
	/* The end of the data reads as "no start line": not an error. */
	ERR_clear_error();
	BIO_free(bio);
}

const STACK_OF(X509) * cki_reference_certs(void)
{
	static STACK_OF(X509) * none;

	if (pthread_once(&embedded_once, load_embedded) != 0 ||
	    embedded == NULL) {
		if (none == NULL)
			none = sk_X509_new_null();
		return none;
	}
	return embedded;
}

size_t
ck_reference_count(void)
{
	return (size_t)sk_X509_num(cki_reference_certs());
}

ck_status
cki_reference_load(ck_ctx *ctx, const char *path, STACK_OF(X509) * *out)
{
	ck_bundle *b = NULL;
	STACK_OF(X509) *sk = NULL;
	ck_status rv;

	*out = NULL;
	if ((rv = ck_load_file(ctx, path, &b)) != CK_OK)
		return rv;
	if (ck_bundle_count(b, CK_OBJ_CERT) == 0) {
		ck_bundle_free(b);
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: holds no certificate; expected a bundle of reference "
		    "roots",
		    path);
	}
	if ((sk = sk_X509_new_null()) == NULL)
		goto nomem;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;

		if (!X509_up_ref(x))
			goto nomem;
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			goto nomem;
		}
	}
	ck_bundle_free(b);
	*out = sk;
	return CK_OK;
nomem:
	sk_X509_pop_free(sk, X509_free);
	ck_bundle_free(b);
	return cki_err(ctx, CK_E_NOMEM, "out of memory");
}

static bool
ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return false;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

/* Which roots of `set` match; *exact is the one whose CN equals the
 * query, if exactly one does. */
static ck_status
match(ck_ctx *ctx, const STACK_OF(X509) * set, const char *where,
    const char *query, ck_bundle **out, X509 **exact)
{
	ck_bundle *b = NULL;
	char hex[65], fp[65], *q = NULL;
	enum cki_pin kind;
	bool isfp, ex;
	int nexact = 0;

	*out = NULL;
	*exact = NULL;
	if (query == NULL || query[0] == '\0')
		return cki_err(ctx, CK_E_USAGE,
		    "empty reference query: give a name (\"ISRG Root X1\") or "
		    "a SHA-256 fingerprint");
	isfp = cki_fp_parse(query, hex, &kind, &ex);
	/* Surrounding spaces are typing accidents, not part of a name. */
	while (isspace((unsigned char)*query))
		query++;
	if ((q = strdup(query)) == NULL || (b = ck_bundle_new()) == NULL)
		goto nomem;
	for (size_t n = strlen(q); n > 0 && isspace((unsigned char)q[n - 1]);)
		q[--n] = '\0';
	for (int i = 0; i < sk_X509_num(set); i++) {
		X509 *x = sk_X509_value(set, i);
		char *subj = NULL, *cn = NULL, spki[65];
		bool hit;

		if (isfp) {
			cki_x509_fp(x, fp);
			cki_x509_spki(x, spki);
			hit =
			    strcmp(kind == CKI_PIN_SPKI ? spki : fp, hex) == 0;
		} else {
			subj = cki_name_oneline(X509_get_subject_name(x));
			hit = subj != NULL && ci_contains(subj, q);
		}
		if (hit) {
			ck_cert *c;
			char origin[300], *label = cki_x509_label(x);

			cn = ck_cert_common_name(&(ck_cert){x});
			if (cn != NULL && strcasecmp(cn, q) == 0) {
				nexact++;
				*exact = x;
			}
			snprintf(origin, sizeof(origin), "%s: %s", where,
			    label != NULL ? label : "?");
			free(label);
			if (!X509_up_ref(x) || (c = cki_cert_wrap(x)) == NULL) {
				free(subj);
				free(cn);
				goto nomem;
			}
			if (cki_bundle_push(b, CK_OBJ_CERT, c, origin) !=
			    CK_OK) {
				ck_cert_free(c);
				free(subj);
				free(cn);
				goto nomem;
			}
		}
		free(subj);
		free(cn);
	}
	if (nexact != 1)
		*exact = NULL;
	free(q);
	*out = b;
	return CK_OK;
nomem:
	free(q);
	ck_bundle_free(b);
	return cki_err(ctx, CK_E_NOMEM, "out of memory");
}

static ck_status
with_set(ck_ctx *ctx, const char *file, const char *query, ck_bundle **out,
    X509 **exact, char *where, size_t wsize)
{
	STACK_OF(X509) *own = NULL;
	const STACK_OF(X509) * set;
	ck_status rv;

	if (file != NULL) {
		if ((rv = cki_reference_load(ctx, file, &own)) != CK_OK)
			return rv;
		set = own;
		snprintf(where, wsize, "reference %s (%d roots)", file,
		    sk_X509_num(own));
	} else {
		set = cki_reference_certs();
		snprintf(where, wsize,
		    "the embedded reference set (%d Mozilla "
		    "roots, from Debian's ca-certificates)",
		    sk_X509_num(set));
		if (sk_X509_num(set) == 0)
			return cki_err(ctx, CK_E_NOTFOUND,
			    "this certkit was built without reference roots "
			    "(ca-certificates was not installed at build "
			    "time); "
			    "give a reference file instead");
	}
	rv = match(
	    ctx, set, file != NULL ? file : "reference", query, out, exact);
	if (rv == CK_OK && *exact != NULL && !X509_up_ref(*exact))
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (rv != CK_OK)
		*exact = NULL;
	sk_X509_pop_free(own, X509_free);
	return rv;
}

ck_status
ck_reference_find(
    ck_ctx *ctx, const char *file, const char *query, ck_bundle **matches)
{
	char where[512];
	X509 *exact = NULL;
	ck_status rv;

	cki_begin(ctx);
	*matches = NULL;
	if ((rv = with_set(ctx, file, query, matches, &exact, where,
	         sizeof(where))) != CK_OK)
		return rv;
	X509_free(exact);
	if (ck_bundle_count(*matches, CK_OBJ_CERT) == 0) {
		ck_bundle_free(*matches);
		*matches = NULL;
		return cki_err(ctx, CK_E_NOTFOUND,
		    "no root in %s matches '%s' (by subject, "
		    "case-insensitively, or by SHA-256)",
		    where, query);
	}
	return CK_OK;
}

ck_status
ck_reference_get(
    ck_ctx *ctx, const char *file, const char *query, ck_cert **out)
{
	ck_bundle *b = NULL;
	X509 *exact = NULL;
	char where[512], list[CKI_ERRLEN / 2];
	size_t n, used = 0;
	ck_status rv;

	cki_begin(ctx);
	*out = NULL;
	if ((rv = with_set(
	         ctx, file, query, &b, &exact, where, sizeof(where))) != CK_OK)
		return rv;
	n = ck_bundle_count(b, CK_OBJ_CERT);
	if (exact != NULL) {
		if ((*out = cki_cert_wrap(exact)) == NULL)
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
	} else if (n == 1) {
		if ((*out = ck_cert_dup(ck_bundle_get0_cert(b, 0))) == NULL)
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
	} else if (n == 0) {
		rv = cki_err(ctx, CK_E_NOTFOUND,
		    "no root in %s matches '%s' (by subject, "
		    "case-insensitively, or by SHA-256)",
		    where, query);
	} else {
		list[0] = '\0';
		for (size_t i = 0; i < n && used + 1 < sizeof(list); i++) {
			char fp[65],
			    *lb =
			        cki_x509_label(ck_bundle_get0_cert(b, i)->x509);
			int w;

			cki_x509_fp(ck_bundle_get0_cert(b, i)->x509, fp);
			w = snprintf(list + used, sizeof(list) - used,
			    "%s\"%s\" (SHA-256 %.16s...)", i ? "; " : "",
			    lb ? lb : "?", fp);
			free(lb);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		rv = cki_err(ctx, CK_E_USAGE,
		    "'%s' matches %zu roots in the reference set: %s. Give "
		    "the full name or the SHA-256",
		    query, n, list);
	}
	ck_bundle_free(b);
	return rv;
}
