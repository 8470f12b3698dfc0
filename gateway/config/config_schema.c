/* config_schema — the configuration schema (docs/contract.md §2,
 * docs/configuration.md): gateway, uplink, store, builtin_rules, buses,
 * mqtt_sources and profiles read into the structs with their defaults.
 * Devices and rules, which refer to these, are in config_refs.c.
 *
 * Every group checks its keys against the list here, so a typo is an error
 * naming the key's line; every reader goes on after a bad value so one pass
 * finds every problem. */
#include "gateway/config/config_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- gateway */

static const char *const gateway_keys[] = { "id", "site", "state_dir", "profiles_dir", "vendor_profiles_dir",
					    "log_level", NULL };
static const char *const site_keys[] = { "street", "community", "grid", NULL };
static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };

static void read_gateway(struct cfg_ctx *c, const config_setting_t *root)
{
	struct gateway_config *g = &c->cfg->gateway;
	g->state_dir = cfg_xstrdup("/var/lib/gridgw");
	g->log_level = cfg_xstrdup("info");
	g->profiles_dir = cfg_path_join(c->main_dir, "profiles");
	/* The shipped profiles: $GRIDGW_VENDOR_PROFILES_DIR (a build tree run
	 * against its own config/profiles, hermetic tests) else the compiled-in
	 * $(DATADIR)/gridgw/profiles; "" means none. */
	const char *vendor = getenv("GRIDGW_VENDOR_PROFILES_DIR");
#ifdef GRIDGW_VENDOR_PROFILES_DIR
	if (!vendor)
		vendor = GRIDGW_VENDOR_PROFILES_DIR;
#endif
	if (vendor && vendor[0])
		g->vendor_profiles_dir = cfg_xstrdup(vendor);
	const config_setting_t *gw = rd_group(c, root, "gateway", true);
	if (!gw)
		return;
	rd_check_keys(c, gw, gateway_keys, "gateway");
	if (rd_string(c, gw, "id", true, &g->id) > 0 && !cfg_is_id(g->id)) {
		cfg_err(c, config_setting_get_member(gw, "id"),
			"gateway id \"%s\" must be 1-64 letters, digits, '-', '_' or '.' (it is part of every MQTT topic)",
			g->id);
	}
	const config_setting_t *site = rd_group(c, gw, "site", false);
	if (site) {
		rd_check_keys(c, site, site_keys, "gateway.site");
		rd_string(c, site, "street", false, &g->site.street);
		rd_string(c, site, "community", false, &g->site.community);
		rd_string(c, site, "grid", false, &g->site.grid);
	}
	if (rd_string(c, gw, "state_dir", false, &g->state_dir) > 0 && !g->state_dir[0])
		cfg_err(c, config_setting_get_member(gw, "state_dir"), "'state_dir' must not be empty");
	int level;
	if (rd_choice(c, gw, "log_level", false, log_levels, &level) > 0) {
		free(g->log_level);
		g->log_level = cfg_xstrdup(log_levels[level]);
	}
	char *dir = NULL;
	if (rd_string(c, gw, "profiles_dir", false, &dir) > 0) {
		c->profiles_dir_at = config_setting_get_member(gw, "profiles_dir");
		if (!dir[0]) {
			cfg_err(c, c->profiles_dir_at, "'profiles_dir' must not be empty");
		} else {
			free(g->profiles_dir);
			g->profiles_dir = cfg_path_join(c->main_dir, dir);
		}
	}
	free(dir);
	dir = NULL;
	/* "" turns the vendor directory off (a gateway that wants only its own). */
	if (rd_string(c, gw, "vendor_profiles_dir", false, &dir) > 0) {
		c->vendor_dir_at = config_setting_get_member(gw, "vendor_profiles_dir");
		free(g->vendor_profiles_dir);
		g->vendor_profiles_dir = dir[0] ? cfg_path_join(c->main_dir, dir) : NULL;
	}
	free(dir);
}

/* ----------------------------------------------------------------- uplink */

static const char *const uplink_keys[] = { "url", "client_id", "username", "password", "password_file", "tls", "topic_prefix",
					   "keepalive", "telemetry_interval", "mqtt_version", "inflight",
					   "max_payload", "down_after", "reconnect_min", "reconnect_max", NULL };
static const char *const tls_keys[] = { "ca", "cert", "key", "verify", NULL };

/* 1 for ssl:// / mqtts://, 0 for tcp:// / mqtt://, -1 (reported) otherwise. */
static int check_broker_url(struct cfg_ctx *c, const config_setting_t *at, const char *url)
{
	static const struct { const char *prefix; int secure; } schemes[] = {
		{ "tcp://", 0 }, { "mqtt://", 0 }, { "ws://", 0 }, { "ssl://", 1 }, { "mqtts://", 1 }, { "wss://", 1 },
	};
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i].prefix);
		if (strncmp(url, schemes[i].prefix, n) == 0) {
			const char *host = url + n;
			if (!*host || *host == ':' || *host == '/') {
				cfg_err(c, at, "broker url \"%s\" has no host", url);
				return -1;
			}
			return schemes[i].secure;
		}
	}
	cfg_err(c, at, "broker url \"%s\" must start with tcp:// or ssl:// (or mqtt://, mqtts://, ws://, wss://)", url);
	return -1;
}

