/*
 * tool_registry.c: `certkit registry`: the registry's own maintenance. Its
 * schema is created or upgraded only here (`migrate`), an explicit,
 * versioned step: `certkit serve` and `certkit clients` refuse a missing or
 * older schema and say to run it. See certkit-registry(1).
 */
#include <getopt.h>
#include <string.h>

#include "tool.h"
#include "certkit/registry.h"

static const char usage_main[] =
    "usage: certkit registry migrate [--json]\n"
    "       certkit registry export TARGET [--json]\n"
    "       certkit registry import TARGET [--json]\n"
    "\n"
    "migrate   create the registry of clients ([server] registry: "
    "HOME/server/\n"
    "          registry.db, mode 0600, or PostgreSQL) or upgrade its "
    "schema to\n"
    "          this certkit's version; run it once before 'certkit serve', "
    "and\n"
    "          after an upgrade. Running it again changes nothing.\n"
    "export    copy this registry to TARGET (sqlite:FILE or a path,\n"
    "          postgresql://... or a PostgreSQL conninfo; password from\n"
    "          PGPASSFILE); TARGET is migrated and must be empty\n"
    "import    copy TARGET into this registry, which must be empty\n"
    "          Both copy in one transaction, then count the rows and "
    "compare\n"
    "          every client's version; stop 'certkit serve' first.\n"
    "Exit codes: 0 ok, 1 problem found, 2 usage or input error.\n";

static int
do_migrate(ck_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool as_json = false;
	char *json = NULL;
	json_t *doc;
	int c, rc = TOOL_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = true; break;
		case 'h': return tool_usage(stdout, usage_main, TOOL_OK);
		default: return tool_usage(stderr, usage_main, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err(
		    "registry migrate: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	}
	if (ck_registry_migrate(ctx, tool_home(), &json) != CK_OK)
		return tool_ctx_fail(ctx);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json)
		rc = tool_print_json(doc);
	else if (json_is_true(json_object_get(doc, "migrated")))
		printf("Registry %s: schema version %lld -> %lld\n",
		    json_string_value(json_object_get(doc, "registry")),
		    (long long)json_integer_value(json_object_get(doc, "from")),
		    (long long)json_integer_value(json_object_get(doc, "to")));
	else
		printf("Registry %s: schema version %lld, up to date\n",
		    json_string_value(json_object_get(doc, "registry")),
		    (long long)json_integer_value(json_object_get(doc, "to")));
	json_decref(doc);
	return rc;
}

/* export / import TARGET. */
static int
do_copy(ck_ctx *ctx, bool to_other, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *verb = to_other ? "export" : "import";
	bool as_json = false;
	char *json = NULL;
	json_t *doc;
	int c, rc = TOOL_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': as_json = true; break;
		case 'h': return tool_usage(stdout, usage_main, TOOL_OK);
		default: return tool_usage(stderr, usage_main, TOOL_USAGE);
		}
	}
	if (optind + 1 != argc) {
		tool_err("registry %s: expected one TARGET", verb);
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	}
	if (ck_registry_copy(ctx, tool_home(), argv[optind], to_other, &json) !=
	    CK_OK)
		return tool_ctx_fail(ctx);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json)
		rc = tool_print_json(doc);
	else
		printf("Copied %lld clients and %lld audit rows from %s (%s) "
		       "to %s (%s); counts and versions verified\n",
		    (long long)json_integer_value(
		        json_object_get(doc, "clients")),
		    (long long)json_integer_value(
		        json_object_get(doc, "audit")),
		    json_string_value(json_object_get(doc, "from")),
		    json_string_value(json_object_get(doc, "from_backend")),
		    json_string_value(json_object_get(doc, "to")),
		    json_string_value(json_object_get(doc, "to_backend")));
	json_decref(doc);
	return rc;
}

int
cmd_registry(int argc, char **argv)
{
	ck_ctx *ctx;
	int rc;

	if (argc < 2)
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return tool_usage(stdout, usage_main, TOOL_OK);
	if (strcmp(argv[1], "migrate") != 0 && strcmp(argv[1], "export") != 0 &&
	    strcmp(argv[1], "import") != 0) {
		tool_err("registry: '%s' is not a subcommand; run 'certkit "
		         "registry --help'",
		    argv[1]);
		return TOOL_USAGE;
	}
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	optind = 0;
	if (strcmp(argv[1], "migrate") == 0)
		rc = do_migrate(ctx, argc - 1, argv + 1);
	else
		rc = do_copy(
		    ctx, strcmp(argv[1], "export") == 0, argc - 1, argv + 1);
	ck_ctx_free(ctx);
	return rc;
}
