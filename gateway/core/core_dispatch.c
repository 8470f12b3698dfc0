/* core_dispatch — what the core thread does with each queued message, with
 * the rule engine's outputs (incidents and local actions), and with its
 * timers (telemetry, status, pruning, the uplink-down incident, the
 * watchdog). See core.h; all of it runs on the core thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "common/log.h"
#include "gateway/uplink/outbox.h"
#include "gateway/core/sdnotify.h"
#include "gateway/store/store.h"
#include "gateway/uplink/telemetry.h"
#include "common/timeutil.h"
#include "gateway/uplink/uplink.h"
#include "sensors/json_map.h"
#include "sensors/modbus_bus.h"
#include "sensors/mqtt_source.h"

#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define STATUS_EVERY_MS 1000
#define ENGINE_DRAIN 64

static void device_comm(struct core *c, int device, bool ok, int64_t now)
{
	if (device < 0 || device >= c->cfg->n_devices)
		return;
	if (ok)
		c->last_good_mono[device] = now;
	if (c->comm[device] == (int8_t)ok)
		return;
	c->comm[device] = (int8_t)ok;
	log_info("core", "device %s %s", c->cfg->devices[device].id, ok ? "online" : "offline");
	engine_device_online(c->engine, device, ok, now);
	core_web_device_changed(c, c->cfg->devices[device].id, ok);
	int rc = store_put_device_state(c->store, c->cfg->devices[device].id, ok, time_wall_ms());
	if (rc != STORE_OK)
		log_warn("core", "device state of %s not stored: %s", c->cfg->devices[device].id, store_err_name(rc));
}

/* Per point of the MQTT devices: the ordering key of the last reading
 * applied, so that a redelivered or reordered older reading never
 * overwrites a newer one. eff = min(payload time, arrival time): a device
 * clock running ahead orders like arrival; seq is the arrival order. */
struct source_order {
	int64_t eff;
	uint64_t seq;
};

/* (Re)builds the table for the current config, seeded with the values the
 * engine holds (carried across a reload by engine_adopt_state). */
static int source_order_ready(struct core *c)
{
	if (c->src_order && c->src_order_cfg == c->cfg)
		return 0;
	core_source_order_free(c);
	const struct gw_config *cfg = c->cfg;
	c->src_order_off = calloc((size_t)cfg->n_devices + 1, sizeof *c->src_order_off);
	size_t total = 0;
	for (int d = 0; c->src_order_off && d < cfg->n_devices; d++) {
		c->src_order_off[d] = total;
		total += (size_t)cfg->profiles[cfg->devices[d].profile].n_points;
	}
	c->src_order = calloc(total + 1, sizeof *c->src_order);
	if (!c->src_order || !c->src_order_off) {
		core_source_order_free(c);
		return -1;
	}
	for (int d = 0; d < cfg->n_devices; d++) {
		const struct point_value *v = cfg->devices[d].source >= 0 ? engine_device_values(c->engine, d) : NULL;
		for (int i = 0; v && i < cfg->profiles[cfg->devices[d].profile].n_points; i++)
			c->src_order[c->src_order_off[d] + (size_t)i].eff = v[i].quality != QUALITY_NEVER_READ ? v[i].ts_ms : 0;
	}
	c->src_order_cfg = cfg;
	return 0;
}

void core_source_order_free(struct core *c)
{
	free(c->src_order);
	free(c->src_order_off);
	c->src_order = NULL;
	c->src_order_off = NULL;
	c->src_order_cfg = NULL;
}

struct source_reading {
	struct core *c;
	struct mqtt_source_meta meta;
};

/* Stale: older than what was applied last. The last key is capped at this
 * message's arrival time, so a gateway clock stepped back degrades to
 * arrival order instead of refusing readings until the clock catches up. */
static bool reading_is_stale(const struct source_order *last, int64_t eff, const struct mqtt_source_meta *mt)
{
	int64_t cap = last->eff < mt->arrival_ms ? last->eff : mt->arrival_ms;
	return eff < cap || (eff == cap && mt->seq < last->seq);
}

static void point_from_source(void *ctx, int device, int point, const struct point_value *pv)
{
	struct source_reading *r = ctx;
	struct core *c = r->c;
	if (c->src_order) {
		struct source_order *o = &c->src_order[c->src_order_off[device] + (size_t)point];
		int64_t eff = pv->ts_ms < r->meta.arrival_ms ? pv->ts_ms : r->meta.arrival_ms;
		if (reading_is_stale(o, eff, &r->meta)) {
			c->source_stale++;
			return;
		}
		o->eff = eff;
		o->seq = r->meta.seq;
	}
	engine_point(c->engine, device, point, pv, time_mono_ms());
}