/* A topic we publish to: no wildcards, no empty first/last level. */
static bool topic_name_ok(const char *t)
{
	if (!t[0] || strpbrk(t, "+#") || t[0] == '/' || t[strlen(t) - 1] == '/')
		return false;
	return strlen(t) < 1024;
}

static void read_tls(struct cfg_ctx *c, const config_setting_t *up, bool secure)
{
	struct tls_config *t = &c->cfg->uplink.tls;
	t->verify = true;
	const config_setting_t *g = rd_group(c, up, "tls", false);
	if (!g)
		return;
	t->present = true;
	rd_check_keys(c, g, tls_keys, "uplink.tls");
	rd_string(c, g, "ca", false, &t->ca);
	int has_cert = rd_string(c, g, "cert", false, &t->cert);
	int has_key = rd_string(c, g, "key", false, &t->key);
	if (rd_bool(c, g, "verify", false, &t->verify) > 0 && !t->verify && secure)
		cfg_warn_no_verify(c, g, "uplink.tls");
	if ((has_cert > 0) != (has_key > 0) && has_cert >= 0 && has_key >= 0)
		cfg_err(c, g, "tls needs both 'cert' and 'key' for a client certificate, or neither");
	if (has_key > 0)
		cfg_check_key_file(c, g, "key", t->key);
	if (!secure)
		cfg_err(c, g, "tls is set but the uplink url is not ssl:// (mqtts://): it would not be used");
}

static void read_uplink(struct cfg_ctx *c, const config_setting_t *root)
{
	struct uplink_config *u = &c->cfg->uplink;
	u->topic_prefix = cfg_xstrdup("grid/v1");
	u->keepalive_ms = 30000;
	u->telemetry_interval_ms = 60000;
	u->mqtt_version = 3;
	u->inflight = 16;
	u->max_payload = 16384;
	u->down_after_ms = 5 * 60000;
	u->reconnect_min_ms = 1000;
	u->reconnect_max_ms = 60000;
	u->tls.verify = true;
	const config_setting_t *up = rd_group(c, root, "uplink", false);
	if (!up)
		return;
	rd_check_keys(c, up, uplink_keys, "uplink");
	int secure = 0;
	if (rd_string(c, up, "url", true, &u->url) > 0)
		secure = check_broker_url(c, config_setting_get_member(up, "url"), u->url);
	if (rd_string(c, up, "client_id", false, &u->client_id) > 0 && (!u->client_id[0] || strlen(u->client_id) > 128))
		cfg_err(c, config_setting_get_member(up, "client_id"), "'client_id' must be 1-128 characters");
	rd_string(c, up, "username", false, &u->username);
	cfg_read_secret(c, up, "password", "password_file", true, &u->password);
	read_tls(c, up, secure == 1 || secure < 0);
	if (rd_string(c, up, "topic_prefix", false, &u->topic_prefix) > 0 && !topic_name_ok(u->topic_prefix))
		cfg_err(c, config_setting_get_member(up, "topic_prefix"),
			"'topic_prefix' \"%s\" must be a topic without wildcards or a leading/trailing '/'",
			u->topic_prefix);
	if (rd_duration(c, up, "keepalive", false, 1000, &u->keepalive_ms) > 0 && u->keepalive_ms > 65535000LL)
		cfg_err(c, config_setting_get_member(up, "keepalive"), "'keepalive' must be at most 65535s (MQTT)");
	if (rd_duration(c, up, "telemetry_interval", false, 0, &u->telemetry_interval_ms) > 0 &&
	    u->telemetry_interval_ms > 0 && u->telemetry_interval_ms < 1000)
		cfg_err(c, config_setting_get_member(up, "telemetry_interval"),
			"'telemetry_interval' must be 0 (off) or at least 1s");
	long long v;
	if (rd_int(c, up, "mqtt_version", false, 3, 5, &v) > 0) {
		if (v == 4)
			cfg_err(c, config_setting_get_member(up, "mqtt_version"),
				"'mqtt_version' must be 3 (MQTT 3.1.1) or 5");
		else
			u->mqtt_version = (int)v;
	}
	if (rd_int(c, up, "inflight", false, 1, 1000, &v) > 0)
		u->inflight = (int)v;
	if (rd_int(c, up, "max_payload", false, 1024, 268435455, &v) > 0)
		u->max_payload = (int)v;
	rd_duration(c, up, "down_after", false, 0, &u->down_after_ms);
	/* Paho's retry intervals are whole seconds. */
	int r1 = rd_duration(c, up, "reconnect_min", false, 1000, &u->reconnect_min_ms);
	int r2 = rd_duration(c, up, "reconnect_max", false, 1000, &u->reconnect_max_ms);
	if (r1 >= 0 && r2 >= 0 && u->reconnect_max_ms < u->reconnect_min_ms)
		cfg_err(c, config_setting_get_member(up, r2 > 0 ? "reconnect_max" : "reconnect_min"),
			"'reconnect_max' must not be below 'reconnect_min'");
}

/* ------------------------------------------------------------------ store */

static const char *const store_keys[] = { "max_size_mb", "history_keep", "history_interval", "delivered_keep",
					  "synchronous", NULL };
