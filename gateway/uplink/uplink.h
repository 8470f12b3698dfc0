/* uplink — the MQTT client to the grid platform's broker (CONTRACT.md §3):
 * one Paho MQTTAsync client for the process lifetime, MQTT 3.1.1 or 5,
 * tcp:// or ssl:// (CA, client certificate and key, hostname verification),
 * the retained P/G/status with its will, the P/G/cmd subscription, and
 * reconnection with jittered exponential backoff scheduled by us (Paho's
 * automaticReconnect has no jitter: a thousand gateways that lose the same
 * broker would retry in lockstep).
 *
 * Threads: every function here is called by the core thread. Paho's
 * callbacks run on Paho's threads and only enqueue (queue_push_nowait):
 *   MSG_UPLINK_CONNECTED                  connect succeeded
 *   MSG_UPLINK_LOST     blob.a = 1 connect failed, 0 connection lost; blob
 *                       = reason text or NULL
 *   MSG_UPLINK_ACKED    u.uplink.seq       PUBACK of a publish with seq != 0
 *   MSG_UPLINK_FAILED   u.uplink.seq       that publish failed
 *   MSG_UPLINK_COMMAND  blob = payload copy (NUL-terminated, blob.len bytes;
 *                       at most COMMAND_MAX_PAYLOAD + 1 bytes are copied);
 *                       when the control slots are full, held in order
 *                       until uplink_feed_commands moves them on
 * The core hands CONNECTED/LOST back with uplink_on_connected/uplink_on_lost
 * (and to the outbox), and calls uplink_tick when uplink_next_tick_ms says.
 *
 * Nothing here touches the store: a reconnect never changes the outbox. */
#ifndef GRIDGW_UPLINK_H
#define GRIDGW_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config/config.h"
#include "common/queue.h"
#include "gateway/uplink/telemetry.h"

enum uplink_state {
	UPLINK_DOWN = 0,          /* waiting for the next connect attempt */
	UPLINK_CONNECTING,        /* a connect is in progress */
	UPLINK_UP,                /* connected, subscribed, status online */
	UPLINK_STOPPED,           /* uplink_stop was called */
};

/* Backlog above which telemetry is dropped (incidents never are). */
#define UPLINK_TELEMETRY_MAX_BACKLOG 64

struct uplink;

/* Copies what it needs from cfg (which may then be freed). No I/O yet.
 * NULL with a reason in err when the config cannot work (no url, bad url
 * scheme, TLS files unreadable, Paho refuses the client). */
struct uplink *uplink_create(const struct gw_config *cfg, struct queue *q, char *err, size_t errlen);
/* The first connect attempt, now. 0, or -1 if Paho refused the request
 * (then retried with backoff like any failure). */
int uplink_start(struct uplink *u, int64_t now_mono_ms);
/* Publishes status offline (retained) if connected, disconnects cleanly (so
 * the broker does not also send the will) and destroys the client. Waits at
 * most ~2 s. Idempotent. */
void uplink_stop(struct uplink *u);
/* uplink_stop if needed, then frees u. */
void uplink_destroy(struct uplink *u);

/* Core-side handling of the callbacks' messages. */
void uplink_on_connected(struct uplink *u, int64_t now_mono_ms);
void uplink_on_lost(struct uplink *u, bool connect_failed, const char *reason, int64_t now_mono_ms);
/* Connects when the backoff has elapsed; republishes a changed status. Call
 * when uplink_next_tick_ms has passed (calling more often is harmless). */
void uplink_tick(struct uplink *u, int64_t now_mono_ms);
/* Milliseconds until uplink_tick wants to run, 0 = now, -1 = no timer. */
int64_t uplink_next_tick_ms(const struct uplink *u, int64_t now_mono_ms);

/* Publishes to P/G/topic_suffix. seq != 0 asks for MSG_UPLINK_ACKED{seq} on
 * PUBACK (or MSG_UPLINK_FAILED{seq}); qos must then be 1. Returns 0 when
 * Paho took the message, or a negative Paho code (MQTTASYNC_DISCONNECTED
 * when not connected, MQTTASYNC_MAX_BUFFERED_MESSAGES when Paho's buffer is
 * full, ...) and the message was not taken: retry later. */
int uplink_publish(struct uplink *u, const char *topic_suffix, const void *payload, size_t len,
		   int qos, bool retained, uint64_t seq);
/* The answer to a command on P/G/cmd/result (QoS 1). */
int uplink_publish_result(struct uplink *u, const char *req, bool ok, const char *error);
/* Telemetry snapshot on P/G/telemetry, QoS 0, split at uplink.max_payload.
 * Dropped (returns 0, nothing sent) when not connected or when backlog >
 * UPLINK_TELEMETRY_MAX_BACKLOG: incidents go first. Returns the number of
 * messages sent, or negative on error. */
int uplink_publish_telemetry(struct uplink *u, int64_t ts_wall_ms, const struct telemetry_device *devs,
			     int n_devs, int64_t backlog);

/* The figures of the retained status. Published on connect, and again when
 * they change: at once for devices/open incidents, at most every
 * UPLINK_STATUS_BACKLOG_MS for a backlog-only change. */
#define UPLINK_STATUS_BACKLOG_MS 5000
void uplink_set_status(struct uplink *u, const struct status_counts *c, int64_t now_mono_ms);
/* Publishes the status now, changed or not (the platform's gateway.status).
 * 0, or negative when the link is down or Paho refused it. */
int uplink_force_status(struct uplink *u, const struct status_counts *c, int64_t now_mono_ms);

/* Moves the platform commands the core queue had no room for (held in
 * arrival order by the callback) into the queue as far as its control slots
 * allow. The core calls it after each round of taking its queue. */
void uplink_feed_commands(struct uplink *u);
/* While paused, new commands are held too (in order) and none is fed:
 * the core's flow control while its answers wait to be published. */
void uplink_pause_commands(struct uplink *u, bool pause);

enum uplink_state uplink_state(const struct uplink *u);
const char *uplink_state_name(enum uplink_state s);
bool uplink_is_up(const struct uplink *u);
/* How long the link has been down (since start if it never came up); 0 when up. */
int64_t uplink_down_for_ms(const struct uplink *u, int64_t now_mono_ms);
/* Consecutive failed connect attempts since the link was last up. */
int uplink_attempts(const struct uplink *u);
/* P/G/cmd, for logs and tests. */
const char *uplink_cmd_topic(const struct uplink *u);

/* The reconnect delay after `attempt` failures (1-based): exponential from
 * min_ms, capped at max_ms, then "equal jitter" (a uniform draw from the
 * upper half) using *rng (xorshift state, never 0). Exposed for tests. */
int64_t uplink_backoff_ms(int attempt, int64_t min_ms, int64_t max_ms, uint64_t *rng);

#endif
