/*
 * certkit.h: the public API of libcertkit.
 *
 * libcertkit reads, explains, converts and verifies X.509 material, and
 * manages a device's trust store and TLS identity. This header includes no
 * OpenSSL header: every object is opaque, and everything that crosses the API
 * is a C string, a byte buffer, an integer or one of the types below.
 *
 * Conventions (they follow libtls and OpenSSL's naming):
 *  1. Every call that can fail returns a ck_status. CK_OK is 0. Numbers never
 *     change meaning; retired ones stay reserved.
 *  2. The human-readable detail of the last failure is kept on the ck_ctx and
 *     read with ck_ctx_error(). It names the file or peer, what was expected
 *     and what was found. A generic message never overwrites a specific one
 *     set deeper in the same call.
 *  3. A failed verification or a finding of an audit is a *result*, not an
 *     error: it is reported in the JSON report and the call returns CK_OK.
 *  4. get0 borrows (valid while the owner lives); get1/dup returns something
 *     the caller frees. Free functions accept NULL.
 *  5. Reports are JSON documents (UTF-8 strings the caller frees with
 *     ck_free()); their schemas are documented in docs/json.md and are stable.
 *  6. Secrets (passwords, private keys) are wiped when freed and are never
 *     written into error messages or reports.
 */
#ifndef CERTKIT_CERTKIT_H
#define CERTKIT_CERTKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CK_WUR __attribute__((warn_unused_result))
#else
#define CK_WUR
#endif

/* ------------------------------------------------------------------------
 * Status codes. Stable: never renumber, never reuse.
 * ------------------------------------------------------------------------ */
typedef enum ck_status {
	CK_OK = 0,
	CK_E_IO = 1,        /* a file or directory could not be read/written */
	CK_E_FORMAT = 2,    /* input is not in the expected form, or damaged */
	CK_E_PASSWORD = 3,  /* a password is wrong or missing */
	CK_E_USAGE = 4,     /* the caller passed an invalid argument */
	CK_E_NOMEM = 5,     /* memory allocation failed */
	CK_E_INTERNAL = 6,  /* a library call failed unexpectedly */
	CK_E_NOTFOUND = 7,  /* a named object does not exist */
	CK_E_EXISTS = 8,    /* a named object exists already */
	CK_E_LOCKED = 9,    /* another process holds the lock */
	CK_E_NETWORK = 10,  /* a peer could not be reached or misbehaved */
	CK_E_REFUSED = 11,  /* a safety check refused the operation */
	CK_E_CONFLICT = 12, /* a concurrent change won (compare-and-swap) */
	CK_E_LIMIT = 13,    /* a configured bound was reached */
} ck_status;

/* A short, stable name for a status ("io", "format", ...). */
const char *ck_status_name(ck_status st);

/* Frees memory returned by libcertkit (reports, strings, buffers). */
void ck_free(void *p);

/* The library's version, "MAJOR.MINOR.PATCH" (static storage). */
const char *ck_version(void);
/* The version of the TLS library libcertkit runs with, as that library
 * names it ("OpenSSL 3.0.13 30 Jan 2024"; static storage). */
const char *ck_crypto_version(void);
/* Overwrites len bytes at p in a way the compiler cannot drop (for
 * passwords a caller held). NULL is a no-op. */
void ck_wipe(void *p, size_t len);

/*
 * Untrusted text (a certificate's names, a peer's answer, a file name),
 * made safe to print on a terminal: printable ASCII and valid UTF-8 stay;
 * every byte of a control character (C0 including LF and TAB, DEL, C1), of
 * a bidirectional override, and of invalid UTF-8 becomes \xNN. Backslashes
 * stay, so escaping twice changes nothing. Error messages
 * (ck_ctx_error()) are escaped already; JSON reports keep exact values.
 * Caller frees with ck_free(); NULL only when out of memory.
 */
char *ck_text_escape(const char *s) CK_WUR;

/* ------------------------------------------------------------------------
 * Context: error detail, password source, and the clock.
 * ------------------------------------------------------------------------ */
typedef struct ck_ctx ck_ctx;

ck_ctx *ck_ctx_new(void) CK_WUR;
void ck_ctx_free(ck_ctx *ctx);

