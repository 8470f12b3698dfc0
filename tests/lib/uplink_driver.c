/* uplink_driver — a stand-in for the core, for the uplink's integration tests
 * and benchmark: its own poll loop over the queue fd and timers, a real store
 * in --state, the real uplink and outbox. It appends fake incident events
 * (several incidents interleaved, realistic JSON) in bursts until the store
 * holds --events of them in total — across restarts, so a run killed with
 * SIGKILL and started again continues where the store is — and delivers
 * them. With --commands it answers platform commands the way the core does:
 * parse, refuse with a reason or accept, replay a stored result for a
 * repeated req. With --telemetry-ms it publishes a snapshot of D fake
 * devices (10 points each) that often, through uplink_publish_telemetry.
 * With --source-config FILE it also starts every mqtt_sources entry of that
 * gridgw config on the same queue, and spends --source-cost-us on each
 * message from them (a core slower than a sensor flood); --queue sets the
 * queue's data capacity (default 8192) and --uplink-when-full starts the
 * uplink only once a flood has filled it (printing "FULL"), so the link's
 * CONNECTED and every PUBACK arrive while the queue is full of data.
 *
 *   uplink_driver --url URL --state DIR [--events N] [--burst B] [--burst-ms MS]
 *       [--incidents K] [--window W] [--mqtt 3|5] [--ca F --cert F --key F]
 *       [--no-verify] [--gateway ID] [--prefix P] [--commands]
 *       [--exit-when-empty] [--deadline SECONDS] [--quiet]
 *       [--telemetry-ms MS --devices D --max-payload BYTES]
 *       [--source-config FILE [--source-cost-us US] [--uplink-when-full]] [--queue CAP]
 *
 * Exit status: 0 when every event is delivered (--exit-when-empty) or at a
 * clean stop (SIGTERM/SIGINT), 3 when the deadline passed first, 1 on setup
 * errors. Prints one line of figures ("driver: appended=... ") at the end. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "gateway/uplink/command.h"
#include "sensors/mqtt_source.h"
#include "gateway/config/config.h"
#include "common/log.h"
#include "gateway/uplink/outbox.h"
#include "common/queue.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "gateway/uplink/uplink.h"

struct driver_opts {
	const char *url, *state, *gateway, *prefix, *ca, *cert, *key, *source_config;
	long events, burst, burst_ms, incidents, window, telemetry_ms, devices, max_payload, queue_cap, source_cost_us;
	int mqtt, deadline_s;
	bool verify, commands, exit_when_empty, quiet, uplink_when_full;
};

struct driver {
	struct driver_opts opt;
	struct queue *q;
	struct store *st;
	struct uplink *up;
	struct outbox *ob;
	int sigfd;
	int64_t next_burst_ms;
	int64_t next_backlog_ms;
	int64_t next_telemetry_ms;
	int telemetry_sent;
	int64_t backlog;
	uint64_t appended_now;  /* appended by this run */
	int connects, losses, commands;
	bool stop;
	/* --source-config */
	struct gw_config *src_cfg;
	struct mqtt_source **src;
	int n_src;
	uint64_t source_msgs;   /* data messages the sources brought */
	bool uplink_started;
	int64_t uplink_start_ms;
};

static void usage(void)
{
	fprintf(stderr, "usage: uplink_driver --url URL --state DIR [--events N] [--burst B] [--burst-ms MS]\n"
		"  [--incidents K] [--window W] [--mqtt 3|5] [--ca F --cert F --key F] [--no-verify]\n"
		"  [--gateway ID] [--prefix P] [--commands] [--exit-when-empty] [--deadline S] [--quiet]\n"
		"  [--source-config FILE [--source-cost-us US] [--uplink-when-full]] [--queue CAP]\n");
}

