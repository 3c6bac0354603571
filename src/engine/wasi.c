/* The WASI preview1 host functions (see wasi.h). Every pointer the program passes is
 * checked against the current size of its linear memory before use; a bad pointer is the
 * program's error (EFAULT), never the host's crash. Everything the sandbox denies (files,
 * sockets, environment) is answered with the WASI error a real host would give for an
 * object that does not exist, so programs see an empty world rather than a failure. */
#include "engine/wasi.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/utf8.h"

/* WASI errno values (wasi_snapshot_preview1). */
enum {
	WASI_ESUCCESS = 0,
	WASI_EBADF = 8,
	WASI_EFAULT = 21,
	WASI_EINVAL = 28,
	WASI_EIO = 29,
	WASI_ENOSYS = 52,
	WASI_ENOTDIR = 54,
	WASI_ENOTSOCK = 57,
	WASI_ENOTSUP = 58,
	WASI_ESPIPE = 70,
};

enum { WASI_FILETYPE_UNKNOWN = 0 };
enum { WASI_RIGHT_FD_READ = 1 << 1, WASI_RIGHT_FD_WRITE = 1 << 6 };

typedef uint32_t u32;
typedef uint64_t u64;

/* Defines one import: a prototype (the functions are called from generated code only, so
 * no header declares them) followed by the definition. */
#define WASI_FN(ret, name, ...)                                                                    \
	ret Z_wasi_snapshot_preview1Z_##name(struct wg_wasi *w, ##__VA_ARGS__);                    \
	ret Z_wasi_snapshot_preview1Z_##name(struct wg_wasi *w, ##__VA_ARGS__)

/* The address of [ptr, ptr+len) in linear memory, or NULL when out of bounds. */
static uint8_t *mem(struct wg_wasi *w, u32 ptr, u64 len)
{
	if (!w->memory || (u64)ptr + len > w->memory->size)
		return NULL;
	return w->memory->data + ptr;
}

static int put_u32(struct wg_wasi *w, u32 ptr, u32 v)
{
	uint8_t *p = mem(w, ptr, 4);
	if (!p)
		return -1;
	memcpy(p, &v, 4); /* wasm and x86-64 are both little-endian */
	return 0;
}

static int put_u64(struct wg_wasi *w, u32 ptr, u64 v)
{
	uint8_t *p = mem(w, ptr, 8);
	if (!p)
		return -1;
	memcpy(p, &v, 8);
	return 0;
}

static int get_u32(struct wg_wasi *w, u32 ptr, u32 *v)
{
	uint8_t *p = mem(w, ptr, 4);
	if (!p)
		return -1;
	memcpy(v, p, 4);
	return 0;
}

/* Ends the instance: the runner reports `report` for the task. */
__attribute__((noreturn)) static void end_task(struct wg_wasi *w, uint32_t report, uint32_t code,
					       const char *detail)
{
	w->end_report = report;
	w->end_code = code;
	snprintf(w->end_detail, sizeof w->end_detail, "%s", detail ? detail : "");
	w->unwind();
	__builtin_unreachable();
}

static void append_stdout(struct wg_wasi *w, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t room = w->out_cap - w->out_len;
		size_t k = n < room ? n : room;
		memcpy(w->out + w->out_len, p, k);
		w->out_len += k;
		p += k;
		n -= k;
		if (w->out_len == w->out_cap)
			w->flush(w);
	}
}

static void append_stderr(struct wg_wasi *w, const uint8_t *p, size_t n)
{
	if (n > WG_STDERR_TAIL_BYTES) {
		w->err_total += n - WG_STDERR_TAIL_BYTES;
		p += n - WG_STDERR_TAIL_BYTES;
		n = WG_STDERR_TAIL_BYTES;
	}
	while (n > 0) {
		size_t at = (size_t)(w->err_total % WG_STDERR_TAIL_BYTES);
		size_t k = WG_STDERR_TAIL_BYTES - at;
		if (k > n)
			k = n;
		memcpy(w->err_ring + at, p, k);
		w->err_total += k;
		p += k;
		n -= k;
	}
}

size_t wg_wasi_stderr_tail(const struct wg_wasi *w, uint8_t *dst)
{
	if (w->err_total <= WG_STDERR_TAIL_BYTES) {
		memcpy(dst, w->err_ring, (size_t)w->err_total);
		return (size_t)w->err_total;
	}
	size_t at = (size_t)(w->err_total % WG_STDERR_TAIL_BYTES);
	memcpy(dst, w->err_ring + at, WG_STDERR_TAIL_BYTES - at);
	memcpy(dst + WG_STDERR_TAIL_BYTES - at, w->err_ring, at);
	return WG_STDERR_TAIL_BYTES;
}

