/* The job core: opening the store, programs, submission, cancellation, workers and the abort
 * outbox. Scheduling and worker events are in sched.c, queries in jobs_query.c. */
#include "manager/jobs.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/jobs_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/time.h"
#include "util/utf8.h"

/* Task and attempt rows are the bulk of the data; the partial indexes keep the two hot
 * lookups (queued tasks of a job, attempts in flight) proportional to what they find rather
 * than to the size of the job. */
/* Jobs whose tasks are still to be cancelled (kind 0) or deleted with their attempts (kind
 * 1, the job itself already gone): that work is done a slice at a time (wg_jobs_sweep), so
 * that no call holds the loop for long, and survives a restart. */
#define SWEEP_TABLE "CREATE TABLE sweep(job_id INTEGER PRIMARY KEY, kind INTEGER NOT NULL)"
/* A task that ends (completed or failed) gets the next number of its job's done_seq: the
 * order results came in, for GET /v1/jobs/ID/results?after= (a retried task is numbered
 * again when it ends again). */
#define TASKS_DONE_INDEX                                                                           \
	"CREATE INDEX tasks_done ON tasks(job_id, done_seq) WHERE done_seq IS NOT NULL;"
/* The managers using the store, each with a lease it renews (several may share a PostgreSQL
 * store; an SQLite file has one), and which of them sent each attempt. */
#define MANAGERS_SQLITE                                                                            \
	"CREATE TABLE managers(id INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE,"              \
	" node_addr TEXT NOT NULL, api_addr TEXT NOT NULL, started_ms INTEGER NOT NULL,"           \
	" lease_until_ms INTEGER NOT NULL);"
/* A worker's reputation (jobs_trust.c): its outcomes by kind, its strikes (outvoted since an
 * operator last cleared it), and its quarantine; the jobs it may not run any more. */
#define WORKER_TRUST_COLUMNS(integer, text)                                                        \
	" agreed " integer " NOT NULL DEFAULT 0, disagreed " integer " NOT NULL DEFAULT 0,"        \
	" errors " integer " NOT NULL DEFAULT 0, timeouts " integer " NOT NULL DEFAULT 0,"         \
	" refused " integer " NOT NULL DEFAULT 0, lost " integer " NOT NULL DEFAULT 0,"            \
	" strikes " integer " NOT NULL DEFAULT 0, quarantined_ms " integer ","                     \
	" quarantine_reason " text
#define WORKER_BANS_TABLE(integer, suffix)                                                         \
	"CREATE TABLE worker_bans(worker " integer " NOT NULL, job_id " integer " NOT NULL,"       \
	" PRIMARY KEY(worker, job_id))" suffix ";"
#define ATTEMPTS_MANAGER_INDEX                                                                     \
	"CREATE INDEX attempts_manager ON attempts(manager) WHERE state <= " A_STARTED ";"

static const char schema_sql[] =
    "CREATE TABLE programs(id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, bytes BLOB,"
    " size INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, program_hash TEXT NOT NULL,"
    " addresses TEXT NOT NULL, timeout_ms INTEGER NOT NULL, memory_bytes INTEGER NOT NULL,"
    " result_bytes INTEGER NOT NULL, priority INTEGER NOT NULL,"
    " max_failures INTEGER NOT NULL, k INTEGER NOT NULL, quorum INTEGER NOT NULL,"
    " state INTEGER NOT NULL, created_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL,"
    " n_tasks INTEGER NOT NULL, remaining INTEGER NOT NULL, n_failed INTEGER NOT NULL,"
    " name TEXT NOT NULL DEFAULT '', done_seq INTEGER NOT NULL DEFAULT 0,"
    " n_completed INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_running ON jobs(priority DESC, id) WHERE state = " J_RUNNING ";"
    "CREATE TABLE tasks(id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, argument BLOB NOT NULL, state INTEGER NOT NULL,"
    " want INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, accepted INTEGER, error_kind INTEGER,"
    " error_detail TEXT, error_stderr BLOB, done_seq INTEGER, ready_ms INTEGER, UNIQUE(job_id, "
    "idx));"
    "CREATE INDEX tasks_state ON tasks(job_id, state);" TASKS_DONE_INDEX
    "CREATE INDEX tasks_queue ON tasks(job_id, idx) WHERE want > 0;"
    "CREATE TABLE workers(id INTEGER PRIMARY KEY, node_id TEXT NOT NULL UNIQUE,"
    " first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER," WORKER_TRUST_COLUMNS(
	"INTEGER",
	"TEXT") ");" WORKER_BANS_TABLE("INTEGER",
				       " WITHOUT ROWID") "CREATE TABLE worker_programs(worker "
							 "INTEGER NOT NULL, hash TEXT NOT NULL,"
							 " PRIMARY KEY(worker, hash)) WITHOUT "
							 "ROWID;"
							 "CREATE TABLE attempts(id INTEGER PRIMARY "
							 "KEY AUTOINCREMENT, task_id INTEGER NOT "
							 "NULL,"
							 " worker INTEGER NOT NULL, state INTEGER "
							 "NOT NULL, assigned_ms INTEGER NOT NULL,"
							 " started_ms INTEGER, finished_ms "
							 "INTEGER, deadline_ms INTEGER NOT NULL, "
							 "result BLOB,"
							 " error_kind INTEGER, error_detail TEXT, "
							 "error_stderr BLOB, cpu_ms INTEGER, "
							 "manager INTEGER);"
							 "CREATE INDEX attempts_task ON "
							 "attempts(task_id);"
							 "CREATE INDEX attempts_deadline ON "
							 "attempts(deadline_ms) WHERE state "
							 "<= " A_STARTED ";"
							 "CREATE INDEX attempts_worker ON "
							 "attempts(worker) WHERE state "
							 "<= " A_STARTED
							 ";" ATTEMPTS_MANAGER_INDEX MANAGERS_SQLITE
							     SWEEP_TABLE;

