/* mqtt_source — see mqtt_source.h. Owns the Paho client of one source, its
 * callbacks and counters.
 *
 * Why the callbacks look the way they do (Paho #1230/#1554): Paho calls
 * them with its global mutex held, and the core thread calls into Paho
 * (publish). So a callback never blocks and never takes a lock that a
 * thread calling Paho may hold: it copies the message, appends it to the
 * backlog, and returns. The only locks a callback takes are leaf locks
 * nobody holds while calling Paho: `lock` (the backlog; only the queue's
 * own leaf lock is taken under it) and `log_lock` (the rate limiter).
 *
 * Every message goes through this source's backlog, a FIFO bounded by
 * MQTT_SOURCE_BACKLOG_MSGS / _BYTES: the per-source feeder thread takes its
 * head, decodes it with the source's JSON map outside `lock` (a callback
 * never waits for a decode) and posts the parts as the core drains the
 * queue (queue_push_many_nowait with a 2 ms retry, so it never blocks
 * shutdown). New messages go behind the backlog: order is kept. A message
 * counts as `backlogged` when it found the core queue without room for it
 * (full, past this source's share, or held by a reload).
 * Why not return 0 from messageArrived and let Paho redeliver? Paho has
 * already PUBACKed a QoS 1 message, so the broker does not resend; Paho keeps
 * it at the head of its own queue and offers it again only on a later pass
 * of its receive loop — measured here: 8 of 50 messages delivered in 90 s
 * after a 2 s stall. So 0 is returned only when the message cannot be
 * copied at all (out of memory, counted as `deferred`): nothing is lost, it
 * is just slow. A full backlog drops instead (bulk first, see
 * enforce_bounds). */
#include "sensors/mqtt_source.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mqtt_lib.h"
#include "common/timeutil.h"
#include "sensors/json_map.h"

struct backlog_item {
	struct backlog_item *next;
	struct core_msg msg;
};

/* The message the feeder has taken off its lane: decoded into parts
 * (several MSG_SOURCE_POINTS when its device has more than
 * QUEUE_POINTS_MAX points) that go to the queue all at once. */
struct inflight {
	bool have, decoded, prio;
	struct core_msg raw;      /* MSG_SOURCE_MESSAGE, blob owned here */
	struct core_msg *parts;
	size_t n_parts, cap_parts;
	struct json_map_stats st; /* of the last decode: counted once posted or handed over (a reload
				   * may decode it again) */
};

/* One FIFO lane of the backlog. */
struct lane {
	struct backlog_item *head, *tail;
	size_t msgs;
};

struct mqtt_source {
	const struct mqtt_lib *mq;  /* the Paho build that created client: every call goes through it */
	MQTTAsync client;
	int index;                /* under `lock`: changes on a reload that keeps the source */
	struct queue *q;
	char *name;               /* copies: the callbacks must not depend on cfg */
	char *topic;
	size_t max_payload;
	atomic_bool connected, subscribed, disconnected;
	atomic_bool down_reported;   /* a failure is logged: retries quiet until connected */
	_Atomic uint64_t received, oversized, backlogged, deferred, bad_topic, connects, lost, subscribe_failed,
		published, publish_failed, dropped, priority, dropped_priority;
	/* json_map's counters, added by the feeder after each message */
	_Atomic uint64_t m_messages, m_malformed, m_unknown_device, m_no_device_id, m_wrong_type, m_oversized,
		m_points, m_ts_rejected;
	/* The overflow FIFO, two lanes (alarm-relevant first). `lock` is a leaf
	 * lock (only queue_push_nowait/queue_length, whose own lock is a leaf, are
	 * called under it); never held while calling Paho. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct lane prio, bulk;
	size_t backlog_bytes;
	char **keys;              /* quoted JSON key names ("\"alarm\"") that mark a message alarm-relevant */
	int n_keys;
	bool held;                /* reload in progress: nothing goes to the core queue */
	bool stopping;
	/* The JSON map of this source's devices (borrows the config it was
	 * built from). Swapped under `lock` only while held and not
	 * `decoding`; the feeder reads it outside the lock while `decoding`. */
	struct json_map *map;
	struct inflight fly;      /* under `lock`, except its parts while `decoding` */
	bool decoding;
	pthread_cond_t idle;      /* signalled when `decoding` ends */
	pthread_t feeder;
	bool feeder_started;
	pthread_mutex_t log_lock; /* leaf lock: only around cb_rl */
	struct log_ratelimit cb_rl;   /* callbacks */
	struct log_ratelimit core_rl; /* core thread (publish) */
};

/* Arrival order over every source of the process (also across a source
 * restarted by a reload): the core's per-device ordering key. */
static _Atomic uint64_t arrival_seq;

#define COMP "mqtt-source"

