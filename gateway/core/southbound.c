/* southbound — the bus threads and MQTT sources the core runs for its
 * config: started at start-up and after a reload, stopped at a reload and
 * at shutdown in an order that applies nothing to the wrong configuration
 * (everything queued is handled with the config it was made for). */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/web/web.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/json_map.h"
#include "sensors/modbus_bus.h"
#include "sensors/mqtt_source.h"

/* Starts the southbound side for c->cfg: bus threads, MQTT sources (each
 * with its JSON map). A bus or source that fails to start is logged and
 * left out (NULL); the others run. */
int core_start_southbound(struct core *c, const struct comm_carry *prev)
{
	char err[256];
	const struct gw_config *cfg = c->cfg;
	c->buses = calloc((size_t)cfg->n_buses + 1, sizeof *c->buses);
	c->sources = calloc((size_t)cfg->n_sources + 1, sizeof *c->sources);
	if (!c->buses || !c->sources || core_devcomm_start(c, prev ? &prev->comm : NULL) != 0) {
		log_error("core", "out of memory");
		return -1;
	}
	int failed = 0;
	for (int b = 0; b < cfg->n_buses; b++) {
		c->buses[b] = modbus_bus_start(cfg, b, c->q, err, sizeof err);
		if (!c->buses[b]) {
			log_error("core", "bus %s not started: %s", cfg->buses[b].name, err);
			failed++;
		}
	}
	for (int s = 0; s < cfg->n_sources; s++) {
		if (prev && prev->kept && prev->kept[s]) {
			struct json_map *map = prev->maps ? prev->maps[s] : NULL;
			if (prev->maps)
				prev->maps[s] = NULL; /* taken over, even on failure */
			if (mqtt_source_rebind(prev->kept[s], cfg, s, map) == 0) {
				c->sources[s] = prev->kept[s];
				continue;
			}
			failed++; /* the caller stops it */
			continue;
		}
		c->sources[s] = mqtt_source_start(cfg, s, c->q, err, sizeof err);
		if (!c->sources[s]) {
			log_error("core", "mqtt source %s not started: %s", cfg->sources[s].name, err);
			failed++;
		}
	}
	return failed ? -1 : 0;
}

static void defer_message(struct deferred *d, const struct core_msg *m)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct core_msg *nm = realloc(d->m, cap * sizeof *nm);
		if (!nm) {
			log_error("core", "out of memory: a platform command is dropped; the platform will see no answer");
			if (m->type == MSG_WEB_REQUEST) /* shared with its HTTP thread: answered, not freed */
				web_call_answer((struct web_call *)(void *)m->u.blob.data, 503, "{\"ok\":false,\"error\":\"out of memory\"}");
			else
				free(m->u.blob.data);
			return;
		}
		d->m = nm;
		d->cap = cap;
	}
	d->m[d->n++] = *m;
}

enum drain_phase {
	DRAIN_ALL,        /* handle everything against the config it was made for */
	DRAIN_STOPPING,   /* buses stopping: drop their last poll's points (the new
			   * threads read every point again), handle write results,
			   * defer platform commands */
};

static void drain_queue(struct core *c, enum drain_phase phase, struct deferred *d)
{
	struct core_msg m[CORE_QUEUE_BATCH];
	size_t n;
	while ((n = queue_pop_many(c->q, m, CORE_QUEUE_BATCH)) > 0) {
		int64_t now = time_mono_ms();
		for (size_t i = 0; i < n; i++) {
			if (phase == DRAIN_STOPPING) {
				if (m[i].type == MSG_POINT || m[i].type == MSG_POINTS || m[i].type == MSG_DEVICE_COMM)
					continue;
				/* A console request may read bus figures: not while
				 * the buses are being stopped and freed. */
				if ((m[i].type == MSG_UPLINK_COMMAND || m[i].type == MSG_WEB_REQUEST) && d) {
					defer_message(d, &m[i]);
					continue;
				}
			}
			core_handle_message(c, &m[i], now);
		}
		core_drain_engine(c, now);
	}
}

struct bus_stopper {
	pthread_t thread;
	struct modbus_bus *bus;
	atomic_bool done;
};

static void *bus_stopper_run(void *arg)
{
	struct bus_stopper *st = arg;
	modbus_bus_stop(st->bus);
	atomic_store(&st->done, true);
	return NULL;
}

/* Stops every bus at once, each from a thread of its own, while the core
 * keeps draining the queue: a bus thread blocked in queue_push_wait (queue
 * above its high-water mark) must be able to get out. */
