/* notify_core — the planner, on the core thread: turns incident events into
 * durable notification jobs, hands due ones to the sender, and records what
 * came of them.
 *
 * Durability: notify_plan_event runs where the incident event is appended,
 * inside the same store transaction, so a job exists exactly when its event
 * does — after SIGKILL or power loss both or neither are there. Jobs are
 * handed to the sender only after the iteration committed (notify_tick is
 * called after store_commit) and are marked delivered when the answer comes
 * back: at least once per (incident, route step); only a job in flight at a
 * crash can be sent twice.
 *
 * Escalation steps (`after` + `unless`) are jobs with a later due time; the
 * event that brings the incident to the `unless` state (acked, accepted,
 * closed) cancels them in its own transaction, so a cancelled step stays
 * cancelled across restarts. `hours` moves a job's due time to the next
 * opening of its window (stored, so it survives restarts too); severity 1
 * ignores hours. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "common/model.h"
#include "gateway/core/incident.h"
#include "gateway/notify/notify.h"
#include "gateway/notify/notify_priv.h"
#include "gateway/store/store.h"

#define SCAN_BATCH 500          /* due jobs handed over per scan */
#define RESCAN_IDLE_MS 5000     /* a scan at least this often (safety net) */

struct notify {
	const struct gw_config *cfg;
	const struct notify_config *nc;   /* cfg->notify, or NULL */
	struct store *st;
	struct queue *q;
	struct notify_sender *sender;
	bool *stopped;                    /* per channel: a permanent error was answered */
	int64_t *inflight;                /* job ids handed to the sender */
	size_t n_inflight, cap_inflight;
	bool dirty;
	int64_t next_scan_ms;             /* wall */
	/* gateway.notify: channels that failed for good, by name (kept over reloads
	 * until a send on them succeeds). */
	char **bad;
	int n_bad;
	bool restored_incident;           /* gateway.notify open from before a restart */
	char down[256];                   /* why the sender did not start ("" when it runs) */
	bool down_reported;               /* the channels are bad because the sender did not start */
	bool bad_changed;                 /* a reload took bad channels out of the list */
};

static int find_channel(const struct notify_config *nc, const char *name)
{
	for (int i = 0; nc && i < nc->n_channels; i++)
		if (strcmp(nc->channels[i].name, name) == 0)
			return i;
	return -1;
}

static int start_sender(struct notify *n, const struct gw_config *cfg, char *err, size_t errlen)
{
	n->cfg = cfg;
	n->nc = cfg->notify;
	free(n->stopped);
	n->stopped = NULL;
	n->n_inflight = 0;
	n->dirty = true;
	if (!n->nc || n->nc->n_channels == 0)
		return 0;
	n->stopped = calloc((size_t)n->nc->n_channels, sizeof *n->stopped);
	if (!n->stopped) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->sender = notify_sender_start(n->nc, n->q, err, errlen);
	return n->sender ? 0 : -EIO;
}

/* A sender that cannot start (libcurl missing, out of memory) must not stop
 * the gateway: alarms, the store and the uplink go on, the jobs wait in the
 * store, and notify_report_start makes it an incident. */
static void note_start(struct notify *n, int rc, const char *err, const char *when)
{
	n->down[0] = '\0';
	if (rc == 0)
		return;
	snprintf(n->down, sizeof n->down, "%s", err[0] ? err : "cannot start");
	log_error("notify", "%snotifications not started: %s (their jobs wait in the store; alarms go on)", when,
		  n->down);
}

struct notify *notify_create(const struct gw_config *cfg, struct store *st, struct queue *q, char *err, size_t errlen)
{
	struct notify *n = calloc(1, sizeof *n);
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->st = st;
	n->q = q;
	note_start(n, start_sender(n, cfg, err, errlen), err, "");
	return n;
}

void notify_destroy(struct notify *n)
{
	if (!n)
		return;
	notify_sender_stop(n->sender);
	for (int i = 0; i < n->n_bad; i++)
		free(n->bad[i]);
	free(n->bad);
	free(n->stopped);
	free(n->inflight);
	free(n);
}

