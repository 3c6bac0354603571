#include "util/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

static int parse_port(const char *s, int *port)
{
	long v = 0;
	if (!*s || strlen(s) > 5)
		return WG_EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return WG_EINVAL;
		v = v * 10 + (*p - '0');
	}
	if (v > 65535)
		return WG_EINVAL;
	*port = (int)v;
	return 0;
}

int wg_addr_split(const char *host_port, char *host, size_t host_cap, int *port)
{
	const char *host_start, *host_end, *port_start;
	if (!host_port || !host || host_cap == 0)
		return WG_EINVAL;
	if (host_port[0] == '[') {
		host_start = host_port + 1;
		host_end = strchr(host_start, ']');
		if (!host_end || host_end[1] != ':')
			return WG_EINVAL;
		port_start = host_end + 2;
	} else {
		host_start = host_port;
		host_end = strrchr(host_port, ':');
		/* An unbracketed IPv6 literal is ambiguous ("::1:80"): refuse it. */
		if (!host_end || memchr(host_start, ':', (size_t)(host_end - host_start)))
			return WG_EINVAL;
		port_start = host_end + 1;
	}
	size_t host_len = (size_t)(host_end - host_start);
	if (host_len == 0 || host_len >= host_cap)
		return WG_EINVAL;
	if (parse_port(port_start, port) < 0)
		return WG_EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = 0;
	return 0;
}

int wg_addr_literal(const char *host, int port, struct sockaddr_storage *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	memset(out, 0, sizeof *out);
	return WG_EINVAL;
}

int wg_addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, cap, "%s:%d", ip, ntohs(in->sin_port));
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%d", ip, ntohs(in6->sin6_port));
		return 0;
	}
	return WG_EINVAL;
}
