/* source — MQTT-source messages, decoded on the core thread by the JSON
 * map, with the per-point order check that keeps a redelivered or
 * reordered older reading from overwriting a newer one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/json_map.h"
#include "sensors/mqtt_source.h"

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

void core_handle_source_message(struct core *c, struct core_msg *m, int64_t now)
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
		core_device_comm(c, dev, true, now);
	free(m->u.blob.data);
}
