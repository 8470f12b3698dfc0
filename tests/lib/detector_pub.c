/* detector_pub — a bounded loopback publisher for the community benchmark
 * (tests/bench/community.sh, issue #12 target 4): N battery smoke detectors
 * behind one MQTT bridge, each sending one JSON report every PERIOD seconds
 * (smoke_detector_mqtt's shape, on sensors/<id>/up), the reports of all
 * detectors spread evenly over the period (N / PERIOD messages a second).
 * ALARMS of them (every N/ALARMS-th) send an extra "alarm" report at a time
 * spread over the run and a "normal" one HOLD seconds later, as real
 * detectors report at once on alarm and on clear.
 *
 *   detector_pub -p PORT [-n 20000] [--period 60] [--seconds 180]
 *                [--alarms 200] [--hold 20] [--prefix smoke-] [--digits 6]
 *                [--rate R]
 *
 * --rate R replaces the period's pacing with R messages a second over all
 * detectors; --rate 0 sends as fast as Paho and the broker take them (a
 * flood: tests/bench/flood.sh), still bounded by --seconds.
 *
 * QoS 1. Prints "ALARM id" / "CLEAR id" as sent (stdout, flushed) and at exit
 * "SENT n ACKED n FAILED n ALARMS n CLEARS n" (ACKED: PUBACKs received).
 * Exits 1 if it cannot connect; stops at --seconds or SIGTERM. */
#include <MQTTAsync.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static atomic_int connected; /* 1 ok, -1 failed */
static atomic_long acked, failed;

static void conn_ok(void *ctx, MQTTAsync_successData *r) { (void)ctx; (void)r; connected = 1; }
static void conn_fail(void *ctx, MQTTAsync_failureData *r) { (void)ctx; (void)r; connected = -1; }
static void pub_ok(void *ctx, MQTTAsync_successData *r) { (void)ctx; (void)r; acked++; }
static void pub_fail(void *ctx, MQTTAsync_failureData *r) { (void)ctx; (void)r; failed++; }
static void lost(void *ctx, char *cause) { (void)ctx; (void)cause; failed++; }
static int arrived(void *ctx, char *topic, int tl, MQTTAsync_message *m)
{
	(void)ctx; (void)tl;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static int64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_until(int64_t ns)
{
	struct timespec t = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR && !stop_requested)
		;
}

static long sent;

/* One report; a full Paho buffer is retried briefly, then counted failed. */
static int publish(MQTTAsync c, const char *prefix, int digits, long dev, const char *status, long k)
{
	char topic[128], payload[256];
	snprintf(topic, sizeof topic, "sensors/%s%0*ld/up", prefix, digits, dev);
	int len = snprintf(payload, sizeof payload,
			   "{\"status\":\"%s\",\"data\":{\"smoke\":%s,\"temperature\":%.1f,\"battery\":%ld,"
			   "\"fault\":false,\"tamper\":false,\"self_test\":false}}",
			   status, status[0] == 'a' ? "0.31" : "0.02", 20.0 + (double)(k % 50) / 10, 60 + dev % 40);
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = payload;
	m.payloadlen = len;
	m.qos = 1;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = pub_ok;
	ro.onFailure = pub_fail;
	for (int tries = 0; tries < 200; tries++) {
		int rc = MQTTAsync_sendMessage(c, topic, &m, &ro);
		if (rc == MQTTASYNC_SUCCESS) {
			sent++;
			return 0;
		}
		struct timespec t = { 0, 5 * 1000 * 1000 };
		nanosleep(&t, NULL);
	}
	failed++;
	return -1;
}