static const char *const sync_modes[] = { "full", "normal", NULL };

static void read_store(struct cfg_ctx *c, const config_setting_t *root)
{
	struct store_config *s = &c->cfg->store;
	s->max_size_mb = 256;
	s->history_keep_ms = 7LL * 86400000;
	s->history_interval_ms = 60000;
	s->delivered_keep_ms = 86400000;
	s->synchronous = cfg_xstrdup("full");
	const config_setting_t *g = rd_group(c, root, "store", false);
	if (!g)
		return;
	rd_check_keys(c, g, store_keys, "store");
	long long v;
	if (rd_int(c, g, "max_size_mb", false, 1, 1048576, &v) > 0)
		s->max_size_mb = v;
	rd_duration(c, g, "history_keep", false, 0, &s->history_keep_ms);
	rd_duration(c, g, "history_interval", false, 1000, &s->history_interval_ms);
	rd_duration(c, g, "delivered_keep", false, 0, &s->delivered_keep_ms);
	int mode;
	if (rd_choice(c, g, "synchronous", false, sync_modes, &mode) > 0) {
		free(s->synchronous);
		s->synchronous = cfg_xstrdup(sync_modes[mode]);
	}
}

/* -------------------------------------------------------------- incidents */

static const char *const incidents_keys[] = { "auto_close_after", NULL };

/* Read after the uplink: the key means something only without one. */
static void read_incidents(struct cfg_ctx *c, const config_setting_t *root)
{
	struct incidents_config *ic = &c->cfg->incidents;
	ic->auto_close_after_ms = 3600000;
	const config_setting_t *g = rd_group(c, root, "incidents", false);
	if (!g)
		return;
	rd_check_keys(c, g, incidents_keys, "incidents");
	if (rd_duration(c, g, "auto_close_after", false, 0, &ic->auto_close_after_ms) > 0 && c->cfg->uplink.url) {
		const char *file;
		int line;
		cfg_where(c, config_setting_get_member(g, "auto_close_after"), &file, &line);
		config_warnings_add(c->errs, file, line, 0,
				    "'auto_close_after' is ignored with an uplink: the platform closes incidents "
				    "(incident.close)");
	}
}

/* --------------------------------------------------------- builtin_rules */

static const char *const builtin_keys[] = { "offline", "battery_low", "fault", "tamper", NULL };
static const char *const offline_keys[] = { "enabled", "severity", NULL };
static const char *const battery_keys[] = { "enabled", "severity", "point", "below", "clear_at", NULL };
static const char *const pointrule_keys[] = { "enabled", "severity", "point", NULL };

static void read_builtin(struct cfg_ctx *c, const config_setting_t *grp, const char *name,
			 struct builtin_rule_config *b, int severity, const char *point)
{
	b->enabled = true;
	b->severity = severity;
	b->point = point ? cfg_xstrdup(point) : NULL;
	if (strcmp(name, "battery_low") == 0) {
		b->threshold = 20.0;
		b->clear_threshold = 25.0;
	}
	const config_setting_t *g = grp ? rd_group(c, grp, name, false) : NULL;
	if (!g)
		return;
	char what[64];
	snprintf(what, sizeof what, "builtin_rules.%s", name);
	const char *const *keys = !point ? offline_keys : strcmp(name, "battery_low") == 0 ? battery_keys : pointrule_keys;
	rd_check_keys(c, g, keys, what);
	rd_bool(c, g, "enabled", false, &b->enabled);
	long long v;
	if (rd_int(c, g, "severity", false, 1, 4, &v) > 0)
		b->severity = (int)v;
	if (point && rd_string(c, g, "point", false, &b->point) > 0 && !cfg_is_identifier(b->point))
		cfg_err(c, config_setting_get_member(g, "point"), "'point' \"%s\" is not a point name", b->point);
	if (keys == battery_keys) {
		int r1 = rd_double(c, g, "below", false, &b->threshold);
		int r2 = rd_double(c, g, "clear_at", false, &b->clear_threshold);
		if (r1 > 0 && (b->threshold < 0 || b->threshold > 100))
			cfg_err(c, config_setting_get_member(g, "below"), "'below' must be a percentage 0..100");
		if (r2 > 0 && (b->clear_threshold < 0 || b->clear_threshold > 100))
			cfg_err(c, config_setting_get_member(g, "clear_at"), "'clear_at' must be a percentage 0..100");
		if (r1 >= 0 && r2 >= 0 && b->clear_threshold < b->threshold)
			cfg_err(c, g, "'clear_at' (%g) must not be below 'below' (%g): the alarm would never clear",
				b->clear_threshold, b->threshold);
	}
}

static void read_builtins(struct cfg_ctx *c, const config_setting_t *root)
{
	struct builtin_rules_config *b = &c->cfg->builtins;
	const config_setting_t *g = rd_group(c, root, "builtin_rules", false);
	if (g)
		rd_check_keys(c, g, builtin_keys, "builtin_rules");
	read_builtin(c, g, "offline", &b->offline, 3, NULL);
	read_builtin(c, g, "battery_low", &b->battery_low, 4, "battery");
	read_builtin(c, g, "fault", &b->fault, 3, "fault");
	read_builtin(c, g, "tamper", &b->tamper, 2, "tamper");
}

