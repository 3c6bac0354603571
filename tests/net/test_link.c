/* Tests of the secure link layer over real TCP on loopback. Both ends of a wasmgrid link
 * run on one uv loop in the test process; hostile peers are plain blocking sockets driven
 * from a thread, so they can misbehave at any byte of the protocol. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "harness/test.h"
#include "util/addr.h"
#include "net/link.h"
#include "node/identity.h"
#include "util/alloc.h"
#include "util/err.h"

struct side {
	struct wg_link *link;
	int opened, closed, close_status;
	int reject_with; /* what on_open returns */
	int greet;	 /* on_open sends one frame */
	size_t frames;	 /* frames received */
	int in_order;	 /* every small frame carried the next sequence number */
	uint32_t next_seq;
	int big_ok; /* a big frame arrived intact */
	uint8_t peer_seen[32];
};

struct fixture {
	uv_loop_t loop;
	struct wg_identity client_id, server_id;
	struct wg_listener *listener;
	int port;
	struct side client, server;
	int accepted;
};

#define BIG_FRAME_LEN (16u * 1024 * 1024)

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 31 + (i >> 12));
}

static int on_open(struct wg_link *link, void *user)
{
	struct side *s = user;
	s->opened = 1;
	memcpy(s->peer_seen, wg_link_peer_id(link), 32);
	if (s->greet)
		CHECK_EQ(wg_link_send(link, (const uint8_t *)"\0\0\0\0hi", 6), 0);
	return s->reject_with;
}

static void on_frame(struct wg_link *link, const uint8_t *data, size_t len, void *user)
{
	struct side *s = user;
	(void)link;
	s->frames++;
	if (len == BIG_FRAME_LEN) {
		s->big_ok = 1;
		for (size_t i = 0; i < len; i++)
			if (data[i] != pattern_byte(i))
				s->big_ok = 0;
		return;
	}
	if (len >= 4) {
		uint32_t seq;
		memcpy(&seq, data, 4);
		if (seq != s->next_seq)
			s->in_order = 0;
		s->next_seq++;
	}
}

static void on_close(struct wg_link *link, int status, void *user)
{
	struct side *s = user;
	(void)link;
	CHECK_MSG(!s->closed, "on_close called twice");
	s->closed = 1;
	s->close_status = status;
	s->link = NULL;
}

static const struct wg_link_cbs test_cbs = {on_open, on_frame, on_close};

static void on_accept(struct wg_listener *l, struct wg_link *link, const struct wg_link_cbs **cbs,
		      void **user, void *listener_user)
{
	struct fixture *fx = listener_user;
	(void)l;
	fx->accepted++;
	fx->server.link = link;
	*cbs = &test_cbs;
	*user = &fx->server;
}

static void fixture_init(struct fixture *fx, const char *listen_addr,
			 const struct wg_link_options *server_opts)
{
	memset(fx, 0, sizeof *fx);
	CHECK_EQ(uv_loop_init(&fx->loop), 0);
	wg_identity_generate(&fx->client_id);
	wg_identity_generate(&fx->server_id);
	fx->client.in_order = fx->server.in_order = 1;
	CHECK_EQ(wg_listener_start(&fx->loop, listen_addr, &fx->server_id, server_opts, on_accept,
				   fx, &fx->listener, &fx->port),
		 0);
	CHECK(fx->port > 0);
}

static void fixture_connect(struct fixture *fx, const char *host, const uint8_t *expected)
{
	char addr[128];
	snprintf(addr, sizeof addr, "%s:%d", host, fx->port);
	CHECK_EQ(wg_link_connect(&fx->loop, addr, &fx->client_id, expected, NULL, &test_cbs,
				 &fx->client, &fx->client.link),
		 0);
	CHECK(fx->client.link != NULL);
}

#define RUN_UNTIL(fx, cond)                                                                        \
	do {                                                                                       \
		while (!(cond))                                                                    \
			uv_run(&(fx)->loop, UV_RUN_ONCE);                                          \
	} while (0)