/* Upgrades of older databases: schema_upgrades[v - 1] takes version v to v + 1. */
static const char *const schema_upgrades[] = {
    SWEEP_TABLE, /* 1 -> 2: work done in slices (cancels, removals) */
    /* 2 -> 3: the CPU time of each attempt, as its worker reports it */
    "ALTER TABLE attempts ADD COLUMN cpu_ms INTEGER",
    /* 3 -> 4: a job's name (--name) */
    "ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    /* 4 -> 5: the order tasks ended in; those of older jobs are numbered in index order */
    "ALTER TABLE jobs ADD COLUMN done_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tasks ADD COLUMN done_seq INTEGER;"
    "UPDATE tasks SET done_seq = r.seq FROM (SELECT id, row_number() OVER"
    " (PARTITION BY job_id ORDER BY idx) AS seq FROM tasks WHERE state IN (2, 3)) AS r"
    " WHERE tasks.id = r.id;"
    "UPDATE jobs SET done_seq = (SELECT count(*) FROM tasks"
    " WHERE tasks.job_id = jobs.id AND tasks.done_seq IS NOT NULL);" TASKS_DONE_INDEX,
    /* 5 -> 6: when a task last began to want an attempt (NULL: since its job was created),
     * for the queue-wait histogram of /metrics */
    "ALTER TABLE tasks ADD COLUMN ready_ms INTEGER",
    /* 6 -> 7: the job's completed tasks counted as they end, so that its status need not
     * walk its tasks */
    "ALTER TABLE jobs ADD COLUMN n_completed INTEGER NOT NULL DEFAULT 0;"
    "UPDATE jobs SET n_completed = (SELECT count(*) FROM tasks"
    " WHERE tasks.job_id = jobs.id AND tasks.state = " T_COMPLETED ");",
    /* 7 -> 8: managers and their leases; attempts sent before are the first manager's */
    MANAGERS_SQLITE "ALTER TABLE attempts ADD COLUMN manager INTEGER;" ATTEMPTS_MANAGER_INDEX,
    /* 8 -> 9: workers' reputation, counted from now on */
    "ALTER TABLE workers ADD COLUMN agreed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN disagreed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN timeouts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN strikes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workers ADD COLUMN quarantined_ms INTEGER;"
    "ALTER TABLE workers ADD COLUMN quarantine_reason TEXT;" WORKER_BANS_TABLE("INTEGER",
									       " WITHOUT ROWID"),
};
_Static_assert(sizeof schema_upgrades / sizeof schema_upgrades[0] == WG__JOBS_SCHEMA_VERSION - 1,
	       "one upgrade per version");

/* The same schema in PostgreSQL's types (it has no upgrades yet: its stores began at version
 * 8).
 * Ids are identities, never reused; states and small counts are INTEGER so that the
 * statements' arithmetic on them stays in one type. */
