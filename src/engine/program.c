/* Programs: fetch, verify, compile, cache (see engine.h and docs/engine.md).
 *
 * Layout under the data directory:
 *   programs/HASH.wasm           verified program bytes (written atomically)
 *   cache/KEY/HASH.so            compiled program; KEY identifies the toolchain
 *   cache/KEY/HASH.so.b2         BLAKE2b-256 of HASH.so, checked before first use
 *   cache/KEY/build-HASH-PID-N/  a compilation in progress (removed afterwards)
 * A compiled program is moved into place by rename only when complete, and it is only
 * used when its checksum matches, so neither a half-written nor a corrupted entry is ever
 * loaded: a bad entry is deleted and the program compiled again. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/internal.h"
#include "engine/sandbox.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/time.h"
#include "wasmgrid.pb-c.h"

#define WG__RT_DIR "/usr/share/wabt/wasm2c"
#define WG__MAX_SO_BYTES (1ull << 30)
/* How programs are compiled; part of the cache key. -O2 with wasm-rt's guard-page bounds
 * checks (its default on 64-bit Linux: loads and stores carry no explicit checks; the
 * 8 GiB reservation faults instead). No -march=native and no FP contraction: a program
 * must compute bit-identical floating-point results on every worker, as WebAssembly
 * specifies, so that replicas agree. Hidden visibility keeps the runtime's symbols private
 * to each program. */
#define WG__CC_FLAGS "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-fvisibility=hidden", "-w"
#define WG__CC_FLAGS_TEXT "-O2 -ffp-contract=off -fPIC -shared -fvisibility=hidden -w"

enum step { STEP_READY = 1, STEP_COMPILE, STEP_FETCHER, STEP_FAILED };
/* The quick tier: tcc, which compiles wasm2c's output in tens of milliseconds (no
 * optimisation, so no FP contraction either). Its object is never cached. */
#define WG__QUICK_CC_FLAGS "-shared", "-w"

enum stage { STAGE_WASM2C = 1, STAGE_QUICK, STAGE_CC };

#define WG__STR2(x) #x
#define WG__STR(x) WG__STR2(x)

/* The entry points compiled into every program, between the runner (struct
 * wg_program_host, sandbox.h) and the code wasm2c generates. Part of the cache key.
 * wg_program_run makes a fresh instance for every task and frees it afterwards, whether
 * _start returned, trapped or was unwound by the WASI layer (proc_exit, output limit)
 * with a longjmp to the same point a trap uses.
 *
 * The shim also replaces wasm-rt's memory allocation (it includes wasm-rt-impl.c with
 * those two functions renamed): a runner keeps ONE 8 GiB reservation for its instances
 * instead of mapping and unmapping one per task, which dominated a trivial task's cost
 * (page-table set-up and teardown over the whole reservation). On free the memory is
 * wiped: the first 256 KiB by memset (usually resident and cheaper than faulting again),
 * the rest by MADV_DONTNEED (zero-filled on next touch); on allocation everything past
 * the new initial size is made inaccessible again. So a new instance sees exactly what
 * a fresh mapping would show: zeros, and faults (traps) beyond its size. */