/* ------------------------------------------------------------------ buses */

static const char *const bus_common_keys[] = { "name", "type", "timeout", "retries", "max_gap", "max_block_regs",
					       "max_block_bits", NULL };
static const char *const bus_rtu_keys[] = { "device", "baud", "parity", "data_bits", "stop_bits", "rs485", "rts",
					    "frame_delay", NULL };
static const char *const bus_tcp_keys[] = { "host", "port", NULL };
static const char *const bus_types[] = { "rtu", "tcp", NULL };
static const char *const parities[] = { "N", "E", "O", NULL };

static const char **keys_concat(const char *const *a, const char *const *b, const char **buf, size_t cap)
{
	size_t n = 0;
	for (; *a && n + 1 < cap; a++)
		buf[n++] = *a;
	for (; b && *b && n + 1 < cap; b++)
		buf[n++] = *b;
	buf[n] = NULL;
	return buf;
}

static bool valid_baud(long long b)
{
	static const int rates[] = { 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400 };
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
		if (b == rates[i])
			return true;
	return false;
}

static void read_bus_rtu(struct cfg_ctx *c, const config_setting_t *g, struct bus_config *b)
{
	if (rd_string(c, g, "device", true, &b->device) > 0 && !b->device[0])
		cfg_err(c, config_setting_get_member(g, "device"), "'device' must not be empty");
	long long v;
	if (rd_int(c, g, "baud", false, 1, 4000000, &v) > 0) {
		if (valid_baud(v))
			b->baud = (int)v;
		else
			cfg_err(c, config_setting_get_member(g, "baud"),
				"'baud' = %lld is not a standard rate (1200 2400 4800 9600 19200 38400 57600 115200 230400)",
				v);
	}
	int par;
	if (rd_choice_ci(c, g, "parity", false, parities, &par) > 0) /* "e" is "E" */
		b->parity = parities[par][0];
	if (rd_int(c, g, "data_bits", false, 5, 8, &v) > 0)
		b->data_bits = (int)v;
	if (rd_int(c, g, "stop_bits", false, 1, 2, &v) > 0)
		b->stop_bits = (int)v;
	rd_bool(c, g, "rs485", false, &b->rs485);
	rd_bool(c, g, "rts", false, &b->rts);
	rd_duration(c, g, "frame_delay", false, 0, &b->frame_delay_ms);
	if (b->frame_delay_ms > 1000)
		cfg_err(c, config_setting_get_member(g, "frame_delay"), "'frame_delay' must be at most 1s");
}

static void read_bus(struct cfg_ctx *c, const config_setting_t *g, struct bus_config *b)
{
	b->baud = 9600;
	b->parity = 'N';
	b->data_bits = 8;
	b->stop_bits = 1;
	b->port = 502;
	b->timeout_ms = 500;
	b->retries = 1;
	b->max_gap = 4;
	b->max_block_regs = 125;
	b->max_block_bits = 2000;
	cfg_where(c, g, &b->file, &b->line);
	int type = -1;
	if (rd_choice(c, g, "type", true, bus_types, &type) > 0)
		b->type = type == 0 ? BUS_RTU : BUS_TCP;
	const char *keys[32];
	if (type == 0)
		rd_check_keys_note(c, g, keys_concat(bus_common_keys, bus_rtu_keys, keys, 32), "rtu bus", bus_tcp_keys,
				   "it belongs to a tcp bus, this one is type = \"rtu\"");
	else if (type == 1)
		rd_check_keys_note(c, g, keys_concat(bus_common_keys, bus_tcp_keys, keys, 32), "tcp bus", bus_rtu_keys,
				   "it belongs to an rtu bus, this one is type = \"tcp\"");
	else {
		const char *all[32];
		keys_concat(bus_rtu_keys, bus_tcp_keys, all, 32);
		rd_check_keys(c, g, keys_concat(bus_common_keys, all, keys, 32), "bus");
	}
	if (rd_string(c, g, "name", true, &b->name) > 0 && !cfg_is_id(b->name))
		cfg_err(c, config_setting_get_member(g, "name"),
			"bus name \"%s\" must be 1-64 letters, digits, '-', '_' or '.'", b->name);
	if (type == 0)
		read_bus_rtu(c, g, b);
	if (type == 1) {
		if (rd_string(c, g, "host", true, &b->host) > 0 && !b->host[0])
			cfg_err(c, config_setting_get_member(g, "host"), "'host' must not be empty");
		long long v;
		if (rd_int(c, g, "port", false, 1, 65535, &v) > 0)
			b->port = (int)v;
	}
	rd_duration(c, g, "timeout", false, 1, &b->timeout_ms);
	if (b->timeout_ms > 60000)
		cfg_err(c, config_setting_get_member(g, "timeout"), "'timeout' must be at most 60s");
	long long v;
	if (rd_int(c, g, "retries", false, 0, 10, &v) > 0)
		b->retries = (int)v;
	if (rd_int(c, g, "max_gap", false, 0, 124, &v) > 0)
		b->max_gap = (int)v;
	if (rd_int(c, g, "max_block_regs", false, 1, 125, &v) > 0)
		b->max_block_regs = (int)v;
	if (rd_int(c, g, "max_block_bits", false, 1, 2000, &v) > 0)
		b->max_block_bits = (int)v;
}

