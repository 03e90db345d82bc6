/*
 * test_sockbio.c: the library's socket BIO (lib/net/sockbio.c), and that its
 * TLS clients survive a peer that hangs up, with SIGPIPE at its default
 * disposition (it kills the process): ck_fetch_chain (trust add --from),
 * ck_doctor_run, and OpenSSL writing an alert to a closed socket. The CLI
 * ignores SIGPIPE as well; these tests prove the library does not need it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "testutil.h"
#include "ck_internal.h"
#include "certkit/doctor.h"
#include "certkit/fetch.h"

/* SIGPIPE kills, as in a program that never touched it. */
static int
sigpipe_default(void **state)
{
	sigset_t s;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	return 0;
}

static void
test_write_to_closed_peer_is_epipe(void **state)
{
	int fds[2];
	BIO *b;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	close(fds[1]);
	assert_non_null(b = cki_bio_new_socket(fds[0]));
	assert_int_equal(BIO_write(b, "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	assert_false(BIO_should_retry(b));
	BIO_free(b);
	close(fds[0]);
}

static void
test_alert_to_closed_peer(void **state)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	BIO *b;
	int fds[2], r;

	(void)state;
	assert_non_null(sctx);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	close(fds[1]);
	assert_non_null(ssl = SSL_new(sctx));
	assert_non_null(b = cki_bio_new_socket(fds[0]));
	SSL_set_bio(ssl, b, b);
	SSL_set_connect_state(ssl);
	r = SSL_connect(ssl); /* writes the hello to a closed socket */
	assert_true(r <= 0);
	assert_int_equal(SSL_get_error(ssl, r), SSL_ERROR_SYSCALL);
	assert_int_equal(SSL_get_fd(ssl), fds[0]);
	SSL_free(ssl);
	SSL_CTX_free(sctx);
	close(fds[0]);
}

static void
test_retry_eof_fd(void **state)
{
	char buf[8];
	int fds[2], fd = -1;
	BIO *b;

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	assert_non_null(b = cki_bio_new_socket(fds[0]));
	assert_int_equal(BIO_get_fd(b, &fd), fds[0]);
	assert_int_equal(fd, fds[0]);
	/* Nothing to read yet: try again, as BIO_s_socket says. */
	assert_int_equal(BIO_read(b, buf, sizeof(buf)), -1);
	assert_true(BIO_should_retry(b));
	assert_true(BIO_should_read(b));
	assert_int_equal(write(fds[1], "ab", 2), 2);
	assert_int_equal(BIO_read(b, buf, sizeof(buf)), 2);
	assert_int_equal(BIO_write(b, "cd", 2), 2);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 2);
	close(fds[1]);
	assert_int_equal(BIO_read(b, buf, sizeof(buf)), 0);
	assert_false(BIO_should_retry(b));
	assert_true(BIO_eof(b));
	BIO_free(b);
	assert_int_equal(fcntl(fds[0], F_GETFD), 0); /* not closed */
	close(fds[0]);
}

/* A server that accepts, reads the hello, then sends FIN and RST at once:
 * the client reads end-of-file and its alert meets a reset socket. */
struct hangup {
	int lfd;
	uint16_t port;
	atomic_bool stop;
	pthread_t th;
};

static void *
hangup_serve(void *arg)
{
	struct hangup *h = arg;
	struct linger lg = {1, 0};

	/* Bounded: 600 polls of 100 ms at most. */
	for (int i = 0; i < 600 && !atomic_load(&h->stop); i++) {
		struct pollfd p = {h->lfd, POLLIN, 0};
		char buf[4096];
		int c;

		if (poll(&p, 1, 100) != 1 ||
		    (c = accept(h->lfd, NULL, NULL)) < 0)
			continue;
		p.fd = c;
		if (poll(&p, 1, 2000) == 1)
			(void)recv(c, buf, sizeof(buf), 0);
		shutdown(c, SHUT_WR);
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
	}
	return NULL;
}

static void
hangup_start(struct hangup *h)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);

	h->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(h->lfd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(h->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(h->lfd, 16), 0);
	assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&sa, &len), 0);
	h->port = ntohs(sa.sin_port);
	atomic_store(&h->stop, false);
	assert_int_equal(pthread_create(&h->th, NULL, hangup_serve, h), 0);
}

static void
hangup_stop(struct hangup *h)
{
	atomic_store(&h->stop, true);
	pthread_join(h->th, NULL);
	close(h->lfd);
}

static void
test_fetch_survives_hangup(void **state)
{
	struct hangup h;
	ck_ctx *ctx = ck_ctx_new();
	char port[8];

	(void)state;
	hangup_start(&h);
	snprintf(port, sizeof(port), "%u", h.port);
	/* Several rounds: the FIN and the RST race the client's read. */
	for (int i = 0; i < 5; i++) {
		ck_bundle *b = NULL;

		assert_int_equal(
		    ck_fetch_chain(ctx, "127.0.0.1", port, NULL, 3000, &b),
		    CK_E_NETWORK);
		assert_null(b);
	}
	hangup_stop(&h);
	ck_ctx_free(ctx);
}

static void
test_doctor_survives_hangup(void **state)
{
	struct hangup h;
	ck_ctx *ctx = ck_ctx_new();
	char ep[32];

	(void)state;
	hangup_start(&h);
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", h.port);
	for (int i = 0; i < 3; i++) {
		ck_doctor *d = NULL;
		char *json = NULL;
		int online = 1;

		assert_int_equal(ck_doctor_new(ctx, &d), CK_OK);
		assert_int_equal(ck_doctor_add_endpoint(d, ep), CK_OK);
		ck_doctor_set_timeout_ms(d, 2000);
		assert_int_equal(ck_doctor_run(d, &json, &online), CK_OK);
		assert_int_equal(online, 0);
		assert_true(strstr(json, "\"code\":\"tls_reset\"") != NULL ||
		    strstr(json, "\"code\":\"tcp_reset\"") != NULL);
		ck_free(json);
		ck_doctor_free(d);
	}
	hangup_stop(&h);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(
	        test_write_to_closed_peer_is_epipe, sigpipe_default),
	    cmocka_unit_test_setup(test_alert_to_closed_peer, sigpipe_default),
	    cmocka_unit_test_setup(test_retry_eof_fd, sigpipe_default),
	    cmocka_unit_test_setup(test_fetch_survives_hangup, sigpipe_default),
	    cmocka_unit_test_setup(
	        test_doctor_survives_hangup, sigpipe_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
