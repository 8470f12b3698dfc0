/* sim_mqtt — the simulator's MQTT publishers: devices with a `source`
 * publish JSON built from their profile's `json` key paths on the source's
 * topic (its `+`/`#` wildcards replaced by the device id), on every change
 * and as a heartbeat. One Paho MQTTAsync client per source broker. Paho's
 * callbacks only flip atomics (PITFALLS: they run under Paho's global lock);
 * building and publishing happen on the main thread in sim_mqtt_tick(). */
#include "sim/sim_mqtt.h"

#include <MQTTAsync.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define SIM_MAX_INDEX 64 /* largest array index a key path may ask for */
/* Paho refuses sends past maxBufferedMessages queued commands (-12), even
 * while connected: publish at most this many per client per tick (50 ms);
 * the rest stay due and go out on the next ticks. */
#define SIM_PUBS_PER_TICK 200
#define SIM_MAX_BUFFERED 1000

struct mqtt_client {
	struct sim_mqtt *owner;
	int source;
	MQTTAsync client;
	bool created;
	atomic_bool connected;
	atomic_bool resend;       /* (re)connected: publish every device now */
	atomic_bool disconnected; /* our own disconnect completed */
	atomic_bool retry;        /* the first connect failed: Paho does not retry that */
	int64_t retry_at_ms;
};

struct pub {
	int dev;
	char *topic;
	char *payload;
	int len;
};

struct sim_mqtt {
	struct sim *s;
	int64_t heartbeat_ms;
	unsigned int seed;
	struct mqtt_client *clients; /* one per config source, created if used */
	int n_clients;
	struct pub *pubs;
	int n_pubs;
	int cap_pubs;
	struct log_ratelimit rl;
	struct log_ratelimit rl_cb; /* used on Paho's thread only */
};

static int client_connect(struct mqtt_client *c);

/* ---- payloads ---- */

enum step_kind { STEP_KEY, STEP_INDEX };
struct path_step {
	enum step_kind kind;
	char key[64];
	int index;
};

/* Splits "a.b", "list[0].v", "[1].x" into steps; returns the count or -1. */
static int path_parse(const char *path, struct path_step *steps, int max)
{
	int n = 0;
	const char *p = path;
	while (*p) {
		if (n == max)
			return -1;
		struct path_step *st = &steps[n];
		if (*p == '[') {
			char *end;
			long idx = strtol(p + 1, &end, 10);
			if (end == p + 1 || *end != ']' || idx < 0 || idx > SIM_MAX_INDEX)
				return -1;
			st->kind = STEP_INDEX;
			st->index = (int)idx;
			p = end + 1;
		} else {
			size_t len = strcspn(p, ".[");
			if (len == 0 || len >= sizeof st->key)
				return -1;
			st->kind = STEP_KEY;
			memcpy(st->key, p, len);
			st->key[len] = '\0';
			p += len;
		}
		n++;
		if (*p == '.')
			p++;
	}
	return n;
}

/* Places item at path under root (an object), creating the objects and
 * arrays on the way. Takes ownership of item; returns 0 or -1. */
static int json_put(cJSON *root, const char *path, cJSON *item)
{
	struct path_step steps[16];
	int n = path_parse(path, steps, 16);
	if (n <= 0 || steps[0].kind != STEP_KEY) {
		cJSON_Delete(item);
		return -1;
	}
	cJSON *cur = root;
	for (int i = 0; i < n; i++) {
		bool last = i == n - 1;
		cJSON *want = last ? item : (steps[i + 1].kind == STEP_KEY ? cJSON_CreateObject() : cJSON_CreateArray());
		if (!want)
			goto fail;
		cJSON *have;
		if (steps[i].kind == STEP_KEY) {
			if (!cJSON_IsObject(cur))
				goto fail_want;
			have = cJSON_GetObjectItemCaseSensitive(cur, steps[i].key);
			if (have && !last && cJSON_IsObject(have) == cJSON_IsObject(want) &&
			    cJSON_IsArray(have) == cJSON_IsArray(want)) {
				cJSON_Delete(want);
				cur = have;
				continue;
			}
			if (have ? !cJSON_ReplaceItemInObjectCaseSensitive(cur, steps[i].key, want)
				 : !cJSON_AddItemToObject(cur, steps[i].key, want))
				goto fail_want;
		} else {
			if (!cJSON_IsArray(cur))
				goto fail_want;
			while (cJSON_GetArraySize(cur) <= steps[i].index) {
				cJSON *null = cJSON_CreateNull();
				if (!null || !cJSON_AddItemToArray(cur, null)) {
					cJSON_Delete(null);
					goto fail_want;
				}
			}
			have = cJSON_GetArrayItem(cur, steps[i].index);
			if (!last && (cJSON_IsObject(have) || cJSON_IsArray(have)) &&
			    cJSON_IsObject(have) == cJSON_IsObject(want)) {
				cJSON_Delete(want);
				cur = have;
				continue;
			}
			if (!cJSON_ReplaceItemInArray(cur, steps[i].index, want))
				goto fail_want;
		}
		cur = want;
		continue;
	fail_want:
		if (want != item)
			cJSON_Delete(want);
		goto fail;
	}
	return 0;
fail:
	/* item was not attached (the failing step is the only one that holds it). */
	if (cur != item)
		cJSON_Delete(item);
	return -1;
}

