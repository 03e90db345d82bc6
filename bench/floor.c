/*
 * floor.c: the physical limit for the doctor's success path on this
 * machine: a minimal TLS client that does nothing but connect, run the
 * OpenSSL handshake with SNI and verify the chain and the name, for many
 * endpoints with a fixed number in flight. No diagnosis, no report.
 *
 *   floor -c CAFILE -p PORT -n NAMES_FILE [-j PARALLEL] [-a ADDRESS]
 *
 * NAMES_FILE has one host name per line; each is connected at ADDRESS
 * (default 127.0.0.1) and PORT. Prints "ok N failed M elapsed_ms T".
 * Built by bench/doctor.sh with `cc -O2 floor.c -lssl -lcrypto`.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAXJ 1024
#define TIMEOUT_MS 5000

struct slot {
	int fd;
	SSL *ssl;
	int connecting;
	long long t0;
	short want;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
finish(struct slot *s)
{
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
	}
	if (s->fd >= 0)
		close(s->fd);
	s->ssl = NULL;
	s->fd = -1;
}

/* Returns 1 done ok, -1 done failed, 0 in progress. */
static int
step(struct slot *s)
{
	int r, e;

	if (s->connecting) {
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0)
			return -1;
		s->connecting = 0;
	}
	ERR_clear_error();
	r = SSL_connect(s->ssl);
	if (r == 1)
		return SSL_get_verify_result(s->ssl) == X509_V_OK ? 1 : -1;
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		s->want = POLLIN;
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		s->want = POLLOUT;
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	const char *ca = NULL, *names = NULL, *addr = "127.0.0.1";
	int port = 0, par = 32, c;
	char **name = NULL;
	size_t n = 0, cap = 0, next = 0, done = 0, ok = 0, bad = 0;
	struct slot slots[MAXJ];
	struct pollfd pfd[MAXJ];
	struct sockaddr_in sin;
	SSL_CTX *ctx;
	FILE *f;
	char line[512];
	long long t0;

	while ((c = getopt(argc, argv, "c:p:n:j:a:")) != -1) {
		switch (c) {
		case 'c': ca = optarg; break;
		case 'p': port = (int)strtol(optarg, NULL, 10); break;
		case 'n': names = optarg; break;
		case 'j': par = (int)strtol(optarg, NULL, 10); break;
		case 'a': addr = optarg; break;
		default: return 2;
		}
	}
	if (ca == NULL || names == NULL || port <= 0 || port > 65535 ||
	    par < 1 || par > MAXJ) {
		fprintf(stderr,
		    "usage: floor -c CAFILE -p PORT -n NAMES "
		    "[-j PARALLEL] [-a ADDRESS]\n");
		return 2;
	}
	if ((f = fopen(names, "r")) == NULL) {
		perror(names);
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			name = realloc(name, cap * sizeof(*name));
		}
		name[n++] = strdup(line);
	}
	fclose(f);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return 2;
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		fprintf(stderr, "%s: cannot load\n", ca);
		return 2;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	for (int i = 0; i < par; i++)
		slots[i].fd = -1;
	t0 = now_ms();
	while (done < n) {
		int np = 0, idx[MAXJ];

		for (int i = 0; i < par; i++) {
			struct slot *s = &slots[i];
			int one = 1;

			if (s->fd >= 0 || next >= n)
				continue;
			s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			setsockopt(
			    s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			s->ssl = SSL_new(ctx);
			SSL_set_fd(s->ssl, s->fd);
			SSL_set_tlsext_host_name(s->ssl, name[next]);
			SSL_set1_host(s->ssl, name[next]);
			s->t0 = now_ms();
			next++;
			if (connect(s->fd, (struct sockaddr *)&sin,
			        sizeof(sin)) != 0 &&
			    errno != EINPROGRESS) {
				finish(s);
				done++;
				bad++;
				continue;
			}
			s->connecting = 1;
			s->want = POLLOUT;
		}
		for (int i = 0; i < par; i++) {
			if (slots[i].fd < 0)
				continue;
			pfd[np].fd = slots[i].fd;
			pfd[np].events = slots[i].want;
			idx[np++] = i;
		}
		if (np == 0)
			continue;
		if (poll(pfd, (nfds_t)np, 100) < 0 && errno != EINTR)
			return 1;
		for (int k = 0; k < np; k++) {
			struct slot *s = &slots[idx[k]];
			int r = 0;

			if (pfd[k].revents != 0)
				r = step(s);
			else if (now_ms() - s->t0 > TIMEOUT_MS)
				r = -1;
			if (r != 0) {
				finish(s);
				done++;
				if (r > 0)
					ok++;
				else
					bad++;
			}
		}
	}
	printf("ok %zu failed %zu elapsed_ms %lld\n", ok, bad, now_ms() - t0);
	for (size_t i = 0; i < n; i++)
		free(name[i]);
	free(name);
	SSL_CTX_free(ctx);
	return bad == 0 ? 0 : 1;
}
