/* tool_show.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_show(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("show: not built yet");
	return TOOL_PROBLEM;
}
