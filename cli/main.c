/*
 * main.c: the certkit tool's entry point: global options and the command
 * table. Each command lives in its own tool_NAME.c.
 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const struct {
	const char *name;
	tool_cmd_fn fn;
	const char *summary;
} commands[] = {
    {"show", cmd_show, "explain certificates, keys, CSRs, CRLs and bundles"},
    {"verify", cmd_verify, "verify a certificate chain and explain failures"},
    {"convert", cmd_convert, "convert between PEM, DER, PKCS#12 and PKCS#7"},
    {"trust", cmd_trust, "manage the device's trust store"},
    {"identity", cmd_identity, "manage the device's own certificate"},
    {"doctor", cmd_doctor, "test every endpoint and name the root cause"},
    {"lab", cmd_lab, "run local endpoints that reproduce each failure"},
    {"serve", cmd_serve, "run the primary server clients pair with"},
    {"clients", cmd_clients, "approve, revoke and list the server's clients"},
    {"registry", cmd_registry, "create or upgrade the registry of clients"},
    {"ca", cmd_ca, "the primary's issuing CA: init, show, crl"},
    {"agent", cmd_agent, "pair this device with a primary, renew, report"},
};

static int
usage(FILE *f, int code)
{
	fprintf(f,
	    "usage: certkit [--home DIR] COMMAND [ARGS...]\n"
	    "       certkit COMMAND --help\n\n"
	    "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(
		    f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "\nGlobal options:\n"
	    "  --home DIR   state directory (default: $CERTKIT_HOME, else "
	    "/var/lib/certkit)\n"
	    "  --version    print the version\n"
	    "  --help       print this help\n\n"
	    "Exit codes: 0 ok, 1 problem found, 2 usage or input error.\n");
	return code;
}

/* A write to a peer or pipe that is gone must give EPIPE, never a silent
 * death (exit 141, the whole report lost). The library already sends with
 * MSG_NOSIGNAL; this covers the tool (the lab's servers, libevent). A
 * handler rather than SIG_IGN: execve(2) resets a handled signal to its
 * default, so the commands certkit runs (identity's on_change) start with
 * the usual SIGPIPE.
 *
 * One SIGPIPE still ends certkit, as it ends any filter: the one for its
 * own standard output, when the reader went away (`certkit show | head`).
 * Nobody reads the rest, so it stops at once instead of working on. poll(2)
 * tells a closed output apart (POLLERR on a pipe or socket with no reader);
 * both calls are async-signal-safe. */
static void
on_sigpipe(int sig)
{
	struct pollfd p = {.fd = STDOUT_FILENO, .events = 0};

	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0) {
		signal(sig, SIG_DFL);
		raise(sig); /* delivered when this handler returns */
	}
}

int
main(int argc, char **argv)
{
	int rc = tool_main_opts(argc, argv, "certkit", on_sigpipe, usage);

	if (rc >= 0)
		return rc;
	if (strcmp(argv[optind], "help") == 0)
		return usage(stdout, TOOL_OK);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			char **sub = argv + optind;
			int subc = argc - optind;

			optind =
			    0; /* GNU: fully reinitialise for the command */
			return commands[i].fn(subc, sub);
		}
	}
	tool_err("'%s' is not a certkit command; run 'certkit --help'",
	    argv[optind]);
	return TOOL_USAGE;
}
