/* Runner processes, the engine's side (the runner's own side is sandbox.c). A runner is
 * forked once and then serves many tasks of one program through two pipes: requests go
 * down fd 0, frames come back on fd 1 (sandbox.h). Per task the loop thread makes one
 * write and, for a short result, one read; no process, pipe or handle is created. The
 * runner's exit is watched through a pidfd; a runner that dies, is killed (timeout,
 * abort, output flood) or misbehaves is never reused, and the next task gets a new one. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/internal.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"

#define WG__MAX_FRAME_BYTES                                                                        \
	(WG_RUNNER_OUT_CHUNK > sizeof(struct wg_runner_end) + WG_STDERR_TAIL_BYTES                 \
	     ? WG_RUNNER_OUT_CHUNK                                                                 \
	     : sizeof(struct wg_runner_end) + WG_STDERR_TAIL_BYTES)

static void runner_ref(struct wg__runner *r, int busy)
{
	void (*set)(uv_handle_t *) = busy ? uv_ref : uv_unref;
	/* An idle runner must not keep the loop alive: a loop run "until the work is done"
	 * ends when the tasks have, whatever runners wait for more. */
	set((uv_handle_t *)&r->request);
	set((uv_handle_t *)&r->reply);
	set((uv_handle_t *)&r->exit_poll);
	set((uv_handle_t *)&r->timer);
}

static void runner_handle_closed(uv_handle_t *h)
{
	struct wg__runner *r = h->data;
	if (--r->open_handles > 0)
		return;
	struct wg_engine *e = r->engine;
	if (r->pidfd >= 0)
		close(r->pidfd);
	wg_buf_free(&r->pending);
	wg_buf_free(&r->in);
	free(r);
	wg__engine_release(e);
}

static void close_handle(struct wg__runner *r, uv_handle_t *h)
{
	if (h->data == r && !uv_is_closing(h))
		uv_close(h, runner_handle_closed);
}

/* Forgets a runner whose process is gone: unlinks it and closes its handles. */
static void runner_close(struct wg__runner *r)
{
	for (struct wg__runner **pp = &r->program->runners; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->next = NULL;
	close_handle(r, (uv_handle_t *)&r->request);
	close_handle(r, (uv_handle_t *)&r->reply);
	close_handle(r, (uv_handle_t *)&r->exit_poll);
	close_handle(r, (uv_handle_t *)&r->timer);
}

void wg__runner_kill(struct wg__runner *r)
{
	if (!r->exited && !r->killed)
		kill(r->pid, SIGKILL);
	r->killed = 1;
}

static void on_timer(uv_timer_t *h)
{
	struct wg__runner *r = h->data;
	if (r->task)
		r->task->timed_out = 1;
	/* Busy: the task's timeout. Idle: the runner has waited long enough for work. */
	wg__runner_kill(r);
}

static void runner_idle(struct wg__runner *r)
{
	r->task = NULL;
	runner_ref(r, 0);
	uv_timer_start(&r->timer, on_timer, r->engine->runner_idle_ms, 0);
}

/* Handles the complete frames in r->in. */
static void parse_frames(struct wg__runner *r)
{
	struct wg_engine *e = r->engine;
	size_t at = 0;
	while (r->in.len - at >= sizeof(struct wg_runner_frame) && !e->closing) {
		struct wg_runner_frame h;
		memcpy(&h, r->in.data + at, sizeof h);
		if (h.len > WG__MAX_FRAME_BYTES ||
		    (h.kind == WG_FRAME_END && h.len < sizeof(struct wg_runner_end)) ||
		    (h.kind != WG_FRAME_END && h.kind != WG_FRAME_OUT)) {
			/* Only a broken runner writes this: end it, and the task with it. */
			wg_warn(NULL, "runner %d sent a malformed frame", (int)r->pid);
			wg__runner_kill(r);
			at = r->in.len;
			break;
		}
		if (r->in.len - at < sizeof h + h.len)
			break;
		const uint8_t *payload = r->in.data + at + sizeof h;
		at += sizeof h + h.len;
		struct wg__task *t = r->task;
		if (r->killed || !t)
			continue;
		if (h.kind == WG_FRAME_OUT) {
			if (t->out.len + h.len > t->result_bytes) {
				t->output_over = 1;
				wg__runner_kill(r);
				continue;
			}
			wg_buf_append(&t->out, payload, h.len);
			continue;
		}
		struct wg_runner_end end;
		memcpy(&end, payload, sizeof end);
		uint64_t cpu = end.cpu_ns > r->cpu_ns_seen ? end.cpu_ns - r->cpu_ns_seen : 0;
		r->cpu_ns_seen = end.cpu_ns;
		uv_timer_stop(&r->timer);
		runner_idle(r);
		wg__task_ended(t, &end, payload + sizeof end, h.len - sizeof end, cpu);
	}
	if (at)
		wg_buf_consume(&r->in, at);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[65536];
	buf->base = slab;
	buf->len = sizeof slab;
}

static void on_reply(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wg__runner *r = s->data;
	if (nread < 0) {
		/* End of the runner (or a read error): its exit arrives through the pidfd. */
		uv_read_stop(s);
		return;
	}
	wg_buf_append(&r->in, buf->base, (size_t)nread);
	parse_frames(r);
}

/* Reads what the runner wrote before it died; the pipe may stay open elsewhere (another
 * process forked meanwhile), so end of file is not waited for. */
static void drain_reply(struct wg__runner *r)
{
	int fd;
	if (uv_fileno((uv_handle_t *)&r->reply, &fd))
		return;
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		wg_buf_append(&r->in, chunk, (size_t)n);
	}
	parse_frames(r);
}

