/* The worker's side of node connections: finding a manager among the --manager addresses,
 * attaching with NodeTypeRequest then ManagerRequest, heartbeats, reconnecting with backoff
 * when the manager goes away, and leaving with ManagerBye on SIGINT/SIGTERM. */
#include "worker/worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/authz.h"
#include "node/daemon.h"
#include "node/identity.h"
#include "node/peer.h"
#include "node/relation.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/version.h"
#include "worker/tasks.h"

#define RETRY_FIRST_MS 100
/* Managers a worker learns of (beyond its --manager list) that it keeps. */
#define MAX_LEARNED 64

struct manager_addr {
	char *host_port;
	uint8_t pinned[32];
	bool has_pin;
};

struct wg_worker {
	uv_loop_t *loop;
	const struct wg_worker_options *opts;
	struct wg_identity id;
	struct wg_authz *authz;
	struct wg_rel rel;
	struct wg_specs specs;
	struct manager_addr *addrs; /* --manager's, then those learned */
	size_t n_addrs, next_addr, n_configured;
	/* The connection to a manager: attached, or on its way to be. At most one. */
	struct wg_peer *mgr;
	uv_timer_t retry_timer;
	uint32_t backoff_ms;
	struct wg_engine *engine;
	struct wg_fetch_policy fetch_policy; /* the engine's, from --fetch */
	struct wg_wtasks *tasks;
	struct wg_listener *listener;
	struct wg_peer *incoming; /* peers that connected to our --listen address */
	uv_signal_t sigint, sigterm;
	int stopping;
};

static void connect_next(uv_timer_t *t);
static void peer_lost(struct wg_peer *peer, const char *why);

static void schedule_retry(struct wg_worker *w)
{
	if (w->stopping)
		return;
	uint32_t delay = w->backoff_ms;
	uint32_t cap = w->opts->retry_max_ms ? w->opts->retry_max_ms : 5000;
	w->backoff_ms = w->backoff_ms * 2 > cap ? cap : w->backoff_ms * 2;
	wg_debug(NULL, "next attempt to find a manager in %u ms", delay);
	uv_timer_start(&w->retry_timer, connect_next, delay, 0);
}

static void send_manager_request(struct wg_worker *w, struct wg_peer *peer);

/* A manager tells the worker it accepts of the other live managers of its store: places to
 * go when it is gone, pinned to the keys it gave, and only those --managers allows. */
static void learn_managers(struct wg_worker *w, const Wasmgrid__ManagerAnswer *a)
{
	for (size_t i = 0; i < a->n_managers; i++) {
		const Wasmgrid__PeerManager *pm = a->managers[i];
		if (pm->node_id.len != 32 || !pm->address || !pm->address[0] ||
		    strlen(pm->address) > 300 || !wg_authz_allows(w->authz, pm->node_id.data))
			continue;
		struct manager_addr *known = NULL;
		for (size_t k = 0; k < w->n_addrs && !known; k++)
			if (!strcmp(w->addrs[k].host_port, pm->address))
				known = &w->addrs[k];
		if (known && known - w->addrs < (ptrdiff_t)w->n_configured)
			continue; /* the operator's own entry stands */
		if (!known) {
			if (w->n_addrs - w->n_configured >= MAX_LEARNED)
				continue;
			w->addrs = wg_realloc(w->addrs, (w->n_addrs + 1) * sizeof *w->addrs);
			known = &w->addrs[w->n_addrs++];
			known->host_port = wg_strdup(pm->address);
			char hex[65];
			wg_hex_encode(pm->node_id.data, 32, hex);
			wg_info(NULL,
				"learned of manager %.16s at %s (it shares our manager's store)",
				hex, pm->address);
		}
		memcpy(known->pinned, pm->node_id.data, 32);
		known->has_pin = true;
	}
}

static void manager_detached(struct wg_worker *w, struct wg_peer *peer, const char *why)
{
	wg_peer_stop_heartbeat(peer);
	wg_wtasks_detached(w->tasks);
	wg_info(peer->rel.short_id, "detached from manager: %s", why);
}

