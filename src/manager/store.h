/* The job core's store: one interface over two database engines, SQLite (a file in the data
 * directory, the embedded default) and PostgreSQL (a server reached with a libpq connection
 * URI). It opens the database with the settings every wasmgrid store wants, creates or checks
 * its schema, keeps a fixed list of prepared statements for the life of the store, and nests
 * transactions so that a caller can group many operations into one commit. It knows nothing
 * of what the tables mean (manager/jobs.c does).
 *
 * Statements are written once, in the SQL both engines accept: parameters are ?1, ?2... (the
 * PostgreSQL backend numbers them $1, $2...), integers are 64-bit. Where the engines differ
 * (the schema; a statement that must say RETURNING on PostgreSQL to give its new row's id),
 * the caller gives the PostgreSQL text alongside.
 *
 * Error policy: any failure inside a transaction rolls the whole transaction back and makes
 * the store *broken*: every later call returns WG_EDB. The in-memory state of the caller no
 * longer matches the database at that point, so the only safe recovery is to close and
 * reopen (the manager does so by itself, and resumes from the last commit). A PostgreSQL
 * server that goes away (restarted, network cut) is such a failure. */
#ifndef WG_MANAGER_STORE_H
#define WG_MANAGER_STORE_H
#include <stddef.h>
#include <stdint.h>

struct wg_store;
/* A prepared statement, owned by its store. */
struct wg_stmt;

enum wg_store_kind { WG_STORE_SQLITE, WG_STORE_POSTGRESQL };

/* Whether `where` is a PostgreSQL connection URI (postgresql://... or postgres://...);
 * anything else is the path of an SQLite file. */
int wg_store_is_postgresql(const char *where);

/* What a store holds, for both engines. `stmts` has n_stmts entries; pg_stmts (may be NULL)
 * has n_stmts entries too, where a non-NULL one replaces its statement on PostgreSQL.
 * sqlite_upgrades[v - 1] takes an SQLite file of version v to v + 1 (version - 1 entries;
 * NULL when version is 1); a PostgreSQL store has no upgrades yet (it began at this
 * version). None of it is copied: it must outlive the store. */
struct wg_store_schema {
	int version;
	const char *sqlite_sql;
	const char *const *sqlite_upgrades;
	const char *pg_sql;
	const char *const *stmts;
	const char *const *pg_stmts;
	size_t n_stmts;
};

/* Opens the store at `where`: an SQLite file (created if needed; a lock file keeps a second
 * manager away) or a PostgreSQL database (its schema created in it if missing; an advisory
 * lock keeps a second manager away). A store without the schema gets it in one transaction;
 * an SQLite file of an older version is upgraded in one transaction; any other version, a
 * file that is not a database, a database that cannot be written or a server that cannot be
 * reached is refused with WG_EDB, and `why` (why_len bytes, may be NULL) receives a message
 * naming the store (without a password) and the reason. */
int wg_store_open(const char *where, const struct wg_store_schema *schema, struct wg_store **out,
		  char *why, size_t why_len);
void wg_store_close(struct wg_store *s);
enum wg_store_kind wg_store_kind(const struct wg_store *s);
/* The engine's name and version, e.g. "SQLite 3.40.1" or "PostgreSQL 15.18". */
const char *wg_store_version(const struct wg_store *s);
/* Where it is, for messages: the file, or the URI without its password. */
const char *wg_store_name(const struct wg_store *s);

/* Prepared statement number `id`, reset and with its bindings cleared. */
struct wg_stmt *wg_store_stmt(struct wg_store *s, size_t id);

/* Bindings; `i` counts from 1. Text and blobs are not copied: they must stay valid until
 * the statement is reset (the next wg_store_stmt of it, or wg_stmt_reset). An unbound
 * parameter is NULL. Text is stored as given on SQLite; on PostgreSQL, whose text cannot
 * hold NUL bytes or invalid UTF-8, such bytes are stored as '?'. */
void wg_stmt_bind_int(struct wg_stmt *st, int i, int64_t v);
void wg_stmt_bind_text(struct wg_stmt *st, int i, const char *s); /* NUL-terminated */
void wg_stmt_bind_textn(struct wg_stmt *st, int i, const char *s, size_t len);
void wg_stmt_bind_blob(struct wg_stmt *st, int i, const void *p, size_t len);
void wg_stmt_bind_null(struct wg_stmt *st, int i);

/* Steps `st`: returns 1 for a row, 0 when done, WG_EDB on failure (the store is broken).
 * The statement is not reset: wg_store_stmt() does that on its next use. */
int wg_store_step(struct wg_store *s, struct wg_stmt *st);
/* Steps a statement that returns no rows, then resets it (bindings kept); 0 or WG_EDB. */
int wg_store_exec_stmt(struct wg_store *s, struct wg_stmt *st);
/* Runs an INSERT and gives its new row's id (on PostgreSQL the statement says RETURNING id);
 * resets it (bindings kept). 0 or WG_EDB. */
int wg_store_insert(struct wg_store *s, struct wg_stmt *st, int64_t *id);
/* Rows changed by the last statement executed. */
int64_t wg_store_changes(struct wg_store *s);
/* Resets a statement early (ends its read; bindings kept). */
void wg_stmt_reset(struct wg_stmt *st);

/* Columns of the current row; `c` counts from 0. A NULL reads as 0, NULL text and an empty
 * blob. Text and blob pointers are valid until the next step or reset of the statement. */
int64_t wg_stmt_int(struct wg_stmt *st, int c);
const char *wg_stmt_text(struct wg_stmt *st, int c);
const void *wg_stmt_blob(struct wg_stmt *st, int c);
size_t wg_stmt_bytes(struct wg_stmt *st, int c);
int wg_stmt_is_null(struct wg_stmt *st, int c);

/* Reads `n` bytes at `offset` of the blob in `column` of the row `id` of `table` (names the
 * caller's own, never user input), without reading the whole value. 0 or WG_EDB. */
int wg_store_read_blob(struct wg_store *s, const char *table, const char *column, int64_t id,
		       uint64_t offset, void *buf, size_t n);
/* Takes a lock named `name` for the life of the store's connection: 1 when taken, 0 when
 * another process holds it, WG_EDB on failure. On PostgreSQL a session advisory lock keyed
 * by (the store's schema, name); on SQLite always 1 (the file's lock keeps every other
 * process away already). */
int wg_store_try_lock(struct wg_store *s, const char *name);
/* Runs one ad hoc query (not prepared; for tests and tools) and gives the integer in the
 * first column of its first row. 0, WG_ENOTFOUND without a row, or WG_EDB (not breaking
 * the store). */
int wg_store_query_int(struct wg_store *s, const char *sql, int64_t *out);

/* Transactions nest: only the outermost begin and end touch the database. wg_store_end()
 * with status WG_EDB rolls back (and breaks the store); with any other status it commits
 * when outermost (a caller's own error, such as WG_ENOTFOUND, is found before it writes)
 * and returns that status, or WG_EDB when the commit fails. */
int wg_store_begin(struct wg_store *s);
int wg_store_end(struct wg_store *s, int status);
/* Whether a transaction is open. */
int wg_store_in_tx(const struct wg_store *s);

/* WG_EDB when the store is broken, else 0. */
int wg_store_check(const struct wg_store *s);
/* Marks the store broken (for a caller that found the data inconsistent) and logs why. */
void wg_store_break(struct wg_store *s, const char *why);
/* The last error message of the engine. */
const char *wg_store_errmsg(const struct wg_store *s);
/* Transactions committed since open (for metrics, and for tests of batching). */
unsigned long long wg_store_commits(const struct wg_store *s);

#endif
