/* log — see log.h. The level is a process-wide setting changed only by the
 * main thread (at start and on reload); reads are relaxed atomics. */
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_LVL_INFO;

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }

int log_parse_level(const char *name, enum log_level *out)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap)
{
	static const char *tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	static const int prio[] = { 3, 4, 6, 7 };
	if ((int)level > atomic_load(&current_level))
		return;
	char line[1024];
	int n = 0;
	if (getenv("JOURNAL_STREAM"))
		n = snprintf(line, sizeof line, "<%d>", prio[level]);
	else {
		/* Local time with date and offset, as the people on site read it
		 * ("2026-12-02 21:03:05.123 +0800"); the journal stamps its own. */
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
		n += snprintf(line + n, sizeof line - (size_t)n, ".%03ld ", ts.tv_nsec / 1000000);
		n += (int)strftime(line + n, sizeof line - (size_t)n, "%z ", &tm);
	}
	n += snprintf(line + n, sizeof line - (size_t)n, "%s %s: ", tags[level], component);
	if (n < (int)sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* One write so lines from different threads never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w; /* nowhere left to report a failed log write */
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, component, fmt, ap);
	va_end(ap);
}

int log_ratelimit_ok(struct log_ratelimit *rl, unsigned long *suppressed_out)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (rl->last_ms == 0)
		rl->last_ms = now;
	rl->tokens += (double)(now - rl->last_ms) / (rl->per_ms > 0 ? rl->per_ms : 1);
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	rl->last_ms = now;
	if (rl->tokens < 1.0) {
		rl->suppressed++;
		return 0;
	}
	rl->tokens -= 1.0;
	if (suppressed_out)
		*suppressed_out = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}
