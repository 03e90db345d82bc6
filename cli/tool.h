/*
 * tool.h: what the certkit tool's command files share.
 *
 * The tool uses libcertkit's public API only. One file per command
 * (tool_show.c, tool_verify.c, ...); helpers shared by several commands live
 * in tool_util.c.
 */
#ifndef CERTKIT_TOOL_H
#define CERTKIT_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "certkit/certkit.h"

/* Exit codes, documented in README.md and every man page. */
enum {
	TOOL_OK = 0,      /* success; nothing wrong was found */
	TOOL_PROBLEM = 1, /* the command ran and found a problem */
	TOOL_USAGE = 2,   /* usage error, or unreadable/invalid input */
};

/* Global options, parsed before the command name. */
struct tool_global {
	const char *home; /* --home, $CERTKIT_HOME, or /var/lib/certkit */
	bool quiet;
};
extern struct tool_global tool_g;

/* Every command: argc/argv start at the command name. */
typedef int (*tool_cmd_fn)(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_trust(int argc, char **argv);
int cmd_identity(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_clients(int argc, char **argv);
int cmd_registry(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_agent(int argc, char **argv);

/* Renders a doctor report (docs/json.md, "doctor") as text; returns the
 * exit code it implies (0 all online, 1 otherwise). In tool_doctor.c; also
 * used by `certkit lab --demo`. */
int tool_doctor_render(FILE *out, json_t *report);

/* "certkit: " + message to stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports the context's error and returns the exit code for its status:
 * TOOL_USAGE for input/usage errors, TOOL_PROBLEM otherwise. */
int tool_ctx_fail(const ck_ctx *ctx);
/* The ctx's message, with how to give a password when it says none was
 * given (CK_MSG_NO_PASSWORD). Valid until the next call. */
const char *tool_ctx_message(const ck_ctx *ctx);

/* Colour: only when the stream is a tty, NO_COLOR is unset and TERM is not
 * "dumb". tool_c() returns the escape or "" accordingly. */
bool tool_color(FILE *f);
enum tool_colour { TC_RESET, TC_BOLD, TC_RED, TC_GREEN, TC_YELLOW, TC_DIM };
const char *tool_c(FILE *f, enum tool_colour c);

/*
 * Sets up the password source on ctx: --password-file FILE (first line), else
 * $CERTKIT_PASSWORD, else a prompt on the terminal when stdin is a tty.
 * password_file may be NULL. Returns false (after printing why) if the file
 * cannot be read.
 */
bool tool_password_setup(ck_ctx *ctx, const char *password_file);
/* Prints `prompt` on the terminal and reads one line with echo off into
 * buf. Returns its length, or -1 when there is no terminal. */
int tool_tty_read(const char *prompt, char *buf, size_t size);
/* Reads a password file's first line into a fresh string (caller wipes).
 * "-" reads it from standard input. */
char *tool_read_password_file(const char *path);

/*
 * "-" (the rule is in tool_util.c): tool_load() loads a FILE operand, "-"
 * being standard input ("(stdin)" in messages), as ck_load_file() (want <
 * 0) or ck_load_expect() (want a ck_obj_type) do. On failure the message is
 * tool_load_error(). Standard input is read once per command:
 * tool_take_stdin() claims it, or says why not and returns false.
 * tool_path_arg() refuses "-" for an option that names a file (an output,
 * or a path read by name), saying so; true when path is not "-".
 */
ck_status tool_load(ck_ctx *ctx, const char *path, int want, ck_bundle **out);
const char *tool_load_error(const ck_ctx *ctx);
bool tool_take_stdin(const char *what);
bool tool_path_arg(const char *opt, const char *path);

/* The state directory: --home, $CERTKIT_HOME, else /var/lib/certkit. */
const char *tool_home(void);

/* Parses --at; prints the error and returns false on bad input. */
bool tool_set_time(ck_ctx *ctx, const char *text);

/* Parses --timeout SECONDS (0.1 to 600, at most 3 decimals: the range
 * CK_TIMEOUT_MIN_MS..CK_TIMEOUT_MAX_MS) into *ms; prints the one message
 * and returns false on bad input. For doctor, lab and trust add --from. */
bool tool_parse_timeout(const char *text, int *ms);

/*
 * Untrusted text (certificate names, peer text, file names) for the
 * terminal: every string printed as text goes through ck_text_escape(), the
 * library's one escaper. tool_esc() returns an escaped copy that stays valid
 * for the next 7 calls (a ring), so one printf can take several.
 * tool_err()/tool_warn() escape their whole message.
 */
const char *tool_esc(const char *s);
/* A JSON string of a file name or other outside text: exact when it is
 * UTF-8, else escaped as above (jansson takes UTF-8 only); the library does
 * the same for its reports. NULL only when out of memory. */
json_t *tool_json_str(const char *s);
/* Escapes every string of a parsed report in place (for text output). */
void tool_escape_doc(json_t *doc);

/* A finding's "summary" and first "remedies" entry (docs/json.md, the
 * finding model); "" when absent. */
const char *tool_finding_summary(const json_t *f);
const char *tool_finding_remedy(const json_t *f);

/* Prints a JSON document (from the library) to stdout, indented, in ASCII:
 * the values stay exact (JSON escapes them), nothing reaches a terminal
 * raw. */
int tool_print_json(json_t *doc);
/* Parses a JSON report returned by the library; exits on internal error.
 * `text`: the report is for text output, so every string in it is escaped
 * (tool_escape_doc); JSON output keeps the exact values. */
json_t *tool_parse_report(const char *json, bool text);

/* tool_jsontext.c: the library's compact reports, re-printed without a
 * jansson tree (bulk verification). A growing text buffer: */
struct tool_buf {
	char *s; /* NUL-terminated once anything was added */
	size_t len, cap;
	bool oom;
};
void tool_buf_add(struct tool_buf *b, const char *s, size_t n);
void tool_buf_free(struct tool_buf *b);
/* Appends `compact` (jansson's JSON_COMPACT output, UTF-8) as
 * json_dumps(JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER)
 * writes the same value nested `level` deep; "A,B,..." (several values,
 * comma-separated) as the elements of an array at that level. False if it
 * is not such text (or out of memory): the caller parses it instead. */
bool tool_json_reindent(struct tool_buf *b, const char *compact, int level);
/* The chain of a verify report that is valid with no finding, read from
 * its compact text: each entry's depth, subject (as json_string_value()
 * gives it) and anchor flag. False for any other report (the caller
 * parses it in full). Free with tool_chain_clear(). */
#define TOOL_CHAIN_MAX 64
struct tool_chain_entry {
	long long depth;
	char *subject;
	bool anchor;
};
struct tool_chain {
	struct tool_chain_entry e[TOOL_CHAIN_MAX];
	size_t n;
};
bool tool_read_valid_report(const char *json, struct tool_chain *c);
void tool_chain_clear(struct tool_chain *c);

/* "expires in N days" / "EXPIRED N days ago" / "not valid for N more days". */
void tool_validity_phrase(char *out, size_t size, long long not_before,
    long long not_after, long long now);

/* Prints the usage text of a command and returns TOOL_OK (for --help) or
 * TOOL_USAGE (after a usage error). */
int tool_usage(FILE *f, const char *text, int code);
/* What main() and certkit-agent do first: `sigpipe` becomes SIGPIPE's
 * handler, and the options before the command (--home, --version, --help,
 * stopping at the command name) are read. Returns -1 when the command at
 * argv[optind] is to run, else the exit code (usage printed by `usage`). */
int tool_main_opts(int argc, char **argv, const char *prog,
    void (*sigpipe)(int), int (*usage)(FILE *f, int code));

/* A command made of subcommands (certkit trust, certkit clients): argv[1]
 * names one of subs[0..n), which runs with a fresh ctx and argv from its
 * name. No argument, --help and an unknown name are answered here, naming
 * `cmd`. Returns the exit code. */
struct tool_sub {
	const char *name;
	int (*fn)(ck_ctx *ctx, int argc, char **argv);
};
int tool_subcommands(const char *cmd, const char *usage,
    const struct tool_sub *subs, size_t n, int argc, char **argv);

#endif /* CERTKIT_TOOL_H */