static void on_manager_answer(struct wg_rpc *rpc, int status, const wg_frame *a, void *cb_user)
{
	struct wg_peer *peer = cb_user;
	struct wg_worker *w = peer->owner;
	if (status == WG_ECLOSED)
		return;
	if (status) {
		wg_warn(peer->rel.short_id, "no answer to ManagerRequest: %s", wg_strerror(status));
		peer->rel.request_pending = false;
		wg_rpc_close(rpc);
		return;
	}
	if (a->body_case != WASMGRID__FRAME__BODY_MANAGER_ANSWER) {
		wg_warn(peer->rel.short_id, "ManagerRequest answered with %s%s%s",
			wg_body_name(a->body_case),
			a->body_case == WASMGRID__FRAME__BODY_REFUSED ? ": " : "",
			a->body_case == WASMGRID__FRAME__BODY_REFUSED ? a->refused->reason : "");
		peer->rel.request_pending = false;
		wg_rpc_close(rpc);
		return;
	}
	switch (wg_rel_on_manager_answer(&w->rel, &peer->rel, a->manager_answer->accepted)) {
	case WG_REL_ATTACHED: {
		uint32_t hb = w->opts->heartbeat_ms;
		wg_info(peer->rel.short_id, "attached to manager at %s", peer->addr);
		learn_managers(w, a->manager_answer);
		w->backoff_ms = RETRY_FIRST_MS;
		wg_peer_start_heartbeat(peer, w->loop, hb / 3 ? hb / 3 : 1, hb, peer_lost);
		wg_wtasks_attached(w->tasks, peer);
		break;
	}
	case WG_REL_REJECTED:
		wg_warn(peer->rel.short_id, "manager at %s refused us (ManagerAnswer false)",
			peer->addr);
		wg_rpc_close(rpc);
		break;
	case WG_REL_SEND_BYE:
		wg_warn(peer->rel.short_id,
			"manager accepted us but we cannot be its worker: ManagerBye");
		wg_peer_send_bye(peer, NULL, NULL);
		wg_rpc_close(rpc);
		break;
	case WG_REL_CHECK_PING:
		/* An answer while already attached is not considered, but may mean the two
		 * sides disagree: PROTOCOL.md lets it trigger a ManagerPing to check. */
		wg_debug(peer->rel.short_id, "ManagerAnswer while attached: checking with a ping");
		wg_peer_check(peer);
		break;
	}
}

static void send_manager_request(struct wg_worker *w, struct wg_peer *peer)
{
	Wasmgrid__ProgramKind kinds[] = {WASMGRID__PROGRAM_KIND__WASI_PREVIEW1};
	Wasmgrid__ManagerRequest r = WASMGRID__MANAGER_REQUEST__INIT;
	r.cores = w->specs.cores;
	r.memory = w->specs.memory;
	r.slots = w->specs.slots;
	r.n_program_kinds = 1;
	r.program_kinds = kinds;
	r.version = WG_VERSION;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_REQUEST;
	f.manager_request = &r;
	if (wg_rpc_request(peer->rpc, &f, WG_REQUEST_DEADLINE_MS, on_manager_answer, peer) == 0)
		wg_rel_request_sent(&w->rel, &peer->rel);
}

static void on_node_type_answer(struct wg_rpc *rpc, int status, const wg_frame *a, void *cb_user)
{
	struct wg_peer *peer = cb_user;
	struct wg_worker *w = peer->owner;
	if (status == WG_ECLOSED)
		return;
	if (status || a->body_case != WASMGRID__FRAME__BODY_NODE_TYPE_ANSWER) {
		wg_warn(peer->rel.short_id, "no NodeTypeAnswer from %s: %s", peer->addr,
			status ? wg_strerror(status) : wg_body_name(a->body_case));
		wg_rpc_close(rpc);
		return;
	}
	enum wg_node_type t = (enum wg_node_type)a->node_type_answer->node_type;
	if (wg_rel_note_type(&w->rel, &peer->rel, t))
		manager_detached(w, peer, "its node type changed");
	if (peer == w->mgr && wg_rel_may_request(&w->rel, &peer->rel)) {
		send_manager_request(w, peer);
	} else if (peer == w->mgr && !peer->rel.partner) {
		wg_warn(peer->rel.short_id, "%s is a %s, not a manager we may ask", peer->addr,
			wg_node_type_name(t));
		wg_rpc_close(rpc);
	}
}

