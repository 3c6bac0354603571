#include "node/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/time.h"

struct wg_peer *wg_peer_new(void *owner, struct wg_rpc *rpc)
{
	struct wg_peer *p = wg_calloc(1, sizeof *p);
	p->owner = owner;
	p->rpc = rpc;
	p->connected_ms = wg_unix_ms();
	snprintf(p->rel.short_id, sizeof p->rel.short_id, "?");
	return p;
}

void wg_peer_opened(struct wg_peer *peer)
{
	struct wg_link *link = wg_rpc_link(peer->rpc);
	wg_rel_peer_init(&peer->rel, wg_link_peer_id(link));
	wg_hex_encode(peer->rel.id, 32, peer->id_hex);
	snprintf(peer->addr, sizeof peer->addr, "%s", wg_link_peer_addr(link));
}

void wg_peer_list_add(struct wg_peer **head, struct wg_peer *peer)
{
	peer->prev = NULL;
	peer->next = *head;
	if (*head)
		(*head)->prev = peer;
	*head = peer;
}

void wg_peer_list_remove(struct wg_peer **head, struct wg_peer *peer)
{
	if (peer->prev)
		peer->prev->next = peer->next;
	else if (*head == peer)
		*head = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	peer->prev = peer->next = NULL;
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void on_pong(struct wg_rpc *rpc, int status, const wg_frame *answer, void *cb_user)
{
	struct wg_peer *peer = cb_user;
	(void)rpc;
	peer->ping_in_flight = 0;
	if (status == WG_ECLOSED)
		return; /* the connection's close handler deals with it */
	if (!peer->ping_timer)
		return; /* heartbeat stopped meanwhile */
	if (status == WG_ETIMEOUT) {
		peer->lost_cb(peer, "no ManagerPong within the heartbeat deadline");
		return;
	}
	if (answer->body_case == WASMGRID__FRAME__BODY_MANAGER_PONG) {
		peer->last_pong_ms = wg_unix_ms();
	} else if (answer->body_case == WASMGRID__FRAME__BODY_NOT_MINE) {
		peer->lost_cb(peer,
			      "the peer answered NotMine: it no longer considers us its partner");
	} else {
		wg_warn(peer->rel.short_id, "unexpected answer %s to ManagerPing",
			wg_body_name(answer->body_case));
	}
}

static void on_ping_timer(uv_timer_t *t)
{
	struct wg_peer *peer = t->data;
	if (peer->ping_in_flight || !peer->rpc)
		return;
	Wasmgrid__ManagerPing ping = WASMGRID__MANAGER_PING__INIT;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_PING;
	f.manager_ping = &ping;
	if (wg_rpc_request(peer->rpc, &f, peer->ping_deadline_ms, on_pong, peer) == 0)
		peer->ping_in_flight = 1;
}

void wg_peer_check(struct wg_peer *peer)
{
	if (peer->ping_timer)
		on_ping_timer(peer->ping_timer);
}

void wg_peer_start_heartbeat(struct wg_peer *peer, uv_loop_t *loop, uint32_t interval_ms,
			     uint32_t deadline_ms, wg_peer_lost_cb lost)
{
	if (peer->ping_timer)
		return;
	peer->ping_timer = wg_malloc(sizeof *peer->ping_timer);
	uv_timer_init(loop, peer->ping_timer);
	peer->ping_timer->data = peer;
	peer->ping_deadline_ms = deadline_ms;
	peer->lost_cb = lost;
	peer->last_pong_ms = wg_unix_ms();
	uv_timer_start(peer->ping_timer, on_ping_timer, interval_ms, interval_ms);
}

void wg_peer_stop_heartbeat(struct wg_peer *peer)
{
	if (!peer->ping_timer)
		return;
	uv_timer_stop(peer->ping_timer);
	uv_close((uv_handle_t *)peer->ping_timer, timer_closed);
	peer->ping_timer = NULL;
}

void wg_peer_free(struct wg_peer *peer)
{
	wg_peer_stop_heartbeat(peer);
	free(peer);
}

int wg_peer_send_node_type_request(struct wg_peer *peer, enum wg_node_type self,
				   wg_rpc_answer_cb cb, void *cb_user)
{
	Wasmgrid__NodeTypeRequest r = WASMGRID__NODE_TYPE_REQUEST__INIT;
	r.node_type = (Wasmgrid__NodeType)self;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_NODE_TYPE_REQUEST;
	f.node_type_request = &r;
	return wg_rpc_request(peer->rpc, &f, WG_REQUEST_DEADLINE_MS, cb, cb_user);
}

int wg_peer_send_bye(struct wg_peer *peer, wg_rpc_answer_cb cb, void *cb_user)
{
	if (!peer->rpc)
		return WG_ECLOSED;
	Wasmgrid__ManagerBye bye = WASMGRID__MANAGER_BYE__INIT;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_BYE;
	f.manager_bye = &bye;
	return wg_rpc_request(peer->rpc, &f, WG_REQUEST_DEADLINE_MS, cb, cb_user);
}

int wg_peer_answer_node_type(struct wg_peer *peer, uint64_t id, enum wg_node_type self)
{
	Wasmgrid__NodeTypeAnswer a = WASMGRID__NODE_TYPE_ANSWER__INIT;
	a.node_type = (Wasmgrid__NodeType)self;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_NODE_TYPE_ANSWER;
	f.node_type_answer = &a;
	return wg_rpc_answer(peer->rpc, id, &f);
}

int wg_peer_answer_ping(struct wg_peer *peer, uint64_t id, const struct wg_rel *rel)
{
	if (!wg_rel_on_ping(rel, &peer->rel))
		return wg_rpc_answer_not_mine(peer->rpc, id);
	Wasmgrid__ManagerPong pong = WASMGRID__MANAGER_PONG__INIT;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_PONG;
	f.manager_pong = &pong;
	return wg_rpc_answer(peer->rpc, id, &f);
}

int wg_peer_answer_manager(struct wg_peer *peer, uint64_t id, bool accepted,
			   const struct wg_peer_manager *others, size_t n)
{
	Wasmgrid__ManagerAnswer a = WASMGRID__MANAGER_ANSWER__INIT;
	a.accepted = accepted;
	if (!accepted)
		n = 0;
	Wasmgrid__PeerManager *items = n ? wg_calloc(n, sizeof *items) : NULL;
	Wasmgrid__PeerManager **ptrs = n ? wg_calloc(n, sizeof *ptrs) : NULL;
	for (size_t i = 0; i < n; i++) {
		wasmgrid__peer_manager__init(&items[i]);
		items[i].node_id.data = (uint8_t *)others[i].node_id;
		items[i].node_id.len = 32;
		items[i].address = (char *)others[i].address;
		ptrs[i] = &items[i];
	}
	a.n_managers = n;
	a.managers = ptrs;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_MANAGER_ANSWER;
	f.manager_answer = &a;
	int rc = wg_rpc_answer(peer->rpc, id, &f);
	free(ptrs);
	free(items);
	return rc;
}

void wg_peer_route(struct wg_peer *peer, uint64_t id, const wg_frame *req,
		   const struct wg_peer_role *role)
{
	struct wg_rpc *rpc = peer->rpc;
	bool manager = role->type == WG_NODE_MANAGER;
	enum wg_body_sender sender = wg_body_sender(req->body_case);
	switch (req->body_case) {
	case WASMGRID__FRAME__BODY_NODE_TYPE_REQUEST:
		if (wg_rel_note_type(role->rel, &peer->rel,
				     (enum wg_node_type)req->node_type_request->node_type))
			role->ended(peer, "its node type changed");
		wg_peer_answer_node_type(peer, id, role->type);
		return;
	case WASMGRID__FRAME__BODY_MANAGER_REQUEST:
		role->manager_request(peer, id, req->manager_request);
		return;
	case WASMGRID__FRAME__BODY_MANAGER_BYE: {
		bool ended = wg_rel_on_bye(role->rel, &peer->rel);
		wg_rpc_answer_ack(rpc, id);
		if (ended) {
			role->ended(peer, "it said ManagerBye");
			if (role->bye_closes)
				wg_rpc_close(rpc);
		}
		return;
	}
	case WASMGRID__FRAME__BODY_MANAGER_PING: wg_peer_answer_ping(peer, id, role->rel); return;
	default: break;
	}
	if (sender == (manager ? WG_SENT_WKR : WG_SENT_MGR)) {
		/* What only a partner may send us: tasks for a worker, reports for a manager. */
		if (manager ? wg_rel_from_my_worker(role->rel, &peer->rel)
			    : wg_rel_from_my_manager(role->rel, &peer->rel))
			role->from_partner(peer, id, req);
		else
			wg_rpc_answer_not_mine(rpc, id);
	} else if (sender == WG_SENT_MGR || sender == WG_SENT_WKR) {
		/* What our own kind sends: a manager is nobody's worker, and the reverse. */
		wg_rpc_answer_not_mine(rpc, id);
	} else {
		wg_rpc_answer_refused(rpc, id, "request not understood");
	}
}
