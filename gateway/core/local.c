/* local — local requests: the control socket (`gridgw status|incidents|
 * ack|close|shelve|...`) and the console send the same struct
 * control_request; core_request answers either with an HTTP-like status
 * and a JSON object, so the CLI and the console share one path (and one
 * set of refusals). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/core/incidents_json.h"
#include "gateway/notify/notify.h"
#include "gateway/store/store.h"
#include "gateway/uplink/outbox.h"
#include "gateway/uplink/uplink.h"
#include "gateway/web/web.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/modbus_bus.h"
#include "sensors/mqtt_source.h"

/* --- control socket and console requests ------------------------------ */

/* Both the control socket (`gridgw status|incidents|ack|...`) and the web
 * console send struct control_request; core_request answers either with an
 * HTTP-like status and a JSON object, so the CLI and the console share one
 * path (and one set of refusals). */

char *core_print_free(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

char *core_error_text(const char *error)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", error);
	return core_print_free(o);
}

static void add_iso(cJSON *o, const char *key, int64_t wall_ms)
{
	char ts[32];
	time_format_iso(wall_ms, ts, sizeof ts);
	cJSON_AddStringToObject(o, key, ts);
}

struct severity_count {
	int n[5];
};

static int count_severity(void *ctx, const struct incident_row *r)
{
	struct severity_count *sc = ctx;
	if (r->severity >= 1 && r->severity <= 4)
		sc->n[r->severity]++;
	return 0;
}

/* --- shelve views: what a technician testing a detector looks at ------- */

#define SHELVE_LIST_MAX 10000   /* shelved devices listed by status (unshelve globs match them) */

#define SUPPRESSED_MAX 16       /* suppressed alarms listed per device */

/* The alarms device d raised while shelved this time, as [{rule, type, at,
 * count, active, clearing}]: the test worked, and whether it has reset. */
static cJSON *suppressed_array(struct core *c, int d, int64_t now)
{
	cJSON *arr = cJSON_CreateArray();
	struct engine_suppressed sup[SUPPRESSED_MAX];
	int n = engine_device_suppressed(c->engine, d, sup, SUPPRESSED_MAX);
	for (int i = 0; arr && i < n; i++) {
		cJSON *so = cJSON_CreateObject();
		cJSON_AddStringToObject(so, "rule", engine_rule_id(c->engine, sup[i].rule));
		cJSON_AddStringToObject(so, "type", sup[i].type);
		add_iso(so, "at", core_wall_of(sup[i].at_ms, now));
		cJSON_AddNumberToObject(so, "count", sup[i].count);
		cJSON_AddBoolToObject(so, "active", sup[i].active);
		cJSON_AddBoolToObject(so, "clearing", sup[i].clearing);
		cJSON_AddItemToArray(arr, so);
	}
	return arr;
}

/* status: every shelved device with its expiry and what it suppressed. */
static void add_shelved_devices(struct core *c, cJSON *devs, int64_t now)
{
	cJSON *arr = cJSON_AddArrayToObject(devs, "shelved_devices");
	for (int d = 0; d < c->cfg->n_devices && cJSON_GetArraySize(arr) < SHELVE_LIST_MAX; d++) {
		int64_t until = engine_device_shelved_until(c->engine, d, now);
		if (until <= 0)
			continue;
		cJSON *so = cJSON_CreateObject();
		cJSON_AddStringToObject(so, "id", c->cfg->devices[d].id);
		add_iso(so, "until", core_wall_of(until, now));
		cJSON_AddNumberToObject(so, "left_s", (double)((until - now + 999) / 1000));
		cJSON_AddItemToObject(so, "suppressed", suppressed_array(c, d, now));
		cJSON_AddItemToArray(arr, so);
	}
}

/* The answer to a shelve: the device and when its shelve ends. */
static cJSON *shelve_answer(struct core *c, const char *device, int64_t now)
{
	int d = config_find_device(c->cfg, device);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "device", device);
	int64_t until = d >= 0 ? engine_device_shelved_until(c->engine, d, now) : 0;
	if (until > 0) {
		add_iso(o, "shelved_until", core_wall_of(until, now));
		cJSON_AddNumberToObject(o, "left_s", (double)((until - now + 999) / 1000));
	}
	return o;
}

