#include "node/rpc.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

/* One request of ours awaiting its answer. Kept in a list in sending order: answers come
 * back mostly in that order, so matching one is usually a look at the head. */
struct pending {
	uint64_t id;
	uint64_t deadline_ms; /* uv_now() scale */
	wg_rpc_answer_cb cb;
	void *cb_user;
	struct pending *prev, *next;
};

struct wg_rpc {
	struct wg_link *link;
	const struct wg_rpc_handlers *h;
	void *user;
	uv_loop_t *loop;
	uint64_t next_id;
	struct pending *head, *tail;
	size_t n_pending;
	/* One timer per connection, armed for the earliest deadline. */
	uv_timer_t *timer;
	uint64_t timer_at;
	struct wg_buf out; /* scratch buffer for packing */
	int closed;
};

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void unlink_pending(struct wg_rpc *rpc, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		rpc->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		rpc->tail = p->prev;
	rpc->n_pending--;
}

static void arm_timer(struct wg_rpc *rpc);

static void on_timer(uv_timer_t *t)
{
	struct wg_rpc *rpc = t->data;
	uint64_t now = uv_now(rpc->loop);
	rpc->timer_at = 0;
	struct pending *p = rpc->head;
	while (p) {
		struct pending *next = p->next;
		if (p->deadline_ms <= now) {
			unlink_pending(rpc, p);
			wg_debug(wg_rpc_peer_short(rpc), "request %llu timed out",
				 (unsigned long long)p->id);
			if (p->cb)
				p->cb(rpc, WG_ETIMEOUT, NULL, p->cb_user);
			free(p);
			if (rpc->closed)
				return;
		}
		p = next;
	}
	arm_timer(rpc);
}

static void arm_timer(struct wg_rpc *rpc)
{
	uint64_t earliest = 0;
	for (struct pending *p = rpc->head; p; p = p->next)
		if (!earliest || p->deadline_ms < earliest)
			earliest = p->deadline_ms;
	if (!earliest) {
		uv_timer_stop(rpc->timer);
		rpc->timer_at = 0;
		return;
	}
	if (rpc->timer_at && rpc->timer_at <= earliest)
		return;
	uint64_t now = uv_now(rpc->loop);
	uv_timer_start(rpc->timer, on_timer, earliest > now ? earliest - now : 0, 0);
	rpc->timer_at = earliest;
}

static int send_frame(struct wg_rpc *rpc, wg_frame *f)
{
	if (rpc->closed || !rpc->link)
		return WG_ECLOSED;
	rpc->out.len = 0;
	wg_frame_pack(f, &rpc->out);
	return wg_link_send(rpc->link, rpc->out.data, rpc->out.len);
}

int wg_rpc_request(struct wg_rpc *rpc, wg_frame *request, uint32_t timeout_ms, wg_rpc_answer_cb cb,
		   void *cb_user)
{
	request->id = ++rpc->next_id;
	int rc = send_frame(rpc, request);
	if (rc)
		return rc;
	struct pending *p = wg_calloc(1, sizeof *p);
	p->id = request->id;
	p->deadline_ms = uv_now(rpc->loop) + timeout_ms;
	p->cb = cb;
	p->cb_user = cb_user;
	p->prev = rpc->tail;
	if (rpc->tail)
		rpc->tail->next = p;
	else
		rpc->head = p;
	rpc->tail = p;
	rpc->n_pending++;
	if (!rpc->timer_at || p->deadline_ms < rpc->timer_at)
		arm_timer(rpc);
	return 0;
}

int wg_rpc_answer(struct wg_rpc *rpc, uint64_t id, wg_frame *answer)
{
	answer->id = id;
	return send_frame(rpc, answer);
}

int wg_rpc_answer_ack(struct wg_rpc *rpc, uint64_t id)
{
	Wasmgrid__Ack ack = WASMGRID__ACK__INIT;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_ACK;
	f.ack = &ack;
	return wg_rpc_answer(rpc, id, &f);
}

int wg_rpc_answer_not_mine(struct wg_rpc *rpc, uint64_t id)
{
	Wasmgrid__NotMine nm = WASMGRID__NOT_MINE__INIT;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_NOT_MINE;
	f.not_mine = &nm;
	return wg_rpc_answer(rpc, id, &f);
}

int wg_rpc_answer_refused(struct wg_rpc *rpc, uint64_t id, const char *reason)
{
	Wasmgrid__Refused r = WASMGRID__REFUSED__INIT;
	r.reason = (char *)reason;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_REFUSED;
	f.refused = &r;
	return wg_rpc_answer(rpc, id, &f);
}

