/* core_web — what the core hands to the web console, and the reading
 * history the console's charts draw from.
 *
 * Live events go to the console only once committed: incident events are
 * read back from the outbox after the iteration's COMMIT (so the console
 * shows exactly what the platform gets, seq included, and never an event a
 * rollback took back); device online/offline changes of the iteration are
 * collected and handed over at the same point. web_publish is the one hook. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "common/log.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "gateway/web/web.h"

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
