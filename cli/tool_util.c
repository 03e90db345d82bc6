/*
 * tool_util.c: helpers shared by the certkit tool's commands: messages,
 * colour, passwords, the state directory, and JSON output.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

struct tool_global tool_g;

/* Messages name files and quote the library's errors: the whole message
 * goes through the escaper (tool_esc), since no message format holds a
 * control character of its own. */
static void
vmsg(const char *kind, const char *fmt, va_list ap)
{
	char buf[2048];

	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		buf[0] = '\0';
	fputs("certkit: ", stderr);
	if (kind != NULL)
		fprintf(stderr, "%s%s%s", tool_c(stderr, TC_YELLOW), kind,
		    tool_c(stderr, TC_RESET));
	fputs(tool_esc(buf), stderr);
	fputc('\n', stderr);
}

const char *
tool_esc(const char *s)
{
	/* A ring, so one printf can take several; each is freed when its
	 * slot comes round again (and the last ones at exit). */
	static char *ring[8];
	static unsigned next;
	char *e;

	if (s == NULL)
		return "(null)";
	if ((e = ck_text_escape(s)) == NULL)
		return "(out of memory)";
	ck_free(ring[next]);
	ring[next] = e;
	next = (next + 1) % (sizeof(ring) / sizeof(ring[0]));
	return e;
}

json_t *
tool_json_str(const char *s)
{
	json_t *j = json_string(s);

	return j != NULL ? j : json_string(tool_esc(s));
}

const char *
tool_finding_summary(const json_t *f)
{
	const char *s = json_string_value(json_object_get(f, "summary"));

	return s != NULL ? s : "";
}

const char *
tool_finding_remedy(const json_t *f)
{
	const char *s = json_string_value(
	    json_array_get(json_object_get(f, "remedies"), 0));

	return s != NULL ? s : "";
}

/* Escapes every string of a report in place, object keys included. */
static bool
escape_tree(json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t i;
	char *e;

	/* Reports nest a few levels; deeper is not ours to print. */
	if (depth > 64)
		return true;
	if (json_is_string(j)) {
		if ((e = ck_text_escape(json_string_value(j))) == NULL)
			return false;
		if (strcmp(e, json_string_value(j)) != 0 &&
		    json_string_set(j, e) != 0) {
			ck_free(e);
			return false;
		}
		ck_free(e);
	} else if (json_is_array(j)) {
		for (i = 0; i < json_array_size(j); i++)
			if (!escape_tree(json_array_get(j, i), depth + 1))
				return false;
	} else if (json_is_object(j)) {
		void *tmp;

		json_object_foreach_safe(j, tmp, k, v)
		{
			if (!escape_tree(v, depth + 1) ||
			    (e = ck_text_escape(k)) == NULL)
				return false;
			if (strcmp(e, k) != 0 &&
			    (json_object_set(j, e, v) != 0 ||
			        json_object_del(j, k) != 0)) {
				ck_free(e);
				return false;
			}
			ck_free(e);
		}
	}
	return true;
}

