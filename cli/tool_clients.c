/*
 * tool_clients.c: `certkit clients`: the registry of the clients of
 * `certkit serve` (list, show, the admin actions, the audit trail).
 *
 * It works on the registry directly (HOME/server/registry.db); a running
 * server sees a change within a second. Every subcommand renders the JSON
 * report the library returns (--json prints it as is). See
 * certkit-clients(1).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"
#include "certkit/registry.h"

static const char usage_main[] =
    "usage: certkit clients list [--state STATE] [--json]\n"
    "       certkit clients show ID|SPKI-PREFIX [--json]\n"
    "       certkit clients approve|reject|suspend|resume|revoke|remove "
    "ID... [--reason TEXT] [--json]\n"
    "       certkit clients replace-key|discard ID... [--reason TEXT] "
    "[--json]\n"
    "       certkit clients audit [--since TIME] [--json]\n"
    "       certkit clients token create [--uses N] [--ttl DURATION] "
    "[--json]\n"
    "\n"
    "A client is the SHA-256 of its public key (SPKI). Its state is set by\n"
    "an admin or a policy (pending, approved, rejected, suspended, "
    "revoked);\n"
    "its presence is observed (Never Connected, Requesting Pairing, "
    "Online,\n"
    "Offline). An ID may be shortened to any unique prefix (4 hex digits "
    "or\n"
    "more) of the client's id or SPKI. A known name with a new key is a\n"
    "Conflict entry: replace-key gives the known client the new key, "
    "discard\n"
    "drops it.\n"
    "\n"
    "The registry is HOME/server/registry.db; create it with 'certkit "
    "registry\n"
    "migrate'. A change waits up to $CERTKIT_LOCK_TIMEOUT seconds (default "
    "10)\n"
    "for another process holding the registry.\n"
    "Exit codes: 0 ok, 1 problem found, 2 usage or input error.\n";

static const char usage_list[] =
    "usage: certkit clients list [--state STATE] [--json]\n"
    "  --state S   only clients in state S (pending, approved, rejected,\n"
    "              suspended, revoked)\n"
    "  --json      print the report as JSON\n";

static const char usage_show[] =
    "usage: certkit clients show ID|SPKI-PREFIX [--json]\n";

static const char usage_act[] =
    "usage: certkit clients ACTION ID... [--reason TEXT] [--json]\n"
    "  ACTION       approve, reject, suspend, resume, revoke (final), "
    "remove,\n"
    "               replace-key or discard (on a Conflict entry)\n"
    "  --reason T   recorded in the client's row and the audit trail\n"
    "  Exit status 1 (2 for a refused transition or an unknown ID) when any\n"
    "  ID failed; the others are still changed.\n";

static const char usage_audit[] =
    "usage: certkit clients audit [--since TIME] [--json]\n"
    "  --since T   rows at or after T: RFC 3339 (2026-06-01T00:00:00Z) or "
    "an\n"
    "              age (30m, 12h, 7d)\n";

static const char usage_token[] =
    "usage: certkit clients token create [--uses N] [--ttl DURATION] "
    "[--json]\n"
    "  A one-time enrollment token: a device that enrolls with it (EST\n"
    "  'Authorization: Bearer TOKEN', or \"token\" of POST /api/v1/enroll)\n"
    "  is approved and issued its certificate at once. The token is shown\n"
    "  once; the registry keeps only its SHA-256.\n"
    "  --uses N        enrollments it allows (default 1)\n"
    "  --ttl D         lifetime: 90s, 30m, 1h, 7d (default 1h)\n"
    "  --json          print the report as JSON\n";

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static int
open_reg(ck_ctx *ctx, ck_registry **reg)
{
	const char *lt = getenv("CERTKIT_LOCK_TIMEOUT");
	int ms = 10000;

	if (lt != NULL && lt[0] != '\0') {
		char *end;
		double sec = strtod(lt, &end);

		if (*end == '\0' && sec >= 0 && sec <= 3600)
			ms = (int)(sec * 1000);
		else
			tool_warn(
			    "CERTKIT_LOCK_TIMEOUT='%s' is not a number of "
			    "seconds (0 to 3600); using 10",
			    lt);
	}
	if (ck_registry_open(ctx, tool_home(), ms, reg) != CK_OK)
		return tool_ctx_fail(ctx);
	return TOOL_OK;
}

/* Prints the report's warnings (findings: a stale CRL, ...) on stderr. */
static void
print_warnings(const json_t *doc)
{
	size_t i;
	json_t *w;

	json_array_foreach(json_object_get(doc, "warnings"), i, w)
	    tool_warn("%s", tool_finding_summary(w));
}