static const char shim_source[] =
    "#include <stdint.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include <sys/mman.h>\n"
    "#define wasm_rt_allocate_memory wg__rt_allocate_memory_replaced\n"
    "#define wasm_rt_free_memory wg__rt_free_memory_replaced\n"
    "#include \"wasm-rt-impl.c\"\n"
    "#undef wasm_rt_allocate_memory\n"
    "#undef wasm_rt_free_memory\n"
    "#include \"prog.h\"\n"
    "#define WG_RESERVE 0x200000000ul\n"
    "#define WG_ZEROED (256u << 10)\n"
    "void wasm_rt_allocate_memory(wasm_rt_memory_t *m, uint32_t initial, uint32_t max);\n"
    "void wasm_rt_free_memory(wasm_rt_memory_t *m);\n"
    "static uint8_t *wg_pool;\n"
    "static uint64_t wg_pool_rw;\n"
    "static int wg_pool_busy;\n"
    "void wasm_rt_allocate_memory(wasm_rt_memory_t *m, uint32_t initial, uint32_t max)\n"
    "{\n"
    "	uint64_t bytes = (uint64_t)initial * 65536u;\n"
    "	if (wg_pool_busy) {\n"
    "		wg__rt_allocate_memory_replaced(m, initial, max);\n"
    "		return;\n"
    "	}\n"
    "	if (!wg_pool) {\n"
    "		void *p = mmap(0, WG_RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n"
    "		if (p == MAP_FAILED)\n"
    "			abort();\n"
    "		wg_pool = p;\n"
    "	}\n"
    "	if (wg_pool_rw > bytes) {\n"
    "		mprotect(wg_pool + bytes, wg_pool_rw - bytes, PROT_NONE);\n"
    "		madvise(wg_pool + bytes, wg_pool_rw - bytes, MADV_DONTNEED);\n"
    "	} else if (wg_pool_rw < bytes &&\n"
    "		   mprotect(wg_pool + wg_pool_rw, bytes - wg_pool_rw, PROT_READ | PROT_WRITE)) {\n"
    "		abort();\n"
    "	}\n"
    "	wg_pool_rw = bytes;\n"
    "	wg_pool_busy = 1;\n"
    "	m->data = wg_pool;\n"
    "	m->size = (uint32_t)bytes;\n"
    "	m->pages = initial;\n"
    "	m->max_pages = max;\n"
    "}\n"
    "void wasm_rt_free_memory(wasm_rt_memory_t *m)\n"
    "{\n"
    "	if (!m->data)\n"
    "		return;\n"
    "	if (m->data != wg_pool) {\n"
    "		munmap(m->data, WG_RESERVE);\n"
    "		return;\n"
    "	}\n"
    "	uint64_t size = m->size, zeroed = size < WG_ZEROED ? size : WG_ZEROED;\n"
    "	memset(wg_pool, 0, zeroed);\n"
    "	if (size > zeroed)\n"
    "		madvise(wg_pool + zeroed, size - zeroed, MADV_DONTNEED);\n"
    "	wg_pool_rw = size;\n"
    "	wg_pool_busy = 0;\n"
    "}\n"
    "struct wg_program_host { " WG__STR(
	WG_PROGRAM_HOST_FIELDS) " };\n"
				"#define WG_UNWOUND 0x10000\n"
				"__attribute__((visibility(\"default\"))) int "
				"wg_program_setup(void);\n"
				"__attribute__((visibility(\"default\"))) int "
				"wg_program_run(struct wg_program_host *h);\n"
				"int wg_program_setup(void)\n"
				"{\n"
				"	wasm_rt_init();\n"
				"	Z_prog_init_module();\n"
				"	return 0;\n"
				"}\n"
				"static void wg_unwind(void)\n"
				"{\n"
				"	WASM_RT_LONGJMP(wasm_rt_jmp_buf, WG_UNWOUND);\n"
				"}\n"
				"static Z_prog_instance_t instance;\n"
				"int wg_program_run(struct wg_program_host *h)\n"
				"{\n"
				"	int rc = 0;\n"
				"	memset(&instance, 0, sizeof instance);\n"
				"	h->unwind = wg_unwind;\n"
				"	h->set_memory(h, 0);\n"
				"	int trap = wasm_rt_impl_try();\n"
				"	if (trap == WG_UNWOUND) {\n"
				"		rc = 3;\n"
				"		goto out;\n"
				"	}\n"
				"	if (trap) {\n"
				"		h->trap = trap;\n"
				"		h->trap_text = "
				"wasm_rt_strerror((wasm_rt_trap_t)trap);\n"
				"		rc = 1;\n"
				"		goto out;\n"
				"	}\n"
				"#ifdef WG_NO_WASI\n"
				"	Z_prog_instantiate(&instance);\n"
				"#else\n"
				"	Z_prog_instantiate(&instance,\n"
				"			   (struct "
				"Z_wasi_snapshot_preview1_instance_t *)h->wasi);\n"
				"#endif\n"
				"	wasm_rt_memory_t *m = Z_progZ_memory(&instance);\n"
				"	if (m->pages > h->max_pages) {\n"
				"		rc = 2;\n"
				"		goto out;\n"
				"	}\n"
				"	if (m->max_pages > h->max_pages)\n"
				"		m->max_pages = h->max_pages;\n"
				"	h->set_memory(h, m);\n"
				"	Z_progZ__start(&instance);\n"
				"out:\n"
				"	h->set_memory(h, 0);\n"
				"	Z_prog_free(&instance);\n"
				"	return rc;\n"
				"}\n";

/* ---- set-up ---- */

/* The absolute path of an executable, searching PATH for bare names; NULL if absent. */
static char *find_executable(const char *name)
{
	char resolved[PATH_MAX];
	if (strchr(name, '/'))
		return realpath(name, resolved) ? wg_strdup(resolved) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *candidate = wg_asprintf("%.*s/%s", (int)n, path, name);
		int ok = access(candidate, X_OK) == 0 && realpath(candidate, resolved);
		free(candidate);
		if (ok)
			return wg_strdup(resolved);
		path += n + (path[n] == ':');
	}
	return NULL;
}

