/* bare_sub — the floor for the community benchmark (tests/bench/community.sh,
 * issue #12 target 4): a Paho MQTTAsync client that subscribes at QoS 1 to
 * the same topic as gridgw's source, on the same broker, and only counts
 * what it receives. Its CPU beside gridgw's is what receiving the stream
 * costs with nothing done about it (Paho's receive thread, its PUBACKs).
 *
 *   bare_sub -p PORT -t TOPIC [--seconds 600]
 *
 * Prints "SUBSCRIBED" once subscribed (stdout, flushed) and at exit
 * "RECEIVED n". Exits 1 if it cannot connect or subscribe; stops at
 * --seconds or SIGTERM. */
#include <MQTTAsync.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static atomic_int state; /* 1 connected, 2 subscribed, -1 failed */
static atomic_long received;

static void conn_ok(void *ctx, MQTTAsync_successData *r) { (void)ctx; (void)r; state = 1; }
static void conn_fail(void *ctx, MQTTAsync_failureData *r) { (void)ctx; (void)r; state = -1; }
static void sub_ok(void *ctx, MQTTAsync_successData *r) { (void)ctx; (void)r; state = 2; }
static void sub_fail(void *ctx, MQTTAsync_failureData *r) { (void)ctx; (void)r; state = -1; }

static int on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
	(void)ctx;
	(void)tlen;
	received++;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static int wait_state(int want, int seconds)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	for (int i = 0; i < seconds * 100 && state != want && state >= 0 && !stop_requested; i++)
		nanosleep(&ts, NULL);
	return state == want ? 0 : -1;
}

int main(int argc, char **argv)
{
	int port = 0, seconds = 600;
	const char *topic = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-p") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-t") == 0)
			topic = argv[i + 1];
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "bare_sub: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (port <= 0 || !topic || seconds <= 0) {
		fprintf(stderr, "usage: bare_sub -p PORT -t TOPIC [--seconds N]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	/* as cheap as Paho gets: no in-memory trace ring (gateway/cli/main.c) */
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
	char url[64], id[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	snprintf(id, sizeof id, "bare-sub-%d", (int)getpid());
	MQTTAsync c;
	if (MQTTAsync_create(&c, url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS)
		return 1;
	if (MQTTAsync_setCallbacks(c, NULL, NULL, on_message, NULL) != MQTTASYNC_SUCCESS)
		return 1;
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	co.cleansession = 1;
	co.keepAliveInterval = 20;
	co.onSuccess = conn_ok;
	co.onFailure = conn_fail;
	if (MQTTAsync_connect(c, &co) != MQTTASYNC_SUCCESS || wait_state(1, 10) < 0) {
		fprintf(stderr, "bare_sub: cannot connect to %s\n", url);
		return 1;
	}
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = sub_ok;
	ro.onFailure = sub_fail;
	if (MQTTAsync_subscribe(c, topic, 1, &ro) != MQTTASYNC_SUCCESS || wait_state(2, 10) < 0) {
		fprintf(stderr, "bare_sub: cannot subscribe to %s\n", topic);
		return 1;
	}
	printf("SUBSCRIBED\n");
	fflush(stdout);
	for (int i = 0; i < seconds * 10 && !stop_requested; i++)
		usleep(100 * 1000);
	MQTTAsync_disconnectOptions dop = MQTTAsync_disconnectOptions_initializer;
	dop.timeout = 1000;
	(void)MQTTAsync_disconnect(c, &dop);
	printf("RECEIVED %ld\n", (long)received);
	fflush(stdout);
	MQTTAsync_destroy(&c);
	return 0;
}
