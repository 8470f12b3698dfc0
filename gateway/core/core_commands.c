/* core_commands — commands into the core: the platform's (P/G/cmd, parsed
 * by command.c, answered on P/G/cmd/result, remembered in the store so a
 * replayed `req` is answered again without being applied twice) and the
 * local control socket's (`gridgw status|incidents|ack|shelve|unshelve`). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/uplink/command.h"
#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "common/log.h"
#include "gateway/uplink/outbox.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "gateway/uplink/uplink.h"
#include "sensors/modbus_bus.h"
#include "sensors/mqtt_source.h"

void core_answer_platform(struct core *c, const char *req, bool ok, const char *error)
{
	char buf[512];
	if (command_result_json(req, ok, error, buf, sizeof buf) < 0)
		return;
	if (req[0]) {
		int rc = store_put_command_result(c->store, req, buf);
		if (rc != STORE_OK)
			log_warn("command", "result of %s not stored (%s): a replay would be applied again", req,
				 store_err_name(rc));
	}
	/* Published after the iteration's commit (core_publish_results): an
	 * answer the platform sees is one the store remembers for a replay. */
	if (c->n_results < CORE_MAX_RESULTS) {
		struct pending_result *p = &c->results[c->n_results++];
		snprintf(p->req, sizeof p->req, "%s", req);
		p->ok = ok;
		snprintf(p->error, sizeof p->error, "%s", ok || !error ? "" : error);
	} else if (c->up && uplink_publish_result(c->up, req, ok, error) != 0) {
		log_warn("command", "result of %s not published (uplink down); the platform may replay it", req);
	}
	if (ok)
		log_info("command", "%s: ok", req);
	else
		log_warn("command", "%s: refused: %s", req, error);
}

void core_publish_results(struct core *c)
{
	for (int i = 0; i < c->n_results; i++) {
		const struct pending_result *p = &c->results[i];
		if (c->up && uplink_publish_result(c->up, p->req, p->ok, p->ok ? NULL : p->error) != 0)
			log_warn("command", "result of %s not published (uplink down); the platform may replay it",
				 p->req);
	}
	c->n_results = 0;
}

void core_write_result(struct core *c, const struct core_msg *m, int64_t now)
{
	core_write_result_pending(c, m, now, core_answer_platform);
}

static int find_device(struct core *c, const char *id, char *err, size_t errlen)
{
	int d = config_find_device(c->cfg, id);
	if (d < 0)
		snprintf(err, errlen, "unknown device '%s'", id);
	return d;
}

/* Acknowledge: the incident records who/why; the engine moves the alarm
 * state, and its OUT_ACKED output becomes the one `acked` event. */
static int do_ack(struct core *c, const char *id, const char *by, const char *note, int64_t now, char *err,
		  size_t errlen)
{
	char key[ENGINE_KEY_MAX] = "";
	int rc = incidents_ack(c->inc, id, by, note, time_wall_ms(), key, sizeof key);
	if (rc < 0) {
		snprintf(err, errlen, rc == -ENOENT ? "no open incident '%s'" : "incident '%s' cannot be acknowledged",
			 id);
		return -1;
	}
	if (key[0] && engine_ack(c->engine, key, now) < 0)
		log_debug("command", "ack %s: alarm %s already normal in the engine", id, key);
	return 0;
}

static int do_shelve(struct core *c, const char *device, int64_t for_ms, int64_t now, char *err, size_t errlen)
{
	int d = find_device(c, device, err, errlen);
	if (d < 0)
		return -1;
	if (engine_shelve_device(c->engine, d, now + for_ms, now) < 0) {
		snprintf(err, errlen, "cannot shelve '%s'", device);
		return -1;
	}
	char dur[32];
	duration_format(for_ms, dur, sizeof dur);
	log_info("command", "device %s shelved for %s", device, dur);
	return 0;
}

static int do_unshelve(struct core *c, const char *device, int64_t now, char *err, size_t errlen)
{
	int d = find_device(c, device, err, errlen);
	if (d < 0)
		return -1;
	if (engine_unshelve_device(c->engine, d, now) < 0) {
		snprintf(err, errlen, "device '%s' is not shelved", device);
		return -1;
	}
	log_info("command", "device %s unshelved", device);
	return 0;
}

/* incident.workflow moves one legal step at a time; incident.close
 * (any_state) closes from any open state — the platform's verdict. When
 * the incident ends, the engine learns that the next raise is a new one. */
static int do_workflow(struct core *c, const struct command *cmd, const char *to, bool any_state, int64_t now,
		       char *err, size_t errlen)
{
	const char *key = incidents_key_of(c->inc, cmd->incident);
	char keycopy[ENGINE_KEY_MAX];
	snprintf(keycopy, sizeof keycopy, "%s", key ? key : "");
	int rc = any_state ? incidents_close(c->inc, cmd->incident, to, cmd->by, cmd->note, time_wall_ms(), err, errlen)
			   : incidents_workflow(c->inc, cmd->incident, to, cmd->by, cmd->note, time_wall_ms(), err, errlen);
	if (rc < 0)
		return -1;
	if (keycopy[0] && (strcmp(to, "closed") == 0 || strcmp(to, "false_alarm") == 0))
		engine_incident_closed(c->engine, keycopy, now);
	return 0;
}

