/* ca_fixture.c: a CA in a temporary directory (ca_fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca_fixture.h"
#include "testutil.h"

int
cafix_new(char *dir, size_t dlen, const char *tag, const char *name, ck_ca **ca)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca_init_opts o = {.name = name};
	char cadir[256];
	int rv = -1;

	snprintf(dir, dlen, "/tmp/certkit-%s.XXXXXX", tag);
	if (ctx == NULL || mkdtemp(dir) == NULL)
		goto err;
	snprintf(cadir, sizeof(cadir), "%s/ca", dir);
	if (ck_ca_init(ctx, cadir, &o, ca) != CK_OK)
		goto err;
	rv = 0;
err:
	ck_ctx_free(ctx);
	return rv;
}

int
cafix_free(const char *dir, ck_ca *ca)
{
	char cmd[256];

	ck_ca_free(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

void
cafix_issue(ck_ctx *ctx, const ck_ca *ca, const char *dir, const char *name,
    char serial[33])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	const unsigned char *p;
	const char *names[] = {name};
	ck_ca_issued is;
	char path[256];
	X509 *x;
	FILE *f;
	int n;

	X509_REQ_set_pubkey(req, k);
	X509_REQ_sign(req, k, EVP_sha256());
	n = i2d_X509_REQ(req, &der);
	assert_int_equal(
	    ck_ca_issue(ctx, ca, der, (size_t)n, NULL, names, 1, &is), CK_OK);
	p = is.der;
	x = d2i_X509(NULL, &p, (long)is.der_len);
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	assert_non_null(f = fopen(path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	if (serial != NULL)
		memcpy(serial, is.serial, 33);
	X509_free(x);
	ck_ca_issued_clear(&is);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}