/* Rate-limited warning from a Paho callback. */
static void cb_warn(struct mqtt_source *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cb_warn(struct mqtt_source *s, const char *fmt, ...)
{
	unsigned long suppressed = 0;
	pthread_mutex_lock(&s->log_lock);
	int ok = log_ratelimit_ok(&s->cb_rl, &suppressed);
	pthread_mutex_unlock(&s->log_lock);
	if (!ok)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_warn(COMP, "source %s: %s (%lu similar suppressed)", s->name, line, suppressed);
}

/* ---- backlog ---------------------------------------------------------- */

static void lane_push(struct lane *l, struct backlog_item *it)
{
	it->next = NULL;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->msgs++;
}

static void lane_push_front(struct lane *l, struct backlog_item *it)
{
	it->next = l->head;
	l->head = it;
	if (!l->tail)
		l->tail = it;
	l->msgs++;
}

static struct backlog_item *lane_pop(struct lane *l)
{
	struct backlog_item *it = l->head;
	if (!it)
		return NULL;
	l->head = it->next;
	if (!l->head)
		l->tail = NULL;
	l->msgs--;
	return it;
}

/* Under `lock`: may a message of this lane go to the core queue now? Bulk
 * readings only while the queue is below this source's share, so a flood
 * never fills the queue in front of a bus's alarm or of an alarm-relevant
 * report of this source. */
static bool queue_has_room_for(struct mqtt_source *s, bool prio)
{
	return prio || queue_length(s->q) < MQTT_SOURCE_QUEUE_SHARE;
}

/* Under `lock`: frees the oldest message of l, counting it in *counter. */
static void drop_oldest(struct mqtt_source *s, struct lane *l, _Atomic uint64_t *counter)
{
	struct backlog_item *it = lane_pop(l);
	s->backlog_bytes -= it->msg.u.blob.len;
	free(it->msg.u.blob.data);
	free(it);
	atomic_fetch_add(counter, 1);
}

/* Under `lock`: keeps the backlog within its bounds. Bulk readings are
 * dropped oldest first (counted `dropped`); alarm-relevant messages only
 * past a bound four times larger (counted `dropped_priority`, logged as an
 * error): that is alarm traffic beyond anything a compound produces. */
static void enforce_bounds(struct mqtt_source *s)
{
	while (s->bulk.msgs && (s->prio.msgs + s->bulk.msgs > MQTT_SOURCE_BACKLOG_MSGS ||
				s->backlog_bytes > MQTT_SOURCE_BACKLOG_BYTES))
		drop_oldest(s, &s->bulk, &s->dropped);
	while (s->prio.msgs > 4 * MQTT_SOURCE_BACKLOG_MSGS || s->backlog_bytes > 4 * MQTT_SOURCE_BACKLOG_BYTES) {
		drop_oldest(s, &s->prio, &s->dropped_priority);
		log_error(COMP, "source %s: alarm-relevant backlog over its bound: oldest dropped (%llu so far)",
			  s->name, (unsigned long long)atomic_load(&s->dropped_priority));
	}
}

/* Under `lock`. */
static bool is_priority(const struct mqtt_source *s, const char *payload, size_t len)
{
	for (int i = 0; i < s->n_keys; i++)
		if (memmem(payload, len, s->keys[i], strlen(s->keys[i])))
			return true;
	return false;
}

/* Queues m behind its lane for the feeder, which decodes it and posts it
 * to the core (the callback holds Paho's global mutex, shared with the
 * uplink: decoding is not done here). Returns 0 (the core queue had room
 * for it: on its way at once), 1 (backlogged: held, the queue full or this
 * source past its share) or -1 (out of memory; the caller keeps ownership
 * of the blob). Never refuses for lack of room: a message left with Paho
 * is offered again only every ~15 s and slows Paho's one receive thread
 * for every client, the uplink's PUBACKs too. */
static int backlog_offer(struct mqtt_source *s, const struct core_msg *m, bool *prio_out)
{
	struct backlog_item *it = malloc(sizeof *it);
	if (!it)
		return -1;
	it->msg = *m;
	pthread_mutex_lock(&s->lock);
	/* The source's index and alarm keys change on a reload: read under the
	 * same lock as the push (one lock per message on Paho's thread). */
	it->msg.u.blob.a = s->index;
	const char *payload = m->u.blob.data + m->u.blob.b + 1;
	bool prio = is_priority(s, payload, m->u.blob.len - (size_t)m->u.blob.b - 1);
	*prio_out = prio;
	struct lane *l = prio ? &s->prio : &s->bulk;
	bool room = !s->held && queue_has_room_for(s, prio) && queue_data_room(s->q, 1);
	lane_push(l, it);
	s->backlog_bytes += m->u.blob.len;
	enforce_bounds(s);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return room ? 0 : 1;
}

/* Under `lock`: the lane whose head may go to the core next, or NULL. */
static struct lane *next_lane(struct mqtt_source *s)
{
	if (s->held)
		return NULL;
	if (s->prio.head)
		return &s->prio;
	if (s->bulk.head && queue_has_room_for(s, false))
		return &s->bulk;
	return NULL;
}

/* ---- decoding (the feeder, or the core at stop) ------------------------ */

/* Appends an empty MSG_SOURCE_POINTS part for the message being decoded. */
static struct core_msg *part_new(struct inflight *f, int device, int64_t ts, const struct mqtt_source_meta *mt)
{
	if (f->n_parts == f->cap_parts) {
		size_t cap = f->cap_parts ? f->cap_parts * 2 : 4;
		struct core_msg *np = realloc(f->parts, cap * sizeof *np);
		if (!np)
			return NULL;
		f->parts = np;
		f->cap_parts = cap;
	}
	struct core_msg *m = &f->parts[f->n_parts++];
	memset(m, 0, sizeof *m);
	m->type = MSG_SOURCE_POINTS;
	m->u.points.device = device;
	m->u.points.ts_ms = ts;
	m->u.points.arrival_ms = mt->arrival_ms;
	m->u.points.seq = mt->seq;
	return m;
}

struct decode_ctx {
	struct inflight *f;
	struct mqtt_source_meta meta;
	bool oom;
};

static void emit_point(void *ctx, int device, int point, const struct point_value *pv)
{
	struct decode_ctx *d = ctx;
	struct inflight *f = d->f;
	struct core_msg *m = f->n_parts ? &f->parts[f->n_parts - 1] : NULL;
	if (!m || m->u.points.n >= QUEUE_POINTS_MAX)
		m = part_new(f, device, pv->ts_ms, &d->meta);
	if (!m) {
		d->oom = true;
		return;
	}
	core_msg_add_point(m, point, pv);
}

static void add_map_stats(struct mqtt_source *s, const struct json_map_stats *st)
{
	atomic_fetch_add(&s->m_messages, st->messages);
	atomic_fetch_add(&s->m_malformed, st->malformed);
	atomic_fetch_add(&s->m_unknown_device, st->unknown_device);
	atomic_fetch_add(&s->m_no_device_id, st->no_device_id);
	atomic_fetch_add(&s->m_wrong_type, st->wrong_type);
	atomic_fetch_add(&s->m_oversized, st->oversized);
	atomic_fetch_add(&s->m_points, st->points);
	atomic_fetch_add(&s->m_ts_rejected, st->ts_rejected);
}

/* Decodes f->raw with `map` into f->parts: nothing for a message the map
 * refuses (counted), at least one part for a well-formed message of a
 * known device. The raw blob stays in f (a reload may decode it again). */
static void decode(struct mqtt_source *s, struct json_map *map, int index, struct inflight *f)
{
	const struct core_msg *m = &f->raw;
	const char *topic = m->u.blob.data;
	size_t tlen = (size_t)m->u.blob.b;
	struct decode_ctx d = { .f = f };
	memset(&f->st, 0, sizeof f->st);
	mqtt_source_msg_meta(m, &d.meta);
	f->n_parts = 0;
	/* The time Paho handed it over, not now: a message that waited in the
	 * backlog keeps its place. */
	int dev = json_map_message(map, index, topic, topic + tlen + 1, m->u.blob.len - tlen - 1, d.meta.arrival_ms,
				   emit_point, &d, &f->st);
	if (dev >= 0 && f->n_parts == 0 && !part_new(f, dev, d.meta.arrival_ms, &d.meta))
		d.oom = true;
	if (d.oom) {
		f->n_parts = 0;
		log_error(COMP, "source %s: out of memory decoding a message: dropped", s->name);
	}
	f->decoded = true;
}

/* Under `lock`: ends the in-flight message (posted, or handed over). */
static void fly_done(struct mqtt_source *s, struct inflight *f)
{
	if (f->decoded)
		add_map_stats(s, &f->st);
	free(f->raw.u.blob.data);
	f->have = f->decoded = false;
	f->n_parts = 0;
}

/* Under `lock`: puts a bulk message that cannot go now back at the head of
 * its lane (raw: decoded again when it goes), so the alarm-relevant lane
 * can pass it. */
static void fly_return(struct mqtt_source *s, struct inflight *f)
{
	struct backlog_item *it = malloc(sizeof *it);
	if (!it)
		return; /* it stays in flight: the alarm waits for it (out of memory) */
	it->msg = f->raw;
	lane_push_front(&s->bulk, it);
	s->backlog_bytes += f->raw.u.blob.len;
	f->have = f->decoded = false;
	f->n_parts = 0;
}

/* Moves the backlog into the core queue as room appears, alarm-relevant
 * messages first: takes the head of a lane, decodes it outside the lock
 * (the callbacks must not wait for it), and posts its parts all at once.
 * The taken message goes first, so a callback never overtakes it. */
static void *backlog_feed(void *arg)
{
	struct mqtt_source *s = arg;
	struct timespec retry = { 0, 2 * 1000 * 1000 };
	struct timespec linger = { 0, MQTT_SOURCE_LINGER_MS * 1000 * 1000 };
	struct inflight *f = &s->fly;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		bool idle = false, was_held = false;
		while ((s->held || (!f->have && !s->prio.head && !s->bulk.head)) && !s->stopping) {
			idle = true;
			was_held |= s->held;
			pthread_cond_wait(&s->wake, &s->lock);
		}
		if (s->stopping)
			break;
		if (idle && !was_held) {
			/* Woken from idle by the first message of a burst: let the burst
			 * gather, so the feeder and the core wake once for it (an alarm
			 * among them waits these 10 ms too). Not after a reload's hold:
			 * what waited then goes at once. */
			pthread_mutex_unlock(&s->lock);
			nanosleep(&linger, NULL);
			pthread_mutex_lock(&s->lock);
			continue; /* held or stopping meanwhile? */
		}
		if (!f->have) {
			struct lane *l = next_lane(s);
			if (!l)
				goto wait;
			struct backlog_item *it = lane_pop(l);
			s->backlog_bytes -= it->msg.u.blob.len;
			f->raw = it->msg;
			f->prio = l == &s->prio;
			f->have = true;
			f->decoded = false;
			free(it);
		}
		if (!f->decoded) {
			struct json_map *map = s->map;
			int index = s->index;
			s->decoding = true;
			pthread_mutex_unlock(&s->lock);
			decode(s, map, index, f);
			pthread_mutex_lock(&s->lock);
			s->decoding = false;
			pthread_cond_broadcast(&s->idle);
			continue; /* held or stopping meanwhile? */
		}
		if (f->n_parts && (!queue_has_room_for(s, f->prio) ||
				   queue_push_many_nowait(s->q, f->parts, f->n_parts) < 0)) {
			if (!f->prio && s->prio.head)
				fly_return(s, f); /* an alarm-relevant message never waits behind bulk */
			goto wait;
		}
		fly_done(s, f);
		continue;
wait:
		pthread_mutex_unlock(&s->lock);
		nanosleep(&retry, NULL);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void backlog_join(struct mqtt_source *s)
{
	if (!s->feeder_started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->feeder, NULL);
	s->feeder_started = false;
}

/* Hands the in-flight message's parts to take (decoding it first). */
static void take_fly(struct mqtt_source *s, mqtt_source_take_fn take, void *ctx)
{
	struct inflight *f = &s->fly;
	if (!f->decoded)
		decode(s, s->map, s->index, f);
	for (size_t i = 0; i < f->n_parts; i++)
		take(ctx, &f->parts[i]);
	fly_done(s, f);
}

/* Ends the feeder and hands what it did not deliver to `take`, decoded
 * with this source's map (the core handles it: the broker was PUBACKed for
 * these, nobody will resend them), the message in flight first, then the
 * alarm-relevant lane; with no `take` they are freed and counted. */
static void backlog_stop(struct mqtt_source *s, mqtt_source_take_fn take, void *ctx)
{
	backlog_join(s);
	size_t dropped = 0;
	if (s->fly.have) {
		if (take && s->map)
			take_fly(s, take, ctx);
		else {
			fly_done(s, &s->fly);
			dropped++;
		}
	}
	struct lane *lanes[2] = { &s->prio, &s->bulk };
	for (int i = 0; i < 2; i++) {
		struct backlog_item *it;
		while ((it = lane_pop(lanes[i]))) {
			s->fly.raw = it->msg;
			s->fly.have = true;
			s->fly.decoded = false;
			free(it);
			if (take && s->map) {
				take_fly(s, take, ctx);
			} else {
				fly_done(s, &s->fly);
				dropped++;
			}
		}
	}
	s->backlog_bytes = 0;
	if (dropped)
		log_warn(COMP, "source %s: %zu backlogged messages discarded at stop", s->name, dropped);
}

/* ---- alarm-relevant keys ---------------------------------------------- */

/* Is `name` a whole identifier in expression text `e`? (over-approximates:
 * a string literal with the name also counts, which only makes more
 * messages alarm-relevant). */
static bool expr_mentions(const char *e, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = e ? strstr(e, name) : NULL; p && n; p = strstr(p + 1, name)) {
		bool before = p > e && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.');
		bool after = isalnum((unsigned char)p[n]) || p[n] == '_';
		if (!before && !after)
			return true;
	}
	return false;
}

/* The last key of a point path: "data.tilt" -> tilt, "list[0].v" -> v,
 * "m[1][0]" -> m. Written quoted into out; false when there is none. */
static bool path_last_key(const char *path, char *out, size_t outlen)
{
	const char *k = strrchr(path, '.');
	k = k ? k + 1 : path;
	size_t n = strcspn(k, "[");
	if (n == 0 || n + 3 > outlen)
		return false;
	snprintf(out, outlen, "\"%.*s\"", (int)n, k);
	return true;
}

static bool key_known(char **keys, int n, const char *k)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], k) == 0)
			return true;
	return false;
}

