/* outbox — pumps undelivered incident events from the store to the uplink,
 * in seq order, QoS 1, with a bounded in-flight window, and marks them
 * delivered on PUBACK in batched store transactions (CONTRACT.md §3).
 *
 * Guarantees: every event appended to the store is eventually published
 * (at least once) while the link comes up now and then; after a reconnect,
 * a publish failure or an ack timeout, sending restarts from the oldest
 * undelivered event with the same id and seq. So the platform may see
 * duplicates, never a gap, and a seq is first received after every lower
 * seq of the same session was sent before it — per-incident order holds.
 *
 * The store stays the only outbox: nothing here deletes or rewrites events;
 * it only reads undelivered ones and marks delivered ones. A reconnect or a
 * config reload changes nothing in the store.
 *
 * Core thread only. Call outbox_pump once per core-loop iteration, after
 * the iteration's store_commit. */
#ifndef GRIDGW_OUTBOX_H
#define GRIDGW_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/store/store.h"
#include "gateway/uplink/uplink.h"

/* Events fetched from the store per query. */
#define OUTBOX_FETCH_BATCH 256
/* An event in flight this long without PUBACK is sent again (its ack was lost). */
#define OUTBOX_ACK_TIMEOUT_MS 30000
/* After a publish failure reported by the broker/Paho, pause this long before resending. */
#define OUTBOX_FAIL_PAUSE_MS 1000
/* Delivered marks are written per this many acks, or after this long. */
#define OUTBOX_MARK_BATCH 512
#define OUTBOX_MARK_DELAY_MS 100
/* Pending marks (acked, not yet written) at most: a batch plus a full
 * window. While the store cannot write them the outbox sends nothing new
 * beyond this (so every ack still fits), never keeps a seq twice, and
 * retries the write every OUTBOX_MARK_RETRY_MS. */
#define OUTBOX_MARKS_MAX (OUTBOX_MARK_BATCH + 1024)
#define OUTBOX_MARK_RETRY_MS 1000
/* After Paho refused to take a message (buffer full), retry this soon. */
#define OUTBOX_RETRY_MS 20

/* How the outbox hands an event over: 0 = taken (an ack or failure will be
 * reported for seq), anything else = not taken, retry later. */
typedef int (*outbox_publish_fn)(void *ctx, const char *topic_suffix, const void *payload, size_t len,
				 uint64_t seq);

struct outbox_stats {
	uint64_t published;       /* handed to the uplink, resends included */
	uint64_t acked;           /* PUBACKs received */
	uint64_t marked;          /* seqs marked delivered in the store */
	uint64_t failed;          /* failures reported */
	uint64_t rewinds;         /* restarts from the oldest undelivered */
	uint64_t refused;         /* publishes the uplink did not take */
	uint64_t store_errors;
	uint64_t marks_dropped;   /* acks that found the marks full: resent later (a duplicate, never a loss) */
	int inflight;
	int pending_marks;        /* acked, not yet written to the store */
	bool connected;
};

struct outbox;

/* window: events in flight at most (1..1024; clamped). Publishes through u. */
struct outbox *outbox_create(struct store *st, struct uplink *u, int window);
/* The same with any publisher (tests, benchmarks). */
struct outbox *outbox_create_with(struct store *st, int window, outbox_publish_fn publish, void *ctx);
/* Flushes pending delivered marks (best effort) and frees o. */
void outbox_destroy(struct outbox *o);

void outbox_on_connected(struct outbox *o);   /* restart from the oldest undelivered */
void outbox_on_lost(struct outbox *o);        /* stop sending; in-flight events will be resent */
void outbox_on_acked(struct outbox *o, uint64_t seq);  /* marked delivered in the next pump */
void outbox_on_failed(struct outbox *o, uint64_t seq); /* pause, then restart from the oldest undelivered */

/* Marks acked events delivered (one transaction per OUTBOX_MARK_BATCH acks
 * or OUTBOX_MARK_DELAY_MS, and at once when the link is down), then fills the window from
 * the store. Returns how many events were published, or a negative
 * store_err when the store failed (retried at the next pump). Must run
 * outside an open store transaction: an event is published only once its
 * append is committed. */
int outbox_pump(struct outbox *o);
/* The same at a given monotonic time (tests). */
int outbox_pump_at(struct outbox *o, int64_t now_mono_ms);
/* Writes pending delivered marks now (one transaction, or inside the
 * caller's). 0 or a store_err. */
int outbox_flush(struct outbox *o);
/* ms until outbox_pump has timed work to do (0 = now, -1 = none). */
int64_t outbox_next_tick_ms(const struct outbox *o, int64_t now_mono_ms);

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out);
/* Undelivered events in the store (acked but not yet marked count as undelivered). */
int64_t outbox_backlog(struct outbox *o);

#endif
