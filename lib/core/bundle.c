/*
 * bundle.c: the container the loader fills, and the certificate and key
 * handles it hands out.
 *
 * A bundle keeps one list per object type, in the order the objects were
 * found, each with its origin string. It owns everything in it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "ck_internal.h"

ck_cert *
cki_cert_wrap(X509 *x)
{
	ck_cert *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		X509_free(x);
		return NULL;
	}
	c->x509 = x;
	return c;
}

ck_key *
cki_key_wrap(EVP_PKEY *k)
{
	ck_key *key;

	if ((key = calloc(1, sizeof(*key))) == NULL) {
		EVP_PKEY_free(k);
		return NULL;
	}
	key->pkey = k;
	return key;
}

ck_cert *
ck_cert_dup(const ck_cert *c)
{
	if (c == NULL || !X509_up_ref(c->x509))
		return NULL;
	return cki_cert_wrap(c->x509);
}

void
ck_cert_free(ck_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->x509);
	free(c);
}

ck_key *
ck_key_dup(const ck_key *k)
{
	if (k == NULL || !EVP_PKEY_up_ref(k->pkey))
		return NULL;
	return cki_key_wrap(k->pkey);
}

void
ck_key_free(ck_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL cleanses key material */
	free(k);
}

void
cki_obj_free(ck_obj_type t, void *obj)
{
	switch (t) {
	case CK_OBJ_CERT: ck_cert_free(obj); break;
	case CK_OBJ_KEY: ck_key_free(obj); break;
	case CK_OBJ_CSR: X509_REQ_free(obj); break;
	case CK_OBJ_CRL: X509_CRL_free(obj); break;
	}
}

ck_bundle *
ck_bundle_new(void)
{
	return calloc(1, sizeof(ck_bundle));
}

void
ck_bundle_free(ck_bundle *b)
{
	if (b == NULL)
		return;
	for (int t = 0; t < 4; t++) {
		struct cki_list *l = &b->list[t];

		for (size_t i = 0; i < l->n; i++) {
			cki_obj_free((ck_obj_type)t, l->obj[i]);
			free(l->origin[i]);
		}
		free(l->obj);
		free(l->origin);
	}
	free(b);
}

ck_status
cki_bundle_push(ck_bundle *b, ck_obj_type t, void *obj, const char *origin)
{
	struct cki_list *l = &b->list[t];
	char *o;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		void **no;
		char **nor;

		if ((no = realloc(l->obj, cap * sizeof(*no))) == NULL)
			return CK_E_NOMEM;
		l->obj = no;
		if ((nor = realloc(l->origin, cap * sizeof(*nor))) == NULL)
			return CK_E_NOMEM;
		l->origin = nor;
		l->cap = cap;
	}
	if ((o = strdup(origin != NULL ? origin : "")) == NULL)
		return CK_E_NOMEM;
	l->obj[l->n] = obj;
	l->origin[l->n] = o;
	l->n++;
	return CK_OK;
}

void *
cki_bundle_get(const ck_bundle *b, ck_obj_type t, size_t i)
{
	if (b == NULL || (unsigned)t > CK_OBJ_CRL || i >= b->list[t].n)
		return NULL;
	return b->list[t].obj[i];
}

size_t
ck_bundle_count(const ck_bundle *b, ck_obj_type t)
{
	if (b == NULL || (unsigned)t > CK_OBJ_CRL)
		return 0;
	return b->list[t].n;
}

ck_cert *
ck_bundle_get0_cert(const ck_bundle *b, size_t i)
{
	return cki_bundle_get(b, CK_OBJ_CERT, i);
}

ck_key *
ck_bundle_get0_key(const ck_bundle *b, size_t i)
{
	return cki_bundle_get(b, CK_OBJ_KEY, i);
}

const char *
ck_bundle_origin(const ck_bundle *b, ck_obj_type t, size_t i)
{
	if (b == NULL || (unsigned)t > CK_OBJ_CRL || i >= b->list[t].n)
		return NULL;
	return b->list[t].origin[i];
}

ck_status
ck_bundle_merge(ck_bundle *dst, ck_bundle *src)
{
	for (int t = 0; t < 4; t++) {
		struct cki_list *l = &src->list[t];
		size_t moved = 0;
		ck_status st = CK_OK;

		for (; moved < l->n; moved++) {
			st = cki_bundle_push(dst, (ck_obj_type)t, l->obj[moved],
			    l->origin[moved]);
			if (st != CK_OK)
				break;
			free(l->origin[moved]);
		}
		/* Keep what did not move, so nothing leaks or is freed twice.
		 */
		if (moved > 0 && moved < l->n) {
			memmove(l->obj, l->obj + moved,
			    (l->n - moved) * sizeof(void *));
			memmove(l->origin, l->origin + moved,
			    (l->n - moved) * sizeof(char *));
		}
		l->n -= moved;
		if (st != CK_OK)
			return st;
	}
	return CK_OK;
}

ck_status
ck_bundle_add_cert(ck_bundle *b, const ck_cert *c)
{
	ck_cert *d = ck_cert_dup(c);

	if (d == NULL)
		return CK_E_NOMEM;
	if (cki_bundle_push(b, CK_OBJ_CERT, d, "added") != CK_OK) {
		ck_cert_free(d);
		return CK_E_NOMEM;
	}
	return CK_OK;
}

ck_status
ck_bundle_add_key(ck_bundle *b, const ck_key *k)
{
	ck_key *d = ck_key_dup(k);

	if (d == NULL)
		return CK_E_NOMEM;
	if (cki_bundle_push(b, CK_OBJ_KEY, d, "added") != CK_OK) {
		ck_key_free(d);
		return CK_E_NOMEM;
	}
	return CK_OK;
}
