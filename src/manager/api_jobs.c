/* The manager's HTTP routes about programs and jobs: the user's side of the job core
 * (manager/jobs.h). Every handler answers at once; the job core commits before it returns,
 * so an answer always describes durable state. Validation errors are 400 with a message
 * that names the field and what to send instead; a database error is 500, after which the
 * manager closes its job store and reopens it (503 meanwhile). See docs/api.md. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "manager/job_body.h"
#include "manager/jobs.h"
#include "manager/manager_internal.h"
#include "node/error_kind.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"
#include "util/utf8.h"

/* Results per page of GET /v1/jobs/ID/results: default and ceiling. */
#define API_RESULTS_DEFAULT 1000
#define API_RESULTS_MAX 10000

/* Answers 503 when the job store is down (being reopened after a database error). */
bool wg__api_core_down(struct wg_manager *m, struct wg_http_request *req)
{
	if (m->jobs)
		return false;
	wg_http_respond_error(req, 503,
			      "the manager's job store failed (is its disk full, or its "
			      "database server unreachable?) and is being reopened: try again "
			      "in a few seconds");
	return true;
}

/* A request put aside until the open transaction is committed. */
struct deferred_request {
	struct wg_http_request *req;
	wg_http_handler_cb handler;
	struct deferred_request *next;
};

bool wg__api_core_ready(struct wg_manager *m, struct wg_http_request *req,
			wg_http_handler_cb handler)
{
	if (wg__api_core_down(m, req))
		return false;
	if (!m->txn_open)
		return true;
	/* The loop's transaction holds reports not yet committed: what the store shows now
	 * may still be rolled back (a kill, a full disk), so the answer waits for the commit,
	 * at the end of this loop turn. */
	struct deferred_request *d = wg_calloc(1, sizeof *d);
	d->req = req;
	d->handler = handler;
	if (!m->deferred_tail)
		m->deferred_tail = &m->deferred;
	*m->deferred_tail = d;
	m->deferred_tail = &d->next;
	return false;
}

void wg__api_run_deferred(struct wg_manager *m)
{
	struct deferred_request *d = m->deferred;
	m->deferred = NULL;
	m->deferred_tail = &m->deferred;
	while (d) {
		struct deferred_request *next = d->next;
		/* A handler may put its request aside again (the store reopened a transaction);
		 * it is then queued behind the others. */
		d->handler(d->req, m);
		free(d);
		d = next;
	}
}

/* An answer owed once the turn's transaction is committed. */
struct committed_answer {
	struct wg_http_request *req;
	int status;
	struct wg_buf body; /* JSON */
	char location[64];  /* a Location header, when not empty */
	struct committed_answer *next;
};

static void answer_after_commit(struct wg_manager *m, struct wg_http_request *req, int status,
				struct wg_buf *body, const char *location)
{
	struct committed_answer *a = wg_calloc(1, sizeof *a);
	a->req = req;
	a->status = status;
	a->body = *body;
	*body = (struct wg_buf){0};
	snprintf(a->location, sizeof a->location, "%s", location ? location : "");
	if (!m->answers_tail)
		m->answers_tail = &m->answers;
	*m->answers_tail = a;
	m->answers_tail = &a->next;
}

void wg__api_answer_committed(struct wg_manager *m, bool committed)
{
	struct committed_answer *a = m->answers;
	m->answers = NULL;
	m->answers_tail = &m->answers;
	while (a) {
		struct committed_answer *next = a->next;
		if (!committed) {
			wg_http_respond_error(a->req, 503,
					      "the manager's job store failed before this was "
					      "stored: nothing was kept, try again");
		} else {
			if (a->location[0])
				wg_http_add_header(a->req, "Location", a->location);
			wg_http_respond_json(a->req, a->status, a->body.data, a->body.len);
		}
		wg_buf_free(&a->body);
		free(a);
		a = next;
	}
}

void wg__api_core_error(struct wg_manager *m, struct wg_http_request *req, const char *what, int rc)
{
	wg_http_respond_error(req, 500, "the manager failed while %s: %s", what, wg_strerror(rc));
	if (rc == WG_EDB)
		wg__manager_fatal(m, what, rc);
}

