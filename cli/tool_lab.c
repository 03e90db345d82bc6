/* tool_lab.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_lab(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("lab: not built yet");
	return TOOL_PROBLEM;
}
