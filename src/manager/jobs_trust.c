/* Workers' reputation, kept per node id in the store (docs/jobs.md, "Trust"): every outcome
 * of their attempts counted; a worker whose result a quorum outvoted gets no more tasks of
 * that job, and after WG_QUARANTINE_STRIKES such results none at all until an operator
 * clears it (wg_jobs_worker_clear). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/jobs_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/limits.h"
#include "util/log.h"

int wg__worker_outcome(struct wg_jobs *j, int64_t worker, enum wg__outcome o, int64_t n)
{
	if (n <= 0)
		return 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_OUTCOME);
	wg_stmt_bind_int(st, 1, worker);
	wg_stmt_bind_int(st, 2, (int64_t)o);
	wg_stmt_bind_int(st, 3, n);
	return wg_store_exec_stmt(j->store, st);
}

bool wg__worker_may_run(const struct wg__worker *w, int64_t job)
{
	if (w->quarantined)
		return false;
	for (size_t i = 0; i < w->n_banned; i++)
		if (w->banned[i] == job)
			return false;
	return true;
}

int wg__worker_load_trust(struct wg_jobs *j, struct wg__worker *w)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_TRUST);
	wg_stmt_bind_int(st, 1, w->db_id);
	int rc = wg_store_step(j->store, st);
	if (rc == 1)
		w->quarantined = !wg_stmt_is_null(st, 7);
	wg_stmt_reset(st);
	if (rc < 0)
		return rc;
	st = wg__stmt(j, WG__S_WORKER_BANS);
	wg_stmt_bind_int(st, 1, w->db_id);
	while ((rc = wg_store_step(j->store, st)) == 1) {
		w->banned = wg_realloc(w->banned, (w->n_banned + 1) * sizeof *w->banned);
		w->banned[w->n_banned++] = wg_stmt_int(st, 0);
	}
	wg_stmt_reset(st);
	return rc < 0 ? rc : 0;
}

/* The worker's result was outvoted on a task of `job`: a strike, no more of the job, and
 * quarantine once the strikes reach WG_QUARANTINE_STRIKES. */
static int outvoted(struct wg_jobs *j, int64_t worker, int64_t job, int64_t task)
{
	int rc = wg__worker_outcome(j, worker, WG__OUT_DISAGREED, 1);
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_BAN);
	wg_stmt_bind_int(st, 1, worker);
	wg_stmt_bind_int(st, 2, job);
	if (rc == 0)
		rc = wg_store_exec_stmt(j->store, st);
	struct wg__worker *w = wg__worker_by_id(j, worker);
	/* In memory too, unless it is there already (or quarantined: then it runs nothing). */
	if (rc == 0 && w && wg__worker_may_run(w, job)) {
		w->banned = wg_realloc(w->banned, (w->n_banned + 1) * sizeof *w->banned);
		w->banned[w->n_banned++] = job;
	}
	if (rc < 0)
		return rc;
	st = wg__stmt(j, WG__S_WORKER_TRUST);
	wg_stmt_bind_int(st, 1, worker);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	int64_t strikes = wg_stmt_int(st, 6);
	bool already = !wg_stmt_is_null(st, 7);
	wg_stmt_reset(st);
	const char *who = w ? w->node_id : "?";
	wg_warn(NULL,
		"worker %.8s returned a result a quorum outvoted (job %lld, task %lld): no "
		"more tasks of that job for it",
		who, (long long)job, (long long)task);
	if (already || strikes < WG_QUARANTINE_STRIKES)
		return 0;
	char reason[160];
	snprintf(reason, sizeof reason,
		 "%lld results outvoted by a quorum (the last: job %lld, task %lld)",
		 (long long)strikes, (long long)job, (long long)task);
	st = wg__stmt(j, WG__S_WORKER_QUARANTINE);
	wg_stmt_bind_int(st, 1, worker);
	wg_stmt_bind_int(st, 2, (int64_t)wg__jobs_now(j));
	wg_stmt_bind_text(st, 3, reason);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		return rc;
	if (w)
		w->quarantined = true;
	wg_warn(NULL, "worker %.8s quarantined: %s; 'wasmgrid workers --clear' lets it work again",
		who, reason);
	return 0;
}

