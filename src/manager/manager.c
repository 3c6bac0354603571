/* The manager's side of node connections: accepting peers, the relationship rules of
 * PROTOCOL.md (through node/relation.c), heartbeats, and shutting down with ManagerBye. */
#include "manager/manager.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager/jobs.h"
#include "manager/manager_internal.h"
#include "util/addr.h"
#include "node/daemon.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/log.h"

static void peer_lost(struct wg_peer *peer, const char *why);

/* The relationship with a worker ended, whatever the reason: stop its heartbeat (and,
 * with the job core, send its tasks back to the queue). */
static void worker_gone(struct wg_manager *m, struct wg_peer *peer, const char *why)
{
	wg_peer_stop_heartbeat(peer);
	wg_info(peer->rel.short_id, "worker detached: %s", why);
	wg__dispatch_worker_gone(m, peer);
}

static void on_open_rpc(struct wg_peer *peer)
{
	wg_peer_opened(peer);
	wg_info(peer->rel.short_id, "connection from %s", peer->addr);
}

static int rpc_open(struct wg_rpc *rpc, void *user)
{
	on_open_rpc(user);
	return 0;
}

/* The ManagerAnswer, telling an accepted worker of the other live managers of the store
 * (where it may go when this one is gone). */
static void answer_with_others(struct wg_manager *m, struct wg_peer *peer, uint64_t id,
			       bool accepted)
{
	struct wg_jobs_manager *list = NULL;
	size_t n = 0, k = 0;
	if (accepted && wg_jobs_managers(m->jobs, &list, &n) != 0)
		n = 0;
	struct wg_peer_manager *others = n ? wg_calloc(n, sizeof *others) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (list[i].self || !list[i].live || !list[i].node_addr[0] ||
		    strlen(list[i].node_id) != 64 ||
		    wg_hex_decode(list[i].node_id, others[k].node_id, 32))
			continue;
		others[k++].address = list[i].node_addr;
	}
	wg_peer_answer_manager(peer, id, accepted, others, k);
	free(others);
	wg_jobs_managers_free(list, n);
}

/* "HOST:PORT" for the address `configured` bound on `port`: an unspecified host (every
 * interface) is named by the machine's name, which other machines can resolve. */
static char *reachable_addr(const char *configured, int port)
{
	char host[256] = "";
	int ignored = 0;
	if (wg_addr_split(configured, host, sizeof host, &ignored) < 0)
		host[0] = 0;
	if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "[::]")) {
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = 0;
	}
	return strchr(host, ':') ? wg_asprintf("[%s]:%d", host, port)
				 : wg_asprintf("%s:%d", host, port);
}

static void answer_manager_request(struct wg_manager *m, struct wg_peer *peer, uint64_t id,
				   const Wasmgrid__ManagerRequest *req)
{
	struct wg_specs specs = {
	    .cores = req->cores,
	    .memory = req->memory,
	    .slots = req->slots ? req->slots : req->cores,
	};
	for (size_t i = 0; i < req->n_program_kinds; i++)
		if (req->program_kinds[i] == WASMGRID__PROGRAM_KIND__WASI_PREVIEW1)
			specs.wasi_preview1 = true;
	/* A worker's specs are claims: cap what it may ask of us. */
	if (m->opts->max_slots && specs.slots > m->opts->max_slots) {
		specs.slots = m->opts->max_slots;
		specs.slots_capped = true;
	}
	bool was_partner = peer->rel.partner;
	/* No worker joins while the job store is down: it could not be given tasks. */
	bool accepted = m->jobs && wg_rel_answer_manager_request(&m->rel, &peer->rel, &specs);
	answer_with_others(m, peer, id, accepted);
	if (!accepted) {
		const char *why =
		    !m->jobs				       ? "the job store is down"
		    : peer->rel.known_type != WG_NODE_WORKER   ? "it is not known as a worker"
		    : !wg_authz_allows(m->authz, peer->rel.id) ? "it is not in the --workers list"
							       : "no room for more workers";
		wg_warn(peer->rel.short_id, "refused ManagerRequest from %s: %s", peer->addr, why);
		return;
	}
	if (!was_partner) {
		wg_info(peer->rel.short_id, "worker attached from %s: %u cores, %llu MiB, %u slots",
			peer->addr, specs.cores, (unsigned long long)(specs.memory >> 20),
			specs.slots);
		uint32_t hb = m->opts->heartbeat_ms;
		wg_peer_start_heartbeat(peer, m->loop, hb / 3 ? hb / 3 : 1, hb, peer_lost);
		wg__dispatch_worker_attached(m, peer);
	}
}

static void peer_ended(struct wg_peer *peer, const char *why)
{
	worker_gone(peer->owner, peer, why);
}

static void on_manager_request(struct wg_peer *peer, uint64_t id,
			       const Wasmgrid__ManagerRequest *req)
{
	answer_manager_request(peer->owner, peer, id, req);
}

static void from_worker(struct wg_peer *peer, uint64_t id, const wg_frame *req)
{
	wg__dispatch_request(peer->owner, peer, id, req);
}