static enum tool_colour
status_colour(const char *status)
{
	if (strcmp(status, "Online") == 0)
		return TC_GREEN;
	if (strcmp(status, "Revoked") == 0 || strcmp(status, "Rejected") == 0)
		return TC_RED;
	if (strcmp(status, "Offline") == 0 ||
	    strcmp(status, "Never Connected") == 0)
		return TC_DIM;
	return TC_YELLOW;
}

static void
print_row(const json_t *c)
{
	const char *status = jstr(c, "status");
	const char *seen = jstr(c, "last_seen");

	printf("%-16s  %s%-18s%s  %-24s  %.16s  %s\n", jstr(c, "id"),
	    tool_c(stdout, status_colour(status)), status,
	    tool_c(stdout, TC_RESET),
	    json_is_string(json_object_get(c, "name")) ? jstr(c, "name") : "-",
	    jstr(c, "spki_sha256"), seen[0] ? seen : "never");
}

/* Parses the options every subcommand shares (--json, --help) and its
 * own (--state, --reason, --since: into *arg). */
static int
parse_opts(int argc, char **argv, const char *usage, const char *own,
    const char **arg, bool *as_json)
{
	const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {own ? own : "json", own ? required_argument : no_argument, NULL,
	        own ? 'o' : 'j'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': *as_json = true; break;
		case 'o': *arg = optarg; break;
		case 'h': return tool_usage(stdout, usage, TOOL_OK);
		default: return tool_usage(stderr, usage, TOOL_USAGE);
		}
	}
	return -1;
}

