/* Tasks and their sandboxed children (see engine.h). Programs are prepared in program.c;
 * this file queues tasks behind their program, forks one child per task, watches it
 * (its exit through a pidfd, its output through three pipes, its wall clock through a
 * timer) and turns what it saw into one outcome. */
#include "engine/engine.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/internal.h"
#include "engine/sandbox.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"
#include "wasmgrid.pb-c.h"

enum task_state {
	TASK_WAITING,  /* for its program */
	TASK_STARTING, /* program ready; the timer (at 0) will fork the child */
	TASK_RUNNING,  /* child alive or its pipes still open */
	TASK_DONE,     /* callback made; handles closing */
};

struct wg__task {
	struct wg_engine *engine;
	uint64_t id;
	struct wg__program *program;
	uint8_t *argument; /* with a NUL after argument_len */
	size_t argument_len;
	uint32_t timeout_ms;
	uint64_t memory_bytes, result_bytes, seed;
	wg_engine_started_cb started;
	wg_engine_done_cb done;
	void *user;
	enum task_state state;
	int aborted, timed_out, output_over;
	/* A failure decided before the child ran (program failed). */
	int early_kind;
	char *early_detail;

	pid_t pid;
	int pidfd;
	int exited, wait_status;
	struct rusage usage;
	uv_timer_t timer;
	uv_poll_t exit_poll;
	uv_pipe_t out_pipe, err_pipe, status_pipe;
	int open_streams;
	int open_handles; /* the task is freed when this reaches 0 after DONE */
	struct wg_buf out, err;
	struct wg_child_status status;
	size_t status_len;

	struct wg__task *next;	       /* in engine->tasks */
	struct wg__task *next_waiting; /* in program->waiting */
};

static uint64_t now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void wg_engine_hash_hex(const uint8_t *data, size_t len, char out[65])
{
	uint8_t h[32];
	crypto_generichash(h, sizeof h, data, len, NULL, 0);
	wg_hex_encode(h, sizeof h, out);
}

/* ---- engine lifetime ---- */