static int rpc_open(struct wg_rpc *rpc, void *user)
{
	struct wg_peer *peer = user;
	struct wg_worker *w = peer->owner;
	wg_peer_opened(peer);
	if (peer == w->mgr) {
		if (!wg_authz_allows(w->authz, peer->rel.id)) {
			wg_warn(peer->rel.short_id,
				"%s is not a manager we accept (--managers); hanging up",
				peer->addr);
			return WG_EDENIED;
		}
		wg_info(peer->rel.short_id, "connected to %s", peer->addr);
		wg_peer_send_node_type_request(peer, WG_NODE_WORKER, on_node_type_answer, peer);
	} else {
		wg_info(peer->rel.short_id, "connection from %s", peer->addr);
	}
	return 0;
}

static void peer_ended(struct wg_peer *peer, const char *why)
{
	manager_detached(peer->owner, peer, why);
}

static void on_manager_request(struct wg_peer *peer, uint64_t id,
			       const Wasmgrid__ManagerRequest *req)
{
	struct wg_worker *w = peer->owner;
	/* "if A is a worker, send false" */
	struct wg_specs none = {0};
	wg_peer_answer_manager(peer, id, wg_rel_answer_manager_request(&w->rel, &peer->rel, &none),
			       NULL, 0);
}

static void from_manager(struct wg_peer *peer, uint64_t id, const wg_frame *req)
{
	struct wg_worker *w = peer->owner;
	switch (req->body_case) {
	case WASMGRID__FRAME__BODY_TASKS_EXECUTE:
		if (w->stopping)
			wg_rpc_answer_refused(peer->rpc, id, "this worker is stopping");
		else
			wg_wtasks_execute(w->tasks, peer, id, req->tasks_execute);
		break;
	case WASMGRID__FRAME__BODY_TASKS_PING:
		wg_wtasks_ping(w->tasks, peer, id, req->tasks_ping);
		break;
	case WASMGRID__FRAME__BODY_TASKS_ABORT:
		wg_wtasks_abort(w->tasks, peer, id, req->tasks_abort);
		break;
	default: wg_rpc_answer_refused(peer->rpc, id, "request not understood"); break;
	}
}

static void rpc_request(struct wg_rpc *rpc, uint64_t id, const wg_frame *req, void *user)
{
	struct wg_peer *peer = user;
	struct wg_worker *w = peer->owner;
	const struct wg_peer_role role = {
	    .type = WG_NODE_WORKER,
	    .rel = &w->rel,
	    .ended = peer_ended,
	    .manager_request = on_manager_request,
	    .from_partner = from_manager,
	    .bye_closes = true,
	};
	wg_peer_route(peer, id, req, &role);
}

static void rpc_close(struct wg_rpc *rpc, int status, void *user)
{
	struct wg_peer *peer = user;
	struct wg_worker *w = peer->owner;
	if (wg_rel_end(&w->rel, &peer->rel))
		manager_detached(w, peer, status ? wg_strerror(status) : "connection closed");
	peer->rpc = NULL;
	if (peer == w->mgr) {
		if (status && status != WG_ECLOSED)
			wg_warn(
			    peer->rel.short_id, "connection to %s ended: %s",
			    peer->addr[0]
				? peer->addr
				: w->addrs[(w->next_addr + w->n_addrs - 1) % w->n_addrs].host_port,
			    wg_strerror(status));
		w->mgr = NULL;
		schedule_retry(w);
	} else {
		wg_peer_list_remove(&w->incoming, peer);
	}
	wg_peer_free(peer);
}

static const struct wg_rpc_handlers handlers = {
    .on_open = rpc_open,
    .on_request = rpc_request,
    .on_close = rpc_close,
};

static void peer_lost(struct wg_peer *peer, const char *why)
{
	struct wg_worker *w = peer->owner;
	if (wg_rel_end(&w->rel, &peer->rel))
		manager_detached(w, peer, why);
	wg_peer_send_bye(peer, NULL, NULL);
	wg_rpc_close(peer->rpc);
}

