/* Shared pieces of command-line handling. */
#ifndef WG_CLI_OPTIONS_H
#define WG_CLI_OPTIONS_H
#include <stdint.h>

#define WG_DEFAULT_DATA_DIR "./wasmgrid-data"
#define WG_DEFAULT_NODE_ADDR "127.0.0.1:5740"
#define WG_DEFAULT_API_ADDR "127.0.0.1:5741"

/* Where `wasmgrid run` keeps its compiled programs without --data: $XDG_CACHE_HOME/wasmgrid,
 * else ~/.cache/wasmgrid, else (no HOME) WG_DEFAULT_DATA_DIR. A new string. */
char *wg_cli_cache_dir(void);

/* Every error of a command is told by one of these two, on stderr, as one line:
 * wg_cli_fail prints "wasmgrid CMD: MESSAGE" and returns 1, the exit status of a failure;
 * wg_usage_error prints "wasmgrid CMD: MESSAGE (try 'wasmgrid help')" and returns 2, the
 * exit status of usage errors. */
int wg_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wg_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Matches argv[*i] against "--name VALUE" or "--name=VALUE". On a match, *value points to
 * the value, *i is advanced past it, and 1 is returned; a missing value is a usage error
 * (-1, already reported). 0: no match. */
int wg_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
		 const char **value);
/* Parses a non-negative integer option value within [min, max]; -1 on error (reported). */
int wg_opt_uint(const char *cmd, const char *name, const char *value, uint64_t min, uint64_t max,
		uint64_t *out);

/* How a command that compiles programs (worker, run, compile) does it: the options
 * --compile-cpu S, --compile-memory MIB and --tier auto|quick|optimised. */
struct wg_cli_compile {
	uint32_t cpu_s, memory_mib; /* 0: the engine's defaults */
	int tiers;		    /* an enum wg_engine_tiers */
};
#define WG_CLI_COMPILE_USAGE "[--compile-cpu S] [--compile-memory MIB] [--tier T]"
/* Matches argv[*i] against those options like wg_opt_value: 1 (stored in c), 0 or -1. */
int wg_opt_compile(const char *cmd, int argc, char **argv, int *i, struct wg_cli_compile *c);

#endif