static void rpc_request(struct wg_rpc *rpc, uint64_t id, const wg_frame *req, void *user)
{
	struct wg_peer *peer = user;
	struct wg_manager *m = peer->owner;
	const struct wg_peer_role role = {
	    .type = WG_NODE_MANAGER,
	    .rel = &m->rel,
	    .ended = peer_ended,
	    .manager_request = on_manager_request,
	    .from_partner = from_worker,
	};
	wg_peer_route(peer, id, req, &role);
}

static void rpc_close(struct wg_rpc *rpc, int status, void *user)
{
	struct wg_peer *peer = user;
	struct wg_manager *m = peer->owner;
	if (wg_rel_end(&m->rel, &peer->rel))
		worker_gone(m, peer, status ? wg_strerror(status) : "connection closed");
	wg_debug(peer->rel.short_id, "connection closed: %s", status ? wg_strerror(status) : "ok");
	wg__dispatch_peer_closed(m, peer);
	peer->rpc = NULL;
	wg_peer_list_remove(&m->peers, peer);
	free(peer->data);
	wg_peer_free(peer);
}

static const struct wg_rpc_handlers handlers = {
    .on_open = rpc_open,
    .on_request = rpc_request,
    .on_close = rpc_close,
};

static void peer_lost(struct wg_peer *peer, const char *why)
{
	struct wg_manager *m = peer->owner;
	if (wg_rel_end(&m->rel, &peer->rel))
		worker_gone(m, peer, why);
	/* Tell it, in case it can still hear, then hang up: it will reconnect if it lives. */
	wg_peer_send_bye(peer, NULL, NULL);
	wg_rpc_close(peer->rpc);
}

static void on_accept(struct wg_listener *l, struct wg_link *link, const struct wg_link_cbs **cbs,
		      void **user, void *listener_user)
{
	struct wg_manager *m = listener_user;
	struct wg_peer *peer = wg_peer_new(m, NULL);
	peer->rpc = wg_rpc_accept(m->loop, link, &handlers, peer, cbs, user);
	wg_peer_list_add(&m->peers, peer);
}

static void stop_cb(struct wg_rpc *rpc, int status, const wg_frame *answer, void *cb_user)
{
	(void)answer;
	(void)status;
	wg_rpc_close(rpc);
}

/* Stops accepting anything new, says ManagerBye to every worker, and lets the loop end once
 * every connection has closed. */
static void manager_stop(struct wg_manager *m)
{
	if (m->stopping)
		return;
	m->stopping = 1;
	wg__dispatch_stop(m);
	uv_timer_stop(&m->reopen_timer);
	uv_close((uv_handle_t *)&m->reopen_timer, NULL);
	uv_signal_stop(&m->sigint);
	uv_signal_stop(&m->sigterm);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	if (m->listener)
		wg_listener_close(m->listener);
	m->listener = NULL;
	wg__manager_api_stop(m);
	for (struct wg_peer *p = m->peers; p; p = p->next) {
		wg_peer_stop_heartbeat(p);
		if (p->rel.partner) {
			wg_rel_end(&m->rel, &p->rel);
			/* Close once the worker acknowledged (or the deadline passed). */
			if (wg_peer_send_bye(p, stop_cb, NULL) == 0)
				continue;
		}
		wg_rpc_close(p->rpc);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct wg_manager *m = s->data;
	if (m->stopping)
		return;
	wg_info(NULL, "%s: saying ManagerBye to every worker and stopping",
		signum == SIGINT ? "SIGINT" : "SIGTERM");
	manager_stop(m);
}

#define REOPEN_MS 2000

static void try_reopen(uv_timer_t *t)
{
	struct wg_manager *m = t->data;
	if (m->stopping || m->jobs)
		return;
	if (wg__dispatch_open(m, false) == 0) {
		wg_info(NULL, "the job store is back: taking workers and jobs again");
		m->core_failed = false;
		wg__dispatch_kick(m);
	} else {
		uv_timer_start(&m->reopen_timer, try_reopen, REOPEN_MS, 0);
	}
}

/* Runs on the next loop turn after the failure, when no caller is inside the core. */
static void close_failed_core(uv_timer_t *t)
{
	struct wg_manager *m = t->data;
	if (m->stopping || !m->jobs)
		return;
	/* Let every worker go: each keeps its unacknowledged reports and sends them again
	 * when it attaches once the store is back. */
	for (struct wg_peer *p = m->peers; p; p = p->next) {
		if (!p->rel.partner)
			continue;
		wg_rel_end(&m->rel, &p->rel);
		wg_peer_stop_heartbeat(p);
		free(p->data);
		p->data = NULL;
		wg_peer_send_bye(p, NULL, NULL);
		wg_rpc_close(p->rpc);
	}
	wg__dispatch_close_core(m);
	uv_timer_start(&m->reopen_timer, try_reopen, REOPEN_MS, 0);
}

void wg__manager_fatal(struct wg_manager *m, const char *what, int rc)
{
	if (m->core_failed || m->stopping)
		return;
	wg_error(NULL,
		 "%s: %s; the job store is closed and reopened every %d s until it works "
		 "again (is the disk full, or the database server unreachable?)",
		 what, wg_strerror(rc), REOPEN_MS / 1000);
	m->core_failed = true;
	uv_timer_start(&m->reopen_timer, close_failed_core, 0, 0);
}

/* Whether every address "HOST:PORT" names is a loopback address (unreachable from other
 * machines): an API without a token may listen only there. */
static bool loopback_only(const char *host_port)
{
	char host[256];
	int port;
	if (wg_addr_split(host_port, host, sizeof host, &port) < 0)
		return false;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	bool all = res != NULL;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET)
			all &= (ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr) >> 24) ==
			       127;
		else if (a->ai_family == AF_INET6)
			all &=
			    IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr);
		else
			all = false;
	}
	freeaddrinfo(res);
	return all;
}

