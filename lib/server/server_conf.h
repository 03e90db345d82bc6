/*
 * server_conf.h: the [server] section of $CERTKIT_HOME/certkit.conf, and
 * the state layout of `certkit serve` (HOME/server/).
 *
 * Every module of lib/server reads its settings from one struct
 * cki_server_conf, filled once by cki_server_conf_load() (server_conf.c)
 * with the defaults, then the file, then the command line. A SIGHUP loads a
 * new one and swaps it in whole; nothing keeps a pointer into the old one.
 *
 * Keys (all optional; the defaults are what a new user gets):
 *   listen = ADDR:PORT, ...       a list (commas or continued lines; a
 *                                 key given twice is an error in every
 *                                 section); default *:8443; port 0 = any
 *                                 free port (tests)
 *   identity = device | p12       device: HOME/identity/current (default)
 *   p12 = FILE                    PKCS#12 keystore (identity = p12)
 *   p12_password_file = FILE      its password (first line); both are
 *                                 required with identity = p12, and p12
 *                                 alone implies it. Relative file names
 *                                 (here, client_ca, crl) are under HOME.
 *   min_protocol = TLSv1.2        TLSv1.2 | TLSv1.3
 *   max_protocol = TLSv1.3
 *   ciphersuites = ...            TLS 1.3 allow-list (OpenSSL names, ':')
 *   ciphers = ...                 TLS 1.2 allow-list (OpenSSL names, ':')
 *   groups = X25519:P-256:P-384
 *   client_policy = pairing | trusted-ca | trusted-ca+pairing
 *   client_ca = FILE, FILE        any format certkit reads; roots and
 *                                 intermediates
 *   ocsp = off | soft-fail | hard-fail
 *   ocsp_responder = URL          overrides the AIA
 *   crl = FILE, FILE
 *   registry = sqlite             default: HOME/server/registry.db;
 *                                 sqlite:FILE names another file;
 *                                 postgresql://... or a libpq conninfo
 *                                 (docs/PRIMARIES.md); no password in it
 *   registry_password_file = FILE pgpass format (PostgreSQL only), given
 *                                 to libpq as passfile; or PGPASSFILE
 *   pending_ttl = 7d              s, m, h, d suffixes
 *   max_pending = 10000
 *   heartbeat = 30s               the interval clients are told to use;
 *                                 offline after 2x
 *   retry_after = 30s             Retry-After of a pending answer
 *   renew_grace = 30d             simplereenroll accepts the newest
 *                                 certificate of an approved client this
 *                                 long after it expired (0: never)
 *   public_url = https://H:P      how clients reach this server: the CA
 *                                 (HOME/ca) puts PUBLIC_URL/crl and
 *                                 PUBLIC_URL/ocsp in what it issues
 */
#ifndef CERTKIT_SERVER_CONF_H
#define CERTKIT_SERVER_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "ck_internal.h"
#include "config_int.h"

#define CKI_SRV_DEFAULT_PORT "8443"
#define CKI_SRV_DEFAULT_PENDING_TTL (7 * 86400L)
#define CKI_SRV_DEFAULT_MAX_PENDING 10000L
#define CKI_SRV_DEFAULT_HEARTBEAT 30L
#define CKI_SRV_DEFAULT_RETRY_AFTER 30L
#define CKI_SRV_DEFAULT_RENEW_GRACE (30 * 86400L)

enum cki_client_policy {
	CKI_POLICY_PAIRING = 0,    /* unknown clients go pending */
	CKI_POLICY_TRUSTED_CA = 1, /* CA-verified approved, others refused */
	CKI_POLICY_TRUSTED_CA_PAIRING = 2, /* CA-verified approved, others
	                                      pending */
};

enum cki_ocsp_mode {
	CKI_OCSP_OFF = 0,
	CKI_OCSP_SOFT_FAIL = 1, /* no answer: accept, log a warning */
	CKI_OCSP_HARD_FAIL = 2, /* no answer: refuse */
};

enum cki_id_source { CKI_SRV_ID_DEVICE = 0, CKI_SRV_ID_P12 = 1 };

struct cki_server_conf {
	char *home;                /* $CERTKIT_HOME */
	char *conf_name;           /* the file, for messages */
	struct cki_strlist listen; /* "ADDR:PORT" each */
	enum cki_id_source id_source;
	char *p12, *p12_password_file;
	int min_proto, max_proto; /* TLS1_2_VERSION, TLS1_3_VERSION */
	char *ciphersuites, *ciphers, *groups;
	enum cki_client_policy policy;
	struct cki_strlist client_ca; /* files */
	enum cki_ocsp_mode ocsp;
	char *ocsp_responder;   /* NULL: the AIA */
	struct cki_strlist crl; /* files */
	char *registry;         /* "sqlite", or the PostgreSQL target (with
	                           passfile= from registry_password_file) */
	char *registry_path;    /* HOME/server/registry.db for sqlite; NULL for
	                           PostgreSQL */
	long pending_ttl;       /* seconds */
	long max_pending;
	long heartbeat;   /* seconds */
	long retry_after; /* seconds */
	long renew_grace; /* seconds */
	char *public_url; /* NULL: none */
};

/* Defaults, then HOME/certkit.conf's [server] section. Every error names
 * FILE:LINE, what was expected and what was found. */
ck_status cki_server_conf_load(
    ck_ctx *ctx, const char *home, struct cki_server_conf *out);
/* The same from a configuration already read (tests, a reload that has
 * read the file once). Relative file names are taken relative to home. */
ck_status cki_server_conf_parse(ck_ctx *ctx, const char *home,
    const cki_config *cfg, struct cki_server_conf *out);
/* Defaults only (for tests and for a home without a file). */
ck_status cki_server_conf_defaults(
    ck_ctx *ctx, const char *home, struct cki_server_conf *out);
void cki_server_conf_free(struct cki_server_conf *c);
/* "pairing", "trusted-ca", "trusted-ca+pairing". */
const char *cki_policy_name(enum cki_client_policy p);
const char *cki_ocsp_mode_name(enum cki_ocsp_mode m);

#endif /* CERTKIT_SERVER_CONF_H */
