/*
 * lab_int.h: what the lab's files (lab.c, lab_specs.c, lab_pki.c, lab_dns.c,
 * lab_net.c) share. The lab is `certkit lab`: local servers on 127.0.0.1
 * that each reproduce one diagnosis code of the doctor. It is its own static
 * library (certkit_lab, include/certkit/lab.h), linked by the tool and the
 * tests only, never part of libcertkit.
 *
 * Invariants:
 *  1. Everything listens on 127.0.0.1 only, on ports the kernel picks.
 *  2. After ck_lab_start() returns, the event base and every object on it
 *     belong to the lab thread. The caller's thread only writes one byte to
 *     the wake pipe (ck_lab_stop) and joins; it frees the objects after the
 *     join, when no other thread can touch them.
 *  3. Each endpoint reproduces exactly one root cause: its chain, name,
 *     dates, protocol and behaviour are correct in every other respect, so
 *     the doctor has one thing to find.
 */
#ifndef CERTKIT_LAB_INT_H
#define CERTKIT_LAB_INT_H

#include <pthread.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "certkit/lab.h"

/* ---- lab_dns.c: the DNS responder (RFC 1035) --------------------------- */

#define CKI_DNS_HDRLEN 12
#define CKI_DNS_MAXNAME 255 /* RFC 1035 2.3.4: 255 octets on the wire */
#define CKI_DNS_MAXLABEL 63 /* RFC 1035 2.3.4 */
#define CKI_DNS_MAXMSG 512  /* RFC 1035 4.2.1: UDP messages */

enum {
	CKI_DNS_NOERROR = 0,
	CKI_DNS_FORMERR = 1,
	CKI_DNS_SERVFAIL = 2,
	CKI_DNS_NXDOMAIN = 3,
	CKI_DNS_NOTIMP = 4,
	CKI_DNS_REFUSED = 5,
};
#define CKI_DNS_TYPE_A 1
#define CKI_DNS_CLASS_IN 1

struct cki_dns_query {
	uint16_t id;
	uint16_t flags;
	/* Dotted and lower-cased, without the final dot; "" is the root. */
	char name[CKI_DNS_MAXNAME + 1];
	uint16_t qtype;
	uint16_t qclass;
};

/* Parses a query message. Returns NULL when it is a well-formed standard
 * query with one question, else a short reason ("truncated header", ...). */
const char *cki_dns_parse_query(
    const uint8_t *pkt, size_t len, struct cki_dns_query *q);
/* Writes the response to q: rcode, and one A record when addr4 is not NULL.
 * Returns its length, or 0 when cap is too small. */
size_t cki_dns_build_reply(const struct cki_dns_query *q, int rcode,
    const uint8_t addr4[4], uint8_t *out, size_t cap);
/* The answer for a header whose question cannot be parsed: FORMERR, no
 * question (RFC 1035 4.1.1). Returns 0 if even the header is short. */
