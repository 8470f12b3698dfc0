/* json_map — see json_map.h. Owns the compiled key paths, the per-source
 * device-id hash tables and the JSON → point_value rules. A map is used by
 * one thread at a time (a source's feeder). cJSON writes its global error
 * pointer on every parse, from whichever thread parses; nothing in gridgw
 * reads it (`end` tells us where parsing stopped), so that race is never
 * observed. */
#include "sensors/json_map.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

enum step_kind { STEP_KEY, STEP_INDEX };

struct path_step {
	enum step_kind kind;
	const char *key;  /* STEP_KEY: NUL-terminated, points into json_path.buf */
	int index;        /* STEP_INDEX */
};

struct json_path {
	struct path_step *steps;
	int n;
	char *buf;        /* a copy of the path text with separators turned into NULs */
};

struct profile_map {
	struct json_path *paths;  /* one per point; NULL when no MQTT device uses the profile */
	int n;
};

struct id_slot {
	const char *id;   /* borrowed from cfg; NULL = empty slot */
	size_t len;
	int device;
};

struct source_map {
	const struct mqtt_source_config *sc;
	struct id_slot *slots;
	size_t mask;              /* capacity - 1, capacity a power of two */
	struct json_path dev_path;/* DEVICE_FROM_JSON only */
	struct json_path ts_path;
	size_t max_payload;
};

struct json_map {
	const struct gw_config *cfg;
	struct source_map *sources;
	int n_sources;
	struct profile_map *profiles;
	int n_profiles;
	struct log_ratelimit rl;
};

enum lookup_result { LOOKUP_FOUND, LOOKUP_MISSING, LOOKUP_MISMATCH };

/* ---- key paths ------------------------------------------------------- */

static void path_free(struct json_path *p)
{
	free(p->steps);
	free(p->buf);
	p->steps = NULL;
	p->buf = NULL;
	p->n = 0;
}

/* Parses "[digits]" at text[*i] == '['; returns -1 on anything else. */
static int path_parse_index(const char *text, size_t *i, int *out)
{
	size_t j = *i + 1;
	long v = 0;
	int digits = 0;
	while (text[j] >= '0' && text[j] <= '9') {
		digits++;
		/* Saturates: no payload has 2^31 elements, so a huge index simply
		 * never matches (the config loader accepts any digit count). */
		v = v > (INT_MAX - 9) / 10 ? INT_MAX : v * 10 + (text[j] - '0');
		j++;
	}
	if (digits == 0 || text[j] != ']')
		return -1;
	*out = (int)v;
	*i = j + 1;
	return 0;
}

/* Compiles "a.b", "list[0].v", "[2]" into steps. Keys may hold any byte but
 * '.', '[' and ']'; indices are decimal. */
static int path_compile(const char *text, struct json_path *p)
{
	memset(p, 0, sizeof *p);
	if (!text || !*text)
		return -1;
	size_t len = strlen(text);
	p->buf = strdup(text);
	p->steps = calloc(len + 1, sizeof *p->steps);
	if (!p->buf || !p->steps)
		goto fail;
	size_t i = 0;
	bool need_key = text[0] != '[';
	for (;;) {
		struct path_step *st = &p->steps[p->n];
		if (text[i] == '[') {
			st->kind = STEP_INDEX;
			if (path_parse_index(text, &i, &st->index) < 0)
				goto fail;
		} else if (need_key) {
			size_t start = i;
			while (text[i] && text[i] != '.' && text[i] != '[' && text[i] != ']')
				i++;
			if (i == start || text[i] == ']')
				goto fail;
			st->kind = STEP_KEY;
			st->key = p->buf + start;
			p->buf[i] = '\0';
		} else {
			goto fail;
		}
		p->n++;
		if (text[i] == '\0')
			return 0;
		if (text[i] == '.') {
			i++;
			need_key = true;
			if (text[i] == '\0' || text[i] == '.' || text[i] == '[')
				goto fail;
		} else if (text[i] == '[') {
			need_key = false;
		} else {
			goto fail;
		}
	}
fail:
	path_free(p);
	return -1;
}

/* Walks the path. A JSON null anywhere counts as absent: devices use it for
 * "no value now", which must not overwrite the last good one. */