int wg__api_job_id(struct wg_http_request *req, uint64_t *id)
{
	const char *s = wg_http_param(req, "id");
	char *end = NULL;
	if (!s || *s < '0' || *s > '9')
		goto bad;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || v == 0 || v > INT64_MAX)
		goto bad;
	*id = v;
	return 0;
bad:
	wg_http_respond_error(req, 400, "'%s' is not a job id: use the number 'submit' printed",
			      s ? s : "");
	return -1;
}

void wg__api_unknown_job(struct wg_http_request *req, uint64_t id)
{
	wg_http_respond_error(req, 404,
			      "no job %" PRIu64 " on this manager (GET /v1/jobs lists them)", id);
}

/* ---- POST /v1/programs ---- */

void wg__api_post_program(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_post_program))
		return;
	size_t len = 0;
	const uint8_t *body = wg_http_body(req, &len);
	static const uint8_t magic[4] = {0, 'a', 's', 'm'}, version[4] = {1, 0, 0, 0};
	if (len < 8 || memcmp(body, magic, 4) != 0) {
		wg_http_respond_error(req, 400,
				      "the body is not a WebAssembly module (it must start with "
				      "\\0asm): send the .wasm file's bytes as they are");
		return;
	}
	if (memcmp(body + 4, version, 4) != 0) {
		wg_http_respond_error(
		    req, 400,
		    "unsupported WebAssembly binary version (only version 1 "
		    "modules, as clang --target=wasm32-wasi makes, are accepted)");
		return;
	}
	char hash[65];
	int rc = wg_jobs_program_put(m->jobs, body, len, hash);
	if (rc) {
		wg__api_core_error(m, req, "storing a program", rc);
		return;
	}
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_str(&w, "hash", hash);
	wg_jw_kv_uint(&w, "size", len);
	wg_jw_object_end(&w);
	wg_http_respond_json(req, 201, out.data, out.len);
	wg_buf_free(&out);
}

/* ---- job descriptions ---- */

/* Why a running job's queued tasks go nowhere, when the attached workers say so: none gives
 * a task the memory it asks for. NULL when nothing stands in the way. */
static const char *job_blocked(struct wg_manager *m, const struct wg_job_info *ji, char *buf,
			       size_t n)
{
	if (ji->state != WG_JOB_RUNNING || !ji->counts[WG_TASK_QUEUED])
		return NULL;
	int workers = 0;
	for (const struct wg_peer *p = m->peers; p; p = p->next) {
		if (!p->rel.partner)
			continue;
		workers++;
		if (!p->rel.specs.memory || p->rel.specs.memory >= ji->options.memory_bytes)
			return NULL;
	}
	if (!workers)
		snprintf(buf, n, "no worker is attached");
	else
		snprintf(buf, n,
			 "no attached worker accepts %llu MiB of memory per task (see 'wasmgrid "
			 "workers'; start one with a larger --memory)",
			 (unsigned long long)(ji->options.memory_bytes >> 20));
	return buf;
}

static void write_job(struct wg_manager *m, struct wg_json_writer *w, const struct wg_job_info *ji)
{
	wg_jw_object_begin(w);
	wg_jw_kv_uint(w, "id", ji->id);
	if (ji->options.name[0])
		wg_jw_kv_str(w, "name", ji->options.name);
	else
		wg_jw_kv_null(w, "name");
	wg_jw_kv_str(w, "state", wg_job_state_name(ji->state));
	wg_jw_kv_str(w, "program", ji->program_hash);
	wg_jw_kv_uint(w, "tasks", ji->n_tasks);
	wg_jw_key(w, "counts");
	wg_jw_object_begin(w);
	/* "running" are the tasks a worker has started; "assigned" those sent and not started
	 * yet (in a worker's queue), which the job core counts as running. */
	for (int s = 0; s < WG_TASK_STATE_COUNT; s++) {
		uint64_t n = ji->counts[s];
		if (s == WG_TASK_RUNNING) {
			wg_jw_kv_uint(w, "assigned", ji->assigned);
			n -= ji->assigned;
		}
		wg_jw_kv_uint(w, wg_task_state_name((enum wg_task_state)s), n);
	}
	wg_jw_object_end(w);
	wg_jw_key(w, "options");
	wg_jw_object_begin(w);
	wg_jw_kv_uint(w, "timeout_ms", ji->options.timeout_ms);
	wg_jw_kv_uint(w, "memory_mib", ji->options.memory_bytes >> 20);
	wg_jw_kv_uint(w, "result_limit", ji->options.result_bytes);
	wg_jw_kv_int(w, "priority", ji->options.priority);
	wg_jw_kv_uint(w, "max_failures", ji->options.max_failures);
	wg_jw_kv_uint(w, "redundancy", ji->options.redundancy);
	wg_jw_kv_uint(w, "quorum", ji->options.quorum);
	wg_jw_object_end(w);
	wg_jw_kv_uint(w, "created_ms", ji->created_ms);
	if (ji->finished_ms)
		wg_jw_kv_uint(w, "finished_ms", ji->finished_ms);
	else
		wg_jw_kv_null(w, "finished_ms");
	char why[200];
	const char *blocked = job_blocked(m, ji, why, sizeof why);
	if (blocked)
		wg_jw_kv_str(w, "waiting", blocked);
	else
		wg_jw_kv_null(w, "waiting");
	wg_jw_object_end(w);
}