int wg_engine_create(uv_loop_t *loop, const struct wg_engine_options *o, struct wg_engine **out)
{
	if (!o || !o->data_dir)
		return WG_EINVAL;
	if (sodium_init() < 0)
		return WG_EINTERNAL;
	struct wg_engine *e = wg_calloc(1, sizeof *e);
	e->loop = loop;
	e->default_memory_bytes =
		o->default_memory_bytes ? o->default_memory_bytes : WG_ENGINE_DEFAULT_MEMORY_BYTES;
	e->default_result_bytes =
		o->default_result_bytes ? o->default_result_bytes : WG_ENGINE_DEFAULT_RESULT_BYTES;
	e->max_program_bytes = o->max_program_bytes ? o->max_program_bytes : 64ull << 20;
	e->download_timeout_ms = o->download_timeout_ms ? o->download_timeout_ms : 60000;
	e->wasm2c = wg_strdup(o->wasm2c ? o->wasm2c : "wasm2c");
	e->cc = wg_strdup(o->cc ? o->cc : "cc");
	int rc = wg__program_dirs_init(e, o->data_dir);
	if (rc) {
		free(e->wasm2c);
		free(e->cc);
		free(e->programs_dir);
		free(e->cache_dir);
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

static void engine_destroy(struct wg_engine *e)
{
	while (e->programs) {
		struct wg__program *p = e->programs;
		e->programs = p->next;
		wg__program_free(p);
	}
	for (size_t i = 0; i < e->n_fetchers; i++)
		free(e->fetchers[i].scheme);
	free(e->wasm2c);
	free(e->cc);
	free(e->programs_dir);
	free(e->cache_dir);
	free(e);
}

void wg__engine_release(struct wg_engine *e)
{
	if (--e->pending == 0 && e->closing)
		engine_destroy(e);
}

static void task_close_all(struct wg__task *t);

void wg_engine_free(struct wg_engine *e)
{
	if (!e)
		return;
	e->closing = 1;
	e->pending++; /* held while we tear down, so nothing frees e under us */
	for (struct wg__task *t = e->tasks; t; t = t->next) {
		if (t->state == TASK_RUNNING && t->pid > 0 && !t->exited)
			kill(t->pid, SIGKILL);
	}
	while (e->tasks) {
		struct wg__task *t = e->tasks;
		e->tasks = t->next;
		t->next = NULL;
		if (t->state == TASK_RUNNING && t->pid > 0 && !t->exited) {
			/* Killed just above: this reaps it at once. */
			waitpid(t->pid, NULL, 0);
			t->exited = 1;
		}
		t->state = TASK_DONE;
		task_close_all(t);
	}
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

static void task_handle_closed(uv_handle_t *h)
{
	struct wg__task *t = h->data;
	if (h == (uv_handle_t *)&t->exit_poll && t->pidfd >= 0) {
		close(t->pidfd);
		t->pidfd = -1;
	}
	if (--t->open_handles > 0)
		return;
	struct wg_engine *e = t->engine;
	wg_buf_free(&t->out);
	wg_buf_free(&t->err);
	free(t->argument);
	free(t->early_detail);
	free(t);
	wg__engine_release(e);
}

static void close_handle(struct wg__task *t, uv_handle_t *h)
{
	if (h->data == t && !uv_is_closing(h))
		uv_close(h, task_handle_closed);
}

static void task_close_all(struct wg__task *t)
{
	/* Handles not yet initialised have data == NULL and are skipped. */
	close_handle(t, (uv_handle_t *)&t->out_pipe);
	close_handle(t, (uv_handle_t *)&t->err_pipe);
	close_handle(t, (uv_handle_t *)&t->status_pipe);
	close_handle(t, (uv_handle_t *)&t->exit_poll);
	close_handle(t, (uv_handle_t *)&t->timer);
}

static void unlink_task(struct wg__task *t)
{
	for (struct wg__task **pp = &t->engine->tasks; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

/* Delivers the outcome and starts closing the task. */
static void task_finish(struct wg__task *t, int kind, const char *detail)
{
	if (t->state == TASK_DONE)
		return;
	t->state = TASK_DONE;
	unlink_task(t);
	size_t tail = t->err.len > WG_ENGINE_STDERR_TAIL_BYTES ? WG_ENGINE_STDERR_TAIL_BYTES
							       : t->err.len;
	struct wg_engine_outcome o = {
		.error_kind = kind,
		.detail = detail ? detail : "",
		.result = t->out.data,
		.result_len = t->out.len,
		.stderr_tail = t->err.data ? t->err.data + t->err.len - tail : NULL,
		.stderr_tail_len = tail,
		.cpu_ms = (uint64_t)(t->usage.ru_utime.tv_sec + t->usage.ru_stime.tv_sec) * 1000u +
			  (uint64_t)(t->usage.ru_utime.tv_usec + t->usage.ru_stime.tv_usec) / 1000u,
	};
	if (!t->engine->closing)
		t->done(t->user, t->id, &o);
	task_close_all(t);
}

static const char *signal_name(int sig)
{
	const char *s = sigabbrev_np(sig);
	return s ? s : "?";
}

/* Everything about the child is known: its exit and all three pipes. Decide. */
static void task_conclude(struct wg__task *t)
{
	char detail[300];
	int kind = 0;
	detail[0] = 0;
	const struct wg_child_status *st = t->status_len == sizeof t->status ? &t->status : NULL;
	if (t->aborted) {
		kind = WASMGRID__ERROR_KIND__ABORTED;
		snprintf(detail, sizeof detail, "aborted");
	} else if (t->timed_out) {
		kind = WASMGRID__ERROR_KIND__TIMED_OUT;
		snprintf(detail, sizeof detail, "timed out after %u ms", t->timeout_ms);
	} else if (t->output_over) {
		kind = WASMGRID__ERROR_KIND__RESOURCE_LIMIT;
		snprintf(detail, sizeof detail, "output exceeds the result limit of %llu bytes",
			 (unsigned long long)t->result_bytes);
	} else if (st) {
		char text[sizeof st->detail + 1];
		memcpy(text, st->detail, sizeof st->detail);
		text[sizeof st->detail] = 0;
		switch (st->report) {
		case WG_CHILD_EXIT:
			if (st->code != 0) {
				kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
				snprintf(detail, sizeof detail, "exit status %u", st->code);
			}
			break;
		case WG_CHILD_TRAP:
			kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
			snprintf(detail, sizeof detail, "trap: %s", text);
			break;
		case WG_CHILD_LIMIT:
			kind = WASMGRID__ERROR_KIND__RESOURCE_LIMIT;
			snprintf(detail, sizeof detail, "%s", text);
			break;
		case WG_CHILD_INVALID:
			kind = WASMGRID__ERROR_KIND__INVALID_PROGRAM;
			snprintf(detail, sizeof detail, "%s", text);
			break;
		default:
			kind = WASMGRID__ERROR_KIND__RUNNING_ERROR;
			snprintf(detail, sizeof detail, "sandbox failure: %s", text);
			break;
		}
	} else if (WIFSIGNALED(t->wait_status)) {
		int sig = WTERMSIG(t->wait_status);
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
			 WEXITSTATUS(t->wait_status));
	}
	t->engine->stats.tasks_running--;
	task_finish(t, kind, detail);
}

static void maybe_conclude(struct wg__task *t)
{
	if (t->state == TASK_RUNNING && t->exited && t->open_streams == 0)
		task_conclude(t);
}

static void kill_child(struct wg__task *t)
{
	if (t->pid > 0 && !t->exited)
		kill(t->pid, SIGKILL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[65536];
	buf->base = slab;
	buf->len = sizeof slab;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wg__task *t = s->data;
	if (nread < 0) {
		uv_read_stop(s);
		t->open_streams--;
		maybe_conclude(t);
		return;
	}
	if (s == (uv_stream_t *)&t->out_pipe) {
		if (t->output_over)
			return;
		if (t->out.len + (size_t)nread > t->result_bytes) {
			t->output_over = 1;
			kill_child(t);
			return;
		}
		wg_buf_append(&t->out, buf->base, (size_t)nread);
	} else if (s == (uv_stream_t *)&t->err_pipe) {
		wg_buf_append(&t->err, buf->base, (size_t)nread);
		if (t->err.len > 4 * WG_ENGINE_STDERR_TAIL_BYTES)
			wg_buf_consume(&t->err, t->err.len - WG_ENGINE_STDERR_TAIL_BYTES);
	} else {
		size_t room = sizeof t->status - t->status_len;
		size_t n = (size_t)nread < room ? (size_t)nread : room;
		memcpy((uint8_t *)&t->status + t->status_len, buf->base, n);
		t->status_len += n;
	}
}

static void on_exit_readable(uv_poll_t *h, int status, int events)
{
	struct wg__task *t = h->data;
	int ws;
	pid_t r = wait4(t->pid, &ws, WNOHANG, &t->usage);
	if (r == 0)
		return;
	t->exited = 1;
	t->wait_status = r == t->pid ? ws : 0;
	uv_poll_stop(h);
	uv_timer_stop(&t->timer);
	maybe_conclude(t);
}

static int open_pipe(struct wg__task *t, uv_pipe_t *p, int fd)
{
	uv_pipe_init(t->engine->loop, p, 0);
	p->data = t;
	t->open_handles++;
	int rc = uv_pipe_open(p, fd);
	if (rc) {
		close(fd);
		return rc;
	}
	t->open_streams++;
	return uv_read_start((uv_stream_t *)p, on_alloc, on_read);
}

static void on_timer(uv_timer_t *h);

static void task_launch(struct wg__task *t)
{
	struct wg_engine *e = t->engine;
	uv_file fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	char why[200];
	for (int i = 0; i < 3; i++) {
		if (uv_pipe(fds[i], 0, 0)) {
			snprintf(why, sizeof why, "cannot create pipes: %s", strerror(errno));
			goto fail;
		}
	}
	struct wg_sandbox_params params = {
		.so_path = t->program->so_path,
		.argument = t->argument,
		.argument_len = t->argument_len,
		.memory_bytes = t->memory_bytes,
		.result_bytes = t->result_bytes,
		.timeout_ms = t->timeout_ms,
		.seed = t->seed,
		.out_fd = fds[0][1],
		.err_fd = fds[1][1],
		.status_fd = fds[2][1],
	};
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, sizeof why, "cannot fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		wg_sandbox_child(&params);
	t->pid = pid;
	for (int i = 0; i < 3; i++) {
		close(fds[i][1]);
		fds[i][1] = -1;
	}
	e->stats.tasks_run++;
	e->stats.tasks_running++;
	t->state = TASK_RUNNING;
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (t->pidfd < 0) {
		/* Without a pidfd we cannot watch the child without blocking: give up on it. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		t->exited = 1;
		for (int i = 0; i < 3; i++)
			close(fds[i][0]);
		e->stats.tasks_running--;
		t->state = TASK_STARTING;
		task_finish(t, WASMGRID__ERROR_KIND__RESOURCE_LIMIT, "cannot watch the child");
		return;
	}
	uv_poll_init(e->loop, &t->exit_poll, t->pidfd);
	t->exit_poll.data = t;
	t->open_handles++;
	uv_poll_start(&t->exit_poll, UV_READABLE, on_exit_readable);
	int broken = open_pipe(t, &t->out_pipe, fds[0][0]);
	broken |= open_pipe(t, &t->err_pipe, fds[1][0]);
	broken |= open_pipe(t, &t->status_pipe, fds[2][0]);
	if (broken) {
		/* Without all its pipes the task cannot be judged: end it; it is reaped as usual
		 * and, with no status report, counts as a sandbox failure. */
		kill_child(t);
	}
	if (t->timeout_ms)
		uv_timer_start(&t->timer, on_timer, t->timeout_ms, 0);
	if (t->started)
		t->started(t->user, t->id, now_unix_ms());
	return;
fail:
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (fds[i][j] >= 0)
				close(fds[i][j]);
	task_finish(t, WASMGRID__ERROR_KIND__RESOURCE_LIMIT, why);
}

/* The task's one timer: at 0 it starts a task whose program is ready or delivers an
 * abort or early failure; while the child runs it is the wall-clock timeout. */
static void on_timer(uv_timer_t *h)
{
	struct wg__task *t = h->data;
	if (t->state == TASK_RUNNING) {
		t->timed_out = 1;
		kill_child(t);
		return;
	}
	if (t->aborted)
		task_finish(t, WASMGRID__ERROR_KIND__ABORTED, "aborted");
	else if (t->early_kind)
		task_finish(t, t->early_kind, t->early_detail);
	else if (t->state == TASK_STARTING)
		task_launch(t);
}

static void schedule(struct wg__task *t)
{
	uv_timer_start(&t->timer, on_timer, 0, 0);
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
	t->started = started;
	t->done = done;
	t->user = user;
	t->pidfd = -1;
	uv_timer_init(e->loop, &t->timer);
	t->timer.data = t;
	t->open_handles = 1;
	e->pending++;
	t->next = e->tasks;
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
		t->state = TASK_STARTING;
		schedule(t);
	} else {
		t->state = TASK_WAITING;
		*p->waiting_tail = t;
		p->waiting_tail = &t->next_waiting;
	}
	if (fresh)
		wg__program_start(p);
	return 0;
}

static void remove_waiting(struct wg__task *t)
{
	struct wg__program *p = t->program;
	for (struct wg__task **pp = &p->waiting; *pp; pp = &(*pp)->next_waiting) {
		if (*pp == t) {
			*pp = t->next_waiting;
			if (!*pp)
				p->waiting_tail = pp;
			return;
		}
	}
}

int wg_engine_abort(struct wg_engine *e, uint64_t task_id)
{
	for (struct wg__task *t = e->tasks; t; t = t->next) {
		if (t->id != task_id || t->state == TASK_DONE)
			continue;
		if (t->aborted)
			return 0;
		t->aborted = 1;
		if (t->state == TASK_RUNNING) {
			kill_child(t);
		} else {
			if (t->state == TASK_WAITING)
				remove_waiting(t);
			t->state = TASK_STARTING;
			schedule(t);
		}
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
		struct wg__task *next = t->next_waiting;
		t->next_waiting = NULL;
		t->state = TASK_STARTING;
		schedule(t);
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
		struct wg__task *next = t->next_waiting;
		t->next_waiting = NULL;
		t->program = NULL;
		t->early_kind = kind;
		t->early_detail = wg_strdup(detail);
		t->state = TASK_STARTING;
		schedule(t);
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