int main(int argc, char **argv)
{
	long n = 20000, period = 60, seconds = 180, alarms = 200, hold = 20, port = 0, rate = -1;
	int digits = 6;
	const char *prefix = "smoke-";
	for (int i = 1; i < argc; i += 2) { /* every option takes one value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		if (!strcmp(a, "-p")) port = atol(v);
		else if (!strcmp(a, "-n")) n = atol(v);
		else if (!strcmp(a, "--period")) period = atol(v);
		else if (!strcmp(a, "--seconds")) seconds = atol(v);
		else if (!strcmp(a, "--alarms")) alarms = atol(v);
		else if (!strcmp(a, "--hold")) hold = atol(v);
		else if (!strcmp(a, "--prefix")) prefix = v;
		else if (!strcmp(a, "--digits")) digits = atoi(v);
		else if (!strcmp(a, "--rate")) rate = atol(v);
		else goto usage;
	}
	if (port <= 0 || n <= 0 || period <= 0 || seconds <= 0 || alarms < 0 || alarms > n || hold < 0 ||
	    hold >= seconds)
		goto usage;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	char url[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%ld", port);
	MQTTAsync c;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.maxBufferedMessages = 10000;
	if (MQTTAsync_createWithOptions(&c, url, "detector-pub", MQTTCLIENT_PERSISTENCE_NONE, NULL, &co) !=
	    MQTTASYNC_SUCCESS)
		return 1;
	MQTTAsync_setCallbacks(c, NULL, lost, arrived, NULL);
	MQTTAsync_connectOptions cn = MQTTAsync_connectOptions_initializer;
	cn.cleansession = 1;
	cn.MQTTVersion = MQTTVERSION_3_1_1;
	cn.onSuccess = conn_ok;
	cn.onFailure = conn_fail;
	if (MQTTAsync_connect(c, &cn) != MQTTASYNC_SUCCESS)
		return 1;
	for (int i = 0; i < 100 && connected == 0; i++)
		usleep(50 * 1000);
	if (connected != 1) {
		fprintf(stderr, "detector_pub: cannot connect to %s\n", url);
		return 1;
	}

	/* Alarm j (device j * step + step / 2) is sent at lead + j * spread and
	 * cleared HOLD s later; all within the run. */
	long step = alarms ? n / alarms : 1, n_alarm = 0, n_clear = 0;
	double lead = seconds >= hold + 15 ? 5 : 0;
	double spread = alarms ? ((double)(seconds - hold) - 2 * lead) / (double)alarms : 0;
	int64_t t0 = mono_ns(), end = t0 + seconds * 1000000000LL;
	int64_t gap = rate > 0 ? 1000000000LL / rate : rate == 0 ? 0 : period * 1000000000LL / n; /* between two reports */
	long k = 0;
	while (!stop_requested) {
		int64_t next = t0 + k * gap;
		while (n_clear < alarms) { /* alarms and clears due before the next regular report */
			int64_t ta = t0 + (int64_t)((lead + (double)n_alarm * spread) * 1e9);
			int64_t tc = t0 + (int64_t)((lead + (double)n_clear * spread + (double)hold) * 1e9);
			bool alarm = n_alarm < alarms && ta <= tc;
			int64_t t = alarm ? ta : tc;
			if (t > next)
				break;
			sleep_until(t);
			long j = alarm ? n_alarm++ : n_clear++;
			long dev = j * step + step / 2;
			if (publish(c, prefix, digits, dev, alarm ? "alarm" : "normal", k) == 0)
				printf("%s %s%0*ld\n", alarm ? "ALARM" : "CLEAR", prefix, digits, dev);
			fflush(stdout);
		}
		if (next >= end || (gap == 0 && mono_ns() >= end))
			break;
		if (gap > 0)
			sleep_until(next);
		if (stop_requested)
			break;
		publish(c, prefix, digits, k % n, "normal", k);
		k++;
	}
	/* PUBACKs of what was sent, within 10 s */
	for (int i = 0; i < 200 && acked + failed < sent; i++)
		usleep(50 * 1000);
	printf("SENT %ld ACKED %ld FAILED %ld ALARMS %ld CLEARS %ld\n", sent, (long)acked, (long)failed, n_alarm, n_clear);
	fflush(stdout);
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
	d.timeout = 1000;
	MQTTAsync_disconnect(c, &d);
	usleep(200 * 1000);
	MQTTAsync_destroy(&c);
	return failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: detector_pub -p PORT [-n N] [--period S] [--seconds S] [--alarms N] [--hold S] "
			"[--prefix P] [--digits D] [--rate R]\n");
	return 2;
}