static void respond_job(struct wg_manager *m, struct wg_http_request *req, int status,
			const struct wg_job_info *ji)
{
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	write_job(m, &w, ji);
	wg_http_respond_json(req, status, out.data, out.len);
	wg_buf_free(&out);
}

/* ---- POST /v1/jobs ---- */

/* After a body this large the freed heap is given back to the system: without it the
 * ~50 MiB of small blocks of a large tree stay resident (docs/PERFORMANCE.md). */
#define API_TRIM_BODY_BYTES (1u << 20)

/* The job is written into the loop turn's transaction, where the dispatcher assigns its
 * first tasks at the end of the turn: one commit for both, then the 201 and the tasks go
 * out (a failed commit answers 503 and keeps nothing). */
void wg__api_post_job(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (wg__api_core_down(m, req))
		return;
	struct wg_job_body jb;
	char err[256] = "";
	size_t len = 0;
	const char *body = (const char *)wg_http_body(req, &len);
	if (wg__job_body_parse(body, len, &jb, err, sizeof err) != 0) {
		wg_http_respond_error(req, 400, "%s", err);
		goto out;
	}
	if (!wg__dispatch_open_turn(m)) {
		wg__api_core_down(m, req);
		goto out;
	}
	if (!jb.address) {
		/* A stored program must be stored here. */
		uint8_t probe;
		size_t n;
		uint64_t total;
		int rc = wg_jobs_program_read(m->jobs, jb.hash, 0, &probe, 1, &n, &total);
		if (rc == WG_ENOTFOUND) {
			wg_http_respond_error(req, 404,
					      "no program %s is stored here: upload it "
					      "first with POST /v1/programs",
					      jb.hash);
			goto out;
		}
		if (rc) {
			wg__api_core_error(m, req, "looking up a program", rc);
			goto out;
		}
	}
	char stored[128 + 80];
	const char *addresses[1];
	if (jb.address) {
		addresses[0] = jb.address;
	} else {
		snprintf(stored, sizeof stored, "wasmgrid://%s/%s", m->id.id_hex, jb.hash);
		addresses[0] = stored;
	}
	uint64_t job_id = 0;
	int rc =
	    wg_jobs_submit(m->jobs, jb.hash, addresses, 1, &jb.opts, jb.args, jb.n_args, &job_id);
	if (rc == WG_EINVAL) {
		wg_http_respond_error(req, 400,
				      "the job core refused these options or arguments: "
				      "check the limits in docs/api.md");
		goto out;
	}
	if (rc) {
		wg__api_core_error(m, req, "storing a job", rc);
		goto out;
	}
	wg__dispatch_kick(m);
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_uint(&w, "id", job_id);
	wg_jw_kv_uint(&w, "tasks", jb.n_args);
	wg_jw_object_end(&w);
	char location[64];
	snprintf(location, sizeof location, "/v1/jobs/%" PRIu64, job_id);
	answer_after_commit(m, req, 201, &out, location);
out:
	wg__job_body_free(&jb);
	if (len >= API_TRIM_BODY_BYTES)
		malloc_trim(0);
}

