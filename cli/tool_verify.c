/*
 * tool_verify.c: certkit verify: verifies certificates with OpenSSL's
 * verifier and explains every problem it finds.
 *
 * The library makes one JSON report per certificate (ck_verify); this file
 * parses the options, feeds the files in, and renders the reports as text,
 * or prints them as JSON, so the two outputs never disagree.
 *
 * Which certificates are verified:
 *  - by default, the FIRST certificate of each CERT file is the leaf; the
 *    rest of the file and every --untrusted file are intermediates;
 *  - with --each, every end-entity certificate of each CERT file is a leaf,
 *    verified on its own, and the CA certificates of the file are the
 *    intermediates (a file of CA certificates only: each is verified).
 *    This is the bulk mode: one process for thousands of leaves.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char usage_text[] =
    "usage: certkit verify [OPTIONS] CERT...\n"
    "\n"
    "Verifies the first certificate of each CERT file (the leaf) with\n"
    "OpenSSL's verifier. The rest of the file and the --untrusted files are\n"
    "the intermediates. Every problem found is explained, with what to do.\n"
    "\n"
    "Options:\n"
    "  --roots FILE|DIR    trust the certificates in FILE or DIR "
    "(repeatable).\n"
    "                      Each one is a trust anchor, self-signed or not.\n"
    "                      Default: the system store (SSL_CERT_FILE, "
    "SSL_CERT_DIR)\n"
    "  --untrusted FILE    intermediate certificates to build the chain "
    "(repeatable)\n"
    "  --host NAME         the certificate must be valid for this host name\n"
    "  --ip ADDR           ... for this IP address (IPv4 or IPv6)\n"
    "  --email ADDR        ... for this email address (one of the three only)\n"
    "  --purpose P         server (default), client, or any (no usage check)\n"
    "  --at TIME           verify at this time (RFC 3339), not now\n"
    "  --crl FILE          check revocation with the CRLs in FILE "
    "(repeatable);\n"
    "                      every certificate of the chain then needs its CRL\n"
    "  --max-depth N       allow at most N intermediate certificates (0-100)\n"
    "  --each              verify every end-entity certificate of each CERT "
    "file;\n"
    "                      the file's CA certificates are the intermediates\n"
    "  --policy P          compat (default): OpenSSL's verdict, and warnings\n"
    "                      for what strict refuses; strict: also the RFC 5280\n"
    "                      and CA/B Forum rules Chrome, Go and rustls "
    "enforce,\n"
    "                      and no host name from the CN\n"
    "  -q, --quiet         print only the certificates that are not valid\n"
    "  --password-file F   password for PKCS#12 files (first line of F)\n"
    "  --json              print the report as JSON\n"
    "  --help              print this help\n"
    "\n"
    "Keys and signatures must give 112-bit security (RSA 2048+, no SHA-1).\n"
    "Exit codes: 0 all valid, 1 a certificate is invalid, 2 usage or input "
    "error.\n";

/* parse_opts(): --help was printed; the command exits 0. */
#define HELP_SHOWN (-1)

struct vopts {
	const char **roots, **untrusted, **crls;
	size_t nroots, nuntrusted, ncrls;
	const char *host, *ip, *email, *purpose, *at, *max_depth, *pwfile;
	const char *policy;
	bool json, each, quiet;
};

/* ---- rendering ---------------------------------------------------------- */

static const char *
jget_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void
print_chain(const json_t *chain, const char *indent)
{
	size_t i;
	const json_t *c;

	json_array_foreach(chain, i, c)
	{
		printf("%sdepth=%lld %s%s\n", indent,
		    (long long)json_integer_value(json_object_get(c, "depth")),
		    jget_str(c, "subject"),
		    json_is_true(json_object_get(c, "anchor"))
		        ? " (trust anchor)"
		        : "");
	}
}

/* One finding; a warning (--policy compat: what strict would refuse)
 * says so before its code. */
static void
print_finding(const json_t *f)
{
	bool warn = strcmp(jget_str(f, "severity"), "warning") == 0;
	const json_t *depth = json_object_get(f, "depth");

	printf("  %s%s%s%s", warn ? "warning: " : "", tool_c(stdout, TC_BOLD),
	    jget_str(f, "code"), tool_c(stdout, TC_RESET));
	/* A finding about the whole chain (alternate_path) has no depth. */
	if (json_is_integer(depth))
		printf(" at depth=%lld %s",
		    (long long)json_integer_value(depth),
		    jget_str(f, "subject"));
	printf("\n");
	printf("    %s\n", tool_finding_summary(f));
	printf("    %sFix:%s %s\n", tool_c(stdout, TC_YELLOW),
	    tool_c(stdout, TC_RESET), tool_finding_remedy(f));
}

