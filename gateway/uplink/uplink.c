/* uplink — the Paho MQTTAsync client to the platform's broker. See uplink.h.
 *
 * State lives in struct uplink and is touched by the core thread only. The
 * callbacks (Paho's threads, under Paho's global mutex) read only what never
 * changes after uplink_create (the queue, the command topic) and the ack
 * slots below, and only enqueue.
 *
 * Ack slots: a publish that wants its PUBACK reported (seq != 0) gets a slot
 * {uplink, seq} as its Paho context. The success/failure callback swaps the
 * seq out (atomically) and posts it. The slots live inside struct uplink, so
 * nothing is allocated per message and nothing leaks when Paho drops a
 * request without calling back — which it does for every in-flight publish
 * when a clean session ends (MQTTAsync_cleanSession →
 * MQTTAsync_removeResponsesAndCommands frees them silently). Because of that,
 * the slots are cleared when the core handles MSG_UPLINK_LOST: by then the
 * old session's requests are gone, and the callbacks that did run were
 * queued before the LOST message. Slots are taken round-robin so a slot is
 * reused only ACK_SLOTS publishes later. */
#include "gateway/uplink/uplink.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/uplink/command.h"
#include "common/mqtt_lib.h"
#include "common/log.h"
#include "common/timeutil.h"

#ifndef GRIDGW_VERSION
#define GRIDGW_VERSION "0"
#endif

#define ACK_SLOTS 1024
#define TOPIC_MAX 256
#define CONNECT_TIMEOUT_S 10
/* A connect with no answer after this long is treated as failed. */
#define CONNECT_WATCHDOG_MS ((CONNECT_TIMEOUT_S + 10) * 1000)
/* How often the core re-checks Paho's view of the link while up. */
#define UP_CHECK_MS 1000

struct ack_slot {
	struct uplink *u;
	_Atomic uint64_t seq;     /* 0 = free */
};

/* Commands the core's control slots had no room for, in arrival order. */
struct held_command {
	struct held_command *next;
	struct core_msg msg;
};

/* Bounds of the held commands: a platform burst of a few thousand fits;
 * past them a command is left with Paho as the last resort (held_command). */
#define HELD_COMMANDS_MAX 8192
#define HELD_COMMAND_BYTES_MAX (4u << 20)

struct uplink {
	const struct mqtt_lib *mq;  /* the Paho build that created client: every call goes through it */
	MQTTAsync client;
	bool client_created;
	struct queue *q;
	/* Held commands (see command_hold): `held_lock` is a leaf lock, taken
	 * by Paho's receive thread and the core, never while calling Paho. */
	pthread_mutex_t held_lock;
	struct held_command *held_head, *held_tail;
	atomic_size_t held_n;     /* written under held_lock; read without it to skip an empty feed */
	size_t held_bytes;
	bool held_warned;         /* one WARN per episode */
	bool paho_warned;
	atomic_bool cmd_paused;   /* the core asks for no more commands for now */
	/* copied configuration */
	char *url, *client_id, *username, *password, *ca, *cert, *key;
	bool use_tls, verify;
	int mqtt_version;         /* 3 or 5 */
	int keepalive_s;
	size_t max_payload;
	int64_t reconnect_min_ms, reconnect_max_ms;
	char gateway[128];
	char base[TOPIC_MAX];     /* "P/G" */
	char topic_status[TOPIC_MAX + 16];
	char topic_cmd[TOPIC_MAX + 16];
	char will[512];
	/* link state (core thread) */
	enum uplink_state state;
	int attempts;
	bool down_reported;       /* the failure is logged: later retries only at DEBUG */
	int64_t next_connect_ms;  /* mono, when DOWN */
	int64_t connect_started_ms;
	int64_t down_since_ms;
	int64_t last_up_check_ms;
	bool lost_posted;         /* a synthetic LOST is already queued */
	uint64_t rng;
	/* status */
	struct status_counts status_cur, status_pub;
	bool status_set, status_published;
	int64_t status_pub_ms;
	/* acks */
	struct ack_slot slots[ACK_SLOTS];
	unsigned slot_next;
};

/* ---- callbacks (Paho's threads: enqueue only) ---- */

static void post_lost(struct queue *q, bool connect_failed, const char *text)
{
	struct core_msg m = { .type = MSG_UPLINK_LOST };
	m.u.blob.a = connect_failed ? 1 : 0;
	m.u.blob.data = strdup(text);
	m.u.blob.len = m.u.blob.data ? strlen(m.u.blob.data) : 0;
	if (queue_push_nowait(q, &m) != 0)
		free(m.u.blob.data);  /* the core's watchdog in uplink_tick notices the state anyway */
}

