/* The job store stays bounded: its SQLite log (manager.db-wal) is folded back into the
 * database by the checkpoint thread, so a manager that has run a long time has a log of a
 * few megabytes, not everything it ever wrote. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/test.h"
#include "manager/jobs_fixture.h"

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The log's bound: the checkpointer is woken at 1000 pages (4 MiB) and the log is cut back
 * to 8 MiB after a complete checkpoint, or emptied past 16 MiB (store.c); twice that leaves room
 * for the writes that land while a checkpoint runs. */
#define LOG_BOUND (32ll << 20)

TEST_SLOW(store_log_is_folded_back_and_stays_bounded_over_a_long_run, 120)
{
	struct jfx f = {0};
	jfx_open(&f);
	char wal[4200], db[4200];
	snprintf(db, sizeof db, "%s", f.path);
	snprintf(wal, sizeof wal, "%s-wal", f.path);
	long long peak = 0;
	/* 40 jobs of 2,000 tasks, every task assigned and completed: ~80 MB of log written. */
	for (int job = 0; job < 40; job++) {
		jfx_submit(&f, 2000, NULL);
		for (;;) {
			struct wg_assignment *a = NULL;
			size_t n = jfx_assign(&f, "w1", 500, &a);
			for (size_t i = 0; i < n; i++)
				jfx_complete(&f, "w1", a[i].attempt_id,
					     "a result of some length 0123456789");
			wg_assignments_free(a, n);
			if (n == 0)
				break;
		}
		/* The checkpointer runs on its own thread: give it a moment, as a live manager's
		 * loop would between turns. */
		usleep(20000);
		long long w = file_size(wal);
		if (w > peak)
			peak = w;
	}
	usleep(1500000); /* the once-a-second checkpoint of a quiet manager */
	long long w = file_size(wal), d = file_size(db);
	fprintf(stderr, "    log peak %lld bytes, log now %lld, database %lld\n", peak, w, d);
	CHECK_MSG(peak < LOG_BOUND, "the log grew to %lld bytes", peak);
	/* The data is in the database file itself, not only in the log. */
	CHECK_MSG(d > (4ll << 20), "the database holds only %lld bytes", d);
	struct jfx_task t;
	jfx_task(&f, 40, 1999, &t);
	CHECK_STREQ(t.result, "a result of some length 0123456789");
	jfx_done(&f);
}
