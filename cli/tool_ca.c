/*
 * tool_ca.c: `certkit ca`: the primary's issuing CA under HOME/ca (init,
 * show, crl). `certkit serve` signs enrolled clients' certificates with it.
 * See certkit-ca(1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"
#include "certkit/ca.h"
#include "certkit/registry.h"

static const char usage_main[] =
    "usage: certkit ca init [--name TEXT] [--key ec-p256|rsa-3072]\n"
    "                       [--root-out FILE] [--json]\n"
    "       certkit ca show [--json]\n"
    "       certkit ca crl [--out FILE]\n"
    "\n"
    "init   make the issuing CA in HOME/ca: a root and an issuing CA signed\n"
    "       by it, keys mode 0600. --root-out FILE writes the root's key to\n"
    "       a new FILE (mode 0600) and keeps only the issuing key: store\n"
    "       FILE offline. Never replaces an existing CA.\n"
    "show   the CA's certificates, key type and files\n"
    "crl    a CRL of the revoked certificates, signed by the CA: DER into\n"
    "       FILE (replaced atomically), or PEM on standard output\n"
    "Exit codes: 0 ok, 1 problem found, 2 usage or input error.\n";

/*
 * The revoked certificates `ca crl` lists: those the registry of
 * `certkit serve` marks revoked (certkit clients revoke). Without a
 * registry (no server yet) the list is empty, which still makes a valid
 * signed CRL. *list is freed with ck_free().
 */
static ck_status
revoked_list(ck_ctx *ctx, const char *home, ck_ca_revoked **list, size_t *n)
{
	ck_registry *reg = NULL;
	ck_status rv;

	*list = NULL;
	*n = 0;
	rv = ck_registry_open(ctx, home, 10000, &reg);
	if (rv == CK_E_NOTFOUND) {
		ck_ctx_clear_error(ctx);
		return CK_OK;
	}
	if (rv == CK_OK)
		rv = ck_registry_revoked(reg, list, n);
	ck_registry_free(reg);
	return rv;
}

static char *
ca_dir(void)
{
	const char *home = tool_home();
	size_t n = strlen(home) + sizeof("/ca");
	char *dir = malloc(n);

	if (dir != NULL)
		snprintf(dir, n, "%s/ca", home);
	return dir;
}

static int
print_show(ck_ctx *ctx, const ck_ca *ca, bool as_json)
{
	char *json = NULL;
	json_t *doc, *iss;
	int rc = TOOL_OK;

	if (ck_ca_show(ctx, ca, &json) != CK_OK)
		return tool_ctx_fail(ctx);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json) {
		rc = tool_print_json(doc);
	} else {
		iss = json_object_get(doc, "issuing");
		printf("CA         %s (%s)\n",
		    json_string_value(json_object_get(doc, "name")),
		    json_string_value(json_object_get(doc, "key")));
		printf("Directory  %s\n",
		    json_string_value(json_object_get(doc, "dir")));
		printf("Issuing    %s, until %s\n",
		    json_string_value(json_object_get(iss, "subject")),
		    json_string_value(json_object_get(iss, "not_after")));
		printf("           SHA-256 %s\n",
		    json_string_value(json_object_get(iss, "sha256")));
		printf("Root       %s, key %s\n",
		    json_string_value(json_object_get(
		        json_object_get(doc, "root"), "subject")),
		    json_string_value(json_object_get(doc, "root_key")));
	}
	json_decref(doc);
	return rc;
}

static bool
parse_key(const char *s, ck_ca_key *k)
{
	if (strcmp(s, "ec-p256") == 0)
		*k = CK_CA_KEY_EC_P256;
	else if (strcmp(s, "rsa-3072") == 0)
		*k = CK_CA_KEY_RSA_3072;
	else
		return false;
	return true;
}