/* ---- GET /v1/jobs, GET /v1/jobs/ID, DELETE /v1/jobs/ID ---- */

int wg__api_query_u32(struct wg_http_request *req, const char *name, uint32_t dflt, uint32_t max,
		      uint32_t *out)
{
	const char *s = wg_http_query(req, name);
	*out = dflt;
	if (!s)
		return 0;
	char *end = NULL;
	unsigned long long v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
	if (!end || *end || v > max) {
		wg_http_respond_error(req, 400, "'%s' must be an integer from 0 to %u", name, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* ?state=running,failed: the bits of the states named; answers 400 for an unknown one. */
static int query_states(struct wg_http_request *req, unsigned *states)
{
	const char *s = wg_http_query(req, "state");
	*states = 0;
	while (s && *s) {
		size_t len = strcspn(s, ",");
		int found = -1;
		for (int st = 0; st < 4 && found < 0; st++) {
			const char *name = wg_job_state_name((enum wg_job_state)st);
			if (strlen(name) == len && !strncmp(s, name, len))
				found = st;
		}
		if (found < 0) {
			wg_http_respond_error(req, 400,
					      "'state' takes job states separated by commas: "
					      "running, completed, failed, cancelled; not '%.*s'",
					      (int)(len > 32 ? 32 : len), s);
			return -1;
		}
		*states |= 1u << found;
		s += len + (s[len] == ',');
	}
	return 0;
}

void wg__api_list_jobs(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_list_jobs))
		return;
	struct wg_jobs_filter f = {0};
	uint32_t limit;
	if (query_states(req, &f.states) || wg__api_query_u32(req, "limit", 0, UINT32_MAX, &limit))
		return;
	f.limit = limit;
	struct wg_job_info *jobs = NULL;
	size_t n = 0;
	int rc = wg_jobs_list(m->jobs, &f, &jobs, &n);
	if (rc) {
		wg__api_core_error(m, req, "listing jobs", rc);
		return;
	}
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_key(&w, "jobs");
	wg_jw_array_begin(&w);
	for (size_t i = 0; i < n; i++)
		write_job(m, &w, &jobs[i]);
	wg_jw_array_end(&w);
	wg_jw_object_end(&w);
	wg_http_respond_json(req, 200, out.data, out.len);
	wg_buf_free(&out);
	free(jobs);
}

/* GET /v1/jobs/ID?wait=MS holds the request until the job is no longer running or MS
 * passed (at most WAIT_MAX_MS), so a client learns of the end at once without polling. */
#define WAIT_MAX_MS 60000

/* What a results request asks for: a page from index `from`, or (follow) the tasks that
 * ended after number `after`, in the order they ended. */
struct results_query {
	bool follow;
	uint64_t after;
	uint32_t from, limit;
};

struct job_waiter {
	struct wg_manager *m;
	struct wg_http_request *req;
	uint64_t job_id;
	uint64_t deadline; /* uv_now() scale */
	bool results;	   /* answer with the results page, not the job's status */
	struct results_query q;
	struct job_waiter *next;
};

static void respond_results(struct wg_manager *m, struct wg_http_request *req, uint64_t id,
			    const struct results_query *q);

static void unlink_waiter(struct wg_manager *m, struct job_waiter *w)
{
	for (struct job_waiter **pp = &m->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static void waiter_gone(struct wg_http_request *req, void *user)
{
	struct job_waiter *w = user;
	unlink_waiter(w->m, w);
	/* The answer is discarded, and frees the request. */
	wg_http_respond(req, 499, NULL, NULL, 0);
	free(w);
}

void wg__api_wake_waiters(struct wg_manager *m, bool all)
{
	uint64_t now = uv_now(m->loop);
	struct job_waiter **pp = &m->waiters;
	/* Not while a transaction is open (a timer between a report and its commit): the
	 * commit wakes them. */
	if (m->txn_open && m->jobs)
		return;
	if (!m->jobs) {
		while (*pp) {
			struct job_waiter *w = *pp;
			*pp = w->next;
			wg__api_core_down(m, w->req);
			free(w);
		}
		return;
	}
	while (*pp) {
		struct job_waiter *w = *pp;
		enum wg_job_state state;
		uint64_t last = 0;
		int rc = wg_jobs_progress(m->jobs, w->job_id, &state, &last);
		/* A follower is answered as soon as a task ends after its cursor. */
		bool news = w->q.follow && last > w->q.after;
		if (!all && rc == 0 && state == WG_JOB_RUNNING && now < w->deadline && !news) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (w->results && rc == 0) {
			respond_results(m, w->req, w->job_id, &w->q);
			free(w);
			continue;
		}
		struct wg_job_info ji;
		if (rc == 0)
			rc = wg_jobs_status(m->jobs, w->job_id, &ji);
		if (rc == WG_ENOTFOUND)
			wg__api_unknown_job(w->req, w->job_id);
		else if (rc)
			wg_http_respond_error(w->req, 500, "reading a job: %s", wg_strerror(rc));
		else
			respond_job(w->m, w->req, 200, &ji);
		free(w);
	}
}

/* With ?wait=MS on a running job: holds the request (returns 1, or 2 after answering a
 * malformed wait with 400); 0 when it is to be answered now. `q`: a results request (NULL:
 * the job's status); one that follows is answered at once when there is news after its
 * cursor. */
static int hold_while_running(struct wg_manager *m, struct wg_http_request *req, uint64_t id,
			      const struct results_query *q)
{
	const char *wait = wg_http_query(req, "wait");
	if (!wait || m->stopping)
		return 0;
	char *end;
	unsigned long long ms = strtoull(wait, &end, 10);
	if (*end || end == wait) {
		wg_http_respond_error(req, 400, "wait must be a number of milliseconds, not '%s'",
				      wait);
		return 2;
	}
	enum wg_job_state state;
	uint64_t last = 0;
	if (ms == 0 || wg_jobs_progress(m->jobs, id, &state, &last) != 0 ||
	    state != WG_JOB_RUNNING || (q && q->follow && last > q->after))
		return 0;
	struct job_waiter *w = wg_calloc(1, sizeof *w);
	w->m = m;
	w->req = req;
	w->job_id = id;
	w->deadline = uv_now(m->loop) + (ms > WAIT_MAX_MS ? WAIT_MAX_MS : ms);
	w->results = q != NULL;
	if (q)
		w->q = *q;
	w->next = m->waiters;
	m->waiters = w;
	wg_http_set_abort_cb(req, waiter_gone, w);
	return 1;
}

void wg__api_get_job(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_get_job))
		return;
	uint64_t id;
	if (wg__api_job_id(req, &id) || hold_while_running(m, req, id, NULL))
		return;
	struct wg_job_info ji;
	int rc = wg_jobs_status(m->jobs, id, &ji);
	if (rc == WG_ENOTFOUND)
		wg__api_unknown_job(req, id);
	else if (rc)
		wg__api_core_error(m, req, "reading a job", rc);
	else
		respond_job(m, req, 200, &ji);
}

void wg__api_cancel_job(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_cancel_job))
		return;
	uint64_t id;
	if (wg__api_job_id(req, &id))
		return;
	bool remove = false;
	const char *rm = wg_http_query(req, "remove");
	if (rm && (!strcmp(rm, "true") || !strcmp(rm, "1"))) {
		remove = true;
	} else if (rm && strcmp(rm, "false") && strcmp(rm, "0")) {
		wg_http_respond_error(req, 400, "remove must be true or false, not '%s'", rm);
		return;
	}
	struct wg_job_info ji;
	int rc = wg_jobs_cancel(m->jobs, id, NULL);
	if (rc == 0 && remove)
		rc = wg_jobs_remove(m->jobs, id);
	if (rc == 0) {
		/* The job is over at once; its tasks are marked or deleted a slice at a time. */
		wg__dispatch_sweep(m);
		wg__dispatch_flush_aborts(m);
		wg__api_wake_waiters(m, false);
		if (!remove)
			rc = wg_jobs_status(m->jobs, id, &ji);
	}
	if (rc == WG_ENOTFOUND) {
		wg__api_unknown_job(req, id);
	} else if (rc) {
		wg__api_core_error(m, req, remove ? "removing a job" : "cancelling a job", rc);
	} else if (remove) {
		char body[64];
		int n = snprintf(body, sizeof body, "{\"job\":%" PRIu64 ",\"removed\":true}", id);
		wg_http_respond_json(req, 200, body, (size_t)n);
	} else {
		respond_job(m, req, 200, &ji);
	}
}

