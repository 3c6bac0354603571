/* The PostgreSQL engine of the store (libpq): one connection, every statement prepared on
 * it at open, parameters sent as text (integers) or binary (text and blobs), results read
 * as text. Several processes may share a store: the schema is created under a
 * transaction-level advisory lock, so that processes starting together do not race, and
 * every transaction takes another one first, so that the transactions of the processes
 * sharing a store run one after another: each sees all that the others committed before
 * it, and no two can deadlock. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/store_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/utf8.h"

/* Advisory locks, keyed (class, schema): a store is a schema of a database (the first of
 * its search_path), so that one database can hold several. Classes: transactions, schema
 * setup; named locks (wg_store_try_lock) are keyed (schema, name). */
#define LOCK_TX "2003137656"	 /* "wgtx" */
#define LOCK_SCHEMA "2003137379" /* "wgsc" */
#define LOCK_KEY(class) "(" class ", hashtext(current_schema()))"
/* Seconds allowed to reach the server, and for a query on a cut network to fail. */
#define CONNECT_TIMEOUT_S "5"
#define TCP_TIMEOUT_MS "10000"

struct pg_store {
	struct wg_store base;
	PGconn *conn;
	int64_t changes;
	char err[512];
};

/* A decoded bytea column of the current row. */
struct pg_col {
	uint8_t *data;
	size_t len, cap;
	int row; /* the row it was decoded for; -1: none */
};

struct pg_stmt {
	struct wg_stmt base;
	char name[24];
	int nparams;
	const char **values;
	int *lengths, *formats;
	char (*num)[24]; /* integers as text */
	char **owned;	 /* text copies made valid for PostgreSQL */
	PGresult *res;
	int executed, row, nrows, ncols;
	struct pg_col *cols;
};

#define PG(s) ((struct pg_store *)(s))
#define PST(st) ((struct pg_stmt *)(st))

static void keep_error(struct pg_store *s, const char *what, const char *msg)
{
	snprintf(s->err, sizeof s->err, "%s%s%s", what, *what ? ": " : "",
		 msg && *msg ? msg : "no answer from the server");
	size_t n = strlen(s->err);
	while (n && (s->err[n - 1] == '\n' || s->err[n - 1] == ' '))
		s->err[--n] = 0;
}

/* Runs a command without parameters; 0 when its status is `want_status` ("" for any). */
static int run_cmd(struct pg_store *s, const char *sql, const char *want_status)
{
	PGresult *r = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (ok && *want_status && strcmp(PQcmdStatus(r), want_status)) {
		/* COMMIT of a transaction that failed answers ROLLBACK. */
		keep_error(s, sql, "the transaction was rolled back");
		ok = 0;
	} else if (!ok) {
		keep_error(s, sql,
			   PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
						      : PQerrorMessage(s->conn));
	}
	PQclear(r);
	return ok ? 0 : -1;
}

static void clear_cols(struct pg_stmt *st)
{
	for (int c = 0; c < st->ncols; c++)
		st->cols[c].row = -1;
}

static void pg_reset(struct wg_stmt *base)
{
	struct pg_stmt *st = PST(base);
	PQclear(st->res);
	st->res = NULL;
	st->executed = 0;
	st->row = -1;
	st->nrows = 0;
	clear_cols(st);
}

static void free_owned(struct pg_stmt *st, int i)
{
	free(st->owned[i]);
	st->owned[i] = NULL;
}

static void pg_clear(struct wg_stmt *base)
{
	struct pg_stmt *st = PST(base);
	for (int i = 0; i < st->nparams; i++) {
		free_owned(st, i);
		st->values[i] = NULL;
		st->lengths[i] = 0;
		st->formats[i] = 0;
	}
}

static void pg_free_stmt(struct pg_stmt *st)
{
	pg_reset(&st->base);
	pg_clear(&st->base);
	for (int c = 0; c < st->ncols; c++)
		free(st->cols[c].data);
	free(st->cols);
	free(st->values);
	free(st->lengths);
	free(st->formats);
	free(st->num);
	free(st->owned);
	free(st);
}

