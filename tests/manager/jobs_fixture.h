/* Helpers for the job core's tests: a store in the test's temporary directory with a clock
 * the test controls, and short ways to submit, assign and read results. */
#ifndef WG_TESTS_JOBS_FIXTURE_H
#define WG_TESTS_JOBS_FIXTURE_H
#include <stddef.h>
#include <stdint.h>

#include "manager/jobs.h"

#define JFX_HASH "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct jfx {
	struct wg_jobs *j;
	uint64_t now; /* the clock the store reads */
	char *path;   /* where the store is: a file, or a PostgreSQL URI */
	/* The manager it is, for several on one store (NULL: "local"), and its lease (0: the
	 * default). */
	const char *node_id;
	uint32_t lease_ms;
};

/* A test of the job core that runs on both stores: as NAME on SQLite and as
 * NAME_on_postgresql on a store of its own on the run's PostgreSQL server (harness/pg.h). */
#define STORE_TEST(name)                                                                           \
	static void store_test_##name(void);                                                       \
	TEST(name)                                                                                 \
	{                                                                                          \
		store_test_##name();                                                               \
	}                                                                                          \
	TEST(name##_on_postgresql)                                                                 \
	{                                                                                          \
		jfx_use_postgresql();                                                              \
		store_test_##name();                                                               \
	}                                                                                          \
	static void store_test_##name(void)

/* From now on (in this test), fixtures open a PostgreSQL store instead of a file. */
void jfx_use_postgresql(void);
/* Whether they do. */
int jfx_on_postgresql(void);

/* Opens (or reopens, after jfx_close) the test's store (tmpdir/manager.db, or a new
 * PostgreSQL store on first open); the clock starts at 1000. */
void jfx_open(struct jfx *f);
/* The integer in the first row of an SQL query, run on a connection of the test's own to
 * the store (what is committed, as another process sees it). */
long long jfx_query(struct jfx *f, const char *sql);
void jfx_close(struct jfx *f);
/* Closes, frees the fixture and, under AddressSanitizer, fails the test on any leak (the
 * runner ends each test with _exit(), which skips LeakSanitizer's own check). */
void jfx_done(struct jfx *f);
void jfx_leak_check(void);
/* Submits n tasks whose arguments are "arg0", "arg1"...; o may be NULL. */
uint64_t jfx_submit(struct jfx *f, size_t n, const struct wg_job_options *o);
/* Assigns to worker and returns how many; *a (may be NULL: then freed) gets the batch. */
size_t jfx_assign(struct jfx *f, const char *worker, uint32_t slots, struct wg_assignment **a);
/* Completes an attempt with a text result; returns whether it was applied. */
int jfx_complete(struct jfx *f, const char *worker, uint64_t attempt, const char *result);
/* The state of task `index` of a job, its failures, attempts, accepted worker (copied into
 * worker_out when not NULL, "" when none) and result (into result_out, "" when none). */
struct jfx_task {
	int state;
	uint32_t failures, attempts;
	int error_kind;
	char worker[80];
	char result[256];
	char detail[256];
	char stderr_tail[256];
};
void jfx_task(struct jfx *f, uint64_t job, uint32_t index, struct jfx_task *out);
/* The aborts queued so far, taken; returns how many, and the attempt ids in ids[]. */
size_t jfx_aborts(struct jfx *f, uint64_t *ids, size_t max, const char **workers);

#endif
