/* wasmgrid's limits and defaults, stated once: the API, the CLI, the job core, the engine,
 * the worker and the tests use these names, and docs/limits.md lists them for users (the
 * test limits_are_documented_as_they_are checks that it matches this list).
 * X(name, value, unit, what it limits); unit is "bytes", "MiB", "ms", "s" or "" (a count). */
#ifndef WG_UTIL_LIMITS_H
#define WG_UTIL_LIMITS_H

#define WG_MIB(n) ((unsigned long long)(n) << 20)

#define WG_LIMITS(X)                                                                               \
	X(WG_MAX_PROGRAM_BYTES, 64u << 20, "bytes",                                                \
	  "a program: what the API stores, the CLI uploads, a worker fetches")                     \
	X(WG_MAX_TASKS, 1000000u, "", "tasks of one job")                                          \
	X(WG_MAX_ARGUMENT_BYTES, 8u << 20, "bytes", "the argument of one task")                    \
	X(WG_MAX_ADDRESSES, 16u, "", "addresses of a job's program")                               \
	X(WG_MAX_REDUNDANCY, 16u, "", "replicas of each task (redundancy)")                        \
	X(WG_MAX_JOB_BODY_BYTES, 64u << 20, "bytes", "the JSON body of POST /v1/jobs")             \
	X(WG_MAX_TIMEOUT_MS, 24u * 3600 * 1000, "ms", "a task's timeout")                          \
	X(WG_DEFAULT_TIMEOUT_MS, 60000u, "ms", "a task's timeout when the job gives none")         \
	X(WG_MAX_MEMORY_MIB, 4096u, "MiB",                                                         \
	  "a task's WebAssembly memory (wasm32 reaches 4 GiB); a worker's default")                \
	X(WG_DEFAULT_MEMORY_MIB, 256u, "MiB", "a task's memory when the job gives none")           \
	X(WG_MAX_RESULT_BYTES, 15u << 20, "bytes",                                                 \
	  "a task's result (stdout): it travels in one frame of at most 16 MiB")                   \
	X(WG_DEFAULT_RESULT_BYTES, 1u << 20, "bytes", "the result limit when none is given")       \
	X(WG_STDERR_TAIL_BYTES, 4096u, "bytes", "the tail of a task's stderr that is kept")        \
	X(WG_ERROR_DETAIL_BYTES, 1024u, "bytes", "the error detail stored for a task")             \
	X(WG_MAX_JOB_NAME_BYTES, 128u, "bytes", "a job's name (--name)")                           \
	X(WG_MAX_SLOTS, 4096u, "", "slots of a worker (--slots, a manager's --max-slots)")         \
	X(WG_DEFAULT_COMPILE_CPU_S, 60u, "s", "CPU time of each compiler of a program")            \
	X(WG_MAX_COMPILE_CPU_S, 86400u, "s", "the most --compile-cpu may give")                    \
	X(WG_DEFAULT_COMPILE_MEMORY_MIB, 2048u, "MiB",                                             \
	  "address space of each compiler of a program")                                           \
	X(WG_MIN_COMPILE_MEMORY_MIB, 64u, "MiB", "the least --compile-memory may give")            \
	X(WG_MAX_COMPILE_MEMORY_MIB, 1048576u, "MiB", "the most --compile-memory may give")        \
	X(WG_DEFAULT_LEASE_MS, 10000u, "ms",                                                       \
	  "a manager's lease on a shared store: unrenewed that long, its work is taken back")      \
	X(WG_QUARANTINE_STRIKES, 3u, "",                                                           \
	  "results of a worker a quorum outvoted before it gets no tasks until cleared")

enum wg_limit {
#define WG__LIMIT_ENUM(name, value, unit, what) name = (value),
	WG_LIMITS(WG__LIMIT_ENUM)
#undef WG__LIMIT_ENUM
};

#endif
