/* sim_scenario — timed scenario files for the simulator (libconfig):
 *
 *   initial = ( { set = "mc-*:battery"; value = 87; } );
 *   steps = (
 *     { at = "2s";  set = "smoke-1-1-0101:alarm"; value = 1; },
 *     { at = "5s";  ramp = "mc-0001:tilt"; to = 25.0; over = "3s"; },
 *     { at = "10s"; fail = "smoke-1-1-0102"; mode = "silent"; },
 *     { at = "12s"; fail = "smoke-1-1-0103"; mode = "slow"; delay = "2s"; },
 *     { at = "20s"; recover = "smoke-1-1-0102"; },
 *     { at = "30s"; quit = true; }
 *   );
 *
 * Each step is compiled at load into one control command (sim_control_exec)
 * so the scenario and the control channel cannot drift apart; everything a
 * step names (devices, points, values, modes) is checked at load and every
 * problem is reported as FILE:LINE: message. */
#include "sim/sim_scenario.h"

#include <errno.h>
#include <fnmatch.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define STEP_TEXT 640

struct sim_step {
	int64_t at_ms;
	char cmd[STEP_TEXT];  /* control command */
	char show[STEP_TEXT]; /* what the step line prints */
	const char *file;
	int line;
};

struct sim_scenario {
	char *path;
	struct sim_step *steps;
	int n;
	int next;
	struct sim_step *initial;
	int n_initial;
};

struct load_ctx {
	struct sim *s;
	const char *path;
	int errors;
};

static void load_err(struct load_ctx *c, const config_setting_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void load_err(struct load_ctx *c, const config_setting_t *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *file = at ? config_setting_source_file(at) : NULL;
	int line = at ? (int)config_setting_source_line(at) : 0;
	fprintf(stderr, "%s:%d: %s\n", file ? file : c->path, line, msg);
	c->errors++;
}

static bool has_space(const char *s) { return strpbrk(s, " \t\r\n") != NULL; }

/* Checks that "DEV" (a glob allowed) names at least one device and, with a
 * point, that every matching device has it and accepts `value` (NULL: any). */
static int check_target(struct load_ctx *c, const config_setting_t *at, const char *dev, const char *point,
			const char *value)
{
	struct sim *s = c->s;
	int matched = 0;
	bool glob = strpbrk(dev, "*?[") != NULL;
	for (int i = 0; i < s->n_devs; i++) {
		const struct sim_device *d = &s->devs[i];
		if (glob ? fnmatch(dev, d->cfg->id, 0) != 0 : strcmp(dev, d->cfg->id) != 0)
			continue;
		matched++;
		if (!point)
			continue;
		int p = sim_find_point(d->prof, point);
		if (p < 0) {
			load_err(c, at, "device %s (profile %s) has no point \"%s\"", d->cfg->id, d->prof->name, point);
			return -1;
		}
		double v;
		int ei;
		if (value && sim_parse_value(&d->prof->points[p], value, &v, &ei) < 0) {
			load_err(c, at, "value \"%s\" is not valid for %s:%s", value, d->cfg->id, point);
			return -1;
		}
	}
	if (matched == 0) {
		load_err(c, at, "no device matches \"%s\"", dev);
		return -1;
	}
	return 0;
}

/* Splits "DEV:POINT" into dev and point (bounded). */
static int split_target(struct load_ctx *c, const config_setting_t *at, const char *text, char *dev, size_t dcap,
			char *point, size_t pcap)
{
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text || !colon[1] || has_space(text)) {
		load_err(c, at, "\"%s\" is not DEVICE:POINT", text);
		return -1;
	}
	if ((size_t)(colon - text) >= dcap || strlen(colon + 1) >= pcap) {
		load_err(c, at, "\"%s\" is too long", text);
		return -1;
	}
	snprintf(dev, dcap, "%.*s", (int)(colon - text), text);
	snprintf(point, pcap, "%s", colon + 1);
	return 0;
}