/* The runner ends each test with _exit, which skips LeakSanitizer's exit check; under ASan
 * this weak symbol resolves and lets us ask for the check ourselves. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* Stops listening, lets every handle close and checks that nothing is left on the loop:
 * a link that leaked a handle or a request makes uv_loop_close fail. */
static void fixture_finish(struct fixture *fx)
{
	CHECK(fx->client.link == NULL);
	CHECK(fx->server.link == NULL);
	wg_listener_close(fx->listener);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&fx->loop), 0);
	if (__lsan_do_recoverable_leak_check)
		CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
}

static void open_pair(struct fixture *fx, const char *host)
{
	fixture_connect(fx, host, fx->server_id.public_key);
	RUN_UNTIL(fx, (fx->client.opened && fx->server.opened) || fx->client.closed ||
			  fx->server.closed);
	CHECK(fx->client.opened && fx->server.opened);
}

TEST(link_handshake_succeeds_and_frames_round_trip)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	CHECK(fx.client.link == NULL);
	fixture_connect(&fx, "127.0.0.1", fx.server_id.public_key);
	CHECK(wg_link_peer_id(fx.client.link) == NULL);
	CHECK_STREQ(wg_link_peer_short(fx.client.link), "?");
	CHECK_EQ(wg_link_send(fx.client.link, (const uint8_t *)"x", 1), WG_ECLOSED);
	RUN_UNTIL(&fx, fx.client.opened && fx.server.opened);
	CHECK(memcmp(fx.client.peer_seen, fx.server_id.public_key, 32) == 0);
	CHECK(memcmp(fx.server.peer_seen, fx.client_id.public_key, 32) == 0);
	CHECK_STREQ(wg_link_peer_short(fx.client.link), fx.server_id.short_id);
	CHECK_STREQ(wg_link_peer_short(fx.server.link), fx.client_id.short_id);
	CHECK(wg_link_is_open(fx.client.link));
	CHECK_CONTAINS(wg_link_peer_addr(fx.server.link), "127.0.0.1:");

	uint8_t *big = wg_malloc(BIG_FRAME_LEN + 1);
	for (size_t i = 0; i < BIG_FRAME_LEN + 1; i++)
		big[i] = pattern_byte(i);
	CHECK_EQ(wg_link_send(fx.client.link, big, BIG_FRAME_LEN + 1), WG_ETOOBIG);
	CHECK_EQ(wg_link_send(fx.client.link, big, BIG_FRAME_LEN), 0);
	free(big);
	for (uint32_t seq = 0; seq < 10000; seq++) {
		uint8_t frame[64] = {0};
		memcpy(frame, &seq, 4);
		CHECK_EQ(wg_link_send(fx.client.link, frame, 4 + seq % 60), 0);
	}
	CHECK(wg_link_pending_bytes(fx.client.link) > BIG_FRAME_LEN);
	CHECK_EQ(wg_link_send(fx.server.link, (const uint8_t *)"\0\0\0\0pong", 8), 0);
	CHECK_EQ(wg_link_send(fx.server.link, (const uint8_t *)"", 0), 0);
	RUN_UNTIL(&fx, fx.server.frames == 10001 && fx.client.frames == 2);
	CHECK(fx.server.big_ok);
	CHECK(fx.server.in_order);
	CHECK_EQ(fx.server.next_seq, 10000);
	CHECK_EQ(wg_link_pending_bytes(fx.client.link), 0);

	wg_link_close(fx.client.link);
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	CHECK_EQ(fx.client.close_status, 0);
	CHECK_EQ(fx.server.close_status, WG_ECLOSED);
	fixture_finish(&fx);
}

TEST(link_on_open_may_send_at_once)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	fx.client.greet = fx.server.greet = 1;
	fixture_connect(&fx, "127.0.0.1", NULL);
	RUN_UNTIL(&fx, (fx.client.frames == 1 && fx.server.frames == 1) || fx.client.closed);
	CHECK_EQ(fx.client.frames, 1);
	CHECK_EQ(fx.server.frames, 1);
	wg_link_close(fx.client.link);
	wg_link_close(fx.server.link);
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	CHECK_EQ(fx.client.close_status, 0);
	CHECK_EQ(fx.server.close_status, 0);
	fixture_finish(&fx);
}

