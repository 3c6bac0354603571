/* The secure link layer: the handshake, sealing and framing described in link.h, on libuv.
 *
 * Life of a link: created (handles initialised, handshake deadline armed) -> connected ->
 * HELLO exchanged -> AUTH verified (open) -> closing -> finishing (handles closing) ->
 * on_close -> freed. Every path to the end goes through finish(), which closes the three
 * handles; the last close callback calls on_close and frees the link, so a link is never
 * freed inside one of its own callbacks. */
#include "net/link.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

#define MAGIC "WASMGRD1"
#define MAGIC_LEN 8
#define HELLO_LEN (MAGIC_LEN + 32 + crypto_kx_PUBLICKEYBYTES)
#define AUTH_CONTEXT "wasmgrid-auth-v1"
#define AUTH_CONTEXT_LEN 16
#define AUTH_MSG_LEN (AUTH_CONTEXT_LEN + 1 + 2 * crypto_kx_PUBLICKEYBYTES)
#define SEAL_OVERHEAD crypto_secretstream_xchacha20poly1305_ABYTES
#define STREAM_HEADER_LEN crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define CLOSE_DEADLINE_MS 2000
#define HANDSHAKE_MS_DEFAULT 10000
/* Frames are capped well below 4 GiB so that a length plus the seal always fits the 32-bit
 * length field. */
#define MAX_FRAME_CEILING ((size_t)1 << 30)
#define READ_CHUNK ((size_t)64 << 10)
/* A batch this large is written at once rather than at the end of the loop iteration. */
#define FLUSH_NOW_BYTES ((size_t)1 << 20)
/* Buffers that grew past this for one big frame are released once empty, so an idle link
 * that once carried a 16 MiB frame does not keep 16 MiB. */
#define KEEP_BUF_BYTES ((size_t)4 << 20)

enum rx_state { RX_HELLO, RX_HEADER, RX_AUTH, RX_FRAMES };

/* Bytes read but not yet parsed: [start, end) of data[cap]. A start offset instead of a
 * memmove per frame keeps parsing of many small frames linear. */
struct read_buf {
	uint8_t *data;
	size_t start, end, cap;
};

struct wg_link {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	uv_timer_t timer;  /* the handshake deadline, then the close deadline */
	uv_idle_t flusher; /* active while a batch waits: writes it once per loop iteration */
	uv_connect_t connect_req;
	uv_getaddrinfo_t resolve_req;
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;

	const struct wg_link_cbs *cbs;
	void *user;
	struct wg_identity self; /* a copy, wiped when the link is freed */
	int is_client;
	int has_expected;
	uint8_t expected_peer[32];
	size_t max_frame;
	uint32_t handshake_ms;

	enum rx_state rx_state;
	int connected;	     /* the TCP connection exists: reads and writes are possible */
	int open;	     /* the handshake succeeded */
	int proven;	     /* peer_key was proven by a valid AUTH */
	int close_requested; /* wg_link_close was called: flush, then end with status 0 */
	int shutdown_started;
	int finishing;	    /* handles are closing; on_close is on its way */
	int resolving;	    /* resolve_req is in flight and holds a reference */
	int pending_closes; /* close callbacks (and resolver callback) still to come */
	int status;

	uint8_t peer_key[32];
	char peer_short[9];
	char peer_addr[300];
	uint8_t kx_pk[crypto_kx_PUBLICKEYBYTES], kx_sk[crypto_kx_SECRETKEYBYTES];
	uint8_t peer_kx_pk[crypto_kx_PUBLICKEYBYTES];
	/* The receive key is kept only until the peer's stream header arrives. */
	uint8_t rx_key[crypto_kx_SESSIONKEYBYTES];
	crypto_secretstream_xchacha20poly1305_state tx, rx;

	struct read_buf in;
	struct wg_buf plain;	/* scratch for one opened frame, reused */
	struct wg_buf pending;	/* sealed bytes queued, not yet handed to uv_write */
	struct wg_buf inflight; /* sealed bytes being written by write_req */
};

struct wg_listener {
	uv_tcp_t tcp;
	struct wg_identity self;
	struct wg_link_options opts;
	wg_accept_cb accept_cb;
	void *user;
};

static void finish(struct wg_link *link, int status);
static void flush(struct wg_link *link);

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void link_free(struct wg_link *link)
{
	free(link->in.data);
	wg_buf_free(&link->plain);
	wg_buf_free(&link->pending);
	wg_buf_free(&link->inflight);
	sodium_memzero(link, sizeof *link);
	free(link);
}

