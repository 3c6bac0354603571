/* Tasks (see engine.h). Programs are prepared in program.c and tasks run in runner
 * processes (runner.c); this file queues tasks behind their program, hands them to
 * runners and turns what a runner reported, or how it died, into one outcome. */
#include "engine/engine.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/time.h"
#include "wasmgrid.pb-c.h"

void wg_engine_hash_hex(const uint8_t *data, size_t len, char out[65])
{
	uint8_t h[32];
	crypto_generichash(h, sizeof h, data, len, NULL, 0);
	wg_hex_encode(h, sizeof h, out);
}

int wg_engine_tiers_parse(const char *name)
{
	if (!strcmp(name, "auto"))
		return WG_TIERS_AUTO;
	if (!strcmp(name, "quick"))
		return WG_TIERS_QUICK;
	if (!strcmp(name, "optimised") || !strcmp(name, "optimized"))
		return WG_TIERS_OPTIMISED;
	return -1;
}

/* ---- engine lifetime ---- */

static void on_kick(uv_timer_t *h);

/* Frees what the engine holds (also a half-made one, when creating it failed). */
static void engine_destroy(struct wg_engine *e)
{
	while (e->programs) {
		struct wg__program *p = e->programs;
		e->programs = p->next;
		wg__program_free(p);
	}
	for (size_t i = 0; i < e->n_fetchers; i++)
		free(e->fetchers[i].scheme);
	wg_sandbox_filter_free(&e->filter);
	free(e->wasm2c);
	free(e->cc);
	free(e->quick_cc);
	free(e->prlimit);
	free(e->programs_dir);
	free(e->cache_dir);
	free(e);
}

int wg_engine_create(uv_loop_t *loop, const struct wg_engine_options *o, struct wg_engine **out)
{
	if (!o || !o->data_dir)
		return WG_EINVAL;
	if (sodium_init() < 0)
		return WG_EINTERNAL;
	struct wg_engine *e = wg_calloc(1, sizeof *e);
	e->loop = loop;
	e->default_memory_bytes =
	    o->default_memory_bytes ? o->default_memory_bytes : WG_MIB(WG_DEFAULT_MEMORY_MIB);
	e->default_result_bytes =
	    o->default_result_bytes ? o->default_result_bytes : WG_DEFAULT_RESULT_BYTES;
	e->max_program_bytes = o->max_program_bytes ? o->max_program_bytes : WG_MAX_PROGRAM_BYTES;
	e->download_timeout_ms = o->download_timeout_ms ? o->download_timeout_ms : 60000;
	e->runner_idle_ms = o->runner_idle_ms ? o->runner_idle_ms : 30000;
	e->wasm2c = wg_strdup(o->wasm2c ? o->wasm2c : "wasm2c");
	e->cc = wg_strdup(o->cc ? o->cc : "cc");
	e->tiers = o->tiers;
	e->policy = o->fetch_policy;
	e->compile_cpu_s = o->compile_cpu_s ? o->compile_cpu_s : WG_DEFAULT_COMPILE_CPU_S;
	e->compile_memory_mib =
	    o->compile_memory_mib ? o->compile_memory_mib : WG_DEFAULT_COMPILE_MEMORY_MIB;
	e->runq_tail = &e->runq;
	int rc = wg__program_dirs_init(e, o->data_dir, o->quick_cc);
	if (rc) {
		engine_destroy(e);
		return rc;
	}
	uv_timer_init(loop, &e->kick);
	e->kick.data = e;
	e->pending++; /* the kick timer, released when it is closed */
	*out = e;
	return 0;
}

void wg__engine_release(struct wg_engine *e)
{
	if (--e->pending == 0 && e->closing)
		engine_destroy(e);
}

static void task_free(struct wg__task *t)
{
	wg_buf_free(&t->out);
	free(t->argument);
	free(t->early_detail);
	free(t);
}

static void on_kick_closed(uv_handle_t *h)
{
	wg__engine_release(h->data);
}

void wg_engine_free(struct wg_engine *e)
{
	if (!e)
		return;
	e->closing = 1;
	e->pending++; /* held while we tear down, so nothing frees e under us */
	for (struct wg__program *p = e->programs; p; p = p->next)
		wg__runners_stop(p);
	while (e->tasks) {
		struct wg__task *t = e->tasks;
		e->tasks = t->next;
		task_free(t);
	}
	e->runq = NULL;
	uv_close((uv_handle_t *)&e->kick, on_kick_closed);
	for (struct wg__program *p = e->programs; p; p = p->next)
		wg__program_cancel(p);
	wg__engine_release(e);
}

