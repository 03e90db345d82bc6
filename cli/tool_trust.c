/*
 * tool_trust.c: `certkit trust`: the device's layered trust store.
 *
 * Every subcommand renders the JSON report the library returns (--json
 * prints it as is), so text and JSON never disagree. See certkit-trust(1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "certkit/fetch.h"
#include "certkit/trust.h"

static const char usage_main[] =
    "usage: certkit trust list [--json] [--source "
    "effective|system|custom|distrusted]\n"
    "       certkit trust add [--alias NAME] [--insecure-any-cert] FILE...\n"
    "       certkit trust add --from HOST[:PORT] [--depth N] [--yes]\n"
    "       certkit trust add --reference NAME|FINGERPRINT\n"
    "       certkit trust remove ALIAS|FINGERPRINT\n"
    "       certkit trust distrust FINGERPRINT|ALIAS|--expired [--reason "
    "TEXT]\n"
    "       certkit trust distrust --undo FINGERPRINT|ALIAS\n"
    "       certkit trust audit [--require NAME|FINGERPRINT]... [--profile "
    "FILE] [--json]\n"
    "       certkit trust export --format pem|dir|p12 --out PATH "
    "[--password-file F]\n"
    "       certkit trust rebuild [--password-file F | --default-password]\n"
    "\n"
    "The effective store is the system roots ($SSL_CERT_FILE, else\n"
    "/etc/ssl/certs/ca-certificates.crt) plus the custom anchors, minus the\n"
    "distrusted certificates. Every change rebuilds the three outputs under\n"
    "HOME/trust/out: ca-bundle.pem, certs/ (hashed directory) and\n"
    "truststore.p12 (Java; password \"changeit\" unless set).\n"
    "\n"
    "Run 'certkit trust SUBCOMMAND --help' for each subcommand's options.\n"
    "Exit codes: 0 ok, 1 problem found, 2 usage or input error.\n";

static const char usage_list[] =
    "usage: certkit trust list [--json] [--source "
    "effective|system|custom|distrusted]\n"
    "                          [--at TIME]\n"
    "  --source S   which layer to list (default: effective)\n"
    "  --at TIME    judge validity at TIME (RFC 3339) instead of now\n"
    "  --json       print the report as JSON\n";

static const char usage_add[] =
    "usage: certkit trust add [--alias NAME] [--insecure-any-cert] "
    "[--password-file F] "
    "FILE...\n"
    "       certkit trust add --from HOST[:PORT] [--depth N] [--yes] "
    "[--timeout SEC]\n"
    "       certkit trust add --reference NAME|FINGERPRINT [--reference-file "
    "FILE]\n"
    "  --alias NAME        name of the anchor (more certificates: NAME-2, "
    "...);\n"
    "                      default: from the common name\n"
    "  --insecure-any-cert accept a non-CA certificate (a pinned leaf), or "
    "one\n"
    "                      that is expired or not yet valid\n"
    "  --password-file F   password of an encrypted PKCS#12 FILE\n"
    "  --from ENDPOINT     fetch the chain the server presents (not verified)\n"
    "                      and add its topmost CA certificate\n"
    "  --depth N           add the certificate at depth N instead (0 = leaf)\n"
    "  --yes               do not ask for confirmation (required without a "
    "tty)\n"
    "  --timeout SEC       connection timeout for --from (default 10)\n"
    "  --reference Q       add the root of the embedded reference set "
    "(Mozilla,\n"
    "                      from Debian) whose name or SHA-256 matches Q\n"
    "  --reference-file F  search F instead of the embedded reference set\n"
    "  --at TIME           judge validity at TIME (RFC 3339) instead of now\n"
    "  --json              print the report as JSON\n";

static const char usage_remove[] =
    "usage: certkit trust remove [--json] ALIAS|FINGERPRINT\n"
    "  Removes a custom anchor. System roots cannot be removed: distrust "
    "them.\n";

static const char usage_distrust[] =
    "usage: certkit trust distrust [--reason TEXT] [--json] FINGERPRINT|ALIAS\n"
    "       certkit trust distrust --expired [--reason TEXT] [--at TIME]\n"
    "       certkit trust distrust --undo FINGERPRINT|ALIAS\n"
    "  FINGERPRINT   a certificate's SHA-256, or spki:HEX to distrust every\n"
    "                certificate of one key (hex, any case, colons allowed)\n"
    "  --expired     distrust every expired certificate of the store\n"
    "  --reason TEXT recorded with the entry\n"
    "  --undo        remove a distrust entry\n";

static const char usage_audit[] =
    "usage: certkit trust audit [--require NAME|FINGERPRINT]... [--profile "
    "FILE]\n"
    "                           [--at TIME] [--json]\n"
    "  --require Q    a root that must be present and valid (repeatable)\n"
    "  --profile F    a doctor profile: every section's required_roots\n"
    "  --at TIME      audit as of TIME (RFC 3339) instead of now\n"
    "  Exit status 1 when there is any finding.\n";

static const char usage_export[] =
    "usage: certkit trust export --format pem|dir|p12 --out PATH "
    "[--password-file F]\n"
    "  pem   a PEM bundle        dir   an OpenSSL hashed directory (new or "
    "empty)\n"
    "  p12   a Java/PKCS#12 truststore (password from F, default "
    "\"changeit\")\n";

static const char usage_rebuild[] =
    "usage: certkit trust rebuild [--password-file F | --default-password] "
    "[--json]\n"
    "  --password-file F    set the truststore.p12 password (kept, mode 0600,\n"
    "                       in HOME/trust/truststore.password) and rebuild\n"
    "  --default-password   go back to \"changeit\" and rebuild\n";

/* REFUSED is a refused input ("not a CA"), hence a usage/input error. */
static int
fail(const ck_ctx *ctx)
{
	int rc = tool_ctx_fail(ctx);

	return ck_ctx_status(ctx) == CK_E_REFUSED ? TOOL_USAGE : rc;
}

