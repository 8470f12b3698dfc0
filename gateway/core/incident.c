/* incident — see incident.h for the contract with the core.
 *
 * Shape: open incidents live in a small array (tens, at most a few hundred:
 * alarms, not readings), found by alarm key or id. Every change snapshots
 * the incident into a `struct held` queued in order; write_out() turns the
 * queue into rows + events in the store. An entry is "in flight" once
 * written into a transaction that has not committed yet; the store's
 * transaction hook drops in-flight entries on COMMIT and makes them plain
 * held entries again on ROLLBACK (their seqs are released by the store, so
 * the rewrite gets the same gapless numbers). The event JSON is rendered at
 * write time because its "seq" is only known then. */
#include "gateway/core/incident.h"
#include "gateway/notify/notify.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "common/ulid.h"

enum ev_kind { EV_RAISED = 0, EV_UPDATED, EV_CLEARED, EV_ACKED, EV_WORKFLOW, EV_ESCALATED, EV_CLOSED };
static const char *const ev_names[] = { "raised", "updated", "cleared", "acked", "workflow", "escalated", "closed" };

static const char *const workflow_chain[] = { "raised", "dispatched", "accepted", "resolved", "closed" };
#define WORKFLOW_STEPS 5

struct incident {
	struct incident_row row;  /* json fields malloc'd */
	bool shelved;
	bool gateway;             /* raised by the core (gateway.*), not by a rule */
};

/* What one event needs besides the incident snapshot. */
struct event_extra {
	const char *by;
	const char *note;
	int escalated_from;       /* 0 = absent */
	int shelved;              /* -1 = absent */
	bool resync;
};

struct held {
	enum ev_kind kind;
	struct incident_row row;  /* snapshot at the change; json malloc'd */
	int64_t ts_ms;
	char by[64];
	char note[256];
	int escalated_from;
	int shelved;
	bool resync;
	bool inflight;
	uint64_t seq;
};

struct incidents {
	const struct gw_config *cfg;
	struct store *st;
	struct incident **open;
	size_t n_open, cap_open;
	struct held **q;
	size_t n_q, cap_q;
	struct ulid_gen ulid;
	bool failing;             /* the last write attempt failed */
	int last_err;
	int64_t next_retry_ms;
	int hook_err;             /* a caller's transaction with our events rolled back on this error */
	bool storage_internal;    /* gateway.storage open because of our own failed writes */
	bool storage_recovered;   /* …and a commit has since succeeded: clear it */
	uint64_t folded;
	struct log_ratelimit rl;
	struct notify *notify;    /* plans notification jobs from written events */
};

static void inc_log(struct incidents *inc, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void inc_log(struct incidents *inc, enum log_level lvl, const char *fmt, ...)
{
	unsigned long suppressed = 0;
	if (!log_ratelimit_ok(&inc->rl, &suppressed))
		return;
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (suppressed)
		log_msg(lvl, "incident", "%s (%lu similar messages suppressed)", line, suppressed);
	else
		log_msg(lvl, "incident", "%s", line);
}

static bool is_disk_err(int err)
{
	return err == STORE_ERR_FULL || err == STORE_ERR_READONLY || err == STORE_ERR_IO;
}

/* ---- memory helpers ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Deep copy of a row; -1 on out of memory (dst then has no json). */
static int row_copy(struct incident_row *dst, const struct incident_row *src)
{
	*dst = *src;
	dst->location_json = dup_or_null(src->location_json);
	dst->evidence_json = dup_or_null(src->evidence_json);
	if ((src->location_json && !dst->location_json) || (src->evidence_json && !dst->evidence_json)) {
		incident_row_free_json(dst);
		return -1;
	}
	return 0;
}

static void held_free(struct held *h)
{
	if (!h)
		return;
	incident_row_free_json(&h->row);
	free(h);
}

static void incident_free(struct incident *x)
{
	if (!x)
		return;
	incident_row_free_json(&x->row);
	free(x);
}

/* ---- the transaction hook ---- */

static size_t inflight_count(const struct incidents *inc)
{
	size_t n = 0;
	while (n < inc->n_q && inc->q[n]->inflight)
		n++;
	return n;
}

static void on_store_txn(void *ctx, bool committed, int err)
{
	struct incidents *inc = ctx;
	size_t n = inflight_count(inc);
	if (n == 0)
		return;
	if (committed) {
		for (size_t i = 0; i < n; i++)
			held_free(inc->q[i]);
		memmove(inc->q, inc->q + n, (inc->n_q - n) * sizeof *inc->q);
		inc->n_q -= n;
		if (inc->failing) {
			inc->failing = false;
			log_info("incident", "store writable again: %zu held events written", n);
		}
		if (inc->storage_internal)
			inc->storage_recovered = true;
		return;
	}
	/* Rolled back: the store released the seqs; write them again later. */
	for (size_t i = 0; i < n; i++) {
		inc->q[i]->inflight = false;
		inc->q[i]->seq = 0;
	}
	if (is_disk_err(err))
		inc->hook_err = err;
}

/* ---- create / destroy ---- */

struct incidents *incidents_create(const struct gw_config *cfg, struct store *st)
{
	struct incidents *inc = calloc(1, sizeof *inc);
	if (!inc)
		return NULL;
	inc->cfg = cfg;
	inc->st = st;
	ulid_gen_init(&inc->ulid);
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(5, 10000);
	inc->rl = rl;
	store_set_txn_hook(st, on_store_txn, inc);
	return inc;
}

void incidents_destroy(struct incidents *inc)
{
	if (!inc)
		return;
	store_set_txn_hook(inc->st, NULL, NULL);
	size_t held = 0;
	for (size_t i = 0; i < inc->n_q; i++) {
		if (!inc->q[i]->inflight)
			held++;
		held_free(inc->q[i]);
	}
	if (held)
		log_error("incident", "shutting down with %zu incident events that could not be stored", held);
	free(inc->q);
	for (size_t i = 0; i < inc->n_open; i++)
		incident_free(inc->open[i]);
	free(inc->open);
	free(inc);
}

void incidents_set_config(struct incidents *inc, const struct gw_config *cfg)
{
	inc->cfg = cfg;
}

/* ---- open incidents ---- */

static struct incident *find_key(const struct incidents *inc, const char *key)
{
	for (size_t i = 0; i < inc->n_open; i++)
		if (strcmp(inc->open[i]->row.alarm_key, key) == 0)
			return inc->open[i];
	return NULL;
}

static struct incident *find_id(const struct incidents *inc, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < inc->n_open; i++)
		if (strcmp(inc->open[i]->row.id, id) == 0)
			return inc->open[i];
	return NULL;
}