/* Drops one of the references held by closing handles; the last one ends the link. */
static void release_ref(struct wg_link *link)
{
	if (--link->pending_closes > 0)
		return;
	if (link->cbs && link->cbs->on_close)
		link->cbs->on_close(link, link->status, link->user);
	link_free(link);
}

static void on_handle_closed(uv_handle_t *handle)
{
	release_ref(handle->data);
}

/* The one way a link ends. The status is 0 when the user asked for the close (even if an
 * error cut the flush short), else the first error. */
static void finish(struct wg_link *link, int status)
{
	if (link->finishing)
		return;
	link->finishing = 1;
	link->open = 0;
	link->status = link->close_requested ? 0 : status;
	if (link->status < 0)
		wg_debug(link->proven ? link->peer_short : NULL, "link %s closed: %s",
			 link->peer_addr, wg_strerror(link->status));
	uv_read_stop((uv_stream_t *)&link->tcp);
	link->pending_closes = 3;
	if (link->resolving) {
		link->pending_closes++;
		uv_cancel((uv_req_t *)&link->resolve_req);
	}
	uv_close((uv_handle_t *)&link->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&link->timer, on_handle_closed);
	uv_close((uv_handle_t *)&link->flusher, on_handle_closed);
}

static void on_timer(uv_timer_t *timer)
{
	struct wg_link *link = timer->data;
	finish(link, WG_ETIMEOUT);
}

static struct wg_link *link_create(uv_loop_t *loop, const struct wg_identity *self,
				   const struct wg_link_options *opts, int is_client)
{
	if (sodium_init() < 0)
		abort();
	struct wg_link *link = wg_calloc(1, sizeof *link);
	link->loop = loop;
	link->self = *self;
	link->is_client = is_client;
	link->max_frame = opts && opts->max_frame ? opts->max_frame : WG_LINK_MAX_FRAME_DEFAULT;
	if (link->max_frame > MAX_FRAME_CEILING)
		link->max_frame = MAX_FRAME_CEILING;
	link->handshake_ms = opts && opts->handshake_ms ? opts->handshake_ms : HANDSHAKE_MS_DEFAULT;
	strcpy(link->peer_short, "?");
	strcpy(link->peer_addr, "?");
	crypto_kx_keypair(link->kx_pk, link->kx_sk);
	uv_tcp_init(loop, &link->tcp);
	uv_timer_init(loop, &link->timer);
	uv_idle_init(loop, &link->flusher);
	link->tcp.data = link->timer.data = link->flusher.data = link;
	uv_timer_start(&link->timer, on_timer, link->handshake_ms, 0);
	return link;
}

/* ---- writing ---- */

/* Nothing to do when our FIN is sent: the link ends at the peer's EOF or the deadline. A
 * callback is still needed because libuv calls it unconditionally on close. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;
}

static void send_fin(struct wg_link *link)
{
	if (link->shutdown_started)
		return;
	link->shutdown_started = 1;
	if (uv_shutdown(&link->shutdown_req, (uv_stream_t *)&link->tcp, on_shutdown) < 0)
		finish(link, 0);
}

static void on_write(uv_write_t *req, int status)
{
	struct wg_link *link = req->data;
	if (link->finishing)
		return;
	if (status < 0) {
		finish(link, WG_ECLOSED);
		return;
	}
	link->inflight.len = 0;
	if (link->inflight.cap > KEEP_BUF_BYTES)
		wg_buf_free(&link->inflight);
	if (link->pending.len)
		flush(link);
	else if (link->close_requested)
		send_fin(link);
}

/* Hands the queued batch to libuv as one write. Only one write is in flight at a time;
 * frames queued meanwhile form the next batch, so a burst of small frames costs one
 * syscall, not one each. */
static void flush(struct wg_link *link)
{
	if (link->finishing || !link->connected || link->inflight.len || !link->pending.len)
		return;
	struct wg_buf batch = link->inflight;
	link->inflight = link->pending;
	link->pending = batch;
	uv_buf_t buf = uv_buf_init((char *)link->inflight.data, (unsigned)link->inflight.len);
	link->write_req.data = link;
	if (uv_write(&link->write_req, (uv_stream_t *)&link->tcp, &buf, 1, on_write) < 0)
		finish(link, WG_ECLOSED);
}