static int
do_list(ck_ctx *ctx, int argc, char **argv)
{
	const char *state = NULL;
	bool as_json = false;
	ck_registry *reg = NULL;
	char *json = NULL;
	json_t *doc, *c, *arr;
	size_t i;
	int rc;

	if ((rc = parse_opts(
	         argc, argv, usage_list, "state", &state, &as_json)) >= 0)
		return rc;
	if (optind != argc) {
		tool_err(
		    "clients list: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_list, TOOL_USAGE);
	}
	if ((rc = open_reg(ctx, &reg)) != TOOL_OK)
		return rc;
	if (ck_registry_list(reg, state, &json) != CK_OK) {
		ck_registry_free(reg);
		return tool_ctx_fail(ctx);
	}
	ck_registry_free(reg);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	print_warnings(doc);
	if (as_json) {
		rc = tool_print_json(doc);
		json_decref(doc);
		return rc;
	}
	arr = json_object_get(doc, "clients");
	if (json_array_size(arr) == 0)
		printf("No clients%s%s in %s.\n", state ? " in state " : "",
		    state ? tool_esc(state) : "", jstr(doc, "registry"));
	else
		printf("%s%-16s  %-18s  %-24s  %-16s  %s%s\n",
		    tool_c(stdout, TC_BOLD), "ID", "STATUS", "NAME", "SPKI",
		    "LAST SEEN", tool_c(stdout, TC_RESET));
	json_array_foreach(arr, i, c) print_row(c);
	json_decref(doc);
	return TOOL_OK;
}

/* The identifying lines an admin compares with what the device shows. */
static void
print_identity(const json_t *c)
{
	printf("  SPKI SHA-256  %s\n", jstr(c, "spki_sha256"));
	printf("  Subject       %s\n",
	    jstr(c, "subject")[0] ? jstr(c, "subject") : "-");
	printf(
	    "  Names         %s\n", jstr(c, "sans")[0] ? jstr(c, "sans") : "-");
}

static void
print_client(const json_t *c)
{
	const char *status = jstr(c, "status");

	printf("%sClient %s%s  %s\n", tool_c(stdout, TC_BOLD), jstr(c, "id"),
	    tool_c(stdout, TC_RESET),
	    jstr(c, "name")[0] ? jstr(c, "name") : "(no name)");
	printf("  Status        %s%s%s (state %s, presence %s)\n",
	    tool_c(stdout, status_colour(status)), status,
	    tool_c(stdout, TC_RESET), jstr(c, "state"), jstr(c, "presence"));
	print_identity(c);
	if (jstr(c, "conflict_of")[0])
		printf("  Conflict of   %s (a known name with a new key: "
		       "replace-key or discard)\n",
		    jstr(c, "conflict_of"));
	printf("  Certificate   %s\n",
	    jstr(c, "cert_sha256")[0] ? jstr(c, "cert_sha256") : "-");
	printf("  First seen    %s\n  Last seen     %s\n",
	    jstr(c, "first_seen"),
	    jstr(c, "last_seen")[0] ? jstr(c, "last_seen") : "never");
	printf("  Changed       %s by %s%s%s\n", jstr(c, "changed"),
	    jstr(c, "policy"), jstr(c, "reason")[0] ? ": " : "",
	    jstr(c, "reason"));
	if (jstr(c, "agent_version")[0])
		printf("  Agent         %s\n", jstr(c, "agent_version"));
}

static int
do_show(ck_ctx *ctx, int argc, char **argv)
{
	bool as_json = false;
	ck_registry *reg = NULL;
	char *json = NULL;
	json_t *doc;
	int rc;

	if ((rc = parse_opts(argc, argv, usage_show, NULL, NULL, &as_json)) >=
	    0)
		return rc;
	if (argc - optind != 1) {
		tool_err("clients show: expected one ID or SPKI prefix");
		return tool_usage(stderr, usage_show, TOOL_USAGE);
	}
	if ((rc = open_reg(ctx, &reg)) != TOOL_OK)
		return rc;
	if (ck_registry_show(reg, argv[optind], &json) != CK_OK) {
		ck_registry_free(reg);
		return tool_ctx_fail(ctx);
	}
	ck_registry_free(reg);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json)
		rc = tool_print_json(doc);
	else
		print_client(json_object_get(doc, "client"));
	json_decref(doc);
	return rc;
}

static const char *
past(const char *action)
{
	static const char *const v[][2] = {{"approve", "Approved"},
	    {"reject", "Rejected"}, {"suspend", "Suspended"},
	    {"resume", "Resumed"}, {"revoke", "Revoked"}, {"remove", "Removed"},
	    {"discard", "Discarded"}};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strcmp(action, v[i][0]) == 0)
			return v[i][1];
	return action;
}

/* One action on one ID: prints it, or adds it to `out` for --json. */
static int
act_one(ck_ctx *ctx, ck_registry *reg, const char *action, const char *id,
    const char *reason, json_t *out)
{
	char *json = NULL;
	json_t *doc, *c;

	if (ck_registry_act(reg, id, action, reason, &json) != CK_OK) {
		int rc = tool_ctx_fail(ctx);

		if (out != NULL)
			json_array_append_new(json_object_get(out, "failed"),
			    json_pack("{s:o,s:o}", "id", tool_json_str(id),
			        "error", tool_json_str(ck_ctx_error(ctx))));
		return rc;
	}
	doc = tool_parse_report(json, out == NULL);
	ck_free(json);
	if (out != NULL) {
		json_array_append_new(json_object_get(out, "changes"), doc);
		return TOOL_OK;
	}
	c = json_object_get(doc, "client");
	if (strcmp(action, "replace-key") == 0)
		printf("Client %s (%s) now has the key of the conflict entry "
		       "%s (removed)\n",
		    jstr(c, "id"),
		    jstr(c, "name")[0] ? jstr(c, "name") : "no name",
		    jstr(doc, "id"));
	else
		printf("%s client %s (%s): %s -> %s\n", past(action),
		    jstr(doc, "id"),
		    jstr(c, "name")[0] ? jstr(c, "name") : "no name",
		    jstr(doc, "from"),
		    jstr(doc, "to")[0] ? jstr(doc, "to") : "gone");
	print_identity(c);
	json_decref(doc);
	return TOOL_OK;
}

