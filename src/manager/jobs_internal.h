/* Shared by the files of the job core (jobs.c, sched.c, jobs_query.c); not for the daemon.
 * Holds the schema, the prepared statements and the in-memory state. */
#ifndef WG_MANAGER_JOBS_INTERNAL_H
#define WG_MANAGER_JOBS_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "manager/jobs.h"
#include "manager/store.h"

#define WG__JOBS_SCHEMA_VERSION 9

/* The kinds of work in the sweep table (jobs.c). */
/* RETRY: the failed tasks of a job retried (wg_jobs_retry) are queued again. */
enum { WG__SWEEP_CANCEL, WG__SWEEP_DELETE, WG__SWEEP_RETRY };

/* A program no job refers to any more goes with the last job removed, unless it was stored
 * (or stored again) this recently: it may be for a job about to be submitted. */
#define WG__PROGRAM_GRACE_MS ((uint64_t)60 * 60 * 1000)

/* Attempts with state <= this are in flight. */
#define WG__IN_FLIGHT WG_ATTEMPT_STARTED

/* The states of jobs.h as the SQL below and the schema's partial indexes spell them (an
 * index is used only when a query's text matches its WHERE): numbers the preprocessor can
 * paste into the statements, each checked against its enum. */
#define WG__SQL_JOB_RUNNING 0
#define WG__SQL_JOB_CANCELLED 3
#define WG__SQL_TASK_QUEUED 0
#define WG__SQL_TASK_RUNNING 1
#define WG__SQL_TASK_COMPLETED 2
#define WG__SQL_TASK_FAILED 3
#define WG__SQL_TASK_CANCELLED 4
#define WG__SQL_ATTEMPT_ASSIGNED 1
#define WG__SQL_ATTEMPT_STARTED 2
#define WG__SQL_ATTEMPT_COMPLETED 3
#define WG__SQL_ATTEMPT_LOST 5
#define WG__SQL_ATTEMPT_REFUSED 7
_Static_assert(WG__SQL_JOB_RUNNING == WG_JOB_RUNNING, "SQL job state");
_Static_assert(WG__SQL_JOB_CANCELLED == WG_JOB_CANCELLED, "SQL job state");
_Static_assert(WG__SQL_TASK_QUEUED == WG_TASK_QUEUED, "SQL task state");
_Static_assert(WG__SQL_TASK_RUNNING == WG_TASK_RUNNING, "SQL task state");
_Static_assert(WG__SQL_TASK_COMPLETED == WG_TASK_COMPLETED, "SQL task state");
_Static_assert(WG__SQL_TASK_FAILED == WG_TASK_FAILED, "SQL task state");
_Static_assert(WG__SQL_TASK_CANCELLED == WG_TASK_CANCELLED, "SQL task state");
_Static_assert(WG__SQL_ATTEMPT_ASSIGNED == WG_ATTEMPT_ASSIGNED, "SQL attempt state");
_Static_assert(WG__SQL_ATTEMPT_STARTED == WG_ATTEMPT_STARTED, "SQL attempt state");
_Static_assert(WG__SQL_ATTEMPT_COMPLETED == WG_ATTEMPT_COMPLETED, "SQL attempt state");
_Static_assert(WG__SQL_ATTEMPT_LOST == WG_ATTEMPT_LOST, "SQL attempt state");
_Static_assert(WG__SQL_ATTEMPT_REFUSED == WG_ATTEMPT_REFUSED, "SQL attempt state");
#define WG__SQL_STR2(x) #x
#define WG__SQL_STR(x) WG__SQL_STR2(x)
/* Text for SQL: J_RUNNING, T_QUEUED... and the in-flight test of attempts. */
#define J_RUNNING WG__SQL_STR(WG__SQL_JOB_RUNNING)
#define J_CANCELLED WG__SQL_STR(WG__SQL_JOB_CANCELLED)
#define T_QUEUED WG__SQL_STR(WG__SQL_TASK_QUEUED)
#define T_RUNNING WG__SQL_STR(WG__SQL_TASK_RUNNING)
#define T_COMPLETED WG__SQL_STR(WG__SQL_TASK_COMPLETED)
#define T_FAILED WG__SQL_STR(WG__SQL_TASK_FAILED)
#define T_CANCELLED WG__SQL_STR(WG__SQL_TASK_CANCELLED)
#define A_ASSIGNED WG__SQL_STR(WG__SQL_ATTEMPT_ASSIGNED)
#define A_STARTED WG__SQL_STR(WG__SQL_ATTEMPT_STARTED)
#define A_COMPLETED WG__SQL_STR(WG__SQL_ATTEMPT_COMPLETED)
#define A_LOST WG__SQL_STR(WG__SQL_ATTEMPT_LOST)
#define A_REFUSED WG__SQL_STR(WG__SQL_ATTEMPT_REFUSED)