static void on_idle(uv_idle_t *idle)
{
	struct wg_link *link = idle->data;
	uv_idle_stop(idle);
	flush(link);
}

static void schedule_flush(struct wg_link *link)
{
	if (link->pending.len >= FLUSH_NOW_BYTES && !link->inflight.len) {
		flush(link);
		return;
	}
	if (!uv_is_active((uv_handle_t *)&link->flusher))
		uv_idle_start(&link->flusher, on_idle);
}

/* Appends one sealed frame (length, then ciphertext) to the batch, sealing in place. */
static void seal_append(struct wg_link *link, const uint8_t *data, size_t len)
{
	size_t sealed = len + SEAL_OVERHEAD;
	wg_buf_reserve(&link->pending, 4 + sealed);
	uint8_t *p = link->pending.data + link->pending.len;
	put_be32(p, (uint32_t)sealed);
	const uint8_t tag = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
	crypto_secretstream_xchacha20poly1305_push(&link->tx, p + 4, NULL, data, len, NULL, 0, tag);
	link->pending.len += 4 + sealed;
}

/* ---- the handshake ---- */

/* The signed statement: context || role || the signer's kx key || the other side's kx key.
 * The role byte stops a peer from reflecting our own AUTH back at us. */
static void auth_message(uint8_t out[AUTH_MSG_LEN], char role, const uint8_t *signer_kx,
			 const uint8_t *other_kx)
{
	memcpy(out, AUTH_CONTEXT, AUTH_CONTEXT_LEN);
	out[AUTH_CONTEXT_LEN] = (uint8_t)role;
	memcpy(out + AUTH_CONTEXT_LEN + 1, signer_kx, crypto_kx_PUBLICKEYBYTES);
	memcpy(out + AUTH_CONTEXT_LEN + 1 + crypto_kx_PUBLICKEYBYTES, other_kx,
	       crypto_kx_PUBLICKEYBYTES);
}

static int on_hello(struct wg_link *link, const uint8_t *hello)
{
	uint8_t tx_key[crypto_kx_SESSIONKEYBYTES], header[STREAM_HEADER_LEN];
	uint8_t msg[AUTH_MSG_LEN], sig[crypto_sign_BYTES];
	int rc = 0;

	memcpy(link->peer_key, hello + MAGIC_LEN, 32);
	memcpy(link->peer_kx_pk, hello + MAGIC_LEN + 32, crypto_kx_PUBLICKEYBYTES);
	if (link->has_expected && sodium_memcmp(link->peer_key, link->expected_peer, 32) != 0) {
		rc = WG_EAUTH;
		goto out;
	}
	if (link->is_client)
		rc = crypto_kx_client_session_keys(link->rx_key, tx_key, link->kx_pk, link->kx_sk,
						   link->peer_kx_pk);
	else
		rc = crypto_kx_server_session_keys(link->rx_key, tx_key, link->kx_pk, link->kx_sk,
						   link->peer_kx_pk);
	sodium_memzero(link->kx_sk, sizeof link->kx_sk);
	if (rc != 0) {
		rc = WG_EAUTH;
		goto out;
	}
	crypto_secretstream_xchacha20poly1305_init_push(&link->tx, header, tx_key);
	uint8_t len_field[4];
	put_be32(len_field, STREAM_HEADER_LEN);
	wg_buf_append(&link->pending, len_field, 4);
	wg_buf_append(&link->pending, header, STREAM_HEADER_LEN);
	auth_message(msg, link->is_client ? 'c' : 's', link->kx_pk, link->peer_kx_pk);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, link->self.secret_key);
	seal_append(link, sig, sizeof sig);
	schedule_flush(link);
	link->rx_state = RX_HEADER;
out:
	sodium_memzero(tx_key, sizeof tx_key);
	return rc;
}

