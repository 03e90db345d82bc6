/*
 * test_lab.c: ck_lab_start / ck_lab_stop (lab.c, lab_net.c): the files the
 * lab writes, that each kind of server behaves as its code needs (TLS
 * chains, refused, black hole, reset, plaintext, DNS), that two labs run
 * side by side, that stop releases every port and leaks nothing (ASan),
 * and the errors for a bad directory and a failing disk.
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "testutil.h"
#include "lab_int.h"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
mktmp(char *buf, size_t size)
{
	snprintf(buf, size, "%s/certkit-test-lab.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(buf));
}

static void
rmtree(const char *dir)
{
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static json_t *
describe(ck_lab *lab)
{
	char *text = NULL;
	json_t *doc;

	assert_int_equal(ck_lab_describe(lab, &text), CK_OK);
	doc = json_loads(text, 0, NULL);
	ck_free(text);
	assert_non_null(doc);
	return doc;
}

static int
port_of(json_t *doc, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(doc, "endpoints"), i,
	    e) if (strcmp(json_string_value(json_object_get(e, "name")),
	               name) ==
	    0) return (int)json_integer_value(json_object_get(e, "port"));
	fail_msg("no endpoint %s", name);
	return -1;
}

/* The port of "127.0.0.1:PORT". */
static int
atoi_safe_port(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	long v;

	assert_non_null(colon);
	v = strtol(colon + 1, &end, 10);
	assert_true(*end == '\0' && v > 0 && v < 65536);
	return (int)v;
}

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	return sin;
}

/* A blocking connect: 0, or the errno. */
static int
tcp_connect(int port, int *fdp)
{
	struct sockaddr_in sin = loopback(port);
	struct timeval tv = {3, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), e = 0;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		e = errno;
	if (fdp != NULL && e == 0)
		*fdp = fd;
	else
		close(fd);
	return e;
}

/* A TLS handshake with SNI and name check; the X.509 verify result. */
static long
tls_verify(int port, const char *host, const char *cafile)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd = -1;
	long v;

	assert_non_null(c);
	assert_int_equal(SSL_CTX_load_verify_locations(c, cafile, NULL), 1);
	assert_int_equal(tcp_connect(port, &fd), 0);
	ssl = SSL_new(c);
	assert_non_null(ssl);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	assert_int_equal(SSL_connect(ssl), 1);
	v = SSL_get_verify_result(ssl);
	SSL_free(ssl);
	SSL_CTX_free(c);
	close(fd);
	return v;
}