static int
do_act(ck_ctx *ctx, int argc, char **argv)
{
	const char *reason = NULL, *action = argv[0];
	bool as_json = false;
	ck_registry *reg = NULL;
	json_t *out = NULL;
	int rc, worst = TOOL_OK;

	if ((rc = parse_opts(
	         argc, argv, usage_act, "reason", &reason, &as_json)) >= 0)
		return rc;
	if (optind >= argc) {
		tool_err("clients %s: expected one or more IDs", action);
		return tool_usage(stderr, usage_act, TOOL_USAGE);
	}
	if ((rc = open_reg(ctx, &reg)) != TOOL_OK)
		return rc;
	if (as_json &&
	    (out = json_pack("{s:[],s:[]}", "changes", "failed")) == NULL) {
		ck_registry_free(reg);
		return TOOL_PROBLEM;
	}
	for (int i = optind; i < argc; i++) {
		rc = act_one(ctx, reg, action, argv[i], reason, out);
		if (rc == TOOL_USAGE || (rc != TOOL_OK && worst == TOOL_OK))
			worst = rc;
	}
	ck_registry_free(reg);
	if (out != NULL) {
		tool_print_json(out);
		json_decref(out);
	}
	return worst;
}

/* --since: RFC 3339, or an age N{s,m,h,d} before now. */
static bool
parse_since(ck_ctx *ctx, const char *s, int64_t *out)
{
	char *end;
	long long n;

	if (ck_parse_time(ctx, s, out) == CK_OK)
		return true;
	n = strtoll(s, &end, 10);
	if (end != s && n >= 0 && n < 100000000 && end[0] != '\0' &&
	    end[1] == '\0' && strchr("smhd", end[0]) != NULL) {
		long long mul = end[0] == 's' ? 1
		    : end[0] == 'm'           ? 60
		    : end[0] == 'h'           ? 3600
		                              : 86400;

		*out = (int64_t)time(NULL) - n * mul;
		return true;
	}
	tool_err("--since '%s': expected RFC 3339 (2026-06-01T00:00:00Z) or an "
	         "age (30m, 12h, 7d)",
	    s);
	return false;
}

static void
print_audit(const json_t *a)
{
	printf("%s  %-14s %-11s %s  %s -> %s%s%s\n", jstr(a, "time"),
	    jstr(a, "who"), jstr(a, "action"), jstr(a, "client_id"),
	    jstr(a, "from")[0] ? jstr(a, "from") : "new",
	    jstr(a, "to")[0] ? jstr(a, "to") : "gone",
	    jstr(a, "why")[0] ? "  " : "", jstr(a, "why"));
}

static int
do_audit(ck_ctx *ctx, int argc, char **argv)
{
	const char *since = NULL;
	bool as_json = false;
	ck_registry *reg = NULL;
	int64_t t = 0;
	char *json = NULL;
	json_t *doc, *a;
	size_t i;
	int rc;

	if ((rc = parse_opts(
	         argc, argv, usage_audit, "since", &since, &as_json)) >= 0)
		return rc;
	if (optind != argc) {
		tool_err(
		    "clients audit: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_audit, TOOL_USAGE);
	}
	if (since != NULL && !parse_since(ctx, since, &t))
		return TOOL_USAGE;
	if ((rc = open_reg(ctx, &reg)) != TOOL_OK)
		return rc;
	if (ck_registry_audit(reg, t, &json) != CK_OK) {
		ck_registry_free(reg);
		return tool_ctx_fail(ctx);
	}
	ck_registry_free(reg);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json)
		rc = tool_print_json(doc);
	else
		json_array_foreach(json_object_get(doc, "audit"), i, a)
		    print_audit(a);
	json_decref(doc);
	return rc;
}

