/* telemetry — status and telemetry JSON. See telemetry.h. The snapshot is
 * written by hand (not through cJSON) because splitting needs exact sizes:
 * every fragment is measured before it is appended. */
#include "gateway/uplink/telemetry.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

int json_append_string(char *buf, size_t len, size_t *pos, const char *s)
{
	size_t p = *pos;
	if (p >= len)
		return -1;
#define PUT(c) do { if (p + 1 >= len) goto full; buf[p++] = (c); } while (0)
	PUT('"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			PUT('\\');
			PUT((char)*c);
		} else if (*c < 0x20) {
			if (p + 6 >= len)
				goto full;
			snprintf(buf + p, len - p, "\\u%04x", *c);
			p += 6;
		} else {
			PUT((char)*c);
		}
	}
	PUT('"');
#undef PUT
	buf[p] = '\0';
	*pos = p;
	return 0;
full:
	buf[*pos] = '\0';
	return -1;
}

static int append_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	if (*pos >= len)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *pos) {
		buf[*pos] = '\0';
		return -1;
	}
	*pos += (size_t)n;
	return 0;
}

int status_json(const char *gateway, bool online, const char *version, int64_t ts_wall_ms,
		const struct status_counts *counts, char *buf, size_t len)
{
	char ts[32];
	time_format_iso(ts_wall_ms, ts, sizeof ts);
	size_t pos = 0;
	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (append_fmt(buf, len, &pos, "{\"gateway\":") || json_append_string(buf, len, &pos, gateway) ||
	    append_fmt(buf, len, &pos, ",\"state\":\"%s\",\"version\":", online ? "online" : "offline") ||
	    json_append_string(buf, len, &pos, version) ||
	    append_fmt(buf, len, &pos, ",\"ts\":\"%s\"", ts))
		return -1;
	if (counts && append_fmt(buf, len, &pos,
				 ",\"devices\":{\"online\":%d,\"offline\":%d},\"open_incidents\":%d,\"backlog\":%lld",
				 counts->devices_online, counts->devices_offline, counts->open_incidents,
				 (long long)counts->backlog))
		return -1;
	if (append_fmt(buf, len, &pos, "}"))
		return -1;
	return (int)pos;
}

/* One pass of the snapshot builder. Pass one (emit == NULL) only counts the
 * messages so that pass two can write "parts"; both passes reserve the same
 * header room, so they split at the same places. */
struct snap {
	const char *gateway;
	char ts[32];
	char *buf;
	size_t max;               /* max_payload */
	size_t header_room;       /* header length with 10-digit part numbers */
	size_t pos;               /* bytes in buf */
	size_t content0;          /* where device content starts in buf */
	int part, parts;
	int devs_in_chunk;
	int (*emit)(void *ctx, const char *chunk, size_t len);
	void *ctx;
};

static int snap_header(struct snap *s, int part, int parts, char *buf, size_t len, size_t *pos)
{
	*pos = 0;
	return append_fmt(buf, len, pos, "{\"gateway\":") ||
	       json_append_string(buf, len, pos, s->gateway) ||
	       append_fmt(buf, len, pos, ",\"ts\":\"%s\",\"part\":%d,\"parts\":%d,\"devices\":{",
			  s->ts, part, parts) ? -1 : 0;
}

static int snap_start(struct snap *s)
{
	s->part++;
	s->devs_in_chunk = 0;
	if (snap_header(s, s->part, s->emit ? s->parts : 0, s->buf, s->max + 1, &s->pos) != 0)
		return -1;
	s->content0 = s->pos;
	return 0;
}

/* Room left for content, keeping the two closing braces of the message. */
static size_t snap_room(const struct snap *s)
{
	size_t used = s->header_room + (s->pos - s->content0) + 2;
	return used >= s->max ? 0 : s->max - used;
}

static int snap_flush(struct snap *s)
{
	memcpy(s->buf + s->pos, "}}", 3);
	s->pos += 2;
	if (s->emit) {
		if (s->emit(s->ctx, s->buf, s->pos) != 0)
			return -2;
	}
	return 0;
}

static int fmt_device_open(const struct telemetry_device *d, bool comma, char *frag, size_t len)
{
	size_t p = 0;
	if (comma && append_fmt(frag, len, &p, ","))
		return -1;
	if (json_append_string(frag, len, &p, d->id) ||
	    append_fmt(frag, len, &p, ":{\"_online\":%s", d->online ? "true" : "false"))
		return -1;
	return (int)p;
}

/* ":<v>" for an integral v below 1e10, the text "%.10g" gives it, without
 * vsnprintf: most telemetry values are raw registers, and a 15,000-point
 * snapshot every second formats each twice (#12). Returns 1 when done. */
