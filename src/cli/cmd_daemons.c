/* wasmgrid manager / wasmgrid worker: the two daemons' options. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "engine/engine.h"
#include "manager/manager.h"
#include "manager/store.h"
#include "util/limits.h"
#include "worker/worker.h"

/* Both sides of a relationship ping every third of it (README). */
#define HEARTBEAT_DEFAULT "15000"

/* --keep-finished DAYS: fractions allowed (0.5 is twelve hours); stored in milliseconds. */
static int parse_days(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	char *end = NULL;
	double days = strtod(value, &end);
	if (!end || *end || end == value || !(days > 0) || days > 36500) {
		wg_usage_error(
		    cmd, "--%s takes a number of days above 0 (0.5 is twelve hours), not '%s'",
		    o->name, value);
		return -1;
	}
	uint64_t ms = (uint64_t)(days * 86400000.0);
	*(uint64_t *)out = ms ? ms : 1;
	return 0;
}

/* --store sqlite|postgresql://...: the URI itself is checked when the manager connects. */
static int parse_store(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	if (strcmp(value, "sqlite") && !wg_store_is_postgresql(value)) {
		wg_usage_error(cmd,
			       "--%s takes 'sqlite' or a PostgreSQL URI (postgresql://...), not "
			       "'%s'",
			       o->name, value);
		return -1;
	}
	*(const char **)out = value;
	return 0;
}

#define M(field) offsetof(struct wg_manager_options, field)
static const struct wg_opt manager_opts[] = {
    {"listen", "HOST:PORT", WG_OPT_STR, M(listen), .dflt = WG_DEFAULT_NODE_ADDR,
     .help = "the node protocol's address, where workers connect"},
    {"advertise", "HOST:PORT", WG_OPT_STR, M(advertise),
     .help = "the address workers are told to reach this manager at, when it shares a "
	     "store (default: --listen's, or this machine's name and the port)"},
    {"api", "HOST:PORT", WG_OPT_STR, M(api), .dflt = WG_DEFAULT_API_ADDR,
     .help = "the HTTP API's address (loopback only without --api-token-file)"},
    {"data", "DIR", WG_OPT_STR, M(data_dir), .dflt = WG_DEFAULT_DATA_DIR,
     .help = "the node key, and the job store unless --store says otherwise"},
    {"store", "sqlite|URI", WG_OPT_FN, M(store), .parse = parse_store, .dflt = "sqlite",
     .help = "the job store: DIR/manager.db, or PostgreSQL at URI (postgresql://...)"},
    {"workers", "open|FILE", WG_OPT_STR, M(workers), .dflt = "open",
     .help = "who may attach: anyone, or the node ids in FILE (one per line)"},
    {"port-file", "F", WG_OPT_STR, M(port_file),
     .help = "write the node port there once listening"},
    {"api-port-file", "F", WG_OPT_STR, M(api_port_file),
     .help = "write the API port there once listening"},
    {"heartbeat-ms", "MS", WG_OPT_U32, M(heartbeat_ms), 30, 3600000, .dflt = HEARTBEAT_DEFAULT,
     .help = "a relationship ends after this long without an answer to its pings"},
    {"max-slots", "N", WG_OPT_U32, M(max_slots), 1, WG_MAX_SLOTS,
     .help = "the most slots a worker may claim (default: what it says)"},
    {"api-token-file", "F", WG_OPT_STR, M(api_token_file),
     .help = "requests need 'Authorization: Bearer' with the token in F (docs/api.md)"},
    {"api-insecure", NULL, WG_OPT_FLAG, M(api_insecure),
     .help = "serve the API beyond loopback without a token"},
    {"lease-ms", "MS", WG_OPT_U32, M(lease_ms), 1000, 600000,
     .help = "on a shared store, others take this manager's work back after it is silent "
	     "that long (default: WG_DEFAULT_LEASE_MS)"},
    {"keep-finished", "DAYS", WG_OPT_FN, M(keep_finished_ms), .parse = parse_days,
     .help = "remove finished jobs this long after they finished (default: keep them)"},
    {0},
};
#undef M

static int run_manager(void *options, char **operands, size_t n)
{
	return wg_manager_run(options);
}

const struct wg_command wg_cmd_manager = {
    .name = "manager",
    .summary = "Runs a manager: it stores jobs and hands their tasks to its workers.",
    .opts = manager_opts,
    .config = true,
    .run = run_manager,
    .options_size = sizeof(struct wg_manager_options),
};

