/* A multi-host test bed on one machine: N "hosts", each a Linux network namespace with its
 * own address, joined by veth pairs to one bridge, running real wasmgrid processes; and the
 * faults a network has, injected between chosen hosts.
 *
 * Names carry the creating process's pid (wgt<pid hex>xh<i>, wgt<pid hex>xbr, ...): a bed that a
 * failed or killed test left behind is removed by the next wg_bed_create, once its creator is gone.
 * The root namespace has the bridge's own address in the hosts' subnet, so the test itself
 * (and its client commands) reaches every host; partitions are nftables drop rules on the
 * receiving host's input, between host addresses only, so they never cut the test off.
 * Needs root (CI runs as root); a bed that cannot be made fails the test, saying why.
 *
 * Ownership: the bed is the caller's (usually on the stack); wg_bed_destroy kills every
 * process it started and removes the namespaces and links. */
#ifndef WG_TEST_NETNS_H
#define WG_TEST_NETNS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define WG_BED_MAX_HOSTS 12
#define WG_BED_MAX_PIDS 16

struct wg_bed_host {
	char ns[16], veth[16], peer[16]; /* namespace, its veth end, the bridge's end */
	char ip[20];			 /* its address now, "10.77.S.H" */
	int last_octet;
	pid_t pids[WG_BED_MAX_PIDS]; /* processes started on it, 0 once reaped */
	size_t n_pids;
};

struct wg_bed {
	char tag[12]; /* "wgt", the creator's pid in hex, "x" */
	char bridge[16];
	int subnet; /* S of 10.77.S.0/24 */
	size_t n;
	struct wg_bed_host hosts[WG_BED_MAX_HOSTS];
};

/* Creates n hosts (after removing the leftovers of dead creators). */
void wg_bed_create(struct wg_bed *b, size_t n);
/* Kills every process started on the bed, removes its namespaces and links. */
void wg_bed_destroy(struct wg_bed *b);
/* Host h's address ("10.77.S.H"). */
const char *wg_bed_ip(const struct wg_bed *b, size_t h);
/* Starts `wasmgrid ARGS...` (NULL-terminated vector, without the program name) inside host
 * h, output appended to TMP/LOGNAME.log; returns its pid. */
pid_t wg_bed_start(struct wg_bed *b, size_t h, const char *logname, const char *const *args);

/* Packets from host `from` no longer reach host `to` (dropped on arrival, silently, as a
 * broken network does); `both` cuts the other direction too. */
void wg_bed_partition(struct wg_bed *b, size_t from, size_t to, bool both);
/* Host h hears nobody and nobody hears it (the test still reaches it). */
void wg_bed_isolate(struct wg_bed *b, size_t h);
/* Every partition ends. */
void wg_bed_heal(struct wg_bed *b);
/* SIGSTOP / SIGCONT to every process started on host h. */
void wg_bed_freeze(struct wg_bed *b, size_t h);
void wg_bed_thaw(struct wg_bed *b, size_t h);
/* kill -9 of every process started on host h (reaped). */
void wg_bed_kill(struct wg_bed *b, size_t h);
/* Host h gets another address in the subnet (connections from the old one are dead). */
void wg_bed_readdress(struct wg_bed *b, size_t h);

#endif
