/* Unit tests for the configuration loader (gateway/config/config*.c): values and
 * defaults of a good config, every class of error at its FILE:LINE,
 * includes relative to the including file (nested, cycles, missing),
 * profiles_dir, durations and libconfig 1.5's integer traps. Files are
 * written to a fresh temporary directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/config/config.h"

/* ------------------------------------------------------------ helpers */

struct tdir {
	char path[64];
};

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	/* Create intermediate directories of name. */
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char sub[512];
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		rm_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static int setup_dir(void **state)
{
	struct tdir *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	snprintf(t->path, sizeof t->path, "/tmp/gridgw-cfg.XXXXXX");
	if (!mkdtemp(t->path)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tdir *t = *state;
	rm_tree(t->path);
	free(t);
	return 0;
}

/* Loads DIR/NAME; returns config_load's result. */
static int load(struct tdir *t, const char *name, struct gw_config **cfg, struct config_errors *errs)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", t->path, name);
	return config_load(path, cfg, errs);
}

static void dump_errors(const struct config_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		print_message("# %s\n", errs->msgs[i]);
}

/* Asserts exactly one error, at DIR/FILE:LINE, containing `what`. */
static void assert_one_error(struct tdir *t, const struct config_errors *errs, const char *file, int line,
			     const char *what)
{
	if (errs->n != 1)
		dump_errors(errs);
	assert_int_equal(errs->n, 1);
	char prefix[600];
	snprintf(prefix, sizeof prefix, "%s/%s:%d: ", t->path, file, line);
	if (strncmp(errs->msgs[0], prefix, strlen(prefix)) != 0 || !strstr(errs->msgs[0], what))
		print_message("# got: %s\n# want: %s... %s\n", errs->msgs[0], prefix, what);
	assert_memory_equal(errs->msgs[0], prefix, strlen(prefix));
	assert_non_null(strstr(errs->msgs[0], what));
}

/* ------------------------------------------------------------ good config */

static const char good_conf[] =
	"gateway = {\n"
	"  id = \"gw-1\";\n"
	"  site = { street = \"Duling\"; community = \"Shangquan\"; grid = \"G03\"; };\n"
	"};\n"
	"uplink = { url = \"tcp://127.0.0.1:1883\"; };\n"
	"buses = (\n"
	"  { name = \"rs\"; type = \"rtu\"; device = \"/dev/ttyS1\"; },\n"
	"  { name = \"lan\"; type = \"tcp\"; host = \"127.0.0.1\"; timeout = \"2s\"; max_gap = 0; }\n"
	");\n"
	"mqtt_sources = ( { name = \"br\"; url = \"tcp://127.0.0.1:1883\"; topic = \"s/+/up\"; device_from = \"topic:2\"; },\n"
	"                 { name = \"b2\"; url = \"tcp://127.0.0.1:1883\"; topic = \"x/#\"; device_from = \"json:dev\"; ts_key = \"time\"; } );\n"
	"profiles = {\n"
	"  pm = { kind = \"smoke\"; points = (\n"
	"    { name = \"alarm\"; table = \"discrete\"; address = 0; },\n"
	"    { name = \"smoke\"; table = \"input\"; address = 0; type = \"u16\"; scale = 0.001; unit = \"dB/m\"; },\n"
	"    { name = \"temp\"; table = \"input\"; address = 1; type = \"s16\"; scale = 1; offset = -40; },\n"
	"    { name = \"energy\"; table = \"holding\"; address = 2; type = \"f32\"; word_order = \"little\"; },\n"
	"    { name = \"b0\"; table = \"holding\"; address = 4; type = \"bit\"; bit = 0; },\n"
	"    { name = \"b15\"; table = \"holding\"; address = 4; type = \"bit\"; bit = 15; },\n"
	"    { name = \"hold\"; table = \"coil\"; address = 0; remote_write = true; }\n"
	"  ); };\n"
	"  pj = { kind = \"manhole\"; points = (\n"
	"    { name = \"tilt\"; json = \"data.tilt\"; unit = \"deg\"; },\n"
	"    { name = \"open\"; json = \"list[0].open\"; type = \"bool\"; },\n"
	"    { name = \"status\"; json = \"status\"; type = \"enum\"; values = { alarm = 1; normal = 0.5; }; }\n"
	"  ); };\n"
	"};\n"
	"devices = (\n"
	"  { id = \"d1\"; profile = \"pm\"; bus = \"rs\"; unit = 3; poll = \"2s\";\n"
	"    location = { building = \"5\"; entrance = \"2\"; floor = 7; room = \"701\"; }; },\n"
	"  { id = \"d2\"; profile = \"pj\"; source = \"br\"; location = { place = \"North gate\"; }; },\n"
	"  { id = \"d3\"; profile = \"pm\"; bus = \"lan\"; unit = 0; offline_after = \"1m\"; }\n"
	");\n"
	"rules = (\n"
	"  { id = \"smoke\"; profile = \"pm\"; when = \"alarm || smoke > 0.15\"; for = 0; clear_for = \"30s\";\n"
	"    type = \"fire.smoke\"; severity = 1; latch = true; message = \"Smoke \" \"{room}\";\n"
	"    group = \"floor\"; within = \"2m\";\n"
	"    escalate = { after = \"10m\"; severity = 1; };\n"
	"    on_raise = ( { write = \"hold\"; value = 1; }, { write = \"d3:hold\"; value = true; },\n"
	"                 { publish = \"cmd/siren\"; payload = \"on {room}\"; source = \"br\"; } ); },\n"
	"  { id = \"n\"; profile = \"pm\"; when = \"b0\"; count = 3; within = \"10m\"; type = \"t\"; severity = 4;\n"
	"    chatter_max = 2; chatter_window = \"5m\"; enabled = false; }\n"
	");\n"
	"builtin_rules = { battery_low = { below = 15; clear_at = 30.5; }; tamper = { enabled = false; }; };\n"
	"store = { synchronous = \"normal\"; history_keep = \"2d\"; };\n";

