/* A connected peer as both daemons see it: its relationship record, its rpc connection and
 * the heartbeat that keeps a relationship honest. A relationship whose ManagerPing goes
 * unanswered for `deadline_ms`, or is answered NotMine, is lost: the owner's lost callback
 * runs and decides what to do (send ManagerBye, close, requeue tasks). */
#ifndef WG_NODE_PEER_H
#define WG_NODE_PEER_H
#include <stdint.h>
#include <uv.h>

#include "node/relation.h"
#include "node/rpc.h"

struct wg_peer;
typedef void (*wg_peer_lost_cb)(struct wg_peer *peer, const char *why);

struct wg_peer {
	struct wg_rel_peer rel;
	struct wg_rpc *rpc;	/* NULL once the connection has closed */
	char id_hex[65];	/* the node id, once the connection opened */
	char addr[80];		/* as seen on the socket */
	uint64_t connected_ms;	/* Unix ms */
	uint64_t last_pong_ms;	/* Unix ms of the last ManagerPong, 0 if none yet */
	uv_timer_t *ping_timer; /* NULL when no heartbeat runs */
	uint32_t ping_deadline_ms;
	int ping_in_flight;
	wg_peer_lost_cb lost_cb;
	void *owner; /* the daemon */
	void *data;  /* the daemon's per-peer state */
	struct wg_peer *prev, *next;
};

/* Makes a peer for a connection (its id is filled in by wg_peer_opened). */
struct wg_peer *wg_peer_new(void *owner, struct wg_rpc *rpc);
/* The connection proved the peer's key: record it. */
void wg_peer_opened(struct wg_peer *peer);
/* A daemon's list of peers (head pointer): adds at the front, removes from anywhere. */
void wg_peer_list_add(struct wg_peer **head, struct wg_peer *peer);
void wg_peer_list_remove(struct wg_peer **head, struct wg_peer *peer);

/* Pings every interval_ms; lost when a ping is unanswered for deadline_ms. */
void wg_peer_start_heartbeat(struct wg_peer *peer, uv_loop_t *loop, uint32_t interval_ms,
			     uint32_t deadline_ms, wg_peer_lost_cb lost);
void wg_peer_stop_heartbeat(struct wg_peer *peer);
/* A doubt about the relationship: sends the heartbeat's ManagerPing now (unless one is on
 * its way), whose NotMine or silence ends it as usual. Nothing without a heartbeat. */
void wg_peer_check(struct wg_peer *peer);
/* Frees the peer (stops its heartbeat). The rpc must be closed or gone. */
void wg_peer_free(struct wg_peer *peer);

/* Requests of the relationship, sent with the standard deadline. */
int wg_peer_send_node_type_request(struct wg_peer *peer, enum wg_node_type self,
				   wg_rpc_answer_cb cb, void *cb_user);
int wg_peer_send_bye(struct wg_peer *peer, wg_rpc_answer_cb cb, void *cb_user);
/* Answers for the common requests every node handles the same way. */
int wg_peer_answer_node_type(struct wg_peer *peer, uint64_t id, enum wg_node_type self);
int wg_peer_answer_ping(struct wg_peer *peer, uint64_t id, const struct wg_rel *rel);
/* A ManagerAnswer; when accepted, `others` (n of them, may be NULL) are the other managers
 * the worker may fail over to. */
struct wg_peer_manager {
	uint8_t node_id[32];
	const char *address;
};
int wg_peer_answer_manager(struct wg_peer *peer, uint64_t id, bool accepted,
			   const struct wg_peer_manager *others, size_t n);

/* What a daemon does with its peers' requests; wg_peer_route applies the rules both share. */
struct wg_peer_role {
	enum wg_node_type type; /* what we are: answers NodeTypeRequest, decides who is a partner */
	struct wg_rel *rel;
	/* The relationship ended by what the peer said (its type changed, ManagerBye; the Ack
	 * is already sent). */
	void (*ended)(struct wg_peer *peer, const char *why);
	void (*manager_request)(struct wg_peer *peer, uint64_t id,
				const Wasmgrid__ManagerRequest *req);
	/* A request only a partner sends (tasks to a worker, reports to a manager), from ours. */
	void (*from_partner)(struct wg_peer *peer, uint64_t id, const wg_frame *req);
	bool bye_closes; /* after ManagerBye ended the relationship, close the connection */
};

/* Answers a request by the protocol's common rules: NodeTypeRequest, ManagerPing and
 * ManagerBye here; ManagerRequest and a partner's requests to the role; a request only our
 * partner may send from someone else, or one only our own kind sends, NotMine; anything
 * else Refused. */
void wg_peer_route(struct wg_peer *peer, uint64_t id, const wg_frame *req,
		   const struct wg_peer_role *role);

/* Deadline for relationship requests other than pings. */
#define WG_REQUEST_DEADLINE_MS 10000

#endif