static bool point_read_by_a_rule(const struct gw_config *cfg, int profile, const char *name)
{
	for (int r = 0; r < cfg->n_rules; r++) {
		const struct rule_config *rc = &cfg->rules[r];
		if (rc->profile == profile && (expr_mentions(rc->when, name) || expr_mentions(rc->clear_when, name)))
			return true;
	}
	return false;
}

/* The quoted key names of every point that some rule reads, on a profile
 * of a device of this source. A message whose payload holds one of them is
 * alarm-relevant. */
static int collect_keys(const struct gw_config *cfg, int idx, char ***out)
{
	char **keys = NULL;
	int n = 0, cap = 0;
	for (int d = 0; d < cfg->n_devices; d++) {
		const struct device_config *dc = &cfg->devices[d];
		if (dc->source != idx)
			continue;
		const struct profile *p = &cfg->profiles[dc->profile];
		for (int i = 0; i < p->n_points; i++) {
			char k[160];
			if (!p->points[i].json || !path_last_key(p->points[i].json, k, sizeof k) ||
			    key_known(keys, n, k) || !point_read_by_a_rule(cfg, dc->profile, p->points[i].name))
				continue;
			if (n == cap) {
				char **nk = realloc(keys, (size_t)(cap = cap ? cap * 2 : 8) * sizeof *nk);
				if (!nk)
					break;
				keys = nk;
			}
			if (!(keys[n] = strdup(k)))
				break;
			n++;
		}
	}
	*out = keys;
	return n;
}