static void connect_next(uv_timer_t *t)
{
	struct wg_worker *w = t->data;
	if (w->stopping || w->mgr)
		return;
	struct manager_addr *a = &w->addrs[w->next_addr++ % w->n_addrs];
	struct wg_peer *peer = wg_peer_new(w, NULL);
	w->mgr = peer;
	int rc = wg_rpc_connect(w->loop, a->host_port, &w->id, a->has_pin ? a->pinned : NULL,
				&handlers, peer, &peer->rpc);
	if (rc) {
		wg_error(NULL, "cannot connect to %s: %s", a->host_port, wg_strerror(rc));
		w->mgr = NULL;
		wg_peer_free(peer);
		schedule_retry(w);
	}
}

static void on_accept(struct wg_listener *l, struct wg_link *link, const struct wg_link_cbs **cbs,
		      void **user, void *listener_user)
{
	struct wg_worker *w = listener_user;
	struct wg_peer *peer = wg_peer_new(w, NULL);
	peer->rpc = wg_rpc_accept(w->loop, link, &handlers, peer, cbs, user);
	wg_peer_list_add(&w->incoming, peer);
}

static void bye_done(struct wg_rpc *rpc, int status, const wg_frame *answer, void *cb_user)
{
	(void)answer;
	(void)status;
	(void)cb_user;
	wg_rpc_close(rpc);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct wg_worker *w = s->data;
	if (w->stopping)
		return;
	w->stopping = 1;
	wg_info(NULL, "%s: leaving the manager with ManagerBye and stopping",
		signum == SIGINT ? "SIGINT" : "SIGTERM");
	uv_signal_stop(&w->sigint);
	uv_signal_stop(&w->sigterm);
	uv_close((uv_handle_t *)&w->sigint, NULL);
	uv_close((uv_handle_t *)&w->sigterm, NULL);
	uv_timer_stop(&w->retry_timer);
	uv_close((uv_handle_t *)&w->retry_timer, NULL);
	/* Running children are killed; their tasks are the manager's to give to others. */
	wg_wtasks_stop(w->tasks);
	wg_engine_free(w->engine);
	w->engine = NULL;
	if (w->listener)
		wg_listener_close(w->listener);
	w->listener = NULL;
	for (struct wg_peer *p = w->incoming; p; p = p->next)
		wg_rpc_close(p->rpc);
	if (w->mgr && w->mgr->rpc) {
		struct wg_peer *p = w->mgr;
		wg_peer_stop_heartbeat(p);
		if (p->rel.partner) {
			wg_rel_end(&w->rel, &p->rel);
			if (wg_peer_send_bye(p, bye_done, NULL) == 0)
				return;
		}
		wg_rpc_close(p->rpc);
	}
}

static int parse_manager_addr(const char *spec, struct manager_addr *a)
{
	memset(a, 0, sizeof *a);
	const char *at = strchr(spec, '@');
	if (at) {
		char hex[65];
		if (at - spec != 64)
			return WG_EINVAL;
		memcpy(hex, spec, 64);
		hex[64] = 0;
		if (wg_hex_decode(hex, a->pinned, 32))
			return WG_EINVAL;
		a->has_pin = true;
		spec = at + 1;
	}
	a->host_port = wg_strdup(spec);
	return 0;
}

