/* The job core's events: results, errors, redundancy, lost workers, timeouts, cancellation,
 * refusals, batching and recovery after the manager is killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/test.h"
#include "manager/jobs.h"
#include "manager/jobs_fixture.h"
#include "util/err.h"

static struct wg_job_options redundant(uint32_t k, uint32_t quorum)
{
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.redundancy = k;
	o.quorum = quorum;
	return o;
}

STORE_TEST(jobs_replicas_go_to_distinct_workers)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o = redundant(3, 0);
	jfx_submit(&f, 1, &o);
	struct wg_assignment *a1, *a2, *a3;
	CHECK_EQ(jfx_assign(&f, "w1", 3, &a1), 1);
	CHECK_EQ(jfx_assign(&f, "w1", 3, NULL), 0);
	CHECK_EQ(jfx_assign(&f, "w2", 3, &a2), 1);
	CHECK_EQ(jfx_assign(&f, "w3", 3, &a3), 1);
	CHECK_EQ(jfx_assign(&f, "w4", 3, NULL), 0);
	CHECK(a1[0].attempt_id != a2[0].attempt_id && a2[0].attempt_id != a3[0].attempt_id);
	CHECK_EQ(a1[0].random_seed, a2[0].random_seed);
	CHECK_EQ(a1[0].random_seed, a3[0].random_seed);
	wg_assignments_free(a1, 1);
	wg_assignments_free(a2, 1);
	wg_assignments_free(a3, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_redundancy_quorum_accepts_agreed_result_despite_one_wrong)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o = redundant(3, 0);
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_assignment *a1, *a2, *a3;
	jfx_assign(&f, "w1", 1, &a1);
	jfx_assign(&f, "w2", 1, &a2);
	jfx_assign(&f, "w3", 1, &a3);
	CHECK(jfx_complete(&f, "w2", a2[0].attempt_id, "wrong"));
	CHECK(jfx_complete(&f, "w1", a1[0].attempt_id, "right"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_RUNNING);
	CHECK_EQ(t.failures, 1);
	CHECK(jfx_complete(&f, "w3", a3[0].attempt_id, "right"));
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	CHECK_STREQ(t.result, "right");
	CHECK_STREQ(t.worker, "w1");
	CHECK_EQ(t.attempts, 3);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_COMPLETED);
	CHECK_EQ(info.finished_ms, 1000);
	wg_assignments_free(a1, 1);
	wg_assignments_free(a2, 1);
	wg_assignments_free(a3, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_results_from_one_worker_never_make_a_quorum_alone)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o = redundant(2, 2);
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_assignment *a1, *a2, *a3;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a1), 1);
	CHECK_EQ(jfx_assign(&f, "w2", 1, &a2), 1);
	/* w1 drops and comes back: its lost attempt does not stop it getting a new replica. */
	CHECK_EQ(wg_jobs_worker_lost(f.j, "w1", NULL), 0);
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a3), 1);
	CHECK(jfx_complete(&f, "w1", a3[0].attempt_id, "same"));
	CHECK(jfx_complete(&f, "w1", a1[0].attempt_id, "same"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK(t.state != WG_TASK_COMPLETED);
	CHECK(jfx_complete(&f, "w2", a2[0].attempt_id, "same"));
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	CHECK_STREQ(t.result, "same");
	wg_assignments_free(a1, 1);
	wg_assignments_free(a2, 1);
	wg_assignments_free(a3, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_replica_completing_after_the_task_is_done_is_ignored)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o = redundant(3, 2);
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_assignment *a1, *a2, *a3;
	jfx_assign(&f, "w1", 1, &a1);
	jfx_assign(&f, "w2", 1, &a2);
	jfx_assign(&f, "w3", 1, &a3);
	CHECK(jfx_complete(&f, "w1", a1[0].attempt_id, "v"));
	CHECK(jfx_complete(&f, "w2", a2[0].attempt_id, "v"));
	uint64_t ids[2];
	const char *who[2];
	CHECK_EQ(jfx_aborts(&f, ids, 2, who), 1);
	CHECK_EQ(ids[0], a3[0].attempt_id);
	CHECK_STREQ(who[0], "w3");
	CHECK_EQ(wg_jobs_worker_running(f.j, "w3"), 0);
	CHECK(!jfx_complete(&f, "w3", a3[0].attempt_id, "other"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	CHECK_STREQ(t.result, "v");
	CHECK_EQ(t.failures, 0);
	wg_assignments_free(a1, 1);
	wg_assignments_free(a2, 1);
	wg_assignments_free(a3, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_disagreement_without_possible_quorum_schedules_more_replicas)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o = redundant(2, 2);
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_assignment *a1, *a2, *a3;
	jfx_assign(&f, "w1", 1, &a1);
	jfx_assign(&f, "w2", 1, &a2);
	CHECK(jfx_complete(&f, "w1", a1[0].attempt_id, "x"));
	CHECK(jfx_complete(&f, "w2", a2[0].attempt_id, "y"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_QUEUED);
	CHECK_EQ(t.failures, 1);
	/* Neither worker that already answered gets the extra replica. */
	CHECK_EQ(jfx_assign(&f, "w1", 1, NULL), 0);
	CHECK_EQ(jfx_assign(&f, "w2", 1, NULL), 0);
	CHECK_EQ(jfx_assign(&f, "w3", 1, &a3), 1);
	CHECK(jfx_complete(&f, "w3", a3[0].attempt_id, "y"));
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	CHECK_STREQ(t.result, "y");
	CHECK_STREQ(t.worker, "w2");
	wg_assignments_free(a1, 1);
	wg_assignments_free(a2, 1);
	wg_assignments_free(a3, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_endless_disagreement_fails_the_task)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o = redundant(2, 2);
	o.max_failures = 1;
	uint64_t id = jfx_submit(&f, 1, &o);
	const char *workers[4] = {"w1", "w2", "w3", "w4"};
	const char *answers[3] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		struct wg_assignment *a;
		CHECK_EQ(jfx_assign(&f, workers[i], 1, &a), 1);
		CHECK(jfx_complete(&f, workers[i], a[0].attempt_id, answers[i]));
		wg_assignments_free(a, 1);
	}
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_FAILED);
	CHECK_EQ(t.failures, 2);
	CHECK_CONTAINS(t.detail, "different results");
	CHECK_EQ(jfx_assign(&f, "w4", 1, NULL), 0);
	jfx_done(&f);
}

STORE_TEST(jobs_failures_beyond_max_fail_task_with_kind)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.max_failures = 2;
	uint64_t id = jfx_submit(&f, 1, &o);
	struct jfx_task t;
	for (int i = 0; i < 3; i++) {
		struct wg_assignment *a;
		CHECK_EQ(jfx_assign(&f, "w1", 1, &a), 1);
		bool applied = false;
		char detail[32];
		snprintf(detail, sizeof detail, "unreachable %d", i);
		CHECK_EQ(wg_jobs_error(f.j, "w1", a[0].attempt_id, 2, detail,
				       (const uint8_t *)"some stderr", 11, 0, &applied),
			 0);
		CHECK(applied);
		wg_assignments_free(a, 1);
		jfx_task(&f, id, 0, &t);
		CHECK_EQ(t.failures, i + 1);
		CHECK_EQ(t.state, i < 2 ? WG_TASK_QUEUED : WG_TASK_FAILED);
	}
	CHECK_EQ(t.error_kind, 2);
	CHECK_STREQ(t.detail, "unreachable 2");
	CHECK_STREQ(t.stderr_tail, "some stderr");
	CHECK_EQ(t.attempts, 3);
	CHECK_EQ(jfx_assign(&f, "w1", 1, NULL), 0); /* never retried forever */
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_FAILED);
	CHECK_EQ(info.counts[WG_TASK_FAILED], 1);
	jfx_done(&f);
}

