/* The rule engine on the shipped configurations (config/gridgw.conf,
 * config/demo.conf) loaded by the real config loader: every rule compiles
 * into an engine, and the example's fire linkage works end to end — one
 * detector raises fire.smoke, a second on the same floor raises
 * fire.confirmed, latched alarms stay until acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/engine.h"
#include "gateway/config/config.h"

static struct gw_config *load(const char *rel)
{
	char path[512];
	const char *top = getenv("GRIDGW_TOP");
	snprintf(path, sizeof path, "%s/%s", top ? top : ".", rel);
	struct config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	if (config_load(path, &cfg, &errs) != 0) {
		for (int i = 0; i < errs.n; i++)
			print_message("%s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		fail_msg("config_load %s failed", path);
	}
	config_errors_clear(&errs);
	return cfg;
}

static void put(struct engine *e, const struct gw_config *cfg, int dev, const char *point, double v, int64_t t)
{
	int k = config_find_point(&cfg->profiles[cfg->devices[dev].profile], point);
	assert_true(k >= 0);
	struct point_value pv = { .value = v, .quality = QUALITY_GOOD, .ts_ms = t };
	engine_point(e, dev, k, &pv, t);
}

static size_t drain_count(struct engine *e, enum engine_output_kind kind, const char *type, char *key_out, size_t len)
{
	struct engine_output out[64];
	size_t n, hits = 0;
	while ((n = engine_drain(e, out, 64)) > 0)
		for (size_t i = 0; i < n; i++)
			if (out[i].kind == kind && strcmp(out[i].type, type) == 0) {
				hits++;
				if (key_out)
					snprintf(key_out, len, "%s", out[i].key);
			}
	return hits;
}

/* Two smoke_detector devices with the same building/entrance/floor. */
static bool find_floor_mates(const struct gw_config *cfg, int *a, int *b)
{
	int p = config_find_profile(cfg, "smoke_detector");
	for (int i = 0; i < cfg->n_devices; i++)
		for (int j = i + 1; j < cfg->n_devices; j++) {
			const struct location *x = &cfg->devices[i].location, *y = &cfg->devices[j].location;
			if (cfg->devices[i].profile != p || cfg->devices[j].profile != p || !x->has_floor ||
			    !y->has_floor || !x->building || !y->building || !x->entrance || !y->entrance)
				continue;
			if (x->floor == y->floor && !strcmp(x->building, y->building) && !strcmp(x->entrance, y->entrance)) {
				*a = i;
				*b = j;
				return true;
			}
		}
	return false;
}

static void check_fire_linkage(const char *rel)
{
	struct gw_config *cfg = load(rel);
	char err[256];
	struct engine *e = engine_create(cfg, err, sizeof err);
	if (!e)
		fail_msg("%s: engine_create: %s", rel, err);
	assert_true(engine_rule_count(e) >= cfg->n_rules);
	int a = -1, b = -1;
	assert_true(find_floor_mates(cfg, &a, &b));
	int64_t t = 1000;
	/* every point of both detectors good and quiet */
	const struct profile *p = &cfg->profiles[cfg->devices[a].profile];
	for (int k = 0; k < p->n_points; k++) {
		double v = strcmp(p->points[k].name, "battery") == 0 ? 100 : 0;
		if (strcmp(p->points[k].name, "temperature") == 0)
			v = 22;
		put(e, cfg, a, p->points[k].name, v, t);
		put(e, cfg, b, p->points[k].name, v, t);
	}
	assert_int_equal(drain_count(e, OUT_RAISED, "fire.smoke", NULL, 0), 0);
	char key[ENGINE_KEY_MAX];
	put(e, cfg, a, "alarm", 1, t += 1000);
	assert_int_equal(drain_count(e, OUT_RAISED, "fire.smoke", key, sizeof key), 1);
	put(e, cfg, b, "alarm", 1, t += 5000);
	char gkey[ENGINE_KEY_MAX];
	assert_int_equal(drain_count(e, OUT_RAISED, "fire.confirmed", gkey, sizeof gkey), 1);
	assert_int_equal(engine_alarm_state(e, gkey), ALARM_ACTIVE_UNACKED);
	/* back to normal: latched, so returned-to-normal-unacked until acked */
	put(e, cfg, a, "alarm", 0, t += 1000);
	engine_tick(e, t += 600000);
	drain_count(e, OUT_CLEARED, "fire.smoke", NULL, 0);
	assert_int_equal(engine_alarm_state(e, key), ALARM_RTN_UNACKED);
	assert_int_equal(engine_ack(e, key, t), 0);
	assert_int_equal(engine_alarm_state(e, key), ALARM_NORMAL);
	/* offline: the built-in raises */
	engine_device_online(e, a, false, t += 1000);
	assert_int_equal(drain_count(e, OUT_RAISED, "device.offline", NULL, 0), 1);
	engine_destroy(e);
	config_free(cfg);
}

static void test_example_config_fire_linkage(void **state)
{
	(void)state;
	check_fire_linkage("config/gridgw.conf");
}

static void test_demo_config_fire_linkage(void **state)
{
	(void)state;
	check_fire_linkage("config/demo.conf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_config_fire_linkage),
		cmocka_unit_test(test_demo_config_fire_linkage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