static cJSON *point_item(const struct sim_device *d, int i)
{
	const struct point_def *p = &d->prof->points[i];
	double v = d->values[i];
	switch (p->type) {
	case PT_BOOL:
		return cJSON_CreateBool(v != 0);
	case PT_ENUM: {
		int ei = d->enum_idx[i];
		if (ei >= 0 && ei < p->n_values && p->values[ei].value == v)
			return cJSON_CreateString(p->values[ei].name);
		for (int k = 0; k < p->n_values; k++)
			if (fabs(p->values[k].value - v) < 1e-9)
				return cJSON_CreateString(p->values[k].name);
		return cJSON_CreateNumber(v); /* no name for it: the gateway sees a wrong type */
	}
	default: {
		double scale = p->scale != 0 ? p->scale : 1;
		return cJSON_CreateNumber((v - p->offset) / scale);
	}
	}
}

/* The topic of device d on its source: wildcards replaced by the id. */
static int build_topic(const struct mqtt_source_config *src, const char *id, char *out, size_t cap)
{
	size_t n = 0;
	const char *p = src->topic;
	while (*p) {
		size_t len = strcspn(p, "/");
		bool wild = (len == 1 && (*p == '+' || *p == '#'));
		int w = wild ? snprintf(out + n, cap - n, "%s", id) : snprintf(out + n, cap - n, "%.*s", (int)len, p);
		if (w < 0 || (size_t)w >= cap - n)
			return -1;
		n += (size_t)w;
		p += len;
		if (*p == '/') {
			if (n + 1 >= cap)
				return -1;
			out[n++] = '/';
			out[n] = '\0';
			p++;
		}
	}
	return 0;
}

static char *build_payload(struct sim_mqtt *m, const struct sim_device *d, const struct mqtt_source_config *src,
			   int *len)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	for (int i = 0; i < d->prof->n_points; i++) {
		const struct point_def *p = &d->prof->points[i];
		if (!p->json)
			continue;
		cJSON *item = point_item(d, i);
		if (!item || json_put(root, p->json, item) < 0) {
			unsigned long sup;
			if (log_ratelimit_ok(&m->rl, &sup))
				log_warn("sim", "device %s: cannot place point %s at %s", d->cfg->id, p->name, p->json);
		}
	}
	if (src->device_from == DEVICE_FROM_JSON && src->json_key) {
		cJSON *id = cJSON_CreateString(d->cfg->id);
		if (!id || json_put(root, src->json_key, id) < 0)
			log_warn("sim", "device %s: cannot place the id at %s", d->cfg->id, src->json_key);
	}
	cJSON_AddNumberToObject(root, src->ts_key ? src->ts_key : "ts", (double)time_wall_ms());
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text)
		*len = (int)strlen(text);
	return text;
}

static char *build_garbage(struct sim_mqtt *m, int *len)
{
	int n = 8 + rand_r(&m->seed) % 24;
	char *g = malloc((size_t)n + 1);
	if (!g)
		return NULL;
	sim_random_bytes(&m->seed, (uint8_t *)g, n);
	g[0] = '{'; /* looks like the start of JSON, never parses as JSON */
	g[n - 1] = '\0';
	g[n] = '\0';
	*len = n;
	return g;
}

static void pubs_add(struct sim_mqtt *m, int dev, char *topic, char *payload, int len)
{
	if (m->n_pubs == m->cap_pubs) {
		int cap = m->cap_pubs ? m->cap_pubs * 2 : 64;
		struct pub *p = realloc(m->pubs, (size_t)cap * sizeof *p);
		if (!p) {
			free(topic);
			free(payload);
			return;
		}
		m->pubs = p;
		m->cap_pubs = cap;
	}
	m->pubs[m->n_pubs++] = (struct pub){ dev, topic, payload, len };
}

