/* For fuzz targets that drive a real server on a libuv loop in their own process: a plain
 * client socket on loopback, written and read while the loop is pumped, so both ends run in
 * one thread without blocking each other. */
#ifndef WG_FUZZ_LOOPBACK_H
#define WG_FUZZ_LOOPBACK_H
#include <stddef.h>
#include <uv.h>

/* A connected, non-blocking client socket to 127.0.0.1:port (aborts on failure). */
int fuzz_connect(uv_loop_t *loop, int port);
/* Writes all n bytes, running the loop meanwhile. Returns 0, or -1 once the server closed. */
int fuzz_send(uv_loop_t *loop, int fd, const void *data, size_t n);
/* Reads exactly n bytes, running the loop meanwhile. Returns 0, or -1 at end of stream. */
int fuzz_recv(uv_loop_t *loop, int fd, void *buf, size_t n);
/* Sends FIN, then reads and discards until the server closes; closes fd. A server that has
 * not closed within 5 s of the client's FIN hangs: that is a finding (abort). */
void fuzz_finish(uv_loop_t *loop, int fd);

#endif
