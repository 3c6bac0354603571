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
#include "util/log.h"

#define WG__MAX_ARGUMENT_BYTES (64u << 20)

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
		fprintf(stderr, "wasmgrid run: %s: %s\n", wg_error_kind_name(o->error_kind), o->detail);
	s->exit_code = wg_error_kind_exit_status(o->error_kind);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int wg_cmd_run(int argc, char **argv)
{
	const char *program = NULL, *arg = NULL, *arg_file = NULL, *data = WG_DEFAULT_DATA_DIR;
	double timeout_s = 0;
	uint64_t memory_mib = 0, seed = 0, compile_cpu = 0, compile_memory = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_value = i + 1 < argc;
		if (!strcmp(a, "--arg-file") && has_value) {
			arg_file = argv[++i];
		} else if (!strcmp(a, "--timeout") && has_value) {
			char *end;
			timeout_s = strtod(argv[++i], &end);
			if (*end || timeout_s <= 0 || timeout_s > 4e6)
				return wg_usage_error("run", "bad --timeout '%s'", argv[i]);
		} else if (!strcmp(a, "--memory") && has_value) {
			i++;
			if (parse_u64(argv[i], &memory_mib) || memory_mib == 0 || memory_mib > 4095)
				return wg_usage_error("run", "bad --memory '%s' (MiB, 1-4095)",
						      argv[i]);
		} else if (!strcmp(a, "--seed") && has_value) {
			if (parse_u64(argv[++i], &seed))
				return wg_usage_error("run", "bad --seed '%s'", argv[i]);
		} else if (!strcmp(a, "--compile-cpu") && has_value) {
			if (parse_u64(argv[++i], &compile_cpu) || !compile_cpu || compile_cpu > 86400)
				return wg_usage_error("run", "bad --compile-cpu '%s' (s, 1-86400)",
						      argv[i]);
		} else if (!strcmp(a, "--compile-memory") && has_value) {
			if (parse_u64(argv[++i], &compile_memory) || compile_memory < 64 ||
			    compile_memory > 1048576)
				return wg_usage_error("run", "bad --compile-memory '%s' (MiB, 64 or "
						      "more)", argv[i]);
		} else if (!strcmp(a, "--data") && has_value) {
			data = argv[++i];
		} else if (a[0] == '-' && a[1] == '-') {
			return wg_usage_error("run", "unknown or incomplete option '%s'", a);
		} else if (!program) {
			program = a;
		} else if (!arg) {
			arg = a;
		} else {
			return wg_usage_error("run", "unexpected argument '%s'", a);
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
	int rc = wg_read_file(program, 64u << 20, &bytes, &len);
	if (rc) {
		fprintf(stderr, "wasmgrid run: DownloadError: cannot read %s: %s\n", program,
			wg_strerror(rc));
		code = 3;
		goto out;
	}
	if (arg_file) {
		rc = wg_read_file(arg_file, WG__MAX_ARGUMENT_BYTES, &file_arg, &arg_len);
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
	struct wg_engine_options options = {.data_dir = data,
					    .compile_cpu_s = (uint32_t)compile_cpu,
					    .compile_memory_mib = (uint32_t)compile_memory};
	rc = wg_engine_create(&loop, &options, &engine);
	if (rc) {
		fprintf(stderr, "wasmgrid run: cannot use the data directory %s: %s\n", data,
			wg_strerror(rc));
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
		.argument_len = arg_file ? arg_len : arg ? strlen(arg) : 0,
		.timeout_ms = (uint32_t)(timeout_s * 1000 + 0.5),
		.memory_bytes = memory_mib << 20,
		.random_seed = seed,
	};
	rc = wg_engine_submit(engine, &task, NULL, on_done, &state);
	if (rc) {
		fprintf(stderr, "wasmgrid run: cannot start the task: %s\n", wg_strerror(rc));
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
	return code;
}
