/* testutil.c: helpers for the cmocka unit tests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"

const char *
pki_dir(void)
{
	const char *d = getenv("CERTKIT_TEST_PKI");

	if (d == NULL || d[0] == '\0') {
		fprintf(
		    stderr, "CERTKIT_TEST_PKI is not set; run under ctest\n");
		exit(1);
	}
	return d;
}

const char *
pki(const char *file)
{
	static char buf[8][4096];
	static int slot;
	char *out = buf[slot++ % 8];

	snprintf(out, sizeof(buf[0]), "%s/%s", pki_dir(), file);
	return out;
}

int
run_in(const char *dir, const char *fmt, ...)
{
	char cmd[2048];
	int n;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", dir);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	n = system(cmd);
	return WIFEXITED(n) ? WEXITSTATUS(n) : -1;
}

char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}
