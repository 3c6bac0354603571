/* The store's common part: which engine, the nesting of transactions, the broken state, and
 * the calls every engine answers (store_internal.h). */
#include "manager/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/store_internal.h"
#include "util/err.h"
#include "util/log.h"

int wg_store_is_postgresql(const char *where)
{
	return !strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11);
}

int wg_store_open(const char *where, const struct wg_store_schema *schema, struct wg_store **out,
		  char *why, size_t why_len)
{
	char *reason = NULL;
	struct wg_store *s = NULL;
	if (why && why_len)
		*why = 0;
	int rc = wg_store_is_postgresql(where) ? wg__store_pg_open(where, schema, &s, &reason)
					       : wg__store_sqlite_open(where, schema, &s, &reason);
	if (rc < 0) {
		/* Told by the caller, which knows what the store is for. */
		if (why && why_len)
			snprintf(why, why_len, "%s: %s", s && s->name ? s->name : where,
				 reason ? reason : "unknown error");
		wg_store_close(s);
		s = NULL;
		rc = WG_EDB;
	}
	free(reason);
	*out = s;
	return rc;
}

void wg_store_close(struct wg_store *s)
{
	if (s)
		s->ops->close(s);
}

enum wg_store_kind wg_store_kind(const struct wg_store *s)
{
	return s->ops->kind;
}

const char *wg_store_version(const struct wg_store *s)
{
	return s->version;
}

const char *wg_store_name(const struct wg_store *s)
{
	return s->name;
}

struct wg_stmt *wg_store_stmt(struct wg_store *s, size_t id)
{
	struct wg_stmt *st = s->stmts[id];
	s->ops->reset(st);
	s->ops->clear(st);
	return st;
}

void wg_stmt_bind_int(struct wg_stmt *st, int i, int64_t v)
{
	st->store->ops->bind_int(st, i, v);
}

void wg_stmt_bind_text(struct wg_stmt *st, int i, const char *s)
{
	st->store->ops->bind_text(st, i, s, strlen(s));
}

void wg_stmt_bind_textn(struct wg_stmt *st, int i, const char *s, size_t len)
{
	st->store->ops->bind_text(st, i, s, len);
}

void wg_stmt_bind_blob(struct wg_stmt *st, int i, const void *p, size_t len)
{
	/* A NULL pointer would bind NULL: an empty blob is still a blob. */
	st->store->ops->bind_blob(st, i, p ? p : "", len);
}

void wg_stmt_bind_null(struct wg_stmt *st, int i)
{
	st->store->ops->bind_null(st, i);
}

void wg_store_break(struct wg_store *s, const char *why)
{
	if (!s->broken)
		wg_error(NULL, "job store %s: %s; no further changes until it is reopened", s->name,
			 why);
	s->broken = 1;
}

int wg_store_step(struct wg_store *s, struct wg_stmt *st)
{
	if (s->broken)
		return WG_EDB;
	int rc = s->ops->step(st);
	if (rc >= 0)
		return rc;
	wg_store_break(s, s->ops->errmsg(s));
	return WG_EDB;
}

int wg_store_exec_stmt(struct wg_store *s, struct wg_stmt *st)
{
	int rc = wg_store_step(s, st);
	s->ops->reset(st);
	return rc < 0 ? rc : 0;
}

int wg_store_insert(struct wg_store *s, struct wg_stmt *st, int64_t *id)
{
	int rc = wg_store_step(s, st);
	if (rc >= 0)
		*id = s->ops->last_id(st);
	s->ops->reset(st);
	return rc < 0 ? rc : 0;
}

int64_t wg_store_changes(struct wg_store *s)
{
	return s->ops->changes(s);
}

void wg_stmt_reset(struct wg_stmt *st)
{
	st->store->ops->reset(st);
}

int64_t wg_stmt_int(struct wg_stmt *st, int c)
{
	return st->store->ops->col_int(st, c);
}

const char *wg_stmt_text(struct wg_stmt *st, int c)
{
	return st->store->ops->col_text(st, c);
}

const void *wg_stmt_blob(struct wg_stmt *st, int c)
{
	return st->store->ops->col_blob(st, c);
}

size_t wg_stmt_bytes(struct wg_stmt *st, int c)
{
	return st->store->ops->col_bytes(st, c);
}

int wg_stmt_is_null(struct wg_stmt *st, int c)
{
	return st->store->ops->col_null(st, c);
}

int wg_store_read_blob(struct wg_store *s, const char *table, const char *column, int64_t id,
		       uint64_t offset, void *buf, size_t n)
{
	if (s->broken)
		return WG_EDB;
	if (s->ops->read_blob(s, table, column, id, offset, buf, n) < 0) {
		wg_store_break(s, s->ops->errmsg(s));
		return WG_EDB;
	}
	return 0;
}

int wg_store_try_lock(struct wg_store *s, const char *name)
{
	if (s->broken)
		return WG_EDB;
	int rc = s->ops->try_lock(s, name);
	if (rc < 0)
		wg_store_break(s, s->ops->errmsg(s));
	return rc < 0 ? WG_EDB : rc;
}

int wg_store_query_int(struct wg_store *s, const char *sql, int64_t *out)
{
	if (s->broken)
		return WG_EDB;
	return s->ops->query_int(s, sql, out);
}

int wg_store_begin(struct wg_store *s)
{
	if (s->broken)
		return WG_EDB;
	if (s->depth == 0 && s->ops->begin(s) < 0) {
		wg_store_break(s, s->ops->errmsg(s));
		return WG_EDB;
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
		if (--s->depth == 0)
			s->ops->rollback(s);
		return WG_EDB;
	}
	if (--s->depth > 0)
		return status;
	if (s->ops->commit(s) < 0) {
		wg_store_break(s, s->ops->errmsg(s));
		s->ops->rollback(s);
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
	return s->ops->errmsg(s);
}

unsigned long long wg_store_commits(const struct wg_store *s)
{
	return s->commits;
}