static void pg_close(struct wg_store *base)
{
	struct pg_store *s = PG(base);
	if (s->conn && base->depth > 0 && !base->broken)
		(void)run_cmd(s, "ROLLBACK", "");
	for (size_t i = 0; i < base->n_stmts; i++)
		if (base->stmts[i])
			pg_free_stmt(PST(base->stmts[i]));
	free(base->stmts);
	PQfinish(s->conn);
	free(base->name);
	free(s);
}

static int pg_begin(struct wg_store *s)
{
	return run_cmd(PG(s), "BEGIN; SELECT pg_advisory_xact_lock" LOCK_KEY(LOCK_TX), "");
}

static int pg_commit(struct wg_store *s)
{
	return run_cmd(PG(s), "COMMIT", "COMMIT");
}

static void pg_rollback(struct wg_store *s)
{
	(void)run_cmd(PG(s), "ROLLBACK", "");
}

static int pg_step(struct wg_stmt *base)
{
	struct pg_stmt *st = PST(base);
	struct pg_store *s = PG(base->store);
	if (!st->executed) {
		st->res = PQexecPrepared(s->conn, st->name, st->nparams, st->values, st->lengths,
					 st->formats, 0);
		ExecStatusType rs = PQresultStatus(st->res);
		if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
			const char *msg = PQresultErrorMessage(st->res);
			keep_error(s, "", msg && *msg ? msg : PQerrorMessage(s->conn));
			PQclear(st->res);
			st->res = NULL;
			return -1;
		}
		st->executed = 1;
		st->row = -1;
		st->nrows = PQntuples(st->res);
		const char *changed = PQcmdTuples(st->res);
		s->changes = changed && *changed ? strtoll(changed, NULL, 10) : 0;
		int ncols = PQnfields(st->res);
		if (ncols > st->ncols) {
			st->cols = wg_realloc(st->cols, (size_t)ncols * sizeof *st->cols);
			memset(st->cols + st->ncols, 0,
			       (size_t)(ncols - st->ncols) * sizeof *st->cols);
			st->ncols = ncols;
		}
		clear_cols(st);
	}
	if (st->row + 1 >= st->nrows) {
		st->row = st->nrows;
		return 0;
	}
	st->row++;
	return 1;
}

static int has_value(struct pg_stmt *st, int c)
{
	return st->res && st->row >= 0 && st->row < st->nrows && c >= 0 && c < PQnfields(st->res) &&
	       !PQgetisnull(st->res, st->row, c);
}

/* i counts from 1; a statement's parameters are known from its text. */
static int param(struct pg_stmt *st, int i)
{
	if (i < 1 || i > st->nparams)
		return -1;
	free_owned(st, i - 1);
	return i - 1;
}

static void pg_bind_int(struct wg_stmt *base, int i, int64_t v)
{
	struct pg_stmt *st = PST(base);
	int p = param(st, i);
	if (p < 0)
		return;
	snprintf(st->num[p], sizeof st->num[p], "%lld", (long long)v);
	st->values[p] = st->num[p];
	st->lengths[p] = 0;
	st->formats[p] = 0;
}

/* PostgreSQL's text holds neither NUL bytes nor invalid UTF-8: such bytes become '?'. */
static void pg_bind_text(struct wg_stmt *base, int i, const char *text, size_t len)
{
	struct pg_stmt *st = PST(base);
	int p = param(st, i);
	if (p < 0 || len > INT32_MAX)
		return;
	if (!wg_utf8_valid(text, len) || memchr(text, 0, len)) {
		char *copy = wg_malloc(len + 1);
		for (size_t k = 0; k < len;) {
			size_t n =
			    text[k] ? wg_utf8_seq_len((const uint8_t *)text + k, len - k) : 0;
			if (n == 0) {
				copy[k++] = '?';
				continue;
			}
			memcpy(copy + k, text + k, n);
			k += n;
		}
		st->owned[p] = copy;
		text = copy;
	}
	st->values[p] = text;
	st->lengths[p] = (int)len;
	st->formats[p] = 1;
}