TEST(link_expected_key_mismatch_closes_with_auth)
{
	struct fixture fx;
	struct wg_identity stranger;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	wg_identity_generate(&stranger);
	fixture_connect(&fx, "127.0.0.1", stranger.public_key);
	RUN_UNTIL(&fx, fx.client.closed && fx.accepted && fx.server.closed);
	CHECK_EQ(fx.client.close_status, WG_EAUTH);
	CHECK(!fx.client.opened);
	CHECK(!fx.server.opened || fx.server.close_status == WG_ECLOSED);
	fixture_finish(&fx);
}

TEST(link_on_open_rejection_closes_both_sides)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	fx.server.reject_with = WG_EDENIED;
	fixture_connect(&fx, "127.0.0.1", NULL);
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	CHECK(fx.server.opened);
	CHECK_EQ(fx.server.close_status, WG_EDENIED);
	CHECK_EQ(fx.client.close_status, WG_ECLOSED);
	fixture_finish(&fx);
}

static void on_accept_refuse(struct wg_listener *l, struct wg_link *link,
			     const struct wg_link_cbs **cbs, void **user, void *listener_user)
{
	struct fixture *fx = listener_user;
	(void)l;
	(void)link;
	(void)cbs;
	(void)user;
	fx->accepted++;
}

TEST(link_accept_without_callbacks_refuses_connection)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	wg_listener_close(fx.listener);
	CHECK_EQ(wg_listener_start(&fx.loop, "127.0.0.1:0", &fx.server_id, NULL, on_accept_refuse,
				   &fx, &fx.listener, &fx.port),
		 0);
	fixture_connect(&fx, "127.0.0.1", NULL);
	RUN_UNTIL(&fx, fx.client.closed);
	CHECK_EQ(fx.accepted, 1);
	CHECK(!fx.client.opened);
	CHECK_EQ(fx.client.close_status, WG_ECLOSED);
	fixture_finish(&fx);
}

TEST(link_peer_hangup_reports_closed)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	open_pair(&fx, "127.0.0.1");
	wg_link_abort(fx.server.link, WG_EPROTO);
	wg_link_abort(fx.server.link, WG_EIO); /* a second end is ignored */
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	CHECK_EQ(fx.server.close_status, WG_EPROTO);
	CHECK_EQ(fx.client.close_status, WG_ECLOSED);
	fixture_finish(&fx);
}

TEST(link_close_flushes_queued_frames)
{
	struct fixture fx;
	uint8_t frame[1000] = {0};
	fixture_init(&fx, "127.0.0.1:0", NULL);
	open_pair(&fx, "127.0.0.1");
	for (uint32_t seq = 0; seq < 2000; seq++) {
		memcpy(frame, &seq, 4);
		CHECK_EQ(wg_link_send(fx.client.link, frame, sizeof frame), 0);
	}
	wg_link_close(fx.client.link);
	wg_link_close(fx.client.link);
	CHECK_EQ(wg_link_send(fx.client.link, frame, sizeof frame), WG_ECLOSED);
	CHECK(!wg_link_is_open(fx.client.link));
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	CHECK_EQ(fx.server.frames, 2000);
	CHECK(fx.server.in_order);
	CHECK_EQ(fx.client.close_status, 0);
	CHECK_EQ(fx.server.close_status, WG_ECLOSED);
	fixture_finish(&fx);
}

TEST(link_close_before_open_reports_zero)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	fixture_connect(&fx, "127.0.0.1", NULL);
	wg_link_close(fx.client.link);
	RUN_UNTIL(&fx, fx.client.closed);
	CHECK_EQ(fx.client.close_status, 0);
	CHECK(!fx.client.opened);
	/* The server may or may not have accepted before the close; if it did, it must end. */
	RUN_UNTIL(&fx, !fx.accepted || fx.server.closed);
	fixture_finish(&fx);
}

