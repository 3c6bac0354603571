/* The SQLite engine of the store: a file in the data directory, in WAL mode, checkpointed
 * by a thread of its own, locked against a second manager. */
#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "manager/store_internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

/* WAL pages after which the checkpointer copies the log into the database file. */
#define CHECKPOINT_PAGES 1000
/* After a complete checkpoint the next commit starts the log again from its beginning; the
 * file is then cut back to this size, so it never keeps the size of its largest burst. */
#define LOG_KEEP_BYTES 8388608 /* 8 MiB */
/* Under a steady load a passive checkpoint never finds the log fully copied (new commits
 * land while it runs), so the log is never started again and grows without end. Past this
 * many pages (16 MiB) the main connection, right after a commit, copies what is left and
 * empties the log itself (TRUNCATE), but only when what is left is short: at most
 * LOG_SHORT_PAGES, or a quarter of the log. After one large transaction (a million-task
 * job) the checkpointer copies first, in the background, and a later commit empties the
 * log; the loop never waits for the copy of a whole large log. */
#define LOG_HARD_PAGES 4096
#define LOG_SHORT_PAGES 1024

/* Checkpoints run on their own thread with their own connection: a checkpoint ends with an
 * fsync of the database file (tens of milliseconds on some disks), which must not stall
 * the event loop that answers workers and users. The main connection never checkpoints. */
struct checkpointer {
	pthread_t thread;
	sqlite3 *db;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int wanted, stop, running;
	int warned; /* a failure was logged; not again until a checkpoint works */
	/* Pages of the log the last checkpoint had copied, and the log's generation, which
	 * changes when it starts again (both under mu); last_pages: the log's size at the last
	 * commit (the main connection's alone). */
	int copied;
	unsigned gen;
	int last_pages;
	unsigned long long checkpoints, incomplete; /* for tests and logs */
};

struct lite_store {
	struct wg_store base;
	sqlite3 *db;
	char *path;
	int lock_fd; /* PATH.lock, flock()ed: one manager per database */
	struct checkpointer ckpt;
	sqlite3_stmt *begin, *commit, *rollback;
};

struct lite_stmt {
	struct wg_stmt base;
	sqlite3_stmt *st;
};

#define WG__STR2(x) #x
#define WG__STR(x) WG__STR2(x)

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

/* Copies the log into the database. PASSIVE: it never waits for the main connection, which
 * must not stall; pages a reader still needs are left for the next time. */
static void checkpoint_once(struct checkpointer *c)
{
	int log = 0, done = 0;
	pthread_mutex_lock(&c->mu);
	unsigned gen = c->gen;
	pthread_mutex_unlock(&c->mu);
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		if (!c->warned)
			wg_warn(NULL, "database checkpoint failed: %s", sqlite3_errmsg(c->db));
		c->warned = 1;
		return;
	}
	/* -1 means this connection does not see a WAL database: the log would grow forever. */
	if (log < 0 || done < 0) {
		if (!c->warned)
			wg_warn(NULL,
				"database checkpoint did nothing: the log is not in WAL mode for "
				"the checkpointer");
		c->warned = 1;
		return;
	}
	c->warned = 0;
	c->checkpoints++;
	if (done < log)
		c->incomplete++;
	pthread_mutex_lock(&c->mu);
	if (c->gen == gen)
		c->copied = done;
	pthread_mutex_unlock(&c->mu);
}

static void *checkpoint_main(void *arg)
{
	struct checkpointer *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->wanted && !c->stop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&c->cv, &c->mu, &until);
			/* Once a second anyway, so a quiet manager's log is folded in too. */
			if (!c->stop)
				c->wanted = 1;
		}
		if (c->stop)
			break;
		c->wanted = 0;
		pthread_mutex_unlock(&c->mu);
		checkpoint_once(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void log_restarted(struct checkpointer *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->mu);
	c->gen++;
	c->copied = 0;
	pthread_mutex_unlock(&c->mu);
}

