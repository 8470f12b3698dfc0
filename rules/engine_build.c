/* engine_build — builds an engine from a configuration (engine_create),
 * frees it, and moves alarm state across a reload (engine_adopt_state).
 * Everything the update path touches is allocated here, once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/engine_impl.h"

/* Counts bytes for one arena-style pool, then hands out aligned pieces. */
static void set_err_public(char *err, size_t len, const char *fmt, const char *a)
{
	if (err && len)
		snprintf(err, len, fmt, a);
}

struct pool {
	char *base;
	size_t used, size;
};

static void *pool_take(struct pool *p, size_t bytes)
{
	size_t at = (p->used + 15) & ~(size_t)15;
	p->used = at + bytes;
	return p->base ? p->base + at : NULL;
}

static int pool_alloc(struct pool *p)
{
	p->size = p->used + 16;
	p->used = 0;
	p->base = calloc(1, p->size);
	return p->base ? 0 : -1;
}

static const char *builtin_id(enum rule_kind k)
{
	switch (k) {
	case RK_OFFLINE: return "device.offline";
	case RK_BATTERY: return "device.battery_low";
	case RK_FAULT: return "device.fault";
	case RK_TAMPER: return "device.tamper";
	default: return "";
	}
}

static const char *builtin_message(enum rule_kind k)
{
	switch (k) {
	case RK_OFFLINE: return "Device {device} offline";
	case RK_BATTERY: return "Battery low on {device}";
	case RK_FAULT: return "Fault on {device}";
	case RK_TAMPER: return "Tamper on {device}";
	default: return NULL;
	}
}

static const struct builtin_rule_config *builtin_cfg(const struct gw_config *cfg, enum rule_kind k)
{
	switch (k) {
	case RK_OFFLINE: return &cfg->builtins.offline;
	case RK_BATTERY: return &cfg->builtins.battery_low;
	case RK_FAULT: return &cfg->builtins.fault;
	default: return &cfg->builtins.tamper;
	}
}

static const char *builtin_point(const struct builtin_rule_config *b, enum rule_kind k)
{
	if (b->point && b->point[0])
		return b->point;
	return k == RK_BATTERY ? "battery" : k == RK_FAULT ? "fault" : "tamper";
}

static int builtin_severity(const struct builtin_rule_config *b, enum rule_kind k)
{
	if (b->severity >= 1 && b->severity <= 4)
		return b->severity;
	return k == RK_OFFLINE ? 3 : k == RK_BATTERY ? 4 : k == RK_FAULT ? 3 : 2;
}

static int count_builtin_rules(const struct gw_config *cfg)
{
	int n = cfg->builtins.offline.enabled ? 1 : 0;
	for (enum rule_kind k = RK_BATTERY; k <= RK_TAMPER; k++) {
		const struct builtin_rule_config *b = builtin_cfg(cfg, k);
		if (!b->enabled)
			continue;
		for (int p = 0; p < cfg->n_profiles; p++)
			if (config_find_point(&cfg->profiles[p], builtin_point(b, k)) >= 0)
				n++;
	}
	return n;
}

static void add_evidence(struct erule *r, const struct expr *x)
{
	if (!x)
		return;
	const int *pts;
	int n = expr_points(x, &pts);
	for (int i = 0; i < n; i++) {
		bool seen = false;
		for (int j = 0; j < r->n_ev; j++)
			seen |= r->ev_points[j] == pts[i];
		if (!seen && r->n_ev < ENGINE_EVIDENCE_MAX)
			r->ev_points[r->n_ev++] = pts[i];
	}
	if (expr_max_window_ms(x) > 0)
		r->windowed = true;
}

static int compile_rule_exprs(struct erule *r, const struct profile *prof, const char *when, const char *clear,
			      char *err, size_t errlen)
{
	char msg[192];
	r->when = expr_compile(when, prof, msg, sizeof msg);
	if (!r->when) {
		if (err && errlen)
			snprintf(err, errlen, "rule %s: when: %s", r->id, msg);
		return -1;
	}
	if (clear) {
		r->clear = expr_compile(clear, prof, msg, sizeof msg);
		if (!r->clear) {
			if (err && errlen)
				snprintf(err, errlen, "rule %s: clear_when: %s", r->id, msg);
			return -1;
		}
	}
	add_evidence(r, r->when);
	add_evidence(r, r->clear);
	return 0;
}