static void describe_file(struct wg_buf *b, const char *path)
{
	struct stat st;
	if (path && stat(path, &st) == 0)
		wg_buf_appendf(b, "%s:%lld:%lld;", path, (long long)st.st_size,
			       (long long)st.st_mtime);
	else
		wg_buf_appendf(b, "%s:missing;", path ? path : "?");
}

int wg__program_dirs_init(struct wg_engine *e, const char *data_dir, const char *quick_cc)
{
	static int curl_ready;
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = 1;
	}
	if (e->tiers != WG_TIERS_OPTIMISED) {
		e->quick_cc = find_executable(quick_cc ? quick_cc : "tcc");
		if (!e->quick_cc && e->tiers == WG_TIERS_QUICK)
			return WG_ENOTFOUND;
		if (!e->quick_cc)
			wg_warn(NULL, "tcc is missing: new programs wait for the optimising "
				      "compiler (install Debian's tcc for the quick tier)");
	}
	/* The cache key changes whenever anything that shapes the compiled code does: the
	 * shim's interface, wasm2c, the C compiler, or the wasm-rt runtime sources. */
	struct wg_buf key = {0};
	wg_buf_append_str(&key, WG_PROGRAM_ABI ";" WG__CC_FLAGS_TEXT ";");
	wg_buf_append_str(&key, shim_source);
	char *wasm2c = find_executable(e->wasm2c);
	char *cc = find_executable(e->cc);
	describe_file(&key, wasm2c);
	describe_file(&key, cc);
	describe_file(&key, "/usr/include/wasm-rt.h");
	describe_file(&key, WG__RT_DIR "/wasm-rt-impl.c");
	free(wasm2c);
	free(cc);
	e->prlimit = find_executable("prlimit");
	if (!e->prlimit)
		wg_warn(NULL, "prlimit (util-linux) is missing: compilers run without CPU and "
			      "memory limits");
	char digest[65];
	wg_engine_hash_hex(key.data, key.len, digest);
	wg_buf_free(&key);
	digest[16] = 0;
	e->programs_dir = wg_path_join(data_dir, "programs");
	char *cache_root = wg_path_join(data_dir, "cache");
	e->cache_dir = wg_path_join(cache_root, digest);
	free(cache_root);
	int rc = wg_mkdir_p(e->programs_dir);
	if (!rc)
		rc = wg_mkdir_p(e->cache_dir);
	return rc;
}

/* ---- work on the thread pool ---- */

/* Records why preparation failed: the concatenation of a and b. */
static void set_failure(struct wg__program *p, int kind, const char *a, const char *b)
{
	free(p->fail_detail);
	p->fail_kind = kind;
	p->fail_detail = wg_asprintf("%s%s", a, b);
}

/* True when the cached object exists and matches its recorded checksum. A mismatched or
 * half-present entry is removed so that it is rebuilt. */
static int cache_entry_valid(struct wg__program *p, int *rejected)
{
	uint8_t *sum = NULL, *so = NULL;
	size_t sum_len, so_len;
	int valid = 0;
	int have_so = access(p->so_path, F_OK) == 0;
	if (!have_so)
		goto out;
	if (wg_read_file(p->sum_path, 200, &sum, &sum_len) || sum_len < 64 ||
	    wg_read_file(p->so_path, WG__MAX_SO_BYTES, &so, &so_len))
		goto out;
	char actual[65];
	wg_engine_hash_hex(so, so_len, actual);
	valid = memcmp(actual, sum, 64) == 0;
out:
	if (have_so && !valid) {
		*rejected = 1;
		unlink(p->so_path);
		unlink(p->sum_path);
	}
	free(sum);
	free(so);
	return valid;
}

static int hash_matches(const struct wg__program *p, const uint8_t *bytes, size_t len)
{
	char actual[65];
	wg_engine_hash_hex(bytes, len, actual);
	return strcmp(actual, p->hash) == 0;
}

static int has_fetcher(const struct wg_engine *e, const char *address)
{
	for (size_t i = 0; i < e->n_fetchers; i++) {
		size_t n = strlen(e->fetchers[i].scheme);
		if (!strncmp(address, e->fetchers[i].scheme, n) && !strncmp(address + n, "://", 3))
			return 1;
	}
	return 0;
}

