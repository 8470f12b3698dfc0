/* sdnotify — systemd notifications via sd_notify (see sdnotify.h). */
#include "gateway/core/sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

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

static void sdnotify_send(const char *state)
{
	/* unset_environment = 0: the reload path notifies again later. */
	int rc = sd_notify(0, state);
	if (rc < 0)
		log_debug("sdnotify", "sd_notify failed: %d", rc);
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
	uint64_t usec = 0;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us. */
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
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