/* Under s->mu: queues the messages of every device of source `src` that
 * changed or whose heartbeat is due. */
static void collect_locked(struct sim_mqtt *m, int src_idx, bool all, int64_t now)
{
	struct sim *s = m->s;
	const struct mqtt_source_config *src = &s->cfg->sources[src_idx];
	if (all)
		for (int i = 0; i < s->n_devs; i++)
			if (s->devs[i].cfg->source == src_idx)
				s->devs[i].dirty = true;
	for (int i = 0; i < s->n_devs && m->n_pubs < SIM_PUBS_PER_TICK; i++) {
		struct sim_device *d = &s->devs[i];
		if (d->cfg->source != src_idx)
			continue;
		enum sim_fault f = d->fault;
		if (f == SIM_FAULT_SILENT || f == SIM_FAULT_TIMEOUT || f == SIM_FAULT_DISCONNECT)
			continue;
		if (!d->dirty && now - d->last_pub_ms < m->heartbeat_ms)
			continue;
		char topic[512];
		if (build_topic(src, d->cfg->id, topic, sizeof topic) < 0)
			continue;
		int len = 0;
		char *payload = (f == SIM_FAULT_GARBAGE || f == SIM_FAULT_CRC) ? build_garbage(m, &len)
									      : build_payload(m, d, src, &len);
		char *t = strdup(topic);
		if (!payload || !t) {
			free(payload);
			free(t);
			continue;
		}
		pubs_add(m, i, t, payload, len);
		d->dirty = false;
		d->last_pub_ms = now;
	}
}

/* Sends the queued messages; returns how many failed (their devices are
 * left in m->pubs[0..failed-1].dev to be marked due again). */
static int publish_all(struct sim_mqtt *m, struct mqtt_client *c)
{
	int failed = 0;
	for (int i = 0; i < m->n_pubs; i++) {
		MQTTAsync_message msg = MQTTAsync_message_initializer;
		msg.payload = m->pubs[i].payload;
		msg.payloadlen = m->pubs[i].len;
		msg.qos = 1;
		msg.retained = 0;
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		int rc = MQTTAsync_sendMessage(c->client, m->pubs[i].topic, &msg, &ro);
		if (rc != MQTTASYNC_SUCCESS) {
			unsigned long sup;
			if (log_ratelimit_ok(&m->rl, &sup))
				log_warn("sim", "publish %s: error %d", m->pubs[i].topic, rc);
			m->pubs[failed++].dev = m->pubs[i].dev;
		}
		free(m->pubs[i].topic);
		free(m->pubs[i].payload);
	}
	m->n_pubs = 0;
	return failed;
}

void sim_mqtt_tick(struct sim_mqtt *m, int64_t now_ms)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_clients; i++) {
		struct mqtt_client *c = &m->clients[i];
		if (c->created && atomic_load(&c->retry) && now_ms >= c->retry_at_ms) {
			atomic_store(&c->retry, false);
			c->retry_at_ms = now_ms + 1000;
			if (client_connect(c) < 0)
				atomic_store(&c->retry, true);
		}
		if (!c->created || !atomic_load(&c->connected))
			continue;
		bool all = atomic_exchange(&c->resend, false);
		pthread_mutex_lock(&m->s->mu);
		collect_locked(m, i, all, now_ms);
		pthread_mutex_unlock(&m->s->mu);
		/* Paho is called outside our lock: its callbacks never wait on us. */
		int failed = publish_all(m, c);
		if (failed > 0) {
			pthread_mutex_lock(&m->s->mu);
			for (int k = 0; k < failed; k++)
				m->s->devs[m->pubs[k].dev].dirty = true;
			pthread_mutex_unlock(&m->s->mu);
		}
	}
}

/* ---- Paho callbacks: flags only ---- */

static void on_connected(void *ctx, char *cause)
{
	(void)cause;
	struct mqtt_client *c = ctx;
	atomic_store(&c->connected, true);
	atomic_store(&c->resend, true);
}

static void on_connection_lost(void *ctx, char *cause)
{
	(void)cause;
	struct mqtt_client *c = ctx;
	atomic_store(&c->connected, false);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	(void)ctx;
	(void)topic_len;
	/* We subscribe to nothing; free whatever arrives. */
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_client *c = ctx;
	unsigned long sup;
	if (log_ratelimit_ok(&c->owner->rl_cb, &sup))
		log_warn("sim", "mqtt source %s: connect failed (%d); retrying",
			 c->owner->s->cfg->sources[c->source].name, resp ? resp->code : 0);
	atomic_store(&c->retry, true);
}

