/*
 * reference_int.h: the reference root set inside libcertkit
 * (lib/trust/reference.c and the source cmake/reference.cmake generates at
 * build time).
 */
#ifndef CERTKIT_REFERENCE_INT_H
#define CERTKIT_REFERENCE_INT_H

#include <stddef.h>

#include <openssl/x509.h>

#include "ck_internal.h"

/* The generated data: the PEM text of every reference root, NUL-terminated
 * (cki_reference_pem_len excludes the NUL), and how many files it came
 * from. */
extern const unsigned char cki_reference_pem[];
extern const size_t cki_reference_pem_len;
extern const unsigned int cki_reference_files;

/*
 * The embedded reference set, parsed once per process (thread-safe). The
 * stack is borrowed and lives until exit; it is empty, never NULL, when the
 * build found no roots or memory ran out.
 */
const STACK_OF(X509) * cki_reference_certs(void);

/* A reference set read from a file (any format the loader reads). Caller
 * frees with sk_X509_pop_free(..., X509_free). */
ck_status cki_reference_load(
    ck_ctx *ctx, const char *path, STACK_OF(X509) * *out);

#endif /* CERTKIT_REFERENCE_INT_H */
