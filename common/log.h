/* log — one line per event on stderr, "LEVEL component: message", suitable
 * for journald (which adds its own timestamps; a <N> priority prefix is
 * emitted when JOURNAL_STREAM is set so journald keeps the level).
 * Thread-safe: each line is written with one write(2). */
#ifndef GRIDGW_LOG_H
#define GRIDGW_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns 0, or -1 for anything else. */
int log_parse_level(const char *name, enum log_level *out);
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap);

#define log_error(comp, ...) log_msg(LOG_LVL_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_LVL_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_LVL_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) log_msg(LOG_LVL_DEBUG, comp, __VA_ARGS__)

/* A token bucket for logs that bad input can trigger at line rate (malformed
 * MQTT payloads, a device answering garbage): at most `burst` lines, refilled
 * at one per `per_ms`; suppressed lines are counted and reported with the
 * next line that passes. Owned by one thread. */
struct log_ratelimit {
	int burst;
	int per_ms;
	double tokens;
	long long last_ms;
	unsigned long suppressed;
};
#define LOG_RATELIMIT_INIT(burst_, per_ms_) { (burst_), (per_ms_), (burst_), 0, 0 }
/* Returns 1 when a line may be logged now; *suppressed_out gets the count of
 * lines dropped since the last one that passed. */
int log_ratelimit_ok(struct log_ratelimit *rl, unsigned long *suppressed_out);

#endif
