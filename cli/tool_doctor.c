/* tool_doctor.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_doctor(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("doctor: not built yet");
	return TOOL_PROBLEM;
}

int
tool_doctor_render(FILE *out, json_t *report)
{
	(void)out;
	(void)report;
	return TOOL_PROBLEM;
}
