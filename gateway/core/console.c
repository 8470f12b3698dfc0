/* console — the web console's requests, and what the core hands to it.
 *
 * Requests are answered through core_request (local.c) like the control
 * socket's, except a live read (the bus thread reads the device) and a
 * `notify test` (the channel's API answers), which wait.
 *
 * Live events go to the console only once committed: incident events are
 * read back from the outbox after the iteration's COMMIT (so the console
 * shows exactly what the platform gets, seq included, and never an event a
 * rollback took back); device online/offline changes of the iteration are
 * collected and handed over at the same point. web_publish is the one hook. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/notify/notify.h"
#include "gateway/store/store.h"
#include "gateway/web/web.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/decode.h"
#include "sensors/modbus_bus.h"
#include "sensors/modbus_link.h"
#include "sensors/read_json.h"

static void publish_device(struct core *c, const char *id, bool online)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddBoolToObject(o, "online", online);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s)
		web_publish(c->web, "device", s);
	cJSON_free(s);
}

void core_web_device_changed(struct core *c, const char *id, bool online)
{
	if (!c->web)
		return;
	if (c->n_web_dev == (int)(sizeof c->web_dev / sizeof c->web_dev[0])) {
		/* A burst (a whole bus going down): hand over what is held now. */
		for (int i = 0; i < c->n_web_dev; i++)
			publish_device(c, c->web_dev[i].id, c->web_dev[i].online);
		c->n_web_dev = 0;
	}
	snprintf(c->web_dev[c->n_web_dev].id, sizeof c->web_dev[0].id, "%s", id);
	c->web_dev[c->n_web_dev].online = online;
	c->n_web_dev++;
}

static int publish_event(void *ctx, uint64_t seq, const char *payload)
{
	struct core *c = ctx;
	web_publish(c->web, "incident", payload);
	c->web_seq = seq;
	return 0;
}

void core_web_after_commit(struct core *c)
{
	if (!c->web)
		return;
	for (int i = 0; i < c->n_web_dev; i++)
		publish_device(c, c->web_dev[i].id, c->web_dev[i].online);
	c->n_web_dev = 0;
	uint64_t last = store_last_seq(c->store);
	/* Bounded: a burst bigger than this is handed over in later iterations. */
	for (int round = 0; c->web_seq < last && round < 8; round++) {
		int n = store_each_event_after(c->store, c->web_seq, 256, publish_event, c);
		if (n <= 0) {
			if (n < 0)
				log_debug("console", "live events not read: %s", store_err_name(n));
			c->web_seq = last; /* pruned or unreadable: do not retry forever */
			break;
		}
	}
}

/* ---- live reads (installer) ---------------------------------------------
 *
 * The daemon is the only master on each line, so a live read cannot open
 * the bus itself the way `gridgw read` does: the device's own bus thread
 * runs it between two polls. The console's call waits here, in a slot,
 * until the bus answers (MSG_READ_RESULT with the slot's token) or the
 * deadline passes. Tokens only grow, so a late answer to a slot that was
 * reused finds nobody and is dropped. */

/* Who waits for a live read: a console call, or a control connection. */
struct read_waiter {
	struct web_call *call;
	uint64_t conn;
};

/* Answers the waiter with o (freed). A control client has no HTTP status:
 * a failure carries it as "status" so `gridgw read` can word it. */
static void answer_text(struct core *c, struct read_waiter w, int status, cJSON *o)
{
	if (o && w.conn && status != 200)
		cJSON_AddNumberToObject(o, "status", status);
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	const char *oom = "{\"ok\":false,\"error\":\"out of memory\",\"status\":503}";
	if (w.call)
		web_call_answer(w.call, s ? status : 503, s ? s : oom);
	else if (c->ctl && control_reply(c->ctl, w.conn, s ? s : oom) != 0)
		log_debug("control", "client %llu gone before its live read", (unsigned long long)w.conn);
	cJSON_free(s);
}

static void answer_error(struct core *c, struct read_waiter w, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	answer_text(c, w, status, o);
}

static struct read_waiter slot_waiter(const struct core_web_read *wr)
{
	return (struct read_waiter){ wr->call, wr->conn };
}

