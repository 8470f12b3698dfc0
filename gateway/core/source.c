/* source — MQTT-source points, decoded by their source's feeder thread
 * (sensors/mqtt_source.h) and applied here with the per-point order check
 * that keeps a redelivered or reordered older reading from overwriting a
 * newer one: the last applied key per point is core state. */
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

/* Stale: older than what was applied last. The last key is capped at this
 * message's arrival time, so a gateway clock stepped back degrades to
 * arrival order instead of refusing readings until the clock catches up. */
static bool reading_is_stale(const struct source_order *last, int64_t eff, int64_t arrival_ms, uint64_t seq)
{
	int64_t cap = last->eff < arrival_ms ? last->eff : arrival_ms;
	return eff < cap || (eff == cap && seq < last->seq);
}

void core_handle_source_points(struct core *c, const struct core_msg *m, int64_t now)
{
	int dev = m->u.points.device;
	if (dev < 0 || dev >= c->cfg->n_devices || c->cfg->devices[dev].source < 0)
		return;
	int64_t arrival = m->u.points.arrival_ms;
	uint64_t seq = m->u.points.seq;
	int np = c->cfg->profiles[c->cfg->devices[dev].profile].n_points;
	if (source_order_ready(c) < 0)
		log_warn("core", "out of memory: MQTT readings applied without the ordering check");
	int n = m->u.points.n <= QUEUE_POINTS_MAX ? m->u.points.n : QUEUE_POINTS_MAX;
	for (int i = 0; i < n; i++) {
		int point;
		struct point_value pv;
		core_msg_point(m, i, &point, &pv);
		if (point >= np)
			continue;
		if (c->src_order) {
			struct source_order *o = &c->src_order[c->src_order_off[dev] + (size_t)point];
			int64_t eff = pv.ts_ms < arrival ? pv.ts_ms : arrival;
			if (reading_is_stale(o, eff, arrival, seq)) {
				c->source_stale++;
				continue;
			}
			o->eff = eff;
			o->seq = seq;
		}
		engine_point(c->engine, dev, point, &pv, time_mono_ms());
	}
	/* A well-formed message of a known device: it is alive (the last part
	 * of a split message says it again, which changes nothing). */
	core_device_comm(c, dev, true, now);
}

static void add_source_stats(struct json_map_stats *out, struct mqtt_source *s)
{
	if (!s)
		return;
	struct mqtt_source_stats ss;
	mqtt_source_get_stats(s, &ss);
	json_map_stats_add(out, &ss.map);
}

void core_source_stats(const struct core *c, struct json_map_stats *out)
{
	*out = c->source_stats_gone;
	for (int i = 0; c->sources && i < c->cfg->n_sources; i++)
		add_source_stats(out, c->sources[i]);
	for (int i = 0; c->held_sources && i < c->n_held_sources; i++)
		add_source_stats(out, c->held_sources[i]);
}
