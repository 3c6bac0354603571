#include "manager/jobs_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "harness/pg.h"
#include "harness/test.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include "util/fs.h"

static uint64_t fixture_clock(void *user)
{
	return ((struct jfx *)user)->now;
}

static int on_postgresql;

void jfx_use_postgresql(void)
{
	on_postgresql = 1;
}

int jfx_on_postgresql(void)
{
	return on_postgresql;
}

void jfx_open(struct jfx *f)
{
	if (!f->path) {
		f->path = on_postgresql ? wg_test_pg_store()
					: wg_path_join(wg_test_tmpdir(), "manager.db");
		f->now = 1000;
	}
	struct wg_jobs_options o = {.clock_ms = fixture_clock,
				    .clock_user = f,
				    .node_id = f->node_id,
				    .lease_ms = f->lease_ms};
	char why[1024];
	int rc = wg_jobs_open(f->path, &o, &f->j, why, sizeof why);
	CHECK_MSG(rc == 0, "open: %d %s", rc, why);
}

static long long query_pg(const char *uri, const char *sql)
{
	PGconn *c = PQconnectdb(uri);
	CHECK_MSG(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
	PGresult *r = PQexec(c, sql);
	CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0, "%s: %s", sql,
		  PQresultErrorMessage(r));
	long long n = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

static long long query_sqlite(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	sqlite3_stmt *st = NULL;
	CHECK_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
		  sqlite3_errmsg(db));
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

long long jfx_query(struct jfx *f, const char *sql)
{
	return on_postgresql ? query_pg(f->path, sql) : query_sqlite(f->path, sql);
}

void jfx_close(struct jfx *f)
{
	wg_jobs_close(f->j);
	f->j = NULL;
}

void jfx_leak_check(void)
{
#if defined(__SANITIZE_ADDRESS__)
	CHECK_MSG(__lsan_do_recoverable_leak_check() == 0, "memory leaked (report above)");
#endif
}

void jfx_done(struct jfx *f)
{
	jfx_close(f);
	free(f->path);
	f->path = NULL;
	jfx_leak_check();
}

uint64_t jfx_submit(struct jfx *f, size_t n, const struct wg_job_options *o)
{
	struct wg_jobs_arg *args = calloc(n ? n : 1, sizeof *args);
	char(*text)[24] = calloc(n ? n : 1, sizeof *text);
	for (size_t i = 0; i < n; i++) {
		snprintf(text[i], sizeof text[i], "arg%zu", i);
		args[i].data = (const uint8_t *)text[i];
		args[i].len = strlen(text[i]);
	}
	const char *addr = "wasmgrid://node/" JFX_HASH;
	uint64_t id = 0;
	CHECK_EQ(wg_jobs_submit(f->j, JFX_HASH, &addr, 1, o, args, n, &id), 0);
	CHECK(id > 0);
	free(args);
	free(text);
	return id;
}

size_t jfx_assign(struct jfx *f, const char *worker, uint32_t slots, struct wg_assignment **a)
{
	struct wg_assignment *list;
	size_t n;
	CHECK_EQ(wg_jobs_assign(f->j, worker, slots, &list, &n), 0);
	if (a)
		*a = list;
	else
		wg_assignments_free(list, n);
	return n;
}

int jfx_complete(struct jfx *f, const char *worker, uint64_t attempt, const char *result)
{
	bool applied = true;
	CHECK_EQ(wg_jobs_completed(f->j, worker, attempt, (const uint8_t *)result, strlen(result),
				   7, &applied),
		 0);
	return applied;
}

struct task_query {
	uint32_t index;
	struct jfx_task *out;
	int found;
};

static void copy_text(char *dst, size_t cap, const void *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	if (len)
		memcpy(dst, src, len);
	dst[len] = 0;
}

static int task_row(const struct wg_task_result *r, void *user)
{
	struct task_query *q = user;
	if (r->index != q->index)
		return 0;
	q->found = 1;
	struct jfx_task *t = q->out;
	t->state = r->state;
	t->failures = r->failures;
	t->attempts = r->attempts;
	t->error_kind = r->error_kind;
	copy_text(t->worker, sizeof t->worker, r->worker ? r->worker : "",
		  r->worker ? strlen(r->worker) : 0);
	copy_text(t->result, sizeof t->result, r->result, r->result_len);
	copy_text(t->detail, sizeof t->detail, r->error_detail, strlen(r->error_detail));
	copy_text(t->stderr_tail, sizeof t->stderr_tail, r->stderr_tail, r->stderr_len);
	return 1;
}

void jfx_task(struct jfx *f, uint64_t job, uint32_t index, struct jfx_task *out)
{
	struct task_query q = {index, out, 0};
	memset(out, 0, sizeof *out);
	int rc = wg_jobs_results(f->j, job, index, 1, task_row, &q);
	CHECK_MSG(rc >= 0 && q.found, "task %u of job %llu not found (%d)", index,
		  (unsigned long long)job, rc);
}

size_t jfx_aborts(struct jfx *f, uint64_t *ids, size_t max, const char **workers)
{
	struct wg_jobs_abort *a;
	size_t n;
	wg_jobs_take_aborts(f->j, &a, &n);
	CHECK(n <= max);
	for (size_t i = 0; i < n; i++) {
		ids[i] = a[i].attempt_id;
		if (workers)
			workers[i] = a[i].node_id;
	}
	free(a);
	return n;
}
