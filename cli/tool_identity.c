/*
 * tool_identity.c: certkit identity: the device's own certificate.
 *
 * Every subcommand is a thin layer over certkit/identity.h: it sets the
 * options, calls the library, and renders the JSON report as text (or
 * prints it with --json). Exit codes:
 *   0  ok: nothing needed doing, or the change was made and self-tested
 *   1  a problem a human must handle: status found one, ensure found a
 *      CA-issued certificate expiring or not covering the device, a change
 *      was rolled back, another certkit holds the lock
 *   2  usage or input error: bad options, unreadable or refused input
 *      (install's error findings, or warnings without
 *      --insecure-accept-warnings)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certkit/identity.h"
#include "tool.h"

static const char USAGE[] =
    "usage: certkit identity COMMAND [OPTIONS]\n"
    "\n"
    "Manages this device's own TLS certificate under HOME/identity/:\n"
    "current/ holds cert.pem, key.pem, chain.pem, fullchain.pem, bundle.pem\n"
    "(key + full chain) and identity.p12; point your servers there.\n"
    "\n"
    "Commands:\n"
    "  status [--json]                       what the identity is, whether it\n"
    "                                        still fits this device\n"
    "  init [--name DNS]... [--ip ADDR]... [--key TYPE] [--days N] [--force]\n"
    "                                        create the self-signed default\n"
    "  ensure [--renew-before DAYS]          create or renew the default when\n"
    "                                        needed (run it at service start)\n"
    "  csr --out FILE [--name DNS]... [--ip ADDR]... [--subject DN]\n"
    "      [--key TYPE]                      new key (kept pending) and CSR\n"
    "  install --cert FILE [--key FILE] [--chain FILE]\n"
    "          [--insecure-accept-warnings] [--policy P]\n"
    "  install --p12 FILE [--password-file FILE] "
    "[--insecure-accept-warnings]\n"
    "                                        validate, install, self-test,\n"
    "                                        run on_change, roll back on "
    "failure\n"
    "  backups [--json]                      list the backups, newest first\n"
    "  restore BACKUP-ID [--insecure-accept-warnings]\n"
    "                                        make a backup current again\n"
    "  reset [--name DNS]... [--ip ADDR]... [--key TYPE] [--days N]\n"
    "                                        replace it with a fresh default\n"
    "  export --format pem|der|p12 --out PATH [--with-key]\n"
    "         [--password-file FILE]        copy the identity elsewhere\n"
    "\n"
    "Options:\n"
    "  --name DNS, --ip ADDR  names for the SAN (replace [identity] "
    "names/ips;\n"
    "                         detected names and addresses are still added)\n"
    "  --key TYPE             ec-p256 (default), rsa-2048 or rsa-3072\n"
    "  --days N               lifetime of a new default (default 397)\n"
    "  --renew-before DAYS    renewal window (default: a third of the life)\n"
    "  --force                init: replace an existing identity\n"
    "  --insecure-accept-warnings\n"
    "                         install, restore: accept warnings (never "
    "errors)\n"
    "  --policy P             install, restore: compat (default) or strict:\n"
    "                         verify the chain as verify --policy does\n"
    "  --at TIME              act as if it were TIME (RFC 3339), for tests\n"
    "  --json                 print the report as JSON\n"
    "\n"
    "Configuration: HOME/certkit.conf, section [identity] (names, ips, key,\n"
    "days, renew_before, on_change, on_change_timeout, keep_backups,\n"
    "p12_password_file, detect_names, detect_ips). CERTKIT_HOSTNAME and\n"
    "CERTKIT_IPS (comma lists) replace name and address detection.\n"
    "\n"
    "Exit codes: 0 ok, 1 problem found (or rolled back), 2 usage or input "
    "error.\n";

enum {
	O_NAME = 1,
	O_IP,
	O_KEY,
	O_DAYS,
	O_RENEW,
	O_FORCE,
	O_INSECURE,
	O_AT,
	O_JSON,
	O_SUBJECT,
	O_OUT,
	O_CERT,
	O_CHAIN,
	O_P12,
	O_PWFILE,
	O_FORMAT,
	O_WITHKEY,
	O_POLICY,
	O_HELP,
};

struct opts {
	const char *sub;
	const char *key_type, *subject, *out, *cert, *keyfile, *chain, *p12,
	    *pwfile, *format, *at, *arg, *policy;
	long days, renew;
	bool force, insecure, json, with_key;
	const char *names[64], *ips[64];
	size_t nnames, nips;
};

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static bool
parse_long(const char *opt, const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
		tool_err("%s: expected a whole number from %ld to %ld, found "
		         "'%s'",
		    opt, min, max, v);
		return false;
	}
	*out = n;
	return true;
}

/* Which options each subcommand takes. */
static bool
allowed(const char *sub, int o)
{
	static const struct {
		const char *sub;
		int opts[12];
	} t[] = {
	    {"status", {O_JSON, O_AT}},
	    {"init", {O_NAME, O_IP, O_KEY, O_DAYS, O_FORCE, O_JSON, O_AT}},
	    {"reset", {O_NAME, O_IP, O_KEY, O_DAYS, O_JSON, O_AT}},
	    {"ensure", {O_RENEW, O_JSON, O_AT}},
	    {"csr", {O_NAME, O_IP, O_SUBJECT, O_KEY, O_OUT, O_JSON, O_AT}},
	    {"install",
	        {O_CERT, O_KEY, O_CHAIN, O_P12, O_PWFILE, O_INSECURE, O_JSON,
	            O_AT, O_POLICY}},
	    {"backups", {O_JSON}},
	    {"restore", {O_INSECURE, O_JSON, O_AT, O_POLICY}},
	    {"export", {O_FORMAT, O_OUT, O_WITHKEY, O_PWFILE}},
	};

	if (o == O_HELP)
		return true;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].sub, sub) == 0)
			for (size_t j = 0; j < 12 && t[i].opts[j]; j++)
				if (t[i].opts[j] == o)
					return true;
	return false;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"name", required_argument, NULL, O_NAME},
	    {"ip", required_argument, NULL, O_IP},
	    {"key", required_argument, NULL, O_KEY},
	    {"days", required_argument, NULL, O_DAYS},
	    {"renew-before", required_argument, NULL, O_RENEW},
	    {"force", no_argument, NULL, O_FORCE},
	    {"insecure-accept-warnings", no_argument, NULL, O_INSECURE},
	    {"at", required_argument, NULL, O_AT},
	    {"json", no_argument, NULL, O_JSON},
	    {"subject", required_argument, NULL, O_SUBJECT},
	    {"out", required_argument, NULL, O_OUT},
	    {"cert", required_argument, NULL, O_CERT},
	    {"chain", required_argument, NULL, O_CHAIN},
	    {"p12", required_argument, NULL, O_P12},
	    {"password-file", required_argument, NULL, O_PWFILE},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"with-key", no_argument, NULL, O_WITHKEY},
	    {"policy", required_argument, NULL, O_POLICY},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c, idx;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", lo, &idx)) != -1) {
		if (c == 'h')
			c = O_HELP;
		if (c == '?' || c == ':') {
			tool_err("identity %s: unknown option or missing "
			         "value: %s",
			    o->sub, argv[optind - 1]);
			return TOOL_USAGE;
		}
		if (!allowed(o->sub, c)) {
			tool_err("identity %s does not take --%s; see certkit "
			         "identity --help",
			    o->sub, lo[idx].name);
			return TOOL_USAGE;
		}
		switch (c) {
		case O_HELP: return tool_usage(stdout, USAGE, -1);
		case O_NAME:
			if (o->nnames == 64) {
				tool_err("--name: at most 64");
				return TOOL_USAGE;
			}
			o->names[o->nnames++] = optarg;
			break;
		case O_IP:
			if (o->nips == 64) {
				tool_err("--ip: at most 64");
				return TOOL_USAGE;
			}
			o->ips[o->nips++] = optarg;
			break;
		case O_KEY:
			/* install --key is a file; elsewhere a key type. */
			if (strcmp(o->sub, "install") == 0)
				o->keyfile = optarg;
			else
				o->key_type = optarg;
			break;
		case O_DAYS:
			if (!parse_long("--days", optarg, 1, 825, &o->days))
				return TOOL_USAGE;
			break;
		case O_RENEW:
			if (!parse_long(
			        "--renew-before", optarg, 0, 824, &o->renew))
				return TOOL_USAGE;
			break;
		case O_FORCE: o->force = true; break;
		case O_INSECURE: o->insecure = true; break;
		case O_AT: o->at = optarg; break;
		case O_JSON: o->json = true; break;
		case O_SUBJECT: o->subject = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_CERT: o->cert = optarg; break;
		case O_CHAIN: o->chain = optarg; break;
		case O_P12: o->p12 = optarg; break;
		case O_PWFILE: o->pwfile = optarg; break;
		case O_FORMAT: o->format = optarg; break;
		case O_WITHKEY: o->with_key = true; break;
		case O_POLICY: o->policy = optarg; break;
		}
	}
	if (!tool_path_arg("--out", o->out) ||
	    !tool_path_arg("--cert", o->cert) ||
	    !tool_path_arg("--key", o->keyfile) ||
	    !tool_path_arg("--chain", o->chain) ||
	    !tool_path_arg("--p12", o->p12))
		return TOOL_USAGE;
	if (strcmp(o->sub, "restore") == 0) {
		if (optind != argc - 1) {
			tool_err("identity restore: expected one BACKUP-ID "
			         "(certkit identity backups lists them)");
			return TOOL_USAGE;
		}
		o->arg = argv[optind];
	} else if (optind != argc) {
		tool_err("identity %s: unexpected argument '%s'", o->sub,
		    argv[optind]);
		return TOOL_USAGE;
	}
	return TOOL_OK;
}