static int resolve_actions(const struct gw_config *cfg, struct erule *r, const struct action_config *acts, int n,
			   int **out, char *err, size_t errlen)
{
	*out = calloc((size_t)(n > 0 ? n : 1), sizeof **out);
	if (!*out) {
		set_err_public(err, errlen, "out of memory", "");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		(*out)[i] = -1;
		if (acts[i].kind != ACTION_WRITE)
			continue;
		if (acts[i].device >= cfg->n_devices) {
			set_err_public(err, errlen, "rule %s: action device out of range", r->id);
			return -1;
		}
		int prof = acts[i].device >= 0 ? cfg->devices[acts[i].device].profile : r->profile;
		int pt = acts[i].point_name ? config_find_point(&cfg->profiles[prof], acts[i].point_name) : -1;
		if (pt < 0) {
			if (err && errlen)
				snprintf(err, errlen, "rule %s: action writes unknown point '%s'", r->id,
					 acts[i].point_name ? acts[i].point_name : "");
			return -1;
		}
		(*out)[i] = pt;
	}
	return 0;
}

static int64_t window_or_forever(int64_t ms)
{
	return ms > 0 ? ms : INT64_MAX / 4;
}

static int setup_user_rule(const struct gw_config *cfg, const struct rule_config *rc, struct erule *r, char *err,
			   size_t errlen)
{
	r->id = rc->id;
	r->kind = RK_USER;
	r->cfg = rc;
	r->profile = rc->profile;
	r->type = rc->type ? rc->type : rc->id;
	r->message = rc->message;
	r->severity = rc->severity >= 1 && rc->severity <= 4 ? rc->severity : 3;
	r->for_ms = rc->for_ms > 0 ? rc->for_ms : 0;
	r->clear_for_ms = rc->clear_for_ms > 0 ? rc->clear_for_ms : 0;
	r->within_ms = window_or_forever(rc->within_ms);
	r->count = rc->count >= 2 ? rc->count : 0;
	r->latch = rc->latch;
	r->has_escalate = rc->has_escalate;
	r->escalate_after_ms = rc->escalate_after_ms > 0 ? rc->escalate_after_ms : 0;
	r->escalate_severity = rc->escalate_severity;
	r->chatter_max = rc->chatter_max > 0 ? rc->chatter_max : 0;
	r->chatter_window_ms = rc->chatter_window_ms > 0 ? rc->chatter_window_ms : 60000;
	r->group = rc->group;
	r->min_devices = rc->min_devices >= 1 ? rc->min_devices : 2;
	r->confirmed_type = rule_confirmed_type(rc);
	r->group_only = rule_is_correlation_only(rc);
	r->confirmed_severity = rc->confirmed_severity >= 1 && rc->confirmed_severity <= 4 ? rc->confirmed_severity : 1;
	if (r->count > RING_MAX || r->chatter_max > RING_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "rule %s: count and chatter_max must be at most %d", r->id, RING_MAX);
		return -1;
	}
	if (rc->profile < 0 || rc->profile >= cfg->n_profiles) {
		set_err_public(err, errlen, "rule %s: no profile", r->id);
		return -1;
	}
	if (compile_rule_exprs(r, &cfg->profiles[rc->profile], rc->when, rc->clear_when, err, errlen) != 0)
		return -1;
	if (resolve_actions(cfg, r, rc->on_raise, rc->n_on_raise, &r->raise_points, err, errlen) != 0 ||
	    resolve_actions(cfg, r, rc->on_clear, rc->n_on_clear, &r->clear_points, err, errlen) != 0)
		return -1;
	return 0;
}

