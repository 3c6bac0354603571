/* wasmgrid run: executes one task locally, with the worker's engine and sandbox. The
 * result goes to stdout, the program's stderr (its last 4 KiB) to stderr, and a failure
 * ends with one line "wasmgrid run: KIND: reason" and the exit status of DESIGN.md.
 * wasmgrid compile: puts a program's optimised tier into the cache, which run starts in
 * the background when it ran the program on the quick tier. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "engine/engine.h"
#include "node/error_kind.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/log.h"

struct run_state {
	int exit_code;
	uv_loop_t *loop;
};

static void on_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct run_state *s = user;
	/* Done: the optimised tier, if it is still being built, is not waited for. */
	uv_stop(s->loop);
	if (o->result_len)
		fwrite(o->result, 1, o->result_len, stdout);
	fflush(stdout);
	if (o->stderr_tail_len)
		fwrite(o->stderr_tail, 1, o->stderr_tail_len, stderr);
	if (o->error_kind)
		wg_cli_fail("run", "%s: %s", wg_error_kind_name(o->error_kind), o->detail);
	s->exit_code = wg_error_kind_exit_status(o->error_kind);
}

/* Starts `wasmgrid compile` for the program, detached (its own session, no terminal, no
 * output), so that the next run finds the optimised tier in the cache. */
