/* Several managers on one PostgreSQL store (docs/jobs.md, "Several managers"): each sends
 * its own attempts, none twice; a manager that stops renewing its lease has its attempts
 * taken back by another; replicas another manager no longer needs are aborted by their own.
 * Two cores in one test process, each with its own connection and clock. And the SQLite
 * case: a file has one manager, whatever the node ids it has seen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/test.h"
#include "manager/jobs_fixture.h"
#include "util/alloc.h"
#include "util/err.h"

#define LEASE_MS 9000

/* Managers A and B on one new store, A opened first; both clocks at 1000. */
static void open_two(struct jfx *a, struct jfx *b)
{
	jfx_use_postgresql();
	*a = (struct jfx){.node_id = "manager-a", .lease_ms = LEASE_MS};
	jfx_open(a);
	*b = (struct jfx){.path = wg_strdup(a->path),
			  .now = a->now,
			  .node_id = "manager-b",
			  .lease_ms = LEASE_MS};
	jfx_open(b);
}

TEST(jobs_two_managers_on_one_store_never_send_a_task_twice)
{
	struct jfx a, b;
	open_two(&a, &b);
	enum { N = 60 };
	uint64_t job = jfx_submit(&a, N, NULL);
	int sent[N] = {0};
	size_t total = 0;
	for (int round = 0; round < 40 && total < N; round++) {
		struct jfx *f = round % 2 ? &b : &a;
		const char *worker = round % 2 ? "wb" : "wa";
		struct wg_assignment *as = NULL;
		size_t n = jfx_assign(f, worker, 7, &as);
		for (size_t i = 0; i < n; i++) {
			CHECK(as[i].job_id == job && as[i].index < N);
			sent[as[i].index]++;
			char result[32];
			snprintf(result, sizeof result, "r%u", as[i].index);
			CHECK(jfx_complete(f, worker, as[i].attempt_id, result));
		}
		wg_assignments_free(as, n);
		total += n;
	}
	CHECK_EQ(total, N);
	for (int i = 0; i < N; i++)
		CHECK_MSG(sent[i] == 1, "task %d sent %d times", i, sent[i]);
	/* Either manager answers for the job. */
	struct wg_job_info ji;
	CHECK_EQ(wg_jobs_status(b.j, job, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_COMPLETED);
	CHECK_EQ(ji.counts[WG_TASK_COMPLETED], N);
	struct jfx_task t;
	jfx_task(&b, job, 17, &t);
	CHECK_STREQ(t.result, "r17");
	jfx_done(&b);
	jfx_done(&a);
}

TEST(jobs_a_manager_whose_lease_runs_out_has_its_attempts_taken_back)
{
	struct jfx a, b;
	open_two(&a, &b);
	uint64_t job = jfx_submit(&a, 4, NULL);
	struct wg_assignment *as = NULL;
	CHECK_EQ(jfx_assign(&a, "wa", 4, &as), 4);
	/* A goes silent. Within its lease, B leaves its attempts alone. */
	b.now += LEASE_MS / 2;
	CHECK_EQ(wg_jobs_tick(b.j, b.now, NULL), 0);
	CHECK_EQ(jfx_assign(&b, "wb", 4, NULL), 0);
	/* Past it, B takes them back and sends the tasks to its own worker. */
	b.now += LEASE_MS;
	CHECK_EQ(wg_jobs_tick(b.j, b.now, NULL), 0);
	struct wg_assignment *bs = NULL;
	CHECK_EQ(jfx_assign(&b, "wb", 3, &bs), 3);
	for (size_t i = 0; i < 3; i++)
		CHECK(jfx_complete(&b, "wb", bs[i].attempt_id, "from b"));
	/* A's worker, now attached to B, reports late: its result is taken once, and only
	 * for the task no other attempt finished. */
	int applied = 0;
	for (size_t i = 0; i < 4; i++) {
		bool done_by_b = false;
		for (size_t k = 0; k < 3; k++)
			done_by_b |= bs[k].index == as[i].index;
		int took = jfx_complete(&b, "wa", as[i].attempt_id, "from a");
		CHECK_MSG(took == !done_by_b, "task %u: applied %d", as[i].index, took);
		applied += took;
		CHECK(!jfx_complete(&b, "wa", as[i].attempt_id, "from a"));
	}
	CHECK_EQ(applied, 1);
	struct wg_job_info ji;
	CHECK_EQ(wg_jobs_status(b.j, job, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_COMPLETED);
	CHECK_EQ(ji.counts[WG_TASK_COMPLETED], 4);
	/* A wakes up: its lease is gone, so it must open the store again, and then has
	 * nothing of its own left to recover. */
	a.now += 2 * LEASE_MS;
	CHECK_EQ(wg_jobs_tick(a.j, a.now, NULL), WG_EDB);
	jfx_close(&a);
	jfx_open(&a);
	CHECK_EQ(jfx_assign(&a, "wa", 4, NULL), 0);
	wg_assignments_free(as, 4);
	wg_assignments_free(bs, 3);
	jfx_done(&b);
	jfx_done(&a);
}

TEST(jobs_replicas_another_manager_no_longer_needs_are_aborted_by_their_own)
{
	struct jfx a, b;
	open_two(&a, &b);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.redundancy = 3;
	o.quorum = 2;
	jfx_submit(&a, 1, &o);
	struct wg_assignment *x = NULL, *y = NULL, *z = NULL;
	CHECK_EQ(jfx_assign(&a, "wa", 1, &x), 1);
	CHECK_EQ(jfx_assign(&b, "wb", 1, &y), 1);
	CHECK_EQ(jfx_assign(&b, "wc", 1, &z), 1);
	/* B's two workers agree: the task is done; B aborts nothing of A's itself. */
	CHECK(jfx_complete(&b, "wb", y[0].attempt_id, "same"));
	CHECK(jfx_complete(&b, "wc", z[0].attempt_id, "same"));
	uint64_t ids[4];
	CHECK_EQ(jfx_aborts(&b, ids, 4, NULL), 0);
	/* A finds its replica unneeded at its next renewal, and aborts it. */
	a.now += LEASE_MS / 3 + 1;
	CHECK_EQ(wg_jobs_tick(a.j, a.now, NULL), 0);
	const char *workers[4];
	CHECK_EQ(jfx_aborts(&a, ids, 4, workers), 1);
	CHECK_EQ(ids[0], x[0].attempt_id);
	CHECK_STREQ(workers[0], "wa");
	CHECK_EQ(wg_jobs_worker_running(a.j, "wa"), 0);
	wg_assignments_free(x, 1);
	wg_assignments_free(y, 1);
	wg_assignments_free(z, 1);
	jfx_done(&b);
	jfx_done(&a);
}

TEST(jobs_second_manager_with_the_same_node_id_on_a_shared_store_is_refused)
{
	struct jfx a, b;
	open_two(&a, &b);
	struct wg_jobs *twin = NULL;
	char why[1024];
	struct wg_jobs_options o = {.node_id = "manager-a"};
	CHECK_EQ(wg_jobs_open(a.path, &o, &twin, why, sizeof why), WG_EDB);
	CHECK(twin == NULL);
	CHECK_CONTAINS(why, "another manager with node id manager-a");
	/* Once A is gone (its connection closed, as when it is killed), it opens again. */
	jfx_close(&a);
	CHECK_EQ(wg_jobs_open(a.path, &o, &twin, why, sizeof why), 0);
	wg_jobs_close(twin);
	jfx_done(&b);
	free(a.path);
	jfx_leak_check();
}

/* An SQLite file has one manager at a time: one opening it under a new node id (its key
 * was replaced) takes back what the earlier one had in flight, as after its own restart. */
TEST(jobs_file_opened_under_another_node_id_queues_the_earlier_managers_attempts_again)
{
	struct jfx f = {.node_id = "old-key"};
	jfx_open(&f);
	uint64_t job = jfx_submit(&f, 3, NULL);
	CHECK_EQ(jfx_assign(&f, "w1", 2, NULL), 2);
	jfx_close(&f);
	f.node_id = "new-key";
	jfx_open(&f);
	struct wg_assignment *as = NULL;
	CHECK_EQ(jfx_assign(&f, "w1", 5, &as), 3);
	for (size_t i = 0; i < 3; i++)
		CHECK(jfx_complete(&f, "w1", as[i].attempt_id, "done"));
	wg_assignments_free(as, 3);
	struct wg_job_info ji;
	CHECK_EQ(wg_jobs_status(f.j, job, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_COMPLETED);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM managers"), 1);
	jfx_done(&f);
}
