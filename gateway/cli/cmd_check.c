/* cmd_check — `gridgw check [-c FILE]`: loads and validates the
 * configuration. Valid: a one-screen summary on stdout (gateway, uplink,
 * buses with their devices and request load, MQTT sources, devices per
 * kind/profile with the requests one poll costs, rules), exit 0. Invalid:
 * every error as FILE:LINE: message on stderr, then "N errors", exit 1.
 * Warnings (FILE:LINE: warning: message) go to stderr and keep exit 0.
 * --json: the errors and warnings as one object, no summary. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "common/timeutil.h"
#include "gateway/notify/notify_config.h"
#include "sensors/modbus_plan.h"

#define CHECK_MAX_SHOWN 12

static void check_usage(FILE *to)
{
	fprintf(to,
		"usage: gridgw check [-c FILE] [--json]\n"
		"Validates the configuration and prints a summary. Every error is printed as\n"
		"FILE:LINE: message, every warning (loads, but probably not meant: a device no\n"
		"rule watches, a serial port that does not exist) as FILE:LINE: warning: message.\n"
		"Exit status 0 when valid (warnings or not), 1 when not, 2 usage.\n\n"
		"  -c, --config FILE   configuration (default $GRIDGW_CONF, else %s)\n"
		"  -j, --json          errors and warnings as one JSON object on stdout:\n"
		"                      {\"valid\", \"errors\", \"warnings\", \"diagnostics\": [{\"file\",\n"
		"                      \"line\", \"column\", \"severity\", \"message\"}]}, no summary\n"
		"  -h, --help          this help\n",
		GRIDGW_DEFAULT_CONF);
}

/* The bus a device with this profile is polled on first (for the request
 * count of the profile), or -1. */
static int first_bus_of_profile(const struct gw_config *cfg, int profile)
{
	for (int i = 0; i < cfg->n_devices; i++)
		if (cfg->devices[i].profile == profile && cfg->devices[i].bus >= 0)
			return cfg->devices[i].bus;
	return -1;
}

static void print_gateway(const struct gw_config *cfg)
{
	const struct gateway_config *g = &cfg->gateway;
	printf("gateway  %s", g->id);
	if (g->site.street || g->site.community || g->site.grid)
		printf("  (street %s, community %s, grid %s)", g->site.street ? g->site.street : "-",
		       g->site.community ? g->site.community : "-", g->site.grid ? g->site.grid : "-");
	printf("\n         state_dir %s, profiles_dir %s, log_level %s\n", g->state_dir, g->profiles_dir,
	       g->log_level);
	printf("         vendor_profiles_dir %s\n",
	       g->vendor_profiles_dir ? g->vendor_profiles_dir : "none (profiles_dir only)");
	const struct uplink_config *u = &cfg->uplink;
	if (!u->url) {
		printf("uplink   none: local only (incidents are stored, not sent)\n");
		return;
	}
	char ka[32], tel[32];
	duration_format(u->keepalive_ms, ka, sizeof ka);
	duration_format(u->telemetry_interval_ms, tel, sizeof tel);
	printf("uplink   %s as \"%s\", MQTT %s%s, topics %s/%s/..., keepalive %s, telemetry %s\n", u->url,
	       u->client_id, u->mqtt_version == 5 ? "5" : "3.1.1", u->tls.present ? ", TLS" : "", u->topic_prefix,
	       cfg->gateway.id, ka, u->telemetry_interval_ms ? tel : "off");
}

static void print_buses(const struct gw_config *cfg)
{
	printf("buses    %d\n", cfg->n_buses);
	const int shown = cfg->n_buses > CHECK_MAX_SHOWN ? CHECK_MAX_SHOWN - 1 : cfg->n_buses;
	for (int b = 0; b < shown; b++) {
		const struct bus_config *bus = &cfg->buses[b];
		char endpoint[160];
		if (bus->type == BUS_RTU)
			snprintf(endpoint, sizeof endpoint, "%s %d %d%c%d", bus->device, bus->baud, bus->data_bits,
				 bus->parity, bus->stop_bits);
		else
			snprintf(endpoint, sizeof endpoint, "%s:%d", bus->host, bus->port);
		int n = 0;
		double per_s = 0;
		for (int i = 0; i < cfg->n_devices; i++) {
			const struct device_config *d = &cfg->devices[i];
			if (d->bus != b)
				continue;
			n++;
			int req = modbus_plan_count_requests(&cfg->profiles[d->profile], bus);
			if (req > 0 && d->poll_ms > 0)
				per_s += req * 1000.0 / (double)d->poll_ms;
		}
		printf("  %-16s %-3s %-28s %3d device%s  %.1f requests/s\n", bus->name,
		       bus->type == BUS_RTU ? "rtu" : "tcp", endpoint, n, n == 1 ? " " : "s", per_s);
	}
	if (shown < cfg->n_buses)
		printf("  ... and %d more\n", cfg->n_buses - shown);
}

