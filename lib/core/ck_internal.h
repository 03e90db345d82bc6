/*
 * ck_internal.h: what libcertkit's files share and the public API hides.
 *
 * Names shared across library files start with cki_ (the export map publishes
 * ck_* only). Everything else is static.
 *
 * Invariants:
 *  1. Every public entry point calls cki_begin(ctx) first: it clears the
 *     context's error and OpenSSL's error queue, so a message always belongs
 *     to the call that returned it.
 *  2. cki_err() records the most specific message. cki_err_keep() records a
 *     message only if none is set yet, so a generic wrapper never hides the
 *     detail a deeper function gave.
 *  3. A bundle owns its objects. Each object carries its origin ("file block N
 *     (TYPE)"), which every message about it uses.
 */
#ifndef CERTKIT_CK_INTERNAL_H
#define CERTKIT_CK_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certkit/certkit.h"

#define CKI_ERRLEN 1024
/* Largest file the loader reads: far above any real bundle (10,000
 * certificates are ~15 MiB of PEM), small enough to stop a runaway read. */
#define CKI_MAX_FILE (64u * 1024u * 1024u)

struct ck_ctx {
	ck_status status;
	char err[CKI_ERRLEN];
	ck_password_cb pw_cb;
	void *pw_arg;
	char *password;    /* wiped on free */
	int64_t now;       /* 0: the real clock */
	int legacy_loaded; /* the legacy provider was loaded for PKCS#12 */
};

struct ck_cert {
	X509 *x509;
};

struct ck_key {
	EVP_PKEY *pkey;
};

/* One typed list of a bundle. Objects are ck_cert *, ck_key *, X509_REQ *
 * or X509_CRL * by type. */
struct cki_list {
	void **obj;
	char **origin;
	size_t n, cap;
};

struct ck_bundle {
	struct cki_list list[4]; /* indexed by ck_obj_type */
};

/* ---- ctx.c: errors, passwords, time ------------------------------------- */
void cki_begin(ck_ctx *ctx);
/* Records the error on ctx and returns st; a NULL ctx (a caller that
 * wants only the status, as cki_verify_run()'s may) records nothing. */
