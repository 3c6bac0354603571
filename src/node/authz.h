/* Authorization lists: which managers may manage this worker (`--managers`), which workers
 * may join this manager (`--workers`). Either "open" (anyone) or a file of node ids, one
 * per line (64 hex digits; '#' starts a comment; blank lines ignored). */
#ifndef WG_NODE_AUTHZ_H
#define WG_NODE_AUTHZ_H
#include <stddef.h>
#include <stdint.h>

struct wg_authz;

/* Parses "open" or loads FILE. On error, *why (static or owned by nobody: a message to
 * print) says what is wrong, with the line number. */
int wg_authz_load(const char *spec, struct wg_authz **out, char *why, size_t why_len);
/* An authorization list that allows anyone. */
struct wg_authz *wg_authz_open(void);
int wg_authz_allows(const struct wg_authz *a, const uint8_t id[32]);
/* Adds one id (tests, and `--manager ID@HOST:PORT` pinning). */
void wg_authz_add(struct wg_authz *a, const uint8_t id[32]);
/* An empty list that allows nobody until ids are added. */
struct wg_authz *wg_authz_empty(void);
int wg_authz_is_open(const struct wg_authz *a);
void wg_authz_free(struct wg_authz *a);

#endif