/* A store call failed: the message and the exit code, the store closed. */
static int
fail_store(const ck_ctx *ctx, ck_trust *t)
{
	int rc = fail(ctx);

	ck_trust_free(t);
	return rc;
}

/* Wipes and frees a password read from --password-file. */
static void
free_password(char *pw)
{
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
}

static ck_status
open_store(ck_ctx *ctx, ck_trust **t)
{
	const char *lt = getenv("CERTKIT_LOCK_TIMEOUT");
	ck_status st;

	if ((st = ck_trust_new(ctx, tool_home(), t)) != CK_OK)
		return st;
	if (lt != NULL && lt[0] != '\0') {
		char *end;
		double sec = strtod(lt, &end);

		if (*end == '\0' && sec >= 0 && sec <= 3600)
			ck_trust_set_lock_timeout_ms(*t, (int)(sec * 1000));
		else
			tool_warn(
			    "CERTKIT_LOCK_TIMEOUT='%s' is not a number of "
			    "seconds (0 to 3600); using 10",
			    lt);
	}
	return CK_OK;
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void
validity(ck_ctx *ctx, const json_t *c, char *out, size_t size)
{
	int64_t nb = 0, na = 0;
	int64_t now = ck_ctx_time(ctx) ? ck_ctx_time(ctx) : (int64_t)time(NULL);

	if (ck_parse_time(ctx, jstr(c, "not_before"), &nb) != CK_OK ||
	    ck_parse_time(ctx, jstr(c, "not_after"), &na) != CK_OK) {
		snprintf(out, size, "?");
		return;
	}
	tool_validity_phrase(out, size, nb, na, now);
}

/* "custom  zscaler-root  Zscaler Root CA  expires in 3000 days  SHA" */
static void
print_cert(ck_ctx *ctx, const json_t *c)
{
	const json_t *src = json_object_get(c, "source");
	char v[64];
	bool custom = false;
	size_t i;
	json_t *s;

	json_array_foreach(src, i, s) custom |=
	    strcmp(json_string_value(s), "custom") == 0;
	validity(ctx, c, v, sizeof(v));
	printf("%-7s %s%s%s%s  %s%s%s  %s\n", custom ? "custom" : "system",
	    tool_c(stdout, TC_BOLD), jstr(c, "label"), tool_c(stdout, TC_RESET),
	    custom ? "" : "",
	    strncmp(v, "expires", 7) == 0 ? "" : tool_c(stdout, TC_RED), v,
	    tool_c(stdout, TC_RESET), jstr(c, "sha256"));
	if (custom)
		printf("        alias %s%s\n", jstr(c, "alias"),
		    json_is_true(json_object_get(c, "is_ca"))
		        ? ""
		        : "  (not a CA: pinned leaf)");
	if (json_object_get(c, "distrusted") != NULL)
		printf("        DISTRUSTED: %s\n",
		    jstr(json_object_get(c, "distrusted"), "reason"));
}

static void
print_rebuild(const json_t *r)
{
	if (r == NULL || json_object_size(r) == 0)
		return;
	printf("Rebuilt the outputs: %lld certificates (%lld system, %lld "
	       "custom; %lld distrusted left out) in %.1f ms\n",
	    (long long)json_integer_value(json_object_get(r, "count")),
	    (long long)json_integer_value(json_object_get(r, "system")),
	    (long long)json_integer_value(json_object_get(r, "custom")),
	    (long long)json_integer_value(
	        json_object_get(r, "distrusted_excluded")),
	    json_real_value(json_object_get(r, "elapsed_ms")));
	printf("  %s\n  %s/\n  %s\n",
	    jstr(json_object_get(r, "outputs"), "bundle"),
	    jstr(json_object_get(r, "outputs"), "certs"),
	    jstr(json_object_get(r, "outputs"), "p12"));
	if (json_is_true(json_object_get(r, "system_bundle_missing")))
		tool_warn("no system bundle at %s: the store holds the custom "
		          "anchors only",
		    jstr(r, "system_bundle"));
}

/* A change killed before it finished was rolled back by this command. */
static void
note_recovered(const json_t *doc)
{
	const char *r = json_string_value(json_object_get(doc, "recovered"));

	if (r != NULL)
		tool_warn("%s", r);
}

/* Prints a change report (add/remove/distrust) and frees it. */
static int
print_change(ck_ctx *ctx, char *json, bool as_json)
{
	json_t *doc = tool_parse_report(json, !as_json), *a, *o;
	size_t i;
	int rc = TOOL_OK;

	ck_free(json);
	note_recovered(doc);
	if (as_json) {
		rc = tool_print_json(doc);
		json_decref(doc);
		return rc;
	}
	json_array_foreach(json_object_get(doc, "added"), i, o)
	{
		char v[64];

		validity(ctx, o, v, sizeof(v));
		printf("Added anchor '%s': %s (%s)\n  SHA-256 %s\n",
		    jstr(o, "alias"), jstr(o, "label"), v, jstr(o, "sha256"));
		if (json_is_true(json_object_get(o, "also_system")))
			printf("  (it is also a system root; as an anchor it "
			       "stays "
			       "trusted if the system bundle drops it)\n");
	}
	json_array_foreach(json_object_get(doc, "removed"), i, o)
	    printf("Removed anchor '%s': %s\n  SHA-256 %s\n", jstr(o, "alias"),
	        jstr(o, "label"), jstr(o, "sha256"));
	json_array_foreach(json_object_get(doc, "distrusted"), i, o)
	    printf("Distrusted %s%s: %s\n  reason: %s\n",
	        strcmp(jstr(o, "by"), "spki") == 0 ? "every certificate of "
	                                             "key spki:"
	                                           : "",
	        jstr(o, "value"),
	        jstr(o, "subject")[0] ? jstr(o, "subject")
	                              : "(no such certificate present now)",
	        jstr(o, "reason")[0] ? jstr(o, "reason") : "-");
	json_array_foreach(json_object_get(doc, "undistrusted"), i, o)
	    printf("No longer distrusted: %s %s\n", jstr(o, "value"),
	        jstr(o, "subject"));
	json_array_foreach(json_object_get(doc, "unchanged"), i, o)
	{
		if (jstr(o, "alias")[0])
			printf("Unchanged: %s is already the anchor '%s' "
			       "(SHA-256 %s); nothing to do\n",
			    jstr(o, "label"), jstr(o, "alias"),
			    jstr(o, "sha256"));
		else
			printf("Unchanged: %s %s is %s; nothing to do\n",
			    jstr(o, "by"), jstr(o, "value"), jstr(o, "why"));
	}
	json_array_foreach(json_object_get(doc, "warnings"), i, o)
	    tool_warn("'%s': %s", jstr(o, "alias"), jstr(o, "message"));
	a = json_object_get(doc, "matches_now");
	if (json_is_false(a))
		tool_warn("no certificate in the store matches it now; it will "
		          "be kept out if one ever appears");
	if (strcmp(jstr(doc, "action"), "distrust") == 0 &&
	    json_array_size(json_object_get(doc, "distrusted")) == 0 &&
	    json_array_size(json_object_get(doc, "unchanged")) == 0)
		printf("Nothing to distrust: no certificate of the store has "
		       "expired\n");
	print_rebuild(json_object_get(doc, "rebuild"));
	json_decref(doc);
	return rc;
}

/* ---- list --------------------------------------------------------------- */

static int
do_list(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"source", required_argument, NULL, 's'},
	    {"at", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	ck_trust_source src = CK_TRUST_EFFECTIVE;
	ck_trust *t = NULL;
	char *json = NULL;
	bool as_json = false;
	json_t *doc, *o;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = true; break;
		case 'a':
			if (!tool_set_time(ctx, optarg))
				return TOOL_USAGE;
			break;
		case 's':
			if (strcmp(optarg, "effective") == 0)
				src = CK_TRUST_EFFECTIVE;
			else if (strcmp(optarg, "system") == 0)
				src = CK_TRUST_SYSTEM;
			else if (strcmp(optarg, "custom") == 0)
				src = CK_TRUST_CUSTOM;
			else if (strcmp(optarg, "distrusted") == 0)
				src = CK_TRUST_DISTRUSTED;
			else {
				tool_err("--source '%s': expected effective, "
				         "system, custom or distrusted",
				    optarg);
				return TOOL_USAGE;
			}
			break;
		case 'h': return tool_usage(stdout, usage_list, TOOL_OK);
		default: return tool_usage(stderr, usage_list, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err("trust list: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_list, TOOL_USAGE);
	}
	if (open_store(ctx, &t) != CK_OK ||
	    ck_trust_list(t, src, &json) != CK_OK) {
		return fail_store(ctx, t);
	}
	ck_trust_free(t);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	note_recovered(doc);
	if (as_json) {
		rc = tool_print_json(doc);
		json_decref(doc);
		return rc;
	}
	printf("%s%s trust store%s: %lld %s (system bundle %s%s)\n",
	    tool_c(stdout, TC_BOLD),
	    src == CK_TRUST_EFFECTIVE    ? "Effective"
	        : src == CK_TRUST_SYSTEM ? "System layer of the"
	        : src == CK_TRUST_CUSTOM ? "Custom anchors of the"
	                                 : "Distrust entries of "
	                                   "the",
	    tool_c(stdout, TC_RESET),
	    (long long)json_integer_value(json_object_get(doc, "count")),
	    src == CK_TRUST_DISTRUSTED ? "entries" : "certificates",
	    jstr(doc, "system_bundle"),
	    json_is_true(json_object_get(doc, "system_bundle_missing"))
	        ? ", missing"
	        : "");
	json_array_foreach(json_object_get(doc, "certificates"), i, o)
	    print_cert(ctx, o);
	json_array_foreach(json_object_get(doc, "entries"), i, o) printf(
	    "%s-%s\n        %s\n        reason: %s (%s)%s\n", jstr(o, "by"),
	    jstr(o, "value"),
	    jstr(o, "subject")[0] ? jstr(o, "subject") : "(subject unknown)",
	    jstr(o, "reason")[0] ? jstr(o, "reason") : "-",
	    jstr(o, "date")[0] ? jstr(o, "date") : "no date",
	    json_is_true(json_object_get(o, "present"))
	        ? "\n        present in the system bundle or anchors: kept out"
	        : "");
	json_decref(doc);
	return TOOL_OK;
}

/* ---- add ---------------------------------------------------------------- */

static bool
confirm(const char *question)
{
	char line[32];

	printf("%s [y/N] ", question);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* Fetches the chain, shows it, picks the certificate to add. */
static int
from_endpoint(ck_ctx *ctx, const char *spec, long depth, int timeout_ms,
    bool yes, ck_bundle **out)
{
	char host[CK_HOST_MAX], port[6], q[600];
	ck_bundle *chain = NULL, *pick = NULL;
	size_t n, sel = 0;
	int rc = TOOL_OK;

	*out = NULL;
	/* The library's endpoint parser, the one the doctor uses. */
	if (ck_endpoint_split(ctx, spec, host, sizeof(host), port) != CK_OK) {
		tool_err("--from '%s': expected HOST[:PORT], [IPv6]:PORT or "
		         "https://HOST[:PORT]",
		    spec);
		return TOOL_USAGE;
	}
	if (ck_fetch_chain(ctx, host, port, NULL, timeout_ms, &chain) != CK_OK)
		return fail(ctx);
	n = ck_bundle_count(chain, CK_OBJ_CERT);
	printf("%s:%s presented %zu certificate%s (fetched, NOT verified: "
	       "check the fingerprint with the owner of the CA):\n",
	    host, port, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		ck_cert *c = ck_bundle_get0_cert(chain, i);
		char *s = ck_cert_subject(c), *is = ck_cert_issuer(c), fp[65];

		ck_cert_sha256(c, fp);
		printf("  depth %zu  %s%s\n           issuer: %s\n           "
		       "SHA-256 %s\n",
		    i, s ? s : "?", ck_cert_is_ca(c) ? "  [CA]" : "",
		    is ? is : "?", fp);
		if (ck_cert_is_ca(c))
			sel = i;
		free(s);
		free(is);
	}
	if (depth >= 0) {
		if ((size_t)depth >= n) {
			tool_err(
			    "--depth %ld: the server sent only depths 0 to "
			    "%zu",
			    depth, n - 1);
			rc = TOOL_USAGE;
			goto out;
		}
		sel = (size_t)depth;
	} else if (!ck_cert_is_ca(ck_bundle_get0_cert(chain, sel))) {
		sel = n - 1; /* no CA at all: the add explains */
	}
	{
		char *s = ck_cert_subject(ck_bundle_get0_cert(chain, sel));

		printf("Selected depth %zu: %s%s\n", sel, s ? s : "?",
		    depth < 0 ? " (the topmost CA; --depth N picks another)"
		              : "");
		snprintf(q, sizeof(q),
		    "Trust \"%s\" for every service on this "
		    "device?",
		    s ? s : "?");
		free(s);
	}
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			tool_err(
			    "not adding without confirmation: stdin is not a "
			    "terminal. Check the SHA-256 above with the CA's "
			    "owner, then run again with --yes");
			rc = TOOL_USAGE;
			goto out;
		}
		if (!confirm(q)) {
			printf("Not added.\n");
			rc = TOOL_PROBLEM;
			goto out;
		}
	}
	if ((pick = ck_bundle_new()) == NULL ||
	    ck_bundle_add_cert(pick, ck_bundle_get0_cert(chain, sel)) !=
	        CK_OK) {
		tool_err("out of memory");
		rc = TOOL_PROBLEM;
		goto out;
	}
	*out = pick;
	pick = NULL;
out:
	ck_bundle_free(pick);
	ck_bundle_free(chain);
	return rc;
}

/* trust add --reference NAME: that certificate of the reference set. */
static int
add_reference(ck_ctx *ctx, const char *reffile, const char *ref, ck_bundle **in)
{
	ck_cert *rc_cert = NULL;

	if (ck_reference_get(ctx, reffile, ref, &rc_cert) != CK_OK)
		return fail(ctx);
	if ((*in = ck_bundle_new()) == NULL ||
	    ck_bundle_add_cert(*in, rc_cert) != CK_OK) {
		ck_cert_free(rc_cert);
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	ck_cert_free(rc_cert);
	return TOOL_OK;
}

/* trust add FILE...: the certificates of every file, in order. */
static int
add_files(
    ck_ctx *ctx, int argc, char **argv, const char *pwfile, ck_bundle **in)
{
	if (!tool_password_setup(ctx, pwfile))
		return TOOL_USAGE;
	if ((*in = ck_bundle_new()) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	for (int i = optind; i < argc; i++) {
		ck_bundle *b = NULL;

		if (tool_load(ctx, argv[i], CK_OBJ_CERT, &b) != CK_OK) {
			tool_err("%s", tool_load_error(ctx));
			return TOOL_USAGE;
		}
		if (ck_bundle_merge(*in, b) != CK_OK) {
			ck_bundle_free(b);
			tool_err("out of memory");
			return TOOL_PROBLEM;
		}
		ck_bundle_free(b);
	}
	return TOOL_OK;
}

static int
do_add(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"alias", required_argument, NULL, 'n'},
	    {"insecure-any-cert", no_argument, NULL, 'f'},
	    {"from", required_argument, NULL, 'F'},
	    {"depth", required_argument, NULL, 'd'},
	    {"yes", no_argument, NULL, 'y'},
	    {"timeout", required_argument, NULL, 't'},
	    {"reference", required_argument, NULL, 'r'},
	    {"reference-file", required_argument, NULL, 'R'},
	    {"password-file", required_argument, NULL, 'p'},
	    {"at", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *alias = NULL, *from = NULL, *ref = NULL, *reffile = NULL;
	const char *pwfile = NULL;
	long depth = -1;
	int timeout_ms = 10000;
	bool yes = false, as_json = false;
	unsigned int flags = 0;
	ck_bundle *in = NULL;
	ck_trust *t = NULL;
	char *json = NULL, *end;
	int c, rc = TOOL_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': alias = optarg; break;
		case 'f':
			flags |= CK_TRUST_INSECURE_ANY_CERT;
			tool_warn("--insecure-any-cert: the checks that an "
			          "anchor is a CA and valid are off");
			break;
		case 'F': from = optarg; break;
		case 'y': yes = true; break;
		case 'r': ref = optarg; break;
		case 'R':
			if (!tool_path_arg("--reference-file", optarg))
				return TOOL_USAGE;
			reffile = optarg;
			break;
		case 'p': pwfile = optarg; break;
		case 'j': as_json = true; break;
		case 'a':
			if (!tool_set_time(ctx, optarg))
				return TOOL_USAGE;
			break;
		case 'd':
			errno = 0;
			depth = strtol(optarg, &end, 10);
			if (errno || *end || depth < 0 || depth > 32) {
				tool_err(
				    "--depth '%s': expected 0 to 32", optarg);
				return TOOL_USAGE;
			}
			break;
		case 't':
			if (!tool_parse_timeout(optarg, &timeout_ms))
				return TOOL_USAGE;
			break;
		case 'h': return tool_usage(stdout, usage_add, TOOL_OK);
		default: return tool_usage(stderr, usage_add, TOOL_USAGE);
		}
	}
	if ((from != NULL) + (ref != NULL) + (optind < argc) != 1) {
		tool_err("trust add: give FILE..., or --from ENDPOINT, or "
		         "--reference NAME (exactly one of them)");
		return tool_usage(stderr, usage_add, TOOL_USAGE);
	}
	if ((depth >= 0 || yes) && from == NULL) {
		tool_err("--depth and --yes go with --from");
		return TOOL_USAGE;
	}
	if (reffile != NULL && ref == NULL) {
		tool_err("--reference-file goes with --reference");
		return TOOL_USAGE;
	}
	if (from != NULL) {
		if ((rc = from_endpoint(
		         ctx, from, depth, timeout_ms, yes, &in)) != TOOL_OK)
			return rc;
	} else if (ref != NULL) {
		if ((rc = add_reference(ctx, reffile, ref, &in)) != TOOL_OK)
			goto out;
	} else if ((rc = add_files(ctx, argc, argv, pwfile, &in)) != TOOL_OK) {
		goto out;
	}
	if (open_store(ctx, &t) != CK_OK ||
	    ck_trust_add(t, in, alias, flags, &json) != CK_OK) {
		rc = fail(ctx);
		goto out;
	}
	rc = print_change(ctx, json, as_json);
out:
	ck_trust_free(t);
	ck_bundle_free(in);
	return rc;
}

/* ---- remove, distrust --------------------------------------------------- */

static int
do_remove(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool as_json = false;
	ck_trust *t = NULL;
	char *json = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = true; break;
		case 'h': return tool_usage(stdout, usage_remove, TOOL_OK);
		default: return tool_usage(stderr, usage_remove, TOOL_USAGE);
		}
	}
	if (argc - optind != 1) {
		tool_err("trust remove: expected one ALIAS or FINGERPRINT");
		return tool_usage(stderr, usage_remove, TOOL_USAGE);
	}
	if (open_store(ctx, &t) != CK_OK ||
	    ck_trust_remove(t, argv[optind], &json) != CK_OK) {
		return fail_store(ctx, t);
	}
	ck_trust_free(t);
	return print_change(ctx, json, as_json);
}