static void read_buses(struct cfg_ctx *c, const config_setting_t *root)
{
	const config_setting_t *list = rd_list(c, root, "buses", false);
	if (!list)
		return;
	int n = config_setting_length(list);
	struct gw_config *cfg = c->cfg;
	cfg->buses = cfg_xcalloc((size_t)n, sizeof *cfg->buses);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfg_err(c, g, "buses: each bus must be a group { ... }, not %s", cfg_type_name(config_setting_type(g)));
			continue;
		}
		struct bus_config *b = &cfg->buses[cfg->n_buses++];
		read_bus(c, g, b);
		for (int j = 0; b->name && j < cfg->n_buses - 1; j++)
			if (cfg->buses[j].name && strcmp(cfg->buses[j].name, b->name) == 0)
				cfg_err(c, config_setting_get_member(g, "name"),
					"duplicate bus name \"%s\" (first at %s:%d)", b->name, cfg->buses[j].file,
					cfg->buses[j].line);
		for (int j = 0; b->type == BUS_RTU && b->device && j < cfg->n_buses - 1; j++)
			if (cfg->buses[j].type == BUS_RTU && cfg->buses[j].device &&
			    strcmp(cfg->buses[j].device, b->device) == 0)
				cfg_err(c, config_setting_get_member(g, "device"),
					"serial device \"%s\" is already used by bus \"%s\" (%s:%d)", b->device,
					cfg->buses[j].name ? cfg->buses[j].name : "?", cfg->buses[j].file,
					cfg->buses[j].line);
	}
}

/* ---------------------------------------------------------- mqtt_sources */

static const char *const source_keys[] = { "name", "url", "topic", "device_from", "ts_key", "client_id",
					    "username", "password", "password_file", "max_payload", NULL };

/* A subscription filter: '+' and '#' only as whole levels, '#' last. */
static bool topic_filter_ok(const char *t, int *levels, bool *has_hash)
{
	*levels = 1;
	*has_hash = false;
	if (!t[0] || strlen(t) >= 1024)
		return false;
	for (const char *p = t; *p; p++) {
		bool start = p == t || p[-1] == '/';
		bool end = p[1] == '\0' || p[1] == '/';
		if (*p == '/')
			(*levels)++;
		if ((*p == '+' || *p == '#') && !(start && end))
			return false;
		if (*p == '#') {
			if (p[1] != '\0')
				return false;
			*has_hash = true;
		}
	}
	return true;
}

static bool json_path_ok(const char *p);

static void read_device_from(struct cfg_ctx *c, const config_setting_t *g, struct mqtt_source_config *s)
{
	char *df = NULL;
	if (rd_string(c, g, "device_from", true, &df) <= 0)
		return;
	const config_setting_t *at = config_setting_get_member(g, "device_from");
	if (strncmp(df, "topic:", 6) == 0) {
		char *end;
		errno = 0;
		long n = strtol(df + 6, &end, 10);
		int levels;
		bool hash;
		if (df[6] < '1' || df[6] > '9' || *end || errno || n > 64) {
			cfg_err(c, at, "'device_from' = \"%s\": topic level must be 1..64", df);
		} else {
			s->device_from = DEVICE_FROM_TOPIC;
			s->topic_level = (int)n;
			if (s->topic && topic_filter_ok(s->topic, &levels, &hash) && !hash && n > levels)
				cfg_err(c, at, "'device_from' = \"%s\" but topic \"%s\" has only %d levels", df,
					s->topic, levels);
		}
	} else if (strncmp(df, "json:", 5) == 0) {
		if (!json_path_ok(df + 5)) {
			cfg_err(c, at, "'device_from' = \"%s\" needs a key path after json:, like \"json:dev\" or \"json:meta.dev\"", df);
		} else {
			s->device_from = DEVICE_FROM_JSON;
			s->json_key = cfg_xstrdup(df + 5);
		}
	} else {
		cfg_err(c, at, "'device_from' = \"%s\" must be \"topic:N\" (Nth topic level) or \"json:KEY\"", df);
	}
	free(df);
}

