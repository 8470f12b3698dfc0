/* config_refs — devices and rules: the parts of the configuration that
 * name other parts. Read after buses, sources and profiles, so every name
 * is resolved to an index here and a dangling or mismatched reference is
 * reported at the line that makes it (with the closest existing name as a
 * hint). Expressions are compiled against the rule's profile. */
#include "gateway/config/config_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/expr.h"

/* The closest of `n` names (got through `name_at`) to `want`, or NULL. */
static const char *closest_name(const char *want, int n, const char *(*name_at)(const struct gw_config *, int),
				const struct gw_config *cfg)
{
	const char *best = NULL;
	int best_d = 3;
	for (int i = 0; i < n; i++) {
		const char *name = name_at(cfg, i);
		if (!name)
			continue;
		int d = cfg_edit_distance(want, name);
		if (d < best_d) {
			best_d = d;
			best = name;
		}
	}
	return best;
}

static const char *profile_name_at(const struct gw_config *cfg, int i) { return cfg->profiles[i].name; }
static const char *bus_name_at(const struct gw_config *cfg, int i) { return cfg->buses[i].name; }
static const char *source_name_at(const struct gw_config *cfg, int i) { return cfg->sources[i].name; }
static const char *device_name_at(const struct gw_config *cfg, int i) { return cfg->devices[i].id; }

static void err_missing_ref(struct cfg_ctx *c, const config_setting_t *at, const char *what, const char *name,
			    const char *hint)
{
	if (hint)
		cfg_err(c, at, "no %s named \"%s\" (did you mean \"%s\"?)", what, name, hint);
	else
		cfg_err(c, at, "no %s named \"%s\"", what, name);
}

static int find_source(const struct gw_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_sources; i++)
		if (cfg->sources[i].name && strcmp(cfg->sources[i].name, name) == 0)
			return i;
	return -1;
}

/* ---------------------------------------------------------------- devices */

static const char *const device_keys[] = { "id", "profile", "bus", "source", "unit", "poll", "offline_after",
					   "location", NULL };
static const char *const location_keys[] = { "building", "entrance", "floor", "room", "place", NULL };

static void read_location(struct cfg_ctx *c, const config_setting_t *g, struct location *loc)
{
	const config_setting_t *l = rd_group(c, g, "location", false);
	if (!l)
		return;
	rd_check_keys(c, l, location_keys, "location");
	rd_string(c, l, "building", false, &loc->building);
	rd_string(c, l, "entrance", false, &loc->entrance);
	rd_string(c, l, "room", false, &loc->room);
	rd_string(c, l, "place", false, &loc->place);
	long long floor;
	if (rd_int(c, l, "floor", false, -20, 500, &floor) > 0) {
		loc->floor = (int)floor;
		loc->has_floor = true;
	}
}

/* Resolves profile and bus/source of device d; returns false when they do
 * not fit together (so unit/poll checks are skipped). */