static enum lookup_result path_lookup(const cJSON *root, const struct json_path *p, const cJSON **out)
{
	const cJSON *cur = root;
	for (int k = 0; k < p->n; k++) {
		const struct path_step *st = &p->steps[k];
		if (cJSON_IsNull(cur))
			return LOOKUP_MISSING;
		if (st->kind == STEP_KEY) {
			if (!cJSON_IsObject(cur))
				return LOOKUP_MISMATCH;
			cur = cJSON_GetObjectItemCaseSensitive(cur, st->key);
		} else {
			if (!cJSON_IsArray(cur))
				return LOOKUP_MISMATCH;
			cur = cJSON_GetArrayItem(cur, st->index);
		}
		if (!cur)
			return LOOKUP_MISSING;
	}
	if (cJSON_IsNull(cur))
		return LOOKUP_MISSING;
	*out = cur;
	return LOOKUP_FOUND;
}

/* ---- device-id hash -------------------------------------------------- */

static uint64_t id_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void id_insert(struct source_map *sm, const char *id, int device)
{
	size_t len = strlen(id);
	size_t i = (size_t)id_hash(id, len) & sm->mask;
	while (sm->slots[i].id) {
		if (sm->slots[i].len == len && memcmp(sm->slots[i].id, id, len) == 0)
			return;  /* duplicate ids are a config error; the first one wins */
		i = (i + 1) & sm->mask;
	}
	sm->slots[i] = (struct id_slot){ id, len, device };
}

static int id_find(const struct source_map *sm, const char *id, size_t len)
{
	size_t i = (size_t)id_hash(id, len) & sm->mask;
	while (sm->slots[i].id) {
		if (sm->slots[i].len == len && memcmp(sm->slots[i].id, id, len) == 0)
			return sm->slots[i].device;
		i = (i + 1) & sm->mask;
	}
	return -1;
}

/* ---- building -------------------------------------------------------- */

static int profile_compile(struct json_map *m, int pi, char *err, size_t errlen)
{
	struct profile_map *pm = &m->profiles[pi];
	const struct profile *pr = &m->cfg->profiles[pi];
	if (pm->paths)
		return 0;
	pm->paths = calloc(pr->n_points ? (size_t)pr->n_points : 1, sizeof *pm->paths);
	if (!pm->paths) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pm->n = pr->n_points;
	for (int k = 0; k < pr->n_points; k++) {
		const struct point_def *pd = &pr->points[k];
		if (!pd->json) {
			snprintf(err, errlen, "profile %s point %s: no json key path, but the profile is used by an MQTT device",
				 pr->name, pd->name);
			return -1;
		}
		if (path_compile(pd->json, &pm->paths[k]) < 0) {
			snprintf(err, errlen, "profile %s point %s: bad json key path \"%s\"", pr->name, pd->name, pd->json);
			return -1;
		}
	}
	return 0;
}

static int source_build(struct json_map *m, int si, char *err, size_t errlen)
{
	const struct gw_config *cfg = m->cfg;
	struct source_map *sm = &m->sources[si];
	sm->sc = &cfg->sources[si];
	sm->max_payload = sm->sc->max_payload > 0 ? (size_t)sm->sc->max_payload : 65536;
	size_t n = 0;
	for (int d = 0; d < cfg->n_devices; d++)
		if (cfg->devices[d].source == si)
			n++;
	size_t cap = 8;
	while (cap < 2 * n)
		cap *= 2;
	sm->slots = calloc(cap, sizeof *sm->slots);
	if (!sm->slots) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sm->mask = cap - 1;
	for (int d = 0; d < cfg->n_devices; d++) {
		const struct device_config *dc = &cfg->devices[d];
		if (dc->source != si)
			continue;
		if (dc->profile < 0 || dc->profile >= cfg->n_profiles) {
			snprintf(err, errlen, "device %s: profile index %d out of range", dc->id, dc->profile);
			return -1;
		}
		if (profile_compile(m, dc->profile, err, errlen) < 0)
			return -1;
		id_insert(sm, dc->id, d);
	}
	if (sm->sc->device_from == DEVICE_FROM_JSON && path_compile(sm->sc->json_key, &sm->dev_path) < 0) {
		snprintf(err, errlen, "source %s: bad device_from json key \"%s\"", sm->sc->name,
			 sm->sc->json_key ? sm->sc->json_key : "");
		return -1;
	}
	if (sm->sc->device_from == DEVICE_FROM_TOPIC && sm->sc->topic_level < 1) {
		snprintf(err, errlen, "source %s: device_from topic level %d must be >= 1", sm->sc->name,
			 sm->sc->topic_level);
		return -1;
	}
	const char *ts_key = sm->sc->ts_key && *sm->sc->ts_key ? sm->sc->ts_key : "ts";
	if (path_compile(ts_key, &sm->ts_path) < 0) {
		snprintf(err, errlen, "source %s: bad ts key \"%s\"", sm->sc->name, ts_key);
		return -1;
	}
	return 0;
}

