/*
 * tool_doctor.c: `certkit doctor`, the connection test that names the root
 * cause, and tool_doctor_render(), the text view of a doctor report (also
 * used by `certkit lab --demo`).
 *
 * The text is rendered from the library's JSON report only, so --json and
 * the text never disagree.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certkit/doctor.h"
#include "tool.h"

static const char usage_text[] =
    "usage: certkit doctor [options] [ENDPOINT...]\n"
    "\n"
    "Tests every endpoint the device depends on (DNS, TCP, proxy, TLS, the\n"
    "chain, the name, revocation, client authentication) in parallel, and\n"
    "names the root cause of each failure with the evidence and the fix.\n"
    "\n"
    "ENDPOINT is HOST[:PORT] (default port 443), [IPv6]:PORT, or an\n"
    "https:// URL.\n"
    "\n"
    "Options:\n"
    "  --profile FILE         endpoints from an INI profile (one [section]\n"
    "                         per endpoint; see certkit-doctor(1))\n"
    "  --trust FILE|DIR       the device's trust store (default: certkit's\n"
    "                         store HOME/trust/out/ca-bundle.pem if present,\n"
    "                         else the system store)\n"
    "  --reference FILE       public roots used only to explain failures\n"
    "                         (default: the embedded Mozilla set)\n"
    "  --resolve HOST:PORT:ADDR  connect to ADDR for HOST:PORT (as curl)\n"
    "  --proxy URL            HTTP CONNECT proxy http://[USER:PASS@]HOST:PORT\n"
    "                         ('' for none; default: HTTPS_PROXY, NO_PROXY)\n"
    "  --cert FILE --key FILE client certificate for mutual TLS (PEM, DER or\n"
    "                         PKCS#12; --key may be omitted for a .p12)\n"
    "  --password-file FILE   password of the client key or .p12\n"
    "  --at TIME              diagnose as if the clock read TIME (RFC 3339)\n"
    "  --public               the endpoints are public cloud services\n"
    "  --policy P             compat (default) or strict: verify the chains\n"
    "                         as verify --policy does (a profile section's\n"
    "                         policy = ... wins)\n"
    "  --https MODE           required (default) or if-available: plain "
    "HTTP\n"
    "                         is then plain_http, a warning\n"
    "  --timeout SECONDS      per-stage timeout (default 5)\n"
    "  --parallel N           connections in flight (default 32)\n"
    "  --dns ADDR[:PORT]      ask this DNS server instead of the system's\n"
    "  --json                 print the report as JSON\n"
    "  --help                 print this help\n"
    "\n"
    "Exit status: 0 every endpoint online, 1 any endpoint unreachable or\n"
    "offline, 2 usage or input error.\n";

/* ---- rendering
 * ---------------------------------------------------------------- */

static const char *
js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void print_value(FILE *out, json_t *v, const char *indent);

/* A certificate reference: "NAME" (subject), SHA-256 fp. */
static bool
print_certref(FILE *out, json_t *v)
{
	const char *name = js(v, "name"), *subj = js(v, "subject");
	const char *fp = js(v, "sha256");

	if (!json_is_object(v) || fp[0] == '\0' || subj[0] == '\0')
		return false;
	fprintf(out, "\"%s\" (%s), SHA-256 %s", name, subj, fp);
	return true;
}

static void
print_value(FILE *out, json_t *v, const char *indent)
{
	size_t i;
	json_t *e;

	switch (json_typeof(v)) {
	case JSON_STRING: fputs(json_string_value(v), out); break;
	case JSON_INTEGER:
		fprintf(out, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_TRUE: fputs("yes", out); break;
	case JSON_FALSE: fputs("no", out); break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			fputs("(none)", out);
			break;
		}
		json_array_foreach(v, i, e)
		{
			if (json_is_object(e)) {
				fprintf(out, "\n%s  - ", indent);
				print_value(out, e, indent);
			} else {
				if (i > 0)
					fputs(", ", out);
				print_value(out, e, indent);
			}
		}
		break;
	case JSON_OBJECT:
		if (!print_certref(out, v)) {
			const char *k;
			bool first = true;

			json_object_foreach(v, k, e)
			{
				fprintf(out, "%s%s: ", first ? "" : ", ", k);
				print_value(out, e, indent);
				first = false;
			}
		} else if (json_object_get(v, "found_in") != NULL) {
			fprintf(out, " (found in %s)", js(v, "found_in"));
		}
		break;
	default: fputs("-", out);
	}
}