/* The API's token, or the refusal to open an API to the network without one. */
static int api_access(struct wg_manager *m)
{
	const struct wg_manager_options *o = m->opts;
	char why[512];
	if (o->api_token_file) {
		if (wg_read_secret_file(o->api_token_file, &m->api_token, why, sizeof why)) {
			wg_daemon_fail("manager", "--api-token-file: %s", why);
			return -1;
		}
		return 0;
	}
	if (!o->api_insecure && !loopback_only(o->api)) {
		wg_daemon_fail("manager",
			       "--api %s is reachable from other machines, and "
			       "the API has no token: give --api-token-file FILE (docs/api.md), or "
			       "--api-insecure if anyone who can reach it may run jobs",
			       o->api);
		return -1;
	}
	return 0;
}

int wg_manager_run(const struct wg_manager_options *o)
{
	struct wg_manager m = {0};
	int status = 1;
	char why[256] = "";
	wg_log_set_role("manager");
	wg_daemon_raise_fd_limit();
	m.opts = o;
	m.loop = uv_default_loop();
	int rc = wg_identity_load_or_create(&m.id, o->data_dir);
	if (rc) {
		wg_daemon_fail("manager", "cannot load the node key in %s: %s", o->data_dir,
			       wg_strerror(rc));
		goto out;
	}
	if (wg_authz_load(o->workers, &m.authz, why, sizeof why)) {
		wg_daemon_fail("manager", "--workers: %s", why);
		goto out;
	}
	wg_rel_init(&m.rel, WG_NODE_MANAGER, m.authz);
	/* A file over RLIMIT_FSIZE is an error to handle (EFBIG), not a reason to die. */
	signal(SIGXFSZ, SIG_IGN);
	uv_timer_init(m.loop, &m.reopen_timer);
	m.reopen_timer.data = &m;
	if (wg__dispatch_start(&m))
		goto out;
	int port = 0;
	rc = wg_listener_start(m.loop, o->listen, &m.id, NULL, on_accept, &m, &m.listener, &port);
	if (rc) {
		wg_daemon_fail("manager", "cannot listen on %s: %s", o->listen,
			       wg_listen_error(rc));
		goto out;
	}
	int api_port = 0;
	if (api_access(&m)) {
		status = 2;
		goto out;
	}
	rc = wg__manager_api_start(&m, &api_port);
	if (rc) {
		wg_daemon_fail("manager", "cannot serve the API on %s: %s", o->api,
			       wg_listen_error(rc));
		goto out;
	}
	if (o->port_file && wg_write_port_file(o->port_file, port)) {
		wg_daemon_fail("manager", "cannot write %s", o->port_file);
		goto out;
	}
	if (o->api_port_file && wg_write_port_file(o->api_port_file, api_port)) {
		wg_daemon_fail("manager", "cannot write %s", o->api_port_file);
		goto out;
	}
	m.node_addr = o->advertise ? wg_strdup(o->advertise) : reachable_addr(o->listen, port);
	m.api_addr = reachable_addr(o->api, api_port);
	if (m.jobs && (rc = wg_jobs_set_addresses(m.jobs, m.node_addr, m.api_addr)) != 0) {
		wg_daemon_fail("manager", "cannot record its addresses in the job store: %s",
			       wg_strerror(rc));
		goto out;
	}
	wg_info(NULL, "manager %s listening on port %d, API on port %d, workers: %s", m.id.id_hex,
		port, api_port, o->workers);
	uv_signal_init(m.loop, &m.sigint);
	uv_signal_init(m.loop, &m.sigterm);
	m.sigint.data = m.sigterm.data = &m;
	uv_signal_start(&m.sigint, on_signal, SIGINT);
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	uv_run(m.loop, UV_RUN_DEFAULT);
	wg_info(NULL, "manager stopped");
	status = m.exit_status;
out:
	if (status) {
		if (m.listener)
			wg_listener_close(m.listener);
		m.listener = NULL;
		wg__manager_api_stop(&m);
		wg__dispatch_stop(&m);
		if (m.reopen_timer.data && !uv_is_closing((uv_handle_t *)&m.reopen_timer))
			uv_close((uv_handle_t *)&m.reopen_timer, NULL);
		uv_run(m.loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(m.loop);
	wg_jobs_close(m.jobs);
	free(m.acks);
	wg_authz_free(m.authz);
	free(m.api_token);
	free(m.node_addr);
	free(m.api_addr);
	return status;
}