static void cb_connection_lost(void *ctx, char *cause)
{
	struct uplink *u = ctx;
	char text[256];
	snprintf(text, sizeof text, "connection lost%s%s", cause ? ": " : "", cause ? cause : "");
	post_lost(u->q, false, text);  /* cause is Paho's (and NULL in 1.3.12) */
}

/* Under held_lock: into the core queue, or behind the commands already
 * held so the core sees them in arrival order. 0 = taken, -1 = past the
 * bounds (the caller leaves the command with Paho). */
static int command_take_locked(struct uplink *u, struct core_msg *m)
{
	if (!u->held_head && !atomic_load(&u->cmd_paused) && queue_push_nowait(u->q, m) == 0)
		return 0;
	if (u->held_n >= HELD_COMMANDS_MAX || u->held_bytes + m->u.blob.len > HELD_COMMAND_BYTES_MAX)
		return -1;
	struct held_command *h = malloc(sizeof *h);
	if (!h)
		return -1;
	h->next = NULL;
	h->msg = *m;
	if (u->held_tail)
		u->held_tail->next = h;
	else
		u->held_head = h;
	u->held_tail = h;
	u->held_n++;
	u->held_bytes += m->u.blob.len;
	if (!u->held_warned) {
		u->held_warned = true;
		log_warn("uplink", "the core is behind: platform commands wait in the uplink, in order");
	}
	return 0;
}

/* A command the core's control slots cannot take yet (a burst while every
 * commit fails costs a commit each) is held here, in order, and moved on by
 * uplink_feed_commands as the core frees slots. It must not be dropped: the
 * broker counts it delivered (Paho PUBACKs on receipt). Leaving it with
 * Paho (returning 0) is only the last resort past the bounds: Paho offers a
 * held message again only when its socket has something to read, one per
 * read (mqtt_source.c measured 8 of 50 in 90 s). Returns Paho's answer. */
static int command_hold(struct uplink *u, struct core_msg *m)
{
	pthread_mutex_lock(&u->held_lock);
	int rc = command_take_locked(u, m);
	bool warn = rc != 0 && !u->paho_warned;
	if (warn)
		u->paho_warned = true;
	pthread_mutex_unlock(&u->held_lock);
	if (rc == 0)
		return 1;
	if (queue_is_closed(u->q)) {
		free(m->u.blob.data);
		return 1; /* shutting down: let it go */
	}
	if (warn)
		log_error("uplink", "%d platform commands held and the core takes none: the next wait in the MQTT client",
			  HELD_COMMANDS_MAX);
	free(m->u.blob.data);
	return 0;
}

void uplink_pause_commands(struct uplink *u, bool pause)
{
	if (u)
		atomic_store(&u->cmd_paused, pause);
}

void uplink_feed_commands(struct uplink *u)
{
	/* Called at every queue round: with nothing held (almost always) it
	 * takes no lock. A command held just after this look is fed next round:
	 * it was held because the queue was full or paused, so there is one. */
	if (!u || atomic_load(&u->cmd_paused) || atomic_load_explicit(&u->held_n, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&u->held_lock);
	bool had = u->held_head != NULL;
	while (u->held_head && queue_push_nowait(u->q, &u->held_head->msg) == 0) {
		struct held_command *h = u->held_head;
		u->held_head = h->next;
		if (!u->held_head)
			u->held_tail = NULL;
		u->held_n--;
		u->held_bytes -= h->msg.u.blob.len;
		free(h);
	}
	bool flowing = had && !u->held_head;
	if (flowing)
		u->held_warned = u->paho_warned = false;
	pthread_mutex_unlock(&u->held_lock);
	if (flowing)
		log_info("uplink", "platform commands flow to the core again");
}

static void free_held_commands(struct uplink *u)
{
	size_t n = 0;
	while (u->held_head) {
		struct held_command *h = u->held_head;
		u->held_head = h->next;
		free(h->msg.u.blob.data);
		free(h);
		n++;
	}
	u->held_tail = NULL;
	u->held_n = u->held_bytes = 0;
	if (n)
		log_warn("uplink", "%zu platform commands not applied at stop (the platform's retry sends them again)", n);
}

static int cb_message_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct uplink *u = ctx;
	size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	if (tl == strlen(u->topic_cmd) && memcmp(topic, u->topic_cmd, tl) == 0 && msg->payloadlen >= 0) {
		/* Copy one byte more than the parser accepts so "too large" is still detected. */
		size_t n = (size_t)msg->payloadlen;
		if (n > COMMAND_MAX_PAYLOAD + 1)
			n = COMMAND_MAX_PAYLOAD + 1;
		struct core_msg m = { .type = MSG_UPLINK_COMMAND };
		m.u.blob.data = malloc(n + 1);
		if (m.u.blob.data) {
			memcpy(m.u.blob.data, msg->payload, n);
			m.u.blob.data[n] = '\0';
			m.u.blob.len = n;
			m.u.blob.a = msg->payloadlen;
			if (command_hold(u, &m) == 0)
				return 0;
		}
	}
	/* 1 = handled (also a message we cannot copy or another topic). */
	u->mq->freeMessage(&msg);
	u->mq->free(topic);
	return 1;
}