static void free_keys(char **keys, int n)
{
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* ---- Paho callbacks (Paho's threads) --------------------------------- */

static void on_subscribe_ok(void *ctx, MQTTAsync_successData *resp)
{
	struct mqtt_source *s = ctx;
	/* MQTT 3.1.1 SUBACK 0x80 = refused (an ACL, a bad filter). */
	if (resp && resp->alt.qos == 0x80) {
		atomic_fetch_add(&s->subscribe_failed, 1);
		log_error(COMP, "source %s: broker refused the subscription to %s", s->name, s->topic);
		return;
	}
	atomic_store(&s->subscribed, true);
	log_info(COMP, "source %s: subscribed to %s (qos %d)", s->name, s->topic, resp ? resp->alt.qos : 1);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_source *s = ctx;
	atomic_fetch_add(&s->subscribe_failed, 1);
	log_error(COMP, "source %s: subscribe to %s failed: %d %s", s->name, s->topic, resp ? resp->code : 0,
		  resp && resp->message ? resp->message : "");
}

/* Called on every successful connect, the first and each automatic
 * reconnect: the subscription is renewed every time, since the broker may
 * have restarted without the session. */
static void on_connected(void *ctx, char *cause)
{
	struct mqtt_source *s = ctx;
	atomic_store(&s->connected, true);
	atomic_store(&s->subscribed, false);
	atomic_fetch_add(&s->connects, 1);
	if (atomic_exchange(&s->down_reported, false))
		log_info(COMP, "source %s: connected again (%s)", s->name, cause ? cause : "connect");
	else
		log_info(COMP, "source %s: connected (%s)", s->name, cause ? cause : "connect");
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = on_subscribe_ok;
	ro.onFailure = on_subscribe_fail;
	ro.context = s;
	int rc = s->mq->subscribe(s->client, s->topic, 1, &ro);
	if (rc != MQTTASYNC_SUCCESS) {
		atomic_fetch_add(&s->subscribe_failed, 1);
		log_error(COMP, "source %s: subscribe to %s: %s", s->name, s->topic, s->mq->strerror(rc));
	}
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_source *s = ctx;
	/* Once per state change: the first failure at WARN with its cause,
	 * the retries at DEBUG, the recovery once at INFO (on_connected). */
	if (!atomic_exchange(&s->down_reported, true))
		log_warn(COMP, "source %s: cannot connect: %s (code %d); retrying with backoff (logged again when "
			 "connected)", s->name, resp && resp->message ? resp->message : "no answer", resp ? resp->code : 0);
	else
		log_debug(COMP, "source %s: connect failed: %s (code %d)", s->name,
			  resp && resp->message ? resp->message : "no answer", resp ? resp->code : 0);
}

static void on_lost(void *ctx, char *cause)
{
	struct mqtt_source *s = ctx;
	atomic_store(&s->connected, false);
	atomic_store(&s->subscribed, false);
	atomic_fetch_add(&s->lost, 1);
	atomic_store(&s->down_reported, true);
	cb_warn(s, "connection lost: %s (%llu); reconnecting (retries logged once connected again)",
		cause ? cause : "socket closed", (unsigned long long)atomic_load(&s->lost));
}

/* A message that cannot be copied (out of memory): Paho keeps it and offers
 * it again, slowly. Counted and logged; returns messageArrived's 0. */
static int leave_with_paho(struct mqtt_source *s)
{
	uint64_t n = atomic_fetch_add(&s->deferred, 1) + 1;
	cb_warn(s, "out of memory: message left with Paho for redelivery (%llu so far)", (unsigned long long)n);
	return 0;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct mqtt_source *s = ctx;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	if (plen > s->max_payload || memchr(topic, '\0', tlen)) {
		bool big = plen > s->max_payload;
		atomic_fetch_add(big ? &s->oversized : &s->bad_topic, 1);
		if (big)
			cb_warn(s, "dropped a payload of %zu bytes (max_payload %zu)", plen, s->max_payload);
		else
			cb_warn(s, "dropped a message whose topic holds a NUL");
		goto consumed;
	}
	struct mqtt_source_meta meta = { .arrival_ms = time_wall_ms(), .seq = atomic_fetch_add(&arrival_seq, 1) + 1 };
	char *blob = malloc(tlen + 1 + plen + 1 + sizeof meta);
	if (!blob)
		return leave_with_paho(s);
	memcpy(blob, topic, tlen);
	blob[tlen] = '\0';
	if (plen)
		memcpy(blob + tlen + 1, msg->payload, plen);
	blob[tlen + 1 + plen] = '\0';
	memcpy(blob + tlen + 1 + plen + 1, &meta, sizeof meta);
	struct core_msg m = { .type = MSG_SOURCE_MESSAGE };
	m.u.blob.b = (int64_t)tlen;
	m.u.blob.data = blob;
	m.u.blob.len = tlen + 1 + plen;
	bool prio = false;
	int rc = backlog_offer(s, &m, &prio);
	if (prio)
		atomic_fetch_add(&s->priority, 1);
	if (rc < 0) {
		free(blob);
		return leave_with_paho(s);
	}
	if (rc > 0)
		atomic_fetch_add(&s->backlogged, 1);
	atomic_fetch_add(&s->received, 1);
consumed:
	s->mq->freeMessage(&msg);
	s->mq->free(topic);
	return 1;
}

static void on_publish_ok(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	struct mqtt_source *s = ctx;
	atomic_fetch_add(&s->published, 1);
}

static void on_publish_fail(void *ctx, MQTTAsync_failureData *resp)
{
	struct mqtt_source *s = ctx;
	atomic_fetch_add(&s->publish_failed, 1);
	cb_warn(s, "publish failed: %s (code %d)", resp && resp->message ? resp->message : "no PUBACK",
		resp ? resp->code : 0);
}

static void on_disconnected(void *ctx, MQTTAsync_successData *resp)
{
	(void)resp;
	struct mqtt_source *s = ctx;
	atomic_store(&s->disconnected, true);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData *resp)
{
	(void)resp;
	struct mqtt_source *s = ctx;
	atomic_store(&s->disconnected, true);  /* nothing more to wait for either way */
}

/* ---- core thread ----------------------------------------------------- */

static void source_free(struct mqtt_source *s)
{
	free(s->name);
	free(s->topic);
	free_keys(s->keys, s->n_keys);
	json_map_destroy(s->map);
	free(s->fly.parts);
	pthread_mutex_destroy(&s->log_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->idle);
	free(s);
}

static int source_connect(struct mqtt_source *s, const struct mqtt_source_config *sc, char *err, size_t errlen)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	co.keepAliveInterval = MQTT_SOURCE_KEEPALIVE_S;
	/* A persistent session: while we are away (gateway restart, a network
	 * blip) the broker queues QoS 1 sensor messages for us. */
	co.cleansession = 0;
	co.automaticReconnect = 1;
	co.minRetryInterval = MQTT_SOURCE_RETRY_MIN_S;
	co.maxRetryInterval = MQTT_SOURCE_RETRY_MAX_S;
	co.connectTimeout = 10;
	co.MQTTVersion = MQTTVERSION_3_1_1;
	co.username = sc->username;
	co.password = sc->password;
	co.onFailure = on_connect_fail;
	co.context = s;
	if (mqtt_url_is_tls(sc->url)) {
		/* Paho segfaults on a secure URL without SSL options (#1566); check
		 * the server against the system CAs and its hostname. */
		ssl.enableServerCertAuth = 1;
		ssl.verify = 1;
		co.ssl = &ssl;
	}
	int rc = s->mq->connect(s->client, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "source %s: connect to %s: %s (%d)", sc->name, sc->url, s->mq->strerror(rc), rc);
		return -1;
	}
	return 0;
}

