/*
 * server_reply.c: how `certkit serve` answers (server_int.h): JSON,
 * problem+json (RFC 9457) with the decision's fields, Retry-After, raw
 * bytes, and the request body within its limit. Shared by the routes of
 * server_http.c and the enrollment routes (enroll_http.c, enroll_revo.c),
 * which server_http.c's table names: keeping these here keeps the files
 * free of call loops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server_int.h"

void
cki_srv_send_json(struct evhttp_request *req, int status, const char *reason,
    const char *ctype, json_t *doc)
{
	struct evbuffer *b = evbuffer_new();
	char *s =
	    doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (b == NULL || s == NULL) {
		evhttp_send_error(req, 500, "Internal Server Error");
		goto out;
	}
	evbuffer_add(b, s, strlen(s));
	evbuffer_add(b, "\n", 1);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, status, reason, b);
out:
	free(s);
	if (b != NULL)
		evbuffer_free(b);
}

const char *
cki_srv_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* The fields a refusal and a pending answer share. */
json_t *
cki_srv_decision_doc(int status, const char *type, const char *title,
    const char *detail, const struct cki_decision *d)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type,
	    "title", title, "status", status, "detail", detail, "code", type);

	if (o != NULL && d != NULL && d->spki[0] != '\0')
		json_object_set_new(o, "spki_sha256", json_string(d->spki));
	if (o != NULL && d != NULL && d->known)
		json_object_set_new(
		    o, "state", json_string(cki_reg_state_name(d->state)));
	if (o != NULL && d != NULL && d->retry_after > 0)
		json_object_set_new(
		    o, "retry_after", json_integer(d->retry_after));
	return o;
}

void
cki_srv_retry_after(struct evhttp_request *req, const struct cki_decision *d)
{
	char n[32];

	if (d == NULL || d->retry_after <= 0)
		return;
	snprintf(n, sizeof(n), "%ld", d->retry_after);
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Retry-After", n);
}

void
cki_srv_problem(struct cki_srv *s, struct evhttp_request *req, int status,
    const char *type, const char *title, const char *detail,
    const struct cki_decision *d)
{
	json_t *o = cki_srv_decision_doc(status, type, title, detail, d);

	(void)s;
	cki_srv_retry_after(req, d);
	cki_srv_send_json(
	    req, status, cki_srv_reason(status), "application/problem+json", o);
	json_decref(o);
}

void
cki_srv_send_bytes(struct evhttp_request *req, int status, const char *ctype,
    const void *p, size_t n)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (b == NULL || evbuffer_add(b, p, n) != 0) {
		evhttp_send_error(req, 500, "Internal Server Error");
		goto out;
	}
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Accepted", b);
out:
	if (b != NULL)
		evbuffer_free(b);
}

const uint8_t *
cki_srv_body(struct cki_srv *s, struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const uint8_t *p;

	*len = evbuffer_get_length(in);
	if (*len > CKI_SRV_MAX_BODY) {
		cki_srv_problem(s, req, 413, "payload_too_large",
		    "payload too large", "the body is over 65536 bytes", NULL);
		return NULL;
	}
	p = *len > 0 ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
	return p;
}