static void
print_report(const char *label, const json_t *rep, bool quiet)
{
	const json_t *findings = json_object_get(rep, "findings");
	const json_t *chain = json_object_get(rep, "chain");
	const json_t *f;
	size_t i;

	if (json_is_true(json_object_get(rep, "valid"))) {
		if (quiet)
			return;
		printf("%s: %sOK%s\n", tool_esc(label),
		    tool_c(stdout, TC_GREEN), tool_c(stdout, TC_RESET));
		print_chain(chain, "  ");
		json_array_foreach(findings, i, f) print_finding(f);
		return;
	}
	printf("%s: %sINVALID%s\n", tool_esc(label), tool_c(stdout, TC_RED),
	    tool_c(stdout, TC_RESET));
	json_array_foreach(findings, i, f) print_finding(f);
	if (json_array_size(chain) > 0) {
		printf("  chain as built:\n");
		print_chain(chain, "    ");
	}
}

/* ---- one leaf ----------------------------------------------------------- */

struct run {
	ck_ctx *ctx;
	ck_verify_opts *vo;
	const struct vopts *opt;
	/* --json: every report, compact and with "file" first, joined by
	 * commas; indented once at the end (print_results). */
	struct tool_buf results;
	size_t nresults;
	bool single; /* the one report of a single file is printed alone */
	int exit_code;
	bool stop; /* an error that is not about one certificate */
};

static void
worse(struct run *r, int code)
{
	if (code > r->exit_code)
		r->exit_code = code;
}

/* Keeps a report for --json: `compact` is an object, "file" goes first. */
static void
keep_result(struct run *r, const char *label, const char *compact)
{
	json_t *f = tool_json_str(label);
	char *fs = f != NULL ? json_dumps(f, JSON_ENCODE_ANY) : NULL;

	if (fs == NULL || compact[0] != '{' || compact[1] == '}') {
		tool_err("out of memory");
		worse(r, TOOL_PROBLEM);
	} else {
		if (r->nresults++ > 0)
			tool_buf_add(&r->results, ",", 1);
		tool_buf_add(&r->results, "{\"file\":", 8);
		tool_buf_add(&r->results, fs, strlen(fs));
		tool_buf_add(&r->results, ",", 1);
		tool_buf_add(&r->results, compact + 1, strlen(compact + 1));
	}
	free(fs);
	json_decref(f);
}

/* Text for a valid report with no finding, read without parsing it (bulk
 * runs); false when the report is any other (print_report then). */
static bool
print_valid_fast(const char *label, const char *json)
{
	struct tool_chain c;

	if (!tool_read_valid_report(json, &c))
		return false;
	printf("%s: %sOK%s\n", tool_esc(label), tool_c(stdout, TC_GREEN),
	    tool_c(stdout, TC_RESET));
	for (size_t i = 0; i < c.n; i++)
		printf("  depth=%lld %s%s\n", c.e[i].depth,
		    tool_esc(c.e[i].subject),
		    c.e[i].anchor ? " (trust anchor)" : "");
	tool_chain_clear(&c);
	return true;
}

/* Verifies the first certificate of `target`; prints or keeps the report. */
static void
verify_one(struct run *r, const char *file, long index, const ck_bundle *target)
{
	char *json = NULL, label[4200];
	json_t *rep;
	int valid = 0;
	bool quiet = r->opt->quiet || tool_g.quiet;

	if (index > 0)
		snprintf(label, sizeof(label), "%s[%ld]", file, index);
	else
		snprintf(label, sizeof(label), "%s", file);
	if (ck_verify(r->ctx, r->vo, target, &json, &valid) != CK_OK) {
		/* Not a verdict and not about this certificate (no trust
		 * store, out of memory): every other one would fail the same
		 * way, so stop here. */
		worse(r, tool_ctx_fail(r->ctx));
		r->stop = true;
		return;
	}
	worse(r, valid ? TOOL_OK : TOOL_PROBLEM);
	if (r->opt->json) {
		keep_result(r, label, json);
	} else if (valid && quiet) {
		/* Nothing to print. */
	} else if (!valid || !print_valid_fast(label, json)) {
		rep = tool_parse_report(json, true);
		print_report(label, rep, quiet);
		json_decref(rep);
	}
	ck_free(json);
}

/* --each: every end-entity certificate is a leaf of its own; the file's CA
 * certificates go with each of them as intermediates. */