static int setup_builtin_rule(const struct gw_config *cfg, enum rule_kind k, int profile, struct erule *r, char *err,
			      size_t errlen)
{
	const struct builtin_rule_config *b = builtin_cfg(cfg, k);
	r->id = builtin_id(k);
	r->kind = k;
	r->profile = profile;
	r->type = r->id;
	r->message = builtin_message(k);
	r->severity = builtin_severity(b, k);
	r->within_ms = window_or_forever(0);
	r->chatter_window_ms = 60000;
	r->min_devices = 2;
	r->confirmed_type = r->type;
	r->confirmed_severity = r->severity;
	if (k == RK_OFFLINE)
		return 0;
	char when[160], clear[160];
	const char *pt = builtin_point(b, k);
	if (k == RK_BATTERY) {
		double lo = b->threshold, hi = b->clear_threshold;
		if (hi < lo)
			hi = lo;
		snprintf(when, sizeof when, "%s < %.17g", pt, lo);
		snprintf(clear, sizeof clear, "%s >= %.17g", pt, hi);
		return compile_rule_exprs(r, &cfg->profiles[profile], when, clear, err, errlen);
	}
	snprintf(when, sizeof when, "%s", pt);
	return compile_rule_exprs(r, &cfg->profiles[profile], when, NULL, err, errlen);
}

static int build_rules(struct engine *e, char *err, size_t errlen)
{
	const struct gw_config *cfg = e->cfg;
	int n = count_builtin_rules(cfg);
	for (int i = 0; i < cfg->n_rules; i++)
		n += cfg->rules[i].enabled ? 1 : 0;
	e->rules = calloc((size_t)(n > 0 ? n : 1), sizeof *e->rules);
	if (!e->rules)
		return -1;
	for (int i = 0; i < cfg->n_rules; i++) {
		if (!cfg->rules[i].enabled)
			continue;
		if (setup_user_rule(cfg, &cfg->rules[i], &e->rules[e->n_rules++], err, errlen) != 0)
			return -1;
	}
	if (cfg->builtins.offline.enabled &&
	    setup_builtin_rule(cfg, RK_OFFLINE, -1, &e->rules[e->n_rules++], err, errlen) != 0)
		return -1;
	for (enum rule_kind k = RK_BATTERY; k <= RK_TAMPER; k++) {
		const struct builtin_rule_config *b = builtin_cfg(cfg, k);
		if (!b->enabled)
			continue;
		for (int p = 0; p < cfg->n_profiles; p++) {
			if (config_find_point(&cfg->profiles[p], builtin_point(b, k)) < 0)
				continue;
			if (setup_builtin_rule(cfg, k, p, &e->rules[e->n_rules++], err, errlen) != 0)
				return -1;
		}
	}
	return 0;
}

/* The correlation group key of device d for rule r, or false when the
 * device's location lacks a field the grouping needs. */
static bool group_key(const struct device_config *dc, enum group_by g, char *buf, size_t len)
{
	const struct location *l = &dc->location;
	if (!l->building)
		return false;
	if (g == GROUP_BUILDING) {
		snprintf(buf, len, "b%s", l->building);
		return true;
	}
	if (!l->entrance)
		return false;
	if (g == GROUP_ENTRANCE) {
		snprintf(buf, len, "b%s-e%s", l->building, l->entrance);
		return true;
	}
	if (!l->has_floor)
		return false;
	snprintf(buf, len, "b%s-e%s-f%d", l->building, l->entrance, l->floor);
	return true;
}

static int build_groups(struct engine *e, struct erule *r, const int *slot_dev)
{
	r->slot_group = malloc((size_t)(r->n_slots > 0 ? r->n_slots : 1) * sizeof *r->slot_group);
	r->group_keys = calloc((size_t)(r->n_slots > 0 ? r->n_slots : 1), sizeof *r->group_keys);
	if (!r->slot_group || !r->group_keys)
		return -1;
	for (int s = 0; s < r->n_slots; s++) {
		char key[ENGINE_KEY_MAX];
		r->slot_group[s] = -1;
		if (r->group == GROUP_NONE || !group_key(&e->cfg->devices[slot_dev[s]], r->group, key, sizeof key))
			continue;
		int g = 0;
		while (g < r->n_groups && strcmp(r->group_keys[g], key) != 0)
			g++;
		if (g == r->n_groups) {
			r->group_keys[g] = strdup(key);
			if (!r->group_keys[g])
				return -1;
			r->n_groups++;
		}
		r->slot_group[s] = g;
	}
	return 0;
}