TEST(link_connect_refused_reports_unreachable)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	/* A port that was just free and has no listener. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
	CHECK_EQ(wg_link_connect(&fx.loop, addr, &fx.client_id, NULL, NULL, &test_cbs, &fx.client,
				 &fx.client.link),
		 0);
	RUN_UNTIL(&fx, fx.client.closed);
	close(fd);
	CHECK_EQ(fx.client.close_status, WG_EUNREACHABLE);
	CHECK(!fx.client.opened);
	fixture_finish(&fx);
}

TEST(link_connect_rejects_malformed_address)
{
	struct fixture fx;
	struct wg_link *link = NULL;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", ":80",
			     "::1:80",	  "[::1]80",	"host:8x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_MSG(wg_link_connect(&fx.loop, bad[i], &fx.client_id, NULL, NULL, &test_cbs,
					  &fx.client, &link) == WG_EINVAL,
			  "accepted %s", bad[i]);
	CHECK(link == NULL);
	fixture_finish(&fx);
}

TEST(link_unresolvable_name_reports_unreachable)
{
	struct fixture fx;
	fixture_init(&fx, "127.0.0.1:0", NULL);
	CHECK_EQ(wg_link_connect(&fx.loop, "no-such-host.invalid:5740", &fx.client_id, NULL, NULL,
				 &test_cbs, &fx.client, &fx.client.link),
		 0);
	RUN_UNTIL(&fx, fx.client.closed);
	CHECK_EQ(fx.client.close_status, WG_EUNREACHABLE);
	fixture_finish(&fx);
}

TEST(link_ipv6_loopback_works)
{
	struct fixture fx;
	fixture_init(&fx, "[::1]:0", NULL);
	open_pair(&fx, "[::1]");
	CHECK_CONTAINS(wg_link_peer_addr(fx.server.link), "[::1]:");
	CHECK_EQ(wg_link_send(fx.server.link, (const uint8_t *)"\0\0\0\0v6", 6), 0);
	RUN_UNTIL(&fx, fx.client.frames == 1);
	wg_link_close(fx.server.link);
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	CHECK_EQ(fx.server.close_status, 0);
	fixture_finish(&fx);
}

TEST(link_host_names_are_resolved)
{
	struct fixture fx;
	fixture_init(&fx, "localhost:0", NULL);
	open_pair(&fx, "localhost");
	wg_link_close(fx.client.link);
	RUN_UNTIL(&fx, fx.client.closed && fx.server.closed);
	fixture_finish(&fx);
}

TEST(link_addr_split_and_format)
{
	char host[64];
	int port = -1;
	CHECK_EQ(wg_addr_split("[::1]:5740", host, sizeof host, &port), 0);
	CHECK_STREQ(host, "::1");
	CHECK_EQ(port, 5740);
	CHECK_EQ(wg_addr_split("example.org:0", host, sizeof host, &port), 0);
	CHECK_STREQ(host, "example.org");
	CHECK_EQ(port, 0);
	CHECK_EQ(wg_addr_split("example.org:80", host, 5, &port), WG_EINVAL);
	struct sockaddr_storage ss;
	char text[64];
	CHECK_EQ(wg_addr_literal("::1", 80, &ss), 0);
	CHECK_EQ(wg_addr_format((struct sockaddr *)&ss, text, sizeof text), 0);
	CHECK_STREQ(text, "[::1]:80");
	CHECK_EQ(wg_addr_literal("10.0.0.1", 8, &ss), 0);
	CHECK_EQ(wg_addr_format((struct sockaddr *)&ss, text, sizeof text), 0);
	CHECK_STREQ(text, "10.0.0.1:8");
	CHECK_EQ(wg_addr_literal("localhost", 8, &ss), WG_EINVAL);
}

/* ---- hostile peers ---- */

enum hostile_act {
	SEND_GARBAGE,	  /* an HTTP request instead of HELLO */
	STAY_SILENT,	  /* connect and say nothing */
	SEND_HUGE_LENGTH, /* handshake, then a length far over the limit and no body */
	SEND_TAMPERED,	  /* handshake, then a frame with one ciphertext bit flipped */
	SEND_VALID_FRAME, /* handshake, then one good frame (checks the peer itself) */
	RESET_AFTER_OPEN, /* handshake, then a TCP reset while the link is writing */
};

