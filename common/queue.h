/* queue — the one bounded multi-producer, single-consumer queue into the core
 * thread, with an eventfd the core's poll() waits on.
 *
 * Producers are the bus threads, the MQTT source and uplink callbacks (on
 * Paho's threads) and the control socket. Two kinds of push:
 *  - queue_push_wait: for bus threads; blocks while the queue is above its
 *    high-water mark (back-pressure slows polling instead of losing data);
 *  - queue_push_nowait: for Paho callbacks, which must never block (Paho
 *    holds its global mutex in callbacks, and the core calls into Paho): it
 *    may use the headroom above the high-water mark and fails only when the
 *    queue is completely full.
 * Two classes of message, by type (queue_msg_is_control): *data* (points,
 * device comm, write results, MQTT-source messages) uses `capacity`;
 * *control* (uplink connected/lost/acked/failed/command, control and console
 * requests, notification results)
 * has QUEUE_CONTROL_SLOTS of its own on top, which data can never use. A
 * sensor flood that fills the data capacity therefore cannot make a PUBACK
 * or CONNECTED be dropped (a lost CONNECTED forced a reconnect of a healthy
 * link after 20 s, a lost PUBACK a 30 s resend stall). Order is one FIFO
 * over both classes.
 * Messages are fixed-size and copied; any heap pointer inside a message
 * (struct core_msg.blob) is owned by the queue until popped, then by the core. */
#ifndef GRIDGW_QUEUE_H
#define GRIDGW_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/point.h"

enum core_msg_type {
	MSG_POINT = 1,          /* one decoded point: point */
	MSG_DEVICE_COMM,        /* device answered (ok=1) or failed a whole poll (ok=0): comm */
	MSG_WRITE_RESULT,       /* result of a write the core asked for: write */
	MSG_SOURCE_MESSAGE,     /* raw MQTT source message: blob (topic\0payload), source index in `a`; kept
				 * in a source's own backlog only, never posted (sensors/mqtt_source.h) */
	MSG_UPLINK_CONNECTED,
	MSG_UPLINK_LOST,        /* text reason in blob (may be NULL) */
	MSG_UPLINK_ACKED,       /* PUBACK for outbox seq: seq */
	MSG_UPLINK_FAILED,      /* publish of seq failed: seq */
	MSG_UPLINK_COMMAND,     /* platform command JSON: blob */
	MSG_CONTROL,            /* control socket request: blob + fd in `a` */
	MSG_STOP,               /* asks the core to stop (tests, fatal errors) */
	MSG_NOTIFY_RESULT,      /* a notification outcome: blob = struct notify_result (gateway/notify/notify.h) */
	MSG_WEB_REQUEST,        /* console request: blob.data = struct web_call * (gateway/web/web.h), answered
				 * with web_call_answer; a plain malloc block, so queue_destroy may free it */
	MSG_READ_RESULT,        /* a one-shot bus read for the console: blob.data = struct modbus_read_result *
				 * (sensors/modbus_bus.h, a plain malloc block), blob.a = the core's token */
	MSG_USER,               /* free for modules: a/b/seq/blob as they define */
	MSG_POINTS,             /* one device poll's changed points: points (bus threads) */
	MSG_SOURCE_POINTS,      /* one MQTT-source message decoded by its source: points, with its
				 * arrival time and order (ts_ms is the payload's time) */
};

/* Entries one MSG_POINTS carries; a poll that changes more posts several. */
#define QUEUE_POINTS_MAX 16

