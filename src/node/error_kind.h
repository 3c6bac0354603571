/* The kinds of task error, stated once: the wire's ErrorKind (proto/wasmgrid.proto), the
 * name the API, the CLI and the logs show, and the exit status of `wasmgrid run`
 * (DESIGN.md: 3 the program could not be had or compiled, 4 it failed, 5 it ran out of
 * time, 6 of another limit, 1 anything else). X(wire value, name, run exit status). */
#ifndef WG_NODE_ERROR_KIND_H
#define WG_NODE_ERROR_KIND_H
#include "wasmgrid.pb-c.h"

#define WG_ERROR_KINDS(X)                                                                          \
	X(WASMGRID__ERROR_KIND__ERROR_KIND_UNKNOWN, "Unknown", 1)                                  \
	X(WASMGRID__ERROR_KIND__TIMED_OUT, "TimedOut", 5)                                          \
	X(WASMGRID__ERROR_KIND__DOWNLOAD_ERROR, "DownloadError", 3)                                \
	X(WASMGRID__ERROR_KIND__RUNNING_ERROR, "RunningError", 4)                                  \
	X(WASMGRID__ERROR_KIND__INVALID_PROGRAM, "InvalidProgram", 3)                              \
	X(WASMGRID__ERROR_KIND__RESOURCE_LIMIT, "ResourceLimit", 6)                                \
	X(WASMGRID__ERROR_KIND__ABORTED, "Aborted", 1)

/* Whether the value is in the list (a peer may send any number). */
int wg_error_kind_known(int kind);
/* "TimedOut", "DownloadError"...; "Unknown" for a value not in the list. */
const char *wg_error_kind_name(int kind);
/* The exit status of `wasmgrid run` for an engine outcome of this kind: there, 0 means the
 * task completed, so it gives 0. */
int wg_error_kind_exit_status(int kind);

#endif
