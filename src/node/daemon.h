/* What the two daemons (manager/, worker/) share about starting up: they are on the same
 * layer and never include each other, so it lives here. */
#ifndef WG_NODE_DAEMON_H
#define WG_NODE_DAEMON_H

/* A daemon that cannot start says why on stderr, as one line "wasmgrid DAEMON: MESSAGE"
 * (the log is for what happens once it runs). */
void wg_daemon_fail(const char *daemon, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Why listening on an address failed, in words a user can act on. */
const char *wg_listen_error(int rc);
/* Raises the soft limit on open files to the hard one: every peer is a descriptor, and the
 * usual soft limit of 1,024 would turn the thousandth worker away. */
void wg_daemon_raise_fd_limit(void);
/* Writes "PORT\n" atomically to path (for --port-file). Returns 0 or a negative wg_err. */
int wg_write_port_file(const char *path, int port);

#endif
