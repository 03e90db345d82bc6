/*
 * verify_loop.c: the peer for the verify benchmark: a direct libcrypto loop
 * of X509_verify_cert over every leaf of a bundle, with the same parameters
 * certkit verify uses (anchors, one untrusted intermediate, pinned time,
 * server purpose, auth level 2, partial-chain anchors). It does nothing but
 * verify, so certkit's time over it is certkit's overhead.
 *
 * usage: verify_loop ROOTS.pem INTERMEDIATE.pem LEAVES.pem UNIX_TIME
 * Prints "verified N, valid M".
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

int
main(int argc, char **argv)
{
	X509_STORE *store;
	STACK_OF(X509) * untrusted;
	X509 *x;
	FILE *f;
	long n = 0, ok = 0;
	char *end;
	long long at;

	if (argc != 5) {
		fprintf(stderr, "usage: verify_loop ROOTS INTER LEAVES TIME\n");
		return 2;
	}
	at = strtoll(argv[4], &end, 10);
	if (*end != '\0')
		return 2;
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	if (store == NULL || untrusted == NULL ||
	    X509_STORE_load_file(store, argv[1]) != 1)
		return 1;
	if ((f = fopen(argv[2], "r")) == NULL)
		return 1;
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		sk_X509_push(untrusted, x);
	fclose(f);
	if ((f = fopen(argv[3], "r")) == NULL)
		return 1;
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		X509_STORE_CTX *vctx = X509_STORE_CTX_new();
		X509_VERIFY_PARAM *p;

		if (vctx == NULL ||
		    !X509_STORE_CTX_init(vctx, store, x, untrusted))
			return 1;
		p = X509_STORE_CTX_get0_param(vctx);
		X509_VERIFY_PARAM_set_time(p, (time_t)at);
		X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_PARTIAL_CHAIN);
		X509_VERIFY_PARAM_set_auth_level(p, 2);
		X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
		if (X509_verify_cert(vctx) == 1)
			ok++;
		n++;
		X509_STORE_CTX_free(vctx);
		X509_free(x);
	}
	fclose(f);
	printf("verified %ld, valid %ld\n", n, ok);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_free(store);
	return 0;
}