static void cb_connect_ok(void *ctx, MQTTAsync_successData *r)
{
	(void)r;
	struct uplink *u = ctx;
	struct core_msg m = { .type = MSG_UPLINK_CONNECTED };
	/* Control reserve: a sensor flood cannot crowd it out; if even that is
	 * full, the core's connect watchdog in uplink_tick catches up. */
	(void)queue_push_nowait(u->q, &m);
}

static void cb_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
	struct uplink *u = ctx;
	char text[256];
	snprintf(text, sizeof text, "connect failed (%d) %s", r ? r->code : -1, r && r->message ? r->message : "");
	post_lost(u->q, true, text);
}

static void cb_connect_ok5(void *ctx, MQTTAsync_successData5 *r)
{
	(void)r;
	cb_connect_ok(ctx, NULL);
}

static void cb_connect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	struct uplink *u = ctx;
	char text[256];
	snprintf(text, sizeof text, "connect failed (%d, reason %d) %s", r ? r->code : -1, r ? (int)r->reasonCode : 0,
		 r && r->message ? r->message : "");
	post_lost(u->q, true, text);
}

static void ack_post(struct ack_slot *slot, enum core_msg_type type)
{
	uint64_t seq = atomic_exchange(&slot->seq, 0);
	if (seq == 0)
		return;
	struct core_msg m = { .type = type };
	m.u.uplink.seq = seq;
	/* Acks use the queue's control reserve, which data never fills; should
	 * even that be full, the ack is lost: the event stays undelivered in the
	 * store, and the outbox resends it after its ack timeout (a duplicate, never a gap). */
	queue_push_nowait(slot->u->q, &m);
}

static void cb_pub_ok(void *ctx, MQTTAsync_successData *r)   { (void)r; ack_post(ctx, MSG_UPLINK_ACKED); }
static void cb_pub_fail(void *ctx, MQTTAsync_failureData *r) { (void)r; ack_post(ctx, MSG_UPLINK_FAILED); }
static void cb_pub_ok5(void *ctx, MQTTAsync_successData5 *r)   { (void)r; ack_post(ctx, MSG_UPLINK_ACKED); }
static void cb_pub_fail5(void *ctx, MQTTAsync_failureData5 *r) { (void)r; ack_post(ctx, MSG_UPLINK_FAILED); }

/* Publishes without a seq: nobody waits, a failure is only worth a line. */
static void cb_plain_fail(void *ctx, MQTTAsync_failureData *r)
{
	(void)ctx;
	log_warn("uplink", "publish failed (%d) %s", r ? r->code : -1, r && r->message ? r->message : "");
}

static void cb_plain_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	(void)ctx;
	log_warn("uplink", "publish failed (%d, reason %d)", r ? r->code : -1, r ? (int)r->reasonCode : 0);
}

/* Without the cmd subscription the platform cannot reach the gateway: say so. */
static void cb_sub_ok(void *ctx, MQTTAsync_successData *r)
{
	struct uplink *u = ctx;
	if (r && r->alt.qos == 0x80)
		log_error("uplink", "broker refused the subscription to %s: no platform commands", u->topic_cmd);
}

static void cb_sub_fail(void *ctx, MQTTAsync_failureData *r)
{
	struct uplink *u = ctx;
	log_error("uplink", "subscribe %s failed (%d): no platform commands", u->topic_cmd, r ? r->code : -1);
}

static void cb_sub_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
	struct uplink *u = ctx;
	log_error("uplink", "subscribe %s failed (reason %d): no platform commands", u->topic_cmd,
		  r ? (int)r->reasonCode : -1);
}

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

int64_t uplink_backoff_ms(int attempt, int64_t min_ms, int64_t max_ms, uint64_t *rng)
{
	if (min_ms < 1)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	int64_t base = min_ms;
	for (int i = 1; i < attempt && base < max_ms; i++)
		base = base > max_ms / 2 ? max_ms : base * 2;
	if (base > max_ms)
		base = max_ms;
	int64_t half = base / 2;
	return base - half + (int64_t)(rng_next(rng) % (uint64_t)(half + 1));
}