static void handle_source_message(struct core *c, struct core_msg *m, int64_t now)
{
	const char *topic = m->u.blob.data;
	size_t tlen = strnlen(topic, m->u.blob.len);
	if (tlen >= m->u.blob.len) {
		free(m->u.blob.data);
		return;
	}
	const char *payload = topic + tlen + 1;
	size_t plen = m->u.blob.len - tlen - 1;
	struct source_reading r = { .c = c };
	mqtt_source_msg_meta(m, &r.meta);
	if (source_order_ready(c) < 0)
		log_warn("core", "out of memory: MQTT readings applied without the ordering check");
	/* The time Paho handed it over, not now: a message that waited in a
	 * backlog keeps its place. */
	int dev = json_map_message(c->jmap, (int)m->u.blob.a, topic, payload, plen, r.meta.arrival_ms,
				   point_from_source, &r, &c->source_stats);
	if (dev >= 0)
		device_comm(c, dev, true, now);
	free(m->u.blob.data);
}

/* One device poll: the engine stores every point, then evaluates each rule
 * that reads them once. Stack only: nothing on this path allocates. */
static void handle_points(struct core *c, const struct core_msg *m, int64_t now)
{
	struct engine_update u[QUEUE_POINTS_MAX];
	int n = m->u.points.n <= QUEUE_POINTS_MAX ? m->u.points.n : QUEUE_POINTS_MAX;
	if (m->u.points.device < 0 || m->u.points.device >= c->cfg->n_devices)
		return;
	for (int i = 0; i < n; i++)
		core_msg_point(m, i, &u[i].point, &u[i].pv);
	engine_points(c->engine, m->u.points.device, u, (size_t)n, now);
}

void core_handle_message(struct core *c, struct core_msg *m, int64_t now)
{
	switch (m->type) {
	case MSG_POINTS:
		handle_points(c, m, now);
		break;
	case MSG_POINT:
		if (m->u.point.device >= 0 && m->u.point.device < c->cfg->n_devices)
			engine_point(c->engine, m->u.point.device, m->u.point.point, &m->u.point.pv, now);
		break;
	case MSG_DEVICE_COMM:
		device_comm(c, m->u.comm.device, m->u.comm.ok != 0, now);
		break;
	case MSG_WRITE_RESULT:
		core_write_result(c, m, now);
		break;
	case MSG_SOURCE_MESSAGE:
		handle_source_message(c, m, now);
		break;
	case MSG_UPLINK_CONNECTED:
		if (c->up) {
			uplink_on_connected(c->up, now);
			outbox_on_connected(c->ob);
		}
		break;
	case MSG_UPLINK_LOST:
		if (c->up) {
			uplink_on_lost(c->up, m->u.blob.a != 0, m->u.blob.data, now);
			outbox_on_lost(c->ob);
		}
		free(m->u.blob.data);
		break;
	case MSG_UPLINK_ACKED:
		if (c->ob)
			outbox_on_acked(c->ob, m->u.uplink.seq);
		break;
	case MSG_UPLINK_FAILED:
		if (c->ob)
			outbox_on_failed(c->ob, m->u.uplink.seq);
		break;
	case MSG_UPLINK_COMMAND:
		core_handle_platform_command(c, m->u.blob.data, m->u.blob.len, now);
		free(m->u.blob.data);
		break;
	case MSG_NOTIFY_RESULT:
		core_notify_result(c, (const struct notify_result *)m->u.blob.data);
		free(m->u.blob.data);
		break;
	case MSG_WEB_REQUEST:
		core_handle_web(c, (struct web_call *)(void *)m->u.blob.data);
		break;
	case MSG_READ_RESULT:
		core_web_read_result(c, m);
		break;
	case MSG_CONTROL: case MSG_USER:
		free(m->u.blob.data);
		break;
	case MSG_STOP:
		c->running = false;
		break;
	}
}

/* MQTT devices: offline after offline_after without a well-formed message. */
void core_check_mqtt_offline(struct core *c, int64_t now)
{
	if (now < c->next_offline_check_ms)
		return;
	c->next_offline_check_ms = now + 100; /* offline_after is seconds to hours: 100 ms is exact enough */
	for (int d = 0; d < c->cfg->n_devices; d++) {
		const struct device_config *dc = &c->cfg->devices[d];
		if (dc->source < 0 || !c->comm)
			continue;
		/* Also a device never heard from since start. */
		bool stale = now - c->last_good_mono[d] >= dc->offline_after_ms;
		if (stale && c->comm[d] != 0)
			device_comm(c, d, false, now);
	}
}