/* POST /v1/jobs/ID/retry: the job's failed tasks queued again. */
void wg__api_retry_job(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_retry_job))
		return;
	uint64_t id, n = 0;
	if (wg__api_job_id(req, &id))
		return;
	struct wg_job_info ji;
	int rc = wg_jobs_retry(m->jobs, id, &n);
	if (rc == 0) {
		wg__dispatch_sweep(m);
		rc = wg_jobs_status(m->jobs, id, &ji);
	}
	if (rc == WG_ENOTFOUND) {
		wg__api_unknown_job(req, id);
	} else if (rc == WG_EBUSY) {
		wg_http_respond_error(req, 409,
				      "job %" PRIu64 " was cancelled: nothing of it runs again "
				      "(submit it again)",
				      id);
	} else if (rc) {
		wg__api_core_error(m, req, "retrying a job", rc);
	} else {
		struct wg_buf out = {0};
		struct wg_json_writer w;
		wg_jw_init(&w, &out);
		wg_jw_object_begin(&w);
		wg_jw_kv_uint(&w, "retried", n);
		wg_jw_key(&w, "job");
		write_job(m, &w, &ji);
		wg_jw_object_end(&w);
		wg_http_respond_json(req, 200, out.data, out.len);
		wg_buf_free(&out);
	}
}

