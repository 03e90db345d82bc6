/*
 * ca_ocsp.c: an RFC 6960 OCSP responder core for the certificates this CA
 * issued: a DER OCSPRequest in, a DER OCSPResponse out. The transport (HTTP
 * POST, section A.1) is the server's.
 *
 * How a request is answered:
 *   does not parse, or asks about no certificate, or about more than
 *   MAX_ONEREQ            -> malformedRequest (section 4.2.1), no signature
 *   a CertID of another issuer (nameHash/keyHash differ)
 *                         -> unauthorized (RFC 5019 section 2.2.3: this
 *                            responder answers for its own CA only)
 *   the lookup fails      -> internalError
 *   otherwise             -> successful, a BasicOCSPResponse signed by the
 *                            issuing CA itself (section 4.2.2.2), its
 *                            certificate included, with for each CertID:
 *       a serial that cannot be one of ours (not 16 bytes) -> unknown
 *       else the lookup's answer: good, revoked (time, reason) or unknown
 *   thisUpdate now, nextUpdate now + next_secs; the request's nonce, if it
 *   has one, echoed (section 4.4.1).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>

#include "ca_int.h"

#define MAX_ONEREQ 64

/* The serial of a CertID in our form, or false if it cannot be ours. */
static bool
cid_serial(OCSP_CERTID *cid, char out[CK_CA_SERIAL_HEX])
{
	ASN1_INTEGER *serial = NULL;

	if (OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid) != 1 ||
	    serial == NULL || ASN1_STRING_length(serial) != CK_CA_SERIAL_LEN ||
	    ASN1_STRING_type(serial) != V_ASN1_INTEGER)
		return false;
	cki_hex(ASN1_STRING_get0_data(serial), CK_CA_SERIAL_LEN, out);
	return true;
}

/* True if the CertID names our issuing CA (with the request's hash). */
static bool
our_issuer(const ck_ca *ca, OCSP_CERTID *cid)
{
	ASN1_OBJECT *alg = NULL;
	const EVP_MD *md;
	OCSP_CERTID *ours;
	bool same;

	if (OCSP_id_get0_info(NULL, &alg, NULL, NULL, cid) != 1 ||
	    (md = EVP_get_digestbyobj(alg)) == NULL ||
	    (ours = OCSP_cert_to_id(md, NULL, ca->cert->x509)) == NULL)
		return false;
	same = OCSP_id_issuer_cmp(ours, cid) == 0;
	OCSP_CERTID_free(ours);
	return same;
}

struct answer {
	ck_ca_status_fn lookup;
	void *arg;
	ASN1_TIME *now, *next;
};

/* Adds the status of one CertID; -1: the lookup failed, 0: no memory. */
static int
answer_one(OCSP_BASICRESP *bs, OCSP_CERTID *cid, const struct answer *a)
{
	char serial[CK_CA_SERIAL_HEX];
	ck_ca_cert_state st = CK_CA_UNKNOWN;
	int64_t at = 0;
	int reason = -1, ok;
	ASN1_TIME *rt = NULL;

	if (cid_serial(cid, serial) &&
	    a->lookup(a->arg, serial, &st, &at, &reason) != CK_OK)
		return -1;
	if (st == CK_CA_REVOKED) {
		if ((rt = ASN1_TIME_set(NULL, (time_t)at)) == NULL)
			return 0;
		if (reason > 10 || reason == 7)
			reason = -1; /* not a CRLReason: none */
	}
	ok =
	    OCSP_basic_add1_status(bs, cid,
	        st == CK_CA_GOOD          ? V_OCSP_CERTSTATUS_GOOD
	            : st == CK_CA_REVOKED ? V_OCSP_CERTSTATUS_REVOKED
	                                  : V_OCSP_CERTSTATUS_UNKNOWN,
	        st == CK_CA_REVOKED ? reason : -1, rt, a->now, a->next) != NULL;
	ASN1_TIME_free(rt);
	return ok ? 1 : 0;
}

/* The response to a parsed request: a status, and bs when successful. */
static int
answer_all(ck_ctx *ctx, const ck_ca *ca, OCSP_REQUEST *req,
    const struct answer *a, OCSP_BASICRESP **out)
{
	OCSP_BASICRESP *bs = NULL;
	int i, n = OCSP_request_onereq_count(req), r;
	int status = OCSP_RESPONSE_STATUS_INTERNALERROR;

	*out = NULL;
	if (n <= 0 || n > MAX_ONEREQ)
		return OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
	for (i = 0; i < n; i++)
		if (!our_issuer(ca,
		        OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i))))
			return OCSP_RESPONSE_STATUS_UNAUTHORIZED;
	if ((bs = OCSP_BASICRESP_new()) == NULL)
		goto err;
	for (i = 0; i < n; i++) {
		r = answer_one(bs,
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i)), a);
		if (r <= 0)
			goto err;
	}
	/* RFC 6960 section 4.4.1: the nonce goes back as it came. */
	if (OCSP_copy_nonce(bs, req) <= 0 ||
	    OCSP_basic_sign(
	        bs, ca->cert->x509, ca->key, EVP_sha256(), NULL, 0) != 1) {
		cki_err(ctx, CK_E_INTERNAL, "cannot sign the OCSP response: %s",
		    cki_ossl_reason());
		goto err;
	}
	*out = bs;
	return OCSP_RESPONSE_STATUS_SUCCESSFUL;
err:
	OCSP_BASICRESP_free(bs);
	return status;
}

static ck_status
encode(ck_ctx *ctx, OCSP_RESPONSE *resp, uint8_t **out, size_t *out_len)
{
	unsigned char *enc = NULL;
	int n = resp != NULL ? i2d_OCSP_RESPONSE(resp, &enc) : 0;

	if (n <= 0)
		return cki_err(ctx, CK_E_INTERNAL,
		    "cannot encode the OCSP response: %s", cki_ossl_reason());
	if ((*out = malloc((size_t)n)) == NULL) {
		OPENSSL_free(enc);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	memcpy(*out, enc, (size_t)n);
	*out_len = (size_t)n;
	OPENSSL_free(enc);
	return CK_OK;
}

ck_status
ck_ca_ocsp_respond(ck_ctx *ctx, const ck_ca *ca, const uint8_t *req,
    size_t req_len, ck_ca_status_fn lookup, void *arg, int64_t next_secs,
    uint8_t **resp, size_t *resp_len)
{
	const unsigned char *p = req;
	OCSP_REQUEST *r = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *out = NULL;
	struct answer a = {lookup, arg, NULL, NULL};
	time_t now;
	int status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
	ck_status rv;

	cki_begin(ctx);
	*resp = NULL;
	*resp_len = 0;
	if (ca == NULL || lookup == NULL)
		return cki_err(
		    ctx, CK_E_USAGE, "ck_ca_ocsp_respond: no lookup");
	now = cki_now(ctx);
	if (next_secs <= 0)
		next_secs = 3600;
	if ((a.now = ASN1_TIME_set(NULL, now)) == NULL ||
	    (a.next = ASN1_TIME_adj(NULL, now, 0, (long)next_secs)) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if (req != NULL && req_len > 0 && req_len < 65536 &&
	    (r = d2i_OCSP_REQUEST(NULL, &p, (long)req_len)) != NULL &&
	    p == req + req_len)
		status = answer_all(ctx, ca, r, &a, &bs);
	out = OCSP_response_create(status, bs);
	rv = encode(ctx, out, resp, resp_len);
err:
	ASN1_TIME_free(a.now);
	ASN1_TIME_free(a.next);
	OCSP_REQUEST_free(r);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(out);
	return rv;
}
