/* The manager/worker relationship of PROTOCOL.md, as a state machine with no I/O.
 *
 * Each node has one `struct wg_rel` and one `struct wg_rel_peer` per connected peer. The
 * daemons (manager/, worker/) call these functions when a relationship message arrives or
 * must be sent, and carry out what they return: the answer to send, a ManagerBye to send,
 * a relationship begun or ended. Every rule of the specification's tables lives here, so it
 * is tested by driving these functions directly (tests/node/test_relation.c, one test per
 * rule, named after it). */
#ifndef WG_NODE_RELATION_H
#define WG_NODE_RELATION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/authz.h"

/* Values match the wire enum NodeType. */
enum wg_node_type { WG_NODE_UNKNOWN = 0, WG_NODE_MANAGER = 1, WG_NODE_WORKER = 2 };

const char *wg_node_type_name(enum wg_node_type t);

/* What a worker declares in ManagerRequest. Claims, not facts: the manager caps them. */
struct wg_specs {
	uint32_t cores;
	uint64_t memory;   /* the most memory the worker gives one task, in bytes (0: unknown) */
	uint32_t slots;	   /* tasks it runs at once (a manager may cap what it believes) */
	bool slots_capped; /* the worker claimed more slots than its manager allows */
	bool wasi_preview1;
};

struct wg_rel_peer {
	uint8_t id[32];
	char short_id[9];
	enum wg_node_type known_type; /* learnt from NodeTypeRequest/NodeTypeAnswer */
	bool partner;		      /* we consider the peer our manager / our worker */
	bool request_pending;	      /* worker: our ManagerRequest awaits its answer */
	struct wg_specs specs;	      /* manager: what the worker declared */
};

struct wg_rel {
	enum wg_node_type self_type;
	/* Managers allowed to manage us (worker) or workers allowed to join (manager). Not
	 * owned. */
	const struct wg_authz *authz;
	/* Worker: our manager, or NULL. Points to a peer owned by the daemon. */
	struct wg_rel_peer *manager;
	/* Manager: how many workers we have, and how many we accept (0: no limit). */
	size_t n_workers;
	size_t max_workers;
};

void wg_rel_init(struct wg_rel *rel, enum wg_node_type self_type, const struct wg_authz *authz);
void wg_rel_peer_init(struct wg_rel_peer *peer, const uint8_t id[32]);

/* NodeTypeRequest or NodeTypeAnswer told us the peer's type. If a type was known and this
 * one differs, any relationship with the peer ends as if ManagerBye had been exchanged, and
 * this returns true (the daemon then ends the relationship's work, e.g. requeues tasks). */
bool wg_rel_note_type(struct wg_rel *rel, struct wg_rel_peer *peer, enum wg_node_type type);

/* Worker: may we send ManagerRequest to this peer now? Only a worker with no manager (and
 * no request in flight) asks, and only a peer it allows that is not known as a worker. */
bool wg_rel_may_request(const struct wg_rel *rel, const struct wg_rel_peer *peer);
/* Worker: we sent ManagerRequest to peer. */
void wg_rel_request_sent(struct wg_rel *rel, struct wg_rel_peer *peer);

/* Manager side of ManagerRequest: the value of ManagerAnswer.accepted. On true the peer is
 * our worker from now on, with `specs` recorded. */
bool wg_rel_answer_manager_request(struct wg_rel *rel, struct wg_rel_peer *peer,
				   const struct wg_specs *specs);

enum wg_rel_answer_action {
	WG_REL_ATTACHED,   /* the peer is our manager now */
	WG_REL_REJECTED,   /* accepted was false: try elsewhere later */
	WG_REL_SEND_BYE,   /* accepted, but we cannot be its worker: send ManagerBye */
	WG_REL_CHECK_PING, /* already in a relationship: ignore, maybe ManagerPing to check */
};
/* Worker side: a ManagerAnswer arrived from peer. */
enum wg_rel_answer_action wg_rel_on_manager_answer(struct wg_rel *rel, struct wg_rel_peer *peer,
						   bool accepted);

/* ManagerBye arrived from peer (always answered Ack). Returns true if a relationship ended. */
bool wg_rel_on_bye(struct wg_rel *rel, struct wg_rel_peer *peer);
/* ManagerPing arrived: true to answer ManagerPong, false to answer NotMine. */
bool wg_rel_on_ping(const struct wg_rel *rel, const struct wg_rel_peer *peer);
/* NotMine arrived in answer to one of our relationship messages: the peer does not consider
 * us its partner, so we stop too. Returns true if a relationship ended. */
bool wg_rel_on_not_mine(struct wg_rel *rel, struct wg_rel_peer *peer);

/* May this request be acted upon, or must it be answered NotMine? Manager-to-worker task
 * messages (TasksExecute, TasksPing, TasksAbort, ProgramFetch answers aside) need the peer
 * to be our manager; worker-to-manager ones (TaskStarted, TaskError, TaskCompleted,
 * ProgramFetch) need it to be our worker. */
bool wg_rel_from_my_manager(const struct wg_rel *rel, const struct wg_rel_peer *peer);
bool wg_rel_from_my_worker(const struct wg_rel *rel, const struct wg_rel_peer *peer);

/* Ends the relationship locally (we send ManagerBye, pings went unanswered, the connection
 * dropped, the peer is going away). Returns true if there was one. */
bool wg_rel_end(struct wg_rel *rel, struct wg_rel_peer *peer);

#endif