static int parse_opts(int argc, char **argv, struct driver_opts *o)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "state", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'n' }, { "burst", required_argument, NULL, 'b' },
		{ "burst-ms", required_argument, NULL, 'B' }, { "incidents", required_argument, NULL, 'k' },
		{ "window", required_argument, NULL, 'w' }, { "mqtt", required_argument, NULL, 'm' },
		{ "ca", required_argument, NULL, 'A' }, { "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' }, { "no-verify", no_argument, NULL, 'V' },
		{ "gateway", required_argument, NULL, 'g' }, { "prefix", required_argument, NULL, 'p' },
		{ "commands", no_argument, NULL, 'c' }, { "exit-when-empty", no_argument, NULL, 'e' },
		{ "deadline", required_argument, NULL, 'd' }, { "quiet", no_argument, NULL, 'q' },
		{ "telemetry-ms", required_argument, NULL, 't' }, { "devices", required_argument, NULL, 'D' },
		{ "max-payload", required_argument, NULL, 'M' },
		{ "source-config", required_argument, NULL, 'S' }, { "source-cost-us", required_argument, NULL, 'U' },
		{ "uplink-when-full", no_argument, NULL, 'F' }, { "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct driver_opts){ .gateway = "gw-test", .prefix = "grid/v1", .burst = 500, .burst_ms = 10,
				   .incidents = 7, .window = 16, .mqtt = 3, .deadline_s = 120, .verify = true,
				   .devices = 20, .max_payload = 16384, .queue_cap = 8192 };
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'u': o->url = optarg; break;
		case 's': o->state = optarg; break;
		case 'n': o->events = atol(optarg); break;
		case 'b': o->burst = atol(optarg); break;
		case 'B': o->burst_ms = atol(optarg); break;
		case 'k': o->incidents = atol(optarg); break;
		case 'w': o->window = atol(optarg); break;
		case 'm': o->mqtt = atoi(optarg); break;
		case 'A': o->ca = optarg; break;
		case 'C': o->cert = optarg; break;
		case 'K': o->key = optarg; break;
		case 'V': o->verify = false; break;
		case 'g': o->gateway = optarg; break;
		case 'p': o->prefix = optarg; break;
		case 'c': o->commands = true; break;
		case 'e': o->exit_when_empty = true; break;
		case 'd': o->deadline_s = atoi(optarg); break;
		case 'q': o->quiet = true; break;
		case 't': o->telemetry_ms = atol(optarg); break;
		case 'D': o->devices = atol(optarg); break;
		case 'M': o->max_payload = atol(optarg); break;
		case 'S': o->source_config = optarg; break;
		case 'U': o->source_cost_us = atol(optarg); break;
		case 'F': o->uplink_when_full = true; break;
		case 'Q': o->queue_cap = atol(optarg); break;
		default: usage(); return -1;
		}
	}
	if (!o->url || !o->state || o->burst < 1 || o->incidents < 1 || o->window < 1 || o->devices < 1 ||
	    o->devices > 1000 || o->queue_cap < 1 || o->source_cost_us < 0 ||
	    (o->uplink_when_full && !o->source_config)) {
		usage();
		return -1;
	}
	return 0;
}

static void incident_id(long k, char *buf, size_t len)
{
	snprintf(buf, len, "01JABCDEF%017ld", k);  /* 26 Crockford characters, a valid ULID */
}

/* Appends up to `burst` events in one transaction, stopping at --events total. */
static int append_burst(struct driver *d)
{
	uint64_t have = store_next_seq(d->st) - 1;
	if ((long)have >= d->opt.events)
		return 0;
	long n = d->opt.events - (long)have;
	if (n > d->opt.burst)
		n = d->opt.burst;
	if (store_begin(d->st) != STORE_OK)
		return -1;
	char ts[32], id[32], payload[1024];
	time_format_iso(time_wall_ms(), ts, sizeof ts);
	for (long i = 0; i < n; i++) {
		uint64_t seq = store_next_seq(d->st);
		long k = (long)(seq * 2654435761u % (uint64_t)d->opt.incidents);
		incident_id(k, id, sizeof id);
		int len = snprintf(payload, sizeof payload,
			"{\"schema\":\"gridgw.incident/1\",\"gateway\":\"%s\",\"id\":\"%s\",\"seq\":%" PRIu64 ","
			"\"event\":\"%s\",\"type\":\"fire.smoke\",\"severity\":1,\"rule\":\"smoke\","
			"\"device\":\"smoke-5-2-%04ld\",\"kind\":\"smoke\",\"location\":{\"street\":\"Duling\","
			"\"community\":\"Shangquan\",\"grid\":\"G03\",\"building\":\"5\",\"entrance\":\"2\","
			"\"floor\":7,\"room\":\"701\"},\"active\":true,\"acked\":false,\"workflow\":\"raised\","
			"\"count\":%" PRIu64 ",\"first_ts\":\"%s\",\"ts\":\"%s\",\"message\":\"Smoke at 5-2-701\","
			"\"evidence\":{\"alarm\":true,\"smoke\":0.21,\"temp\":31.5}}",
			d->opt.gateway, id, seq, seq <= (uint64_t)d->opt.incidents ? "raised" : "updated", k,
			seq, ts, ts);
		uint64_t got = 0;
		if (store_append_event(d->st, id, "incident", payload, (size_t)len, &got) != STORE_OK || got != seq) {
			fprintf(stderr, "driver: append failed: %s (seq %" PRIu64 " vs %" PRIu64 ")\n",
				store_last_error(d->st), got, seq);
			store_rollback(d->st);
			return -1;
		}
	}
	if (store_commit(d->st) != STORE_OK) {
		fprintf(stderr, "driver: commit failed: %s\n", store_last_error(d->st));
		return -1;
	}
	d->appended_now += (uint64_t)n;
	return (int)n;
}

