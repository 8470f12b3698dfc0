/* loop — `gridgw run`: the daemon's lifecycle and its one core thread.
 *
 * The core thread owns all state (config, rule engine, incidents, store,
 * outbox). Bus threads, MQTT callbacks and the control socket reach it only
 * through the queue (common/queue.h), so nothing here takes a lock. Each
 * loop iteration: wait in poll() on the queue's eventfd, the signalfd and the
 * control socket until the earliest timer; then, inside ONE store
 * transaction, handle queued messages, run the engine's timers and turn its
 * outputs into incidents and actions; commit; then feed the outbox (events
 * are published only once committed). One fsync per iteration, however many
 * events it wrote.
 *
 * SIGHUP reloads: the new config is loaded and validated first; a bad one is
 * logged and the old one keeps running. A good one replaces the bus threads,
 * sources and rule engine; alarm state and open incidents of rules and
 * devices that still exist carry over (engine_adopt_state); the store and
 * the outbox are never touched by a reload. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/cli/cli.h"
#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/notify/notify.h"
#include "common/log.h"
#include "gateway/uplink/outbox.h"
#include "gateway/core/sdnotify.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "gateway/uplink/uplink.h"
#include "gateway/web/web.h"
#include "sensors/json_map.h"
#include "sensors/modbus_bus.h"
#include "sensors/mqtt_source.h"

#define QUEUE_CAPACITY 2048     /* (2048 + 1024 control) x 200 B = 0.6 MB: the whole ring is touched as it cycles;
				 * a bus posts one message per device poll, so 2048 hold 4 s of 500 devices */
#define QUEUE_HIGH_WATER 1536   /* bus threads wait above this; Paho callbacks use the rest */
#define BATCH 512

static void log_config_errors(const struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		log_error("config", "%s", errs->msgs[i]);
}

/* Starts the southbound side for c->cfg: bus threads, MQTT sources, the
 * JSON map. On failure what was started is stopped again. */
/* Per-device comm state (as last told to the engine) carried over a reload
 * by device id: a reload must neither restart an MQTT device's offline
 * timer (regular reloads would hide a dead device) nor flap its status. */
struct comm_carry {
	const struct gw_config *cfg;
	int64_t *last_good_mono;
	int8_t *comm;
	/* MQTT sources kept running across the reload (same client settings),
	 * by their index in the new config; held until the swap is done. */
	struct mqtt_source **kept;
};

/* Starts the southbound side for c->cfg: bus threads, MQTT sources, the
 * JSON map. A bus or source that fails to start is logged and left out
 * (NULL); the others run. */