struct mqtt_source *mqtt_source_start(const struct gw_config *cfg, int source_index, struct queue *q, char *err,
				      size_t errlen)
{
	if (source_index < 0 || source_index >= cfg->n_sources) {
		snprintf(err, errlen, "mqtt source index %d out of range", source_index);
		return NULL;
	}
	const struct mqtt_source_config *sc = &cfg->sources[source_index];
	if (!sc->url || !sc->topic || !sc->name) {
		snprintf(err, errlen, "mqtt source %d: url, topic and name are required", source_index);
		return NULL;
	}
	struct mqtt_source *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->index = source_index;
	s->q = q;
	s->max_payload = sc->max_payload > 0 ? (size_t)sc->max_payload : 65536;
	s->cb_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 10000);
	s->core_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 10000);
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->name = strdup(sc->name);
	s->topic = strdup(sc->topic);
	s->n_keys = collect_keys(cfg, source_index, &s->keys);
	char client_id[256];
	if (sc->client_id && *sc->client_id)
		snprintf(client_id, sizeof client_id, "%s", sc->client_id);
	else
		snprintf(client_id, sizeof client_id, "%s-src-%s", cfg->gateway.id ? cfg->gateway.id : "gridgw", sc->name);
	if (!s->name || !s->topic) {
		snprintf(err, errlen, "out of memory");
		source_free(s);
		return NULL;
	}
	char merr[200];
	if (!(s->map = json_map_create_source(cfg, source_index, merr, sizeof merr))) {
		snprintf(err, errlen, "source %s: mqtt mapping: %s", sc->name, merr);
		source_free(s);
		return NULL;
	}
	int prc = pthread_create(&s->feeder, NULL, backlog_feed, s);
	if (prc != 0) {
		snprintf(err, errlen, "source %s: cannot start the backlog thread: %s", sc->name, strerror(prc));
		source_free(s);
		return NULL;
	}
	s->feeder_started = true;
	/* Paho 1.3 has no no_proxy: it would tunnel even 127.0.0.1 through these. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");

	MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
	cro.sendWhileDisconnected = 0;   /* a rule action while the broker is down fails now, visibly */
	cro.MQTTVersion = MQTTVERSION_3_1_1;
	if (!(s->mq = mqtt_lib_for_url(sc->url, err, errlen))) {
		backlog_stop(s, NULL, NULL);
		source_free(s);
		return NULL;
	}
	int rc = s->mq->createWithOptions(&s->client, sc->url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
	if (rc != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "source %s: cannot create a client for %s: %s (%d)", sc->name, sc->url,
			 s->mq->strerror(rc), rc);
		backlog_stop(s, NULL, NULL);
		source_free(s);
		return NULL;
	}
	if ((rc = s->mq->setCallbacks(s->client, s, on_lost, on_message, NULL)) != MQTTASYNC_SUCCESS ||
	    (rc = s->mq->setConnected(s->client, s, on_connected)) != MQTTASYNC_SUCCESS) {
		snprintf(err, errlen, "source %s: cannot set callbacks: %s", sc->name, s->mq->strerror(rc));
		s->mq->destroy(&s->client);
		backlog_stop(s, NULL, NULL);
		source_free(s);
		return NULL;
	}
	if (source_connect(s, sc, err, errlen) < 0) {
		s->mq->destroy(&s->client);
		backlog_stop(s, NULL, NULL);
		source_free(s);
		return NULL;
	}
	log_info(COMP, "source %s: connecting to %s as %s, topic %s", s->name, sc->url, client_id, s->topic);
	return s;
}

