/* The manager's job core: programs, jobs, tasks, attempts and results, kept in SQLite so
 * that a killed manager resumes where it was, and the decisions of what runs where.
 *
 * It has no network and no event loop. The daemon feeds it events (a job submitted, a worker
 * with free slots, a task started, completed, failed, a worker lost, a clock tick) and
 * carries out what it returns (TaskSpecs to send, attempts to abort). Every event is
 * committed to the database before the call returns, so the daemon only ever acts on
 * durable state: a result is stored before it is acknowledged. To commit the many events of
 * one socket read in one transaction, wrap them in wg_jobs_begin() / wg_jobs_commit().
 *
 * Identifiers: a job id is a positive 64-bit integer (1, 2, 3...; never reused). An attempt
 * id is a positive 64-bit integer unique over the whole database and never reused: it is the
 * wire `task_id`, and the replicas of one task are different attempts. Worker node ids are
 * strings (the hex public key); this module does not parse them.
 *
 * Times are Unix milliseconds. Error kinds are the numbers of the wire enum ErrorKind
 * (node/error_kind.h names them).
 *
 * Database errors are sticky (see manager/store.h): after one, every call returns WG_EDB and
 * the daemon should exit; a restart recovers from the last commit. See docs/jobs.md. */
#ifndef WG_MANAGER_JOBS_H
#define WG_MANAGER_JOBS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/histogram.h"
#include "util/limits.h"

struct wg_jobs;

/* What a job may ask for is checked at submission against util/limits.h; stored error
 * details and stderr tails are cut to WG_ERROR_DETAIL_BYTES and WG_STDERR_TAIL_BYTES. */

enum wg_job_state { WG_JOB_RUNNING, WG_JOB_COMPLETED, WG_JOB_FAILED, WG_JOB_CANCELLED };
enum wg_task_state {
	WG_TASK_QUEUED,	   /* waits for a worker (no attempt in flight) */
	WG_TASK_RUNNING,   /* at least one attempt is in flight */
	WG_TASK_COMPLETED, /* a result was accepted */
	WG_TASK_FAILED,	   /* failures exceeded max_failures */
	WG_TASK_CANCELLED,
	WG_TASK_STATE_COUNT
};
enum wg_attempt_state {
	WG_ATTEMPT_ASSIGNED = 1, /* sent to a worker (in flight) */
	WG_ATTEMPT_STARTED,	 /* the worker said TaskStarted (in flight) */
	WG_ATTEMPT_COMPLETED,	 /* returned a result */
	WG_ATTEMPT_ERROR,	 /* returned an error */
	WG_ATTEMPT_LOST,	 /* its worker vanished, or the manager restarted */
	WG_ATTEMPT_ABORTED,	 /* we told the worker to stop (overdue, cancelled, not needed) */
	WG_ATTEMPT_REFUSED,	 /* the worker refused it (TasksRefused) */
};

const char *wg_job_state_name(enum wg_job_state s);	    /* "running", "completed"... */
const char *wg_task_state_name(enum wg_task_state s);	    /* "queued", "running"... */
const char *wg_attempt_state_name(enum wg_attempt_state s); /* "assigned", "started"... */

/* Options of a job. Fill with wg_job_options_init() (the defaults), then change fields. */
struct wg_job_options {
	uint32_t timeout_ms;   /* per attempt; default 60 s */
	uint64_t memory_bytes; /* WebAssembly memory limit; default 256 MiB */
	uint64_t result_bytes; /* stdout limit; default 1 MiB */
	int32_t priority;      /* higher runs first; default 0 */
	uint32_t max_failures; /* the task fails at max_failures + 1 failures; default 3 */
	uint32_t redundancy;   /* replicas per task, k; default 1 */
	uint32_t quorum;       /* identical results needed; 0 means k/2 + 1 */
	/* A label for people ("" none): UTF-8 without control characters, at most
	 * WG_MAX_JOB_NAME_BYTES bytes. Not unique. */
	char name[WG_MAX_JOB_NAME_BYTES + 1];
};
void wg_job_options_init(struct wg_job_options *o);
/* Whether `len` bytes at `name` make a valid job name (see wg_job_options.name). */
bool wg_job_name_valid(const char *name, size_t len);

