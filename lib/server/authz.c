/*
 * authz.c: the decision engine of `certkit serve` (authz_int.h): who may do
 * what, re-decided on every request from memory.
 *
 * A request's decision (the diagram of authz_int.h), by function:
 *
 *   cki_authz_decide
 *     no certificate ───────────────────────────────► 401 (dec_set)
 *     SPKI known ── decide_known ── approved, CA-verified ─► check_revo
 *                                 ── otherwise by state ──► dec_state
 *     SPKI unknown ─ decide_new ── CA-verified, policy trusted-ca(+pairing)
 *                                      ─► check_revo ─► contact(approved)
 *                                 ── pairing policies ─► contact(pending)
 *                                 ── trusted-ca ──────► 403 issuer_not_trusted
 *   check_revo ── answer now ─► apply_verdict
 *              └─ later ──────► revo_done ─► apply_verdict ─► done()
 *   contact ── no loop: written inline ─► contact_result
 *           └─ the writer thread ─► job_done ─► contact_result ─► done()
 *
 * Invariants:
 *  1. A known client is decided without touching the registry; only a new
 *     client writes (cki_registry_first_contact, short busy timeout), and
 *     with an event loop that write is the writer thread's
 *     (authz_writer.c): the decision comes back through `done`, several
 *     requests of one new key share one write, and at most
 *     CKI_AUTHZ_MAX_JOBS wait (then 503). After a failed write, new clients
 *     get 503 registry_unavailable at once for CKI_AUTHZ_DOWN_MS.
 *  2. A result of cki_authz_verify() from an older generation (new CA files,
 *     a CRL reload) is never trusted: the peer's chain is verified again.
 *  3. Revocation is checked for every request of a CA-verified client, on
 *     its whole verified chain (cki_revo_check answers from the CRLs and the
 *     OCSP cache at once; a miss goes asynchronous). A client paired without
 *     a CA chain has no issuer to ask: its revocation is the admin's
 *     `clients revoke`.
 *  4. An asynchronous decision is owned by its cki_authz_req until `done`
 *     runs or cki_authz_cancel(); cki_authz_free() cancels those left
 *     without calling `done`.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/x509v3.h>

#include "authz_priv.h"
#include "strbuf.h"

struct cki_authz_req {
	cki_authz *a;
	cki_authz_done done;
	void *arg;
	cki_revo_req *rr;
	struct cki_decision d;
	X509 *leaf;             /* a new client's (up-referenced), else NULL */
	struct cki_vresult *vr; /* a reference */
	struct event *ev;       /* delivers an answer found at a reload */
	struct cki_fc_job *job; /* the first contact it waits for */
	struct cki_authz_req *prev, *next;   /* a->reqs */
	struct cki_authz_req *wprev, *wnext; /* job->waiters */
};