/* The detail of the last failure, or "" if none. Owned by ctx. */
const char *ck_ctx_error(const ck_ctx *ctx);
/* The status of the last failure, or CK_OK. */
ck_status ck_ctx_status(const ck_ctx *ctx);
/* Forgets the last failure. */
void ck_ctx_clear_error(ck_ctx *ctx);

/*
 * Password source for encrypted keys and PKCS#12 files. The callback writes
 * at most size-1 bytes and a NUL into buf, and returns the length, or -1 if no
 * password can be had (the file is then reported as needing a password).
 * `what` names the file asking. The buffer is wiped after use.
 */
typedef int (*ck_password_cb)(
    char *buf, size_t size, const char *what, void *arg);
void ck_ctx_set_password_cb(ck_ctx *ctx, ck_password_cb cb, void *arg);
/* The longest password certkit takes, in bytes: OpenSSL hands PEM password
 * callbacks a 1024-byte buffer (PEM_BUFSIZE), so a longer one could never
 * open an encrypted PEM key, and certkit takes one limit for every format. */
#define CK_PASSWORD_MAX 1023
/* A file that needs a password when neither a password nor a callback gave
 * one fails with CK_E_PASSWORD and a message that ends with this text, so
 * a caller can add how its user gives one. */
#define CK_MSG_NO_PASSWORD "no password was given"
/* A fixed password (copied; wiped on free). NULL removes it. Longer than
 * CK_PASSWORD_MAX: CK_E_USAGE, saying so. */
ck_status ck_ctx_set_password(ck_ctx *ctx, const char *password) CK_WUR;

/*
 * The time every validity check uses, in seconds since the epoch. 0 (the
 * default) means the real clock. Used by --at.
 */
void ck_ctx_set_time(ck_ctx *ctx, int64_t unix_time);
int64_t ck_ctx_time(const ck_ctx *ctx);

/* Parses RFC 3339 ("2026-06-01T00:00:00Z", offsets allowed) or a bare date. */
ck_status ck_parse_time(ck_ctx *ctx, const char *text, int64_t *out) CK_WUR;

/* The one range of network timeouts, in milliseconds: the doctor's stages
 * (ck_doctor_set_timeout_ms), ck_fetch_chain, and the tool's --timeout of
 * doctor, lab and trust add --from. Values outside are clamped to it. */
#define CK_TIMEOUT_MIN_MS 100
#define CK_TIMEOUT_MAX_MS 600000

/* ------------------------------------------------------------------------
 * Objects and the loader.
 * ------------------------------------------------------------------------ */
typedef struct ck_cert ck_cert;
typedef struct ck_key ck_key;
typedef struct ck_bundle ck_bundle;

typedef enum ck_obj_type {
	CK_OBJ_CERT = 0,
	CK_OBJ_KEY = 1,
	CK_OBJ_CSR = 2,
	CK_OBJ_CRL = 3,
} ck_obj_type;

/*
 * Loads every object in a file. The content decides the format, never the
 * name: PEM (any blocks, CRLF, BOM, surrounding text), DER certificate, CRL,
 * CSR or key, PKCS#7 (PEM or DER), PKCS#12 (modern and legacy), PKCS#8 keys
 * (plain and encrypted) and traditional RSA/EC keys. An empty result is an
 * error (CK_E_FORMAT) that says what the file looks like instead.
 */
ck_status ck_load_file(ck_ctx *ctx, const char *path, ck_bundle **out) CK_WUR;
/*
 * Loads a file that must hold at least one object of type `want`; otherwise
 * fails with "FILE: this is a private key, not a certificate".
 */
ck_status ck_load_expect(
    ck_ctx *ctx, const char *path, ck_obj_type want, ck_bundle **out) CK_WUR;
/* Same as ck_load_file, from memory. `name` is used in messages. */
ck_status ck_load_mem(ck_ctx *ctx, const char *name, const uint8_t *buf,
    size_t len, ck_bundle **out) CK_WUR;

