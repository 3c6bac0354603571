#include "node/daemon.h"

#include <stdio.h>

#include "util/err.h"
#include "util/fs.h"

const char *wg_listen_error(int rc)
{
	if (rc == WG_EINVAL)
		return "not a HOST:PORT address (an IPv4 address, [IPv6] or a name; port 0-65535)";
	if (rc == WG_EIO)
		return "cannot bind it (is another process listening there, or is it not an "
		       "address of this machine?)";
	return wg_strerror(rc);
}

int wg_write_port_file(const char *path, int port)
{
	char text[16];
	int n = snprintf(text, sizeof text, "%d\n", port);
	return wg_write_file_atomic(path, text, (size_t)n, 0644);
}
