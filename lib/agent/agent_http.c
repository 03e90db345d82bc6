/*
 * agent_http.c: one HTTPS exchange with the primary.
 *
 * A blocking socket with a deadline on every step (connect by poll, then
 * SO_RCVTIMEO/SO_SNDTIMEO), TLS 1.2 or later verified as [agent] says (the
 * CA file, certkit's or the system store with the primary's name checked,
 * or the SPKI pin), "Connection: close", and a response of at most
 * CKI_AGENT_MAX_BODY bytes read to EOF or Content-Length. There is no
 * plain-HTTP path: `https = if-available` is for downstream devices only.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "agent_int.h"

void
cki_agent_resp_clear(struct cki_agent_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
}

static int
connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	struct pollfd p;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int err = 0, fl;
	socklen_t el = sizeof(err);

	if (fd < 0)
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS)
			goto fail;
		p.fd = fd;
		p.events = POLLOUT;
		if (poll(&p, 1, timeout_ms) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
		    err != 0) {
			errno = err ? err : EIO;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, fl) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int
tcp_connect(ck_agent *a)
{
	struct addrinfo hints = {0}, *res = NULL;
	char port[8];
	int fd = -1, e, err = 0;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", (unsigned)a->conf.hp.port);
	if ((e = getaddrinfo(a->conf.hp.host, port, &hints, &res)) != 0) {
		cki_err(a->ctx, CK_E_NETWORK, "%s: cannot resolve: %s",
		    a->conf.primary, gai_strerror(e));
		return -1;
	}
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		if ((fd = connect_one(ai, a->timeout_ms)) < 0)
			err = errno;
	freeaddrinfo(res);
	if (fd < 0)
		cki_err(a->ctx, CK_E_NETWORK, "%s: cannot connect: %s",
		    a->conf.primary, strerror(err));
	return fd;
}

/* Pinning replaces chain verification: the pin is the trust decision. */
static int
accept_any(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

static ck_status
load_identity(ck_agent *a, SSL_CTX *s)
{
	char fc[CKI_AGENT_PATH], kp[CKI_AGENT_PATH];

	snprintf(fc, sizeof(fc), "%s/identity/current/fullchain.pem", a->dir);
	snprintf(kp, sizeof(kp), "%s/identity/current/key.pem", a->dir);
	if (SSL_CTX_use_certificate_chain_file(s, fc) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s, kp, SSL_FILETYPE_PEM) != 1)
		return cki_err(a->ctx, CK_E_IO,
		    "%s: the agent's client identity cannot be used: %s",
		    a->dir, cki_ossl_reason());
	return CK_OK;
}

static ck_status
make_ctx(ck_agent *a, bool with_cert, SSL_CTX **out)
{
	SSL_CTX *s = SSL_CTX_new(TLS_client_method());
	char bundle[CKI_AGENT_PATH];
	int ok = 1;
	ck_status rv = CK_OK;

	*out = NULL;
	if (s == NULL)
		return cki_err(a->ctx, CK_E_NOMEM, "out of memory");
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	switch (a->conf.trust) {
	case CKI_AGENT_TRUST_CA:
		ok = SSL_CTX_load_verify_file(s, a->conf.primary_ca);
		break;
	case CKI_AGENT_TRUST_CERTKIT:
		snprintf(bundle, sizeof(bundle), "%s/trust/out/ca-bundle.pem",
		    a->home);
		ok = SSL_CTX_load_verify_file(s, bundle);
		break;
	case CKI_AGENT_TRUST_PIN: break;
	default: ok = SSL_CTX_set_default_verify_paths(s); break;
	}
	if (ok != 1) {
		rv = cki_err(a->ctx, CK_E_IO,
		    "the trust for the primary cannot be loaded (%s): %s",
		    a->conf.trust == CKI_AGENT_TRUST_CA ? a->conf.primary_ca
		                                        : "trust store",
		    cki_ossl_reason());
		goto err;
	}
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER,
	    a->conf.trust == CKI_AGENT_TRUST_PIN ? accept_any : NULL);
	if (with_cert && (rv = load_identity(a, s)) != CK_OK)
		goto err;
	*out = s;
	return CK_OK;
