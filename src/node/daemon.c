#include "node/daemon.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>

#include "util/err.h"
#include "util/fs.h"

void wg_daemon_fail(const char *daemon, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "wasmgrid %s: ", daemon);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *wg_listen_error(int rc)
{
	if (rc == WG_EINVAL)
		return "not a HOST:PORT address (an IPv4 address, [IPv6] or a name; port 0-65535)";
	if (rc == WG_EADDRINUSE)
		return "another process is listening there";
	if (rc == WG_EADDRNOTAVAIL)
		return "it is not an address of this machine";
	if (rc == WG_EDENIED)
		return "not allowed (ports below 1024 need privileges)";
	return wg_strerror(rc);
}

int wg_write_port_file(const char *path, int port)
{
	char text[16];
	int n = snprintf(text, sizeof text, "%d\n", port);
	return wg_write_file_atomic(path, text, (size_t)n, 0644);
}

void wg_daemon_raise_fd_limit(void)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &r);
	}
}