/* point.write: only points the config marks remote_write; answered when the
 * bus reports the write's result (core_write_result). */
static int do_point_write(struct core *c, const struct command *cmd, char *err, size_t errlen)
{
	int d = find_device(c, cmd->device, err, errlen);
	if (d < 0)
		return -1;
	const struct profile *p = &c->cfg->profiles[c->cfg->devices[d].profile];
	int pt = config_find_point(p, cmd->point);
	if (pt < 0) {
		snprintf(err, errlen, "device '%s' has no point '%s'", cmd->device, cmd->point);
		return -1;
	}
	if (!p->points[pt].remote_write) {
		snprintf(err, errlen, "point '%s' is not remote_write", cmd->point);
		return -1;
	}
	if (c->cfg->devices[d].bus < 0) {
		snprintf(err, errlen, "device '%s' is not on a Modbus bus", cmd->device);
		return -1;
	}
	int rc = core_start_write(c, d, pt, cmd->value, cmd->req, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "write not queued: %s", strerror(-rc));
		return -1;
	}
	return 1; /* answered later */
}

static int apply_command(struct core *c, const struct command *cmd, int64_t now, char *err, size_t errlen)
{
	switch (cmd->op) {
	case CMD_INCIDENT_ACK:
		return do_ack(c, cmd->incident, cmd->by, cmd->note, now, err, errlen);
	case CMD_INCIDENT_WORKFLOW:
		return do_workflow(c, cmd, cmd->workflow, false, now, err, errlen);
	case CMD_INCIDENT_CLOSE:
		return do_workflow(c, cmd, cmd->workflow[0] ? cmd->workflow : "closed", true, now, err, errlen);
	case CMD_DEVICE_SHELVE:
		return do_shelve(c, cmd->device, cmd->for_ms, now, err, errlen);
	case CMD_DEVICE_UNSHELVE:
		return do_unshelve(c, cmd->device, now, err, errlen);
	case CMD_POINT_WRITE:
		return do_point_write(c, cmd, err, errlen);
	case CMD_GATEWAY_RESYNC:
		if (incidents_resync(c->inc, time_wall_ms()) < 0) {
			snprintf(err, errlen, "resync failed: store unavailable");
			return -1;
		}
		return 0;
	case CMD_GATEWAY_STATUS: {
		int on, off;
		core_status_counts(c, &on, &off);
		struct status_counts sc = { on, off, (int)incidents_open_count(c->inc), store_backlog(c->store) };
		if (c->up)
			uplink_force_status(c->up, &sc, now);
		return 0;
	}
	case CMD_NONE:
		break;
	}
	snprintf(err, errlen, "unknown op");
	return -1;
}

void core_handle_platform_command(struct core *c, const char *json, size_t len, int64_t now)
{
	struct command cmd;
	char err[256] = "";
	if (command_parse(json, len, &cmd, err, sizeof err) != 0) {
		core_answer_platform(c, cmd.req, false, err);
		return;
	}
	char *prev = NULL;
	if (store_get_command_result(c->store, cmd.req, &prev) == STORE_OK) {
		/* A replay: answer what was answered, apply nothing. */
		log_info("command", "%s: replayed; answering the stored result", cmd.req);
		cJSON *j = cJSON_ParseWithLength(prev, strlen(prev));
		const cJSON *ok = j ? cJSON_GetObjectItemCaseSensitive(j, "ok") : NULL;
		const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
		if (c->up)
			uplink_publish_result(c->up, cmd.req, cJSON_IsTrue(ok), cJSON_IsString(e) ? e->valuestring : NULL);
		cJSON_Delete(j);
		free(prev);
		return;
	}
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		if (c->writes[i].used && strcmp(c->writes[i].cmd_req, cmd.req) == 0) {
			/* A replay of a point.write still executing: its answer follows. */
			log_info("command", "%s: replayed while still executing; answered when done", cmd.req);
			return;
		}
	}
	log_info("command", "%s: %s from the platform", cmd.req, command_op_name(cmd.op));
	int rc = apply_command(c, &cmd, now, err, sizeof err);
	if (rc == 0)
		core_answer_platform(c, cmd.req, true, NULL);
	else if (rc < 0)
		core_answer_platform(c, cmd.req, false, err);
}

/* --- control socket --------------------------------------------------- */

static void reply_error(struct core *c, uint64_t conn, const char *error)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", error);
	char *s = cJSON_PrintUnformatted(o);
	if (s)
		control_reply(c->ctl, conn, s);
	free(s);
	cJSON_Delete(o);
}