void wg_wasi_reset(struct wg_wasi *w, const uint8_t *argument, size_t argument_len,
		   uint64_t output_limit, uint64_t seed)
{
	w->memory = NULL;
	w->input = argument;
	w->input_len = argument_len;
	w->input_pos = 0;
	w->argv0 = "program";
	/* The runner keeps a NUL after the argument, so it can serve as a C string. */
	w->argv1 = wg_wasi_argument_is_text(argument, argument_len) ? (const char *)argument : NULL;
	w->output_limit = output_limit;
	w->output_written = 0;
	w->out_len = 0;
	w->err_total = 0;
	w->unwind = NULL;
	w->end_report = 0;
	w->end_code = 0;
	w->end_detail[0] = 0;
	/* The key is a hash of the seed, so nearby seeds give unrelated streams; the stream
	 * restarts for every task, so the same seed gives the same bytes in any runner. */
	uint8_t seed_le[8];
	for (int i = 0; i < 8; i++)
		seed_le[i] = (uint8_t)(seed >> (8 * i));
	static const char domain[] = "wasmgrid random_get v1";
	crypto_generichash(w->rng_key, sizeof w->rng_key, seed_le, sizeof seed_le,
			   (const uint8_t *)domain, sizeof domain - 1);
	w->rng_block_index = 0;
	w->rng_avail = 0;
}

int wg_wasi_argument_is_text(const uint8_t *s, size_t len)
{
	return !memchr(s, 0, len) && wg_utf8_valid(s, len);
}

/* ---- arguments and environment ---- */

