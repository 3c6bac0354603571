/* State shared by the manager's modules (manager.c: node connections and relationships;
 * api.c: HTTP routes). Not for use outside src/manager/. */
#ifndef WG_MANAGER_INTERNAL_H
#define WG_MANAGER_INTERNAL_H
#include <stdbool.h>
#include <uv.h>

#include "http/server.h"
#include "manager/manager.h"
#include "net/link.h"
#include "node/authz.h"
#include "node/identity.h"
#include "node/peer.h"
#include "node/relation.h"
#include "node/rpc.h"

struct wg_http_server;
struct wg_jobs;
struct job_waiter;

struct wg_manager {
	uv_loop_t *loop;
	const struct wg_manager_options *opts;
	struct wg_identity id;
	struct wg_authz *authz;
	struct wg_rel rel;
	struct wg_listener *listener;
	struct wg_http_server *http;
	char *api_token; /* from --api-token-file, or NULL */
	/* Where workers and users reach this manager, as it registers in the store (the
	 * listeners' addresses with their bound ports, or --advertise); NULL until bound. */
	char *node_addr, *api_addr;
	struct wg_peer *peers; /* every connected peer, partner or not */
	uv_signal_t sigint, sigterm;
	int stopping;
	int exit_status;
	/* The job core (dispatch.c owns it). */
	struct wg_jobs *jobs;
	uv_timer_t tick_timer; /* overdue attempts and worker rates, four times a second */
	uint32_t ticks;
	/* Cancels and removals leave work (wg_jobs_sweep) done one slice per loop turn while
	 * there is some, so that a million-task job never holds the loop. */
	uv_idle_t sweep;
	/* Runs once per loop iteration, after every callback of that iteration: commits the
	 * iteration's events in one transaction, then acknowledges them, then schedules. */
	uv_prepare_t flush;
	bool kick_armed;	  /* scheduling wanted at the next flush */
	bool txn_open;		  /* events of this iteration await their commit */
	bool tasks_finished;	  /* ... and some of them finished tasks */
	struct pending_ack *acks; /* answers owed once the transaction commits */
	size_t n_acks, cap_acks;
	struct job_waiter *waiters; /* GET /v1/jobs/ID?wait=MS requests held open */
	/* API requests that came while a transaction was open, run once it is committed, so
	 * that every answer describes committed state (first to come first). */
	struct deferred_request *deferred, **deferred_tail;
	/* Answers of API requests that wrote into the turn's transaction, owed once it is
	 * committed (POST /v1/jobs: the job and its first assignments commit together). */
	struct committed_answer *answers, **answers_tail;
	/* The job store failed (a full disk, an I/O error): it is closed (jobs NULL) and
	 * reopened every few seconds; meanwhile the API answers 503 and no worker attaches. */
	bool core_failed;
	uv_timer_t reopen_timer;
};

/* An Ack owed to a worker for a report, sent once the report is committed. */
struct pending_ack {
	struct wg_peer *peer;
	uint64_t id;
};

/* Dispatch (dispatch.c): the job core driven by node events. */
int wg__dispatch_start(struct wg_manager *m);
/* Opens the job store (`first`: at start-up, reporting failures on stderr). */
int wg__dispatch_open(struct wg_manager *m, bool first);
/* Closes a failed job store: what was not committed is dropped, waiters answered. */
void wg__dispatch_close_core(struct wg_manager *m);
void wg__dispatch_stop(struct wg_manager *m);
/* Opens the loop turn's transaction (committed at the end of the turn) unless it is open;
 * false when the store failed (it is then being reopened). */
bool wg__dispatch_open_turn(struct wg_manager *m);
/* Something changed (a job arrived, a slot freed): hand out tasks soon. */
void wg__dispatch_kick(struct wg_manager *m);
/* Cancels and removals left work: do it, a slice per loop turn. */
void wg__dispatch_sweep(struct wg_manager *m);
/* Sends TasksAbort for whatever the job core wants aborted. */
void wg__dispatch_flush_aborts(struct wg_manager *m);
void wg__dispatch_worker_attached(struct wg_manager *m, struct wg_peer *peer);
void wg__dispatch_worker_gone(struct wg_manager *m, struct wg_peer *peer);
/* The peer's connection is going away: forget what we owed it. */
void wg__dispatch_peer_closed(struct wg_manager *m, struct wg_peer *peer);
/* Answers the GET /v1/jobs/ID?wait requests whose job finished or whose wait ran out
 * (api_jobs.c); `all` answers every one (the manager stops). */