size_t cki_dns_build_formerr(
    const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/* What the lab's resolver says about a name. */
enum cki_lab_dns_answer {
	CKI_LAB_DNS_ADDR,     /* A 127.0.0.1 */
	CKI_LAB_DNS_SINKHOLE, /* A 0.0.0.0 */
	CKI_LAB_DNS_NXDOMAIN,
	CKI_LAB_DNS_SERVFAIL,
	CKI_LAB_DNS_SILENT,  /* never answered */
	CKI_LAB_DNS_REFUSED, /* not in the lab's zone */
};
/* The zone every lab name lives in. */
#define CKI_LAB_ZONE "lab.test"
enum cki_lab_dns_answer cki_lab_dns_lookup(const char *name);
struct ck_lab;
/* Binds the UDP responder on 127.0.0.1 and arms it on lab->base. */
ck_status cki_lab_dns_start(struct ck_lab *lab);

/* ---- lab_pki.c: the lab's certificates --------------------------------- */

/* The CAs. "Public" ones model the Web PKI; the rest are private. */
enum cki_lab_ca {
	LAB_CA_X1,    /* certkit Lab Public Root X1 (trusted, reference) */
	LAB_CA_R3,    /* its issuing CA; the AIA server serves it */
	LAB_CA_OLD,   /* certkit Lab Old Root CA X3: EXPIRED, in the store */
	LAB_CA_X2,    /* certkit Lab Root X2: its replacement, reference only */
	LAB_CA_X2X,   /* Root X2 cross-signed by the old root */
	LAB_CA_E1,    /* issuing CA under Root X2 */
	LAB_CA_G2,    /* certkit Lab Services Root G2: reference only */
	LAB_CA_G2I,   /* its issuing CA */
	LAB_CA_ZS,    /* Zscaler Root CA (inspection; in no reference) */
	LAB_CA_ZSI,   /* Zscaler Intermediate Root CA (zscaler.net) */
	LAB_CA_ACME,  /* Acme-CA-Root: a private CA */
	LAB_CA_ACMEI, /* Acme-CA-Intermediate */
	LAB_CA_DEV,   /* certkit Lab Device CA: the mTLS servers trust it */
	LAB_CA_ROGUE, /* Rogue Device CA: no server trusts it */
	LAB_CA_COUNT,
	LAB_CA_SELF = -1, /* a self-signed leaf */
	LAB_CA_END = -2,  /* ends a chain list */
};

/* Client identities the profile hands the doctor. */
enum cki_lab_client {
	LAB_CLIENT_NONE,
	LAB_CLIENT_PAIRED,   /* Device CA, valid, authorised */
	LAB_CLIENT_UNKNOWN,  /* Rogue Device CA */
	LAB_CLIENT_EXPIRED,  /* Device CA, expired */
	LAB_CLIENT_REVOKED,  /* Device CA, on its CRL */
	LAB_CLIENT_UNPAIRED, /* Device CA, valid, not authorised (HTTP 403) */
	LAB_CLIENT_COUNT,
};

struct cki_lab_id {
	X509 *cert;
	EVP_PKEY *key;
};

struct cki_lab_pki {
	struct cki_lab_id ca[LAB_CA_COUNT];
	struct cki_lab_id client[LAB_CLIENT_COUNT];
	X509_CRL *dev_crl; /* Device CA's CRL: revokes LAB_CLIENT_REVOKED */
	char aia_base[64]; /* "http://127.0.0.1:PORT" */
};

/* Leaf recipe: everything a server certificate can get wrong. */
struct cki_lab_leaf_spec {
	int issuer; /* enum cki_lab_ca, or LAB_CA_SELF */
	const char *cn;
	const char *san; /* one DNS name */
	long nb_days;    /* notBefore = now + nb_days */
	long na_days;    /* notAfter = now + na_days */
	int sha1;        /* signature with SHA-1 */
	int rsa_bits;    /* 0: EC P-256 */
	int ocsp;        /* add an AIA OCSP URL */
};

ck_status cki_lab_pki_new(
    ck_ctx *ctx, const char *aia_base, struct cki_lab_pki **out);
void cki_lab_pki_free(struct cki_lab_pki *p);
ck_status cki_lab_leaf(ck_ctx *ctx, const struct cki_lab_pki *p,
    const struct cki_lab_leaf_spec *s, struct cki_lab_id *out);
void cki_lab_id_clear(struct cki_lab_id *id);
/* The file name the AIA server serves a CA under ("r3.der"), or NULL. */
const char *cki_lab_ca_file(int ca);
/* A DER OCSP response (RFC 6960 4.2.1) about `leaf`, signed by its issuing
 * CA `ca` (RFC 6960 4.2.2.2: the CA may sign directly). */
ck_status cki_lab_ocsp_response(ck_ctx *ctx, const struct cki_lab_pki *p,
    int ca, X509 *leaf, int revoked, uint8_t **der, size_t *len);
/* PEM of a certificate / key, appended to a growing string. */
ck_status cki_lab_pem_cert(ck_ctx *ctx, X509 *x, char **buf, size_t *len);
ck_status cki_lab_pem_key(ck_ctx *ctx, EVP_PKEY *k, char **buf, size_t *len);

/* ---- lab.c / lab_net.c: endpoints and servers -------------------------- */

enum cki_lab_kind {
	LAB_K_TLS,       /* a TLS server that answers HTTP */
	LAB_K_HTTP,      /* plaintext HTTP */
	LAB_K_SILENT,    /* accepts, reads, never answers */
	LAB_K_TLS_RESET, /* reads the ClientHello record, then RST */
	LAB_K_TCP_RESET, /* accepts, then RST before any byte */
	LAB_K_REFUSED,   /* bound, never listening: SYN -> RST */
	LAB_K_BLACKHOLE, /* full accept queue: SYNs are dropped */
	LAB_K_ALIAS,     /* no server of its own: another one's port */
};

enum cki_lab_proxy {
	LAB_PX_NONE,
	LAB_PX_OK,   /* relays CONNECT */
	LAB_PX_AUTH, /* Basic auth, 407 without it */
	LAB_PX_DENY, /* 403 to every CONNECT */
	LAB_PX_DEAD, /* a port nobody listens on */
	LAB_PX_COUNT,
};

/* The static description of one endpoint (the table in lab_specs.c). */
struct cki_lab_spec {
	const char *name;   /* profile section */
	const char *code;   /* the doctor's diagnosis it reproduces */
	const char *status; /* online | unreachable | offline */
	const char *what;   /* one line for the listing */
	enum cki_lab_kind kind;
	const char *host;   /* DNS name in the lab zone; NULL: 127.0.0.1 */
	const char *target; /* LAB_K_ALIAS: the endpoint whose port is used */
	int has_leaf;
	struct cki_lab_leaf_spec leaf;
	int chain[4]; /* CAs sent after the leaf, LAB_CA_END-terminated */
	int weak;     /* OpenSSL security level 0 */
	int proto_min, proto_max;
	const char *ciphers; /* TLS 1.2 cipher list, NULL: default */
	int client_auth;     /* require a client certificate (Device CA) */
	int client;          /* enum cki_lab_client the profile gives */
	int http_status;     /* 0: 200 */
	long date_skew_days; /* HTTP Date = now + this */
	int staple_revoked;  /* staple an OCSP "revoked" response */
	/* SNI: this name gets sni_leaf (+ R3); any other name, and no SNI,
	 * get `leaf` (the server's default certificate). */
	const char *sni_name;
	struct cki_lab_leaf_spec sni_leaf;
	int direct;         /* profile: address = 127.0.0.1 (no DNS) */
	const char *expect; /* profile: public | private */
	int pin_x1;         /* profile: pin Public Root X1's SPKI */
	const char *required_roots;
	int proxy;            /* enum cki_lab_proxy */
	const char *evidence; /* '|'-separated: must appear in diagnosis[0] */
};

/* A running endpoint. */
struct cki_lab_ep {
	const struct cki_lab_spec *spec;
	struct ck_lab *lab;
	char host[80];
	int port;
	evutil_socket_t fd;     /* REFUSED / BLACKHOLE socket */
	evutil_socket_t filler; /* BLACKHOLE: the connection that fills */
	struct evconnlistener *lst;
	SSL_CTX *ssl;
	SSL_CTX *ssl_named; /* sni_name's certificate */
	uint8_t *ocsp;      /* stapled response (DER) */
	size_t ocsp_len;
};

struct cki_lab_conn;

struct cki_lab_proxy_srv {
	struct ck_lab *lab;
	int kind;
	int port;
	char url[96];
	struct evconnlistener *lst;
	evutil_socket_t dead_fd; /* LAB_PX_DEAD */
};

#define CKI_LAB_MAX_EP 48
#define CKI_LAB_PROXY_USER "lab"
#define CKI_LAB_PROXY_PASS "lab-proxy-secret"

struct ck_lab {
	ck_ctx *ctx;
	char *dir;
	char *profile, *trust, *reference, *json_path, *env_path;
	char dns[32];
	char aia[48];
	struct event_base *base;
	pthread_t thread;
	int running;
	int wake[2];
	struct event *wake_ev;
	evutil_socket_t dns_fd;
	struct event *dns_ev;
	struct evhttp *http;
	uint8_t *aia_der[LAB_CA_COUNT];
	size_t aia_len[LAB_CA_COUNT];
	uint8_t *ocsp_der; /* for POST /ocsp: the revoked leaf */
	size_t ocsp_len;
	uint8_t ocsp_serial[32];
	int ocsp_serial_len;
	struct cki_lab_pki *pki;
	struct cki_lab_ep ep[CKI_LAB_MAX_EP];
	size_t nep;
	struct cki_lab_proxy_srv px[LAB_PX_COUNT];
	struct cki_lab_conn *conns; /* live connections, freed at stop */
	char *json;                 /* lab.json text */
};

/* lab_specs.c: the table (it calls nothing) */
const struct cki_lab_spec *cki_lab_specs(size_t *n);
/* lab_net.c: binds and arms every server on lab->base. */
ck_status cki_lab_net_start(ck_lab *lab);
ck_status cki_lab_bind_aia(ck_lab *lab);
ck_status cki_lab_net_endpoints(ck_lab *lab);
/* Frees every server and connection (after the loop has stopped). */
void cki_lab_net_free(ck_lab *lab);
/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7, IMF-fixdate). */
void cki_lab_http_date(time_t t, char out[40]);

#endif /* CERTKIT_LAB_INT_H */