static void
print_diag(FILE *out, json_t *d, bool primary)
{
	const char *sev = js(d, "severity");
	json_t *ev = json_object_get(d, "evidence");
	json_t *rem = json_object_get(d, "remedies");
	enum tool_colour col = strcmp(sev, "error") == 0 ? TC_RED
	    : strcmp(sev, "warning") == 0                ? TC_YELLOW
	                                                 : TC_GREEN;
	const char *k;
	json_t *v;
	size_t i;

	if (primary)
		fprintf(out, "  %s%s%s: %s\n", tool_c(out, col), js(d, "code"),
		    tool_c(out, TC_RESET), js(d, "summary"));
	else
		fprintf(out, "  %s%s %s%s: %s\n", tool_c(out, col), sev,
		    js(d, "code"), tool_c(out, TC_RESET), js(d, "summary"));
	if (json_object_size(ev) > 0 &&
	    (primary || strcmp(sev, "error") == 0)) {
		fprintf(out, "    evidence:\n");
		json_object_foreach(ev, k, v)
		{
			/* A list of certificates goes one per line. */
			fprintf(out, "      %s:%s", k,
			    json_is_object(json_array_get(v, 0)) ? "" : " ");
			print_value(out, v, "      ");
			fputc('\n', out);
		}
	}
	if (json_array_size(rem) > 0 && strcmp(sev, "info") != 0) {
		fprintf(out, "    fix:\n");
		json_array_foreach(rem, i, v)
		{
			/* A warning's first step is enough here; --json has
			 * them all. */
			if (!primary && strcmp(sev, "warning") == 0 && i > 0)
				break;
			{
				const char *t = json_string_value(v);

				/* Numbered alternatives keep their numbers. */
				fprintf(out, "      %s%s\n",
				    t != NULL && t[0] >= '1' && t[0] <= '9' &&
				            t[1] == '.'
				        ? ""
				        : "- ",
				    t != NULL ? t : "");
			}
		}
	}
}

/* The presented chain as `openssl s_client` prints it while verifying: the
 * highest depth first, "verify error:num=N:..." under a failing
 * certificate. */
static void
print_chain(FILE *out, json_t *chain)
{
	size_t n = json_array_size(chain);

	if (n == 0)
		return;
	fprintf(out,
	    "  chain presented by the server (openssl s_client "
	    "style):\n");
	for (size_t i = n; i-- > 0;) {
		json_t *c = json_array_get(chain, i);
		json_t *err = json_object_get(c, "verify_error");

		fprintf(out, "    depth=%lld %s\n",
		    (long long)json_integer_value(json_object_get(c, "depth")),
		    js(c, "subject"));
		if (err != NULL)
			fprintf(out, "    %sverify error:num=%lld:%s%s\n",
			    tool_c(out, TC_RED),
			    (long long)json_integer_value(err),
			    js(c, "verify_error_text"), tool_c(out, TC_RESET));
		fprintf(out,
		    "      %sissuer: %s; valid %.10s to %.10s; "
		    "SHA-256 %s%s\n",
		    tool_c(out, TC_DIM), js(c, "issuer"), js(c, "not_before"),
		    js(c, "not_after"), js(c, "sha256"), tool_c(out, TC_RESET));
	}
}

static void
print_timings(FILE *out, json_t *t)
{
	const char *k;
	json_t *v;
	bool first = true;

	if (json_object_size(t) == 0)
		return;
	fprintf(out, "  timings:");
	json_object_foreach(t, k, v)
	{
		fprintf(out, "%s %s %lld ms", first ? "" : ",", k,
		    (long long)json_integer_value(v));
		first = false;
	}
	fputc('\n', out);
}

static void
render_endpoint(FILE *out, json_t *e, bool first)
{
	const char *status = js(e, "status");
	enum tool_colour col = strcmp(status, "online") == 0 ? TC_GREEN
	    : strcmp(status, "offline") == 0                 ? TC_RED
	                                                     : TC_YELLOW;
	json_t *diag = json_object_get(e, "diagnosis");
	json_t *tls = json_object_get(e, "tls");
	json_t *d;
	size_t k;
	char up[16];

	for (k = 0; status[k] != '\0' && k + 1 < sizeof(up); k++)
		up[k] =
		    (char)(status[k] >= 'a' && status[k] <= 'z' ? status[k] - 32
		                                                : status[k]);
	up[k] = '\0';
	if (!first)
		fputc('\n', out);
	fprintf(out, "%s%s%s", tool_c(out, TC_BOLD), js(e, "endpoint"),
	    tool_c(out, TC_RESET));
	if (js(e, "name")[0] != '\0')
		fprintf(out, " [%s]", js(e, "name"));
	fprintf(out, ": %s%s%s", tool_c(out, col), up, tool_c(out, TC_RESET));
	if (js(e, "address")[0] != '\0')
		fprintf(out, "  (%s%s%s)", js(e, "address"),
		    js(e, "proxy")[0] ? " via proxy " : "", js(e, "proxy"));
	fputc('\n', out);
	json_array_foreach(diag, k, d) print_diag(out, d, k == 0);
	print_chain(out, json_object_get(e, "chain"));
	if (js(tls, "version")[0] != '\0')
		fprintf(out, "  tls: %s, %s%s%s%s\n", js(tls, "version"),
		    js(tls, "cipher"), js(tls, "alpn")[0] ? ", ALPN " : "",
		    js(tls, "alpn"),
		    json_is_true(json_object_get(tls, "ocsp_stapled"))
		        ? ", OCSP stapled"
		        : "");
	print_timings(out, json_object_get(e, "timings_ms"));
}

