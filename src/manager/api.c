/* The manager's HTTP API: the route table, and the routes about workers. Job routes live
 * in api_jobs.c; their handlers are listed here so the whole API is in one table. */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "manager/dashboard.h"
#include "manager/job_body.h"
#include "manager/jobs.h"
#include "manager/manager_internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/limits.h"
#include "util/version.h"

static const char *relation_state(const struct wg_peer *p)
{
	if (p->rel.partner)
		return "attached";
	if (p->rel.known_type == WG_NODE_WORKER)
		return "connected";
	return "handshaking";
}

/* A worker's reputation (docs/jobs.md, "Trust"), when the job core knows it. */
static void write_trust(struct wg_manager *m, struct wg_json_writer *w, const char *node_id)
{
	struct wg_jobs_trust t;
	if (!m->jobs || wg_jobs_worker_reputation(m->jobs, node_id, &t) != 0)
		return;
	wg_jw_key(w, "reputation");
	wg_jw_object_begin(w);
	wg_jw_kv_uint(w, "agreed", t.agreed);
	wg_jw_kv_uint(w, "outvoted", t.disagreed);
	wg_jw_kv_uint(w, "errors", t.errors);
	wg_jw_kv_uint(w, "timeouts", t.timeouts);
	wg_jw_kv_uint(w, "refused", t.refused);
	wg_jw_kv_uint(w, "lost", t.lost);
	wg_jw_kv_uint(w, "strikes", t.strikes);
	wg_jw_kv_uint(w, "banned_jobs", t.banned_jobs);
	wg_jw_object_end(w);
	if (!t.quarantined) {
		wg_jw_kv_null(w, "quarantined");
		return;
	}
	wg_jw_key(w, "quarantined");
	wg_jw_object_begin(w);
	wg_jw_kv_uint(w, "since_ms", t.quarantined_ms);
	wg_jw_kv_str(w, "reason", t.reason);
	wg_jw_object_end(w);
}

/* POST /v1/workers/ID/clear: an operator lets a quarantined worker work again. */
static void clear_worker(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (wg__api_core_down(m, req))
		return;
	const char *id = wg_http_param(req, "id");
	uint8_t key[32];
	if (!id || strlen(id) != 64 || wg_hex_decode(id, key, sizeof key)) {
		wg_http_respond_error(req, 400, "a worker is named by its node id: 64 hex digits");
		return;
	}
	char norm[65];
	wg_hex_encode(key, sizeof key, norm);
	int rc = wg_jobs_worker_clear(m->jobs, norm);
	if (rc) {
		wg__api_core_error(m, req, "clearing a worker", rc);
		return;
	}
	char body[128];
	int n = snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"cleared\":true}", norm);
	wg_http_respond_json(req, 200, body, (size_t)n);
	/* It may take tasks at once. */
	wg__dispatch_kick(m);
}

/* GET /v1/workers: every worker connected to us, attached or not yet. */
static void get_workers(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_str(&w, "manager", m->id.id_hex);
	wg_jw_key(&w, "workers");
	wg_jw_array_begin(&w);
	for (struct wg_peer *p = m->peers; p; p = p->next) {
		if (p->rel.known_type != WG_NODE_WORKER)
			continue;
		wg_jw_object_begin(&w);
		wg_jw_kv_str(&w, "node_id", p->id_hex);
		wg_jw_kv_str(&w, "address", p->addr);
		wg_jw_kv_str(&w, "state", relation_state(p));
		wg_jw_key(&w, "specs");
		wg_jw_object_begin(&w);
		wg_jw_kv_uint(&w, "cores", p->rel.specs.cores);
		wg_jw_kv_uint(&w, "memory", p->rel.specs.memory);
		wg_jw_kv_uint(&w, "slots", p->rel.specs.slots);
		wg_jw_key(&w, "program_kinds");
		wg_jw_array_begin(&w);
		if (p->rel.specs.wasi_preview1)
			wg_jw_str(&w, "wasi-preview1");
		wg_jw_array_end(&w);
		wg_jw_object_end(&w);
		wg_jw_kv_uint(&w, "connected_ms", p->connected_ms);
		write_trust(m, &w, p->id_hex);
		if (p->last_pong_ms)
			wg_jw_kv_uint(&w, "last_pong_ms", p->last_pong_ms);
		else
			wg_jw_kv_null(&w, "last_pong_ms");
		wg_jw_object_end(&w);
	}
	wg_jw_array_end(&w);
	wg_jw_object_end(&w);
	wg_http_respond_json(req, 200, out.data, out.len);
	wg_buf_free(&out);
}

