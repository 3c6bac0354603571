/* wasmgrid run: executes one task locally, with the worker's engine and sandbox. The
 * result goes to stdout, the program's stderr (its last 4 KiB) to stderr, and a failure
 * ends with one line "wasmgrid run: KIND: reason" and the exit status of DESIGN.md.
 * wasmgrid compile: puts a program's optimised tier into the cache, which run starts in
 * the background when it ran the program on the quick tier. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
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

int wg_cmd_run(int argc, char **argv)
{
	const char *program = NULL, *arg = NULL, *arg_file = NULL, *data = NULL;
	char *cache = NULL;
	double timeout_s = 0;
	uint64_t memory_mib = 0, seed = 0;
	struct wg_cli_compile compile = {0};
	const char *cmd = "run";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int r;
		if ((r = wg_opt_value(cmd, argc, argv, &i, "--arg-file", &arg_file)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--data", &data))) {
			if (r < 0)
				return 2;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--timeout", &v))) {
			/* Seconds, fractions allowed. */
			char *end = NULL;
			timeout_s = r > 0 ? strtod(v, &end) : 0;
			if (r < 0 || *end || end == v || !(timeout_s > 0) ||
			    timeout_s > WG_MAX_TIMEOUT_MS / 1000.0)
				return r < 0 ? 2
					     : wg_usage_error(cmd,
							      "--timeout takes seconds, above 0 "
							      "and at most %u, not '%s'",
							      WG_MAX_TIMEOUT_MS / 1000, v);
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--memory", &v))) {
			if (r < 0 ||
			    wg_opt_uint(cmd, "--memory", v, 1, WG_MAX_MEMORY_MIB, &memory_mib))
				return 2;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--seed", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--seed", v, 0, UINT64_MAX, &seed))
				return 2;
		} else if ((r = wg_opt_compile(cmd, argc, argv, &i, &compile))) {
			if (r < 0)
				return 2;
		} else if (a[0] == '-' && a[1] == '-') {
			return wg_usage_error(cmd, "unknown option '%s'", a);
		} else if (!program) {
			program = a;
		} else if (!arg) {
			arg = a;
		} else {
			return wg_usage_error(cmd, "unexpected argument '%s'", a);
		}
	}
	if (!program)
		return wg_usage_error("run", "missing PROGRAM");
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
	struct wg_engine_options options = {.data_dir = data,
					    .compile_cpu_s = compile.cpu_s,
					    .compile_memory_mib = compile.memory_mib,
					    .tiers = (enum wg_engine_tiers)compile.tiers};
	rc = wg_engine_create(&loop, &options, &engine);
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

int wg_cmd_compile(int argc, char **argv)
{
	const char *cmd = "compile", *program = NULL, *data = NULL;
	struct wg_cli_compile compile = {.tiers = WG_TIERS_OPTIMISED};
	for (int i = 1; i < argc; i++) {
		int r;
		if ((r = wg_opt_value(cmd, argc, argv, &i, "--data", &data)) ||
		    (r = wg_opt_compile(cmd, argc, argv, &i, &compile))) {
			if (r < 0)
				return 2;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return wg_usage_error(cmd, "unknown option '%s'", argv[i]);
		} else if (!program) {
			program = argv[i];
		} else {
			return wg_usage_error(cmd, "unexpected argument '%s'", argv[i]);
		}
	}
	if (!program)
		return wg_usage_error(cmd, "missing PROGRAM");
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
	struct wg_engine_options options = {.data_dir = data,
					    .compile_cpu_s = compile.cpu_s,
					    .compile_memory_mib = compile.memory_mib,
					    .tiers = (enum wg_engine_tiers)compile.tiers};
	rc = wg_engine_create(&loop, &options, &engine);
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