void
tool_escape_doc(json_t *doc)
{
	if (!escape_tree(doc, 0)) {
		tool_err("out of memory");
		exit(TOOL_PROBLEM);
	}
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

const char *
tool_ctx_message(const ck_ctx *ctx)
{
	static char buf[1200];
	const char *msg = ck_ctx_error(ctx);
	size_t n = strlen(msg), k = strlen(CK_MSG_NO_PASSWORD);

	/* The library names no flag; the tool says how to give a password. */
	if (ck_ctx_status(ctx) != CK_E_PASSWORD || n < k ||
	    strcmp(msg + n - k, CK_MSG_NO_PASSWORD) != 0)
		return msg;
	snprintf(buf, sizeof(buf),
	    "%s: give it with --password-file FILE or the CERTKIT_PASSWORD "
	    "variable",
	    msg);
	return buf;
}

int
tool_ctx_fail(const ck_ctx *ctx)
{
	ck_status st = ck_ctx_status(ctx);
	const char *msg = tool_ctx_message(ctx);

	tool_err("%s", msg[0] ? msg : ck_status_name(st));
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

/*
 * The first line of a password file. A file that cannot be read (a
 * directory), a NUL byte (a device such as /dev/zero, a binary file) or a
 * first line longer than CK_PASSWORD_MAX is an error that says so, never a
 * password that then fails as "wrong". An empty file is the empty password.
 */
char *
tool_read_password_file(const char *path)
{
	char buf[CK_PASSWORD_MAX + 2], *p = NULL;
	const char *bad = NULL;
	size_t n = 0;
	FILE *f;
	int c = 0;

	if (strcmp(path, "-") == 0) {
		if (!tool_take_stdin("--password-file"))
			return NULL;
		/* Our own stream on fd 0: stdio's stdin stays unused. */
		f = fdopen(dup(STDIN_FILENO), "r");
	} else {
		f = fopen(path, "r");
	}
	if (f == NULL) {
		tool_err("%s: cannot read the password file: %s", path,
		    strerror(errno));
		return NULL;
	}
	while (n < sizeof(buf) - 1 && (c = getc(f)) != EOF && c != '\n' &&
	    c != '\r' && c != '\0')
		buf[n++] = (char)c;
	buf[n] = '\0';
	if (ferror(f))
		tool_err("%s: cannot read the password file: %s", path,
		    strerror(errno));
	else if (c == '\0')
		bad = "holds a NUL byte: it is not a text file with the "
		      "password on its first line";
	else if (n > CK_PASSWORD_MAX)
		tool_err("%s: the password file's first line is longer than "
		         "%d bytes, the longest password certkit takes",
		    path, CK_PASSWORD_MAX);
	else if ((p = strdup(buf)) == NULL)
		tool_err("out of memory");
	if (bad != NULL)
		tool_err("%s: the password file %s", path, bad);
	fclose(f);
	explicit_bzero(buf, sizeof(buf));
	return p;
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
		tool_err("%s: %s",
		    password_file != NULL ? password_file : "CERTKIT_PASSWORD",
		    ck_ctx_error(ctx));
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
	 * costs more than the report itself on bulk runs. ASCII: every control
	 * and non-ASCII character as \\uXXXX, so the values stay exact and
	 * the output is safe on a terminal too. */
	char *s = json_dumps(
	    doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

	if (s == NULL)
		return TOOL_PROBLEM;
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return TOOL_OK;
}

json_t *
tool_parse_report(const char *json, bool text)
{
	json_error_t e;
	json_t *doc = json_loads(json, 0, &e);

	if (doc == NULL) {
		tool_err("internal error: the library returned bad JSON: %s",
		    e.text);
		exit(TOOL_PROBLEM);
	}
	if (text)
		tool_escape_doc(doc);
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

/* ---- "-": standard input -------------------------------------------------
 *
 * The rule (man certkit, "FILES AND -"): "-" is standard input for the FILE
 * operands a command reads (show, verify, convert, trust add) and for
 * --password-file; standard input is read once per command. It is never
 * standard output, and options that name a file by its path (--out,
 * --key-out, --roots, --trust, ...) refuse it: outputs are replaced
 * atomically, which standard output cannot be, and those paths are read by
 * name. A file named "-" is given as "./-".
 */

#define STDIN_MAX (64u * 1024u * 1024u)

static bool stdin_taken;
static char load_err[512];

bool
tool_take_stdin(const char *what)
{
	if (stdin_taken) {
		tool_err("%s -: standard input was read already; it can be "
		         "given as - once per command",
		    what);
		return false;
	}
	stdin_taken = true;
	return true;
}

/* Reads all of standard input (at most STDIN_MAX bytes) into *buf. */
static ck_status
read_stdin(unsigned char **bufp, size_t *lenp, size_t *capp)
{
	unsigned char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ck_status st = CK_OK;
	ssize_t r;

	for (;;) {
		if (len == cap) {
			if (cap >= STDIN_MAX) {
				snprintf(load_err, sizeof(load_err),
				    "(stdin): larger than %u bytes", STDIN_MAX);
				st = CK_E_IO;
				break;
			}
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL) {
				snprintf(load_err, sizeof(load_err),
				    "out of memory");
				st = CK_E_NOMEM;
				break;
			}
			buf = nb;
		}
		if ((r = read(STDIN_FILENO, buf + len, cap - len)) == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(load_err, sizeof(load_err),
			    "(stdin): cannot read standard input: %s",
			    strerror(errno));
			st = CK_E_IO;
			break;
		}
		len += (size_t)r;
	}
	*bufp = buf;
	*lenp = len;
	*capp = cap;
	return st;
}

ck_status
tool_load(ck_ctx *ctx, const char *path, int want, ck_bundle **out)
{
	static const char *const noun[] = {
	    "certificate", "private key", "CSR", "CRL"};
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	ck_status st;

	load_err[0] = '\0';
	*out = NULL;
	if (strcmp(path, "-") != 0)
		return want < 0
		    ? ck_load_file(ctx, path, out)
		    : ck_load_expect(ctx, path, (ck_obj_type)want, out);
	if (stdin_taken) {
		snprintf(load_err, sizeof(load_err),
		    "-: standard input was read already; it can be given as - "
		    "once per command");
		return CK_E_USAGE;
	}
	stdin_taken = true;
	if ((st = read_stdin(&buf, &len, &cap)) == CK_OK &&
	    (st = ck_load_mem(ctx, "(stdin)", buf, len, out)) == CK_OK &&
	    want >= 0 && want < 4 &&
	    ck_bundle_count(*out, (ck_obj_type)want) == 0) {
		snprintf(load_err, sizeof(load_err), "(stdin): holds no %s",
		    noun[want]);
		ck_bundle_free(*out);
		*out = NULL;
		st = CK_E_FORMAT;
	}
	/* The input may hold an unencrypted private key. */
	if (buf != NULL)
		explicit_bzero(buf, cap);
	free(buf);
	return st;
}

const char *
tool_load_error(const ck_ctx *ctx)
{
	return load_err[0] ? load_err : tool_ctx_message(ctx);
}

bool
tool_path_arg(const char *opt, const char *path)
{
	if (path == NULL || strcmp(path, "-") != 0)
		return true;
	tool_err("%s -: standard input and output are not accepted here: %s "
	         "names a file (give a file named - as ./-)",
	    opt, opt);
	return false;
}

int
tool_subcommands(const char *cmd, const char *usage,
    const struct tool_sub *subs, size_t n, int argc, char **argv)
{
	ck_ctx *ctx;
	int rc = -1;

	if (argc < 2)
		return tool_usage(stderr, usage, TOOL_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return tool_usage(stdout, usage, TOOL_OK);
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 0;
			rc = subs[i].fn(ctx, argc - 1, argv + 1);
			break;
		}
	if (rc == -1) {
		tool_err(
		    "%s: '%s' is not a subcommand; run 'certkit %s --help'",
		    cmd, tool_esc(argv[1]), cmd);
		rc = TOOL_USAGE;
	}
	ck_ctx_free(ctx);
	return rc;
}

int
tool_main_opts(int argc, char **argv, const char *prog, void (*sigpipe)(int),
    int (*usage)(FILE *f, int code))
{
	static const struct option opts[] = {
	    {"home", required_argument, NULL, 'H'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sigaction sa;
	int c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigpipe;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	/* '+': stop at the command name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': tool_g.home = optarg; break;
		case 'V':
			printf("%s %s (%s)\n", prog, ck_version(),
			    ck_crypto_version());
			return TOOL_OK;
		case 'h': return usage(stdout, TOOL_OK);
		default: return usage(stderr, TOOL_USAGE);
		}
	}
	if (optind >= argc)
		return usage(stderr, TOOL_USAGE);
	return -1;
}
