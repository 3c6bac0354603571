/* The runner side (see sandbox.h). Order matters here: everything that needs the file
 * system or new file descriptors (dlopen, the runtime's signal handler set-up) happens
 * first; then the resource limits and the seccomp filter; only then does any of the
 * program's code run, and only inside wg_program_run, one fresh instance per task. */
#include "engine/sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/wasi.h"
#include "util/alloc.h"

/* The compiled program's own reservation for a 32-bit linear memory with guard pages
 * (wasm-rt reserves 8 GiB of address space), plus room for the runtime itself. */
#define WG__RESERVATION_BYTES (8ull << 30)
#define WG__RUNTIME_BYTES (1ull << 30)

static void set_limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit old, lim = {soft, hard};
	/* Never try to raise a hard limit: that fails without privileges. */
	if (getrlimit(resource, &old) == 0 && old.rlim_max != RLIM_INFINITY) {
		if (lim.rlim_max > old.rlim_max)
			lim.rlim_max = old.rlim_max;
		if (lim.rlim_cur > lim.rlim_max)
			lim.rlim_cur = lim.rlim_max;
	}
	setrlimit(resource, &lim);
}

static int allow(scmp_filter_ctx f, int nr)
{
	return seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
}

/* The filter: the runner reads requests from fd 0 and writes replies to fd 1 (fd 2 is
 * /dev/null, or the engine's stderr under a sanitizer), manages memory (never executable
 * memory), handles the signals that become traps, reads clocks, sleeps in poll_oneoff,
 * moves its own CPU-time limit and exits. Anything else kills the process (SIGSYS).
 *
 * Under AddressSanitizer the sanitizer runtime in the runner makes calls of its own
 * (it yields in spin locks, reads its own limits and maps, names its threads), so those
 * builds allow a short list more. The normal build does not carry that list. */
int wg_sandbox_filter_build(struct sock_fprog *out)
{
	int rc = -1, fd = -1;
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!f)
		return -1;
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, SCMP_A0(SCMP_CMP_EQ, 0)))
		goto out;
	for (int w = 1; w <= 2; w++)
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)w)))
			goto out;
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, SCMP_A0(SCMP_CMP_EQ, 0),
			     SCMP_A1(SCMP_CMP_EQ, RLIMIT_CPU)))
		goto out;
	static const int allowed[] = {
	    SCMP_SYS(exit),	    SCMP_SYS(exit_group),
	    SCMP_SYS(munmap),	    SCMP_SYS(mremap),
	    SCMP_SYS(brk),	    SCMP_SYS(madvise),
	    SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	    SCMP_SYS(sigaltstack),  SCMP_SYS(clock_gettime),
	    SCMP_SYS(clock_getres), SCMP_SYS(clock_nanosleep),
	    SCMP_SYS(nanosleep),    SCMP_SYS(sched_yield),
	    SCMP_SYS(futex),
	};
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		if (allow(f, allowed[i]))
			goto out;
#if defined(__SANITIZE_ADDRESS__)
	static const int sanitizer_needs[] = {
	    SCMP_SYS(getpid),
	    SCMP_SYS(gettid),
	    SCMP_SYS(tgkill),
	    SCMP_SYS(prctl),
	    SCMP_SYS(getrlimit),
	    SCMP_SYS(rt_sigaction),
	    SCMP_SYS(sched_getaffinity),
	    SCMP_SYS(readlink),
	    SCMP_SYS(openat),
	    SCMP_SYS(open),
	    SCMP_SYS(close),
	    SCMP_SYS(fstat),
	    SCMP_SYS(newfstatat),
	    SCMP_SYS(lseek),
	    SCMP_SYS(pread64),
	    SCMP_SYS(mincore),
	};
	for (size_t i = 0; i < sizeof sanitizer_needs / sizeof sanitizer_needs[0]; i++)
		if (allow(f, sanitizer_needs[i]))
			goto out;
	/* The sanitizer also reads (its maps) and sets limits on any descriptor. */
	if (allow(f, SCMP_SYS(read)) || allow(f, SCMP_SYS(prlimit64)))
		goto out;
#endif
	/* libseccomp 2.5 exports to a descriptor only: export into memory once, so a runner
	 * merely installs the program. */
	fd = memfd_create("wasmgrid-seccomp", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(f, fd))
		goto out;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		goto out;
	struct sock_filter *insns = wg_malloc((size_t)size);
	if (pread(fd, insns, (size_t)size, 0) != size) {
		free(insns);
		goto out;
	}
	out->filter = insns;
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(f);
	return rc;
}

void wg_sandbox_filter_free(struct sock_fprog *f)
{
	free(f->filter);
	f->filter = NULL;
	f->len = 0;
}

/* ---- inside the runner ---- */

