/* reload — SIGHUP: the new config is loaded and validated first; a bad one
 * is logged and the old one keeps running. A good one replaces the bus
 * threads, sources and rule engine; alarm state and open incidents of
 * rules and devices that still exist carry over (engine_adopt_state);
 * device comm state, pending writes and unchanged MQTT sources carry over
 * by id; the store and the outbox are never touched by a reload. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/core/sdnotify.h"
#include "gateway/notify/notify.h"
#include "gateway/store/store.h"
#include "gateway/web/web.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/mqtt_source.h"

void core_log_config_errors(const struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		log_error("config", "%s", errs->msgs[i]);
}

void core_apply_log_level(const struct gw_config *cfg)
{
	enum log_level lvl;
	if (cfg->gateway.log_level && log_parse_level(cfg->gateway.log_level, &lvl) == 0)
		log_set_level(lvl);
}

static bool str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The uplink client lives for the process (PITFALLS: one Paho client per
 * broker, leak fixes only in 1.3.14), so its settings are not hot-reloaded. */
static bool uplink_settings_changed(const struct gw_config *a, const struct gw_config *b)
{
	const struct uplink_config *x = &a->uplink, *y = &b->uplink;
	return str_differs(x->url, y->url) || str_differs(x->client_id, y->client_id) ||
	       str_differs(x->username, y->username) || str_differs(x->password, y->password) ||
	       str_differs(x->topic_prefix, y->topic_prefix) || str_differs(x->tls.ca, y->tls.ca) ||
	       str_differs(x->tls.cert, y->tls.cert) || str_differs(x->tls.key, y->tls.key) ||
	       x->tls.verify != y->tls.verify || x->mqtt_version != y->mqtt_version ||
	       x->keepalive_ms != y->keepalive_ms;
}

/* The console follows a reload: users, roles and metrics at once. One
 * configured but not running (added, or it failed to start) is started;
 * one removed, moved or given TLS needs a restart. */
static void reload_console(struct core *c, const struct gw_config *ncfg)
{
	char err[256] = "";
	if (c->web && ncfg->console.present) {
		if (web_reconfigure(c->web, &ncfg->console, err, sizeof err) != 0)
			log_warn("core", "reload: %s", err);
	} else if (ncfg->console.present) {
		c->web = web_start(&ncfg->console, c->q, err, sizeof err);
		if (c->web) {
			c->web_seq = store_last_seq(c->store); /* its live stream starts now */
			log_info("core", "reload: console started");
		}
		else
			log_error("core", "reload: console not started: %s", err);
	} else if (c->web) {
		log_warn("core", "reload: the console section was removed; that takes effect at the next restart");
	}
}

/* A reload is the core's one long piece of work: it pings the watchdog
 * between its stages (each linear in the config since #14), so a big but
 * healthy reload is not killed by systemd while a hung stage still is. */
static void reload_keepalive(struct core *c)
{
	if (c->watchdog_interval_ms <= 0)
		return;
	sdnotify_watchdog_ping();
	c->next_watchdog_ms = time_mono_ms() + c->watchdog_interval_ms;
}

/* SIGHUP. Validate first; swap only a config that loaded cleanly. */
void core_reload(struct core *c)
{
	reload_keepalive(c);
	sdnotify_reloading();
	log_info("core", "reloading %s", c->config_path);
	struct gw_config *ncfg = NULL;
	struct config_errors errs = { 0 };
	if (config_load(c->config_path, &ncfg, &errs) != 0) {
		core_log_config_errors(&errs);
		log_error("core", "reload rejected: %d error(s); still running the previous configuration", errs.n);
		config_errors_clear(&errs);
		sdnotify_ready("reload rejected; previous configuration running");
		return;
	}
	struct config_errors warned = errs; /* kept for the console once the new config runs */
	if (strcmp(ncfg->gateway.id, c->cfg->gateway.id) != 0 ||
	    strcmp(ncfg->gateway.state_dir, c->cfg->gateway.state_dir) != 0) {
		log_error("core", "reload rejected: gateway.id and gateway.state_dir need a restart");
		config_errors_clear(&warned);
		config_free(ncfg);
		sdnotify_ready("reload rejected; previous configuration running");
		return;
	}
	reload_keepalive(c);
	char err[256];
	struct engine *ne = engine_create(ncfg, err, sizeof err);
	reload_keepalive(c);
	if (!ne) {
		log_error("core", "reload rejected: %s", err);
		config_errors_clear(&warned);
		config_free(ncfg);
		sdnotify_ready("reload rejected; previous configuration running");
		return;
	}
	/* Everything queued was made against the old config: handle it first. */
	struct deferred later = { 0 };
	struct comm_carry carry = { 0 };
	if (core_keep_sources(c, ncfg, &carry, err, sizeof err) != 0) {
		log_error("core", "reload rejected: %s", err);
		engine_destroy(ne);
		config_errors_clear(&warned);
		config_free(ncfg);
		sdnotify_ready("reload rejected; previous configuration running");
		return;
	}
	store_begin(c->store);
	core_stop_southbound(c, &later, &carry);
	core_drain_engine(c, time_mono_ms());
	(void)core_commit(c); /* a failure is logged; events and answers are held */

	reload_keepalive(c);
	engine_adopt_state(ne, c->engine);
	reload_keepalive(c);
	engine_destroy(c->engine);
	c->engine = ne;
	struct gw_config *old = c->cfg;
	c->cfg = ncfg;
	incidents_set_config(c->inc, ncfg);
	notify_set_config(c->notify, ncfg); /* before the old config is freed: the sender reads it */
	notify_report_start(c->notify, c->inc, time_wall_ms());
	core_apply_log_level(ncfg);
	reload_console(c, ncfg);
	core_web_keep_warnings(c, &warned);
	config_errors_clear(&warned);
	if (uplink_settings_changed(old, ncfg))
		log_warn("core", "reload: uplink settings changed; they take effect at the next restart "
			 "(the outbox is kept either way)");
	if (core_start_southbound(c, &carry) != 0)
		log_error("core", "reload: some buses or sources did not start (see above); the others run");
	c->held_sources = NULL; /* in c->sources again, or stopped below */
	c->n_held_sources = 0;
	for (int s = 0; carry.kept && s < ncfg->n_sources; s++) {
		if (!carry.kept[s])
			continue;
		if (c->sources && c->sources[s] == carry.kept[s])
			mqtt_source_hold(carry.kept[s], false);
		else
			mqtt_source_stop_take(carry.kept[s], NULL, NULL, &c->source_stats_gone); /* not rebound (logged) */
	}
	free(carry.kept);
	core_free_maps(&carry, ncfg->n_sources);
	core_carry_writes(c, old, ncfg, time_mono_ms());
	core_devcomm_free(&carry.comm);
	config_free(old);
	/* Platform commands that arrived while the buses stopped, now against the new config. */
	store_begin(c->store);
	for (size_t i = 0; i < later.n; i++)
		core_handle_message(c, &later.m[i], time_mono_ms());
	core_drain_engine(c, time_mono_ms());
	(void)core_commit(c);
	free(later.m);
	/* The old config, its engine and libconfig's tree of the new one are
	 * free now, tens of MB at 20,000 devices (docs/benchmarks.md, #12.4),
	 * but glibc keeps freed heap mapped: give it back. */
	(void)malloc_trim(0);
	log_info("core", "reloaded: %d buses, %d sources, %d devices, %d rules", ncfg->n_buses, ncfg->n_sources,
		 ncfg->n_devices, engine_rule_count(c->engine));
	sdnotify_ready("reloaded");
}
