/* config_read — typed access to libconfig settings for the loader. Every
 * reader checks the setting's type itself (libconfig 1.5's lookup helpers
 * convert silently or return 0 for an out-of-range int64), reports a
 * problem at the setting's own FILE:LINE and says whether the value is
 * present, absent or bad, so the schema code can go on and find the next
 * error instead of stopping at the first. */
#include "gateway/config/config_priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"

void *cfg_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fputs("gridgw: out of memory loading the configuration\n", stderr);
		abort();
	}
	return p;
}

void *cfg_xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		fputs("gridgw: configuration too large\n", stderr);
		abort();
	}
	size_t bytes = n * size;
	void *q = realloc(p, bytes ? bytes : 1);
	if (!q) {
		fputs("gridgw: out of memory loading the configuration\n", stderr);
		abort();
	}
	return q;
}

char *cfg_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = cfg_xcalloc(n, 1);
	memcpy(d, s, n);
	return d;
}

void cfg_err(struct cfg_ctx *c, const config_setting_t *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *file;
	int line;
	cfg_where(c, at, &file, &line);
	config_errors_add(c->errs, file, line, "%s", msg);
}

const char *cfg_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group { }";
	case CONFIG_TYPE_INT: return "an integer";
	case CONFIG_TYPE_INT64: return "a 64-bit integer";
	case CONFIG_TYPE_FLOAT: return "a number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "true/false";
	case CONFIG_TYPE_ARRAY: return "an array [ ]";
	case CONFIG_TYPE_LIST: return "a list ( )";
	default: return "nothing";
	}
}

int cfg_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	int row[41];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = diag + cost;
			if (row[j] + 1 < best) best = row[j] + 1;
			if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

void rd_check_keys(struct cfg_ctx *c, const config_setting_t *grp, const char *const *allowed, const char *what)
{
	rd_check_keys_note(c, grp, allowed, what, NULL, NULL);
}

void rd_check_keys_note(struct cfg_ctx *c, const config_setting_t *grp, const char *const *allowed, const char *what,
			const char *const *elsewhere, const char *note)
{
	int n = config_setting_length(grp);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);
		if (!name)
			continue;
		const char *close = NULL;
		int best = 3;
		bool known = false;
		for (int k = 0; allowed[k]; k++) {
			if (strcmp(allowed[k], name) == 0) {
				known = true;
				break;
			}
			int d = cfg_edit_distance(name, allowed[k]);
			if (d < best) {
				best = d;
				close = allowed[k];
			}
		}
		if (known)
			continue;
		bool misplaced = false;
		for (int k = 0; elsewhere && elsewhere[k]; k++)
			if (strcmp(elsewhere[k], name) == 0)
				misplaced = true;
		if (misplaced)
			cfg_err(c, s, "'%s' is not valid here: %s", name, note);
		else if (close)
			cfg_err(c, s, "unknown key '%s' in %s (did you mean '%s'?)", name, what, close);
		else
			cfg_err(c, s, "unknown key '%s' in %s", name, what);
	}
}

void rd_missing(struct cfg_ctx *c, const config_setting_t *grp, const char *key)
{
	const char *name = config_setting_name(grp);
	if (name)
		cfg_err(c, grp, "'%s' is missing required key '%s'", name, key);
	else
		cfg_err(c, grp, "missing required key '%s'", key);
}

/* The member, or NULL (and an error if required). */
static config_setting_t *member(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required)
{
	config_setting_t *s = config_setting_get_member(grp, key);
	if (!s && required)
		rd_missing(c, grp, key);
	return s;
}

static void wrong_type(struct cfg_ctx *c, const config_setting_t *s, const char *want)
{
	cfg_err(c, s, "'%s' must be %s, not %s", config_setting_name(s), want, cfg_type_name(config_setting_type(s)));
}

int rd_string(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required, char **out)
{
	config_setting_t *s = member(c, grp, key, required);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(c, s, "a string");
		return -1;
	}
	const char *v = config_setting_get_string(s);
	free(*out);
	*out = cfg_xstrdup(v ? v : "");
	return 1;
}