int notify_set_config(struct notify *n, const struct gw_config *cfg)
{
	notify_sender_stop(n->sender);
	n->sender = NULL;
	char err[256] = "";
	int rc = start_sender(n, cfg, err, sizeof err);
	note_start(n, rc, err, "reload: ");
	/* A bad channel that left the configuration cannot clear by a send. */
	for (int i = 0; i < n->n_bad;) {
		if (find_channel(n->nc, n->bad[i]) < 0) {
			free(n->bad[i]);
			n->bad[i] = n->bad[--n->n_bad];
			n->bad_changed = true;
		} else {
			i++;
		}
	}
	return rc;
}

void notify_restore_incident(struct notify *n, bool open)
{
	n->restored_incident = open;
}

/* ---- planning ---- */

/* 1 acked, 2 accepted, 3 closed: the furthest `unless` state reached. */
static int reached_level(const struct incident_row *r)
{
	if (strcmp(r->workflow, "closed") == 0 || strcmp(r->workflow, "false_alarm") == 0)
		return NOTIFY_UNLESS_CLOSED;
	if (strcmp(r->workflow, "accepted") == 0 || strcmp(r->workflow, "resolved") == 0)
		return NOTIFY_UNLESS_ACCEPTED;
	return r->acked ? NOTIFY_UNLESS_ACKED : NOTIFY_UNLESS_NONE;
}

static unsigned event_bit(const char *event)
{
	if (strcmp(event, "raised") == 0)
		return NOTIFY_EV_RAISED;
	if (strcmp(event, "cleared") == 0)
		return NOTIFY_EV_CLEARED;
	if (strcmp(event, "escalated") == 0)
		return NOTIFY_EV_ESCALATED;
	return 0;
}

/* The building of an incident, from its location JSON. */
static void building_of(const struct incident_row *r, char *out, size_t len)
{
	out[0] = '\0';
	if (!r->location_json)
		return;
	const char *end;
	cJSON *j = cJSON_ParseWithLengthOpts(r->location_json, strlen(r->location_json), &end, 0);
	const cJSON *b = j ? cJSON_GetObjectItemCaseSensitive(j, "building") : NULL;
	if (cJSON_IsString(b))
		snprintf(out, len, "%s", b->valuestring);
	cJSON_Delete(j);
}

int notify_plan_event(struct notify *n, const struct incident_row *row, const char *event, uint64_t seq,
		      const char *event_json, int64_t ts_ms)
{
	if (!n)
		return STORE_OK;
	int reached = reached_level(row);
	if (reached > 0) {
		int rc = store_notify_cancel(n->st, row->id, reached, ts_ms, "incident reached its unless state");
		if (rc < 0)
			return rc;
		if (rc > 0)
			log_info("notify", "incident %s is %s: %d escalation step(s) cancelled", row->id,
				 reached == NOTIFY_UNLESS_CLOSED ? "closed" : reached == NOTIFY_UNLESS_ACCEPTED ? "accepted" : "acked",
				 rc);
	}
	unsigned bit = event_bit(event);
	if (!bit || !n->nc)
		return STORE_OK;
	char building[64];
	building_of(row, building, sizeof building);
	for (int r = 0; r < n->nc->n_routes; r++) {
		const struct notify_route_config *rt = &n->nc->routes[r];
		if (!notify_route_matches(rt, row->type, row->severity, building[0] ? building : NULL, bit))
			continue;
		for (int k = 0; k < rt->n_to; k++) {
			struct notify_job_row j = { 0 };
			snprintf(j.incident_id, sizeof j.incident_id, "%s", row->id);
			j.event_seq = seq;
			snprintf(j.event, sizeof j.event, "%s", event);
			j.route = r;
			j.step = rt->after_ms > 0 ? 1 : 0;
			snprintf(j.channel, sizeof j.channel, "%s", n->nc->channels[rt->to[k]].name);
			j.severity = row->severity;
			j.due_ms = ts_ms + rt->after_ms;
			j.after_ms = rt->after_ms;
			j.unless = (int)rt->unless;
			j.hours_from = rt->has_hours ? rt->hours_from_min : -1;
			j.hours_to = rt->has_hours ? rt->hours_to_min : -1;
			j.template_text = rt->template_text;
			j.payload = (char *)event_json;
			j.created_ms = ts_ms;
			int rc = store_notify_add(n->st, &j);
			if (rc != STORE_OK)
				return rc;
		}
		n->dirty = true;
	}
	return STORE_OK;
}