struct wg_jobs_options {
	/* The clock for created/finished/assigned times; NULL: the real-time clock. Tests
	 * give their own. wg_jobs_tick() and wg_jobs_started() take their time explicitly. */
	uint64_t (*clock_ms)(void *user);
	void *clock_user;
	/* How long an attempt may stay assigned without TaskStarted before it is overdue
	 * (download and compilation happen in that time), on top of its timeout; 0: 120 s. */
	uint32_t start_grace_ms;
	/* This manager as it registers in the store, where several managers may share one
	 * (PostgreSQL): its node id (hex; NULL: "local", for tests and tools) and the addresses
	 * workers and users reach it at (NULL: ""). Its attempts are its own: it recovers them
	 * at open, and others take them back when it stops renewing its lease. */
	const char *node_id, *node_addr, *api_addr;
	/* How long the lease lasts unrenewed (wg_jobs_tick renews it every third of that);
	 * 0: WG_DEFAULT_LEASE_MS. Managers on one store need clocks that agree to well within
	 * it (NTP). */
	uint32_t lease_ms;
};

/* Opens the database at `path` (created when missing). Attempts that were in flight when the
 * previous process died are marked lost and their tasks queued again. On failure returns
 * WG_EDB (or WG_EINVAL) and fills `why` (why_len bytes; may be NULL) with a message naming
 * the file and the reason. `opts` may be NULL. */
int wg_jobs_open(const char *path, const struct wg_jobs_options *opts, struct wg_jobs **out,
		 char *why, size_t why_len);
void wg_jobs_close(struct wg_jobs *j);
/* The store, for logs: its engine and version ("SQLite 3.40.1", "PostgreSQL 15.18") and
 * where it is (the file, or the URI without its password). */
const char *wg_jobs_store_version(const struct wg_jobs *j);
/* The managers registered in the store (several may share a PostgreSQL store), the oldest
 * first: this one is `self`; `live` while its lease runs (this one always). */
struct wg_jobs_manager {
	char *node_id, *node_addr, *api_addr;
	uint64_t started_ms, lease_until_ms;
	bool live, self;
};
int wg_jobs_managers(struct wg_jobs *j, struct wg_jobs_manager **out, size_t *n);
void wg_jobs_managers_free(struct wg_jobs_manager *m, size_t n);
/* A worker's reputation, by node id, kept across restarts (docs/jobs.md, "Trust"): its
 * outcomes; strikes, results a quorum outvoted since it was last cleared; quarantined (from
 * quarantined_ms, why in reason) once they reach WG_QUARANTINE_STRIKES; banned_jobs, jobs it
 * gets no more tasks of (it was outvoted on one of their tasks). */
struct wg_jobs_trust {
	uint64_t agreed, disagreed, errors, timeouts, refused, lost, strikes;
	bool quarantined;
	uint64_t quarantined_ms;
	char reason[160];
	size_t banned_jobs;
};
/* WG_ENOTFOUND for a worker this manager has not seen since it opened the store. */
int wg_jobs_worker_reputation(struct wg_jobs *j, const char *node_id, struct wg_jobs_trust *out);
/* Whether the worker, known to this manager, gets no more tasks of the job (a quorum
 * outvoted it on one of them). */
bool wg_jobs_worker_banned(struct wg_jobs *j, const char *node_id, uint64_t job_id);
/* An operator lets a quarantined worker work again: no quarantine, no strikes, no bans (its
 * counts stay). 0 or WG_EDB. */
int wg_jobs_worker_clear(struct wg_jobs *j, const char *node_id);
/* Records where this manager is reached (once its listeners are bound). 0 or WG_EDB. */
int wg_jobs_set_addresses(struct wg_jobs *j, const char *node_addr, const char *api_addr);
const char *wg_jobs_store_name(const struct wg_jobs *j);

/* Groups the events that follow into one transaction, committed by wg_jobs_commit(). Without
 * them each event commits on its own. The daemon must not act on the events' outputs (send
 * tasks, acknowledge results) before wg_jobs_commit() returned 0. */
