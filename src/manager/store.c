#include "manager/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

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

struct wg_store {
	sqlite3 *db;
	char *path;
	int lock_fd; /* PATH.lock, flock()ed: one manager per database */
	struct checkpointer ckpt;
	sqlite3_stmt **stmts;
	size_t n_stmts;
	sqlite3_stmt *begin, *commit, *rollback;
	int depth;  /* nesting of wg_store_begin */
	int broken; /* a database error happened: every call now fails */
	unsigned long long commits;
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

static int checkpointer_start(struct wg_store *s)
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

static void checkpointer_stop(struct wg_store *s)
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
static int lock_database(struct wg_store *s, char **reason)
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

int wg_store_open(const char *path, const char *schema_sql, int version,
		  const char *const *upgrades, const char *const *stmts, size_t n,
		  struct wg_store **out, char *why, size_t why_len)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	pthread_once(&configured, configure_sqlite);
	struct wg_store *s = wg_calloc(1, sizeof *s);
	char *reason = NULL;
	int rc = WG_EDB, have = 0;
	s->path = wg_strdup(path);
	s->lock_fd = -1;
	if (why && why_len)
		*why = 0;
	if (lock_database(s, &reason))
		goto out;

	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		reason = wg_strdup(s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, 1000);
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
	    exec_sql(s->db, "PRAGMA journal_size_limit=" WG__STR(LOG_KEEP_BYTES)) != SQLITE_OK ||
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
	} else if (have < version && have >= 1 && upgrades) {
		struct wg_buf sql = {0};
		wg_buf_append_str(&sql, "BEGIN IMMEDIATE;");
		for (int v = have; v < version; v++)
			wg_buf_appendf(&sql, "%s;", upgrades[v - 1]);
		wg_buf_appendf(&sql, "PRAGMA user_version=%d; COMMIT;", version);
		int erc = exec_sql(s->db, wg_buf_cstr(&sql));
		wg_buf_free(&sql);
		if (erc != SQLITE_OK) {
			reason = wg_asprintf("cannot upgrade the schema from version %d: %s", have,
					     sqlite3_errmsg(s->db));
			exec_sql(s->db, "ROLLBACK");
			goto out;
		}
		wg_info(NULL, "database %s upgraded from schema version %d to %d", path, have,
			version);
	} else if (have != version) {
		reason =
		    wg_asprintf("schema version %d, this program knows version %d", have, version);
		goto out;
	}

	s->stmts = wg_calloc(n ? n : 1, sizeof *s->stmts);
	s->n_stmts = n;
	for (size_t i = 0; i < n; i++) {
		if (sqlite3_prepare_v3(s->db, stmts[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
				       NULL) != SQLITE_OK) {
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
	if (checkpointer_start(s)) {
		reason = wg_strdup("cannot start the checkpoint thread");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		/* Told by the caller, which knows what the database is for. */
		if (why && why_len)
			snprintf(why, why_len, "%s: %s", path, reason ? reason : "unknown error");
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
	checkpointer_stop(s);
	for (size_t i = 0; i < s->n_stmts; i++)
		sqlite3_finalize(s->stmts[i]);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
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