/* ---- rendering ---------------------------------------------------------- */

static void
print_names(json_t *names)
{
	json_t *v;
	size_t i, n = 0;

	json_array_foreach(json_object_get(names, "dns"), i, v)
	    printf("%s%s", n++ ? ", " : "", json_string_value(v));
	json_array_foreach(json_object_get(names, "ip"), i, v)
	    printf("%s%s", n++ ? ", " : "", json_string_value(v));
	if (n == 0)
		printf("(none)");
	printf("\n");
}

static const char *
kind_text(const char *kind)
{
	if (strcmp(kind, "self-signed-default") == 0)
		return "self-signed default (made by certkit)";
	if (strcmp(kind, "ca-issued") == 0)
		return "CA-issued";
	if (strcmp(kind, "self-signed") == 0)
		return "self-signed (installed)";
	return kind;
}

static void
print_identity(json_t *idn, long long now)
{
	char phrase[96];
	int64_t nb = 0, na = 0;
	ck_ctx *ctx = ck_ctx_new();

	if (ctx != NULL) {
		if (ck_parse_time(ctx, str(idn, "not_before"), &nb) != CK_OK ||
		    ck_parse_time(ctx, str(idn, "not_after"), &na) != CK_OK)
			nb = na = 0;
		ck_ctx_free(ctx);
	}
	tool_validity_phrase(phrase, sizeof(phrase), nb, na, now);
	printf("  Kind:      %s\n", kind_text(str(idn, "kind")));
	printf("  Subject:   %s\n", str(idn, "subject"));
	if (strcmp(str(idn, "subject"), str(idn, "issuer")) != 0)
		printf("  Issuer:    %s\n", str(idn, "issuer"));
	printf("  Names:     ");
	print_names(json_object_get(idn, "names"));
	printf("  Key:       %s\n", str(idn, "key"));
	printf("  Valid:     %s to %s (%s)\n", str(idn, "not_before"),
	    str(idn, "not_after"), phrase);
	if (strcmp(str(idn, "kind"), "self-signed-default") == 0)
		printf("  Renews:    after %s (certkit identity ensure)\n",
		    str(idn, "renew_after"));
	printf("  SHA-256:   %s\n", str(idn, "sha256"));
}

