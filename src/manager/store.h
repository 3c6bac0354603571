/* A small layer over one SQLite database: opening it with the settings every wasmgrid store
 * wants (WAL, synchronous=NORMAL), creating or checking its schema, keeping a fixed list of
 * prepared statements open for the life of the store, and nesting transactions so that a
 * caller can group many operations into one commit. It knows nothing of what the tables
 * mean (manager/jobs.c does).
 *
 * Error policy: any SQLite failure inside a transaction rolls the whole transaction back and
 * makes the store *broken*: every later call returns WG_EDB. The in-memory state of the
 * caller no longer matches the database at that point, so the only safe recovery is to
 * close and reopen (a restarted daemon resumes from the last commit). */
#ifndef WG_MANAGER_STORE_H
#define WG_MANAGER_STORE_H
#include <sqlite3.h>
#include <stddef.h>

struct wg_store;

/* Opens (creating if needed) the database at `path`. When the file has no schema yet,
 * `schema_sql` is run in one transaction and the schema version is set to `version`. A file
 * of an older version v is brought up to date by running upgrades[v - 1] (from v to v + 1)
 * and the following ones, in one transaction; a file of another version (newer, or older
 * than the upgrades reach), a file that is not a database, or a database that cannot be
 * written is refused with WG_EDB. `upgrades` has version - 1 entries (NULL when version is
 * 1). `stmts` (n of them, not copied: they must outlive the
 * store) are prepared once, here. On failure `why` (why_len bytes, may be NULL) receives
 * a message naming the file and the reason. */
int wg_store_open(const char *path, const char *schema_sql, int version,
		  const char *const *upgrades, const char *const *stmts, size_t n,
		  struct wg_store **out, char *why, size_t why_len);
void wg_store_close(struct wg_store *s);

/* Prepared statement number `id`, reset and with its bindings cleared. Owned by the store. */
sqlite3_stmt *wg_store_stmt(struct wg_store *s, size_t id);

/* Steps `st`: returns 1 for a row, 0 when done, WG_EDB on failure (the store is broken).
 * The statement is not reset: wg_store_stmt() does that on its next use. */
int wg_store_step(struct wg_store *s, sqlite3_stmt *st);
/* Steps a statement that returns no rows; 0 or WG_EDB. */
int wg_store_exec_stmt(struct wg_store *s, sqlite3_stmt *st);

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
/* The last SQLite error message. */
const char *wg_store_errmsg(const struct wg_store *s);
sqlite3 *wg_store_db(struct wg_store *s);
/* Transactions committed since open (for metrics, and for tests of batching). */
unsigned long long wg_store_commits(const struct wg_store *s);

#endif