WASI_FN(u32, args_sizes_get, u32 argc_ptr, u32 size_ptr)
{
	u32 size = (u32)strlen(w->argv0) + 1 + (w->argv1 ? (u32)w->input_len + 1 : 0);
	if (put_u32(w, argc_ptr, w->argv1 ? 2 : 1) || put_u32(w, size_ptr, size))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

WASI_FN(u32, args_get, u32 argv_ptr, u32 buf_ptr)
{
	const char *args[2] = {w->argv0, w->argv1};
	size_t lens[2] = {strlen(w->argv0), w->argv1 ? w->input_len : 0};
	int argc = w->argv1 ? 2 : 1;
	for (int i = 0; i < argc; i++) {
		uint8_t *dst = mem(w, buf_ptr, lens[i] + 1);
		if (!dst || put_u32(w, argv_ptr + 4 * (u32)i, buf_ptr))
			return WASI_EFAULT;
		memcpy(dst, args[i], lens[i]);
		dst[lens[i]] = 0;
		buf_ptr += (u32)lens[i] + 1;
	}
	return WASI_ESUCCESS;
}

WASI_FN(u32, environ_sizes_get, u32 count_ptr, u32 size_ptr)
{
	if (put_u32(w, count_ptr, 0) || put_u32(w, size_ptr, 0))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

WASI_FN(u32, environ_get, u32 environ_ptr, u32 buf_ptr)
{
	return WASI_ESUCCESS;
}

/* ---- clocks, randomness, scheduling ---- */

static int wasi_clock(u32 id, clockid_t *out)
{
	static const clockid_t map[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
					CLOCK_THREAD_CPUTIME_ID};
	if (id >= sizeof map / sizeof map[0])
		return -1;
	*out = map[id];
	return 0;
}

WASI_FN(u32, clock_res_get, u32 id, u32 res_ptr)
{
	clockid_t c;
	struct timespec ts;
	if (wasi_clock(id, &c) || clock_getres(c, &ts))
		return WASI_EINVAL;
	if (put_u64(w, res_ptr, (u64)ts.tv_sec * 1000000000u + (u64)ts.tv_nsec))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

WASI_FN(u32, clock_time_get, u32 id, u64 precision, u32 time_ptr)
{
	clockid_t c;
	struct timespec ts;
	if (wasi_clock(id, &c) || clock_gettime(c, &ts))
		return WASI_EINVAL;
	if (put_u64(w, time_ptr, (u64)ts.tv_sec * 1000000000u + (u64)ts.tv_nsec))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

/* A ChaCha20 keystream keyed by the task's seed: the same seed gives the same bytes in the
 * same order, however the program splits its calls. */
WASI_FN(u32, random_get, u32 buf_ptr, u32 len)
{
	uint8_t *dst = mem(w, buf_ptr, len);
	if (!dst)
		return WASI_EFAULT;
	static const uint8_t zeros[64];
	static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	while (len > 0) {
		if (w->rng_avail == 0) {
			crypto_stream_chacha20_xor_ic(w->rng_block, zeros, sizeof zeros, nonce,
						      w->rng_block_index++, w->rng_key);
			w->rng_avail = sizeof w->rng_block;
		}
		size_t n = len < w->rng_avail ? len : w->rng_avail;
		memcpy(dst, w->rng_block + sizeof w->rng_block - w->rng_avail, n);
		w->rng_avail -= n;
		dst += n;
		len -= (u32)n;
	}
	return WASI_ESUCCESS;
}

WASI_FN(u32, sched_yield)
{
	return WASI_ESUCCESS;
}

WASI_FN(void, proc_exit, u32 code)
{
	end_task(w, WG_CHILD_EXIT, code, NULL);
}

WASI_FN(u32, proc_raise, u32 sig)
{
	return WASI_ENOSYS;
}

/* Sleeps for the earliest clock subscription and reports it; stdin is always readable and
 * stdout and stderr always writable, so fd subscriptions on them are ready at once. */
WASI_FN(u32, poll_oneoff, u32 in_ptr, u32 out_ptr, u32 nsubs, u32 nevents_ptr)
{
	enum { SUB_SIZE = 48, EVENT_SIZE = 32 };
	const uint8_t *subs = mem(w, in_ptr, (u64)nsubs * SUB_SIZE);
	uint8_t *events = mem(w, out_ptr, (u64)nsubs * EVENT_SIZE);
	if (!subs || !events || nsubs == 0)
		return nsubs == 0 ? WASI_EINVAL : WASI_EFAULT;
	u32 nevents = 0;
	int earliest = -1;
	u64 earliest_ns = 0;
	for (u32 i = 0; i < nsubs; i++) {
		const uint8_t *s = subs + (size_t)i * SUB_SIZE;
		uint8_t tag = s[8];
		if (tag == 0) { /* clock */
			u32 id;
			u64 timeout;
			uint16_t flags;
			memcpy(&id, s + 16, 4);
			memcpy(&timeout, s + 24, 8);
			memcpy(&flags, s + 40, 2);
			clockid_t c;
			struct timespec now;
			if (wasi_clock(id, &c) || clock_gettime(c, &now))
				return WASI_EINVAL;
			u64 now_ns = (u64)now.tv_sec * 1000000000u + (u64)now.tv_nsec;
			u64 wait = timeout;
			if (flags & 1) /* absolute */
				wait = timeout > now_ns ? timeout - now_ns : 0;
			if (earliest < 0 || wait < earliest_ns)
				earliest = (int)i, earliest_ns = wait;
			continue;
		}
		u32 fd;
		memcpy(&fd, s + 16, 4);
		uint8_t *ev = events + (size_t)nevents++ * EVENT_SIZE;
		memset(ev, 0, EVENT_SIZE);
		memcpy(ev, s, 8);
		ev[10] = tag;
		uint16_t err = WASI_ESUCCESS;
		u64 nbytes = 0;
		if (tag == 1 && fd == 0)
			nbytes = w->input_len - w->input_pos;
		else if (!(tag == 2 && (fd == 1 || fd == 2)))
			err = WASI_EBADF;
		memcpy(ev + 8, &err, 2);
		memcpy(ev + 16, &nbytes, 8);
	}
	if (nevents == 0 && earliest >= 0) {
		struct timespec ts = {(time_t)(earliest_ns / 1000000000u),
				      (long)(earliest_ns % 1000000000u)};
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
			;
		uint8_t *ev = events;
		memset(ev, 0, EVENT_SIZE);
		memcpy(ev, subs + (size_t)earliest * SUB_SIZE, 8);
		nevents = 1;
	}
	if (put_u32(w, nevents_ptr, nevents))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

/* ---- file descriptors: only 0 (the argument), 1 (the result) and 2 (the log) ---- */

static int is_stdio(u32 fd)
{
	return fd <= 2;
}

WASI_FN(u32, fd_write, u32 fd, u32 iovs, u32 iovs_len, u32 nwritten_ptr)
{
	if (fd != 1 && fd != 2)
		return WASI_EBADF;
	u64 total = 0;
	for (u32 i = 0; i < iovs_len; i++) {
		u32 buf, len;
		if (get_u32(w, iovs + 8 * i, &buf) || get_u32(w, iovs + 8 * i + 4, &len))
			return WASI_EFAULT;
		const uint8_t *src = mem(w, buf, len);
		if (!src)
			return WASI_EFAULT;
		if (fd == 1) {
			if (w->output_written + len > w->output_limit) {
				char why[120];
				snprintf(why, sizeof why,
					 "output exceeds the result limit of %llu bytes",
					 (unsigned long long)w->output_limit);
				end_task(w, WG_CHILD_LIMIT, 0, why);
			}
			w->output_written += len;
			append_stdout(w, src, len);
		} else {
			append_stderr(w, src, len);
		}
		total += len;
	}
	if (put_u32(w, nwritten_ptr, (u32)total))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

WASI_FN(u32, fd_read, u32 fd, u32 iovs, u32 iovs_len, u32 nread_ptr)
{
	if (fd != 0)
		return WASI_EBADF;
	u64 total = 0;
	for (u32 i = 0; i < iovs_len && w->input_pos < w->input_len; i++) {
		u32 buf, len;
		if (get_u32(w, iovs + 8 * i, &buf) || get_u32(w, iovs + 8 * i + 4, &len))
			return WASI_EFAULT;
		uint8_t *dst = mem(w, buf, len);
		if (!dst)
			return WASI_EFAULT;
		size_t n = w->input_len - w->input_pos;
		if (n > len)
			n = len;
		memcpy(dst, w->input + w->input_pos, n);
		w->input_pos += n;
		total += n;
	}
	if (put_u32(w, nread_ptr, (u32)total))
		return WASI_EFAULT;
	return WASI_ESUCCESS;
}

WASI_FN(u32, fd_pread, u32 fd, u32 iovs, u32 iovs_len, u64 offset, u32 nread_ptr)
{
	return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}

WASI_FN(u32, fd_pwrite, u32 fd, u32 iovs, u32 iovs_len, u64 offset, u32 nwritten_ptr)
{
	return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}

WASI_FN(u32, fd_fdstat_get, u32 fd, u32 stat_ptr)
{
	if (!is_stdio(fd))
		return WASI_EBADF;
	uint8_t *p = mem(w, stat_ptr, 24);
	if (!p)
		return WASI_EFAULT;
	memset(p, 0, 24);
	/* Not a character device, so wasi-libc buffers stdout fully instead of by line. */
	p[0] = WASI_FILETYPE_UNKNOWN;
	u64 rights = fd == 0 ? WASI_RIGHT_FD_READ : WASI_RIGHT_FD_WRITE;
	memcpy(p + 8, &rights, 8);
	return WASI_ESUCCESS;
}

WASI_FN(u32, fd_filestat_get, u32 fd, u32 stat_ptr)
{
	if (!is_stdio(fd))
		return WASI_EBADF;
	uint8_t *p = mem(w, stat_ptr, 64);
	if (!p)
		return WASI_EFAULT;
	memset(p, 0, 64);
	return WASI_ESUCCESS;
}

WASI_FN(u32, fd_seek, u32 fd, u64 offset, u32 whence, u32 newoffset_ptr)
{
	return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}

WASI_FN(u32, fd_tell, u32 fd, u32 offset_ptr)
{
	return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}

WASI_FN(u32, fd_close, u32 fd)
{
	/* Closing stdio is allowed and changes nothing: the pipes belong to the sandbox. */
	return is_stdio(fd) ? WASI_ESUCCESS : WASI_EBADF;
}

/* No preopened directories: a program looking for them finds none, so every path it
 * opens resolves to nothing. */
WASI_FN(u32, fd_prestat_get, u32 fd, u32 prestat_ptr)
{
	return WASI_EBADF;
}

WASI_FN(u32, fd_prestat_dir_name, u32 fd, u32 path, u32 path_len)
{
	return WASI_EBADF;
}

#define FD_ONLY_ERROR(fd) (is_stdio(fd) ? WASI_EINVAL : WASI_EBADF)

/* A pipe can be neither advised about nor allocated (POSIX: ESPIPE). */
WASI_FN(u32, fd_advise, u32 fd, u64 offset, u64 len, u32 advice)
{
	return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}
WASI_FN(u32, fd_allocate, u32 fd, u64 offset, u64 len)
{
	return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}
WASI_FN(u32, fd_datasync, u32 fd)
{
	return FD_ONLY_ERROR(fd);
}
WASI_FN(u32, fd_sync, u32 fd)
{
	return FD_ONLY_ERROR(fd);
}
WASI_FN(u32, fd_fdstat_set_flags, u32 fd, u32 flags)
{
	return is_stdio(fd) ? WASI_ENOTSUP : WASI_EBADF;
}
WASI_FN(u32, fd_fdstat_set_rights, u32 fd, u64 base, u64 inheriting)
{
	return is_stdio(fd) ? WASI_ENOTSUP : WASI_EBADF;
}
WASI_FN(u32, fd_filestat_set_size, u32 fd, u64 size)
{
	return FD_ONLY_ERROR(fd);
}
WASI_FN(u32, fd_filestat_set_times, u32 fd, u64 atim, u64 mtim, u32 flags)
{
	return FD_ONLY_ERROR(fd);
}
WASI_FN(u32, fd_readdir, u32 fd, u32 buf, u32 buf_len, u64 cookie, u32 bufused_ptr)
{
	return is_stdio(fd) ? WASI_ENOTDIR : WASI_EBADF;
}
WASI_FN(u32, fd_renumber, u32 fd, u32 to)
{
	return WASI_EBADF;
}

/* ---- paths: there is no directory to resolve them in ---- */

#define PATH_ERROR(fd) (is_stdio(fd) ? WASI_ENOTDIR : WASI_EBADF)

WASI_FN(u32, path_create_directory, u32 fd, u32 path, u32 path_len)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_filestat_get, u32 fd, u32 flags, u32 path, u32 path_len, u32 buf)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_filestat_set_times, u32 fd, u32 flags, u32 path, u32 path_len, u64 atim, u64 mtim,
	u32 fst_flags)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_link, u32 old_fd, u32 old_flags, u32 old_path, u32 old_len, u32 new_fd,
	u32 new_path, u32 new_len)
{
	return PATH_ERROR(old_fd);
}
WASI_FN(u32, path_open, u32 fd, u32 dirflags, u32 path, u32 path_len, u32 oflags, u64 rights_base,
	u64 rights_inheriting, u32 fdflags, u32 fd_ptr)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_readlink, u32 fd, u32 path, u32 path_len, u32 buf, u32 buf_len, u32 bufused_ptr)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_remove_directory, u32 fd, u32 path, u32 path_len)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_rename, u32 fd, u32 old_path, u32 old_len, u32 new_fd, u32 new_path, u32 new_len)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_symlink, u32 old_path, u32 old_len, u32 fd, u32 new_path, u32 new_len)
{
	return PATH_ERROR(fd);
}
WASI_FN(u32, path_unlink_file, u32 fd, u32 path, u32 path_len)
{
	return PATH_ERROR(fd);
}