static int
render_summary(FILE *out, json_t *sum, size_t n)
{
	long long on, un, off;

	on = (long long)json_integer_value(json_object_get(sum, "online"));
	un = (long long)json_integer_value(json_object_get(sum, "unreachable"));
	off = (long long)json_integer_value(json_object_get(sum, "offline"));
	fprintf(out,
	    "\n%sSummary:%s %zu endpoint%s: %s%lld online%s, "
	    "%s%lld unreachable%s, %s%lld offline%s (%.2f s)\n",
	    tool_c(out, TC_BOLD), tool_c(out, TC_RESET), n, n == 1 ? "" : "s",
	    on ? tool_c(out, TC_GREEN) : "", on,
	    on ? tool_c(out, TC_RESET) : "", un ? tool_c(out, TC_YELLOW) : "",
	    un, un ? tool_c(out, TC_RESET) : "", off ? tool_c(out, TC_RED) : "",
	    off, off ? tool_c(out, TC_RESET) : "",
	    (double)json_integer_value(json_object_get(sum, "elapsed_ms")) /
	        1000.0);
	return un == 0 && off == 0 ? TOOL_OK : TOOL_PROBLEM;
}

int
tool_doctor_render(FILE *out, json_t *report)
{
	json_t *eps = json_object_get(report, "endpoints");
	json_t *sum = json_object_get(report, "summary");
	json_t *e;
	size_t i;

	if (!json_is_array(eps) || !json_is_object(sum)) {
		tool_err("internal error: not a doctor report");
		return TOOL_PROBLEM;
	}
	json_array_foreach(eps, i, e) render_endpoint(out, e, i == 0);
	return render_summary(out, sum, json_array_size(eps));
}

/*
 * Renders the library's report as text one endpoint at a time, so the
 * tool's memory does not grow with the endpoint count. The library writes
 * {"endpoints":[\nE1,\nE2\n],"summary":...}; each E is parsed, printed
 * and freed. Returns -1 when the text is not in that shape (the caller
 * then parses it whole).
 */
static int
stream_report(FILE *out, const char *report)
{
	static const char head[] = "{\"endpoints\":[";
	size_t len = strlen(report), off = sizeof(head) - 1, n = 0;
	json_t *tail = NULL;
	char *tailtext = NULL;
	int rv = -1;

	if (strncmp(report, head, off) != 0)
		return -1;
	for (;;) {
		json_error_t err;
		json_t *e;

		while (off < len && (report[off] == '\n' || report[off] == ','))
			off++;
		if (off >= len || report[off] == ']')
			break;
		if ((e = json_loadb(report + off, len - off,
		         JSON_DISABLE_EOF_CHECK, &err)) == NULL)
			goto out;
		off += (size_t)err.position;
		tool_escape_doc(e);
		render_endpoint(out, e, n == 0);
		json_decref(e);
		n++;
	}
	/* "],REST}" -> "{REST}" */
	if (off + 2 > len || report[off] != ']' || report[off + 1] != ',')
		goto out;
	if ((tailtext = strdup(report + off + 1)) == NULL)
		goto out;
	tailtext[0] = '{';
	if ((tail = json_loads(tailtext, 0, NULL)) == NULL)
		goto out;
	tool_escape_doc(tail);
	rv = render_summary(out, json_object_get(tail, "summary"), n);
out:
	json_decref(tail);
	free(tailtext);
	return rv;
}

/* ---- the command
 * -------------------------------------------------------------- */

static void
progress(size_t done, size_t total, void *arg)
{
	(void)arg;
	/* Only worth a line when there are more than a few endpoints. */
	if (total <= 4)
		return;
	fprintf(stderr, "\rcertkit doctor: %zu/%zu endpoints%s", done, total,
	    done == total ? "\r\033[K" : "");
	fflush(stderr);
}

