/* notify — telling the people on site: WeCom, DingTalk, Feishu, webhook and
 * e-mail notifications of incidents, with routes, escalation steps, quiet
 * hours, the gateway's own rate limits and digests. A northbound module
 * beside the uplink. See docs/notify.md.
 *
 * Two halves:
 *  - the sender (notify_thread.c) owns one thread running a libcurl multi
 *    loop. The core hands it notifications (notify_sender_submit) through a
 *    mutex-protected inbox and a curl_multi_wakeup; it paces each channel,
 *    merges what is over the rate into digests, retries transport errors
 *    with backoff, and posts every final outcome back to the core queue as
 *    MSG_NOTIFY_RESULT (blob = struct notify_result). It never touches core
 *    state; its figures are read under its mutex (notify_sender_stats).
 *  - the planner (notify_core.c, core thread) turns incident events into
 *    durable jobs in the store in the same transaction as the event
 *    (notify_plan_event), decides when each is due (after/unless, hours),
 *    hands due jobs to the sender, and records results on the incidents. */
#ifndef GRIDGW_NOTIFY_H
#define GRIDGW_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/notify/notify_config.h"

struct queue;
struct notify_item;
struct notify_sender;

/* One job a result covers (a digest covers several). */
struct notify_result_job {
	int64_t job;              /* store row id */
	char incident[32];
	int route;
	int step;
};

/* The blob of a MSG_NOTIFY_RESULT: one flat allocation (free() frees it). */
struct notify_result {
	char channel[64];
	uint64_t token;           /* `notify test` request, 0 for jobs */
	bool ok;
	bool stopped;             /* the channel is stopped (permanent error) */
	int64_t ts_ms;            /* wall time of the answer */
	long status;              /* HTTP / SMTP status, 0 when none */
	char error[256];          /* "" when ok; never a secret */
	char answer[512];         /* the API's answer body (test) */
	size_t n_jobs;
	struct notify_result_job jobs[];
};

struct notify_channel_stats {
	uint64_t sent;            /* notifications delivered */
	uint64_t messages;        /* requests that succeeded (a digest is one) */
	uint64_t failed;          /* notifications given up (channel stopped) */
	uint64_t errors;          /* failed attempts (retried) */
	int queued;               /* notifications waiting in the sender */
	int used;                 /* sends in the current rate window */
	int rate;
	int64_t window_ms;
	bool stopped;
	int64_t last_ok_ms;       /* wall ms, 0 = never */
	int64_t last_error_ms;
	char last_error[256];
};

/* Starts the sender for cfg (must stay valid until notify_sender_stop).
 * Results go to q. NULL with a reason in err. */
struct notify_sender *notify_sender_start(const struct notify_config *cfg, struct queue *q, char *err,
					  size_t errlen);
/* Stops the thread; transfers in flight are abandoned (their jobs stay
 * pending in the store and are sent again: at least once). */
void notify_sender_stop(struct notify_sender *s);
/* Hands one notification for channel index ch; the sender owns *it's heap
 * fields afterwards (the struct is copied). 0 or -ENOMEM/-EINVAL. */
int notify_sender_submit(struct notify_sender *s, int ch, struct notify_item *it);
/* A test message on channel ch now; the result carries token. */
int notify_sender_test(struct notify_sender *s, int ch, uint64_t token);
void notify_sender_stats(struct notify_sender *s, int ch, struct notify_channel_stats *out);

/* ---- the planner (notify_core.c): core thread only ---- */

struct notify;
struct gw_config;
struct store;
struct incidents;
struct incident_row;
struct cJSON;

/* Starts the sender when cfg has a notify section with channels. The store
 * must outlive it. NULL only on out of memory (err); a sender that cannot
 * start is logged, and said by notify_report_start and the status. */
struct notify *notify_create(const struct gw_config *cfg, struct store *st, struct queue *q, char *err, size_t errlen);
void notify_destroy(struct notify *n);
/* Reload: stops the sender (what it held stays pending in the store), forgets
 * which channels were stopped, and starts one for cfg. Call before the old
 * config is freed. */
int notify_set_config(struct notify *n, const struct gw_config *cfg);

/* THE hook: called where an incident event is appended to the store, in the
 * same transaction, with the event's fields. Plans the jobs of every route
 * the event matches (raised/cleared/escalated) and cancels the pending
 * escalation steps whose `unless` state the incident has reached. Returns a
 * store_err (non-zero rolls the transaction back like a failed append). */
int notify_plan_event(struct notify *n, const struct incident_row *row, const char *event, uint64_t seq,
		      const char *event_json, int64_t ts_ms);

/* After each committed iteration: hands the jobs that are due (and whose
 * hours are open) to the sender. Cheap when nothing changed. */
void notify_tick(struct notify *n, int64_t wall_ms);
/* A MSG_NOTIFY_RESULT for jobs (token == 0): marks them, records each on its
 * incident (evidence "_notified", an `updated` event), raises or clears
 * gateway.notify. */
void notify_handle_result(struct notify *n, struct incidents *inc, const struct notify_result *r, int64_t wall_ms);
/* A test message on the named channel; the result comes back with token.
 * -ENOENT (no such channel), -ENODEV (no notify section). */
int notify_test(struct notify *n, const char *channel, uint64_t token);
/* {"channels":[{"name","type","sent","failed","queued","rate","window_s","used","stopped","last_error",…}]} */
struct cJSON *notify_status_json(struct notify *n);
/* After notify_create and notify_set_config: when the sender could not
 * start (libcurl missing: the gateway runs on without it), raises
 * gateway.notify naming every channel; a reload that starts it (libcurl
 * installed since) clears it, and one that removes stopped channels from
 * the config updates or clears it. */
void notify_report_start(struct notify *n, struct incidents *inc, int64_t wall_ms);
/* True when a gateway.notify incident is open from before a restart. */
void notify_restore_incident(struct notify *n, bool open);

#endif
