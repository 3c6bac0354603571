/* Logging: one line per event on stderr, "TIME LEVEL [peer] message". `peer` is the short
 * (8 hex digit) node id of the peer the event concerns, or NULL. */
#ifndef WG_LOG_H
#define WG_LOG_H

enum wg_log_level { WG_LOG_DEBUG, WG_LOG_INFO, WG_LOG_WARN, WG_LOG_ERROR };

void wg_log_set_level(enum wg_log_level level);
/* The process name shown on each line ("manager", "worker"...). Not copied. */
void wg_log_set_role(const char *role);
void wg_log(enum wg_log_level level, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define wg_debug(peer, ...) wg_log(WG_LOG_DEBUG, peer, __VA_ARGS__)
#define wg_info(peer, ...) wg_log(WG_LOG_INFO, peer, __VA_ARGS__)
#define wg_warn(peer, ...) wg_log(WG_LOG_WARN, peer, __VA_ARGS__)
#define wg_error(peer, ...) wg_log(WG_LOG_ERROR, peer, __VA_ARGS__)

#endif
