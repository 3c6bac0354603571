/* The worker daemon: attaches to one manager at a time, keeps the relationship alive, and
 * (with the execution engine) runs the tasks it is given. */
#ifndef WG_WORKER_WORKER_H
#define WG_WORKER_WORKER_H
#include <stddef.h>
#include <stdint.h>

struct wg_worker_options {
	/* Manager addresses, "[NODEID@]HOST:PORT": with NODEID the manager must prove that key. */
	const char *const *managers;
	size_t n_managers;
	const char *managers_authz; /* "open" or a file of node ids allowed to manage us */
	const char *listen;	    /* optional node protocol address, or NULL */
	const char *port_file;
	const char *data_dir;
	uint32_t slots;	     /* tasks at once (0: one per core) */
	uint32_t queue;	     /* tasks accepted beyond the running ones */
	uint64_t memory_mib; /* WebAssembly memory limit per task */
	uint32_t heartbeat_ms;
	uint32_t retry_max_ms; /* cap of the reconnection backoff */
	/* What programs may be fetched from: --fetch lists (engine.h), none: the default. */
	const char *const *fetch;
	size_t n_fetch;
	uint32_t compile_cpu_s; /* limits of each compiler process (0: the engine's) */
	uint32_t compile_memory_mib;
	int tiers; /* an enum wg_engine_tiers */
};

int wg_worker_run(const struct wg_worker_options *o);

#endif