static void init_alarm(struct alarm *a, int rule, int device, int group, int slot, int severity)
{
	memset(a, 0, sizeof *a);
	a->rule = rule;
	a->device = device;
	a->group = group;
	a->slot = slot;
	a->state = ALARM_NORMAL;
	a->severity = severity;
	a->on_since = a->off_since = NEVER;
	a->last_raise = NEVER;
	a->corr_raise = NEVER;
	a->suppressed_at = NEVER;
}

static int build_alarms(struct engine *e)
{
	const struct gw_config *cfg = e->cfg;
	/* devices of each profile, in order: slot -> device */
	int **prof_devs = calloc((size_t)(cfg->n_profiles > 0 ? cfg->n_profiles : 1), sizeof *prof_devs);
	int *all = malloc((size_t)(e->n_devs > 0 ? e->n_devs : 1) * sizeof *all);
	int rc = -1;
	if (!prof_devs || !all)
		goto out;
	for (int d = 0; d < e->n_devs; d++)
		all[d] = d;
	for (int p = 0; p < cfg->n_profiles; p++) {
		prof_devs[p] = malloc((size_t)(e->prof_n_devs[p] > 0 ? e->prof_n_devs[p] : 1) * sizeof **prof_devs);
		if (!prof_devs[p])
			goto out;
	}
	for (int d = 0; d < e->n_devs; d++)
		prof_devs[e->devs[d].profile][e->devs[d].pslot] = d;
	int n = 0;
	for (int i = 0; i < e->n_rules; i++) {
		struct erule *r = &e->rules[i];
		r->n_slots = r->profile < 0 ? e->n_devs : e->prof_n_devs[r->profile];
		if (build_groups(e, r, r->profile < 0 ? all : prof_devs[r->profile]) != 0)
			goto out;
		r->first_alarm = n;
		r->first_group_alarm = n + r->n_slots;
		n += r->n_slots + r->n_groups;
		if (r->count >= 2) {
			r->edge_pool = calloc((size_t)r->n_slots * (size_t)r->count + 1, sizeof *r->edge_pool);
			if (!r->edge_pool)
				goto out;
		}
		if (r->chatter_max > 0) {
			size_t cnt = (size_t)(r->n_slots + r->n_groups) * (size_t)(r->chatter_max + 1);
			r->chatter_pool = calloc(cnt + 1, sizeof *r->chatter_pool);
			if (!r->chatter_pool)
				goto out;
		}
	}
	e->n_alarms = n;
	e->alarms = calloc((size_t)(n > 0 ? n : 1), sizeof *e->alarms);
	if (!e->alarms)
		goto out;
	for (int i = 0; i < e->n_rules; i++) {
		struct erule *r = &e->rules[i];
		const int *sd = r->profile < 0 ? all : prof_devs[r->profile];
		for (int s = 0; s < r->n_slots; s++) {
			init_alarm(&e->alarms[r->first_alarm + s], i, sd[s], -1, s, r->severity);
			e->devs[sd[s]].n_alarms++;
		}
		for (int g = 0; g < r->n_groups; g++) {
			int first = 0;
			for (int s = 0; s < r->n_slots; s++)
				if (r->slot_group[s] == g) {
					first = sd[s];
					break;
				}
			init_alarm(&e->alarms[r->first_group_alarm + g], i, first, g, r->n_slots + g,
				   r->confirmed_severity);
		}
	}
	rc = 0;
out:
	if (prof_devs)
		for (int p = 0; p < cfg->n_profiles; p++)
			free(prof_devs[p]);
	free(prof_devs);
	free(all);
	return rc;
}

static bool expr_reads(const struct expr *x, int k)
{
	const int *pts;
	int n = x ? expr_points(x, &pts) : 0;
	for (int j = 0; j < n; j++)
		if (pts[j] == k)
			return true;
	return false;
}

static bool rule_reads(const struct erule *r, int k)
{
	return expr_reads(r->when, k) || expr_reads(r->clear, k);
}

