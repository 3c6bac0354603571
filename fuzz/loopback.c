#include "loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void pump(uv_loop_t *loop, int fd, short events)
{
	uv_run(loop, UV_RUN_NOWAIT);
	struct pollfd p[2] = {{.fd = fd, .events = events},
			      {.fd = uv_backend_fd(loop), .events = POLLIN}};
	poll(p, 2, 1);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int fuzz_connect(uv_loop_t *loop, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		abort();
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
		abort();
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 0) == 1)
			break;
		pump(loop, fd, POLLOUT);
	}
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		abort();
	return fd;
}

int fuzz_send(uv_loop_t *loop, int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			pump(loop, fd, POLLOUT);
		} else {
			return -1;
		}
	}
	uv_run(loop, UV_RUN_NOWAIT);
	return 0;
}

int fuzz_recv(uv_loop_t *loop, int fd, void *buf, size_t n)
{
	char *p = buf;
	double until = now_s() + 5;
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (now_s() > until)
				abort();
			pump(loop, fd, POLLIN);
		} else {
			return -1;
		}
	}
	return 0;
}

void fuzz_finish(uv_loop_t *loop, int fd)
{
	char sink[4096];
	shutdown(fd, SHUT_WR);
	double until = now_s() + 5;
	for (;;) {
		ssize_t r = recv(fd, sink, sizeof sink, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (r < 0) {
			if (now_s() > until)
				abort();
			pump(loop, fd, POLLIN);
		}
	}
	/* The server has closed: end without TIME_WAIT, so millions of short connections do not
	 * use up the ephemeral ports. */
	struct linger now = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
	close(fd);
	/* Let the server finish closing its side before the next input. */
	for (int i = 0; i < 4; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}