struct hostile {
	pthread_t thread;
	int port;
	enum hostile_act act;
	struct wg_identity id;
};

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w <= 0)
			return; /* the link may already have closed on us: that is its right */
		b += w;
		n -= (size_t)w;
	}
}

static int read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static void put_len(uint8_t *p, uint32_t v)
{
	uint32_t be = htonl(v);
	memcpy(p, &be, 4);
}

/* A client written from the protocol description alone, independent of link.c. */
static void *hostile_main(void *arg)
{
	struct hostile *h = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	uint8_t kx_pk[32], kx_sk[32], hello[72], peer_hello[72], rx[32], tx[32];
	uint8_t header[24], msg[16 + 1 + 64], sig[64], out[4 + 64 + 17 + 64];
	crypto_secretstream_xchacha20poly1305_state st;

	if (h->act == SEND_GARBAGE) {
		const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
		write_all(fd, req, strlen(req));
		goto drain;
	}
	if (h->act == STAY_SILENT)
		goto drain;
	crypto_kx_keypair(kx_pk, kx_sk);
	memcpy(hello, "WASMGRD1", 8);
	memcpy(hello + 8, h->id.public_key, 32);
	memcpy(hello + 40, kx_pk, 32);
	write_all(fd, hello, sizeof hello);
	CHECK_EQ(read_full(fd, peer_hello, sizeof peer_hello), 0);
	CHECK(memcmp(peer_hello, "WASMGRD1", 8) == 0);
	CHECK_EQ(crypto_kx_client_session_keys(rx, tx, kx_pk, kx_sk, peer_hello + 40), 0);
	crypto_secretstream_xchacha20poly1305_init_push(&st, header, tx);
	put_len(out, 24);
	memcpy(out + 4, header, 24);
	write_all(fd, out, 28);
	memcpy(msg, "wasmgrid-auth-v1", 16);
	msg[16] = 'c';
	memcpy(msg + 17, kx_pk, 32);
	memcpy(msg + 49, peer_hello + 40, 32);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, h->id.secret_key);
	put_len(out, 64 + 17);
	crypto_secretstream_xchacha20poly1305_push(&st, out + 4, NULL, sig, 64, NULL, 0, 0);
	write_all(fd, out, 4 + 64 + 17);
	if (h->act == RESET_AFTER_OPEN) {
		/* Wait for the stream header, AUTH and the start of a frame: the link has opened
		 * (so our AUTH was read) and is writing, so the reset hits it mid-stream. */
		uint8_t seen[28 + 4 + 64 + 17 + 4];
		CHECK_EQ(read_full(fd, seen, sizeof seen), 0);
		struct linger hard = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
		close(fd);
		return NULL;
	}
	if (h->act == SEND_HUGE_LENGTH) {
		put_len(out, 0xfffffff0u);
		write_all(fd, out, 4);
	} else {
		const uint8_t body[8] = "\0\0\0\0abcd";
		put_len(out, sizeof body + 17);
		crypto_secretstream_xchacha20poly1305_push(&st, out + 4, NULL, body, sizeof body,
							   NULL, 0, 0);
		if (h->act == SEND_TAMPERED)
			out[4 + 3] ^= 0x01;
		write_all(fd, out, 4 + sizeof body + 17);
	}
drain:
	/* Stay until the link drops us, so its verdict is what ends the connection. */
	for (;;) {
		uint8_t sink[4096];
		if (read(fd, sink, sizeof sink) <= 0)
			break;
	}
	close(fd);
	return NULL;
}

static void run_hostile(enum hostile_act act, const struct wg_link_options *opts,
			struct fixture *fx)
{
	struct hostile h = {.act = act};
	fixture_init(fx, "127.0.0.1:0", opts);
	wg_identity_generate(&h.id);
	h.port = fx->port;
	CHECK_EQ(pthread_create(&h.thread, NULL, hostile_main, &h), 0);
	RUN_UNTIL(fx, fx->accepted && fx->server.closed);
	CHECK_EQ(pthread_join(h.thread, NULL), 0);
	fixture_finish(fx);
}