static void print_sources(const struct gw_config *cfg)
{
	printf("mqtt     %d source%s\n", cfg->n_sources, cfg->n_sources == 1 ? "" : "s");
	for (int s = 0; s < cfg->n_sources; s++) {
		const struct mqtt_source_config *src = &cfg->sources[s];
		int n = 0;
		for (int i = 0; i < cfg->n_devices; i++)
			n += cfg->devices[i].source == s;
		char from[96];
		if (src->device_from == DEVICE_FROM_TOPIC)
			snprintf(from, sizeof from, "topic level %d", src->topic_level);
		else
			snprintf(from, sizeof from, "json \"%s\"", src->json_key);
		printf("  %-16s %s %s (device id from %s) %3d device%s\n", src->name, src->url, src->topic, from, n,
		       n == 1 ? "" : "s");
	}
}

static void print_devices(const struct gw_config *cfg)
{
	printf("devices  %d", cfg->n_devices);
	/* Per kind: kinds come from profiles (few), devices are counted once per kind. */
	bool first = true;
	for (int p = 0; p < cfg->n_profiles; p++) {
		const char *kind = cfg->profiles[p].kind;
		bool seen = false;
		for (int q = 0; q < p && !seen; q++)
			seen = strcmp(cfg->profiles[q].kind, kind) == 0;
		if (seen)
			continue;
		int n = 0;
		for (int i = 0; i < cfg->n_devices; i++)
			n += strcmp(cfg->profiles[cfg->devices[i].profile].kind, kind) == 0;
		if (n == 0)
			continue;
		printf("%s %s %d", first ? ":" : ",", kind, n);
		first = false;
	}
	printf("\n");
	for (int p = 0; p < cfg->n_profiles; p++) {
		const struct profile *prof = &cfg->profiles[p];
		int n = 0;
		for (int i = 0; i < cfg->n_devices; i++)
			n += cfg->devices[i].profile == p;
		/* Where it came from: the installer's file, a shipped one or the main config. */
		if (prof->is_mqtt) {
			printf("  %-10s %-22s %3d   MQTT, %d points", prof->kind, prof->name, n, prof->n_points);
		} else {
			int b = first_bus_of_profile(cfg, p);
			int req = modbus_plan_count_requests(prof, b >= 0 ? &cfg->buses[b] : NULL);
			if (req >= 0)
				printf("  %-10s %-22s %3d   Modbus, %d points, %d request%s per poll", prof->kind,
				       prof->name, n, prof->n_points, req, req == 1 ? "" : "s");
			else
				printf("  %-10s %-22s %3d   Modbus, %d points, cannot plan its reads", prof->kind,
				       prof->name, n, prof->n_points);
		}
		printf("  from %s:%d\n", prof->file ? prof->file : "?", prof->line);
	}
}

static void print_rules(const struct gw_config *cfg)
{
	int user = 0, corr = 0, disabled = 0, actions = 0;
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct rule_config *r = &cfg->rules[i];
		if (!r->enabled)
			disabled++;
		else if (r->group != GROUP_NONE)
			corr++;
		else
			user++;
		actions += r->n_on_raise + r->n_on_clear;
	}
	const struct builtin_rules_config *b = &cfg->builtins;
	printf("rules    %d user, %d correlation, %d disabled, %d actions; built-in:%s%s%s%s%s\n", user, corr, disabled,
	       actions, b->offline.enabled ? " offline" : "", b->battery_low.enabled ? " battery_low" : "",
	       b->fault.enabled ? " fault" : "", b->tamper.enabled ? " tamper" : "",
	       !b->offline.enabled && !b->battery_low.enabled && !b->fault.enabled && !b->tamper.enabled ? " none"
														   : "");
	/* One screen: a long list is cut (all of it is in the file). */
	const int shown = cfg->n_rules > CHECK_MAX_SHOWN ? CHECK_MAX_SHOWN - 1 : cfg->n_rules;
	for (int i = 0; i < shown; i++) {
		const struct rule_config *r = &cfg->rules[i];
		int n = 0;
		for (int d = 0; d < cfg->n_devices; d++)
			n += cfg->devices[d].profile == r->profile;
		printf("  %-16s %-16s severity %d on %s (%d device%s)%s%s\n", r->id, r->type, r->severity,
		       cfg->profiles[r->profile].name, n, n == 1 ? "" : "s", r->group != GROUP_NONE ? ", correlated" : "",
		       r->enabled ? "" : ", DISABLED");
	}
	if (shown < cfg->n_rules)
		printf("  ... and %d more\n", cfg->n_rules - shown);
}