/* The outcome of a rule's action goes on its incident's evidence. */
static void note_write(struct core *c, const struct pending_write *w, bool ok, const char *error)
{
	if (!w->alarm_key[0])
		return;
	const struct device_config *dc = &c->cfg->devices[w->device];
	char what[200];
	snprintf(what, sizeof what, "write %s.%s = %g", dc->id, c->cfg->profiles[dc->profile].points[w->point].name,
		 w->value);
	incidents_note_action(c->inc, w->alarm_key, what, ok, error, time_wall_ms());
}

static struct pending_write *write_slot(struct core *c)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++)
		if (!c->writes[i].used)
			return &c->writes[i];
	return NULL;
}

static int bus_write(struct core *c, struct pending_write *w)
{
	const struct device_config *dc = &c->cfg->devices[w->device];
	if (dc->bus < 0 || !c->buses || !c->buses[dc->bus])
		return -EINVAL;
	w->attempts++;
	w->retry_at_ms = 0;
	return modbus_bus_write(c->buses[dc->bus], w->device, w->point, w->value, w->request);
}

/* Queues a write (rule action or platform point.write). Returns 0 or -errno. */
int core_start_write(struct core *c, int device, int point, double value, const char *cmd_req, const char *key)
{
	struct pending_write *w = write_slot(c);
	if (!w)
		return -EAGAIN;
	memset(w, 0, sizeof *w);
	w->used = true;
	w->request = ++c->next_request;
	w->device = device;
	w->point = point;
	w->value = value;
	snprintf(w->cmd_req, sizeof w->cmd_req, "%s", cmd_req ? cmd_req : "");
	snprintf(w->alarm_key, sizeof w->alarm_key, "%s", key ? key : "");
	int rc = bus_write(c, w);
	if (rc == -EAGAIN) {
		w->retry_at_ms = time_mono_ms() + CORE_WRITE_RETRY_MS;
		return 0;
	}
	if (rc != 0)
		w->used = false;
	return rc;
}

void core_retry_writes(struct core *c, int64_t now)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		struct pending_write *w = &c->writes[i];
		if (!w->used || w->retry_at_ms == 0 || w->retry_at_ms > now)
			continue;
		int rc = bus_write(c, w);
		if (rc == -EAGAIN && w->attempts < CORE_WRITE_ATTEMPTS)
			w->retry_at_ms = now + CORE_WRITE_RETRY_MS;
		else if (rc != 0) {
			log_error("action", "write %s.%s = %g failed: %s", c->cfg->devices[w->device].id,
				  c->cfg->profiles[c->cfg->devices[w->device].profile].points[w->point].name, w->value,
				  strerror(-rc));
			char e[96];
			snprintf(e, sizeof e, "write not done: %s", strerror(-rc));
			if (w->cmd_req[0])
				core_answer_platform(c, w->cmd_req, false, e);
			note_write(c, w, false, e);
			w->used = false;
		}
	}
}

/* A write finished at the bus: retry a failed action a bounded number of
 * times; answer a platform point.write. */
void core_write_result_pending(struct core *c, const struct core_msg *m, int64_t now,
			       void (*answer)(struct core *c, const char *req, bool ok, const char *error))
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		struct pending_write *w = &c->writes[i];
		if (!w->used || w->request != m->u.write.request)
			continue;
		const struct device_config *dc = &c->cfg->devices[w->device];
		const char *pname = c->cfg->profiles[dc->profile].points[w->point].name;
		if (m->u.write.ok) {
			log_info("action", "wrote %s.%s = %g", dc->id, pname, w->value);
			if (w->cmd_req[0])
				answer(c, w->cmd_req, true, NULL);
			note_write(c, w, true, NULL);
			w->used = false;
		} else if (!w->cmd_req[0] && w->attempts < CORE_WRITE_ATTEMPTS) {
			log_warn("action", "write %s.%s = %g failed (%s), attempt %d of %d", dc->id, pname, w->value,
				 m->u.write.error, w->attempts, CORE_WRITE_ATTEMPTS);
			w->retry_at_ms = now + CORE_WRITE_RETRY_MS;
		} else {
			log_error("action", "write %s.%s = %g failed: %s", dc->id, pname, w->value, m->u.write.error);
			char e[128];
			snprintf(e, sizeof e, "write failed: %s", m->u.write.error);
			if (w->cmd_req[0])
				answer(c, w->cmd_req, false, e);
			note_write(c, w, false, e);
			w->used = false;
		}
		return;
	}
}