static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	struct mqtt_client *c = ctx;
	atomic_store(&c->disconnected, true);
}

static int client_start(struct sim_mqtt *m, struct mqtt_client *c)
{
	const struct mqtt_source_config *src = &m->s->cfg->sources[c->source];
	char id[128];
	snprintf(id, sizeof id, "gridgw-sim-%ld-%s", (long)getpid(), src->name);
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
	co.sendWhileDisconnected = 0;
	co.maxBufferedMessages = SIM_MAX_BUFFERED;
	int rc = MQTTAsync_createWithOptions(&c->client, src->url, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		log_error("sim", "mqtt source %s: cannot create a client for %s (%d)", src->name, src->url, rc);
		return -1;
	}
	c->created = true;
	if ((rc = MQTTAsync_setCallbacks(c->client, c, on_connection_lost, on_message, NULL)) != MQTTASYNC_SUCCESS ||
	    (rc = MQTTAsync_setConnected(c->client, c, on_connected)) != MQTTASYNC_SUCCESS) {
		log_error("sim", "mqtt source %s: callbacks (%d)", src->name, rc);
		return -1;
	}
	if (client_connect(c) < 0)
		return -1;
	log_info("sim", "mqtt source %s: publishing to %s", src->name, src->url);
	return 0;
}

/* Starts an asynchronous connect; Paho retries by itself once connected. */
static int client_connect(struct mqtt_client *c)
{
	const struct mqtt_source_config *src = &c->owner->s->cfg->sources[c->source];
	int rc;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	opts.keepAliveInterval = 30;
	opts.cleansession = 1;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = 1;
	opts.maxRetryInterval = 5;
	opts.connectTimeout = 5;
	opts.username = src->username;
	opts.password = src->password;
	opts.onFailure = on_connect_failure;
	opts.context = c;
	/* A secure URI without SSL options crashes Paho (#1566). The simulator
	 * is a test tool: encrypt, but do not verify. */
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	if (strncmp(src->url, "ssl://", 6) == 0 || strncmp(src->url, "mqtts://", 8) == 0)
		opts.ssl = &ssl;
	if ((rc = MQTTAsync_connect(c->client, &opts)) != MQTTASYNC_SUCCESS) {
		log_error("sim", "mqtt source %s: connect to %s (%d)", src->name, src->url, rc);
		return -1;
	}
	return 0;
}

int sim_mqtt_start(struct sim *s, int64_t heartbeat_ms, unsigned int seed, struct sim_mqtt **out)
{
	*out = NULL;
	struct sim_mqtt *m = calloc(1, sizeof *m);
	if (!m)
		return -1;
	m->s = s;
	m->heartbeat_ms = heartbeat_ms > 0 ? heartbeat_ms : 10000;
	m->seed = seed;
	m->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 10000);
	m->rl_cb = (struct log_ratelimit)LOG_RATELIMIT_INIT(3, 30000);
	m->n_clients = s->cfg->n_sources;
	m->clients = calloc((size_t)(m->n_clients ? m->n_clients : 1), sizeof *m->clients);
	if (!m->clients) {
		free(m);
		return -1;
	}
	for (int i = 0; i < m->n_clients; i++) {
		struct mqtt_client *c = &m->clients[i];
		c->owner = m;
		c->source = i;
		atomic_init(&c->connected, false);
		atomic_init(&c->resend, false);
		atomic_init(&c->disconnected, false);
		bool used = false;
		for (int d = 0; d < s->n_devs && !used; d++)
			used = s->devs[d].cfg->source == i;
		if (used && client_start(m, c) < 0) {
			sim_mqtt_stop(m);
			return -1;
		}
	}
	*out = m;
	return 0;
}

void sim_mqtt_stop(struct sim_mqtt *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_clients; i++) {
		struct mqtt_client *c = &m->clients[i];
		if (!c->created)
			continue;
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
		d.timeout = 1000;
		d.onSuccess = on_disconnected;
		d.context = c;
		if (MQTTAsync_isConnected(c->client) &&
		    MQTTAsync_disconnect(c->client, &d) == MQTTASYNC_SUCCESS) {
			for (int k = 0; k < 30 && !atomic_load(&c->disconnected); k++)
				usleep(50000);
		}
		MQTTAsync_destroy(&c->client);
	}
	for (int i = 0; i < m->n_pubs; i++) {
		free(m->pubs[i].topic);
		free(m->pubs[i].payload);
	}
	free(m->pubs);
	free(m->clients);
	free(m);
}