struct core_msg {
	enum core_msg_type type;
	union {
		struct {
			int32_t device;       /* index into gw_config.devices */
			int32_t point;        /* index into the device profile's points */
			struct point_value pv;
		} point;
		/* Up to QUEUE_POINTS_MAX points of one device read in one poll:
		 * entry i is point[i] with quality[i] and value[i], all read at
		 * ts_ms (wall clock). Parallel arrays keep the slot small (11
		 * bytes an entry); core_msg_point() gives entry i back.
		 * MSG_SOURCE_POINTS also carries the message's arrival (wall
		 * clock) and arrival order, the core's per-point ordering key;
		 * a message with more points is split into several that share
		 * them, and a well-formed message with none still posts one
		 * (n = 0: it proves the device alive). */
		struct {
			int32_t device;
			uint16_t n;
			int64_t ts_ms;
			int64_t arrival_ms;   /* MSG_SOURCE_POINTS only */
			uint64_t seq;         /* MSG_SOURCE_POINTS only */
			double value[QUEUE_POINTS_MAX];
			uint16_t point[QUEUE_POINTS_MAX];
			uint8_t quality[QUEUE_POINTS_MAX];
		} points;
		struct {
			int32_t device;
			int32_t ok;
			int32_t error;        /* errno-style code when !ok */
		} comm;
		struct {
			int32_t device;
			int32_t point;
			int32_t ok;
			uint64_t request;     /* the core's id for the write */
			char error[64];
		} write;
		struct {
			uint64_t seq;
		} uplink;
		struct {
			int64_t a;
			int64_t b;
			char *data;           /* malloc'd; ownership moves with the message */
			size_t len;
		} blob;
	} u;
};

/* Entry i (< m->u.points.n) of a MSG_POINTS or MSG_SOURCE_POINTS message. */
static inline void core_msg_point(const struct core_msg *m, int i, int *point, struct point_value *pv)
{
	*point = m->u.points.point[i];
	pv->value = m->u.points.value[i];
	pv->quality = (enum quality)m->u.points.quality[i];
	pv->ts_ms = m->u.points.ts_ms;
}

/* Appends one entry to a MSG_POINTS message; false when it is full. */
static inline bool core_msg_add_point(struct core_msg *m, int point, const struct point_value *pv)
{
	uint16_t i = m->u.points.n;
	if (i >= QUEUE_POINTS_MAX)
		return false;
	m->u.points.point[i] = (uint16_t)point;
	m->u.points.quality[i] = (uint8_t)pv->quality;
	m->u.points.value[i] = pv->value;
	m->u.points.n = (uint16_t)(i + 1);
	return true;
}

struct queue;

/* Slots reserved for control messages. Their producers are bounded: one
 * PUBACK per in-flight publish (outbox window <= 1024, typically 16-64), a
 * few link changes, platform commands and control requests (each waits for
 * its answer); the core pops them within one iteration. */
#define QUEUE_CONTROL_SLOTS 1024

/* True for the types that use the control reserve. */
bool queue_msg_is_control(enum core_msg_type t);

/* capacity: slots for data messages; high_water: where queue_push_wait of
 * data starts to wait. The QUEUE_CONTROL_SLOTS come on top. */
struct queue *queue_create(size_t capacity, size_t high_water);
/* Frees any blobs still queued. */
void queue_destroy(struct queue *q);
/* The fd to poll() for POLLIN; readable while messages may be waiting. */
int queue_fd(const struct queue *q);
/* Returns 0, or -1 when the queue is closed. Data waits below high_water,
 * control for a free control slot. */
int queue_push_wait(struct queue *q, const struct core_msg *m);
/* As queue_push_wait, but does not wake the consumer: a producer that posts
 * a burst (a bus thread's polls of one tick) wakes the core once, with
 * queue_wake, when the burst ends, instead of once per message. A push that
 * has to wait for room wakes the core itself first. */
int queue_push_wait_quiet(struct queue *q, const struct core_msg *m);
/* Wakes the consumer when messages are waiting that it was not woken for. */
void queue_wake(struct queue *q);
/* Returns 0, or -1 when the message's class is full or the queue closed
 * (the caller keeps ownership of any blob). */
int queue_push_nowait(struct queue *q, const struct core_msg *m);
/* Pushes all n data messages, in order and next to each other, or none
 * (returns -1 as queue_push_nowait: one refusal counted): the parts of one
 * split MQTT-source message never go half into the queue. */
int queue_push_many_nowait(struct queue *q, const struct core_msg *m, size_t n);
/* True when n more data messages would fit now (a hint: producers race). */
bool queue_data_room(struct queue *q, size_t n);
/* Pops up to max messages without blocking; returns how many. Clears the
 * eventfd when the queue becomes empty. */
size_t queue_pop_many(struct queue *q, struct core_msg *out, size_t max);
size_t queue_length(struct queue *q);
/* Wakes every waiting producer with failure; later pushes fail. */
void queue_close(struct queue *q);
bool queue_is_closed(struct queue *q);
/* Count of nowait pushes refused (their class full, or the queue closed). */
uint64_t queue_dropped(struct queue *q);

#endif
