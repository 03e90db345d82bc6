/*
 * test_probe.c: the doctor's network side (lib/doctor/probe.c) against local
 * limits: the concurrency is lowered to the descriptor limit, and a socket
 * that cannot be made for want of descriptors (EMFILE) stops the run with
 * a local error, never a finding about the server ("tcp_refused: Too many
 * open files"). Loopback only: 127.0.0.1:1 refuses at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"
#include "doctor_int.h"
#include "certkit/doctor.h"

static struct rlimit saved;

/* A soft limit of `room` descriptors above those open now. */
static void
limit_fds(int room)
{
	struct rlimit rl;
	int open = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (dup2(fd, fd) == fd)
			open++;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	rl.rlim_cur = (rlim_t)(open + room);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void
unlimit_fds(void)
{
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

static void
test_parallel_follows_the_limit(void **state)
{
	int p;

	(void)state;
	limit_fds(40);
	p = cki_doc_fd_parallel(1024);
	assert_true(p >= 1 && p <= 40 - 16);
	assert_int_equal(cki_doc_fd_parallel(3), 3);
	unlimit_fds();
	limit_fds(4); /* no room at all: still one at a time */
	assert_int_equal(cki_doc_fd_parallel(1024), 1);
	unlimit_fds();
}

/* Called when an endpoint is done: takes every free descriptor, so the
 * next endpoint's socket() fails with EMFILE. */
struct hog {
	int src; /* what is dup()ed */
	int fds[256];
	int n;
};

static void
hog_all(size_t done, size_t total, void *arg)
{
	struct hog *h = arg;
	int fd;

	(void)done;
	(void)total;
	while (h->n < 256 && (fd = dup(h->src)) >= 0)
		h->fds[h->n++] = fd;
}

static void
test_emfile_is_local(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_doctor *d;
	struct hog h = {.src = -1, .n = 0};
	char *json = NULL;
	int online = 1;

	(void)state;
	assert_non_null(ctx);
	assert_int_equal(ck_doctor_new(ctx, &d), CK_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    ck_doctor_add_endpoint(d, "127.0.0.1:1"), CK_OK);
	ck_doctor_set_parallel(d, 1);
	ck_doctor_set_timeout_ms(d, 2000);
	ck_doctor_set_progress_cb(d, hog_all, &h);
	assert_true((h.src = open("/dev/null", O_RDONLY)) >= 0);
	limit_fds(64);
	assert_int_equal(ck_doctor_run(d, &json, &online), CK_E_IO);
	unlimit_fds();
	assert_true(h.n > 0 && h.n < 256);
	assert_null(json);
	assert_non_null(strstr(ck_ctx_error(ctx), "127.0.0.1:1"));
	assert_non_null(strstr(ck_ctx_error(ctx), "EMFILE"));
	assert_non_null(
	    strstr(ck_ctx_error(ctx), "not a finding about the server"));
	for (int i = 0; i < h.n; i++)
		close(h.fds[i]);
	close(h.src);
	ck_doctor_free(d);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parallel_follows_the_limit),
	    cmocka_unit_test(test_emfile_is_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