/* GET /v1/managers: the managers registered in this one's store (several share a
 * PostgreSQL store), where each listens, and whether its lease runs. */
static void get_managers(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (wg__api_core_down(m, req))
		return;
	struct wg_jobs_manager *list = NULL;
	size_t n = 0;
	int rc = wg_jobs_managers(m->jobs, &list, &n);
	if (rc) {
		wg__api_core_error(m, req, "listing managers", rc);
		return;
	}
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_str(&w, "manager", m->id.id_hex);
	wg_jw_kv_str(&w, "store", wg_jobs_store_version(m->jobs));
	wg_jw_key(&w, "managers");
	wg_jw_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		wg_jw_object_begin(&w);
		wg_jw_kv_str(&w, "node_id", list[i].node_id);
		wg_jw_kv_str(&w, "node_address", list[i].node_addr);
		wg_jw_kv_str(&w, "api_address", list[i].api_addr);
		wg_jw_kv_uint(&w, "started_ms", list[i].started_ms);
		wg_jw_kv_uint(&w, "lease_until_ms", list[i].lease_until_ms);
		wg_jw_kv_bool(&w, "live", list[i].live);
		wg_jw_kv_bool(&w, "self", list[i].self);
		wg_jw_object_end(&w);
	}
	wg_jw_array_end(&w);
	wg_jw_object_end(&w);
	wg_jobs_managers_free(list, n);
	wg_http_respond_json(req, 200, out.data, out.len);
	wg_buf_free(&out);
}

/* The gauges of each attached worker, labelled with its node id as /v1/workers gives it:
 * its slots from the same specs, and its attempts in flight from the job store (omitted
 * while the store is down). 0 or a job-core error. */
static int append_worker_gauges(struct wg_manager *m, struct wg_buf *out)
{
	size_t n = 0;
	for (struct wg_peer *p = m->peers; p; p = p->next)
		n += p->rel.partner && p->rel.known_type == WG_NODE_WORKER;
	if (!n)
		return 0;
	struct worker_row {
		const struct wg_peer *peer;
		uint64_t assigned, started;
	} *rows = wg_calloc(n, sizeof *rows);
	size_t k = 0;
	int rc = 0;
	for (struct wg_peer *p = m->peers; p && k < n && rc == 0; p = p->next) {
		if (!p->rel.partner || p->rel.known_type != WG_NODE_WORKER)
			continue;
		rows[k].peer = p;
		if (m->jobs)
			rc = wg_jobs_worker_load(m->jobs, p->id_hex, &rows[k].assigned,
						 &rows[k].started);
		k++;
	}
	if (rc)
		goto out;
	/* A family's series must be together: one pass per family. */
	wg_buf_appendf(out, "# HELP wasmgrid_worker_slots Tasks an attached worker runs at once "
			    "(its --slots, capped by the manager's --max-slots).\n"
			    "# TYPE wasmgrid_worker_slots gauge\n");
	for (size_t i = 0; i < n; i++)
		wg_buf_appendf(out, "wasmgrid_worker_slots{worker=\"%s\"} %" PRIu32 "\n",
			       rows[i].peer->id_hex, rows[i].peer->rel.specs.slots);
	if (!m->jobs)
		goto out;
	wg_buf_appendf(out, "# HELP wasmgrid_worker_running Attempts an attached worker has "
			    "started (TaskStarted) and not yet answered.\n"
			    "# TYPE wasmgrid_worker_running gauge\n");
	for (size_t i = 0; i < n; i++)
		wg_buf_appendf(out, "wasmgrid_worker_running{worker=\"%s\"} %" PRIu64 "\n",
			       rows[i].peer->id_hex, rows[i].started);
	wg_buf_appendf(out, "# HELP wasmgrid_worker_assigned Attempts sent to an attached "
			    "worker that it has not started yet (waiting in its queue).\n"
			    "# TYPE wasmgrid_worker_assigned gauge\n");
	for (size_t i = 0; i < n; i++)
		wg_buf_appendf(out, "wasmgrid_worker_assigned{worker=\"%s\"} %" PRIu64 "\n",
			       rows[i].peer->id_hex, rows[i].assigned);
out:
	free(rows);
	return rc;
}