static void on_exit_readable(uv_poll_t *h, int status, int events)
{
	struct wg__runner *r = h->data;
	struct wg_engine *e = r->engine;
	int ws = 0;
	struct rusage usage;
	memset(&usage, 0, sizeof usage);
	pid_t got = wait4(r->pid, &ws, WNOHANG, &usage);
	if (got == 0)
		return;
	r->exited = 1;
	uv_poll_stop(h);
	uv_timer_stop(&r->timer);
	drain_reply(r);
	struct wg__task *t = r->task;
	r->task = NULL;
	uint64_t total = ((uint64_t)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000u +
			  (uint64_t)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)) *
			 1000u;
	runner_close(r);
	if (t && !e->closing)
		wg__task_runner_died(t, got == r->pid ? ws : 0,
				     total > r->cpu_ns_seen ? total - r->cpu_ns_seen : 0);
}

static void on_written(uv_write_t *req, int status)
{
	struct wg__runner *r = req->data;
	r->writing = 0;
	wg_buf_free(&r->pending);
	/* A failed write means the runner is gone or going: its exit decides the task. */
	if (status && status != UV_ECANCELED)
		wg__runner_kill(r);
}

/* Sends the request for t. The pipe takes a short request at once; the rest of a long
 * argument is copied and written as the runner reads. */
static void send_request(struct wg__runner *r, struct wg__task *t)
{
	struct wg_runner_request rq = {
	    .task_id = t->id,
	    .argument_len = t->argument_len,
	    .memory_bytes = t->memory_bytes,
	    .result_bytes = t->result_bytes,
	    .seed = t->seed,
	    .timeout_ms = t->timeout_ms,
	};
	uv_buf_t bufs[2] = {uv_buf_init((char *)&rq, sizeof rq),
			    uv_buf_init((char *)t->argument, (unsigned)t->argument_len)};
	size_t total = sizeof rq + t->argument_len;
	int n = uv_try_write((uv_stream_t *)&r->request, bufs, 2);
	if (n == UV_EAGAIN)
		n = 0;
	if (n < 0) {
		wg__runner_kill(r);
		return;
	}
	if ((size_t)n == total)
		return;
	size_t done = (size_t)n;
	if (done < sizeof rq) {
		wg_buf_append(&r->pending, (uint8_t *)&rq + done, sizeof rq - done);
		done = 0;
	} else {
		done -= sizeof rq;
	}
	wg_buf_append(&r->pending, t->argument + done, t->argument_len - done);
	uv_buf_t rest = uv_buf_init((char *)r->pending.data, (unsigned)r->pending.len);
	r->write_req.data = r;
	r->writing = 1;
	if (uv_write(&r->write_req, (uv_stream_t *)&r->request, &rest, 1, on_written)) {
		r->writing = 0;
		wg__runner_kill(r);
	}
}

static int open_pipe(struct wg__runner *r, uv_pipe_t *p, int fd)
{
	uv_pipe_init(r->engine->loop, p, 0);
	p->data = r;
	r->open_handles++;
	int rc = uv_pipe_open(p, fd);
	if (rc)
		close(fd);
	return rc;
}

