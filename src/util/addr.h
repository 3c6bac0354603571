/* "HOST:PORT" addresses as users write them: "127.0.0.1:5740", "[::1]:5740" (IPv6 literals
 * in brackets), or "example.org:5740" (a name, resolved elsewhere). The one parser of them:
 * the secure link, the HTTP server and client, and the daemons use it. */
#ifndef WG_UTIL_ADDR_H
#define WG_UTIL_ADDR_H
#include <stddef.h>
#include <sys/socket.h>

/* Splits `host_port` into the host (brackets removed, NUL-terminated into host[host_cap])
 * and the port (0..65535). Returns 0, or WG_EINVAL for a malformed address or a host too
 * long for the buffer. */
int wg_addr_split(const char *host_port, char *host, size_t host_cap, int *port);
/* Fills *out when `host` is an IPv4 or IPv6 literal. Returns 0, or WG_EINVAL when it is
 * not a literal (a name, to be resolved). */
int wg_addr_literal(const char *host, int port, struct sockaddr_storage *out);
/* Writes "A.B.C.D:PORT" or "[V6]:PORT" for a socket address into out[cap]. Returns 0 or
 * WG_EINVAL for an unknown family. */
int wg_addr_format(const struct sockaddr *sa, char *out, size_t cap);

#endif