static char *dup_or_null(const char *s)
{
	return s && s[0] ? strdup(s) : NULL;
}

static bool topic_part_ok(const char *s)
{
	return s && s[0] && !strpbrk(s, "+#");
}

static void free_config_copies(struct uplink *u)
{
	free(u->url); free(u->client_id); free(u->username); free(u->password);
	free(u->ca); free(u->cert); free(u->key);
}

static int check_file(const char *what, const char *path, char *err, size_t errlen)
{
	if (path && access(path, R_OK) != 0) {
		snprintf(err, errlen, "uplink.tls.%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int copy_config(struct uplink *u, const struct gw_config *cfg, char *err, size_t errlen)
{
	const struct uplink_config *uc = &cfg->uplink;
	if (!uc->url || !uc->url[0]) {
		snprintf(err, errlen, "uplink.url is not set");
		return -1;
	}
	bool tcp = !strncmp(uc->url, "tcp://", 6) || !strncmp(uc->url, "mqtt://", 7);
	u->use_tls = !strncmp(uc->url, "ssl://", 6) || !strncmp(uc->url, "mqtts://", 8);
	if (!tcp && !u->use_tls) {
		snprintf(err, errlen, "uplink.url %s: scheme must be tcp:// or ssl://", uc->url);
		return -1;
	}
	const char *gw = cfg->gateway.id;
	const char *prefix = uc->topic_prefix ? uc->topic_prefix : "grid/v1";
	if (!topic_part_ok(gw) || !topic_part_ok(prefix)) {
		snprintf(err, errlen, "gateway.id and uplink.topic_prefix must be non-empty, without + or #");
		return -1;
	}
	if (snprintf(u->gateway, sizeof u->gateway, "%s", gw) >= (int)sizeof u->gateway ||
	    snprintf(u->base, sizeof u->base, "%s/%s", prefix, gw) >= (int)sizeof u->base - 16) {
		snprintf(err, errlen, "gateway.id or uplink.topic_prefix too long");
		return -1;
	}
	snprintf(u->topic_status, sizeof u->topic_status, "%s/status", u->base);
	snprintf(u->topic_cmd, sizeof u->topic_cmd, "%s/cmd", u->base);
	if (uc->tls.present && !u->use_tls)
		log_warn("uplink", "uplink.tls is set but %s is not ssl://: TLS settings unused", uc->url);
	if (u->use_tls && (check_file("ca", uc->tls.ca, err, errlen) || check_file("cert", uc->tls.cert, err, errlen) ||
			   check_file("key", uc->tls.key, err, errlen)))
		return -1;
	u->url = strdup(uc->url);
	u->client_id = strdup(uc->client_id && uc->client_id[0] ? uc->client_id : gw);
	u->username = dup_or_null(uc->username);
	u->password = dup_or_null(uc->password);
	u->ca = dup_or_null(uc->tls.ca);
	u->cert = dup_or_null(uc->tls.cert);
	u->key = dup_or_null(uc->tls.key);
	u->verify = uc->tls.present ? uc->tls.verify : true;
	if (u->use_tls && !u->verify)
		log_warn("uplink", "uplink.tls verify = false: the broker's certificate chain and hostname are NOT checked");
	if (!u->url || !u->client_id) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	u->mqtt_version = uc->mqtt_version == 5 ? 5 : 3;
	int64_t ka = uc->keepalive_ms > 0 ? uc->keepalive_ms : 30000;
	u->keepalive_s = ka < 1000 ? 1 : ka > 65535000 ? 65535 : (int)(ka / 1000);
	u->max_payload = uc->max_payload >= TELEMETRY_MIN_PAYLOAD ? (size_t)uc->max_payload : 16384;
	u->reconnect_min_ms = uc->reconnect_min_ms > 0 ? uc->reconnect_min_ms : 1000;
	u->reconnect_max_ms = uc->reconnect_max_ms > 0 ? uc->reconnect_max_ms : 60000;
	return 0;
}

static int create_client(struct uplink *u, char *err, size_t errlen)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	if (u->mqtt_version == 5) {
		MQTTAsync_createOptions co5 = MQTTAsync_createOptions_initializer5;
		co = co5;
	}
	co.MQTTVersion = u->mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	co.sendWhileDisconnected = 0;  /* the store is the outbox, not Paho's buffer */
	co.maxBufferedMessages = 256;  /* room for telemetry parts beside the window */
	co.deleteOldestMessages = 0;
	co.restoreMessages = 0;
	co.persistQoS0 = 0;
	if (!(u->mq = mqtt_lib_for_url(u->url, err, errlen)))
		return -1;
	int rc = u->mq->createWithOptions(&u->client, u->url, u->client_id, MQTTCLIENT_PERSISTENCE_NONE,
					     NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "MQTTAsync_create %s: %s (%d)", u->url, u->mq->strerror(rc), rc);
		return -1;
	}
	u->client_created = true;
	rc = u->mq->setCallbacks(u->client, u, cb_connection_lost, cb_message_arrived, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "MQTTAsync_setCallbacks: %s (%d)", u->mq->strerror(rc), rc);
		return -1;
	}
	return 0;
}