static void resolve_device_links(struct cfg_ctx *c, const config_setting_t *g, struct device_config *d)
{
	struct gw_config *cfg = c->cfg;
	char *profile = NULL, *bus = NULL, *source = NULL;
	if (rd_string(c, g, "profile", true, &profile) > 0) {
		d->profile = config_find_profile(cfg, profile);
		if (d->profile < 0)
			err_missing_ref(c, config_setting_get_member(g, "profile"), "profile", profile,
					closest_name(profile, cfg->n_profiles, profile_name_at, cfg));
	}
	int has_bus = rd_string(c, g, "bus", false, &bus);
	int has_source = rd_string(c, g, "source", false, &source);
	if (has_bus > 0 && has_source > 0) {
		cfg_err(c, config_setting_get_member(g, "source"),
			"a device is on a 'bus' (Modbus) or a 'source' (MQTT), not both");
	} else if (has_bus > 0) {
		d->bus = config_find_bus(cfg, bus);
		if (d->bus < 0)
			err_missing_ref(c, config_setting_get_member(g, "bus"), "bus", bus,
					closest_name(bus, cfg->n_buses, bus_name_at, cfg));
	} else if (has_source > 0) {
		d->source = find_source(cfg, source);
		if (d->source < 0)
			err_missing_ref(c, config_setting_get_member(g, "source"), "mqtt source", source,
					closest_name(source, cfg->n_sources, source_name_at, cfg));
	} else if (has_bus == 0 && has_source == 0) {
		cfg_err(c, g, "device \"%s\" needs a 'bus' (Modbus profile) or a 'source' (MQTT profile)",
			d->id ? d->id : "?");
	}
	if (d->profile >= 0) {
		const struct profile *p = &cfg->profiles[d->profile];
		if (p->is_mqtt && has_bus > 0 && has_source <= 0)
			cfg_err(c, config_setting_get_member(g, "bus"),
				"profile \"%s\" is an MQTT (JSON) profile: the device needs a 'source', not a 'bus'",
				p->name);
		if (!p->is_mqtt && has_source > 0 && has_bus <= 0)
			cfg_err(c, config_setting_get_member(g, "source"),
				"profile \"%s\" is a Modbus profile: the device needs a 'bus', not a 'source'", p->name);
	}
	free(profile);
	free(bus);
	free(source);
}

static void read_device(struct cfg_ctx *c, const config_setting_t *g, struct device_config *d)
{
	struct gw_config *cfg = c->cfg;
	d->profile = d->bus = d->source = -1;
	d->poll_ms = 1000;
	cfg_where(c, g, &d->file, &d->line);
	rd_check_keys(c, g, device_keys, "device");
	if (rd_string(c, g, "id", true, &d->id) > 0 && !cfg_is_id(d->id))
		cfg_err(c, config_setting_get_member(g, "id"),
			"device id \"%s\" must be 1-64 letters, digits, '-', '_' or '.'", d->id);
	resolve_device_links(c, g, d);
	bool modbus = d->bus >= 0 || (d->source < 0 && config_setting_get_member(g, "bus"));
	const config_setting_t *unit_at = config_setting_get_member(g, "unit");
	const config_setting_t *poll_at = config_setting_get_member(g, "poll");
	long long unit;
	if (modbus) {
		bool tcp = d->bus >= 0 && cfg->buses[d->bus].type == BUS_TCP;
		/* RTU: 0 is broadcast, 248-255 reserved; TCP gateways use 0..255. */
		if (rd_int(c, g, "unit", true, tcp ? 0 : 1, tcp ? 255 : 247, &unit) > 0)
			d->unit = (int)unit;
		rd_duration(c, g, "poll", false, 10, &d->poll_ms);
		d->offline_after_ms = 3 * d->poll_ms;
	} else {
		if (unit_at)
			cfg_err(c, unit_at, "'unit' is only for Modbus devices (this one is on an MQTT source)");
		if (poll_at)
			cfg_err(c, poll_at, "'poll' is only for Modbus devices (MQTT devices push; set 'offline_after')");
		d->offline_after_ms = 3600000;
	}
	const config_setting_t *off_at = config_setting_get_member(g, "offline_after");
	if (rd_duration(c, g, "offline_after", false, 1, &d->offline_after_ms) > 0 && modbus &&
	    d->offline_after_ms < d->poll_ms)
		cfg_err(c, off_at, "'offline_after' is shorter than one poll period: the device would always be offline");
	read_location(c, g, &d->location);
}