static int
do_distrust(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"expired", no_argument, NULL, 'e'},
	    {"undo", no_argument, NULL, 'u'},
	    {"at", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *reason = NULL;
	bool expired = false, undo = false, as_json = false;
	ck_trust *t = NULL;
	char *json = NULL;
	ck_status st;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': reason = optarg; break;
		case 'e': expired = true; break;
		case 'u': undo = true; break;
		case 'j': as_json = true; break;
		case 'a':
			if (!tool_set_time(ctx, optarg))
				return TOOL_USAGE;
			break;
		case 'h': return tool_usage(stdout, usage_distrust, TOOL_OK);
		default: return tool_usage(stderr, usage_distrust, TOOL_USAGE);
		}
	}
	if (expired + undo > 1 || argc - optind != (expired ? 0 : 1)) {
		tool_err(
		    "trust distrust: expected one FINGERPRINT or ALIAS, or "
		    "--expired alone");
		return tool_usage(stderr, usage_distrust, TOOL_USAGE);
	}
	if (undo && reason != NULL) {
		tool_err("--reason does not go with --undo");
		return TOOL_USAGE;
	}
	if (open_store(ctx, &t) != CK_OK) {
		return fail_store(ctx, t);
	}
	if (expired)
		st = ck_trust_distrust_expired(t, reason, &json);
	else if (undo)
		st = ck_trust_undistrust(t, argv[optind], &json);
	else
		st = ck_trust_distrust(t, argv[optind], reason, &json);
	ck_trust_free(t);
	if (st != CK_OK)
		return fail(ctx);
	return print_change(ctx, json, as_json);
}

