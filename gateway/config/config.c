/* config — the public face of the configuration loader (config.h):
 * config_load / config_load_text, config_free, the error list and lookups.
 * The work is in config_src.c (files and includes), config_read.c (typed
 * readers), config_schema.c and config_refs.c (the schema) and
 * config_check.c (cross-checks); see config_priv.h. */
#include "gateway/config/config.h"
#include "gateway/config/config_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */

static void diag_add(struct config_errors *errs, enum config_severity sev, const char *file, int line, int column,
		     const char *msg)
{
	if (errs->n_diags == errs->cap_diags) {
		errs->cap_diags = errs->cap_diags ? errs->cap_diags * 2 : 16;
		errs->diags = cfg_xrealloc(errs->diags, (size_t)errs->cap_diags, sizeof *errs->diags);
	}
	struct config_diag *d = &errs->diags[errs->n_diags++];
	d->severity = sev;
	d->file = cfg_xstrdup(file ? file : "?");
	d->line = line;
	d->column = column > 0 ? column : 0;
	d->message = cfg_xstrdup(msg);
}

static void list_add(char ***list, int *n, int *cap, const char *text)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*list = cfg_xrealloc(*list, (size_t)*cap, sizeof **list);
	}
	(*list)[(*n)++] = cfg_xstrdup(text);
}