void cfg_read_devices(struct cfg_ctx *c, const config_setting_t *list)
{
	if (!list)
		return;
	struct gw_config *cfg = c->cfg;
	int n = config_setting_length(list);
	cfg->devices = cfg_xcalloc((size_t)n, sizeof *cfg->devices);
	/* Hashed: comparing with every earlier device made loading quadratic. */
	struct cfg_index *ids = &c->device_ids, units;
	cfg_index_free(ids);
	cfg_index_init(ids, n);
	cfg_index_init(&units, n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfg_err(c, g, "devices: each device must be a group { ... }, not %s",
				cfg_type_name(config_setting_type(g)));
			continue;
		}
		struct device_config *d = &cfg->devices[cfg->n_devices++];
		read_device(c, g, d);
		int me = cfg->n_devices - 1;
		int j = cfg_index_add(ids, d->id, 0, me);
		if (j >= 0) {
			const struct device_config *o = &cfg->devices[j];
			cfg_err(c, config_setting_get_member(g, "id"), "duplicate device id \"%s\" (first at %s:%d)",
				d->id, o->file, o->line);
		}
		if (d->bus >= 0) {
			/* The key is (bus, unit): unit ids are < 256, bus counts small. */
			j = cfg_index_add(&units, "", d->bus * 65536 + (d->unit & 0xffff), me);
			if (j >= 0 && config_setting_get_member(g, "unit")) {
				const struct device_config *o = &cfg->devices[j];
				cfg_err(c, config_setting_get_member(g, "unit"),
					"unit %d on bus \"%s\" is already used by device \"%s\" (%s:%d)", d->unit,
					cfg->buses[d->bus].name, o->id ? o->id : "?", o->file, o->line);
			}
		}
	}
	cfg_index_free(&units);
}

/* ------------------------------------------------------------------ rules */

static const char *const rule_keys[] = { "id", "profile", "when", "for", "clear_when", "clear_for", "count",
					 "within", "latch", "severity", "type", "message", "on_raise", "on_clear",
					 "escalate", "group", "min_devices", "confirmed_type", "confirmed_severity",
					 "chatter_max", "chatter_window", "enabled", NULL };
static const char *const escalate_keys[] = { "after", "severity", NULL };
static const char *const action_keys[] = { "write", "value", "publish", "payload", "source", NULL };
static const char *const group_names[] = { "building", "entrance", "floor", NULL };

static bool incident_type_ok(const char *t)
{
	if (!t[0] || strlen(t) > 64)
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return false;
	return true;
}

/* A write action: "point" of the rule's own device, or "device:point". */
static void resolve_write(struct cfg_ctx *c, const config_setting_t *g, const struct rule_config *r,
			  struct action_config *a, const char *target)
{
	const struct gw_config *cfg = c->cfg;
	const config_setting_t *at = config_setting_get_member(g, "write");
	const char *colon = strchr(target, ':');
	const struct profile *p = NULL;
	a->device = -1;
	if (colon) {
		char dev[128];
		size_t n = (size_t)(colon - target);
		if (n >= sizeof dev)
			n = sizeof dev - 1;
		memcpy(dev, target, n);
		dev[n] = '\0';
		a->point_name = cfg_xstrdup(colon + 1);
		a->device = cfg_index_get(&c->device_ids, dev, 0);
		if (a->device < 0) {
			err_missing_ref(c, at, "device", dev, closest_name(dev, cfg->n_devices, device_name_at, cfg));
			return;
		}
		if (cfg->devices[a->device].profile >= 0)
			p = &cfg->profiles[cfg->devices[a->device].profile];
	} else {
		a->point_name = cfg_xstrdup(target);
		if (r->profile >= 0)
			p = &cfg->profiles[r->profile];
	}
	if (!p)
		return;
	int pi = config_find_point(p, a->point_name);
	if (pi < 0) {
		cfg_err(c, at, "write: profile \"%s\" has no point \"%s\"", p->name, a->point_name);
		return;
	}
	const struct point_def *pt = &p->points[pi];
	if (!pt->writable) {
		cfg_err(c, at, "write: point \"%s\" of profile \"%s\" is not writable (only coil and holding points are)",
			pt->name, p->name);
		return;
	}
	if ((pt->type == PT_BOOL || pt->type == PT_BIT) && a->value != 0.0 && a->value != 1.0)
		cfg_err(c, config_setting_get_member(g, "value") ? config_setting_get_member(g, "value") : g,
			"write: point \"%s\" is a bit: its value must be 0 or 1", pt->name);
}

