/* engine — the local alarm engine (see engine.h and docs/rules.md).
 *
 * Owns: the engine's rules (user rules and the built-ins, compiled once),
 * every alarm's state machine (per rule x device, plus one per correlation
 * group), the current point values and window histories of every device,
 * device online/shelved state, a timer heap for delays/escalation/chatter/
 * shelve expiry, and the queue of outputs the core drains.
 *
 * Everything is allocated in engine_create. On the update path
 * (engine_point) nothing is allocated: rules are found through a
 * per-(profile, point) index, so the cost of an update depends on the
 * rules that read that point, not on the total number of rules. The only
 * allocation after create is growing the output queue when the core leaves
 * more than its (large) initial capacity undrained. */
#include "rules/engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/engine_impl.h"
#include "rules/expr.h"

/* ---------- small helpers ---------- */

static const struct profile *dev_profile(const struct engine *e, int d)
{
	return &e->cfg->profiles[e->devs[d].profile];
}

static bool is_active(const struct alarm *a)
{
	return a->state == ALARM_ACTIVE_UNACKED || a->state == ALARM_ACTIVE_ACKED;
}

static bool is_unacked(const struct alarm *a)
{
	return a->state == ALARM_ACTIVE_UNACKED || a->state == ALARM_RTN_UNACKED;
}

static int rule_slot(const struct engine *e, const struct erule *r, int d)
{
	return r->profile < 0 ? d : e->devs[d].pslot;
}

static bool alarm_shelved(const struct engine *e, const struct alarm *a)
{
	return a->group < 0 && e->devs[a->device].shelved;
}

/* ---------- timer heap ---------- */

static void heap_swap(struct theap *h, int i, int j)
{
	int a = h->ids[i], b = h->ids[j];
	h->ids[i] = b;
	h->ids[j] = a;
	h->pos[b] = i;
	h->pos[a] = j;
}

static void heap_up(struct theap *h, int i)
{
	while (i > 0) {
		int p = (i - 1) / 2;
		if (h->key[h->ids[p]] <= h->key[h->ids[i]])
			break;
		heap_swap(h, i, p);
		i = p;
	}
}

static void heap_down(struct theap *h, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && h->key[h->ids[l]] < h->key[h->ids[m]])
			m = l;
		if (r < h->n && h->key[h->ids[r]] < h->key[h->ids[m]])
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

/* Sets id's deadline (NEVER removes it). */
static void heap_set(struct theap *h, int id, int64_t deadline)
{
	int i = h->pos[id];
	if (deadline == NEVER) {
		if (i < 0)
			return;
		h->n--;
		if (i != h->n) {
			heap_swap(h, i, h->n);
			h->pos[id] = -1;
			heap_up(h, i);
			heap_down(h, i);
		} else {
			h->pos[id] = -1;
		}
		h->key[id] = NEVER;
		return;
	}
	if (i < 0) {
		i = h->n++;
		h->ids[i] = id;
		h->pos[id] = i;
		h->key[id] = deadline;
		heap_up(h, i);
		return;
	}
	int64_t old = h->key[id];
	h->key[id] = deadline;
	if (deadline < old)
		heap_up(h, i);
	else if (deadline > old)
		heap_down(h, i);
}