static int open_add(struct incidents *inc, struct incident *x)
{
	if (inc->n_open == inc->cap_open) {
		size_t cap = inc->cap_open ? inc->cap_open * 2 : 16;
		struct incident **n = realloc(inc->open, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		inc->open = n;
		inc->cap_open = cap;
	}
	inc->open[inc->n_open++] = x;
	return 0;
}

static void open_remove(struct incidents *inc, struct incident *x)
{
	for (size_t i = 0; i < inc->n_open; i++) {
		if (inc->open[i] == x) {
			inc->open[i] = inc->open[--inc->n_open];
			incident_free(x);
			return;
		}
	}
}

size_t incidents_open_count(const struct incidents *inc)
{
	return inc->n_open;
}

const char *incidents_key_of(const struct incidents *inc, const char *id)
{
	struct incident *x = find_id(inc, id);
	return x ? x->row.alarm_key : NULL;
}

const char *incidents_id_of(const struct incidents *inc, const char *alarm_key)
{
	struct incident *x = alarm_key ? find_key(inc, alarm_key) : NULL;
	return x ? x->row.id : NULL;
}

const char *incidents_message_of(const struct incidents *inc, const char *alarm_key)
{
	struct incident *x = alarm_key ? find_key(inc, alarm_key) : NULL;
	return x ? x->row.message : NULL;
}

size_t incidents_pending_count(const struct incidents *inc)
{
	return inc->n_q - inflight_count(inc);
}

bool incidents_storage_failing(const struct incidents *inc)
{
	return inc->storage_internal;
}

static int load_cb(void *ctx, const struct incident_row *r)
{
	struct incidents *inc = ctx;
	if (find_key(inc, r->alarm_key)) {
		/* Rows come newest first: an older duplicate is stale. */
		log_warn("incident", "two open incidents for %s; keeping the newer, %s stays in the store only",
			 r->alarm_key, r->id);
		return 0;
	}
	struct incident *x = calloc(1, sizeof *x);
	if (!x || row_copy(&x->row, r) != 0 || open_add(inc, x) != 0) {
		incident_free(x);
		return -1;
	}
	x->gateway = strncmp(r->alarm_key, INCIDENTS_GATEWAY_KEY_PREFIX, strlen(INCIDENTS_GATEWAY_KEY_PREFIX)) == 0;
	/* Rows written before schema v3 have no clear/ack time: their last
	 * change is the best the store knows. */
	if (!x->row.active && !x->row.cleared_ms)
		x->row.cleared_ms = x->row.last_ms;
	if (x->row.acked && !x->row.acked_ms)
		x->row.acked_ms = x->row.last_ms;
	return 0;
}

int incidents_load_open(struct incidents *inc)
{
	int rc = store_each_incident(inc->st, true, 0, load_cb, inc);
	if (rc != STORE_OK) {
		log_error("incident", "loading open incidents: %s", store_last_error(inc->st));
		return rc;
	}
	if (inc->n_open)
		log_info("incident", "%zu open incidents loaded from the store", inc->n_open);
	return (int)inc->n_open;
}

/* ---- the held queue ---- */

static bool foldable(enum ev_kind k)
{
	return k == EV_RAISED || k == EV_UPDATED;
}

/* The oldest held entry of incident id that is not in flight, or n_q. */
static size_t held_head(const struct incidents *inc, const char *id)
{
	for (size_t i = inflight_count(inc); i < inc->n_q; i++)
		if (strcmp(inc->q[i]->row.id, id) == 0)
			return i;
	return inc->n_q;
}

/* The tail h (not the incident's first held event) becomes the newest
 * event: its kind, snapshot and extras. A `cleared` tail stays `cleared`
 * while the incident is still inactive, so the clear the platform must see
 * is not renamed by a later ack or workflow step. */
static void fold_into_tail(struct held *h, enum ev_kind kind, const struct event_extra *ex, int64_t wall,
			   bool active)
{
	if (!(h->kind == EV_CLEARED && !active))
		h->kind = kind;
	h->ts_ms = wall;
	if (h->kind != EV_ESCALATED)
		h->escalated_from = 0; /* the field belongs to `escalated` only */
	if (!ex)
		return;
	if (ex->by && ex->by[0])
		snprintf(h->by, sizeof h->by, "%s", ex->by);
	if (ex->note && ex->note[0])
		snprintf(h->note, sizeof h->note, "%s", ex->note);
	if (ex->escalated_from > 0)
		h->escalated_from = ex->escalated_from;
	if (ex->shelved >= 0)
		h->shelved = ex->shelved;
	h->resync = h->resync || ex->resync;
}

/* Beyond the bound an event of an incident that already has held events
 * folds into the newest of them, so the queue stays bounded whatever the
 * kind: an `updated` merges into a raised/updated one (the platform sees
 * the latest state once instead of every step); any other event merges
 * into the newest held event when that one is not the incident's first
 * held event. Each incident thus keeps at most its first held event (its
 * `raised`, if that was not written yet) and one newest event carrying the
 * latest state (the final `cleared`, `closed`...). */
static bool try_fold(struct incidents *inc, const struct incident *x, enum ev_kind kind,
		     const struct event_extra *ex, int64_t wall)
{
	size_t head = held_head(inc, x->row.id);
	for (size_t i = inc->n_q; i-- > head;) {
		struct held *h = inc->q[i];
		if (strcmp(h->row.id, x->row.id) != 0)
			continue;
		bool merge_update = kind == EV_UPDATED && foldable(h->kind);
		if (!merge_update && i == head)
			return false; /* the first held event keeps its word: append the tail */
		struct incident_row copy;
		if (row_copy(&copy, &x->row) != 0)
			return false;
		incident_row_free_json(&h->row);
		h->row = copy;
		if (merge_update) {
			if (h->kind == EV_UPDATED)
				h->ts_ms = wall;
			if (ex && ex->shelved >= 0)
				h->shelved = ex->shelved;
		} else {
			fold_into_tail(h, kind, ex, wall, x->row.active);
		}
		inc->folded++;
		return true;
	}
	return false;
}

/* When this alarm cycle cleared and was acknowledged, kept with the row so
 * the local auto-close measures from them after a restart too. A new cycle
 * (active again, or a fresh ack needed) forgets them. */
static void stamp_cycle(struct incident *x, int64_t wall)
{
	if (x->row.active)
		x->row.cleared_ms = 0;
	else if (!x->row.cleared_ms)
		x->row.cleared_ms = wall;
	if (!x->row.acked)
		x->row.acked_ms = 0;
	else if (!x->row.acked_ms)
		x->row.acked_ms = wall;
}

static int emit(struct incidents *inc, struct incident *x, enum ev_kind kind,
		const struct event_extra *ex, int64_t wall)
{
	stamp_cycle(x, wall);
	if (inc->n_q >= INCIDENTS_PENDING_MAX && try_fold(inc, x, kind, ex, wall)) {
		inc_log(inc, LOG_LVL_WARN, "%zu events held in memory (bound %d): folding events of %s "
			"(%llu folded so far)", inc->n_q, INCIDENTS_PENDING_MAX, x->row.id,
			(unsigned long long)inc->folded);
		return 0;
	}
	if (inc->n_q == inc->cap_q) {
		size_t cap = inc->cap_q ? inc->cap_q * 2 : 32;
		struct held **n = realloc(inc->q, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		inc->q = n;
		inc->cap_q = cap;
	}
	struct held *h = calloc(1, sizeof *h);
	if (!h || row_copy(&h->row, &x->row) != 0) {
		free(h);
		log_error("incident", "out of memory: %s event of %s lost", ev_names[kind], x->row.id);
		return -ENOMEM;
	}
	h->kind = kind;
	h->ts_ms = wall;
	h->shelved = -1;
	if (ex) {
		snprintf(h->by, sizeof h->by, "%s", ex->by ? ex->by : "");
		snprintf(h->note, sizeof h->note, "%s", ex->note ? ex->note : "");
		h->escalated_from = ex->escalated_from;
		h->shelved = ex->shelved;
		h->resync = ex->resync;
	}
	inc->q[inc->n_q++] = h;
	return 0;
}

/* ---- JSON ---- */

static int add_raw(cJSON *o, const char *name, const char *raw)
{
	return cJSON_AddRawToObject(o, name, raw) ? 0 : -1;
}

static int add_str(cJSON *o, const char *name, const char *v)
{
	return cJSON_AddStringToObject(o, name, v ? v : "") ? 0 : -1;
}

static int add_u64(cJSON *o, const char *name, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	return add_raw(o, name, buf); /* exact, never "1.0e+..." */
}

static int add_ts(cJSON *o, const char *name, int64_t ms)
{
	char buf[32];
	time_format_iso(ms, buf, sizeof buf);
	return add_str(o, name, buf);
}

/* The event as docs/contract.md §3 orders it; NULL on out of memory. */
static char *render_event(const struct incidents *inc, const struct held *h, uint64_t seq)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	const struct incident_row *r = &h->row;
	int bad = 0;
	bad |= add_str(o, "schema", "gridgw.incident/1");
	bad |= add_str(o, "gateway", inc->cfg && inc->cfg->gateway.id ? inc->cfg->gateway.id : "");
	bad |= add_str(o, "id", r->id);
	bad |= add_str(o, "store", store_id(inc->st));
	bad |= add_u64(o, "seq", seq);
	bad |= add_str(o, "event", ev_names[h->kind]);
	bad |= add_str(o, "type", r->type);
	bad |= add_u64(o, "severity", (uint64_t)(r->severity > 0 ? r->severity : 0));
	bad |= add_str(o, "rule", r->rule);
	bad |= add_str(o, "device", r->device);
	bad |= add_str(o, "kind", r->kind);
	bad |= add_raw(o, "location", r->location_json ? r->location_json : "{}");
	bad |= cJSON_AddBoolToObject(o, "active", r->active) ? 0 : -1;
	bad |= cJSON_AddBoolToObject(o, "acked", r->acked) ? 0 : -1;
	bad |= add_str(o, "workflow", r->workflow);
	bad |= add_u64(o, "count", r->count);
	bad |= add_ts(o, "first_ts", r->first_ms);
	bad |= add_ts(o, "ts", h->ts_ms);
	bad |= add_str(o, "message", r->message);
	bad |= add_raw(o, "evidence", r->evidence_json ? r->evidence_json : "{}");
	if (h->by[0])
		bad |= add_str(o, "by", h->by);
	if (h->note[0])
		bad |= add_str(o, "note", h->note);
	if (h->escalated_from > 0)
		bad |= add_u64(o, "escalated_from", (uint64_t)h->escalated_from);
	if (h->shelved >= 0)
		bad |= cJSON_AddBoolToObject(o, "shelved", h->shelved != 0) ? 0 : -1;
	if (h->resync)
		bad |= cJSON_AddBoolToObject(o, "resync", true) ? 0 : -1;
	char *text = bad ? NULL : cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* A number as JSON with 12 significant digits: 0.21 stays 0.21 however the
 * scaling rounded, integers print without ".0"; NaN/inf become null. */
static cJSON *json_number(double v)
{
	if (!isfinite(v))
		return cJSON_CreateNull();
	char buf[40];
	snprintf(buf, sizeof buf, "%.12g", v);
	if (strcmp(buf, "-0") == 0)
		snprintf(buf, sizeof buf, "0");
	return cJSON_CreateRaw(buf);
}

static const struct device_config *device_of(const struct incidents *inc, int device)
{
	if (!inc->cfg || device < 0 || device >= inc->cfg->n_devices)
		return NULL;
	return &inc->cfg->devices[device];
}

static const struct profile *profile_of(const struct incidents *inc, const struct device_config *d)
{
	if (!d || d->profile < 0 || d->profile >= inc->cfg->n_profiles)
		return NULL;
	return &inc->cfg->profiles[d->profile];
}

static void add_opt_str(cJSON *o, const char *name, const char *v, int *bad)
{
	if (v && !cJSON_AddStringToObject(o, name, v))
		*bad = 1;
}

static char *location_json(const struct incidents *inc, const struct device_config *d)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	int bad = 0;
	if (inc->cfg) {
		add_opt_str(o, "street", inc->cfg->gateway.site.street, &bad);
		add_opt_str(o, "community", inc->cfg->gateway.site.community, &bad);
		add_opt_str(o, "grid", inc->cfg->gateway.site.grid, &bad);
	}
	if (d) {
		add_opt_str(o, "building", d->location.building, &bad);
		add_opt_str(o, "entrance", d->location.entrance, &bad);
		if (d->location.has_floor && !cJSON_AddNumberToObject(o, "floor", d->location.floor))
			bad = 1;
		add_opt_str(o, "room", d->location.room, &bad);
		add_opt_str(o, "place", d->location.place, &bad);
	}
	char *text = bad ? NULL : cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* {point: value or null, …, "_quality": {point: "comm_error"}} — every
 * point of the device (the engine bounds them at ENGINE_EVIDENCE_MAX,
 * "_omitted" counts the rest), the quality map only for points that are not
 * good. NULL when the output has no evidence (the incident keeps what it
 * had) or on out of memory. */
static char *evidence_json(const struct incidents *inc, const struct engine_output *o)
{
	if (o->n_evidence <= 0)
		return NULL;
	const struct profile *p = profile_of(inc, device_of(inc, o->device));
	cJSON *ev = cJSON_CreateObject();
	cJSON *q = cJSON_CreateObject();
	if (!ev || !q) {
		cJSON_Delete(ev);
		cJSON_Delete(q);
		return NULL;
	}
	int n = o->n_evidence < ENGINE_EVIDENCE_MAX ? o->n_evidence : ENGINE_EVIDENCE_MAX;
	int bad = 0;
	for (int i = 0; i < n; i++) {
		const struct evidence_item *it = &o->evidence[i];
		char fallback[24];
		const char *name = fallback;
		const struct point_def *pd = NULL;
		if (p && it->point >= 0 && it->point < p->n_points) {
			pd = &p->points[it->point];
			name = pd->name;
		} else {
			snprintf(fallback, sizeof fallback, "point%d", it->point);
		}
		if (cJSON_GetObjectItemCaseSensitive(ev, name))
			continue;
		cJSON *v;
		if (it->pv.quality != QUALITY_GOOD) {
			v = cJSON_CreateNull();
			if (!cJSON_AddStringToObject(q, name, quality_name(it->pv.quality)))
				bad = 1;
		} else if (pd && (pd->type == PT_BOOL || pd->type == PT_BIT)) {
			v = cJSON_CreateBool(it->pv.value != 0);
		} else {
			v = json_number(it->pv.value);
		}
		if (!v || !cJSON_AddItemToObject(ev, name, v)) {
			cJSON_Delete(v);
			bad = 1;
		}
	}
	if (o->n_evidence_omitted > 0 && !cJSON_AddNumberToObject(ev, "_omitted", o->n_evidence_omitted))
		bad = 1;
	if (cJSON_GetArraySize(q) > 0) {
		if (!cJSON_AddItemToObject(ev, "_quality", q)) {
			cJSON_Delete(q);
			bad = 1;
		}
	} else {
		cJSON_Delete(q);
	}
	char *text = bad ? NULL : cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	return text;
}

/* ---- writing ---- */

/* Writes every held entry, in order, into the caller's transaction or one
 * of its own. Returns 0 or a store_err. */
static int write_held(struct incidents *inc)
{
	size_t first = inflight_count(inc);
	if (first == inc->n_q)
		return STORE_OK;
	bool own = !store_in_transaction(inc->st);
	if (own) {
		int rc = store_begin(inc->st);
		if (rc != STORE_OK)
			return rc;
	}
	int rc = STORE_OK;
	for (size_t i = first; i < inc->n_q && rc == STORE_OK; i++) {
		struct held *h = inc->q[i];
		uint64_t seq = store_next_seq(inc->st), got = 0;
		char *json = render_event(inc, h, seq);
		if (!json) {
			log_error("incident", "out of memory rendering an event; retrying later");
			rc = STORE_ERR_IO;
			break;
		}
		rc = store_put_incident(inc->st, &h->row);
		if (rc == STORE_OK)
			rc = store_append_event(inc->st, h->row.id, "incident", json, strlen(json), &got);
		/* Notification jobs go into the same transaction as their event. */
		if (rc == STORE_OK && got == seq)
			rc = notify_plan_event(inc->notify, &h->row, ev_names[h->kind], got, json, h->ts_ms);
		free(json);
		if (rc == STORE_OK && got != seq) {
			log_error("incident", "outbox gave seq %llu, expected %llu", (unsigned long long)got,
				  (unsigned long long)seq);
			rc = STORE_ERR_IO;
		}
		if (rc == STORE_ERR_INVALID) {
			/* Only a bug makes our own row invalid; never let it block the rest. */
			log_error("incident", "dropping an event the store rejects: %s", store_last_error(inc->st));
			held_free(h);
			memmove(inc->q + i, inc->q + i + 1, (inc->n_q - i - 1) * sizeof *inc->q);
			inc->n_q--;
			i--;
			rc = STORE_OK;
			continue;
		}
		if (rc == STORE_OK) {
			h->inflight = true;
			h->seq = got;
		}
	}
	if (!own)
		return rc; /* the hook tells us how the caller's transaction ends */
	if (rc != STORE_OK) {
		store_rollback(inc->st); /* no-op when the store already rolled back */
		return rc;
	}
	return store_commit(inc->st);
}

static int gateway_set(struct incidents *inc, const char *type, int severity, bool active,
		       const char *message, int64_t wall);

static void storage_failed(struct incidents *inc, int err, int64_t wall)
{
	inc->failing = true;
	inc->last_err = err;
	inc->next_retry_ms = wall + INCIDENTS_RETRY_MS;
	inc_log(inc, LOG_LVL_ERROR, "cannot write incident events (%s: %s): %zu held in memory, retrying",
		store_err_name(err), store_last_error(inc->st), incidents_pending_count(inc));
	char key[80];
	snprintf(key, sizeof key, "%sgateway.storage", INCIDENTS_GATEWAY_KEY_PREFIX);
	if (!find_key(inc, key)) {
		char msg[160];
		snprintf(msg, sizeof msg, "Storage failure (%s): incident events are held in memory",
			 store_err_name(err));
		if (gateway_set(inc, "gateway.storage", 2, true, msg, wall) == 0)
			inc->storage_internal = true;
	}
}

static void storage_clear_if_recovered(struct incidents *inc, int64_t wall)
{
	if (!inc->storage_recovered)
		return;
	inc->storage_recovered = false;
	if (!inc->storage_internal)
		return;
	inc->storage_internal = false;
	log_info("incident", "storage recovered: clearing gateway.storage");
	gateway_set(inc, "gateway.storage", 2, false, "Storage writable again", wall);
}

/* Called at the end of every change and by incidents_flush_pending. */
static int write_out(struct incidents *inc, int64_t wall)
{
	if (inc->hook_err) {
		int e = inc->hook_err;
		inc->hook_err = 0;
		storage_failed(inc, e, wall);
	}
	storage_clear_if_recovered(inc, wall);
	for (int round = 0; round < 2; round++) {
		if (incidents_pending_count(inc) == 0)
			return STORE_OK;
		if (inc->failing && wall < inc->next_retry_ms)
			return inc->last_err;
		int rc = write_held(inc);
		if (rc != STORE_OK) {
			if (inc->hook_err == rc)
				inc->hook_err = 0; /* reported right here */
			storage_failed(inc, rc, wall);
			return rc;
		}
		inc->failing = false;
		/* A commit of our own may have just recovered the storage: write
		 * the clearing of gateway.storage too. */
		storage_clear_if_recovered(inc, wall);
	}
	return STORE_OK;
}

int incidents_flush_pending(struct incidents *inc, int64_t wall_ms)
{
	return write_out(inc, wall_ms);
}

/* ---- rule incidents ---- */

static void rule_of_key(const char *key, char *rule, size_t len)
{
	const char *slash = strchr(key, '/');
	size_t n = slash ? (size_t)(slash - key) : strlen(key);
	if (n >= len)
		n = len - 1;
	memcpy(rule, key, n);
	rule[n] = '\0';
}

/* Who the platform assigned the incident to is no reading: it stays when a
 * new rule output replaces the evidence (incidents_workflow_assign). */
static char *keep_assignee(const char *old, char *ev)
{
	const char *end = NULL;
	cJSON *o = old && strstr(old, "\"_assignee\"") ? cJSON_ParseWithLengthOpts(old, strlen(old), &end, 0) : NULL;
	const cJSON *as = o ? cJSON_GetObjectItemCaseSensitive(o, "_assignee") : NULL;
	cJSON *n = cJSON_IsString(as) ? cJSON_ParseWithLengthOpts(ev, strlen(ev), &end, 0) : NULL;
	char *text = n && !cJSON_HasObjectItem(n, "_assignee") && add_str(n, "_assignee", as->valuestring) == 0
			     ? cJSON_PrintUnformatted(n) : NULL;
	cJSON_Delete(o);
	cJSON_Delete(n);
	if (!text)
		return ev;
	free(ev);
	return text;
}

static void set_evidence(struct incidents *inc, struct incident *x, const struct engine_output *o)
{
	char *ev = evidence_json(inc, o);
	if (ev)
		ev = keep_assignee(x->row.evidence_json, ev);
	if (ev) {
		free(x->row.evidence_json);
		x->row.evidence_json = ev;
	}
}

/* The fields an output carries about an existing incident. */
static void update_from_output(struct incidents *inc, struct incident *x, const struct engine_output *o,
			       int64_t wall)
{
	if (o->severity > 0)
		x->row.severity = o->severity;
	if (o->count > 0)
		x->row.count = o->count;
	if (o->message[0])
		snprintf(x->row.message, sizeof x->row.message, "%s", o->message);
	set_evidence(inc, x, o);
	x->row.last_ms = wall;
}

static int open_from_output(struct incidents *inc, const struct engine_output *o, int64_t wall)
{
	struct incident *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	struct incident_row *r = &x->row;
	if (ulid_generate(&inc->ulid, wall, r->id) != 0) {
		free(x);
		log_error("incident", "no randomness for an incident id");
		return -EIO;
	}
	const struct device_config *d = device_of(inc, o->device);
	const struct profile *p = profile_of(inc, d);
	snprintf(r->alarm_key, sizeof r->alarm_key, "%s", o->key);
	rule_of_key(o->key, r->rule, sizeof r->rule);
	snprintf(r->device, sizeof r->device, "%s", d ? d->id : "");
	snprintf(r->kind, sizeof r->kind, "%s", p && p->kind ? p->kind : "");
	snprintf(r->type, sizeof r->type, "%s", o->type ? o->type : r->rule);
	r->severity = o->severity > 0 ? o->severity : 4;
	r->active = true;
	r->acked = o->acked;
	snprintf(r->workflow, sizeof r->workflow, "raised");
	r->first_ms = wall;
	r->last_ms = wall;
	r->count = o->count > 0 ? o->count : 1;
	snprintf(r->message, sizeof r->message, "%s", o->message[0] ? o->message : r->type);
	r->location_json = location_json(inc, d);
	r->evidence_json = evidence_json(inc, o);
	if (!r->evidence_json)
		r->evidence_json = strdup("{}");
	if (!r->location_json || !r->evidence_json || open_add(inc, x) != 0) {
		incident_free(x);
		return -ENOMEM;
	}
	log_info("incident", "raised %s %s (%s, severity %d)", r->id, r->type, r->alarm_key, r->severity);
	return emit(inc, x, EV_RAISED, NULL, wall);
}

static int apply_output(struct incidents *inc, const struct engine_output *o, int64_t wall)
{
	struct incident *x = find_key(inc, o->key);
	struct event_extra ex = { NULL, NULL, 0, -1, false };
	switch (o->kind) {
	case OUT_RAISED:
		if (!x)
			return open_from_output(inc, o, wall);
		/* Raised again while its incident is still open: one incident. */
		update_from_output(inc, x, o, wall);
		x->row.active = true;
		x->row.acked = o->acked; /* a new alarm cycle needs its own ack */
		return emit(inc, x, EV_UPDATED, NULL, wall);
	case OUT_UPDATED: {
		if (!x)
			return o->active ? open_from_output(inc, o, wall) : 0;
		/* The engine re-raises an open incident as UPDATED: inactive to
		 * active is a new alarm cycle that needs its own ack. Otherwise the
		 * ack only grows: an update queued before an ack must not undo it. */
		bool new_cycle = !x->row.active && o->active;
		update_from_output(inc, x, o, wall);
		x->row.active = o->active;
		x->row.acked = new_cycle ? o->acked : (x->row.acked || o->acked);
		return emit(inc, x, EV_UPDATED, NULL, wall);
	}
	case OUT_CLEARED:
		if (!x || !x->row.active)
			return 0;
		update_from_output(inc, x, o, wall);
		x->row.active = false;
		x->row.acked = x->row.acked || o->acked;
		return emit(inc, x, EV_CLEARED, NULL, wall);
	case OUT_ACKED:
		if (!x)
			return 0;
		if (x->row.acked)
			return 0; /* already said, by incidents_ack */
		x->row.acked = true;
		x->row.last_ms = wall;
		return emit(inc, x, EV_ACKED, NULL, wall);
	case OUT_ESCALATED:
		if (!x)
			return 0;
		ex.escalated_from = x->row.severity;
		update_from_output(inc, x, o, wall);
		return emit(inc, x, EV_ESCALATED, &ex, wall);
	case OUT_NORMAL: {
		/* Follows CLEARED or ACKED, which said it already; a non-latched
		 * alarm reaches normal without any ack (o->acked false). */
		if (!x)
			return 0;
		bool was_active = x->row.active, was_acked = x->row.acked;
		x->row.active = false;
		x->row.acked = was_acked || o->acked;
		x->row.last_ms = wall;
		if (was_active)
			return emit(inc, x, EV_CLEARED, NULL, wall);
		if (!was_acked && o->acked)
			return emit(inc, x, EV_ACKED, NULL, wall);
		return 0;
	}
	case OUT_SHELVED:
	case OUT_UNSHELVED:
		if (!x)
			return 0;
		x->shelved = o->kind == OUT_SHELVED;
		x->row.last_ms = wall;
		ex.shelved = x->shelved;
		return emit(inc, x, EV_UPDATED, &ex, wall);
	case OUT_ACTION:
	case OUT_SUPPRESSED: /* the core logs it (core_note_suppressed); never an incident */
		return 0;
	}
	return 0;
}

int incidents_apply(struct incidents *inc, const struct engine_output *o, int64_t wall_ms)
{
	if (!o || o->kind == OUT_ACTION)
		return 0;
	int rc = apply_output(inc, o, wall_ms);
	write_out(inc, wall_ms);
	return rc;
}

/* ---- workflow and ack ---- */

static int workflow_index(const char *wf)
{
	for (int i = 0; i < WORKFLOW_STEPS; i++)
		if (strcmp(workflow_chain[i], wf) == 0)
			return i;
	return -1;
}

static int set_workflow(struct incidents *inc, struct incident *x, const char *to, const char *by,
			const char *note, int64_t wall)
{
	bool closing = strcmp(to, "closed") == 0 || strcmp(to, "false_alarm") == 0;
	snprintf(x->row.workflow, sizeof x->row.workflow, "%s", to);
	x->row.last_ms = wall;
	struct event_extra ex = { by, note, 0, -1, false };
	int rc = emit(inc, x, closing ? EV_CLOSED : EV_WORKFLOW, &ex, wall);
	log_info("incident", "%s %s -> %s%s%s", x->row.id, x->row.type, to, by ? " by " : "", by ? by : "");
	if (closing)
		open_remove(inc, x);
	return rc;
}

static struct incident *find_for_command(struct incidents *inc, const char *id, const char *to,
					 char *err, size_t errlen)
{
	struct incident *x = find_id(inc, id);
	if (!x) {
		snprintf(err, errlen, "no open incident %s", id ? id : "(null)");
		return NULL;
	}
	if (!to || (workflow_index(to) < 0 && strcmp(to, "false_alarm") != 0)) {
		snprintf(err, errlen, "unknown workflow state '%s' (dispatched, accepted, resolved, closed, false_alarm)",
			 to ? to : "(null)");
		return NULL;
	}
	return x;
}

int incidents_workflow(struct incidents *inc, const char *id, const char *to, const char *by,
		       const char *note, int64_t wall_ms, char *err, size_t errlen)
{
	struct incident *x = find_for_command(inc, id, to, err, errlen);
	if (!x)
		return find_id(inc, id) ? -EINVAL : -ENOENT;
	if (strcmp(to, "false_alarm") != 0) {
		int from = workflow_index(x->row.workflow), want = workflow_index(to);
		if (from < 0 || want != from + 1) {
			snprintf(err, errlen, "illegal workflow step %s -> %s (expected %s or false_alarm)",
				 x->row.workflow, to, from >= 0 && from + 1 < WORKFLOW_STEPS ? workflow_chain[from + 1] : "none");
			return -EINVAL;
		}
	}
	int rc = set_workflow(inc, x, to, by, note, wall_ms);
	write_out(inc, wall_ms);
	return rc;
}

int incidents_workflow_assign(struct incidents *inc, const char *id, const char *to, const char *by,
			      const char *note, const char *assignee, int64_t wall_ms, char *err, size_t errlen)
{
	struct incident *x = find_id(inc, id);
	const char *who = assignee && *assignee ? assignee
			: to && strcmp(to, "accepted") == 0 && by && *by ? by : NULL;
	if (!x || !who)
		return incidents_workflow(inc, id, to, by, note, wall_ms, err, errlen);
	/* Set on the row first (the event is built from it), put back when
	 * the step is refused: a refused command changes nothing. */
	const char *end = NULL;
	char *old = x->row.evidence_json;
	cJSON *ev = old ? cJSON_ParseWithLengthOpts(old, strlen(old), &end, 0) : NULL;
	if (!ev)
		ev = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(ev, "_assignee");
	char *text = ev && add_str(ev, "_assignee", who) == 0 ? cJSON_PrintUnformatted(ev) : NULL;
	cJSON_Delete(ev);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->row.evidence_json = text;
	int rc = incidents_workflow(inc, id, to, by, note, wall_ms, err, errlen);
	if (rc == -EINVAL || rc == -ENOENT) {
		free(text);
		x->row.evidence_json = old;
		return rc;
	}
	free(old);
	return rc;
}

int incidents_close(struct incidents *inc, const char *id, const char *to, const char *by,
		    const char *note, int64_t wall_ms, char *err, size_t errlen)
{
	if (!to)
		to = "closed";
	if (strcmp(to, "closed") != 0 && strcmp(to, "false_alarm") != 0) {
		snprintf(err, errlen, "close takes closed or false_alarm, not '%s'", to);
		return -EINVAL;
	}
	struct incident *x = find_for_command(inc, id, to, err, errlen);
	if (!x)
		return -ENOENT;
	int rc = set_workflow(inc, x, to, by, note, wall_ms);
	write_out(inc, wall_ms);
	return rc;
}

int incidents_ack(struct incidents *inc, const char *id, const char *by, const char *note,
		  int64_t wall_ms, char *alarm_key_out, size_t len)
{
	if (alarm_key_out && len)
		alarm_key_out[0] = '\0';
	struct incident *x = find_id(inc, id);
	if (!x)
		return -ENOENT;
	if (alarm_key_out && len && !x->gateway)
		snprintf(alarm_key_out, len, "%s", x->row.alarm_key);
	if (x->row.acked)
		return 0;
	x->row.acked = true;
	x->row.last_ms = wall_ms;
	struct event_extra ex = { by, note, 0, -1, false };
	int rc = emit(inc, x, EV_ACKED, &ex, wall_ms);
	log_info("incident", "%s %s acknowledged%s%s", x->row.id, x->row.type, by ? " by " : "", by ? by : "");
	write_out(inc, wall_ms);
	return rc;
}

/* ---- gateway incidents ---- */

static int gateway_open(struct incidents *inc, const char *key, const char *type, int severity,
			const char *message, int64_t wall)
{
	struct incident *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	struct incident_row *r = &x->row;
	if (ulid_generate(&inc->ulid, wall, r->id) != 0) {
		free(x);
		return -EIO;
	}
	x->gateway = true;
	snprintf(r->alarm_key, sizeof r->alarm_key, "%s", key);
	snprintf(r->rule, sizeof r->rule, "gateway");
	snprintf(r->device, sizeof r->device, "%s", inc->cfg && inc->cfg->gateway.id ? inc->cfg->gateway.id : "");
	snprintf(r->kind, sizeof r->kind, "gateway");
	snprintf(r->type, sizeof r->type, "%s", type);
	r->severity = severity > 0 ? severity : 3;
	r->active = true;
	snprintf(r->workflow, sizeof r->workflow, "raised");
	r->first_ms = r->last_ms = wall;
	r->count = 1;
	snprintf(r->message, sizeof r->message, "%s", message && *message ? message : type);
	r->location_json = location_json(inc, NULL);
	r->evidence_json = strdup("{}");
	if (!r->location_json || !r->evidence_json || open_add(inc, x) != 0) {
		incident_free(x);
		return -ENOMEM;
	}
	log_warn("incident", "raised %s %s: %s", r->id, type, r->message);
	return emit(inc, x, EV_RAISED, NULL, wall);
}

static int gateway_set(struct incidents *inc, const char *type, int severity, bool active,
		       const char *message, int64_t wall)
{
	char key[ENGINE_KEY_MAX];
	snprintf(key, sizeof key, "%s%s", INCIDENTS_GATEWAY_KEY_PREFIX, type);
	struct incident *x = find_key(inc, key);
	if (active) {
		if (!x)
			return gateway_open(inc, key, type, severity, message, wall);
		bool changed = !x->row.active || (severity > 0 && severity != x->row.severity) ||
			       (message && *message && strcmp(message, x->row.message) != 0);
		if (!changed)
			return 0;
		if (!x->row.active)
			x->row.count++;
		x->row.active = true;
		if (severity > 0)
			x->row.severity = severity;
		if (message && *message)
			snprintf(x->row.message, sizeof x->row.message, "%s", message);
		x->row.last_ms = wall;
		return emit(inc, x, EV_UPDATED, NULL, wall);
	}
	if (!x)
		return 0;
	/* The condition is over: clear, then close (nobody has to dispatch it). */
	x->row.active = false;
	x->row.last_ms = wall;
	if (message && *message)
		snprintf(x->row.message, sizeof x->row.message, "%s", message);
	int rc = emit(inc, x, EV_CLEARED, NULL, wall);
	log_info("incident", "cleared %s %s", x->row.id, type);
	int rc2 = set_workflow(inc, x, "closed", "gateway", NULL, wall);
	return rc ? rc : rc2;
}

int incidents_gateway(struct incidents *inc, const char *type, int severity, bool active,
		      const char *message, int64_t wall_ms)
{
	if (!type || !*type)
		return -EINVAL;
	if (strcmp(type, "gateway.storage") == 0 && !active && inc->storage_internal) {
		/* Our own writes are what failed: we clear it when they succeed. */
		write_out(inc, wall_ms);
		return 0;
	}
	int rc = gateway_set(inc, type, severity, active, message, wall_ms);
	write_out(inc, wall_ms);
	return rc;
}

/* A record appended to the evidence list `key` ("_actions", "_notified") of
 * an open incident, newest last, at most max (0 = no bound). Returns the new
 * item, owned by *ev_out (the parsed evidence, to pass to evidence_save), or
 * NULL when out of memory. */
static cJSON *evidence_append(const struct incident *x, const char *key, int max, cJSON **ev_out)
{
	const char *end = NULL;
	const char *old = x->row.evidence_json;
	cJSON *ev = old ? cJSON_ParseWithLengthOpts(old, strlen(old), &end, 0) : NULL;
	if (!ev)
		ev = cJSON_CreateObject();
	cJSON *list = ev ? cJSON_GetObjectItemCaseSensitive(ev, key) : NULL;
	if (ev && !cJSON_IsArray(list)) {
		cJSON_DeleteItemFromObjectCaseSensitive(ev, key);
		list = cJSON_AddArrayToObject(ev, key);
	}
	cJSON *item = list ? cJSON_CreateObject() : NULL;
	if (!item) {
		cJSON_Delete(ev);
		return NULL;
	}
	while (max > 0 && cJSON_GetArraySize(list) >= max)
		cJSON_DeleteItemFromArray(list, 0);
	cJSON_AddItemToArray(list, item);
	*ev_out = ev;
	return item;
}

/* Stores the changed evidence (ev is consumed) and sends it as `updated`. */
static int evidence_save(struct incidents *inc, struct incident *x, cJSON *ev, int64_t wall_ms)
{
	char *text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!text)
		return -ENOMEM;
	free(x->row.evidence_json);
	x->row.evidence_json = text;
	x->row.last_ms = wall_ms;
	int rc = emit(inc, x, EV_UPDATED, NULL, wall_ms);
	write_out(inc, wall_ms);
	return rc;
}

int incidents_note_action(struct incidents *inc, const char *alarm_key, const char *action, bool ok,
			  const char *error, int64_t wall_ms)
{
	struct incident *x = alarm_key ? find_key(inc, alarm_key) : NULL;
	if (!x)
		return -ENOENT;
	cJSON *ev = NULL, *item = evidence_append(x, "_actions", 0, &ev);
	if (!item)
		return -ENOMEM;
	add_str(item, "action", action);
	cJSON_AddBoolToObject(item, "ok", ok);
	if (!ok)
		add_str(item, "error", error ? error : "failed");
	add_ts(item, "ts", wall_ms);
	return evidence_save(inc, x, ev, wall_ms);
}

void incidents_set_notify(struct incidents *inc, struct notify *n)
{
	inc->notify = n;
}

int incidents_note_notify(struct incidents *inc, const char *id, const char *channel, int route, int step, bool ok,
			  const char *error, int64_t wall_ms)
{
	struct incident *x = id ? find_id(inc, id) : NULL;
	if (!x)
		return -ENOENT;
	cJSON *ev = NULL, *item = evidence_append(x, "_notified", INCIDENTS_NOTIFIED_MAX, &ev);
	if (!item)
		return -ENOMEM;
	add_str(item, "channel", channel);
	cJSON_AddNumberToObject(item, "route", route);
	cJSON_AddNumberToObject(item, "step", step);
	add_ts(item, "ts", wall_ms);
	cJSON_AddBoolToObject(item, "ok", ok);
	if (!ok)
		add_str(item, "error", error && *error ? error : "failed");
	return evidence_save(inc, x, ev, wall_ms);
}

int incidents_resync(struct incidents *inc, int64_t wall_ms)
{
	struct event_extra ex = { NULL, NULL, 0, -1, true };
	int rc = 0;
	for (size_t i = 0; i < inc->n_open && rc == 0; i++) {
		ex.shelved = inc->open[i]->shelved ? 1 : -1;
		rc = emit(inc, inc->open[i], EV_UPDATED, &ex, wall_ms);
	}
	write_out(inc, wall_ms);
	return rc;
}

/* Local-only auto-close: see incident.h. */
int incidents_auto_close(struct incidents *inc, int64_t after_ms, int64_t wall_ms,
			 void (*closed)(void *ctx, const char *alarm_key), void *ctx)
{
	if (after_ms <= 0)
		return 0;
	char dur[32], note[160], key[sizeof inc->open[0]->row.alarm_key];
	duration_format(after_ms, dur, sizeof dur);
	snprintf(note, sizeof note, "auto-closed: cleared and acknowledged for %s (incidents.auto_close_after)", dur);
	int n = 0;
	for (size_t i = 0; i < inc->n_open;) {
		struct incident *x = inc->open[i];
		const struct incident_row *r = &x->row;
		int64_t settled = r->cleared_ms > r->acked_ms ? r->cleared_ms : r->acked_ms;
		if (x->gateway || r->active || !r->acked || !r->cleared_ms || !r->acked_ms || wall_ms - settled < after_ms) {
			i++;
			continue;
		}
		snprintf(key, sizeof key, "%s", r->alarm_key);
		set_workflow(inc, x, "closed", "gateway", note, wall_ms); /* removes x: i now holds another */
		if (closed)
			closed(ctx, key);
		n++;
	}
	if (n)
		write_out(inc, wall_ms);
	return n;
}