static void
test_start_files(void **state)
{
	char dir[256], path[512];
	ck_ctx *ctx = ck_ctx_new();
	ck_lab *lab = NULL;
	json_t *doc, *e;
	struct stat st;
	size_t i, nspec;

	(void)state;
	mktmp(dir, sizeof(dir));
	assert_int_equal(ck_lab_start(ctx, dir, &lab), CK_OK);
	doc = describe(lab);
	(void)cki_lab_specs(&nspec);
	assert_int_equal(
	    json_array_size(json_object_get(doc, "endpoints")), nspec);
	json_array_foreach(json_object_get(doc, "endpoints"), i, e)
	{
		json_int_t p = json_integer_value(json_object_get(e, "port"));

		assert_true(p > 0 && p < 65536);
		assert_non_null(json_string_value(json_object_get(e, "code")));
	}
	assert_int_equal(stat(ck_lab_profile(lab), &st), 0);
	assert_int_equal(stat(ck_lab_trust(lab), &st), 0);
	assert_int_equal(stat(ck_lab_reference(lab), &st), 0);
	snprintf(path, sizeof(path), "%s/lab.env", dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/lab.json", dir);
	assert_int_equal(stat(path, &st), 0);
	/* Keys are 0600 (house rule); certificates 0644. */
	snprintf(path, sizeof(path), "%s/clients/paired.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/clients/paired.pem", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_non_null(strstr(ck_lab_dns(lab), "127.0.0.1:"));
	assert_non_null(strstr(ck_lab_proxy(lab), "http://127.0.0.1:"));
	json_decref(doc);
	ck_lab_stop(lab);
	ck_ctx_free(ctx);
	rmtree(dir);
}

static void
test_servers(void **state)
{
	char dir[256], buf[64];
	ck_ctx *ctx = ck_ctx_new();
	ck_lab *lab = NULL;
	json_t *doc;
	int fd = -1, ok, refused, hole, reset, plain;
	struct sockaddr_in sin;
	struct pollfd pfd;
	ssize_t r;

	(void)state;
	mktmp(dir, sizeof(dir));
	assert_int_equal(ck_lab_start(ctx, dir, &lab), CK_OK);
	doc = describe(lab);
	ok = port_of(doc, "ok");
	refused = port_of(doc, "tcp_refused");
	hole = port_of(doc, "tcp_timeout");
	reset = port_of(doc, "tcp_reset");
	plain = port_of(doc, "not_tls");

	/* The chains, as OpenSSL sees them. */
	assert_int_equal(
	    tls_verify(ok, "ok.lab.test", ck_lab_trust(lab)), X509_V_OK);
	assert_int_equal(tls_verify(port_of(doc, "incomplete_chain"),
	                     "incomplete-chain.lab.test", ck_lab_trust(lab)),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(tls_verify(port_of(doc, "missing_root"),
	                     "missing-root.lab.test", ck_lab_trust(lab)),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(tls_verify(port_of(doc, "missing_root"),
	                     "missing-root.lab.test", ck_lab_reference(lab)),
	    X509_V_OK);
	assert_int_equal(tls_verify(port_of(doc, "expired_root_in_store"),
	                     "expired-root.lab.test", ck_lab_trust(lab)),
	    X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(tls_verify(port_of(doc, "expired_root_in_store"),
	                     "expired-root.lab.test", ck_lab_reference(lab)),
	    X509_V_OK);
	assert_int_equal(tls_verify(port_of(doc, "hostname_mismatch"),
	                     "hostname-mismatch.lab.test", ck_lab_trust(lab)),
	    X509_V_ERR_HOSTNAME_MISMATCH);

	/* Refused: RST to the SYN. */
	assert_int_equal(tcp_connect(refused, NULL), ECONNREFUSED);

	/* Black hole: the SYN is dropped, the connect stays in progress. */
	sin = loopback(hole);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), -1);
	assert_int_equal(errno, EINPROGRESS);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 1500), 0);
	close(fd);

	/* TCP reset: accepted, then RST before any byte. */
	assert_int_equal(tcp_connect(reset, &fd), 0);
	r = recv(fd, buf, sizeof(buf), 0);
	assert_int_equal(r, -1);
	assert_int_equal(errno, ECONNRESET);
	close(fd);

	/* Plaintext HTTP answers a ClientHello-looking byte with 400. */
	assert_int_equal(tcp_connect(plain, &fd), 0);
	assert_int_equal(send(fd, "\x16\x03\x01", 3, MSG_NOSIGNAL), 3);
	r = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	assert_true(r >= 12);
	buf[r] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 400"));
	close(fd);

	/* Stop releases the ports: nothing listens any more. */
	json_decref(doc);
	ck_lab_stop(lab);
	assert_int_equal(tcp_connect(ok, NULL), ECONNREFUSED);
	assert_int_equal(tcp_connect(hole, NULL), ECONNREFUSED);
	ck_ctx_free(ctx);
	rmtree(dir);
}

static void
test_dns(void **state)
{
	char dir[256];
	ck_ctx *ctx = ck_ctx_new();
	ck_lab *lab = NULL;
	static const uint8_t q[] =
	    "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00"
	    "\x00\x00\x02ok\x03lab\x04test\x00\x00\x01\x00\x01";
	uint8_t ans[512];
	struct sockaddr_in sin;
	struct timeval tv = {3, 0};
	int fd;
	ssize_t r;

	(void)state;
	mktmp(dir, sizeof(dir));
	assert_int_equal(ck_lab_start(ctx, dir, &lab), CK_OK);
	sin = loopback(atoi_safe_port(ck_lab_dns(lab)));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(send(fd, q, sizeof(q) - 1, 0), (ssize_t)sizeof(q) - 1);
	r = recv(fd, ans, sizeof(ans), 0);
	assert_int_equal(r, (ssize_t)(sizeof(q) - 1 + 16));
	assert_int_equal(ans[0], 0x12);
	assert_int_equal(ans[3] & 0xf, 0);
	assert_memory_equal(ans + r - 4, "\x7f\x00\x00\x01", 4);
	ck_lab_stop(lab);
	/* The DNS port is closed too: ICMP port unreachable. */
	assert_int_equal(send(fd, q, sizeof(q) - 1, 0), (ssize_t)sizeof(q) - 1);
	r = recv(fd, ans, sizeof(ans), 0);
	assert_int_equal(r, -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
	ck_ctx_free(ctx);
	rmtree(dir);
}

static void
test_two_labs(void **state)
{
	char d1[256], d2[256];
	ck_ctx *ctx = ck_ctx_new();
	ck_lab *a = NULL, *b = NULL;
	json_t *ja, *jb;

	(void)state;
	mktmp(d1, sizeof(d1));
	mktmp(d2, sizeof(d2));
	assert_int_equal(ck_lab_start(ctx, d1, &a), CK_OK);
	assert_int_equal(ck_lab_start(ctx, d2, &b), CK_OK);
	ja = describe(a);
	jb = describe(b);
	assert_int_not_equal(port_of(ja, "ok"), port_of(jb, "ok"));
	assert_string_not_equal(ck_lab_dns(a), ck_lab_dns(b));
	json_decref(ja);
	json_decref(jb);
	ck_lab_stop(b);
	ck_lab_stop(a);
	ck_lab_stop(NULL);
	/* The same directory again: the files are replaced. */
	assert_int_equal(ck_lab_start(ctx, d1, &a), CK_OK);
	ck_lab_stop(a);
	ck_ctx_free(ctx);
	rmtree(d1);
	rmtree(d2);
}

static void
test_errors(void **state)
{
	char dir[256], file[300];
	ck_ctx *ctx = ck_ctx_new();
	ck_lab *lab = (ck_lab *)1;
	FILE *f;

	(void)state;
	assert_int_equal(ck_lab_start(ctx, NULL, &lab), CK_E_USAGE);
	assert_int_equal(ck_lab_start(ctx, "", &lab), CK_E_USAGE);

	/* The directory is a file. */
	mktmp(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/afile", dir);
	assert_non_null(f = fopen(file, "w"));
	fclose(f);
	assert_int_not_equal(ck_lab_start(ctx, file, &lab), CK_OK);
	assert_null(lab);
	assert_non_null(strstr(ck_ctx_error(ctx), file));

	/* A disk that fails mid-way: an error, nothing leaked (ASan), and
	 * no lab.env (it is written last). */
	snprintf(file, sizeof(file), "%s/lab", dir);
	setenv("CERTKIT_FAULT", "rename", 1);
	assert_int_equal(ck_lab_start(ctx, file, &lab), CK_E_IO);
	unsetenv("CERTKIT_FAULT");
	assert_null(lab);
	snprintf(file, sizeof(file), "%s/lab/lab.env", dir);
	assert_int_equal(access(file, F_OK), -1);
	ck_ctx_free(ctx);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_files),
	    cmocka_unit_test(test_servers),
	    cmocka_unit_test(test_dns),
	    cmocka_unit_test(test_two_labs),
	    cmocka_unit_test(test_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
