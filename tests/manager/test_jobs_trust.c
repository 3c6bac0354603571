/* Workers' reputation (manager/jobs_trust.c, docs/jobs.md "Trust"): every outcome counted
 * per node id and kept across restarts; a worker a quorum outvoted gets no more tasks of
 * that job, and after WG_QUARANTINE_STRIKES such results none at all until cleared. */
#include <stdbool.h>
#include <string.h>

#include "harness/test.h"
#include "manager/jobs_fixture.h"
#include "util/err.h"
#include "util/limits.h"

/* A job of n tasks, each replicated three times with a quorum of two. */
static uint64_t submit_replicated(struct jfx *f, size_t n)
{
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.redundancy = 3;
	o.quorum = 2;
	return jfx_submit(f, n, &o);
}

/* One attempt for `worker` (of the first job that has one for it); its id. */
static uint64_t assign_one(struct jfx *f, const char *worker, uint64_t *job)
{
	struct wg_assignment *a = NULL;
	CHECK_EQ(jfx_assign(f, worker, 1, &a), 1);
	uint64_t id = a[0].attempt_id;
	if (job)
		*job = a[0].job_id;
	wg_assignments_free(a, 1);
	return id;
}

static struct wg_jobs_trust trust_of(struct jfx *f, const char *worker)
{
	struct wg_jobs_trust t;
	CHECK_EQ(wg_jobs_worker_reputation(f->j, worker, &t), 0);
	return t;
}

/* Honest workers "wa" and "wb" outvote "liar" on the one task of a new replicated job. */
static uint64_t outvote_liar_once(struct jfx *f)
{
	uint64_t job = submit_replicated(f, 1), got = 0;
	uint64_t a = assign_one(f, "wa", &got);
	CHECK_EQ(got, job);
	uint64_t l = assign_one(f, "liar", &got);
	CHECK_EQ(got, job);
	uint64_t b = assign_one(f, "wb", &got);
	CHECK_EQ(got, job);
	CHECK(jfx_complete(f, "wa", a, "right"));
	CHECK(jfx_complete(f, "liar", l, "wrong"));
	CHECK(jfx_complete(f, "wb", b, "right"));
	struct jfx_task t;
	jfx_task(f, job, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	CHECK_STREQ(t.result, "right");
	return job;
}

STORE_TEST(jobs_outvoted_worker_gets_no_more_tasks_of_that_job)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t job = submit_replicated(&f, 3);
	uint64_t other = jfx_submit(&f, 1, NULL);
	uint64_t a = assign_one(&f, "wa", NULL), l = assign_one(&f, "liar", NULL);
	uint64_t b = assign_one(&f, "wb", NULL);
	CHECK(jfx_complete(&f, "wa", a, "right"));
	CHECK(jfx_complete(&f, "liar", l, "wrong"));
	CHECK(jfx_complete(&f, "wb", b, "right"));
	struct wg_jobs_trust t = trust_of(&f, "liar");
	CHECK_EQ(t.disagreed, 1);
	CHECK_EQ(t.strikes, 1);
	CHECK_EQ(t.banned_jobs, 1);
	CHECK(!t.quarantined);
	CHECK_EQ(trust_of(&f, "wa").agreed, 1);
	CHECK_EQ(trust_of(&f, "wb").agreed, 1);
	/* The liar gets the other job's task, none of the first job's two left. */
	struct wg_assignment *as = NULL;
	CHECK_EQ(jfx_assign(&f, "liar", 4, &as), 1);
	CHECK_EQ(as[0].job_id, other);
	CHECK(jfx_complete(&f, "liar", as[0].attempt_id, "fine"));
	wg_assignments_free(as, 1);
	CHECK_EQ(jfx_assign(&f, "liar", 4, NULL), 0);
	CHECK_EQ(jfx_assign(&f, "wa", 4, &as), 2);
	CHECK_EQ(as[0].job_id, job);
	wg_assignments_free(as, 2);
	/* Kept in the store: the same after a restart. */
	jfx_close(&f);
	jfx_open(&f);
	CHECK_EQ(jfx_assign(&f, "liar", 4, NULL), 0);
	CHECK_EQ(trust_of(&f, "liar").disagreed, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_replica_coming_after_its_task_was_completed_is_judged_by_the_accepted_result)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t job = submit_replicated(&f, 1);
	uint64_t a = assign_one(&f, "wa", NULL), b = assign_one(&f, "wb", NULL);
	uint64_t l = assign_one(&f, "liar", NULL);
	CHECK(jfx_complete(&f, "wa", a, "right"));
	CHECK(jfx_complete(&f, "wb", b, "right"));
	/* The task is done and the third replica aborted; its wrong answer comes anyway. */
	uint64_t ids[4];
	CHECK_EQ(jfx_aborts(&f, ids, 4, NULL), 1);
	CHECK_EQ(ids[0], l);
	jfx_complete(&f, "liar", l, "wrong");
	struct wg_jobs_trust t = trust_of(&f, "liar");
	CHECK_EQ(t.disagreed, 1);
	CHECK_EQ(t.banned_jobs, 1);
	/* Judged once: the same report again changes nothing. */
	jfx_complete(&f, "liar", l, "wrong");
	CHECK_EQ(trust_of(&f, "liar").disagreed, 1);
	struct jfx_task task;
	jfx_task(&f, job, 0, &task);
	CHECK_STREQ(task.result, "right");
	CHECK_EQ(wg_jobs_worker_running(f.j, "liar"), 0);
	jfx_done(&f);
}

