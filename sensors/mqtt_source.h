/* mqtt_source — one Paho MQTTAsync client per configured `mqtt_sources`
 * entry: connects to the source broker (a local broker or an NB-IoT/LoRa
 * bridge), subscribes to its topic at QoS 1 on every (re)connect, decodes
 * each message with its own JSON map (json_map, this source's devices only)
 * and posts the points to the core, as a bus thread does. Also publishes
 * for rule actions
 * (`on_raise = ({ publish = "topic"; payload = "..."; source = "bridge"; })`).
 *
 * Message to the core: MSG_SOURCE_POINTS (common/queue.h): the device, its
 * points present in the payload (profile order, split over several
 * messages past QUEUE_POINTS_MAX), the payload time, the arrival time and
 * the arrival order over every source. A well-formed message of a known
 * device with no point posts one with n = 0 (it proves the device alive);
 * a refused one posts nothing and is counted (stats.map). Inside the
 * source, a message waits raw as MSG_SOURCE_MESSAGE: u.blob.a = source
 * index, u.blob.b = topic length T, u.blob.data = malloc'd
 * "topic\0payload\0", u.blob.len = T + 1 + payload length, then a struct
 * mqtt_source_meta (mqtt_source_msg_meta).
 *
 * Why decode on the feeder and not in the callback: the callback holds
 * Paho's global mutex, shared with the uplink; it stays copy-and-classify.
 * Why not on the core: the core then did every source's JSON parsing (and
 * Modbus readings were already decoded on their bus threads). The map is
 * used by the feeder alone; the core keeps only the per-point order check
 * and the comm state.
 *
 * Threads: Paho runs the callbacks on its own threads while holding its
 * global mutex; they only copy, classify and append to this source's
 * backlog (never block, never call back into Paho except
 * subscribe-on-connect, which Paho allows). A small thread per source, the
 * feeder, takes each message off the backlog, decodes it and posts it
 * (queue_push_many_nowait). A message is never left with Paho (it would be
 * offered again only every ~15 s and hold up Paho's one receive thread, the
 * uplink's too): when the core cannot take it, it waits in the bounded
 * backlog, in two lanes: alarm-relevant messages (their payload holds the
 * key of a point some rule reads) go first and are never dropped for bulk;
 * bulk readings are dropped oldest first, counted, when the backlog is
 * full. The other functions are for the core thread. */
#ifndef GRIDGW_MQTT_SOURCE_H
#define GRIDGW_MQTT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "common/queue.h"
#include "sensors/json_map.h"

/* Reconnect: Paho's automatic reconnect, doubling from MIN to MAX seconds
 * with +-20 % jitter, started also when the very first connect fails. */
#define MQTT_SOURCE_RETRY_MIN_S 1
#define MQTT_SOURCE_RETRY_MAX_S 30
#define MQTT_SOURCE_KEEPALIVE_S 20

/* Overflow backlog per source, for when the core queue is full. */
#define MQTT_SOURCE_BACKLOG_MSGS 4096
#define MQTT_SOURCE_BACKLOG_BYTES (8u << 20)
/* Bulk (not alarm-relevant) readings go to the core queue only while it
 * holds fewer messages than this: a flood never stands between the core and
 * an alarm (of this source or of a bus) by more than this many messages. */
#define MQTT_SOURCE_QUEUE_SHARE 1024
/* How long the feeder, woken from idle by a message, waits for more before
 * posting: at a steady trickle (20,000 detectors reporting once a minute,
 * a message every 3 ms) it and the core each woke for every message, and
 * the wake-ups were most of the daemon's CPU (docs/benchmarks.md, #12.4).
 * A few ms on a path whose sender (NB-IoT, a bridge) takes seconds. */
#define MQTT_SOURCE_LINGER_MS 10

/* Stored after each message's final NUL. */
struct mqtt_source_meta {
	int64_t arrival_ms;       /* wall clock when Paho handed it over */
	uint64_t seq;             /* arrival order over every source, from 1 */
};

struct mqtt_source;

