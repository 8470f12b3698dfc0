/* json_map — turns one MQTT source message (topic + JSON payload) into point
 * updates of one configured device. Pure: no I/O, no threads, no clock; the
 * caller passes the arrival time. Built once per loaded config (device-id
 * hash per source, key paths compiled per profile); gridgw builds one per
 * source (json_map_create_source), used by that source's feeder thread
 * only, so it needs no locking and a config reload simply builds a new
 * map.
 *
 * Mapping rules (docs/mqtt_sources.md has the user-facing version):
 *  - device id: topic level N (1-based) or a JSON key path whose value is a
 *    string (or an integral number, printed in decimal);
 *  - each profile point's `json` key path ("a.b", "list[0].v", "[1].x") is
 *    looked up; a missing key, an index past the end or a JSON null leaves
 *    the point alone (nothing emitted); a value of the wrong JSON type (or a
 *    container where the path needs an object/array of the other kind)
 *    emits the point with QUALITY_DECODE_ERROR;
 *  - number: value = scale * x + offset; bool: true/false, 0/1,
 *    "true"/"false" (scale/offset not applied); enum: a string from the
 *    point's `values` map (case-sensitive);
 *  - timestamp: the source's ts key (default "ts"): a number of seconds
 *    (< 1e11, fractions allowed) or milliseconds (>= 1e11) since the epoch,
 *    or an RFC 3339 string with a zone ("2026-11-22T08:00:00.123Z",
 *    "...+08:00"); used when at most 5 min ahead of and at most 1 day behind
 *    the arrival time, else the arrival time is used (and counted). */
#ifndef GRIDGW_JSON_MAP_H
#define GRIDGW_JSON_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "common/point.h"

/* Negative results of json_map_message(). */
enum {
	JSON_MAP_MALFORMED = -1,      /* not JSON, trailing garbage, or not an object/array */
	JSON_MAP_UNKNOWN_DEVICE = -2, /* device id not configured on this source */
	JSON_MAP_OVERSIZED = -3,      /* payload longer than the source's max_payload */
	JSON_MAP_NO_DEVICE_ID = -4,   /* topic level / JSON key absent, empty or not a string */
	JSON_MAP_BAD_SOURCE = -5,     /* source index out of range */
};

/* Payload timestamps are trusted within these bounds of the arrival time. */
#define JSON_MAP_TS_MAX_AHEAD_MS  (5 * 60 * 1000LL)
#define JSON_MAP_TS_MAX_BEHIND_MS (24 * 60 * 60 * 1000LL)
/* Device ids longer than this never match (config ids are checked against it). */
#define JSON_MAP_MAX_ID 128

struct json_map;

/* Counters, owned by the caller and only ever incremented. `points` counts
 * every emitted update (good or decode_error); `wrong_type` counts the
 * decode_error ones; `ts_rejected` counts messages whose payload timestamp
 * was present but unparseable or out of bounds. */
struct json_map_stats {
	uint64_t messages, malformed, unknown_device, no_device_id, wrong_type, oversized, points,
		ts_rejected;
};

/* *to += *from, field by field. */
void json_map_stats_add(struct json_map_stats *to, const struct json_map_stats *from);

typedef void (*json_map_emit_fn)(void *ctx, int device, int point, const struct point_value *pv);

/* Builds the map for every source and every device attached to a source.
 * `cfg` must outlive the map (names and enum tables are borrowed). Returns
 * NULL with a message in err on a bad key path, a profile point without a
 * `json` path on an MQTT device, or out of memory. */
struct json_map *json_map_create(const struct gw_config *cfg, char *err, size_t errlen);
/* As json_map_create, for source index `source` and its devices only;
 * messages of other sources are refused as JSON_MAP_BAD_SOURCE. */
struct json_map *json_map_create_source(const struct gw_config *cfg, int source, char *err, size_t errlen);
void json_map_destroy(struct json_map *m);

/* Maps one message of source index `source`. `topic` is NUL-terminated;
 * `payload` is `len` bytes, not necessarily terminated. Calls emit() once
 * per point present in the payload, in profile order, and returns the
 * device index (>= 0: a well-formed message from a known device, which is
 * what proves the device alive), or a JSON_MAP_* code. Drops are logged at
 * a rate limit. stats may be NULL. */
int json_map_message(struct json_map *m, int source, const char *topic, const char *payload, size_t len,
		     int64_t arrival_ms, json_map_emit_fn emit, void *ctx, struct json_map_stats *stats);

/* A name for a JSON_MAP_* code ("malformed", ...), "ok" for >= 0. */
const char *json_map_strerror(int code);

/* Parses an RFC 3339 timestamp with a zone ("2026-11-22T08:00:00.123Z",
 * "2026-11-22 16:00:00+08:00"); returns 0 and *ms since the epoch, or -1. */
int json_map_parse_iso(const char *s, int64_t *ms);

#endif