int wg__judge_replicas(struct wg_jobs *j, int64_t task, int64_t job, int64_t accepted)
{
	struct wg__result_row *v = NULL;
	size_t n = 0;
	const uint8_t *best = NULL;
	int rc = wg__task_result_rows(j, task, &v, &n);
	for (size_t i = 0; i < n; i++)
		if (v[i].id == accepted)
			best = v[i].digest;
	for (size_t i = 0; rc == 0 && best && i < n; i++) {
		if (memcmp(v[i].digest, best, sizeof v[i].digest) == 0)
			rc = wg__worker_outcome(j, v[i].worker, WG__OUT_AGREED, 1);
		else
			rc = outvoted(j, v[i].worker, job, task);
	}
	free(v);
	return rc;
}

int wg__judge_late(struct wg_jobs *j, int64_t task, int64_t job, int64_t worker,
		   const uint8_t *result, size_t len)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_ACCEPTED_MATCH);
	wg_stmt_bind_int(st, 1, task);
	wg_stmt_bind_blob(st, 2, result, len);
	int rc = wg_store_step(j->store, st);
	int same = rc == 1 && wg_stmt_int(st, 0) == 1;
	wg_stmt_reset(st);
	if (rc <= 0) /* no accepted result (a failed or cancelled task): nothing to judge by */
		return rc;
	return same ? wg__worker_outcome(j, worker, WG__OUT_AGREED, 1)
		    : outvoted(j, worker, job, task);
}

int wg_jobs_worker_clear(struct wg_jobs *j, const char *node_id)
{
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg__worker *w = wg__worker_get(j, node_id);
	if (!w) {
		rc = WG_EDB;
		goto end;
	}
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_CLEAR);
	wg_stmt_bind_int(st, 1, w->db_id);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	st = wg__stmt(j, WG__S_WORKER_UNBAN);
	wg_stmt_bind_int(st, 1, w->db_id);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	w->quarantined = false;
	free(w->banned);
	w->banned = NULL;
	w->n_banned = 0;
	wg_info(NULL, "worker %.8s cleared by an operator: it may work again", node_id);
end:
	return wg_store_end(j->store, rc);
}

int wg_jobs_worker_reputation(struct wg_jobs *j, const char *node_id, struct wg_jobs_trust *out)
{
	memset(out, 0, sizeof *out);
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (!w)
		return WG_ENOTFOUND;
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_TRUST);
	wg_stmt_bind_int(st, 1, w->db_id);
	rc = wg_store_step(j->store, st);
	if (rc == 1) {
		out->agreed = (uint64_t)wg_stmt_int(st, 0);
		out->disagreed = (uint64_t)wg_stmt_int(st, 1);
		out->errors = (uint64_t)wg_stmt_int(st, 2);
		out->timeouts = (uint64_t)wg_stmt_int(st, 3);
		out->refused = (uint64_t)wg_stmt_int(st, 4);
		out->lost = (uint64_t)wg_stmt_int(st, 5);
		out->strikes = (uint64_t)wg_stmt_int(st, 6);
		out->quarantined = !wg_stmt_is_null(st, 7);
		out->quarantined_ms = (uint64_t)wg_stmt_int(st, 7);
		const char *reason = wg_stmt_text(st, 8);
		snprintf(out->reason, sizeof out->reason, "%s", reason ? reason : "");
		out->banned_jobs = w->n_banned;
	}
	wg_stmt_reset(st);
	return rc < 0 ? rc : rc == 1 ? 0 : WG_ENOTFOUND;
}

bool wg_jobs_worker_banned(struct wg_jobs *j, const char *node_id, uint64_t job_id)
{
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (!w || job_id > INT64_MAX)
		return false;
	for (size_t i = 0; i < w->n_banned; i++)
		if (w->banned[i] == (int64_t)job_id)
			return true;
	return false;
}