/* The answer to an unshelve: what will still be raised, and when — a
 * condition still true starts its on-delay at the unshelve (docs/rules.md
 * §2.5), so "still in alarm: it will be raised in 30 s" can be said. */
static cJSON *unshelve_answer(struct core *c, const char *device, int64_t now)
{
	int d = config_find_device(c->cfg, device);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "device", device);
	cJSON *arr = cJSON_AddArrayToObject(o, "pending");
	struct engine_pending p[SUPPRESSED_MAX];
	int n = d >= 0 ? engine_device_pending(c->engine, d, p, SUPPRESSED_MAX) : 0;
	for (int i = 0; i < n; i++) {
		cJSON *po = cJSON_CreateObject();
		cJSON_AddStringToObject(po, "rule", engine_rule_id(c->engine, p[i].rule));
		cJSON_AddStringToObject(po, "type", p[i].type);
		int64_t in = p[i].due_ms > now ? p[i].due_ms - now : 0;
		cJSON_AddNumberToObject(po, "raise_in_s", (double)((in + 999) / 1000));
		add_iso(po, "raise_at", core_wall_of(now + in, now));
		cJSON_AddItemToArray(arr, po);
	}
	return o;
}

static cJSON *status_object(struct core *c, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	int on, off;
	core_status_counts(c, &on, &off);
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "gateway", c->cfg->gateway.id);
	cJSON_AddStringToObject(o, "version", GRIDGW_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s", (double)((now - c->started_mono) / 1000));
	cJSON_AddStringToObject(o, "uplink", c->up ? uplink_state_name(uplink_state(c->up)) : "none");
	if (c->up)
		cJSON_AddNumberToObject(o, "uplink_down_s", (double)(uplink_down_for_ms(c->up, now) / 1000));
	cJSON *devs = cJSON_AddObjectToObject(o, "devices");
	cJSON_AddNumberToObject(devs, "online", on);
	cJSON_AddNumberToObject(devs, "offline", off);
	int shelved = 0;
	cJSON *offline_ids = cJSON_AddArrayToObject(devs, "offline_ids");
	for (int d = 0; d < c->cfg->n_devices; d++) {
		if (engine_device_is_shelved(c->engine, d, now))
			shelved++;
		if (core_device_state(c, d) != 1 && cJSON_GetArraySize(offline_ids) < 50)
			cJSON_AddItemToArray(offline_ids, cJSON_CreateString(c->cfg->devices[d].id));
	}
	cJSON_AddNumberToObject(devs, "shelved", shelved);
	add_shelved_devices(c, devs, now);
	cJSON_AddNumberToObject(o, "open_incidents", (double)incidents_open_count(c->inc));
	struct severity_count sc = { { 0 } };
	if (store_each_incident(c->store, true, 1000000, count_severity, &sc) == STORE_OK) {
		cJSON *bs = cJSON_AddObjectToObject(o, "open_by_severity");
		for (int s = 1; s <= 4; s++) {
			char k[12];
			snprintf(k, sizeof k, "%d", s);
			cJSON_AddNumberToObject(bs, k, sc.n[s]);
		}
	}
	cJSON_AddNumberToObject(o, "backlog", (double)store_backlog(c->store));
	cJSON_AddNumberToObject(o, "next_seq", (double)store_next_seq(c->store));
	cJSON_AddNumberToObject(o, "store_bytes", (double)store_size_bytes(c->store));
	cJSON *buses = cJSON_AddArrayToObject(o, "buses");
	for (int b = 0; c->buses && b < c->cfg->n_buses; b++) {
		if (!c->buses[b])
			continue; /* did not start (logged) */
		struct modbus_bus_stats st;
		modbus_bus_get_stats(c->buses[b], &st);
		cJSON *bo = cJSON_CreateObject();
		cJSON_AddStringToObject(bo, "name", c->cfg->buses[b].name);
		cJSON_AddBoolToObject(bo, "link_up", st.link_up);
		cJSON_AddNumberToObject(bo, "devices", st.devices);
		cJSON_AddNumberToObject(bo, "online", st.online);
		cJSON_AddNumberToObject(bo, "requests", (double)st.requests);
		cJSON_AddNumberToObject(bo, "errors", (double)st.errors);
		cJSON_AddNumberToObject(bo, "timeouts", (double)st.timeouts);
		cJSON_AddNumberToObject(bo, "polls", (double)st.polls);
		cJSON_AddNumberToObject(bo, "late_p50_us", (double)st.late_p50_us);
		cJSON_AddNumberToObject(bo, "late_p99_us", (double)st.late_p99_us);
		cJSON_AddNumberToObject(bo, "late_max_us", (double)st.late_max_us);
		cJSON_AddItemToArray(buses, bo);
	}
	cJSON *srcs = cJSON_AddArrayToObject(o, "sources");
	for (int i = 0; c->sources && i < c->cfg->n_sources; i++) {
		if (!c->sources[i])
			continue; /* did not start (logged) */
		struct mqtt_source_stats ss;
		mqtt_source_get_stats(c->sources[i], &ss);
		cJSON *so = cJSON_CreateObject();
		cJSON_AddStringToObject(so, "name", c->cfg->sources[i].name);
		cJSON_AddBoolToObject(so, "connected", ss.connected);
		cJSON_AddNumberToObject(so, "received", (double)ss.received);
		cJSON_AddNumberToObject(so, "oversized", (double)ss.oversized);
		cJSON_AddNumberToObject(so, "lost", (double)ss.lost);
		cJSON_AddNumberToObject(so, "priority", (double)ss.priority);
		cJSON_AddNumberToObject(so, "backlog", (double)ss.backlog);
		cJSON_AddNumberToObject(so, "dropped", (double)ss.dropped);
		cJSON_AddNumberToObject(so, "dropped_priority", (double)ss.dropped_priority);
		cJSON_AddNumberToObject(so, "deferred", (double)ss.deferred);
		cJSON_AddItemToArray(srcs, so);
	}
	cJSON_AddNumberToObject(o, "messages", (double)c->messages);
	struct json_map_stats sum;
	core_source_stats(c, &sum);
	const struct json_map_stats *js = &sum;
	cJSON *mq = cJSON_AddObjectToObject(o, "mqtt_sources");
	cJSON_AddNumberToObject(mq, "messages", (double)js->messages);
	cJSON_AddNumberToObject(mq, "points", (double)js->points);
	cJSON_AddNumberToObject(mq, "malformed", (double)js->malformed);
	cJSON_AddNumberToObject(mq, "unknown_device", (double)js->unknown_device);
	cJSON_AddNumberToObject(mq, "no_device_id", (double)js->no_device_id);
	cJSON_AddNumberToObject(mq, "wrong_type", (double)js->wrong_type);
	cJSON_AddNumberToObject(mq, "oversized", (double)js->oversized);
	cJSON_AddNumberToObject(mq, "ts_rejected", (double)js->ts_rejected);
	cJSON_AddNumberToObject(mq, "stale", (double)c->source_stale);
	cJSON_AddItemToObject(o, "notify", notify_status_json(c->notify));
	core_web_add_warnings(c, o); /* `gridgw check` warnings of the running config */
	if (c->web) {
		cJSON *co = cJSON_AddObjectToObject(o, "console");
		cJSON_AddNumberToObject(co, "streams", web_stream_count(c->web));
	}
	return o;
}

