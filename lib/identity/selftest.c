/*
 * selftest.c: proves that an identity on disk can actually be served.
 *
 * A server SSL_CTX loads the files a web server would (fullchain.pem and
 * key.pem, as written), a client SSL_CTX trusts only the anchor, and the two
 * complete a real TLS handshake over a BIO pair in this process (memory, not
 * a socket: nothing to block on, no SIGPIPE, no descriptor to leak):
 *
 *   client ──ClientHello(SNI = first DNS name)──► server
 *   client ◄──Certificate chain, CertificateVerify── server   (key proven)
 *   client: chain verified to the anchor, host/IP checked
 *
 * Guarantees:
 *  1. Bounded: each round drives both ends once; a round in which neither
 *     end moves a byte, or the deadline, is a failure, never a hang.
 *  2. Every name is checked against the certificate the client received
 *     (RFC 6125 section 6.4: the SAN, not the CN), the first one by the
 *     verifier itself during the handshake.
 *  3. The verification time is the context's clock (--at), so a pinned
 *     test and the install validation agree.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "identity_int.h"

static const char *
last_ssl_error(char *buf, size_t size)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "no detail from OpenSSL";
	ERR_error_string_n(e, buf, size);
	return buf;
}

static SSL_CTX *
server_ctx(ck_ctx *ctx, const char *fullchain, const char *key)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	char buf[256];

	if (s == NULL) {
		cki_err(ctx, CK_E_INTERNAL, "self-test: %s",
		    last_ssl_error(buf, sizeof(buf)));
		return NULL;
	}
	/* What nginx's ssl_certificate / ssl_certificate_key do. */
	if (SSL_CTX_use_certificate_chain_file(s, fullchain) != 1) {
		cki_err(ctx, CK_E_FORMAT,
		    "self-test: %s: cannot be served "
		    "as a certificate chain: %s",
		    fullchain, last_ssl_error(buf, sizeof(buf)));
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
		cki_err(ctx, CK_E_FORMAT,
		    "self-test: %s: cannot be used as "
		    "the server key: %s",
		    key, last_ssl_error(buf, sizeof(buf)));
		goto err;
	}
	if (SSL_CTX_check_private_key(s) != 1) {
		cki_err(ctx, CK_E_FORMAT,
		    "self-test: %s does not belong to "
		    "the certificate in %s",
		    key, fullchain);
		goto err;
	}
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	return s;
err:
	SSL_CTX_free(s);
	return NULL;
}

static SSL_CTX *
client_ctx(ck_ctx *ctx, X509 *anchor, bool client)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	X509_STORE *st;
	X509_VERIFY_PARAM *vp;

	if (c == NULL) {
		cki_err(ctx, CK_E_INTERNAL, "self-test: cannot make a client");
		return NULL;
	}
	st = SSL_CTX_get_cert_store(c);
	if (X509_STORE_add_cert(st, anchor) != 1) {
		cki_err(ctx, CK_E_INTERNAL,
		    "self-test: cannot trust the "
		    "anchor: %s",
		    cki_ossl_reason());
		SSL_CTX_free(c);
		return NULL;
	}
	vp = SSL_CTX_get0_param(c);
	/* A pinned self-signed leaf, or a chain whose root is not known,
	 * is trusted at the anchor itself (as curl and browsers do with an
	 * explicitly trusted certificate). */
	if (X509_self_signed(anchor, 0) != 1 || X509_check_ca(anchor) == 0)
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	if (ctx->now != 0)
		X509_VERIFY_PARAM_set_time(vp, (time_t)ctx->now);
	X509_VERIFY_PARAM_set_purpose(
	    vp, client ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	return c;
}

/* Bytes both ends have read and written so far: a round that adds none is
 * stuck. */
static uint64_t
moved(SSL *cli, SSL *srv)
{
	BIO *c = SSL_get_wbio(cli), *s = SSL_get_wbio(srv);

	return BIO_number_written(c) + BIO_number_read(c) +
	    BIO_number_written(s) + BIO_number_read(s);
}