static void read_action(struct cfg_ctx *c, const config_setting_t *g, const struct rule_config *r,
			struct action_config *a)
{
	cfg_where(c, g, &a->file, &a->line);
	a->device = -1;
	a->source = -1;
	int errs_before = c->errs->n;
	rd_check_keys(c, g, action_keys, "action");
	bool is_write = config_setting_get_member(g, "write") != NULL;
	bool is_publish = config_setting_get_member(g, "publish") != NULL;
	if (!is_write && !is_publish && c->errs->n > errs_before)
		return; /* a misspelt 'write'/'publish' is already reported */
	if (is_write == is_publish) {
		cfg_err(c, g, "an action has either 'write' (a point) or 'publish' (a topic)%s",
			is_write ? ", not both" : "");
		return;
	}
	if (is_write) {
		a->kind = ACTION_WRITE;
		for (const char *const *k = (const char *const[]){ "payload", "source", NULL }; *k; k++)
			if (config_setting_get_member(g, *k))
				cfg_err(c, config_setting_get_member(g, *k), "'%s' belongs to a publish action", *k);
		const config_setting_t *v = config_setting_get_member(g, "value");
		if (v && config_setting_type(v) == CONFIG_TYPE_BOOL)
			a->value = config_setting_get_bool(v) ? 1.0 : 0.0;
		else if (rd_double(c, g, "value", true, &a->value) < 0)
			return;
		char *target = NULL;
		if (rd_string(c, g, "write", true, &target) > 0)
			resolve_write(c, g, r, a, target);
		free(target);
		return;
	}
	a->kind = ACTION_PUBLISH;
	if (config_setting_get_member(g, "value"))
		cfg_err(c, config_setting_get_member(g, "value"), "'value' belongs to a write action (use 'payload')");
	if (rd_string(c, g, "publish", true, &a->topic) > 0 &&
	    (!a->topic[0] || strpbrk(a->topic, "+#") || strlen(a->topic) > 1024))
		cfg_err(c, config_setting_get_member(g, "publish"),
			"publish: \"%s\" is not a topic to publish to (no '+' or '#')", a->topic);
	a->payload = cfg_xstrdup("");
	rd_string(c, g, "payload", false, &a->payload);
	char *source = NULL;
	if (rd_string(c, g, "source", true, &source) > 0) {
		a->source = find_source(c->cfg, source);
		if (a->source < 0)
			err_missing_ref(c, config_setting_get_member(g, "source"), "mqtt source", source,
					closest_name(source, c->cfg->n_sources, source_name_at, c->cfg));
	}
	free(source);
}

static void read_actions(struct cfg_ctx *c, const config_setting_t *rg, const char *key, const struct rule_config *r,
			 struct action_config **out, int *n_out)
{
	const config_setting_t *list = rd_list(c, rg, key, false);
	if (!list)
		return;
	int n = config_setting_length(list);
	*out = cfg_xcalloc((size_t)n, sizeof **out);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfg_err(c, g, "%s: each action must be a group { write = ...; value = ...; } or { publish = ...; }",
				key);
			continue;
		}
		read_action(c, g, r, &(*out)[(*n_out)++]);
	}
}

/* Compiles an expression against the rule's profile, reporting errors at
 * the expression's line. */
static void check_expr(struct cfg_ctx *c, const config_setting_t *g, const char *key, const char *text,
		       const struct profile *p)
{
	char err[256] = "";
	struct expr *e = expr_compile(text, p, err, sizeof err);
	if (!e) {
		/* "unknown point 'smok'": name the closest point */
		char name[64], hint[96] = "";
		const char *at = strstr(err, "unknown point '");
		if (at && sscanf(at, "unknown point '%63[^']'", name) == 1 && cfg_point_hint(p, name))
			snprintf(hint, sizeof hint, " (did you mean '%s'?)", cfg_point_hint(p, name));
		cfg_err(c, config_setting_get_member(g, key), "'%s': %s%s", key, err[0] ? err : "invalid expression", hint);
		return;
	}
	expr_free(e);
}