/* A setting's value as text: numbers, booleans or strings. */
static int value_text(struct load_ctx *c, const config_setting_t *v, char *out, size_t cap)
{
	switch (config_setting_type(v)) {
	case CONFIG_TYPE_INT:
		snprintf(out, cap, "%d", config_setting_get_int(v));
		return 0;
	case CONFIG_TYPE_INT64:
		snprintf(out, cap, "%lld", config_setting_get_int64(v));
		return 0;
	case CONFIG_TYPE_FLOAT:
		snprintf(out, cap, "%.10g", config_setting_get_float(v));
		return 0;
	case CONFIG_TYPE_BOOL:
		snprintf(out, cap, "%s", config_setting_get_bool(v) ? "true" : "false");
		return 0;
	case CONFIG_TYPE_STRING: {
		const char *s = config_setting_get_string(v);
		if (!*s || has_space(s) || strlen(s) >= cap) {
			load_err(c, v, "value \"%s\" must be one word", s);
			return -1;
		}
		snprintf(out, cap, "%s", s);
		return 0;
	}
	default:
		load_err(c, v, "\"%s\" must be a number, a boolean or a string", config_setting_name(v));
		return -1;
	}
}

/* A duration: "3s"/"500ms" or a number of seconds. */
static int duration_of(struct load_ctx *c, const config_setting_t *v, int64_t *ms)
{
	switch (config_setting_type(v)) {
	case CONFIG_TYPE_STRING:
		if (duration_parse(config_setting_get_string(v), ms) == 0)
			return 0;
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (config_setting_get_int64(v) >= 0) {
			*ms = config_setting_get_int64(v) * 1000;
			return 0;
		}
		break;
	case CONFIG_TYPE_FLOAT:
		if (config_setting_get_float(v) >= 0 && config_setting_get_float(v) < 1e9) {
			*ms = (int64_t)(config_setting_get_float(v) * 1000.0 + 0.5);
			return 0;
		}
		break;
	default:
		break;
	}
	load_err(c, v, "\"%s\" must be a duration such as \"500ms\", \"3s\" or a number of seconds",
		 config_setting_name(v));
	return -1;
}

static const char *get_string(struct load_ctx *c, const config_setting_t *g, const char *key)
{
	const config_setting_t *v = config_setting_get_member(g, key);
	if (!v)
		return NULL;
	if (config_setting_type(v) != CONFIG_TYPE_STRING) {
		load_err(c, v, "\"%s\" must be a string", key);
		return NULL;
	}
	return config_setting_get_string(v);
}

static const char *const step_keys[] = { "at", "set", "value", "ramp", "to", "over", "fail", "mode",
					 "delay", "recover", "quit", NULL };

static int check_keys(struct load_ctx *c, const config_setting_t *g, const char *const *allowed)
{
	int rc = 0;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		bool ok = false;
		for (int k = 0; allowed[k] && !ok; k++)
			ok = name && strcmp(name, allowed[k]) == 0;
		if (!ok) {
			load_err(c, m, "unknown key \"%s\"", name ? name : "?");
			rc = -1;
		}
	}
	return rc;
}

static int step_set(struct load_ctx *c, const config_setting_t *g, const char *target, struct sim_step *st)
{
	char dev[256], point[128], val[128];
	const config_setting_t *v = config_setting_get_member(g, "value");
	if (!v) {
		load_err(c, g, "a set step needs \"value\"");
		return -1;
	}
	if (split_target(c, g, target, dev, sizeof dev, point, sizeof point) < 0 ||
	    value_text(c, v, val, sizeof val) < 0 || check_target(c, g, dev, point, val) < 0)
		return -1;
	snprintf(st->cmd, sizeof st->cmd, "set %s %s %s", dev, point, val);
	snprintf(st->show, sizeof st->show, "set %s %s = %s", dev, point, val);
	return 0;
}

static int step_ramp(struct load_ctx *c, const config_setting_t *g, const char *target, struct sim_step *st)
{
	char dev[256], point[128], to[64];
	const config_setting_t *vt = config_setting_get_member(g, "to");
	const config_setting_t *vo = config_setting_get_member(g, "over");
	int64_t over;
	if (!vt || !vo) {
		load_err(c, g, "a ramp step needs \"to\" and \"over\"");
		return -1;
	}
	if (config_setting_type(vt) != CONFIG_TYPE_INT && config_setting_type(vt) != CONFIG_TYPE_INT64 &&
	    config_setting_type(vt) != CONFIG_TYPE_FLOAT) {
		load_err(c, vt, "\"to\" must be a number");
		return -1;
	}
	if (split_target(c, g, target, dev, sizeof dev, point, sizeof point) < 0 ||
	    value_text(c, vt, to, sizeof to) < 0 || duration_of(c, vo, &over) < 0 ||
	    check_target(c, g, dev, point, NULL) < 0)
		return -1;
	char dur[32];
	duration_format(over, dur, sizeof dur);
	snprintf(st->cmd, sizeof st->cmd, "ramp %s %s %s %lldms", dev, point, to, (long long)over);
	snprintf(st->show, sizeof st->show, "ramp %s %s -> %s over %s", dev, point, to, dur);
	return 0;
}

