/* sdnotify — systemd notifications (see sdnotify.h), spoken directly: one
 * datagram of NEWLINE-separated assignments to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace), and the
 * watchdog from $WATCHDOG_USEC / $WATCHDOG_PID. systemd documents this
 * protocol as stable and made to be implemented without libsystemd
 * (sd_notify(3), "NOTES"); linking libsystemd for these two calls cost
 * 0.9 MB of RSS with its compression and crypto libraries (issue #12). */
#include "gateway/core/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define SDNOTIFY_STATUS_MAX 256

/* Replaces control characters so the text stays one assignment. */
static void sdnotify_sanitise(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static int sdnotify_enabled(void)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	return sock != NULL && sock[0] != '\0';
}

/* Sends state to $NOTIFY_SOCKET; 0, or -errno. The environment is left as
 * it is: the reload path notifies again later. */
static int sdnotify_write(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = path ? strlen(path) : 0;
	if (n < 2 || n >= sizeof a.sun_path || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	memcpy(a.sun_path, path, n);
	if (path[0] == '@')
		a.sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends the name */
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t len = (ssize_t)strlen(state);
	ssize_t sent = sendto(fd, state, (size_t)len, MSG_NOSIGNAL, (struct sockaddr *)&a, alen);
	int rc = sent == len ? 0 : sent < 0 ? -errno : -EMSGSIZE;
	close(fd);
	return rc;
}

/* A failure is said once, at WARN, until a send works again: under
 * WatchdogSec= unsent keep-alives mean systemd kills the gateway, and the
 * log must say why before it does. Core thread only. */
static void sdnotify_send(const char *state)
{
	static bool failing;
	int rc = sdnotify_write(state);
	if (rc < 0 && !failing)
		log_warn("sdnotify", "cannot notify systemd at %s: %s (a watchdog may stop the service)",
			 getenv("NOTIFY_SOCKET"), strerror(-rc));
	else if (rc == 0 && failing)
		log_info("sdnotify", "systemd notified again");
	failing = rc < 0;
}

/* The watchdog interval systemd asks of this process, in µs; 0 = none:
 * $WATCHDOG_USEC set and > 0, and $WATCHDOG_PID, when set, our pid. */
static uint64_t sdnotify_watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	if (!us || !*us)
		return 0;
	errno = 0;
	unsigned long long v = strtoull(us, &end, 10);
	if (errno || *end || us[0] == '-' || v == 0)
		return 0;
	if (pid && *pid) {
		errno = 0;
		long long p = strtoll(pid, &end, 10);
		if (errno || *end || p != (long long)getpid())
			return 0;
	}
	return (uint64_t)v;
}

void sdnotify_ready(const char *status)
{
	if (!sdnotify_enabled())
		return;
	char buf[SDNOTIFY_STATUS_MAX + 32];
	if (status != NULL && status[0] != '\0') {
		char text[SDNOTIFY_STATUS_MAX];
		snprintf(text, sizeof text, "%s", status);
		sdnotify_sanitise(text);
		snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s", text);
	} else {
		snprintf(buf, sizeof buf, "READY=1");
	}
	sdnotify_send(buf);
}

void sdnotify_reloading(void)
{
	if (!sdnotify_enabled())
		return;
	struct timespec ts;
	char buf[96];
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
		unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000ULL +
					  (unsigned long long)ts.tv_nsec / 1000ULL;
		snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
	} else {
		snprintf(buf, sizeof buf, "RELOADING=1");
	}
	sdnotify_send(buf);
}

void sdnotify_status(const char *fmt, ...)
{
	if (!sdnotify_enabled() || fmt == NULL)
		return;
	char text[SDNOTIFY_STATUS_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	sdnotify_sanitise(text);
	char buf[SDNOTIFY_STATUS_MAX + 16];
	snprintf(buf, sizeof buf, "STATUS=%s", text);
	sdnotify_send(buf);
}

void sdnotify_stopping(void)
{
	if (!sdnotify_enabled())
		return;
	sdnotify_send("STOPPING=1");
}

int64_t sdnotify_watchdog_interval_ms(void)
{
	uint64_t usec = sdnotify_watchdog_usec();
	if (usec == 0)
		return 0;
	int64_t ms = (int64_t)(usec / 2000ULL);
	return ms > 0 ? ms : 1;
}

void sdnotify_watchdog_ping(void)
{
	if (!sdnotify_enabled())
		return;
	sdnotify_send("WATCHDOG=1");
}