struct worker_cli {
	struct wg_opt_list manager, fetch;
	const char *managers, *data, *listen, *port_file;
	uint32_t slots, queue, heartbeat_ms, retry_max_ms, compile_cpu, compile_memory;
	uint64_t memory;
	int tier;
};

#define W(field) offsetof(struct worker_cli, field)
static const struct wg_opt worker_opts[] = {
    {"manager", "[ID@]HOST:PORT", WG_OPT_LIST, W(manager), .dflt = WG_DEFAULT_NODE_ADDR,
     .help = "a manager to attach to, tried in turn; with ID it must prove that key"},
    {"managers", "open|FILE", WG_OPT_STR, W(managers), .dflt = "open",
     .help = "who may manage this worker: anyone, or the node ids in FILE"},
    {"slots", "N", WG_OPT_U32, W(slots), 1, WG_MAX_SLOTS,
     .help = "tasks at once (default: one per core)"},
    {"queue", "N", WG_OPT_U32, W(queue), 0, 65536, .dflt = "256",
     .help = "tasks accepted beyond the running ones (the manager sends up to 256)"},
    {"memory", "MIB", WG_OPT_U64, W(memory), 1, WG_MAX_MEMORY_MIB,
     .help = "the most WebAssembly memory a task gets (default: WG_MAX_MEMORY_MIB, or less "
	     "RAM)"},
    {"data", "DIR", WG_OPT_STR, W(data), .dflt = WG_DEFAULT_DATA_DIR,
     .help = "the node key, fetched programs and compiled ones"},
    {"listen", "HOST:PORT", WG_OPT_STR, W(listen),
     .help = "also accept connections from managers there"},
    {"port-file", "F", WG_OPT_STR, W(port_file),
     .help = "write the --listen port there once listening"},
    {"heartbeat-ms", "MS", WG_OPT_U32, W(heartbeat_ms), 30, 3600000, .dflt = HEARTBEAT_DEFAULT,
     .help = "a relationship ends after this long without an answer to its pings"},
    {"retry-max-ms", "MS", WG_OPT_U32, W(retry_max_ms), 10, 600000,
     .help = "the longest wait between attempts to reach a manager (default: 5 s)"},
    {"fetch", "LIST", WG_OPT_LIST, W(fetch), .dflt = WG_FETCH_POLICY_DEFAULT,
     .help = "what programs may be fetched from: wasmgrid, https, http, private, file:DIR, "
	     "all (docs/engine.md)"},
    {"compile-cpu", "S", WG_OPT_U32, W(compile_cpu), 1, WG_MAX_COMPILE_CPU_S,
     .help = "CPU seconds each compiler of a program may use (default: "
	     "WG_DEFAULT_COMPILE_CPU_S)"},
    {"compile-memory", "MIB", WG_OPT_U32, W(compile_memory), WG_MIN_COMPILE_MEMORY_MIB,
     WG_MAX_COMPILE_MEMORY_MIB,
     .help = "address space of each compiler (default: WG_DEFAULT_COMPILE_MEMORY_MIB)"},
    {"tier", "T", WG_OPT_FN, W(tier), .parse = wg_opt_tier, .dflt = "auto",
     .help = "auto (quick tier first, optimised behind), quick or optimised"},
    {0},
};
#undef W

static int run_worker(void *options, char **operands, size_t n)
{
	const struct worker_cli *c = options;
	struct wg_worker_options o = {
	    .managers = c->manager.v,
	    .n_managers = c->manager.n,
	    .managers_authz = c->managers,
	    .listen = c->listen,
	    .port_file = c->port_file,
	    .data_dir = c->data,
	    .slots = c->slots,
	    .queue = c->queue,
	    .memory_mib = c->memory ? c->memory : WG_MAX_MEMORY_MIB,
	    .heartbeat_ms = c->heartbeat_ms,
	    .retry_max_ms = c->retry_max_ms,
	    .fetch = c->fetch.v,
	    .n_fetch = c->fetch.n,
	    .compile_cpu_s = c->compile_cpu,
	    .compile_memory_mib = c->compile_memory,
	    .tiers = c->tier,
	};
	return wg_worker_run(&o);
}

const struct wg_command wg_cmd_worker = {
    .name = "worker",
    .summary = "Runs a worker: it attaches to a manager and runs its tasks, sandboxed.",
    .opts = worker_opts,
    .config = true,
    .run = run_worker,
    .options_size = sizeof(struct worker_cli),
};