static bool topic_is_publishable(const char *topic)
{
	return topic && *topic && !strpbrk(topic, "+#") && strlen(topic) < 65536;
}

int mqtt_source_publish(struct mqtt_source *s, const char *topic, const void *payload, size_t len, int qos)
{
	if (!topic_is_publishable(topic) || qos < 0 || qos > 2 || len > (size_t)INT32_MAX || (len && !payload))
		return -EINVAL;
	if (!atomic_load(&s->connected))
		return -ENOTCONN;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = (void *)payload;  /* Paho copies it */
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = 0;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	ro.onSuccess = on_publish_ok;
	ro.onFailure = on_publish_fail;
	ro.context = s;
	int rc = s->mq->sendMessage(s->client, topic, &msg, &ro);
	switch (rc) {
	case MQTTASYNC_SUCCESS:
		return 0;
	case MQTTASYNC_DISCONNECTED:
		return -ENOTCONN;
	case MQTTASYNC_MAX_BUFFERED_MESSAGES:
		return -ENOBUFS;
	case MQTTASYNC_BAD_QOS:
	case MQTTASYNC_BAD_UTF8_STRING:
	case MQTTASYNC_NULL_PARAMETER:
		return -EINVAL;
	default: {
		unsigned long suppressed = 0;
		if (log_ratelimit_ok(&s->core_rl, &suppressed))
			log_warn(COMP, "source %s: publish to %s: %s (%lu similar suppressed)", s->name, topic,
				 s->mq->strerror(rc), suppressed);
		return -EIO;
	}
	}
}