static void prepare_work(uv_work_t *w)
{
	struct wg__program *p = w->data;
	struct wg_engine *e = p->engine;
	int rejected = 0;
	if (cache_entry_valid(p, &rejected)) {
		p->next_step = STEP_READY;
		return;
	}
	p->fail_kind = rejected; /* reused as a flag until after_prepare reads it */
	uint8_t *bytes = NULL;
	size_t len;
	if (wg_read_file(p->wasm_path, (size_t)e->max_program_bytes, &bytes, &len) == 0) {
		int ok = hash_matches(p, bytes, len);
		free(bytes);
		if (ok) {
			p->next_step = STEP_COMPILE;
			return;
		}
		unlink(p->wasm_path);
	}
	int fetcher = 0;
	char *reasons = NULL;
	for (size_t i = 0; i < p->n_addresses; i++) {
		const char *address = p->addresses[i];
		char why[256];
		if (has_fetcher(e, address)) {
			if (!e->policy || e->policy->registered) {
				fetcher = 1;
				continue;
			}
			snprintf(why, sizeof why, "%s", WG__NOT_ALLOWED);
		} else if (wg__fetch(e->policy, address, e->max_program_bytes,
				     e->download_timeout_ms, &bytes, &len, why, sizeof why) == 0) {
			int ok = hash_matches(p, bytes, len);
			int stored =
			    ok && wg_write_file_atomic(p->wasm_path, bytes, len, 0600) == 0;
			free(bytes);
			if (stored) {
				free(reasons);
				p->fetched_len = 1; /* counted as a download in after_prepare */
				p->next_step = STEP_COMPILE;
				return;
			}
			snprintf(why, sizeof why, "%s",
				 ok ? "cannot store the program" : "hash mismatch");
		}
		char *r = wg_asprintf("%s%s%s: %s", reasons ? reasons : "", reasons ? "; " : "",
				      address, why);
		free(reasons);
		reasons = r;
	}
	if (fetcher) {
		free(reasons);
		p->next_step = STEP_FETCHER;
		return;
	}
	p->next_step = STEP_FAILED;
	set_failure(p, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR,
		    "cannot fetch the program: ", reasons ? reasons : "no address");
	free(reasons);
}

/* Bytes from a fetcher: check and store them. */
static void store_work(uv_work_t *w)
{
	struct wg__program *p = w->data;
	if (!hash_matches(p, p->fetched, p->fetched_len)) {
		p->next_step = STEP_FAILED;
		set_failure(p, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR,
			    "hash mismatch for the fetched program", "");
	} else if (wg_write_file_atomic(p->wasm_path, p->fetched, p->fetched_len, 0600)) {
		p->next_step = STEP_FAILED;
		set_failure(p, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR,
			    "cannot store the fetched program", "");
	} else {
		p->next_step = STEP_COMPILE;
	}
	free(p->fetched);
	p->fetched = NULL;
}