static const char pg_schema_sql[] =
    "CREATE TABLE programs(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " hash TEXT NOT NULL UNIQUE, bytes BYTEA, size BIGINT NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE TABLE jobs(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " program_hash TEXT NOT NULL, addresses TEXT NOT NULL, timeout_ms BIGINT NOT NULL,"
    " memory_bytes BIGINT NOT NULL, result_bytes BIGINT NOT NULL, priority INTEGER NOT NULL,"
    " max_failures BIGINT NOT NULL, k INTEGER NOT NULL, quorum INTEGER NOT NULL,"
    " state INTEGER NOT NULL, created_ms BIGINT NOT NULL, finished_ms BIGINT NOT NULL,"
    " n_tasks BIGINT NOT NULL, remaining BIGINT NOT NULL, n_failed BIGINT NOT NULL,"
    " name TEXT NOT NULL DEFAULT '', done_seq BIGINT NOT NULL DEFAULT 0,"
    " n_completed BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_running ON jobs(priority DESC, id) WHERE state = " J_RUNNING ";"
    "CREATE TABLE tasks(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " job_id BIGINT NOT NULL, idx BIGINT NOT NULL, argument BYTEA NOT NULL,"
    " state INTEGER NOT NULL, want INTEGER NOT NULL, failures BIGINT NOT NULL DEFAULT 0,"
    " attempts BIGINT NOT NULL DEFAULT 0, accepted BIGINT, error_kind INTEGER,"
    " error_detail TEXT, error_stderr BYTEA, done_seq BIGINT, ready_ms BIGINT,"
    " UNIQUE(job_id, idx));"
    "CREATE INDEX tasks_state ON tasks(job_id, state);" TASKS_DONE_INDEX
    "CREATE INDEX tasks_queue ON tasks(job_id, idx) WHERE want > 0;"
    "CREATE TABLE workers(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " node_id TEXT NOT NULL UNIQUE, first_seen_ms BIGINT NOT NULL, last_seen_ms "
    "BIGINT," WORKER_TRUST_COLUMNS("BIGINT", "TEXT") ");" WORKER_BANS_TABLE(
	"BIGINT",
	"") "CREATE TABLE worker_programs(worker BIGINT NOT NULL, hash TEXT NOT NULL,"
	    " PRIMARY KEY(worker, hash));"
	    "CREATE TABLE attempts(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	    " task_id BIGINT NOT NULL, worker BIGINT NOT NULL, state INTEGER NOT NULL,"
	    " assigned_ms BIGINT NOT NULL, started_ms BIGINT, finished_ms BIGINT,"
	    " deadline_ms BIGINT NOT NULL, result BYTEA, error_kind INTEGER, error_detail TEXT,"
	    " error_stderr BYTEA, cpu_ms BIGINT, manager BIGINT);"
	    "CREATE INDEX attempts_task ON attempts(task_id);"
	    "CREATE INDEX attempts_deadline ON attempts(deadline_ms) WHERE state <= " A_STARTED ";"
	    "CREATE INDEX attempts_worker ON attempts(worker) WHERE state <= " A_STARTED
	    ";" ATTEMPTS_MANAGER_INDEX
	    "CREATE TABLE managers(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	    " node_id TEXT NOT NULL UNIQUE, node_addr TEXT NOT NULL, api_addr TEXT NOT NULL,"
	    " started_ms BIGINT NOT NULL, lease_until_ms BIGINT NOT NULL);"
	    "CREATE TABLE sweep(job_id BIGINT PRIMARY KEY, kind INTEGER NOT NULL)";

char wg__task_insert_rows_sql[96 + WG__TASK_INSERT_ROWS * 32];

static void write_task_insert_rows(void)
{
	char *p = wg__task_insert_rows_sql, *end = p + sizeof wg__task_insert_rows_sql;
	p += snprintf(p, (size_t)(end - p),
		      "INSERT INTO tasks(job_id, idx, argument, state, want)"
		      " VALUES");
	for (int i = 0; i < WG__TASK_INSERT_ROWS; i++)
		p += snprintf(p, (size_t)(end - p), "%s(?1, ?%d, ?%d, 0, ?2)", i ? ", " : "",
			      3 + 2 * i, 4 + 2 * i);
}

static const char *const stmt_sql[] = {
#define WG__STMT_SQL(name, sql) sql,
    WG__JOBS_STMTS(WG__STMT_SQL)
#undef WG__STMT_SQL
};

/* Where PostgreSQL needs other text (NULL: the statement above). */
static const char *const pg_stmt_sql[WG__S_COUNT] = {
    [WG__S_JOB_INSERT] = (WG__SQL_JOB_INSERT " RETURNING id"),
    [WG__S_ATTEMPT_INSERT] = (WG__SQL_ATTEMPT_INSERT " RETURNING id"),
};

static const struct wg_store_schema jobs_schema = {
    .version = WG__JOBS_SCHEMA_VERSION,
    .sqlite_sql = schema_sql,
    .sqlite_upgrades = schema_upgrades,
    .pg_sql = pg_schema_sql,
    .stmts = stmt_sql,
    .pg_stmts = pg_stmt_sql,
    .n_stmts = WG__S_COUNT,
};

const char *wg_job_state_name(enum wg_job_state s)
{
	static const char *const names[] = {"running", "completed", "failed", "cancelled"};
	return (unsigned)s < 4 ? names[s] : "unknown";
}

const char *wg_attempt_state_name(enum wg_attempt_state s)
{
	static const char *const names[] = {"",	     "assigned", "started", "completed",
					    "error", "lost",	 "aborted", "refused"};
	return s >= WG_ATTEMPT_ASSIGNED && s <= WG_ATTEMPT_REFUSED ? names[s] : "unknown";
}

const char *wg_task_state_name(enum wg_task_state s)
{
	static const char *const names[] = {"queued", "running", "completed", "failed",
					    "cancelled"};
	return (unsigned)s < WG_TASK_STATE_COUNT ? names[s] : "unknown";
}

void wg_job_options_init(struct wg_job_options *o)
{
	*o = (struct wg_job_options){
	    .timeout_ms = WG_DEFAULT_TIMEOUT_MS,
	    .memory_bytes = WG_MIB(WG_DEFAULT_MEMORY_MIB),
	    .result_bytes = WG_DEFAULT_RESULT_BYTES,
	    .priority = 0,
	    .max_failures = 3,
	    .redundancy = 1,
	    .quorum = 0,
	};
}

bool wg_job_name_valid(const char *name, size_t len)
{
	if (len > WG_MAX_JOB_NAME_BYTES || !wg_utf8_valid(name, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

static uint64_t real_clock_ms(void *user)
{
	(void)user;
	return wg_unix_ms();
}

uint64_t wg__jobs_now(struct wg_jobs *j)
{
	return j->clock_ms(j->clock_user);
}

struct wg_stmt *wg__stmt(struct wg_jobs *j, enum wg__jobs_stmt id)
{
	return wg_store_stmt(j->store, id);
}

/* Registers this manager in the store (or takes its row again, after a restart) and
 * recovers its attempts: the previous process may have died with some in flight, which
 * nobody will report to this one, so they are lost and their tasks wait for workers again. */
static int register_manager(struct wg_jobs *j, const struct wg_jobs_options *opts, const char *path,
			    char *why, size_t why_len)
{
	const char *node_id = opts && opts->node_id ? opts->node_id : "local";
	/* Two processes with one identity would each take the other's attempts for their own. */
	int rc = wg_store_try_lock(j->store, node_id);
	if (rc == 0) {
		if (why && why_len)
			snprintf(why, why_len,
				 "%s: store is locked: another manager with node id %.16s uses it",
				 wg_store_name(j->store), node_id);
		return WG_EDB;
	}
	if (rc < 0 || (rc = wg_store_begin(j->store)) < 0)
		goto failed;
	uint64_t now = wg__jobs_now(j);
	struct wg_stmt *st = wg__stmt(j, WG__S_MANAGER_REGISTER);
	wg_stmt_bind_text(st, 1, node_id);
	wg_stmt_bind_text(st, 2, opts && opts->node_addr ? opts->node_addr : "");
	wg_stmt_bind_text(st, 3, opts && opts->api_addr ? opts->api_addr : "");
	wg_stmt_bind_int(st, 4, (int64_t)now);
	wg_stmt_bind_int(st, 5, (int64_t)(now + j->lease_ms));
	rc = wg_store_step(j->store, st);
	if (rc == 1) {
		j->manager_id = wg_stmt_int(st, 0);
		wg_stmt_reset(st);
		size_t n = 0;
		rc = wg__lose_manager_in_flight(j, j->manager_id, &n);
		if (rc == 0 && n)
			wg_info(NULL, "recovery: %zu tasks in flight at the last stop queued again",
				n);
		/* A file has one manager: any other it names (an earlier node key) is gone. */
		if (rc == 0 && !j->shared)
			rc = wg__take_back_managers(j, (uint64_t)INT64_MAX);
	} else if (rc == 0) {
		rc = WG_EDB;
	}
	rc = wg_store_end(j->store, rc);
	j->renew_at = now + j->lease_ms / 3;
	if (rc == 0)
		return 0;
failed:
	if (why && why_len)
		snprintf(why, why_len, "%s: recovery failed: %s", path, wg_store_errmsg(j->store));
	return rc < 0 ? rc : WG_EDB;
}

int wg_jobs_open(const char *path, const struct wg_jobs_options *opts, struct wg_jobs **out,
		 char *why, size_t why_len)
{
	*out = NULL;
	if (why && why_len)
		*why = 0;
	if (sodium_init() < 0)
		return WG_EINTERNAL;
	struct wg_jobs *j = wg_calloc(1, sizeof *j);
	j->clock_ms = opts && opts->clock_ms ? opts->clock_ms : real_clock_ms;
	j->clock_user = opts ? opts->clock_user : NULL;
	j->start_grace_ms = opts && opts->start_grace_ms ? opts->start_grace_ms : 120000;
	j->lease_ms = opts && opts->lease_ms ? opts->lease_ms : WG_DEFAULT_LEASE_MS;
	static pthread_once_t written = PTHREAD_ONCE_INIT;
	pthread_once(&written, write_task_insert_rows);
	int rc = wg_store_open(path, &jobs_schema, &j->store, why, why_len);
	if (rc < 0)
		goto out;
	j->shared = wg_store_kind(j->store) == WG_STORE_POSTGRESQL;
	rc = register_manager(j, opts, path, why, why_len);
	/* Losses at open are not events of this process. */
	j->counters.lost = 0;
out:
	if (rc < 0) {
		wg_jobs_close(j);
		return rc;
	}
	*out = j;
	return 0;
}

const char *wg_jobs_store_version(const struct wg_jobs *j)
{
	return wg_store_version(j->store);
}

const char *wg_jobs_store_name(const struct wg_jobs *j)
{
	return wg_store_name(j->store);
}

void wg_jobs_close(struct wg_jobs *j)
{
	if (!j)
		return;
	wg_store_close(j->store);
	for (size_t i = 0; i < j->workers_cap; i++) {
		struct wg__worker *w = j->workers[i];
		if (!w)
			continue;
		for (size_t h = 0; h < w->n_hashes; h++)
			free(w->hashes[h]);
		free(w->hashes);
		free(w->banned);
		free(w->node_id);
		free(w);
	}
	free(j->workers);
	free(j->by_node);
	free(j->aborts);
	free(j);
}

int wg_jobs_begin(struct wg_jobs *j)
{
	return wg_store_begin(j->store);
}

int wg_jobs_commit(struct wg_jobs *j)
{
	return wg_store_end(j->store, 0);
}

/* ---- programs ---- */

/* Copies a hash given in hex (either case) into `out` in lower case, the one form stored;
 * returns 0 when it is not 64 hex digits. */
static int normalize_hash(const char *hash, char out[65])
{
	if (!hash || strlen(hash) != 64)
		return 0;
	for (int i = 0; i < 64; i++) {
		char c = hash[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		out[i] = c;
	}
	out[64] = 0;
	return 1;
}

int wg_jobs_program_put(struct wg_jobs *j, const uint8_t *bytes, size_t len, char hash_out[65])
{
	if (len > WG_MAX_PROGRAM_BYTES)
		return WG_ETOOBIG;
	uint8_t digest[32];
	crypto_generichash(digest, sizeof digest, bytes, len, NULL, 0);
	wg_hex_encode(digest, sizeof digest, hash_out);
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_PROGRAM_PUT);
	wg_stmt_bind_textn(st, 1, hash_out, 64);
	wg_stmt_bind_blob(st, 2, bytes, len);
	wg_stmt_bind_int(st, 3, (int64_t)len);
	wg_stmt_bind_int(st, 4, (int64_t)wg__jobs_now(j));
	rc = wg_store_exec_stmt(j->store, st);
	if (rc == 0 && wg_store_changes(j->store) == 0) {
		/* Stored already: it is wanted again (see WG__PROGRAM_GRACE_MS). */
		st = wg__stmt(j, WG__S_PROGRAM_TOUCH);
		wg_stmt_bind_textn(st, 1, hash_out, 64);
		wg_stmt_bind_int(st, 2, (int64_t)wg__jobs_now(j));
		rc = wg_store_exec_stmt(j->store, st);
	}
	return wg_store_end(j->store, rc);
}

int wg_jobs_program_read(struct wg_jobs *j, const char *hash, uint64_t offset, uint8_t *buf,
			 size_t max, size_t *n_out, uint64_t *total_out)
{
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	char norm[65];
	if (!normalize_hash(hash, norm))
		return WG_ENOTFOUND;
	struct wg_stmt *st = wg__stmt(j, WG__S_PROGRAM_FIND);
	wg_stmt_bind_textn(st, 1, norm, 64);
	rc = wg_store_step(j->store, st);
	if (rc <= 0)
		return rc < 0 ? rc : WG_ENOTFOUND;
	int64_t rowid = wg_stmt_int(st, 0);
	uint64_t total = (uint64_t)wg_stmt_int(st, 1);
	wg_stmt_reset(st);
	if (offset > total)
		return WG_EINVAL;
	size_t n = total - offset < max ? (size_t)(total - offset) : max;
	if (n > 0 &&
	    (rc = wg_store_read_blob(j->store, "programs", "bytes", rowid, offset, buf, n)) < 0)
		return rc;
	*n_out = n;
	*total_out = total;
	return 0;
}

/* ---- jobs ---- */

/* The seed that random_get starts from: the same for every replica of a task (so their
 * results can be compared) and different between tasks. */
uint64_t wg__task_seed(uint64_t job_id, uint32_t index)
{
	uint8_t in[12], outb[16];
	for (int i = 0; i < 8; i++)
		in[i] = (uint8_t)(job_id >> (8 * i));
	for (int i = 0; i < 4; i++)
		in[8 + i] = (uint8_t)(index >> (8 * i));
	crypto_generichash(outb, sizeof outb, in, sizeof in, (const uint8_t *)"wasmgrid-seed", 13);
	uint64_t seed = 0;
	for (int i = 0; i < 8; i++)
		seed |= (uint64_t)outb[i] << (8 * i);
	return seed;
}

int wg_jobs_submit(struct wg_jobs *j, const char *hash, const char *const *addresses,
		   size_t n_addresses, const struct wg_job_options *opts,
		   const struct wg_jobs_arg *args, size_t n_args, uint64_t *job_id)
{
	struct wg_job_options o;
	if (opts)
		o = *opts;
	else
		wg_job_options_init(&o);
	if (o.quorum == 0)
		o.quorum = o.redundancy / 2 + 1;
	char norm[65];
	if (!normalize_hash(hash, norm) || n_addresses == 0 || n_addresses > WG_MAX_ADDRESSES ||
	    n_args > WG_MAX_TASKS || o.timeout_ms == 0 || o.redundancy == 0 ||
	    o.redundancy > WG_MAX_REDUNDANCY || o.quorum > o.redundancy ||
	    o.max_failures > 1000000 || o.memory_bytes == 0 || o.result_bytes == 0 ||
	    o.memory_bytes > INT64_MAX || o.result_bytes > WG_MAX_RESULT_BYTES ||
	    !memchr(o.name, 0, sizeof o.name) || !wg_job_name_valid(o.name, strlen(o.name)))
		return WG_EINVAL;
	/* Addresses are stored one per line, so none may hold a line break. */
	char *joined = NULL;
	size_t joined_len = 0;
	for (size_t i = 0; i < n_addresses; i++) {
		if (!addresses[i] || !addresses[i][0] || strpbrk(addresses[i], "\r\n"))
			return WG_EINVAL;
		joined_len += strlen(addresses[i]) + 1;
	}
	for (size_t i = 0; i < n_args; i++)
		if (args[i].len > WG_MAX_ARGUMENT_BYTES)
			return WG_EINVAL;
	joined = wg_malloc(joined_len);
	char *p = joined;
	for (size_t i = 0; i < n_addresses; i++) {
		size_t l = strlen(addresses[i]);
		memcpy(p, addresses[i], l);
		p[l] = i + 1 < n_addresses ? '\n' : 0;
		p += l + 1;
	}

	uint64_t now = wg__jobs_now(j);
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		goto out;
	struct wg_stmt *st = wg__stmt(j, WG__S_PROGRAM_NAME);
	wg_stmt_bind_textn(st, 1, norm, 64);
	wg_stmt_bind_int(st, 2, (int64_t)now);
	rc = wg_store_exec_stmt(j->store, st);
	if (rc < 0)
		goto end;
	st = wg__stmt(j, WG__S_JOB_INSERT);
	wg_stmt_bind_textn(st, 1, norm, 64);
	wg_stmt_bind_text(st, 2, joined);
	wg_stmt_bind_int(st, 3, o.timeout_ms);
	wg_stmt_bind_int(st, 4, (int64_t)o.memory_bytes);
	wg_stmt_bind_int(st, 5, (int64_t)o.result_bytes);
	wg_stmt_bind_int(st, 6, o.priority);
	wg_stmt_bind_int(st, 7, o.max_failures);
	wg_stmt_bind_int(st, 8, o.redundancy);
	wg_stmt_bind_text(st, 14, o.name);
	wg_stmt_bind_int(st, 9, o.quorum);
	wg_stmt_bind_int(st, 10, n_args ? WG_JOB_RUNNING : WG_JOB_COMPLETED);
	wg_stmt_bind_int(st, 11, (int64_t)now);
	wg_stmt_bind_int(st, 12, n_args ? 0 : (int64_t)now);
	wg_stmt_bind_int(st, 13, (int64_t)n_args);
	int64_t id = 0;
	rc = wg_store_insert(j->store, st, &id);
	if (rc < 0)
		goto end;
	size_t i = 0;
	st = wg__stmt(j, WG__S_TASK_INSERT_ROWS);
	wg_stmt_bind_int(st, 1, id);
	wg_stmt_bind_int(st, 2, o.redundancy);
	for (; i + WG__TASK_INSERT_ROWS <= n_args; i += WG__TASK_INSERT_ROWS) {
		for (int r = 0; r < WG__TASK_INSERT_ROWS; r++) {
			wg_stmt_bind_int(st, 3 + 2 * r, (int64_t)(i + (size_t)r));
			wg_stmt_bind_blob(st, 4 + 2 * r, args[i + (size_t)r].data,
					  args[i + (size_t)r].len);
		}
		if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
			goto end;
	}
	st = wg__stmt(j, WG__S_TASK_INSERT);
	wg_stmt_bind_int(st, 1, id);
	wg_stmt_bind_int(st, 4, o.redundancy);
	for (; i < n_args; i++) {
		wg_stmt_bind_int(st, 2, (int64_t)i);
		wg_stmt_bind_blob(st, 3, args[i].data, args[i].len);
		rc = wg_store_exec_stmt(j->store, st);
		if (rc < 0)
			goto end;
	}
	*job_id = (uint64_t)id;
end:
	rc = wg_store_end(j->store, rc);
	if (rc == 0)
		wg_info(NULL, "job %llu submitted: %zu tasks, program %.12s, k=%u",
			(unsigned long long)*job_id, n_args, norm, o.redundancy);
out:
	free(joined);
	return rc;
}

int wg_jobs_cancel(struct wg_jobs *j, uint64_t job_id, size_t *n_aborts)
{
	size_t aborted = 0;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	enum wg_job_state state;
	struct wg_stmt *st;
	if ((rc = wg_jobs_state(j, job_id, &state)) < 0)
		goto end;
	if (state != WG_JOB_RUNNING)
		goto end;
	/* Collect first: the rows change under the statement otherwise. */
	struct {
		int64_t id, worker;
	} *list = NULL;
	size_t n = 0, cap = 0;
	/* This manager's attempts; another's are aborted by that one (wg__managers_tick). */
	st = wg__stmt(j, WG__S_JOB_IN_FLIGHT);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, j->manager_id);
	while ((rc = wg_store_step(j->store, st)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			list = wg_realloc(list, cap * sizeof *list);
		}
		list[n].id = wg_stmt_int(st, 0);
		list[n].worker = wg_stmt_int(st, 1);
		n++;
	}
	uint64_t now = wg__jobs_now(j);
	for (size_t i = 0; i < n && rc == 0; i++) {
		st = wg__stmt(j, WG__S_ATTEMPT_SET_STATE);
		wg_stmt_bind_int(st, 1, list[i].id);
		wg_stmt_bind_int(st, 2, WG_ATTEMPT_ABORTED);
		wg_stmt_bind_int(st, 3, (int64_t)now);
		rc = wg_store_exec_stmt(j->store, st);
		if (rc == 0) {
			struct wg__worker *w = wg__worker_by_id(j, list[i].worker);
			if (w && w->running)
				w->running--;
			wg__abort_push(j, list[i].worker, (uint64_t)list[i].id);
			aborted++;
		}
	}
	free(list);
	if (rc < 0)
		goto end;
	/* The job is cancelled now; its queued tasks, which may be a million, are marked a
	 * slice at a time by wg_jobs_sweep (nothing schedules the tasks of a cancelled job). */
	st = wg__stmt(j, WG__S_SWEEP_ADD);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, WG__SWEEP_CANCEL);
	rc = wg_store_exec_stmt(j->store, st);
	if (rc < 0)
		goto end;
	st = wg__stmt(j, WG__S_JOB_CANCEL);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, (int64_t)now);
	rc = wg_store_exec_stmt(j->store, st);
end:
	rc = wg_store_end(j->store, rc);
	if (rc == 0 && n_aborts)
		*n_aborts = aborted;
	return rc;
}

/* ---- workers ---- */

struct wg__worker *wg__worker_by_id(struct wg_jobs *j, int64_t db_id)
{
	if (db_id < 0 || (uint64_t)db_id >= j->workers_cap)
		return NULL;
	return j->workers[db_id];
}

/* FNV-1a of a node id. */
static uint64_t node_hash(const char *node_id)
{
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *p = (const unsigned char *)node_id; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static void by_node_put(struct wg_jobs *j, struct wg__worker *w)
{
	size_t mask = j->by_node_cap - 1, i = (size_t)node_hash(w->node_id) & mask;
	while (j->by_node[i])
		i = (i + 1) & mask;
	j->by_node[i] = w->db_id;
}

/* Indexes a new worker, growing the table to keep it at most half full. */
static void by_node_add(struct wg_jobs *j, struct wg__worker *w)
{
	if (2 * (j->n_workers + 1) > j->by_node_cap) {
		size_t cap = j->by_node_cap ? 2 * j->by_node_cap : 64;
		free(j->by_node);
		j->by_node = wg_calloc(cap, sizeof *j->by_node);
		j->by_node_cap = cap;
		for (size_t i = 0; i < j->workers_cap; i++)
			if (j->workers[i])
				by_node_put(j, j->workers[i]);
	}
	by_node_put(j, w);
	j->n_workers++;
}

/* Called for every report and on every scheduling round for each worker: a thousand
 * attached workers must not make each call a thousand string comparisons. */
struct wg__worker *wg__worker_find(struct wg_jobs *j, const char *node_id)
{
	if (!j->by_node_cap)
		return NULL;
	size_t mask = j->by_node_cap - 1, i = (size_t)node_hash(node_id) & mask;
	for (; j->by_node[i]; i = (i + 1) & mask) {
		struct wg__worker *w = j->workers[j->by_node[i]];
		if (strcmp(w->node_id, node_id) == 0)
			return w;
	}
	return NULL;
}

struct wg__worker *wg__worker_get(struct wg_jobs *j, const char *node_id)
{
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (w)
		return w;
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_UPSERT);
	wg_stmt_bind_text(st, 1, node_id);
	wg_stmt_bind_int(st, 2, (int64_t)wg__jobs_now(j));
	if (wg_store_step(j->store, st) != 1)
		return NULL;
	int64_t id = wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	if (id <= 0 || id > (1 << 24)) {
		wg_store_break(j->store, "worker id out of range");
		return NULL;
	}
	if ((uint64_t)id >= j->workers_cap) {
		size_t cap = j->workers_cap ? j->workers_cap : 16;
		while (cap <= (uint64_t)id)
			cap *= 2;
		j->workers = wg_realloc(j->workers, cap * sizeof *j->workers);
		memset(j->workers + j->workers_cap, 0, (cap - j->workers_cap) * sizeof *j->workers);
		j->workers_cap = cap;
	}
	w = wg_calloc(1, sizeof *w);
	w->db_id = id;
	w->node_id = wg_strdup(node_id);
	w->cap = UINT32_MAX;
	j->workers[id] = w;
	by_node_add(j, w);
	if (wg__worker_load_trust(j, w) < 0)
		return NULL;
	st = wg__stmt(j, WG__S_WORKER_PROGRAMS);
	wg_stmt_bind_int(st, 1, id);
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1) {
		w->hashes = wg_realloc(w->hashes, (w->n_hashes + 1) * sizeof *w->hashes);
		w->hashes[w->n_hashes++] = wg_strdup((const char *)wg_stmt_text(st, 0));
	}
	return rc < 0 ? NULL : w;
}