static void
print_problems(json_t *arr, const char *title)
{
	json_t *p;
	size_t i;

	if (json_array_size(arr) == 0)
		return;
	printf("%s:\n", title);
	json_array_foreach(arr, i, p)
	{
		const char *sev = str(p, "severity");
		enum tool_colour c = strcmp(sev, "error") == 0 ? TC_RED
		    : strcmp(sev, "warning") == 0              ? TC_YELLOW
		                                               : TC_DIM;

		printf("  %s%-7s%s %s: %s\n", tool_c(stdout, c), sev,
		    tool_c(stdout, TC_RESET), str(p, "code"),
		    tool_finding_summary(p));
	}
}

static long long
now_of(ck_ctx *ctx)
{
	return ck_ctx_time(ctx) != 0 ? (long long)ck_ctx_time(ctx)
	                             : (long long)time(NULL);
}

static int
render_status(json_t *doc, ck_ctx *ctx)
{
	json_t *cov = json_object_get(doc, "coverage");
	json_t *ch = json_object_get(doc, "chain");
	json_t *p;
	size_t i;

	printf("Identity in %s\n", str(doc, "directory"));
	if (json_is_true(json_object_get(doc, "present"))) {
		print_identity(json_object_get(doc, "identity"), now_of(ctx));
		if (cov != NULL) {
			printf("  Covers:    ");
			if (json_is_true(json_object_get(cov, "complete"))) {
				printf("every name and address of this "
				       "device\n");
			} else {
				printf("%sNOT%s ", tool_c(stdout, TC_RED),
				    tool_c(stdout, TC_RESET));
				json_array_foreach(
				    json_object_get(cov, "missing"), i, p)
				    printf("%s%s %s (%s)", i ? ", " : "",
				        str(p, "type")[0] == 'i' ? "address"
				                                 : "name",
				        str(p, "name"), str(p, "source"));
				printf("\n");
			}
		}
		if (ch != NULL) {
			printf("  Chain:     ");
			if (json_is_true(json_object_get(ch, "self_signed")))
				printf("self-signed: clients must trust this "
				       "certificate itself\n");
			else if (json_is_true(json_object_get(ch, "complete")))
				printf("complete: %lld intermediate%s, root "
				       "%s\n",
				    json_integer_value(
				        json_object_get(ch, "intermediates")),
				    json_integer_value(json_object_get(
				        ch, "intermediates")) == 1
				        ? ""
				        : "s",
				    str(ch, "root"));
			else
				printf("INCOMPLETE: %lld intermediate%s, no "
				       "known root\n",
				    json_integer_value(
				        json_object_get(ch, "intermediates")),
				    json_integer_value(json_object_get(
				        ch, "intermediates")) == 1
				        ? ""
				        : "s");
		}
		printf("  Files:     %s/current/{cert,key,chain,fullchain,"
		       "bundle}.pem, identity.p12\n",
		    str(doc, "directory"));
		printf("  Version:   %s (%lld backup%s, %lld pending CSR "
		       "key%s)\n",
		    str(doc, "version"),
		    json_integer_value(json_object_get(doc, "backups")),
		    json_integer_value(json_object_get(doc, "backups")) == 1
		        ? ""
		        : "s",
		    json_integer_value(
		        json_object_get(doc, "pending_csr_keys")),
		    json_integer_value(
		        json_object_get(doc, "pending_csr_keys")) == 1
		        ? ""
		        : "s");
	}
	print_problems(json_object_get(doc, "problems"), "Problems");
	return json_is_true(json_object_get(doc, "ok")) ? TOOL_OK
	                                                : TOOL_PROBLEM;
}