static void reply_json(struct core *c, uint64_t conn, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	if (s)
		control_reply(c->ctl, conn, s);
	else
		reply_error(c, conn, "out of memory");
	free(s);
	cJSON_Delete(o);
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
		if (!(c->comm && c->comm[d] == 1) && cJSON_GetArraySize(offline_ids) < 50)
			cJSON_AddItemToArray(offline_ids, cJSON_CreateString(c->cfg->devices[d].id));
	}
	cJSON_AddNumberToObject(devs, "shelved", shelved);
	cJSON_AddNumberToObject(o, "open_incidents", (double)incidents_open_count(c->inc));
	cJSON_AddNumberToObject(o, "backlog", (double)store_backlog(c->store));
	cJSON_AddNumberToObject(o, "next_seq", (double)store_next_seq(c->store));
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
		cJSON_AddNumberToObject(bo, "late_p99_us", (double)st.late_p99_us);
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
		cJSON_AddItemToArray(srcs, so);
	}
	cJSON_AddNumberToObject(o, "messages", (double)c->messages);
	const struct json_map_stats *js = &c->source_stats;
	cJSON *mq = cJSON_AddObjectToObject(o, "mqtt_sources");
	cJSON_AddNumberToObject(mq, "messages", (double)js->messages);
	cJSON_AddNumberToObject(mq, "points", (double)js->points);
	cJSON_AddNumberToObject(mq, "malformed", (double)js->malformed);
	cJSON_AddNumberToObject(mq, "unknown_device", (double)js->unknown_device);
	cJSON_AddNumberToObject(mq, "no_device_id", (double)js->no_device_id);
	cJSON_AddNumberToObject(mq, "wrong_type", (double)js->wrong_type);
	cJSON_AddNumberToObject(mq, "oversized", (double)js->oversized);
	cJSON_AddNumberToObject(mq, "ts_rejected", (double)js->ts_rejected);
	return o;
}

struct list_ctx {
	cJSON *arr;
};

static int add_incident(void *ctx, const struct incident_row *r)
{
	struct list_ctx *lc = ctx;
	cJSON *o = cJSON_CreateObject();
	char ts[32];
	cJSON_AddStringToObject(o, "id", r->id);
	cJSON_AddStringToObject(o, "type", r->type);
	cJSON_AddNumberToObject(o, "severity", r->severity);
	cJSON_AddStringToObject(o, "rule", r->rule);
	cJSON_AddStringToObject(o, "device", r->device);
	cJSON_AddBoolToObject(o, "active", r->active);
	cJSON_AddBoolToObject(o, "acked", r->acked);
	cJSON_AddStringToObject(o, "workflow", r->workflow);
	cJSON_AddNumberToObject(o, "count", r->count);
	time_format_iso(r->first_ms, ts, sizeof ts);
	cJSON_AddStringToObject(o, "first_ts", ts);
	time_format_iso(r->last_ms, ts, sizeof ts);
	cJSON_AddStringToObject(o, "ts", ts);
	cJSON_AddStringToObject(o, "message", r->message);
	cJSON_AddItemToArray(lc->arr, o);
	return 0;
}

/* Shared with `gridgw incidents` when the daemon is down (cmd_local.c). */
cJSON *incidents_list_json(struct store *s, bool open_only, int limit)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	struct list_ctx lc = { cJSON_AddArrayToObject(o, "incidents") };
	if (store_each_incident(s, open_only, limit, add_incident, &lc) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void core_handle_control(void *ctx, uint64_t conn, const struct control_request *req)
{
	struct core *c = ctx;
	int64_t now = time_mono_ms();
	char err[256] = "";
	switch (req->op) {
	case CONTROL_OP_STATUS:
		reply_json(c, conn, status_object(c, now));
		return;
	case CONTROL_OP_INCIDENTS: {
		cJSON *o = incidents_list_json(c->store, req->open_only, req->limit);
		if (o)
			reply_json(c, conn, o);
		else
			reply_error(c, conn, "store read failed");
		return;
	}
	case CONTROL_OP_ACK:
		if (do_ack(c, req->id, req->by[0] ? req->by : "local", req->note, now, err, sizeof err) < 0)
			break;
		reply_json(c, conn, cJSON_Parse("{\"ok\":true}"));
		return;
	case CONTROL_OP_SHELVE:
		if (do_shelve(c, req->device, req->for_ms, now, err, sizeof err) < 0)
			break;
		reply_json(c, conn, cJSON_Parse("{\"ok\":true}"));
		return;
	case CONTROL_OP_UNSHELVE:
		if (do_unshelve(c, req->device, now, err, sizeof err) < 0)
			break;
		reply_json(c, conn, cJSON_Parse("{\"ok\":true}"));
		return;
	}
	reply_error(c, conn, err[0] ? err : "unknown request");
}
