/* source_driver — integration-test helper for the MQTT sources: loads a
 * gridgw config, starts every mqtt_source, and does what the core does with
 * the points they post (each source decodes its own messages), printing to
 * stdout, flushed:
 *
 *   POINT DEVICE POINT VALUE QUALITY TS     one per point update
 *   DROP SOURCE REASON                       a message the source's map refused
 *                                            (from its counters; the log names the topic)
 *   CONNECTED SOURCE n / DISCONNECTED SOURCE n / SUBSCRIBED SOURCE n
 *                                            state changes (n counts them)
 *   PUBLISH SOURCE rc                        result of --publish
 *   STATS ...                                counters, at exit
 *
 * Usage: source_driver -c FILE [--seconds N] [--publish TOPIC PAYLOAD]
 *                      [--queue CAP] [--stall N] [-v]
 * Runs N seconds (default 30) or until SIGTERM/SIGINT. --publish sends one
 * QoS 1 message on source 0 once it is subscribed (rule-action path).
 * --queue sets the core queue capacity (default 4096) and --stall stops
 * popping it for N seconds after every source has subscribed, printing
 * STALLED / RESUMED, to exercise the queue-full path. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/config/config.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/timeutil.h"
#include "sensors/json_map.h"
#include "sensors/mqtt_source.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct driver {
	struct gw_config *cfg;
	struct queue *q;
	struct json_map_stats *seen; /* per source: the map counters already reported */
	struct mqtt_source **src;
	bool *was_connected, *was_subscribed;
	int *n_connected, *n_disconnected, *n_subscribed;
	const char *pub_topic, *pub_payload;
	bool published;
	int64_t stall_ms;       /* --stall */
	int64_t resume_at;      /* monotonic ms; 0 = not stalled yet */
};

static void print_point(const struct gw_config *cfg, int device, int point, const struct point_value *pv)
{
	const struct device_config *dc = &cfg->devices[device];
	const struct point_def *pd = &cfg->profiles[dc->profile].points[point];
	printf("POINT %s %s %.17g %s %lld\n", dc->id, pd->name, pv->value, quality_name(pv->quality),
	       (long long)pv->ts_ms);
}

static void handle_message(struct driver *d, struct core_msg *m)
{
	if (m->type != MSG_SOURCE_POINTS)
		return;
	for (int i = 0; i < m->u.points.n; i++) {
		int point;
		struct point_value pv;
		core_msg_point(m, i, &point, &pv);
		print_point(d->cfg, m->u.points.device, point, &pv);
	}
}

static void print_drops(const char *source, const char *reason, uint64_t now, uint64_t *seen)
{
	for (; *seen < now; (*seen)++)
		printf("DROP %s %s\n", source, reason);
}

/* What each source's map refused since the last look. */
static void watch_drops(struct driver *d)
{
	for (int i = 0; i < d->cfg->n_sources; i++) {
		struct mqtt_source_stats ss;
		mqtt_source_get_stats(d->src[i], &ss);
		const char *name = d->cfg->sources[i].name;
		struct json_map_stats *seen = &d->seen[i];
		print_drops(name, json_map_strerror(JSON_MAP_MALFORMED), ss.map.malformed, &seen->malformed);
		print_drops(name, json_map_strerror(JSON_MAP_UNKNOWN_DEVICE), ss.map.unknown_device, &seen->unknown_device);
		print_drops(name, json_map_strerror(JSON_MAP_NO_DEVICE_ID), ss.map.no_device_id, &seen->no_device_id);
		print_drops(name, json_map_strerror(JSON_MAP_OVERSIZED), ss.map.oversized, &seen->oversized);
	}
}

static void watch_states(struct driver *d)
{
	for (int i = 0; i < d->cfg->n_sources; i++) {
		struct mqtt_source_stats ss;
		mqtt_source_get_stats(d->src[i], &ss);
		const char *name = d->cfg->sources[i].name;
		if (ss.connected != d->was_connected[i]) {
			d->was_connected[i] = ss.connected;
			if (ss.connected)
				printf("CONNECTED %s %d\n", name, ++d->n_connected[i]);
			else
				printf("DISCONNECTED %s %d\n", name, ++d->n_disconnected[i]);
		}
		if (ss.subscribed != d->was_subscribed[i]) {
			d->was_subscribed[i] = ss.subscribed;
			if (ss.subscribed)
				printf("SUBSCRIBED %s %d\n", name, ++d->n_subscribed[i]);
		}
		if (i == 0 && d->pub_topic && !d->published && ss.subscribed) {
			int rc = mqtt_source_publish(d->src[0], d->pub_topic, d->pub_payload, strlen(d->pub_payload), 1);
			printf("PUBLISH %s %d\n", name, rc);
			d->published = rc == 0;
		}
	}
}