int wg_jobs_begin(struct wg_jobs *j);
int wg_jobs_commit(struct wg_jobs *j);

/* ---- programs ---- */

/* Stores a program; writes its hash (BLAKE2b-256, 64 hex digits and a NUL) into hash_out.
 * Storing the same bytes again is not an error. Copies the bytes. WG_ETOOBIG over
 * WG_MAX_PROGRAM_BYTES. */
int wg_jobs_program_put(struct wg_jobs *j, const uint8_t *bytes, size_t len, char hash_out[65]);
/* Reads up to `max` bytes of a stored program from `offset` into `buf`; *n_out gets the
 * count and *total_out the program's size. WG_ENOTFOUND when the bytes are not stored here
 * (unknown hash, or a job that named an external address); WG_EINVAL for an offset past
 * the end. */
int wg_jobs_program_read(struct wg_jobs *j, const char *hash, uint64_t offset, uint8_t *buf,
			 size_t max, size_t *n_out, uint64_t *total_out);

/* ---- jobs ---- */

/* One task's argument: `len` bytes at `data` (copied). */
struct wg_jobs_arg {
	const uint8_t *data;
	size_t len;
};

/* Submits a job: one task per argument, all inserted in one transaction. `hash` is the
 * program's hash (64 hex digits); `addresses` (1 to WG_MAX_ADDRESSES strings, copied)
 * say where workers fetch it (for a stored program the daemon passes
 * "wasmgrid://NODEID/HASH"). `opts` NULL: defaults. A job with no argument is completed at
 * once. WG_EINVAL for a bad hash, option or size (nothing is stored). */
int wg_jobs_submit(struct wg_jobs *j, const char *hash, const char *const *addresses,
		   size_t n_addresses, const struct wg_job_options *opts,
		   const struct wg_jobs_arg *args, size_t n_args, uint64_t *job_id);

/* Cancels a running job: its queued and running tasks become cancelled, and its attempts in
 * flight are queued for abort (wg_jobs_take_aborts). *n_aborts (may be NULL) gets their
 * number. Cancelling a finished job changes nothing. WG_ENOTFOUND for an unknown job. */
int wg_jobs_cancel(struct wg_jobs *j, uint64_t job_id, size_t *n_aborts);

/* ---- workers and scheduling ---- */

/* The manager's cap on how many attempts a worker runs at once (its declared slots capped by
 * the manager's configuration and by what it observes). Until set: no cap. */
/* The most memory the worker gives one task (its --memory, from its ManagerRequest; 0: not
 * known). A job asking more is not offered to it: it would only refuse. */
int wg_jobs_worker_set_memory(struct wg_jobs *j, const char *node_id, uint64_t bytes);
int wg_jobs_worker_set_cap(struct wg_jobs *j, const char *node_id, uint32_t cap);
/* Attempts this module counts in flight on the worker (0 for an unknown worker). */
uint32_t wg_jobs_worker_running(struct wg_jobs *j, const char *node_id);
/* The worker's attempts in flight as the store has them, split: *assigned sent and not
 * started, *started the worker said TaskStarted for (both 0 for an unknown worker). For
 * /metrics; reads only. */
int wg_jobs_worker_load(struct wg_jobs *j, const char *node_id, uint64_t *assigned,
			uint64_t *started);
/* Whether the worker has started or finished an attempt of this program (so it holds the
 * program compiled); remembered across restarts. */
bool wg_jobs_worker_has_program(struct wg_jobs *j, const char *node_id, const char *hash);

/* What the daemon sends to a worker as one TaskSpec. */
struct wg_assignment {
	uint64_t attempt_id; /* the wire task_id */
	uint64_t job_id;
	uint32_t index; /* the task's index in its job */
	char program_hash[65];
	char **addresses;
	size_t n_addresses;
	uint8_t *argument;
	size_t argument_len;
	uint32_t timeout_ms;
	uint64_t memory_bytes;
	uint64_t result_bytes;
	uint64_t random_seed; /* from (job id, index): equal for the replicas of one task */
};