static void
verify_each(struct run *r, const char *file, const ck_bundle *b)
{
	size_t n = ck_bundle_count(b, CK_OBJ_CERT), leaves = 0, ncas = 0;
	bool *is_ca = calloc(n ? n : 1, sizeof(*is_ca));
	ck_bundle *cas = ck_bundle_new();

	if (is_ca == NULL || cas == NULL)
		goto nomem;
	/* Sort the file once: CA certificates are the intermediates. */
	for (size_t i = 0; i < n; i++) {
		is_ca[i] = ck_cert_is_ca(ck_bundle_get0_cert(b, i)) != 0;
		if (is_ca[i]) {
			if (ck_bundle_add_cert(
			        cas, ck_bundle_get0_cert(b, i)) != CK_OK)
				goto nomem;
			ncas++;
		} else {
			leaves++;
		}
	}
	for (size_t i = 0; i < n && !r->stop; i++) {
		ck_bundle *one;
		bool ok;

		if (leaves > 0 && is_ca[i])
			continue;
		if ((one = ck_bundle_new()) == NULL)
			goto nomem;
		ok =
		    ck_bundle_add_cert(one, ck_bundle_get0_cert(b, i)) == CK_OK;
		for (size_t j = 0; ok && leaves > 0 && j < ncas; j++)
			ok = ck_bundle_add_cert(
			         one, ck_bundle_get0_cert(cas, j)) == CK_OK;
		if (ok)
			verify_one(r, file, (long)i + 1, one);
		ck_bundle_free(one);
		if (!ok)
			goto nomem;
	}
	free(is_ca);
	ck_bundle_free(cas);
	return;
nomem:
	tool_err("out of memory");
	worse(r, TOOL_PROBLEM);
	r->stop = true;
	free(is_ca);
	ck_bundle_free(cas);
}

/* ---- options ------------------------------------------------------------ */

static bool
push_arg(const char ***arr, size_t *n, const char *v)
{
	const char **na = realloc(*arr, (*n + 1) * sizeof(**arr));

	if (na == NULL) {
		tool_err("out of memory");
		return false;
	}
	na[(*n)++] = v;
	*arr = na;
	return true;
}

static int
parse_opts(int argc, char **argv, struct vopts *o)
{
	enum {
		O_ROOTS = 256,
		O_UNTRUSTED,
		O_HOST,
		O_IP,
		O_EMAIL,
		O_PURPOSE,
		O_AT,
		O_CRL,
		O_DEPTH,
		O_PW,
		O_JSON,
		O_EACH,
		O_QUIET,
		O_POLICY,
		O_HELP
	};
	static const struct option lo[] = {
	    {"roots", required_argument, NULL, O_ROOTS},
	    {"untrusted", required_argument, NULL, O_UNTRUSTED},
	    {"host", required_argument, NULL, O_HOST},
	    {"ip", required_argument, NULL, O_IP},
	    {"email", required_argument, NULL, O_EMAIL},
	    {"purpose", required_argument, NULL, O_PURPOSE},
	    {"at", required_argument, NULL, O_AT},
	    {"crl", required_argument, NULL, O_CRL},
	    {"max-depth", required_argument, NULL, O_DEPTH},
	    {"password-file", required_argument, NULL, O_PW},
	    {"json", no_argument, NULL, O_JSON},
	    {"each", no_argument, NULL, O_EACH},
	    {"quiet", no_argument, NULL, O_QUIET},
	    {"policy", required_argument, NULL, O_POLICY},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "hq", lo, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case O_ROOTS:
			ok = push_arg(&o->roots, &o->nroots, optarg);
			break;
		case O_UNTRUSTED:
			ok = push_arg(&o->untrusted, &o->nuntrusted, optarg);
			break;
		case O_CRL: ok = push_arg(&o->crls, &o->ncrls, optarg); break;
		case O_HOST: o->host = optarg; break;
		case O_IP: o->ip = optarg; break;
		case O_EMAIL: o->email = optarg; break;
		case O_PURPOSE: o->purpose = optarg; break;
		case O_AT: o->at = optarg; break;
		case O_DEPTH: o->max_depth = optarg; break;
		case O_PW: o->pwfile = optarg; break;
		case O_POLICY: o->policy = optarg; break;
		case O_JSON: o->json = true; break;
		case O_EACH: o->each = true; break;
		case 'q':
		case O_QUIET: o->quiet = true; break;
		case 'h':
		case O_HELP:
			(void)tool_usage(stdout, usage_text, TOOL_OK);
			return HELP_SHOWN;
		default: return tool_usage(stderr, usage_text, TOOL_USAGE);
		}
		if (!ok)
			return TOOL_PROBLEM;
	}
	if (optind >= argc) {
		tool_err("verify: no certificate file given");
		return tool_usage(stderr, usage_text, TOOL_USAGE);
	}
	if ((o->host != NULL) + (o->ip != NULL) + (o->email != NULL) > 1) {
		tool_err("verify: --host, --ip and --email check the same "
		         "thing; give only one of them");
		return TOOL_USAGE;
	}
	return TOOL_OK;
}

