/* outbox — the window pump between the store and the uplink. See outbox.h.
 *
 * State: `last_sent` is the highest seq handed to the uplink in the current
 * round; the next fetch asks the store for undelivered seqs above it. A
 * "rewind" (reconnect, failure, ack timeout) sets it to 0, so the next round
 * starts again from the oldest undelivered event. Acks are collected in
 * `marks` and written in one transaction per pump, which keeps the store's
 * FULL-synchronous commits cheap at thousands of events per second. */
#include "gateway/uplink/outbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define WINDOW_MAX 1024

struct inflight {
	uint64_t seq;
	int64_t sent_ms;
};

struct outbox {
	struct store *st;
	outbox_publish_fn publish;
	void *ctx;
	int window;
	bool connected;
	uint64_t last_sent;
	int64_t paused_until;     /* mono ms; no sending before */
	bool retry_soon;          /* the uplink refused a publish: try again shortly */
	struct inflight *inflight;
	int n_inflight;
	struct outbox_event pre[OUTBOX_FETCH_BATCH];
	int pre_n, pre_pos;
	uint64_t *marks;
	int n_marks, cap_marks;
	int64_t first_mark_ms;    /* when the oldest pending mark was collected */
	int64_t mark_retry_ms;    /* after a failed write of the marks: not before */
	struct outbox_stats stats;
	struct log_ratelimit rl;
};

static int publish_via_uplink(void *ctx, const char *topic_suffix, const void *payload, size_t len, uint64_t seq)
{
	return uplink_publish(ctx, topic_suffix, payload, len, 1, false, seq);
}

struct outbox *outbox_create_with(struct store *st, int window, outbox_publish_fn publish, void *ctx)
{
	struct outbox *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->st = st;
	o->publish = publish;
	o->ctx = ctx;
	o->window = window < 1 ? 1 : window > WINDOW_MAX ? WINDOW_MAX : window;
	o->inflight = calloc((size_t)o->window, sizeof *o->inflight);
	o->cap_marks = OUTBOX_MARKS_MAX;
	o->marks = calloc((size_t)o->cap_marks, sizeof *o->marks);
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(5, 10000);
	o->rl = rl;
	if (!o->inflight || !o->marks) {
		free(o->inflight);
		free(o->marks);
		free(o);
		return NULL;
	}
	return o;
}

struct outbox *outbox_create(struct store *st, struct uplink *u, int window)
{
	return outbox_create_with(st, window, publish_via_uplink, u);
}

/* Events before pre_pos were already freed when they were published. */
static void prefetch_clear(struct outbox *o)
{
	for (int i = o->pre_pos; i < o->pre_n; i++)
		outbox_event_free(&o->pre[i]);
	o->pre_n = o->pre_pos = 0;
}

static void rewind_round(struct outbox *o)
{
	prefetch_clear(o);
	o->n_inflight = 0;
	o->last_sent = 0;
	o->retry_soon = false;
}

void outbox_destroy(struct outbox *o)
{
	if (!o)
		return;
	if (o->n_marks > 0 && outbox_flush(o) != 0)
		log_warn("outbox", "%d delivered marks not saved; those events will be sent again", o->n_marks);
	prefetch_clear(o);
	free(o->inflight);
	free(o->marks);
	free(o);
}

void outbox_on_connected(struct outbox *o)
{
	o->connected = true;
	o->paused_until = 0;
	rewind_round(o);
	o->stats.rewinds++;
}

void outbox_on_lost(struct outbox *o)
{
	o->connected = false;
	rewind_round(o);
}

static void inflight_remove(struct outbox *o, uint64_t seq)
{
	for (int i = 0; i < o->n_inflight; i++) {
		if (o->inflight[i].seq == seq) {
			memmove(&o->inflight[i], &o->inflight[i + 1], (size_t)(o->n_inflight - i - 1) * sizeof *o->inflight);
			o->n_inflight--;
			return;
		}
	}
}

void outbox_on_acked(struct outbox *o, uint64_t seq)
{
	o->stats.acked++;
	/* A PUBACK is true even from an earlier round: the broker has that event. */
	inflight_remove(o, seq);
	/* While the store cannot write, a rewind resends what is already acked:
	 * its second ack must not be kept twice. Newest first: a repeat is recent. */
	for (int i = o->n_marks - 1; i >= 0; i--)
		if (o->marks[i] == seq)
			return;
	if (o->n_marks == o->cap_marks) {
		o->stats.marks_dropped++;
		return;  /* not marked: it will be sent again, a duplicate and not a loss */
	}
	if (o->n_marks == 0)
		o->first_mark_ms = -1;  /* stamped by the next pump, on the pump's clock */
	o->marks[o->n_marks++] = seq;
}

void outbox_on_failed(struct outbox *o, uint64_t seq)
{
	o->stats.failed++;
	unsigned long sup;
	if (log_ratelimit_ok(&o->rl, &sup))
		log_warn("outbox", "publish of seq %llu failed; resending from the oldest undelivered (%lu lines suppressed)",
			 (unsigned long long)seq, sup);
	/* Resending only seq would put it behind later events: restart the round. */
	rewind_round(o);
	o->stats.rewinds++;
	o->paused_until = -1;     /* resolved to now + pause at the next pump */
}

int outbox_flush(struct outbox *o)
{
	if (o->n_marks == 0)
		return 0;
	/* One transaction for the whole batch (the store opens its own when the
	 * caller has none). */
	int rc = store_mark_delivered(o->st, o->marks, o->n_marks);
	if (rc != STORE_OK) {
		o->stats.store_errors++;
		unsigned long sup;
		if (log_ratelimit_ok(&o->rl, &sup))
			log_error("outbox", "marking %d events delivered: %s (%lu lines suppressed)", o->n_marks,
				  store_last_error(o->st), sup);
		return rc;
	}
	o->stats.marked += (uint64_t)o->n_marks;
	o->n_marks = 0;
	return 0;
}

