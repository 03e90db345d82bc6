/*
 * server_tls.c: the SSL_CTX of `certkit serve`.
 *
 *   identity     device: HOME/identity/current/{fullchain,key}.pem, read
 *                from the one version `current` names when the server
 *                loads (a flip during the read cannot mix two versions);
 *                p12: the keystore with the first line of its password
 *                file, read through lib/pki (every PKCS#12 certkit reads)
 *   policy       min/max protocol, TLS 1.3 suites, TLS 1.2 ciphers and
 *                groups from the configuration (defaults: TLS 1.2-1.3,
 *                forward-secret AEAD only); no renegotiation, no
 *                compression, server preference
 *   clients      a certificate is requested but optional (no
 *                FAIL_IF_NO_PEER_CERT); its chain is checked by
 *                cki_authz_verify() from the verify callback, which never
 *                fails the handshake: each route decides
 *   resources    SSL_MODE_RELEASE_BUFFERS (idle connections hold no
 *                buffers); one TLS 1.3 ticket per handshake naming a
 *                session of the server's cache (stateful; TLS 1.2:
 *                session IDs), CKI_SRV_SESS_CACHE sessions at most
 *
 * Guarantees:
 *  1. A wrong keystore password, an unreadable file or a key that does not
 *     match its certificate is an error naming the file; there is no
 *     fallback certificate.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "server_int.h"

/* Sessions the server keeps for resumption (the oldest go first). */
#define CKI_SRV_SESS_CACHE 20480

/* ---- the client certificate ---------------------------------------------- */

/* Verifies the client's chain against client_ca through authz and keeps
 * the result on the connection; the handshake goes on whatever it says. */
static int
verify_cb(X509_STORE_CTX *x, void *arg)
{
	struct cki_srv *s = arg;
	SSL *ssl =
	    X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct cki_conn *c =
	    ssl ? SSL_get_ex_data(ssl, cki_conn_index()) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(x);
	struct cki_vresult *vr;

	if (c == NULL || leaf == NULL)
		return 1;
	vr = cki_authz_verify(s->authz, leaf, X509_STORE_CTX_get0_untrusted(x));
	cki_vresult_free(c->vr);
	c->vr = vr;
	cki_x509_spki(leaf, c->spki);
	X509_STORE_CTX_set_error(x, X509_V_OK);
	return 1;
}

/* ---- the identity ---------------------------------------------------------
 */

static ck_status
use_device(ck_ctx *ctx, const struct cki_server_conf *conf, SSL_CTX *ssl)
{
	char cur[PATH_MAX], *real = NULL, fc[PATH_MAX + 32], kp[PATH_MAX + 32];
	EVP_PKEY *key = NULL;
	BIO *kb = NULL;
	ck_status rv = CK_E_IO;

	snprintf(cur, sizeof(cur), "%s/identity/current", conf->home);
	if ((real = realpath(cur, NULL)) == NULL) {
		rv = cki_err(ctx, CK_E_NOTFOUND,
		    "%s: no device identity (identity = device); run: certkit "
		    "identity init, or set identity = p12 in [server]",
		    cur);
		goto err;
	}
	snprintf(fc, sizeof(fc), "%s/fullchain.pem", real);
	snprintf(kp, sizeof(kp), "%s/key.pem", real);
	if (SSL_CTX_use_certificate_chain_file(ssl, fc) != 1) {
		rv = cki_err(ctx, CK_E_IO, "%s: cannot serve it: %s", fc,
		    cki_ossl_reason());
		goto err;
	}
	if ((kb = BIO_new_file(kp, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		rv = cki_err(ctx, CK_E_IO, "%s: cannot read the key: %s", kp,
		    cki_ossl_reason());
		goto err;
	}
	if (X509_check_private_key(SSL_CTX_get0_certificate(ssl), key) != 1) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s: the key does not match the certificate of %s", kp, fc);
		goto err;
	}
	if (SSL_CTX_use_PrivateKey(ssl, key) != 1) {
		rv = cki_err(ctx, CK_E_IO, "%s: cannot use the key: %s", kp,
		    cki_ossl_reason());
		goto err;
	}
	rv = CK_OK;
err:
	EVP_PKEY_free(key);
	BIO_free(kb);
	free(real);
	return rv;
}

/* The keystore's key, the certificate it matches, and the others as its
 * chain. */
static ck_status
use_bundle(ck_ctx *ctx, const char *name, ck_bundle *b, SSL_CTX *ssl)
{
	ck_key *k = ck_bundle_get0_key(b, 0);
	X509 *leaf = NULL;
	size_t n = ck_bundle_count(b, CK_OBJ_CERT);

	if (k == NULL || ck_bundle_count(b, CK_OBJ_KEY) != 1)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: expected one private key in the keystore, found %zu",
		    name, ck_bundle_count(b, CK_OBJ_KEY));
	for (size_t i = 0; i < n && leaf == NULL; i++)
		if (ck_key_matches_cert(k, ck_bundle_get0_cert(b, i)) == 1)
			leaf = ck_bundle_get0_cert(b, i)->x509;
	if (leaf == NULL)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: the key matches none of the keystore's %zu "
		    "certificate(s)",
		    name, n);
	if (SSL_CTX_use_certificate(ssl, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ssl, k->pkey) != 1)
		return cki_err(ctx, CK_E_FORMAT, "%s: cannot serve it: %s",
		    name, cki_ossl_reason());
	for (size_t i = 0; i < n; i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;

		if (x != leaf && SSL_CTX_add1_chain_cert(ssl, x) != 1)
			return cki_err(ctx, CK_E_FORMAT,
			    "%s: cannot add a chain certificate: %s", name,
			    cki_ossl_reason());
	}
	if (SSL_CTX_check_private_key(ssl) != 1)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: the key does not match the certificate", name);
	return CK_OK;
}

