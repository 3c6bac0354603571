/* wasmgrid: one binary, one subcommand per role or action. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "util/version.h"

static const struct wg_command *const commands[] = {
#define WG__CMD_ENTRY(name) &wg_cmd_##name,
    WG_COMMANDS(WG__CMD_ENTRY)
#undef WG__CMD_ENTRY
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct wg_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(name, commands[i]->name))
			return commands[i];
	return NULL;
}

/* The manual page, wasmgrid(1), made from the commands' own tables, so that it, `wasmgrid
 * help COMMAND` and the parser cannot disagree (`make install` writes it). */
static void man_page(FILE *out)
{
	fprintf(out, ".TH WASMGRID 1 \"\" \"wasmgrid %s\" \"User Commands\"\n", WG_VERSION);
	fputs(".SH NAME\nwasmgrid \\- run WebAssembly programs over a network of machines\n"
	      ".SH SYNOPSIS\n.B wasmgrid\n.I COMMAND\n[\\fIOPTIONS\\fR]\n"
	      ".SH DESCRIPTION\nA manager stores jobs (a WebAssembly program and one argument per "
	      "task) and hands their tasks to the workers attached to it; each worker runs them "
	      "sandboxed and reports their results, which the manager commits before it "
	      "acknowledges them. Every option is written \\-\\-NAME VALUE or \\-\\-NAME=VALUE; "
	      "\\-\\-help after any command shows its options.\n.SH COMMANDS\n",
	      out);
	for (size_t i = 0; i < N_COMMANDS; i++)
		wg_command_man(out, commands[i]);
	fputs(
	    ".SH CONFIGURATION FILES\nmanager and worker take \\-\\-config FILE: one option per "
	    "line, its name without the dashes and its value (NAME VALUE or NAME = VALUE; a flag "
	    "alone or with true or false), # starting a comment. Options on the command line win; "
	    "a repeatable option given there replaces the file's values.\n"
	    ".SH ENVIRONMENT\n.TP\n.B WASMGRID_TOKEN_FILE\n"
	    "A file whose first line is the manager API's token (as \\-\\-token-file).\n"
	    ".TP\n.B WASMGRID_TOKEN\nThe token itself.\n"
	    ".SH EXIT STATUS\n0 success, 1 failure (reported on standard error), 2 a usage "
	    "error; wasmgrid run also 3 to 6 by the kind of the task's failure.\n"
	    ".SH SEE ALSO\nThe documentation in docs/ of the source tree: api.md (the HTTP API and "
	    "the client commands), engine.md (the program ABI and the sandbox), install.md "
	    "(the services and their option files), dashboard.md, python.md.\n",
	    out);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: wasmgrid COMMAND [OPTIONS]     (wasmgrid --version: the version)\n\n"
		     "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char left[40];
		snprintf(left, sizeof left, "%s %s", commands[i]->name,
			 commands[i]->operands ? commands[i]->operands : "");
		fprintf(out, "  %-26s %s\n", left, commands[i]->summary);
	}
	fprintf(out,
		"\n'wasmgrid help COMMAND' (or COMMAND --help) shows a command's options.\n"
		"Commands that talk to a manager take --api HOST:PORT and, when its API has a\n"
		"token, --token-file F (or WASMGRID_TOKEN_FILE, or WASMGRID_TOKEN).\n"
		"manager and worker also read options from --config FILE.\n");
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("wasmgrid %s\n", WG_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") && argc > 2 && !strcmp(argv[2], "--man")) {
		man_page(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "help") && argc > 2) {
		const struct wg_command *c = find_command(argv[2]);
		if (!c) {
			fprintf(stderr, "wasmgrid: unknown command '%s' (try 'wasmgrid help')\n",
				argv[2]);
			return 2;
		}
		wg_command_help(stdout, c);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	const struct wg_command *c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "wasmgrid: unknown command '%s' (try 'wasmgrid help')\n", argv[1]);
		return 2;
	}
	int cargc = argc - 1, rc;
	if (c->api && (rc = wg_cli_take_token(argv[1], &cargc, argv + 1)))
		return rc;
	return wg_command_main(c, cargc, argv + 1);
}