/* Called by SQLite after each commit of the main connection with the log's size. */
static int on_wal_commit(void *user, sqlite3 *db, const char *name, int pages)
{
	struct checkpointer *c = user;
	if (pages < c->last_pages)
		log_restarted(c);
	c->last_pages = pages;
	if (pages >= LOG_HARD_PAGES) {
		int copied = 0;
		if (c->running) {
			pthread_mutex_lock(&c->mu);
			copied = c->copied;
			pthread_mutex_unlock(&c->mu);
		}
		int left = copied <= pages ? pages - copied : pages;
		int short_enough = LOG_SHORT_PAGES > pages / 4 ? LOG_SHORT_PAGES : pages / 4;
		if (!c->running || left <= short_enough) {
			int log = 0, done = 0;
			int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE,
							   &log, &done);
			if (rc != SQLITE_OK && rc != SQLITE_BUSY)
				wg_warn(NULL, "database checkpoint (truncate) failed: %s",
					sqlite3_errmsg(db));
			if (rc == SQLITE_OK) {
				log_restarted(c);
				c->last_pages = 0;
			}
			return SQLITE_OK;
		}
	}
	if (pages >= CHECKPOINT_PAGES && c->running) {
		pthread_mutex_lock(&c->mu);
		c->wanted = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

static int checkpointer_start(struct lite_store *s)
{
	struct checkpointer *c = &s->ckpt;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(s->path, &c->db, flags, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(c->db, 5000);
	/* A connection learns that the database is in WAL mode when it first reads it; until
	 * then a checkpoint is a no-op that reports log = done = -1. */
	int mode_ok = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		mode_ok = !sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	if (!mode_ok)
		return -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		return -1;
	}
	c->running = 1;
	sqlite3_wal_autocheckpoint(s->db, 0);
	sqlite3_wal_hook(s->db, on_wal_commit, c);
	return 0;
}

static void checkpointer_stop(struct lite_store *s)
{
	struct checkpointer *c = &s->ckpt;
	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		c->running = 0;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

/* One process owns the database: a second manager on the same data directory would hand
 * out the same tasks twice. Waits up to a second for a predecessor to exit. */
static int lock_database(struct lite_store *s, char **reason)
{
	char *lock_path = wg_asprintf("%s.lock", s->path);
	s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock_path);
	if (s->lock_fd < 0) {
		*reason = wg_asprintf("unable to open its lock file: %s", strerror(errno));
		return -1;
	}
	for (int tries = 0; flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0; tries++) {
		if (errno != EWOULDBLOCK || tries >= 20) {
			*reason = wg_strdup("database is locked: another manager uses this data "
					    "directory");
			return -1;
		}
		usleep(50000);
	}
	return 0;
}

/* Before SQLite's first use in the process: no memory statistics, which nothing reads and
 * which cost a global mutex on every allocation (a tenth of a report's CPU). */
static void configure_sqlite(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

#define LITE(s) ((struct lite_store *)(s))
#define LST(x) (((struct lite_stmt *)(x))->st)

static void lite_close(struct wg_store *base)
{
	struct lite_store *s = LITE(base);
	if (base->depth > 0 && !base->broken)
		exec_sql(s->db, "ROLLBACK");
	checkpointer_stop(s);
	for (size_t i = 0; i < base->n_stmts; i++) {
		if (base->stmts[i])
			sqlite3_finalize(LST(base->stmts[i]));
		free(base->stmts[i]);
	}
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(base->stmts);
	free(base->name);
	free(s->path);
	free(s);
}

static int run_once(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int lite_begin(struct wg_store *s)
{
	return run_once(LITE(s)->begin);
}

static int lite_commit(struct wg_store *s)
{
	return run_once(LITE(s)->commit);
}

static void lite_rollback(struct wg_store *s)
{
	(void)run_once(LITE(s)->rollback);
}

static int lite_step(struct wg_stmt *st)
{
	int rc = sqlite3_step(LST(st));
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void lite_reset(struct wg_stmt *st)
{
	sqlite3_reset(LST(st));
}

static void lite_clear(struct wg_stmt *st)
{
	sqlite3_clear_bindings(LST(st));
}

static void lite_bind_int(struct wg_stmt *st, int i, int64_t v)
{
	sqlite3_bind_int64(LST(st), i, v);
}

static void lite_bind_text(struct wg_stmt *st, int i, const char *text, size_t len)
{
	sqlite3_bind_text64(LST(st), i, text, len, SQLITE_STATIC, SQLITE_UTF8);
}

static void lite_bind_blob(struct wg_stmt *st, int i, const void *p, size_t len)
{
	sqlite3_bind_blob64(LST(st), i, p, len, SQLITE_STATIC);
}

static void lite_bind_null(struct wg_stmt *st, int i)
{
	sqlite3_bind_null(LST(st), i);
}

static int64_t lite_col_int(struct wg_stmt *st, int c)
{
	return sqlite3_column_int64(LST(st), c);
}

static const char *lite_col_text(struct wg_stmt *st, int c)
{
	return (const char *)sqlite3_column_text(LST(st), c);
}

static const void *lite_col_blob(struct wg_stmt *st, int c)
{
	const void *p = sqlite3_column_blob(LST(st), c);
	return p ? p : "";
}

static size_t lite_col_bytes(struct wg_stmt *st, int c)
{
	return (size_t)sqlite3_column_bytes(LST(st), c);
}

static int lite_col_null(struct wg_stmt *st, int c)
{
	return sqlite3_column_type(LST(st), c) == SQLITE_NULL;
}

static int64_t lite_last_id(struct wg_stmt *st)
{
	return sqlite3_last_insert_rowid(LITE(st->store)->db);
}

static int64_t lite_changes(struct wg_store *s)
{
	return sqlite3_changes64(LITE(s)->db);
}

/* Incremental blob I/O reads just the chunk, not the whole value. */
static int lite_read_blob(struct wg_store *s, const char *table, const char *column, int64_t id,
			  uint64_t offset, void *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (offset > INT32_MAX || n > INT32_MAX)
		return -1;
	sqlite3_blob *blob = NULL;
	int rc = sqlite3_blob_open(LITE(s)->db, "main", table, column, id, 0, &blob);
	if (rc == SQLITE_OK)
		rc = sqlite3_blob_read(blob, buf, (int)n, (int)offset);
	sqlite3_blob_close(blob);
	return rc == SQLITE_OK ? 0 : -1;
}

static int lite_query_int(struct wg_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(LITE(s)->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*out = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? WG_ENOTFOUND : WG_EDB;
}

static int lite_try_lock(struct wg_store *s, const char *name)
{
	(void)s;
	(void)name;
	return 1;
}

static const char *lite_errmsg(const struct wg_store *s)
{
	return sqlite3_errmsg(LITE(s)->db);
}

static const struct wg__store_ops lite_ops = {
    .kind = WG_STORE_SQLITE,
    .close = lite_close,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .step = lite_step,
    .reset = lite_reset,
    .clear = lite_clear,
    .bind_int = lite_bind_int,
    .bind_text = lite_bind_text,
    .bind_blob = lite_bind_blob,
    .bind_null = lite_bind_null,
    .col_int = lite_col_int,
    .col_text = lite_col_text,
    .col_blob = lite_col_blob,
    .col_bytes = lite_col_bytes,
    .col_null = lite_col_null,
    .last_id = lite_last_id,
    .changes = lite_changes,
    .read_blob = lite_read_blob,
    .query_int = lite_query_int,
    .try_lock = lite_try_lock,
    .errmsg = lite_errmsg,
};

/* Creates the schema, or upgrades an older one, in one transaction. */
static int lite_schema(struct lite_store *s, const struct wg_store_schema *schema, char **reason)
{
	int have = 0, version = schema->version;
	/* The first statement that reads the file is where a corrupted or foreign file shows. */
	if (query_int(s->db, "PRAGMA user_version", &have) != SQLITE_OK) {
		*reason = wg_strdup(sqlite3_errmsg(s->db));
		return -1;
	}
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		*reason = wg_strdup("the database file is read-only");
		return -1;
	}
	/* WAL with synchronous=NORMAL: a commit survives the process being killed (it is in
	 * the OS before COMMIT returns) at a fraction of the cost of an fsync per commit. */
	if (exec_sql(s->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA foreign_keys=OFF") != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA journal_size_limit=" WG__STR(LOG_KEEP_BYTES)) != SQLITE_OK ||
	    exec_sql(s->db, "PRAGMA cache_size=-16384") != SQLITE_OK) {
		*reason = wg_strdup(sqlite3_errmsg(s->db));
		return -1;
	}
	if (have == 0) {
		char *sql = wg_asprintf("BEGIN IMMEDIATE; %s; PRAGMA user_version=%d; COMMIT;",
					schema->sqlite_sql, version);
		int erc = exec_sql(s->db, sql);
		free(sql);
		if (erc != SQLITE_OK) {
			*reason = wg_asprintf("cannot create schema: %s", sqlite3_errmsg(s->db));
			exec_sql(s->db, "ROLLBACK");
			return -1;
		}
	} else if (have < version && have >= 1 && schema->sqlite_upgrades) {
		struct wg_buf sql = {0};
		wg_buf_append_str(&sql, "BEGIN IMMEDIATE;");
		for (int v = have; v < version; v++)
			wg_buf_appendf(&sql, "%s;", schema->sqlite_upgrades[v - 1]);
		wg_buf_appendf(&sql, "PRAGMA user_version=%d; COMMIT;", version);
		int erc = exec_sql(s->db, wg_buf_cstr(&sql));
		wg_buf_free(&sql);
		if (erc != SQLITE_OK) {
			*reason = wg_asprintf("cannot upgrade the schema from version %d: %s", have,
					      sqlite3_errmsg(s->db));
			exec_sql(s->db, "ROLLBACK");
			return -1;
		}
		wg_info(NULL, "database %s upgraded from schema version %d to %d", s->path, have,
			version);
	} else if (have != version) {
		*reason =
		    wg_asprintf("schema version %d, this program knows version %d", have, version);
		return -1;
	}
	return 0;
}

int wg__store_sqlite_open(const char *path, const struct wg_store_schema *schema,
			  struct wg_store **out, char **reason)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	pthread_once(&configured, configure_sqlite);
	struct lite_store *s = wg_calloc(1, sizeof *s);
	struct wg_store *base = &s->base;
	*out = base;
	base->ops = &lite_ops;
	base->name = wg_strdup(path);
	snprintf(base->version, sizeof base->version, "SQLite %s", sqlite3_libversion());
	s->path = wg_strdup(path);
	s->lock_fd = -1;
	if (lock_database(s, reason))
		return -1;

	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		*reason = wg_strdup(s->db ? sqlite3_errmsg(s->db) : "cannot open");
		return -1;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, 1000);
	if (lite_schema(s, schema, reason))
		return -1;

	size_t n = schema->n_stmts;
	base->stmts = wg_calloc(n ? n : 1, sizeof *base->stmts);
	base->n_stmts = n;
	for (size_t i = 0; i < n; i++) {
		struct lite_stmt *st = wg_calloc(1, sizeof *st);
		st->base.store = base;
		base->stmts[i] = &st->base;
		if (sqlite3_prepare_v3(s->db, schema->stmts[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->st, NULL) != SQLITE_OK) {
			*reason = wg_asprintf("cannot prepare statement %zu: %s", i,
					      sqlite3_errmsg(s->db));
			return -1;
		}
	}
	if (sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK) {
		*reason = wg_strdup(sqlite3_errmsg(s->db));
		return -1;
	}
	if (checkpointer_start(s)) {
		*reason = wg_strdup("cannot start the checkpoint thread");
		return -1;
	}
	return 0;
}