static int link_open(struct wg_link *link, void *user)
{
	struct wg_rpc *rpc = user;
	rpc->link = link;
	return rpc->h->on_open ? rpc->h->on_open(rpc, rpc->user) : 0;
}

static void link_frame(struct wg_link *link, const uint8_t *data, size_t len, void *user)
{
	struct wg_rpc *rpc = user;
	wg_frame *f = NULL;
	uint64_t id = 0;
	const char *why = NULL;
	switch (wg_frame_decode(data, len, &f, &id, &why)) {
	case WG_FRAME_BAD:
		wg_warn(wg_link_peer_short(link), "refusing a frame of %zu bytes: %s", len, why);
		wg_rpc_answer_refused(rpc, id, why);
		return;
	case WG_FRAME_REQUEST: rpc->h->on_request(rpc, f->id, f, rpc->user); break;
	case WG_FRAME_ANSWER: {
		struct pending *p = rpc->head;
		while (p && p->id != f->id)
			p = p->next;
		if (!p) {
			/* Its deadline passed already, or the peer answers what we never asked. */
			wg_debug(wg_link_peer_short(link), "dropping %s for unknown request %llu",
				 wg_body_name(f->body_case), (unsigned long long)f->id);
			break;
		}
		unlink_pending(rpc, p);
		if (p->cb)
			p->cb(rpc, 0, f, p->cb_user);
		free(p);
		break;
	}
	}
	wg_frame_free(f);
}

static void link_close(struct wg_link *link, int status, void *user)
{
	struct wg_rpc *rpc = user;
	rpc->closed = 1;
	/* Taken whole first: a callback may not find a half-emptied list. */
	struct pending *p = rpc->head;
	rpc->head = rpc->tail = NULL;
	rpc->n_pending = 0;
	while (p) {
		struct pending *next = p->next;
		if (p->cb)
			p->cb(rpc, WG_ECLOSED, NULL, p->cb_user);
		free(p);
		p = next;
	}
	if (rpc->h->on_close)
		rpc->h->on_close(rpc, status, rpc->user);
	uv_timer_stop(rpc->timer);
	uv_close((uv_handle_t *)rpc->timer, timer_closed);
	wg_buf_free(&rpc->out);
	free(rpc);
}

static const struct wg_link_cbs rpc_link_cbs = {
    .on_open = link_open,
    .on_frame = link_frame,
    .on_close = link_close,
};

static struct wg_rpc *rpc_new(uv_loop_t *loop, const struct wg_rpc_handlers *h, void *user)
{
	struct wg_rpc *rpc = wg_calloc(1, sizeof *rpc);
	rpc->h = h;
	rpc->user = user;
	rpc->loop = loop;
	rpc->timer = wg_malloc(sizeof *rpc->timer);
	uv_timer_init(loop, rpc->timer);
	rpc->timer->data = rpc;
	return rpc;
}

int wg_rpc_connect(uv_loop_t *loop, const char *host_port, const struct wg_identity *self,
		   const uint8_t *expected_peer, const struct wg_rpc_handlers *h, void *user,
		   struct wg_rpc **out)
{
	struct wg_rpc *rpc = rpc_new(loop, h, user);
	struct wg_link *link = NULL;
	int rc =
	    wg_link_connect(loop, host_port, self, expected_peer, NULL, &rpc_link_cbs, rpc, &link);
	if (rc) {
		uv_close((uv_handle_t *)rpc->timer, timer_closed);
		free(rpc);
		return rc;
	}
	rpc->link = link;
	*out = rpc;
	return 0;
}

struct wg_rpc *wg_rpc_accept(uv_loop_t *loop, struct wg_link *link, const struct wg_rpc_handlers *h,
			     void *user, const struct wg_link_cbs **cbs, void **link_user)
{
	struct wg_rpc *rpc = rpc_new(loop, h, user);
	rpc->link = link;
	*cbs = &rpc_link_cbs;
	*link_user = rpc;
	return rpc;
}

void wg_rpc_close(struct wg_rpc *rpc)
{
	if (!rpc->closed && rpc->link)
		wg_link_close(rpc->link);
}

void wg_rpc_set_user(struct wg_rpc *rpc, void *user)
{
	rpc->user = user;
}

struct wg_link *wg_rpc_link(const struct wg_rpc *rpc)
{
	return rpc->link;
}

const char *wg_rpc_peer_short(const struct wg_rpc *rpc)
{
	return rpc->link ? wg_link_peer_short(rpc->link) : "?";
}

size_t wg_rpc_pending(const struct wg_rpc *rpc)
{
	return rpc->n_pending;
}