/* ---- sockets: none ---- */

/* Descriptors 0-2 are pipes, not sockets (ENOTSOCK, as the specification says for a
 * descriptor that is not a socket); there are no others. */
WASI_FN(u32, sock_accept, u32 fd, u32 flags, u32 fd_ptr)
{
	return is_stdio(fd) ? WASI_ENOTSOCK : WASI_EBADF;
}
WASI_FN(u32, sock_recv, u32 fd, u32 ri_data, u32 ri_len, u32 ri_flags, u32 ro_len_ptr,
	u32 ro_flags_ptr)
{
	return is_stdio(fd) ? WASI_ENOTSOCK : WASI_EBADF;
}
WASI_FN(u32, sock_send, u32 fd, u32 si_data, u32 si_len, u32 si_flags, u32 so_len_ptr)
{
	return is_stdio(fd) ? WASI_ENOTSOCK : WASI_EBADF;
}
WASI_FN(u32, sock_shutdown, u32 fd, u32 how)
{
	return is_stdio(fd) ? WASI_ENOTSOCK : WASI_EBADF;
}

/* The names above, for the compiler's check of a program's imports. */
const char *const wg_wasi_import_names[] = {"args_get",
					    "args_sizes_get",
					    "environ_get",
					    "environ_sizes_get",
					    "clock_res_get",
					    "clock_time_get",
					    "random_get",
					    "sched_yield",
					    "proc_exit",
					    "proc_raise",
					    "poll_oneoff",
					    "fd_write",
					    "fd_read",
					    "fd_pread",
					    "fd_pwrite",
					    "fd_fdstat_get",
					    "fd_filestat_get",
					    "fd_seek",
					    "fd_tell",
					    "fd_close",
					    "fd_prestat_get",
					    "fd_prestat_dir_name",
					    "fd_advise",
					    "fd_allocate",
					    "fd_datasync",
					    "fd_sync",
					    "fd_fdstat_set_flags",
					    "fd_fdstat_set_rights",
					    "fd_filestat_set_size",
					    "fd_filestat_set_times",
					    "fd_readdir",
					    "fd_renumber",
					    "path_create_directory",
					    "path_filestat_get",
					    "path_filestat_set_times",
					    "path_link",
					    "path_open",
					    "path_readlink",
					    "path_remove_directory",
					    "path_rename",
					    "path_symlink",
					    "path_unlink_file",
					    "sock_accept",
					    "sock_recv",
					    "sock_send",
					    "sock_shutdown",
					    NULL};
