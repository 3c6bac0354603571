/* The multi-host test bed (netns.h): namespaces and links made with iproute2's `ip`, drop
 * rules with `nft`, processes entered into a namespace with setns(2) before exec. */
#include "harness/netns.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/buf.h"

#define TAG_PREFIX "wgt"

/* Runs argv; fails the test with its stderr when `must` and it fails. Returns its status. */
static int run(bool must, const char *const *argv)
{
	struct wg_buf err = {0};
	int st = wg_test_run_program(NULL, &err, argv);
	if (st != 0 && must) {
		char cmd[512] = "";
		for (const char *const *a = argv; *a; a++) {
			strncat(cmd, *a, sizeof cmd - strlen(cmd) - 2);
			strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
		}
		wg_buf_append(&err, "", 1);
		wg_test_fail(__FILE__, __LINE__,
			     "the multi-host test bed needs root, network namespaces and nftables "
			     "(tools/deps.sh installs nftables): `%s` exited %d: %s",
			     cmd, st, (const char *)err.data);
	}
	wg_buf_free(&err);
	return st;
}

#define RUN(must, ...) run(must, (const char *const[]){__VA_ARGS__, NULL})

/* nft in host h's namespace. */
static void nft(const struct wg_bed *b, size_t h, const char *const *args)
{
	const char *argv[24] = {"ip", "netns", "exec", b->hosts[h].ns, "nft"};
	size_t n = 5;
	for (; *args && n < 23; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	run(true, argv);
}

#define NFT(b, h, ...) nft(b, h, (const char *const[]){__VA_ARGS__, NULL})

/* The creator's pid in a name made by a bed (TAG_PREFIX, its pid in hex, 'x', then what
 * it is: "br", "hN", "vN" or "pN"), or 0 when the name is not one of ours. */
static long creator_of(const char *name)
{
	if (strncmp(name, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
		return 0;
	const char *p = name + strlen(TAG_PREFIX), *start = p;
	while (isxdigit((unsigned char)*p) && !isupper((unsigned char)*p))
		p++;
	if (p == start || *p != 'x' || !strchr("bhvp", p[1]))
		return 0;
	return strtol(start, NULL, 16);
}

/* Whether the bed's creator is gone: no such process, or one that is not a test binary
 * (its pid was reused). */
static bool creator_gone(long pid)
{
	if (pid <= 0)
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return true;
	char path[64], exe[1024];
	snprintf(path, sizeof path, "/proc/%ld/exe", pid);
	ssize_t n = readlink(path, exe, sizeof exe - 1);
	if (n <= 0)
		return false; /* not ours to judge */
	exe[n] = 0;
	const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	return strcmp(base, "wasmgrid-tests") != 0 && strcmp(base, "wasmgrid-bed") != 0;
}

/* Removes the namespaces and links of beds whose creator died (a failed or killed test). */
static void sweep_leftovers(void)
{
	struct wg_buf out = {0};
	char name[64];
	if (wg_test_run_program(&out, NULL, (const char *const[]){"ip", "netns", "list", NULL}) ==
	    0) {
		wg_buf_append(&out, "", 1);
		for (char *line = (char *)out.data; line && *line;) {
			char *nl = strchr(line, '\n');
			if (sscanf(line, "%63s", name) == 1 && creator_gone(creator_of(name)))
				RUN(false, "ip", "netns", "del", name);
			line = nl ? nl + 1 : NULL;
		}
	}
	out.len = 0;
	if (wg_test_run_program(&out, NULL,
				(const char *const[]){"ip", "-o", "link", "show", NULL}) == 0) {
		wg_buf_append(&out, "", 1);
		for (char *line = (char *)out.data; line && *line;) {
			char *nl = strchr(line, '\n');
			/* "7: NAME@if6: <...>" or "7: NAME: <...>" */
			if (sscanf(line, "%*d: %63[^:@ ]", name) == 1 &&
			    creator_gone(creator_of(name)))
				RUN(false, "ip", "link", "del", name);
			line = nl ? nl + 1 : NULL;
		}
	}
	wg_buf_free(&out);
}

void wg_bed_create(struct wg_bed *b, size_t n)
{
	CHECK_MSG(n > 0 && n <= WG_BED_MAX_HOSTS, "a bed has 1 to %d hosts", WG_BED_MAX_HOSTS);
	CHECK_MSG(geteuid() == 0, "the multi-host test bed needs root (network namespaces)");
	sweep_leftovers();
	memset(b, 0, sizeof *b);
	snprintf(b->tag, sizeof b->tag, TAG_PREFIX "%xx", (unsigned)getpid());
	snprintf(b->bridge, sizeof b->bridge, "%sbr", b->tag);
	b->subnet = 20 + (int)(getpid() % 200);
	char cidr[32];
	RUN(true, "ip", "link", "add", b->bridge, "type", "bridge");
	b->n = n; /* from here on wg_bed_destroy undoes what exists */
	snprintf(cidr, sizeof cidr, "10.77.%d.254/24", b->subnet);
	RUN(true, "ip", "addr", "add", cidr, "dev", b->bridge);
	RUN(true, "ip", "link", "set", b->bridge, "up");
	for (size_t h = 0; h < n; h++) {
		struct wg_bed_host *x = &b->hosts[h];
		snprintf(x->ns, sizeof x->ns, "%sh%zu", b->tag, h);
		snprintf(x->veth, sizeof x->veth, "%sv%zu", b->tag, h);
		snprintf(x->peer, sizeof x->peer, "%sp%zu", b->tag, h);
		x->last_octet = (int)h + 1;
		snprintf(x->ip, sizeof x->ip, "10.77.%d.%d", b->subnet, x->last_octet);
		snprintf(cidr, sizeof cidr, "%s/24", x->ip);
		RUN(true, "ip", "netns", "add", x->ns);
		RUN(true, "ip", "link", "add", x->veth, "type", "veth", "peer", "name", x->peer);
		RUN(true, "ip", "link", "set", x->veth, "netns", x->ns);
		RUN(true, "ip", "link", "set", x->peer, "master", b->bridge, "up");
		RUN(true, "ip", "-n", x->ns, "addr", "add", cidr, "dev", x->veth);
		RUN(true, "ip", "-n", x->ns, "link", "set", x->veth, "up");
		RUN(true, "ip", "-n", x->ns, "link", "set", "lo", "up");
		NFT(b, h, "add", "table", "inet", "wgbed");
		NFT(b, h, "add", "chain", "inet", "wgbed", "in",
		    "{ type filter hook input priority 0; }");
	}
}

/* Sends sig to the children of pid (a worker's runners and compilers). */
static void signal_children(pid_t pid, int sig)
{
	struct wg_test_child c[256];
	size_t n = wg_test_children(pid, c, sizeof c / sizeof c[0]);
	for (size_t i = 0; i < n; i++)
		kill(c[i].pid, sig);
}

static void reap(struct wg_bed_host *x, int sig)
{
	for (size_t i = 0; i < x->n_pids; i++) {
		if (!x->pids[i])
			continue;
		if (sig == SIGSTOP)
			kill(x->pids[i], sig); /* first, so that it sees nothing of its children */
		signal_children(x->pids[i], sig);
		kill(x->pids[i], sig);
		if (sig == SIGKILL) {
			while (waitpid(x->pids[i], NULL, 0) < 0 && errno == EINTR)
				;
			x->pids[i] = 0;
		}
	}
}

void wg_bed_destroy(struct wg_bed *b)
{
	for (size_t h = 0; h < b->n; h++) {
		reap(&b->hosts[h], SIGCONT);
		reap(&b->hosts[h], SIGKILL);
		if (b->hosts[h].ns[0])
			RUN(false, "ip", "netns", "del", b->hosts[h].ns);
		if (b->hosts[h].peer[0])
			RUN(false, "ip", "link", "del", b->hosts[h].peer);
	}
	if (b->bridge[0])
		RUN(false, "ip", "link", "del", b->bridge);
	b->n = 0;
}

const char *wg_bed_ip(const struct wg_bed *b, size_t h)
{
	CHECK(h < b->n);
	return b->hosts[h].ip;
}

pid_t wg_bed_start(struct wg_bed *b, size_t h, const char *logname, const char *const *args)
{
	CHECK(h < b->n);
	struct wg_bed_host *x = &b->hosts[h];
	CHECK_MSG(x->n_pids < WG_BED_MAX_PIDS, "too many processes on host %zu", h);
	pid_t pid = wg_test_startv_netns(x->ns, logname, args);
	x->pids[x->n_pids++] = pid;
	return pid;
}

void wg_bed_partition(struct wg_bed *b, size_t from, size_t to, bool both)
{
	CHECK(from < b->n && to < b->n && from != to);
	NFT(b, to, "add", "rule", "inet", "wgbed", "in", "ip", "saddr", b->hosts[from].ip, "drop");
	if (both)
		NFT(b, from, "add", "rule", "inet", "wgbed", "in", "ip", "saddr", b->hosts[to].ip,
		    "drop");
}

void wg_bed_isolate(struct wg_bed *b, size_t h)
{
	for (size_t o = 0; o < b->n; o++)
		if (o != h)
			wg_bed_partition(b, h, o, true);
}

void wg_bed_heal(struct wg_bed *b)
{
	for (size_t h = 0; h < b->n; h++)
		NFT(b, h, "flush", "chain", "inet", "wgbed", "in");
}

void wg_bed_freeze(struct wg_bed *b, size_t h)
{
	CHECK(h < b->n);
	reap(&b->hosts[h], SIGSTOP);
}

void wg_bed_thaw(struct wg_bed *b, size_t h)
{
	CHECK(h < b->n);
	reap(&b->hosts[h], SIGCONT);
}

void wg_bed_kill(struct wg_bed *b, size_t h)
{
	CHECK(h < b->n);
	reap(&b->hosts[h], SIGCONT);
	reap(&b->hosts[h], SIGKILL);
	b->hosts[h].n_pids = 0;
}

void wg_bed_readdress(struct wg_bed *b, size_t h)
{
	CHECK(h < b->n);
	struct wg_bed_host *x = &b->hosts[h];
	char cidr[32];
	snprintf(cidr, sizeof cidr, "%s/24", x->ip);
	RUN(true, "ip", "-n", x->ns, "addr", "del", cidr, "dev", x->veth);
	x->last_octet += 100;
	CHECK_MSG(x->last_octet < 254, "host %zu ran out of addresses", h);
	snprintf(x->ip, sizeof x->ip, "10.77.%d.%d", b->subnet, x->last_octet);
	snprintf(cidr, sizeof cidr, "%s/24", x->ip);
	RUN(true, "ip", "-n", x->ns, "addr", "add", cidr, "dev", x->veth);
}