/* Location as stored with the incident (JSON text), or null. */
static void add_json_text(cJSON *o, const char *key, const char *json)
{
	cJSON *v = json ? cJSON_Parse(json) : NULL;
	if (v)
		cJSON_AddItemToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *incident_object(const struct incident_row *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", r->id);
	cJSON_AddStringToObject(o, "type", r->type);
	cJSON_AddNumberToObject(o, "severity", r->severity);
	cJSON_AddStringToObject(o, "rule", r->rule);
	cJSON_AddStringToObject(o, "device", r->device);
	cJSON_AddStringToObject(o, "kind", r->kind);
	cJSON_AddBoolToObject(o, "active", r->active);
	cJSON_AddBoolToObject(o, "acked", r->acked);
	cJSON_AddStringToObject(o, "workflow", r->workflow);
	cJSON_AddNumberToObject(o, "count", r->count);
	add_iso(o, "first_ts", r->first_ms);
	add_iso(o, "ts", r->last_ms);
	cJSON_AddStringToObject(o, "message", r->message);
	add_json_text(o, "location", r->location_json);
	/* What people on site were told (gateway/notify). */
	const char *end;
	cJSON *ev = r->evidence_json ? cJSON_ParseWithLengthOpts(r->evidence_json, strlen(r->evidence_json), &end, 0) : NULL;
	cJSON *nt = ev ? cJSON_DetachItemFromObjectCaseSensitive(ev, "_notified") : NULL;
	if (cJSON_IsArray(nt))
		cJSON_AddItemToObject(o, "notified", nt);
	else
		cJSON_Delete(nt);
	/* Who the platform dispatched it to (incidents_workflow_assign). */
	const cJSON *as = ev ? cJSON_GetObjectItemCaseSensitive(ev, "_assignee") : NULL;
	if (cJSON_IsString(as))
		cJSON_AddStringToObject(o, "assignee", as->valuestring);
	else
		cJSON_AddNullToObject(o, "assignee");
	cJSON_Delete(ev);
	return o;
}

struct list_ctx {
	cJSON *arr;
	const char *device;       /* only this device's, or NULL */
	int max;
};

static int add_incident(void *ctx, const struct incident_row *r)
{
	struct list_ctx *lc = ctx;
	if (lc->device && strcmp(lc->device, r->device) != 0)
		return 0;
	cJSON_AddItemToArray(lc->arr, incident_object(r));
	return lc->max > 0 && cJSON_GetArraySize(lc->arr) >= lc->max;
}

/* Shared with `gridgw incidents` when the daemon is down (incidents_json.h). */
cJSON *incidents_list_json(struct store *s, bool open_only, int limit)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	struct list_ctx lc = { cJSON_AddArrayToObject(o, "incidents"), NULL, 0 };
	if (store_each_incident(s, open_only, limit, add_incident, &lc) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Most severe first, then newest: what a control room looks at first. */
static int by_severity_then_newest(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int sx = cJSON_GetObjectItemCaseSensitive(x, "severity")->valueint;
	int sy = cJSON_GetObjectItemCaseSensitive(y, "severity")->valueint;
	if (sx != sy)
		return sx - sy;
	const char *tx = cJSON_GetObjectItemCaseSensitive(x, "first_ts")->valuestring;
	const char *ty = cJSON_GetObjectItemCaseSensitive(y, "first_ts")->valuestring;
	return strcmp(ty, tx);
}

static cJSON *incidents_sorted(struct core *c, bool open_only, int limit)
{
	cJSON *o = incidents_list_json(c->store, open_only, limit);
	cJSON *arr = o ? cJSON_DetachItemFromObjectCaseSensitive(o, "incidents") : NULL;
	if (!arr) {
		cJSON_Delete(o);
		return NULL;
	}
	int n = cJSON_GetArraySize(arr);
	cJSON **items = calloc((size_t)n + 1, sizeof *items);
	if (!items) {
		cJSON_Delete(arr);
		cJSON_Delete(o);
		return NULL;
	}
	for (int i = n - 1; i >= 0; i--)
		items[i] = cJSON_DetachItemFromArray(arr, i);
	qsort(items, (size_t)n, sizeof *items, by_severity_then_newest);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, items[i]);
	free(items);
	cJSON_AddItemToObject(o, "incidents", arr);
	return o;
}

static void add_location(cJSON *o, const struct location *l)
{
	cJSON *lo = cJSON_AddObjectToObject(o, "location");
	if (l->building)
		cJSON_AddStringToObject(lo, "building", l->building);
	if (l->entrance)
		cJSON_AddStringToObject(lo, "entrance", l->entrance);
	if (l->has_floor)
		cJSON_AddNumberToObject(lo, "floor", l->floor);
	if (l->room)
		cJSON_AddStringToObject(lo, "room", l->room);
	if (l->place)
		cJSON_AddStringToObject(lo, "place", l->place);
}

static cJSON *device_object(struct core *c, int d, int64_t now)
{
	const struct device_config *dc = &c->cfg->devices[d];
	const struct profile *p = &c->cfg->profiles[dc->profile];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", dc->id);
	cJSON_AddStringToObject(o, "profile", p->name);
	cJSON_AddStringToObject(o, "kind", p->kind ? p->kind : "");
	if (dc->bus >= 0) {
		cJSON_AddStringToObject(o, "bus", c->cfg->buses[dc->bus].name);
		cJSON_AddNumberToObject(o, "unit", dc->unit);
	}
	if (dc->source >= 0)
		cJSON_AddStringToObject(o, "source", c->cfg->sources[dc->source].name);
	add_location(o, &dc->location);
	core_add_online(o, c, d);
	int64_t until = engine_device_shelved_until(c->engine, d, now);
	if (until > 0)
		add_iso(o, "shelved_until", time_wall_ms() + (until - now));
	else
		cJSON_AddNullToObject(o, "shelved_until");
	cJSON_AddItemToObject(o, "suppressed", suppressed_array(c, d, now));
	cJSON *pts = cJSON_AddObjectToObject(o, "points");
	const struct point_value *vals = engine_device_values(c->engine, d);
	for (int i = 0; i < p->n_points; i++) {
		cJSON *po = cJSON_AddObjectToObject(pts, p->points[i].name);
		const struct point_value *v = vals ? &vals[i] : NULL;
		if (v && v->quality != QUALITY_NEVER_READ)
			cJSON_AddNumberToObject(po, "value", v->value);
		else
			cJSON_AddNullToObject(po, "value");
		cJSON_AddStringToObject(po, "quality", quality_name(v ? v->quality : QUALITY_NEVER_READ));
		if (v && v->ts_ms > 0)
			add_iso(po, "ts", v->ts_ms);
		else
			cJSON_AddNullToObject(po, "ts");
		if (p->points[i].unit)
			cJSON_AddStringToObject(po, "unit", p->points[i].unit);
	}
	return o;
}

struct sample_ctx {
	cJSON *arr;
	bool with_point;
};

static int add_sample(void *ctx, const char *point, double value, int quality, int64_t ts_ms)
{
	struct sample_ctx *sc = ctx;
	cJSON *o = cJSON_CreateObject();
	add_iso(o, "ts", ts_ms);
	if (sc->with_point)
		cJSON_AddStringToObject(o, "point", point);
	cJSON_AddNumberToObject(o, "value", value);
	if (quality != QUALITY_GOOD)
		cJSON_AddStringToObject(o, "quality", quality_name((enum quality)quality));
	cJSON_AddItemToArray(sc->arr, o);
	return 0;
}

static int add_event(void *ctx, uint64_t seq, const char *payload)
{
	(void)seq;
	cJSON *ev = cJSON_Parse(payload);
	if (ev)
		cJSON_AddItemToArray(ctx, ev);
	return 0;
}

#define STATUS_OK 200

/* One request from the control socket or the console: *json gets the
 * answer (malloc'd; NULL only when out of memory). Returns the status. */
int core_request(struct core *c, const struct control_request *req, char **json)
{
	int64_t now = time_mono_ms();
	char err[256] = "";
	int rc = 0;
	cJSON *o = NULL;
	*json = NULL;
	switch (req->op) {
	case CONTROL_OP_STATUS:
		o = status_object(c, now);
		break;
	case CONTROL_OP_INCIDENTS:
		o = incidents_sorted(c, req->open_only, req->limit);
		if (!o) {
			rc = -503;
			snprintf(err, sizeof err, "store read failed");
		}
		break;
	case CONTROL_OP_ACK: {
		char id[27];
		rc = core_resolve_incident_id(c, req->id, id, err, sizeof err);
		if (rc == 0)
			rc = core_do_ack(c, id, req->by[0] ? req->by : "local", req->note, now, err, sizeof err);
		if (rc == 0) {
			o = cJSON_CreateObject();
			cJSON_AddTrueToObject(o, "ok");
			cJSON_AddStringToObject(o, "id", id);
		}
		break;
	}
	case CONTROL_OP_CLOSE: {
		char id[27];
		bool was_active = false;
		rc = core_do_close(c, req->id, req->workflow, req->by[0] ? req->by : "local", req->note, now, id, &was_active,
			      err, sizeof err);
		if (rc == 0) {
			o = cJSON_CreateObject();
			cJSON_AddTrueToObject(o, "ok");
			cJSON_AddStringToObject(o, "id", id);
			cJSON_AddStringToObject(o, "workflow", req->workflow[0] ? req->workflow : "closed");
			cJSON_AddBoolToObject(o, "was_active", was_active);
		}
		break;
	}
	case CONTROL_OP_SHELVE:
		rc = core_do_shelve(c, req->device, req->for_ms, now, err, sizeof err);
		if (rc == 0)
			o = shelve_answer(c, req->device, now);
		break;
	case CONTROL_OP_UNSHELVE:
		rc = core_do_unshelve(c, req->device, now, err, sizeof err);
		if (rc == 0)
			o = unshelve_answer(c, req->device, now);
		break;
	case CONTROL_OP_DEVICES: {
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON *arr = cJSON_AddArrayToObject(o, "devices");
		for (int d = 0; d < c->cfg->n_devices; d++)
			cJSON_AddItemToArray(arr, device_object(c, d, now));
		break;
	}
	case CONTROL_OP_DEVICE:
	case CONTROL_OP_READ: {
		int d = core_find_device(c, req->device, err, sizeof err);
		if (d < 0) {
			rc = -404;
			break;
		}
		cJSON *dev = device_object(c, d, now);
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		if (req->op == CONTROL_OP_DEVICE) {
			struct list_ctx lc = { cJSON_AddArrayToObject(dev, "incidents"), req->device, 50 };
			if (store_each_incident(c->store, false, 5000, add_incident, &lc) < 0)
				log_warn("control", "incidents of %s: store read failed", req->device);
		} else {
			/* The values as the core last had them from the bus or source. */
			add_iso(dev, "read_at", time_wall_ms());
		}
		cJSON_AddItemToObject(o, "device", dev);
		break;
	}
	case CONTROL_OP_HISTORY: {
		int d = core_find_device(c, req->device, err, sizeof err);
		if (d < 0) {
			rc = -404;
			break;
		}
		const struct profile *p = &c->cfg->profiles[c->cfg->devices[d].profile];
		if (req->point[0] && config_find_point(p, req->point) < 0) {
			snprintf(err, sizeof err, "device '%s' has no point '%s'", req->device, req->point);
			rc = -404;
			break;
		}
		int64_t since = req->since_ms ? req->since_ms : time_wall_ms() - CONTROL_HISTORY_SPAN_MS;
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddStringToObject(o, "device", req->device);
		if (req->point[0])
			cJSON_AddStringToObject(o, "point", req->point);
		else
			cJSON_AddNullToObject(o, "point");
		add_iso(o, "since", since);
		cJSON_AddNumberToObject(o, "interval_s", (double)(c->cfg->store.history_interval_ms / 1000));
		struct sample_ctx sc = { cJSON_AddArrayToObject(o, "samples"), req->point[0] == '\0' };
		if (store_each_reading(c->store, req->device, req->point, since, req->limit, add_sample, &sc) != STORE_OK) {
			cJSON_Delete(o);
			o = NULL;
			rc = -503;
			snprintf(err, sizeof err, "store read failed");
		}
		break;
	}
	case CONTROL_OP_INCIDENT: {
		struct incident_row row;
		char id[27];
		rc = core_resolve_incident_id(c, req->id, id, err, sizeof err);
		if (rc < 0)
			break;
		int sr = store_get_incident(c->store, id, &row);
		if (sr == STORE_ERR_NOTFOUND) {
			snprintf(err, sizeof err, "no incident '%s'", req->id);
			rc = -404;
			break;
		}
		if (sr != STORE_OK) {
			snprintf(err, sizeof err, "store read failed");
			rc = -503;
			break;
		}
		cJSON *inc = incident_object(&row);
		add_json_text(inc, "evidence", row.evidence_json);
		incident_row_free_json(&row);
		cJSON *evs = cJSON_AddArrayToObject(inc, "events");
		if (store_each_event_of(c->store, id, 500, add_event, evs) != STORE_OK)
			log_warn("control", "timeline of %s: store read failed", id);
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddItemToObject(o, "incident", inc);
		break;
	}
	case CONTROL_OP_NOTIFY_TEST:
		/* Answered asynchronously, when the API has answered: only the
		 * control socket path (core_handle_control) can wait for it. */
		snprintf(err, sizeof err, "notify test is not available on this path");
		rc = -501;
		break;
	case CONTROL_OP_LIVE_READ:
		/* Waits for the bus thread: core_handle_control / the console's
		 * read route (console.c) take it before this switch. */
		snprintf(err, sizeof err, "a live read is not available on this path");
		rc = -501;
		break;
	}
	if (rc < 0) {
		*json = core_error_text(err[0] ? err : "request failed");
		return -rc;
	}
	if (!o)
		o = cJSON_Parse("{\"ok\":true}");
	*json = core_print_free(o);
	return STATUS_OK;
}

/* Answers control connection conn with json (freed). */
static void reply_text(struct core *c, uint64_t conn, char *json)
{
	char *oom = json ? NULL : core_error_text("out of memory");
	if (control_reply(c->ctl, conn, json ? json : oom ? oom : "{\"ok\":false}") != 0)
		log_debug("control", "client %llu gone before its answer", (unsigned long long)conn);
	free(json);
	free(oom);
}

/* A sender's answer: a `notify test` (token = its control connection) or
 * the outcome of jobs. */
void core_notify_result(struct core *c, const struct notify_result *r)
{
	if (!r->token) {
		notify_handle_result(c->notify, c->inc, r, time_wall_ms());
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", r->ok);
	cJSON_AddStringToObject(o, "channel", r->channel);
	cJSON_AddNumberToObject(o, "status", (double)r->status);
	if (!r->ok)
		cJSON_AddStringToObject(o, "error", r->error[0] ? r->error : "failed");
	cJSON_AddStringToObject(o, "answer", r->answer);
	if (r->token & CORE_WEB_TOKEN) {
		uint64_t slot = r->token & ~CORE_WEB_TOKEN;
		char *text = core_print_free(o);
		if (slot < sizeof c->web_notify / sizeof c->web_notify[0] && c->web_notify[slot]) {
			web_call_answer(c->web_notify[slot], r->ok ? 200 : 502, text ? text : "{\"ok\":false}");
			c->web_notify[slot] = NULL;
		}
		free(text);
		return;
	}
	reply_text(c, r->token, core_print_free(o));
}

/* `notify test` waits for the channel's API (core_notify_result answers). */
static void notify_test_request(struct core *c, uint64_t conn, const struct control_request *req)
{
	int rc = notify_test(c->notify, req->channel, conn);
	if (rc == 0)
		return;
	char err[256];
	snprintf(err, sizeof err, rc == -ENOENT ? "no notify channel named \"%s\"" :
		 rc == -ENODEV ? "no notify channels configured%.0s" : "cannot send a test on %s now", req->channel);
	reply_text(c, conn, core_error_text(err));
}

void core_handle_control(void *ctx, uint64_t conn, const struct control_request *req)
{
	struct core *c = ctx;
	if (req->op == CONTROL_OP_NOTIFY_TEST) {
		notify_test_request(c, conn, req);
		return;
	}
	if (req->op == CONTROL_OP_LIVE_READ) {
		core_control_live_read(c, conn, req); /* answered when the bus thread has read the device */
		return;
	}
	char *json = NULL;
	core_request(c, req, &json);
	reply_text(c, conn, json);
}