void wg_engine_set_fetcher(struct wg_engine *e, const char *scheme, wg_engine_fetch_fn fn,
			   void *user)
{
	for (size_t i = 0; i < e->n_fetchers; i++) {
		if (!strcmp(e->fetchers[i].scheme, scheme)) {
			e->fetchers[i].fn = fn;
			e->fetchers[i].user = user;
			return;
		}
	}
	if (e->n_fetchers == sizeof e->fetchers / sizeof e->fetchers[0])
		return;
	e->fetchers[e->n_fetchers++] = (struct wg__fetcher){wg_strdup(scheme), fn, user};
}

void wg_engine_get_stats(const struct wg_engine *e, struct wg_engine_stats *out)
{
	*out = e->stats;
}

bool wg_engine_building(const struct wg_engine *e)
{
	for (const struct wg__program *p = e->programs; p; p = p->next)
		if (p->state != WG__PROGRAM_READY || p->proc_busy || p->work_busy)
			return true;
	return false;
}

static struct wg__program *find_program(struct wg_engine *e, const char *hash)
{
	for (struct wg__program *p = e->programs; p; p = p->next)
		if (!strcmp(p->hash, hash))
			return p;
	return NULL;
}

int wg_engine_has_program(struct wg_engine *e, const char *hash_hex)
{
	struct wg__program *p = find_program(e, hash_hex);
	return p && p->state == WG__PROGRAM_READY;
}

/* ---- task lifetime ---- */

static void unlink_task(struct wg__task *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		t->engine->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->next = t->prev = NULL;
}

/* Delivers the outcome and frees the task. */
static void task_finish(struct wg__task *t, int kind, const char *detail, const uint8_t *tail,
			size_t tail_len, uint64_t cpu_ns)
{
	struct wg_engine *e = t->engine;
	unlink_task(t);
	if (t->state == WG__TASK_RUNNING)
		e->stats.tasks_running--;
	struct wg_engine_outcome o = {
	    .error_kind = kind,
	    .detail = detail ? detail : "",
	    .result = t->out.data,
	    .result_len = t->out.len,
	    .stderr_tail = tail_len ? tail : NULL,
	    .stderr_tail_len = tail_len,
	    .cpu_ms = (t->cpu_ns_before + cpu_ns) / 1000000u,
	};
	if (!e->closing)
		t->done(t->user, t->id, &o);
	task_free(t);
}

static const char *signal_name(int sig)
{
	const char *s = sigabbrev_np(sig);
	return s ? s : "?";
}

/* What the engine itself decided about a task, before any report: abort, timeout, flood.
 * Returns the kind, or 0. */
static int decided_kind(const struct wg__task *t, char *detail, size_t len)
{
	if (t->aborted) {
		snprintf(detail, len, "aborted");
		return WASMGRID__ERROR_KIND__ABORTED;
	}
	if (t->timed_out) {
		snprintf(detail, len, "timed out after %u ms", t->timeout_ms);
		return WASMGRID__ERROR_KIND__TIMED_OUT;
	}
	if (t->output_over) {
		snprintf(detail, len, "output exceeds the result limit of %llu bytes",
			 (unsigned long long)t->result_bytes);
		return WASMGRID__ERROR_KIND__RESOURCE_LIMIT;
	}
	return 0;
}

void wg__task_ended(struct wg__task *t, const struct wg_runner_end *st, const uint8_t *tail,
		    size_t tail_len, uint64_t cpu_ns)
{
	char detail[300];
	detail[0] = 0;
	int kind = decided_kind(t, detail, sizeof detail);
	char text[sizeof st->detail + 1];
	memcpy(text, st->detail, sizeof st->detail);
	text[sizeof st->detail] = 0;
	if (kind)
		;
	else if (st->report == WG_CHILD_EXIT) {
		if (st->code != 0) {
			kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
			snprintf(detail, sizeof detail, "exit status %u", st->code);
		}
	} else if (st->report == WG_CHILD_TRAP) {
		kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
		snprintf(detail, sizeof detail, "trap: %s", text);
	} else if (st->report == WG_CHILD_LIMIT) {
		kind = WASMGRID__ERROR_KIND__RESOURCE_LIMIT;
		snprintf(detail, sizeof detail, "%s", text);
	} else if (st->report == WG_CHILD_INVALID) {
		kind = WASMGRID__ERROR_KIND__INVALID_PROGRAM;
		snprintf(detail, sizeof detail, "%s", text);
	} else {
		kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
		snprintf(detail, sizeof detail, "sandbox failure: %s", text);
	}
	t->runner = NULL;
	task_finish(t, kind, detail, tail, tail_len, cpu_ns);
}