static int64_t add_sat(int64_t a, int64_t b)
{
	return (b > 0 && a > NEVER - b) ? NEVER : a + b;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The earliest timer of an alarm. */
static int64_t alarm_deadline(const struct engine *e, const struct alarm *a)
{
	const struct erule *r = &e->rules[a->rule];
	int64_t t = NEVER;
	if (a->on_since != NEVER)
		t = min64(t, add_sat(a->on_since, r->for_ms));
	if (a->off_since != NEVER)
		t = min64(t, add_sat(a->off_since, r->clear_for_ms));
	if (r->has_escalate && !a->escalated && is_unacked(a) && !alarm_shelved(e, a))
		t = min64(t, add_sat(a->unacked_since, r->escalate_after_ms));
	if (a->held)
		t = min64(t, add_sat(a->last_raise, r->chatter_window_ms));
	if (a->dirty)
		t = min64(t, add_sat(a->last_update_out, r->chatter_window_ms));
	return t;
}

static void alarm_reschedule(struct engine *e, int id)
{
	int64_t t = alarm_deadline(e, &e->alarms[id]);
	/* A timer that became due in the past (escalation resumed at unshelve)
	 * fires now, not back-dated. */
	if (t != NEVER && t < e->now)
		t = e->now;
	if (t != e->heap.key[id])
		heap_set(&e->heap, id, t);
}

void engine_alarm_reschedule(struct engine *e, int id)
{
	alarm_reschedule(e, id);
}

void engine_timer_set(struct engine *e, int id, int64_t deadline)
{
	heap_set(&e->heap, id, deadline);
}

/* ---------- output queue ---------- */

/* A zeroed slot at the tail of the queue; NULL only if memory ran out
 * growing it (the output is then lost and logged by the caller's absence). */
static struct engine_output *out_push(struct engine *e)
{
	if (e->q_n == e->q_cap) {
		size_t cap = e->q_cap * 2;
		struct engine_output *q = malloc(cap * sizeof *q);
		if (!q)
			return NULL;
		for (size_t i = 0; i < e->q_n; i++)
			q[i] = e->q[(e->q_head + i) % e->q_cap];
		free(e->q);
		e->q = q;
		e->q_cap = cap;
		e->q_head = 0;
	}
	struct engine_output *o = &e->q[(e->q_head + e->q_n) % e->q_cap];
	e->q_n++;
	memset(o, 0, offsetof(struct engine_output, evidence));
	o->n_evidence = 0;
	o->n_evidence_omitted = 0;
	o->action = NULL;
	o->action_device = -1;
	o->action_point = -1;
	return o;
}

size_t engine_drain(struct engine *e, struct engine_output *out, size_t max)
{
	size_t n = 0;
	while (n < max && e->q_n > 0) {
		out[n++] = e->q[e->q_head];
		e->q_head = (e->q_head + 1) % e->q_cap;
		e->q_n--;
	}
	return n;
}

/* ---------- message templates ---------- */

static void format_value(const struct point_def *pd, const struct point_value *pv, char *buf, size_t len)
{
	if (pv->quality != QUALITY_GOOD) {
		snprintf(buf, len, "?");
		return;
	}
	if (pd->type == PT_BOOL || pd->type == PT_BIT) {
		snprintf(buf, len, "%s", pv->value != 0 ? "true" : "false");
		return;
	}
	if (pd->type == PT_ENUM) {
		for (int i = 0; i < pd->n_values; i++) {
			if (pd->values[i].value == pv->value) {
				snprintf(buf, len, "%s", pd->values[i].name);
				return;
			}
		}
	}
	snprintf(buf, len, "%g", pv->value);
}

/* Looks up one {field} for device d; false when the name is not a field. */
static bool template_field(const struct engine *e, int d, const char *name, char *buf, size_t len)
{
	const struct device_config *dc = &e->cfg->devices[d];
	const struct location *loc = &dc->location;
	const char *s = NULL;
	if (strcmp(name, "building") == 0)
		s = loc->building;
	else if (strcmp(name, "entrance") == 0)
		s = loc->entrance;
	else if (strcmp(name, "room") == 0)
		s = loc->room;
	else if (strcmp(name, "place") == 0)
		s = loc->place;
	else if (strcmp(name, "device") == 0)
		s = dc->id;
	else if (strcmp(name, "floor") == 0) {
		if (loc->has_floor)
			snprintf(buf, len, "%d", loc->floor);
		else
			snprintf(buf, len, "%s", "");
		return true;
	} else {
		const struct profile *p = dev_profile(e, d);
		for (int i = 0; i < p->n_points; i++) {
			if (strcmp(p->points[i].name, name) == 0) {
				format_value(&p->points[i], &e->devs[d].values[i], buf, len);
				return true;
			}
		}
		return false;
	}
	snprintf(buf, len, "%s", s ? s : "");
	return true;
}

/* Renders `tmpl` for device d into out (always NUL-terminated, truncated to
 * len). Unknown {names} and a lone '{' are copied as they are. */
static void render_template(const struct engine *e, int d, const char *tmpl, char *out, size_t len)
{
	size_t n = 0;
	if (len == 0)
		return;
	for (const char *s = tmpl; *s && n + 1 < len;) {
		const char *close = *s == '{' ? strchr(s + 1, '}') : NULL;
		char name[64], val[128];
		size_t nl = close ? (size_t)(close - s - 1) : 0;
		if (close && nl > 0 && nl < sizeof name) {
			memcpy(name, s + 1, nl);
			name[nl] = '\0';
			if (template_field(e, d, name, val, sizeof val)) {
				for (const char *v = val; *v && n + 1 < len; v++)
					out[n++] = *v;
				s = close + 1;
				continue;
			}
		}
		out[n++] = *s++;
	}
	out[n] = '\0';
}

/* ---------- outputs of an alarm ---------- */

static void alarm_key(const struct engine *e, const struct alarm *a, char *buf, size_t len)
{
	const struct erule *r = &e->rules[a->rule];
	if (a->group >= 0)
		snprintf(buf, len, "%s/%s", r->id, r->group_keys[a->group]);
	else
		snprintf(buf, len, "%s/%s", r->id, e->cfg->devices[a->device].id);
}

/* Evidence is every point of the device with its quality — what a worker
 * sent to the site wants (battery and temperature beside the smoke
 * reading): the rule's points first, so they are always there, then the
 * device's other points in profile order, up to ENGINE_EVIDENCE_MAX;
 * n_evidence_omitted counts the points that did not fit. */
static void fill_evidence(const struct engine *e, const struct erule *r, int d, struct engine_output *o)
{
	const struct point_value *vals = e->devs[d].values;
	int n = 0, omitted = 0;
	for (int i = 0; i < r->n_ev && n < ENGINE_EVIDENCE_MAX; i++)
		o->evidence[n++] = (struct evidence_item){ r->ev_points[i], vals[r->ev_points[i]] };
	const struct profile *p = dev_profile(e, d);
	for (int pt = 0; pt < p->n_points; pt++) {
		bool seen = false;
		for (int i = 0; i < r->n_ev && !seen; i++)
			seen = r->ev_points[i] == pt;
		if (seen)
			continue;
		if (n < ENGINE_EVIDENCE_MAX)
			o->evidence[n++] = (struct evidence_item){ pt, vals[pt] };
		else
			omitted++;
	}
	o->n_evidence = n;
	o->n_evidence_omitted = omitted;
	/* An offline device's last values are not current (device.offline,
	 * or a clear while offline): say so per point. */
	for (int i = 0; !e->devs[d].online && i < n; i++)
		if (o->evidence[i].pv.quality == QUALITY_GOOD)
			o->evidence[i].pv.quality = QUALITY_COMM_ERROR;
}

static struct engine_output *emit_alarm(struct engine *e, const struct alarm *a, enum engine_output_kind kind,
				       int64_t now)
{
	const struct erule *r = &e->rules[a->rule];
	struct engine_output *o = out_push(e);
	if (!o)
		return NULL;
	o->kind = kind;
	alarm_key(e, a, o->key, sizeof o->key);
	o->rule = a->rule;
	o->device = a->device;
	o->type = a->group >= 0 ? r->confirmed_type : r->type;
	o->severity = a->severity;
	o->active = is_active(a);
	o->acked = a->acked;
	o->count = a->count;
	o->now_ms = now;
	render_template(e, a->device, r->message ? r->message : o->type, o->message, sizeof o->message);
	fill_evidence(e, r, a->device, o);
	return o;
}

static void emit_actions(struct engine *e, const struct alarm *a, bool raise, int64_t now)
{
	const struct erule *r = &e->rules[a->rule];
	if (!r->cfg || a->group >= 0)
		return;
	const struct action_config *acts = raise ? r->cfg->on_raise : r->cfg->on_clear;
	int n = raise ? r->cfg->n_on_raise : r->cfg->n_on_clear;
	const int *pts = raise ? r->raise_points : r->clear_points;
	for (int i = 0; i < n; i++) {
		struct engine_output *o = out_push(e);
		if (!o)
			return;
		o->kind = OUT_ACTION;
		alarm_key(e, a, o->key, sizeof o->key);
		o->rule = a->rule;
		o->device = a->device;
		o->type = r->type;
		o->severity = a->severity;
		o->active = raise;
		o->acked = a->acked;
		o->count = a->count;
		o->now_ms = now;
		o->action = &acts[i];
		o->action_device = acts[i].device >= 0 ? acts[i].device : a->device;
		o->action_point = pts[i];
		if (acts[i].kind == ACTION_PUBLISH && acts[i].payload)
			render_template(e, a->device, acts[i].payload, o->message, sizeof o->message);
	}
}

/* ---------- the ISA-18.2 state machine ---------- */

/* Chatter: records a visible raise; true when more than chatter_max raises
 * fell within chatter_window (this one included). */
static bool chatter_trips(struct engine *e, struct alarm *a, int id, int64_t now)
{
	const struct erule *r = &e->rules[a->rule];
	if (r->chatter_max <= 0)
		return false;
	int cap = r->chatter_max + 1;
	int idx = id - r->first_alarm;
	int64_t *ring = r->chatter_pool + (size_t)idx * (size_t)cap;
	a->chat_head = (a->chat_head + 1) % cap;
	ring[a->chat_head] = now;
	if (a->n_chat < cap)
		a->n_chat++;
	if (a->n_chat < cap)
		return false;
	int64_t oldest = ring[(a->chat_head + 1) % cap];
	return now - oldest <= r->chatter_window_ms;
}

/* A per-device alarm of a correlation rule typed as its confirmed type: its
 * condition counts the detector for the group, but an incident of its own
 * would be one detector reported as a confirmed fire. It stays normal. */
static bool alarm_silent(const struct engine *e, const struct alarm *a)
{
	return a->group < 0 && e->rules[a->rule].group_only;
}

/* The alarm becomes visibly active (the condition rose and the device is not shelved). */
static void isa_raise(struct engine *e, int id, int64_t now)
{
	struct alarm *a = &e->alarms[id];
	const struct erule *r = &e->rules[a->rule];
	if (alarm_silent(e, a))
		return;
	if (a->held) {
		/* Chatter hold: fold the raise into the open incident, report the
		 * growing count at most once per chatter window. */
		a->count++;
		a->dirty = true;
		return;
	}
	bool reraise = a->incident_open;
	bool was_active = is_active(a);
	if (!reraise) {
		a->count = 1;
		a->severity = a->group >= 0 ? r->confirmed_severity : r->severity;
		a->escalated = false;
	} else {
		a->count++;
	}
	a->state = ALARM_ACTIVE_UNACKED;
	a->acked = false;
	a->incident_open = true;
	a->unacked_since = now;
	if (chatter_trips(e, a, id, now)) {
		a->held = true;
		a->last_update_out = now;
	}
	emit_alarm(e, a, reraise ? OUT_UPDATED : OUT_RAISED, now);
	if (!was_active)
		emit_actions(e, a, true, now);
}

/* The alarm's condition returned to normal (not held by chatter). */
static void isa_clear(struct engine *e, struct alarm *a, int64_t now)
{
	const struct erule *r = &e->rules[a->rule];
	if (a->state == ALARM_ACTIVE_UNACKED) {
		a->state = r->latch ? ALARM_RTN_UNACKED : ALARM_NORMAL;
	} else if (a->state == ALARM_ACTIVE_ACKED) {
		a->state = ALARM_NORMAL;
	} else {
		return;
	}
	emit_alarm(e, a, OUT_CLEARED, now);
	if (a->state == ALARM_NORMAL)
		emit_alarm(e, a, OUT_NORMAL, now);
	emit_actions(e, a, false, now);
}

static void group_on_raise(struct engine *e, const struct erule *r, int d, int64_t now);
static void group_on_clear(struct engine *e, const struct erule *r, int d, int64_t now);

/* A raise or its clear while the device is shelved: said (log, views), never
 * an incident. `active` is the condition, not the alarm state. */
static void emit_suppressed(struct engine *e, const struct alarm *a, bool active, int64_t now)
{
	if (alarm_silent(e, a))
		return;
	struct engine_output *o = emit_alarm(e, a, OUT_SUPPRESSED, now);
	if (o) {
		o->active = active;
		o->until_ms = e->devs[a->device].shelve_until;
	}
}

/* The debounced condition rose. */
static void cond_raise(struct engine *e, int id, int64_t now)
{
	struct alarm *a = &e->alarms[id];
	a->cond = true;
	a->last_raise = now;
	a->n_edges = 0;
	if (alarm_shelved(e, a)) {
		/* A detector under test: shown as suppressed, but it raises
		 * nothing, counts towards no correlation (not even after the
		 * unshelve) and is dropped when the shelve ends (§2.5). */
		a->shelved_cond = true;
		a->suppressed_at = now;
		a->n_suppressed++;
		emit_suppressed(e, a, true, now);
		return;
	}
	a->corr_raise = now;
	if (a->group < 0 && e->rules[a->rule].group != GROUP_NONE)
		group_on_raise(e, &e->rules[a->rule], a->device, now);
	isa_raise(e, id, now);
}

static void cond_clear(struct engine *e, int id, int64_t now)
{
	struct alarm *a = &e->alarms[id];
	a->cond = false;
	if (a->shelved_cond) {
		a->shelved_cond = false;
		emit_suppressed(e, a, false, now);
	}
	if (a->group < 0 && e->rules[a->rule].group != GROUP_NONE)
		group_on_clear(e, &e->rules[a->rule], a->device, now);
	a = &e->alarms[id];
	if (a->held)
		return;  /* released by the chatter timer */
	isa_clear(e, a, now);
}

/* ---------- correlation ---------- */

static void group_on_raise(struct engine *e, const struct erule *r, int d, int64_t now)
{
	int g = r->slot_group[rule_slot(e, r, d)];
	if (g < 0)
		return;
	int gid = r->first_group_alarm + g;
	if (e->alarms[gid].cond)
		return;
	int n = 0;
	for (int s = 0; s < r->n_slots; s++) {
		if (r->slot_group[s] != g)
			continue;
		const struct alarm *m = &e->alarms[r->first_alarm + s];
		if (e->devs[m->device].shelved || m->shelved_cond)
			continue;
		if (m->cond || (m->corr_raise != NEVER && now - m->corr_raise <= r->within_ms))
			n++;
	}
	if (n >= r->min_devices) {
		e->alarms[gid].device = d;
		cond_raise(e, gid, now);
		alarm_reschedule(e, gid);
	}
}

static void group_on_clear(struct engine *e, const struct erule *r, int d, int64_t now)
{
	int g = r->slot_group[rule_slot(e, r, d)];
	if (g < 0)
		return;
	int gid = r->first_group_alarm + g;
	if (!e->alarms[gid].cond)
		return;
	/* a condition that rose while shelved holds no group open */
	for (int s = 0; s < r->n_slots; s++) {
		const struct alarm *m = &e->alarms[r->first_alarm + s];
		if (r->slot_group[s] == g && m->cond && !m->shelved_cond)
			return;
	}
	cond_clear(e, gid, now);
	alarm_reschedule(e, gid);
}

/* ---------- evaluation ---------- */

struct wctx {
	const struct engine *e;
	int device;
	int64_t now;
};

static void hist_push(struct whist *h, double v, bool good, int64_t now)
{
	struct wentry *top = h->n > 0 ? &h->e[h->head] : NULL;
	if (!good) {
		if (top && top->gap)
			return;
	} else if (top && !top->gap && now - top->t0 < h->merge_ms) {
		top->t1 = now;
		top->last = v;
		if (v < top->min)
			top->min = v;
		if (v > top->max)
			top->max = v;
		top->sum += v;
		top->n++;
		return;
	}
	h->head = (h->head + 1) % WIN_SLOTS;
	if (h->n < WIN_SLOTS)
		h->n++;
	struct wentry *x = &h->e[h->head];
	*x = (struct wentry){ .t0 = now, .t1 = now, .first = v, .last = v, .min = v, .max = v,
			      .sum = good ? v : 0, .n = good ? 1 : 0, .gap = good ? 0 : 1 };
}

static enum tri window_cb(void *ctx, int point, int fn, int64_t window_ms, double *out)
{
	const struct wctx *w = ctx;
	const struct whist *h = w->e->devs[w->device].hist[point];
	if (!h)
		return TRI_UNKNOWN;
	int64_t start = w->now - window_ms;
	bool any = false, carry = false;
	double mn = 0, mx = 0, sum = 0, newest = 0, oldest = 0, carried = 0;
	int64_t oldest_t0 = 0;
	uint32_t n = 0;
	for (int i = 0; i < h->n; i++) {
		const struct wentry *x = &h->e[(h->head - i + WIN_SLOTS) % WIN_SLOTS];
		if (x->t1 < start) {
			/* the value in effect at the window's start, unless a sample
			 * inside the window was taken exactly then */
			if (!x->gap && (!any || oldest_t0 > start)) {
				carry = true;
				carried = x->last;
			}
			break;
		}
		if (x->gap)
			continue;
		if (!any) {
			newest = x->last;
			mn = x->min;
			mx = x->max;
			any = true;
		}
		if (x->min < mn)
			mn = x->min;
		if (x->max > mx)
			mx = x->max;
		sum += x->sum;
		n += x->n;
		oldest = x->first;
		oldest_t0 = x->t0;
	}
	if (!any && !carry)
		return TRI_UNKNOWN;
	if (!any) {
		newest = mn = mx = carried;
		sum = carried;
		n = 1;
	}
	if (carry) {
		oldest = carried;
		if (carried < mn)
			mn = carried;
		if (carried > mx)
			mx = carried;
	}
	switch (fn) {
	case 0: *out = newest - oldest; break;
	case 1: *out = sum / n; break;
	case 2: *out = mn; break;
	default: *out = mx; break;
	}
	return TRI_TRUE;
}

static enum tri tri_not(enum tri t)
{
	return t == TRI_UNKNOWN ? TRI_UNKNOWN : (t == TRI_TRUE ? TRI_FALSE : TRI_TRUE);
}

/* Count-in-window: records a rising edge; true when the last `count` edges
 * fit within within_ms (first to last inclusive). */
static bool edges_satisfied(struct engine *e, struct alarm *a, int64_t now)
{
	const struct erule *r = &e->rules[a->rule];
	int cap = r->count;
	int64_t *ring = r->edge_pool + (size_t)a->slot * (size_t)cap;
	a->edge_head = (a->edge_head + 1) % cap;
	ring[a->edge_head] = now;
	if (a->n_edges < cap)
		a->n_edges++;
	if (a->n_edges < cap)
		return false;
	return now - ring[(a->edge_head + 1) % cap] <= r->within_ms;
}

/* Applies one evaluation of when/clear_when to the alarm's delays. */
static void alarm_apply(struct engine *e, int id, enum tri w, enum tri c, int64_t now)
{
	struct alarm *a = &e->alarms[id];
	const struct erule *r = &e->rules[a->rule];
	bool edge = false;
	if (w != TRI_UNKNOWN) {
		edge = w == TRI_TRUE && !a->last_w;
		a->last_w = w == TRI_TRUE;
	}
	if (!a->cond) {
		a->off_since = NEVER;
		if (w == TRI_TRUE) {
			if (a->on_since == NEVER) {
				bool start = r->count < 2 || (edge && edges_satisfied(e, a, now));
				if (start)
					a->on_since = now;
			}
		} else {
			a->on_since = NEVER;
		}
		if (a->on_since != NEVER && now - a->on_since >= r->for_ms) {
			a->on_since = NEVER;
			cond_raise(e, id, now);
		}
	} else {
		a->on_since = NEVER;
		if (c == TRI_TRUE) {
			if (a->off_since == NEVER)
				a->off_since = now;
			if (now - a->off_since >= r->clear_for_ms) {
				a->off_since = NEVER;
				cond_clear(e, id, now);
			}
		} else {
			a->off_since = NEVER;
		}
	}
	alarm_reschedule(e, id);
}

static void evaluate(struct engine *e, int rid, int d, int64_t now)
{
	const struct erule *r = &e->rules[rid];
	struct wctx wc = { e, d, now };
	struct expr_env env = { .values = e->devs[d].values, .window = window_cb, .ctx = &wc };
	enum tri w = expr_eval(r->when, &env);
	enum tri c = r->clear ? expr_eval(r->clear, &env) : tri_not(w);
	alarm_apply(e, r->first_alarm + rule_slot(e, r, d), w, c, now);
}

/* ---------- timers ---------- */

static void engine_unshelve_at(struct engine *e, int d, int64_t now);

static void alarm_timers(struct engine *e, int id, int64_t t)
{
	struct alarm *a = &e->alarms[id];
	const struct erule *r = &e->rules[a->rule];
	if (a->on_since != NEVER && t >= add_sat(a->on_since, r->for_ms)) {
		a->on_since = NEVER;
		cond_raise(e, id, t);
		a = &e->alarms[id];
	}
	if (a->off_since != NEVER && t >= add_sat(a->off_since, r->clear_for_ms)) {
		a->off_since = NEVER;
		cond_clear(e, id, t);
		a = &e->alarms[id];
	}
	if (a->dirty && t >= add_sat(a->last_update_out, r->chatter_window_ms)) {
		a->dirty = false;
		a->last_update_out = t;
		if (!alarm_shelved(e, a))
			emit_alarm(e, a, OUT_UPDATED, t);
	}
	if (a->held && t >= add_sat(a->last_raise, r->chatter_window_ms)) {
		/* Quiet for a whole chatter window: release the hold. */
		a->held = false;
		a->n_chat = 0;
		if (a->dirty) {
			a->dirty = false;
			if (!alarm_shelved(e, a))
				emit_alarm(e, a, OUT_UPDATED, t);
		}
		if (!a->cond && !alarm_shelved(e, a))
			isa_clear(e, a, t);
	}
	if (r->has_escalate && !a->escalated && is_unacked(a) && !alarm_shelved(e, a) &&
	    t >= add_sat(a->unacked_since, r->escalate_after_ms)) {
		a->escalated = true;
		if (r->escalate_severity > 0 && r->escalate_severity < a->severity)
			a->severity = r->escalate_severity;
		emit_alarm(e, a, OUT_ESCALATED, t);
	}
	alarm_reschedule(e, id);
}

/* Runs every timer due at or before now, each at its own deadline. */
static void run_due(struct engine *e, int64_t now)
{
	while (e->heap.n > 0) {
		int id = e->heap.ids[0];
		int64_t t = e->heap.key[id];
		if (t > now)
			break;
		if (t > e->now)
			e->now = t;
		if (id < e->n_alarms) {
			alarm_timers(e, id, t);
		} else {
			heap_set(&e->heap, id, NEVER);
			engine_unshelve_at(e, id - e->n_alarms, t);
		}
	}
	if (now > e->now)
		e->now = now;
}

void engine_tick(struct engine *e, int64_t now_ms)
{
	run_due(e, now_ms);
}

int64_t engine_next_deadline(const struct engine *e)
{
	return e->heap.n > 0 ? e->heap.key[e->heap.ids[0]] : NEVER;
}
/* Back online: every rule of the device is evaluated on what it now reads
 * (offline rules excepted: the online state itself drives those). */
static void evaluate_after_offline(struct engine *e, struct edev *dv, int device, int64_t now_ms)
{
	dv->force_eval = false;
	for (int i = 0; i < dv->n_alarms; i++) {
		const struct alarm *a = &e->alarms[dv->alarms[i]];
		if (e->rules[a->rule].kind != RK_OFFLINE)
			evaluate(e, a->rule, device, now_ms);
	}
}


/* ---------- inputs ---------- */

void engine_point(struct engine *e, int device, int point, const struct point_value *pv, int64_t now_ms)
{
	if (device < 0 || device >= e->n_devs)
		return;
	struct edev *dv = &e->devs[device];
	const struct profile *p = dev_profile(e, device);
	if (point < 0 || point >= p->n_points)
		return;
	run_due(e, now_ms);
	struct point_value old = dv->values[point];
	dv->values[point] = *pv;
	if (dv->hist[point])
		hist_push(dv->hist[point], pv->value, pv->quality == QUALITY_GOOD && isfinite(pv->value), now_ms);
	if (!dv->online)
		return;  /* conditions are unknown while offline */
	if (dv->force_eval) {
		evaluate_after_offline(e, dv, device, now_ms);
		return;
	}
	/* bitwise compare: NaN == NaN here, and -0 differs from 0 harmlessly */
	bool changed = memcmp(&old.value, &pv->value, sizeof old.value) != 0 || old.quality != pv->quality;
	const struct rule_list *rl = &e->prof_rules[dv->profile][point];
	for (int i = 0; i < rl->n; i++) {
		int rid = rl->rules[i];
		if (changed || e->rules[rid].windowed)
			evaluate(e, rid, device, now_ms);
	}
}

/* Stores one update; true when a rule reading it has to be evaluated
 * (the value or quality changed). */
static bool store_update(struct edev *dv, int point, const struct point_value *pv, int64_t now)
{
	struct point_value old = dv->values[point];
	dv->values[point] = *pv;
	if (dv->hist[point])
		hist_push(dv->hist[point], pv->value, pv->quality == QUALITY_GOOD && isfinite(pv->value), now);
	/* bitwise compare as engine_point: NaN == NaN, -0 differs from 0 harmlessly */
	return memcmp(&old.value, &pv->value, sizeof old.value) != 0 || old.quality != pv->quality;
}

#define BATCH_RULES 64   /* distinct rules remembered per batch; past that, evaluated as met */

/* Adds rid to the set; false when the set is full (the caller evaluates it now). */
static bool rule_set_add(int *set, int *n, int rid)
{
	for (int i = 0; i < *n; i++)
		if (set[i] == rid)
			return true;
	if (*n == BATCH_RULES)
		return false;
	set[(*n)++] = rid;
	return true;
}

void engine_points(struct engine *e, int device, const struct engine_update *u, size_t n, int64_t now_ms)
{
	if (device < 0 || device >= e->n_devs)
		return;
	struct edev *dv = &e->devs[device];
	const struct profile *p = dev_profile(e, device);
	run_due(e, now_ms);
	int set[BATCH_RULES], n_set = 0;
	for (size_t k = 0; k < n; k++) {
		int point = u[k].point;
		if (point < 0 || point >= p->n_points)
			continue;
		bool changed = store_update(dv, point, &u[k].pv, now_ms);
		if (!dv->online || dv->force_eval)
			continue;
		const struct rule_list *rl = &e->prof_rules[dv->profile][point];
		for (int i = 0; i < rl->n; i++) {
			int rid = rl->rules[i];
			if ((changed || e->rules[rid].windowed) && !rule_set_add(set, &n_set, rid))
				evaluate(e, rid, device, now_ms);
		}
	}
	if (!dv->online)
		return; /* conditions are unknown while offline */
	if (dv->force_eval) {
		evaluate_after_offline(e, dv, device, now_ms);
		return;
	}
	for (int i = 0; i < n_set; i++)
		evaluate(e, set[i], device, now_ms);
}

void engine_device_online(struct engine *e, int device, bool online, int64_t now_ms)
{
	if (device < 0 || device >= e->n_devs)
		return;
	run_due(e, now_ms);
	struct edev *dv = &e->devs[device];
	if (dv->online == online)
		return;
	dv->online = online;
	for (int i = 0; i < dv->n_alarms; i++) {
		int id = dv->alarms[i];
		struct alarm *a = &e->alarms[id];
		if (e->rules[a->rule].kind == RK_OFFLINE) {
			if (online && a->cond)
				cond_clear(e, id, now_ms);
			else if (!online && !a->cond)
				cond_raise(e, id, now_ms);
		} else if (!online) {
			/* unknown from now on: running delays stop */
			a->on_since = NEVER;
			a->off_since = NEVER;
		}
		alarm_reschedule(e, id);
	}
	/* back online: the next update re-evaluates every rule of the device */
	dv->force_eval = online;
}

/* ---------- key lookup ---------- */

static int find_alarm(const struct engine *e, const char *key)
{
	for (const char *sl = strchr(key, '/'); sl; sl = strchr(sl + 1, '/')) {
		size_t idlen = (size_t)(sl - key);
		const char *rest = sl + 1;
		for (int ri = 0; ri < e->n_rules; ri++) {
			const struct erule *r = &e->rules[ri];
			if (strlen(r->id) != idlen || strncmp(r->id, key, idlen) != 0)
				continue;
			for (int g = 0; g < r->n_groups; g++)
				if (strcmp(r->group_keys[g], rest) == 0)
					return r->first_group_alarm + g;
			int d = config_find_device(e->cfg, rest);
			if (d < 0)
				continue;
			if (r->profile >= 0 && e->devs[d].profile != r->profile)
				continue;
			return r->first_alarm + rule_slot(e, r, d);
		}
	}
	return -1;
}

/* ---------- operator actions ---------- */

int engine_ack(struct engine *e, const char *key, int64_t now_ms)
{
	run_due(e, now_ms);
	int id = find_alarm(e, key);
	if (id < 0)
		return -ENOENT;
	struct alarm *a = &e->alarms[id];
	if (a->state == ALARM_NORMAL)
		return -EINVAL;
	if (a->acked)
		return 0;
	a->acked = true;
	if (a->state == ALARM_ACTIVE_UNACKED)
		a->state = ALARM_ACTIVE_ACKED;
	else if (a->state == ALARM_RTN_UNACKED)
		a->state = ALARM_NORMAL;
	emit_alarm(e, a, OUT_ACKED, now_ms);
	if (a->state == ALARM_NORMAL)
		emit_alarm(e, a, OUT_NORMAL, now_ms);
	alarm_reschedule(e, id);
	return 0;
}

int engine_incident_closed(struct engine *e, const char *key, int64_t now_ms)
{
	run_due(e, now_ms);
	int id = find_alarm(e, key);
	if (id < 0)
		return -ENOENT;
	e->alarms[id].incident_open = false;
	return 0;
}

int engine_restore_alarm(struct engine *e, const char *key, bool active, bool acked, uint32_t count,
			 int severity, int64_t now_ms)
{
	int id = find_alarm(e, key);
	if (id < 0)
		return -ENOENT;
	struct alarm *a = &e->alarms[id];
	const struct erule *r = &e->rules[a->rule];
	a->incident_open = true;
	a->acked = acked;
	a->count = count;
	a->severity = severity;
	a->escalated = severity != (a->group >= 0 ? r->confirmed_severity : r->severity);
	if (active) {
		/* As if the condition had been true all along: the first fresh
		 * evaluation that finds it false clears the alarm (and runs its
		 * on_clear actions), one that finds it true raises nothing new. */
		a->state = acked ? ALARM_ACTIVE_ACKED : ALARM_ACTIVE_UNACKED;
		a->cond = true;
		a->last_w = true;
		a->last_raise = now_ms;
		a->corr_raise = now_ms;
		a->unacked_since = now_ms;
		if (r->kind == RK_OFFLINE && a->group < 0)
			e->devs[a->device].online = false; /* cleared by the first good read */
	} else {
		a->state = acked ? ALARM_NORMAL : ALARM_RTN_UNACKED;
	}
	alarm_reschedule(e, id);
	return 0;
}

int engine_shelve_device(struct engine *e, int device, int64_t until_ms, int64_t now_ms)
{
	if (device < 0 || device >= e->n_devs)
		return -ENOENT;
	if (until_ms <= now_ms)
		return -EINVAL;
	run_due(e, now_ms);
	struct edev *dv = &e->devs[device];
	if (!dv->shelved) {
		dv->shelved = true;
		for (int i = 0; i < dv->n_alarms; i++) {
			int id = dv->alarms[i];
			struct alarm *a = &e->alarms[id];
			a->suppressed_at = NEVER;  /* what this shelve suppresses, from now */
			a->n_suppressed = 0;
			if (a->state != ALARM_NORMAL) {
				a->shelved_out = true;
				emit_alarm(e, a, OUT_SHELVED, now_ms);
			}
			alarm_reschedule(e, id);  /* escalation pauses */
		}
	}
	dv->shelve_until = until_ms;
	heap_set(&e->heap, e->n_alarms + device, until_ms);
	return 0;
}

/* The end of a shelve for a condition that rose during it. That raise is
 * dropped: a detector that was tested and is clearing (clear_for still
 * running) or has cleared raises nothing. One still in alarm starts over as
 * a condition that has just become true, so it is a new raise once the
 * rule's on-delay has run from now. device.offline has no on-delay of its
 * own here (the bus already waited before calling the device offline): a
 * device still offline is raised now. */
static void unshelve_shelved_cond(struct engine *e, int id, int64_t now)
{
	struct alarm *a = &e->alarms[id];
	const struct erule *r = &e->rules[a->rule];
	a->shelved_cond = false;
	if (r->kind == RK_OFFLINE) {
		if (!is_active(a))
			isa_raise(e, id, now);
		return;
	}
	bool still = e->devs[a->device].online && a->last_w && a->off_since == NEVER;
	a->cond = false;
	a->off_since = NEVER;
	a->on_since = still ? now : NEVER;
	if (is_active(a) && !a->held)
		isa_clear(e, a, now);  /* shown active from before the shelve, its condition gone meanwhile */
}

static void engine_unshelve_at(struct engine *e, int device, int64_t now)
{
	struct edev *dv = &e->devs[device];
	if (!dv->shelved)
		return;
	dv->shelved = false;
	dv->shelve_until = 0;
	heap_set(&e->heap, e->n_alarms + device, NEVER);
	for (int i = 0; i < dv->n_alarms; i++) {
		int id = dv->alarms[i];
		struct alarm *a = &e->alarms[id];
		a->suppressed_at = NEVER;
		a->n_suppressed = 0;
		if (a->shelved_out) {
			a->shelved_out = false;
			emit_alarm(e, a, OUT_UNSHELVED, now);
		}
		if (a->shelved_cond) {
			unshelve_shelved_cond(e, id, now);
		} else if (a->on_since != NEVER) {
			/* rising while shelved: the whole on-delay runs from the unshelve */
			a->on_since = now;
		} else if (a->cond && !is_active(a)) {
			isa_raise(e, id, now);  /* silent alarms only: nothing to show */
		} else if (!a->cond && is_active(a) && !a->held) {
			isa_clear(e, a, now);
		}
		alarm_reschedule(e, id);
	}
}

int engine_unshelve_device(struct engine *e, int device, int64_t now_ms)
{
	if (device < 0 || device >= e->n_devs)
		return -ENOENT;
	run_due(e, now_ms);
	if (!e->devs[device].shelved)
		return -EINVAL;
	engine_unshelve_at(e, device, now_ms);
	return 0;
}

/* ---------- introspection ---------- */

int engine_rule_count(const struct engine *e)
{
	return e->n_rules;
}

const char *engine_rule_id(const struct engine *e, int rule)
{
	return rule >= 0 && rule < e->n_rules ? e->rules[rule].id : NULL;
}

const struct point_value *engine_device_values(const struct engine *e, int device)
{
	return device >= 0 && device < e->n_devs ? e->devs[device].values : NULL;
}

bool engine_device_is_online(const struct engine *e, int device)
{
	return device >= 0 && device < e->n_devs && e->devs[device].online;
}

bool engine_device_is_shelved(const struct engine *e, int device, int64_t now_ms)
{
	return device >= 0 && device < e->n_devs && e->devs[device].shelved &&
	       e->devs[device].shelve_until > now_ms;
}

int64_t engine_device_shelved_until(const struct engine *e, int device, int64_t now_ms)
{
	return engine_device_is_shelved(e, device, now_ms) ? e->devs[device].shelve_until : 0;
}

int engine_device_suppressed(const struct engine *e, int device, struct engine_suppressed *out, int max)
{
	if (device < 0 || device >= e->n_devs || !e->devs[device].shelved)
		return 0;
	const struct edev *dv = &e->devs[device];
	int n = 0;
	for (int i = 0; i < dv->n_alarms && n < max; i++) {
		const struct alarm *a = &e->alarms[dv->alarms[i]];
		if (a->n_suppressed == 0 || alarm_silent(e, a))
			continue;
		out[n++] = (struct engine_suppressed){ .rule = a->rule, .type = e->rules[a->rule].type,
						       .at_ms = a->suppressed_at, .count = a->n_suppressed,
						       .active = a->shelved_cond,
						       .clearing = a->shelved_cond && a->off_since != NEVER };
	}
	return n;
}

int engine_device_pending(const struct engine *e, int device, struct engine_pending *out, int max)
{
	if (device < 0 || device >= e->n_devs || e->devs[device].shelved)
		return 0;
	const struct edev *dv = &e->devs[device];
	int n = 0;
	for (int i = 0; i < dv->n_alarms && n < max; i++) {
		const struct alarm *a = &e->alarms[dv->alarms[i]];
		if (a->cond || a->on_since == NEVER || alarm_silent(e, a))
			continue;
		const struct erule *r = &e->rules[a->rule];
		out[n++] = (struct engine_pending){ .rule = a->rule, .type = r->type,
						    .due_ms = add_sat(a->on_since, r->for_ms) };
	}
	return n;
}

enum alarm_state engine_alarm_state(const struct engine *e, const char *key)
{
	int id = find_alarm(e, key);
	return id < 0 ? ALARM_NORMAL : (enum alarm_state)e->alarms[id].state;
}