static void remove_build_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *ent;
		while ((ent = readdir(d))) {
			if (ent->d_name[0] == '.')
				continue;
			char *f = wg_path_join(dir, ent->d_name);
			unlink(f);
			free(f);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* The compiler's output is complete: record its checksum, then move it into place. */
static void install_work(uv_work_t *w)
{
	struct wg__program *p = w->data;
	char *built = wg_path_join(p->build_dir, "prog.so");
	uint8_t *so = NULL;
	size_t so_len;
	p->next_step = STEP_FAILED;
	set_failure(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM, "cannot install the compiled program",
		    "");
	if (wg_read_file(built, WG__MAX_SO_BYTES, &so, &so_len) == 0) {
		char sum[65];
		wg_engine_hash_hex(so, so_len, sum);
		if (wg_write_file_atomic(p->sum_path, sum, 64, 0600) == 0 &&
		    rename(built, p->so_path) == 0)
			p->next_step = STEP_READY;
	}
	free(so);
	free(built);
	if (!p->quick_path)
		remove_build_dir(p->build_dir); /* else on the loop, once its runners are gone */
}

/* ---- steps on the loop ---- */

static void run_work(struct wg__program *p, uv_work_cb work, uv_after_work_cb after)
{
	p->work.data = p;
	p->work_busy = 1;
	p->engine->pending++;
	uv_queue_work(p->engine->loop, &p->work, work, after);
}

static void start_compile(struct wg__program *p);
static void after_prepare(uv_work_t *w, int status);

static void finish_step(struct wg__program *p)
{
	switch (p->next_step) {
	case STEP_READY: wg__program_ready(p); break;
	case STEP_COMPILE: start_compile(p); break;
	default:
		wg__program_failed(
		    p, p->fail_kind ? p->fail_kind : WASMGRID__ERROR_KIND__INVALID_PROGRAM,
		    p->fail_detail ? p->fail_detail : "cannot prepare the program");
		break;
	}
}

static void on_fetched(void *ctx, int status, const uint8_t *bytes, size_t len);

static void after_prepare(uv_work_t *w, int status)
{
	struct wg__program *p = w->data;
	struct wg_engine *e = p->engine;
	p->work_busy = 0;
	if (e->closing) {
		wg__engine_release(e);
		return;
	}
	wg__engine_release(e);
	if (p->next_step != STEP_FAILED && p->fail_kind == 1)
		e->stats.cache_rejected++;
	if (p->next_step != STEP_FAILED)
		p->fail_kind = 0;
	if (p->fetched_len == 1 && !p->fetched) {
		e->stats.downloads++;
		p->fetched_len = 0;
	}
	if (p->next_step == STEP_READY)
		e->stats.cache_hits++;
	if (p->next_step != STEP_FETCHER) {
		finish_step(p);
		return;
	}
	/* Ask the first address with a registered fetcher. The engine stays alive (pending)
	 * until the fetcher answers. */
	for (size_t i = 0; i < p->n_addresses; i++) {
		for (size_t j = 0; j < e->n_fetchers; j++) {
			const struct wg__fetcher *f = &e->fetchers[j];
			size_t n = strlen(f->scheme);
			if (strncmp(p->addresses[i], f->scheme, n) ||
			    strncmp(p->addresses[i] + n, "://", 3))
				continue;
			p->state = WG__PROGRAM_FETCHING;
			e->pending++;
			f->fn(f->user, p->addresses[i], p->hash, on_fetched, p);
			return;
		}
	}
}

/* The common end of work done off the loop: the program, or NULL when the engine closes
 * meanwhile (then e and p may be freed). */
static struct wg__program *work_done(uv_work_t *w)
{
	struct wg__program *p = w->data;
	struct wg_engine *e = p->engine;
	p->work_busy = 0;
	bool closing = e->closing;
	wg__engine_release(e); /* may free e and p when closing */
	return closing ? NULL : p;
}

static void after_store(uv_work_t *w, int status)
{
	struct wg__program *p = work_done(w);
	if (!p)
		return;
	struct wg_engine *e = p->engine;
	if (p->next_step == STEP_COMPILE)
		e->stats.downloads++;
	finish_step(p);
}

static void on_fetched(void *ctx, int status, const uint8_t *bytes, size_t len)
{
	struct wg__program *p = ctx;
	struct wg_engine *e = p->engine;
	if (e->closing) {
		wg__engine_release(e);
		return;
	}
	e->pending--; /* the engine is not closing, so this cannot reach 0 with closing */
	if (status || len > e->max_program_bytes) {
		char detail[200];
		snprintf(detail, sizeof detail, "cannot fetch the program: %s",
			 status ? wg_strerror(status) : "too large");
		wg__program_failed(p, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR, detail);
		return;
	}
	p->fetched = wg_memdup(bytes ? bytes : (const uint8_t *)"", len ? len : 1);
	p->fetched_len = len;
	run_work(p, store_work, after_store);
}

void wg__program_start(struct wg__program *p)
{
	struct wg_engine *e = p->engine;
	char *name = wg_asprintf("%s.wasm", p->hash);
	p->wasm_path = wg_path_join(e->programs_dir, name);
	free(name);
	name = wg_asprintf("%s.so", p->hash);
	p->so_path = wg_path_join(e->cache_dir, name);
	free(name);
	p->sum_path = wg_asprintf("%s.b2", p->so_path);
	p->state = WG__PROGRAM_PREPARING;
	run_work(p, prepare_work, after_prepare);
}

/* ---- the compilers ---- */

/* The first line of the compiler's log, for the error detail. */
static char *first_log_line(struct wg__program *p)
{
	char *log = wg_path_join(p->build_dir, "log");
	uint8_t *text = NULL;
	size_t len = 0;
	char *line;
	if (wg_read_file(log, 1 << 20, &text, &len) == 0 && len > 0) {
		size_t n = strcspn((char *)text, "\n");
		line = wg_strndup((char *)text, n > 300 ? 300 : n);
	} else {
		line = wg_strdup("no diagnostic");
	}
	free(text);
	free(log);
	return line;
}

static void on_proc_exit(uv_process_t *proc, int64_t exit_status, int term_signal);
static void on_proc_closed(uv_handle_t *h);

/* Runs args[0] with its output going to the build directory's log. Returns 0 when the
 * outcome will arrive through on_proc_closed (even if the program could not be started),
 * or WG_EIO if the log cannot be created. */
static int spawn(struct wg__program *p, char **cmd)
{
	struct wg_engine *e = p->engine;
	char *log = wg_path_join(p->build_dir, "log");
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	free(log);
	if (fd < 0)
		return WG_EIO;
	/* A module is untrusted and so is the cost of compiling it: each compiler process
	 * (and each one cc starts, which inherits them) runs under CPU-time and address-space
	 * limits, in a session of its own so that a cancel kills the whole pipeline. */
	char cpu[40], as[48];
	char *args[24];
	size_t n = 0;
	/* Soft limit first (SIGXCPU, which cc reports as such), the hard one a second later. */
	snprintf(cpu, sizeof cpu, "--cpu=%u:%u", e->compile_cpu_s, e->compile_cpu_s + 1);
	snprintf(as, sizeof as, "--as=%llu", (unsigned long long)e->compile_memory_mib << 20);
	/* A compiler that is missing is reported as such: spawned directly, its start fails. */
	char *found = find_executable(cmd[0]);
	if (e->prlimit && found) {
		args[n++] = e->prlimit;
		args[n++] = cpu;
		args[n++] = as;
		args[n++] = "--";
	}
	free(found);
	for (size_t i = 0; cmd[i] && n < sizeof args / sizeof args[0] - 1; i++)
		args[n++] = cmd[i];
	args[n] = NULL;
	uv_stdio_container_t stdio[3] = {
	    {.flags = UV_IGNORE},
	    {.flags = UV_INHERIT_FD, .data.fd = fd},
	    {.flags = UV_INHERIT_FD, .data.fd = fd},
	};
	uv_process_options_t o = {
	    .exit_cb = on_proc_exit,
	    .file = args[0],
	    .args = args,
	    .stdio_count = 3,
	    .stdio = stdio,
	    .flags = UV_PROCESS_DETACHED, /* setsid(): its own process group */
	};
	p->proc.data = p;
	p->spawn_failed = 0;
	p->term_signal = 0;
	int rc = uv_spawn(p->engine->loop, &p->proc, &o);
	close(fd);
	p->proc_busy = 1;
	p->engine->pending++;
	if (rc) {
		/* uv_spawn initialised the handle even on failure: it must still be closed, and
		 * the program may only be failed (and freed) once that is done. */
		p->spawn_failed = 1;
		p->proc_stage = -p->proc_stage;
		uv_close((uv_handle_t *)&p->proc, on_proc_closed);
	}
	return 0;
}

/* Whether the build log says a limit was hit (cc reports its children's fate there). */
static int log_mentions(struct wg__program *p, const char *const *needles)
{
	char *log = wg_path_join(p->build_dir, "log");
	uint8_t *text = NULL;
	size_t len = 0;
	int found = 0;
	if (wg_read_file(log, 1 << 20, &text, &len) == 0)
		for (const char *const *n = needles; *n && !found; n++)
			found = strstr((char *)text, *n) != NULL;
	free(text);
	free(log);
	return found;
}

static void compile_failed(struct wg__program *p, const char *what)
{
	struct wg_engine *e = p->engine;
	static const char *const cpu_words[] = {"CPU time limit", NULL};
	static const char *const memory_words[] = {"out of memory", "memory exhausted", "bad_alloc",
						   "Cannot allocate memory", NULL};
	char *detail;
	if (p->unwanted) {
		detail = wg_strdup("compilation stopped: no task needs the program any more");
	} else if (p->term_signal == SIGXCPU || log_mentions(p, cpu_words)) {
		detail = wg_asprintf("%s: compilation exceeded its CPU limit of %u s (the worker's "
				     "--compile-cpu)",
				     what, e->compile_cpu_s);
	} else if (log_mentions(p, memory_words)) {
		detail = wg_asprintf("%s: compilation exceeded its memory limit of %u MiB (the "
				     "worker's --compile-memory)",
				     what, e->compile_memory_mib);
	} else {
		char *line = first_log_line(p);
		detail = wg_asprintf("%s: %s", what, line);
		free(line);
	}
	if (p->state == WG__PROGRAM_READY) {
		/* The optimising tier failed behind a working quick tier, which stays. */
		wg_warn(NULL, "program %.16s: %s; it stays on the quick tier", p->hash, detail);
		free(detail);
		return;
	}
	remove_build_dir(p->build_dir);
	wg__program_failed(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM, detail);
	free(detail);
}

static void start_compile(struct wg__program *p)
{
	struct wg_engine *e = p->engine;
	p->state = WG__PROGRAM_COMPILING;
	p->compile_started_ms = wg_mono_ms();
	char *name = wg_asprintf("build-%.16s-%d-%llu", p->hash, (int)getpid(),
				 (unsigned long long)++e->build_counter);
	free(p->build_dir);
	p->build_dir = wg_path_join(e->cache_dir, name);
	free(name);
	if (wg_mkdir_p(p->build_dir)) {
		wg__program_failed(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM,
				   "cannot create a build directory");
		return;
	}
	char *out = wg_path_join(p->build_dir, "prog.c");
	char *args[] = {e->wasm2c, "--no-debug-names", "-n", "prog", p->wasm_path, "-o", out, NULL};
	p->proc_stage = STAGE_WASM2C;
	int rc = spawn(p, args);
	free(out);
	if (rc) {
		remove_build_dir(p->build_dir);
		wg__program_failed(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM,
				   "cannot write the build log");
	}
}

static int is_wasi_name(const char *name)
{
	for (const char *const *n = wg_wasi_import_names; *n; n++)
		if (!strcmp(*n, name))
			return 1;
	return 0;
}

/* Reads the generated header: every import must be a WASI function we provide, and the
 * module must export _start and its memory. Sets *no_wasi when it imports nothing. */
static char *check_interface(struct wg__program *p, int *no_wasi)
{
	char *header = wg_path_join(p->build_dir, "prog.h");
	uint8_t *text = NULL;
	size_t len;
	char *problem = NULL;
	int imports = 0, start = 0, memory = 0;
	if (wg_read_file(header, 16 << 20, &text, &len)) {
		problem = wg_strdup("wasm2c wrote no header");
		goto out;
	}
	for (char *line = (char *)text; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		char module[128], field[128];
		if (sscanf(line, "/* import: '%127[^']' '%127[^']' */", module, field) == 2) {
			imports++;
			if (strcmp(module, "wasi_snapshot_preview1") || !is_wasi_name(field)) {
				problem = wg_asprintf("unsupported import %s.%s", module, field);
				goto out;
			}
		} else if (sscanf(line, "/* export: '%127[^']' */", field) == 1) {
			start |= !strcmp(field, "_start");
			memory |= !strcmp(field, "memory");
		}
	}
	if (!start || !memory)
		problem = wg_strdup("not a WASI command module (needs _start and memory exports)");
	*no_wasi = imports == 0;
out:
	free(text);
	free(header);
	return problem;
}

/* Starts a C compiler on the generated code and the shim (which includes wasm-rt-impl.c
 * itself): tcc for the quick tier (STAGE_QUICK, into quick.so), cc -O2 for the optimised
 * one (STAGE_CC, into prog.so). Returns 0 or WG_EIO (no build log). */
static int spawn_cc(struct wg__program *p, int stage)
{
	struct wg_engine *e = p->engine;
	char *shim = wg_path_join(p->build_dir, "shim.c");
	char *prog = wg_path_join(p->build_dir, "prog.c");
	char *so = wg_path_join(p->build_dir, stage == STAGE_QUICK ? "quick.so" : "prog.so");
	char *include = wg_asprintf("-I%s", WG__RT_DIR);
	char *wasi = p->no_wasi ? "-DWG_NO_WASI" : "-DWG_WASI";
	char *quick[] = {
	    e->quick_cc, WG__QUICK_CC_FLAGS, include, wasi, "-o", so, prog, shim, "-lm", NULL};
	char *optimised[] = {e->cc, WG__CC_FLAGS, include, wasi, "-o", so, prog, shim, "-lm", NULL};
	p->proc_stage = stage;
	int rc = spawn(p, stage == STAGE_QUICK ? quick : optimised);
	free(shim);
	free(prog);
	free(so);
	free(include);
	return rc;
}

/* wasm2c is done: check the module's interface, then compile. */
static void start_cc(struct wg__program *p)
{
	struct wg_engine *e = p->engine;
	char *problem = check_interface(p, &p->no_wasi);
	if (problem) {
		remove_build_dir(p->build_dir);
		wg__program_failed(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM, problem);
		free(problem);
		return;
	}
	char *shim = wg_path_join(p->build_dir, "shim.c");
	int rc = wg_write_file_atomic(shim, shim_source, sizeof shim_source - 1, 0600);
	free(shim);
	if (!rc)
		rc = spawn_cc(p, e->quick_cc ? STAGE_QUICK : STAGE_CC);
	if (rc) {
		remove_build_dir(p->build_dir);
		wg__program_failed(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM,
				   "cannot write the program's shim or build log");
	}
}

/* The quick tier is built: the program runs on it at once, and the optimised tier is
 * built behind it (unless the engine runs the quick tier only). */
static void quick_ready(struct wg__program *p)
{
	struct wg_engine *e = p->engine;
	free(p->quick_path);
	p->quick_path = wg_path_join(p->build_dir, "quick.so");
	p->tier = WG__TIER_QUICK;
	e->stats.quick_compilations++;
	wg_info(NULL, "program %.16s: quick tier ready in %llu ms", p->hash,
		(unsigned long long)(wg_mono_ms() - p->compile_started_ms));
	wg__program_ready(p);
	if (e->tiers == WG_TIERS_QUICK)
		return;
	/* Without a build log the quick tier simply stays. */
	if (spawn_cc(p, STAGE_CC))
		wg_warn(NULL, "program %.16s: cannot start the optimising compiler", p->hash);
}

static void after_install(uv_work_t *w, int status)
{
	struct wg__program *p = work_done(w);
	if (!p)
		return;
	struct wg_engine *e = p->engine;
	if (p->next_step == STEP_READY) {
		e->stats.compilations++;
		wg_info(NULL, "program %.16s compiled in %llu ms", p->hash,
			(unsigned long long)(wg_mono_ms() - p->compile_started_ms));
	}
	if (p->state != WG__PROGRAM_READY) {
		finish_step(p);
		return;
	}
	/* It ran on the quick tier meanwhile. Installed: new tasks run optimised, and those
	 * on the quick tier start again there (see docs/engine.md for why). Not installed:
	 * it stays on the quick tier. */
	if (p->next_step == STEP_READY) {
		p->tier = WG__TIER_OPTIMISED;
		wg__runners_retire(p);
		free(p->quick_path);
		p->quick_path = NULL;
		remove_build_dir(p->build_dir);
	} else {
		wg_warn(NULL, "program %.16s: %s; it stays on the quick tier", p->hash,
			p->fail_detail);
	}
}

static void on_proc_closed(uv_handle_t *h)
{
	struct wg__program *p = h->data;
	struct wg_engine *e = p->engine;
	p->proc_busy = 0;
	int ok = p->proc_stage > 0;
	int stage = ok ? p->proc_stage : -p->proc_stage;
	if (e->closing) {
		remove_build_dir(p->build_dir);
		wg__engine_release(e); /* may free e and p */
		return;
	}
	wg__engine_release(e);
	if (stage == STAGE_QUICK && ok) {
		quick_ready(p);
	} else if (stage == STAGE_QUICK && !p->unwanted && e->tiers != WG_TIERS_QUICK) {
		/* tcc could not build it (or hit a limit): the optimising tier decides. */
		char *line = first_log_line(p);
		wg_warn(NULL, "program %.16s: the quick tier failed (%s); waiting for cc", p->hash,
			line);
		free(line);
		if (spawn_cc(p, STAGE_CC))
			compile_failed(p, "C compiler");
	} else if (!ok && p->state == WG__PROGRAM_READY) {
		compile_failed(p, "C compiler"); /* behind the quick tier, which stays */
	} else if (!ok && p->spawn_failed) {
		remove_build_dir(p->build_dir);
		wg__program_failed(p, WASMGRID__ERROR_KIND__INVALID_PROGRAM,
				   stage == STAGE_WASM2C ? "cannot run wasm2c (is wabt installed?)"
							 : "cannot run the C compiler");
	} else if (!ok) {
		compile_failed(p, stage == STAGE_WASM2C ? "wasm2c" : "C compiler");
	} else if (stage == STAGE_WASM2C) {
		start_cc(p);
	} else {
		run_work(p, install_work, after_install);
	}
}

static void on_proc_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct wg__program *p = proc->data;
	/* The sign of proc_stage carries success into the close callback. */
	if (exit_status != 0 || term_signal != 0)
		p->proc_stage = -p->proc_stage;
	p->term_signal = term_signal;
	/* What it started (cc1, as) may outlive it: the whole group goes. */
	kill(-p->proc.pid, SIGKILL);
	uv_close((uv_handle_t *)proc, on_proc_closed);
}

void wg__program_cancel(struct wg__program *p)
{
	if (p->proc_busy && !p->spawn_failed)
		kill(-p->proc.pid, SIGKILL);
}

void wg__program_unwanted(struct wg__program *p)
{
	if (p->state != WG__PROGRAM_COMPILING || !p->proc_busy || p->waiting)
		return;
	wg_info(NULL, "program %.16s: no task needs it any more, compilation stopped", p->hash);
	p->unwanted = 1;
	wg__program_cancel(p);
}

void wg__program_free(struct wg__program *p)
{
	if (p->quick_path && p->build_dir)
		remove_build_dir(p->build_dir); /* stayed on the quick tier */
	free(p->quick_path);
	for (size_t i = 0; i < p->n_addresses; i++)
		free(p->addresses[i]);
	free(p->addresses);
	free(p->wasm_path);
	free(p->so_path);
	free(p->sum_path);
	free(p->build_dir);
	free(p->fail_detail);
	free(p->fetched);
	free(p);
}
