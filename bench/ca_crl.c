/*
 * bench/ca_crl.c: the cost of ck_ca_crl (lib/ca/ca_crl.c) with N revoked
 * entries, and of ck_ca_issue, through the public API. Usage: ca_crl DIR N
 * RUNS. DIR/ca is made (once); prints "crl_ms BEST BYTES" (the fastest of
 * RUNS rebuilds, each signing and encoding the whole CRL, the CRL number
 * file included) and "issue_per_s RATE" (1000 issuances from one CSR, the
 * CSR's signature checked each time). Built by bench/ca.sh against
 * libcertkit_static.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certkit/ca.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
bench_issue(ck_ctx *ctx, ck_ca *ca)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	const char *names[] = {"gw.bench.test"};
	ck_ca_issued is;
	double t0;
	int n, i;

	X509_REQ_set_pubkey(req, k);
	X509_REQ_sign(req, k, EVP_sha256());
	n = i2d_X509_REQ(req, &der);
	t0 = now_ms();
	for (i = 0; i < 1000; i++) {
		if (ck_ca_issue(ctx, ca, der, (size_t)n, NULL, names, 1, &is) !=
		    CK_OK)
			return 1;
		ck_ca_issued_clear(&is);
	}
	printf("issue_per_s %.0f\n", 1000.0 / ((now_ms() - t0) / 1000.0));
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return 0;
}

int
main(int argc, char **argv)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca_init_opts o = {.name = "bench CA"};
	ck_ca *ca = NULL;
	ck_ca_revoked *list;
	char dir[4096], (*serial)[33];
	uint8_t *der = NULL;
	size_t n, len = 0, i;
	int runs, r;
	double best = 1e12, t0, t;
	time_t now = time(NULL);

	if (argc != 4)
		return 2;
	n = strtoul(argv[2], NULL, 10);
	runs = (int)strtol(argv[3], NULL, 10);
	snprintf(dir, sizeof(dir), "%s/ca", argv[1]);
	if (ck_ca_load(ctx, dir, &ca) != CK_OK &&
	    ck_ca_init(ctx, dir, &o, &ca) != CK_OK) {
		fprintf(stderr, "ca_crl: %s\n", ck_ctx_error(ctx));
		return 1;
	}
	list = calloc(n, sizeof(*list));
	serial = calloc(n, sizeof(*serial));
	for (i = 0; i < n; i++) {
		snprintf(
		    serial[i], sizeof(serial[i]), "4%031zx", i * 2654435761u);
		list[i] = (ck_ca_revoked){
		    serial[i], now - 3600, (int)(i % 2), now + 86400};
	}
	for (r = 0; r < runs; r++) {
		free(der);
		t0 = now_ms();
		if (ck_ca_crl(ctx, ca, list, n, 0, &der, &len) != CK_OK) {
			fprintf(stderr, "ca_crl: %s\n", ck_ctx_error(ctx));
			return 1;
		}
		t = now_ms() - t0;
		best = t < best ? t : best;
	}
	printf("crl_ms %.1f %zu\n", best, len);
	if (bench_issue(ctx, ca) != 0)
		return 1;
	free(der);
	free(list);
	free(serial);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
	return 0;
}
