/* Link throughput on loopback, both ends on one loop: small frames per second and MB/s for
 * big frames. Prints one line per measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "net/link.h"
#include "node/identity.h"

struct end {
	struct wg_link *link;
	int open;
	size_t frames;
};

static struct end client, server;

static int on_open(struct wg_link *link, void *user)
{
	((struct end *)user)->open = 1;
	(void)link;
	return 0;
}

static void on_frame(struct wg_link *link, const uint8_t *data, size_t len, void *user)
{
	((struct end *)user)->frames++;
	(void)link, (void)data, (void)len;
}

static void on_close(struct wg_link *link, int status, void *user)
{
	((struct end *)user)->link = NULL;
	(void)link, (void)status;
}

static const struct wg_link_cbs cbs = {on_open, on_frame, on_close};

static void on_accept(struct wg_listener *l, struct wg_link *link, const struct wg_link_cbs **c,
		      void **user, void *lu)
{
	server.link = link;
	*c = &cbs;
	*user = &server;
	(void)l, (void)lu;
}

static double run(uv_loop_t *loop, size_t count, size_t size, int batch)
{
	uint8_t *frame = calloc(1, size);
	size_t sent = 0, start_frames = server.frames;
	uint64_t t0 = uv_hrtime();
	while (server.frames - start_frames < count) {
		/* Keep a bounded backlog, as a real sender watching pending_bytes would. */
		for (int i = 0;
		     i < batch && sent < count && wg_link_pending_bytes(client.link) < 4u << 20;
		     i++, sent++)
			wg_link_send(client.link, frame, size);
		uv_run(loop, UV_RUN_NOWAIT);
	}
	free(frame);
	return (double)(uv_hrtime() - t0) / 1e9;
}

int main(void)
{
	uv_loop_t loop;
	struct wg_identity a, b;
	struct wg_listener *l;
	int port;
	char addr[64];
	uv_loop_init(&loop);
	wg_identity_generate(&a);
	wg_identity_generate(&b);
	if (wg_listener_start(&loop, "127.0.0.1:0", &b, NULL, on_accept, NULL, &l, &port) < 0)
		return 1;
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	wg_link_connect(&loop, addr, &a, b.public_key, NULL, &cbs, &client, &client.link);
	while (!(client.open && server.open))
		uv_run(&loop, UV_RUN_ONCE);
	size_t n = 500000;
	double s = run(&loop, n, 64, 1000);
	printf("64-byte frames: %.0f frames/s (%zu in %.2f s)\n", n / s, n, s);
	n = 2000;
	s = run(&loop, n, 1 << 20, 4);
	printf("1 MiB frames: %.0f MB/s\n", n * 1.048576 / s);
	wg_link_close(client.link);
	wg_listener_close(l);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return 0;
}