TEST(link_bad_magic_closes)
{
	struct fixture fx;
	run_hostile(SEND_GARBAGE, NULL, &fx);
	CHECK_EQ(fx.server.close_status, WG_EPROTO);
	CHECK(!fx.server.opened);
}

TEST(link_silent_peer_hits_handshake_deadline)
{
	struct fixture fx;
	struct wg_link_options opts = {.handshake_ms = 200};
	run_hostile(STAY_SILENT, &opts, &fx);
	CHECK_EQ(fx.server.close_status, WG_ETIMEOUT);
	CHECK(!fx.server.opened);
}

TEST(link_oversized_length_closes_without_allocating)
{
	struct fixture fx;
	/* The length announces ~4 GiB and no body follows: a link that waited for (or made room
	 * for) the body would hang here instead of closing. */
	run_hostile(SEND_HUGE_LENGTH, NULL, &fx);
	CHECK(fx.server.opened);
	CHECK_EQ(fx.server.close_status, WG_ETOOBIG);
}

TEST(link_tampered_ciphertext_closes)
{
	struct fixture fx;
	run_hostile(SEND_TAMPERED, NULL, &fx);
	CHECK(fx.server.opened);
	CHECK_EQ(fx.server.frames, 0);
	CHECK_EQ(fx.server.close_status, WG_EAUTH);
}

TEST(link_peer_reset_while_writing_reports_closed)
{
	/* A write that races with a reset can raise SIGPIPE, which would kill the whole node;
	 * whichever of read or write sees the reset first, the link must report ECLOSED. */
	struct fixture fx;
	struct hostile h = {.act = RESET_AFTER_OPEN};
	static uint8_t chunk[64 * 1024];
	fixture_init(&fx, "127.0.0.1:0", NULL);
	wg_identity_generate(&h.id);
	h.port = fx.port;
	CHECK_EQ(pthread_create(&h.thread, NULL, hostile_main, &h), 0);
	while (!fx.server.closed) {
		if (fx.server.opened && wg_link_pending_bytes(fx.server.link) < sizeof chunk * 4)
			CHECK_EQ(wg_link_send(fx.server.link, chunk, sizeof chunk), 0);
		uv_run(&fx.loop, UV_RUN_NOWAIT);
	}
	CHECK_EQ(pthread_join(h.thread, NULL), 0);
	CHECK(fx.server.opened);
	CHECK_EQ(fx.server.close_status, WG_ECLOSED);
	fixture_finish(&fx);
}

TEST(link_independent_client_interoperates)
{
	/* The control for the two tests above: the same client, untampered, is accepted and
	 * its frame delivered, so their failures come from the fault injected. */
	struct fixture fx;
	struct hostile h = {.act = SEND_VALID_FRAME};
	fixture_init(&fx, "127.0.0.1:0", NULL);
	wg_identity_generate(&h.id);
	h.port = fx.port;
	CHECK_EQ(pthread_create(&h.thread, NULL, hostile_main, &h), 0);
	RUN_UNTIL(&fx, fx.server.frames == 1 || fx.server.closed);
	CHECK_EQ(fx.server.frames, 1);
	CHECK(memcmp(fx.server.peer_seen, h.id.public_key, 32) == 0);
	wg_link_close(fx.server.link);
	RUN_UNTIL(&fx, fx.server.closed);
	CHECK_EQ(fx.server.close_status, 0);
	CHECK_EQ(pthread_join(h.thread, NULL), 0);
	fixture_finish(&fx);
}

TEST(link_listen_on_busy_port_fails)
{
	struct fixture fx;
	struct wg_listener *second = NULL;
	char addr[64];
	fixture_init(&fx, "127.0.0.1:0", NULL);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", fx.port);
	CHECK_EQ(
	    wg_listener_start(&fx.loop, addr, &fx.server_id, NULL, on_accept, &fx, &second, NULL),
	    WG_EADDRINUSE);
	CHECK(second == NULL);
	CHECK_EQ(wg_listener_start(&fx.loop, "127.0.0.1:x", &fx.server_id, NULL, on_accept, &fx,
				   &second, NULL),
		 WG_EINVAL);
	fixture_finish(&fx);
}