static int worker_holds(const struct wg__worker *w, const char *hash)
{
	for (size_t i = 0; i < w->n_hashes; i++)
		if (strcmp(w->hashes[i], hash) == 0)
			return 1;
	return 0;
}

int wg__worker_add_program(struct wg_jobs *j, struct wg__worker *w, const char *hash)
{
	if (worker_holds(w, hash))
		return 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_PROGRAM_ADD);
	wg_stmt_bind_int(st, 1, w->db_id);
	wg_stmt_bind_text(st, 2, hash);
	int rc = wg_store_exec_stmt(j->store, st);
	if (rc == 0) {
		w->hashes = wg_realloc(w->hashes, (w->n_hashes + 1) * sizeof *w->hashes);
		w->hashes[w->n_hashes++] = wg_strdup(hash);
	}
	return rc;
}

/* The worker, created in its own transaction when it is new (only then is there anything
 * to commit: the dispatcher sets caps on every tick where a worker's rate moved). */
static int with_worker_tx(struct wg_jobs *j, const char *node_id, struct wg__worker **w)
{
	*w = wg__worker_find(j, node_id);
	if (*w)
		return wg_store_check(j->store);
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	*w = wg__worker_get(j, node_id);
	return wg_store_end(j->store, *w ? 0 : WG_EDB);
}

