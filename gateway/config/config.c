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

void config_errors_add(struct config_errors *errs, const char *file, int line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char full[1024];
	snprintf(full, sizeof full, "%s:%d: %s", file ? file : "?", line, msg);
	if (errs->n == errs->cap) {
		errs->cap = errs->cap ? errs->cap * 2 : 16;
		errs->msgs = cfg_xrealloc(errs->msgs, (size_t)errs->cap, sizeof *errs->msgs);
	}
	errs->msgs[errs->n++] = cfg_xstrdup(full);
}

void config_errors_clear(struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = errs->cap = 0;
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
	struct gateway_config *g = &cfg->gateway;
	free(g->id);
	free(g->site.street);
	free(g->site.community);
	free(g->site.grid);
	free(g->state_dir);
	free(g->profiles_dir);
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
	free(cfg);
}

/* ------------------------------------------------------------------- load */

/* Parses the main document (from disk, or from `text` when not NULL), reads
 * it, and hands over the config when no error was found. */
static int load(const char *path, const char *text, size_t len, struct gw_config **out, struct config_errors *errs)
{
	*out = NULL;
	struct cfg_ctx c = { .errs = errs, .n_errs_at_start = errs->n };
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
	/* The file names the structs point into move to the config. */
	c.cfg->files = c.files;
	c.cfg->n_files = c.n_files;
	if (!src || errs->n > c.n_errs_at_start) {
		if (!src && errs->n == c.n_errs_at_start)
			config_errors_add(errs, path, 0, "cannot be read");
		config_free(c.cfg);
		return -1;
	}
	*out = c.cfg;
	return 0;
}

int config_load(const char *path, struct gw_config **out, struct config_errors *errs)
{
	return load(path, NULL, 0, out, errs);
}

int config_load_text(const char *name, const char *text, size_t len, struct gw_config **out,
		     struct config_errors *errs)
{
	return load(name, text ? text : "", text ? len : 0, out, errs);
}