/* ---- handing due jobs to the sender ---- */

static bool is_inflight(const struct notify *n, int64_t id)
{
	for (size_t i = 0; i < n->n_inflight; i++)
		if (n->inflight[i] == id)
			return true;
	return false;
}

static int add_inflight(struct notify *n, int64_t id)
{
	if (n->n_inflight == n->cap_inflight) {
		size_t cap = n->cap_inflight ? n->cap_inflight * 2 : 64;
		int64_t *ni = realloc(n->inflight, cap * sizeof *ni);
		if (!ni)
			return -ENOMEM;
		n->inflight = ni;
		n->cap_inflight = cap;
	}
	n->inflight[n->n_inflight++] = id;
	return 0;
}

static void drop_inflight(struct notify *n, int64_t id)
{
	for (size_t i = 0; i < n->n_inflight; i++)
		if (n->inflight[i] == id) {
			n->inflight[i] = n->inflight[--n->n_inflight];
			return;
		}
}

static void copy_str(const cJSON *o, const char *key, char *dst, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v))
		snprintf(dst, len, "%s", v->valuestring);
}

/* The item a person reads, from the stored event. */
static int item_from_job(const struct notify_job_row *j, bool webhook, struct notify_item *it)
{
	memset(it, 0, sizeof *it);
	const char *end;
	cJSON *ev = cJSON_ParseWithLengthOpts(j->payload, strlen(j->payload), &end, 0);
	if (!ev)
		return -EINVAL;
	it->job = j->id;
	snprintf(it->incident, sizeof it->incident, "%s", j->incident_id);
	snprintf(it->event, sizeof it->event, "%s", j->event);
	copy_str(ev, "type", it->type, sizeof it->type);
	copy_str(ev, "device", it->device, sizeof it->device);
	copy_str(ev, "rule", it->rule, sizeof it->rule);
	copy_str(ev, "message", it->message, sizeof it->message);
	const cJSON *loc = cJSON_GetObjectItemCaseSensitive(ev, "location");
	copy_str(loc, "building", it->building, sizeof it->building);
	copy_str(loc, "entrance", it->entrance, sizeof it->entrance);
	copy_str(loc, "room", it->room, sizeof it->room);
	copy_str(loc, "place", it->place, sizeof it->place);
	const cJSON *fl = cJSON_GetObjectItemCaseSensitive(loc, "floor");
	if (cJSON_IsNumber(fl)) {
		it->floor = (int)fl->valuedouble;
		it->has_floor = true;
	}
	cJSON_Delete(ev);
	it->severity = j->severity;
	it->ts_ms = j->created_ms;
	it->route = j->route;
	it->step = j->step;
	it->after_ms = j->after_ms;
	it->unless = (enum notify_unless)j->unless;
	if (j->template_text && !(it->template_text = strdup(j->template_text)))
		return -ENOMEM;
	if (webhook && !(it->event_json = strdup(j->payload))) {
		notify_item_free(it);
		return -ENOMEM;
	}
	return 0;
}

struct scan {
	struct notify *n;
	int64_t now;
	int handed;
};

static int scan_one(void *ctx, const struct notify_job_row *j)
{
	struct scan *sc = ctx;
	struct notify *n = sc->n;
	if (is_inflight(n, j->id))
		return 0;
	int ch = find_channel(n->nc, j->channel);
	if (ch < 0) {
		/* Nothing can deliver it any more: say so once, for good. */
		log_warn("notify", "job %lld of incident %s: channel %s is no longer configured; given up",
			 (long long)j->id, j->incident_id, j->channel);
		store_notify_done(n->st, j->id, NOTIFY_JOB_FAILED, "channel no longer configured", sc->now);
		return 0;
	}
	if (n->stopped[ch])
		return 0; /* waits for a reload with a fixed key */
	if (j->hours_from >= 0 && j->severity != 1) {
		struct notify_route_config win = { .has_hours = true, .hours_from_min = j->hours_from,
						   .hours_to_min = j->hours_to };
		int64_t opens = 0;
		if (!notify_hours_open(&win, sc->now, &opens)) {
			if (store_notify_due_at(n->st, j->id, opens) == STORE_OK)
				log_debug("notify", "job %lld held until its hours open", (long long)j->id);
			return 0;
		}
	}
	struct notify_item it;
	if (item_from_job(j, n->nc->channels[ch].type == NOTIFY_WEBHOOK, &it) != 0) {
		log_error("notify", "job %lld: its stored event cannot be read; given up", (long long)j->id);
		store_notify_done(n->st, j->id, NOTIFY_JOB_FAILED, "stored event unreadable", sc->now);
		return 0;
	}
	if (add_inflight(n, j->id) != 0 || notify_sender_submit(n->sender, ch, &it) != 0) {
		drop_inflight(n, j->id);
		notify_item_free(&it);
		return 1; /* try again at the next scan */
	}
	sc->handed++;
	return 0;
}