static void read_source(struct cfg_ctx *c, const config_setting_t *g, struct mqtt_source_config *s)
{
	s->max_payload = 65536;
	s->ts_key = cfg_xstrdup("ts");
	cfg_where(c, g, &s->file, &s->line);
	rd_check_keys(c, g, source_keys, "mqtt source");
	if (rd_string(c, g, "name", true, &s->name) > 0 && !cfg_is_id(s->name))
		cfg_err(c, config_setting_get_member(g, "name"),
			"source name \"%s\" must be 1-64 letters, digits, '-', '_' or '.'", s->name);
	if (rd_string(c, g, "url", true, &s->url) > 0)
		check_broker_url(c, config_setting_get_member(g, "url"), s->url);
	int levels;
	bool hash;
	if (rd_string(c, g, "topic", true, &s->topic) > 0 && !topic_filter_ok(s->topic, &levels, &hash))
		cfg_err(c, config_setting_get_member(g, "topic"),
			"'topic' \"%s\" is not a valid subscription ('+' and '#' only as whole levels, '#' last)",
			s->topic);
	read_device_from(c, g, s);
	if (rd_string(c, g, "ts_key", false, &s->ts_key) > 0 && !s->ts_key[0])
		cfg_err(c, config_setting_get_member(g, "ts_key"), "'ts_key' must not be empty");
	if (rd_string(c, g, "client_id", false, &s->client_id) > 0 && (!s->client_id[0] || strlen(s->client_id) > 128))
		cfg_err(c, config_setting_get_member(g, "client_id"), "'client_id' must be 1-128 characters");
	rd_string(c, g, "username", false, &s->username);
	cfg_read_secret(c, g, "password", "password_file", true, &s->password);
	long long v;
	if (rd_int(c, g, "max_payload", false, 64, 268435455, &v) > 0)
		s->max_payload = (int)v;
	if (!s->client_id && s->name && c->cfg->gateway.id) {
		size_t n = strlen(c->cfg->gateway.id) + strlen(s->name) + 6;
		s->client_id = cfg_xcalloc(n, 1);
		snprintf(s->client_id, n, "%s-src-%s", c->cfg->gateway.id, s->name);
	}
}

static void read_sources(struct cfg_ctx *c, const config_setting_t *root)
{
	const config_setting_t *list = rd_list(c, root, "mqtt_sources", false);
	if (!list)
		return;
	int n = config_setting_length(list);
	struct gw_config *cfg = c->cfg;
	cfg->sources = cfg_xcalloc((size_t)n, sizeof *cfg->sources);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfg_err(c, g, "mqtt_sources: each source must be a group { ... }, not %s",
				cfg_type_name(config_setting_type(g)));
			continue;
		}
		struct mqtt_source_config *s = &cfg->sources[cfg->n_sources++];
		read_source(c, g, s);
		for (int j = 0; s->name && j < cfg->n_sources - 1; j++)
			if (cfg->sources[j].name && strcmp(cfg->sources[j].name, s->name) == 0)
				cfg_err(c, config_setting_get_member(g, "name"),
					"duplicate mqtt source name \"%s\" (first at %s:%d)", s->name,
					cfg->sources[j].file, cfg->sources[j].line);
	}
}

/* --------------------------------------------------------------- profiles */

static const char *const profile_keys[] = { "kind", "description", "points", NULL };
static const char *const modbus_point_keys[] = { "name", "table", "address", "type", "bit", "word_order", "scale",
						 "offset", "unit", "remote_write", NULL };
static const char *const json_point_keys[] = { "name", "json", "type", "values", "scale", "offset", "unit", NULL };
static const char *const modbus_only_keys[] = { "table", "address", "bit", "word_order", "remote_write", NULL };
static const char *const json_only_keys[] = { "json", "values", NULL };
static const char *const tables[] = { "coil", "discrete", "holding", "input", NULL };
static const char *const modbus_types[] = { "bool", "bit", "u16", "s16", "u32", "s32", "f32", NULL };
static const char *const json_types[] = { "number", "bool", "enum", NULL };
static const char *const word_orders[] = { "big", "little", NULL };
static const char *const reserved_names[] = { "true", "false", "delta", "avg", "min", "max", NULL };

static bool is_32bit(enum point_type t) { return t == PT_U32 || t == PT_S32 || t == PT_F32; }

/* A key path as sensors/json_map reads it: "a.b", "list[0].v", "m[1][0]",
 * "[2].x" (the payload is an array): keys of 1+ characters other than
 * . [ ] (only the very first may be empty, before an index), each followed
 * by optional [N] indexes of at most 9 digits. */
static bool json_path_ok(const char *p)
{
	if (!*p || strlen(p) > 256)
		return false;
	bool first = true;
	for (;;) {
		const char *k = p;
		while (*p && *p != '.' && *p != '[' && *p != ']')
			p++;
		if (p == k && !(first && *p == '['))
			return false;
		first = false;
		while (*p == '[') {
			const char *d = ++p;
			while (*p >= '0' && *p <= '9')
				p++;
			if (p == d || p - d > 9 || *p++ != ']')
				return false;
		}
		if (!*p)
			return true;
		if (*p != '.')
			return false;
		p++;
	}
}

