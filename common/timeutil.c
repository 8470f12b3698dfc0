/* timeutil — see timeutil.h. */
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int duration_parse(const char *text, int64_t *ms)
{
	if (!text || *text < '0' || *text > '9')
		return -1;
	int64_t n = 0;
	const char *p = text;
	while (*p >= '0' && *p <= '9') {
		if (n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*p - '0');
		p++;
	}
	int64_t mult;
	if (strcmp(p, "ms") == 0) mult = 1;
	else if (strcmp(p, "s") == 0) mult = 1000;
	else if (strcmp(p, "m") == 0) mult = 60 * 1000;
	else if (strcmp(p, "h") == 0) mult = 3600 * 1000;
	else if (strcmp(p, "d") == 0) mult = 86400 * 1000;
	else if (*p == '\0' && n == 0) mult = 0;
	else return -1;
	if (mult && n > INT64_MAX / mult)
		return -1;
	*ms = n * mult;
	return 0;
}

void duration_format(int64_t ms, char *buf, size_t len)
{
	static const struct { int64_t mult; const char *unit; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (ms != 0 && ms % units[i].mult == 0) {
			snprintf(buf, len, "%lld%s", (long long)(ms / units[i].mult), units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%lldms", (long long)ms);
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
int64_t time_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

void time_format_iso(int64_t wall_ms, char *buf, size_t len)
{
	time_t s = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char base[32];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

void time_format_local(int64_t wall_ms, char *buf, size_t len)
{
	time_t s = (time_t)(wall_ms / 1000);
	struct tm tm;
	if (len == 0)
		return;
	if (!localtime_r(&s, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		buf[0] = '\0';
}

int time_parse_iso(const char *text, int64_t *wall_ms)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
	    sec > 60)
		return -1;
	const char *p = text + n;
	int frac = 0, digits = 0;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)
		return -1;
	*wall_ms = (int64_t)t * 1000 + frac;
	return 0;
}