static void enqueue(struct wg__task *t);

void wg__task_runner_died(struct wg__task *t, int ws, uint64_t cpu_ns)
{
	char detail[300];
	detail[0] = 0;
	int kind = decided_kind(t, detail, sizeof detail);
	t->runner = NULL;
	if (!kind && t->restart) {
		/* Killed on the quick tier because the optimised one is here: run it again
		 * there, from the start (a task is a pure function of its input). */
		struct wg_engine *e = t->engine;
		t->restart = 0;
		t->cpu_ns_before += cpu_ns;
		t->out.len = 0;
		e->stats.tasks_running--;
		e->stats.tasks_restarted++;
		enqueue(t);
		return;
	}
	if (kind) {
		;
	} else if (WIFSIGNALED(ws)) {
		int sig = WTERMSIG(ws);
		if (sig == SIGXCPU || sig == SIGKILL) {
			/* A SIGKILL we did not send: the CPU hard limit or the OOM killer. */
			kind = WASMGRID__ERROR_KIND__RESOURCE_LIMIT;
			snprintf(detail, sizeof detail, "killed by a host limit (SIG%s)",
				 signal_name(sig));
		} else if (sig == SIGSYS) {
			kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
			snprintf(detail, sizeof detail,
				 "killed by the sandbox (forbidden system call)");
		} else {
			kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
			snprintf(detail, sizeof detail, "crashed (SIG%s)", signal_name(sig));
		}
	} else {
		kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
		snprintf(detail, sizeof detail, "sandbox exited with status %d and no report",
			 WEXITSTATUS(ws));
	}
	task_finish(t, kind, detail, NULL, 0, cpu_ns);
}

/* Hands a task to a runner; the started callback says the runner has it. */
static void task_launch(struct wg__task *t)
{
	struct wg_engine *e = t->engine;
	char why[200];
	if (t->prepare_only) {
		task_finish(t, 0, "", NULL, 0, 0);
		return;
	}
	if (wg__runner_start_task(t, why, sizeof why)) {
		task_finish(t, WASMGRID__ERROR_KIND__RESOURCE_LIMIT, why, NULL, 0, 0);
		return;
	}
	t->state = WG__TASK_RUNNING;
	e->stats.tasks_running++;
	if (t->launched)
		return; /* a restart: the caller was told once */
	t->launched = 1;
	e->stats.tasks_run++;
	if (t->started)
		t->started(t->user, t->id, wg_unix_ms());
}

/* Starts or ends every queued task. Callbacks may submit (queued for the next kick),
 * abort or free the engine. */
static void on_kick(uv_timer_t *h)
{
	struct wg_engine *e = h->data;
	while (e->runq && !e->closing) {
		struct wg__task *t = e->runq;
		e->runq = t->next_queued;
		if (!e->runq)
			e->runq_tail = &e->runq;
		t->next_queued = NULL;
		if (t->aborted)
			task_finish(t, WASMGRID__ERROR_KIND__ABORTED, "aborted", NULL, 0, 0);
		else if (t->early_kind)
			task_finish(t, t->early_kind, t->early_detail, NULL, 0, 0);
		else
			task_launch(t);
	}
}

static void enqueue(struct wg__task *t)
{
	struct wg_engine *e = t->engine;
	t->state = WG__TASK_QUEUED;
	t->next_queued = NULL;
	*e->runq_tail = t;
	e->runq_tail = &t->next_queued;
	if (!uv_is_active((uv_handle_t *)&e->kick))
		uv_timer_start(&e->kick, on_kick, 0, 0);
}

