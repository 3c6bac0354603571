/* Fuzz target: the secure link (net/link.c) as a listening node meets a stranger, over a
 * real loopback connection. The first byte picks how far the harness takes the handshake
 * before the fuzzer's bytes follow:
 *   0  nothing: the bytes are the stranger's HELLO and whatever comes after;
 *   1  a valid HELLO, then the bytes (stream header, AUTH, lengths, garbage);
 *   2  the whole handshake done right, then the bytes cut into frames (2-byte length, then
 *      that many bytes), each sealed properly: the frames reach on_frame and are decoded as
 *      the node layer decodes them.
 * Whatever arrives, the listener must close the link cleanly once the stranger hangs up. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loopback.h"
#include "net/link.h"
#include "node/frame.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#define MAGIC "WASMGRD1"
#define HELLO_LEN (8 + 32 + crypto_kx_PUBLICKEYBYTES)
#define AUTH_CONTEXT "wasmgrid-auth-v1"
typedef crypto_secretstream_xchacha20poly1305_state stream_state;

static uv_loop_t loop;
static int port;
static struct wg_identity server_id, client_id;
static uint8_t kx_pk[crypto_kx_PUBLICKEYBYTES], kx_sk[crypto_kx_SECRETKEYBYTES];

static void on_frame(struct wg_link *link, const uint8_t *data, size_t len, void *user)
{
	(void)link;
	(void)user;
	wg_frame *f = NULL;
	uint64_t id;
	const char *why;
	wg_frame_decode(data, len, &f, &id, &why);
	wg_frame_free(f);
}

static const struct wg_link_cbs cbs = {.on_frame = on_frame};

static void on_accept(struct wg_listener *l, struct wg_link *link, const struct wg_link_cbs **out,
		      void **user, void *listener_user)
{
	(void)l;
	(void)link;
	(void)listener_user;
	*out = &cbs;
	*user = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	uv_loop_init(&loop);
	wg_identity_generate(&server_id);
	wg_identity_generate(&client_id);
	crypto_kx_keypair(kx_pk, kx_sk);
	struct wg_link_options opts = {.max_frame = 64 * 1024, .handshake_ms = 5000};
	struct wg_listener *l = NULL;
	if (wg_listener_start(&loop, "127.0.0.1:0", &server_id, &opts, on_accept, NULL, &l,
			      &port) != 0)
		abort();
	return 0;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int send_sealed(int fd, stream_state *tx, const uint8_t *plain, size_t n)
{
	size_t sealed = n + crypto_secretstream_xchacha20poly1305_ABYTES;
	uint8_t *msg = malloc(4 + sealed);
	if (!msg)
		abort();
	be32(msg, (uint32_t)sealed);
	crypto_secretstream_xchacha20poly1305_push(
	    tx, msg + 4, NULL, plain, n, NULL, 0,
	    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	int rc = fuzz_send(&loop, fd, msg, 4 + sealed);
	free(msg);
	return rc;
}

/* The client's side of the handshake, done right. Returns 0 with *tx ready for frames. */
static int handshake(int fd, stream_state *tx)
{
	uint8_t peer[HELLO_LEN], rx_key[crypto_kx_SESSIONKEYBYTES],
	    tx_key[crypto_kx_SESSIONKEYBYTES];
	if (fuzz_recv(&loop, fd, peer, sizeof peer) != 0 || memcmp(peer, MAGIC, 8) != 0)
		return -1;
	const uint8_t *peer_kx = peer + 8 + 32;
	if (crypto_kx_client_session_keys(rx_key, tx_key, kx_pk, kx_sk, peer_kx) != 0)
		return -1;
	uint8_t header[4 + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	be32(header, crypto_secretstream_xchacha20poly1305_HEADERBYTES);
	crypto_secretstream_xchacha20poly1305_init_push(tx, header + 4, tx_key);
	if (fuzz_send(&loop, fd, header, sizeof header) != 0)
		return -1;
	uint8_t msg[16 + 1 + 2 * crypto_kx_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	memcpy(msg, AUTH_CONTEXT, 16);
	msg[16] = 'c';
	memcpy(msg + 17, kx_pk, crypto_kx_PUBLICKEYBYTES);
	memcpy(msg + 17 + crypto_kx_PUBLICKEYBYTES, peer_kx, crypto_kx_PUBLICKEYBYTES);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, client_id.secret_key);
	return send_sealed(fd, tx, sig, sizeof sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len < 1 || len > 256 * 1024)
		return 0;
	int mode = data[0] % 3;
	data++;
	len--;
	int fd = fuzz_connect(&loop, port);
	if (mode >= 1) {
		uint8_t hello[HELLO_LEN];
		memcpy(hello, MAGIC, 8);
		memcpy(hello + 8, client_id.public_key, 32);
		memcpy(hello + 40, kx_pk, crypto_kx_PUBLICKEYBYTES);
		fuzz_send(&loop, fd, hello, sizeof hello);
	}
	if (mode == 2) {
		stream_state tx;
		if (handshake(fd, &tx) == 0) {
			while (len >= 2) {
				size_t n = (size_t)data[0] << 8 | data[1];
				data += 2;
				len -= 2;
				if (n > len)
					n = len;
				if (send_sealed(fd, &tx, data, n) != 0)
					break;
				data += n;
				len -= n;
			}
		}
	} else {
		fuzz_send(&loop, fd, data, len);
	}
	fuzz_finish(&loop, fd);
	return 0;
}