/* What the core does with a platform command, minus applying it. */
static void handle_command(struct driver *d, const char *payload, size_t len)
{
	struct command cmd;
	char err[160];
	d->commands++;
	int rc = command_parse(payload, len, &cmd, err, sizeof err);
	if (rc == 0) {
		char *stored = NULL;
		if (store_get_command_result(d->st, cmd.req, &stored) == STORE_OK) {
			/* A replay: answer what was answered, apply nothing. */
			uplink_publish(d->up, "cmd/result", stored, strlen(stored), 1, false, 0);
			free(stored);
			return;
		}
		char res[512];
		int n = command_result_json(cmd.req, true, NULL, res, sizeof res);
		if (n > 0 && store_put_command_result(d->st, cmd.req, res) != STORE_OK)
			fprintf(stderr, "driver: storing command result: %s\n", store_last_error(d->st));
		if (n > 0)
			uplink_publish(d->up, "cmd/result", res, (size_t)n, 1, false, 0);
		return;
	}
	uplink_publish_result(d->up, cmd.req, false, err);
}

/* The core's work on a source message, as time: a flood outruns it. */
static void source_work(struct driver *d, size_t n)
{
	d->source_msgs += n;
	long us = d->opt.source_cost_us * (long)n;
	if (us > 0)
		nanosleep(&(struct timespec){ us / 1000000, (us % 1000000) * 1000 }, NULL);
}

/* At most 16 batches per step, so a flood that keeps the queue full cannot
 * keep the loop from the uplink's and the outbox's timers. */
static void handle_messages(struct driver *d, int64_t now)
{
	struct core_msg m[256];
	size_t n;
	for (int batch = 0; batch < 16 && (n = queue_pop_many(d->q, m, 256)) > 0; batch++) {
		size_t from_sources = 0;
		for (size_t i = 0; i < n; i++) {
			switch (m[i].type) {
			case MSG_SOURCE_POINTS:
				from_sources++;
				break;
			case MSG_POINT:
				from_sources++;
				break;
			case MSG_UPLINK_CONNECTED:
				d->connects++;
				uplink_on_connected(d->up, now);
				outbox_on_connected(d->ob);
				break;
			case MSG_UPLINK_LOST:
				if (uplink_is_up(d->up))
					d->losses++;
				uplink_on_lost(d->up, m[i].u.blob.a != 0, m[i].u.blob.data, now);
				outbox_on_lost(d->ob);
				free(m[i].u.blob.data);
				break;
			case MSG_UPLINK_ACKED:
				outbox_on_acked(d->ob, m[i].u.uplink.seq);
				break;
			case MSG_UPLINK_FAILED:
				outbox_on_failed(d->ob, m[i].u.uplink.seq);
				break;
			case MSG_UPLINK_COMMAND:
				if (d->opt.commands)
					handle_command(d, m[i].u.blob.data, m[i].u.blob.len);
				free(m[i].u.blob.data);
				break;
			default:
				break;
			}
		}
		source_work(d, from_sources);
		now = time_mono_ms();
	}
}

/* A snapshot of fake devices (10 points each; every 5th point not good). */
static void send_telemetry(struct driver *d)
{
	static const char *const names[10] = { "alarm", "smoke", "temp", "battery", "fault",
					       "tilt", "open", "water", "gas", "rssi" };
	int nd = (int)d->opt.devices;
	struct telemetry_device *devs = calloc((size_t)nd, sizeof *devs);
	struct telemetry_point *pts = calloc((size_t)nd * 10, sizeof *pts);
	char (*ids)[32] = calloc((size_t)nd, sizeof *ids);
	if (devs && pts && ids) {
		for (int i = 0; i < nd; i++) {
			snprintf(ids[i], sizeof ids[i], "dev-%04d", i);
			for (int p = 0; p < 10; p++)
				pts[i * 10 + p] = (struct telemetry_point){ names[p], i + p / 10.0, p % 5 != 4 };
			devs[i] = (struct telemetry_device){ ids[i], i % 4 != 0, &pts[i * 10], 10 };
		}
		int n = uplink_publish_telemetry(d->up, time_wall_ms(), devs, nd, d->backlog);
		if (n > 0)
			d->telemetry_sent++;
	}
	free(devs);
	free(pts);
	free(ids);
}