struct uplink *uplink_create(const struct gw_config *cfg, struct queue *q, char *err, size_t errlen)
{
	struct uplink *u = calloc(1, sizeof *u);
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->q = q;
	pthread_mutex_init(&u->held_lock, NULL);
	for (int i = 0; i < ACK_SLOTS; i++) {
		u->slots[i].u = u;
		atomic_init(&u->slots[i].seq, 0);
	}
	if (copy_config(u, cfg, err, errlen) != 0)
		goto fail;
	/* Paho 1.3.12 routes through http(s)_proxy even for loopback: the uplink is
	 * always direct. Done before Paho starts its threads. */
	unsetenv("http_proxy"); unsetenv("https_proxy");
	unsetenv("HTTP_PROXY"); unsetenv("HTTPS_PROXY");
	/* A peer closing a socket mid-write must not kill the daemon (Paho #1346). */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	if (create_client(u, err, errlen) != 0)
		goto fail;
	u->rng = (uint64_t)time_wall_ms() ^ ((uint64_t)getpid() << 32);
	for (const char *p = u->client_id; *p; p++)
		u->rng = (u->rng ^ (unsigned char)*p) * 0x100000001b3ULL;
	if (status_json(u->gateway, false, GRIDGW_VERSION, time_wall_ms(), NULL, u->will, sizeof u->will) < 0) {
		snprintf(err, errlen, "gateway.id too long for the status message");
		goto fail;
	}
	u->state = UPLINK_DOWN;
	u->down_since_ms = time_mono_ms();
	return u;
fail:
	if (u->client_created)
		u->mq->destroy(&u->client);
	pthread_mutex_destroy(&u->held_lock);
	free_config_copies(u);
	free(u);
	return NULL;
}

static int connect_now(struct uplink *u, int64_t now)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	if (u->mqtt_version == 5) {
		MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
		co = co5;
		co.cleanstart = 1;
		co.onSuccess5 = cb_connect_ok5;
		co.onFailure5 = cb_connect_fail5;
	} else {
		co.cleansession = 1;
		co.MQTTVersion = MQTTVERSION_3_1_1;
		co.onSuccess = cb_connect_ok;
		co.onFailure = cb_connect_fail;
	}
	co.context = u;
	co.keepAliveInterval = u->keepalive_s;
	co.connectTimeout = CONNECT_TIMEOUT_S;
	co.automaticReconnect = 0;    /* ours has jitter */
	co.username = u->username;
	co.password = u->password;
	/* The will's ts says since when it stands: this connect. */
	status_json(u->gateway, false, GRIDGW_VERSION, time_wall_ms(), NULL, u->will, sizeof u->will);
	MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;
	wo.topicName = u->topic_status;
	wo.message = u->will;
	wo.retained = 1;
	wo.qos = 1;
	co.will = &wo;
	MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
	if (u->use_tls) {
		so.trustStore = u->ca;
		/* A configured CA is the only trust anchor: a public CA's certificate
		 * for some other broker must not pass. Without one, the system store. */
		so.disableDefaultTrustStore = u->ca ? 1 : 0;
		so.keyStore = u->cert;
		so.privateKey = u->key;
		so.enableServerCertAuth = u->verify;
		so.verify = u->verify;  /* hostname / IP check against the certificate */
		co.ssl = &so;           /* never NULL for ssl:// (Paho #1566) */
	}
	u->state = UPLINK_CONNECTING;
	u->connect_started_ms = now;
	u->lost_posted = false;
	int rc = u->mq->connect(u->client, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		log_warn("uplink", "connect %s refused by Paho: %s (%d)", u->url, u->mq->strerror(rc), rc);
		uplink_on_lost(u, true, "connect request refused", now);
		return -1;
	}
	log_debug("uplink", "connecting to %s (attempt %d)", u->url, u->attempts + 1);
	return 0;
}