/* ---- audit -------------------------------------------------------------- */

static int
do_audit(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"require", required_argument, NULL, 'r'},
	    {"profile", required_argument, NULL, 'p'},
	    {"at", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char **req = NULL, *profile = NULL;
	size_t nreq = 0;
	bool as_json = false;
	ck_trust *t = NULL;
	char *json = NULL;
	json_t *doc, *o;
	size_t i;
	int c, rc, clean = 0;

	if ((req = calloc((size_t)argc, sizeof(*req))) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': req[nreq++] = optarg; break;
		case 'p':
			if (!tool_path_arg("--profile", optarg)) {
				free(req);
				return TOOL_USAGE;
			}
			profile = optarg;
			break;
		case 'j': as_json = true; break;
		case 'a':
			if (!tool_set_time(ctx, optarg)) {
				free(req);
				return TOOL_USAGE;
			}
			break;
		case 'h':
			free(req);
			return tool_usage(stdout, usage_audit, TOOL_OK);
		default:
			free(req);
			return tool_usage(stderr, usage_audit, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err("trust audit: unexpected argument '%s'", argv[optind]);
		free(req);
		return tool_usage(stderr, usage_audit, TOOL_USAGE);
	}
	if (open_store(ctx, &t) != CK_OK ||
	    ck_trust_audit(t, req, nreq, profile, &json, &clean) != CK_OK) {
		free(req);
		return fail_store(ctx, t);
	}
	ck_trust_free(t);
	free(req);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json) {
		rc = tool_print_json(doc);
		json_decref(doc);
		return rc != TOOL_OK ? rc : clean ? TOOL_OK : TOOL_PROBLEM;
	}
	printf("%sTrust store audit%s: %s at %s\n", tool_c(stdout, TC_BOLD),
	    tool_c(stdout, TC_RESET), jstr(doc, "store"), jstr(doc, "at"));
	o = json_object_get(doc, "counts");
	printf("  %lld effective certificates (system bundle %s), %lld custom "
	       "anchors, %lld distrust entries\n",
	    (long long)json_integer_value(json_object_get(o, "effective")),
	    jstr(doc, "system_bundle"),
	    (long long)json_integer_value(json_object_get(o, "custom")),
	    (long long)json_integer_value(
	        json_object_get(o, "distrust_entries")));
	json_array_foreach(json_object_get(doc, "required"), i, o) printf(
	    "  required root \"%s\": %s%s%s\n", jstr(o, "query"),
	    strcmp(jstr(o, "status"), "present") == 0 ? "present: " : "MISSING",
	    jstr(o, "label"),
	    strcmp(jstr(o, "status"), "present") == 0 ||
	            strcmp(jstr(o, "status"), "missing") == 0
	        ? ""
	        : strcmp(jstr(o, "status"), "distrusted") == 0
	        ? " (distrusted)"
	        : " (present but not valid)");
	json_array_foreach(json_object_get(doc, "findings"), i, o)
	{
		bool err = strcmp(jstr(o, "severity"), "error") == 0;

		printf("\n%s%-7s%s %s%s%s\n",
		    tool_c(stdout, err ? TC_RED : TC_YELLOW),
		    jstr(o, "severity"), tool_c(stdout, TC_RESET),
		    jstr(o, "code"), jstr(o, "label")[0] ? ": " : "",
		    jstr(o, "label"));
		if (jstr(o, "sha256")[0])
			printf("        %s%s%s SHA-256 %s\n", jstr(o, "source"),
			    jstr(o, "alias")[0] ? " anchor " : " root",
			    jstr(o, "alias"), jstr(o, "sha256"));
		printf("        %s\n", tool_finding_summary(o));
		if (tool_finding_remedy(o)[0])
			printf("        fix: %s\n", tool_finding_remedy(o));
	}
	o = json_object_get(doc, "summary");
	printf("\n%s: %lld error%s, %lld warning%s\n",
	    clean ? "Clean" : "Result",
	    (long long)json_integer_value(json_object_get(o, "errors")),
	    json_integer_value(json_object_get(o, "errors")) == 1 ? "" : "s",
	    (long long)json_integer_value(json_object_get(o, "warnings")),
	    json_integer_value(json_object_get(o, "warnings")) == 1 ? "" : "s");
	json_decref(doc);
	return clean ? TOOL_OK : TOOL_PROBLEM;
}