static int on_auth(struct wg_link *link, const uint8_t *sealed, size_t len)
{
	uint8_t sig[crypto_sign_BYTES], msg[AUTH_MSG_LEN];
	unsigned long long sig_len = 0;
	if (len != sizeof sig + SEAL_OVERHEAD)
		return WG_EAUTH;
	if (crypto_secretstream_xchacha20poly1305_pull(&link->rx, sig, &sig_len, NULL, sealed, len,
						       NULL, 0) != 0)
		return WG_EAUTH;
	auth_message(msg, link->is_client ? 's' : 'c', link->peer_kx_pk, link->kx_pk);
	if (crypto_sign_verify_detached(sig, msg, sizeof msg, link->peer_key) != 0)
		return WG_EAUTH;
	link->proven = 1;
	wg_node_id_short(link->peer_key, link->peer_short);
	link->rx_state = RX_FRAMES;
	link->open = 1;
	uv_timer_stop(&link->timer);
	if (link->cbs && link->cbs->on_open) {
		int rc = link->cbs->on_open(link, link->user);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- reading ---- */

static int on_sealed_frame(struct wg_link *link, const uint8_t *sealed, size_t len)
{
	unsigned long long plain_len = 0;
	switch (link->rx_state) {
	case RX_HEADER: {
		int rc = WG_EAUTH;
		if (len == STREAM_HEADER_LEN && crypto_secretstream_xchacha20poly1305_init_pull(
						    &link->rx, sealed, link->rx_key) == 0)
			rc = 0;
		sodium_memzero(link->rx_key, sizeof link->rx_key);
		if (rc < 0)
			return rc;
		link->rx_state = RX_AUTH;
		return 0;
	}
	case RX_AUTH: return on_auth(link, sealed, len);
	case RX_FRAMES:
		if (len < SEAL_OVERHEAD)
			return WG_EAUTH;
		wg_buf_reserve(&link->plain, len - SEAL_OVERHEAD);
		if (crypto_secretstream_xchacha20poly1305_pull(
			&link->rx, link->plain.data, &plain_len, NULL, sealed, len, NULL, 0) != 0)
			return WG_EAUTH;
		if (link->cbs && link->cbs->on_frame)
			link->cbs->on_frame(link, link->plain.data, (size_t)plain_len, link->user);
		return 0;
	case RX_HELLO: break;
	}
	return WG_EINTERNAL;
}

/* The largest sealed length acceptable in the current state. */
static size_t sealed_limit(const struct wg_link *link)
{
	switch (link->rx_state) {
	case RX_HEADER: return STREAM_HEADER_LEN;
	case RX_AUTH: return crypto_sign_BYTES + SEAL_OVERHEAD;
	default: return link->max_frame + SEAL_OVERHEAD;
	}
}

/* Consumes every complete message in the read buffer. Lengths are checked against the
 * limit as soon as their 4 bytes are in, before any room is made for the body. */
static void parse(struct wg_link *link)
{
	struct read_buf *in = &link->in;
	while (!link->finishing && !link->close_requested) {
		const uint8_t *p = in->data + in->start;
		size_t avail = in->end - in->start;
		int rc;
		if (link->rx_state == RX_HELLO) {
			size_t n = avail < MAGIC_LEN ? avail : MAGIC_LEN;
			if (memcmp(p, MAGIC, n) != 0) {
				finish(link, WG_EPROTO);
				return;
			}
			if (avail < HELLO_LEN)
				return;
			in->start += HELLO_LEN;
			rc = on_hello(link, p);
		} else {
			if (avail < 4)
				return;
			uint32_t len = get_be32(p);
			if (len > sealed_limit(link)) {
				finish(link, link->rx_state == RX_FRAMES ? WG_ETOOBIG : WG_EPROTO);
				return;
			}
			if (avail - 4 < len)
				return;
			in->start += 4 + (size_t)len;
			rc = on_sealed_frame(link, p + 4, len);
		}
		if (rc < 0) {
			finish(link, rc);
			return;
		}
	}
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct wg_link *link = handle->data;
	struct read_buf *in = &link->in;
	size_t want = READ_CHUNK, avail = in->end - in->start;
	(void)suggested;
	/* When the length of a big frame is known (and already checked), make room for all of
	 * it at once rather than growing step by step. */
	if (link->rx_state != RX_HELLO && avail >= 4) {
		size_t total = 4 + (size_t)get_be32(in->data + in->start);
		if (total - 4 <= sealed_limit(link) && total > avail && total - avail > want)
			want = total - avail;
	}
	if (in->cap - in->end < want && in->start > 0) {
		memmove(in->data, in->data + in->start, avail);
		in->start = 0;
		in->end = avail;
	}
	if (in->cap - in->end < want) {
		size_t cap = in->cap * 2;
		if (cap < in->end + want)
			cap = in->end + want;
		in->data = wg_realloc(in->data, cap);
		in->cap = cap;
	}
	*buf = uv_buf_init((char *)in->data + in->end, (unsigned)(in->cap - in->end));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct wg_link *link = stream->data;
	struct read_buf *in = &link->in;
	(void)buf;
	if (nread == 0 || link->finishing)
		return;
	if (nread < 0) {
		finish(link, WG_ECLOSED);
		return;
	}
	if (link->close_requested) {
		/* Closing: the peer's frames are no longer wanted; we read only to see its EOF. */
		in->start = in->end = 0;
		return;
	}
	in->end += (size_t)nread;
	parse(link);
	if (link->finishing)
		return;
	if (in->start == in->end) {
		in->start = in->end = 0;
		if (in->cap > KEEP_BUF_BYTES) {
			free(in->data);
			in->data = NULL;
			in->cap = 0;
		}
	}
	if (link->plain.cap > KEEP_BUF_BYTES)
		wg_buf_free(&link->plain);
}

static void update_peer_addr(struct wg_link *link)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(&link->tcp, (struct sockaddr *)&ss, &len) == 0)
		wg_addr_format((struct sockaddr *)&ss, link->peer_addr, sizeof link->peer_addr);
}

