/*
 * tool_util.c: helpers shared by the certkit tool's commands: messages,
 * colour, passwords, the state directory, and JSON output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

struct tool_global tool_g;

static void
vmsg(const char *kind, const char *fmt, va_list ap)
{
	fputs("certkit: ", stderr);
	if (kind != NULL)
		fprintf(stderr, "%s%s%s", tool_c(stderr, TC_YELLOW), kind,
		    tool_c(stderr, TC_RESET));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
tool_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(NULL, fmt, ap);
	va_end(ap);
}

void
tool_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

int
tool_ctx_fail(const ck_ctx *ctx)
{
	ck_status st = ck_ctx_status(ctx);

	tool_err("%s",
	    ck_ctx_error(ctx)[0] ? ck_ctx_error(ctx) : ck_status_name(st));
	switch (st) {
	case CK_E_IO:
	case CK_E_FORMAT:
	case CK_E_PASSWORD:
	case CK_E_USAGE:
	case CK_E_NOTFOUND:
	case CK_E_EXISTS: return TOOL_USAGE;
	default: return TOOL_PROBLEM;
	}
}

bool
tool_color(FILE *f)
{
	const char *term = getenv("TERM");
	const char *nc = getenv("NO_COLOR");

	/* https://no-color.org: any non-empty NO_COLOR disables colour. */
	if (nc != NULL && nc[0] != '\0')
		return false;
	if (term != NULL && strcmp(term, "dumb") == 0)
		return false;
	return isatty(fileno(f)) == 1;
}

const char *
tool_c(FILE *f, enum tool_colour c)
{
	static const char *const esc[] = {"\033[0m", "\033[1m", "\033[31m",
	    "\033[32m", "\033[33m", "\033[2m"};

	return tool_color(f) ? esc[c] : "";
}

char *
tool_read_password_file(const char *path)
{
	char buf[1024];
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL) {
		tool_err("%s: cannot read the password file: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0'; /* an empty file is the empty password */
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	{
		char *p = strdup(buf);

		explicit_bzero(buf, sizeof(buf));
		if (p == NULL)
			tool_err("out of memory");
		return p;
	}
}

int
tool_tty_read(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	bool have;
	size_t len = 0;
	int fd;

	if (size == 0 || (fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	dprintf(fd, "%s", prompt);
	/* Restore only what was read: without a terminal state there is
	 * nothing to put back. */
	if ((have = tcgetattr(fd, &old) == 0)) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	while (len + 1 < size) {
		char c;

		if (read(fd, &c, 1) != 1 || c == '\n' || c == '\r')
			break;
		buf[len++] = c;
	}
	buf[len] = '\0';
	if (have)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	return (int)len;
}

/* The library's password callback: a prompt on the terminal. */
static int
tty_password_cb(char *buf, size_t size, const char *what, void *arg)
{
	char prompt[600];

	(void)arg;
	snprintf(prompt, sizeof(prompt), "Password for %s: ", what);
	return tool_tty_read(prompt, buf, size);
}

bool
tool_password_setup(ck_ctx *ctx, const char *password_file)
{
	const char *env = getenv("CERTKIT_PASSWORD");
	char *pw = NULL;
	bool ok = true;

	if (password_file != NULL) {
		if ((pw = tool_read_password_file(password_file)) == NULL)
			return false;
		ok = ck_ctx_set_password(ctx, pw) == CK_OK;
		explicit_bzero(pw, strlen(pw));
		free(pw);
	} else if (env != NULL) {
		ok = ck_ctx_set_password(ctx, env) == CK_OK;
	} else if (isatty(STDIN_FILENO)) {
		ck_ctx_set_password_cb(ctx, tty_password_cb, NULL);
	}
	if (!ok)
		tool_err("out of memory");
	return ok;
}

const char *
tool_home(void)
{
	const char *env;

	if (tool_g.home != NULL)
		return tool_g.home;
	if ((env = getenv("CERTKIT_HOME")) != NULL && env[0] != '\0')
		return env;
	return "/var/lib/certkit";
}

bool
tool_set_time(ck_ctx *ctx, const char *text)
{
	int64_t t;

	if (ck_parse_time(ctx, text, &t) != CK_OK) {
		tool_err("--at: %s", ck_ctx_error(ctx));
		return false;
	}
	ck_ctx_set_time(ctx, t);
	return true;
}

bool
tool_parse_timeout(const char *text, int *ms)
{
	const char *p = text;
	long v = 0;
	int frac = 0;

	/* Digits and at most three decimals: no sign, exponent, "inf" or
	 * locale-dependent comma, and no overflow. */
	while (*p >= '0' && *p <= '9' && v <= CK_TIMEOUT_MAX_MS)
		v = v * 10 + (*p++ - '0');
	v *= 1000;
	if (*p == '.' && p[1] != '\0') {
		long scale = 100;

		for (p++; *p >= '0' && *p <= '9' && frac < 3; p++, frac++) {
			v += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (p == text || *p != '\0' || v < CK_TIMEOUT_MIN_MS ||
	    v > CK_TIMEOUT_MAX_MS) {
		tool_err("--timeout '%s': expected seconds from %g to %d", text,
		    CK_TIMEOUT_MIN_MS / 1000.0, CK_TIMEOUT_MAX_MS / 1000);
		return false;
	}
	*ms = (int)v;
	return true;
}

int
tool_print_json(json_t *doc)
{
	/* One string, one write: json_dumpf writes token by token, which
	 * costs more than the report itself on bulk runs. */
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s == NULL)
		return TOOL_PROBLEM;
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return TOOL_OK;
}

json_t *
tool_parse_report(const char *json)
{
	json_error_t e;
	json_t *doc = json_loads(json, 0, &e);

	if (doc == NULL) {
		tool_err("internal error: the library returned bad JSON: %s",
		    e.text);
		exit(TOOL_PROBLEM);
	}
	return doc;
}

void
tool_validity_phrase(
    char *out, size_t size, long long nb, long long na, long long now)
{
	long long d;

	if (now < nb) {
		d = (nb - now + 86399) / 86400;
		snprintf(out, size, "NOT YET VALID: starts in %lld day%s", d,
		    d == 1 ? "" : "s");
	} else if (now > na) {
		d = (now - na) / 86400;
		snprintf(
		    out, size, "EXPIRED %lld day%s ago", d, d == 1 ? "" : "s");
	} else {
		d = (na - now) / 86400;
		snprintf(
		    out, size, "expires in %lld day%s", d, d == 1 ? "" : "s");
	}
}

int
tool_usage(FILE *f, const char *text, int code)
{
	fputs(text, f);
	return code;
}