/* Drives both ends until both finished, failed, stalled or time ran out. */
static bool
handshake(SSL *cli, SSL *srv, long long deadline, char *why, size_t size)
{
	bool cdone = false, sdone = false;
	char buf[256];

	while (!cdone || !sdone) {
		uint64_t before = moved(cli, srv);
		int r, e;

		if (deadline - cki_mono_ms() <= 0) {
			snprintf(why, size,
			    "the handshake did not finish in "
			    "time");
			return false;
		}
		ERR_clear_error();
		if (!cdone) {
			r = SSL_do_handshake(cli);
			e = SSL_get_error(cli, r);
			if (r == 1) {
				cdone = true;
			} else if (e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE) {
				long v = SSL_get_verify_result(cli);

				if (v != X509_V_OK)
					snprintf(why, size,
					    "a client that "
					    "trusts the anchor rejects it: %s",
					    X509_verify_cert_error_string(v));
				else
					snprintf(why, size,
					    "the client "
					    "failed: %s",
					    last_ssl_error(buf, sizeof(buf)));
				return false;
			}
		}
		ERR_clear_error();
		if (!sdone) {
			r = SSL_do_handshake(srv);
			e = SSL_get_error(srv, r);
			if (r == 1) {
				sdone = true;
			} else if (e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE) {
				/* The client's alert explains it better. */
				continue;
			}
		}
		if (cdone && sdone)
			break;
		if (moved(cli, srv) == before) {
			snprintf(why, size,
			    "the handshake stalled: both ends wait for the "
			    "other");
			return false;
		}
	}
	return true;
}

/* Joins the two ends with a BIO pair; each SSL owns its end. */
static bool
connect_pair(SSL *srv, SSL *cli)
{
	BIO *sb = NULL, *cb = NULL;

	if (BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		return false;
	SSL_set_bio(srv, sb, sb);
	SSL_set_bio(cli, cb, cb);
	return true;
}

ck_status
cki_selftest(ck_ctx *ctx, const char *fullchain, const char *key, X509 *anchor,
    const struct cki_strlist *dns, const struct cki_strlist *ip, int timeout_ms,
    bool client, bool *ok, json_t **result)
{
	SSL_CTX *sctx = NULL, *cctx = NULL;
	SSL *srv = NULL, *cli = NULL;
	char why[1200] = "";
	json_t *checked = NULL, *res = NULL;
	X509 *peer = NULL;
	ck_status rv = CK_E_INTERNAL;

	*ok = false;
	*result = NULL;
	if (cki_fault("selftest")) {
		snprintf(why, sizeof(why),
		    "test fault injected "
		    "(CERTKIT_FAULT=selftest)");
		goto verdict;
	}
	if ((sctx = server_ctx(ctx, fullchain, key)) == NULL) {
		/* Files that cannot be served are a failed self-test. */
		snprintf(why, sizeof(why), "%s", ctx->err);
		ck_ctx_clear_error(ctx);
		goto verdict;
	}
	if ((cctx = client_ctx(ctx, anchor, client)) == NULL)
		goto err;
	if ((srv = SSL_new(sctx)) == NULL || (cli = SSL_new(cctx)) == NULL ||
	    !connect_pair(srv, cli)) {
		rv = cki_err(
		    ctx, CK_E_INTERNAL, "self-test: %s", cki_ossl_reason());
		goto err;
	}
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	/* The verifier checks the first name itself; SNI is sent for DNS
	 * names only (RFC 6066 section 3: no literal addresses). */
	if (dns->n > 0) {
		if (strchr(dns->v[0], '*') == NULL) {
			SSL_set_tlsext_host_name(cli, dns->v[0]);
			SSL_set1_host(cli, dns->v[0]);
		}
	} else if (ip->n > 0) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(cli), ip->v[0]);
	}
	if (!handshake(cli, srv, cki_mono_ms() + timeout_ms, why, sizeof(why)))
		goto verdict;
	if ((peer = SSL_get1_peer_certificate(cli)) == NULL) {
		snprintf(why, sizeof(why), "the server sent no certificate");
		goto verdict;
	}
	if ((checked = json_array()) == NULL)
		goto nomem;
	for (size_t i = 0; i < dns->n; i++) {
		if (!cki_covers_dns(peer, dns->v[i])) {
			snprintf(why, sizeof(why),
			    "the served certificate "
			    "does not cover the name %s",
			    dns->v[i]);
			goto verdict;
		}
		json_array_append_new(checked, json_string(dns->v[i]));
	}
	for (size_t i = 0; i < ip->n; i++) {
		if (!cki_covers_ip(peer, ip->v[i])) {
			snprintf(why, sizeof(why),
			    "the served certificate "
			    "does not cover the address %s",
			    ip->v[i]);
			goto verdict;
		}
		json_array_append_new(checked, json_string(ip->v[i]));
	}
	*ok = true;
verdict:
	res = json_pack("{s:b, s:s?, s:s?, s:o?, s:s?}", "ok", *ok, "protocol",
	    *ok ? SSL_get_version(cli) : NULL, "cipher",
	    *ok ? SSL_get_cipher_name(cli) : NULL, "names_checked",
	    *ok ? json_incref(checked) : NULL, "error", *ok ? NULL : why);
	if (res == NULL)
		goto nomem;
	*result = res;
	rv = CK_OK;
	goto err;
nomem:
	rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
err:
	json_decref(checked);
	X509_free(peer);
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return rv;
}