static struct json_map *map_create(const struct gw_config *cfg, int only, char *err, size_t errlen)
{
	struct json_map *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10, 6000);
	m->n_sources = cfg->n_sources;
	m->n_profiles = cfg->n_profiles;
	m->sources = calloc(cfg->n_sources ? (size_t)cfg->n_sources : 1, sizeof *m->sources);
	m->profiles = calloc(cfg->n_profiles ? (size_t)cfg->n_profiles : 1, sizeof *m->profiles);
	if (!m->sources || !m->profiles) {
		snprintf(err, errlen, "out of memory");
		json_map_destroy(m);
		return NULL;
	}
	for (int s = 0; s < cfg->n_sources; s++) {
		if ((only < 0 || s == only) && source_build(m, s, err, errlen) < 0) {
			json_map_destroy(m);
			return NULL;
		}
	}
	return m;
}

struct json_map *json_map_create(const struct gw_config *cfg, char *err, size_t errlen)
{
	return map_create(cfg, -1, err, errlen);
}

struct json_map *json_map_create_source(const struct gw_config *cfg, int source, char *err, size_t errlen)
{
	if (source < 0 || source >= cfg->n_sources) {
		snprintf(err, errlen, "mqtt source index %d out of range", source);
		return NULL;
	}
	return map_create(cfg, source, err, errlen);
}

void json_map_destroy(struct json_map *m)
{
	if (!m)
		return;
	if (m->sources) {
		for (int s = 0; s < m->n_sources; s++) {
			free(m->sources[s].slots);
			path_free(&m->sources[s].dev_path);
			path_free(&m->sources[s].ts_path);
		}
	}
	if (m->profiles) {
		for (int p = 0; p < m->n_profiles; p++) {
			if (!m->profiles[p].paths)
				continue;
			for (int k = 0; k < m->profiles[p].n; k++)
				path_free(&m->profiles[p].paths[k]);
			free(m->profiles[p].paths);
		}
	}
	free(m->sources);
	free(m->profiles);
	free(m);
}

/* ---- timestamps ------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, int mo, int d)
{
	y -= mo <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int read_digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*s)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int expect(const char **s, char c)
{
	if (**s != c)
		return -1;
	(*s)++;
	return 0;
}

int json_map_parse_iso(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, frac_ms = 0;
	if (!s || read_digits(&s, 4, &y) || expect(&s, '-') || read_digits(&s, 2, &mo) || expect(&s, '-') ||
	    read_digits(&s, 2, &d))
		return -1;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return -1;
	s++;
	if (read_digits(&s, 2, &h) || expect(&s, ':') || read_digits(&s, 2, &mi) || expect(&s, ':') ||
	    read_digits(&s, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -1;
	if (*s == '.') {
		s++;
		int nd = 0, scale = 100;
		while (*s >= '0' && *s <= '9') {
			if (++nd > 9)
				return -1;
			frac_ms += (*s - '0') * scale;
			scale /= 10;
			s++;
		}
		if (nd == 0)
			return -1;
	}
	int offset_min = 0;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s == '-' ? -1 : 1, oh, om;
		s++;
		if (read_digits(&s, 2, &oh) || expect(&s, ':') || read_digits(&s, 2, &om) || oh > 23 || om > 59)
			return -1;
		offset_min = sign * (oh * 60 + om);
	} else {
		return -1;  /* no zone: local time of an unknown place is not a time */
	}
	if (*s != '\0')
		return -1;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
	*ms = secs * 1000 + frac_ms;
	return 0;
}