static int prefetch_fill(struct outbox *o)
{
	prefetch_clear(o);
	/* A new round reads from the oldest undelivered: write the pending marks
	 * first so it does not resend what the broker already acknowledged. */
	if (o->last_sent == 0 && o->n_marks > 0)
		outbox_flush(o);
	/* Nothing was appended above what this round already sent: skip the query. */
	uint64_t next = store_next_seq(o->st);
	if (next > 0 && next - 1 <= o->last_sent)
		return 0;
	int n = 0;
	int rc = store_fetch_undelivered(o->st, o->last_sent, OUTBOX_FETCH_BATCH, o->pre, &n);
	if (rc != STORE_OK) {
		o->stats.store_errors++;
		unsigned long sup;
		if (log_ratelimit_ok(&o->rl, &sup))
			log_error("outbox", "reading undelivered events: %s (%lu lines suppressed)",
				  store_last_error(o->st), sup);
		return rc;
	}
	o->pre_n = n;
	return 0;
}

static void check_ack_timeout(struct outbox *o, int64_t now)
{
	if (o->n_inflight == 0 || now - o->inflight[0].sent_ms < OUTBOX_ACK_TIMEOUT_MS)
		return;
	log_warn("outbox", "no PUBACK for seq %llu after %d ms; resending from the oldest undelivered",
		 (unsigned long long)o->inflight[0].seq, OUTBOX_ACK_TIMEOUT_MS);
	rewind_round(o);
	o->stats.rewinds++;
}

int outbox_pump(struct outbox *o)
{
	return outbox_pump_at(o, time_mono_ms());
}

/* Marks wait for a batch: one commit (an fsync under synchronous=FULL) per
 * OUTBOX_MARK_BATCH acks or OUTBOX_MARK_DELAY_MS. A mark lost to a crash in
 * between only means a duplicate after restart. */
static bool marks_due(const struct outbox *o, int64_t now)
{
	return o->n_marks > 0 && now >= o->mark_retry_ms &&
	       (o->n_marks >= OUTBOX_MARK_BATCH || !o->connected || now - o->first_mark_ms >= OUTBOX_MARK_DELAY_MS);
}

int outbox_pump_at(struct outbox *o, int64_t now_mono_ms)
{
	if (o->n_marks > 0 && o->first_mark_ms == -1)
		o->first_mark_ms = now_mono_ms;
	int rc = marks_due(o, now_mono_ms) ? outbox_flush(o) : 0;
	if (rc != 0)
		o->mark_retry_ms = now_mono_ms + OUTBOX_MARK_RETRY_MS;
	if (!o->connected)
		return rc;
	if (o->paused_until == -1)
		o->paused_until = now_mono_ms + OUTBOX_FAIL_PAUSE_MS;
	if (o->paused_until > now_mono_ms)
		return rc;
	check_ack_timeout(o, now_mono_ms);
	o->retry_soon = false;
	int sent = 0;
	/* Room for every ack of what is sent: see OUTBOX_MARKS_MAX. */
	while (o->n_inflight < o->window && o->n_marks + o->n_inflight < o->cap_marks) {
		if (o->pre_pos >= o->pre_n) {
			int frc = prefetch_fill(o);
			if (frc != 0)
				return frc;
			if (o->pre_n == 0)
				break;
		}
		struct outbox_event *ev = &o->pre[o->pre_pos];
		if (o->publish(o->ctx, ev->topic_suffix, ev->payload, ev->len, ev->seq) != 0) {
			o->stats.refused++;
			o->retry_soon = true;
			break;
		}
		o->inflight[o->n_inflight].seq = ev->seq;
		o->inflight[o->n_inflight].sent_ms = now_mono_ms;
		o->n_inflight++;
		o->last_sent = ev->seq;
		o->stats.published++;
		outbox_event_free(ev);
		o->pre_pos++;
		sent++;
	}
	return rc != 0 ? rc : sent;
}

int64_t outbox_next_tick_ms(const struct outbox *o, int64_t now_mono_ms)
{
	if (marks_due(o, now_mono_ms) || o->paused_until == -1 || (o->n_marks > 0 && o->first_mark_ms == -1))
		return 0;
	if (!o->connected)
		return -1;
	int64_t at = INT64_MAX;   /* monotonic time of the earliest timed work */
	if (o->n_marks > 0) {
		at = o->first_mark_ms + OUTBOX_MARK_DELAY_MS;
		if (at < o->mark_retry_ms)
			at = o->mark_retry_ms;
	}
	int64_t other = INT64_MAX;
	if (o->paused_until > now_mono_ms)
		other = o->paused_until;
	else if (o->retry_soon)
		other = now_mono_ms + OUTBOX_RETRY_MS;
	else if (o->n_inflight > 0)
		other = o->inflight[0].sent_ms + OUTBOX_ACK_TIMEOUT_MS;
	if (other < at)
		at = other;
	if (at == INT64_MAX)
		return -1;
	return at <= now_mono_ms ? 0 : at - now_mono_ms;
}

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out)
{
	*out = o->stats;
	out->inflight = o->n_inflight;
	out->pending_marks = o->n_marks;
	out->connected = o->connected;
}

int64_t outbox_backlog(struct outbox *o)
{
	return store_backlog(o->st);
}