static ck_status
use_p12(ck_ctx *ctx, const struct cki_server_conf *conf, SSL_CTX *ssl)
{
	char *pw = NULL;
	ck_bundle *b = NULL;
	ck_status rv;

	if ((rv = cki_read_first_line(ctx, conf->p12_password_file, &pw)) !=
	    CK_OK)
		goto err;
	if ((rv = ck_ctx_set_password(ctx, pw)) != CK_OK)
		goto err;
	rv = ck_load_file(ctx, conf->p12, &b);
	if (ck_ctx_set_password(ctx, NULL) != CK_OK && rv == CK_OK)
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (rv == CK_E_PASSWORD) {
		cki_err(ctx, CK_E_PASSWORD,
		    "%s: wrong password (from %s), or the keystore is "
		    "damaged; the server does not start with another "
		    "certificate",
		    conf->p12, conf->p12_password_file);
		goto err;
	}
	if (rv != CK_OK)
		goto err;
	rv = use_bundle(ctx, conf->p12, b, ssl);
err:
	if (pw != NULL) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	ck_bundle_free(b);
	return rv;
}

/* ---- the context ----------------------------------------------------------
 */

static ck_status
set_policy(ck_ctx *ctx, const struct cki_server_conf *c, SSL_CTX *ssl)
{
	static const unsigned char sid[] = "certkit-serve";

	if (SSL_CTX_set_min_proto_version(ssl, c->min_proto) != 1 ||
	    SSL_CTX_set_max_proto_version(ssl, c->max_proto) != 1 ||
	    SSL_CTX_set_ciphersuites(ssl, c->ciphersuites) != 1 ||
	    SSL_CTX_set_cipher_list(ssl, c->ciphers) != 1 ||
	    SSL_CTX_set1_groups_list(ssl, c->groups) != 1 ||
	    SSL_CTX_set_session_id_context(ssl, sid, sizeof(sid) - 1) != 1)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: [server] TLS policy refused by OpenSSL: %s",
		    c->conf_name, cki_ossl_reason());
	/* Stateful tickets (NO_TICKET on a TLS 1.3 server): the ticket names
	 * a session of the cache. OpenSSL 3.0 builds each stateless ticket
	 * by re-encoding and re-parsing the session, client certificate
	 * included (its key through the provider decoders): about a quarter
	 * of a full mTLS handshake per ticket, and a resumption parses it
	 * again. One ticket per handshake. */
	SSL_CTX_set_options(ssl,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	        SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ssl, CKI_SRV_SESS_CACHE);
	SSL_CTX_set_num_tickets(ssl, 1);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return CK_OK;
}

ck_status
cki_srv_tls_new(ck_ctx *ctx, const struct cki_server_conf *conf,
    struct cki_srv *s, SSL_CTX **out)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
	ck_status rv;

	*out = NULL;
	if (ssl == NULL || cki_conn_index() < 0) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = set_policy(ctx, conf, ssl)) != CK_OK)
		goto err;
	if (s != NULL)
		SSL_CTX_set_cert_verify_callback(ssl, verify_cb, s);
	rv = conf->id_source == CKI_SRV_ID_P12 ? use_p12(ctx, conf, ssl)
	                                       : use_device(ctx, conf, ssl);
	if (rv != CK_OK)
		goto err;
	*out = ssl;
	ssl = NULL;
err:
	ERR_clear_error();
	SSL_CTX_free(ssl);
	return rv;
}

X509 *
cki_srv_tls_cert(SSL_CTX *ssl)
{
	return SSL_CTX_get0_certificate(ssl);
}

static const char *
proto_name(int v)
{
	return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
}

json_t *
cki_srv_tls_policy(SSL_CTX *ssl, const struct cki_server_conf *c)
{
	STACK_OF(SSL_CIPHER) *cs = SSL_CTX_get_ciphers(ssl);
	json_t *o = json_object(), *v13 = json_array(), *v12 = json_array();

	if (o == NULL || v13 == NULL || v12 == NULL) {
		json_decref(o);
		json_decref(v13);
		json_decref(v12);
		return NULL;
	}
	for (int i = 0; i < sk_SSL_CIPHER_num(cs); i++) {
		const SSL_CIPHER *ci = sk_SSL_CIPHER_value(cs, i);
		const char *n = SSL_CIPHER_get_name(ci);

		if (strcmp(SSL_CIPHER_get_version(ci), "TLSv1.3") == 0)
			json_array_append_new(v13, json_string(n));
		else
			json_array_append_new(v12, json_string(n));
	}
	json_object_set_new(
	    o, "min_protocol", json_string(proto_name(c->min_proto)));
	json_object_set_new(
	    o, "max_protocol", json_string(proto_name(c->max_proto)));
	json_object_set_new(o, "ciphersuites", v13);
	json_object_set_new(o, "ciphers",
	    c->min_proto == TLS1_3_VERSION ? (json_decref(v12), json_array())
	                                   : v12);
	json_object_set_new(o, "groups", json_string(c->groups));
	json_object_set_new(o, "client_certificate",
	    json_string("requested, optional at the TLS layer"));
	json_object_set_new(o, "session_tickets", json_true());
	return o;
}