int uplink_start(struct uplink *u, int64_t now_mono_ms)
{
	if (u->state == UPLINK_STOPPED)
		return -1;
	u->down_since_ms = now_mono_ms;
	return connect_now(u, now_mono_ms);
}

static struct ack_slot *slot_take(struct uplink *u, uint64_t seq)
{
	for (int i = 0; i < ACK_SLOTS; i++) {
		struct ack_slot *s = &u->slots[(u->slot_next + (unsigned)i) % ACK_SLOTS];
		uint64_t expected = 0;
		if (atomic_compare_exchange_strong(&s->seq, &expected, seq)) {
			u->slot_next = (u->slot_next + (unsigned)i + 1) % ACK_SLOTS;
			return s;
		}
	}
	return NULL;
}

static int publish_topic(struct uplink *u, const char *topic, const void *payload, size_t len, int qos,
			 bool retained, uint64_t seq, int *token)
{
	if (!u->client_created || u->state != UPLINK_UP)
		return MQTTASYNC_DISCONNECTED;
	if (len > 256u * 1024 * 1024 || qos < 0 || qos > 2 || (seq && qos == 0))
		return MQTTASYNC_BAD_QOS;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct ack_slot *slot = NULL;
	if (seq) {
		slot = slot_take(u, seq);
		if (!slot)
			return MQTTASYNC_MAX_BUFFERED_MESSAGES;
		ro.context = slot;
		if (u->mqtt_version == 5) {
			ro.onSuccess5 = cb_pub_ok5;
			ro.onFailure5 = cb_pub_fail5;
		} else {
			ro.onSuccess = cb_pub_ok;
			ro.onFailure = cb_pub_fail;
		}
	} else {
		ro.context = u;
		if (u->mqtt_version == 5)
			ro.onFailure5 = cb_plain_fail5;
		else
			ro.onFailure = cb_plain_fail;
	}
	MQTTAsync_message m = MQTTAsync_message_initializer;
	m.payload = (void *)payload;
	m.payloadlen = (int)len;
	m.qos = qos;
	m.retained = retained;
	int rc = u->mq->sendMessage(u->client, topic, &m, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		if (slot)
			atomic_store(&slot->seq, 0);
		return rc;
	}
	if (token)
		*token = ro.token;
	return 0;
}

int uplink_publish(struct uplink *u, const char *topic_suffix, const void *payload, size_t len,
		   int qos, bool retained, uint64_t seq)
{
	char topic[TOPIC_MAX + 64];
	if (snprintf(topic, sizeof topic, "%s/%s", u->base, topic_suffix) >= (int)sizeof topic)
		return MQTTASYNC_BAD_MQTT_OPTION;
	return publish_topic(u, topic, payload, len, qos, retained, seq, NULL);
}

int uplink_publish_result(struct uplink *u, const char *req, bool ok, const char *error)
{
	char buf[512];
	int n = command_result_json(req, ok, error, buf, sizeof buf);
	if (n < 0)
		return MQTTASYNC_FAILURE;
	return uplink_publish(u, "cmd/result", buf, (size_t)n, 1, false, 0);
}

struct telemetry_emit {
	struct uplink *u;
	int rc;
};

static int emit_telemetry(void *ctx, const char *chunk, size_t len)
{
	struct telemetry_emit *e = ctx;
	e->rc = uplink_publish(e->u, "telemetry", chunk, len, 0, false, 0);
	return e->rc;
}

int uplink_publish_telemetry(struct uplink *u, int64_t ts_wall_ms, const struct telemetry_device *devs,
			     int n_devs, int64_t backlog)
{
	if (u->state != UPLINK_UP || backlog > UPLINK_TELEMETRY_MAX_BACKLOG) {
		log_debug("uplink", "telemetry dropped (state %s, backlog %lld)", uplink_state_name(u->state),
			  (long long)backlog);
		return 0;
	}
	struct telemetry_emit e = { u, 0 };
	int n = telemetry_build(u->gateway, ts_wall_ms, devs, n_devs, u->max_payload, emit_telemetry, &e);
	if (n == -2) {
		log_warn("uplink", "telemetry cut short: %s (%d)", u->mq->strerror(e.rc), e.rc);
		return e.rc < 0 ? e.rc : -1;
	}
	return n;
}

static int publish_status(struct uplink *u, bool online, int64_t now, int *token)
{
	char buf[512];
	int n = status_json(u->gateway, online, GRIDGW_VERSION, time_wall_ms(),
			    u->status_set ? &u->status_cur : NULL, buf, sizeof buf);
	if (n < 0)
		return MQTTASYNC_FAILURE;
	int rc = publish_topic(u, u->topic_status, buf, (size_t)n, 1, true, 0, token);
	if (rc == 0 && online) {
		u->status_pub = u->status_cur;
		u->status_published = true;
		u->status_pub_ms = now;
	}
	return rc;
}

