/*
 * encode_int.h: what lib/encode.c shares with its tests, and the entry points
 * it adds beyond certkit.h until the public header carries them.
 *
 * The three ck_* functions below are exported (export.map publishes ck_*) and
 * are meant for certkit.h, next to ck_write_bundle; cli/tool_convert.c
 * declares the same prototypes locally until they are there.
 */
#ifndef CERTKIT_ENCODE_INT_H
#define CERTKIT_ENCODE_INT_H

#include "ck_internal.h"

/* ---- proposed for certkit.h --------------------------------------------- */

/* ck_write_bundle_ex / ck_encode_bundle_ex flags. */
#define CK_WRITE_P12_LEGACY 0x1u /* PKCS#12: 3DES and a SHA-1 MAC, for
                                    Windows Server 2016, Java 8 and older
                                    appliances that cannot read AES */

/* ck_bundle_select: one bit per ck_obj_type; 0 selects every type. */
#define CK_SEL(t) (1u << (unsigned)(t))

ck_status ck_encode_bundle_ex(ck_ctx *ctx, const ck_bundle *b, ck_format fmt,
    const ck_write_opts *wo, unsigned int flags, uint8_t **out,
    size_t *len) CK_WUR;
ck_status ck_write_bundle_ex(ck_ctx *ctx, const ck_bundle *b, ck_format fmt,
    const ck_write_opts *wo, unsigned int flags, const char *path) CK_WUR;
/*
 * Copies (up-references) the objects of the types in `types` into a new
 * bundle, keeping order and origins. index 0 takes them all; index N >= 1
 * takes only the Nth object (in bundle order) of the one type `types` names.
 * A private key equal to one already taken (the same key loaded from a
 * PKCS#12 file and from --key) is taken once.
 */
ck_status ck_bundle_select(ck_ctx *ctx, const ck_bundle *b, unsigned int types,
    size_t index, ck_bundle **out) CK_WUR;

/* ---- internal ------------------------------------------------------------ */

/* The Oracle JDK's "trusted key usage" attribute (no name in OpenSSL 3.0;
 * 3.2 calls it NID_oracle_jdk_trustedkeyusage). Java's PKCS12KeyStore lists a
 * certificate bag that carries it as a trustedCertEntry; without it a
 * certificate that belongs to no key is invisible to Java. */
#define CKI_OID_JDK_TRUSTED_KEY_USAGE "2.16.840.1.113894.746875.1.1"
#define CKI_OID_ANY_EKU "2.5.29.37.0"

/* "PEM", "DER", "PKCS#12", "PKCS#7"; "?" for anything else. */
const char *cki_format_name(ck_format fmt);
/* 1 if writing the bundle in `fmt` would put a private key in the file (the
 * file is then mode 0600). */
int cki_encode_holds_key(const ck_bundle *b, ck_format fmt);

#endif /* CERTKIT_ENCODE_INT_H */
