/* timeutil — durations ("500ms", "30s", "10m", "2h", "1d"), the monotonic and
 * wall clocks in milliseconds, and RFC 3339 UTC timestamps. Rules run on the
 * monotonic clock; wall time only appears in stored/published timestamps. */
#ifndef GRIDGW_TIMEUTIL_H
#define GRIDGW_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses a duration: a non-negative integer followed by ms, s, m, h or d
 * ("0" alone is accepted as zero). Returns 0 and sets *ms, or -1 on anything
 * else (empty, sign, fraction, unknown unit, overflow past ~292 million years). */
int duration_parse(const char *text, int64_t *ms);
/* Formats ms as the largest exact unit ("90s", "2h", "500ms"). */
void duration_format(int64_t ms, char *buf, size_t len);

int64_t time_mono_ms(void);
int64_t time_wall_ms(void);
/* "2026-11-22T08:00:00.123Z"; buf needs 25 bytes. */
void time_format_iso(int64_t wall_ms, char *buf, size_t len);

/* The same instant in the process's local time zone (TZ, else
 * /etc/localtime), with the date and the UTC offset, as people on site read
 * it: "2026-12-02 21:03:05 +0800"; buf needs 26 bytes. Logs and tables use
 * it; JSON, MQTT and the store stay UTC (time_format_iso). */
void time_format_local(int64_t wall_ms, char *buf, size_t len);
/* Parses what time_format_iso writes ("2026-11-22T08:00:00Z", optional
 * ".123" fraction, UTC only) to wall ms. Returns 0 or -1. */
int time_parse_iso(const char *text, int64_t *wall_ms);

#endif