static void add(struct config_errors *errs, enum config_severity sev, const char *file, int line, int column,
		const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
static void add(struct config_errors *errs, enum config_severity sev, const char *file, int line, int column,
		const char *fmt, va_list ap)
{
	char msg[768], full[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	snprintf(full, sizeof full, "%s:%d: %s%s", file ? file : "?", line, sev == CONFIG_SEV_WARNING ? "warning: " : "",
		 msg);
	if (sev == CONFIG_SEV_WARNING)
		list_add(&errs->warnings, &errs->n_warnings, &errs->cap_warnings, full);
	else
		list_add(&errs->msgs, &errs->n, &errs->cap, full);
	diag_add(errs, sev, file, line, column, msg);
}

void config_errors_add(struct config_errors *errs, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add(errs, CONFIG_SEV_ERROR, file, line, 0, fmt, ap);
	va_end(ap);
}

void config_errors_add_at(struct config_errors *errs, const char *file, int line, int column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add(errs, CONFIG_SEV_ERROR, file, line, column, fmt, ap);
	va_end(ap);
}

void config_warnings_add(struct config_errors *errs, const char *file, int line, int column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add(errs, CONFIG_SEV_WARNING, file, line, column, fmt, ap);
	va_end(ap);
}

void config_errors_clear(struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	for (int i = 0; i < errs->n_warnings; i++)
		free(errs->warnings[i]);
	free(errs->warnings);
	for (int i = 0; i < errs->n_diags; i++) {
		free(errs->diags[i].file);
		free(errs->diags[i].message);
	}
	free(errs->diags);
	memset(errs, 0, sizeof *errs);
}

/* ------------------------------------------------------------------- free */

static void free_profile(struct profile *p)
{
	for (int i = 0; i < p->n_points; i++) {
		struct point_def *pt = &p->points[i];
		free(pt->name);
		free(pt->unit);
		free(pt->json);
		for (int j = 0; j < pt->n_values; j++)
			free(pt->values[j].name);
		free(pt->values);
	}
	free(p->points);
	free(p->name);
	free(p->kind);
}

static void free_actions(struct action_config *a, int n)
{
	for (int i = 0; i < n; i++) {
		free(a[i].point_name);
		free(a[i].topic);
		free(a[i].payload);
	}
	free(a);
}

static void free_rule(struct rule_config *r)
{
	free(r->id);
	free(r->when);
	free(r->clear_when);
	free(r->type);
	free(r->message);
	free(r->confirmed_type);
	free_actions(r->on_raise, r->n_on_raise);
	free_actions(r->on_clear, r->n_on_clear);
}

static void free_builtin(struct builtin_rule_config *b)
{
	free(b->point);
}

void config_free(struct gw_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	cfg_free_notify(cfg->notify);
	struct gateway_config *g = &cfg->gateway;
	free(g->id);
	free(g->site.street);
	free(g->site.community);
	free(g->site.grid);
	free(g->state_dir);
	free(g->profiles_dir);
	free(g->vendor_profiles_dir);
	free(g->log_level);
	struct uplink_config *u = &cfg->uplink;
	free(u->url);
	free(u->client_id);
	free(u->username);
	free(u->password);
	free(u->tls.ca);
	free(u->tls.cert);
	free(u->tls.key);
	free(u->topic_prefix);
	free(cfg->store.synchronous);
	cfg_free_console(&cfg->console);
	free_builtin(&cfg->builtins.offline);
	free_builtin(&cfg->builtins.battery_low);
	free_builtin(&cfg->builtins.fault);
	free_builtin(&cfg->builtins.tamper);
	for (int i = 0; i < cfg->n_buses; i++) {
		free(cfg->buses[i].name);
		free(cfg->buses[i].device);
		free(cfg->buses[i].host);
	}
	free(cfg->buses);
	for (int i = 0; i < cfg->n_sources; i++) {
		struct mqtt_source_config *s = &cfg->sources[i];
		free(s->name);
		free(s->url);
		free(s->topic);
		free(s->json_key);
		free(s->ts_key);
		free(s->client_id);
		free(s->username);
		free(s->password);
	}
	free(cfg->sources);
	for (int i = 0; i < cfg->n_profiles; i++)
		free_profile(&cfg->profiles[i]);
	free(cfg->profiles);
	for (int i = 0; i < cfg->n_devices; i++) {
		struct location *l = &cfg->devices[i].location;
		free(cfg->devices[i].id);
		free(l->building);
		free(l->entrance);
		free(l->room);
		free(l->place);
	}
	free(cfg->devices);
	for (int i = 0; i < cfg->n_rules; i++)
		free_rule(&cfg->rules[i]);
	free(cfg->rules);
	for (int i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->device_slots);
	free(cfg);
}

/* ------------------------------------------------------------------- load */

/* Parses the main document (from disk, or from `text` when not NULL), reads
 * it, and hands over the config when no error was found. */
static int load(const char *path, const char *text, size_t len, bool secrets_optional, struct gw_config **out,
		struct config_errors *errs)
{
	*out = NULL;
	struct cfg_ctx c = { .errs = errs, .n_errs_at_start = errs->n, .secrets_optional = secrets_optional };
	c.cfg = cfg_xcalloc(1, sizeof *c.cfg);
	c.cfg->path = cfg_xstrdup(path);
	c.main_dir = cfg_dirname(path);
	struct cfg_src *src = text ? cfg_src_parse_text(&c, path, text, len) : cfg_src_parse_file(&c, path);
	if (src)
		cfg_read_main(&c, src);
	for (int i = 0; i < c.n_srcs; i++)
		cfg_src_free(c.srcs[i]);
	free(c.srcs);
	free(c.main_dir);
	cfg_index_free(&c.device_ids);
	/* The file names the structs point into move to the config. */
	c.cfg->files = c.files;
	c.cfg->n_files = c.n_files;
	if (!src || errs->n > c.n_errs_at_start) {
		if (!src && errs->n == c.n_errs_at_start)
			config_errors_add(errs, path, 0, "cannot be read");
		config_free(c.cfg);
		return -1;
	}
	/* Warnings need a whole, consistent config: only a valid one gets them. */
	cfg_warn(&c);
	(void)config_index_devices(c.cfg); /* out of memory: lookups stay linear */
	*out = c.cfg;
	return 0;
}

int config_load(const char *path, struct gw_config **out, struct config_errors *errs)
{
	return load(path, NULL, 0, false, out, errs);
}

int config_load_without_secrets(const char *path, struct gw_config **out, struct config_errors *errs)
{
	return load(path, NULL, 0, true, out, errs);
}

int config_load_text(const char *name, const char *text, size_t len, struct gw_config **out,
		     struct config_errors *errs)
{
	return load(name, text ? text : "", text ? len : 0, false, out, errs);
}