/* GET /metrics: Prometheus text format. */
static void get_metrics(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	/* With the store down the peers' gauges are still worth having. */
	if (m->jobs && !wg__api_core_ready(m, req, get_metrics))
		return;
	struct wg_buf out = {0};
	size_t connected = 0, attached = 0;
	for (struct wg_peer *p = m->peers; p; p = p->next) {
		connected++;
		attached += p->rel.partner;
	}
	wg_buf_appendf(&out,
		       "# HELP wasmgrid_build_info The manager's version and the versions of the "
		       "libraries it runs with; the value is always 1.\n"
		       "# TYPE wasmgrid_build_info gauge\n"
		       "wasmgrid_build_info{version=\"%s\",libuv=\"%s\",sqlite=\"%s\"} 1\n",
		       WG_VERSION, uv_version_string(), sqlite3_libversion());
	wg_buf_appendf(&out,
		       "# HELP wasmgrid_peers_connected Node connections open.\n"
		       "# TYPE wasmgrid_peers_connected gauge\n"
		       "wasmgrid_peers_connected %zu\n"
		       "# HELP wasmgrid_workers_attached Workers in a relationship with us.\n"
		       "# TYPE wasmgrid_workers_attached gauge\n"
		       "wasmgrid_workers_attached %zu\n",
		       connected, attached);
	int rc = append_worker_gauges(m, &out);
	if (rc == 0)
		rc = wg__api_jobs_metrics(m, &out);
	if (rc) {
		wg_buf_free(&out);
		wg_http_respond_error(req, 500, "the manager failed reading its job metrics: %s",
				      wg_strerror(rc));
		if (rc == WG_EDB)
			wg__manager_fatal(m, "reading job metrics", rc);
		return;
	}
	wg_http_respond(req, 200, "text/plain; version=0.0.4", out.data, out.len);
	wg_buf_free(&out);
}

static const struct wg_http_route routes[] = {
    {"GET", "/v1/workers", get_workers, 0, false},
    {"GET", "/v1/managers", get_managers, 0, false},
    {"POST", "/v1/workers/{id}/clear", clear_worker, 0, false},
    {"GET", "/metrics", get_metrics, 0, false},
    {"POST", "/v1/programs", wg__api_post_program, WG_MAX_PROGRAM_BYTES, false},
    {"POST", "/v1/jobs", wg__api_post_job, WG_MAX_JOB_BODY_BYTES, false},
    {"GET", "/v1/jobs", wg__api_list_jobs, 0, false},
    {"GET", "/v1/jobs/{id}", wg__api_get_job, 0, false},
    {"DELETE", "/v1/jobs/{id}", wg__api_cancel_job, 0, false},
    {"POST", "/v1/jobs/{id}/retry", wg__api_retry_job, 0, false},
    {"GET", "/v1/jobs/{id}/results", wg__api_job_results, 0, false},
    {"GET", "/v1/jobs/{id}/explain", wg__api_explain_job, 0, false},
    {"GET", "/", wg__dashboard_index, 0, true},
    {"GET", "/ui/{*}", wg__dashboard_asset, 0, true},
};

int wg__manager_api_start(struct wg_manager *m, int *bound_port)
{
	struct wg_http_options opts = {.bearer_token = m->api_token};
	return wg_http_server_start(m->loop, m->opts->api, routes, sizeof routes / sizeof routes[0],
				    &opts, m, &m->http, bound_port);
}

void wg__manager_api_stop(struct wg_manager *m)
{
	if (m->http)
		wg_http_server_close(m->http);
	m->http = NULL;
}