struct cut_lengths {
	size_t detail_len, stderr_len;
	char stderr_end[5];
};

static int record_cut_lengths(const struct wg_task_result *r, void *user)
{
	struct cut_lengths *c = user;
	c->detail_len = strlen(r->error_detail);
	c->stderr_len = r->stderr_len;
	if (r->stderr_len >= 4)
		memcpy(c->stderr_end, r->stderr_tail + r->stderr_len - 4, 4);
	return 0;
}

STORE_TEST(jobs_error_detail_and_stderr_are_cut_to_their_limits)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 1, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a), 1);
	static uint8_t err[3 * WG_STDERR_TAIL_BYTES];
	memset(err, 'a', sizeof err);
	memcpy(err + sizeof err - 4, "tail", 4);
	static char detail[2 * WG_ERROR_DETAIL_BYTES + 1];
	memset(detail, 'd', sizeof detail - 1);
	CHECK_EQ(wg_jobs_error(f.j, "w1", a[0].attempt_id, 3, detail, err, sizeof err, 0, NULL), 0);
	wg_assignments_free(a, 1);
	struct cut_lengths c = {0};
	CHECK_EQ(wg_jobs_results(f.j, id, 0, 0, record_cut_lengths, &c), 0);
	CHECK_EQ(c.detail_len, WG_ERROR_DETAIL_BYTES);
	CHECK_EQ(c.stderr_len, WG_STDERR_TAIL_BYTES);
	CHECK_STREQ(c.stderr_end, "tail"); /* the tail is what is kept */
	jfx_done(&f);
}