static struct wg_wasi runner_wasi;
/* The reply buffer: an OUT frame header, WG_RUNNER_OUT_CHUNK bytes of stdout (the WASI
 * layer's buffer), then room for an END frame and the stderr tail, so that a task's
 * whole reply usually leaves in one write. */
static uint8_t *reply;
#define REPLY_OUT_AT sizeof(struct wg_runner_frame)
#define REPLY_BYTES                                                                                \
	(2 * sizeof(struct wg_runner_frame) + WG_RUNNER_OUT_CHUNK + sizeof(struct wg_runner_end) + \
	 WG_STDERR_TAIL_BYTES)

static void write_all(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(1, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			/* The engine stopped listening: it has killed or is about to kill us. */
			syscall(SYS_exit_group, 1);
		p += k;
		n -= (size_t)k;
	}
}

/* Sends the buffered stdout as one OUT frame (wg_wasi's flush). */
static void flush_stdout(struct wg_wasi *w)
{
	if (w->out_len == 0)
		return;
	struct wg_runner_frame h = {WG_FRAME_OUT, (uint32_t)w->out_len};
	memcpy(reply, &h, sizeof h);
	write_all(reply, REPLY_OUT_AT + w->out_len);
	w->out_len = 0;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sends the END frame (after any stdout still buffered), in one write. */
static void send_end(uint32_t report, uint32_t code, const char *detail)
{
	struct wg_wasi *w = &runner_wasi;
	size_t out_len = w->out_len;
	uint8_t *end = reply + REPLY_OUT_AT + out_len;
	struct wg_runner_end e;
	memset(&e, 0, sizeof e);
	e.report = report;
	e.code = code;
	e.cpu_ns = cpu_ns();
	if (detail)
		snprintf(e.detail, sizeof e.detail, "%s", detail);
	size_t tail = wg_wasi_stderr_tail(w, end + sizeof(struct wg_runner_frame) + sizeof e);
	struct wg_runner_frame h = {WG_FRAME_END, (uint32_t)(sizeof e + tail)};
	memcpy(end, &h, sizeof h);
	memcpy(end + sizeof h, &e, sizeof e);
	size_t total = sizeof h + sizeof e + tail;
	if (out_len) {
		struct wg_runner_frame o = {WG_FRAME_OUT, (uint32_t)out_len};
		memcpy(reply, &o, sizeof o);
		write_all(reply, REPLY_OUT_AT + out_len + total);
	} else {
		write_all(end, total);
	}
	w->out_len = 0;
}

/* A failure before any task could run: reported as the outcome of the task the engine
 * has already sent, then the runner ends. */
__attribute__((noreturn)) static void fail_setup(uint32_t report, const char *detail)
{
	if (!reply)
		reply = wg_malloc(REPLY_BYTES);
	runner_wasi.out_len = 0;
	runner_wasi.err_total = 0;
	send_end(report, 0, detail);
	syscall(SYS_exit_group, 1);
	for (;;)
		;
}

/* Requests arrive through a small read buffer, so that a request and a short argument
 * usually cost one read. Returns 0, or -1 at end of input. */
static uint8_t in_buf[16384];
static size_t in_pos, in_end;

static int read_exact(uint8_t *dst, size_t n)
{
	while (n > 0) {
		if (in_pos == in_end) {
			if (n >= sizeof in_buf) {
				ssize_t k = read(0, dst, n);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0)
					return -1;
				dst += k;
				n -= (size_t)k;
				continue;
			}
			ssize_t k = read(0, in_buf, sizeof in_buf);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return -1;
			in_pos = 0;
			in_end = (size_t)k;
		}
		size_t k = in_end - in_pos < n ? in_end - in_pos : n;
		memcpy(dst, in_buf + in_pos, k);
		in_pos += k;
		dst += k;
		n -= k;
	}
	return 0;
}

/* Called by the shim once the instance exists (memory set) and when it is gone (NULL). */
static void set_memory(void *opaque, wasm_rt_memory_t *memory)
{
	struct wg_program_host *h = opaque;
	struct wg_wasi *w = h->wasi;
	w->memory = memory;
	w->unwind = h->unwind;
}

/* Moves the pipe ends to fds 0 and 1, puts /dev/null (or, under a sanitizer, the engine's
 * stderr, for its reports) on fd 2 and closes everything else (the parent's sockets,
 * databases and other runners' pipes). */
static int arrange_fds(const struct wg_runner_params *p)
{
	int high[2] = {fcntl(p->request_fd, F_DUPFD, 10), fcntl(p->reply_fd, F_DUPFD, 10)};
	if (high[0] < 0 || high[1] < 0)
		return -1;
	if (dup2(high[0], 0) < 0 || dup2(high[1], 1) < 0)
		return -1;
#if !defined(__SANITIZE_ADDRESS__)
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 2) < 0)
		return -1;
#endif
	return (int)syscall(SYS_close_range, 3u, ~0u, 0u);
}

