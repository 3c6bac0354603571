#include "node/relation.h"

#include <string.h>

#include "node/identity.h"

const char *wg_node_type_name(enum wg_node_type t)
{
	switch (t) {
	case WG_NODE_MANAGER: return "manager";
	case WG_NODE_WORKER: return "worker";
	default: return "unknown";
	}
}

void wg_rel_init(struct wg_rel *rel, enum wg_node_type self_type, const struct wg_authz *authz)
{
	memset(rel, 0, sizeof *rel);
	rel->self_type = self_type;
	rel->authz = authz;
}

void wg_rel_peer_init(struct wg_rel_peer *peer, const uint8_t id[32])
{
	memset(peer, 0, sizeof *peer);
	memcpy(peer->id, id, 32);
	wg_node_id_short(id, peer->short_id);
}

bool wg_rel_end(struct wg_rel *rel, struct wg_rel_peer *peer)
{
	peer->request_pending = false;
	if (!peer->partner)
		return false;
	peer->partner = false;
	if (rel->self_type == WG_NODE_WORKER) {
		if (rel->manager == peer)
			rel->manager = NULL;
	} else if (rel->n_workers > 0) {
		rel->n_workers--;
	}
	return true;
}

bool wg_rel_note_type(struct wg_rel *rel, struct wg_rel_peer *peer, enum wg_node_type type)
{
	enum wg_node_type before = peer->known_type;
	peer->known_type = type;
	if (before == WG_NODE_UNKNOWN || before == type)
		return false;
	/* DESIGN.md: a peer whose type changed ends every relationship with it, as if
	 * ManagerBye had been exchanged. */
	wg_rel_end(rel, peer);
	return true;
}

bool wg_rel_may_request(const struct wg_rel *rel, const struct wg_rel_peer *peer)
{
	return rel->self_type == WG_NODE_WORKER && rel->manager == NULL && !peer->request_pending &&
	       peer->known_type != WG_NODE_WORKER && wg_authz_allows(rel->authz, peer->id);
}

void wg_rel_request_sent(struct wg_rel *rel, struct wg_rel_peer *peer)
{
	(void)rel;
	peer->request_pending = true;
}

bool wg_rel_answer_manager_request(struct wg_rel *rel, struct wg_rel_peer *peer,
				   const struct wg_specs *specs)
{
	/* "if A is a worker, send false" */
	if (rel->self_type != WG_NODE_MANAGER)
		return false;
	/* "if B isn't known as a worker, send false" */
	if (peer->known_type != WG_NODE_WORKER)
		return false;
	/* Our configuration says which workers may join. */
	if (!wg_authz_allows(rel->authz, peer->id))
		return false;
	if (peer->partner) {
		/* Already ours: the worker will not consider this answer; keep its specs. */
		peer->specs = *specs;
		return true;
	}
	if (rel->max_workers && rel->n_workers >= rel->max_workers)
		return false;
	peer->partner = true;
	peer->specs = *specs;
	rel->n_workers++;
	return true;
}

enum wg_rel_answer_action wg_rel_on_manager_answer(struct wg_rel *rel, struct wg_rel_peer *peer,
						   bool accepted)
{
	peer->request_pending = false;
	/* "if A manager and B worker are already in a relationship, the answer shouldn't be
	 * considered (but can trigger a PingManager to check on the status)" */
	if (peer->partner)
		return WG_REL_CHECK_PING;
	if (!accepted)
		return WG_REL_REJECTED;
	/* "if A accepted but for some reason, B can't be A's worker: B should send a
	 * ManagerBye" -- each reason in the table's order. */
	if (rel->self_type == WG_NODE_WORKER && rel->manager != NULL && rel->manager != peer)
		return WG_REL_SEND_BYE;
	if (rel->self_type == WG_NODE_MANAGER)
		return WG_REL_SEND_BYE;
	if (!wg_authz_allows(rel->authz, peer->id))
		return WG_REL_SEND_BYE;
	if (peer->known_type != WG_NODE_MANAGER)
		return WG_REL_SEND_BYE;
	peer->partner = true;
	rel->manager = peer;
	return WG_REL_ATTACHED;
}

bool wg_rel_on_bye(struct wg_rel *rel, struct wg_rel_peer *peer)
{
	/* "if A isn't B's manager or worker, does nothing" */
	return wg_rel_end(rel, peer);
}

bool wg_rel_on_ping(const struct wg_rel *rel, const struct wg_rel_peer *peer)
{
	(void)rel;
	return peer->partner;
}

bool wg_rel_on_not_mine(struct wg_rel *rel, struct wg_rel_peer *peer)
{
	return wg_rel_end(rel, peer);
}

bool wg_rel_from_my_manager(const struct wg_rel *rel, const struct wg_rel_peer *peer)
{
	return rel->self_type == WG_NODE_WORKER && peer->partner && rel->manager == peer;
}

bool wg_rel_from_my_worker(const struct wg_rel *rel, const struct wg_rel_peer *peer)
{
	return rel->self_type == WG_NODE_MANAGER && peer->partner;
}