/* The connection exists: send HELLO and start reading. */
static void start_handshake(struct wg_link *link)
{
	uint8_t hello[HELLO_LEN];
	link->connected = 1;
	update_peer_addr(link);
	uv_tcp_nodelay(&link->tcp, 1);
	uv_tcp_keepalive(&link->tcp, 1, 60);
	if (uv_read_start((uv_stream_t *)&link->tcp, on_alloc, on_read) < 0) {
		finish(link, WG_ECLOSED);
		return;
	}
	memcpy(hello, MAGIC, MAGIC_LEN);
	memcpy(hello + MAGIC_LEN, link->self.public_key, 32);
	memcpy(hello + MAGIC_LEN + 32, link->kx_pk, crypto_kx_PUBLICKEYBYTES);
	wg_buf_append(&link->pending, hello, sizeof hello);
	schedule_flush(link);
}

/* ---- connecting ---- */

static void on_connect(uv_connect_t *req, int status)
{
	struct wg_link *link = req->data;
	if (link->finishing)
		return;
	if (status < 0) {
		finish(link, WG_EUNREACHABLE);
		return;
	}
	start_handshake(link);
}

static void start_connect(struct wg_link *link, const struct sockaddr *addr)
{
	wg_addr_format(addr, link->peer_addr, sizeof link->peer_addr);
	link->connect_req.data = link;
	if (uv_tcp_connect(&link->connect_req, &link->tcp, addr, on_connect) < 0)
		finish(link, WG_EUNREACHABLE);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct wg_link *link = req->data;
	link->resolving = 0;
	if (link->finishing)
		release_ref(link);
	else if (status < 0 || !res)
		finish(link, WG_EUNREACHABLE);
	else
		start_connect(link, res->ai_addr);
	uv_freeaddrinfo(res);
}