STORE_TEST(jobs_result_over_limit_counts_as_resource_limit)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.result_bytes = 4;
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a), 1);
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "too long"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_QUEUED);
	CHECK_EQ(t.failures, 1);
	CHECK_EQ(t.error_kind, 5);
	wg_assignments_free(a, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_worker_lost_requeues_without_failure)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 2, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	CHECK_EQ(wg_jobs_started(f.j, "w1", a[0].attempt_id, 1000, NULL), 0);
	size_t lost = 0;
	CHECK_EQ(wg_jobs_worker_lost(f.j, "w1", &lost), 0);
	CHECK_EQ(lost, 2);
	CHECK_EQ(wg_jobs_worker_running(f.j, "w1"), 0);
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_QUEUED);
	CHECK_EQ(t.failures, 0);
	CHECK_EQ(jfx_assign(&f, "w2", 5, NULL), 2);
	/* Its errors for lost attempts count for nothing. */
	bool applied = true;
	CHECK_EQ(wg_jobs_error(f.j, "w1", a[1].attempt_id, 3, "x", NULL, 0, 0, &applied), 0);
	CHECK(!applied);
	jfx_task(&f, id, 1, &t);
	CHECK_EQ(t.failures, 0);
	wg_assignments_free(a, 2);
	jfx_done(&f);
}

STORE_TEST(jobs_late_result_from_lost_worker_is_accepted_once)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 1, NULL);
	struct wg_assignment *a1, *a2;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a1), 1);
	CHECK_EQ(wg_jobs_worker_lost(f.j, "w1", NULL), 0);
	CHECK_EQ(jfx_assign(&f, "w2", 1, &a2), 1);
	CHECK(jfx_complete(&f, "w1", a1[0].attempt_id, "late"));
	/* The replacement is no longer needed: it is aborted. */
	uint64_t ids[4];
	const char *who[4];
	CHECK_EQ(jfx_aborts(&f, ids, 4, who), 1);
	CHECK_EQ(ids[0], a2[0].attempt_id);
	CHECK_STREQ(who[0], "w2");
	CHECK(!jfx_complete(&f, "w2", a2[0].attempt_id, "other"));
	CHECK(!jfx_complete(&f, "w1", a1[0].attempt_id, "late"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	CHECK_STREQ(t.result, "late");
	CHECK_STREQ(t.worker, "w1");
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.counts[WG_TASK_COMPLETED], 1);
	CHECK_EQ(info.state, WG_JOB_COMPLETED);
	wg_assignments_free(a1, 1);
	wg_assignments_free(a2, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_duplicate_completion_is_ignored)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 2, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	/* Another worker cannot answer for this one's attempt. */
	CHECK(!jfx_complete(&f, "intruder", a[0].attempt_id, "forged"));
	CHECK(!jfx_complete(&f, "w1", 999999, "unknown"));
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "first"));
	CHECK(!jfx_complete(&f, "w1", a[0].attempt_id, "second"));
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_STREQ(t.result, "first");
	CHECK_EQ(wg_jobs_worker_running(f.j, "w1"), 1);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.counts[WG_TASK_COMPLETED], 1);
	CHECK_EQ(info.state, WG_JOB_RUNNING);
	wg_assignments_free(a, 2);
	jfx_done(&f);
}