/* The common end of every change: what happened, self-test, on_change. */
static int
render_change(json_t *doc, ck_ctx *ctx)
{
	json_t *st = json_object_get(doc, "selftest");
	json_t *hook = json_object_get(doc, "on_change");
	json_t *idn = json_object_get(doc, "identity");
	bool changed = json_is_true(json_object_get(doc, "changed"));
	bool rolled = json_is_true(json_object_get(doc, "rolled_back"));

	if (json_is_object(st)) {
		if (json_is_true(json_object_get(st, "ok")))
			printf("self-test: passed (%s, %s)\n",
			    str(st, "protocol"), str(st, "cipher"));
		else
			printf("self-test: %sFAILED%s: %s\n",
			    tool_c(stdout, TC_RED), tool_c(stdout, TC_RESET),
			    str(st, "error"));
	}
	if (json_is_object(hook)) {
		const char *out = str(hook, "output");

		printf("on_change: `%s` %s\n", str(hook, "command"),
		    json_is_true(json_object_get(hook, "ok"))
		        ? "succeeded"
		        : str(hook, "error"));
		if (out[0] != '\0' &&
		    !json_is_true(json_object_get(hook, "ok")))
			printf("  its output:\n%s%s", out,
			    out[strlen(out) - 1] == '\n' ? "" : "\n");
	}
	if (rolled) {
		json_t *again =
		    json_object_get(doc, "on_change_after_rollback");

		if (json_is_object(again))
			printf("on_change after the rollback: `%s` %s\n",
			    str(again, "command"),
			    json_is_true(json_object_get(again, "ok"))
			        ? "succeeded"
			        : str(again, "error"));
		tool_err(
		    "%sROLLED BACK%s: %s; `current` points at the "
		    "previous version %s again; the new version was removed",
		    tool_c(stderr, TC_RED), tool_c(stderr, TC_RESET),
		    str(doc, "rollback_reason"),
		    json_is_string(json_object_get(doc, "previous"))
		        ? str(doc, "previous")
		        : "(none: there is no identity now)");
		return TOOL_PROBLEM;
	}
	if (!changed)
		return TOOL_OK;
	printf("new version: %s\n", str(doc, "version"));
	if (json_is_string(json_object_get(doc, "backup")))
		printf("backup of the previous one: %s (certkit identity "
		       "restore %s)\n",
		    str(doc, "backup"), str(doc, "backup"));
	if (json_array_size(json_object_get(doc, "pruned")) > 0)
		printf("pruned %zu old backup%s\n",
		    json_array_size(json_object_get(doc, "pruned")),
		    json_array_size(json_object_get(doc, "pruned")) == 1 ? ""
		                                                         : "s");
	if (idn != NULL)
		print_identity(idn, now_of(ctx));
	return TOOL_OK;
}