static void run_action(struct core *c, const struct engine_output *o)
{
	const struct action_config *a = o->action;
	if (!a)
		return;
	if (a->kind == ACTION_WRITE) {
		if (o->action_device < 0 || o->action_point < 0)
			return;
		int rc = core_start_write(c, o->action_device, o->action_point, a->value, NULL, o->key);
		if (rc != 0) {
			char what[200], e[96];
			snprintf(what, sizeof what, "write %s.%s = %g", c->cfg->devices[o->action_device].id,
				 a->point_name, a->value);
			snprintf(e, sizeof e, "not queued: %s", strerror(-rc));
			log_error("action", "%s: %s %s", o->key, what, e);
			incidents_note_action(c->inc, o->key, what, false, e, time_wall_ms());
		}
		return;
	}
	/* publish on a source broker (e.g. a voice broadcaster) */
	if (a->source < 0 || !c->sources || !c->sources[a->source])
		return;
	/* The engine renders the payload template ({field} filled in) into o->message. */
	const char *payload = o->message;
	int rc = mqtt_source_publish(c->sources[a->source], a->topic, payload, strlen(payload), 1);
	char what[200];
	snprintf(what, sizeof what, "publish %s", a->topic);
	if (rc != 0)
		log_error("action", "%s: publish to %s failed: %s", o->key, a->topic, strerror(rc < 0 ? -rc : rc));
	else
		log_info("action", "%s: published to %s", o->key, a->topic);
	incidents_note_action(c->inc, o->key, what, rc == 0, rc ? strerror(rc < 0 ? -rc : rc) : NULL, time_wall_ms());
}

void core_drain_engine(struct core *c, int64_t now)
{
	struct engine_output out[ENGINE_DRAIN];
	size_t n;
	(void)now;
	while ((n = engine_drain(c->engine, out, ENGINE_DRAIN)) > 0) {
		int64_t wall = time_wall_ms();
		for (size_t i = 0; i < n; i++) {
			if (out[i].kind == OUT_ACTION) {
				run_action(c, &out[i]);
				continue;
			}
			if (out[i].kind == OUT_SUPPRESSED) {
				core_note_suppressed(c, &out[i]);
				continue;
			}
			/* Storage trouble is handled inside (events held in memory,
			 * gateway.storage raised); a negative return is a refusal. */
			if (incidents_apply(c->inc, &out[i], wall) < 0)
				log_error("core", "%s: incident change refused (out of memory?)", out[i].key);
		}
	}
}

void core_status_counts(struct core *c, int *online, int *offline)
{
	int on = 0, off = 0;
	/* c->online, not the engine's view: a device never heard from since
	 * start is not counted online. */
	for (int d = 0; d < c->cfg->n_devices; d++) {
		if (c->comm && c->comm[d] == 1)
			on++;
		else
			off++;
	}
	*online = on;
	*offline = off;
}

static void publish_telemetry(struct core *c, int64_t wall)
{
	const struct gw_config *cfg = c->cfg;
	int total = 0;
	for (int d = 0; d < cfg->n_devices; d++)
		total += cfg->profiles[cfg->devices[d].profile].n_points;
	struct telemetry_device *devs = calloc((size_t)cfg->n_devices + 1, sizeof *devs);
	struct telemetry_point *pts = calloc((size_t)total + 1, sizeof *pts);
	if (!devs || !pts) {
		free(devs);
		free(pts);
		return;
	}
	int k = 0;
	for (int d = 0; d < cfg->n_devices; d++) {
		const struct profile *p = &cfg->profiles[cfg->devices[d].profile];
		const struct point_value *vals = engine_device_values(c->engine, d);
		devs[d].id = cfg->devices[d].id;
		devs[d].online = c->comm && c->comm[d] == 1;
		devs[d].points = &pts[k];
		devs[d].n_points = p->n_points;
		for (int i = 0; i < p->n_points; i++, k++) {
			pts[k].name = p->points[i].name;
			pts[k].good = vals && vals[i].quality == QUALITY_GOOD;
			pts[k].value = vals ? vals[i].value : 0;
		}
	}
	int rc = uplink_publish_telemetry(c->up, wall, devs, cfg->n_devices, store_backlog(c->store));
	if (rc < 0)
		log_warn("uplink", "telemetry not published (%d)", rc);
	free(devs);
	free(pts);
}