bool mqtt_source_connected(struct mqtt_source *s)
{
	return atomic_load(&s->connected);
}

const char *mqtt_source_name(const struct mqtt_source *s)
{
	return s->name;
}

void mqtt_source_get_stats(struct mqtt_source *s, struct mqtt_source_stats *out)
{
	out->received = atomic_load(&s->received);
	out->oversized = atomic_load(&s->oversized);
	out->backlogged = atomic_load(&s->backlogged);
	out->deferred = atomic_load(&s->deferred);
	out->bad_topic = atomic_load(&s->bad_topic);
	out->connects = atomic_load(&s->connects);
	out->lost = atomic_load(&s->lost);
	out->subscribe_failed = atomic_load(&s->subscribe_failed);
	out->published = atomic_load(&s->published);
	out->publish_failed = atomic_load(&s->publish_failed);
	out->connected = atomic_load(&s->connected);
	out->subscribed = atomic_load(&s->subscribed);
	out->dropped = atomic_load(&s->dropped);
	out->priority = atomic_load(&s->priority);
	out->dropped_priority = atomic_load(&s->dropped_priority);
	out->map.messages = atomic_load(&s->m_messages);
	out->map.malformed = atomic_load(&s->m_malformed);
	out->map.unknown_device = atomic_load(&s->m_unknown_device);
	out->map.no_device_id = atomic_load(&s->m_no_device_id);
	out->map.wrong_type = atomic_load(&s->m_wrong_type);
	out->map.oversized = atomic_load(&s->m_oversized);
	out->map.points = atomic_load(&s->m_points);
	out->map.ts_rejected = atomic_load(&s->m_ts_rejected);
	pthread_mutex_lock(&s->lock);
	out->backlog = s->prio.msgs + s->bulk.msgs + (s->fly.have ? 1 : 0);
	pthread_mutex_unlock(&s->lock);
}

