/* The subcommands of the wasmgrid binary, each a table of its options and the function
 * that runs it (cli/options.h). */
#ifndef WG_CLI_COMMANDS_H
#define WG_CLI_COMMANDS_H
#include "cli/options.h"

/* In the order `wasmgrid help` lists them. */
#define WG_COMMANDS(X)                                                                             \
	X(manager)                                                                                 \
	X(worker)                                                                                  \
	X(workers)                                                                                 \
	X(submit)                                                                                  \
	X(status)                                                                                  \
	X(wait)                                                                                    \
	X(explain)                                                                                 \
	X(results)                                                                                 \
	X(cancel)                                                                                  \
	X(retry)                                                                                   \
	X(remove)                                                                                  \
	X(run)                                                                                     \
	X(compile)                                                                                 \
	X(id)

#define WG__CMD_DECLARE(name) extern const struct wg_command wg_cmd_##name;
WG_COMMANDS(WG__CMD_DECLARE)
#undef WG__CMD_DECLARE

#endif
