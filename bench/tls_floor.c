/*
 * tls_floor.c: the memory floor of an idle agent (bench/agent.sh): a bare
 * OpenSSL client that makes the agent's heartbeat (TLS, a client
 * certificate, POST /api/v1/heartbeat, the answer read) twice and nothing
 * else, then prints its VmRSS, RssFile and RssAnon. The primary's
 * certificate is not verified: this measures what OpenSSL and libc cost a
 * process, not a policy.
 *
 *   tls_floor PORT FULLCHAIN KEY
 *
 * Built by bench/agent.sh: cc -O2 tls_floor.c -lssl -lcrypto.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

static long
status_kb(const char *key)
{
	char b[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(b, sizeof(b), f) != NULL)
		if (strncmp(b, key, n) == 0 && b[n] == ':')
			v = strtol(b + n + 1, NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}

static int
heartbeat(int port, const char *chain, const char *key)
{
	static const char req[] = "POST /api/v1/heartbeat HTTP/1.1\r\n"
	                          "Host: localhost\r\n"
	                          "Content-Type: application/json\r\n"
	                          "Content-Length: 2\r\n"
	                          "Connection: close\r\n\r\n{}";
	struct sockaddr_in a = {.sin_family = AF_INET};
	SSL_CTX *s = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	char buf[4096];
	int fd = -1, ok = 0;

	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s == NULL || SSL_CTX_use_certificate_chain_file(s, chain) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (ssl = SSL_new(s)) == NULL || SSL_set_fd(ssl, fd) != 1)
		goto out;
	SSL_set_tlsext_host_name(ssl, "localhost");
	ok = SSL_connect(ssl) == 1 &&
	    SSL_write(ssl, req, (int)sizeof(req) - 1) > 0 &&
	    SSL_read(ssl, buf, sizeof(buf)) > 12 &&
	    strncmp(buf, "HTTP/1.1 200", 12) == 0;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(s);
	return ok;
}

int
main(int argc, char **argv)
{
	int port = argc == 4 ? (int)strtol(argv[1], NULL, 10) : 0;

	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: tls_floor PORT FULLCHAIN KEY\n");
		return 2;
	}
	if (!heartbeat(port, argv[2], argv[3]) ||
	    !heartbeat(port, argv[2], argv[3])) {
		fprintf(stderr, "tls_floor: the heartbeat failed\n");
		return 1;
	}
	printf("VmRSS %ld KiB (%ld KiB file-backed, %ld KiB anonymous)\n",
	    status_kb("VmRSS"), status_kb("RssFile"), status_kb("RssAnon"));
	return 0;
}