STORE_TEST(jobs_overdue_attempt_is_aborted_and_retried)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.timeout_ms = 1000;
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a), 1);
	f.now = 2000;
	CHECK_EQ(wg_jobs_started(f.j, "w1", a[0].attempt_id, 2000, NULL), 0);
	/* Deadline: started + timeout + 5 s + 10 % = 2000 + 1000 + 5100. */
	size_t n = 99;
	CHECK_EQ(wg_jobs_tick(f.j, 8100, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(wg_jobs_tick(f.j, 8101, &n), 0);
	CHECK_EQ(n, 1);
	uint64_t ids[2];
	CHECK_EQ(jfx_aborts(&f, ids, 2, NULL), 1);
	CHECK_EQ(ids[0], a[0].attempt_id);
	struct jfx_task t;
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_QUEUED);
	CHECK_EQ(t.failures, 1);
	CHECK_EQ(t.error_kind, 1);
	CHECK(!jfx_complete(&f, "w1", a[0].attempt_id, "too late"));
	struct wg_assignment *b;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &b), 1);
	CHECK(jfx_complete(&f, "w1", b[0].attempt_id, "ok"));
	jfx_task(&f, id, 0, &t);
	CHECK_EQ(t.state, WG_TASK_COMPLETED);
	wg_assignments_free(a, 1);
	wg_assignments_free(b, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_started_time_from_a_skewed_worker_clock_is_clamped)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.timeout_ms = 1000;
	jfx_submit(&f, 2, &o);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	f.now = 3000;
	/* A missing time would be long overdue, a time far ahead never due: both are clamped,
	 * to the assignment (1000) and to the report's arrival (3000). */
	CHECK_EQ(wg_jobs_started(f.j, "w1", a[0].attempt_id, 0, NULL), 0);
	CHECK_EQ(wg_jobs_started(f.j, "w1", a[1].attempt_id, UINT64_C(1) << 60, NULL), 0);
	size_t n = 99;
	CHECK_EQ(wg_jobs_tick(f.j, 1000 + 6100, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(wg_jobs_tick(f.j, 1000 + 6101, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(wg_jobs_tick(f.j, 3000 + 6101, &n), 0);
	CHECK_EQ(n, 1);
	wg_assignments_free(a, 2);
	jfx_done(&f);
}

STORE_TEST(jobs_never_started_attempt_becomes_overdue_after_start_grace)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.timeout_ms = 1000;
	jfx_submit(&f, 1, &o);
	CHECK_EQ(jfx_assign(&f, "w1", 1, NULL), 1);
	size_t n = 99;
	/* assigned at 1000 + 120 s start grace + 1000 + 5100 */
	CHECK_EQ(wg_jobs_tick(f.j, 127100, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(wg_jobs_tick(f.j, 127101, &n), 0);
	CHECK_EQ(n, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_cancel_returns_running_attempts)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 5, NULL);
	uint64_t other = jfx_submit(&f, 1, NULL);
	struct wg_assignment *a, *b;
	CHECK_EQ(jfx_assign(&f, "wb", 2, &b), 2);
	CHECK_EQ(jfx_assign(&f, "wa", 1, &a), 1);
	size_t n = 0;
	CHECK_EQ(wg_jobs_cancel(f.j, id, &n), 0);
	CHECK_EQ(n, 3);
	uint64_t ids[4];
	const char *who[4];
	CHECK_EQ(jfx_aborts(&f, ids, 4, who), 3);
	/* Sorted by worker, so the daemon sends one TasksAbort per worker. */
	CHECK_STREQ(who[0], "wa");
	CHECK_EQ(ids[0], a[0].attempt_id);
	CHECK_STREQ(who[1], "wb");
	CHECK_STREQ(who[2], "wb");
	CHECK_EQ(wg_jobs_worker_running(f.j, "wb"), 0);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_CANCELLED);
	CHECK_EQ(info.counts[WG_TASK_CANCELLED], 5);
	CHECK(!jfx_complete(&f, "wb", b[0].attempt_id, "late"));
	/* Only the other job's task is left to run. */
	struct wg_assignment *c;
	CHECK_EQ(jfx_assign(&f, "wa", 9, &c), 1);
	CHECK_EQ(c[0].job_id, other);
	CHECK_EQ(wg_jobs_cancel(f.j, id, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(wg_jobs_cancel(f.j, 424242, &n), WG_ENOTFOUND);
	wg_assignments_free(a, 1);
	wg_assignments_free(b, 2);
	wg_assignments_free(c, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_refused_attempts_requeue_without_failure)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 2, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	bool applied = false;
	CHECK_EQ(wg_jobs_refused(f.j, "w1", a[1].attempt_id, &applied), 0);
	CHECK(applied);
	CHECK_EQ(wg_jobs_refused(f.j, "w1", a[1].attempt_id, &applied), 0);
	CHECK(!applied);
	CHECK_EQ(wg_jobs_worker_running(f.j, "w1"), 1);
	struct jfx_task t;
	jfx_task(&f, id, 1, &t);
	CHECK_EQ(t.state, WG_TASK_QUEUED);
	CHECK_EQ(t.failures, 0);
	CHECK_EQ(t.attempts, 0);
	struct wg_assignment *b;
	CHECK_EQ(jfx_assign(&f, "w2", 4, &b), 1);
	CHECK_EQ(b[0].index, 1);
	wg_assignments_free(a, 2);
	wg_assignments_free(b, 1);
	jfx_done(&f);
}

STORE_TEST(jobs_batched_events_commit_in_one_transaction)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 50, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 50, &a), 50);
	struct wg_jobs_metrics before, after;
	CHECK_EQ(wg_jobs_metrics(f.j, &before), 0);
	CHECK_EQ(wg_jobs_begin(f.j), 0);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(wg_jobs_started(f.j, "w1", a[i].attempt_id, 1000, NULL), 0);
		CHECK(jfx_complete(&f, "w1", a[i].attempt_id, "r"));
	}
	CHECK_EQ(wg_jobs_commit(f.j), 0);
	CHECK_EQ(wg_jobs_metrics(f.j, &after), 0);
	CHECK_EQ(after.commits - before.commits, 1);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_COMPLETED);
	wg_assignments_free(a, 50);
	jfx_done(&f);
}

