/* The child side of a task (see sandbox.h). Order matters here: everything that needs
 * the file system or new file descriptors (dlopen, the runtime's signal handler set-up)
 * happens first; then the resource limits and the seccomp filter; only then does any of
 * the program's code run, including a module's start function during instantiation. */
#include "engine/sandbox.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/wasi.h"

/* The compiled program's own reservation for a 32-bit linear memory with guard pages
 * (wasm-rt reserves 8 GiB of address space), plus room for the runtime itself. */
#define WG__RESERVATION_BYTES (8ull << 30)
#define WG__RUNTIME_BYTES (1ull << 30)

struct sandbox_ctx {
	struct wg_wasi *wasi;
	const struct wg_sandbox_params *params;
};

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

/* The filter: the runtime needs to write to its three pipes, manage memory (never
 * executable memory), handle the signals that become traps, read clocks, sleep in
 * poll_oneoff and exit. Anything else kills the process (SIGSYS).
 *
 * Under AddressSanitizer the sanitizer runtime in the child makes calls of its own
 * (it yields in spin locks, reads its own limits and maps, names its threads), so those
 * builds allow a short list more. The normal build does not carry that list. */
static int load_seccomp(void)
{
	int rc = -1;
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!f)
		return -1;
	for (int fd = 1; fd <= 3; fd++)
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd)))
			goto out;
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)))
		goto out;
	static const int allowed[] = {
		SCMP_SYS(exit),		 SCMP_SYS(exit_group),	  SCMP_SYS(munmap),
		SCMP_SYS(mremap),	 SCMP_SYS(brk),		  SCMP_SYS(madvise),
		SCMP_SYS(rt_sigreturn),	 SCMP_SYS(rt_sigprocmask), SCMP_SYS(sigaltstack),
		SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),  SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep),	 SCMP_SYS(sched_yield),	  SCMP_SYS(futex),
	};
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		if (allow(f, allowed[i]))
			goto out;
#if defined(__SANITIZE_ADDRESS__)
	static const int sanitizer_needs[] = {
		SCMP_SYS(getpid),     SCMP_SYS(gettid),	    SCMP_SYS(tgkill),
		SCMP_SYS(prctl),      SCMP_SYS(getrlimit),  SCMP_SYS(prlimit64),
		SCMP_SYS(rt_sigaction), SCMP_SYS(sched_getaffinity), SCMP_SYS(readlink),
		SCMP_SYS(openat),     SCMP_SYS(open),	    SCMP_SYS(close),
		SCMP_SYS(read),	      SCMP_SYS(fstat),	    SCMP_SYS(newfstatat),
		SCMP_SYS(lseek),      SCMP_SYS(pread64),    SCMP_SYS(mincore),
	};
	for (size_t i = 0; i < sizeof sanitizer_needs / sizeof sanitizer_needs[0]; i++)
		if (allow(f, sanitizer_needs[i]))
			goto out;
#endif
	rc = seccomp_load(f);
out:
	seccomp_release(f);
	return rc;
}

/* Called by the shim after the runtime is initialised and before the program's first
 * instruction. */
static void enter_sandbox(void *opaque)
{
	struct sandbox_ctx *ctx = opaque;
	/* fds 0-3 exist; no new one may be made. */
	set_limit(RLIMIT_NOFILE, 4, 4);
#if !defined(__SANITIZE_ADDRESS__)
	/* The sanitizer reserves terabytes of shadow memory, so an address-space limit cannot
	 * be applied under it; the WebAssembly memory limit still holds. */
	rlim_t as = ctx->params->memory_bytes + WG__RESERVATION_BYTES + WG__RUNTIME_BYTES;
	set_limit(RLIMIT_AS, as, as);
#endif
	if (load_seccomp())
		wg_wasi_finish(ctx->wasi, WG_CHILD_INTERNAL, 0,
			       "cannot install the seccomp filter");
}

static void set_memory(void *wasi, wasm_rt_memory_t *memory)
{
	((struct wg_wasi *)wasi)->memory = memory;
}

/* Moves the three pipe ends to fds 1, 2 and 3 and closes everything else (the parent's
 * sockets, databases and other tasks' pipes). */
static int arrange_fds(const struct wg_sandbox_params *p)
{
	int high[3] = {fcntl(p->out_fd, F_DUPFD, 10), fcntl(p->err_fd, F_DUPFD, 10),
		       fcntl(p->status_fd, F_DUPFD, 10)};
	if (high[0] < 0 || high[1] < 0 || high[2] < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i + 1) < 0)
			return -1;
	close(0);
	return (int)syscall(SYS_close_range, 4u, ~0u, 0u);
}

void wg_sandbox_child(const struct wg_sandbox_params *p)
{
	struct wg_wasi wasi;
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		syscall(SYS_exit_group, 1);
	if (arrange_fds(p))
		syscall(SYS_exit_group, 1);
	wg_wasi_init(&wasi, p->argument, p->argument_len, p->result_bytes, p->seed, 1, 2, 3);

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
	set_limit(RLIMIT_STACK, 8u << 20, 8u << 20);
	if (p->timeout_ms) {
		/* A backstop only: the parent's wall-clock timer normally fires first. */
		rlim_t cpu = p->timeout_ms / 1000 + 2;
		set_limit(RLIMIT_CPU, cpu, cpu + 1);
	}

	void *so = dlopen(p->so_path, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		char why[180];
		snprintf(why, sizeof why, "cannot load the compiled program: %s", dlerror());
		wg_wasi_finish(&wasi, WG_CHILD_INVALID, 0, why);
	}
	int (*program_main)(struct wg_program_host *) =
		(int (*)(struct wg_program_host *))dlsym(so, "wg_program_main");
	if (!program_main)
		wg_wasi_finish(&wasi, WG_CHILD_INVALID, 0, "compiled program has no entry point");

	uint64_t pages = p->memory_bytes / 65536;
	struct sandbox_ctx ctx = {&wasi, p};
	struct wg_program_host host = {
		.wasi = &wasi,
		.max_pages = pages > 65535 ? 65535 : (uint32_t)pages,
		.enter_sandbox = enter_sandbox,
		.ctx = &ctx,
		.set_memory = set_memory,
	};
	int rc = program_main(&host);
	if (rc == WG_PROGRAM_TRAPPED)
		wg_wasi_finish(&wasi, WG_CHILD_TRAP, (uint32_t)host.trap, host.trap_text);
	if (rc == WG_PROGRAM_OVER_MEMORY)
		wg_wasi_finish(&wasi, WG_CHILD_LIMIT, 0,
			       "initial memory exceeds the memory limit");
	/* Returning from _start is exit status 0. */
	wg_wasi_finish(&wasi, WG_CHILD_EXIT, 0, NULL);
}
