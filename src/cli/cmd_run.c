/* wasmgrid run: executes one task locally, with the worker's engine and sandbox. The
 * result goes to stdout, the program's stderr (its last 4 KiB) to stderr, and a failure
 * ends with one line "wasmgrid run: KIND: reason" and the exit status of DESIGN.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
};

static void on_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct run_state *s = user;
	if (o->result_len)
		fwrite(o->result, 1, o->result_len, stdout);
	fflush(stdout);
	if (o->stderr_tail_len)
		fwrite(o->stderr_tail, 1, o->stderr_tail_len, stderr);
	if (o->error_kind)
		wg_cli_fail("run", "%s: %s", wg_error_kind_name(o->error_kind), o->detail);
	s->exit_code = wg_error_kind_exit_status(o->error_kind);
}

int wg_cmd_run(int argc, char **argv)
{
	const char *program = NULL, *arg = NULL, *arg_file = NULL, *data = NULL;
	char *cache = NULL;
	double timeout_s = 0;
	uint64_t memory_mib = 0, seed = 0, compile_cpu = 0, compile_memory = 0;
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
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--compile-cpu", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--compile-cpu", v, 1, WG_MAX_COMPILE_CPU_S,
						 &compile_cpu))
				return 2;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--compile-memory", &v))) {
			if (r < 0 ||
			    wg_opt_uint(cmd, "--compile-memory", v, WG_MIN_COMPILE_MEMORY_MIB,
					WG_MAX_COMPILE_MEMORY_MIB, &compile_memory))
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
					    .compile_cpu_s = (uint32_t)compile_cpu,
					    .compile_memory_mib = (uint32_t)compile_memory};
	rc = wg_engine_create(&loop, &options, &engine);
	if (rc) {
		wg_cli_fail("run", "cannot use the data directory %s: %s", data, wg_strerror(rc));
		goto out;
	}
	const char *addresses[] = {program};
	struct run_state state = {.exit_code = 1};
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