/* Channels by name and type, and how the routes send; never a secret
 * (a url may hold a key: only its scheme and host are shown). */
static void print_notify(const struct gw_config *cfg)
{
	const struct notify_config *n = cfg->notify;
	if (!n)
		return;
	printf("notify   %d channel%s, %d route%s, language %s%s%s\n", n->n_channels, n->n_channels == 1 ? "" : "s",
	       n->n_routes, n->n_routes == 1 ? "" : "s", n->language, n->console_url ? ", console " : "",
	       n->console_url ? n->console_url : "");
	for (int i = 0; i < n->n_channels; i++) {
		const struct notify_channel_config *c = &n->channels[i];
		const char *host = strstr(c->url, "://");
		host = host ? host + 3 : c->url;
		int hl = (int)strcspn(host, "/?");
		printf("  %-16s %-8s %.*s%.*s%s\n", c->name, notify_type_name(c->type), (int)(host - c->url), c->url, hl, host,
		       c->secret ? ", signed" : "");
	}
	for (int i = 0; i < n->n_routes; i++) {
		const struct notify_route_config *r = &n->routes[i];
		printf("  route %-2d to", i);
		for (int k = 0; k < r->n_to; k++)
			printf("%s%s", k ? ", " : " ", n->channels[r->to[k]].name);
		if (r->after_ms > 0) {
			char d[32];
			duration_format(r->after_ms, d, sizeof d);
			printf("; after %s", d);
		}
		if (r->has_hours)
			printf("; hours %02d:%02d-%02d:%02d", r->hours_from_min / 60, r->hours_from_min % 60,
			       r->hours_to_min / 60, r->hours_to_min % 60);
		printf("\n");
	}
}

/* The whole list as JSON: every diagnostic with file, line, column (null
 * when not known), severity and message. */
static void print_json(const char *path, bool valid, const struct config_errors *errs)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "config", path);
	cJSON_AddBoolToObject(o, "valid", valid);
	cJSON_AddNumberToObject(o, "errors", errs->n);
	cJSON_AddNumberToObject(o, "warnings", errs->n_warnings);
	cJSON *list = cJSON_AddArrayToObject(o, "diagnostics");
	for (int i = 0; i < errs->n_diags; i++) {
		const struct config_diag *d = &errs->diags[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "file", d->file);
		cJSON_AddNumberToObject(j, "line", d->line);
		if (d->column > 0)
			cJSON_AddNumberToObject(j, "column", d->column);
		else
			cJSON_AddNullToObject(j, "column");
		cJSON_AddStringToObject(j, "severity", d->severity == CONFIG_SEV_WARNING ? "warning" : "error");
		cJSON_AddStringToObject(j, "message", d->message);
		cJSON_AddItemToArray(list, j);
	}
	char *s = cJSON_PrintUnformatted(o);
	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL;
	bool json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'j': json = true; break;
		case 'h': check_usage(stdout); return 0;
		default: check_usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gridgw check: unexpected argument '%s'\n", argv[optind]);
		check_usage(stderr);
		return 2;
	}
	const char *path = cli_config_path(conf);
	struct config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	int rc = config_load_without_secrets(path, &cfg, &errs);
	if (json) {
		print_json(path, rc == 0, &errs);
		config_errors_clear(&errs);
		config_free(cfg);
		return rc == 0 ? 0 : 1;
	}
	if (rc < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "%d error%s\n", errs.n, errs.n == 1 ? "" : "s");
		config_errors_clear(&errs);
		return 1;
	}
	for (int i = 0; i < errs.n_warnings; i++)
		fprintf(stderr, "%s\n", errs.warnings[i]);
	if (errs.n_warnings)
		fprintf(stderr, "%d warning%s\n", errs.n_warnings, errs.n_warnings == 1 ? "" : "s");
	config_errors_clear(&errs);
	printf("%s: valid\n", path);
	print_gateway(cfg);
	print_buses(cfg);
	print_sources(cfg);
	print_devices(cfg);
	print_rules(cfg);
	print_notify(cfg);
	config_free(cfg);
	return 0;
}
