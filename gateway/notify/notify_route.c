/* notify_route — which routes an incident event matches (severity list,
 * type globs, building list, event kinds) and the `hours` window in the
 * gateway's local time zone (TZ is respected through localtime_r). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway/notify/notify_priv.h"

bool notify_glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*pat == '?' || (*pat && *pat != '*' && *pat == *s)) {
			pat++;
			s++;
		} else if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

bool notify_glob_valid(const char *pat)
{
	if (!*pat)
		return false;
	for (const unsigned char *p = (const unsigned char *)pat; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '[' || *p == ']' || *p == '\\' || *p == '{' || *p == '}')
			return false;
	return true;
}

int notify_hours_parse(const char *text, int *from_min, int *to_min)
{
	int h1, m1, h2, m2;
	char tail;
	if (sscanf(text, "%2d:%2d-%2d:%2d%c", &h1, &m1, &h2, &m2, &tail) != 4)
		return -1;
	if (strlen(text) != 11)
		return -1; /* exactly HH:MM-HH:MM */
	if (h1 < 0 || h1 > 24 || h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 ||
	    (h1 == 24 && m1) || (h2 == 24 && m2))
		return -1;
	*from_min = h1 * 60 + m1;
	*to_min = h2 * 60 + m2;
	if (*from_min == 1440)
		*from_min = 0;
	return *from_min == *to_min % 1440 ? -1 : 0;
}

int notify_local_minute(int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return 0;
	return tm.tm_hour * 60 + tm.tm_min;
}

bool notify_hours_open(const struct notify_route_config *r, int64_t wall_ms, int64_t *opens)
{
	if (!r->has_hours)
		return true;
	int m = notify_local_minute(wall_ms);
	int from = r->hours_from_min, to = r->hours_to_min;
	bool open = from < to ? (m >= from && m < to) : (m >= from || m < to);
	if (open)
		return true;
	if (opens) {
		int d = (from - m + 1440) % 1440;
		*opens = wall_ms - wall_ms % 60000 + (int64_t)d * 60000;
	}
	return false;
}

bool notify_route_matches(const struct notify_route_config *r, const char *type, int severity,
			  const char *building, unsigned event_bit)
{
	if (!(r->events & event_bit))
		return false;
	if (r->n_severity) {
		bool ok = false;
		for (int i = 0; i < r->n_severity; i++)
			ok = ok || r->severity[i] == severity;
		if (!ok)
			return false;
	}
	if (r->n_type) {
		bool ok = false;
		for (int i = 0; i < r->n_type; i++)
			ok = ok || notify_glob_match(r->type[i], type);
		if (!ok)
			return false;
	}
	if (r->n_building) {
		bool ok = false;
		for (int i = 0; building && i < r->n_building; i++)
			ok = ok || strcmp(r->building[i], building) == 0;
		if (!ok)
			return false;
	}
	return true;
}