/* Every {name} in a message template must be a field the engine fills
 * (device and location) or a point of the rule's profile: the engine copies
 * an unknown {name} as it is, so a typo would reach the platform. */
static void check_message(struct cfg_ctx *c, const config_setting_t *g, const char *msg, const struct profile *p)
{
	static const char *const fields[] = { "device", "building", "entrance", "floor", "room", "place", NULL };
	for (const char *s = strchr(msg, '{'); s; s = strchr(s + 1, '{')) {
		const char *close = strchr(s + 1, '}');
		if (!close)
			return;
		char name[65];
		size_t n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof name)
			continue;
		memcpy(name, s + 1, n);
		name[n] = '\0';
		if (!cfg_is_identifier(name))
			continue; /* not a placeholder, e.g. JSON */
		bool known = config_find_point(p, name) >= 0;
		for (int i = 0; !known && fields[i]; i++)
			known = strcmp(fields[i], name) == 0;
		if (!known)
			cfg_err(c, config_setting_get_member(g, "message"),
				"message: {%s} is neither a point of profile \"%s\" nor one of {device} {building} {entrance} {floor} {room} {place}",
				name, p->name);
	}
}

static void read_escalate(struct cfg_ctx *c, const config_setting_t *rg, struct rule_config *r)
{
	const config_setting_t *g = rd_group(c, rg, "escalate", false);
	if (!g)
		return;
	rd_check_keys(c, g, escalate_keys, "escalate");
	int a = rd_duration(c, g, "after", true, 1000, &r->escalate_after_ms);
	long long sev;
	int s = rd_int(c, g, "severity", true, 1, 4, &sev);
	if (s > 0) {
		r->escalate_severity = (int)sev;
		if (r->severity && sev > r->severity)
			cfg_err(c, config_setting_get_member(g, "severity"),
				"escalate severity %lld is less urgent than the rule's %d (1 is the most urgent)", sev,
				r->severity);
	}
	r->has_escalate = a > 0 && s > 0;
}

static void read_correlation(struct cfg_ctx *c, const config_setting_t *g, struct rule_config *r)
{
	int grp;
	if (rd_choice(c, g, "group", false, group_names, &grp) > 0)
		r->group = (enum group_by)(GROUP_BUILDING + grp);
	bool has_group = config_setting_get_member(g, "group") != NULL;
	static const char *const corr_keys[] = { "min_devices", "confirmed_type", "confirmed_severity", NULL };
	for (int i = 0; !has_group && corr_keys[i]; i++)
		if (config_setting_get_member(g, corr_keys[i]))
			cfg_err(c, config_setting_get_member(g, corr_keys[i]),
				"'%s' is only used by a correlation rule (with 'group')", corr_keys[i]);
	r->min_devices = has_group ? 2 : 0;
	r->confirmed_type = cfg_xstrdup("fire.confirmed");
	r->confirmed_severity = 1;
	if (!has_group)
		return;
	long long v;
	if (rd_int(c, g, "min_devices", false, 2, 1000, &v) > 0)
		r->min_devices = (int)v;
	if (rd_string(c, g, "confirmed_type", false, &r->confirmed_type) > 0 && !incident_type_ok(r->confirmed_type))
		cfg_err(c, config_setting_get_member(g, "confirmed_type"),
			"'confirmed_type' \"%s\" must be 1-64 letters, digits, '.', '_' or '-'", r->confirmed_type);
	int has_sev = rd_int(c, g, "confirmed_severity", false, 1, 4, &v);
	if (has_sev > 0)
		r->confirmed_severity = (int)v;
	/* Typed as its confirmed type, the rule raises only the group incident
	 * (rule_is_correlation_only): its 'severity' is that incident's. */
	if (rule_is_correlation_only(r) && has_sev == 0 && r->severity)
		r->confirmed_severity = r->severity;
	else if (rule_is_correlation_only(r) && has_sev > 0 && r->severity && r->confirmed_severity != r->severity)
		cfg_err(c, config_setting_get_member(g, "confirmed_severity"),
			"'confirmed_severity' %d differs from 'severity' %d of a rule typed as its confirmed type \"%s\" "
			"(it raises only the group incident): give one severity",
			r->confirmed_severity, r->severity, r->type);
	if (config_setting_get_member(g, "count"))
		cfg_err(c, config_setting_get_member(g, "count"),
			"'count' and 'group' cannot be combined: 'within' would mean both windows");
	if (!config_setting_get_member(g, "within"))
		cfg_err(c, config_setting_get_member(g, "group"), "a correlation rule ('group') needs 'within'");
}