/* ---- GET /v1/jobs/ID/results ---- */

struct results_page {
	struct wg_json_writer *w;
	uint32_t count;
	uint32_t last_index;
	uint64_t last_seq;
};

static int write_result(const struct wg_task_result *r, void *user)
{
	struct results_page *pg = user;
	struct wg_json_writer *w = pg->w;
	wg_jw_object_begin(w);
	wg_jw_kv_uint(w, "index", r->index);
	wg_jw_kv_str(w, "status", wg_task_state_name(r->state));
	if (r->seq)
		wg_jw_kv_uint(w, "seq", r->seq);
	else
		wg_jw_kv_null(w, "seq");
	if (r->state == WG_TASK_COMPLETED && r->result) {
		wg_jw_key(w, "result");
		if (wg_utf8_valid(r->result, r->result_len)) {
			wg_jw_strn(w, r->result, r->result_len);
		} else {
			wg_jw_base64(w, r->result, r->result_len);
			wg_jw_kv_str(w, "encoding", "base64");
		}
	} else {
		wg_jw_kv_null(w, "result");
	}
	if (r->failures > 0 || r->state == WG_TASK_FAILED) {
		wg_jw_kv_str(w, "error", wg_error_kind_name(r->error_kind));
		wg_jw_kv_str(w, "error_detail", r->error_detail);
		wg_jw_key(w, "stderr");
		wg_jw_strn(w, r->stderr_tail ? (const void *)r->stderr_tail : "", r->stderr_len);
	} else {
		wg_jw_kv_null(w, "error");
	}
	wg_jw_kv_str(w, "worker", r->worker);
	wg_jw_kv_uint(w, "attempts", r->attempts);
	wg_jw_kv_uint(w, "failures", r->failures);
	/* Every attempt: where, when, how long (wall from its start, CPU as its worker said). */
	wg_jw_key(w, "runs");
	wg_jw_array_begin(w);
	for (size_t i = 0; i < r->n_runs; i++) {
		const struct wg_attempt_run *a = &r->runs[i];
		wg_jw_object_begin(w);
		wg_jw_kv_str(w, "worker", a->worker);
		wg_jw_kv_str(w, "state", wg_attempt_state_name(a->state));
		wg_jw_kv_uint(w, "assigned_ms", a->assigned_ms);
#define WG__OPT_MS(key, v)                                                                         \
	do {                                                                                       \
		if (v)                                                                             \
			wg_jw_kv_uint(w, key, v);                                                  \
		else                                                                               \
			wg_jw_kv_null(w, key);                                                     \
	} while (0)
		WG__OPT_MS("started_ms", a->started_ms);
		WG__OPT_MS("finished_ms", a->finished_ms);
		WG__OPT_MS("wall_ms", a->started_ms && a->finished_ms >= a->started_ms
					  ? a->finished_ms - a->started_ms
					  : 0);
		WG__OPT_MS("cpu_ms", a->cpu_ms);
#undef WG__OPT_MS
		if (a->state == WG_ATTEMPT_ERROR || a->state == WG_ATTEMPT_ABORTED)
			wg_jw_kv_str(w, "error", wg_error_kind_name(a->error_kind));
		wg_jw_object_end(w);
	}
	wg_jw_array_end(w);
	wg_jw_object_end(w);
	pg->count++;
	pg->last_index = r->index;
	pg->last_seq = r->seq;
	return 0;
}