/* The worker has `free_slots` free: assigns it up to min(free_slots, cap - running)
 * attempts, jobs by priority then submission order, tasks by index, never two replicas of
 * one task to the same worker. The attempts are committed as assigned (unless inside
 * wg_jobs_begin) before this returns. *out (NULL when *n is 0) is freed by the caller with
 * wg_assignments_free(). */
int wg_jobs_assign(struct wg_jobs *j, const char *node_id, uint32_t free_slots,
		   struct wg_assignment **out, size_t *n);
void wg_assignments_free(struct wg_assignment *a, size_t n);

/* Among candidate workers (node ids with the free slots the daemon knows of), the one that
 * should get work next: one holding the program of the next queued task is preferred, then
 * the one with the most free slots after this module's cap. Sets *chosen to its position.
 * WG_ENOTFOUND when nothing is queued or no candidate has room. */
int wg_jobs_pick_worker(struct wg_jobs *j, const char *const *node_ids, const uint32_t *free_slots,
			size_t n, size_t *chosen);

/* ---- events from workers ----
 * Each reports through *applied (may be NULL) whether it changed anything: a duplicate, an
 * unknown attempt, an attempt of another worker, or an answer for an attempt no longer
 * wanted is ignored (return 0, *applied false). The daemon acknowledges either way. */

/* started_ms may come from the worker's clock (TaskStarted.datetime): it is clamped to
 * [assigned time, now], so a skewed or missing (0) time cannot make an attempt overdue at
 * once or never. */
int wg_jobs_started(struct wg_jobs *j, const char *node_id, uint64_t attempt_id,
		    uint64_t started_ms, bool *applied);
/* Stores the result (copied) and, when enough replicas agree, accepts it for the task. A
 * result from a lost attempt is accepted when the task still wants one. A result over the
 * job's result limit is recorded as a ResourceLimit error. */
int wg_jobs_completed(struct wg_jobs *j, const char *node_id, uint64_t attempt_id,
		      const uint8_t *result, size_t len, uint64_t cpu_ms, bool *applied);
/* Counts a failure; the task is queued again or, past max_failures, fails with this error.
 * detail (may be NULL) and stderr_tail are copied, cut to the limits above. */
int wg_jobs_error(struct wg_jobs *j, const char *node_id, uint64_t attempt_id, int kind,
		  const char *detail, const uint8_t *stderr_tail, size_t stderr_len,
		  uint64_t cpu_ms, bool *applied);
/* The worker refused the attempt (TasksRefused): queued again, no failure counted. */
int wg_jobs_refused(struct wg_jobs *j, const char *node_id, uint64_t attempt_id, bool *applied);
/* The worker's connection dropped or it missed its pings: its attempts in flight become
 * lost and their tasks are queued again without a failure. *n_lost may be NULL. */
int wg_jobs_worker_lost(struct wg_jobs *j, const char *node_id, size_t *n_lost);

/* Up to `max` attempts in flight on the worker that were assigned before `before_ms`, to ask
 * it about them with TasksPing. *out (NULL when *n is 0) is freed by the caller. */
int wg_jobs_worker_in_flight(struct wg_jobs *j, const char *node_id, uint64_t before_ms, size_t max,
			     uint64_t **out, size_t *n);

/* Attempts in flight past their deadline (started + timeout + 5 s + 10 %, or assigned +
 * start grace + that when never started) are aborted: each counts a TimedOut failure and is
 * queued for abort. *n_overdue may be NULL. */
int wg_jobs_tick(struct wg_jobs *j, uint64_t now_ms, size_t *n_overdue);

/* Attempts the daemon must abort (send TasksAbort to each worker), accumulated by any
 * event: overdue attempts, cancelled jobs, replicas no longer needed once a task is done.
 * Sorted by worker. The node_id strings stay valid until wg_jobs_close(); the array is freed
 * by the caller with free(). Aborts are not durable: after a restart every attempt that was
 * in flight is lost anyway. */
struct wg_jobs_abort {
	const char *node_id;
	uint64_t attempt_id;
};
void wg_jobs_take_aborts(struct wg_jobs *j, struct wg_jobs_abort **out, size_t *n);

/* ---- queries ---- */