static void compile_behind(const char *program, const char *data, const struct wg_cli_compile *c)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return;
	self[n] = 0;
	char cpu[32], memory[32];
	snprintf(cpu, sizeof cpu, "--compile-cpu=%u",
		 c->cpu_s ? c->cpu_s : WG_DEFAULT_COMPILE_CPU_S);
	snprintf(memory, sizeof memory, "--compile-memory=%u",
		 c->memory_mib ? c->memory_mib : WG_DEFAULT_COMPILE_MEMORY_MIB);
	char *args[] = {self,	      "compile", (char *)program, "--data",
			(char *)data, cpu,	 memory,	  NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	for (int fd = 0; fd < 3; fd++)
		posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	pid_t pid;
	extern char **environ;
	posix_spawn(&pid, self, &fa, &attr, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
}

struct run_cli {
	const char *arg_file, *data;
	double timeout_s;
	uint64_t memory_mib, seed;
	struct wg_cli_compile compile;
};

/* The options of run and compile that say how programs are compiled. */
#define COMPILE_OPTS(type, dflt_tier)                                                              \
	{"compile-cpu",                                                                            \
	 "S",                                                                                      \
	 WG_OPT_U32,                                                                               \
	 offsetof(type, compile.cpu_s),                                                            \
	 1,                                                                                        \
	 WG_MAX_COMPILE_CPU_S,                                                                     \
	 .help = "CPU seconds each compiler of the program may use (default: "                     \
		 "WG_DEFAULT_COMPILE_CPU_S)"},                                                     \
	    {"compile-memory",                                                                     \
	     "MIB",                                                                                \
	     WG_OPT_U32,                                                                           \
	     offsetof(type, compile.memory_mib),                                                   \
	     WG_MIN_COMPILE_MEMORY_MIB,                                                            \
	     WG_MAX_COMPILE_MEMORY_MIB,                                                            \
	     .help = "address space of each compiler (default: WG_DEFAULT_COMPILE_MEMORY_MIB)"},   \
	{                                                                                          \
		"tier", "T", WG_OPT_FN, offsetof(type, compile.tiers),                             \
		    .parse = wg_opt_tier, .dflt = (dflt_tier),                                     \
		    .help = "auto (quick tier first, optimised behind), quick or optimised"        \
	}

#define DATA_HELP                                                                                  \
	"where programs are cached (default: $XDG_CACHE_HOME/wasmgrid or ~/.cache/wasmgrid)"

static const struct wg_opt run_opts[] = {
    {"arg-file", "F", WG_OPT_STR, offsetof(struct run_cli, arg_file),
     .help = "the argument is the bytes of F (instead of ARG)"},
    {"timeout", "S", WG_OPT_FN, offsetof(struct run_cli, timeout_s), .parse = wg_opt_seconds,
     .help = "wall-clock limit in seconds, fractions allowed (default: none)"},
    {"memory", "MIB", WG_OPT_U64, offsetof(struct run_cli, memory_mib), 1, WG_MAX_MEMORY_MIB,
     .help = "the most WebAssembly memory the task gets (default: WG_DEFAULT_MEMORY_MIB)"},
    {"seed", "N", WG_OPT_U64, offsetof(struct run_cli, seed), 0, UINT64_MAX, .dflt = "0",
     .help = "seeds random_get (a worker uses the task id)"},
    {"data", "DIR", WG_OPT_STR, offsetof(struct run_cli, data), .help = DATA_HELP},
    COMPILE_OPTS(struct run_cli, "auto"),
    {0},
};

static int run_run(void *options, char **operands, size_t n_operands)
{
	const struct run_cli *c = options;
	const char *program = operands[0], *arg = n_operands > 1 ? operands[1] : NULL;
	const char *arg_file = c->arg_file, *data = c->data;
	char *cache = NULL;
	double timeout_s = c->timeout_s;
	uint64_t memory_mib = c->memory_mib, seed = c->seed;
	struct wg_cli_compile compile = c->compile;
	if (arg && arg_file)
		return wg_usage_error("run", "give ARG or --arg-file, not both");

	int code = 1;
	uint8_t *bytes = NULL, *file_arg = NULL;
	size_t len = 0, arg_len = 0;
	struct wg_engine *engine = NULL;
	uv_loop_t loop;
	int loop_ready = 0;
	int rc = wg_read_file(program, WG_MAX_PROGRAM_BYTES, &bytes, &len);
	if (rc) {
		wg_cli_fail("run", "DownloadError: cannot read %s: %s", program, wg_strerror(rc));
		code = 3;
		goto out;
	}
	if (arg_file) {
		rc = wg_read_file(arg_file, WG_MAX_ARGUMENT_BYTES, &file_arg, &arg_len);
		if (rc) {
			code = wg_usage_error("run", "cannot read --arg-file %s: %s", arg_file,
					      wg_strerror(rc));
			goto out;
		}
	}
	char hash[65];
	wg_engine_hash_hex(bytes, len, hash);
	/* The one-line reason is ours to print; engine log lines would only repeat it. */
	wg_log_set_level(WG_LOG_ERROR);
	uv_loop_init(&loop);
	loop_ready = 1;
	/* Without --data, the user's cache directory: not a folder dropped where they stand. */
	cache = data ? NULL : wg_cli_cache_dir();
	if (cache)
		data = cache;
	struct wg_engine_options eo = {.data_dir = data,
				       .compile_cpu_s = compile.cpu_s,
				       .compile_memory_mib = compile.memory_mib,
				       .tiers = (enum wg_engine_tiers)compile.tiers};
	rc = wg_engine_create(&loop, &eo, &engine);
	if (rc) {
		wg_cli_fail("run", "cannot use the data directory %s: %s", data, wg_strerror(rc));
		goto out;
	}
	const char *addresses[] = {program};
	struct run_state state = {.exit_code = 1, .loop = &loop};
	struct wg_engine_task task = {
	    .task_id = 1,
	    .addresses = addresses,
	    .n_addresses = 1,
	    .hash_hex = hash,
	    .argument = arg_file ? file_arg : (const uint8_t *)arg,
	    .argument_len = arg_file ? arg_len
			    : arg    ? strlen(arg)
				     : 0,
	    .timeout_ms = (uint32_t)(timeout_s * 1000 + 0.5),
	    .memory_bytes = memory_mib << 20,
	    .random_seed = seed,
	};
	rc = wg_engine_submit(engine, &task, NULL, on_done, &state);
	if (rc) {
		wg_cli_fail("run", "cannot start the task: %s", wg_strerror(rc));
		goto out;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	code = state.exit_code;
	/* It ran on the quick tier: the optimised one is built by a process of its own,
	 * for the next run, while this one ends. */
	int behind = compile.tiers == WG_TIERS_AUTO && wg_engine_building(engine);
	wg_engine_free(engine);
	engine = NULL;
	if (behind)
		compile_behind(program, data, &compile);
out:
	if (engine)
		wg_engine_free(engine);
	if (loop_ready) {
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	free(bytes);
	free(file_arg);
	free(cache);
	return code;
}

struct compile_state {
	int kind;
	char detail[300];
};

static void on_compiled(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct compile_state *s = user;
	s->kind = o->error_kind;
	snprintf(s->detail, sizeof s->detail, "%s", o->detail);
}

struct compile_cli {
	const char *data;
	struct wg_cli_compile compile;
};

static const struct wg_opt compile_opts[] = {
    {"data", "DIR", WG_OPT_STR, offsetof(struct compile_cli, data), .help = DATA_HELP},
    COMPILE_OPTS(struct compile_cli, "optimised"),
    {0},
};

static int run_compile(void *options, char **operands, size_t n_operands)
{
	const struct compile_cli *c = options;
	const char *cmd = "compile", *program = operands[0], *data = c->data;
	struct wg_cli_compile compile = c->compile;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc = wg_read_file(program, WG_MAX_PROGRAM_BYTES, &bytes, &len);
	if (rc)
		return wg_cli_fail(cmd, "cannot read %s: %s", program, wg_strerror(rc));
	char hash[65];
	wg_engine_hash_hex(bytes, len, hash);
	free(bytes);
	char *cache = data ? NULL : wg_cli_cache_dir();
	if (cache)
		data = cache;
	int code = 1, lock = -1;
	struct wg_engine *engine = NULL;
	uv_loop_t loop;
	uv_loop_init(&loop);
	wg_log_set_level(WG_LOG_ERROR);
	struct wg_engine_options eo = {.data_dir = data,
				       .compile_cpu_s = compile.cpu_s,
				       .compile_memory_mib = compile.memory_mib,
				       .tiers = (enum wg_engine_tiers)compile.tiers};
	rc = wg_engine_create(&loop, &eo, &engine);
	if (rc) {
		wg_cli_fail(cmd, "cannot use the data directory %s: %s", data, wg_strerror(rc));
		goto out;
	}
	/* One compile at a time per data directory: runs started together each ask for one,
	 * and the others have nothing to add. */
	char *lock_path = wg_path_join(data, "cache/compile.lock");
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock_path);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB)) {
		code = wg_cli_fail(cmd, "another compile is running in %s", data);
		goto out;
	}
	const char *addresses[] = {program};
	struct compile_state state = {.kind = -1};
	struct wg_engine_task task = {
	    .task_id = 1,
	    .addresses = addresses,
	    .n_addresses = 1,
	    .hash_hex = hash,
	    .prepare_only = true,
	};
	rc = wg_engine_submit(engine, &task, NULL, on_compiled, &state);
	if (rc) {
		wg_cli_fail(cmd, "cannot start: %s", wg_strerror(rc));
		goto out;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (state.kind == 0)
		code = 0;
	else
		wg_cli_fail(cmd, "%s: %s", wg_error_kind_name(state.kind), state.detail);
out:
	if (engine)
		wg_engine_free(engine);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (lock >= 0)
		close(lock);
	free(cache);
	return code;
}

const struct wg_command wg_cmd_run = {
    .name = "run",
    .operands = "PROGRAM [ARG]",
    .min_operands = 1,
    .max_operands = 2,
    .missing = "missing PROGRAM",
    .summary = "Runs one task here, in the same sandbox as a worker: the result on stdout.",
    .opts = run_opts,
    .run = run_run,
    .options_size = sizeof(struct run_cli),
};

const struct wg_command wg_cmd_compile = {
    .name = "compile",
    .operands = "PROGRAM",
    .min_operands = 1,
    .max_operands = 1,
    .missing = "missing PROGRAM",
    .summary = "Compiles a program into the cache now (the optimised tier, as run leaves behind).",
    .opts = compile_opts,
    .run = run_compile,
    .options_size = sizeof(struct compile_cli),
};