static int start_southbound(struct core *c, const struct comm_carry *prev)
{
	char err[256];
	const struct gw_config *cfg = c->cfg;
	c->jmap = json_map_create(cfg, err, sizeof err);
	if (!c->jmap) {
		log_error("core", "mqtt mapping: %s", err);
		return -1;
	}
	c->buses = calloc((size_t)cfg->n_buses + 1, sizeof *c->buses);
	c->sources = calloc((size_t)cfg->n_sources + 1, sizeof *c->sources);
	c->last_good_mono = calloc((size_t)cfg->n_devices + 1, sizeof *c->last_good_mono);
	c->comm = malloc((size_t)cfg->n_devices + 1);
	if (!c->buses || !c->sources || !c->last_good_mono || !c->comm) {
		log_error("core", "out of memory");
		return -1;
	}
	int64_t now = time_mono_ms();
	for (int d = 0; d < cfg->n_devices; d++) {
		int o = prev && prev->cfg ? config_find_device(prev->cfg, cfg->devices[d].id) : -1;
		/* An MQTT device never heard from gets offline_after from start. */
		c->last_good_mono[d] = o >= 0 ? prev->last_good_mono[o] : now;
		c->comm[d] = o >= 0 ? prev->comm[o] : -1;
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
			c->sources[s] = prev->kept[s];
			mqtt_source_rebind(c->sources[s], cfg, s);
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

/* Messages whose handling must wait until a reload has swapped configs. */
struct deferred {
	struct core_msg *m;
	size_t n, cap;
};

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
	struct core_msg m[BATCH];
	size_t n;
	while ((n = queue_pop_many(c->q, m, BATCH)) > 0) {
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

/* Stops the southbound side in an order that applies nothing to the wrong
 * configuration: sources first, then everything queued is handled with the
 * config it was made for while the buses still run (so rule actions still
 * reach them); then the buses stop (see DRAIN_STOPPING). Keeps the comm
 * state in *carry for the next start (caller frees it). */
static void take_leftover(void *ctx, struct core_msg *m)
{
	defer_message(ctx, m);
}

static void stop_southbound(struct core *c, struct deferred *d, struct comm_carry *carry)
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
			mqtt_source_stop_take(c->sources[s], take_leftover, &left);
		c->sources[s] = NULL;
	}
	if (c->jmap)
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
	json_map_destroy(c->jmap);
	c->jmap = NULL;
	if (carry) {
		carry->cfg = cfg;
		carry->last_good_mono = c->last_good_mono;
		carry->comm = c->comm;
	} else {
		free(c->last_good_mono);
		free(c->comm);
	}
	c->last_good_mono = NULL;
	c->comm = NULL;
}

/* Writes still waiting when the buses stopped (queued at a bus that dropped
 * them, or waiting for a retry) are moved to the new config by device id
 * and point name and sent again; one the new config cannot take is answered
 * (platform) or logged (rule action). */
static void carry_writes(struct core *c, const struct gw_config *old, const struct gw_config *ncfg, int64_t now)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		struct pending_write *w = &c->writes[i];
		if (!w->used)
			continue;
		const struct device_config *od = &old->devices[w->device];
		const char *pname = old->profiles[od->profile].points[w->point].name;
		int nd = config_find_device(ncfg, od->id);
		int np = nd >= 0 ? config_find_point(&ncfg->profiles[ncfg->devices[nd].profile], pname) : -1;
		if (np >= 0 && ncfg->devices[nd].bus >= 0 &&
		    ncfg->profiles[ncfg->devices[nd].profile].points[np].writable) {
			w->device = nd;
			w->point = np;
			w->attempts = 0;
			w->retry_at_ms = now; /* core_retry_writes sends it again */
			continue;
		}
		log_error("action", "write %s.%s dropped: the new configuration has no such writable point", od->id, pname);
		if (w->cmd_req[0])
			core_answer_platform(c, w->cmd_req, false, "point no longer writable after a configuration reload");
		w->used = false;
	}
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

static void apply_log_level(const struct gw_config *cfg)
{
	enum log_level lvl;
	if (cfg->gateway.log_level && log_parse_level(cfg->gateway.log_level, &lvl) == 0)
		log_set_level(lvl);
}

/* The console follows a reload: users, roles and metrics at once; a
 * console added, removed, moved or given TLS needs a restart. */
static void reload_console(struct core *c, const struct gw_config *ncfg)
{
	char err[256] = "";
	if (c->web && ncfg->console.present) {
		if (web_reconfigure(c->web, &ncfg->console, err, sizeof err) != 0)
			log_warn("core", "reload: %s", err);
	} else if (c->web || ncfg->console.present) {
		log_warn("core", "reload: the console section was %s; that takes effect at the next restart",
			 c->web ? "removed" : "added");
	}
}

/* Sources whose client settings are unchanged keep running across a reload
 * (docs/mqtt_sources.md): a restart makes the broker resend, and Paho 1.3
 * leaks per client. Each is held (nothing more goes to the queue, so the
 * queue can be drained against the old config) and taken out of
 * c->sources so stop_southbound leaves it alone. */