static bool slot_busy(const struct core_web_read *wr)
{
	return wr->call || wr->conn;
}

static void add_iso_ts(cJSON *o, const char *key, int64_t wall_ms)
{
	char ts[32];
	time_format_iso(wall_ms, ts, sizeof ts);
	cJSON_AddStringToObject(o, key, ts);
}

/* The bus's answer in the shape of `gridgw read --json`, plus what the
 * console shows around it. 200 when a point was read, else 502 with the
 * first reason in "error". */
static int read_result_json(struct core *c, const struct modbus_read_result *r, cJSON **out)
{
	const struct device_config *dc = &c->cfg->devices[r->device];
	const struct profile *p = &c->cfg->profiles[dc->profile];
	const struct bus_config *bus = &c->cfg->buses[dc->bus];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", r->good > 0);
	cJSON_AddTrueToObject(o, "live");
	cJSON_AddStringToObject(o, "device", dc->id);
	cJSON_AddStringToObject(o, "profile", p->name);
	cJSON_AddStringToObject(o, "bus", bus->name);
	cJSON_AddNumberToObject(o, "unit", r->unit);
	core_add_online(o, c, r->device);
	add_iso_ts(o, "ts", r->ts_ms);
	cJSON_AddNumberToObject(o, "elapsed_ms", (double)(r->elapsed_us / 1000));
	cJSON_AddNumberToObject(o, "requests", r->requests);
	cJSON_AddNumberToObject(o, "good", r->good);
	cJSON_AddNumberToObject(o, "points_total", r->n_points);
	cJSON *pts = cJSON_AddArrayToObject(o, "points");
	char first[256] = "";
	for (int i = 0; i < r->n_points && i < p->n_points; i++) {
		const struct modbus_read_point *rp = &r->points[i];
		char why[256];
		if (!rp->read_ok) {
			read_explain(bus, r->unit, bus->timeout_ms > 0 ? bus->timeout_ms : 500, rp->error, why, sizeof why);
			if (!first[0])
				snprintf(first, sizeof first, "%s", why);
		}
		cJSON_AddItemToArray(pts, read_point_json(&p->points[i], rp, rp->read_ok ? NULL : why));
	}
	if (r->good == 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s%s", core_device_state(c, r->device) == 0 ? "device offline: " : "",
			 first[0] ? first : "no point could be decoded");
		cJSON_AddStringToObject(o, "error", msg);
	}
	*out = o;
	return r->good > 0 ? 200 : 502;
}

/* An MQTT device has no registers and no master to ask: its last message's
 * values, said so. */
static void read_mqtt_device(struct core *c, struct read_waiter w, int d)
{
	const struct device_config *dc = &c->cfg->devices[d];
	const struct profile *p = &c->cfg->profiles[dc->profile];
	const struct point_value *vals = engine_device_values(c->engine, d);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddFalseToObject(o, "live");
	cJSON_AddStringToObject(o, "device", dc->id);
	cJSON_AddStringToObject(o, "profile", p->name);
	if (dc->source >= 0)
		cJSON_AddStringToObject(o, "source", c->cfg->sources[dc->source].name);
	core_add_online(o, c, d);
	add_iso_ts(o, "ts", time_wall_ms());
	cJSON_AddStringToObject(o, "note", "MQTT device: the values of its last received message, no registers to read");
	cJSON *pts = cJSON_AddArrayToObject(o, "points");
	int64_t newest = 0;
	int good = 0;
	for (int i = 0; i < p->n_points; i++) {
		const struct point_value *v = vals ? &vals[i] : NULL;
		enum quality q = v ? v->quality : QUALITY_NEVER_READ;
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "name", p->points[i].name);
		if (q != QUALITY_NEVER_READ)
			cJSON_AddNumberToObject(j, "value", v->value);
		else
			cJSON_AddNullToObject(j, "value");
		if (p->points[i].unit)
			cJSON_AddStringToObject(j, "unit", p->points[i].unit);
		cJSON_AddStringToObject(j, "quality", quality_name(q));
		if (p->points[i].json)
			cJSON_AddStringToObject(j, "json", p->points[i].json);
		if (v && v->ts_ms > 0) {
			add_iso_ts(j, "ts", v->ts_ms);
			if (v->ts_ms > newest)
				newest = v->ts_ms;
		}
		good += q == QUALITY_GOOD;
		cJSON_AddItemToArray(pts, j);
	}
	cJSON_AddNumberToObject(o, "good", good);
	cJSON_AddNumberToObject(o, "points_total", p->n_points);
	if (newest > 0)
		add_iso_ts(o, "last_message_ts", newest);
	else
		cJSON_AddNullToObject(o, "last_message_ts");
	answer_text(c, w, 200, o);
}

