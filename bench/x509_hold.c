/*
 * x509_hold.c: the floor for `certkit show`'s memory: a bare libcrypto loop
 * that reads every certificate of a PEM file with PEM_read_bio_X509 and
 * keeps them all, as any tool that analyses the file as one chain must.
 * Usage: x509_hold FILE; prints the count.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

int
main(int argc, char **argv)
{
	STACK_OF(X509) *all = sk_X509_new_null();
	BIO *in;
	X509 *x;

	if (argc != 2 || all == NULL ||
	    (in = BIO_new_file(argv[1], "r")) == NULL)
		return 2;
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(all, x))
			return 2;
	printf("%d\n", sk_X509_num(all));
	BIO_free(in);
	sk_X509_pop_free(all, X509_free);
	return 0;
}