static int
render_ensure(json_t *doc, ck_ctx *ctx)
{
	json_t *reasons = json_object_get(doc, "reasons");
	json_t *att = json_object_get(doc, "attention");
	json_t *idn = json_object_get(doc, "identity");
	json_t *v;
	size_t i;
	int rc;

	if (json_array_size(reasons) > 0) {
		printf("renewing the default: ");
		json_array_foreach(reasons, i, v)
		    printf("%s%s", i ? "; " : "", json_string_value(v));
		printf("\n");
		rc = render_change(doc, ctx);
	} else {
		if (!tool_g.quiet && idn != NULL)
			printf("identity OK: %s for %s, expires %s; nothing "
			       "to do\n",
			    kind_text(str(idn, "kind")), str(idn, "subject"),
			    str(idn, "not_after"));
		rc = TOOL_OK;
	}
	json_array_foreach(att, i, v) tool_warn("%s", tool_finding_summary(v));
	if (json_array_size(att) > 0 && rc == TOOL_OK)
		rc = TOOL_PROBLEM;
	return rc;
}

static int
render_backups(json_t *doc)
{
	json_t *arr = json_object_get(doc, "backups"), *b;
	size_t i;

	if (json_array_size(arr) == 0) {
		printf("no backups in %s/backups (keeping up to %lld)\n",
		    str(doc, "directory"),
		    json_integer_value(json_object_get(doc, "keep")));
		return TOOL_OK;
	}
	printf("%-34s %-20s %-20s %-20s %s\n", "ID", "BACKED UP", "KIND",
	    "EXPIRES", "SUBJECT");
	json_array_foreach(arr, i, b) printf("%-34s %-20s %-20s %-20s %s\n",
	    str(b, "id"), str(b, "backed_up"), str(b, "kind"),
	    str(b, "not_after"),
	    json_is_string(json_object_get(b, "error")) ? str(b, "error")
	                                                : str(b, "subject"));
	return TOOL_OK;
}

static int
render_csr(json_t *doc)
{
	printf("wrote the CSR to %s\n", str(doc, "out"));
	printf("  Subject:   %s\n", str(doc, "subject"));
	printf("  Names:     ");
	print_names(json_object_get(doc, "names"));
	printf("  Key:       %s, kept in %s until certkit identity install\n",
	    str(doc, "key"), str(doc, "pending_key"));
	printf("Send the CSR to your CA, then: certkit identity install "
	       "--cert SIGNED.pem [--chain CA-CHAIN.pem]\n");
	return TOOL_OK;
}

/* ---- the command -------------------------------------------------------- */