/* The CPU-time backstop for one task: the parent's wall-clock timer normally fires first.
 * RLIMIT_CPU counts the whole process, so the soft limit moves with each task. */
static void set_cpu_backstop(uint32_t timeout_ms, rlim_t hard)
{
	struct rlimit lim = {hard, hard};
	if (timeout_ms) {
		rlim_t soft = (rlim_t)(cpu_ns() / 1000000000u) + 1 + timeout_ms / 1000 + 2;
		if (soft < hard)
			lim.rlim_cur = soft;
	}
	setrlimit(RLIMIT_CPU, &lim);
}

void wg_runner_main(const struct wg_runner_params *p)
{
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		syscall(SYS_exit_group, 1);
	if (arrange_fds(p))
		syscall(SYS_exit_group, 1);

	/* Signal state comes from the parent's event loop: start clean. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);

	set_limit(RLIMIT_CORE, 0, 0);
	set_limit(RLIMIT_FSIZE, 0, 0);
	set_limit(RLIMIT_STACK, p->stack_bytes, p->stack_bytes);
	struct rlimit cpu_hard;
	if (getrlimit(RLIMIT_CPU, &cpu_hard))
		cpu_hard.rlim_max = RLIM_INFINITY;

	reply = wg_malloc(REPLY_BYTES);
	struct wg_wasi *w = &runner_wasi;
	memset(w, 0, sizeof *w);
	w->out = reply + REPLY_OUT_AT;
	w->out_cap = WG_RUNNER_OUT_CHUNK;
	w->flush = flush_stdout;

	void *so = dlopen(p->so_path, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		char why[180];
		snprintf(why, sizeof why, "cannot load the compiled program: %s", dlerror());
		fail_setup(WG_CHILD_INVALID, why);
	}
	int (*program_setup)(void) = (int (*)(void))dlsym(so, "wg_program_setup");
	int (*program_run)(struct wg_program_host *) =
	    (int (*)(struct wg_program_host *))dlsym(so, "wg_program_run");
	if (!program_setup || !program_run)
		fail_setup(WG_CHILD_INVALID, "compiled program has no entry point");
	if (program_setup())
		fail_setup(WG_CHILD_INVALID, "cannot initialise the compiled program");

		/* fds 0-2 exist; no new one may be made (under a sanitizer, one: it reads its maps
		 * when a trap's longjmp leaves the stack). */
#if defined(__SANITIZE_ADDRESS__)
	set_limit(RLIMIT_NOFILE, 4, 4);
#else
	set_limit(RLIMIT_NOFILE, 3, 3);
#endif
#if !defined(__SANITIZE_ADDRESS__)
	/* The sanitizer reserves terabytes of shadow memory, so an address-space limit cannot
	 * be applied under it; the WebAssembly memory limit still holds. */
	rlim_t as = p->memory_bytes + WG__RESERVATION_BYTES + WG__RUNTIME_BYTES;
	set_limit(RLIMIT_AS, as, as);
#endif
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, p->filter))
		fail_setup(WG_CHILD_INTERNAL, "cannot install the seccomp filter");

	uint8_t *argument = NULL;
	size_t argument_cap = 0;
	for (;;) {
		struct wg_runner_request rq;
		if (read_exact((uint8_t *)&rq, sizeof rq))
			break;
		if (rq.argument_len + 1 > argument_cap) {
			free(argument);
			argument_cap = rq.argument_len + 1 > 4096 ? rq.argument_len + 1 : 4096;
			argument = wg_malloc(argument_cap);
		}
		if (read_exact(argument, rq.argument_len))
			break;
		argument[rq.argument_len] = 0;
		wg_wasi_reset(w, argument, rq.argument_len, rq.result_bytes, rq.seed);
		set_cpu_backstop(rq.timeout_ms, cpu_hard.rlim_max);

		uint64_t pages = rq.memory_bytes / 65536;
		struct wg_program_host host = {
		    .wasi = w,
		    .max_pages = pages > 65535 ? 65535 : (uint32_t)pages,
		    .set_memory = set_memory,
		};
		int rc = program_run(&host);
		if (rc == WG_PROGRAM_TRAPPED)
			send_end(WG_CHILD_TRAP, (uint32_t)host.trap, host.trap_text);
		else if (rc == WG_PROGRAM_OVER_MEMORY)
			send_end(WG_CHILD_LIMIT, 0, "initial memory exceeds the memory limit");
		else if (rc == WG_PROGRAM_UNWOUND)
			send_end(w->end_report, w->end_code, w->end_detail);
		else
			/* Returning from _start is exit status 0. */
			send_end(WG_CHILD_EXIT, 0, NULL);
	}
	/* The engine closed the request pipe: it wants this runner gone. exit_group, so no
	 * atexit handlers or sanitizer leak checks run here. */
	syscall(SYS_exit_group, 0);
	for (;;)
		;
}