/* Values, window histories, per-device alarm lists and the per-(profile,
 * point) rule index, all from pools. */
/* The longest window any rule of its profile uses on each point. */
static int64_t **profile_windows(const struct engine *e)
{
	const struct gw_config *cfg = e->cfg;
	int64_t **pwin = calloc((size_t)cfg->n_profiles + 1, sizeof *pwin);
	if (!pwin)
		return NULL;
	for (int p = 0; p < cfg->n_profiles; p++) {
		pwin[p] = calloc((size_t)cfg->profiles[p].n_points + 1, sizeof **pwin);
		if (!pwin[p])
			return pwin;  /* caller sees the NULL row */
	}
	for (int i = 0; i < e->n_rules; i++) {
		const struct erule *r = &e->rules[i];
		if (r->profile < 0 || !r->windowed)
			continue;
		for (int k = 0; k < cfg->profiles[r->profile].n_points; k++) {
			int64_t w1 = expr_point_window_ms(r->when, k);
			int64_t w2 = r->clear ? expr_point_window_ms(r->clear, k) : 0;
			int64_t *w = &pwin[r->profile][k];
			*w = w1 > *w ? w1 : *w;
			*w = w2 > *w ? w2 : *w;
		}
	}
	return pwin;
}

static void free_windows(int64_t **pwin, int n)
{
	if (!pwin)
		return;
	for (int p = 0; p < n; p++)
		free(pwin[p]);
	free(pwin);
}

static int build_devices(struct engine *e)
{
	const struct gw_config *cfg = e->cfg;
	struct pool pv = { 0 }, ph = { 0 }, pa = { 0 }, pr = { 0 };
	int64_t **pwin = profile_windows(e);
	bool ok = pwin != NULL;
	for (int p = 0; ok && p < cfg->n_profiles; p++)
		ok = pwin[p] != NULL;
	if (!ok)
		goto fail;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && (pool_alloc(&pv) || pool_alloc(&ph) || pool_alloc(&pa) || pool_alloc(&pr)))
			goto fail;
		e->prof_rules = pool_take(&pr, (size_t)(cfg->n_profiles + 1) * sizeof *e->prof_rules);
		for (int p = 0; p < cfg->n_profiles; p++) {
			int np = cfg->profiles[p].n_points;
			struct rule_list *lists = pool_take(&pr, (size_t)(np + 1) * sizeof *lists);
			if (e->prof_rules)
				e->prof_rules[p] = lists;
			for (int k = 0; k < np; k++) {
				int cnt = 0;
				for (int i = 0; i < e->n_rules; i++)
					cnt += e->rules[i].profile == p && rule_reads(&e->rules[i], k);
				int *rl = pool_take(&pr, (size_t)(cnt + 1) * sizeof *rl);
				if (lists && pass == 1) {
					lists[k].rules = rl;
					lists[k].n = cnt;
				}
			}
		}
		for (int d = 0; d < e->n_devs; d++) {
			struct edev *dv = &e->devs[d];
			const struct profile *prof = &cfg->profiles[dv->profile];
			dv->values = pool_take(&pv, (size_t)(prof->n_points + 1) * sizeof *dv->values);
			dv->hist = pool_take(&pv, (size_t)(prof->n_points + 1) * sizeof *dv->hist);
			dv->alarms = pool_take(&pa, (size_t)(dv->n_alarms + 1) * sizeof *dv->alarms);
			for (int k = 0; k < prof->n_points; k++) {
				int64_t win = pwin[dv->profile][k];
				if (win <= 0)
					continue;
				struct whist *h = pool_take(&ph, sizeof *h);
				if (dv->hist) {
					dv->hist[k] = h;
					h->merge_ms = win / (WIN_SLOTS - 4) > 0 ? win / (WIN_SLOTS - 4) : 1;
				}
			}
		}
	}
	/* the rule index: which rules read each point of each profile */
	for (int p = 0; p < cfg->n_profiles; p++)
		for (int k = 0; k < cfg->profiles[p].n_points; k++) {
			int cnt = 0;
			for (int i = 0; i < e->n_rules && cnt < e->prof_rules[p][k].n; i++)
				if (e->rules[i].profile == p && rule_reads(&e->rules[i], k))
					e->prof_rules[p][k].rules[cnt++] = i;
		}
	for (int d = 0; d < e->n_devs; d++) {
		struct edev *dv = &e->devs[d];
		for (int k = 0; k < cfg->profiles[dv->profile].n_points; k++)
			dv->values[k] = (struct point_value){ .value = 0, .quality = QUALITY_NEVER_READ, .ts_ms = 0 };
		dv->n_alarms = 0;
	}
	for (int i = 0; i < e->n_alarms; i++) {
		struct alarm *a = &e->alarms[i];
		if (a->group < 0) {
			struct edev *dv = &e->devs[a->device];
			dv->alarms[dv->n_alarms++] = i;
		}
	}
	e->pool_values = pv.base;
	e->pool_hist = ph.base;
	e->pool_dev_alarms = pa.base;
	e->pool_rule_lists = pr.base;
	free_windows(pwin, cfg->n_profiles);
	return 0;