static void stop_buses(struct core *c, struct deferred *d)
{
	int n = c->cfg->n_buses;
	struct bus_stopper *st = calloc((size_t)n + 1, sizeof *st);
	for (int b = 0; b < n; b++) {
		if (!c->buses[b])
			continue;
		if (st) {
			st[b].bus = c->buses[b];
			if (pthread_create(&st[b].thread, NULL, bus_stopper_run, &st[b]) == 0)
				continue;
			st[b].bus = NULL;
		}
		drain_queue(c, DRAIN_STOPPING, d);
		modbus_bus_stop(c->buses[b]); /* no thread: stop it from here */
	}
	for (bool all = false; !all;) {
		drain_queue(c, DRAIN_STOPPING, d);
		all = true;
		for (int b = 0; st && b < n; b++)
			if (st[b].bus && !atomic_load(&st[b].done))
				all = false;
		if (!all) {
			struct pollfd pfd = { .fd = queue_fd(c->q), .events = POLLIN };
			poll(&pfd, 1, 20);
		}
	}
	for (int b = 0; st && b < n; b++)
		if (st[b].bus)
			pthread_join(st[b].thread, NULL);
	for (int b = 0; b < n; b++)
		c->buses[b] = NULL;
	drain_queue(c, DRAIN_STOPPING, d); /* anything posted right before the last join */
	free(st);
}

/* What a stopped source still held, kept to be handled after the queue. */
static void take_leftover(void *ctx, struct core_msg *m)
{
	defer_message(ctx, m);
}

/* Stops the southbound side in an order that applies nothing to the wrong
 * configuration: sources first, then everything queued is handled with the
 * config it was made for while the buses still run (so rule actions still
 * reach them); then the buses stop (see DRAIN_STOPPING). Keeps the comm
 * state in *carry for the next start (caller frees it). */
void core_stop_southbound(struct core *c, struct deferred *d, struct comm_carry *carry)
{
	const struct gw_config *cfg = c->cfg;
	/* A stopped source is freed: forget it at once, so that nothing handled
	 * while draining (a status request from the console, a publish action)
	 * reaches it. What it still held (PUBACKed, nobody resends it) is
	 * handled after the queue, with the old map. Sources kept across a
	 * reload were taken out of c->sources (held) by the caller. */
	struct deferred left = { 0 };
	for (int s = 0; c->sources && s < cfg->n_sources; s++) {
		if (c->sources[s])
			mqtt_source_stop_take(c->sources[s], take_leftover, &left, &c->source_stats_gone);
		c->sources[s] = NULL;
	}
	if (c->sources)
		drain_queue(c, DRAIN_ALL, d);
	for (size_t i = 0; i < left.n; i++)
		core_handle_message(c, &left.m[i], time_mono_ms());
	free(left.m);
	core_source_order_free(c);
	if (c->buses)
		stop_buses(c, d);
	free(c->buses);
	free(c->sources);
	c->buses = NULL;
	c->sources = NULL;
	core_devcomm_stop(c, carry ? &carry->comm : NULL);
}

/* Every source's JSON map for ncfg, or -1 with err (none kept then). */
static int build_maps(const struct gw_config *ncfg, struct comm_carry *carry, char *err, size_t errlen)
{
	carry->maps = calloc((size_t)ncfg->n_sources + 1, sizeof *carry->maps);
	if (!carry->maps) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int s = 0; s < ncfg->n_sources; s++) {
		char e[200];
		if (!(carry->maps[s] = json_map_create_source(ncfg, s, e, sizeof e))) {
			snprintf(err, errlen, "mqtt mapping: %s", e);
			core_free_maps(carry, ncfg->n_sources);
			return -1;
		}
	}
	return 0;
}

void core_free_maps(struct comm_carry *carry, int n)
{
	for (int s = 0; carry->maps && s < n; s++)
		json_map_destroy(carry->maps[s]);
	free(carry->maps);
	carry->maps = NULL;
}

/* Sources whose client settings are unchanged keep running across a reload
 * (docs/mqtt_sources.md): a restart makes the broker resend, and Paho 1.3
 * leaks per client. Each is held (nothing more goes to the queue, so the
 * queue can be drained against the old config) and taken out of
 * c->sources so core_stop_southbound leaves it alone. Their new maps are
 * built first, so a reload that would fail there is refused untouched. */
int core_keep_sources(struct core *c, const struct gw_config *ncfg, struct comm_carry *carry, char *err,
		      size_t errlen)
{
	if (build_maps(ncfg, carry, err, errlen) < 0)
		return -1;
	carry->kept = calloc((size_t)ncfg->n_sources + 1, sizeof *carry->kept);
	c->held_sources = carry->kept;
	c->n_held_sources = carry->kept ? ncfg->n_sources : 0;
	for (int o = 0; carry->kept && c->sources && o < c->cfg->n_sources; o++) {
		for (int n = 0; c->sources[o] && n < ncfg->n_sources; n++) {
			if (carry->kept[n] || !mqtt_source_same_client(c->cfg, o, ncfg, n))
				continue;
			mqtt_source_hold(c->sources[o], true);
			carry->kept[n] = c->sources[o];
			c->sources[o] = NULL;
			log_info("core", "reload: source %s kept (settings unchanged)", ncfg->sources[n].name);
		}
	}
	return 0;
}
