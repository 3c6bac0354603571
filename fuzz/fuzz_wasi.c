/* Fuzz target: the WASI layer's pointer checks (engine/wasi.c). A task program may pass any
 * pointer and length; every one must be checked against its linear memory, never trusted.
 * The input fills a linear memory of one or two pages and then is read as a list of calls:
 * a byte choosing the function, then its arguments, each a byte saying how to make it (a
 * small number, an offset back from the end of memory, a page-aligned offset, or four raw
 * bytes), so the fuzzer reaches every boundary quickly. AddressSanitizer sees the memory's
 * exact size, so one byte read or written past it is a finding. */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wasi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* The imports fuzzed here, as wasi.c defines them (wasm2c's names). */
#define IMPORT(name) Z_wasi_snapshot_preview1Z_##name
uint32_t IMPORT(args_sizes_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(args_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(environ_sizes_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(environ_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(clock_res_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(clock_time_get)(struct wg_wasi *, uint32_t, uint64_t, uint32_t);
uint32_t IMPORT(random_get)(struct wg_wasi *, uint32_t, uint32_t);
void IMPORT(proc_exit)(struct wg_wasi *, uint32_t);
uint32_t IMPORT(poll_oneoff)(struct wg_wasi *, uint32_t, uint32_t, uint32_t, uint32_t);
uint32_t IMPORT(fd_write)(struct wg_wasi *, uint32_t, uint32_t, uint32_t, uint32_t);
uint32_t IMPORT(fd_read)(struct wg_wasi *, uint32_t, uint32_t, uint32_t, uint32_t);
uint32_t IMPORT(fd_fdstat_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(fd_filestat_get)(struct wg_wasi *, uint32_t, uint32_t);
uint32_t IMPORT(fd_prestat_dir_name)(struct wg_wasi *, uint32_t, uint32_t, uint32_t);

struct cursor {
	const uint8_t *p, *end;
	uint32_t mem_size;
};

static uint8_t next_byte(struct cursor *c)
{
	return c->p < c->end ? *c->p++ : 0;
}

static uint32_t next_arg(struct cursor *c)
{
	uint8_t b = next_byte(c);
	switch (b >> 6) {
	case 0: return b & 0x3f;
	case 1: return c->mem_size - (b & 0x3f);
	case 2: return (uint32_t)(b & 0x3f) * 1024;
	default: {
		uint32_t v = 0;
		for (int i = 0; i < 4; i++)
			v = v << 8 | next_byte(c);
		return v;
	}
	}
}

static jmp_buf unwound;
static void unwind(void)
{
	longjmp(unwound, 1);
}

static void flush(struct wg_wasi *w)
{
	w->out_len = 0;
}

/* Clock subscriptions would sleep: their timeouts are made zero, as a program's own
 * timeout is the sandbox's business, not the pointer checks'. */
static void no_sleep(wasm_rt_memory_t *m, uint32_t in, uint32_t nsubs)
{
	for (uint64_t i = 0; i < nsubs; i++) {
		uint64_t at = (uint64_t)in + i * 48;
		if (at + 48 > m->size)
			return;
		memset(m->data + at + 24, 0, 8);
		m->data[at + 40] &= (uint8_t)~1u;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len < 2 || len > 64 * 1024)
		return 0;
	static uint8_t out[256];
	static struct wg_wasi w;
	const uint8_t argument[] = "fuzz argument\0";
	w.out = out;
	w.out_cap = sizeof out;
	w.flush = flush;
	wg_wasi_reset(&w, argument, data[0] & 1 ? sizeof argument - 2 : 0, data[1] * 64u, data[1]);
	w.unwind = unwind;

	wasm_rt_memory_t memory = {0};
	memory.pages = 1 + (data[0] >> 7);
	memory.max_pages = memory.pages;
	memory.size = memory.pages * 65536u;
	memory.data = calloc(1, memory.size);
	if (!memory.data)
		abort();
	w.memory = &memory;
	/* The input's first half seeds the memory, at its start and at its end. */
	size_t fill = (len - 2) / 2;
	memcpy(memory.data, data + 2, fill);
	memcpy(memory.data + memory.size - fill, data + 2, fill);
	struct cursor c = {data + 2 + fill, data + len, memory.size};

	if (setjmp(unwound) == 0) {
		for (int calls = 0; calls < 64 && c.p < c.end; calls++) {
			uint32_t a = 0, b = 0, d = 0, e = 0;
			switch (next_byte(&c) % 14) {
			case 0:
				a = next_arg(&c), b = next_arg(&c);
				IMPORT(args_sizes_get)(&w, a, b);
				break;
			case 1:
				a = next_arg(&c), b = next_arg(&c);
				IMPORT(args_get)(&w, a, b);
				break;
			case 2:
				a = next_arg(&c), b = next_arg(&c);
				IMPORT(environ_sizes_get)(&w, a, b);
				break;
			case 3:
				a = next_arg(&c), b = next_arg(&c);
				IMPORT(environ_get)(&w, a, b);
				break;
			case 4:
				a = next_arg(&c) % 8, b = next_arg(&c);
				IMPORT(clock_res_get)(&w, a, b);
				break;
			case 5:
				a = next_arg(&c) % 8, b = next_arg(&c);
				IMPORT(clock_time_get)(&w, a, 1, b);
				break;
			case 6:
				a = next_arg(&c), b = next_arg(&c);
				IMPORT(random_get)(&w, a, b);
				break;
			case 7:
				a = next_arg(&c), b = next_arg(&c), d = next_arg(&c) % 64,
				e = next_arg(&c);
				no_sleep(&memory, a, d);
				IMPORT(poll_oneoff)(&w, a, b, d, e);
				break;
			case 8:
				a = next_arg(&c) % 4, b = next_arg(&c), d = next_arg(&c),
				e = next_arg(&c);
				IMPORT(fd_write)(&w, a, b, d, e);
				break;
			case 9:
				a = next_arg(&c) % 4, b = next_arg(&c), d = next_arg(&c),
				e = next_arg(&c);
				IMPORT(fd_read)(&w, a, b, d, e);
				break;
			case 10:
				a = next_arg(&c) % 4, b = next_arg(&c);
				IMPORT(fd_fdstat_get)(&w, a, b);
				break;
			case 11:
				a = next_arg(&c) % 4, b = next_arg(&c);
				IMPORT(fd_filestat_get)(&w, a, b);
				break;
			case 12:
				a = next_arg(&c) % 5, b = next_arg(&c), d = next_arg(&c);
				IMPORT(fd_prestat_dir_name)(&w, a, b, d);
				break;
			case 13:
				/* Ends the instance (through unwind), as a program's exit does. */
				IMPORT(proc_exit)(&w, next_arg(&c));
				abort();
			}
		}
	}
	uint8_t tail[WG_STDERR_TAIL_BYTES];
	if (wg_wasi_stderr_tail(&w, tail) > WG_STDERR_TAIL_BYTES)
		abort();
	free(memory.data);
	return 0;
}