static void read_rule(struct cfg_ctx *c, const config_setting_t *g, struct rule_config *r)
{
	const struct gw_config *cfg = c->cfg;
	r->profile = -1;
	r->chatter_max = 5;
	r->chatter_window_ms = 60000;
	r->enabled = true;
	cfg_where(c, g, &r->file, &r->line);
	rd_check_keys(c, g, rule_keys, "rule");
	if (rd_string(c, g, "id", true, &r->id) > 0 && !cfg_is_id(r->id))
		cfg_err(c, config_setting_get_member(g, "id"),
			"rule id \"%s\" must be 1-64 letters, digits, '-', '_' or '.'", r->id);
	char *profile = NULL;
	if (rd_string(c, g, "profile", true, &profile) > 0) {
		r->profile = config_find_profile(cfg, profile);
		if (r->profile < 0)
			err_missing_ref(c, config_setting_get_member(g, "profile"), "profile", profile,
					closest_name(profile, cfg->n_profiles, profile_name_at, cfg));
	}
	free(profile);
	const struct profile *p = r->profile >= 0 ? &cfg->profiles[r->profile] : NULL;
	if (rd_string(c, g, "when", true, &r->when) > 0 && p)
		check_expr(c, g, "when", r->when, p);
	if (rd_string(c, g, "clear_when", false, &r->clear_when) > 0 && p)
		check_expr(c, g, "clear_when", r->clear_when, p);
	rd_duration(c, g, "for", false, 0, &r->for_ms);
	rd_duration(c, g, "clear_for", false, 0, &r->clear_for_ms);
	long long v;
	if (rd_int(c, g, "count", false, 1, 1000, &v) > 0)
		r->count = (int)v;
	int has_within = rd_duration(c, g, "within", false, 1000, &r->within_ms);
	if (r->count > 1 && has_within == 0)
		cfg_err(c, config_setting_get_member(g, "count"), "'count' = %d needs 'within' (the window)", r->count);
	if (has_within > 0 && r->count <= 1 && !config_setting_get_member(g, "group"))
		cfg_err(c, config_setting_get_member(g, "within"),
			"'within' needs 'count' (> 1) or a correlation 'group'");
	rd_bool(c, g, "latch", false, &r->latch);
	if (rd_int(c, g, "severity", true, 1, 4, &v) > 0)
		r->severity = (int)v;
	if (rd_string(c, g, "type", true, &r->type) > 0 && !incident_type_ok(r->type))
		cfg_err(c, config_setting_get_member(g, "type"),
			"'type' \"%s\" must be 1-64 letters, digits, '.', '_' or '-'", r->type);
	if (rd_string(c, g, "message", false, &r->message) > 0 && p)
		check_message(c, g, r->message, p);
	read_escalate(c, g, r);
	read_correlation(c, g, r);
	if (rd_int(c, g, "chatter_max", false, 0, 1000, &v) > 0)
		r->chatter_max = (int)v;
	rd_duration(c, g, "chatter_window", false, 1000, &r->chatter_window_ms);
	rd_bool(c, g, "enabled", false, &r->enabled);
	read_actions(c, g, "on_raise", r, &r->on_raise, &r->n_on_raise);
	read_actions(c, g, "on_clear", r, &r->on_clear, &r->n_on_clear);
	static const char *const acts[] = { "on_raise", "on_clear", NULL };
	for (int i = 0; rule_is_correlation_only(r) && acts[i]; i++)
		if (config_setting_get_member(g, acts[i]))
			cfg_err(c, config_setting_get_member(g, acts[i]),
				"'%s' never runs: a rule typed as its confirmed type \"%s\" raises only the group "
				"incident, and a confirmed incident runs no actions; put the actions on the per-device rule",
				acts[i], r->type);
}