struct wg_job_info {
	uint64_t id;
	char program_hash[65];
	enum wg_job_state state;
	struct wg_job_options options; /* quorum resolved */
	uint64_t created_ms;
	uint64_t finished_ms; /* 0 while running */
	uint64_t n_tasks;
	uint64_t counts[WG_TASK_STATE_COUNT]; /* tasks per enum wg_task_state */
	/* Of counts[WG_TASK_RUNNING], the tasks sent to workers that none has started yet
	 * (waiting in a worker's queue, or on their way): shown as "assigned". */
	uint64_t assigned;
};

/* Removes a finished job and everything of it: the job at once (it is then unknown,
 * WG_ENOTFOUND), its tasks, attempts and results by wg_jobs_sweep. WG_EBUSY while it runs
 * (cancel it first), WG_ENOTFOUND for an unknown job. */
int wg_jobs_remove(struct wg_jobs *j, uint64_t job_id);
/* Queues the failed tasks of a job again, each with its failures counted from 0 (its
 * attempts and their errors stay in its history): the job is running again at once, and
 * *n_tasks (may be NULL) gets how many tasks it took back; the tasks are queued by
 * wg_jobs_sweep, a slice at a time. A job without failed tasks changes nothing (*n_tasks
 * 0). WG_EBUSY for a cancelled job (nothing of it is to run again), WG_ENOTFOUND for an
 * unknown one. */
int wg_jobs_retry(struct wg_jobs *j, uint64_t job_id, uint64_t *n_tasks);
/* Removes up to `max` jobs that finished before `before_ms` (--keep-finished). */
int wg_jobs_remove_finished_before(struct wg_jobs *j, uint64_t before_ms, size_t max,
				   size_t *n_removed);
/* Does one slice of the work that cancels, removals and retries leave, at most max_rows tasks, in
 * one transaction; *more says whether work is left. So that no call holds the caller's
 * loop for long whatever the size of a job; the work survives a restart. */
int wg_jobs_sweep(struct wg_jobs *j, size_t max_rows, bool *more);

/* Only the state of a job: cheap, unlike wg_jobs_status, which counts its tasks.
 * WG_ENOTFOUND for an unknown job. */
int wg_jobs_state(struct wg_jobs *j, uint64_t job_id, enum wg_job_state *state);
/* The same, and the number of the job's last task to end (see wg_task_result.seq; 0: none
 * yet), as cheaply: what a follower of wg_jobs_results_after needs to know. */
int wg_jobs_progress(struct wg_jobs *j, uint64_t job_id, enum wg_job_state *state,
		     uint64_t *last_seq);
/* WG_ENOTFOUND for an unknown job. Counting the tasks by state walks them all (about 50 ms
 * for a million). */
int wg_jobs_status(struct wg_jobs *j, uint64_t job_id, struct wg_job_info *out);
/* The same without the counts and the assigned tasks (left 0): cheap whatever the job's
 * size, for the pages of its results. */
int wg_jobs_header(struct wg_jobs *j, uint64_t job_id, struct wg_job_info *out);
/* Which jobs wg_jobs_list gives: those in the states of `states` (bits 1 << enum
 * wg_job_state; 0: any), at most `limit` of them (0: all). */
struct wg_jobs_filter {
	unsigned states;
	size_t limit;
};
/* The jobs `f` lets through (NULL: every job), newest first; *out freed by the caller with
 * free(). */
int wg_jobs_list(struct wg_jobs *j, const struct wg_jobs_filter *f, struct wg_job_info **out,
		 size_t *n);

/* One task's outcome. Pointers are valid only during the callback. */
/* One attempt of a task, for the results: where and when it ran. Times are Unix ms, 0 when
 * it did not get there (never started, still running). */
struct wg_attempt_run {
	enum wg_attempt_state state;
	const char *worker; /* node id */
	uint64_t assigned_ms, started_ms, finished_ms;
	uint64_t cpu_ms; /* as its worker reported it; 0: not known */
	int error_kind;	 /* for an attempt that ended in error */
};