fail:
	free_windows(pwin, cfg->n_profiles);
	free(pv.base);
	free(ph.base);
	free(pa.base);
	free(pr.base);
	e->prof_rules = NULL;
	return -1;
}

static int build_heap_and_queue(struct engine *e)
{
	int n = e->n_alarms + e->n_devs;
	e->heap.ids = malloc((size_t)(n + 1) * sizeof *e->heap.ids);
	e->heap.pos = malloc((size_t)(n + 1) * sizeof *e->heap.pos);
	e->heap.key = malloc((size_t)(n + 1) * sizeof *e->heap.key);
	e->q_cap = OUT_INITIAL;
	e->q = malloc(e->q_cap * sizeof *e->q);
	if (!e->heap.ids || !e->heap.pos || !e->heap.key || !e->q)
		return -1;
	for (int i = 0; i < n; i++) {
		e->heap.pos[i] = -1;
		e->heap.key[i] = NEVER;
	}
	return 0;
}

struct engine *engine_create(const struct gw_config *cfg, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	struct engine *e = calloc(1, sizeof *e);
	if (!e) {
		set_err_public(err, errlen, "out of memory%s", "");
		return NULL;
	}
	e->cfg = cfg;
	e->n_devs = cfg->n_devices;
	e->devs = calloc((size_t)e->n_devs + 1, sizeof *e->devs);
	e->prof_n_devs = calloc((size_t)cfg->n_profiles + 1, sizeof *e->prof_n_devs);
	if (!e->devs || !e->prof_n_devs)
		goto oom;
	for (int d = 0; d < e->n_devs; d++) {
		int p = cfg->devices[d].profile;
		if (p < 0 || p >= cfg->n_profiles) {
			set_err_public(err, errlen, "device %s: no profile", cfg->devices[d].id);
			engine_destroy(e);
			return NULL;
		}
		e->devs[d].profile = p;
		e->devs[d].pslot = e->prof_n_devs[p]++;
		e->devs[d].online = true;
	}
	if (build_rules(e, err, errlen) != 0) {
		if (err && errlen && !err[0])
			snprintf(err, errlen, "out of memory");
		engine_destroy(e);
		return NULL;
	}
	if (build_alarms(e) != 0 || build_devices(e) != 0 || build_heap_and_queue(e) != 0)
		goto oom;
	return e;
oom:
	set_err_public(err, errlen, "out of memory%s", "");
	engine_destroy(e);
	return NULL;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->n_rules; i++) {
		struct erule *r = &e->rules[i];
		expr_free(r->when);
		expr_free(r->clear);
		free(r->raise_points);
		free(r->clear_points);
		free(r->edge_pool);
		free(r->chatter_pool);
		free(r->slot_group);
		if (r->group_keys)
			for (int g = 0; g < r->n_groups; g++)
				free(r->group_keys[g]);
		free(r->group_keys);
	}
	free(e->rules);
	free(e->alarms);
	free(e->devs);
	free(e->prof_n_devs);
	free(e->heap.ids);
	free(e->heap.pos);
	free(e->heap.key);
	free(e->q);
	free(e->pool_values);
	free(e->pool_hist);
	free(e->pool_dev_alarms);
	free(e->pool_rule_lists);
	free(e);
}