/* Forks a runner for p serving memory limits up to memory_bytes. */
static struct wg__runner *runner_spawn(struct wg__program *p, uint64_t memory_bytes, char *why,
				       size_t why_len)
{
	struct wg_engine *e = p->engine;
	if (!e->filter.filter && wg_sandbox_filter_build(&e->filter)) {
		snprintf(why, why_len, "cannot build the seccomp filter");
		return NULL;
	}
	uv_file down[2] = {-1, -1}, up[2] = {-1, -1};
	if (uv_pipe(down, 0, 0) || uv_pipe(up, 0, 0)) {
		snprintf(why, why_len, "cannot create pipes: %s", strerror(errno));
		goto fail;
	}
	struct wg_runner_params params = {
	    .so_path = p->tier == WG__TIER_QUICK ? p->quick_path : p->so_path,
	    /* The quick tier's frames are larger: more stack, so that a program whose
	     * recursion fits the optimised tier's 8 MiB fits it too. */
	    .stack_bytes = p->tier == WG__TIER_QUICK ? WG_MIB(32) : WG_MIB(8),
	    .memory_bytes = memory_bytes,
	    .filter = &e->filter,
	    .request_fd = down[0],
	    .reply_fd = up[1],
	};
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, why_len, "cannot fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		wg_runner_main(&params);
	close(down[0]);
	close(up[1]);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		/* Without a pidfd we cannot watch the runner without blocking: give up on it. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(down[1]);
		close(up[0]);
		snprintf(why, why_len, "cannot watch the runner");
		return NULL;
	}
	struct wg__runner *r = wg_calloc(1, sizeof *r);
	r->engine = e;
	r->program = p;
	r->pid = pid;
	r->pidfd = pidfd;
	r->memory_bytes = memory_bytes;
	r->tier = p->tier;
	e->pending++;
	e->stats.runners_started++;
	uv_timer_init(e->loop, &r->timer);
	r->timer.data = r;
	r->open_handles++;
	uv_poll_init(e->loop, &r->exit_poll, pidfd);
	r->exit_poll.data = r;
	r->open_handles++;
	uv_poll_start(&r->exit_poll, UV_READABLE, on_exit_readable);
	int broken = open_pipe(r, &r->request, down[1]);
	broken |= open_pipe(r, &r->reply, up[0]);
	if (!broken)
		broken = uv_read_start((uv_stream_t *)&r->reply, on_alloc, on_reply);
	r->next = p->runners;
	p->runners = r;
	if (broken) {
		/* It is reaped as usual; its task, with no report, is a sandbox failure. */
		wg__runner_kill(r);
	}
	return r;
fail:
	for (int i = 0; i < 2; i++) {
		if (down[i] >= 0)
			close(down[i]);
		if (up[i] >= 0)
			close(up[i]);
	}
	return NULL;
}

int wg__runner_start_task(struct wg__task *t, char *why, size_t why_len)
{
	struct wg__program *p = t->program;
	struct wg_engine *e = t->engine;
	struct wg__runner *r = p->runners;
	/* The idle runner allowing the least memory that is enough. */
	struct wg__runner *best = NULL;
	for (; r; r = r->next)
		if (!r->task && !r->killed && !r->exited && r->tier == p->tier &&
		    r->memory_bytes >= t->memory_bytes &&
		    (!best || r->memory_bytes < best->memory_bytes))
			best = r;
	r = best;
	if (!r) {
		uint64_t m = t->memory_bytes > e->default_memory_bytes ? t->memory_bytes
								       : e->default_memory_bytes;
		r = runner_spawn(p, m, why, why_len);
		if (!r)
			return -1;
	}
	r->task = t;
	t->runner = r;
	runner_ref(r, 1);
	uv_timer_stop(&r->timer);
	if (t->timeout_ms)
		uv_timer_start(&r->timer, on_timer, t->timeout_ms, 0);
	send_request(r, t);
	return 0;
}

void wg__runners_retire(struct wg__program *p)
{
	for (struct wg__runner *r = p->runners; r; r = r->next) {
		if (r->tier == p->tier || r->killed || r->exited)
			continue;
		if (r->task)
			r->task->restart = 1;
		wg__runner_kill(r);
	}
}

void wg__runners_stop(struct wg__program *p)
{
	for (struct wg__runner *r = p->runners; r; r = r->next)
		wg__runner_kill(r);
	while (p->runners) {
		struct wg__runner *r = p->runners;
		if (!r->exited) {
			/* Killed just above: this reaps it at once. */
			waitpid(r->pid, NULL, 0);
			r->exited = 1;
		}
		r->task = NULL;
		runner_close(r);
	}
}