/* Everything but the files to verify; returns an exit code. */
static int
configure(ck_ctx *ctx, ck_verify_opts *vo, const struct vopts *o)
{
	if (o->purpose == NULL || strcmp(o->purpose, "server") == 0)
		ck_verify_opts_set_purpose(vo, CK_PURPOSE_SERVER);
	else if (strcmp(o->purpose, "client") == 0)
		ck_verify_opts_set_purpose(vo, CK_PURPOSE_CLIENT);
	else if (strcmp(o->purpose, "any") == 0)
		ck_verify_opts_set_purpose(vo, CK_PURPOSE_ANY);
	else {
		tool_err("--purpose: '%s' is not a purpose; expected server, "
		         "client or any",
		    o->purpose);
		return TOOL_USAGE;
	}
	if (o->max_depth != NULL) {
		char *end = NULL;
		long d = strtol(o->max_depth, &end, 10);

		if (end == o->max_depth || *end != '\0' || d < 0 || d > 100) {
			tool_err("--max-depth: '%s' is not a number from 0 to "
			         "100",
			    o->max_depth);
			return TOOL_USAGE;
		}
		ck_verify_opts_set_max_depth(vo, (int)d);
	}
	if (o->at != NULL && !tool_set_time(ctx, o->at))
		return TOOL_USAGE;
	if (o->policy != NULL) {
		ck_policy pol;

		if (ck_policy_parse(ctx, o->policy, &pol) != CK_OK ||
		    ck_verify_opts_set_policy(vo, pol) != CK_OK) {
			tool_err("--policy: %s", ck_ctx_error(ctx));
			return TOOL_USAGE;
		}
	}
	if (o->host != NULL && ck_verify_opts_set_host(vo, o->host) != CK_OK) {
		tool_err("--host: '%s' is not a host name (letters, digits, "
		         "'-' and '.'; no wildcard)",
		    o->host);
		return TOOL_USAGE;
	}
	if (o->ip != NULL && ck_verify_opts_set_ip(vo, o->ip) != CK_OK) {
		tool_err("--ip: %s", ck_ctx_error(ctx));
		return TOOL_USAGE;
	}
	if (o->email != NULL &&
	    ck_verify_opts_set_email(vo, o->email) != CK_OK) {
		tool_err("--email: '%s' is not an email address (local@domain)",
		    o->email);
		return TOOL_USAGE;
	}
	if (!tool_password_setup(ctx, o->pwfile))
		return TOOL_USAGE;
	for (size_t i = 0; i < o->nroots; i++)
		if (!tool_path_arg("--roots", o->roots[i]))
			return TOOL_USAGE;
	for (size_t i = 0; i < o->nuntrusted; i++)
		if (!tool_path_arg("--untrusted", o->untrusted[i]))
			return TOOL_USAGE;
	for (size_t i = 0; i < o->ncrls; i++)
		if (!tool_path_arg("--crl", o->crls[i]))
			return TOOL_USAGE;
	for (size_t i = 0; i < o->nroots; i++)
		if (ck_verify_opts_add_roots(vo, o->roots[i]) != CK_OK) {
			tool_err("--roots %s", ck_ctx_error(ctx));
			return TOOL_USAGE;
		}
	for (size_t i = 0; i < o->nuntrusted; i++)
		if (ck_verify_opts_add_untrusted(vo, o->untrusted[i]) !=
		    CK_OK) {
			tool_err("--untrusted %s", ck_ctx_error(ctx));
			return TOOL_USAGE;
		}
	for (size_t i = 0; i < o->ncrls; i++)
		if (ck_verify_opts_add_crl(vo, o->crls[i]) != CK_OK) {
			tool_err("--crl %s", ck_ctx_error(ctx));
			return TOOL_USAGE;
		}
	return TOOL_OK;
}