int wg_worker_run(const struct wg_worker_options *o)
{
	struct wg_worker w = {0};
	int status = 1;
	char why[256];
	wg_log_set_role("worker");
	wg_daemon_raise_fd_limit();
	w.opts = o;
	w.loop = uv_default_loop();
	if (o->n_managers == 0) {
		wg_daemon_fail("worker", "give at least one --manager HOST:PORT");
		return 2;
	}
	int rc = wg_identity_load_or_create(&w.id, o->data_dir);
	if (rc) {
		wg_daemon_fail("worker", "cannot load the node key in %s: %s", o->data_dir,
			       wg_strerror(rc));
		goto out;
	}
	if (wg_authz_load(o->managers_authz, &w.authz, why, sizeof why)) {
		wg_daemon_fail("worker", "--managers: %s", why);
		goto out;
	}
	w.addrs = wg_calloc(o->n_managers, sizeof *w.addrs);
	for (size_t i = 0; i < o->n_managers; i++, w.n_addrs++) {
		if (parse_manager_addr(o->managers[i], &w.addrs[i])) {
			wg_daemon_fail("worker",
				       "--manager %s: expected [NODEID@]HOST:PORT with a "
				       "64-hex-digit NODEID",
				       o->managers[i]);
			goto out;
		}
	}
	w.n_configured = w.n_addrs;
	wg_rel_init(&w.rel, WG_NODE_WORKER, w.authz);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
	w.specs.cores = cores > 0 ? (uint32_t)cores : 1;
	/* What one task may have: --memory, unless the host has less. */
	uint64_t host = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	w.specs.memory = o->memory_mib << 20;
	if (host && host < w.specs.memory)
		w.specs.memory = host;
	w.specs.slots = o->slots ? o->slots : w.specs.cores;
	w.specs.wasi_preview1 = true;
	rc = wg_fetch_policy_add(&w.fetch_policy, WG_FETCH_POLICY_DEFAULT, why, sizeof why);
	if (o->n_fetch)
		wg_fetch_policy_free(&w.fetch_policy); /* the operator's list replaces it */
	for (size_t i = 0; i < o->n_fetch && !rc; i++)
		rc = wg_fetch_policy_add(&w.fetch_policy, o->fetch[i], why, sizeof why);
	if (rc) {
		wg_daemon_fail("worker", "%s", why);
		status = 2;
		goto out;
	}
	struct wg_engine_options eo = {
	    .fetch_policy = &w.fetch_policy,
	    .data_dir = o->data_dir,
	    .default_memory_bytes = o->memory_mib << 20,
	    .compile_cpu_s = o->compile_cpu_s,
	    .compile_memory_mib = o->compile_memory_mib,
	    .tiers = (enum wg_engine_tiers)o->tiers,
	};
	rc = wg_engine_create(w.loop, &eo, &w.engine);
	if (rc) {
		wg_daemon_fail("worker", "cannot start the execution engine: %s", wg_strerror(rc));
		goto out;
	}
	struct wg_wtasks_options to = {
	    .slots = w.specs.slots,
	    .queue = o->queue,
	    .max_memory_bytes = o->memory_mib << 20,
	};
	w.tasks = wg_wtasks_create(w.loop, w.engine, &to);
	wg_engine_set_fetcher(w.engine, "wasmgrid", wg_wtasks_fetch_program, w.tasks);
	if (o->listen) {
		int port = 0;
		rc = wg_listener_start(w.loop, o->listen, &w.id, NULL, on_accept, &w, &w.listener,
				       &port);
		if (rc) {
			wg_daemon_fail("worker", "cannot listen on %s: %s", o->listen,
				       wg_listen_error(rc));
			goto out;
		}
		if (o->port_file && wg_write_port_file(o->port_file, port)) {
			wg_daemon_fail("worker", "cannot write %s", o->port_file);
			goto out;
		}
	}
	wg_info(NULL, "worker %s: %u slots, managers: %s", w.id.id_hex, w.specs.slots,
		o->managers_authz);
	uv_timer_init(w.loop, &w.retry_timer);
	w.retry_timer.data = &w;
	w.backoff_ms = RETRY_FIRST_MS;
	uv_signal_init(w.loop, &w.sigint);
	uv_signal_init(w.loop, &w.sigterm);
	w.sigint.data = w.sigterm.data = &w;
	uv_signal_start(&w.sigint, on_signal, SIGINT);
	uv_signal_start(&w.sigterm, on_signal, SIGTERM);
	uv_timer_start(&w.retry_timer, connect_next, 0, 0);
	uv_run(w.loop, UV_RUN_DEFAULT);
	wg_info(NULL, "worker stopped");
	status = 0;
out:
	if (status && w.listener)
		wg_listener_close(w.listener);
	if (w.engine)
		wg_engine_free(w.engine);
	uv_run(w.loop, UV_RUN_DEFAULT);
	wg_wtasks_free(w.tasks);
	uv_loop_close(w.loop);
	for (size_t i = 0; i < w.n_addrs; i++)
		free(w.addrs[i].host_port);
	free(w.addrs);
	wg_authz_free(w.authz);
	wg_fetch_policy_free(&w.fetch_policy);
	return status;
}
