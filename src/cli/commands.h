/* The subcommands of the wasmgrid binary. Each takes argc/argv starting at its own name
 * and returns the process exit status. */
#ifndef WG_CLI_COMMANDS_H
#define WG_CLI_COMMANDS_H

int wg_cmd_id(int argc, char **argv);
int wg_cmd_run(int, char **);

/* Every further command: X(name, function, usage line). Add one line per command. */
#define WG_EXTRA_COMMANDS(X)                                                               \
	X("run", wg_cmd_run, "run PROGRAM [ARG | --arg-file F] [--timeout S] [--memory MIB]")

#endif