int wg_link_connect(uv_loop_t *loop, const char *host_port, const struct wg_identity *self,
		    const uint8_t *expected_peer, const struct wg_link_options *opts,
		    const struct wg_link_cbs *cbs, void *user, struct wg_link **out)
{
	char host[256], port_str[8];
	int port;
	struct sockaddr_storage addr;
	if (!loop || !self || !cbs || !out)
		return WG_EINVAL;
	if (wg_addr_split(host_port, host, sizeof host, &port) < 0)
		return WG_EINVAL;
	struct wg_link *link = link_create(loop, self, opts, 1);
	link->cbs = cbs;
	link->user = user;
	if (expected_peer) {
		link->has_expected = 1;
		memcpy(link->expected_peer, expected_peer, 32);
	}
	snprintf(link->peer_addr, sizeof link->peer_addr, "%s", host_port);
	*out = link;
	if (wg_addr_literal(host, port, &addr) == 0) {
		start_connect(link, (struct sockaddr *)&addr);
		return 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	snprintf(port_str, sizeof port_str, "%d", port);
	link->resolve_req.data = link;
	link->resolving = 1;
	if (uv_getaddrinfo(loop, &link->resolve_req, on_resolved, host, port_str, &hints) < 0) {
		link->resolving = 0;
		finish(link, WG_EUNREACHABLE);
	}
	return 0;
}

/* ---- listening ---- */

static void on_listener_closed(uv_handle_t *handle)
{
	struct wg_listener *l = handle->data;
	sodium_memzero(l, sizeof *l);
	free(l);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct wg_listener *l = server->data;
	if (status < 0) {
		wg_warn(NULL, "accept failed: %s", uv_strerror(status));
		return;
	}
	struct wg_link *link = link_create(server->loop, &l->self, &l->opts, 0);
	if (uv_accept(server, (uv_stream_t *)&link->tcp) < 0) {
		finish(link, WG_ECLOSED);
		return;
	}
	update_peer_addr(link);
	const struct wg_link_cbs *cbs = NULL;
	void *user = NULL;
	l->accept_cb(l, link, &cbs, &user, l->user);
	link->cbs = cbs;
	link->user = user;
	if (!cbs)
		finish(link, WG_EDENIED);
	if (!link->finishing)
		start_handshake(link);
}

int wg_listener_start(uv_loop_t *loop, const char *host_port, const struct wg_identity *self,
		      const struct wg_link_options *opts, wg_accept_cb accept_cb, void *user,
		      struct wg_listener **out, int *bound_port)
{
	char host[256], port_str[8];
	int port, rc = 0;
	struct sockaddr_storage addr;
	if (!loop || !self || !accept_cb || !out)
		return WG_EINVAL;
	if (wg_addr_split(host_port, host, sizeof host, &port) < 0)
		return WG_EINVAL;
	if (wg_addr_literal(host, port, &addr) < 0) {
		/* Listening happens once at start-up, so resolving synchronously is fine. */
		uv_getaddrinfo_t req;
		struct addrinfo hints = {
		    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
		snprintf(port_str, sizeof port_str, "%d", port);
		if (uv_getaddrinfo(loop, &req, NULL, host, port_str, &hints) < 0)
			return WG_EINVAL;
		memcpy(&addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
		uv_freeaddrinfo(req.addrinfo);
	}
	if (sodium_init() < 0)
		abort();
	struct wg_listener *l = wg_calloc(1, sizeof *l);
	l->self = *self;
	if (opts)
		l->opts = *opts;
	l->accept_cb = accept_cb;
	l->user = user;
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	/* Reported by the caller, which knows what the address was for. */
	int uvrc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&addr, 0);
	if (uvrc == 0)
		uvrc = uv_listen((uv_stream_t *)&l->tcp, 128, on_connection);
	if (uvrc < 0) {
		rc = wg_err_from_errno(uvrc);
		goto out;
	}
	if (bound_port) {
		struct sockaddr_storage bound;
		int len = sizeof bound;
		uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
		*bound_port =
		    ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	}
	*out = l;
out:
	if (rc < 0)
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
	return rc;
}

void wg_listener_close(struct wg_listener *l)
{
	if (l && !uv_is_closing((uv_handle_t *)&l->tcp))
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

/* ---- the public link API ---- */

int wg_link_send(struct wg_link *link, const uint8_t *data, size_t len)
{
	if (!link || !link->open || link->finishing || link->close_requested)
		return WG_ECLOSED;
	if (len > link->max_frame)
		return WG_ETOOBIG;
	seal_append(link, data, len);
	schedule_flush(link);
	return 0;
}

void wg_link_flush(struct wg_link *link)
{
	if (!link || !link->pending.len)
		return;
	flush(link);
	if (!link->pending.len)
		uv_idle_stop(&link->flusher);
}

void wg_link_close(struct wg_link *link)
{
	if (!link || link->finishing || link->close_requested)
		return;
	link->close_requested = 1;
	if (!link->connected) {
		finish(link, 0);
		return;
	}
	uv_timer_stop(&link->timer);
	uv_timer_start(&link->timer, on_timer, CLOSE_DEADLINE_MS, 0);
	/* With nothing left to write, send our FIN now; otherwise on_write sends it after the
	 * last batch. Either way the link ends at the peer's EOF or the deadline. */
	if (!link->pending.len && !link->inflight.len)
		send_fin(link);
}

void wg_link_abort(struct wg_link *link, int status)
{
	if (!link || link->finishing)
		return;
	link->close_requested = 0;
	finish(link, status);
}

const uint8_t *wg_link_peer_id(const struct wg_link *link)
{
	return link->proven ? link->peer_key : NULL;
}

const char *wg_link_peer_short(const struct wg_link *link)
{
	return link->peer_short;
}

const char *wg_link_peer_addr(const struct wg_link *link)
{
	return link->peer_addr;
}

size_t wg_link_pending_bytes(const struct wg_link *link)
{
	return link->pending.len + link->inflight.len;
}

int wg_link_is_open(const struct wg_link *link)
{
	return link->open && !link->finishing && !link->close_requested;
}