static void test_good_config_values_and_defaults(void **state)
{
	struct tdir *t = *state;
	write_file(t->path, "gw.conf", good_conf);
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = load(t, "gw.conf", &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);

	assert_string_equal(cfg->gateway.id, "gw-1");
	assert_string_equal(cfg->gateway.site.grid, "G03");
	assert_string_equal(cfg->gateway.state_dir, "/var/lib/gridgw");
	assert_string_equal(cfg->gateway.log_level, "info");
	char want_dir[600];
	snprintf(want_dir, sizeof want_dir, "%s/profiles", t->path);
	assert_string_equal(cfg->gateway.profiles_dir, want_dir);

	const struct uplink_config *u = &cfg->uplink;
	assert_string_equal(u->url, "tcp://127.0.0.1:1883");
	assert_string_equal(u->client_id, "gw-1");
	assert_string_equal(u->topic_prefix, "grid/v1");
	assert_int_equal(u->keepalive_ms, 30000);
	assert_int_equal(u->telemetry_interval_ms, 60000);
	assert_int_equal(u->mqtt_version, 3);
	assert_int_equal(u->inflight, 16);
	assert_int_equal(u->max_payload, 16384);
	assert_int_equal(u->down_after_ms, 300000);
	assert_int_equal(u->reconnect_min_ms, 1000);
	assert_int_equal(u->reconnect_max_ms, 60000);
	assert_false(u->tls.present);
	assert_true(u->tls.verify);

	assert_int_equal(cfg->store.max_size_mb, 256);
	assert_int_equal(cfg->store.history_keep_ms, 2 * 86400000LL);
	assert_int_equal(cfg->store.history_interval_ms, 60000);
	assert_int_equal(cfg->store.delivered_keep_ms, 86400000);
	assert_string_equal(cfg->store.synchronous, "normal");

	const struct builtin_rules_config *b = &cfg->builtins;
	assert_true(b->offline.enabled);
	assert_int_equal(b->offline.severity, 3);
	assert_null(b->offline.point);
	assert_int_equal(b->battery_low.severity, 4);
	assert_string_equal(b->battery_low.point, "battery");
	assert_true(b->battery_low.threshold == 15.0);
	assert_true(b->battery_low.clear_threshold == 30.5);
	assert_string_equal(b->fault.point, "fault");
	assert_int_equal(b->fault.severity, 3);
	assert_false(b->tamper.enabled);
	assert_int_equal(b->tamper.severity, 2);

	assert_int_equal(cfg->n_buses, 2);
	const struct bus_config *rs = &cfg->buses[0], *lan = &cfg->buses[1];
	assert_int_equal(rs->type, BUS_RTU);
	assert_string_equal(rs->device, "/dev/ttyS1");
	assert_int_equal(rs->baud, 9600);
	assert_int_equal(rs->parity, 'N');
	assert_int_equal(rs->data_bits, 8);
	assert_int_equal(rs->stop_bits, 1);
	assert_int_equal(rs->timeout_ms, 500);
	assert_int_equal(rs->retries, 1);
	assert_int_equal(rs->max_gap, 4);
	assert_int_equal(rs->max_block_regs, 125);
	assert_int_equal(rs->max_block_bits, 2000);
	assert_int_equal(lan->type, BUS_TCP);
	assert_int_equal(lan->port, 502);
	assert_int_equal(lan->timeout_ms, 2000);
	assert_int_equal(lan->max_gap, 0);
	assert_int_equal(config_find_bus(cfg, "lan"), 1);
	assert_int_equal(config_find_bus(cfg, "nope"), -1);

	assert_int_equal(cfg->n_sources, 2);
	assert_int_equal(cfg->sources[0].device_from, DEVICE_FROM_TOPIC);
	assert_int_equal(cfg->sources[0].topic_level, 2);
	assert_string_equal(cfg->sources[0].ts_key, "ts");
	assert_string_equal(cfg->sources[0].client_id, "gw-1-src-br");
	assert_int_equal(cfg->sources[0].max_payload, 65536);
	assert_int_equal(cfg->sources[1].device_from, DEVICE_FROM_JSON);
	assert_string_equal(cfg->sources[1].json_key, "dev");
	assert_string_equal(cfg->sources[1].ts_key, "time");

	assert_int_equal(cfg->n_profiles, 2);
	int pm_i = config_find_profile(cfg, "pm");
	assert_int_equal(pm_i, 0);
	const struct profile *pm = &cfg->profiles[pm_i];
	assert_false(pm->is_mqtt);
	assert_string_equal(pm->kind, "smoke");
	assert_int_equal(pm->n_points, 7);
	const struct point_def *alarm = &pm->points[config_find_point(pm, "alarm")];
	assert_int_equal(alarm->table, TABLE_DISCRETE);
	assert_int_equal(alarm->type, PT_BOOL);
	assert_false(alarm->writable);
	const struct point_def *smoke = &pm->points[config_find_point(pm, "smoke")];
	assert_true(smoke->scale == 0.001);
	assert_true(smoke->offset == 0.0);
	assert_string_equal(smoke->unit, "dB/m");
	const struct point_def *temp = &pm->points[config_find_point(pm, "temp")];
	assert_int_equal(temp->type, PT_S16);
	assert_true(temp->scale == 1.0); /* an int where a float is expected */
	assert_true(temp->offset == -40.0);
	const struct point_def *energy = &pm->points[config_find_point(pm, "energy")];
	assert_int_equal(energy->type, PT_F32);
	assert_int_equal(energy->word_order, WORD_LITTLE);
	assert_true(energy->writable);
	const struct point_def *b15 = &pm->points[config_find_point(pm, "b15")];
	assert_int_equal(b15->type, PT_BIT);
	assert_int_equal(b15->bit, 15);
	assert_int_equal(b15->address, 4);
	const struct point_def *hold = &pm->points[config_find_point(pm, "hold")];
	assert_int_equal(hold->table, TABLE_COIL);
	assert_true(hold->writable);
	assert_true(hold->remote_write);
	assert_int_equal(hold->line, 20);
	char want_file[600];
	snprintf(want_file, sizeof want_file, "%s/gw.conf", t->path);
	assert_string_equal(hold->file, want_file);
	assert_int_equal(config_find_point(pm, "nope"), -1);

	const struct profile *pj = &cfg->profiles[1];
	assert_true(pj->is_mqtt);
	assert_int_equal(pj->points[0].type, PT_NUMBER);
	assert_int_equal(pj->points[0].table, TABLE_NONE);
	assert_string_equal(pj->points[0].json, "data.tilt");
	assert_int_equal(pj->points[1].type, PT_BOOL);
	assert_string_equal(pj->points[1].json, "list[0].open");
	assert_int_equal(pj->points[2].type, PT_ENUM);
	assert_int_equal(pj->points[2].n_values, 2);
	assert_string_equal(pj->points[2].values[0].name, "alarm");
	assert_true(pj->points[2].values[0].value == 1.0);
	assert_true(pj->points[2].values[1].value == 0.5);

	assert_int_equal(cfg->n_devices, 3);
	const struct device_config *d1 = &cfg->devices[0], *d2 = &cfg->devices[1], *d3 = &cfg->devices[2];
	assert_int_equal(d1->profile, 0);
	assert_int_equal(d1->bus, 0);
	assert_int_equal(d1->source, -1);
	assert_int_equal(d1->unit, 3);
	assert_int_equal(d1->poll_ms, 2000);
	assert_int_equal(d1->offline_after_ms, 6000);
	assert_string_equal(d1->location.building, "5");
	assert_string_equal(d1->location.room, "701");
	assert_true(d1->location.has_floor);
	assert_int_equal(d1->location.floor, 7);
	assert_null(d1->location.place);
	assert_int_equal(d2->profile, 1);
	assert_int_equal(d2->bus, -1);
	assert_int_equal(d2->source, 0);
	assert_int_equal(d2->offline_after_ms, 3600000);
	assert_false(d2->location.has_floor);
	assert_string_equal(d2->location.place, "North gate");
	assert_int_equal(d3->unit, 0); /* unit 0 is fine on TCP */
	assert_int_equal(d3->poll_ms, 1000);
	assert_int_equal(d3->offline_after_ms, 60000);
	assert_int_equal(config_find_device(cfg, "d3"), 2);

	assert_int_equal(cfg->n_rules, 2);
	const struct rule_config *r = &cfg->rules[config_find_rule(cfg, "smoke")];
	assert_int_equal(r->profile, 0);
	assert_string_equal(r->when, "alarm || smoke > 0.15");
	assert_null(r->clear_when);
	assert_int_equal(r->for_ms, 0);
	assert_int_equal(r->clear_for_ms, 30000);
	assert_true(r->latch);
	assert_int_equal(r->severity, 1);
	assert_string_equal(r->type, "fire.smoke");
	assert_string_equal(r->message, "Smoke {room}");
	assert_int_equal(r->group, GROUP_FLOOR);
	assert_int_equal(r->min_devices, 2);
	assert_int_equal(r->within_ms, 120000);
	assert_string_equal(r->confirmed_type, "fire.confirmed");
	assert_int_equal(r->confirmed_severity, 1);
	assert_true(r->has_escalate);
	assert_int_equal(r->escalate_after_ms, 600000);
	assert_int_equal(r->escalate_severity, 1);
	assert_int_equal(r->chatter_max, 5);
	assert_int_equal(r->chatter_window_ms, 60000);
	assert_true(r->enabled);
	assert_int_equal(r->n_on_raise, 3);
	assert_int_equal(r->n_on_clear, 0);
	assert_int_equal(r->on_raise[0].kind, ACTION_WRITE);
	assert_int_equal(r->on_raise[0].device, -1);
	assert_string_equal(r->on_raise[0].point_name, "hold");
	assert_true(r->on_raise[0].value == 1.0);
	assert_int_equal(r->on_raise[1].device, 2);
	assert_string_equal(r->on_raise[1].point_name, "hold");
	assert_true(r->on_raise[1].value == 1.0);
	assert_int_equal(r->on_raise[2].kind, ACTION_PUBLISH);
	assert_string_equal(r->on_raise[2].topic, "cmd/siren");
	assert_string_equal(r->on_raise[2].payload, "on {room}");
	assert_int_equal(r->on_raise[2].source, 0);
	const struct rule_config *n = &cfg->rules[1];
	assert_int_equal(n->count, 3);
	assert_int_equal(n->within_ms, 600000);
	assert_int_equal(n->group, GROUP_NONE);
	assert_int_equal(n->chatter_max, 2);
	assert_int_equal(n->chatter_window_ms, 300000);
	assert_false(n->enabled);
	assert_false(n->has_escalate);
	assert_int_equal(config_find_rule(cfg, "zz"), -1);

	config_free(cfg);
	config_errors_clear(&errs);
}

