/* Requests and answers over a link (PROTOCOL.md: "there should always be a response to any
 * request"). This layer numbers our requests, matches answers to them, enforces a deadline
 * on every request, and answers `Refused` to anything that cannot be decoded or is not
 * understood. It knows the frame envelope, not what the messages mean.
 *
 * Ownership: an rpc lives as long as its link; it is freed right after its on_close
 * handler returns. Frames passed to handlers and callbacks are valid during the call only. */
#ifndef WG_NODE_RPC_H
#define WG_NODE_RPC_H
#include <stdint.h>
#include <uv.h>

#include "net/link.h"
#include "node/frame.h"

struct wg_rpc;

struct wg_rpc_handlers {
	/* The peer proved its key: return 0 to keep the connection, or a negative wg_err to
	 * drop it (an unauthorized peer). */
	int (*on_open)(struct wg_rpc *rpc, void *user);
	/* A request arrived. It must be answered exactly once with wg_rpc_answer(), during
	 * this call or later (while the rpc is open). */
	void (*on_request)(struct wg_rpc *rpc, uint64_t id, const wg_frame *request, void *user);
	/* The connection is gone; every pending request has already been failed. */
	void (*on_close)(struct wg_rpc *rpc, int status, void *user);
};

/* The answer to one of our requests: status 0 with the answer frame, or WG_ETIMEOUT when the
 * deadline passed, or WG_ECLOSED when the connection closed first (answer NULL). */
typedef void (*wg_rpc_answer_cb)(struct wg_rpc *rpc, int status, const wg_frame *answer,
				 void *cb_user);

/* Connects and wraps the new link. *out is valid at once (to close it before it opens). */
int wg_rpc_connect(uv_loop_t *loop, const char *host_port, const struct wg_identity *self,
		   const uint8_t *expected_peer, const struct wg_rpc_handlers *h, void *user,
		   struct wg_rpc **out);
/* For a listener's accept callback: wraps an accepted link. */
struct wg_rpc *wg_rpc_accept(uv_loop_t *loop, struct wg_link *link, const struct wg_rpc_handlers *h,
			     void *user, const struct wg_link_cbs **cbs, void **link_user);

/* Sends a request (its id is assigned here; the caller's frame is not kept). cb may be NULL
 * to ignore the answer (the deadline still applies, silently). */
int wg_rpc_request(struct wg_rpc *rpc, wg_frame *request, uint32_t timeout_ms, wg_rpc_answer_cb cb,
		   void *cb_user);
/* Answers request `id` of the peer. */
int wg_rpc_answer(struct wg_rpc *rpc, uint64_t id, wg_frame *answer);
/* Shorthands for the bodiless answers and for Refused. */
int wg_rpc_answer_ack(struct wg_rpc *rpc, uint64_t id);
int wg_rpc_answer_not_mine(struct wg_rpc *rpc, uint64_t id);
int wg_rpc_answer_refused(struct wg_rpc *rpc, uint64_t id, const char *reason);

/* Flushes and closes; on_close follows. */
void wg_rpc_close(struct wg_rpc *rpc);
void wg_rpc_set_user(struct wg_rpc *rpc, void *user);
struct wg_link *wg_rpc_link(const struct wg_rpc *rpc);
const char *wg_rpc_peer_short(const struct wg_rpc *rpc);
/* Requests sent and not yet answered. */
size_t wg_rpc_pending(const struct wg_rpc *rpc);

#endif