/* gateway.uplink_down after uplink.down_after without a connection. */
static void check_uplink_down(struct core *c, int64_t now, int64_t wall)
{
	int64_t down = uplink_down_for_ms(c->up, now);
	bool is_down = down >= c->cfg->uplink.down_after_ms;
	if (is_down == c->uplink_down_raised)
		return;
	char msg[160];
	snprintf(msg, sizeof msg, is_down ? "Uplink to %s down for %llds" : "Uplink to %s restored",
		 c->cfg->uplink.url ? c->cfg->uplink.url : "the platform", (long long)(down / 1000));
	if (incidents_gateway(c->inc, "gateway.uplink_down", 3, is_down, msg, wall) >= 0)
		c->uplink_down_raised = is_down;
}

/* No uplink configured (a local-only gateway): nobody will take the events,
 * so they are marked delivered and age out with pruning instead of
 * filling the store up to its cap. Incidents themselves stay. */
static void retire_events_without_uplink(struct core *c)
{
	enum { N = 256 };
	struct outbox_event ev[N];
	uint64_t seqs[N];
	int n = 0;
	if (store_fetch_undelivered(c->store, 0, N, ev, &n) != STORE_OK)
		return;
	for (int i = 0; i < n; i++) {
		seqs[i] = ev[i].seq;
		outbox_event_free(&ev[i]);
	}
	if (n > 0 && store_mark_delivered(c->store, seqs, n) != STORE_OK)
		log_warn("core", "could not retire %d events (no uplink configured)", n);
}

/* An incident closed by the local auto-close: the next raise is a new one. */
static void auto_closed(void *ctx, const char *alarm_key)
{
	struct core *c = ctx;
	engine_incident_closed(c->engine, alarm_key, time_mono_ms());
}

void core_periodic(struct core *c, int64_t now)
{
	int64_t wall = time_wall_ms();
	if (!c->up && now >= c->next_status_ms) {
		c->next_status_ms = now + STATUS_EVERY_MS;
		/* Nobody closes incidents here: incidents.auto_close_after does. */
		incidents_auto_close(c->inc, c->cfg->incidents.auto_close_after_ms, wall, auto_closed, c);
		retire_events_without_uplink(c);
	}
	if (c->up) {
		uplink_tick(c->up, now);
		/* The figures cost a COUNT(*) on the outbox: once a second is enough. */
		if (now >= c->next_status_ms) {
			c->next_status_ms = now + STATUS_EVERY_MS;
			int on, off;
			core_status_counts(c, &on, &off);
			struct status_counts sc = { on, off, (int)incidents_open_count(c->inc), store_backlog(c->store) };
			uplink_set_status(c->up, &sc, now);
		}
		check_uplink_down(c, now, wall);
		if (c->cfg->uplink.telemetry_interval_ms > 0 && now >= c->next_telemetry_ms) {
			c->next_telemetry_ms = now + c->cfg->uplink.telemetry_interval_ms;
			if (uplink_is_up(c->up))
				publish_telemetry(c, wall);
		}
	}
	core_sample_history(c, now);
	core_web_tick(c, now);
	if (now >= c->next_prune_ms) {
		c->next_prune_ms = now + PRUNE_EVERY_MS;
		int rc = store_prune(c->store, wall);
		bool full = rc == STORE_ERR_FULL;
		if (full != c->storage_full_raised &&
		    incidents_gateway(c->inc, "gateway.storage", 2, full,
				      full ? "Store at its size cap with undelivered events" : "Store below its size cap",
				      wall) >= 0)
			c->storage_full_raised = full;
	}
	if (c->watchdog_interval_ms > 0 && now >= c->next_watchdog_ms) {
		/* Reached only by a loop that is going round: a hung core stops pinging. */
		sdnotify_watchdog_ping();
		c->next_watchdog_ms = now + c->watchdog_interval_ms;
	}
}

int64_t core_next_deadline(struct core *c, int64_t now)
{
	int64_t d = engine_next_deadline(c->engine);
	int64_t cand[6] = { c->next_prune_ms, c->watchdog_interval_ms > 0 ? c->next_watchdog_ms : INT64_MAX,
			    INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX };
	if (c->up) {
		int64_t t = uplink_next_tick_ms(c->up, now);
		if (t >= 0)
			cand[2] = now + t;
		if (c->cfg->uplink.telemetry_interval_ms > 0)
			cand[3] = c->next_telemetry_ms;
		cand[4] = c->next_status_ms;
		t = outbox_next_tick_ms(c->ob, now);
		if (t >= 0)
			cand[5] = now + t;
	}
	for (int i = 0; i < 6; i++)
		if (cand[i] < d)
			d = cand[i];
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++)
		if (c->writes[i].used && c->writes[i].retry_at_ms && c->writes[i].retry_at_ms < d)
			d = c->writes[i].retry_at_ms;
	return d;
}