/* ---------- reload ---------- */

static const char *rule_profile_name(const struct engine *e, const struct erule *r)
{
	return r->profile < 0 ? "" : e->cfg->profiles[r->profile].name;
}

static const struct erule *old_rule_for(const struct engine *old, const struct engine *e, const struct erule *r)
{
	for (int i = 0; i < old->n_rules; i++) {
		const struct erule *o = &old->rules[i];
		if (o->kind == r->kind && strcmp(o->id, r->id) == 0 &&
		    strcmp(rule_profile_name(old, o), rule_profile_name(e, r)) == 0)
			return o;
	}
	return NULL;
}

static void copy_alarm_state(struct alarm *to, const struct alarm *from)
{
	to->state = from->state;
	to->cond = from->cond;
	to->last_w = from->last_w;
	to->acked = from->acked;
	to->incident_open = from->incident_open;
	to->escalated = from->escalated;
	to->held = from->held;
	to->dirty = from->dirty;
	to->shelved_out = from->shelved_out;
	to->shelved_cond = from->shelved_cond;
	to->severity = from->severity;
	to->count = from->count;
	to->on_since = from->on_since;
	to->off_since = from->off_since;
	to->unacked_since = from->unacked_since;
	to->last_raise = from->last_raise;
	to->corr_raise = from->corr_raise;
	to->suppressed_at = from->suppressed_at;
	to->n_suppressed = from->n_suppressed;
	to->last_update_out = from->last_update_out;
}

static void adopt_devices(struct engine *e, const struct engine *old)
{
	for (int d = 0; d < e->n_devs; d++) {
		int od = config_find_device(old->cfg, e->cfg->devices[d].id);
		if (od < 0)
			continue;
		struct edev *dv = &e->devs[d];
		const struct edev *ov = &old->devs[od];
		const struct profile *np = &e->cfg->profiles[dv->profile];
		const struct profile *op = &old->cfg->profiles[ov->profile];
		for (int k = 0; k < np->n_points; k++) {
			int ok = config_find_point(op, np->points[k].name);
			if (ok >= 0)
				dv->values[k] = ov->values[ok];
		}
		dv->online = ov->online;
		dv->shelved = ov->shelved;
		dv->shelve_until = ov->shelve_until;
		if (dv->shelved)
			engine_timer_set(e, e->n_alarms + d, dv->shelve_until);
	}
}

void engine_adopt_state(struct engine *e, struct engine *old)
{
	if (!e || !old)
		return;
	adopt_devices(e, old);
	for (int i = 0; i < e->n_rules; i++) {
		struct erule *r = &e->rules[i];
		const struct erule *o = old_rule_for(old, e, r);
		if (!o)
			continue;
		for (int s = 0; s < r->n_slots; s++) {
			struct alarm *a = &e->alarms[r->first_alarm + s];
			int od = config_find_device(old->cfg, e->cfg->devices[a->device].id);
			if (od < 0 || (o->profile >= 0 && old->devs[od].profile != o->profile))
				continue;
			int os = o->profile < 0 ? od : old->devs[od].pslot;
			copy_alarm_state(a, &old->alarms[o->first_alarm + os]);
		}
		for (int g = 0; g < r->n_groups; g++) {
			for (int og = 0; og < o->n_groups; og++) {
				if (strcmp(r->group_keys[g], o->group_keys[og]) != 0)
					continue;
				struct alarm *a = &e->alarms[r->first_group_alarm + g];
				const struct alarm *f = &old->alarms[o->first_group_alarm + og];
				copy_alarm_state(a, f);
				int nd = config_find_device(e->cfg, old->cfg->devices[f->device].id);
				if (nd >= 0)
					a->device = nd;
				break;
			}
		}
	}
	for (int d = 0; d < e->n_devs; d++)
		e->devs[d].force_eval = true;  /* rules may have changed: re-evaluate on the next update */
	for (int i = 0; i < e->n_alarms; i++)
		engine_alarm_reschedule(e, i);
}
