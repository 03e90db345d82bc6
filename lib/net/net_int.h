/*
 * net_int.h: what the net module's files share with each other and with the
 * modules above it (the doctor, and the server and agent to come).
 *
 *   hostport.c   host names, host:port, endpoints, --dns, socket addresses
 *   proxy.c      HTTP proxy URLs and NO_PROXY (curl's rules)
 *   probe_dns.c  RFC 1035 query and reply messages (the doctor's --dns)
 *   sockbio.c    the socket BIO of every TLS connection (ck_internal.h)
 *   fetch.c      ck_fetch_chain(): a blocking TLS fetch (certkit/fetch.h)
 *
 * net calls core, pki and below only, never the doctor
 * (tests/lint/layers.sh).
 */
#ifndef CERTKIT_NET_INT_H
#define CERTKIT_NET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ck_internal.h"

#define CKI_NET_MAX_HOST 256

/* A parsed "host[:port]". host has no brackets. */
struct cki_hostport {
	char host[CKI_NET_MAX_HOST];
	uint16_t port;
	bool is_ip;
	bool has_port; /* the port was given, not the default */
};

/* A parsed proxy URL: http://[user:pass@]host[:port]. */
struct cki_proxy {
	char host[CKI_NET_MAX_HOST];
	uint16_t port;
	bool is_ip;
	char *auth;    /* base64("user:pass") for Basic (RFC 7617), or NULL;
	                  wiped on free */
	char *display; /* "http://user:***@host:port": never the password */
};

/* ---- hostport.c ---------------------------------------------------------- */
/* A decimal port 1-65535 of exactly n characters. */
bool cki_net_parse_port(const char *s, size_t n, uint16_t *out);
bool cki_net_is_ipv4(const char *s);
bool cki_net_is_ipv6(const char *s);
/* Sets out->host (lower-cased) and out->is_ip from the n characters at h,
 * which must be a host name or an IP literal; else writes why into err. */
bool cki_net_set_host(struct cki_hostport *out, const char *h, size_t n,
    char *err, size_t errlen);
/* "host", "host:port", "[v6]", "[v6]:port", bare "v6" (n characters);
 * def_port when no port is given. On failure writes why into err. */
bool cki_net_parse_hostport(const char *s, size_t n, uint16_t def_port,
    struct cki_hostport *out, char *err, size_t errlen);
/* "host", "host:port", "[v6]:port", "v6", "https://host[:port][/path]".
 * On failure writes why into err. */
bool cki_net_parse_endpoint(
    const char *spec, struct cki_hostport *out, char *err, size_t errlen);
/* A DNS name (RFC 1123 2.1, underscores allowed) or an IP literal. */
bool cki_net_valid_host(const char *host, bool *is_ip);
/* "ADDR[:PORT]" (port 53 by default) into a socket address. */
bool cki_net_parse_dns(const char *spec, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen);
/* An IP literal and port into a socket address. */
bool cki_net_sockaddr(
    const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* ---- proxy.c ------------------------------------------------------------- */
/* Proxy URL. */
bool cki_net_parse_proxy(
    const char *url, struct cki_proxy *out, char *err, size_t errlen);
void cki_proxy_clear(struct cki_proxy *p);
/* NO_PROXY (curl's rules): "*", comma/space separated names (suffix match
 * on a label boundary, a leading "." or "*." ignored), IP literals, CIDR
 * blocks, each optionally ":PORT". */
bool cki_net_no_proxy_match(
    const char *no_proxy, const char *host, uint16_t port);
/* ---- probe_dns.c: RFC 1035 messages, the DNS client of --dns ------------ */
#define CKI_DNS_UNREACHABLE 71 /* ICMP port unreachable from the server */
/* Builds a standard query (RD set, one question, class IN). Returns its
 * length, or 0 if the name cannot be encoded. */
size_t cki_dns_query(const char *name, uint16_t qtype, uint16_t id,
    unsigned char *buf, size_t size);
/* Parses a reply to that query. Returns false when the message is not a
 * reply to it (wrong ID, question, or malformed header). Otherwise sets
 * *rcode, *truncated and up to `max` addresses of type qtype. */
bool cki_dns_reply(const unsigned char *m, size_t len, uint16_t id,
    const char *name, uint16_t qtype, int *rcode, bool *truncated,
    char (*addrs)[64], size_t max, size_t *n);

#endif /* CERTKIT_NET_INT_H */