static int count_and_check_once(const struct wg_task_result *r, void *user)
{
	int *n = user;
	char want[16];
	snprintf(want, sizeof want, "r%u", r->index);
	CHECK_EQ(r->state, WG_TASK_COMPLETED);
	CHECK_EQ(r->result_len, strlen(want));
	CHECK(memcmp(r->result, want, r->result_len) == 0);
	(*n)++;
	return 0;
}

STORE_TEST(jobs_reopen_after_kill_requeues_in_flight)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 10, NULL);
	jfx_close(&f);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The manager: takes 4 tasks out, stores 2 results, then dies hard. */
		jfx_open(&f);
		struct wg_assignment *a;
		if (jfx_assign(&f, "w1", 4, &a) != 4)
			_exit(2);
		for (int i = 0; i < 2; i++) {
			char r[16];
			snprintf(r, sizeof r, "r%u", a[i].index);
			if (!jfx_complete(&f, "w1", a[i].attempt_id, r))
				_exit(3);
		}
		raise(SIGKILL);
		_exit(4);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	jfx_open(&f);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.counts[WG_TASK_COMPLETED], 2);
	CHECK_EQ(info.counts[WG_TASK_QUEUED], 8);
	CHECK_EQ(info.counts[WG_TASK_RUNNING], 0);
	struct wg_assignment *b;
	CHECK_EQ(jfx_assign(&f, "w2", 20, &b), 8);
	for (int i = 0; i < 8; i++) {
		char r[16];
		snprintf(r, sizeof r, "r%u", b[i].index);
		CHECK(jfx_complete(&f, "w2", b[i].attempt_id, r));
	}
	/* The old worker's answers for attempts the killed manager gave out find the task
	 * done and are ignored: no result is recorded twice. */
	CHECK(!jfx_complete(&f, "w1", 3, "r2"));
	int n = 0;
	CHECK_EQ(wg_jobs_results(f.j, id, 0, 0, count_and_check_once, &n), 0);
	CHECK_EQ(n, 10);
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_COMPLETED);
	struct jfx_task t;
	jfx_task(&f, id, 2, &t);
	CHECK_EQ(t.attempts, 2);
	CHECK_EQ(t.failures, 0);
	wg_assignments_free(b, 8);
	jfx_done(&f);
}
