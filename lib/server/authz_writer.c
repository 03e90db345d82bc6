/*
 * authz_writer.c: the first contacts of new clients, written by a thread
 * of their own (authz.c, invariant 1).
 *
 * A first contact is a registry write transaction (BEGIN IMMEDIATE, the
 * pending count, the name's conflict check, the row, its audit row, a
 * commit with its fsync): milliseconds. Written from the event loop, a
 * flood of new keys would stall every approved client's request behind
 * them. So the loop queues the job and answers the client when it comes
 * back; the thread writes through its own connection.
 *
 *   event loop                       writer thread
 *   cki_writer_submit ── todo ──►    cki_registry_first_contact()
 *   on_pipe ◄── a byte on the pipe ── done list
 *     └─ done(arg, job)
 *
 * Invariants:
 *  1. The thread touches only its own ck_ctx, its registry handle and the
 *     two lists under the mutex; it never calls libevent. It wakes the loop
 *     with a byte on a non-blocking pipe (a full pipe already wakes it).
 *  2. The connection has the server's short busy timeout: a locked registry
 *     fails the job quickly, and authz answers 503 (fail-static).
 *  3. Stopping waits for the job being written (at most the busy timeout),
 *     not for the queue: the thread checks `stop` between jobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "authz_priv.h"

struct cki_writer {
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cki_fc_job *todo, *done; /* under mu; done in order */
	bool stop;                      /* under mu */
	int fd[2];
	struct event *ev;
	ck_ctx *ctx; /* the thread's */
	cki_registry *reg;
	cki_writer_done cb;
	void *arg;
};

void
cki_fc_job_free(struct cki_fc_job *j)
{
	if (j == NULL)
		return;
	cki_client_clear(&j->in);
	cki_client_clear(&j->out);
	free(j);
}

static void
jobs_free(struct cki_fc_job *j)
{
	struct cki_fc_job *next;

	for (; j != NULL; j = next) {
		next = j->next;
		cki_fc_job_free(j);
	}
}

/* Appends list to *head (keeps the order). */
static void
append(struct cki_fc_job **head, struct cki_fc_job *list)
{
	while (*head != NULL)
		head = &(*head)->next;
	*head = list;
}

static void
write_one(cki_writer *w, struct cki_fc_job *j)
{
	struct cki_actor who = {j->who, j->why};

	j->st = cki_registry_first_contact(
	    w->reg, &j->in, j->state, j->max_pending, &who, &j->out);
	if (j->st != CK_OK)
		snprintf(j->err, sizeof(j->err), "%s", ck_ctx_error(w->ctx));
}

static void *
run(void *arg)
{
	cki_writer *w = arg;
	struct cki_fc_job *batch, *j;
	bool stop;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		batch = w->todo;
		w->todo = NULL;
		pthread_mutex_unlock(&w->mu);
		stop = false;
		for (j = batch; j != NULL; j = j->next) {
			if (stop) { /* not written: handed back as failed */
				j->st = CK_E_LOCKED;
				snprintf(j->err, sizeof(j->err), "stopping");
			} else {
				write_one(w, j);
			}
			pthread_mutex_lock(&w->mu);
			stop = w->stop;
			pthread_mutex_unlock(&w->mu);
		}
		pthread_mutex_lock(&w->mu);
		append(&w->done, batch);
		pthread_mutex_unlock(&w->mu);
		while (write(w->fd[1], "", 1) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
on_pipe(evutil_socket_t fd, short what, void *arg)
{
	cki_writer *w = arg;
	struct cki_fc_job *list, *next;
	char buf[256];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		w->cb(w->arg, list);
	}
}

void
cki_writer_submit(cki_writer *w, struct cki_fc_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->mu);
	append(&w->todo, j);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static ck_status
writer_start(
    ck_ctx *ctx, cki_writer *w, const char *target, struct event_base *base)
{
	if (pipe(w->fd) != 0)
		return cki_err(
		    ctx, CK_E_IO, "authz: pipe: %s", strerror(errno));
	if (fcntl(w->fd[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(w->fd[1], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(w->fd[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(w->fd[1], F_SETFD, FD_CLOEXEC) != 0)
		return cki_err(
		    ctx, CK_E_IO, "authz: pipe: %s", strerror(errno));
	if ((w->ctx = ck_ctx_new()) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (cki_registry_open(w->ctx, target, CKI_AUTHZ_BUSY_MS, &w->reg) !=
	        CK_OK ||
	    cki_registry_relax(w->reg) != CK_OK)
		return cki_err(
		    ctx, ck_ctx_status(w->ctx), "%s", ck_ctx_error(w->ctx));
	if ((w->ev = event_new(
	         base, w->fd[0], EV_READ | EV_PERSIST, on_pipe, w)) == NULL ||
	    event_add(w->ev, NULL) != 0)
		return cki_err(ctx, CK_E_NOMEM, "authz: cannot watch its pipe");
	if (pthread_create(&w->th, NULL, run, w) != 0)
		return cki_err(
		    ctx, CK_E_NOMEM, "authz: cannot start its writer");
	w->started = true;
	return CK_OK;
}

ck_status
cki_writer_new(ck_ctx *ctx, const char *target, struct event_base *base,
    cki_writer_done done, void *arg, cki_writer **out)
{
	cki_writer *w = calloc(1, sizeof(*w));
	ck_status st;

	*out = NULL;
	if (w == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	w->fd[0] = w->fd[1] = -1;
	w->cb = done;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((st = writer_start(ctx, w, target, base)) != CK_OK) {
		cki_writer_free(w);
		return st;
	}
	*out = w;
	return CK_OK;
}

void
cki_writer_free(cki_writer *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
	}
	jobs_free(w->todo);
	jobs_free(w->done);
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->fd[0] >= 0)
		close(w->fd[0]);
	if (w->fd[1] >= 0)
		close(w->fd[1]);
	cki_registry_close(w->reg);
	ck_ctx_free(w->ctx);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