STORE_TEST(jobs_worker_outvoted_past_the_threshold_is_quarantined_until_cleared)
{
	struct jfx f = {0};
	jfx_open(&f);
	for (unsigned i = 0; i < WG_QUARANTINE_STRIKES; i++)
		outvote_liar_once(&f);
	struct wg_jobs_trust t = trust_of(&f, "liar");
	CHECK(t.quarantined);
	CHECK_EQ(t.strikes, WG_QUARANTINE_STRIKES);
	CHECK_CONTAINS(t.reason, "results outvoted by a quorum");
	/* No task at all, of any job, also after a restart. */
	jfx_submit(&f, 2, NULL);
	CHECK_EQ(jfx_assign(&f, "liar", 4, NULL), 0);
	jfx_close(&f);
	jfx_open(&f);
	CHECK_EQ(jfx_assign(&f, "liar", 4, NULL), 0);
	CHECK(trust_of(&f, "liar").quarantined);
	/* The operator clears it: it works again, its history kept. */
	CHECK_EQ(wg_jobs_worker_clear(f.j, "liar"), 0);
	t = trust_of(&f, "liar");
	CHECK(!t.quarantined);
	CHECK_EQ(t.strikes, 0);
	CHECK_EQ(t.disagreed, WG_QUARANTINE_STRIKES);
	CHECK_EQ(t.banned_jobs, 0);
	CHECK_EQ(jfx_assign(&f, "liar", 4, NULL), 2);
	jfx_done(&f);
}

STORE_TEST(jobs_reputation_counts_errors_timeouts_refusals_and_losses_per_node_id)
{
	struct jfx f = {0};
	jfx_open(&f);
	jfx_submit(&f, 4, NULL);
	bool applied = false;
	uint64_t e = assign_one(&f, "w", NULL);
	CHECK_EQ(wg_jobs_error(f.j, "w", e, 1, "trap", NULL, 0, 0, &applied), 0);
	CHECK(applied);
	uint64_t r = assign_one(&f, "w", NULL);
	CHECK_EQ(wg_jobs_refused(f.j, "w", r, &applied), 0);
	CHECK(applied);
	assign_one(&f, "w", NULL);
	size_t overdue = 0;
	CHECK_EQ(wg_jobs_tick(f.j, f.now + 24ull * 3600 * 1000, &overdue), 0);
	CHECK_EQ(overdue, 1);
	assign_one(&f, "w", NULL);
	assign_one(&f, "w", NULL);
	size_t lost = 0;
	CHECK_EQ(wg_jobs_worker_lost(f.j, "w", &lost), 0);
	CHECK_EQ(lost, 2);
	jfx_close(&f);
	jfx_open(&f);
	/* A worker is known by its node id: the counts come back with it. */
	jfx_assign(&f, "w", 0, NULL);
	struct wg_jobs_trust t = trust_of(&f, "w");
	CHECK_EQ(t.errors, 1);
	CHECK_EQ(t.refused, 1);
	CHECK_EQ(t.timeouts, 1);
	CHECK_EQ(t.lost, 2);
	CHECK_EQ(t.agreed + t.disagreed, 0);
	CHECK_EQ(wg_jobs_worker_reputation(f.j, "never-seen", &t), WG_ENOTFOUND);
	jfx_done(&f);
}