/* `--profile a.ini b.ini` leaves b.ini as an endpoint: an argument that
 * ends in ".ini" (no such top-level domain), or a path with a '/' (never
 * HOST[:PORT]) to an existing file, was meant as a profile. */
static bool
names_file(const char *arg)
{
	size_t n = strlen(arg);
	struct stat st;

	if (n > 4 && strcasecmp(arg + n - 4, ".ini") == 0)
		return true;
	return strchr(arg, '/') != NULL && strstr(arg, "://") == NULL &&
	    stat(arg, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* The options of `certkit doctor`. */
struct doctor_args {
	const char *trust, *ref, *cert, *key;
	const char *pwfile, *at, *dns, *proxy, *policy;
	bool json, pub;
	int timeout_ms, parallel;
};

/* Reads the options; --profile and --resolve go to D as they come. Each
 * step below returns -1 to go on, else the exit code. */
static int
parse_args(
    ck_ctx *ctx, ck_doctor *d, int argc, char **argv, struct doctor_args *a)
{
	enum {
		O_PROFILE = 256,
		O_TRUST,
		O_REF,
		O_RESOLVE,
		O_PROXY,
		O_CERT,
		O_KEY,
		O_PWFILE,
		O_AT,
		O_PUBLIC,
		O_POLICY,
		O_HTTPS,
		O_TIMEOUT,
		O_PARALLEL,
		O_DNS,
		O_JSON,
		O_HELP
	};
	static const struct option opts[] = {
	    {"profile", required_argument, NULL, O_PROFILE},
	    {"trust", required_argument, NULL, O_TRUST},
	    {"reference", required_argument, NULL, O_REF},
	    {"resolve", required_argument, NULL, O_RESOLVE},
	    {"proxy", required_argument, NULL, O_PROXY},
	    {"cert", required_argument, NULL, O_CERT},
	    {"key", required_argument, NULL, O_KEY},
	    {"password-file", required_argument, NULL, O_PWFILE},
	    {"at", required_argument, NULL, O_AT},
	    {"public", no_argument, NULL, O_PUBLIC},
	    {"policy", required_argument, NULL, O_POLICY},
	    {"https", required_argument, NULL, O_HTTPS},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"parallel", required_argument, NULL, O_PARALLEL},
	    {"dns", required_argument, NULL, O_DNS},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE:
			if (!tool_path_arg("--profile", optarg))
				return TOOL_USAGE;
			if (ck_doctor_load_profile(d, optarg) != CK_OK)
				return tool_ctx_fail(ctx);
			break;
		case O_TRUST: a->trust = optarg; break;
		case O_REF: a->ref = optarg; break;
		case O_RESOLVE:
			if (ck_doctor_add_resolve(d, optarg) != CK_OK)
				return tool_ctx_fail(ctx);
			break;
		case O_PROXY: a->proxy = optarg; break;
		case O_CERT: a->cert = optarg; break;
		case O_KEY: a->key = optarg; break;
		case O_PWFILE: a->pwfile = optarg; break;
		case O_AT: a->at = optarg; break;
		case O_PUBLIC: a->pub = true; break;
		case O_POLICY: a->policy = optarg; break;
		case O_HTTPS:
			if (ck_doctor_set_https(d, optarg) != CK_OK)
				return tool_ctx_fail(ctx);
			break;
		case O_TIMEOUT:
			if (!tool_parse_timeout(optarg, &a->timeout_ms))
				return TOOL_USAGE;
			break;
		case O_PARALLEL: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > 1024) {
				tool_err("--parallel '%s': expected a number "
				         "from 1 to 1024",
				    optarg);
				return TOOL_USAGE;
			}
			a->parallel = (int)v;
			break;
		}
		case O_DNS: a->dns = optarg; break;
		case O_JSON: a->json = true; break;
		case 'h':
		case O_HELP: return tool_usage(stdout, usage_text, TOOL_OK);
		default: return tool_usage(stderr, usage_text, TOOL_USAGE);
		}
	}
	return -1;
}