static void print_stats(struct driver *d)
{
	struct json_map_stats st = { 0 };
	for (int i = 0; i < d->cfg->n_sources; i++) {
		struct mqtt_source_stats ss;
		mqtt_source_get_stats(d->src[i], &ss);
		json_map_stats_add(&st, &ss.map);
		printf("STATS source=%s received=%llu oversized=%llu backlogged=%llu deferred=%llu connects=%llu lost=%llu "
		       "subscribe_failed=%llu published=%llu publish_failed=%llu\n",
		       d->cfg->sources[i].name, (unsigned long long)ss.received, (unsigned long long)ss.oversized,
		       (unsigned long long)ss.backlogged, (unsigned long long)ss.deferred, (unsigned long long)ss.connects, (unsigned long long)ss.lost,
		       (unsigned long long)ss.subscribe_failed, (unsigned long long)ss.published,
		       (unsigned long long)ss.publish_failed);
	}
	printf("STATS map messages=%llu malformed=%llu unknown_device=%llu no_device_id=%llu wrong_type=%llu "
	       "oversized=%llu points=%llu ts_rejected=%llu\n",
	       (unsigned long long)st.messages, (unsigned long long)st.malformed,
	       (unsigned long long)st.unknown_device, (unsigned long long)st.no_device_id,
	       (unsigned long long)st.wrong_type, (unsigned long long)st.oversized,
	       (unsigned long long)st.points, (unsigned long long)st.ts_rejected);
}

static bool all_subscribed(struct driver *d)
{
	for (int i = 0; i < d->cfg->n_sources; i++)
		if (!d->was_subscribed[i])
			return false;
	return true;
}

static void run(struct driver *d, int64_t seconds)
{
	int64_t end = time_mono_ms() + seconds * 1000;
	struct core_msg batch[64];
	while (!stop_requested && time_mono_ms() < end) {
		struct pollfd pfd = { .fd = queue_fd(d->q), .events = POLLIN };
		int rc = poll(&pfd, 1, 50);
		if (rc < 0 && errno != EINTR) {
			perror("poll");
			break;
		}
		if (d->stall_ms > 0 && d->resume_at == 0 && all_subscribed(d)) {
			d->resume_at = time_mono_ms() + d->stall_ms;
			printf("STALLED\n");
		}
		if (d->resume_at > 0 && d->stall_ms > 0) {
			if (time_mono_ms() < d->resume_at) {
				watch_states(d);
				fflush(stdout);
				struct timespec ts = { 0, 20 * 1000 * 1000 };
				nanosleep(&ts, NULL);  /* the eventfd stays readable: do not spin on poll */
				continue;
			}
			d->stall_ms = 0;
			printf("RESUMED\n");
		}
		size_t n;
		while ((n = queue_pop_many(d->q, batch, 64)) > 0) {
			for (size_t i = 0; i < n; i++)
				handle_message(d, &batch[i]);
		}
		watch_drops(d);
		watch_states(d);
		fflush(stdout);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: source_driver -c FILE [--seconds N] [--publish TOPIC PAYLOAD] [--queue CAP] [--stall N] [-v]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int64_t seconds = 30;
	long qcap = 4096;
	struct driver d = { 0 };
	log_set_level(LOG_LVL_INFO);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtoll(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--publish") == 0 && i + 2 < argc) {
			d.pub_topic = argv[++i];
			d.pub_payload = argv[++i];
		} else if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc)
			qcap = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--stall") == 0 && i + 1 < argc)
			d.stall_ms = strtoll(argv[++i], NULL, 10) * 1000;
		else if (strcmp(argv[i], "-v") == 0)
			log_set_level(LOG_LVL_DEBUG);
		else
			return usage();
	}
	if (!path || seconds <= 0 || qcap < 1 || d.stall_ms < 0)
		return usage();
	signal(SIGPIPE, SIG_IGN);  /* Paho #1346 */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	struct config_errors errs = { 0 };
	if (config_load(path, &d.cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		return 2;
	}
	config_errors_clear(&errs);
	char err[512];
	int ret = 2;
	int ns = d.cfg->n_sources;
	d.q = queue_create((size_t)qcap, (size_t)qcap);
	d.seen = calloc(ns ? (size_t)ns : 1, sizeof *d.seen);
	d.src = calloc(ns ? (size_t)ns : 1, sizeof *d.src);
	d.was_connected = calloc(ns ? (size_t)ns : 1, sizeof *d.was_connected);
	d.was_subscribed = calloc(ns ? (size_t)ns : 1, sizeof *d.was_subscribed);
	d.n_connected = calloc(ns ? (size_t)ns : 1, sizeof *d.n_connected);
	d.n_disconnected = calloc(ns ? (size_t)ns : 1, sizeof *d.n_disconnected);
	d.n_subscribed = calloc(ns ? (size_t)ns : 1, sizeof *d.n_subscribed);
	if (!d.q || !d.seen || !d.src || !d.was_connected || !d.was_subscribed || !d.n_connected || !d.n_disconnected ||
	    !d.n_subscribed) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	for (int i = 0; i < ns; i++) {
		d.src[i] = mqtt_source_start(d.cfg, i, d.q, err, sizeof err);
		if (!d.src[i]) {
			fprintf(stderr, "%s\n", err);
			goto out;
		}
	}
	run(&d, seconds);
	print_stats(&d);
	ret = 0;
out:
	fflush(stdout);
	for (int i = 0; d.src && i < ns; i++)
		mqtt_source_stop(d.src[i]);
	free(d.seen);
	if (d.q)
		queue_destroy(d.q);
	free(d.src);
	free(d.was_connected);
	free(d.was_subscribed);
	free(d.n_connected);
	free(d.n_disconnected);
	free(d.n_subscribed);
	config_free(d.cfg);
	return ret;
}
