/* periodic — the core's timers: telemetry, status, the uplink-down and
 * storage incidents, pruning, the reading history, the watchdog, and the
 * next deadline the loop waits for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/core/sdnotify.h"
#include "gateway/store/store.h"
#include "gateway/uplink/outbox.h"
#include "gateway/uplink/telemetry.h"
#include "gateway/uplink/uplink.h"
#include "common/log.h"
#include "common/timeutil.h"

#define PRUNE_EVERY_MS (10 * 60 * 1000)

#define STATUS_EVERY_MS 1000

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
		devs[d].online = core_device_state(c, d) == 1;
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

/* Every store.history_interval, each point's current good value goes into
 * the store's bounded reading history (pruned by age and size, docs/store.md). */
void core_sample_history(struct core *c, int64_t now)
{
	int64_t every = c->cfg->store.history_interval_ms;
	if (every <= 0 || now < c->next_history_ms)
		return;
	c->next_history_ms = now + every;
	/* History is the first thing to give up when the store cannot write:
	 * a failed write rolls back the iteration (incidents keep theirs). */
	if (incidents_storage_failing(c->inc))
		return;
	int written = 0, failed = 0;
	for (int d = 0; d < c->cfg->n_devices; d++) {
		const struct device_config *dc = &c->cfg->devices[d];
		const struct profile *p = &c->cfg->profiles[dc->profile];
		const struct point_value *vals = engine_device_values(c->engine, d);
		for (int i = 0; vals && i < p->n_points; i++) {
			if (vals[i].quality != QUALITY_GOOD)
				continue;
			if (store_add_reading(c->store, dc->id, p->points[i].name, vals[i].value, vals[i].quality,
					      vals[i].ts_ms) == STORE_OK)
				written++;
			else
				failed++;
			if (failed)
				break;
		}
		if (failed)
			break;
	}
	if (failed)
		log_warn("core", "reading history: %d of %d samples not stored (%s)", failed, written + failed,
			 store_last_error(c->store));
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
				      full ? CORE_STORAGE_CAP_MESSAGE : "Store below its size cap",
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
	/* The MQTT-source offline scan too: a device that falls silent is
	 * declared offline at its deadline, not up to a poll timeout later. */
	int64_t cand[7] = { c->next_prune_ms, c->watchdog_interval_ms > 0 ? c->next_watchdog_ms : INT64_MAX,
			    INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, c->next_offline_check_ms };
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
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
		if (cand[i] < d)
			d = cand[i];
	int64_t a = core_answers_deadline(c, now);
	return core_writes_deadline(c, a < d ? a : d);
}