/* Starts the live read of device_id for w: answered at once (unknown
 * device, MQTT device, nothing free) or when the bus answers. */
static void live_read_start(struct core *c, struct read_waiter w, const char *device_id)
{
	int d = config_find_device(c->cfg, device_id);
	char msg[192];
	if (d < 0) {
		snprintf(msg, sizeof msg, "no device '%s'", device_id);
		answer_error(c, w, 404, msg);
		return;
	}
	const struct device_config *dc = &c->cfg->devices[d];
	if (c->cfg->profiles[dc->profile].is_mqtt || dc->bus < 0) {
		read_mqtt_device(c, w, d);
		return;
	}
	struct modbus_bus *bus = c->buses ? c->buses[dc->bus] : NULL;
	size_t slot = 0, n = sizeof c->web_reads / sizeof c->web_reads[0];
	while (slot < n && slot_busy(&c->web_reads[slot]))
		slot++;
	if (!bus || slot == n) {
		snprintf(msg, sizeof msg, !bus ? "bus %s is not running" : "too many live reads at once; try again",
			 c->cfg->buses[dc->bus].name);
		answer_error(c, w, 503, msg);
		return;
	}
	uint64_t token = ++c->web_read_seq;
	int rc = modbus_bus_read(bus, d, token);
	if (rc != 0) {
		snprintf(msg, sizeof msg, rc == -EAGAIN ? "bus %s has too many live reads waiting; try again"
							 : "bus %s is stopping", c->cfg->buses[dc->bus].name);
		answer_error(c, w, 503, msg);
		return;
	}
	struct core_web_read *wr = &c->web_reads[slot];
	wr->call = w.call;
	wr->conn = w.conn;
	wr->token = token;
	wr->deadline_ms = time_mono_ms() + CORE_READ_TIMEOUT_MS;
	snprintf(wr->device, sizeof wr->device, "%s", dc->id);
}

void core_web_read(struct core *c, struct web_call *call)
{
	live_read_start(c, (struct read_waiter){ call, 0 }, web_call_request(call)->device);
}

void core_control_live_read(struct core *c, uint64_t conn, const struct control_request *req)
{
	live_read_start(c, (struct read_waiter){ NULL, conn }, req->device);
}

static void slot_free(struct core_web_read *wr)
{
	wr->call = NULL;
	wr->conn = 0;
}

void core_web_read_result(struct core *c, struct core_msg *m)
{
	struct modbus_read_result *r = (struct modbus_read_result *)(void *)m->u.blob.data;
	uint64_t token = (uint64_t)m->u.blob.a;
	for (size_t i = 0; r && i < sizeof c->web_reads / sizeof c->web_reads[0]; i++) {
		struct core_web_read *wr = &c->web_reads[i];
		if (!slot_busy(wr) || wr->token != token)
			continue;
		/* A reload between request and answer may have renumbered devices. */
		if (r->device < 0 || r->device >= c->cfg->n_devices || strcmp(c->cfg->devices[r->device].id, wr->device) != 0 ||
		    c->cfg->devices[r->device].bus < 0) {
			answer_error(c, slot_waiter(wr), 503, "the configuration was reloaded during the read; read again");
		} else {
			cJSON *o = NULL;
			int status = read_result_json(c, r, &o);
			if (wr->conn)
				log_info("control", "live read of %s for gridgw read: %d of %d points good, %d requests", wr->device,
					 r->good, r->n_points, r->requests);
			answer_text(c, slot_waiter(wr), status, o);
		}
		slot_free(wr);
		break;
	}
	free(r);
	m->u.blob.data = NULL;
}

