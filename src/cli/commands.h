/* The subcommands of the wasmgrid binary. Each takes argc/argv starting at its own name
 * and returns the process exit status. */
#ifndef WG_CLI_COMMANDS_H
#define WG_CLI_COMMANDS_H
#include "cli/options.h"

int wg_cmd_id(int argc, char **argv);
int wg_cmd_manager(int argc, char **argv);
int wg_cmd_worker(int argc, char **argv);
int wg_cmd_workers(int argc, char **argv);
int wg_cmd_submit(int argc, char **argv);
int wg_cmd_status(int argc, char **argv);
int wg_cmd_wait(int argc, char **argv);
int wg_cmd_results(int argc, char **argv);
int wg_cmd_cancel(int argc, char **argv);
int wg_cmd_remove(int argc, char **argv);
int wg_cmd_run(int argc, char **argv);
int wg_cmd_compile(int argc, char **argv);

/* Every further command: X(name, function, usage line). Add one line per command. */
#define WG_EXTRA_COMMANDS(X)                                                                       \
	X("manager", wg_cmd_manager,                                                               \
	  "manager [--listen A] [--api A] [--data DIR] [--workers open|FILE] [--port-file F]\n"    \
	  "                   [--api-port-file F] [--heartbeat-ms MS] [--max-slots N]\n"           \
	  "                   [--api-token-file F] [--api-insecure] [--keep-finished DAYS]")       \
	X("worker", wg_cmd_worker,                                                                 \
	  "worker [--manager [ID@]A]... [--slots N] [--queue N] [--memory MIB] [--data DIR]\n"     \
	  "                   [--managers open|FILE] [--listen A] [--port-file F] "                \
	  "[--heartbeat-ms MS]\n"                                                                  \
	  "                   " WG_CLI_COMPILE_USAGE " [--fetch LIST]...")                         \
	X("workers", wg_cmd_workers,                                                               \
	  "workers [--json] [--api A]       list the manager's workers")                           \
	X("submit", wg_cmd_submit,                                                                 \
	  "submit PROGRAM.wasm|URL [--hash H] [--arg A]... [--args-file F] [--timeout S]\n"        \
	  "                   [--memory MIB] [--result-limit BYTES] [--priority N] [--redundancy " \
	  "K]\n"                                                                                   \
	  "                   [--max-failures N] [--api A] [--wait]   submit a job, print its id") \
	X("status", wg_cmd_status, "status [JOB] [--json] [--api A]  one job, or a table of jobs") \
	X("wait", wg_cmd_wait, "wait JOB [--api A]              wait for a job, with progress")    \
	X("results", wg_cmd_results, "results JOB [--json] [--api A]  one line per task")          \
	X("cancel", wg_cmd_cancel,                                                                 \
	  "cancel JOB [--api A]            cancel a job's remaining tasks")                        \
	X("remove", wg_cmd_remove,                                                                 \
	  "remove JOB [--api A]            delete a job with its results (cancelled first)")       \
	X("run", wg_cmd_run,                                                                       \
	  "run PROGRAM [ARG | --arg-file F] [--timeout S] [--memory MIB] [--seed N]\n"             \
	  "                   [--data DIR] " WG_CLI_COMPILE_USAGE "\n"                             \
	  "                   run one task here, in the same sandbox as a worker")                 \
	X("compile", wg_cmd_compile,                                                               \
	  "compile PROGRAM [--data DIR] " WG_CLI_COMPILE_USAGE "\n"                                \
	  "                   compile a program into the cache now (optimised tier)")

#endif