err:
	SSL_CTX_free(s);
	return rv;
}

static bool
pin_matches(const unsigned char pin[32], X509 *x)
{
	unsigned char *der = NULL, md[32];
	int n = i2d_PUBKEY(X509_get0_pubkey(x), &der);
	bool ok = n > 0 &&
	    EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) == 1 &&
	    memcmp(md, pin, 32) == 0;

	OPENSSL_free(der);
	return ok;
}

/* The pin names the primary's key or a CA key of the chain it presents
 * (as the doctor's profile pins do). */
static ck_status
check_pin(ck_agent *a, SSL *ssl)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);

	for (int i = 0; i < sk_X509_num(chain); i++)
		if (pin_matches(a->conf.pin, sk_X509_value(chain, i)))
			return CK_OK;
	return cki_err(a->ctx, CK_E_NETWORK,
	    "%s: no key of the primary's chain matches primary_pin",
	    a->conf.primary);
}

static ck_status
handshake(ck_agent *a, SSL *ssl)
{
	const char *host = a->conf.hp.host;
	long vr;

	if (a->conf.hp.is_ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1)
		return cki_err(a->ctx, CK_E_NOMEM, "out of memory");
	if (SSL_connect(ssl) == 1)
		return a->conf.trust == CKI_AGENT_TRUST_PIN ? check_pin(a, ssl)
		                                            : CK_OK;
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK)
		return cki_err(a->ctx, CK_E_NETWORK,
		    "%s: the primary's certificate does not verify: %s",
		    a->conf.primary, X509_verify_cert_error_string(vr));
	return cki_err(a->ctx, CK_E_NETWORK, "%s: TLS handshake failed: %s",
	    a->conf.primary, cki_ossl_reason());
}

static ck_status
send_all(ck_agent *a, SSL *ssl, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n = 0;

		if (SSL_write_ex(ssl, buf + off, len - off, &n) != 1)
			return cki_err(a->ctx, CK_E_IO,
			    "%s: the request could not be sent: %s",
			    a->conf.primary, cki_ossl_reason());
		off += n;
	}
	return CK_OK;
}

/* Reads to EOF (or the limit). A TLS close without close_notify after a
 * complete answer is accepted; the parser checks completeness. */
static ck_status
recv_all(ck_agent *a, SSL *ssl, char **out, size_t *outlen)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return cki_err(a->ctx, CK_E_NOMEM, "out of memory");
	for (;;) {
		size_t n = 0;

		if (len == cap) {
			char *nb;

			if (cap >= CKI_AGENT_MAX_BODY ||
			    (nb = realloc(buf, cap * 2 + 1)) == NULL) {
				free(buf);
				return cki_err(a->ctx, CK_E_IO,
				    "%s: the answer is larger than %d bytes",
				    a->conf.primary, CKI_AGENT_MAX_BODY);
			}
			buf = nb;
			cap *= 2;
		}
		if (SSL_read_ex(ssl, buf + len, cap - len, &n) != 1)
			break;
		len += n;
	}
	ERR_clear_error();
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return CK_OK;
}

static long
header_long(const char *v)
{
	char *end;
	long n = strtol(v, &end, 10);

	return end == v || n < 0 ? -1 : n;
}

static void
header(struct cki_agent_resp *r, const char *name, size_t nlen, const char *v,
    size_t vlen, long *clen)
{
	char val[128];

	snprintf(val, sizeof(val), "%.*s", (int)(vlen < 127 ? vlen : 127), v);
	if (nlen == 11 && strncasecmp(name, "Retry-After", 11) == 0)
		r->retry_after = header_long(val);
	else if (nlen == 12 && strncasecmp(name, "Content-Type", 12) == 0)
		snprintf(r->ctype, sizeof(r->ctype), "%s", val);
	else if (nlen == 14 && strncasecmp(name, "Content-Length", 14) == 0)
		*clen = header_long(val);
}