static void keep_sources(struct core *c, const struct gw_config *ncfg, struct comm_carry *carry)
{
	carry->kept = calloc((size_t)ncfg->n_sources + 1, sizeof *carry->kept);
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
static void core_reload(struct core *c)
{
	reload_keepalive(c);
	sdnotify_reloading();
	log_info("core", "reloading %s", c->config_path);
	struct gw_config *ncfg = NULL;
	struct config_errors errs = { 0 };
	if (config_load(c->config_path, &ncfg, &errs) != 0) {
		log_config_errors(&errs);
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
	keep_sources(c, ncfg, &carry);
	store_begin(c->store);
	stop_southbound(c, &later, &carry);
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
	apply_log_level(ncfg);
	reload_console(c, ncfg);
	core_web_keep_warnings(c, &warned);
	config_errors_clear(&warned);
	if (uplink_settings_changed(old, ncfg))
		log_warn("core", "reload: uplink settings changed; they take effect at the next restart "
			 "(the outbox is kept either way)");
	if (start_southbound(c, &carry) != 0)
		log_error("core", "reload: some buses or sources did not start (see above); the others run");
	for (int s = 0; carry.kept && s < ncfg->n_sources; s++) {
		if (!carry.kept[s])
			continue;
		if (c->sources && c->sources[s] == carry.kept[s])
			mqtt_source_hold(carry.kept[s], false);
		else
			mqtt_source_stop(carry.kept[s]); /* the start failed before reaching it (logged) */
	}
	free(carry.kept);
	carry_writes(c, old, ncfg, time_mono_ms());
	free(carry.last_good_mono);
	free(carry.comm);
	config_free(old);
	/* Platform commands that arrived while the buses stopped, now against the new config. */
	store_begin(c->store);
	for (size_t i = 0; i < later.n; i++)
		core_handle_message(c, &later.m[i], time_mono_ms());
	core_drain_engine(c, time_mono_ms());
	(void)core_commit(c);
	free(later.m);
	log_info("core", "reloaded: %d buses, %d sources, %d devices, %d rules", ncfg->n_buses, ncfg->n_sources,
		 ncfg->n_devices, engine_rule_count(c->engine));
	sdnotify_ready("reloaded");
}

static int make_signalfd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	/* Blocked before any thread exists, so every thread inherits the mask and
	 * only the signalfd sees these signals. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void handle_signals(struct core *c)
{
	struct signalfd_siginfo si;
	while (read(c->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGTERM: case SIGINT:
			log_info("core", "signal %d: stopping", (int)si.ssi_signo);
			c->running = false;
			break;
		case SIGHUP:
			c->reload_requested = true;
			break;
		case SIGUSR2:
			if (getenv("GRIDGW_TEST_FAULTS") && strcmp(getenv("GRIDGW_TEST_FAULTS"), "1") == 0)
				c->hang_requested = true;
			break;
		}
	}
}

/* One iteration's worth of queued messages, bounded so timers and the
 * control socket are served even under a flood. Returns how many. */
static size_t handle_queue(struct core *c)
{
	static struct core_msg batch[BATCH]; /* core thread only */
	size_t total = 0;
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t n = queue_pop_many(c->q, batch, BATCH);
		if (n == 0)
			break;
		total += n;
		int64_t now = time_mono_ms();
		for (size_t i = 0; i < n; i++)
			core_handle_message(c, &batch[i], now);
		c->messages += n;
		core_drain_engine(c, now);
	}
	return total;
}

static int restore_one(void *ctx, const struct incident_row *r)
{
	struct core *c = ctx;
	if (strncmp(r->alarm_key, INCIDENTS_GATEWAY_KEY_PREFIX, strlen(INCIDENTS_GATEWAY_KEY_PREFIX)) == 0)
		return 0;
	if (engine_restore_alarm(c->engine, r->alarm_key, r->active, r->acked, r->count, r->severity,
				 time_mono_ms()) == 0)
		log_debug("core", "restored alarm %s (%s%s)", r->alarm_key, r->active ? "active" : "normal",
			  r->acked ? ", acked" : "");
	return 0;
}

/* After a restart the engine starts from the open incidents: an alarm that
 * ended while the gateway was down is cleared by the first fresh reading,
 * one still active is not raised twice. The gateway's own incidents
 * (uplink down, storage) are cleared by the core when their cause is gone. */
static void restore_open_alarms(struct core *c)
{
	if (store_each_incident(c->store, true, 1000000, restore_one, c) < 0)
		log_warn("core", "could not read open incidents to restore alarm states");
	c->uplink_down_raised = incidents_id_of(c->inc, INCIDENTS_GATEWAY_KEY_PREFIX "gateway.uplink_down") != NULL;
	c->storage_full_raised = incidents_id_of(c->inc, INCIDENTS_GATEWAY_KEY_PREFIX "gateway.storage") != NULL;
}

static int core_open(struct core *c, char *err, size_t errlen)
{
	const struct gw_config *cfg = c->cfg;
	if (mkdir(cfg->gateway.state_dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create state_dir %s: %s", cfg->gateway.state_dir, strerror(errno));
		return -1;
	}
	c->q = queue_create(QUEUE_CAPACITY, QUEUE_HIGH_WATER);
	if (!c->q) {
		snprintf(err, errlen, "out of memory (queue)");
		return -1;
	}
	struct store_recovery rec;
	c->store = store_open_recover(cfg->gateway.state_dir, &cfg->store, &rec, err, errlen);
	if (!c->store)
		return -1;
	c->engine = engine_create(cfg, err, errlen);
	if (!c->engine)
		return -1;
	c->inc = incidents_create(cfg, c->store);
	if (!c->inc || incidents_load_open(c->inc) < 0) {
		snprintf(err, errlen, "cannot load open incidents from the store");
		return -1;
	}
	restore_open_alarms(c);
	if (rec.replaced) /* a corrupt or empty store was moved aside: keep alarming, say so */
		(void)incidents_gateway(c->inc, "gateway.storage", 2, true, rec.reason, time_wall_ms());
	c->notify = notify_create(cfg, c->store, c->q, err, errlen);
	if (!c->notify)
		return -1;
	incidents_set_notify(c->inc, c->notify);
	notify_restore_incident(c->notify,
				incidents_id_of(c->inc, INCIDENTS_GATEWAY_KEY_PREFIX "gateway.notify") != NULL);
	char sock[256];
	int rc = control_socket_path(cfg->gateway.state_dir, sock, sizeof sock);
	if (rc == 0)
		c->ctl = control_open(sock, NULL, &rc, err, errlen);
	if (!c->ctl)
		return -1;
	chmod(sock, 0660);
	c->web_seq = store_last_seq(c->store);
	if (cfg->console.present) {
		c->web = web_start(&cfg->console, c->q, err, errlen);
		if (!c->web)
			return -1;
	}
	if (cfg->uplink.url) {
		c->up = uplink_create(cfg, c->q, err, errlen);
		if (!c->up)
			return -1;
		c->ob = outbox_create(c->store, c->up, cfg->uplink.inflight);
		if (!c->ob) {
			snprintf(err, errlen, "out of memory (outbox)");
			return -1;
		}
	}
	return 0;
}

static void core_close(struct core *c)
{
	if (c->cfg && (c->buses || c->sources)) {
		/* Readings still queued may raise alarms: handle them, store them. */
		struct deferred later = { 0 };
		store_begin(c->store);
		stop_southbound(c, &later, NULL);
		for (size_t i = 0; i < later.n; i++)
			core_handle_message(c, &later.m[i], time_mono_ms());
		core_drain_engine(c, time_mono_ms());
		incidents_flush_pending(c->inc, time_wall_ms());
		(void)core_commit(c);
		free(later.m);
	}
	core_free_results(c);
	core_web_abandon(c);
	/* Before the queue closes: the sender posts its results there. */
	if (c->inc)
		incidents_set_notify(c->inc, NULL);
	notify_destroy(c->notify);
	c->notify = NULL;
	/* After the last drain (web calls answered), before the queue goes:
	 * a call still queued is freed by queue_destroy. */
	web_stop(c->web);
	c->web = NULL;
	if (c->q)
		queue_close(c->q);
	if (c->up)
		uplink_stop(c->up);
	outbox_destroy(c->ob);
	uplink_destroy(c->up);
	control_close(c->ctl);
	incidents_destroy(c->inc);
	engine_destroy(c->engine);
	store_close(c->store);
	queue_destroy(c->q);
	core_web_keep_warnings(c, NULL);
	config_free(c->cfg);
	if (c->sigfd >= 0)
		close(c->sigfd);
}

/* Under a steady stream of point updates (bus threads post every poll) the
 * core would wake for every few messages. It takes the queue at most every
 * CORE_BATCH_MS instead, so one iteration (and one store transaction)
 * handles many messages: a few ms on an alarm's way to the platform for a
 * large cut in wake-ups. Signals and the control socket are served at once. */
#define CORE_BATCH_MS 5

static void run_loop(struct core *c)
{
	int64_t queue_after = 0;
	while (c->running) {
		int64_t now = time_mono_ms();
		int64_t deadline = core_next_deadline(c, now);
		bool batching = now < queue_after;
		if (batching && queue_after < deadline)
			deadline = queue_after;
		int timeout = deadline <= now ? 0 : (int)(deadline - now > 1000 ? 1000 : deadline - now);
		struct pollfd pfd[3] = {
			{ .fd = c->sigfd, .events = POLLIN },
			{ .fd = control_fd(c->ctl), .events = POLLIN },
			{ .fd = queue_fd(c->q), .events = POLLIN },
		};
		if (poll(pfd, batching ? 2 : 3, timeout) < 0 && errno != EINTR) {
			log_error("core", "poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN)
			handle_signals(c);
		while (c->hang_requested)
			pause(); /* test-only: a stuck core the watchdog must catch */
		if (c->reload_requested) {
			c->reload_requested = false;
			core_reload(c);
		}
		now = time_mono_ms();
		bool queue_ready = !batching || now >= queue_after;
		store_begin(c->store);
		/* The batching window opens only behind messages: an idle queue is
		 * waited for on its fd, not polled every CORE_BATCH_MS. */
		if (queue_ready && handle_queue(c) > 0)
			queue_after = now + CORE_BATCH_MS;
		if (pfd[1].revents & POLLIN)
			control_process(c->ctl, core_handle_control, c);
		now = time_mono_ms();
		engine_tick(c->engine, now);
		core_check_mqtt_offline(c, now);
		core_retry_writes(c, now);
		core_drain_engine(c, now);
		core_periodic(c, now);
		incidents_flush_pending(c->inc, time_wall_ms());
		/* Answers are published only if this commit (and every held
		 * incident event) made it; otherwise they wait. */
		(void)core_commit(c);
		core_web_after_commit(c);
		if (c->ob)
			outbox_pump(c->ob);
		/* Only committed jobs leave for the sender. */
		notify_tick(c->notify, time_wall_ms());
	}
}

static void run_usage(FILE *to)
{
	fprintf(to, "usage: gridgw run [-c FILE]\n"
		    "Runs the daemon in the foreground; logs to stderr. SIGHUP reloads the config,\n"
		    "SIGTERM/SIGINT stop it.\n"
		    "  -c, --config FILE   configuration (default $GRIDGW_CONF or " GRIDGW_DEFAULT_CONF ")\n"
		    "  -h, --help          this text\n");
}

int cmd_run(int argc, char **argv)
{
	const char *conf;
	int pr = cli_parse_config_only(argc, argv, &conf, run_usage);
	if (pr >= 0)
		return pr;
	if (optind < argc) {
		fprintf(stderr, "gridgw run: unexpected argument '%s'\n", argv[optind]);
		run_usage(stderr);
		return 2;
	}
	/* Paho honours proxy variables even for loopback (PITFALLS); unset them
	 * here, before any thread exists, rather than racing getenv later. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");
	struct core core = { .sigfd = -1, .running = true };
	struct core *c = &core;
	c->config_path = cli_config_path(conf);
	c->started_mono = time_mono_ms();

	/* libmodbus uses select(): an fd >= 1024 would corrupt memory (PITFALLS). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 1024) {
		rl.rlim_cur = 1024;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("core", "cannot lower RLIMIT_NOFILE to 1024: %s", strerror(errno));
	}
	c->sigfd = make_signalfd();
	if (c->sigfd < 0) {
		log_error("core", "signalfd: %s", strerror(errno));
		return 1;
	}
	struct config_errors errs = { 0 };
	if (config_load(c->config_path, &c->cfg, &errs) != 0) {
		log_config_errors(&errs);
		log_error("core", "%s: %d error(s); not starting", c->config_path, errs.n);
		config_errors_clear(&errs);
		close(c->sigfd);
		return 1;
	}
	core_web_keep_warnings(c, &errs);
	config_errors_clear(&errs);
	apply_log_level(c->cfg);
	log_info("core", "gridgw %s starting: gateway %s, %d buses, %d sources, %d devices", GRIDGW_VERSION,
		 c->cfg->gateway.id, c->cfg->n_buses, c->cfg->n_sources, c->cfg->n_devices);

	char err[512] = "";
	int status = 1;
	if (core_open(c, err, sizeof err) != 0) {
		log_error("core", "cannot start: %s", err);
		goto out;
	}
	if (start_southbound(c, NULL) != 0)
		log_error("core", "some buses or sources did not start (see above); the others run");
	if (c->up && uplink_start(c->up, time_mono_ms()) != 0)
		log_warn("core", "uplink: first connect refused; retrying with backoff");
	c->watchdog_interval_ms = sdnotify_watchdog_interval_ms();
	sdnotify_ready("running");
	log_info("core", "running; control socket in %s", c->cfg->gateway.state_dir);
	run_loop(c);
	sdnotify_stopping();
	status = 0;
out:
	core_close(c);
	log_info("core", "stopped");
	return status;
}
