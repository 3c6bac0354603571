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
	char *path;
};

/* Opens (or reopens, after jfx_close) tmpdir/manager.db; the clock starts at 1000. */
void jfx_open(struct jfx *f);
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