ck_bundle *ck_bundle_new(void) CK_WUR;
void ck_bundle_free(ck_bundle *b);
/* Moves every object of src to the end of dst; src is left empty. */
ck_status ck_bundle_merge(ck_bundle *dst, ck_bundle *src) CK_WUR;
size_t ck_bundle_count(const ck_bundle *b, ck_obj_type type);
ck_cert *ck_bundle_get0_cert(const ck_bundle *b, size_t i);
ck_key *ck_bundle_get0_key(const ck_bundle *b, size_t i);
/* Adds a copy of the certificate / key. */
ck_status ck_bundle_add_cert(ck_bundle *b, const ck_cert *c) CK_WUR;
ck_status ck_bundle_add_key(ck_bundle *b, const ck_key *k) CK_WUR;
/* Where object i of a type came from: "file.pem block 3 (CERTIFICATE)". */
const char *ck_bundle_origin(const ck_bundle *b, ck_obj_type type, size_t i);

/* ------------------------------------------------------------------------
 * Certificates and keys.
 * ------------------------------------------------------------------------ */
ck_cert *ck_cert_dup(const ck_cert *c) CK_WUR;
void ck_cert_free(ck_cert *c);
/* One-line subject/issuer in the openssl s_client style:
 * "C = US, O = Example, CN = host". Caller frees with ck_free(). */
char *ck_cert_subject(const ck_cert *c) CK_WUR;
char *ck_cert_issuer(const ck_cert *c) CK_WUR;
/* The certificate's first common name (UTF-8), or NULL when it has none
 * or it is empty. Caller frees. */
char *ck_cert_common_name(const ck_cert *c) CK_WUR;
/* Lower-case hex SHA-256 of the DER certificate (64 chars + NUL). */
/* The short name `certkit show` gives it (the "label" of the show report):
 * the CN, else the one-line subject, bytes that are not UTF-8 as \xNN.
 * Caller frees with ck_free. NULL only if out of memory. */
char *ck_cert_label(const ck_cert *c) CK_WUR;
void ck_cert_sha256(const ck_cert *c, char out[65]);
/* Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo (the pin). */
void ck_cert_spki_sha256(const ck_cert *c, char out[65]);
int64_t ck_cert_not_before(const ck_cert *c);
int64_t ck_cert_not_after(const ck_cert *c);
int ck_cert_is_ca(const ck_cert *c);
int ck_cert_is_self_signed(const ck_cert *c);
/* 1 if `issuer` issued `c` (names and signature check), else 0. */
int ck_cert_issued_by(const ck_cert *c, const ck_cert *issuer);
/* PEM text of the certificate. Caller frees. */
char *ck_cert_to_pem(const ck_cert *c) CK_WUR;

ck_key *ck_key_dup(const ck_key *k) CK_WUR;
void ck_key_free(ck_key *k);
/* 1 if the key is the private key for the certificate's public key. */
int ck_key_matches_cert(const ck_key *k, const ck_cert *c);

/* ------------------------------------------------------------------------
 * Inspection (certkit show).
 * ------------------------------------------------------------------------ */

/*
 * Describes every object in the bundle, the chain analysis of its
 * certificates, and which certificate each key matches. The JSON schema is
 * "show" in docs/json.md.
 */
ck_status ck_describe(ck_ctx *ctx, const ck_bundle *b, char **json) CK_WUR;

/*
 * The same report, one member at a time, for large bundles: the whole
 * document costs about as much memory again as the certificates. `fn` gets
 * each member's name and its value as compact JSON (valid only during the
 * call): first "report", "version", "at", "summary", "keys", "csrs",
 * "crls", "chain" and "findings", then "certificates" once per certificate
 * (one element of that array each time). The document's own member order
 * is in docs/json.md. A status other than CK_OK from `fn` stops the report
 * and is returned.
 */
typedef ck_status (*ck_describe_fn)(
    void *user, const char *member, const char *json);
ck_status ck_describe_each(
    ck_ctx *ctx, const ck_bundle *b, ck_describe_fn fn, void *user) CK_WUR;

/*
 * Orders the bundle's certificates leaf to root (each one issued by the
 * next), drops exact duplicates. Certificates that belong to no chain keep
 * their relative order at the end.
 */
ck_status ck_bundle_normalize(ck_ctx *ctx, ck_bundle *b) CK_WUR;

/* ------------------------------------------------------------------------
 * Verification (certkit verify).
 * ------------------------------------------------------------------------ */
typedef struct ck_verify_opts ck_verify_opts;

typedef enum ck_purpose {
	CK_PURPOSE_SERVER = 0,
	CK_PURPOSE_CLIENT = 1,
	CK_PURPOSE_ANY = 2,
} ck_purpose;