int wg_jobs_worker_set_cap(struct wg_jobs *j, const char *node_id, uint32_t cap)
{
	struct wg__worker *w;
	int rc = with_worker_tx(j, node_id, &w);
	if (rc == 0)
		w->cap = cap;
	return rc;
}

int wg_jobs_worker_set_memory(struct wg_jobs *j, const char *node_id, uint64_t bytes)
{
	struct wg__worker *w;
	int rc = with_worker_tx(j, node_id, &w);
	if (rc == 0)
		w->max_memory = bytes;
	return rc;
}

uint32_t wg_jobs_worker_running(struct wg_jobs *j, const char *node_id)
{
	struct wg__worker *w = wg__worker_find(j, node_id);
	return w ? w->running : 0;
}

int wg_jobs_worker_load(struct wg_jobs *j, const char *node_id, uint64_t *assigned,
			uint64_t *started)
{
	*assigned = *started = 0;
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (!w)
		return wg_store_check(j->store);
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_LOAD);
	wg_stmt_bind_int(st, 1, w->db_id);
	int rc = wg_store_step(j->store, st);
	if (rc == 1) {
		*started = (uint64_t)wg_stmt_int(st, 0);
		uint64_t in_flight = (uint64_t)wg_stmt_int(st, 1);
		*assigned = in_flight > *started ? in_flight - *started : 0;
		rc = 0;
	} else if (rc == 0) {
		rc = WG_EDB; /* an aggregate always has a row */
	}
	wg_stmt_reset(st);
	return rc;
}