static void pg_bind_blob(struct wg_stmt *base, int i, const void *data, size_t len)
{
	struct pg_stmt *st = PST(base);
	int p = param(st, i);
	if (p < 0 || len > INT32_MAX)
		return;
	st->values[p] = data;
	st->lengths[p] = (int)len;
	st->formats[p] = 1;
}

static void pg_bind_null(struct wg_stmt *base, int i)
{
	struct pg_stmt *st = PST(base);
	int p = param(st, i);
	if (p >= 0)
		st->values[p] = NULL;
}

static int64_t pg_col_int(struct wg_stmt *base, int c)
{
	struct pg_stmt *st = PST(base);
	return has_value(st, c) ? strtoll(PQgetvalue(st->res, st->row, c), NULL, 10) : 0;
}

static const char *pg_col_text(struct wg_stmt *base, int c)
{
	struct pg_stmt *st = PST(base);
	return has_value(st, c) ? PQgetvalue(st->res, st->row, c) : NULL;
}

/* bytea comes as text in hex form, "\x0a1b..."; other types as their text. */
static struct pg_col *decoded(struct pg_stmt *st, int c)
{
	if (!has_value(st, c))
		return NULL;
	struct pg_col *col = &st->cols[c];
	if (col->row == st->row)
		return col;
	const char *v = PQgetvalue(st->res, st->row, c);
	size_t n = (size_t)PQgetlength(st->res, st->row, c);
	col->len = 0;
	if (n >= 2 && v[0] == '\\' && v[1] == 'x') {
		size_t bytes = (n - 2) / 2;
		if (bytes + 1 > col->cap) {
			col->cap = bytes + 1;
			col->data = wg_realloc(col->data, col->cap);
		}
		if (wg_hex_decode(v + 2, col->data, bytes) == 0)
			col->len = bytes;
	} else {
		if (n + 1 > col->cap) {
			col->cap = n + 1;
			col->data = wg_realloc(col->data, col->cap);
		}
		memcpy(col->data, v, n);
		col->len = n;
	}
	col->row = st->row;
	return col;
}

static const void *pg_col_blob(struct wg_stmt *base, int c)
{
	struct pg_col *col = decoded(PST(base), c);
	return col && col->len ? (const void *)col->data : "";
}

static size_t pg_col_bytes(struct wg_stmt *base, int c)
{
	struct pg_col *col = decoded(PST(base), c);
	return col ? col->len : 0;
}

static int pg_col_null(struct wg_stmt *base, int c)
{
	struct pg_stmt *st = PST(base);
	return !has_value(st, c);
}

static int64_t pg_last_id(struct wg_stmt *base)
{
	return pg_col_int(base, 0);
}

static int64_t pg_changes(struct wg_store *s)
{
	return PG(s)->changes;
}