/* ---- export, rebuild ---------------------------------------------------- */

static int
do_export(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"out", required_argument, NULL, 'o'},
	    {"password-file", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *fmt = NULL, *out = NULL, *pwfile = NULL;
	char *pw = NULL;
	ck_trust *t = NULL;
	ck_status st;
	int c, rc = TOOL_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'o': out = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'h': return tool_usage(stdout, usage_export, TOOL_OK);
		default: return tool_usage(stderr, usage_export, TOOL_USAGE);
		}
	}
	if (fmt == NULL || out == NULL || optind != argc) {
		tool_err("trust export: --format and --out are required");
		return tool_usage(stderr, usage_export, TOOL_USAGE);
	}
	if (!tool_path_arg("--out", out))
		return TOOL_USAGE;
	if (strcmp(fmt, "pem") != 0 && strcmp(fmt, "dir") != 0 &&
	    strcmp(fmt, "p12") != 0) {
		tool_err("--format '%s': expected pem, dir or p12", fmt);
		return TOOL_USAGE;
	}
	if (pwfile != NULL && strcmp(fmt, "p12") != 0) {
		tool_err("--password-file goes with --format p12");
		return TOOL_USAGE;
	}
	if (pwfile != NULL && (pw = tool_read_password_file(pwfile)) == NULL)
		return TOOL_USAGE;
	if (open_store(ctx, &t) != CK_OK) {
		rc = fail(ctx);
		goto out;
	}
	if (strcmp(fmt, "dir") == 0)
		st = ck_trust_export_dir(t, out);
	else
		st = ck_trust_export(t,
		    strcmp(fmt, "pem") == 0 ? CK_FMT_PEM : CK_FMT_P12, out, pw);
	if (st != CK_OK) {
		rc = fail(ctx);
		goto out;
	}
	printf("Exported the effective store to %s (%s%s)\n", tool_esc(out),
	    fmt,
	    strcmp(fmt, "p12") == 0 && pw == NULL ? ", password \"changeit\""
	                                          : "");