bool wg_jobs_worker_has_program(struct wg_jobs *j, const char *node_id, const char *hash)
{
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (!w && with_worker_tx(j, node_id, &w) < 0)
		return false;
	return worker_holds(w, hash);
}

int wg_jobs_pick_worker(struct wg_jobs *j, const char *const *node_ids, const uint32_t *free_slots,
			size_t n, size_t *chosen)
{
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_QUEUE_HEAD);
	rc = wg_store_step(j->store, st);
	if (rc <= 0)
		return rc < 0 ? rc : WG_ENOTFOUND;
	char hash[65];
	snprintf(hash, sizeof hash, "%s", (const char *)wg_stmt_text(st, 0));
	wg_stmt_reset(st);
	long best = -1;
	int best_holds = 0;
	uint32_t best_room = 0;
	for (size_t i = 0; i < n; i++) {
		struct wg__worker *w = wg__worker_find(j, node_ids[i]);
		uint32_t room = free_slots[i];
		if (w) {
			uint32_t left = w->cap > w->running ? w->cap - w->running : 0;
			room = room < left ? room : left;
		}
		if (room == 0 || (w && w->quarantined))
			continue;
		int holds = w && worker_holds(w, hash);
		if (best < 0 || holds > best_holds || (holds == best_holds && room > best_room)) {
			best = (long)i;
			best_holds = holds;
			best_room = room;
		}
	}
	if (best < 0)
		return WG_ENOTFOUND;
	*chosen = (size_t)best;
	return 0;
}