/* The inserts whose new row's id is read (wg_store_insert): on PostgreSQL they say
 * RETURNING id (jobs.c). */
#define WG__SQL_JOB_INSERT                                                                         \
	"INSERT INTO jobs(program_hash, addresses, timeout_ms, memory_bytes, result_bytes,"        \
	" priority, max_failures, k, quorum, state, created_ms, finished_ms, n_tasks, remaining,"  \
	" n_failed, name) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, 0,"  \
	" ?14)"
#define WG__SQL_ATTEMPT_INSERT                                                                     \
	"INSERT INTO attempts(task_id, worker, state, assigned_ms, deadline_ms, manager)"          \
	" VALUES(?1, ?2, 1, ?3, ?4, ?5)"

/* Tasks are inserted this many to a statement (one round trip to PostgreSQL, one VDBE run in
 * SQLite), the rest one by one: TASK_INSERT_ROWS, whose text jobs.c writes at first open
 * (?1 the job, ?2 want, then index and argument of each row). */
#define WG__TASK_INSERT_ROWS 64
extern char wg__task_insert_rows_sql[];

/* Every statement the core runs, prepared once at open: X(NAME, SQL), in the SQL both
 * stores accept (manager/store.h). */
#define WG__JOBS_STMTS(X)                                                                          \
	X(PROGRAM_PUT, "INSERT INTO programs(hash, bytes, size, created_ms)"                       \
		       " VALUES(?1, ?2, ?3, ?4)"                                                   \
		       " ON CONFLICT(hash) DO UPDATE SET bytes = excluded.bytes,"                  \
		       " size = excluded.size WHERE programs.bytes IS NULL")                       \
	X(PROGRAM_TOUCH, "UPDATE programs SET created_ms = ?2 WHERE hash = ?1")                    \
	X(PROGRAM_NAME, "INSERT INTO programs(hash, bytes, size, created_ms)"                      \
			" VALUES(?1, NULL, 0, ?2) ON CONFLICT DO NOTHING")                         \
	X(PROGRAM_FIND, "SELECT id, size FROM programs WHERE hash = ?1 AND bytes IS NOT NULL")     \
	X(JOB_INSERT, WG__SQL_JOB_INSERT)                                                          \
	X(TASK_INSERT_ROWS, wg__task_insert_rows_sql)                                              \
	X(TASK_INSERT, "INSERT INTO tasks(job_id, idx, argument, state, want)"                     \
		       " VALUES(?1, ?2, ?3, 0, ?4)")                                               \
	X(JOB_GET, "SELECT id, program_hash, state, timeout_ms, memory_bytes, result_bytes,"       \
		   " priority, max_failures, k, quorum, created_ms, finished_ms, n_tasks, name"    \
		   " FROM jobs WHERE id = ?1")                                                     \
	X(JOB_LIST, "SELECT id FROM jobs WHERE ?1 = 0 OR ((1 << state) & ?1) != 0"                 \
		    " ORDER BY id DESC LIMIT ?2")                                                  \
	X(JOB_RUNNING_COUNT,                                                                       \
	  "SELECT count(*) FROM tasks WHERE job_id = ?1 AND state = " T_RUNNING)                   \
	X(JOB_ASSIGNED,                                                                            \
	  "SELECT count(*) FROM tasks t WHERE t.job_id = ?1 AND t.state = " T_RUNNING              \
	  " AND NOT EXISTS(SELECT 1 FROM attempts a WHERE a.task_id = t.id"                        \
	  " AND a.state = " A_STARTED ")")                                                         \
	X(JOBS_RUNNING, "SELECT id, program_hash, addresses, timeout_ms, memory_bytes,"            \
			" result_bytes, k, created_ms FROM jobs WHERE state = " J_RUNNING          \
			" ORDER BY priority DESC, id")                                             \
	X(QUEUE_HEAD,                                                                              \
	  "SELECT j.program_hash FROM jobs j WHERE j.state = " J_RUNNING " AND EXISTS("            \
	  "SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.want > 0)"                            \
	  " ORDER BY j.priority DESC, j.id LIMIT 1")                                               \
	X(QUEUE_TASKS, "SELECT id, idx, argument, ready_ms FROM tasks WHERE job_id = ?1"           \
		       " AND want > 0"                                                             \
		       " ORDER BY idx")                                                            \
	X(WORKER_HAS_REPLICA,                                                                      \
	  "SELECT 1 FROM attempts WHERE task_id = ?1 AND worker = ?2"                              \
	  " AND state IN (" A_ASSIGNED ", " A_STARTED ", " A_COMPLETED ") LIMIT 1")                \
	X(ATTEMPT_INSERT, WG__SQL_ATTEMPT_INSERT)                                                  \
	X(TASK_ASSIGNED, "UPDATE tasks SET want = want - 1, state = " T_RUNNING ","                \
			 " attempts = attempts + 1 WHERE id = ?1")                                 \
	X(ATTEMPT_GET, "SELECT a.state, a.worker, a.task_id, t.state, j.timeout_ms,"               \
		       " j.result_bytes, j.program_hash, a.assigned_ms, a.started_ms,"             \
		       " t.job_id, t.attempts, j.quorum, j.state, j.k"                             \
		       " FROM attempts a"                                                          \
		       " JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = t.job_id"          \
		       " WHERE a.id = ?1")                                                         \
	X(ATTEMPT_STATE, "SELECT state FROM attempts WHERE id = ?1")                               \
	X(ATTEMPT_STARTED,                                                                         \
	  "UPDATE attempts SET state = " A_STARTED ", started_ms = ?2, deadline_ms = ?3"           \
	  " WHERE id = ?1")                                                                        \
	X(ATTEMPT_SET_STATE, "UPDATE attempts SET state = ?2, finished_ms = ?3 WHERE id = ?1")     \
	X(ATTEMPT_COMPLETED,                                                                       \
	  "UPDATE attempts SET state = " A_COMPLETED ", finished_ms = ?2, result = ?3,"            \
	  " cpu_ms = ?4 WHERE id = ?1")                                                            \
	X(ATTEMPT_ERROR, "UPDATE attempts SET state = ?2, finished_ms = ?3, error_kind = ?4,"      \
			 " error_detail = ?5, error_stderr = ?6, cpu_ms = ?7 WHERE id = ?1")       \
	X(RESULT_COUNT,                                                                            \
	  "SELECT count(*) FROM attempts WHERE task_id = ?1 AND state = " A_COMPLETED)             \
	X(RESULT_MATCH, "SELECT 1 FROM attempts WHERE task_id = ?1 AND state = " A_COMPLETED       \
			" AND result = ?2 LIMIT 1")                                                \
	X(TASK_FAILURE, "UPDATE tasks SET failures = failures + 1, error_kind = ?2,"               \
			" error_detail = ?3, error_stderr = ?4 WHERE id = ?1")                     \
	X(TASK_RECONCILE_GET,                                                                      \
	  "SELECT t.state, t.failures, t.job_id, j.k, j.quorum,"                                   \
	  " j.max_failures, j.state FROM tasks t JOIN jobs j ON j.id = t.job_id"                   \
	  " WHERE t.id = ?1")                                                                      \
	X(TASK_ATTEMPT_COUNTS,                                                                     \
	  "SELECT coalesce(sum(CASE WHEN state <= " A_STARTED " THEN 1 ELSE 0 END), 0),"           \
	  " coalesce(sum(CASE WHEN state = " A_COMPLETED " THEN 1 ELSE 0 END), 0)"                 \
	  " FROM attempts WHERE task_id = ?1")                                                     \
	X(TASK_RESULTS, "SELECT id, worker, result FROM attempts WHERE task_id = ?1"               \
			" AND state = " A_COMPLETED " ORDER BY id")                                \
	X(TASK_SET_QUEUE, "UPDATE tasks SET state = ?2, want = ?3, ready_ms = CASE WHEN"           \
			  " want = 0 AND ?3 > 0 THEN ?4 ELSE ready_ms END WHERE id = ?1")          \
	X(TASK_FINISH, "UPDATE tasks SET state = ?2, want = 0, accepted = ?3, done_seq = ?4"       \
		       " WHERE id = ?1")                                                           \
	X(TASK_UNCOUNT, "UPDATE tasks SET attempts = attempts - 1 WHERE id = ?1")                  \
	X(TASK_IN_FLIGHT,                                                                          \
	  "SELECT id, worker FROM attempts WHERE task_id = ?1 AND state <= " A_STARTED             \
	  " AND manager = ?2")                                                                     \
	X(JOB_TASK_DONE, "UPDATE jobs SET remaining = remaining - 1, n_failed = n_failed + ?2,"    \
			 " n_completed = n_completed + 1 - ?2, done_seq = done_seq + 1"            \
			 " WHERE id = ?1")                                                         \
	X(JOB_COUNTERS, "SELECT remaining, n_failed, done_seq, n_completed FROM jobs"              \
			" WHERE id = ?1")                                                          \
	X(JOB_FINISH, "UPDATE jobs SET state = ?2, finished_ms = ?3 WHERE id = ?1")                \
	X(JOB_STATE, "SELECT state, done_seq FROM jobs WHERE id = ?1")                             \
	X(JOB_IN_FLIGHT, "SELECT a.id, a.worker FROM attempts a"                                   \
			 " JOIN tasks t ON t.id = a.task_id"                                       \
			 " WHERE a.state <= " A_STARTED                                            \
			 " AND t.job_id = ?1 AND t.state = " T_RUNNING " AND a.manager = ?2")      \
	X(SWEEP_ADD, "INSERT INTO sweep(job_id, kind) VALUES(?1, ?2)"                              \
		     " ON CONFLICT(job_id) DO UPDATE SET kind = excluded.kind")                    \
	X(SWEEP_NEXT, "SELECT job_id, kind FROM sweep ORDER BY job_id LIMIT 1")                    \
	X(SWEEP_DONE, "DELETE FROM sweep WHERE job_id = ?1")                                       \
	X(SWEEP_CANCEL_SLICE,                                                                      \
	  "UPDATE tasks SET state = " T_CANCELLED ", want = 0 WHERE id IN (SELECT id"              \
	  " FROM tasks WHERE job_id = ?1 AND state IN (" T_QUEUED ", " T_RUNNING ")"               \
	  " LIMIT ?2)")                                                                            \
	X(SWEEP_DELETE_ATTEMPTS, "DELETE FROM attempts WHERE task_id IN (SELECT id FROM tasks"     \
				 " WHERE job_id = ?1 ORDER BY idx LIMIT ?2)")                      \
	X(SWEEP_DELETE_TASKS, "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks"                \
			      " WHERE job_id = ?1 ORDER BY idx LIMIT ?2)")                         \
	X(SWEEP_RETRY_SLICE,                                                                       \
	  "SELECT id FROM tasks WHERE job_id = ?1 AND state = " T_FAILED " LIMIT ?2")              \
	X(TASK_RETRY, "UPDATE tasks SET state = " T_QUEUED ", failures = 0, done_seq = NULL"       \
		      " WHERE id = ?1")                                                            \
	X(JOB_FAILED_COUNT, "SELECT state, n_failed FROM jobs WHERE id = ?1")                      \
	X(JOB_RETRY, "UPDATE jobs SET state = " J_RUNNING ", finished_ms = 0,"                     \
		     " remaining = remaining + n_failed, n_failed = 0 WHERE id = ?1")              \
	X(JOB_DELETE, "DELETE FROM jobs WHERE id = ?1 RETURNING program_hash")                     \
	X(PROGRAM_FORGET, "DELETE FROM programs WHERE hash = ?1 AND created_ms < ?2"               \
			  " AND NOT EXISTS(SELECT 1 FROM jobs WHERE program_hash = ?1)")           \
	X(JOBS_FINISHED_BEFORE,                                                                    \
	  "SELECT id FROM jobs WHERE state != " J_RUNNING " AND finished_ms < ?1"                  \
	  " ORDER BY id LIMIT ?2")                                                                 \
	X(JOB_CANCEL, "UPDATE jobs SET state = " J_CANCELLED ", finished_ms = ?2, remaining = 0"   \
		      " WHERE id = ?1")                                                            \
	X(WORKER_UPSERT, "INSERT INTO workers(node_id, first_seen_ms) VALUES(?1, ?2)"              \
			 " ON CONFLICT(node_id) DO UPDATE SET last_seen_ms = ?2 RETURNING id")     \
	/* Reputation (jobs_trust.c): ?2 the outcome (enum wg__outcome), ?3 how many. */           \
	X(WORKER_OUTCOME,                                                                          \
	  "UPDATE workers SET agreed = agreed + CASE WHEN ?2 = 0 THEN ?3 ELSE 0 END,"              \
	  " disagreed = disagreed + CASE WHEN ?2 = 1 THEN ?3 ELSE 0 END,"                          \
	  " strikes = strikes + CASE WHEN ?2 = 1 THEN ?3 ELSE 0 END,"                              \
	  " errors = errors + CASE WHEN ?2 = 2 THEN ?3 ELSE 0 END,"                                \
	  " timeouts = timeouts + CASE WHEN ?2 = 3 THEN ?3 ELSE 0 END,"                            \
	  " refused = refused + CASE WHEN ?2 = 4 THEN ?3 ELSE 0 END,"                              \
	  " lost = lost + CASE WHEN ?2 = 5 THEN ?3 ELSE 0 END WHERE id = ?1")                      \
	X(WORKER_TRUST, "SELECT agreed, disagreed, errors, timeouts, refused, lost, strikes,"      \
			" quarantined_ms, quarantine_reason FROM workers WHERE id = ?1")           \
	X(WORKER_QUARANTINE, "UPDATE workers SET quarantined_ms = ?2, quarantine_reason = ?3"      \
			     " WHERE id = ?1 AND quarantined_ms IS NULL")                          \
	X(WORKER_CLEAR, "UPDATE workers SET quarantined_ms = NULL, quarantine_reason = NULL,"      \
			" strikes = 0 WHERE id = ?1")                                              \
	X(WORKER_BAN, "INSERT INTO worker_bans(worker, job_id) VALUES(?1, ?2)"                     \
		      " ON CONFLICT DO NOTHING")                                                   \
	X(WORKER_BANS, "SELECT job_id FROM worker_bans WHERE worker = ?1 ORDER BY job_id")         \
	X(WORKER_UNBAN, "DELETE FROM worker_bans WHERE worker = ?1")                               \
	X(ACCEPTED_MATCH, "SELECT CASE WHEN a.result = ?2 THEN 1 ELSE 0 END FROM tasks t"          \
			  " JOIN attempts a ON a.id = t.accepted WHERE t.id = ?1")                 \
	X(WORKER_PROGRAMS, "SELECT hash FROM worker_programs WHERE worker = ?1")                   \
	X(WORKER_PROGRAM_ADD, "INSERT INTO worker_programs(worker, hash)"                          \
			      " VALUES(?1, ?2) ON CONFLICT DO NOTHING")                            \
	X(WORKER_IN_FLIGHT, "SELECT id, task_id FROM attempts WHERE worker = ?1"                   \
			    " AND state <= " A_STARTED " AND manager = ?2")                        \
	X(WORKER_IN_FLIGHT_BEFORE,                                                                 \
	  "SELECT id FROM attempts WHERE worker = ?1 AND state <= " A_STARTED                      \
	  " AND assigned_ms < ?2 ORDER BY id LIMIT ?3")                                            \
	X(OVERDUE, "SELECT id, task_id, worker FROM attempts WHERE state <= " A_STARTED            \
		   " AND deadline_ms < ?1 AND manager = ?2")                                       \
	/* A manager's attempts in flight (NULL: sent before managers were recorded). */           \
	X(MANAGER_IN_FLIGHT, "SELECT DISTINCT task_id FROM attempts WHERE state <= " A_STARTED     \
			     " AND (manager = ?1 OR manager IS NULL)")                             \
	X(MANAGER_LOSE, "UPDATE attempts SET state = " A_LOST " WHERE state <= " A_STARTED         \
			" AND (manager = ?1 OR manager IS NULL)")                                  \
	X(MANAGER_REGISTER,                                                                        \
	  "INSERT INTO managers(node_id, node_addr, api_addr, started_ms, lease_until_ms)"         \
	  " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(node_id) DO UPDATE SET"                         \
	  " node_addr = excluded.node_addr, api_addr = excluded.api_addr,"                         \
	  " started_ms = excluded.started_ms, lease_until_ms = excluded.lease_until_ms"            \
	  " RETURNING id")                                                                         \
	X(MANAGER_RENEW, "UPDATE managers SET lease_until_ms = ?2 WHERE id = ?1")                  \
	X(MANAGER_ADDRESSES, "UPDATE managers SET node_addr = ?2, api_addr = ?3 WHERE id = ?1")    \
	X(MANAGERS_EXPIRED, "SELECT id, node_id FROM managers WHERE lease_until_ms < ?1"           \
			    " AND id != ?2 ORDER BY id LIMIT 16")                                  \
	X(MANAGER_REMOVE, "DELETE FROM managers WHERE id = ?1 AND lease_until_ms < ?2")            \
	X(MANAGERS_LIST, "SELECT node_id, node_addr, api_addr, started_ms, lease_until_ms, id"     \
			 " FROM managers ORDER BY started_ms, node_id")                            \
	/* This manager's attempts in flight whose task another manager ended. */                  \
	X(ORPHANS, "SELECT a.id, a.worker FROM attempts a JOIN tasks t ON t.id = a.task_id"        \
		   " WHERE a.manager = ?1 AND a.state <= " A_STARTED " AND t.state != " T_RUNNING) \
	X(RESULTS, "SELECT t.idx, t.state, a.result, t.error_kind, t.error_detail,"                \
		   " t.error_stderr, w.node_id, t.attempts, t.failures, t.id, t.done_seq"          \
		   " FROM tasks t LEFT JOIN attempts a ON a.id = t.accepted"                       \
		   " LEFT JOIN workers w ON w.id = a.worker"                                       \
		   " WHERE t.job_id = ?1 AND t.idx >= ?2 ORDER BY t.idx LIMIT ?3")                 \
	X(RESULTS_AFTER, "SELECT t.idx, t.state, a.result, t.error_kind, t.error_detail,"          \
			 " t.error_stderr, w.node_id, t.attempts, t.failures, t.id, t.done_seq"    \
			 " FROM tasks t LEFT JOIN attempts a ON a.id = t.accepted"                 \
			 " LEFT JOIN workers w ON w.id = a.worker"                                 \
			 " WHERE t.job_id = ?1 AND t.done_seq > ?2 ORDER BY t.done_seq LIMIT ?3")  \
	X(TASK_RUNS, "SELECT a.state, w.node_id, a.assigned_ms, a.started_ms, a.finished_ms,"      \
		     " a.cpu_ms, a.error_kind FROM attempts a"                                     \
		     " LEFT JOIN workers w ON w.id = a.worker WHERE a.task_id = ?1 ORDER BY a.id") \
	X(EXPLAIN_LAST_ATTEMPT, "SELECT coalesce(max(id), 0) FROM attempts")                       \
	X(EXPLAIN_TROUBLE,                                                                         \
	  "SELECT CASE WHEN a.error_kind IS NULL THEN a.state ELSE 0 END,"                         \
	  " coalesce(a.error_kind, -1), count(*), count(DISTINCT a.worker), max(a.id)"             \
	  " FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.id > ?2 AND t.job_id = ?1"    \
	  " AND (a.error_kind IS NOT NULL OR a.state IN (" A_LOST ", " A_REFUSED "))"              \
	  " GROUP BY 1, 2 ORDER BY 3 DESC LIMIT ?3")                                               \
	X(EXPLAIN_DETAIL, "SELECT error_detail FROM attempts WHERE id = ?1")                       \
	X(EXPLAIN_AHEAD,                                                                           \
	  "SELECT j.id, j.priority FROM jobs j WHERE j.state = " J_RUNNING " AND j.id != ?1"       \
	  " AND (j.priority > ?2 OR (j.priority = ?2 AND j.id < ?1)) AND EXISTS(SELECT 1"          \
	  " FROM tasks t WHERE t.job_id = j.id AND t.want > 0)"                                    \
	  " ORDER BY j.priority DESC, j.id LIMIT ?3")                                              \
	X(WORKER_SHARE, "SELECT t.job_id, j.priority, count(*) FROM attempts a"                    \
			" JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = t.job_id"         \
			" WHERE a.worker = ?1 AND a.state <= " A_STARTED                           \
			" GROUP BY t.job_id, j.priority ORDER BY count(*) DESC LIMIT ?2")          \
	X(METRIC_JOBS, "SELECT state, count(*) FROM jobs GROUP BY state")                          \
	X(METRIC_TASKS,                                                                            \
	  "SELECT coalesce(sum(CASE WHEN state = " J_RUNNING " THEN remaining ELSE 0 END), 0),"    \
	  " coalesce(sum(n_completed), 0), coalesce(sum(n_failed), 0),"                            \
	  " coalesce(sum(CASE WHEN state = " J_CANCELLED " THEN n_tasks - n_completed - n_failed"  \
	  " ELSE 0 END), 0) FROM jobs")                                                            \
	X(METRIC_RUNNING,                                                                          \
	  "SELECT count(DISTINCT task_id) FROM attempts WHERE state <= " A_STARTED)                \
	X(METRIC_ASSIGNED, "SELECT count(*) FROM (SELECT task_id FROM attempts"                    \
			   " WHERE state <= " A_STARTED " GROUP BY task_id"                        \
			   " HAVING max(state) = " A_ASSIGNED ") AS q")                            \
	X(METRIC_IN_FLIGHT, "SELECT count(*) FROM attempts WHERE state <= " A_STARTED)             \
	X(WORKER_LOAD,                                                                             \
	  "SELECT coalesce(sum(CASE WHEN state = " A_STARTED " THEN 1 ELSE 0 END), 0),"            \
	  " count(*) FROM attempts"                                                                \
	  " WHERE worker = ?1 AND state <= " A_STARTED)

