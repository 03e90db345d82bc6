/*
 * certkit_agent.c: the certkit-agent executable, `certkit agent` alone:
 *
 *   certkit-agent [--home DIR] run | status [--json] | enroll [...]
 *
 * The same command (cli/tool_agent.c, lib/agent) linked by itself with
 * --as-needed: the device's service then maps neither SQLite nor libm (the
 * server's) nor the rest of the tool, which keeps an idle agent within
 * 8 MiB RSS (bench/agent.sh). `certkit agent` stays the same command.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* As in main.c: a handler, not SIG_IGN, so that what the agent runs
 * starts with the usual SIGPIPE; a closed connection is then an error of
 * the call (EPIPE), never the end of the service. */
static void
on_sigpipe(int sig)
{
	(void)sig;
}

static int
usage(FILE *f, int code)
{
	fprintf(f,
	    "usage: certkit-agent [--home DIR] run | status [--json] | "
	    "enroll [--token T] [--wait SECONDS] [--renew] [--json]\n"
	    "The same as certkit agent (certkit agent --help).\n");
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"home", required_argument, NULL, 'H'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static char name[] = "agent";
	struct sigaction sa;
	int c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': tool_g.home = optarg; break;
		case 'V':
			printf("certkit-agent %s (%s)\n", ck_version(),
			    ck_crypto_version());
			return TOOL_OK;
		case 'h': return usage(stdout, TOOL_OK);
		default: return usage(stderr, TOOL_USAGE);
		}
	}
	if (optind >= argc)
		return usage(stderr, TOOL_USAGE);
	/* cmd_agent's argv starts at the command name, as under certkit. */
	argv[optind - 1] = name;
	c = optind - 1;
	optind = 0;
	return cmd_agent(argc - c, argv + c);
}