static int
do_init(ck_ctx *ctx, const char *dir, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"key", required_argument, NULL, 'k'},
	    {"root-out", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	ck_ca_init_opts o = {NULL, CK_CA_KEY_EC_P256, NULL};
	bool as_json = false;
	ck_ca *ca = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': o.name = optarg; break;
		case 'k':
			if (parse_key(optarg, &o.key))
				break;
			tool_err("ca init: --key '%s': expected ec-p256 or "
			         "rsa-3072",
			    optarg);
			return TOOL_USAGE;
		case 'r':
			if (!tool_path_arg("--root-out", optarg))
				return TOOL_USAGE;
			o.root_out = optarg;
			break;
		case 'j': as_json = true; break;
		case 'h': return tool_usage(stdout, usage_main, TOOL_OK);
		default: return tool_usage(stderr, usage_main, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err("ca init: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	}
	if (ck_ca_init(ctx, dir, &o, &ca) != CK_OK)
		return tool_ctx_fail(ctx);
	if (!as_json && o.root_out != NULL)
		printf("Root key written to %s: keep it offline; the CA keeps "
		       "only the issuing key.\n",
		    tool_esc(o.root_out));
	rc = print_show(ctx, ca, as_json);
	ck_ca_free(ca);
	return rc;
}

/* Options: --json only (show). */
static int
do_show(ck_ctx *ctx, const char *dir, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool as_json = false;
	ck_ca *ca = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = true; break;
		case 'h': return tool_usage(stdout, usage_main, TOOL_OK);
		default: return tool_usage(stderr, usage_main, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err("ca show: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	}
	if (ck_ca_load(ctx, dir, &ca) != CK_OK)
		return tool_ctx_fail(ctx);
	rc = print_show(ctx, ca, as_json);
	ck_ca_free(ca);
	return rc;
}

static int
write_crl(ck_ctx *ctx, const char *out, const uint8_t *der, size_t len)
{
	if (out != NULL) {
		if (ck_write_file_atomic(ctx, out, der, len, 0644) != CK_OK)
			return tool_ctx_fail(ctx);
		if (!tool_g.quiet)
			fprintf(stderr, "CRL written to %s (%zu bytes, DER)\n",
			    tool_esc(out), len);
		return TOOL_OK;
	}
	if (fwrite(der, 1, len, stdout) != len || fflush(stdout) != 0) {
		tool_err("ca crl: cannot write the CRL to standard output");
		return TOOL_PROBLEM;
	}
	return TOOL_OK;
}

static int
do_crl(ck_ctx *ctx, const char *dir, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	ck_ca_revoked *list = NULL;
	uint8_t *der = NULL;
	size_t n = 0, len = 0;
	ck_ca *ca = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!tool_path_arg("--out", optarg))
				return TOOL_USAGE;
			out = optarg;
			break;
		case 'h': return tool_usage(stdout, usage_main, TOOL_OK);
		default: return tool_usage(stderr, usage_main, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err("ca crl: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	}
	if (out == NULL && isatty(STDOUT_FILENO)) {
		tool_err("ca crl: the CRL is DER (binary): give --out FILE or "
		         "redirect standard output");
		return TOOL_USAGE;
	}
	if (ck_ca_load(ctx, dir, &ca) != CK_OK ||
	    revoked_list(ctx, tool_home(), &list, &n) != CK_OK ||
	    ck_ca_crl(ctx, ca, list, n, 0, &der, &len) != CK_OK)
		rc = tool_ctx_fail(ctx);
	else
		rc = write_crl(ctx, out, der, len);
	ck_free(list);
	ck_free(der);
	ck_ca_free(ca);
	return rc;
}

int
cmd_ca(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(ck_ctx *, const char *, int, char **);
	} subs[] = {{"init", do_init}, {"show", do_show}, {"crl", do_crl}};
	ck_ctx *ctx;
	char *dir;
	size_t i;
	int rc;

	if (argc < 2)
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return tool_usage(stdout, usage_main, TOOL_OK);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0])) {
		tool_err(
		    "ca: '%s' is not a subcommand; run 'certkit ca --help'",
		    tool_esc(argv[1]));
		return TOOL_USAGE;
	}
	if ((ctx = ck_ctx_new()) == NULL || (dir = ca_dir()) == NULL) {
		ck_ctx_free(ctx);
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	optind = 0;
	rc = subs[i].fn(ctx, dir, argc - 1, argv + 1);
	free(dir);
	ck_ctx_free(ctx);
	return rc;
}