struct mqtt_source_stats {
	uint64_t received;        /* messages queued for the core */
	uint64_t oversized;       /* dropped in the callback: payload > max_payload */
	uint64_t backlogged;      /* found the core queue full and waited in the source's backlog */
	uint64_t deferred;        /* could not be copied (out of memory): left with Paho, which redelivers (slowly) */
	uint64_t bad_topic;       /* dropped: topic with an embedded NUL */
	uint64_t connects;        /* successful connects, first one included */
	uint64_t lost;            /* connections lost */
	uint64_t subscribe_failed;
	uint64_t published, publish_failed;
	uint64_t priority;        /* alarm-relevant messages (sent ahead of bulk readings) */
	uint64_t dropped;         /* bulk readings dropped, oldest first, with the backlog full */
	uint64_t dropped_priority; /* alarm-relevant ones dropped past 4x the bound (logged as errors) */
	uint64_t backlog;         /* messages waiting in the backlog now */
	struct json_map_stats map; /* the decoding: messages, malformed, unknown_device ... */
	bool connected, subscribed;
};

/* Creates the client for cfg->sources[source_index] and starts connecting
 * (returns without waiting for the broker; a broker that is down is retried
 * forever). `q` must outlive the source; `cfg` is only read during this
 * call (the client keeps copies of what it needs). Returns NULL with a
 * message in err when Paho refuses the URL or options. Removes
 * http_proxy/https_proxy from the environment first: Paho 1.3 would send
 * even loopback connections through them; call this before starting other
 * threads that read the environment. */
struct mqtt_source *mqtt_source_start(const struct gw_config *cfg, int source_index, struct queue *q, char *err,
				      size_t errlen);
/* Publishes from the core thread (never blocks on the network). Returns 0
 * when Paho accepted it, -ENOTCONN while disconnected, -EINVAL for a bad
 * topic/qos, -ENOBUFS when Paho's buffer is full, -EIO otherwise. */
int mqtt_source_publish(struct mqtt_source *s, const char *topic, const void *payload, size_t len, int qos);
/* The last state the callbacks reported; no Paho call. */
bool mqtt_source_connected(struct mqtt_source *s);
void mqtt_source_get_stats(struct mqtt_source *s, struct mqtt_source_stats *out);
const char *mqtt_source_name(const struct mqtt_source *s);
/* Disconnects (waiting at most ~2 s), destroys the client and frees s.
 * After it returns no callback of this source runs any more. NULL is fine. */
void mqtt_source_stop(struct mqtt_source *s);

/* Called once per MSG_SOURCE_POINTS decoded from what was still in the
 * backlog at stop (the broker has been PUBACKed for it and will not resend
 * it), with the config the source was started or rebound with. */
typedef void (*mqtt_source_take_fn)(void *ctx, struct core_msg *m);
/* As mqtt_source_stop, but hands the backlog to take() instead of
 * discarding it, and adds the source's decoding counters to *final (may be
 * NULL): what it counted is not lost with it. */
void mqtt_source_stop_take(struct mqtt_source *s, mqtt_source_take_fn take, void *ctx,
			   struct json_map_stats *final);
/* Reload: while held, nothing of this source goes to the core queue (its
 * messages wait raw in the backlog, within its bounds), so the core can
 * drain the queue against the old config and swap. Returns once a message
 * being decoded is done (it waits, decoded, until release). */
void mqtt_source_hold(struct mqtt_source *s, bool hold);
/* Reload keeping the client: the source's new index in the new config, its
 * new JSON map (`map`, built by json_map_create_source for cfg and taken
 * over; NULL: built here) and the alarm-relevant keys from its rules. Call
 * while held, before the old config is freed (the old map borrows it); a
 * message decoded but not yet posted is decoded again with the new map.
 * Returns 0, or -1 when the map cannot be built (logged; the caller stops
 * the source). */
int mqtt_source_rebind(struct mqtt_source *s, const struct gw_config *cfg, int source_index, struct json_map *map);
/* True when sources a->sources[ia] and b->sources[ib] would make the same
 * client (name, url, topic, client id, credentials, max_payload): a reload
 * keeps it running. device_from and ts_key are json_map's, not the client's. */
bool mqtt_source_same_client(const struct gw_config *a, int ia, const struct gw_config *b, int ib);
/* The arrival time and order of a raw MSG_SOURCE_MESSAGE of a source. */
void mqtt_source_msg_meta(const struct core_msg *m, struct mqtt_source_meta *out);

#endif