void notify_tick(struct notify *n, int64_t wall_ms)
{
	if (!n || !n->sender)
		return;
	if (!n->dirty && wall_ms < n->next_scan_ms)
		return;
	n->dirty = false;
	struct scan sc = { n, wall_ms, 0 };
	int rc = store_notify_each_due(n->st, wall_ms, SCAN_BATCH, scan_one, &sc);
	int64_t next = wall_ms + RESCAN_IDLE_MS, due;
	if (rc == STORE_OK && store_notify_next_due(n->st, wall_ms, &due) == STORE_OK && due < next)
		next = due;
	if (rc != STORE_OK)
		next = wall_ms + 1000;
	n->next_scan_ms = next;
}

/* ---- results ---- */

static void set_bad(struct notify *n, const char *channel, bool bad)
{
	int at = -1;
	for (int i = 0; i < n->n_bad; i++)
		if (strcmp(n->bad[i], channel) == 0)
			at = i;
	if (bad && at < 0) {
		char **nb = realloc(n->bad, ((size_t)n->n_bad + 1) * sizeof *nb);
		char *dup = strdup(channel);
		if (!nb || !dup) {
			free(dup);
			if (nb)
				n->bad = nb;
			return;
		}
		n->bad = nb;
		n->bad[n->n_bad++] = dup;
	} else if (!bad && at >= 0) {
		free(n->bad[at]);
		n->bad[at] = n->bad[--n->n_bad];
	}
}

static void update_gateway_incident(struct notify *n, struct incidents *inc, const char *why, int64_t wall)
{
	if (n->n_bad == 0) {
		if (n->restored_incident || why == NULL) {
			n->restored_incident = false;
			incidents_gateway(inc, "gateway.notify", 2, false, "Notifications delivered again", wall);
		}
		return;
	}
	char msg[256];
	int o = snprintf(msg, sizeof msg, "Notification channel(s) stopped:");
	for (int i = 0; i < n->n_bad && o > 0 && (size_t)o < sizeof msg; i++)
		o += snprintf(msg + o, sizeof msg - (size_t)o, "%s %s", i ? "," : "", n->bad[i]);
	if (why && o > 0 && (size_t)o < sizeof msg)
		snprintf(msg + o, sizeof msg - (size_t)o, " (%s)", why);
	incidents_gateway(inc, "gateway.notify", 2, true, msg, wall);
}

void notify_report_start(struct notify *n, struct incidents *inc, int64_t wall_ms)
{
	if (!n)
		return;
	bool changed = n->bad_changed;
	n->bad_changed = false;
	if (n->down[0]) {
		for (int i = 0; n->nc && i < n->nc->n_channels; i++)
			set_bad(n, n->nc->channels[i].name, true);
		n->down_reported = true;
		update_gateway_incident(n, inc, n->down, wall_ms);
		return;
	}
	if (n->down_reported) {
		/* The sender runs now (libcurl installed, then a reload): the
		 * channels were bad only because it could not start; a send
		 * that fails raises its channel again. */
		n->down_reported = false;
		while (n->n_bad > 0)
			free(n->bad[--n->n_bad]);
		changed = true;
	}
	/* A reload that removed the bad channels must not leave the incident open. */
	if (changed)
		update_gateway_incident(n, inc, NULL, wall_ms);
}