bool
cki_agent_parse_resp(const char *buf, size_t len, struct cki_agent_resp *r)
{
	const char *end = NULL, *p, *eol;
	long clen = -1;
	size_t blen;

	for (size_t i = 0; i + 3 < len && end == NULL; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			end = buf + i;
	if (end == NULL || len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 ||
	    buf[8] != ' ' || sscanf(buf + 9, "%3d", &r->status) != 1)
		return false;
	/* The status line ends at the first LF, which may be the blank
	 * line's when there are no headers. */
	p = memchr(buf, '\n', (size_t)(end - buf) + 2);
	for (p = p != NULL ? p + 1 : end; p < end; p = eol + 2) {
		const char *colon, *v;

		eol = memchr(p, '\r', (size_t)(end - p) + 1);
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL)
			continue;
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		header(r, p, (size_t)(colon - p), v, (size_t)(eol - v), &clen);
	}
	blen = len - (size_t)(end + 4 - buf);
	if (clen >= 0 && (size_t)clen > blen)
		return false; /* cut short */
	if (clen >= 0)
		blen = (size_t)clen;
	if ((r->body = malloc(blen + 1)) == NULL)
		return false;
	memcpy(r->body, end + 4, blen);
	r->body[blen] = '\0';
	r->len = blen;
	return true;
}

static char *
request_text(ck_agent *a, const char *method, const char *path,
    const char *ctype, size_t len, size_t *outlen)
{
	char *out = NULL;
	int n;
	size_t size = 1024 + (a->token ? strlen(a->token) : 0);

	if ((out = malloc(size)) == NULL)
		return NULL;
	n = snprintf(out, size,
	    "%s %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: certkit-agent/%s\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n%s%s%s%s%s%s\r\n",
	    method, path, a->conf.hp.host, (unsigned)a->conf.hp.port,
	    ck_version(), len, ctype ? "Content-Type: " : "",
	    ctype ? ctype : "", ctype ? "\r\n" : "",
	    a->token ? "Authorization: Bearer " : "", a->token ? a->token : "",
	    a->token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= size) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n;
	return out;
}

ck_status
cki_agent_http(ck_agent *a, const char *method, const char *path,
    const char *ctype, const char *body, size_t len, bool with_cert,
    struct cki_agent_resp *r)
{
	SSL_CTX *sctx = NULL;
	SSL *ssl = NULL;
	BIO *bio = NULL;
	char *req = NULL, *in = NULL;
	size_t reqlen = 0, inlen = 0;
	int fd = -1;
	ck_status rv;

	cki_agent_resp_clear(r);
	if ((rv = make_ctx(a, with_cert, &sctx)) != CK_OK)
		goto err;
	if ((fd = tcp_connect(a)) < 0) {
		rv = CK_E_IO;
		goto err;
	}
	if ((ssl = SSL_new(sctx)) == NULL ||
	    (bio = cki_bio_new_socket(fd)) == NULL) {
		rv = cki_err(a->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	SSL_set_bio(ssl, bio, bio);
	if ((rv = handshake(a, ssl)) != CK_OK)
		goto err;
	if ((req = request_text(a, method, path, ctype, len, &reqlen)) ==
	    NULL) {
		rv = cki_err(a->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = send_all(a, ssl, req, reqlen)) != CK_OK ||
	    (len > 0 && (rv = send_all(a, ssl, body, len)) != CK_OK) ||
	    (rv = recv_all(a, ssl, &in, &inlen)) != CK_OK)
		goto err;
	if (!cki_agent_parse_resp(in, inlen, r)) {
		cki_agent_resp_clear(r);
		rv = cki_err(a->ctx, CK_E_IO,
		    "%s: %s %s: no complete HTTP answer (%zu bytes)",
		    a->conf.primary, method, path, inlen);
	}
err:
	if (ssl != NULL)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(sctx);
	if (fd >= 0)
		close(fd);
	free(req);
	free(in);
	return rv;
}