static int
finish(struct opts *o, ck_ctx *ctx, ck_status st, char *json)
{
	json_t *doc;
	int rc = TOOL_OK;

	if (json == NULL)
		return tool_ctx_fail(ctx);
	doc = tool_parse_report(json, !o->json);
	ck_free(json);
	if (o->json) {
		tool_print_json(doc);
	} else if (strcmp(o->sub, "status") == 0) {
		rc = render_status(doc, ctx);
	} else if (strcmp(o->sub, "ensure") == 0) {
		rc = render_ensure(doc, ctx);
	} else if (strcmp(o->sub, "backups") == 0) {
		rc = render_backups(doc);
	} else if (strcmp(o->sub, "csr") == 0) {
		rc = render_csr(doc);
	} else {
		if (json_array_size(json_object_get(doc, "findings")) > 0)
			print_problems(
			    json_object_get(doc, "findings"), "Checks");
		if (st == CK_OK)
			rc = render_change(doc, ctx);
	}
	if (o->json) {
		if (strcmp(o->sub, "status") == 0 &&
		    !json_is_true(json_object_get(doc, "ok")))
			rc = TOOL_PROBLEM;
		if (json_is_true(json_object_get(doc, "rolled_back")) ||
		    json_array_size(json_object_get(doc, "attention")) > 0)
			rc = TOOL_PROBLEM;
	}
	if (st == CK_E_REFUSED) {
		tool_err("%s", ck_ctx_error(ctx));
		rc = TOOL_USAGE;
	}
	json_decref(doc);
	return rc;
}

/* identity install: --cert (with --key and --chain) or --p12. Returns -1
 * with *st set, else the exit code. */
static int
run_install(const struct opts *o, ck_ctx *ctx, ck_identity *id, char **json,
    ck_status *st)
{
	if ((o->cert == NULL) == (o->p12 == NULL)) {
		tool_err("identity install: give either --cert FILE "
		         "(with --key and --chain as needed) or --p12 FILE");
		return TOOL_USAGE;
	}
	if (o->p12 != NULL && (o->keyfile != NULL || o->chain != NULL)) {
		tool_err("identity install: --p12 carries the key and "
		         "chain itself; --key and --chain go with --cert");
		return TOOL_USAGE;
	}
	if (!tool_password_setup(ctx, o->pwfile))
		return TOOL_USAGE;
	*st = ck_identity_install(
	    id, o->cert != NULL ? o->cert : o->p12, o->keyfile, o->chain, json);
	return -1;
}

/* identity export: writes the file and says so. Returns the exit code. */
static int
run_export(const struct opts *o, ck_ctx *ctx, ck_identity *id)
{
	ck_format fmt;

	if (o->format == NULL || o->out == NULL) {
		tool_err("identity export: --format pem|der|p12 and "
		         "--out PATH are required");
		return TOOL_USAGE;
	}
	if (strcmp(o->format, "pem") == 0) {
		fmt = CK_FMT_PEM;
	} else if (strcmp(o->format, "der") == 0) {
		fmt = CK_FMT_DER;
	} else if (strcmp(o->format, "p12") == 0 ||
	    strcmp(o->format, "pfx") == 0) {
		fmt = CK_FMT_P12;
	} else {
		tool_err("identity export: --format '%s': expected "
		         "pem, der or p12",
		    o->format);
		return TOOL_USAGE;
	}
	/* The PKCS#12 password: --password-file or
	 * CERTKIT_PASSWORD, else the configured one. */
	if ((o->pwfile != NULL || getenv("CERTKIT_PASSWORD") != NULL) &&
	    !tool_password_setup(ctx, o->pwfile))
		return TOOL_USAGE;
	if (ck_identity_export(id, fmt, o->with_key, o->out) != CK_OK)
		return tool_ctx_fail(ctx);
	if (!tool_g.quiet)
		printf("wrote %s (%s%s)\n", tool_esc(o->out), o->format,
		    fmt == CK_FMT_P12 || o->with_key
		        ? ", with the private key, mode 0600"
		        : "");
	return TOOL_OK;
}