enum wg__jobs_stmt {
#define WG__STMT_ENUM(name, sql) WG__S_##name,
	WG__JOBS_STMTS(WG__STMT_ENUM)
#undef WG__STMT_ENUM
	    WG__S_COUNT
};

/* A worker as the core knows it. Never freed before the core is closed, so that node_id
 * pointers handed out in aborts stay valid. */
struct wg__worker {
	int64_t db_id;
	char *node_id;
	bool quarantined; /* gets no tasks until an operator clears it (jobs_trust.c) */
	int64_t *banned;  /* jobs it gets no tasks of: it was outvoted on one of their tasks */
	size_t n_banned;
	uint32_t running;    /* attempts in flight */
	uint32_t cap;	     /* UINT32_MAX: no cap */
	uint64_t max_memory; /* the most memory it gives a task, bytes; 0: not known */
	char **hashes;	     /* programs it holds (started or finished an attempt of) */
	size_t n_hashes;
};

struct wg_jobs {
	struct wg_store *store;
	/* This manager in the store's managers table; whether other managers may share the
	 * store (PostgreSQL), and then its lease and when it is next renewed and others'
	 * leases next checked. */
	int64_t manager_id;
	bool shared;
	uint32_t lease_ms;
	uint64_t renew_at;
	uint64_t (*clock_ms)(void *user);
	void *clock_user;
	uint32_t start_grace_ms;
	struct wg__worker **workers; /* indexed by db_id; NULL holes */
	size_t workers_cap;
	/* The same by node id: an open-addressing table of db_ids (0: empty), a power of two
	 * at least twice as large as the workers known. */
	int64_t *by_node;
	size_t by_node_cap, n_workers;
	struct wg_jobs_abort *aborts; /* outbox, see wg_jobs_take_aborts */
	size_t n_aborts, aborts_cap;
	struct wg_jobs_metrics counters; /* only the event counters are used */
};