void wg__api_job_results(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_job_results))
		return;
	uint64_t id;
	struct results_query q = {0};
	if (wg__api_job_id(req, &id) ||
	    wg__api_query_u32(req, "from", 0, UINT32_MAX - 1, &q.from) ||
	    wg__api_query_u32(req, "limit", API_RESULTS_DEFAULT, API_RESULTS_MAX, &q.limit))
		return;
	const char *after = wg_http_query(req, "after");
	if (after) {
		char *end = NULL;
		q.after = (*after >= '0' && *after <= '9') ? strtoull(after, &end, 10) : 0;
		if (!end || *end || q.after > INT64_MAX) {
			wg_http_respond_error(req, 400,
					      "'after' must be the 'last' of an earlier answer (a "
					      "whole number; 0 to start)");
			return;
		}
		if (wg_http_query(req, "from")) {
			wg_http_respond_error(req, 400,
					      "give 'from' (pages in index order) or 'after' (the "
					      "order tasks ended in), not both");
			return;
		}
		q.follow = true;
	}
	if (q.limit == 0)
		q.limit = API_RESULTS_DEFAULT;
	if (!hold_while_running(m, req, id, &q))
		respond_results(m, req, id, &q);
}

/* ?after=N: the tasks that ended after number N, in the order they ended; `last` is the
 * cursor of the next request. Cheap whatever the size of the job: no task is counted. */
static void respond_followed(struct wg_manager *m, struct wg_http_request *req, uint64_t id,
			     const struct results_query *q)
{
	enum wg_job_state state;
	uint64_t last = 0;
	int rc = wg_jobs_progress(m->jobs, id, &state, &last);
	if (rc == WG_ENOTFOUND) {
		wg__api_unknown_job(req, id);
		return;
	}
	if (rc) {
		wg__api_core_error(m, req, "reading results", rc);
		return;
	}
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_uint(&w, "job", id);
	wg_jw_kv_str(&w, "state", wg_job_state_name(state));
	wg_jw_kv_uint(&w, "after", q->after);
	wg_jw_key(&w, "results");
	wg_jw_array_begin(&w);
	struct results_page pg = {.w = &w};
	rc = wg_jobs_results_after(m->jobs, id, q->after, q->limit, write_result, &pg);
	wg_jw_array_end(&w);
	wg_jw_kv_uint(&w, "last", pg.count ? pg.last_seq : q->after);
	/* Whether more results than this page had ended when it was read. */
	wg_jw_kv_bool(&w, "more", pg.count && pg.last_seq < last);
	wg_jw_object_end(&w);
	if (rc)
		wg__api_core_error(m, req, "reading results", rc);
	else
		wg_http_respond_json(req, 200, out.data, out.len);
	wg_buf_free(&out);
}

