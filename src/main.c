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
	static const char *const local[] = {"id", "manager", "worker", "run"};
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
		if (!strcmp(name, local[i]))
			return 1;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: wasmgrid COMMAND [OPTIONS]     (wasmgrid --version: the version)\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  wasmgrid %s\n", commands[i].usage);
	fprintf(out, "\nCommands that talk to a manager take --api HOST:PORT and, when its API has a\n"
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