/* Returns the payload time when present and sane, else arrival_ms. */
static int64_t message_ts(const struct source_map *sm, const cJSON *root, int64_t arrival_ms, bool *rejected)
{
	const cJSON *v;
	*rejected = false;
	if (path_lookup(root, &sm->ts_path, &v) != LOOKUP_FOUND)
		return arrival_ms;
	double lo = (double)(arrival_ms - JSON_MAP_TS_MAX_BEHIND_MS);
	double hi = (double)(arrival_ms + JSON_MAP_TS_MAX_AHEAD_MS);
	if (cJSON_IsNumber(v)) {
		double x = v->valuedouble;
		/* 1e11 s is the year 5138, 1e11 ms is 1973: the two never overlap. */
		double msd = fabs(x) >= 1e11 ? x : x * 1000.0;
		if (isfinite(msd) && msd >= lo && msd <= hi)
			return (int64_t)msd;
	} else if (cJSON_IsString(v)) {
		int64_t ms;
		if (json_map_parse_iso(v->valuestring, &ms) == 0 && (double)ms >= lo && (double)ms <= hi)
			return ms;
	}
	*rejected = true;
	return arrival_ms;
}

/* ---- values ---------------------------------------------------------- */

/* Decodes one JSON value per the point's type; false = wrong type. */
static bool point_decode(const struct point_def *pd, const cJSON *v, double *out)
{
	switch (pd->type) {
	case PT_BOOL:
		if (cJSON_IsBool(v)) {
			*out = cJSON_IsTrue(v) ? 1.0 : 0.0;
			return true;
		}
		if (cJSON_IsNumber(v) && (v->valuedouble == 0.0 || v->valuedouble == 1.0)) {
			*out = v->valuedouble;
			return true;
		}
		if (cJSON_IsString(v) && (strcmp(v->valuestring, "true") == 0 || strcmp(v->valuestring, "false") == 0)) {
			*out = v->valuestring[0] == 't' ? 1.0 : 0.0;
			return true;
		}
		return false;
	case PT_ENUM:
		if (!cJSON_IsString(v))
			return false;
		for (int i = 0; i < pd->n_values; i++) {
			if (pd->values[i].name && strcmp(pd->values[i].name, v->valuestring) == 0) {
				*out = pd->values[i].value;
				return true;
			}
		}
		return false;
	default: {
		/* PT_NUMBER, and any register type a JSON profile should not have. */
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return false;
		double x = pd->scale * v->valuedouble + pd->offset;
		if (!isfinite(x))
			return false;
		*out = x;
		return true;
	}
	}
}

/* ---- messages -------------------------------------------------------- */

/* Copies up to 64 printable bytes for a log line: payloads and topics are
 * untrusted and must not inject control characters into the journal. */
static void sanitize(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < outlen && i < 64; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[o] = '\0';
}

static void log_drop(struct json_map *m, const struct source_map *sm, const char *topic, const char *why,
		     const char *detail, size_t detail_len)
{
	unsigned long suppressed = 0;
	if (!log_ratelimit_ok(&m->rl, &suppressed))
		return;
	char t[80], d[80] = "";
	sanitize(topic, strlen(topic), t, sizeof t);
	if (detail)
		sanitize(detail, detail_len, d, sizeof d);
	log_warn("mqtt-map", "source %s: topic '%s': %s%s%s (%lu similar suppressed)", sm->sc->name, t, why,
		 detail ? " " : "", d, suppressed);
}

/* The id as (pointer, length); for integral JSON numbers printed into buf. */
static int device_id(const struct source_map *sm, const char *topic, const cJSON *root, char *buf, size_t buflen,
		     const char **id, size_t *len)
{
	if (sm->sc->device_from == DEVICE_FROM_TOPIC) {
		const char *p = topic;
		for (int level = 1; level < sm->sc->topic_level; level++) {
			p = strchr(p, '/');
			if (!p)
				return -1;
			p++;
		}
		const char *end = strchr(p, '/');
		*id = p;
		*len = end ? (size_t)(end - p) : strlen(p);
		return *len ? 0 : -1;
	}
	const cJSON *v;
	if (path_lookup(root, &sm->dev_path, &v) != LOOKUP_FOUND)
		return -1;
	if (cJSON_IsString(v)) {
		*id = v->valuestring;
		*len = strlen(v->valuestring);
		return *len ? 0 : -1;
	}
	if (cJSON_IsNumber(v) && fabs(v->valuedouble) < 1e15 && v->valuedouble == floor(v->valuedouble)) {
		snprintf(buf, buflen, "%lld", (long long)v->valuedouble);
		*id = buf;
		*len = strlen(buf);
		return 0;
	}
	return -1;
}

/* Ignores whitespace (and NULs from C clients that publish the terminator)
 * after the JSON value; anything else is trailing garbage. */