/* The shipped example and its profiles load (tests run from the top). */
static void test_shipped_config_loads(void **state)
{
	(void)state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = config_load("config/gridgw.conf", &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	const char *names[] = { "smoke_detector", "smoke_detector_mqtt", "manhole_cover", "manhole_cover_mqtt",
				"elevator_ebike", "elevator_ebike_mqtt", "generic_modbus" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_true(config_find_profile(cfg, names[i]) >= 0);
	/* Each Modbus profile has an MQTT twin with the same point names. */
	const char *pairs[][2] = { { "smoke_detector", "smoke_detector_mqtt" },
				   { "manhole_cover", "manhole_cover_mqtt" },
				   { "elevator_ebike", "elevator_ebike_mqtt" } };
	for (size_t i = 0; i < 3; i++) {
		const struct profile *m = &cfg->profiles[config_find_profile(cfg, pairs[i][0])];
		const struct profile *j = &cfg->profiles[config_find_profile(cfg, pairs[i][1])];
		assert_false(m->is_mqtt);
		assert_true(j->is_mqtt);
		assert_int_equal(m->n_points, j->n_points);
		for (int k = 0; k < m->n_points; k++)
			assert_true(config_find_point(j, m->points[k].name) >= 0);
		assert_string_equal(m->kind, j->kind);
	}
	const struct profile *e = &cfg->profiles[config_find_profile(cfg, "elevator_ebike")];
	const struct point_def *dh = &e->points[config_find_point(e, "door_hold")];
	assert_true(dh->remote_write);
	assert_int_equal(e->points[config_find_point(e, "event_count")].type, PT_U32);
	config_free(cfg);
	config_errors_clear(&errs);
}

/* ------------------------------------------------------------ error classes */

/* A small valid config with marker lines where a case inserts its text;
 * the marker's line is where the error must be reported. */
static const char base_conf[] =
	"gateway = { id = \"gw\";\n"                                                       /* 1 */
	"@GW@\n"                                                                           /* 2 */
	"};\n"                                                                             /* 3 */
	"buses = ( { name = \"b1\"; type = \"rtu\"; device = \"/dev/ttyS1\";\n"            /* 4 */
	"@BUS@\n"                                                                          /* 5 */
	"} );\n"                                                                           /* 6 */
	"mqtt_sources = ( { name = \"s1\"; url = \"tcp://127.0.0.1:1883\"; topic = \"up/+\"; device_from = \"topic:2\"; } );\n" /* 7 */
	"profiles = {\n"                                                                   /* 8 */
	"  pm = { kind = \"k\"; points = (\n"                                              /* 9 */
	"    { name = \"a\"; table = \"coil\"; address = 0; },\n"                          /* 10 */
	"    { name = \"v\"; table = \"holding\"; address = 1; type = \"u16\"; },\n"       /* 11 */
	"@POINT@\n"                                                                        /* 12 */
	"    { name = \"ro\"; table = \"input\"; address = 1; }\n"                         /* 13 */
	"  ); };\n"                                                                        /* 14 */
	"  pj = { kind = \"k\"; points = ( { name = \"a\"; json = \"a\"; type = \"bool\"; } ); };\n" /* 15 */
	"};\n"                                                                             /* 16 */
	"devices = (\n"                                                                    /* 17 */
	"  { id = \"d1\"; profile = \"pm\"; bus = \"b1\"; unit = 1; },\n"                  /* 18 */
	"  { id = \"d2\"; profile = \"pj\"; source = \"s1\"; },\n"                         /* 19 */
	"@DEV@\n"                                                                          /* 20 */
	"  { id = \"d9\"; profile = \"pj\"; source = \"s1\"; }\n"                          /* 21 */
	");\n"                                                                             /* 22 */
	"rules = (\n"                                                                      /* 23 */
	"  { id = \"r1\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; },\n" /* 24 */
	"@RULE@\n"                                                                         /* 25 */
	"  { id = \"r9\"; profile = \"pj\"; when = \"a\"; type = \"t\"; severity = 2; }\n" /* 26 */
	");\n"                                                                             /* 27 */
	"@TOP@\n";                                                                         /* 28 */

struct error_case {
	const char *marker;
	const char *text;
	const char *want;
};

static const struct error_case error_cases[] = {
	/* unknown keys, at every level */
	{ "@GW@", "log_levle = \"info\";", "unknown key 'log_levle' in gateway (did you mean 'log_level'?)" },
	{ "@TOP@", "devics = ();", "unknown key 'devics' in the configuration (did you mean 'devices'?)" },
	{ "@BUS@", "host = \"x\";", "'host' is not valid here: it belongs to a tcp bus" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 5; scael = 2.0; },", "unknown key 'scael'" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 5; json = \"x\"; },", "not both" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b1\"; unit = 2; location = { flor = 3; }; },",
	  "unknown key 'flor' in location" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; whne = \"a\"; when = \"a\"; type = \"t\"; severity = 2; },",
	  "unknown key 'whne' in rule (did you mean 'when'?)" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_raise = ( { wirte = \"v\"; value = 1; } ); },",
	  "unknown key 'wirte' in action" },
	/* wrong types, ranges, choices */
	{ "@GW@", "state_dir = 5;", "'state_dir' must be a string, not an integer" },
	{ "@GW@", "log_level = \"loud\";", "'log_level' = \"loud\" is not one of \"error\", \"warn\", \"info\", \"debug\"" },
	{ "@BUS@", "parity = \"X\";", "'parity' = \"X\" is not one of" },
	{ "@BUS@", "baud = 9601;", "not a standard rate" },
	{ "@BUS@", "retries = 1.0;", "'retries' must be an integer, not a number" },
	{ "@BUS@", "stop_bits = 3;", "'stop_bits' = 3 is out of range (1 to 2)" },
	{ "@BUS@", "max_gap = 3000000000;", "integer 3000000000 is out of range" },
	{ "@BUS@", "max_gap = 99999999999999999999L;", "integer 99999999999999999999 is out of range" },
	{ "@BUS@", "rs485 = 1;", "'rs485' must be true or false" },
	/* durations */
	{ "@BUS@", "timeout = \"5 s\";", "'timeout' = \"5 s\" is not a duration" },
	{ "@BUS@", "timeout = \"1.5s\";", "is not a duration" },
	{ "@BUS@", "timeout = 5;", "'timeout' must be a duration string like \"30s\" (or 0)" },
	{ "@BUS@", "frame_delay = \"2s\";", "'frame_delay' must be at most 1s" },
	/* points */
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 1; },", "overlaps point \"v\"" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 0; type = \"s32\"; },", "overlaps point \"v\"" },
	{ "@POINT@", "{ name = \"w1\"; table = \"holding\"; address = 7; type = \"bit\"; bit = 3; }, { name = \"w2\"; table = \"holding\"; address = 7; type = \"bit\"; bit = 3; },",
	  "uses bit 3 of holding register 7" },
	{ "@POINT@", "{ name = \"w\"; table = \"input\"; address = 5; remote_write = true; },",
	  "remote_write needs a writable point" },
	{ "@POINT@", "{ name = \"w\"; table = \"coil\"; address = 9; type = \"u16\"; },", "single bit" },
	{ "@POINT@", "{ name = \"a\"; table = \"coil\"; address = 9; },", "duplicate point name \"a\"" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 9; type = \"bit\"; bit = 16; },",
	  "'bit' = 16 is out of range (0 to 15)" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 9; type = \"bit\"; },", "missing required key 'bit'" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 9; bit = 2; },", "'bit' is only used with type" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 65535; type = \"u32\"; },", "address 65535" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 65536; },", "'address' = 65536 is out of range" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 9; word_order = \"big\"; },",
	  "'word_order' only applies to 32-bit types" },
	{ "@POINT@", "{ name = \"w-x\"; table = \"holding\"; address = 9; },", "must be an identifier" },
	{ "@POINT@", "{ name = \"w\"; table = \"holding\"; address = 9; scale = 0; },", "'scale' must not be 0" },
	/* devices */
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b2\"; unit = 2; },", "no bus named \"b2\" (did you mean \"b1\"?)" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pn\"; bus = \"b1\"; unit = 2; },", "no profile named \"pn\"" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pj\"; source = \"s2\"; },", "no mqtt source named \"s2\"" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; source = \"s1\"; },", "is a Modbus profile: the device needs a 'bus'" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pj\"; bus = \"b1\"; unit = 2; },", "MQTT (JSON) profile: the device needs a 'source'" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b1\"; source = \"s1\"; unit = 2; },", "not both" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; },", "needs a 'bus' (Modbus profile) or a 'source'" },
	{ "@DEV@", "{ id = \"d1\"; profile = \"pm\"; bus = \"b1\"; unit = 2; },", "duplicate device id \"d1\"" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b1\"; unit = 1; },", "unit 1 on bus \"b1\" is already used by device" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b1\"; unit = 0; },", "'unit' = 0 is out of range (1 to 247)" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b1\"; },", "missing required key 'unit'" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pj\"; source = \"s1\"; poll = \"1s\"; },", "'poll' is only for Modbus devices" },
	{ "@DEV@", "{ id = \"d3\"; profile = \"pm\"; bus = \"b1\"; unit = 2; location = { floor = \"7\"; }; },",
	  "'floor' must be an integer, not a string" },
	{ "@DEV@", "{ id = \"d 3\"; profile = \"pm\"; bus = \"b1\"; unit = 2; },", "device id \"d 3\" must be" },
	/* rules */
	{ "@RULE@", "{ id = \"r1\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; },", "duplicate rule id \"r1\"" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"px\"; when = \"a\"; type = \"t\"; severity = 2; },", "no profile named \"px\"" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a &&\"; type = \"t\"; severity = 2; },", "'when': " },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"zz > 1\"; type = \"t\"; severity = 2; },", "'when': " },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; clear_when = \"(v\"; type = \"t\"; severity = 2; },", "'clear_when': " },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 5; },", "'severity' = 5 is out of range (1 to 4)" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; severity = 2; },", "missing required key 'type'" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; for = \"soon\"; },", "'for' = \"soon\" is not a duration" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; count = 3; },", "needs 'within'" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; min_devices = 3; },", "only used by a correlation rule" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; escalate = { after = \"1m\"; severity = 3; }; },", "less urgent" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_raise = ( { write = \"nodev:v\"; value = 1; } ); },",
	  "no device named \"nodev\"" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_raise = ( { write = \"nope\"; value = 1; } ); },",
	  "profile \"pm\" has no point \"nope\"" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_raise = ( { write = \"ro\"; value = 1; } ); },",
	  "point \"ro\" of profile \"pm\" is not writable" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_raise = ( { write = \"d2:a\"; value = 1; } ); },",
	  "point \"a\" of profile \"pj\" is not writable" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_raise = ( { write = \"a\"; value = 2; } ); },",
	  "its value must be 0 or 1" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_clear = ( { publish = \"x/y\"; source = \"nosrc\"; } ); },",
	  "no mqtt source named \"nosrc\"" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_clear = ( { publish = \"x/#\"; source = \"s1\"; } ); },",
	  "is not a topic to publish to" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; on_clear = ( { value = 1; } ); },",
	  "either 'write'" },
	{ "@RULE@", "{ id = \"r2\"; profile = \"pm\"; when = \"a\"; type = \"t\"; severity = 2; message = \"{device} at {rooom}: v={v}\"; },",
	  "message: {rooom} is neither a point" },
	/* top-level groups */
	{ "@TOP@", "uplink = { url = \"http://x\"; };", "must start with tcp:// or ssl://" },
	{ "@TOP@", "uplink = { url = \"tcp://x:1883\"; tls = { ca = \"ca.pem\"; }; };", "not ssl://" },
	{ "@TOP@", "uplink = { url = \"tcp://x:1883\"; mqtt_version = 4; };", "3 (MQTT 3.1.1) or 5" },
	{ "@TOP@", "store = { synchronous = \"off\"; };", "'synchronous' = \"off\" is not one of \"full\", \"normal\"" },
	{ "@TOP@", "builtin_rules = { battery_low = { below = 30; clear_at = 20; }; };", "would never clear" },
	{ "@TOP@", "builtin_rules = { offline = { point = \"x\"; }; };", "unknown key 'point' in builtin_rules.offline" },
	{ "@TOP@", "profiles2 = 1;", "unknown key 'profiles2'" },
	/* lexical problems libconfig 1.5 would hide */
	{ "@TOP@", "/* never closed", "unterminated /* comment" },
	{ "@TOP@", "x = ;", "syntax error" },
	/* a string where the grammar has none: libconfig 1.5 would leak it */
	{ "@TOP@", "x = { b = 1, \"s\" };", "syntax error: unexpected string" },
	{ "@TOP@", "x = 0x1 \"b\";", "syntax error: unexpected string" },
};

static char *make_conf(const char *marker, const char *text)
{
	static const char *const markers[] = { "@GW@", "@BUS@", "@POINT@", "@DEV@", "@RULE@", "@TOP@" };
	size_t cap = sizeof base_conf + strlen(text) + 16, len = 0;
	char *out = calloc(1, cap);
	assert_non_null(out);
	const char *p = base_conf;
	while (*p) {
		const char *m = NULL;
		for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
			if (strncmp(p, markers[i], strlen(markers[i])) == 0)
				m = markers[i];
		if (m) {
			if (strcmp(m, marker) == 0) {
				memcpy(out + len, text, strlen(text));
				len += strlen(text);
			}
			p += strlen(m);
		} else {
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	return out;
}

static int marker_line(const char *marker)
{
	const char *at = strstr(base_conf, marker);
	int line = 1;
	for (const char *p = base_conf; p < at; p++)
		line += *p == '\n';
	return line;
}

static void test_base_config_is_valid(void **state)
{
	struct tdir *t = *state;
	char *conf = make_conf("", "");
	write_file(t->path, "base.conf", conf);
	free(conf);
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = load(t, "base.conf", &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	config_free(cfg);
	config_errors_clear(&errs);
}

static void test_each_error_class_at_its_line(void **state)
{
	struct tdir *t = *state;
	for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
		const struct error_case *ec = &error_cases[i];
		char *conf = make_conf(ec->marker, ec->text);
		write_file(t->path, "case.conf", conf);
		free(conf);
		struct gw_config *cfg = (struct gw_config *)&cfg; /* must be reset to NULL */
		struct config_errors errs = { 0 };
		print_message("# case %zu: %s\n", i, ec->text);
		assert_int_equal(load(t, "case.conf", &cfg, &errs), -1);
		assert_null(cfg);
		assert_one_error(t, &errs, "case.conf", marker_line(ec->marker), ec->want);
		config_errors_clear(&errs);
	}
}

/* Several mistakes: all reported in one pass. */
static void test_all_errors_in_one_pass(void **state)
{
	struct tdir *t = *state;
	write_file(t->path, "m.conf",
		   "gateway = { id = \"gw\"; colour = 1; };\n"
		   "buses = ( { name = \"b\"; type = \"tcp\"; host = \"h\"; port = 0; } );\n"
		   "devices = ( { id = \"d\"; profile = \"nope\"; bus = \"b\"; unit = 1; poll = \"1x\"; } );\n"
		   "rules = ( { id = \"r\"; profile = \"nope\"; when = \"x\"; type = \"t\"; severity = 0; } );\n");
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	assert_int_equal(load(t, "m.conf", &cfg, &errs), -1);
	dump_errors(&errs);
	assert_int_equal(errs.n, 6);
	const char *want[] = { ":1: unknown key 'colour'", ":2: 'port' = 0", ":3: no profile named \"nope\"",
			       ":3: 'poll' = \"1x\"", ":4: no profile named \"nope\"", ":4: 'severity' = 0" };
	for (int i = 0; i < 6; i++)
		assert_non_null(strstr(errs.msgs[i], want[i]));
	config_errors_clear(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.msgs);
}

/* Two MQTT clients with one client id: the broker would drop one. Reported
 * at the source that clashes. */
static void test_client_id_clash(void **state)
{
	struct tdir *t = *state;
	char *conf = make_conf("@TOP@", "uplink = { url = \"tcp://x:1883\"; client_id = \"gw-src-s1\"; };");
	write_file(t->path, "c.conf", conf);
	free(conf);
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	assert_int_equal(load(t, "c.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "c.conf", 7, "uses client id \"gw-src-s1\", as the uplink does");
	config_errors_clear(&errs);
}

/* JSON key paths as sensors/json_map reads them. */
static void test_json_paths(void **state)
{
	struct tdir *t = *state;
	static const char *const good[] = { "a", "a.b", "list[0].v", "m[1][0]", "[2].x", "a-b c.d" };
	static const char *const bad[] = { "", "a..b", ".a", "a.", "a[", "a[x]", "a[]", "a[1234567890]", "a]b", "a.[0]" };
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	char conf[512];
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(conf, sizeof conf,
			 "gateway = { id = \"gw\"; };\nprofiles = { p = { kind = \"k\"; points = (\n{ name = \"v\"; json = \"%s\"; } ); }; };\n",
			 good[i]);
		write_file(t->path, "j.conf", conf);
		int rc = load(t, "j.conf", &cfg, &errs);
		dump_errors(&errs);
		assert_int_equal(rc, 0);
		assert_string_equal(cfg->profiles[0].points[0].json, good[i]);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(conf, sizeof conf,
			 "gateway = { id = \"gw\"; };\nprofiles = { p = { kind = \"k\"; points = (\n{ name = \"v\"; json = \"%s\"; } ); }; };\n",
			 bad[i]);
		write_file(t->path, "j.conf", conf);
		assert_int_equal(load(t, "j.conf", &cfg, &errs), -1);
		assert_one_error(t, &errs, "j.conf", 3, "is not a key path");
		config_errors_clear(&errs);
	}
}

/* ------------------------------------------------------------ includes */

static void test_include_relative_to_including_file_nested(void **state)
{
	struct tdir *t = *state;
	/* main.conf includes a/x.inc, which includes b/y.inc relative to a/
	 * (so a/b/y.inc), which includes ../../z.inc (the top again). The
	 * test's cwd is not the config directory, so cwd-relative would fail. */
	write_file(t->path, "main.conf",
		   "gateway = { id = \"gw\"; };\n"
		   "profiles = {\n"
		   "@include \"a/x.inc\"\n"
		   "};\n"
		   "devices = ( { id = \"d\"; profile = \"p\"; bus = \"b\"; unit = 1; } );\n"
		   "buses = ( { name = \"b\"; type = \"tcp\"; host = \"h\"; } );\n");
	write_file(t->path, "a/x.inc",
		   "# x\n"
		   "p = { kind = \"k\"; points = (\n"
		   "  @include \"b/y.inc\"\n"
		   "); };\n");
	write_file(t->path, "a/b/y.inc",
		   "{ name = \"v\"; table = \"input\"; address = 0; },\n"
		   "@include \"../../z.inc\"\n");
	write_file(t->path, "z.inc", "{ name = \"w\"; table = \"input\"; address = 1; }\n");
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = load(t, "main.conf", &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	const struct profile *p = &cfg->profiles[0];
	assert_int_equal(p->n_points, 2);
	char want[600];
	snprintf(want, sizeof want, "%s/a/x.inc", t->path);
	assert_string_equal(p->file, want);
	assert_int_equal(p->line, 2);
	snprintf(want, sizeof want, "%s/a/b/y.inc", t->path);
	assert_string_equal(p->points[0].file, want);
	assert_int_equal(p->points[0].line, 1);
	snprintf(want, sizeof want, "%s/a/b/../../z.inc", t->path);
	assert_string_equal(p->points[1].file, want);
	assert_int_equal(p->points[1].line, 1);
	/* Lines after an include in the including file keep their numbers. */
	assert_int_equal(cfg->devices[0].line, 5);
	config_free(cfg);

	/* An error in the nested file names that file and line. */
	write_file(t->path, "a/b/y.inc",
		   "{ name = \"v\"; table = \"input\"; address = 0; },\n"
		   "\n"
		   "{ name = \"u\"; table = \"inptu\"; address = 0; },\n"
		   "@include \"../../z.inc\"\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "a/b/y.inc", 3, "'table' = \"inptu\" is not one of");
	config_errors_clear(&errs);

	/* A syntax error inside an included file is reported there. */
	write_file(t->path, "a/b/y.inc", "{ name = \"v\"; table = ; }\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "a/b/y.inc", 1, "syntax error");
	config_errors_clear(&errs);
}

static void test_include_missing_and_cycle(void **state)
{
	struct tdir *t = *state;
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n\n@include \"nothere.inc\"\n");
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "main.conf", 3, "cannot open include file");
	config_errors_clear(&errs);

	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n@include \"loop.inc\"\n");
	write_file(t->path, "loop.inc", "# includes itself\n@include \"loop.inc\"\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "loop.inc", 2, "nested deeper than");
	config_errors_clear(&errs);

	/* @include inside a comment or a string is not an include. */
	write_file(t->path, "main.conf",
		   "gateway = { id = \"gw\"; /*\n"
		   "@include \"nothere.inc\"\n"
		   "*/ state_dir = \"a\n"
		   "@include \\\"x\\\"\"; };\n");
	int rc = load(t, "main.conf", &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg->gateway.state_dir, "a\n@include \"x\"");
	config_free(cfg);

	/* Only regular files: a FIFO would block, a directory is a mistake. */
	char fifo[600];
	snprintf(fifo, sizeof fifo, "%s/fifo.inc", t->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n@include \"fifo.inc\"\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "main.conf", 2, "not a regular file");
	config_errors_clear(&errs);
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n@include \".\"\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "main.conf", 2, "is a directory");
	config_errors_clear(&errs);

	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n@include \"x.inc\" junk\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "main.conf", 2, "on a line of its own");
	config_errors_clear(&errs);
}

/* ------------------------------------------------------------ profiles_dir */

static const char pfile_a[] = "profiles = { pa = { kind = \"k\"; points = ( { name = \"x\"; json = \"x\"; } ); }; };\n";
static const char pfile_b[] = "# b\nprofiles = {\n  pb = { kind = \"k\"; points = ( { name = \"x\"; table = \"coil\"; address = 0; } ); };\n};\n";

static void test_profiles_dir_default_and_explicit(void **state)
{
	struct tdir *t = *state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	/* No profiles/ beside the file: fine. */
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), 0);
	assert_int_equal(cfg->n_profiles, 0);
	config_free(cfg);

	/* The default profiles/ is read, sorted, *.conf only. */
	write_file(t->path, "profiles/b.conf", pfile_b);
	write_file(t->path, "profiles/a.conf", pfile_a);
	write_file(t->path, "profiles/c.conf.disabled", "garbage {{{\n");
	write_file(t->path, "profiles/README", "not config\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), 0);
	assert_int_equal(cfg->n_profiles, 2);
	assert_string_equal(cfg->profiles[0].name, "pa");
	assert_string_equal(cfg->profiles[1].name, "pb");
	assert_true(cfg->profiles[0].is_mqtt);
	assert_int_equal(cfg->profiles[1].line, 3);
	config_free(cfg);

	/* An explicit directory is relative to the main file and must exist. */
	write_file(t->path, "main.conf", "gateway = { id = \"gw\";\n  profiles_dir = \"more\"; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "main.conf", 2, "profiles_dir");
	config_errors_clear(&errs);
	write_file(t->path, "more/x.conf", pfile_a);
	assert_int_equal(load(t, "main.conf", &cfg, &errs), 0);
	assert_int_equal(cfg->n_profiles, 1);
	config_free(cfg);

	/* A profile defined twice: the second is reported, naming the first. */
	write_file(t->path, "more/y.conf", "\n\n" "profiles = { pa = { kind = \"k\"; points = ( { name = \"x\"; json = \"x\"; } ); }; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "more/y.conf", 3, "duplicate profile \"pa\" (first at");
	config_errors_clear(&errs);

	/* A profiles file may only define profiles. */
	write_file(t->path, "more/y.conf", "profiles = {};\ndevices = ();\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "more/y.conf", 2, "unknown key 'devices'");
	config_errors_clear(&errs);
}


/* ----------------------------------------------------- vendor_profiles_dir */

static const char pfile_v[] =
	"profiles = {\n"
	"  pv = { kind = \"vendor\"; points = ( { name = \"x\"; json = \"x\"; } ); };\n"
	"  pa = { kind = \"vendor\"; points = ( { name = \"x\"; json = \"x\"; } ); };\n"
	"  pm = { kind = \"vendor\"; points = ( { name = \"x\"; json = \"x\"; } ); };\n"
	"};\n";

static const struct profile *profile_named(const struct gw_config *cfg, const char *name)
{
	int i = config_find_profile(cfg, name);
	assert_true(i >= 0);
	return &cfg->profiles[i];
}

/* The installer's directory wins: a vendor file of the same name is not read
 * (it is garbage here, so reading it would fail), a vendor profile of a name
 * defined in the main file or profiles_dir is skipped, the rest is added,
 * and each profile remembers its file. */
static void test_vendor_profiles_dir(void **state)
{
	struct tdir *t = *state;
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	write_file(t->path, "main.conf",
		   "gateway = { id = \"gw\"; vendor_profiles_dir = \"vendor\"; };\n"
		   "profiles = { pm = { kind = \"main\"; points = ( { name = \"x\"; json = \"x\"; } ); }; };\n");
	write_file(t->path, "profiles/a.conf", pfile_a);
	write_file(t->path, "profiles/smoke.conf", pfile_b);
	write_file(t->path, "vendor/smoke.conf", "garbage {{{\n");
	write_file(t->path, "vendor/v.conf", pfile_v);
	write_file(t->path, "vendor/w.conf",
		   "profiles = { pw = { kind = \"vendor\"; points = ( { name = \"x\"; json = \"x\"; } ); }; };\n");
	if (load(t, "main.conf", &cfg, &errs) != 0)
		dump_errors(&errs);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cfg->n_profiles, 5); /* pm, pa, pb (installer's), pv, pw (vendor) */
	char want[512];
	snprintf(want, sizeof want, "%s/vendor", t->path);
	assert_string_equal(cfg->gateway.vendor_profiles_dir, want);
	assert_string_equal(profile_named(cfg, "pm")->kind, "main");
	assert_string_equal(profile_named(cfg, "pa")->kind, "k");
	assert_non_null(strstr(profile_named(cfg, "pa")->file, "/profiles/a.conf"));
	assert_non_null(strstr(profile_named(cfg, "pb")->file, "/profiles/smoke.conf"));
	assert_non_null(strstr(profile_named(cfg, "pv")->file, "/vendor/v.conf"));
	assert_int_equal(profile_named(cfg, "pv")->line, 2);
	assert_non_null(strstr(profile_named(cfg, "pw")->file, "/vendor/w.conf"));
	config_free(cfg);

	/* Without the installer's smoke.conf the vendor file is read (and fails). */
	snprintf(want, sizeof want, "%s/profiles/smoke.conf", t->path);
	assert_int_equal(unlink(want), 0);
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], "/vendor/smoke.conf:1:"));
	config_errors_clear(&errs);
	snprintf(want, sizeof want, "%s/vendor/smoke.conf", t->path);
	assert_int_equal(unlink(want), 0);

	/* A name defined twice within the vendor directory stays an error. */
	write_file(t->path, "vendor/x.conf",
		   "profiles = { pw = { kind = \"vendor\"; points = ( { name = \"x\"; json = \"x\"; } ); }; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "vendor/x.conf", 1, "duplicate profile \"pw\" (first at");
	config_errors_clear(&errs);

	/* An explicit vendor directory must exist; "" turns it off. */
	write_file(t->path, "main.conf", "gateway = { id = \"gw\";\n  vendor_profiles_dir = \"nowhere\"; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), -1);
	assert_one_error(t, &errs, "main.conf", 2, "vendor_profiles_dir");
	config_errors_clear(&errs);
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; vendor_profiles_dir = \"\"; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), 0);
	assert_null(cfg->gateway.vendor_profiles_dir);
	assert_int_equal(cfg->n_profiles, 1); /* pa of profiles/a.conf */
	config_free(cfg);

	/* The same directory twice is read once. */
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; vendor_profiles_dir = \"profiles\"; };\n");
	assert_int_equal(load(t, "main.conf", &cfg, &errs), 0);
	assert_int_equal(cfg->n_profiles, 1);
	config_free(cfg);

	/* Without the key, $GRIDGW_VENDOR_PROFILES_DIR is the vendor directory
	 * (main() sets it to "" so that no other test sees the system's). A
	 * missing default directory is fine. */
	snprintf(want, sizeof want, "%s/vendor/x.conf", t->path);
	assert_int_equal(unlink(want), 0);
	write_file(t->path, "main.conf", "gateway = { id = \"gw\"; };\n");
	snprintf(want, sizeof want, "%s/vendor", t->path);
	assert_int_equal(setenv("GRIDGW_VENDOR_PROFILES_DIR", want, 1), 0);
	int rc = load(t, "main.conf", &cfg, &errs);
	assert_int_equal(setenv("GRIDGW_VENDOR_PROFILES_DIR", "", 1), 0);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->n_profiles, 4); /* pa (installer's), pv, pm, pw */
	assert_string_equal(profile_named(cfg, "pa")->kind, "k");
	assert_string_equal(profile_named(cfg, "pm")->kind, "vendor");
	config_free(cfg);
	snprintf(want, sizeof want, "%s/absent", t->path);
	assert_int_equal(setenv("GRIDGW_VENDOR_PROFILES_DIR", want, 1), 0);
	rc = load(t, "main.conf", &cfg, &errs);
	assert_int_equal(setenv("GRIDGW_VENDOR_PROFILES_DIR", "", 1), 0);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->n_profiles, 1);
	config_free(cfg);
}
/* ------------------------------------------------------------ durations */

static void test_durations(void **state)
{
	struct tdir *t = *state;
	static const struct { const char *text; long long ms; } ok[] = {
		{ "\"500ms\"", 500 }, { "\"30s\"", 30000 }, { "\"10m\"", 600000 }, { "\"2h\"", 7200000 },
		{ "\"1d\"", 86400000 }, { "0", 0 }, { "\"0\"", 0 }, { "0L", 0 },
	};
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char conf[256];
		snprintf(conf, sizeof conf, "gateway = { id = \"gw\"; };\nstore = { history_keep = %s; };\n", ok[i].text);
		write_file(t->path, "d.conf", conf);
		int rc = load(t, "d.conf", &cfg, &errs);
		dump_errors(&errs);
		assert_int_equal(rc, 0);
		assert_int_equal(cfg->store.history_keep_ms, ok[i].ms);
		config_free(cfg);
	}
	static const char *const bad[] = { "\"\"", "\"-1s\"", "\"1.5s\"", "\"10\"", "\"10x\"", "5", "1.0", "true",
					   "\"99999999999999999999s\"", "\"3651d\"", "\"106751991167d\"" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char conf[256];
		snprintf(conf, sizeof conf, "gateway = { id = \"gw\"; };\nstore = { history_keep = %s; };\n", bad[i]);
		write_file(t->path, "d.conf", conf);
		assert_int_equal(load(t, "d.conf", &cfg, &errs), -1);
		assert_one_error(t, &errs, "d.conf", 2, "'history_keep'");
		config_errors_clear(&errs);
	}
}

/* config_load_text shares the code path, includes included. */
static void test_load_text(void **state)
{
	struct tdir *t = *state;
	write_file(t->path, "inc.conf", "uplink = { url = \"ssl://broker:8883\"; tls = { verify = false; }; };\n");
	char name[600];
	snprintf(name, sizeof name, "%s/virtual.conf", t->path);
	const char text[] = "gateway = { id = \"gw\"; };\n@include \"inc.conf\"\n";
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = config_load_text(name, text, sizeof text - 1, &cfg, &errs);
	dump_errors(&errs);
	assert_int_equal(rc, 0);
	assert_true(cfg->uplink.tls.present);
	assert_false(cfg->uplink.tls.verify);
	config_free(cfg);
	/* A NUL byte is not text. */
	assert_int_equal(config_load_text(name, "a\0b", 3, &cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	config_errors_clear(&errs);
}

int main(void)
{
	/* Hermetic: the shipped profiles of an installed gridgw are not ours. */
	if (setenv("GRIDGW_VENDOR_PROFILES_DIR", "", 1) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_config_values_and_defaults, setup_dir, teardown_dir),
		cmocka_unit_test(test_shipped_config_loads),
		cmocka_unit_test_setup_teardown(test_base_config_is_valid, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_each_error_class_at_its_line, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_all_errors_in_one_pass, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_client_id_clash, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_json_paths, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_include_relative_to_including_file_nested, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_include_missing_and_cycle, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_profiles_dir_default_and_explicit, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_vendor_profiles_dir, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_durations, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_text, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