static void read_point_modbus(struct cfg_ctx *c, const config_setting_t *g, struct point_def *pt)
{
	rd_check_keys_note(c, g, modbus_point_keys, "Modbus point", json_only_keys,
			   "it belongs to JSON (MQTT) points; this point has a 'table'");
	int table = -1;
	if (rd_choice(c, g, "table", true, tables, &table) > 0)
		pt->table = (enum point_table)(TABLE_COIL + table);
	bool bit_table = pt->table == TABLE_COIL || pt->table == TABLE_DISCRETE;
	pt->type = bit_table || pt->table == TABLE_NONE ? PT_BOOL : PT_U16;
	int type;
	const config_setting_t *type_at = config_setting_get_member(g, "type");
	if (rd_choice(c, g, "type", false, modbus_types, &type) > 0) {
		pt->type = (enum point_type)(PT_BOOL + type);
		if (bit_table && pt->type != PT_BOOL)
			cfg_err(c, type_at, "a %s point is a single bit: its type must be \"bool\", not \"%s\"",
				tables[table], modbus_types[type]);
	}
	long long v;
	if (rd_int(c, g, "address", true, 0, 65535, &v) > 0) {
		pt->address = (int)v;
		if (is_32bit(pt->type) && v == 65535)
			cfg_err(c, config_setting_get_member(g, "address"),
				"a 32-bit point needs two registers: address 65535 is the last one");
	}
	const config_setting_t *bit_at = config_setting_get_member(g, "bit");
	if (pt->type == PT_BIT) {
		if (rd_int(c, g, "bit", true, 0, 15, &v) > 0)
			pt->bit = (int)v;
	} else if (bit_at) {
		cfg_err(c, bit_at, "'bit' is only used with type = \"bit\"");
	}
	const config_setting_t *wo_at = config_setting_get_member(g, "word_order");
	int wo;
	if (wo_at && !is_32bit(pt->type) && config_setting_type(wo_at) == CONFIG_TYPE_STRING)
		cfg_err(c, wo_at, "'word_order' only applies to 32-bit types (u32, s32, f32)");
	else if (rd_choice(c, g, "word_order", false, word_orders, &wo) > 0)
		pt->word_order = wo == 0 ? WORD_BIG : WORD_LITTLE;
	pt->writable = pt->table == TABLE_COIL || pt->table == TABLE_HOLDING;
	if (rd_bool(c, g, "remote_write", false, &pt->remote_write) > 0 && pt->remote_write && !pt->writable &&
	    pt->table != TABLE_NONE)
		cfg_err(c, config_setting_get_member(g, "remote_write"),
			"remote_write needs a writable point (coil or holding), this one is a %s", tables[table]);
}

static void read_enum_values(struct cfg_ctx *c, const config_setting_t *g, struct point_def *pt)
{
	const config_setting_t *vals = rd_group(c, g, "values", pt->type == PT_ENUM);
	if (!vals)
		return;
	if (pt->type != PT_ENUM) {
		cfg_err(c, vals, "'values' is only used with type = \"enum\"");
		return;
	}
	int n = config_setting_length(vals);
	if (n == 0) {
		cfg_err(c, vals, "'values' of an enum point must map at least one string to a number");
		return;
	}
	pt->values = cfg_xcalloc((size_t)n, sizeof *pt->values);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(vals, (unsigned)i);
		double d;
		if (rd_double(c, vals, config_setting_name(e), true, &d) > 0) {
			pt->values[pt->n_values].name = cfg_xstrdup(config_setting_name(e));
			pt->values[pt->n_values].value = d;
			pt->n_values++;
		}
	}
}

static void read_point_json(struct cfg_ctx *c, const config_setting_t *g, struct point_def *pt)
{
	rd_check_keys_note(c, g, json_point_keys, "JSON point", modbus_only_keys,
			   "it belongs to Modbus points; this point has a 'json' key path");
	pt->table = TABLE_NONE;
	if (rd_string(c, g, "json", true, &pt->json) > 0 && !json_path_ok(pt->json))
		cfg_err(c, config_setting_get_member(g, "json"),
			"'json' = \"%s\" is not a key path (like \"a.b\" or \"list[0].v\")", pt->json);
	pt->type = PT_NUMBER;
	int type;
	if (rd_choice(c, g, "type", false, json_types, &type) > 0)
		pt->type = type == 0 ? PT_NUMBER : type == 1 ? PT_BOOL : PT_ENUM;
	read_enum_values(c, g, pt);
}

static void read_point(struct cfg_ctx *c, const config_setting_t *g, struct profile *p, struct point_def *pt)
{
	pt->scale = 1.0;
	cfg_where(c, g, &pt->file, &pt->line);
	if (rd_string(c, g, "name", true, &pt->name) > 0) {
		bool reserved = false;
		for (int i = 0; reserved_names[i]; i++)
			reserved = reserved || strcmp(reserved_names[i], pt->name) == 0;
		if (!cfg_is_identifier(pt->name) || reserved)
			cfg_err(c, config_setting_get_member(g, "name"),
				"point name \"%s\" must be an identifier (letters, digits, '_'; not a keyword) to be usable in rules",
				pt->name);
	}
	if (p->is_mqtt)
		read_point_json(c, g, pt);
	else
		read_point_modbus(c, g, pt);
	const config_setting_t *scale_at = config_setting_get_member(g, "scale");
	if (rd_double(c, g, "scale", false, &pt->scale) > 0 && pt->scale == 0.0)
		cfg_err(c, scale_at, "'scale' must not be 0");
	rd_double(c, g, "offset", false, &pt->offset);
	if ((pt->type == PT_BOOL || pt->type == PT_BIT) && (scale_at || config_setting_get_member(g, "offset")))
		cfg_err(c, scale_at ? scale_at : config_setting_get_member(g, "offset"),
			"'scale'/'offset' do not apply to a bool or bit point");
	rd_string(c, g, "unit", false, &pt->unit);
}