int
cmd_identity(int argc, char **argv)
{
	struct opts o;
	ck_ctx *ctx = NULL;
	ck_identity *id = NULL;
	char *json = NULL;
	ck_status st = CK_OK;
	int rc;

	memset(&o, 0, sizeof(o));
	o.days = -1;
	o.renew = -1;
	if (argc < 2) {
		tool_usage(stderr, USAGE, TOOL_USAGE);
		return TOOL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return tool_usage(stdout, USAGE, TOOL_OK);
	o.sub = argv[1];
	{
		static const char *const subs[] = {"status", "init", "ensure",
		    "csr", "install", "backups", "restore", "reset", "export"};
		bool known = false;

		for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
			known = known || strcmp(o.sub, subs[i]) == 0;
		if (!known) {
			tool_err("'%s' is not an identity command; run "
			         "certkit identity --help",
			    o.sub);
			return TOOL_USAGE;
		}
	}
	if ((rc = parse(argc - 1, argv + 1, &o)) != TOOL_OK)
		return rc == -1 ? TOOL_OK : rc;
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	if (o.at != NULL && !tool_set_time(ctx, o.at)) {
		rc = TOOL_USAGE;
		goto out;
	}
	if (ck_identity_new(ctx, tool_home(), &id) != CK_OK) {
		rc = tool_ctx_fail(ctx);
		goto out;
	}
	if (ck_identity_recovered(id) != NULL)
		tool_warn("%s", ck_identity_recovered(id));
	for (size_t i = 0; i < o.nnames; i++)
		if (ck_identity_add_name(id, o.names[i]) != CK_OK)
			goto usage;
	for (size_t i = 0; i < o.nips; i++)
		if (ck_identity_add_ip(id, o.ips[i]) != CK_OK)
			goto usage;
	if ((o.key_type != NULL &&
	        ck_identity_set_key_type(id, o.key_type) != CK_OK) ||
	    (o.days > 0 && ck_identity_set_days(id, (int)o.days) != CK_OK) ||
	    (o.renew >= 0 &&
	        ck_identity_set_renew_before(id, (int)o.renew) != CK_OK))
		goto usage;
	if (o.policy != NULL) {
		ck_policy pol;

		if (ck_policy_parse(ctx, o.policy, &pol) != CK_OK ||
		    ck_identity_set_policy(id, pol) != CK_OK) {
			tool_err("--policy: %s", ck_ctx_error(ctx));
			rc = TOOL_USAGE;
			goto out;
		}
	}
	ck_identity_set_replace(id, o.force);
	ck_identity_set_insecure_accept_warnings(id, o.insecure);
	if (o.insecure)
		tool_warn("--insecure-accept-warnings: warnings of the checks "
		          "do not stop the %s",
		    o.sub);

	if (strcmp(o.sub, "status") == 0) {
		st = ck_identity_status(id, &json);
	} else if (strcmp(o.sub, "init") == 0) {
		st = ck_identity_init(id, &json);
	} else if (strcmp(o.sub, "reset") == 0) {
		st = ck_identity_reset(id, &json);
	} else if (strcmp(o.sub, "ensure") == 0) {
		st = ck_identity_ensure(id, &json);
	} else if (strcmp(o.sub, "csr") == 0) {
		if (o.out == NULL) {
			tool_err("identity csr: --out FILE is required");
			rc = TOOL_USAGE;
			goto out;
		}
		st = ck_identity_csr(id, o.subject, o.out, &json);
	} else if (strcmp(o.sub, "install") == 0) {
		if ((rc = run_install(&o, ctx, id, &json, &st)) >= 0)
			goto out;
	} else if (strcmp(o.sub, "backups") == 0) {
		st = ck_identity_backups(id, &json);
	} else if (strcmp(o.sub, "restore") == 0) {
		st = ck_identity_restore(id, o.arg, &json);
	} else {
		rc = run_export(&o, ctx, id);
		goto out;
	}
	if (st != CK_OK && st != CK_E_REFUSED) {
		rc = tool_ctx_fail(ctx);
		if (st == CK_E_LOCKED)
			rc = TOOL_PROBLEM;
		ck_free(json);
		goto out;
	}
	rc = finish(&o, ctx, st, json);
	goto out;
usage:
	tool_err("%s", ck_ctx_error(ctx));
	rc = TOOL_USAGE;
out:
	ck_identity_free(id);
	ck_ctx_free(ctx);
	return rc;
}
