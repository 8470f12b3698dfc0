/* bench_uplink — how fast incident events leave the gateway for a loopback
 * mosquitto, beside the limit: bare Paho publishing the same messages.
 *
 *   bench_uplink --url tcp://127.0.0.1:PORT --dir SCRATCH [--events N]
 *                [--drain N] [--window W] [--runs R]
 *
 * Three figures, each the median of R runs (default 3):
 *   bare     Paho MQTTAsync alone: N QoS 1 publishes of the events' JSON,
 *            at most W unacknowledged (the same window as the outbox);
 *   live     the gateway's path: events appended to the store in batches
 *            while the outbox delivers them (store → uplink → PUBACK → mark
 *            delivered), from the first append to the last mark;
 *   drain    a backlog of --drain events (default 100,000) already in the
 *            store when the link comes up: from CONNECTED to backlog 0.
 * Prints one line per figure ("bench: NAME events/s=... runs=..."), then
 * live/bare and drain/bare as the median of each run's own ratio (the three
 * of a run are measured back to back, so on a shared box a ratio is steadier
 * than the figures: "bench: ratio live x=... drain x=..."), and exits
 * non-zero if any run failed to deliver everything. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gateway/config/config.h"
#include "common/log.h"
#include "common/mqtt_lib.h"
#include "gateway/uplink/outbox.h"
#include "common/queue.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "gateway/uplink/uplink.h"

struct bench_opts {
	const char *url, *dir;
	long events, drain;
	int window, runs;
};

static int event_json(uint64_t seq, char *buf, size_t len)
{
	char ts[32];
	time_format_iso(time_wall_ms(), ts, sizeof ts);
	return snprintf(buf, len,
		"{\"schema\":\"gridgw.incident/1\",\"gateway\":\"gw-bench\",\"id\":\"01JABCDEF%017" PRIu64 "\",\"seq\":%" PRIu64 ","
		"\"event\":\"updated\",\"type\":\"fire.smoke\",\"severity\":1,\"rule\":\"smoke\",\"device\":\"smoke-5-2-0701\","
		"\"kind\":\"smoke\",\"location\":{\"street\":\"Duling\",\"community\":\"Shangquan\",\"grid\":\"G03\","
		"\"building\":\"5\",\"entrance\":\"2\",\"floor\":7,\"room\":\"701\"},\"active\":true,\"acked\":false,"
		"\"workflow\":\"raised\",\"count\":1,\"first_ts\":\"%s\",\"ts\":\"%s\",\"message\":\"Smoke at 5-2-701\","
		"\"evidence\":{\"alarm\":true,\"smoke\":0.21,\"temp\":31.5}}", seq % 7, seq, ts, ts);
}

/* ---- bare Paho ---- */

/* The bare client uses the Paho build the gateway's path loads (through the
 * same table): one copy of Paho in the process, and the same code measured. */
static const struct mqtt_lib *paho;

struct bare {
	_Atomic long acked;
	_Atomic int connected;    /* 1 ok, -1 failed */
	_Atomic int failed;
	int efd;
};

static void bare_wake(struct bare *b)
{
	uint64_t one = 1;
	ssize_t w = write(b->efd, &one, sizeof one);
	(void)w;
}

static void bare_conn_ok(void *ctx, MQTTAsync_successData *r) { (void)r; struct bare *b = ctx; b->connected = 1; bare_wake(b); }
static void bare_conn_fail(void *ctx, MQTTAsync_failureData *r) { (void)r; struct bare *b = ctx; b->connected = -1; bare_wake(b); }
static void bare_pub_ok(void *ctx, MQTTAsync_successData *r) { (void)r; struct bare *b = ctx; b->acked++; bare_wake(b); }
static void bare_pub_fail(void *ctx, MQTTAsync_failureData *r) { (void)r; struct bare *b = ctx; b->failed++; bare_wake(b); }
static void bare_lost(void *ctx, char *cause) { (void)cause; struct bare *b = ctx; b->failed++; bare_wake(b); }
static int bare_arrived(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
	(void)ctx; (void)tl;
	paho->freeMessage(&m);
	paho->free(topic);
	return 1;
}