static int fmt_integral(double v, char *buf, size_t len, size_t *pos)
{
	if (!(fabs(v) < 1e10) || v != (double)(int64_t)v || (v == 0 && signbit(v)))
		return 0;
	char tmp[16];
	int n = 0;
	uint64_t u = (uint64_t)(v < 0 ? -(int64_t)v : (int64_t)v);
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	size_t need = (size_t)n + 1 + (v < 0);
	if (*pos + need >= len)
		return -1;
	buf[(*pos)++] = ':';
	if (v < 0)
		buf[(*pos)++] = '-';
	while (n)
		buf[(*pos)++] = tmp[--n];
	buf[*pos] = '\0';
	return 1;
}

static int fmt_point(const struct telemetry_point *pt, char *frag, size_t len)
{
	size_t p = 0;
	if (append_fmt(frag, len, &p, ",") || json_append_string(frag, len, &p, pt->name))
		return -1;
	int fast = pt->good ? fmt_integral(pt->value, frag, len, &p) : 0;
	if (fast != 0)
		return fast < 0 ? -1 : (int)p;
	if (pt->good && isfinite(pt->value)) {
		if (append_fmt(frag, len, &p, ":%.10g", pt->value))
			return -1;
	} else if (append_fmt(frag, len, &p, ":null")) {
		return -1;
	}
	return (int)p;
}

static void snap_put(struct snap *s, const char *frag, size_t n)
{
	memcpy(s->buf + s->pos, frag, n);
	s->pos += n;
	s->buf[s->pos] = '\0';
}

/* Opens device d in the current message, starting a new message first when
 * the opening (plus its closing brace) does not fit. */
static int snap_open_device(struct snap *s, const struct telemetry_device *d, char *frag, size_t fraglen)
{
	int n = fmt_device_open(d, s->devs_in_chunk > 0, frag, fraglen);
	if (n >= 0 && (size_t)n + 1 <= snap_room(s))
		goto put;
	if (s->devs_in_chunk > 0) {
		int rc = snap_flush(s);
		if (rc != 0)
			return rc;
		if (snap_start(s) != 0)
			return -1;
	}
	n = fmt_device_open(d, false, frag, fraglen);
	if (n < 0 || (size_t)n + 1 > snap_room(s))
		return -1;
put:
	snap_put(s, frag, (size_t)n);
	s->devs_in_chunk++;
	return 0;
}

static int snap_device(struct snap *s, const struct telemetry_device *d, char *frag, size_t fraglen)
{
	int rc = snap_open_device(s, d, frag, fraglen);
	if (rc != 0)
		return rc;
	for (int i = 0; i < d->n_points; i++) {
		int n = fmt_point(&d->points[i], frag, fraglen);
		if (n < 0)
			return -1;
		if ((size_t)n + 1 > snap_room(s)) {
			/* Close this part of the device and continue it in the next message. */
			snap_put(s, "}", 1);
			if ((rc = snap_flush(s)) != 0)
				return rc;
			if (snap_start(s) != 0 || (rc = snap_open_device(s, d, frag, fraglen)) != 0)
				return rc ? rc : -1;
			/* frag held the device opening meanwhile: format the point again. */
			n = fmt_point(&d->points[i], frag, fraglen);
			if (n < 0 || (size_t)n + 1 > snap_room(s))
				return -1;
		}
		snap_put(s, frag, (size_t)n);
	}
	snap_put(s, "}", 1);
	return 0;
}

static int snap_run(struct snap *s, const struct telemetry_device *devs, int n_devs, char *frag, size_t fraglen)
{
	s->part = 0;
	if (snap_start(s) != 0)
		return -1;
	for (int i = 0; i < n_devs; i++) {
		int rc = snap_device(s, &devs[i], frag, fraglen);
		if (rc != 0)
			return rc;
	}
	int rc = snap_flush(s);
	return rc != 0 ? rc : 0;
}

int telemetry_build(const char *gateway, int64_t ts_wall_ms, const struct telemetry_device *devs,
		    int n_devs, size_t max_payload,
		    int (*emit)(void *ctx, const char *chunk, size_t len), void *ctx)
{
	if (max_payload < TELEMETRY_MIN_PAYLOAD || !emit || n_devs < 0)
		return -1;
	struct snap s = { .gateway = gateway, .max = max_payload };
	time_format_iso(ts_wall_ms, s.ts, sizeof s.ts);
	s.buf = malloc(max_payload + 1);
	size_t fraglen = max_payload + 1;
	char *frag = malloc(fraglen);
	int rc = -1;
	if (!s.buf || !frag)
		goto out;
	if (snap_header(&s, 2000000000, 2000000000, s.buf, max_payload + 1, &s.header_room) != 0)
		goto out;
	rc = snap_run(&s, devs, n_devs, frag, fraglen);      /* counting pass */
	if (rc != 0)
		goto out;
	s.parts = s.part;
	s.emit = emit;
	s.ctx = ctx;
	rc = snap_run(&s, devs, n_devs, frag, fraglen);
	if (rc == 0)
		rc = s.parts;
out:
	free(s.buf);
	free(frag);
	return rc;
}
