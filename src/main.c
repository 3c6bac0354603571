/* wasmgrid: one binary, one subcommand per role or action. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "util/version.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
    {"id", wg_cmd_id, "id [--data DIR]                 print this node's id"},
#define WG__CMD(name, fn, usage) {name, fn, usage},
    WG_EXTRA_COMMANDS(WG__CMD)
#undef WG__CMD
};

/* Commands that do not talk to a manager's API, so take no API token. */
static int is_local(const char *name)
{
	static const char *const local[] = {"id", "manager", "worker", "run", "compile"};
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
		if (!strcmp(name, local[i]))
			return 1;
	return 0;
}

/* Writes text for roff: a leading '.' or "'" and every backslash escaped. */
static void roff(FILE *out, const char *text)
{
	int bol = 1;
	for (const char *p = text; *p; p++) {
		if (bol && (*p == '.' || *p == '\''))
			fputs("\\&", out);
		if (*p == '\\')
			fputs("\\e", out);
		else if (*p == '-')
			fputs("\\-", out);
		else
			fputc(*p, out);
		bol = *p == '\n';
	}
}

/* The manual page, wasmgrid(1), made from the same usage lines as `wasmgrid help`, so the
 * two cannot disagree (`make install` writes it). */
static void man_page(FILE *out)
{
	fprintf(out, ".TH WASMGRID 1 \"\" \"wasmgrid %s\" \"User Commands\"\n", WG_VERSION);
	fputs(".SH NAME\nwasmgrid \\- run WebAssembly programs over a network of machines\n"
	      ".SH SYNOPSIS\n.B wasmgrid\n.I COMMAND\n[\\fIOPTIONS\\fR]\n"
	      ".SH DESCRIPTION\nA manager stores jobs (a WebAssembly program and one argument per "
	      "task) and hands their tasks to the workers attached to it; each worker runs them "
	      "sandboxed and reports their results, which the manager commits before it "
	      "acknowledges them.\n.SH COMMANDS\n",
	      out);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		fputs(".TP\n.B ", out);
		const char *u = commands[i].usage;
		const char *nl = strchr(u, '\n');
		const char *line_end = nl ? nl : u + strlen(u);
		/* The usage line, then its continuation lines, each as is. */
		char first[512];
		snprintf(first, sizeof first, "wasmgrid %.*s", (int)(line_end - u), u);
		roff(out, first);
		fputc('\n', out);
		while (nl) {
			const char *next = nl + 1;
			nl = strchr(next, '\n');
			line_end = nl ? nl : next + strlen(next);
			fputs(".br\n", out);
			char more[512];
			snprintf(more, sizeof more, "%.*s", (int)(line_end - next), next);
			const char *t = more;
			while (*t == ' ')
				t++;
			roff(out, t);
			fputc('\n', out);
		}
	}
	fputs(
	    ".SH ENVIRONMENT\n.TP\n.B WASMGRID_TOKEN_FILE\n"
	    "A file whose first line is the manager API's token (as \\-\\-token-file).\n"
	    ".TP\n.B WASMGRID_TOKEN\nThe token itself.\n"
	    ".SH EXIT STATUS\n0 success, 1 failure (reported on standard error), 2 a usage "
	    "error; wasmgrid run also 3 to 6 by the kind of the task's failure.\n"
	    ".SH SEE ALSO\nThe documentation in docs/ of the source tree: api.md (the HTTP API and "
	    "the client commands), engine.md (the program ABI and the sandbox), deploy.md "
	    "(several machines), dashboard.md, python.md.\n",
	    out);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: wasmgrid COMMAND [OPTIONS]     (wasmgrid --version: the version)\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  wasmgrid %s\n", commands[i].usage);
	fprintf(out,
		"\nCommands that talk to a manager take --api HOST:PORT and, when its API has a\n"
		"token, --token-file F (or WASMGRID_TOKEN_FILE, or WASMGRID_TOKEN).\n");
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
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		int cargc = argc - 1, rc;
		if (!is_local(argv[1]) && (rc = wg_cli_take_token(argv[1], &cargc, argv + 1)))
			return rc;
		return commands[i].run(cargc, argv + 1);
	}
	fprintf(stderr, "wasmgrid: unknown command '%s' (try 'wasmgrid help')\n", argv[1]);
	return 2;
}
