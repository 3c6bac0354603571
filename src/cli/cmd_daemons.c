/* wasmgrid manager / wasmgrid worker: option parsing for the two daemons. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "manager/manager.h"
#include "util/limits.h"
#include "worker/worker.h"

#define DEFAULT_HEARTBEAT_MS 15000

int wg_cmd_manager(int argc, char **argv)
{
	const char *cmd = "manager";
	struct wg_manager_options o = {
	    .listen = WG_DEFAULT_NODE_ADDR,
	    .api = WG_DEFAULT_API_ADDR,
	    .data_dir = WG_DEFAULT_DATA_DIR,
	    .workers = "open",
	    .heartbeat_ms = DEFAULT_HEARTBEAT_MS,
	};
	for (int i = 1; i < argc; i++) {
		const char *v;
		uint64_t n;
		int r;
		if ((r = wg_opt_value(cmd, argc, argv, &i, "--listen", &o.listen)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--api", &o.api)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--data", &o.data_dir)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--workers", &o.workers)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--port-file", &o.port_file)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--api-port-file", &o.api_port_file)) ||
		    (r = wg_opt_value(cmd, argc, argv, &i, "--api-token-file",
				      &o.api_token_file))) {
			if (r < 0)
				return 2;
		} else if (!strcmp(argv[i], "--api-insecure")) {
			o.api_insecure = true;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--heartbeat-ms", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--heartbeat-ms", v, 30, 3600000, &n))
				return 2;
			o.heartbeat_ms = (uint32_t)n;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--max-slots", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--max-slots", v, 1, WG_MAX_SLOTS, &n))
				return 2;
			o.max_slots = (uint32_t)n;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--keep-finished", &v))) {
			/* Days, fractions allowed (0.5 is twelve hours). */
			char *end = NULL;
			double days = r > 0 ? strtod(v, &end) : -1;
			if (r < 0 || !end || *end || end == v || !(days > 0) || days > 36500)
				return wg_usage_error(cmd,
						      "--keep-finished takes a number of days "
						      "above 0 (0.5 is twelve hours), not '%s'",
						      r < 0 ? "" : v);
			o.keep_finished_ms = (uint64_t)(days * 86400000.0);
			if (!o.keep_finished_ms)
				o.keep_finished_ms = 1;
		} else {
			return wg_usage_error(cmd, "unknown option '%s'", argv[i]);
		}
	}
	return wg_manager_run(&o);
}

int wg_cmd_worker(int argc, char **argv)
{
	const char *cmd = "worker";
	const char **managers = calloc((size_t)argc, sizeof *managers);
	const char **fetch = calloc((size_t)argc, sizeof *fetch);
	struct wg_cli_compile compile = {0};
	struct wg_worker_options o = {
	    .managers = managers,
	    .fetch = fetch,
	    .managers_authz = "open",
	    .data_dir = WG_DEFAULT_DATA_DIR,
	    .memory_mib = WG_MAX_MEMORY_MIB,
	    /* The manager sends short tasks in batches of up to 256 beyond the running ones
	     * (manager/dispatch.c); a smaller queue makes it refuse the rest. */
	    .queue = 256,
	    .heartbeat_ms = DEFAULT_HEARTBEAT_MS,
	};
	int status = 2;
	if (!managers || !fetch) {
		free(managers);
		free(fetch);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *v;
		uint64_t n;
		int r;
		if ((r = wg_opt_value(cmd, argc, argv, &i, "--manager", &v))) {
			if (r < 0)
				goto out;
			managers[o.n_managers++] = v;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--fetch", &v))) {
			if (r < 0)
				goto out;
			fetch[o.n_fetch++] = v;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--managers",
					     &o.managers_authz)) ||
			   (r = wg_opt_value(cmd, argc, argv, &i, "--data", &o.data_dir)) ||
			   (r = wg_opt_value(cmd, argc, argv, &i, "--listen", &o.listen)) ||
			   (r = wg_opt_value(cmd, argc, argv, &i, "--port-file", &o.port_file))) {
			if (r < 0)
				goto out;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--slots", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--slots", v, 1, WG_MAX_SLOTS, &n))
				goto out;
			o.slots = (uint32_t)n;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--queue", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--queue", v, 0, 65536, &n))
				goto out;
			o.queue = (uint32_t)n;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--memory", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--memory", v, 1, WG_MAX_MEMORY_MIB, &n))
				goto out;
			o.memory_mib = n;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--heartbeat-ms", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--heartbeat-ms", v, 30, 3600000, &n))
				goto out;
			o.heartbeat_ms = (uint32_t)n;
		} else if ((r = wg_opt_compile(cmd, argc, argv, &i, &compile))) {
			if (r < 0)
				goto out;
		} else if ((r = wg_opt_value(cmd, argc, argv, &i, "--retry-max-ms", &v))) {
			if (r < 0 || wg_opt_uint(cmd, "--retry-max-ms", v, 10, 600000, &n))
				goto out;
			o.retry_max_ms = (uint32_t)n;
		} else {
			wg_usage_error(cmd, "unknown option '%s'", argv[i]);
			goto out;
		}
	}
	if (o.n_managers == 0)
		managers[o.n_managers++] = WG_DEFAULT_NODE_ADDR;
	o.compile_cpu_s = compile.cpu_s;
	o.compile_memory_mib = compile.memory_mib;
	o.tiers = compile.tiers;
	status = wg_worker_run(&o);
out:
	free(managers);
	free(fetch);
	return status;
}
