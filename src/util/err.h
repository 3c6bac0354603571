/* wasmgrid error codes: one list, from which both the enum and wg_strerror() are made.
 * Functions return 0 (WG_OK) or a negative code, and give results through out-parameters. */
#ifndef WG_ERR_H
#define WG_ERR_H

#define WG_ERR_MAP(X)                                                                              \
	X(NOMEM, -1, "out of memory")                                                              \
	X(INVAL, -2, "invalid argument")                                                           \
	X(IO, -3, "input/output error")                                                            \
	X(PROTO, -4, "malformed or unexpected message")                                            \
	X(AUTH, -5, "peer failed authentication")                                                  \
	X(DENIED, -6, "not authorized")                                                            \
	X(TIMEOUT, -7, "timed out")                                                                \
	X(CLOSED, -8, "connection closed")                                                         \
	X(NOTFOUND, -9, "not found")                                                               \
	X(TOOBIG, -10, "too large")                                                                \
	X(EXISTS, -11, "already exists")                                                           \
	X(UNREACHABLE, -12, "address unreachable")                                                 \
	X(BUSY, -13, "no capacity")                                                                \
	X(HASH, -14, "hash mismatch")                                                              \
	X(INVALID_PROGRAM, -15, "invalid program")                                                 \
	X(DB, -16, "database error")                                                               \
	X(INTERNAL, -17, "internal error")                                                         \
	X(ADDRINUSE, -18, "address already in use")                                                \
	X(ADDRNOTAVAIL, -19, "not an address of this machine")

enum wg_err {
	WG_OK = 0,
#define WG__ERR_ENUM(name, code, text) WG_E##name = (code),
	WG_ERR_MAP(WG__ERR_ENUM)
#undef WG__ERR_ENUM
};

/* A static description of `code`, or "unknown error". */
const char *wg_strerror(int code);
/* The symbolic name, such as "WG_ETIMEOUT". */
const char *wg_err_name(int code);
/* The code for a system error: an errno value, or a libuv error (its negation on Linux).
 * Codes without a closer match are WG_EIO. */
int wg_err_from_errno(int e);

#endif
