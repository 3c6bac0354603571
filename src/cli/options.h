/* Shared pieces of command-line handling. */
#ifndef WG_CLI_OPTIONS_H
#define WG_CLI_OPTIONS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WG_DEFAULT_DATA_DIR "./wasmgrid-data"
#define WG_DEFAULT_NODE_ADDR "127.0.0.1:5740"
#define WG_DEFAULT_API_ADDR "127.0.0.1:5741"

/* Where `wasmgrid run` keeps its compiled programs without --data: $XDG_CACHE_HOME/wasmgrid,
 * else ~/.cache/wasmgrid, else (no HOME) WG_DEFAULT_DATA_DIR. A new string. */
char *wg_cli_cache_dir(void);

/* Every error of a command is told by one of these two, on stderr, as one line:
 * wg_cli_fail prints "wasmgrid CMD: MESSAGE" and returns 1, the exit status of a failure;
 * wg_usage_error prints "wasmgrid CMD: MESSAGE (try 'wasmgrid help CMD')" and returns 2, the
 * exit status of usage errors. */
int wg_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wg_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How a command that compiles programs (worker, run, compile) does it. */
struct wg_cli_compile {
	uint32_t cpu_s, memory_mib; /* 0: the engine's defaults */
	int tiers;		    /* an enum wg_engine_tiers */
};

/* ---- commands and their options, declared once ----
 * One table per command gives the parser, `wasmgrid help COMMAND` (and COMMAND --help),
 * the manual page and, for the daemons, the lines of a --config file. */
enum wg_opt_type {
	WG_OPT_FLAG = 1, /* bool, no value */
	WG_OPT_STR,	 /* const char *, pointing into argv or the config file */
	WG_OPT_LIST,	 /* struct wg_opt_list: repeatable, every value kept in order */
	WG_OPT_U32,	 /* uint32_t in [min, max] */
	WG_OPT_U64,	 /* uint64_t in [min, max] */
	WG_OPT_FN,	 /* parse(): anything else (seconds, days, names) */
};

/* A value checker for WG_OPT_FN: stores into out, or reports a usage error (wg_usage_error)
 * and returns -1. */
struct wg_opt;
typedef int (*wg_opt_parse_fn)(const char *cmd, const struct wg_opt *o, const char *value,
			       void *out);

struct wg_opt {
	const char *name; /* without its "--" */
	const char *arg;  /* what the value is, as shown ("N", "DIR"); NULL for a flag */
	enum wg_opt_type type;
	size_t offset; /* of the value in the command's options struct */
	uint64_t min, max;
	wg_opt_parse_fn parse;
	/* The default, written as on the command line and parsed like it before anything
	 * else; NULL when there is none or the help says what happens. */
	const char *dflt;
	const char *help; /* one line, lower case, no full stop */
};

struct wg_opt_list {
	const char **v;
	size_t n;
};

struct wg_command {
	const char *name;
	const char *operands; /* as shown: "JOB", "[JOB]", "PROGRAM [ARG]", or NULL */
	unsigned min_operands, max_operands;
	const char *missing; /* the usage error when operands are missing */
	const char *summary;
	const struct wg_opt *opts; /* ends with an entry whose name is NULL */
	bool config;		   /* takes --config FILE: options as "name value" lines */
	bool api;		   /* talks to a manager's API (so --token-file F) */
	int (*run)(void *options, char **operands, size_t n_operands);
	size_t options_size;
};

/* Runs a command: defaults, the --config file, the command line, then c->run. argv[0] is
 * the command's name. Returns the exit status (0 after --help, 2 after a usage error). */
int wg_command_main(const struct wg_command *c, int argc, char **argv);
/* `wasmgrid help COMMAND`: its synopsis, summary and options with their defaults. */
void wg_command_help(FILE *out, const struct wg_command *c);
/* The synopsis line: "submit PROGRAM [--arg A]... [--wait]". */
void wg_command_synopsis(FILE *out, const struct wg_command *c);
/* Its section of the manual page (roff). */
void wg_command_man(FILE *out, const struct wg_command *c);

/* Frequent value checkers. */
int wg_opt_seconds(const char *cmd, const struct wg_opt *o, const char *value,
		   void *out);								/* double */
int wg_opt_tier(const char *cmd, const struct wg_opt *o, const char *value, void *out); /* int */
/* A whole number within [o->min, o->max]; 0 or -1 (reported). */
int wg_opt_uint(const char *cmd, const struct wg_opt *o, const char *value, uint64_t *out);

#endif