static void bare_wait(struct bare *b)
{
	struct pollfd p = { .fd = b->efd, .events = POLLIN };
	if (poll(&p, 1, 1000) > 0) {
		uint64_t v;
		ssize_t r = read(b->efd, &v, sizeof v);
		(void)r;
	}
}

/* Returns events/s, or -1. */
static double run_bare(const struct bench_opts *o)
{
	struct bare b = { .efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
	MQTTAsync c;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.sendWhileDisconnected = 0;
	double rate = -1;
	char err[256];
	if (!(paho = mqtt_lib_for_url(o->url, err, sizeof err))) {
		fprintf(stderr, "bench_uplink: %s\n", err);
		if (b.efd >= 0)
			close(b.efd);
		return -1;
	}
	if (b.efd < 0 || paho->createWithOptions(&c, o->url, "bench-bare", MQTTCLIENT_PERSISTENCE_NONE, NULL, &co)
	    != MQTTASYNC_SUCCESS) {
		if (b.efd >= 0)
			close(b.efd);
		return -1;
	}
	paho->setCallbacks(c, &b, bare_lost, bare_arrived, NULL);
	MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
	cn.cleansession = 1;
	cn.MQTTVersion = MQTTVERSION_3_1_1;
	cn.onSuccess = bare_conn_ok;
	cn.onFailure = bare_conn_fail;
	cn.context = &b;
	if (paho->connect(c, &cn) != MQTTASYNC_SUCCESS)
		goto out;
	for (int i = 0; i < 50 && b.connected == 0; i++)
		bare_wait(&b);
	if (b.connected != 1)
		goto out;
	char payload[1024];
	int64_t t0 = time_mono_ms();
	long sent = 0;
	while (b.acked < o->events && b.failed == 0) {
		while (sent < o->events && sent - b.acked < o->window) {
			int len = event_json((uint64_t)sent + 1, payload, sizeof payload);
			MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
			ro.onSuccess = bare_pub_ok;
			ro.onFailure = bare_pub_fail;
			ro.context = &b;
			MQTTAsync_message m = MQTTAsync_message_initializer;
			m.payload = payload;
			m.payloadlen = len;
			m.qos = 1;
			if (paho->sendMessage(c, "grid/v1/gw-bench-bare/incident", &m, &ro) != MQTTASYNC_SUCCESS)
				break;
			sent++;
		}
		bare_wait(&b);
	}
	int64_t dt = time_mono_ms() - t0;
	if (b.failed == 0 && b.acked == o->events)
		rate = (double)o->events * 1000.0 / (double)(dt > 0 ? dt : 1);
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
	d.timeout = 1000;
	paho->disconnect(c, &d);
	for (int i = 0; i < 100 && paho->isConnected(c); i++)
		usleep(10000);
out:
	paho->destroy(&c);
	close(b.efd);
	return rate;
}

/* ---- the gateway's path ---- */

struct gw {
	struct queue *q;
	struct store *st;
	struct uplink *up;
	struct outbox *ob;
	int64_t connected_at;
};

static int append_batch(struct store *st, long n)
{
	if (store_begin(st) != STORE_OK)
		return -1;
	char payload[1024];
	for (long i = 0; i < n; i++) {
		uint64_t seq = store_next_seq(st), got;
		int len = event_json(seq, payload, sizeof payload);
		if (store_append_event(st, "01JABCDEF00000000000000001", "incident", payload, (size_t)len, &got) != STORE_OK) {
			store_rollback(st);
			return -1;
		}
	}
	return store_commit(st) == STORE_OK ? 0 : -1;
}

static void gw_handle(struct gw *g, int64_t now)
{
	struct core_msg m[512];
	size_t n;
	while ((n = queue_pop_many(g->q, m, 512)) > 0) {
		for (size_t i = 0; i < n; i++) {
			switch (m[i].type) {
			case MSG_UPLINK_CONNECTED:
				uplink_on_connected(g->up, now);
				outbox_on_connected(g->ob);
				g->connected_at = now;
				break;
			case MSG_UPLINK_LOST:
				uplink_on_lost(g->up, m[i].u.blob.a != 0, m[i].u.blob.data, now);
				outbox_on_lost(g->ob);
				free(m[i].u.blob.data);
				break;
			case MSG_UPLINK_ACKED: outbox_on_acked(g->ob, m[i].u.uplink.seq); break;
			case MSG_UPLINK_FAILED: outbox_on_failed(g->ob, m[i].u.uplink.seq); break;
			case MSG_UPLINK_COMMAND: free(m[i].u.blob.data); break;
			default: break;
			}
		}
	}
}

static int gw_open(struct gw *g, const struct bench_opts *o, const char *dir, const char *id)
{
	char err[512];
	struct store_config sc = { .max_size_mb = 2048, .history_keep_ms = 86400000, .history_interval_ms = 60000,
				   .delivered_keep_ms = 86400000, .synchronous = "full" };
	struct gw_config cfg = { 0 };
	cfg.gateway.id = (char *)id;
	cfg.uplink.url = (char *)o->url;
	cfg.uplink.topic_prefix = "grid/v1";
	cfg.uplink.keepalive_ms = 30000;
	cfg.uplink.mqtt_version = 3;
	cfg.uplink.reconnect_min_ms = 200;
	cfg.uplink.reconnect_max_ms = 1000;
	g->q = queue_create(8192, 6144);
	g->st = store_open(dir, &sc, err, sizeof err);
	if (!g->q || !g->st) {
		fprintf(stderr, "bench: %s\n", err);
		return -1;
	}
	g->up = uplink_create(&cfg, g->q, err, sizeof err);
	if (!g->up) {
		fprintf(stderr, "bench: %s\n", err);
		return -1;
	}
	g->ob = outbox_create(g->st, g->up, o->window);
	return g->ob ? 0 : -1;
}

static void gw_close(struct gw *g)
{
	uplink_destroy(g->up);
	outbox_destroy(g->ob);
	store_close(g->st);
	queue_destroy(g->q);
}

/* One run: `preload` events in the store before connecting, `live` appended
 * in batches of 200 while delivering. Returns events/s over the measured
 * span (drain: from CONNECTED; live: from the first append), or -1. */
static double run_gw(const struct bench_opts *o, long preload, long live, const char *tag, int run)
{
	char dir[512], id[64];
	snprintf(dir, sizeof dir, "%s/%s-%d", o->dir, tag, run);
	snprintf(id, sizeof id, "gw-bench-%s-%d", tag, run);
	struct gw g = { 0 };
	double rate = -1;
	if (gw_open(&g, o, dir, id) != 0)
		goto out;
	for (long done = 0; done < preload; done += 1000)
		if (append_batch(g.st, preload - done < 1000 ? preload - done : 1000) != 0)
			goto out;
	if (uplink_start(g.up, time_mono_ms()) != 0)
		goto out;
	int64_t deadline = time_mono_ms() + 300000, t0 = 0;
	long appended = 0;
	while (time_mono_ms() < deadline) {
		int64_t now = time_mono_ms();
		int64_t wait = outbox_next_tick_ms(g.ob, now);
		int64_t w2 = uplink_next_tick_ms(g.up, now);
		if (wait < 0 || (w2 >= 0 && w2 < wait))
			wait = w2;
		if (wait < 0 || wait > 50)
			wait = 50;
		if (appended < live && g.connected_at)
			wait = 0;
		struct pollfd p = { .fd = queue_fd(g.q), .events = POLLIN };
		poll(&p, 1, (int)wait);
		now = time_mono_ms();
		gw_handle(&g, now);
		uplink_tick(g.up, now);
		if (g.connected_at && !t0)
			t0 = now;
		if (g.connected_at && appended < live) {
			long n = live - appended < 200 ? live - appended : 200;
			if (append_batch(g.st, n) != 0)
				goto out;
			appended += n;
		}
		if (outbox_pump(g.ob) < 0)
			goto out;
		struct outbox_stats s;
		outbox_get_stats(g.ob, &s);
		/* store_backlog is a COUNT: only asked once every event was marked. */
		if (appended == live && s.marked >= (uint64_t)(preload + live) && store_backlog(g.st) == 0) {
			int64_t dt = time_mono_ms() - t0;
			rate = (double)(preload + live) * 1000.0 / (double)(dt > 0 ? dt : 1);
			break;
		}
	}
out:
	gw_close(&g);
	return rate;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int report(const char *name, double *r, int runs, long events, const char *what)
{
	int bad = 0;
	for (int i = 0; i < runs; i++)
		bad |= r[i] < 0;
	qsort(r, (size_t)runs, sizeof *r, cmp_double);
	printf("bench: %-6s events/s=%.0f (median of %d; runs:", name, r[runs / 2], runs);
	for (int i = 0; i < runs; i++)
		printf(" %.0f", r[i]);
	printf(") %ld events, %s\n", events, what);
	fflush(stdout);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "dir", required_argument, NULL, 'd' },
		{ "events", required_argument, NULL, 'n' }, { "drain", required_argument, NULL, 'D' },
		{ "window", required_argument, NULL, 'w' }, { "runs", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts o = { .events = 50000, .drain = 100000, .window = 16, .runs = 3 };
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'u': o.url = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'n': o.events = atol(optarg); break;
		case 'D': o.drain = atol(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 'r': o.runs = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!o.url || !o.dir || o.runs < 1 || o.runs > 15 || o.events < 1 || o.drain < 1) {
		fprintf(stderr, "usage: bench_uplink --url URL --dir DIR [--events N] [--drain N] [--window W] [--runs R]\n");
		return 2;
	}
	log_set_level(LOG_LVL_WARN);
	double bare[15], live[15], drain[15];
	for (int i = 0; i < o.runs; i++) {
		bare[i] = run_bare(&o);
		live[i] = run_gw(&o, 0, o.events, "live", i);
		drain[i] = run_gw(&o, o.drain, 0, "drain", i);
	}
	double rl[15], rd[15];
	for (int i = 0; i < o.runs; i++) {
		rl[i] = bare[i] > 0 && live[i] > 0 ? live[i] / bare[i] : -1;
		rd[i] = bare[i] > 0 && drain[i] > 0 ? drain[i] / bare[i] : -1;
	}
	qsort(rl, (size_t)o.runs, sizeof *rl, cmp_double);
	qsort(rd, (size_t)o.runs, sizeof *rd, cmp_double);
	char what[160];
	snprintf(what, sizeof what, "bare Paho MQTTAsync, QoS 1, window %d (the limit)", o.window);
	int bad = report("bare", bare, o.runs, o.events, what);
	snprintf(what, sizeof what, "store -> outbox -> PUBACK -> marked delivered, appended while sending, window %d",
		 o.window);
	bad |= report("live", live, o.runs, o.events, what);
	snprintf(what, sizeof what, "backlog drained after connect, window %d", o.window);
	bad |= report("drain", drain, o.runs, o.drain, what);
	printf("bench: ratio live x=%.2f drain x=%.2f (medians of each run's ratio to its bare run; runs: live", rl[o.runs / 2],
	       rd[o.runs / 2]);
	for (int i = 0; i < o.runs; i++)
		printf(" %.2f", rl[i]);
	printf(", drain");
	for (int i = 0; i < o.runs; i++)
		printf(" %.2f", rd[i]);
	printf(")\n");
	return bad ? 1 : 0;
}