/*
 * How strict a verification is. COMPAT (the default) gives OpenSSL's
 * verdict; what STRICT would refuse is reported as warnings. STRICT also
 * applies the RFC 5280 and CA/Browser Forum Baseline Requirements rules
 * OpenSSL leaves unchecked (docs/json.md, verify codes) and never falls
 * back to the common name for a host name: each rule broken is an error.
 */
typedef enum ck_policy {
	CK_POLICY_COMPAT = 0,
	CK_POLICY_STRICT = 1,
} ck_policy;

/* The options keep ctx (borrowed: it must outlive them) and report the
 * errors of their setters on it. */
ck_status ck_verify_opts_new(ck_ctx *ctx, ck_verify_opts **out) CK_WUR;
void ck_verify_opts_free(ck_verify_opts *o);
/* Trust anchors: a file of any number of certificates, or a directory (hashed
 * or not). Every certificate given is an anchor (RFC 5280 6.1). Without any,
 * the system store is used (SSL_CERT_FILE / SSL_CERT_DIR honoured). */
ck_status ck_verify_opts_add_roots(ck_verify_opts *o, const char *path) CK_WUR;
ck_status ck_verify_opts_add_root_cert(
    ck_verify_opts *o, const ck_cert *c) CK_WUR;
ck_status ck_verify_opts_add_untrusted(
    ck_verify_opts *o, const char *path) CK_WUR;
ck_status ck_verify_opts_add_crl(ck_verify_opts *o, const char *path) CK_WUR;
ck_status ck_verify_opts_set_host(ck_verify_opts *o, const char *host) CK_WUR;
ck_status ck_verify_opts_set_ip(ck_verify_opts *o, const char *ip) CK_WUR;
ck_status ck_verify_opts_set_email(ck_verify_opts *o, const char *email) CK_WUR;
void ck_verify_opts_set_purpose(ck_verify_opts *o, ck_purpose p);
void ck_verify_opts_set_max_depth(ck_verify_opts *o, int depth);
/* CK_E_USAGE for a value that is not a ck_policy. */
ck_status ck_verify_opts_set_policy(ck_verify_opts *o, ck_policy p) CK_WUR;
/* "compat" or "strict" into *out; CK_E_USAGE (message on ctx) otherwise. */
ck_status ck_policy_parse(ck_ctx *ctx, const char *s, ck_policy *out) CK_WUR;

/*
 * The rules of the policy (the codes from cn_only_name to crl_no_number of
 * docs/json.md's verify section) on each certificate of `b` on its own, as
 * `certkit show --policy` reports them; no chain is built and nothing is
 * verified. A certificate is checked at the place its own fields give it: a
 * root (a CA naming itself its issuer), another CA, or a leaf (the leaf
 * rules; cn_only_name only when its EKU allows serverAuth), against the
 * CRLs of `b`. A copy of an earlier certificate is not checked again.
 *
 * *json: a JSON array of findings in the form of show's findings[]
 * (docs/json.md, show): each about one certificate (`certificates`, its
 * 1-based index in `b`), with evidence `rule`, `refused_by` and `policy`;
 * errors under CK_POLICY_STRICT, warnings under CK_POLICY_COMPAT
 * (leaf_no_eku under STRICT only), in certificate order; "[]" when none.
 * Caller frees with ck_free(). ck_describe() does not run them (the
 * verifier sits above it). CK_E_NOTFOUND when a leaf has a wildcard name
 * and the public suffix list is missing (as ck_verify()).
 */
ck_status ck_rules_check(
    ck_ctx *ctx, const ck_bundle *b, ck_policy policy, char **json) CK_WUR;

/*
 * Verifies the first certificate of `target` (the leaf; the rest of the
 * bundle is used as untrusted intermediates). Writes a report (schema
 * "verify" in docs/json.md) and sets *valid to 1 or 0. Returns CK_OK when a
 * verdict was reached, valid or not; CK_E_REFUSED, and no report, when a
 * finding's message or remedy would pass 1 MiB (a certificate with huge
 * names): a message is never cut short.
 */
ck_status ck_verify(ck_ctx *ctx, const ck_verify_opts *o,
    const ck_bundle *target, char **json, int *valid) CK_WUR;