/* A file that could not be read, in --json's results. */
static void
keep_load_error(struct run *r, const char *file)
{
	json_t *e = json_pack("{s:o, s:b, s:s}", "file", tool_json_str(file),
	    "valid", 0, "error", tool_load_error(r->ctx));
	char *s = e != NULL ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER)
	                    : NULL;

	if (s == NULL) {
		tool_err("out of memory");
		worse(r, TOOL_PROBLEM);
	} else {
		if (r->nresults++ > 0)
			tool_buf_add(&r->results, ",", 1);
		tool_buf_add(&r->results, s, strlen(s));
	}
	r->single = false; /* an error is always wrapped */
	free(s);
	json_decref(e);
}

/*
 * --json: the one report of a single file as it is; otherwise
 * {"results": [...], "valid": B}. Indented as tool_print_json() would
 * (tool_json_reindent); parsed and printed by it if that fails.
 */
/* The results wrapped, indented as tool_print_json() would, straight from
 * r->results (no copy of all reports): each at level 2, the commas between
 * them indented as an array's. */
static bool
reindent_wrapped(struct run *r, struct tool_buf *out, const char *valid)
{
	tool_buf_add(out, "{\n  \"results\": [", 16);
	if (r->nresults > 0) {
		tool_buf_add(out, "\n    ", 5);
		if (!tool_json_reindent(out, r->results.s, 2))
			return false;
		tool_buf_add(out, "\n  ", 3);
	}
	tool_buf_add(out, "],\n  \"valid\": ", 14);
	tool_buf_add(out, valid, strlen(valid));
	tool_buf_add(out, "\n}", 2);
	return !out->oom;
}

static int
print_results(struct run *r)
{
	struct tool_buf doc = {0}, out = {0};
	const char *valid = r->exit_code == TOOL_OK ? "true" : "false";
	bool single = r->single && r->nresults == 1;
	json_t *parsed;
	int rc = TOOL_OK;

	if (r->results.oom) {
		rc = TOOL_PROBLEM;
	} else if (single ? tool_json_reindent(&out, r->results.s, 0)
	                  : reindent_wrapped(r, &out, valid)) {
		fputs(out.s, stdout);
		fputc('\n', stdout);
	} else {
		/* Not text reindent takes: jansson parses and prints it. */
		if (!single)
			tool_buf_add(&doc, "{\"results\":[", 12);
		if (r->results.len > 0)
			tool_buf_add(&doc, r->results.s, r->results.len);
		if (!single) {
			tool_buf_add(&doc, "],\"valid\":", 10);
			tool_buf_add(&doc, valid, strlen(valid));
			tool_buf_add(&doc, "}", 1);
		}
		if (!doc.oom && (parsed = json_loads(doc.s, 0, NULL)) != NULL) {
			rc = tool_print_json(parsed);
			json_decref(parsed);
		} else {
			rc = TOOL_PROBLEM;
		}
	}
	tool_buf_free(&doc);
	tool_buf_free(&out);
	return rc;
}

int
cmd_verify(int argc, char **argv)
{
	struct vopts o = {0};
	struct run r = {0};
	int rc, nfiles;

	if ((rc = parse_opts(argc, argv, &o)) != TOOL_OK) {
		rc = rc == HELP_SHOWN ? TOOL_OK : rc;
		goto out;
	}
	nfiles = argc - optind;
	r.single = nfiles == 1 && !o.each;
	if ((r.ctx = ck_ctx_new()) == NULL ||
	    ck_verify_opts_new(r.ctx, &r.vo) != CK_OK) {
		tool_err("out of memory");
		rc = TOOL_PROBLEM;
		goto out;
	}
	if ((rc = configure(r.ctx, r.vo, &o)) != TOOL_OK)
		goto out;
	r.opt = &o;
	for (int i = optind; i < argc && !r.stop; i++) {
		ck_bundle *b = NULL;

		if (tool_load(r.ctx, argv[i], CK_OBJ_CERT, &b) != CK_OK) {
			tool_err("%s", tool_load_error(r.ctx));
			worse(&r, TOOL_USAGE);
			if (o.json)
				keep_load_error(&r, argv[i]);
			continue;
		}
		if (o.each)
			verify_each(&r, argv[i], b);
		else
			verify_one(&r, argv[i], 0, b);
		ck_bundle_free(b);
	}
	if (o.json && !r.stop && print_results(&r) != TOOL_OK)
		worse(&r, TOOL_PROBLEM);
	rc = r.exit_code;
out:
	tool_buf_free(&r.results);
	ck_verify_opts_free(r.vo);
	ck_ctx_free(r.ctx);
	free(o.roots);
	free(o.untrusted);
	free(o.crls);
	return rc;
}