static void dec_set(struct cki_decision *d, int status, const char *type,
    const char *title, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
dec_set(struct cki_decision *d, int status, const char *type, const char *title,
    const char *fmt, ...)
{
	va_list ap;

	d->status = status;
	d->type = type;
	snprintf(d->title, sizeof(d->title), "%s", title);
	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
	va_end(ap);
}

static void
dec_busy(cki_authz *a, struct cki_decision *d)
{
	(void)a;
	dec_set(d, 503, "registry_unavailable", "registry unavailable",
	    "the client registry is busy; new clients cannot be recorded now");
	d->retry_after = CKI_AUTHZ_BUSY_RETRY;
}

/* The decision for a client row, approved or not (no revocation). */
static void
dec_state(cki_authz *a, const struct cki_client *c, struct cki_decision *d)
{
	d->known = true;
	d->state = c->state;
	snprintf(d->client_id, sizeof(d->client_id), "%s", c->id);
	switch (c->state) {
	case CKI_REG_APPROVED:
		dec_set(d, 200, NULL, "approved", "approved (%s)",
		    c->policy != NULL ? c->policy : "admin");
		break;
	case CKI_REG_PENDING:
		dec_set(d, 202, "pending_approval", "pending approval",
		    c->conflict_of[0] != '\0'
		        ? "pending approval: this name is known with another "
		          "key; an admin must replace the key or discard this "
		          "one"
		        : "pending approval by an admin of this server");
		d->retry_after = a->retry_after;
		break;
	case CKI_REG_REJECTED:
		dec_set(d, 403, "client_rejected", "client rejected",
		    "rejected by an admin");
		break;
	case CKI_REG_SUSPENDED:
		dec_set(d, 403, "client_suspended", "client suspended",
		    "suspended by an admin");
		break;
	case CKI_REG_REVOKED:
	default:
		dec_set(d, 403, "client_revoked", "client revoked",
		    "revoked by an admin");
		break;
	}
}

static void
req_unlink(struct cki_authz_req *r)
{
	cki_authz *a = r->a;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (a->reqs == r)
		a->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void
req_free(struct cki_authz_req *r)
{
	if (r == NULL)
		return;
	req_unlink(r);
	if (r->job != NULL) {
		if (r->wprev != NULL)
			r->wprev->wnext = r->wnext;
		else
			r->job->waiters = r->wnext;
		if (r->wnext != NULL)
			r->wnext->wprev = r->wprev;
	}
	if (r->rr != NULL)
		cki_revo_cancel(r->rr);
	if (r->ev != NULL)
		event_free(r->ev);
	X509_free(r->leaf);
	cki_vresult_free(r->vr);
	free(r);
}

void
cki_authz_cancel(cki_authz_req *req)
{
	req_free(req);
}

/* The tag and value of a SAN certkit records, or NULL for another kind. */
static const char *
san_tag(const GENERAL_NAME *g, const ASN1_STRING **s)
{
	switch (g->type) {
	case GEN_DNS: *s = g->d.dNSName; return "DNS:";
	case GEN_EMAIL: *s = g->d.rfc822Name; return "email:";
	case GEN_URI: *s = g->d.uniformResourceIdentifier; return "URI:";
	case GEN_IPADD: *s = g->d.iPAddress; return "IP:";
	default: return NULL;
	}
}

/* "DNS:a, IP:192.0.2.1, email:x, URI:y" of x's subjectAltName (escaped),
 * or NULL when it has none. */
static char *
sans_of(X509 *x)
{
	GENERAL_NAMES *gs =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	struct cki_sb sb = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char ip[INET6_ADDRSTRLEN];
	int i, n = 0, len;

	for (i = 0; i < sk_GENERAL_NAME_num(gs); i++) {
		const ASN1_STRING *s = NULL;
		const char *tag = san_tag(sk_GENERAL_NAME_value(gs, i), &s);

		if (tag == NULL)
			continue;
		len = ASN1_STRING_length(s);
		cki_sb_printf(&sb, "%s%s", n++ > 0 ? ", " : "", tag);
		if (strcmp(tag, "IP:") != 0)
			cki_sb_esc(&sb, ASN1_STRING_get0_data(s), (size_t)len);
		else if ((len == 4 || len == 16) &&
		    inet_ntop(len == 4 ? AF_INET : AF_INET6,
		        ASN1_STRING_get0_data(s), ip, sizeof(ip)) != NULL)
			cki_sb_printf(&sb, "%s", ip);
		else
			cki_sb_printf(&sb, "?");
	}
	GENERAL_NAMES_free(gs);
	if (n == 0) {
		cki_sb_free(&sb);
		return NULL;
	}
	return cki_sb_take(&sb);
}

/* The name of a new client: the CN, else the first SAN (without its tag). */
static char *
name_of(X509 *x, const char *sans)
{
	char *cn = cki_x509_common_name(x), *name;
	const char *p, *end;

	if (cn != NULL) {
		name = cki_esc_dup(cn, strlen(cn));
		free(cn);
		return name;
	}
	if (sans == NULL || (p = strchr(sans, ':')) == NULL)
		return NULL;
	p++;
	end = strstr(p, ", ");
	return strndup(p, end != NULL ? (size_t)(end - p) : strlen(p));
}

/* A first contact's input: the client's names, who decided and why. NULL
 * when out of memory. */
static struct cki_fc_job *
job_new(cki_authz *a, X509 *leaf, const struct cki_vresult *vr,
    enum cki_reg_state state)
{
	struct cki_fc_job *j = calloc(1, sizeof(*j));
	char *anchor = NULL;

	if (j == NULL)
		return NULL;
	memcpy(j->in.spki, vr->spki, sizeof(j->in.spki));
	memcpy(j->in.cert_sha256, vr->cert_sha256, sizeof(j->in.cert_sha256));
	j->in.sans = sans_of(leaf);
	j->in.name = name_of(leaf, j->in.sans);
	j->in.subject = cki_name_oneline(X509_get_subject_name(leaf));
	j->in.policy =
	    strdup(state == CKI_REG_APPROVED ? "trusted-ca" : "pairing");
	j->state = state;
	j->max_pending = a->max_pending;
	snprintf(j->who, sizeof(j->who), "%s",
	    state == CKI_REG_APPROVED ? "policy" : "server");
	if (state == CKI_REG_APPROVED) {
		anchor = cki_vresult_anchor(vr);
		snprintf(j->why, sizeof(j->why),
		    "chain verifies to client_ca (%s)",
		    anchor != NULL ? anchor : "?");
		free(anchor);
	} else {
		snprintf(j->why, sizeof(j->why), "first contact (pairing)");
	}
	if (j->in.policy == NULL) {
		cki_fc_job_free(j);
		return NULL;
	}
	return j;
}

/* *d from a written first contact: the row the registry keeps (a conflict
 * row is pending; a row another server wrote first is that row), or why
 * it could not be written. */
static void
contact_result(cki_authz *a, struct cki_fc_job *j, struct cki_decision *d)
{
	struct cki_client *dup;
	void *old = NULL;

	if (j->st == CK_E_LIMIT) {
		dec_set(d, 503, "pending_limit", "too many pending clients",
		    "the queue of clients pending approval is full (%ld)",
		    j->max_pending);
		d->retry_after = a->retry_after;
	} else if (j->st != CK_OK) {
		snprintf(a->last_error, sizeof(a->last_error), "%s", j->err);
		a->down_until = cki_mono_ms() + CKI_AUTHZ_DOWN_MS;
		dec_busy(a, d);
	} else {
		a->n.first_contacts++;
		dec_state(a, &j->out, d);
		/* Not cached when out of memory: the next poll reads it. */
		if ((dup = cki_client_dup(&j->out)) != NULL &&
		    cki_hmap_put(&a->clients, dup->spki, dup, &old) != 0)
			cki_client_free(dup);
		else
			cki_client_free(old);
	}
}

/* The writer is done with a job: every request waiting on it is answered. */
static void
job_done(void *arg, struct cki_fc_job *j)
{
	cki_authz *a = arg;
	struct cki_authz_req *r;
	struct cki_decision d;

	(void)cki_hmap_del(&a->jobs, j->in.spki);
	memset(&d, 0, sizeof(d));
	memcpy(d.spki, j->in.spki, sizeof(d.spki));
	contact_result(a, j, &d);
	while ((r = j->waiters) != NULL) {
		j->waiters = r->wnext;
		r->job = NULL;
		r->wprev = r->wnext = NULL;
		r->d = d;
		req_unlink(r);
		r->done(r->arg, &r->d);
		req_free(r);
	}
	cki_fc_job_free(j);
}

/* Records the new client of r in `state`. Returns 1 when r->d is the
 * answer now (written inline without a loop, or refused at once), 0 when r
 * waits on the writer (job_done answers it). */
static int
contact(cki_authz *a, struct cki_authz_req *r, enum cki_reg_state state)
{
	struct cki_fc_job *j;
	void *old = NULL;

	if (cki_mono_ms() < a->down_until ||
	    (a->writer != NULL && a->jobs.n >= CKI_AUTHZ_MAX_JOBS)) {
		dec_busy(a, &r->d);
		return 1;
	}
	if ((j = cki_hmap_get(&a->jobs, r->vr->spki)) == NULL) {
		if ((j = job_new(a, r->leaf, r->vr, state)) == NULL) {
			dec_busy(a, &r->d);
			return 1;
		}
		if (a->writer == NULL) { /* no loop (tests): inline */
			j->st = cki_registry_first_contact(a->reg, &j->in,
			    j->state, j->max_pending,
			    &(struct cki_actor){j->who, j->why}, &j->out);
			if (j->st != CK_OK)
				snprintf(j->err, sizeof(j->err), "%s",
				    ck_ctx_error(a->ctx));
			contact_result(a, j, &r->d);
			cki_fc_job_free(j);
			return 1;
		}
		if (cki_hmap_put(&a->jobs, j->in.spki, j, &old) != 0) {
			cki_fc_job_free(j);
			dec_busy(a, &r->d);
			return 1;
		}
		cki_writer_submit(a->writer, j);
	}
	r->job = j;
	r->wnext = j->waiters;
	if (j->waiters != NULL)
		j->waiters->wprev = r;
	j->waiters = r;
	return 0;
}

/* The decision once the revocation verdict is known: 1 when r->d is
 * final, 0 when r now waits on the writer. */
static int
apply_verdict(
    cki_authz *a, struct cki_authz_req *r, const struct cki_revo_verdict *v)
{
	switch (v->result) {
	case CKI_REVO_REVOKED:
		dec_set(&r->d, 403, "certificate_revoked",
		    "certificate revoked", "%s", v->detail);
		return 1;
	case CKI_REVO_UNKNOWN:
		dec_set(&r->d, 403, "revocation_unavailable",
		    "revocation status unavailable", "%s", v->detail);
		return 1;
	case CKI_REVO_GOOD:
	case CKI_REVO_SOFT_FAILED:
	default: return r->leaf != NULL ? contact(a, r, CKI_REG_APPROVED) : 1;
	}
}

static void
revo_done(void *arg, const struct cki_revo_verdict *v)
{
	struct cki_authz_req *r = arg;

	r->rr = NULL;
	if (apply_verdict(r->a, r, v) == 0)
		return; /* the writer answers */
	req_unlink(r);
	r->done(r->arg, &r->d);
	req_free(r);
}

static void
req_link(cki_authz *a, struct cki_authz_req *r)
{
	r->next = a->reqs;
	if (a->reqs != NULL)
		a->reqs->prev = r;
	a->reqs = r;
}

/* A request that may wait: leaf is set for a new client. NULL when out of
 * memory. */
static struct cki_authz_req *
req_new(cki_authz *a, struct cki_vresult *vr, X509 *leaf, cki_authz_done done,
    void *arg, const struct cki_decision *d)
{
	struct cki_authz_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (leaf != NULL && X509_up_ref(leaf) != 1) {
		free(r);
		return NULL;
	}
	r->a = a;
	r->done = done;
	r->arg = arg;
	r->d = *d;
	vr->refs++;
	r->vr = vr;
	r->leaf = leaf;
	return r;
}

/* r answered now (k == 1: *d, r freed) or waiting (k == 0: linked, *req). */
static int
req_settle(cki_authz *a, struct cki_authz_req *r, int k, struct cki_decision *d,
    cki_authz_req **req)
{
	if (k != 0) {
		if (k == 1)
			*d = r->d;
		req_free(r);
		return k;
	}
	req_link(a, r);
	*req = r;
	return 0;
}

/* Starts the revocation check of vr's chain; leaf is set for a new client
 * (approved by the policy once the chain is good). */
static int
check_revo(cki_authz *a, struct cki_vresult *vr, X509 *leaf,
    cki_authz_done done, void *arg, struct cki_decision *d, cki_authz_req **req)
{
	struct cki_authz_req *r = req_new(a, vr, leaf, done, arg, d);
	struct cki_revo_verdict v;
	int n;

	if (r == NULL)
		return -1;
	n = cki_revo_check(a->revo, vr->chain, (int64_t)cki_now(a->ctx),
	    revo_done, r, &v, &r->rr);
	if (n == 1)
		n = apply_verdict(a, r, &v);
	return req_settle(a, r, n, d, req);
}

static int
decide_known(cki_authz *a, const struct cki_client *c, struct cki_vresult *vr,
    cki_authz_done done, void *arg, struct cki_decision *d, cki_authz_req **req)
{
	bool check = c->state == CKI_REG_APPROVED && vr->error == X509_V_OK;

	dec_state(a, c, d);
	cki_authz_seen(a, vr->spki, (int64_t)cki_now(a->ctx), NULL, NULL);
	return check ? check_revo(a, vr, NULL, done, arg, d, req) : 1;
}

static bool
issuer_missing(int err)
{
	return err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

static int
decide_new(cki_authz *a, X509 *leaf, struct cki_vresult *vr,
    cki_authz_done done, void *arg, struct cki_decision *d, cki_authz_req **req)
{
	struct cki_authz_req *r;

	if (vr->error == X509_V_OK && a->policy != CKI_POLICY_PAIRING)
		return check_revo(a, vr, leaf, done, arg, d, req);
	if (a->policy == CKI_POLICY_TRUSTED_CA) {
		if (issuer_missing(vr->error))
			dec_set(d, 403, "issuer_not_trusted",
			    "issuer not trusted", "issuer not in client_ca");
		else if (vr->rule[0] != '\0')
			dec_set(d, 403, "issuer_not_trusted",
			    "issuer not trusted",
			    "the chain to client_ca breaks a rule of "
			    "verify_policy = strict: %s",
			    vr->rule);
		else
			dec_set(d, 403, "issuer_not_trusted",
			    "issuer not trusted",
			    "the chain to client_ca does not verify: %s",
			    X509_verify_cert_error_string(vr->error));
		return 1;
	}
	if ((r = req_new(a, vr, leaf, done, arg, d)) == NULL)
		return -1;
	return req_settle(a, r, contact(a, r, CKI_REG_PENDING), d, req);
}

struct cki_vresult *
cki_authz_verify(cki_authz *a, X509 *leaf, STACK_OF(X509) * untrusted)
{
	return cki_caset_verify(a->cas, a->ctx, leaf, untrusted, a->gen);
}

/* The peer's verification result of the current generation (invariant 2),
 * a new reference; NULL when out of memory. */
static struct cki_vresult *
current_vr(cki_authz *a, const struct cki_peer *p)
{
	if (p->vr != NULL && p->vr->generation == a->gen) {
		p->vr->refs++;
		return p->vr;
	}
	return cki_authz_verify(
	    a, p->leaf, p->vr != NULL ? p->vr->chain : NULL);
}

int
cki_authz_decide(cki_authz *a, const struct cki_peer *p, cki_authz_done done,
    void *arg, struct cki_decision *d, cki_authz_req **req)
{
	struct cki_vresult *vr;
	const struct cki_client *c;
	int rv;

	*req = NULL;
	memset(d, 0, sizeof(*d));
	a->n.decisions++;
	if (p->leaf == NULL) {
		dec_set(d, 401, "client_cert_required",
		    "client certificate required",
		    "this server needs a client certificate");
		return 1;
	}
	if ((vr = current_vr(a, p)) == NULL)
		return -1;
	memcpy(d->spki, vr->spki, sizeof(d->spki));
	if ((c = cki_hmap_get(&a->clients, vr->spki)) != NULL)
		rv = decide_known(a, c, vr, done, arg, d, req);
	else
		rv = decide_new(a, p->leaf, vr, done, arg, d, req);
	cki_vresult_free(vr);
	return rv;
}

/* The settings the engine keeps from a configuration (nothing points
 * into conf afterwards). */
static void
take_conf(cki_authz *a, const struct cki_server_conf *conf)
{
	a->policy = conf->policy;
	a->max_pending = conf->max_pending;
	a->pending_ttl = conf->pending_ttl;
	a->heartbeat = conf->heartbeat;
	a->retry_after = conf->retry_after;
}

static const char *
registry_target(const struct cki_server_conf *conf)
{
	return cki_server_conf_registry(conf);
}

ck_status
cki_authz_new(ck_ctx *ctx, const struct cki_server_conf *conf,
    struct event_base *base, cki_authz **out)
{
	cki_authz *a = NULL;
	const char *target = registry_target(conf);
	ck_status st = CK_E_NOMEM;

	*out = NULL;
	if (target == NULL) {
		st = cki_err(ctx, CK_E_USAGE, "%s: [server] names no registry",
		    conf->conf_name != NULL ? conf->conf_name : "certkit.conf");
		goto err;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->target = strdup(target)) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	a->ctx = ctx;
	a->base = base;
	a->gen = 1;
	take_conf(a, conf);
	if ((st = cki_registry_open(ctx, target, CKI_AUTHZ_BUSY_MS, &a->reg)) !=
	        CK_OK ||
	    (st = cki_registry_relax(a->reg)) != CK_OK ||
	    (st = cki_caset_new(ctx, &conf->client_ca, conf->verify_policy,
	         &a->cas)) != CK_OK ||
	    (st = cki_revo_new(ctx, conf, base, &a->revo)) != CK_OK ||
	    (st = cki_registry_change_token(a->reg, &a->token)) != CK_OK ||
	    (st = cki_authz_load_rows(a)) != CK_OK ||
	    (st = cki_authz_arm(a)) != CK_OK ||
	    (base != NULL &&
	        (st = cki_writer_new(
	             ctx, target, base, job_done, a, &a->writer)) != CK_OK))
		goto err;
	a->revo_gen = cki_revo_generation(a->revo);
	*out = a;
	a = NULL;
err:
	cki_authz_free(a);
	return st;
}

void
cki_authz_free(cki_authz *a)
{
	if (a == NULL)
		return;
	while (a->reqs != NULL)
		req_free(a->reqs);
	cki_writer_free(a->writer);
	cki_hmap_clear(&a->jobs, NULL);
	if (a->reg != NULL)
		(void)cki_authz_flush(a);
	cki_authz_disarm(a);
	cki_hmap_clear(&a->clients, cki_client_free);
	cki_revo_free(a->revo);
	cki_caset_free(a->cas);
	cki_registry_close(a->reg);
	free(a->target);
	free(a->aseen);
	free(a);
}

static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct cki_authz_req *r = arg;

	(void)fd;
	(void)what;
	req_unlink(r);
	r->done(r->arg, &r->d);
	req_free(r);
}

/* A reload replaced the checker: each waiting decision asks the new one.
 * An answer found now is delivered from the event loop, never from inside
 * cki_authz_reload(). */
static void
reissue(cki_authz *a)
{
	struct cki_authz_req *r, *next;
	struct cki_revo_verdict v;
	struct timeval now = {0, 0};
	int n;

	for (r = a->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->rr == NULL)
			continue; /* being delivered, or waiting on the writer
			           */
		cki_revo_cancel(r->rr);
		r->rr = NULL;
		n = cki_revo_check(a->revo, r->vr->chain,
		    (int64_t)cki_now(a->ctx), revo_done, r, &v, &r->rr);
		if (n == 1)
			n = apply_verdict(a, r, &v);
		else if (n < 0)
			dec_busy(a, &r->d);
		if (n == 0)
			continue; /* waits on the new checker or the writer */
		if (a->base == NULL ||
		    (r->ev = evtimer_new(a->base, on_deliver, r)) == NULL ||
		    evtimer_add(r->ev, &now) != 0) {
			req_unlink(r); /* no loop to deliver it: now, then */
			r->done(r->arg, &r->d);
			req_free(r);
		}
	}
}

ck_status
cki_authz_reload(cki_authz *a, const struct cki_server_conf *conf)
{
	cki_caset *cas = NULL;
	cki_revo *revo = NULL, *old_revo = a->revo;
	const char *target = registry_target(conf);
	ck_status st;

	if (target == NULL || strcmp(target, a->target) != 0) {
		st = cki_err(a->ctx, CK_E_USAGE,
		    "%s: registry: a new registry (%s, was %s) needs a restart",
		    conf->conf_name != NULL ? conf->conf_name : "certkit.conf",
		    target != NULL ? target : "none", a->target);
		goto err;
	}
	if ((st = cki_caset_new(a->ctx, &conf->client_ca, conf->verify_policy,
	         &cas)) != CK_OK ||
	    (st = cki_revo_new(a->ctx, conf, a->base, &revo)) != CK_OK)
		goto err;
	take_conf(a, conf);
	cki_caset_free(a->cas);
	a->cas = cas;
	cas = NULL;
	cki_authz_news(a); /* the old checker's, before it goes */
	cki_revo_news_since(revo, old_revo);
	cki_revo_take_own(revo, old_revo);
	a->revo = revo;
	a->revo_gen = cki_revo_generation(revo);
	revo = NULL;
	cki_authz_bump(a);
	reissue(a);
	cki_revo_free(old_revo);
err:
	cki_caset_free(cas);
	cki_revo_free(revo);
	return st;
}

void
cki_authz_set_own_ca(cki_authz *a, X509 *ca, const uint8_t *der, size_t len)
{
	uint64_t g;

	if (a->revo == NULL || cki_revo_set_own(a->revo, ca, der, len) != CK_OK)
		return; /* the last good CRL stays */
	if ((g = cki_revo_generation(a->revo)) != a->revo_gen) {
		a->revo_gen = g;
		cki_authz_bump(a);
	}
	cki_authz_news(a);
}

bool
cki_authz_revoked(
    cki_authz *a, const struct cki_vresult *vr, char *why, size_t size)
{
	struct cki_revo_verdict v;

	if (a->revo == NULL || vr == NULL || vr->error != X509_V_OK ||
	    vr->chain == NULL || !cki_revo_news_match(a->revo, vr->chain, &v))
		return false;
	snprintf(why, size, "%s", v.detail);
	return true;
}

void
cki_authz_set_revoked_cb(cki_authz *a, cki_authz_revoked_fn fn, void *arg)
{
	a->revoked_fn = fn;
	a->revoked_arg = arg;
}

/* At most this much of a heartbeat's facts and version is kept. */
#define CKI_AUTHZ_FACTS_MAX 8192
#define CKI_AUTHZ_VERSION_MAX 64

void
cki_authz_heartbeat(cki_authz *a, const char *spki, const char *agent_version,
    const char *facts_json)
{
	json_t *facts = NULL;
	char *ver = NULL;

	if (facts_json != NULL && strlen(facts_json) <= CKI_AUTHZ_FACTS_MAX)
		facts = json_loads(facts_json, JSON_REJECT_DUPLICATES, NULL);
	if (agent_version != NULL)
		ver = cki_esc_dup(agent_version,
		    strnlen(agent_version, CKI_AUTHZ_VERSION_MAX));
	cki_authz_seen(a, spki, (int64_t)cki_now(a->ctx), ver,
	    json_is_object(facts) ? facts_json : NULL);
	json_decref(facts);
	free(ver);
}

void
cki_authz_set_health_cb(cki_authz *a, cki_authz_health_fn fn, void *arg)
{
	a->health_fn = fn;
	a->health_arg = arg;
}

void
cki_authz_set_close_cb(cki_authz *a, cki_authz_close_fn fn, void *arg)
{
	a->close_fn = fn;
	a->close_arg = arg;
}

static json_t *
jtime(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	cki_fmt_time(t, buf);
	return json_string(buf);
}

json_t *
cki_authz_status_json(cki_authz *a, const struct cki_decision *d)
{
	const struct cki_client *c = cki_hmap_get(&a->clients, d->spki);
	int64_t now = (int64_t)cki_now(a->ctx);

	if (c == NULL)
		return json_pack("{s:s, s:n, s:I}", "spki_sha256", d->spki,
		    "state", "heartbeat", (json_int_t)a->heartbeat);
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:I}",
	    "id", c->id, "spki_sha256", c->spki, "name", cki_json_str(c->name),
	    "state", cki_reg_state_name(c->state), "presence",
	    cki_presence_name(cki_client_presence(c, now, a->heartbeat)),
	    "status", cki_client_status_label(c, now, a->heartbeat), "policy",
	    cki_json_str(c->policy), "first_seen", jtime(c->first_seen),
	    "last_seen", jtime(c->last_seen), "heartbeat",
	    (json_int_t)a->heartbeat);
}

json_t *
cki_authz_info(cki_authz *a)
{
	json_t *o = json_pack(
	    "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}",
	    "registry", cki_registry_backend(a->reg), "clients",
	    (json_int_t)a->clients.n, "generation", (json_int_t)a->gen,
	    "decisions", (json_int_t)a->n.decisions, "first_contacts",
	    (json_int_t)a->n.first_contacts, "closes", (json_int_t)a->n.closes,
	    "presence_unwritten", (json_int_t)a->seen.n, "flush_errors",
	    (json_int_t)a->n.flush_errors, "poll_errors",
	    (json_int_t)a->n.poll_errors, "expired", (json_int_t)a->n.expired,
	    "registry_unavailable", cki_mono_ms() < a->down_until, "client_ca",
	    cki_caset_info(a->cas));

	if (o != NULL)
		json_object_set_new(o, "first_contacts_waiting",
		    json_integer((json_int_t)a->jobs.n));
	if (o != NULL && a->last_error[0] != '\0')
		json_object_set_new(
		    o, "last_error", cki_json_str(a->last_error));
	if (o != NULL && a->revo != NULL)
		json_object_set_new(o, "warnings",
		    cki_revo_warnings(a->revo, (int64_t)cki_now(a->ctx)));
	return o;
}
