/*
 * sockbio.c: the socket BIO of every TLS connection the library makes.
 *
 * OpenSSL's BIO_s_socket() writes with write(2). A write to a peer that has
 * reset the connection (the alert OpenSSL sends after a server accepted and
 * hung up) raises SIGPIPE, and SIGPIPE kills a process that has not ignored
 * it: the whole report is lost, exit 141, no output. A library must not
 * depend on its caller's signal disposition, so this BIO sends with
 * MSG_NOSIGNAL (SO_NOSIGPIPE where the system has that instead).
 *
 * Guarantees:
 *  1. A write never raises SIGPIPE: a reset peer is an EPIPE error.
 *  2. Otherwise it behaves as BIO_s_socket(): the same retry flags for the
 *     same errno values (SSL_get_error() reports WANT_READ/WANT_WRITE),
 *     read returns 0 at end of file and -1 on error with errno set, and
 *     BIO_get_fd()/SSL_get_fd() return the descriptor.
 *  3. The BIO never closes the descriptor (BIO_NOCLOSE): its owner does.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>

#include "ck_internal.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* then SO_NOSIGPIPE is set on the socket */
#endif

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

/* As BIO_sock_non_fatal_error(): try again later. */
static bool
retryable(int e)
{
	return e == EINTR || e == EAGAIN || e == EWOULDBLOCK ||
	    e == EINPROGRESS || e == EALREADY || e == ENOTCONN || e == EPROTO;
}

static int
sock_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int
sock_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	errno = 0;
	n = send(sock_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && retryable(errno))
		BIO_set_retry_write(b);
	return n < 0 ? -1 : (int)n;
}

static int
sock_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (buf == NULL || len <= 0)
		return 0;
	errno = 0;
	n = recv(sock_fd(b), buf, (size_t)len, 0);
	if (n < 0 && retryable(errno))
		BIO_set_retry_read(b);
	else if (n == 0)
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
	return n < 0 ? -1 : (int)n;
}

static int
sock_puts(BIO *b, const char *s)
{
	size_t n = strlen(s);

	return sock_write(b, s, n > INT_MAX ? INT_MAX : (int)n);
}

static long
sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	switch (cmd) {
	case BIO_C_GET_FD:
		if (!BIO_get_init(b))
			return -1;
		if (ptr != NULL)
			*(int *)ptr = sock_fd(b);
		return sock_fd(b);
	case BIO_CTRL_GET_CLOSE: return BIO_NOCLOSE;
	case BIO_CTRL_SET_CLOSE: /* never closes: guarantee 3 */
	case BIO_CTRL_DUP:
	case BIO_CTRL_FLUSH: return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
	default: return 0;
	}
}

static int
sock_create(BIO *b)
{
	BIO_set_data(b, (void *)(intptr_t)-1);
	BIO_set_init(b, 0);
	return 1;
}

static void
method_init(void)
{
	BIO_METHOD *m;
	int type = BIO_get_new_index();

	if (type == -1)
		return;
	m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
	    "certkit socket");
	if (m == NULL)
		return;
	if (!BIO_meth_set_write(m, sock_write) ||
	    !BIO_meth_set_read(m, sock_read) ||
	    !BIO_meth_set_puts(m, sock_puts) ||
	    !BIO_meth_set_ctrl(m, sock_ctrl) ||
	    !BIO_meth_set_create(m, sock_create)) {
		BIO_meth_free(m);
		return;
	}
	method = m;
}

BIO *
cki_bio_new_socket(int fd)
{
	BIO *b;

	if (fd < 0 || pthread_once(&method_once, method_init) != 0 ||
	    method == NULL || (b = BIO_new(method)) == NULL)
		return NULL;
#ifdef SO_NOSIGPIPE
	{
		int one = 1;

		(void)setsockopt(
		    fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
	}
#endif
	BIO_set_data(b, (void *)(intptr_t)fd);
	BIO_set_init(b, 1);
	return b;
}