/* ---- the abort outbox ---- */

void wg__abort_push(struct wg_jobs *j, int64_t worker_db_id, uint64_t attempt_id)
{
	struct wg__worker *w = wg__worker_by_id(j, worker_db_id);
	if (!w)
		return; /* a worker of a previous process: it is not connected to this one */
	if (j->n_aborts == j->aborts_cap) {
		j->aborts_cap = j->aborts_cap ? j->aborts_cap * 2 : 16;
		j->aborts = wg_realloc(j->aborts, j->aborts_cap * sizeof *j->aborts);
	}
	j->aborts[j->n_aborts++] = (struct wg_jobs_abort){w->node_id, attempt_id};
}

static int cmp_abort(const void *a, const void *b)
{
	const struct wg_jobs_abort *x = a, *y = b;
	int c = strcmp(x->node_id, y->node_id);
	if (c)
		return c;
	return x->attempt_id < y->attempt_id ? -1 : x->attempt_id > y->attempt_id;
}

void wg_jobs_take_aborts(struct wg_jobs *j, struct wg_jobs_abort **out, size_t *n)
{
	if (j->n_aborts)
		qsort(j->aborts, j->n_aborts, sizeof *j->aborts, cmp_abort);
	*out = j->n_aborts ? j->aborts : NULL;
	*n = j->n_aborts;
	if (!j->n_aborts)
		free(j->aborts);
	j->aborts = NULL;
	j->n_aborts = j->aborts_cap = 0;
}