void uplink_on_connected(struct uplink *u, int64_t now_mono_ms)
{
	if (u->state == UPLINK_STOPPED)
		return;
	if (u->state == UPLINK_UP)
		return;
	u->state = UPLINK_UP;
	u->last_up_check_ms = now_mono_ms;
	log_info("uplink", "connected to %s (MQTT %s%s) after %d attempt(s), down %lld ms", u->url,
		 u->mqtt_version == 5 ? "5" : "3.1.1", u->use_tls ? ", TLS" : "", u->attempts + 1,
		 (long long)(now_mono_ms - u->down_since_ms));
	u->attempts = 0;
	u->down_reported = false;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.context = u;
	if (u->mqtt_version == 5) {
		ro.onFailure5 = cb_sub_fail5;
	} else {
		ro.onSuccess = cb_sub_ok;
		ro.onFailure = cb_sub_fail;
	}
	int rc = u->mq->subscribe(u->client, u->topic_cmd, 1, &ro);
	if (rc != MQTTASYNC_SUCCESS)
		log_error("uplink", "subscribe %s: %s (%d)", u->topic_cmd, u->mq->strerror(rc), rc);
	u->status_published = false;
	rc = publish_status(u, true, now_mono_ms, NULL);
	if (rc != 0)
		log_warn("uplink", "status publish: %s (%d); retried", u->mq->strerror(rc), rc);
}

void uplink_on_lost(struct uplink *u, bool connect_failed, const char *reason, int64_t now_mono_ms)
{
	if (u->state == UPLINK_STOPPED || u->state == UPLINK_DOWN)
		return;  /* already handled (a duplicate or a late report) */
	if (u->state == UPLINK_UP) {
		u->down_since_ms = now_mono_ms;
		u->attempts = 0;
		log_warn("uplink", "link to %s lost: %s (retries logged once connected again)", u->url,
			 reason ? reason : "unknown");
	} else if (!u->down_reported) {
		/* Once per state change: the first failure at WARN with its
		 * cause, the retries at DEBUG, the recovery once at INFO. */
		log_warn("uplink", "cannot connect to %s: %s; retrying with backoff (logged again when connected)",
			 u->url, reason ? reason : "unknown");
	} else {
		log_debug("uplink", "connect to %s failed: %s", u->url, reason ? reason : "unknown");
	}
	u->down_reported = true;
	(void)connect_failed;
	/* The old session's requests were dropped by Paho without callbacks. */
	for (int i = 0; i < ACK_SLOTS; i++)
		atomic_store(&u->slots[i].seq, 0);
	u->attempts++;
	u->state = UPLINK_DOWN;
	int64_t delay = uplink_backoff_ms(u->attempts, u->reconnect_min_ms, u->reconnect_max_ms, &u->rng);
	u->next_connect_ms = now_mono_ms + delay;
	log_debug("uplink", "next connect attempt in %lld ms", (long long)delay);
}

/* A LOST the callbacks could not enqueue (queue full) must still happen: the
 * core posts it to itself so that the outbox hears of it too. */
static void post_synthetic_lost(struct uplink *u, bool connect_failed, const char *why)
{
	if (u->lost_posted)
		return;
	struct core_msg m = { .type = MSG_UPLINK_LOST };
	m.u.blob.a = connect_failed ? 1 : 0;
	m.u.blob.data = strdup(why);
	m.u.blob.len = m.u.blob.data ? strlen(why) : 0;
	if (queue_push_nowait(u->q, &m) == 0)
		u->lost_posted = true;
	else
		free(m.u.blob.data);
}

static bool status_due(const struct uplink *u, int64_t now, int64_t *wait)
{
	*wait = -1;
	if (!u->status_set)
		return false;
	if (!u->status_published)
		return true;
	const struct status_counts *a = &u->status_cur, *b = &u->status_pub;
	if (a->devices_online != b->devices_online || a->devices_offline != b->devices_offline ||
	    a->open_incidents != b->open_incidents)
		return true;
	if (a->backlog == b->backlog)
		return false;
	int64_t left = u->status_pub_ms + UPLINK_STATUS_BACKLOG_MS - now;
	if (left <= 0)
		return true;
	*wait = left;
	return false;
}