uint64_t wg__jobs_now(struct wg_jobs *j);
/* The random seed of a task's attempts: derived from (job id, index), equal for replicas. */
uint64_t wg__task_seed(uint64_t job_id, uint32_t index);
struct wg_stmt *wg__stmt(struct wg_jobs *j, enum wg__jobs_stmt id);
/* The worker with this node id, created (in the database too) when new; NULL on a database
 * error. */
struct wg__worker *wg__worker_get(struct wg_jobs *j, const char *node_id);
/* The worker with this node id if known, without touching the database. */
struct wg__worker *wg__worker_find(struct wg_jobs *j, const char *node_id);
struct wg__worker *wg__worker_by_id(struct wg_jobs *j, int64_t db_id);
/* Records that the worker holds the program; 0 or WG_EDB. */
int wg__worker_add_program(struct wg_jobs *j, struct wg__worker *w, const char *hash);
void wg__abort_push(struct wg_jobs *j, int64_t worker_db_id, uint64_t attempt_id);
/* Re-derives a task's state from its attempts: accepts a result when a quorum agrees, fails
 * it past max_failures, otherwise sets how many more attempts it wants. Finishing a task
 * aborts its other attempts and may finish its job. 0 or WG_EDB. */
int wg__task_reconcile(struct wg_jobs *j, int64_t task_id);
/* The completed attempts of a task, in attempt order, each with the BLAKE2b digest of its
 * result (results are compared by digest); *out is the caller's to free. 0 or WG_EDB. */