void core_web_tick(struct core *c, int64_t now)
{
	for (size_t i = 0; i < sizeof c->web_reads / sizeof c->web_reads[0]; i++) {
		struct core_web_read *wr = &c->web_reads[i];
		if (!slot_busy(wr) || now < wr->deadline_ms)
			continue;
		char msg[192];
		snprintf(msg, sizeof msg, "no answer from the bus thread within %d s (the bus is busy or its link is stuck)",
			 CORE_READ_TIMEOUT_MS / 1000);
		log_warn("console", "live read of %s: %s", wr->device, msg);
		answer_error(c, slot_waiter(wr), 504, msg);
		slot_free(wr);
	}
}

void core_web_read_abandon(struct core *c)
{
	for (size_t i = 0; i < sizeof c->web_reads / sizeof c->web_reads[0]; i++) {
		if (slot_busy(&c->web_reads[i]))
			answer_error(c, slot_waiter(&c->web_reads[i]), 503, "the gateway is stopping");
		slot_free(&c->web_reads[i]);
	}
}

void core_web_abandon(struct core *c)
{
	core_web_read_abandon(c);
	for (size_t i = 0; i < sizeof c->web_notify / sizeof c->web_notify[0]; i++) {
		if (c->web_notify[i])
			web_call_answer(c->web_notify[i], 503, "{\"ok\":false,\"error\":\"the gateway is stopping\"}");
		c->web_notify[i] = NULL;
	}
}

/* The console's `notify test`: held until the channel's API answered. */
static void web_notify_request(struct core *c, struct web_call *call)
{
	const struct control_request *req = web_call_request(call);
	size_t slot = 0, n = sizeof c->web_notify / sizeof c->web_notify[0];
	while (slot < n && c->web_notify[slot])
		slot++;
	if (slot == n) {
		web_call_answer(call, 503, "{\"ok\":false,\"error\":\"too many notify tests at once\"}");
		return;
	}
	int rc = notify_test(c->notify, req->channel, CORE_WEB_TOKEN | slot);
	if (rc == 0) {
		c->web_notify[slot] = call;
		return;
	}
	char err[256];
	snprintf(err, sizeof err, rc == -ENOENT ? "no notify channel named \"%s\"" :
		 rc == -ENODEV ? "no notify channels configured%.0s" : "cannot send a test on %s now", req->channel);
	char *text = core_error_text(err);
	web_call_answer(call, rc == -ENOENT || rc == -ENODEV ? 404 : 409, text ? text : "{\"ok\":false}");
	free(text);
}

void core_handle_web(struct core *c, struct web_call *call)
{
	if (web_call_request(call)->op == CONTROL_OP_NOTIFY_TEST) {
		web_notify_request(c, call);
		return;
	}
	if (web_call_request(call)->op == CONTROL_OP_READ) {
		core_web_read(c, call); /* answered when the bus thread has read the device */
		return;
	}
	char *json = NULL;
	int status = core_request(c, web_call_request(call), &json);
	web_call_answer(call, json ? status : 503, json ? json : "{\"ok\":false,\"error\":\"out of memory\"}");
	free(json);
}

/* ---- the running configuration's warnings (commissioning page) ---- */

void core_web_keep_warnings(struct core *c, const struct config_errors *errs)
{
	free(c->cfg_warnings);
	c->cfg_warnings = NULL;
	if (!errs)
		return;
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; arr && i < errs->n_warnings; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(errs->warnings[i]));
	char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	c->cfg_warnings = s ? strdup(s) : NULL;
	cJSON_free(s);
}

void core_web_add_warnings(struct core *c, cJSON *status)
{
	const char *end = NULL;
	cJSON *arr = c->cfg_warnings ? cJSON_ParseWithLengthOpts(c->cfg_warnings, strlen(c->cfg_warnings), &end, 0) : NULL;
	if (!arr)
		arr = cJSON_CreateArray();
	cJSON_AddItemToObject(status, "config_warnings", arr);
}
