/* A link: one authenticated, encrypted, framed TCP connection between two nodes, on a
 * libuv loop. This layer knows node identities and frames of bytes; it knows nothing of
 * what the frames mean (node/rpc.c decodes them).
 *
 * Handshake (both sides at once, no round trip wasted):
 *   1. each side sends HELLO: the 8-byte magic "WASMGRD1", its Ed25519 public key (32) and a
 *      fresh X25519 key-exchange public key (32, crypto_kx);
 *   2. on the peer's HELLO, each side derives session keys (crypto_kx; the connecting side
 *      is the kx client) and sends AUTH: an Ed25519 signature over
 *      "wasmgrid-auth-v1" || role byte ('c' or 's') || own kx key || peer's kx key,
 *      sealed like any frame;
 *   3. a side that receives a valid AUTH from a peer whose key is allowed (the expected key
 *      when one was given, otherwise the accept/connect callback's verdict) opens the link.
 * After that, each frame is a 4-byte big-endian length followed by that many bytes of
 * ciphertext: the frame sealed with crypto_secretstream_xchacha20poly1305 (one stream per
 * direction). The stream's 24-byte header goes first, framed like the rest (length 24) but
 * not sealed: it is a nonce, not a secret. AUTH is the first sealed message of the stream.
 * A length over the maximum frame size (plus the seal's overhead) closes the link with
 * WG_ETOOBIG, a frame that fails to open with WG_EAUTH, bytes that are not a HELLO (bad magic)
 * or a malformed handshake message with WG_EPROTO, and a handshake not finished within the
 * handshake deadline (counted from connect or accept, name resolution included) with
 * WG_ETIMEOUT. docs/net.md explains the design.
 *
 * Ownership: a link is owned by this layer. The user gets a pointer that stays valid until
 * its close callback has returned; after that it is freed. Never free it yourself. */
#ifndef WG_NET_LINK_H
#define WG_NET_LINK_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/keypair.h"

#define WG_LINK_MAX_FRAME_DEFAULT ((size_t)16 << 20)

struct wg_link;

struct wg_link_cbs {
	/* The handshake is complete: wg_link_peer_id() is now the proven peer key.
	 * Return 0 to keep the link, or a negative wg_err to close it (authorization). */
	int (*on_open)(struct wg_link *link, void *user);
	/* One frame arrived. `data` is valid only during the call. */
	void (*on_frame)(struct wg_link *link, const uint8_t *data, size_t len, void *user);
	/* The link closed (status: 0 for a close we asked for, else the reason as a negative
	 * wg_err: WG_ECLOSED when the peer hung up, WG_EAUTH, WG_EPROTO, WG_ETOOBIG,
	 * WG_ETIMEOUT, WG_EUNREACHABLE for a failed connect or name resolution, the status given
	 * to wg_link_abort or returned by on_open). Called exactly once for every link, even one
	 * that never opened, and never from inside wg_link_connect/close/abort: always later,
	 * from the loop. wg_link_peer_id() still works here. The link is freed right after this
	 * returns. */
	void (*on_close)(struct wg_link *link, int status, void *user);
};

struct wg_link_options {
	size_t max_frame;      /* 0: WG_LINK_MAX_FRAME_DEFAULT; capped at 1 GiB */
	uint32_t handshake_ms; /* 0: 10000 */
};

/* Connects to "HOST:PORT" (an IPv4 literal, an IPv6 literal in brackets as "[::1]:5740",
 * or a name resolved with uv_getaddrinfo; the first address is used). If `expected_peer` is
 * not NULL the peer must prove that key, or the link closes with WG_EAUTH before on_open.
 * The result is reported through cbs (not copied: they must outlive the link); *out
 * receives the link at once so it can be closed before it opens. `self` and `opts` are
 * copied. Returns 0, or WG_EINVAL for a malformed address (then no link exists and no
 * callback follows). */
int wg_link_connect(uv_loop_t *loop, const char *host_port, const struct wg_identity *self,
		    const uint8_t *expected_peer /* 32 bytes or NULL */,
		    const struct wg_link_options *opts, const struct wg_link_cbs *cbs, void *user,
		    struct wg_link **out);

struct wg_listener;
/* Called for each accepted connection before its handshake starts; return the callbacks
 * and user pointer to use for it by filling *cbs and *user. Leaving *cbs NULL refuses the
 * connection (it is closed, silently). */
typedef void (*wg_accept_cb)(struct wg_listener *l, struct wg_link *link,
			     const struct wg_link_cbs **cbs, void **user, void *listener_user);

/* Listens on "HOST:PORT" (port 0: any free port; *bound_port, if not NULL, receives the
 * port bound). `self` and `opts` are copied. A name is resolved synchronously (this happens
 * once, at start-up). Returns 0, WG_EINVAL for a malformed or unresolvable address, or
 * WG_EIO when the address cannot be bound (then the half-made listener is released on the
 * loop's next run). */
int wg_listener_start(uv_loop_t *loop, const char *host_port, const struct wg_identity *self,
		      const struct wg_link_options *opts, wg_accept_cb accept_cb, void *user,
		      struct wg_listener **out, int *bound_port);
/* Stops listening; links already accepted are not affected. Frees the listener later, on
 * the loop. */
void wg_listener_close(struct wg_listener *l);

/* Queues one frame (copied, sealed at once). Frames queued in one loop iteration go out in
 * one write. Returns 0, WG_ETOOBIG over the maximum frame size, or WG_ECLOSED when the link
 * is closing or not yet open (it is open from on_open on, so on_open may send). */
int wg_link_send(struct wg_link *link, const uint8_t *data, size_t len);
/* Writes the frames queued so far now rather than in the next loop iteration: for a caller
 * that has queued the last frame of its turn (the next iteration would first read and
 * handle whatever has come in meanwhile). A no-op when nothing waits or a write is in
 * flight (the queued frames then follow it as one batch). */
void wg_link_flush(struct wg_link *link);
/* Closes the link after the frames already queued have been written (bounded by a 2 s
 * deadline): writes them, sends FIN, and waits for the peer's EOF so that no reset can
 * destroy data in flight. No on_frame follows. on_close follows with status 0. Safe to
 * call more than once, and from any callback of this link. */
void wg_link_close(struct wg_link *link);
/* Closes at once, dropping anything queued; on_close follows with `status`. */
void wg_link_abort(struct wg_link *link, int status);

/* The peer's proven Ed25519 key (32 bytes), or NULL before the handshake completes. */
const uint8_t *wg_link_peer_id(const struct wg_link *link);
/* The peer's short id (first 8 hex digits of its key) for logs, or "?" before it is known. */
const char *wg_link_peer_short(const struct wg_link *link);
/* "HOST:PORT" of the peer as seen on the socket. */
const char *wg_link_peer_addr(const struct wg_link *link);
/* Bytes queued but not yet written: for back-pressure. */
size_t wg_link_pending_bytes(const struct wg_link *link);
int wg_link_is_open(const struct wg_link *link);

#endif