void uplink_tick(struct uplink *u, int64_t now_mono_ms)
{
	switch (u->state) {
	case UPLINK_DOWN:
		if (now_mono_ms >= u->next_connect_ms)
			connect_now(u, now_mono_ms);
		break;
	case UPLINK_CONNECTING:
		if (now_mono_ms - u->connect_started_ms > CONNECT_WATCHDOG_MS)
			post_synthetic_lost(u, true, "connect attempt timed out");
		break;
	case UPLINK_UP: {
		if (now_mono_ms - u->last_up_check_ms >= UP_CHECK_MS) {
			u->last_up_check_ms = now_mono_ms;
			if (!u->mq->isConnected(u->client)) {
				post_synthetic_lost(u, false, "connection lost (detected)");
				break;
			}
		}
		int64_t wait;
		if (status_due(u, now_mono_ms, &wait))
			publish_status(u, true, now_mono_ms, NULL);
		break;
	}
	case UPLINK_STOPPED:
		break;
	}
}

int64_t uplink_next_tick_ms(const struct uplink *u, int64_t now_mono_ms)
{
	int64_t t;
	switch (u->state) {
	case UPLINK_DOWN:
		t = u->next_connect_ms - now_mono_ms;
		return t < 0 ? 0 : t;
	case UPLINK_CONNECTING:
		t = u->connect_started_ms + CONNECT_WATCHDOG_MS + 1 - now_mono_ms;
		return t < 0 ? 0 : t;
	case UPLINK_UP: {
		int64_t wait;
		if (status_due(u, now_mono_ms, &wait))
			return 0;
		t = u->last_up_check_ms + UP_CHECK_MS - now_mono_ms;
		if (t < 0)
			t = 0;
		return wait >= 0 && wait < t ? wait : t;
	}
	case UPLINK_STOPPED:
		break;
	}
	return -1;
}

void uplink_set_status(struct uplink *u, const struct status_counts *c, int64_t now_mono_ms)
{
	u->status_cur = *c;
	u->status_set = true;
	int64_t wait;
	if (u->state == UPLINK_UP && status_due(u, now_mono_ms, &wait))
		publish_status(u, true, now_mono_ms, NULL);
}

int uplink_force_status(struct uplink *u, const struct status_counts *c, int64_t now_mono_ms)
{
	u->status_cur = *c;
	u->status_set = true;
	if (u->state != UPLINK_UP)
		return -1;
	return publish_status(u, true, now_mono_ms, NULL);
}

void uplink_stop(struct uplink *u)
{
	if (!u || u->state == UPLINK_STOPPED)
		return;
	if (u->state == UPLINK_UP) {
		int token = 0;
		if (publish_status(u, false, time_mono_ms(), &token) == 0) {
			int rc = u->mq->waitForCompletion(u->client, token, 2000);
			if (rc != MQTTASYNC_SUCCESS)
				log_warn("uplink", "offline status not confirmed: %s (%d)", u->mq->strerror(rc), rc);
		}
	}
	if (u->client_created && (u->state == UPLINK_UP || u->state == UPLINK_CONNECTING)) {
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
		if (u->mqtt_version == 5) {
			MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
			d = d5;
		}
		d.timeout = 1000;
		int rc = u->mq->disconnect(u->client, &d);
		for (int i = 0; rc == MQTTASYNC_SUCCESS && i < 150 && u->mq->isConnected(u->client); i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	u->state = UPLINK_STOPPED;
	if (u->client_created) {
		u->mq->destroy(&u->client);
		u->client_created = false;
	}
	log_info("uplink", "stopped");
}

void uplink_destroy(struct uplink *u)
{
	if (!u)
		return;
	uplink_stop(u);
	free_held_commands(u);
	pthread_mutex_destroy(&u->held_lock);
	free_config_copies(u);
	free(u);
}

enum uplink_state uplink_state(const struct uplink *u) { return u->state; }
bool uplink_is_up(const struct uplink *u) { return u->state == UPLINK_UP; }
int uplink_attempts(const struct uplink *u) { return u->attempts; }
const char *uplink_cmd_topic(const struct uplink *u) { return u->topic_cmd; }

int64_t uplink_down_for_ms(const struct uplink *u, int64_t now_mono_ms)
{
	if (u->state == UPLINK_UP)
		return 0;
	int64_t d = now_mono_ms - u->down_since_ms;
	return d < 0 ? 0 : d;
}

const char *uplink_state_name(enum uplink_state s)
{
	switch (s) {
	case UPLINK_DOWN:       return "down";
	case UPLINK_CONNECTING: return "connecting";
	case UPLINK_UP:         return "up";
	case UPLINK_STOPPED:    return "stopped";
	}
	return "?";
}