int rd_int(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
	   long long min, long long max, long long *out)
{
	config_setting_t *s = member(c, grp, key, required);
	if (!s)
		return 0;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		wrong_type(c, s, "an integer");
		return -1;
	}
	if (cfg_on_bad_int_line(s))
		return -1;
	long long v = config_setting_get_int64(s);
	if (v < min || v > max) {
		cfg_err(c, s, "'%s' = %lld is out of range (%lld to %lld)", key, v, min, max);
		return -1;
	}
	*out = v;
	return 1;
}

int rd_double(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required, double *out)
{
	config_setting_t *s = member(c, grp, key, required);
	if (!s)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		*out = config_setting_get_float(s);
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		/* `scale = 1;` is an int to libconfig: accept it as 1.0. */
		*out = (double)config_setting_get_int64(s);
		break;
	default:
		wrong_type(c, s, "a number");
		return -1;
	}
	if (!isfinite(*out)) {
		cfg_err(c, s, "'%s' is not a finite number", key);
		return -1;
	}
	return 1;
}

int rd_bool(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required, bool *out)
{
	config_setting_t *s = member(c, grp, key, required);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		wrong_type(c, s, "true or false");
		return -1;
	}
	*out = config_setting_get_bool(s) != 0;
	return 1;
}

int rd_duration(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
		int64_t min_ms, int64_t *out)
{
	config_setting_t *s = member(c, grp, key, required);
	if (!s)
		return 0;
	int64_t ms;
	int t = config_setting_type(s);
	if ((t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) && config_setting_get_int64(s) == 0) {
		ms = 0;
	} else if (t == CONFIG_TYPE_STRING) {
		const char *v = config_setting_get_string(s);
		if (duration_parse(v, &ms) < 0) {
			cfg_err(c, s, "'%s' = \"%s\" is not a duration (like \"500ms\", \"30s\", \"10m\", \"2h\", \"1d\")",
				key, v);
			return -1;
		}
	} else {
		cfg_err(c, s, "'%s' must be a duration string like \"30s\" (or 0), not %s", key,
			cfg_type_name(t));
		return -1;
	}
	if (ms > CFG_MAX_DURATION_MS) {
		/* Far past any sensible setting, and small enough that
		 * now + duration (and 3 x poll) can never overflow. */
		cfg_err(c, s, "'%s' must be at most 3650d", key);
		return -1;
	}
	if (ms < min_ms) {
		char buf[32];
		duration_format(min_ms, buf, sizeof buf);
		cfg_err(c, s, "'%s' must be at least %s", key, buf);
		return -1;
	}
	*out = ms;
	return 1;
}

static int choice(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
		  const char *const *names, int *out, bool ignore_case)
{
	config_setting_t *s = member(c, grp, key, required);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(c, s, "a string");
		return -1;
	}
	const char *v = config_setting_get_string(s);
	char list[256] = "";
	size_t used = 0;
	for (int i = 0; names[i]; i++) {
		if ((ignore_case ? strcasecmp(names[i], v) : strcmp(names[i], v)) == 0) {
			*out = i;
			return 1;
		}
		int n = snprintf(list + used, sizeof list - used, "%s\"%s\"", i ? ", " : "", names[i]);
		if (n > 0 && (size_t)n < sizeof list - used)
			used += (size_t)n;
	}
	cfg_err(c, s, "'%s' = \"%s\" is not one of %s", key, v, list);
	return -1;
}

int rd_choice(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
	      const char *const *names, int *out)
{
	return choice(c, grp, key, required, names, out, false);
}

int rd_choice_ci(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
		 const char *const *names, int *out)
{
	return choice(c, grp, key, required, names, out, true);
}

config_setting_t *rd_group(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required)
{
	config_setting_t *s = member(c, grp, key, required);
	if (s && config_setting_type(s) != CONFIG_TYPE_GROUP) {
		wrong_type(c, s, "a group { ... }");
		return NULL;
	}
	return s;
}

config_setting_t *rd_list(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required)
{
	config_setting_t *s = member(c, grp, key, required);
	if (s && config_setting_type(s) != CONFIG_TYPE_LIST) {
		/* An empty list may be written as () or []: both are fine. */
		if (config_setting_type(s) == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0)
			return s;
		wrong_type(c, s, "a list ( ... )");
		return NULL;
	}
	return s;
}

bool cfg_is_identifier(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return strlen(s) <= 64;
}

bool cfg_is_id(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}