static int64_t min_wait(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static int start_sources(struct driver *d)
{
	struct config_errors errs = { 0 };
	if (config_load(d->opt.source_config, &d->src_cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "driver: %s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return -1;
	}
	config_errors_clear(&errs);
	d->src = calloc(d->src_cfg->n_sources ? (size_t)d->src_cfg->n_sources : 1, sizeof *d->src);
	if (!d->src)
		return -1;
	char err[512];
	for (int i = 0; i < d->src_cfg->n_sources; i++, d->n_src++) {
		d->src[i] = mqtt_source_start(d->src_cfg, i, d->q, err, sizeof err);
		if (!d->src[i]) {
			fprintf(stderr, "driver: source: %s\n", err);
			return -1;
		}
	}
	return 0;
}

static int driver_setup(struct driver *d)
{
	char err[512] = "";
	struct store_config sc = { .max_size_mb = 1024, .history_keep_ms = 86400000,
				   .history_interval_ms = 60000, .delivered_keep_ms = 86400000,
				   .synchronous = "full" };
	d->st = store_open(d->opt.state, &sc, err, sizeof err);
	if (!d->st) {
		fprintf(stderr, "driver: store: %s\n", err);
		return -1;
	}
	struct gw_config cfg = { 0 };
	cfg.gateway.id = (char *)d->opt.gateway;
	cfg.uplink.url = (char *)d->opt.url;
	cfg.uplink.client_id = (char *)d->opt.gateway;
	cfg.uplink.topic_prefix = (char *)d->opt.prefix;
	cfg.uplink.keepalive_ms = 5000;
	cfg.uplink.mqtt_version = d->opt.mqtt;
	cfg.uplink.inflight = (int)d->opt.window;
	cfg.uplink.max_payload = (int)d->opt.max_payload;
	cfg.uplink.reconnect_min_ms = 200;
	cfg.uplink.reconnect_max_ms = 2000;
	if (d->opt.ca || d->opt.cert || !d->opt.verify) {
		cfg.uplink.tls.present = true;
		cfg.uplink.tls.ca = (char *)d->opt.ca;
		cfg.uplink.tls.cert = (char *)d->opt.cert;
		cfg.uplink.tls.key = (char *)d->opt.key;
		cfg.uplink.tls.verify = d->opt.verify;
	}
	d->q = queue_create((size_t)d->opt.queue_cap, (size_t)d->opt.queue_cap * 3 / 4);
	if (!d->q)
		return -1;
	if (d->opt.source_config && start_sources(d) != 0)
		return -1;
	d->up = uplink_create(&cfg, d->q, err, sizeof err);
	if (!d->up) {
		fprintf(stderr, "driver: uplink: %s\n", err);
		return -1;
	}
	d->ob = outbox_create(d->st, d->up, (int)d->opt.window);
	if (!d->ob)
		return -1;
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) != 0 || (d->sigfd = signalfd(-1, &ss, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "driver: signalfd: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void driver_teardown(struct driver *d)
{
	for (int i = 0; i < d->n_src; i++)
		mqtt_source_stop(d->src[i]);
	free(d->src);
	if (d->src_cfg)
		config_free(d->src_cfg);
	uplink_destroy(d->up);  /* before the outbox: no callbacks after this */
	outbox_destroy(d->ob);
	store_close(d->st);
	queue_destroy(d->q);
	if (d->sigfd >= 0)
		close(d->sigfd);
}

static void start_uplink(struct driver *d, int64_t now)
{
	d->uplink_started = true;
	d->uplink_start_ms = now;
	if (uplink_start(d->up, now) != 0)
		fprintf(stderr, "driver: first connect refused, retrying\n");
}

/* One loop iteration: wait, handle, append, pump. Returns 1 when done. */
static int driver_step(struct driver *d, int64_t deadline)
{
	int64_t now = time_mono_ms();
	int64_t wait = min_wait(uplink_next_tick_ms(d->up, now), outbox_next_tick_ms(d->ob, now));
	bool appending = (long)(store_next_seq(d->st) - 1) < d->opt.events;
	if (appending)
		wait = min_wait(wait, d->next_burst_ms > now ? d->next_burst_ms - now : 0);
	if (d->opt.telemetry_ms > 0)
		wait = min_wait(wait, d->next_telemetry_ms > now ? d->next_telemetry_ms - now : 0);
	wait = min_wait(wait, 100);
	struct pollfd pfd[2] = { { .fd = queue_fd(d->q), .events = POLLIN }, { .fd = d->sigfd, .events = POLLIN } };
	if (poll(pfd, 2, (int)wait) < 0 && errno != EINTR)
		return -1;
	if (pfd[1].revents & POLLIN) {
		struct signalfd_siginfo si;
		if (read(d->sigfd, &si, sizeof si) > 0)
			d->stop = true;
	}
	now = time_mono_ms();
	if (!d->uplink_started && queue_length(d->q) >= (size_t)d->opt.queue_cap) {
		printf("FULL queue=%zu after %" PRIu64 " source messages\n", queue_length(d->q), d->source_msgs);
		fflush(stdout);
		start_uplink(d, now);
	}
	handle_messages(d, now);
	if (!d->uplink_started)
		return now >= deadline ? 3 : 0;
	uplink_tick(d->up, now);
	if (appending && now >= d->next_burst_ms) {
		if (append_burst(d) < 0)
			return -1;
		d->next_burst_ms = now + d->opt.burst_ms;
	}
	if (outbox_pump(d->ob) < 0)
		fprintf(stderr, "driver: pump: %s\n", store_last_error(d->st));
	if (now >= d->next_backlog_ms) {
		d->backlog = store_backlog(d->st);
		d->next_backlog_ms = now + 50;
		struct status_counts sc = { .devices_online = 3, .devices_offline = 1, .open_incidents = (int)d->opt.incidents,
					    .backlog = d->backlog };
		uplink_set_status(d->up, &sc, now);
	}
	if (d->opt.telemetry_ms > 0 && now >= d->next_telemetry_ms) {
		d->next_telemetry_ms = now + d->opt.telemetry_ms;
		send_telemetry(d);
	}
	if (d->stop)
		return 1;
	if (d->opt.exit_when_empty && !appending && d->backlog == 0)
		return 1;
	if (now >= deadline)
		return 3;
	return 0;
}

int main(int argc, char **argv)
{
	struct driver d = { .sigfd = -1 };
	if (parse_opts(argc, argv, &d.opt) != 0)
		return 1;
	log_set_level(d.opt.quiet ? LOG_LVL_WARN : LOG_LVL_INFO);
	int status = 1;
	if (driver_setup(&d) != 0)
		goto out;
	int64_t t0 = time_mono_ms();
	int64_t deadline = t0 + (int64_t)d.opt.deadline_s * 1000;
	d.backlog = store_backlog(d.st);
	if (!d.opt.uplink_when_full)
		start_uplink(&d, t0);
	int rc;
	while ((rc = driver_step(&d, deadline)) == 0)
		;
	if (rc < 0)
		goto out;
	d.backlog = store_backlog(&*d.st);
	status = rc == 3 ? 3 : 0;
	struct outbox_stats s;
	outbox_get_stats(d.ob, &s);
	printf("driver: appended=%" PRIu64 " last_seq=%" PRIu64 " backlog=%" PRId64 " published=%" PRIu64
	       " acked=%" PRIu64 " marked=%" PRIu64 " rewinds=%" PRIu64 " failed=%" PRIu64 " refused=%" PRIu64
	       " connects=%d losses=%d commands=%d telemetry=%d elapsed_ms=%" PRId64 " state=%s"
	       " source_msgs=%" PRIu64 " queue_dropped=%" PRIu64 " uplink_ms=%" PRId64 "\n",
	       d.appended_now, store_next_seq(d.st) - 1, d.backlog, s.published, s.acked, s.marked, s.rewinds,
	       s.failed, s.refused, d.connects, d.losses, d.commands, d.telemetry_sent, time_mono_ms() - t0,
	       uplink_state_name(uplink_state(d.up)), d.source_msgs, queue_dropped(d.q),
	       d.uplink_started ? time_mono_ms() - d.uplink_start_ms : -1);
	fflush(stdout);
out:
	driver_teardown(&d);
	return status;
}
