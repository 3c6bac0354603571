/* The manager daemon: accepts workers, keeps the relationship with each, serves the HTTP
 * API, and (with the job core) hands out tasks and collects results. */
#ifndef WG_MANAGER_MANAGER_H
#define WG_MANAGER_MANAGER_H
#include <stdbool.h>
#include <stdint.h>

struct wg_manager_options {
	const char *listen; /* node protocol "HOST:PORT" */
	const char *api;    /* HTTP API "HOST:PORT" */
	/* The node address other nodes are told (HOST:PORT), or NULL: --listen's host (the
	 * machine's name when it listens on every interface) and bound port. */
	const char *advertise;
	const char *data_dir;
	/* Where jobs are kept: "sqlite" (DATA_DIR/manager.db) or a PostgreSQL connection URI
	 * (postgresql://...; docs/deploy.md). */
	const char *store;
	const char *workers;	   /* "open" or a file of node ids */
	const char *port_file;	   /* written with the node port once bound, or NULL */
	const char *api_port_file; /* written with the API port once bound, or NULL */
	uint32_t heartbeat_ms;	   /* a relationship ends after this long without a pong */
	uint32_t max_slots;	   /* cap on the slots a worker may claim (0: no cap) */
	/* A file holding the API's bearer token (docs/api.md), or NULL: then the API listens
	 * on a loopback address only, unless api_insecure says otherwise. */
	const char *api_token_file;
	bool api_insecure;
	/* On a shared store (PostgreSQL), how long this manager's lease lasts unrenewed before
	 * other managers take its work back (0: WG_DEFAULT_LEASE_MS). */
	uint32_t lease_ms;
	/* Finished jobs are removed this long after they finished (0: kept until removed). */
	uint64_t keep_finished_ms;
};

/* Runs the manager until SIGINT or SIGTERM. Returns the process exit status. */
int wg_manager_run(const struct wg_manager_options *o);

#endif