static void respond_results(struct wg_manager *m, struct wg_http_request *req, uint64_t id,
			    const struct results_query *q)
{
	if (q->follow) {
		respond_followed(m, req, id, q);
		return;
	}
	uint32_t from = q->from, limit = q->limit;
	struct wg_job_info ji;
	int rc = wg_jobs_header(m->jobs, id, &ji);
	if (rc == WG_ENOTFOUND) {
		wg__api_unknown_job(req, id);
		return;
	}
	if (rc) {
		wg__api_core_error(m, req, "reading results", rc);
		return;
	}
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_uint(&w, "job", id);
	wg_jw_kv_str(&w, "state", wg_job_state_name(ji.state));
	wg_jw_kv_uint(&w, "tasks", ji.n_tasks);
	wg_jw_kv_uint(&w, "from", from);
	wg_jw_key(&w, "results");
	wg_jw_array_begin(&w);
	struct results_page pg = {.w = &w};
	rc = wg_jobs_results(m->jobs, id, from, limit, write_result, &pg);
	wg_jw_array_end(&w);
	/* The next page starts after the last index given; null when this was the last. */
	if (pg.count == limit && (uint64_t)pg.last_index + 1 < ji.n_tasks)
		wg_jw_kv_uint(&w, "next", (uint64_t)pg.last_index + 1);
	else
		wg_jw_kv_null(&w, "next");
	wg_jw_object_end(&w);
	if (rc == WG_ENOTFOUND)
		wg__api_unknown_job(req, id);
	else if (rc)
		wg__api_core_error(m, req, "reading results", rc);
	else
		wg_http_respond_json(req, 200, out.data, out.len);
	wg_buf_free(&out);
}

/* ---- GET /metrics (the job part) ---- */

int wg__api_jobs_metrics(struct wg_manager *m, struct wg_buf *out)
{
	if (!m->jobs)
		return 0;
	struct wg_jobs_metrics jm;
	int rc = wg_jobs_metrics(m->jobs, &jm);
	if (rc)
		return rc;
	wg_buf_appendf(out, "# HELP wasmgrid_jobs Jobs by state.\n# TYPE wasmgrid_jobs gauge\n");
	for (int s = 0; s < 4; s++)
		wg_buf_appendf(out, "wasmgrid_jobs{state=\"%s\"} %" PRIu64 "\n",
			       wg_job_state_name((enum wg_job_state)s), jm.jobs[s]);
	wg_buf_appendf(out, "# HELP wasmgrid_tasks Tasks by state.\n# TYPE wasmgrid_tasks gauge\n");
	for (int s = 0; s < WG_TASK_STATE_COUNT; s++) {
		uint64_t n = jm.tasks[s];
		if (s == WG_TASK_RUNNING) {
			/* As in the job view: sent but not started is "assigned". */
			wg_buf_appendf(out, "wasmgrid_tasks{state=\"assigned\"} %" PRIu64 "\n",
				       jm.tasks_assigned);
			n = n > jm.tasks_assigned ? n - jm.tasks_assigned : 0;
		}
		wg_buf_appendf(out, "wasmgrid_tasks{state=\"%s\"} %" PRIu64 "\n",
			       wg_task_state_name((enum wg_task_state)s), n);
	}
	wg_buf_appendf(out,
		       "# HELP wasmgrid_attempts_in_flight Attempts sent to workers and not yet "
		       "answered.\n# TYPE wasmgrid_attempts_in_flight gauge\n"
		       "wasmgrid_attempts_in_flight %" PRIu64 "\n",
		       jm.attempts_in_flight);
	const struct {
		const char *name, *help;
		uint64_t value;
	} counters[] = {
	    {"attempts_assigned", "Attempts sent to workers.", jm.assigned},
	    {"results", "Results received.", jm.results},
	    {"task_errors", "Error reports received.", jm.errors},
	    {"attempts_lost", "Attempts lost with their worker.", jm.lost},
	    {"attempts_timed_out", "Attempts aborted past their deadline.", jm.timed_out},
	    {"attempts_refused", "Attempts refused by workers.", jm.refused},
	    {"db_commits", "Database transactions committed.", jm.commits},
	};
	for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
		wg_buf_appendf(out,
			       "# HELP wasmgrid_%s_total %s\n# TYPE wasmgrid_%s_total counter\n"
			       "wasmgrid_%s_total %" PRIu64 "\n",
			       counters[i].name, counters[i].help, counters[i].name,
			       counters[i].name, counters[i].value);
	wg_histogram_write(&jm.run_time, "wasmgrid_task_run_seconds",
			   "Run time of attempts answered with a result or an error, from their "
			   "start to the answer, since the manager started.",
			   out);
	wg_histogram_write(&jm.queue_wait, "wasmgrid_task_queue_wait_seconds",
			   "Time from a task being queued (submitted, or queued again) to an "
			   "attempt of it being assigned, since the manager started.",
			   out);
	return 0;
}