void mqtt_source_stop_take(struct mqtt_source *s, mqtt_source_take_fn take, void *ctx,
			   struct json_map_stats *final)
{
	if (!s)
		return;
	MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
	dopts.timeout = 1000;
	dopts.onSuccess = on_disconnected;
	dopts.onFailure = on_disconnect_fail;
	dopts.context = s;
	/* Also ends automatic reconnecting when we are not connected (rc then
	 * MQTTASYNC_DISCONNECTED and no callback comes). */
	int rc = s->mq->disconnect(s->client, &dopts);
	if (rc == MQTTASYNC_SUCCESS) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		for (int i = 0; i < 200 && !atomic_load(&s->disconnected); i++)
			nanosleep(&ts, NULL);
	}
	/* Destroy takes Paho's mutex: any callback still running finishes
	 * first, and none runs after. */
	s->mq->destroy(&s->client);
	backlog_stop(s, take, ctx);
	if (final) {
		struct mqtt_source_stats st;
		mqtt_source_get_stats(s, &st);
		json_map_stats_add(final, &st.map);
	}
	source_free(s);
}

void mqtt_source_stop(struct mqtt_source *s)
{
	mqtt_source_stop_take(s, NULL, NULL, NULL);
}

void mqtt_source_hold(struct mqtt_source *s, bool hold)
{
	pthread_mutex_lock(&s->lock);
	s->held = hold;
	/* A message being decoded now is posted only after a release: once this
	 * returns, nothing more of this source reaches the queue. */
	while (hold && s->decoding)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

int mqtt_source_rebind(struct mqtt_source *s, const struct gw_config *cfg, int source_index, struct json_map *map)
{
	char err[200];
	if (!map && !(map = json_map_create_source(cfg, source_index, err, sizeof err))) {
		log_error(COMP, "source %s: mqtt mapping: %s", s->name, err);
		return -1;
	}
	char **keys = NULL;
	int n = collect_keys(cfg, source_index, &keys);
	pthread_mutex_lock(&s->lock);
	s->index = source_index;
	/* The old map borrows the old config, about to be freed. A message in
	 * flight was decoded with it: decode it again with the new one (its
	 * parts never reached the queue, they go all at once). */
	struct json_map *old_map = s->map;
	s->map = map;
	s->fly.decoded = false;
	s->fly.n_parts = 0;
	s->fly.raw.u.blob.a = source_index;
	/* Messages already backlogged were made for the old index. */
	struct lane *lanes[2] = { &s->prio, &s->bulk };
	for (int i = 0; i < 2; i++)
		for (struct backlog_item *it = lanes[i]->head; it; it = it->next)
			it->msg.u.blob.a = source_index;
	char **old = s->keys;
	int n_old = s->n_keys;
	s->keys = keys;
	s->n_keys = n;
	pthread_mutex_unlock(&s->lock);
	free_keys(old, n_old);
	json_map_destroy(old_map);
	return 0;
}

static char *client_id_of(const struct gw_config *cfg, const struct mqtt_source_config *sc, char *buf, size_t len)
{
	if (sc->client_id && *sc->client_id)
		snprintf(buf, len, "%s", sc->client_id);
	else
		snprintf(buf, len, "%s-src-%s", cfg->gateway.id ? cfg->gateway.id : "gridgw", sc->name);
	return buf;
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

bool mqtt_source_same_client(const struct gw_config *a, int ia, const struct gw_config *b, int ib)
{
	const struct mqtt_source_config *x = &a->sources[ia], *y = &b->sources[ib];
	char ca[256], cb[256];
	return str_eq(x->name, y->name) && str_eq(x->url, y->url) && str_eq(x->topic, y->topic) &&
	       str_eq(x->username, y->username) && str_eq(x->password, y->password) &&
	       x->max_payload == y->max_payload &&
	       strcmp(client_id_of(a, x, ca, sizeof ca), client_id_of(b, y, cb, sizeof cb)) == 0;
}

void mqtt_source_msg_meta(const struct core_msg *m, struct mqtt_source_meta *out)
{
	memcpy(out, m->u.blob.data + m->u.blob.len + 1, sizeof *out);
}