static int step_fail(struct load_ctx *c, const config_setting_t *g, const char *dev, struct sim_step *st)
{
	const char *mode = get_string(c, g, "mode");
	enum sim_fault f;
	if (!mode || sim_fault_parse(mode, &f) < 0) {
		load_err(c, g, "a fail step needs mode = timeout|exception|busy|garbage|crc|slow|disconnect|silent");
		return -1;
	}
	if (has_space(dev) || check_target(c, g, dev, NULL, NULL) < 0)
		return -1;
	const config_setting_t *vd = config_setting_get_member(g, "delay");
	int64_t delay = 0;
	if (vd && duration_of(c, vd, &delay) < 0)
		return -1;
	if (vd) {
		snprintf(st->cmd, sizeof st->cmd, "fail %s %s %lldms", dev, mode, (long long)delay);
		char dur[32];
		duration_format(delay, dur, sizeof dur);
		snprintf(st->show, sizeof st->show, "fail %s %s %s", dev, mode, dur);
	} else {
		snprintf(st->cmd, sizeof st->cmd, "fail %s %s", dev, mode);
		snprintf(st->show, sizeof st->show, "fail %s %s", dev, mode);
	}
	return 0;
}

/* Compiles one step group; returns 0 or -1 (reported). */
static int step_load(struct load_ctx *c, const config_setting_t *g, struct sim_step *st, bool need_at)
{
	if (!config_setting_is_group(g)) {
		load_err(c, g, "a step must be a group { ... }");
		return -1;
	}
	st->line = (int)config_setting_source_line(g);
	st->file = config_setting_source_file(g);
	if (check_keys(c, g, step_keys) < 0)
		return -1;
	const config_setting_t *at = config_setting_get_member(g, "at");
	if (need_at && !at) {
		load_err(c, g, "a step needs \"at\"");
		return -1;
	}
	if (at && duration_of(c, at, &st->at_ms) < 0)
		return -1;
	const char *set = get_string(c, g, "set"), *ramp = get_string(c, g, "ramp");
	const char *fail = get_string(c, g, "fail"), *recover = get_string(c, g, "recover");
	const config_setting_t *quit = config_setting_get_member(g, "quit");
	int actions = !!set + !!ramp + !!fail + !!recover + !!quit;
	if (actions != 1) {
		load_err(c, g, "a step needs exactly one of set, ramp, fail, recover, quit");
		return -1;
	}
	if (set)
		return step_set(c, g, set, st);
	if (ramp)
		return step_ramp(c, g, ramp, st);
	if (fail)
		return step_fail(c, g, fail, st);
	if (recover) {
		if (has_space(recover) || check_target(c, g, recover, NULL, NULL) < 0)
			return -1;
		snprintf(st->cmd, sizeof st->cmd, "recover %s", recover);
		snprintf(st->show, sizeof st->show, "recover %s", recover);
		return 0;
	}
	if (config_setting_type(quit) != CONFIG_TYPE_BOOL || !config_setting_get_bool(quit)) {
		load_err(c, quit, "quit must be true");
		return -1;
	}
	snprintf(st->cmd, sizeof st->cmd, "quit");
	snprintf(st->show, sizeof st->show, "quit");
	return 0;
}

static int list_load(struct load_ctx *c, const config_setting_t *list, struct sim_step **out, int *n, bool need_at)
{
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		load_err(c, list, "\"%s\" must be a list ( { ... }, ... )", config_setting_name(list));
		return -1;
	}
	int len = config_setting_length(list);
	*out = calloc((size_t)(len ? len : 1), sizeof **out);
	if (!*out)
		return -1;
	*n = 0;
	for (int i = 0; i < len; i++)
		if (step_load(c, config_setting_get_elem(list, (unsigned)i), &(*out)[*n], need_at) == 0)
			(*n)++;
	return 0;
}