static bool only_trailing_space(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != '\0')
			return false;
	return true;
}

static void emit_points(struct json_map *m, int dev, const cJSON *root, int64_t ts, json_map_emit_fn emit, void *ctx,
			struct json_map_stats *st)
{
	const struct device_config *dc = &m->cfg->devices[dev];
	const struct profile *pr = &m->cfg->profiles[dc->profile];
	const struct profile_map *pm = &m->profiles[dc->profile];
	for (int k = 0; k < pm->n; k++) {
		const cJSON *v = NULL;
		enum lookup_result lr = path_lookup(root, &pm->paths[k], &v);
		if (lr == LOOKUP_MISSING)
			continue;
		struct point_value pv = { 0.0, QUALITY_GOOD, ts };
		if (lr == LOOKUP_MISMATCH || !point_decode(&pr->points[k], v, &pv.value)) {
			pv.value = 0.0;
			pv.quality = QUALITY_DECODE_ERROR;
			st->wrong_type++;
			unsigned long suppressed = 0;
			if (log_ratelimit_ok(&m->rl, &suppressed))
				log_warn("mqtt-map", "device %s point %s: wrong JSON type at \"%s\" (%lu similar suppressed)",
					 dc->id, pr->points[k].name, pr->points[k].json, suppressed);
		}
		st->points++;
		emit(ctx, dev, k, &pv);
	}
}

int json_map_message(struct json_map *m, int source, const char *topic, const char *payload, size_t len,
		     int64_t arrival_ms, json_map_emit_fn emit, void *ctx, struct json_map_stats *stats)
{
	struct json_map_stats dummy;
	struct json_map_stats *st = stats ? stats : &dummy;
	st->messages++;
	if (source < 0 || source >= m->n_sources || !m->sources[source].slots)
		return JSON_MAP_BAD_SOURCE; /* out of range, or not built into this map */
	struct source_map *sm = &m->sources[source];
	if (!topic)
		topic = "";
	if (len > sm->max_payload) {
		st->oversized++;
		log_drop(m, sm, topic, "payload too large", NULL, 0);
		return JSON_MAP_OVERSIZED;
	}
	const char *end = NULL;
	cJSON *root = len ? cJSON_ParseWithLengthOpts(payload, len, &end, 0) : NULL;
	if (!root || !end || !only_trailing_space(end, payload + len) || !(cJSON_IsObject(root) || cJSON_IsArray(root))) {
		cJSON_Delete(root);
		st->malformed++;
		log_drop(m, sm, topic, "malformed JSON", NULL, 0);
		return JSON_MAP_MALFORMED;
	}
	char numbuf[32];
	const char *id;
	size_t idlen;
	int rc;
	if (device_id(sm, topic, root, numbuf, sizeof numbuf, &id, &idlen) < 0) {
		st->no_device_id++;
		log_drop(m, sm, topic, "no device id", NULL, 0);
		rc = JSON_MAP_NO_DEVICE_ID;
	} else if ((rc = idlen > JSON_MAP_MAX_ID ? -1 : id_find(sm, id, idlen)) < 0) {
		st->unknown_device++;
		log_drop(m, sm, topic, "unknown device", id, idlen);
		rc = JSON_MAP_UNKNOWN_DEVICE;
	} else {
		bool rejected;
		int64_t ts = message_ts(sm, root, arrival_ms, &rejected);
		if (rejected)
			st->ts_rejected++;
		emit_points(m, rc, root, ts, emit, ctx, st);
	}
	cJSON_Delete(root);
	return rc;
}

void json_map_stats_add(struct json_map_stats *to, const struct json_map_stats *from)
{
	to->messages += from->messages;
	to->malformed += from->malformed;
	to->unknown_device += from->unknown_device;
	to->no_device_id += from->no_device_id;
	to->wrong_type += from->wrong_type;
	to->oversized += from->oversized;
	to->points += from->points;
	to->ts_rejected += from->ts_rejected;
}

const char *json_map_strerror(int code)
{
	if (code >= 0)
		return "ok";
	switch (code) {
	case JSON_MAP_MALFORMED: return "malformed";
	case JSON_MAP_UNKNOWN_DEVICE: return "unknown_device";
	case JSON_MAP_OVERSIZED: return "oversized";
	case JSON_MAP_NO_DEVICE_ID: return "no_device_id";
	case JSON_MAP_BAD_SOURCE: return "bad_source";
	}
	return "unknown";
}
