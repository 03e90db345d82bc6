/*
 * enroll_signer.c: the enrollment's tick (enroll_int.h), each second from
 * the server's sweep: presence (enroll_role.c), then on a signer the jobs
 * "sign" (the approved requests any primary recorded) and "crl" (the
 * stored CRL, enroll_revo.c). Signing happens outside any registry
 * transaction (enroll.c signs, cki_registry_issue() records); a job's
 * advisory lock is a session lock, not a transaction, and goes with the
 * signer's connection when it dies.
 *
 * The same jobs run when the registry notifies (cki_enroll_watch(): this
 * module's connection LISTENs): a signer on a client's change (approve,
 * revoke) and on a request or a CRL stored; a non-signer on a CRL stored
 * only (its read copy is dropped). A notification is a wake-up: the jobs
 * read what there is to do from the registry, so a lost one costs at most
 * the tick's second. One that a statement of this connection read (an
 * HTTP request's, the jobs' own) no longer makes the socket readable:
 * cki_enroll_kick() after them runs the watch's callback all the same.
 */
#include <string.h>

#include "enroll_int.h"

#define SIGN_BATCH 16 /* requests signed per tick */

/* The holder of job "sign": the approved, waiting requests. */
static void
sign_ready(cki_enroll *e)
{
	char ids[SIGN_BATCH][CKI_REG_ID_LEN + 1];
	struct cki_enroll_res r;
	bool mine = false;
	size_t n = 0;

	if (!cki_registry_shared(e->reg) || /* alone: it signs on the poll */
	    cki_registry_job(e->reg, "sign", &mine) != CK_OK || !mine ||
	    cki_registry_requests_ready(e->reg, ids, SIGN_BATCH, &n) != CK_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		cki_enroll_poll(e, ids[i], &r); /* signs and records */
		cki_enroll_res_clear(&r);
	}
}

/* The jobs of a signer. */
static void
run_jobs(cki_enroll *e)
{
	if (e->ca != NULL) {
		sign_ready(e);
		(void)cki_enroll_crl_job(e);
	}
}

static void
note_disarm(cki_enroll *e)
{
	if (e->ev_note != NULL)
		event_free(e->ev_note);
	e->ev_note = NULL;
	e->note_fd = -1;
}

static void on_note(evutil_socket_t fd, short what, void *arg);

/* (Re)arms the watch on the connection's socket. again: even on the same
 * descriptor number (the tick's: a reconnect may have reused it). */
static void
note_arm(cki_enroll *e, bool again)
{
	unsigned chans = e->ca != NULL
	    ? CKI_REG_NOTE_CLIENTS | CKI_REG_NOTE_ENROLL
	    : CKI_REG_NOTE_ENROLL;
	int fd;

	if (e->base == NULL || !cki_registry_shared(e->reg))
		return;
	fd = cki_registry_notify_fd_for(e->reg, chans);
	if (fd == e->note_fd && !again)
		return;
	note_disarm(e);
	if (fd < 0 ||
	    (e->ev_note = event_new(
	         e->base, fd, EV_READ | EV_PERSIST, on_note, e)) == NULL)
		return;
	if (event_add(e->ev_note, NULL) != 0) {
		note_disarm(e);
		return;
	}
	e->note_fd = fd;
}

/* A notification (or the socket's end): the registry read consumes it. A
 * failing registry ends the watch (a dead socket stays readable); the
 * tick arms it again. */
static void
on_note(evutil_socket_t fd, short what, void *arg)
{
	cki_enroll *e = arg;
	uint64_t tok = 0;

	(void)fd;
	(void)what;
	if (cki_registry_change_token(e->reg, &tok) != CK_OK) {
		note_disarm(e);
		ck_ctx_clear_error(e->ctx);
		return;
	}
	e->crl_read = 0; /* a new CRL may be stored: read it again */
	(void)cki_registry_notified(e->reg); /* covered by the jobs */
	run_jobs(e);
	ck_ctx_clear_error(e->ctx);
	note_arm(e, false);
	cki_enroll_kick(e);
}

void
cki_enroll_watch(cki_enroll *e, struct event_base *base)
{
	if (e == NULL)
		return;
	e->base = base;
	note_arm(e, true);
	ck_ctx_clear_error(e->ctx);
}

void
cki_enroll_tick(cki_enroll *e)
{
	int64_t now;

	if (e == NULL)
		return;
	now = (int64_t)cki_now(e->ctx);
	cki_enroll_presence(e, now);
	if (cki_registry_notified(e->reg))
		e->crl_read = 0; /* read by the presence's statement */
	run_jobs(e);
	note_arm(e, true);
	cki_enroll_kick(e);
	ck_ctx_clear_error(e->ctx);
}