out:
	free_password(pw);
	ck_trust_free(t);
	return rc;
}

static int
do_rebuild(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"password-file", required_argument, NULL, 'p'},
	    {"default-password", no_argument, NULL, 'D'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *pwfile = NULL;
	bool dflt = false, as_json = false;
	ck_trust *t = NULL;
	char *json = NULL, *pw = NULL;
	json_t *doc;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pwfile = optarg; break;
		case 'D': dflt = true; break;
		case 'j': as_json = true; break;
		case 'h': return tool_usage(stdout, usage_rebuild, TOOL_OK);
		default: return tool_usage(stderr, usage_rebuild, TOOL_USAGE);
		}
	}
	if (optind != argc || (pwfile != NULL && dflt)) {
		tool_err("trust rebuild: takes no argument, and one of "
		         "--password-file or --default-password");
		return tool_usage(stderr, usage_rebuild, TOOL_USAGE);
	}
	if (pwfile != NULL && (pw = tool_read_password_file(pwfile)) == NULL)
		return TOOL_USAGE;
	if (ck_write_password_check(ctx, CK_FMT_P12, pw) != CK_OK) {
		tool_err("%s: %s, or --default-password for \"changeit\"",
		    pwfile, ck_ctx_error(ctx));
		free(pw);
		return TOOL_USAGE;
	}
	if (open_store(ctx, &t) != CK_OK ||
	    ((pw != NULL || dflt) &&
	        ck_trust_set_truststore_password(t, pw) != CK_OK) ||
	    ck_trust_rebuild(t, &json) != CK_OK) {
		rc = fail(ctx);
		goto out;
	}
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	note_recovered(doc);
	if (as_json) {
		rc = tool_print_json(doc);
	} else {
		print_rebuild(doc);
		rc = TOOL_OK;
	}
	json_decref(doc);
out:
	free_password(pw);
	ck_trust_free(t);
	return rc;
}

int
cmd_trust(int argc, char **argv)
{
	static const struct tool_sub subs[] = {
	    {"list", do_list},
	    {"add", do_add},
	    {"remove", do_remove},
	    {"distrust", do_distrust},
	    {"audit", do_audit},
	    {"export", do_export},
	    {"rebuild", do_rebuild},
	};

	return tool_subcommands("trust", usage_main, subs,
	    sizeof(subs) / sizeof(subs[0]), argc, argv);
}