/* Raises per-device incidents: a plain rule, or a correlation rule with a
 * type of its own (the README's one-rule style). */
static bool rule_raises_device_incidents(const struct rule_config *r)
{
	return r->enabled && r->type && !rule_is_correlation_only(r);
}

/* A per-device incident must never carry a confirmed type: the platform
 * would dispatch a confirmed fire on the evidence of one detector, the false
 * positive that two-detector confirmation exists to prevent. */
static void check_confirmed_types(struct cfg_ctx *c, const config_setting_t *const *gs)
{
	const struct gw_config *cfg = c->cfg;
	/* The first correlation rule of each confirmed type, hashed (10k rules
	 * compared pairwise cost 10^8 steps). */
	struct cfg_index confirmed;
	cfg_index_init(&confirmed, cfg->n_rules);
	for (int j = 0; j < cfg->n_rules; j++) {
		const struct rule_config *q = &cfg->rules[j];
		if (q->enabled && q->group != GROUP_NONE)
			cfg_index_add(&confirmed, rule_confirmed_type(q), 0, j);
	}
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct rule_config *r = &cfg->rules[i];
		if (!rule_raises_device_incidents(r))
			continue;
		int j = cfg_index_get(&confirmed, r->type, 0);
		if (j >= 0) {
			const struct rule_config *q = &cfg->rules[j];
			cfg_err(c, config_setting_get_member(gs[i], "type"),
				"rule \"%s\": 'type' \"%s\" is the confirmed type of correlation rule \"%s\" "
				"(%s:%d): one detector would raise a confirmed incident; give this rule a "
				"per-device type such as \"fire.smoke\"",
				r->id ? r->id : "?", r->type, q->id ? q->id : "?", q->file, q->line);
		}
	}
	cfg_index_free(&confirmed);
}

void cfg_read_rules(struct cfg_ctx *c, const config_setting_t *list)
{
	if (!list)
		return;
	struct gw_config *cfg = c->cfg;
	int n = config_setting_length(list);
	cfg->rules = cfg_xcalloc((size_t)n, sizeof *cfg->rules);
	const config_setting_t **gs = cfg_xcalloc((size_t)n, sizeof *gs);
	struct cfg_index ids;
	cfg_index_init(&ids, n);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfg_err(c, g, "rules: each rule must be a group { ... }, not %s",
				cfg_type_name(config_setting_type(g)));
			continue;
		}
		gs[cfg->n_rules] = g;
		struct rule_config *r = &cfg->rules[cfg->n_rules++];
		read_rule(c, g, r);
		int j = cfg_index_add(&ids, r->id, 0, cfg->n_rules - 1);
		if (j >= 0)
			cfg_err(c, config_setting_get_member(g, "id"), "duplicate rule id \"%s\" (first at %s:%d)",
				r->id, cfg->rules[j].file, cfg->rules[j].line);
	}
	cfg_index_free(&ids);
	check_confirmed_types(c, gs);
	free(gs);
}