int wg_engine_submit(struct wg_engine *e, const struct wg_engine_task *d,
		     wg_engine_started_cb started, wg_engine_done_cb done, void *user)
{
	uint8_t raw_hash[32];
	if (!done || !d->hash_hex || strlen(d->hash_hex) != 64 ||
	    wg_hex_decode(d->hash_hex, raw_hash, sizeof raw_hash) || d->n_addresses == 0 ||
	    e->closing)
		return WG_EINVAL;
	for (struct wg__task *t = e->tasks; t; t = t->next)
		if (t->id == d->task_id)
			return WG_EEXISTS;
	struct wg__task *t = wg_calloc(1, sizeof *t);
	t->engine = e;
	t->id = d->task_id;
	t->argument = wg_malloc(d->argument_len + 1);
	if (d->argument_len)
		memcpy(t->argument, d->argument, d->argument_len);
	t->argument[d->argument_len] = 0;
	t->argument_len = d->argument_len;
	t->timeout_ms = d->timeout_ms;
	t->memory_bytes = d->memory_bytes ? d->memory_bytes : e->default_memory_bytes;
	t->result_bytes = d->result_bytes ? d->result_bytes : e->default_result_bytes;
	t->seed = d->random_seed;
	t->prepare_only = d->prepare_only;
	t->started = started;
	t->done = done;
	t->user = user;
	t->next = e->tasks;
	if (e->tasks)
		e->tasks->prev = t;
	e->tasks = t;

	char hash[65];
	wg_hex_encode(raw_hash, sizeof raw_hash, hash); /* normalised to lower case */
	struct wg__program *p = find_program(e, hash);
	int fresh = !p;
	if (fresh) {
		p = wg_calloc(1, sizeof *p);
		p->engine = e;
		memcpy(p->hash, hash, sizeof p->hash);
		p->addresses = wg_calloc(d->n_addresses, sizeof *p->addresses);
		for (size_t i = 0; i < d->n_addresses; i++)
			p->addresses[i] = wg_strdup(d->addresses[i]);
		p->n_addresses = d->n_addresses;
		p->waiting_tail = &p->waiting;
		p->next = e->programs;
		e->programs = p;
	}
	t->program = p;
	if (p->state == WG__PROGRAM_READY) {
		enqueue(t);
	} else {
		t->state = WG__TASK_WAITING;
		*p->waiting_tail = t;
		p->waiting_tail = &t->next_queued;
	}
	if (fresh)
		wg__program_start(p);
	return 0;
}

static void remove_waiting(struct wg__task *t)
{
	struct wg__program *p = t->program;
	for (struct wg__task **pp = &p->waiting; *pp; pp = &(*pp)->next_queued) {
		if (*pp == t) {
			*pp = t->next_queued;
			if (!*pp)
				p->waiting_tail = pp;
			return;
		}
	}
}

int wg_engine_abort(struct wg_engine *e, uint64_t task_id)
{
	for (struct wg__task *t = e->tasks; t; t = t->next) {
		if (t->id != task_id)
			continue;
		if (t->aborted)
			return 0;
		t->aborted = 1;
		if (t->state == WG__TASK_RUNNING) {
			wg__runner_kill(t->runner);
		} else if (t->state == WG__TASK_WAITING) {
			struct wg__program *p = t->program;
			remove_waiting(t);
			enqueue(t);
			if (p && !p->waiting)
				wg__program_unwanted(p);
		}
		/* A queued task ends as aborted when the kick reaches it. */
		return 0;
	}
	return WG_ENOTFOUND;
}

/* ---- program outcomes (called by program.c) ---- */

void wg__program_ready(struct wg__program *p)
{
	p->state = WG__PROGRAM_READY;
	struct wg__task *t = p->waiting;
	p->waiting = NULL;
	p->waiting_tail = &p->waiting;
	while (t) {
		struct wg__task *next = t->next_queued;
		enqueue(t);
		t = next;
	}
}

/* The waiting tasks fail with the program, and the program is forgotten so that a later
 * task (perhaps with a working address) tries again. */
void wg__program_failed(struct wg__program *p, int kind, const char *detail)
{
	struct wg_engine *e = p->engine;
	wg_warn(NULL, "program %.16s: %s", p->hash, detail);
	struct wg__task *t = p->waiting;
	while (t) {
		struct wg__task *next = t->next_queued;
		t->program = NULL;
		t->early_kind = kind;
		t->early_detail = wg_strdup(detail);
		enqueue(t);
		t = next;
	}
	for (struct wg__program **pp = &e->programs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	wg__program_free(p);
}