/* Stable insertion sort by time: steps with the same `at` keep file order. */
static void steps_sort(struct sim_step *st, int n)
{
	for (int i = 1; i < n; i++) {
		struct sim_step tmp = st[i];
		int j = i - 1;
		while (j >= 0 && st[j].at_ms > tmp.at_ms) {
			st[j + 1] = st[j];
			j--;
		}
		st[j + 1] = tmp;
	}
}

void sim_scenario_free(struct sim_scenario *sc)
{
	if (!sc)
		return;
	free(sc->steps);
	free(sc->initial);
	free(sc->path);
	free(sc);
}

struct sim_scenario *sim_scenario_load(struct sim *s, const char *path)
{
	struct load_ctx c = { s, path, 0 };
	struct sim_scenario *sc = calloc(1, sizeof *sc);
	config_t cf;
	config_init(&cf);
	if (!sc || !(sc->path = strdup(path))) {
		config_destroy(&cf);
		sim_scenario_free(sc);
		return NULL;
	}
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		const char *f = config_error_file(&cf);
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			fprintf(stderr, "%s:0: cannot read: %s\n", path, strerror(errno));
		else
			fprintf(stderr, "%s:%d: %s\n", f ? f : path, config_error_line(&cf), config_error_text(&cf));
		config_destroy(&cf);
		sim_scenario_free(sc);
		return NULL;
	}
	const config_setting_t *root = config_root_setting(&cf);
	static const char *const root_keys[] = { "steps", "initial", NULL };
	check_keys(&c, root, root_keys);
	const config_setting_t *steps = config_setting_get_member(root, "steps");
	const config_setting_t *initial = config_setting_get_member(root, "initial");
	if (!steps)
		load_err(&c, NULL, "no \"steps\" list");
	else
		list_load(&c, steps, &sc->steps, &sc->n, true);
	if (initial)
		list_load(&c, initial, &sc->initial, &sc->n_initial, false);
	for (int i = 0; i < sc->n_initial; i++) {
		if (strncmp(sc->initial[i].cmd, "set ", 4) != 0) {
			fprintf(stderr, "%s:%d: initial entries may only set values\n", path, sc->initial[i].line);
			c.errors++;
		}
	}
	/* file pointers come from the libconfig tree: not needed past here */
	for (int i = 0; i < sc->n; i++)
		sc->steps[i].file = NULL;
	for (int i = 0; i < sc->n_initial; i++)
		sc->initial[i].file = NULL;
	config_destroy(&cf);
	if (c.errors) {
		fprintf(stderr, "%s: %d error%s\n", path, c.errors, c.errors == 1 ? "" : "s");
		sim_scenario_free(sc);
		return NULL;
	}
	steps_sort(sc->steps, sc->n);
	return sc;
}

static void step_apply(struct sim *s, struct sim_scenario *sc, const struct sim_step *st, bool show)
{
	char reply[512];
	sim_control_exec(s, st->cmd, reply, sizeof reply);
	if (strncmp(reply, "ok", 2) != 0) {
		log_warn("sim", "%s:%d: %s: %s", sc->path, st->line, st->show, reply);
		if (show)
			sim_print_step(s, "%s (%s)", st->show, reply);
	} else if (show) {
		sim_print_step(s, "%s", st->show);
	}
}

void sim_scenario_initial(struct sim *s, struct sim_scenario *sc)
{
	for (int i = 0; sc && i < sc->n_initial; i++)
		step_apply(s, sc, &sc->initial[i], false);
}

void sim_scenario_tick(struct sim *s, struct sim_scenario *sc, int64_t now_ms)
{
	if (!sc)
		return;
	int64_t elapsed = now_ms - s->start_ms;
	while (sc->next < sc->n && sc->steps[sc->next].at_ms <= elapsed && !atomic_load(&s->stop))
		step_apply(s, sc, &sc->steps[sc->next++], true);
}

int sim_scenario_remaining(const struct sim_scenario *sc)
{
	return sc ? sc->n - sc->next : 0;
}
