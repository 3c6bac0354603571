#include "manager/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

struct wg_store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt **stmts;
	size_t n_stmts;
	sqlite3_stmt *begin, *commit, *rollback;
	int depth;  /* nesting of wg_store_begin */
	int broken; /* a database error happened: every call now fails */
	unsigned long long commits;
};

static int exec_sql(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int query_int(sqlite3 *db, const char *sql, int *value)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*value = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int wg_store_open(const char *path, const char *schema_sql, int version,
		  const char *const *stmts, size_t n, struct wg_store **out, char **why)
{
	struct wg_store *s = wg_calloc(1, sizeof *s);
	char *reason = NULL;
	int rc = WG_EDB, have = 0;
	s->path = wg_strdup(path);
	if (why)
		*why = NULL;

	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		reason = wg_strdup(s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 0);
	/* One process owns the database: a second manager on the same data directory would
	 * hand out the same tasks twice. Exclusive locking (taken at the first read and kept)
	 * makes the second one fail at open, after a short wait for a predecessor to exit. */
	sqlite3_busy_timeout(s->db, 1000);
	if (exec_sql(s->db, "PRAGMA locking_mode=EXCLUSIVE") != SQLITE_OK) {
		reason = wg_strdup(sqlite3_errmsg(s->db));
		goto out;
	}
	/* The first statement that reads the file is where a corrupted or foreign file shows. */
	if (query_int(s->db, "PRAGMA user_version", &have) != SQLITE_OK) {
		reason = wg_strdup(sqlite3_errmsg(s->db));
		goto out;
	}
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		reason = wg_strdup("the database file is read-only");
		goto out;
	}
	/* WAL with synchronous=NORMAL: a commit survives the process being killed (it is in
	 * the OS before COMMIT returns) at a fraction of the cost of an fsync per commit. */
	if (exec_sql(s->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA foreign_keys=OFF") != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA cache_size=-16384") != SQLITE_OK) {
		reason = wg_strdup(sqlite3_errmsg(s->db));
		goto out;
	}
	if (have == 0) {
		char *sql = wg_asprintf("BEGIN IMMEDIATE; %s; PRAGMA user_version=%d; COMMIT;",
					schema_sql, version);
		int erc = exec_sql(s->db, sql);
		free(sql);
		if (erc != SQLITE_OK) {
			reason = wg_asprintf("cannot create schema: %s", sqlite3_errmsg(s->db));
			exec_sql(s->db, "ROLLBACK");
			goto out;
		}
	} else if (have != version) {
		reason = wg_asprintf("schema version %d, this program knows version %d", have,
				     version);
		goto out;
	}

	s->stmts = wg_calloc(n ? n : 1, sizeof *s->stmts);
	s->n_stmts = n;
	for (size_t i = 0; i < n; i++) {
		if (sqlite3_prepare_v3(s->db, stmts[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &s->stmts[i], NULL) != SQLITE_OK) {
			reason = wg_asprintf("cannot prepare statement %zu: %s", i,
					     sqlite3_errmsg(s->db));
			goto out;
		}
	}
	if (sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK) {
		reason = wg_strdup(sqlite3_errmsg(s->db));
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		char *msg = wg_asprintf("%s: %s", path, reason ? reason : "unknown error");
		wg_error(NULL, "database %s", msg);
		if (why)
			*why = msg;
		else
			free(msg);
		wg_store_close(s);
		s = NULL;
	}
	free(reason);
	*out = s;
	return rc;
}

void wg_store_close(struct wg_store *s)
{
	if (!s)
		return;
	if (s->depth > 0 && !s->broken)
		exec_sql(s->db, "ROLLBACK");
	for (size_t i = 0; i < s->n_stmts; i++)
		sqlite3_finalize(s->stmts[i]);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_close(s->db);
	free(s->stmts);
	free(s->path);
	free(s);
}

sqlite3_stmt *wg_store_stmt(struct wg_store *s, size_t id)
{
	sqlite3_stmt *st = s->stmts[id];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

void wg_store_break(struct wg_store *s, const char *why)
{
	if (!s->broken)
		wg_error(NULL, "database %s: %s; no further changes until restart", s->path, why);
	s->broken = 1;
}

int wg_store_step(struct wg_store *s, sqlite3_stmt *st)
{
	if (s->broken)
		return WG_EDB;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	wg_store_break(s, sqlite3_errmsg(s->db));
	return WG_EDB;
}

int wg_store_exec_stmt(struct wg_store *s, sqlite3_stmt *st)
{
	int rc = wg_store_step(s, st);
	sqlite3_reset(st);
	return rc < 0 ? rc : 0;
}

int wg_store_begin(struct wg_store *s)
{
	if (s->broken)
		return WG_EDB;
	if (s->depth == 0) {
		sqlite3_reset(s->begin);
		if (sqlite3_step(s->begin) != SQLITE_DONE) {
			wg_store_break(s, sqlite3_errmsg(s->db));
			return WG_EDB;
		}
	}
	s->depth++;
	return 0;
}

int wg_store_end(struct wg_store *s, int status)
{
	if (s->depth == 0)
		return WG_EINVAL;
	/* A caller's own error (bad argument, not found) is found before it writes anything,
	 * so only a database error needs the rollback. */
	if (status == WG_EDB || s->broken) {
		if (!s->broken)
			wg_store_break(s, "transaction failed");
		/* Roll back only once, at the outermost level. */
		if (--s->depth == 0) {
			sqlite3_reset(s->rollback);
			sqlite3_step(s->rollback);
			sqlite3_reset(s->rollback);
		}
		return WG_EDB;
	}
	if (--s->depth > 0)
		return status;
	sqlite3_reset(s->commit);
	int rc = sqlite3_step(s->commit);
	sqlite3_reset(s->commit);
	if (rc != SQLITE_DONE) {
		wg_store_break(s, sqlite3_errmsg(s->db));
		sqlite3_reset(s->rollback);
		sqlite3_step(s->rollback);
		sqlite3_reset(s->rollback);
		return WG_EDB;
	}
	s->commits++;
	return status;
}

int wg_store_in_tx(const struct wg_store *s)
{
	return s->depth > 0;
}

int wg_store_check(const struct wg_store *s)
{
	return s->broken ? WG_EDB : 0;
}

const char *wg_store_errmsg(const struct wg_store *s)
{
	return sqlite3_errmsg(s->db);
}

sqlite3 *wg_store_db(struct wg_store *s)
{
	return s->db;
}

unsigned long long wg_store_commits(const struct wg_store *s)
{
	return s->commits;
}