/* Reads profile `g` (named by its key) into p. */
static void read_profile(struct cfg_ctx *c, const config_setting_t *g, struct profile *p)
{
	p->name = cfg_xstrdup(config_setting_name(g));
	cfg_where(c, g, &p->file, &p->line);
	rd_check_keys(c, g, profile_keys, "profile");
	rd_string(c, g, "kind", true, &p->kind);
	if (p->kind && !cfg_is_id(p->kind))
		cfg_err(c, config_setting_get_member(g, "kind"),
			"'kind' \"%s\" must be 1-64 letters, digits, '-', '_' or '.'", p->kind);
	char *desc = NULL;
	rd_string(c, g, "description", false, &desc);
	free(desc);
	const config_setting_t *pts = rd_list(c, g, "points", true);
	if (!pts)
		return;
	int n = config_setting_length(pts);
	if (n == 0) {
		cfg_err(c, pts, "profile \"%s\" has no points", p->name);
		return;
	}
	/* The first point says what the profile is: `table` (Modbus) or `json` (MQTT). */
	const config_setting_t *first = config_setting_get_elem(pts, 0);
	p->is_mqtt = config_setting_type(first) == CONFIG_TYPE_GROUP && config_setting_get_member(first, "json") &&
		     !config_setting_get_member(first, "table");
	p->points = cfg_xcalloc((size_t)n, sizeof *p->points);
	for (int i = 0; i < n; i++) {
		const config_setting_t *pg = config_setting_get_elem(pts, (unsigned)i);
		if (config_setting_type(pg) != CONFIG_TYPE_GROUP) {
			cfg_err(c, pg, "points: each point must be a group { ... }, not %s",
				cfg_type_name(config_setting_type(pg)));
			continue;
		}
		bool has_table = config_setting_get_member(pg, "table") != NULL;
		bool has_json = config_setting_get_member(pg, "json") != NULL;
		if (has_table && has_json) {
			cfg_err(c, pg, "a point has either 'table' (Modbus) or 'json' (MQTT), not both");
			continue;
		}
		if (!has_table && !has_json) {
			cfg_err(c, pg, "a point needs 'table' and 'address' (Modbus) or 'json' (MQTT)");
			continue;
		}
		if (has_json != p->is_mqtt) {
			cfg_err(c, pg, "profile \"%s\" mixes Modbus and JSON points: its first point is a %s point",
				p->name, p->is_mqtt ? "JSON" : "Modbus");
			continue;
		}
		struct point_def *pt = &p->points[p->n_points++];
		read_point(c, pg, p, pt);
		for (int j = 0; pt->name && j < p->n_points - 1; j++)
			if (p->points[j].name && strcmp(p->points[j].name, pt->name) == 0)
				cfg_err(c, config_setting_get_member(pg, "name"),
					"duplicate point name \"%s\" in profile \"%s\" (first at %s:%d)", pt->name,
					p->name, p->points[j].file, p->points[j].line);
	}
}

void cfg_read_profiles(struct cfg_ctx *c, const config_setting_t *profiles)
{
	struct gw_config *cfg = c->cfg;
	int n = config_setting_length(profiles);
	cfg->profiles = cfg_xrealloc(cfg->profiles, (size_t)(cfg->n_profiles + n), sizeof *cfg->profiles);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(profiles, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			cfg_err(c, g, "profile \"%s\" must be a group { kind = ...; points = (...); }",
				config_setting_name(g));
			continue;
		}
		const char *name = config_setting_name(g);
		int dup = config_find_profile(cfg, name);
		if (dup >= 0 && c->in_vendor_dir && dup < c->first_vendor_profile)
			continue; /* the installer's profile of this name wins over the shipped one */
		if (dup >= 0) {
			cfg_err(c, g, "duplicate profile \"%s\" (first at %s:%d)", name, cfg->profiles[dup].file,
				cfg->profiles[dup].line);
			continue;
		}
		struct profile *p = &cfg->profiles[cfg->n_profiles++];
		memset(p, 0, sizeof *p);
		read_profile(c, g, p);
	}
}

/* ------------------------------------------------------------------- main */

static const char *const top_keys[] = { "gateway", "uplink", "store", "builtin_rules", "buses", "mqtt_sources",
					"profiles", "devices", "rules", "notify", "console", "incidents", NULL };

void cfg_read_main(struct cfg_ctx *c, struct cfg_src *src)
{
	const config_setting_t *root = config_root_setting(&src->lc);
	rd_check_keys(c, root, top_keys, "the configuration");
	read_gateway(c, root);
	read_uplink(c, root);
	if (c->cfg->uplink.url && !c->cfg->uplink.client_id && c->cfg->gateway.id)
		c->cfg->uplink.client_id = cfg_xstrdup(c->cfg->gateway.id);
	read_store(c, root);
	read_incidents(c, root);
	cfg_read_console(c, root);
	read_builtins(c, root);
	read_buses(c, root);
	read_sources(c, root);
	const config_setting_t *profiles = rd_group(c, root, "profiles", false);
	if (profiles)
		cfg_read_profiles(c, profiles);
	cfg_load_profile_dirs(c);
	cfg_check_profiles(c);
	cfg_read_devices(c, rd_list(c, root, "devices", false));
	cfg_read_rules(c, rd_list(c, root, "rules", false));
	cfg_read_notify(c, root);
	cfg_check_globals(c);
}