void notify_handle_result(struct notify *n, struct incidents *inc, const struct notify_result *r, int64_t wall_ms)
{
	if (!n)
		return;
	n->dirty = true; /* the channel may take the next ones */
	int ch = find_channel(n->nc, r->channel);
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct notify_result_job *j = &r->jobs[i];
		drop_inflight(n, j->job);
		if (r->ok)
			store_notify_done(n->st, j->job, NOTIFY_JOB_DELIVERED, NULL, wall_ms);
		else
			store_notify_failed(n->st, j->job, r->error);
		int rc = incidents_note_notify(inc, j->incident, r->channel, j->route, j->step, r->ok, r->error, r->ts_ms);
		if (rc == -ENOENT)
			log_debug("notify", "incident %s is closed: its notification on %s is not recorded on it", j->incident,
				  r->channel);
	}
	if (r->ok) {
		bool was_bad = false;
		for (int i = 0; i < n->n_bad; i++)
			was_bad = was_bad || strcmp(n->bad[i], r->channel) == 0;
		set_bad(n, r->channel, false);
		if (was_bad || (n->restored_incident && n->n_bad == 0)) {
			log_info("notify", "channel %s delivers again", r->channel);
			update_gateway_incident(n, inc, NULL, wall_ms);
		}
	} else if (r->stopped && ch >= 0 && !n->stopped[ch]) {
		n->stopped[ch] = true;
		set_bad(n, r->channel, true);
		update_gateway_incident(n, inc, r->error, wall_ms);
	}
}

int notify_test(struct notify *n, const char *channel, uint64_t token)
{
	if (!n || !n->nc || !n->sender)
		return -ENODEV;
	int ch = find_channel(n->nc, channel);
	if (ch < 0)
		return -ENOENT;
	return notify_sender_test(n->sender, ch, token);
}

struct pending_count {
	cJSON *arr;
};

static int add_pending(void *ctx, const char *channel, int64_t count)
{
	struct pending_count *pc = ctx;
	cJSON *o;
	cJSON_ArrayForEach(o, pc->arr) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
		if (cJSON_IsString(name) && strcmp(name->valuestring, channel) == 0) {
			cJSON_ReplaceItemInObjectCaseSensitive(o, "pending", cJSON_CreateNumber((double)count));
			return 0;
		}
	}
	return 0;
}

cJSON *notify_status_json(struct notify *n)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "channels");
	if (!n || !n->nc)
		return o;
	for (int i = 0; i < n->nc->n_channels; i++) {
		const struct notify_channel_config *cc = &n->nc->channels[i];
		struct notify_channel_stats s;
		notify_sender_stats(n->sender, i, &s);
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", cc->name);
		cJSON_AddStringToObject(c, "type", notify_type_name(cc->type));
		cJSON_AddNumberToObject(c, "sent", (double)s.sent);
		cJSON_AddNumberToObject(c, "messages", (double)s.messages);
		cJSON_AddNumberToObject(c, "failed", (double)s.failed);
		cJSON_AddNumberToObject(c, "errors", (double)s.errors);
		cJSON_AddNumberToObject(c, "queued", s.queued);
		cJSON_AddNumberToObject(c, "pending", 0); /* jobs in the store not yet delivered (incl. queued) */
		cJSON_AddNumberToObject(c, "rate", s.rate);
		cJSON_AddNumberToObject(c, "window_s", (double)s.window_ms / 1000.0);
		cJSON_AddNumberToObject(c, "used", s.used);
		bool down = n->sender == NULL && n->down[0];   /* no sender: every channel stands */
		cJSON_AddBoolToObject(c, "stopped", down || (n->stopped && n->stopped[i]));
		cJSON_AddStringToObject(c, "last_error", down ? n->down : s.last_error);
		char ts[32] = "";
		if (s.last_ok_ms)
			time_format_iso(s.last_ok_ms, ts, sizeof ts);
		cJSON_AddStringToObject(c, "last_ok", ts);
		cJSON_AddItemToArray(arr, c);
	}
	struct pending_count pc = { arr };
	if (store_notify_pending(n->st, add_pending, &pc) != STORE_OK)
		log_warn("notify", "status: pending jobs could not be counted");
	return o;
}