/* "90s", "30m", "1h", "7d" (a bare number: seconds) into seconds. */
static bool
parse_ttl(const char *s, long *out)
{
	char *end;
	long n = strtol(s, &end, 10);
	long mul = 1;

	if (end == s || n <= 0 || n > 366L * 86400)
		return false;
	if (*end != '\0') {
		if (end[1] != '\0' || strchr("smhd", *end) == NULL)
			return false;
		mul = *end == 's' ? 1
		    : *end == 'm' ? 60
		    : *end == 'h' ? 3600
		                  : 86400;
	}
	if (n * mul > 366L * 86400)
		return false;
	*out = n * mul;
	return true;
}

static int
token_opts(int argc, char **argv, long *uses, long *ttl, bool *as_json)
{
	const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"uses", required_argument, NULL, 'u'},
	    {"ttl", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': *as_json = true; break;
		case 'u':
			*uses = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || *uses < 1 ||
			    *uses > 1000000) {
				tool_err(
				    "--uses '%s': expected a number from 1 "
				    "to 1000000",
				    optarg);
				return TOOL_USAGE;
			}
			break;
		case 't':
			if (!parse_ttl(optarg, ttl)) {
				tool_err(
				    "--ttl '%s': expected a duration up to "
				    "366d: 90s, 30m, 1h, 7d",
				    optarg);
				return TOOL_USAGE;
			}
			break;
		case 'h': return tool_usage(stdout, usage_token, TOOL_OK);
		default: return tool_usage(stderr, usage_token, TOOL_USAGE);
		}
	}
	return -1;
}

static int
do_token(ck_ctx *ctx, int argc, char **argv)
{
	long uses = 1, ttl = 3600;
	bool as_json = false;
	ck_registry *reg = NULL;
	char *json = NULL;
	json_t *doc;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "create") == 0) {
		argc--;
		argv++;
	} else if (argc < 2 ||
	    (strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0)) {
		tool_err("clients token: expected 'create'");
		return tool_usage(stderr, usage_token, TOOL_USAGE);
	}
	if ((rc = token_opts(argc, argv, &uses, &ttl, &as_json)) >= 0)
		return rc;
	if (optind != argc) {
		tool_err("clients token create: unexpected argument '%s'",
		    argv[optind]);
		return tool_usage(stderr, usage_token, TOOL_USAGE);
	}
	if ((rc = open_reg(ctx, &reg)) != TOOL_OK)
		return rc;
	if (ck_registry_token_create(reg, uses, ttl, &json) != CK_OK) {
		ck_registry_free(reg);
		return tool_ctx_fail(ctx);
	}
	ck_registry_free(reg);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	if (as_json)
		rc = tool_print_json(doc);
	else
		printf(
		    "%s\nEnrollment token: uses %lld, expires %s (shown once; "
		    "the registry keeps only its hash)\n",
		    jstr(doc, "token"),
		    (long long)json_integer_value(json_object_get(doc, "uses")),
		    jstr(doc, "expires"));
	json_decref(doc);
	return rc;
}

int
cmd_clients(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(ck_ctx *, int, char **);
	} subs[] = {
	    {"list", do_list},
	    {"show", do_show},
	    {"audit", do_audit},
	    {"approve", do_act},
	    {"reject", do_act},
	    {"suspend", do_act},
	    {"resume", do_act},
	    {"revoke", do_act},
	    {"remove", do_act},
	    {"replace-key", do_act},
	    {"discard", do_act},
	    {"token", do_token},
	};
	ck_ctx *ctx;
	int rc = -1;

	if (argc < 2)
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return tool_usage(stdout, usage_main, TOOL_OK);
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 0;
			rc = subs[i].fn(ctx, argc - 1, argv + 1);
			break;
		}
	if (rc == -1) {
		tool_err("clients: '%s' is not a subcommand; run 'certkit "
		         "clients --help'",
		    argv[1]);
		rc = TOOL_USAGE;
	}
	ck_ctx_free(ctx);
	return rc;
}