static int pg_read_blob(struct wg_store *base, const char *table, const char *column, int64_t id,
			uint64_t offset, void *buf, size_t n)
{
	struct pg_store *s = PG(base);
	if (n == 0)
		return 0;
	char sql[256], a[24], b[24], c[24];
	snprintf(sql, sizeof sql,
		 "SELECT substr(%s, $2::integer, $3::integer) FROM %s WHERE id = $1", column,
		 table);
	snprintf(a, sizeof a, "%lld", (long long)id);
	snprintf(b, sizeof b, "%llu", (unsigned long long)offset + 1);
	snprintf(c, sizeof c, "%zu", n);
	const char *values[] = {a, b, c};
	PGresult *r = PQexecParams(s->conn, sql, 3, NULL, values, NULL, NULL, 1);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		 !PQgetisnull(r, 0, 0) && (size_t)PQgetlength(r, 0, 0) == n;
	if (ok)
		memcpy(buf, PQgetvalue(r, 0, 0), n);
	else
		keep_error(s, "reading a blob",
			   PQresultStatus(r) == PGRES_TUPLES_OK ? "short read"
								: PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

static int pg_query_int(struct wg_store *base, const char *sql, int64_t *out)
{
	struct pg_store *s = PG(base);
	PGresult *r = PQexec(s->conn, sql);
	int rc = WG_EDB;
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		rc = WG_ENOTFOUND;
		if (PQntuples(r) > 0 && PQnfields(r) > 0) {
			*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
			rc = 0;
		}
	} else {
		keep_error(s, "", PQresultErrorMessage(r));
	}
	PQclear(r);
	return rc;
}

static int pg_try_lock(struct wg_store *base, const char *name)
{
	struct pg_store *s = PG(base);
	const char *values[] = {name};
	PGresult *r =
	    PQexecParams(s->conn,
			 "SELECT CASE WHEN pg_try_advisory_lock(hashtext(current_schema()),"
			 " hashtext($1)) THEN 1 ELSE 0 END",
			 1, NULL, values, NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		rc = PQgetvalue(r, 0, 0)[0] == '1';
	else
		keep_error(s, "taking a lock", PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

static const char *pg_errmsg(const struct wg_store *s)
{
	return PG(s)->err;
}

static const struct wg__store_ops pg_ops = {
    .kind = WG_STORE_POSTGRESQL,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .step = pg_step,
    .reset = pg_reset,
    .clear = pg_clear,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_bytes = pg_col_bytes,
    .col_null = pg_col_null,
    .last_id = pg_last_id,
    .changes = pg_changes,
    .read_blob = pg_read_blob,
    .query_int = pg_query_int,
    .try_lock = pg_try_lock,
    .errmsg = pg_errmsg,
};

/* The statement's text with ?N written $N; *nparams gets the largest N. The statements are
 * ours and hold no '?' in literals, but quoted text is skipped anyway. */
static char *translate(const char *sql, int *nparams)
{
	size_t n = strlen(sql);
	char *out = wg_malloc(n + 1);
	size_t o = 0;
	char quote = 0;
	*nparams = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = sql[i];
		if (quote) {
			if (ch == quote)
				quote = 0;
		} else if (ch == '\'' || ch == '"') {
			quote = ch;
		} else if (ch == '?') {
			ch = '$';
			long v = strtol(sql + i + 1, NULL, 10);
			if (v > *nparams && v < 1000)
				*nparams = (int)v;
		}
		out[o++] = ch;
	}
	out[o] = 0;
	return out;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A name for messages: the URI's parts without its password. */
static char *display_name(PGconn *conn)
{
	if (!conn)
		return wg_strdup("postgresql://?");
	const char *host = PQhost(conn), *port = PQport(conn), *db = PQdb(conn);
	const char *user = PQuser(conn);
	const char *at = user && *user ? "@" : "";
	if (host && *host == '/')
		return wg_asprintf("postgresql://%s%s/%s?host=%s", user ? user : "", at,
				   db ? db : "", host);
	return wg_asprintf("postgresql://%s%s%s%s%s/%s", user ? user : "", at, host ? host : "",
			   port && *port ? ":" : "", port ? port : "", db ? db : "");
}

static int pg_schema(struct pg_store *s, const struct wg_store_schema *schema, char **reason)
{
	if (run_cmd(s, "BEGIN", "") ||
	    run_cmd(s, "SELECT pg_advisory_xact_lock" LOCK_KEY(LOCK_SCHEMA), "")) {
		*reason = wg_strdup(s->err);
		return -1;
	}
	int64_t have = 0;
	int rc = pg_query_int(
	    &s->base, "SELECT CASE WHEN to_regclass('wg_schema') IS NULL THEN 0 ELSE 1 END", &have);
	if (rc == 0 && have)
		rc = pg_query_int(&s->base, "SELECT coalesce(max(version), -1) FROM wg_schema",
				  &have);
	/* A table made by another program is not ours to fill. */
	int64_t tables = 0;
	if (rc == 0 && have == 0)
		rc =
		    pg_query_int(&s->base,
				 "SELECT count(*) FROM pg_tables WHERE schemaname ="
				 " current_schema() AND tablename IN ('jobs', 'tasks', 'attempts')",
				 &tables);
	if (rc < 0) {
		*reason = wg_strdup(s->err);
		pg_rollback(&s->base);
		return -1;
	}
	if (have == 0 && tables > 0) {
		*reason = wg_strdup("the database has tables of another program (jobs, tasks or "
				    "attempts) and no wasmgrid schema");
		pg_rollback(&s->base);
		return -1;
	}
	if (have == 0) {
		char *sql = wg_asprintf("%s; CREATE TABLE wg_schema(version INTEGER NOT NULL);"
					" INSERT INTO wg_schema VALUES(%d)",
					schema->pg_sql, schema->version);
		int erc = run_cmd(s, sql, "");
		free(sql);
		if (erc) {
			*reason = wg_asprintf("cannot create schema: %s", s->err);
			pg_rollback(&s->base);
			return -1;
		}
	} else if (have != schema->version) {
		*reason = wg_asprintf("schema version %lld, this program knows version %d",
				      (long long)have, schema->version);
		pg_rollback(&s->base);
		return -1;
	}
	if (run_cmd(s, "COMMIT", "COMMIT")) {
		*reason = wg_strdup(s->err);
		return -1;
	}
	return 0;
}

int wg__store_pg_open(const char *uri, const struct wg_store_schema *schema, struct wg_store **out,
		      char **reason)
{
	struct pg_store *s = wg_calloc(1, sizeof *s);
	struct wg_store *base = &s->base;
	*out = base;
	base->ops = &pg_ops;
	/* Defaults first: what the URI itself says wins. */
	const char *keys[] = {
	    "connect_timeout",	"tcp_user_timeout", "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "application_name", "dbname",	       NULL};
	const char *values[] = {
	    CONNECT_TIMEOUT_S, TCP_TIMEOUT_MS, "5", "2", "3", "wasmgrid manager", uri, NULL};
	s->conn = PQconnectdbParams(keys, values, 1);
	base->name = display_name(s->conn);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		keep_error(s, "", s->conn ? PQerrorMessage(s->conn) : "out of memory");
		*reason = wg_asprintf("cannot connect: %s", s->err);
		return -1;
	}
	PQsetNoticeProcessor(s->conn, ignore_notice, NULL);
	int v = PQserverVersion(s->conn);
	snprintf(base->version, sizeof base->version, "PostgreSQL %d.%d", v / 10000, v % 100);
	if (v < 120000) {
		*reason = wg_asprintf("the server is %s; wasmgrid needs PostgreSQL 12 or later",
				      base->version);
		return -1;
	}
	if (run_cmd(s, "SET client_min_messages = warning", "") || pg_schema(s, schema, reason)) {
		if (!*reason)
			*reason = wg_strdup(s->err);
		return -1;
	}

	size_t n = schema->n_stmts;
	base->stmts = wg_calloc(n ? n : 1, sizeof *base->stmts);
	base->n_stmts = n;
	for (size_t i = 0; i < n; i++) {
		struct pg_stmt *st = wg_calloc(1, sizeof *st);
		st->base.store = base;
		st->row = -1;
		base->stmts[i] = &st->base;
		snprintf(st->name, sizeof st->name, "wg%zu", i);
		const char *text = schema->pg_stmts && schema->pg_stmts[i] ? schema->pg_stmts[i]
									   : schema->stmts[i];
		char *sql = translate(text, &st->nparams);
		size_t np = st->nparams ? (size_t)st->nparams : 1;
		st->values = wg_calloc(np, sizeof *st->values);
		st->lengths = wg_calloc(np, sizeof *st->lengths);
		st->formats = wg_calloc(np, sizeof *st->formats);
		st->num = wg_calloc(np, sizeof *st->num);
		st->owned = wg_calloc(np, sizeof *st->owned);
		PGresult *r = PQprepare(s->conn, st->name, sql, 0, NULL);
		free(sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			*reason = wg_asprintf("cannot prepare statement %zu: %s", i,
					      PQresultErrorMessage(r));
		PQclear(r);
		if (!ok)
			return -1;
	}
	return 0;
}