struct wg_task_result {
	uint32_t index;
	enum wg_task_state state;
	const uint8_t *result; /* COMPLETED: the accepted result (len may be 0) */
	size_t result_len;
	int error_kind;		  /* the last error, when there was one: FAILED says why */
	const char *error_detail; /* "" when none */
	const uint8_t *stderr_tail;
	size_t stderr_len;
	const char *worker; /* node id of the accepted result's worker, or NULL */
	uint32_t attempts;  /* attempts made */
	uint32_t failures;
	const struct wg_attempt_run *runs; /* every attempt, oldest first */
	size_t n_runs;
	/* Its number in the order the job's tasks ended (completed or failed: 1, 2, 3...; a
	 * retried task gets a new one when it ends again); 0 while it has not. */
	uint64_t seq;
};
/* Return non-zero to stop (that value is returned). */
typedef int (*wg_jobs_result_cb)(const struct wg_task_result *r, void *user);
/* Calls cb for up to `limit` tasks (0: all) of the job from index `from`, in index order.
 * WG_ENOTFOUND for an unknown job. */
int wg_jobs_results(struct wg_jobs *j, uint64_t job_id, uint32_t from, uint32_t limit,
		    wg_jobs_result_cb cb, void *user);
/* The same for up to `limit` tasks (0: all) that ended after number `after`, in the order
 * they ended: following a job's results as they come (cancelled tasks are not among them). */
int wg_jobs_results_after(struct wg_jobs *j, uint64_t job_id, uint64_t after, uint32_t limit,
			  wg_jobs_result_cb cb, void *user);

/* ---- why tasks wait (wasmgrid explain) ---- */

/* Attempts of a job that went wrong, of one kind: an error kind (error_kind >= 0; the state
 * then says nothing more), or lost or refused attempts (error_kind -1). */
struct wg_jobs_trouble {
	enum wg_attempt_state state;
	int error_kind;
	uint64_t attempts, workers;
	char detail[256]; /* the latest one's error detail ("" when none) */
};
#define WG_JOBS_EXPLAIN_MAX 8
/* What the job core can say of a job's waiting tasks. Its attempts are looked at among the
 * store's latest `window` attempts only, so the answer costs the same for any size of job. */
struct wg_jobs_explain {
	uint64_t window;
	struct wg_jobs_trouble trouble[WG_JOBS_EXPLAIN_MAX]; /* the most frequent first */
	size_t n_trouble;
	/* Running jobs with tasks to send that are served before this one (higher priority,
	 * or the same and submitted earlier), in the order they are served. */
	struct {
		uint64_t job_id;
		int32_t priority;
	} ahead[WG_JOBS_EXPLAIN_MAX];
	size_t n_ahead;
};
/* WG_ENOTFOUND for an unknown job. */
int wg_jobs_explain(struct wg_jobs *j, uint64_t job_id, struct wg_jobs_explain *out);

/* The attempts in flight on a worker, per job (the most first), at most `max` jobs. */
struct wg_jobs_share {
	uint64_t job_id;
	int32_t priority;
	uint32_t attempts;
};
int wg_jobs_worker_share(struct wg_jobs *j, const char *node_id, struct wg_jobs_share *out,
			 size_t max, size_t *n);

/* Totals for /metrics. The event counters and histograms count since this process opened
 * the store (in memory: a restart starts them again at 0). */
struct wg_jobs_metrics {
	uint64_t jobs[4]; /* per enum wg_job_state */
	uint64_t tasks[WG_TASK_STATE_COUNT];
	uint64_t tasks_assigned; /* of tasks[WG_TASK_RUNNING], not started on any worker */
	uint64_t attempts_in_flight;
	uint64_t assigned, results, errors, lost, timed_out, refused; /* events */
	uint64_t commits; /* database transactions committed */
	/* Per attempt answered with a result or an error: from its start (TaskStarted, clamped
	 * to the manager's clock; its assignment when the worker never said it started) to
	 * the manager receiving the answer. */
	struct wg_histogram run_time;
	/* Per attempt assigned: from when its task began to want one (the job's submission,
	 * or the failure, loss or refusal that queued it again) to the assignment. */
	struct wg_histogram queue_wait;
};
int wg_jobs_metrics(struct wg_jobs *j, struct wg_jobs_metrics *out);

#endif