/* The file arguments, and the endpoints. */
static int
add_endpoints(ck_ctx *ctx, ck_doctor *d, int argc, char **argv,
    const struct doctor_args *a)
{
	if (!tool_path_arg("--trust", a->trust) ||
	    !tool_path_arg("--reference", a->ref) ||
	    !tool_path_arg("--cert", a->cert) ||
	    !tool_path_arg("--key", a->key))
		return TOOL_USAGE;
	for (int i = optind; i < argc; i++) {
		if (names_file(argv[i])) {
			tool_err("'%s' looks like a profile, not an endpoint "
			         "(HOST[:PORT]): give each profile with its "
			         "own --profile FILE",
			    argv[i]);
			return TOOL_USAGE;
		}
		if (ck_doctor_add_endpoint(d, argv[i]) != CK_OK)
			return tool_ctx_fail(ctx);
	}
	return -1;
}

/* The settings, on D: the trust store (certkit's own by default), the
 * reference, the proxy, the client identity, DNS, limits. */
static int
configure(ck_ctx *ctx, ck_doctor *d, struct doctor_args *a, char **deftrust)
{
	if (a->at != NULL && !tool_set_time(ctx, a->at))
		return TOOL_USAGE;
	if (a->policy != NULL) {
		ck_policy pol;

		if (ck_policy_parse(ctx, a->policy, &pol) != CK_OK ||
		    ck_doctor_set_policy(d, pol) != CK_OK) {
			tool_err("--policy: %s", ck_ctx_error(ctx));
			return TOOL_USAGE;
		}
	}
	if (!tool_password_setup(ctx, a->pwfile))
		return TOOL_USAGE;
	if (a->trust == NULL) {
		/* certkit's effective store, when `certkit trust` made one. */
		const char *home = tool_home();
		size_t n = strlen(home) + sizeof("/trust/out/ca-bundle.pem");
		struct stat st;

		if ((*deftrust = malloc(n)) == NULL) {
			tool_err("out of memory");
			return TOOL_PROBLEM;
		}
		snprintf(*deftrust, n, "%s/trust/out/ca-bundle.pem", home);
		if (stat(*deftrust, &st) == 0 && S_ISREG(st.st_mode))
			a->trust = *deftrust;
	}
	if ((a->trust != NULL && ck_doctor_set_trust(d, a->trust) != CK_OK) ||
	    (a->ref != NULL && ck_doctor_set_reference(d, a->ref) != CK_OK) ||
	    (a->proxy != NULL && ck_doctor_set_proxy(d, a->proxy) != CK_OK) ||
	    ((a->cert != NULL || a->key != NULL) &&
	        ck_doctor_set_client_identity(d, a->cert, a->key) != CK_OK) ||
	    (a->dns != NULL && ck_doctor_set_dns(d, a->dns) != CK_OK))
		return tool_ctx_fail(ctx);
	ck_doctor_set_public(d, a->pub);
	ck_doctor_set_timeout_ms(d, a->timeout_ms);
	ck_doctor_set_parallel(d, a->parallel);
	if (isatty(STDERR_FILENO) && !tool_g.quiet)
		ck_doctor_set_progress_cb(d, progress, NULL);
	return -1;
}

int
cmd_doctor(int argc, char **argv)
{
	struct doctor_args a = {.timeout_ms = 5000, .parallel = 32};
	ck_ctx *ctx = NULL;
	ck_doctor *d = NULL;
	char *report = NULL, *deftrust = NULL;
	int all_online = 0;
	int rv = TOOL_USAGE;
	json_t *doc = NULL;

	if ((ctx = ck_ctx_new()) == NULL || ck_doctor_new(ctx, &d) != CK_OK) {
		tool_err("out of memory");
		rv = TOOL_PROBLEM;
		goto out;
	}
	if ((rv = parse_args(ctx, d, argc, argv, &a)) >= 0 ||
	    (rv = add_endpoints(ctx, d, argc, argv, &a)) >= 0 ||
	    (rv = configure(ctx, d, &a, &deftrust)) >= 0)
		goto out;
	if (ck_doctor_run(d, &report, &all_online) != CK_OK) {
		rv = tool_ctx_fail(ctx);
		goto out;
	}
	if (a.json) {
		/* The library's text as it is: valid JSON with one endpoint per
		 * line. Re-indenting a thousand endpoints would cost more than
		 * diagnosing them. */
		if (fputs(report, stdout) == EOF || fputc('\n', stdout) == EOF)
			rv = TOOL_PROBLEM;
		else
			rv = all_online ? TOOL_OK : TOOL_PROBLEM;
		goto out;
	}
	if ((rv = stream_report(stdout, report)) >= 0)
		goto out;
	/* Not the streaming shape: render from the whole tree. */
	doc = tool_parse_report(report, true);
	rv = tool_doctor_render(stdout, doc);
out:
	json_decref(doc);
	ck_free(report);
	free(deftrust);
	ck_doctor_free(d);
	ck_ctx_free(ctx);
	return rv;
}
