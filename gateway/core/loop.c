/* loop — `gridgw run`: the daemon's life cycle and its one core thread.
 *
 * The core thread owns all state (config, rule engine, incidents, store,
 * outbox). Bus threads, MQTT callbacks and the control socket reach it only
 * through the queue (common/queue.h), so nothing here takes a lock. Each
 * loop iteration: wait in poll() on the queue's eventfd, the signalfd and the
 * control socket until the earliest timer; then, inside ONE store
 * transaction, handle queued messages (dispatch.c), run the engine's timers
 * and turn its outputs into incidents and actions; commit (platform.c);
 * then feed the outbox (events are published only once committed). One
 * fsync per iteration, however many events it wrote.
 *
 * What each step does lives in the file of its concept (core.h lists them);
 * SIGHUP is reload.c. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
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
#include "gateway/core/sdnotify.h"
#include "gateway/notify/notify.h"
#include "gateway/store/store.h"
#include "gateway/uplink/outbox.h"
#include "gateway/uplink/uplink.h"
#include "gateway/web/web.h"
#include "common/log.h"
#include "common/timeutil.h"

/* (2048 + 1024 control) x 200 B = 0.6 MB: the whole ring is touched as it
 * cycles; a bus posts one message per device poll, so 2048 hold 4 s of 500
 * devices. */
#define QUEUE_CAPACITY 2048

#define QUEUE_HIGH_WATER 1536   /* bus threads wait above this; Paho callbacks use the rest */

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
	static struct core_msg batch[CORE_QUEUE_BATCH]; /* core thread only */
	size_t total = 0;
	for (int rounds = 0; rounds < 16; rounds++) {
		/* Platform commands the full control slots (or the core's pause)
		 * held back wait in the uplink, in order; each round frees slots. */
		core_pace_commands(c);
		uplink_feed_commands(c->up);
		size_t n = queue_pop_many(c->q, batch, CORE_QUEUE_BATCH);
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
	/* Only the size cap is a condition the prune clears; a store replaced at
	 * an earlier start stays open until someone closes it (operations.md §9). */
	const char *msg = incidents_message_of(c->inc, INCIDENTS_GATEWAY_KEY_PREFIX "gateway.storage");
	c->storage_full_raised = msg && strcmp(msg, CORE_STORAGE_CAP_MESSAGE) == 0;
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
	/* The instance lock first: a second `gridgw run` on this state_dir must
	 * stop here, before the store's start-up check could move the running
	 * daemon's store aside as corrupt. */
	char sock[256];
	int rc = control_socket_path(cfg->gateway.state_dir, sock, sizeof sock);
	if (rc == 0)
		c->ctl = control_open(sock, NULL, &rc, err, errlen);
	if (!c->ctl)
		return -1;
	if (chmod(sock, 0660) != 0) /* the operators' group then cannot connect: say so, keep alarming */
		log_warn("core", "cannot make %s group-writable: %s", sock, strerror(errno));
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
	notify_report_start(c->notify, c->inc, time_wall_ms());
	c->web_seq = store_last_seq(c->store);
	if (cfg->console.present) {
		/* The console is for the people on site; alarms, the store and
		 * the uplink must not wait for it (a port taken, a TLS file or
		 * libmicrohttpd missing): say so, go on, a reload retries it. */
		char werr[256] = "";
		c->web = web_start(&cfg->console, c->q, werr, sizeof werr);
		if (!c->web)
			log_error("core", "console not started: %s (the gateway runs on; fix it and reload)", werr);
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
		core_stop_southbound(c, &later, NULL);
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

/* Under a steady stream of point updates the core would wake for every few
 * messages. Behind a large batch, or one that left more queued, it takes
 * the queue at most every CORE_BATCH_MS instead, so one iteration (and one
 * store transaction) handles many messages: a few ms on an alarm's way to
 * the platform for a large cut in wake-ups. A small batch that emptied the
 * queue opens no window: its producer batched already (a bus once per tick,
 * an MQTT source's feeder once per MQTT_SOURCE_LINGER_MS), and a window
 * would only add a second, empty wake-up per batch (measured: 206 wake-ups
 * a second for ~100 feeder batches at 20,000 detectors a minute). Signals
 * and the control socket are served at once. */
#define CORE_BATCH_MS 5
#define CORE_BATCH_SMALL 16

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
		size_t handled = queue_ready ? handle_queue(c) : 0;
		if (handled >= CORE_BATCH_SMALL || (handled > 0 && queue_length(c->q) > 0))
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
		core_log_config_errors(&errs);
		log_error("core", "%s: %d error(s); not starting", c->config_path, errs.n);
		config_errors_clear(&errs);
		close(c->sigfd);
		return 1;
	}
	core_web_keep_warnings(c, &errs);
	config_errors_clear(&errs);
	core_apply_log_level(c->cfg);
	log_info("core", "gridgw %s starting: gateway %s, %d buses, %d sources, %d devices", GRIDGW_VERSION,
		 c->cfg->gateway.id, c->cfg->n_buses, c->cfg->n_sources, c->cfg->n_devices);

	char err[512] = "";
	int status = 1;
	if (core_open(c, err, sizeof err) != 0) {
		log_error("core", "cannot start: %s", err);
		goto out;
	}
	if (core_start_southbound(c, NULL) != 0)
		log_error("core", "some buses or sources did not start (see above); the others run");
	(void)malloc_trim(0); /* libconfig's tree of the config is freed: give its heap back */
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