/* ------------------------------------------------------------------------
 * Writing (certkit convert).
 * ------------------------------------------------------------------------ */
typedef enum ck_format {
	CK_FMT_PEM = 0,
	CK_FMT_DER = 1,
	CK_FMT_P12 = 2,
	CK_FMT_P7B = 3,
} ck_format;

/*
 * How to write: passwords, names and format choices. Opaque; NULL given to
 * a writer means every default. Like every certkit object it is made with
 * ck_X_new(ctx, &out), keeps ctx (borrowed) for the messages of its
 * setters, and is freed with ck_X_free (the password is wiped).
 */
typedef struct ck_write_opts ck_write_opts;

ck_status ck_write_opts_new(ck_ctx *ctx, ck_write_opts **out) CK_WUR;
void ck_write_opts_free(ck_write_opts *wo);
/* PKCS#12 password, or the one that encrypts PEM/DER keys (copied; wiped
 * on free). NULL (the default) means none (PKCS#12: no encryption, no
 * MAC); the writers refuse "" (CK_E_USAGE, see ck_write_password_check). */
ck_status ck_write_opts_set_password(
    ck_write_opts *wo, const char *password) CK_WUR;
/* PKCS#12 friendly name of the key entry (copied). Default: "certkit". */
ck_status ck_write_opts_set_name(ck_write_opts *wo, const char *name) CK_WUR;
/* PKCS#12: mark certificates trusted for Java (default 0). */
void ck_write_opts_set_java_trusted(ck_write_opts *wo, int on);
/* PKCS#7: 1 writes PEM, 0 (the default) writes DER. */
void ck_write_opts_set_p7b_pem(ck_write_opts *wo, int on);
/* PKCS#12: 3DES and a SHA-1 MAC instead of AES-256 and SHA-256, for
 * Windows Server 2016, Java 8 and older appliances that cannot read AES
 * (default 0). */
void ck_write_opts_set_p12_legacy(ck_write_opts *wo, int on);

/*
 * Serialises the bundle into `fmt` and writes it to `path` atomically
 * (temporary file, fsync, rename, fsync of the directory). The file is mode
 * 0600 when it holds a private key, 0644 otherwise. DER takes exactly one
 * object.
 */
ck_status ck_write_bundle(ck_ctx *ctx, const ck_bundle *b, ck_format fmt,
    const ck_write_opts *wo, const char *path) CK_WUR;
/* Serialises into memory. Caller frees *out with ck_free(). */
ck_status ck_encode_bundle(ck_ctx *ctx, const ck_bundle *b, ck_format fmt,
    const ck_write_opts *wo, uint8_t **out, size_t *len) CK_WUR;

/*
 * CK_OK, or CK_E_USAGE with certkit's one message for it, when `password`
 * is "" for an output in `fmt`: a PKCS#12 file or an encrypted key under an
 * empty password protects nothing; or when it is longer than
 * CK_PASSWORD_MAX, so no certkit could open the file. NULL passes. The writers
 * refuse it themselves; callers check early to fail before any work.
 */
ck_status ck_write_password_check(
    ck_ctx *ctx, ck_format fmt, const char *password) CK_WUR;

/* ck_bundle_select: one bit per ck_obj_type; 0 selects every type. */
#define CK_SEL(t) (1u << (unsigned)(t))
/*
 * Copies (up-references) the objects of the types in `types` into a new
 * bundle, keeping order and origins. index 0 takes them all; index N >= 1
 * takes only the Nth object (in bundle order) of the one type `types` names.
 * A private key equal to one already taken (the same key loaded from a
 * PKCS#12 file and from --key) is taken once.
 */
ck_status ck_bundle_select(ck_ctx *ctx, const ck_bundle *b, unsigned int types,
    size_t index, ck_bundle **out) CK_WUR;

/* Replaces `path` atomically with `len` bytes of `data`, mode `mode`.
 * `path` must be absent or a regular file; a symbolic link is written
 * through (its target is replaced, the link kept). Anything else (a device,
 * a FIFO, a directory, a dangling link) is CK_E_USAGE and left alone. */
ck_status ck_write_file_atomic(ck_ctx *ctx, const char *path, const void *data,
    size_t len, unsigned int mode) CK_WUR;

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_CERTKIT_H */