void wg__api_wake_waiters(struct wg_manager *m, bool all);
/* TaskStarted, TaskError, TaskCompleted and ProgramFetch from one of our workers. */
void wg__dispatch_request(struct wg_manager *m, struct wg_peer *peer, uint64_t id,
			  const wg_frame *req);
/* The job core failed to store something: the store is closed and reopened until it works
 * again (what was committed survives; workers are let go and re-send what was not). */
void wg__manager_fatal(struct wg_manager *m, const char *what, int rc);
/* Answers 503 when the job store is down (returns true); false when it is up. */
struct wg_http_request;
/* Whether a job route may read or change the job store now: false when it has answered
 * 503 (the store is down) or has put the request aside, to run `handler` again once the
 * open transaction is committed (wg__api_run_deferred). */
bool wg__api_core_ready(struct wg_manager *m, struct wg_http_request *req,
			wg_http_handler_cb handler);
/* Runs the requests put aside by wg__api_core_ready (after a commit, or once the store is
 * closed, when they answer 503). */
void wg__api_run_deferred(struct wg_manager *m);
/* Sends the answers of requests whose changes went into the turn's transaction, once it is
 * committed (`committed`), or 503 when it was not. */
void wg__api_answer_committed(struct wg_manager *m, bool committed);

/* The HTTP API (api.c). */
int wg__manager_api_start(struct wg_manager *m, int *bound_port);
void wg__manager_api_stop(struct wg_manager *m);

/* The job routes (api_jobs.c), listed in api.c's route table; `user` is the manager. */
struct wg_http_request;
struct wg_buf;
void wg__api_post_program(struct wg_http_request *req, void *user);
void wg__api_post_job(struct wg_http_request *req, void *user);
void wg__api_list_jobs(struct wg_http_request *req, void *user);
void wg__api_get_job(struct wg_http_request *req, void *user);
void wg__api_job_results(struct wg_http_request *req, void *user);
void wg__api_cancel_job(struct wg_http_request *req, void *user);
void wg__api_retry_job(struct wg_http_request *req, void *user);
/* GET /v1/jobs/ID/explain (api_explain.c): why a job's, or a task's, tasks wait. */
void wg__api_explain_job(struct wg_http_request *req, void *user);
/* What the job routes share. A job-core failure that is not the client's fault: 500, and a
 * database error makes the manager close and reopen its store. */
/* Answers 503 and returns true while the job store is closed (being reopened). */
bool wg__api_core_down(struct wg_manager *m, struct wg_http_request *req);
void wg__api_core_error(struct wg_manager *m, struct wg_http_request *req, const char *what,
			int rc);
/* Parses the {id} path parameter; answers 400 and returns -1 when it is not a job id. */
int wg__api_job_id(struct wg_http_request *req, uint64_t *id);
/* 404 for a job this manager does not hold. */
void wg__api_unknown_job(struct wg_http_request *req, uint64_t id);
/* Parses an optional unsigned query parameter; answers 400 and returns -1 when malformed. */
int wg__api_query_u32(struct wg_http_request *req, const char *name, uint32_t dflt, uint32_t max,
		      uint32_t *out);
/* Dispatch's view of an attached worker: the attempts it may have in flight (its slots and
 * a queue) and how long it is still held back after refusing tasks (0: not). */
struct wg_peer;
void wg__dispatch_worker_view(struct wg_manager *m, struct wg_peer *p, uint32_t *cap,
			      uint64_t *cooldown_ms);
/* Appends the job core's metrics in Prometheus text format; 0 or a job-core error. */
int wg__api_jobs_metrics(struct wg_manager *m, struct wg_buf *out);

#endif