ck_status cki_err(ck_ctx *ctx, ck_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ck_status cki_err_keep(ck_ctx *ctx, ck_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The reason string of OpenSSL's last queued error, or "unknown reason". */
const char *cki_ossl_reason(void);
/* Fills buf with a password for `what`. Returns its length, or -1. */
int cki_password(ck_ctx *ctx, const char *what, char *buf, size_t size);
/* The end of every "needs a password, none given" message. */
#define CKI_NO_PASSWORD CK_MSG_NO_PASSWORD
/* True if a password source is configured at all. */
bool cki_have_password(const ck_ctx *ctx);
time_t cki_now(const ck_ctx *ctx);
/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, m 1..12, d 1..31;
 * negative before 1970): the one calendar conversion, no TZ. */
int64_t cki_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Milliseconds of CLOCK_MONOTONIC: for timeouts and elapsed times only. */
int64_t cki_mono_ms(void);
/* Loads OpenSSL's legacy provider (RC2, RC4, DES) once per process. */
bool cki_load_legacy_provider(ck_ctx *ctx);

/* ---- sockbio.c ---------------------------------------------------------- */
/* A socket BIO for fd that never raises SIGPIPE (MSG_NOSIGNAL), otherwise as
 * BIO_new_socket(fd, BIO_NOCLOSE). Every TLS connection over a socket uses
 * it. NULL if out of memory. */
BIO *cki_bio_new_socket(int fd);

/* ---- fileio.c ----------------------------------------------------------- */
/* Reads a whole regular file (at most CKI_MAX_FILE bytes). */
ck_status cki_read_file(
    ck_ctx *ctx, const char *path, uint8_t **buf, size_t *len);
/* Reads a file's first line (without CR/LF) into a fresh string: for
 * password files, so the rest of what was read is wiped. */
ck_status cki_read_first_line(ck_ctx *ctx, const char *path, char **line);
/* Creates a directory and its parents, mode `mode`. */
ck_status cki_mkdirs(ck_ctx *ctx, const char *path, unsigned int mode);
/* fsyncs a directory. */
ck_status cki_fsync_dir(ck_ctx *ctx, const char *dir);
/* Writes all of data to fd, retrying on EINTR and short writes; `name`
 * names the file in the message. Honours CERTKIT_FAULT=write. */
ck_status cki_write_all(
    ck_ctx *ctx, int fd, const char *name, const void *data, size_t len);
/* Creates `path` (O_EXCL, mode `mode` whatever the umask), writes data and,
 * if `sync`, fsyncs it (CERTKIT_FAULT=write|fsync): for files of a
 * directory nobody reads yet. On failure the file may stay, half-written. */
ck_status cki_write_new(ck_ctx *ctx, const char *path, const void *data,
    size_t len, unsigned int mode, bool sync);
/* Renames `tmp` (a file or symlink made ready) over `path`, removing `tmp`
 * if that fails (CERTKIT_FAULT=rename), then fsyncs `dir`, the directory
 * holding both. */
ck_status cki_replace(
    ck_ctx *ctx, const char *tmp, const char *path, const char *dir);
/* True if `a` and `b` both exist and are one file (st_dev and st_ino): hard
 * links and other spellings of a path count. */
bool cki_same_file(const char *a, const char *b);
/* True if `path` (or, when it does not exist, its directory), resolved, is
 * `dir` or inside it: an output that would land in a store's own files. */
bool cki_path_under(const char *path, const char *dir);
/* Test hook: when CERTKIT_FAULT is "write", "fsync" or "rename", the atomic
 * writer fails at that step, as a full disk or a crash would. */
bool cki_fault(const char *step);

/* ---- bundle.c ----------------------------------------------------------- */
/* Appends an object; the bundle takes ownership (set0) on success. */
ck_status cki_bundle_push(
    ck_bundle *b, ck_obj_type t, void *obj, const char *origin);
void *cki_bundle_get(const ck_bundle *b, ck_obj_type t, size_t i);
void cki_obj_free(ck_obj_type t, void *obj);
/* Wraps an X509 / EVP_PKEY (takes ownership; frees it on failure). */
ck_cert *cki_cert_wrap(X509 *x);
ck_key *cki_key_wrap(EVP_PKEY *k);

/* ---- names.c ------------------------------------------------------------ */
/*
 * The one escaper of untrusted text (certificate names, peer text, file
 * names) for a terminal or a log. It keeps printable ASCII and valid UTF-8,
 * and writes as \xNN (lower-case hex) every byte of: a C0 control (LF and
 * TAB included: a value is one line), DEL, a C1 control (U+0080..U+009F, a
 * terminal may act on them), a bidirectional override or isolate
 * (U+202A..U+202E, U+2066..U+2069, which reorder what is shown), and any
 * byte that is not valid UTF-8. A backslash stays, so escaping twice changes
 * nothing. Writes at most size-1 bytes and a NUL into out (never cutting an
 * escape or a character); returns the length the whole result needs, so
 * size 0 measures.
 */
size_t cki_esc(char *out, size_t size, const char *s, size_t len);
/* The same, into a fresh string (free()); NULL only when out of memory. */
char *cki_esc_dup(const char *s, size_t len);
/* The one way a string from outside (a file name, --home, a certificate's
 * or a peer's text) goes into a report: json_string() when it is UTF-8,
 * else (jansson takes UTF-8 only) the cki_esc() copy, so such a name never
 * makes a report fail. NULL gives JSON null; NULL only when out of memory. */
json_t *cki_json_str(const char *s);
/* True if `issuer` issued `x`: names chain and the signature verifies. */
bool cki_x509_issued_by(X509 *x, X509 *issuer);
/* "C = US, O = Example, CN = host" (the s_client style). Caller frees. */
char *cki_name_oneline(const X509_NAME *name);
/* cki_name_oneline's fast path: the same text for a name whose every entry
 * is its own RDN, with a short name and a value of plain ASCII that neither
 * OpenSSL nor the escaper changes; NULL for any other name (or no memory). */
char *cki_name_oneline_plain(const X509_NAME *name);
/* The one common-name getter: the subject's first CN as UTF-8, or NULL when
 * there is none or it is empty (ck_cert_common_name). Caller frees. */
char *cki_x509_common_name(const X509 *x);
/* Lower-case hex of a buffer into out (2*len+1 bytes). */
void cki_hex(const unsigned char *buf, size_t len, char *out);
/* "ab:cd:..." upper-case colon hex, as openssl prints serials. Caller frees. */
char *cki_hex_colon(const unsigned char *buf, size_t len);
/* ASN1_TIME -> seconds since the epoch (0 and false on failure). */
bool cki_asn1_time(const ASN1_TIME *t, int64_t *out);
/* "2026-06-01T00:00:00Z". */
void cki_fmt_time(int64_t t, char out[32]);
/* RFC 5280 5.3.1 CRLReason (also OCSP's, RFC 6960 4.2.1): "keyCompromise",
 * ...; "unknown" outside the table. */
const char *cki_crl_reason_name(long r);

/* ---- codes.c ------------------------------------------------------------ */

/*
 * The one table of finding and diagnosis codes (codes.c): each with the
 * reports that use it, its severity and its meaning. Every report takes a
 * finding's severity from here.
 */
enum cki_severity { CKI_SEV_ERROR = 0, CKI_SEV_WARNING, CKI_SEV_INFO };

/* The reports, one bit each. */
#define CKI_REPORT_SHOW 0x01u     /* certkit show: findings[] */
#define CKI_REPORT_VERIFY 0x02u   /* certkit verify: findings[] */
#define CKI_REPORT_DOCTOR 0x04u   /* certkit doctor: diagnosis[] */
#define CKI_REPORT_AUDIT 0x08u    /* certkit trust audit: findings[] */
#define CKI_REPORT_IDENTITY 0x10u /* identity findings[] and problems[] */
#define CKI_REPORT_SERVER 0x20u   /* certkit serve: warnings, problems */

struct cki_code {
	const char *code;           /* stable, snake_case */
	unsigned reports;           /* CKI_REPORT_* bits */
	enum cki_severity severity; /* in those reports */
	bool lowerable;             /* may also appear as a warning */
	const char *meaning;        /* one line */
};

/* The whole table, *n rows. */
const struct cki_code *cki_codes(size_t *n);
/* The row of `code` in `report` (one CKI_REPORT_* bit), or NULL. */
const struct cki_code *cki_code_find(unsigned report, const char *code);
/* Its severity; CKI_SEV_ERROR for a code not in the table. */
enum cki_severity cki_code_severity(unsigned report, const char *code);
/* "error", "warning", "info". */
const char *cki_severity_name(enum cki_severity s);
/* "show", "verify", "doctor", "audit", "identity", "server". */
const char *cki_report_name(unsigned report);

/* ---- report.c ----------------------------------------------------------- */

/*
 * The one finding object (report.c): {"code", "severity", "summary",
 * "evidence", "remedies"}, severity from the code table. `old` adds the
 * deprecated names a report had before (kept for one release).
 */
#define CKI_OLD_MESSAGE 0x1u /* "message" = summary */
#define CKI_OLD_FIX 0x2u     /* "fix" = remedies[0] (show, trust audit) */
#define CKI_OLD_REMEDY 0x4u  /* "remedy" = remedies[0] (verify) */
/* The `version` of every report built with this model. */
#define CKI_REPORT_VERSION 2

/* A new finding of `report`; warning_form asks for the warning form of a
 * lowerable code. remedy may be NULL. NULL: out of memory. */
json_t *cki_finding_new(unsigned report, const char *code, bool warning_form,
    const char *summary, const char *remedy, unsigned old);
/* Appends a remedy. Non-zero: out of memory. */
int cki_finding_remedy(json_t *f, const char *remedy);
/* Sets evidence[key] to v (the reference is taken). Non-zero: no memory. */
int cki_finding_evidence(json_t *f, const char *key, json_t *v);

/* ---- x509.c ------------------------------------------------------------- */
/* The certificate's SHA-256 and SPKI SHA-256 (lower-case hex). */
void cki_x509_fp(X509 *x, char fp[65]);
void cki_x509_spki(X509 *x, char spki[65]);
/* The first subject attribute `nid` as a UTF-8 string (free()), or NULL
 * if absent or empty. */
char *cki_x509_subject_field(X509 *x, int nid);
/* A short human label: the CN, else OU, else O, else the one-line subject. */
char *cki_x509_label(X509 *x);
/* "valid", "expired" or "not_yet_valid" at `now`. */
const char *cki_x509_validity(X509 *x, int64_t now);
/* Key description ("RSA 2048", "EC P-256") and RSA bits (0 if not RSA). */
void cki_x509_key(X509 *x, char *buf, size_t size, int *rsa_bits);
/* What a pin or fingerprint names: the certificate or its public key. */
enum cki_pin { CKI_PIN_CERT = 0, CKI_PIN_SPKI = 1 };
/* Normalises a fingerprint ("AB:CD..", "sha256:..", "SHA256 Fingerprint=")
 * into 64 lower-case hex. Returns false if it is not one. *kind is set from
 * an "spki:" prefix, else CKI_PIN_CERT. */
bool cki_fp_parse(
    const char *in, char out[65], enum cki_pin *kind, bool *explicit_kind);

#endif /* CERTKIT_CK_INTERNAL_H */