struct wg__result_row {
	int64_t id, worker;
	uint8_t digest[32];
};
int wg__task_result_rows(struct wg_jobs *j, int64_t task, struct wg__result_row **out, size_t *n);

/* What happens to a worker's attempts, counted in its row (its reputation). The values are
 * those of WORKER_OUTCOME. */
enum wg__outcome {
	WG__OUT_AGREED,	   /* its result was the accepted one of a replicated task */
	WG__OUT_DISAGREED, /* a quorum outvoted its result */
	WG__OUT_ERROR,
	WG__OUT_TIMEOUT,
	WG__OUT_REFUSED,
	WG__OUT_LOST, /* in flight when it was lost */
};
/* Counts n outcomes for the worker (jobs_trust.c). 0 or WG_EDB. */
int wg__worker_outcome(struct wg_jobs *j, int64_t worker, enum wg__outcome o, int64_t n);
/* A replicated task of `job` was completed with attempt `accepted`: every worker whose
 * result agreed earns trust; one whose result was outvoted gets no more tasks of the job,
 * and past WG_QUARANTINE_STRIKES none at all. */
int wg__judge_replicas(struct wg_jobs *j, int64_t task, int64_t job, int64_t accepted);
/* A replica that came after its task was completed: judged against the accepted result. */
int wg__judge_late(struct wg_jobs *j, int64_t task, int64_t job, int64_t worker,
		   const uint8_t *result, size_t len);
/* Whether the worker may get tasks of the job (not quarantined, not banned from it). */
bool wg__worker_may_run(const struct wg__worker *w, int64_t job);
/* Loads a worker's quarantine and bans into memory (at first sight). 0 or WG_EDB. */
int wg__worker_load_trust(struct wg_jobs *j, struct wg__worker *w);

/* Every attempt in flight sent by the manager `manager` (a managers.id) becomes lost and
 * its task is reconciled: this manager's own at open, a dead one's when its lease ran out.
 * How many tasks into *n_tasks (may be NULL). */
int wg__lose_manager_in_flight(struct wg_jobs *j, int64_t manager, size_t *n_tasks);
/* Managers of the store other than this one whose lease ended before `now`: removed, their
 * attempts in flight lost and their tasks queued again. 0 or WG_EDB. */
int wg__take_back_managers(struct wg_jobs *j, uint64_t now);
/* On a shared store, what wg_jobs_tick does besides deadlines: renews this manager's lease,
 * takes back the attempts of managers whose lease ran out, aborts this manager's attempts
 * whose task another manager ended. 0 or WG_EDB. */
int wg__managers_tick(struct wg_jobs *j, uint64_t now_ms);

#endif
