/* sdnotify — readiness, reload, status and watchdog notifications to systemd
 * (Type=notify, WatchdogSec=) through libsystemd's sd_notify.
 *
 * Without systemd (no NOTIFY_SOCKET in the environment) every call is a
 * no-op, so the daemon runs the same in a terminal, a container or a test.
 * Status text is sanitised: a newline in it would start a new assignment
 * (e.g. a device id carrying "\nREADY=1"), so control characters become
 * spaces. Stateless: safe from any thread, though only the core calls it. */
#ifndef GRIDGW_SDNOTIFY_H
#define GRIDGW_SDNOTIFY_H

#include <stdint.h>

/* READY=1 plus STATUS=<status> (status may be NULL). Call once, after the
 * config is loaded, the store opened and the control socket listening. */
void sdnotify_ready(const char *status);
/* RELOADING=1 plus MONOTONIC_USEC=<now> (systemd >= 253 requires it for
 * Type=notify-reload; older versions ignore it). Follow with sdnotify_ready. */
void sdnotify_reloading(void);
/* STATUS=<formatted text>, at most 256 bytes. */
void sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1: the daemon is shutting down (flushing the outbox). */
void sdnotify_stopping(void);
/* How often to ping: half of WATCHDOG_USEC in ms (at least 1), or 0 when the
 * watchdog is disabled or meant for another process (WATCHDOG_PID). */
int64_t sdnotify_watchdog_interval_ms(void);
/* WATCHDOG=1. The core calls it only when its loop made progress, so a hung
 * core gets the service restarted. */
void sdnotify_watchdog_ping(void);

#endif
