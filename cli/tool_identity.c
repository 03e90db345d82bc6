/* tool_identity.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_identity(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("identity: not built yet");
	return TOOL_PROBLEM;
}
