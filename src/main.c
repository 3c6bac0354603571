/* wasmgrid: one binary, one subcommand per role or action. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

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

static void usage(FILE *out)
{
	fprintf(out, "usage: wasmgrid COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  wasmgrid %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "wasmgrid: unknown command '%s' (try 'wasmgrid help')\n", argv[1]);
	return 2;
}
