/* Unit tests for shelving (docs/rules.md §2.5), the detector-testing path:
 * a technician shelves a detector, blows test smoke, and unshelves it. What
 * was suppressed must never reach the platform afterwards — not while the
 * condition is clearing (clear_for still running), not after it cleared,
 * and not through correlation; a condition still true at the unshelve is a
 * new raise after the rule's on-delay. Driven by hand-set monotonic time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rules/engine.h"

enum { SP_ALARM, SP_SMOKE, SP_N };
enum { D_S1, D_S2, D_S3, D_N };

static struct point_def smoke_points[SP_N] = {
	[SP_ALARM] = { .name = "alarm", .type = PT_BOOL },
	[SP_SMOKE] = { .name = "smoke", .type = PT_U16 },
};

struct harness {
	struct gw_config cfg;
	struct profile profile;
	struct device_config devs[D_N];
	struct rule_config rules[4];
	struct engine *e;
	struct engine_output out[256];
	size_t n;
};

#define KEY_S1 "smoke/smoke-5-2-0701"
#define KEY_S2 "smoke/smoke-5-2-0702"
#define KEY_FLOOR "confirmed/b5-e2-f7"

static void h_init(struct harness *h)
{
	memset(h, 0, sizeof *h);
	h->profile = (struct profile){ .name = "smoke_detector", .kind = "smoke", .points = smoke_points,
				       .n_points = SP_N };
	static const char *const ids[D_N] = { "smoke-5-2-0701", "smoke-5-2-0702", "smoke-5-2-0703" };
	for (int i = 0; i < D_N; i++) {
		h->devs[i] = (struct device_config){ .id = (char *)ids[i], .profile = 0, .bus = -1, .source = -1,
						     .poll_ms = 1000 };
		h->devs[i].location = (struct location){ .building = "5", .entrance = "2", .floor = 7,
							 .has_floor = true };
	}
	h->cfg.profiles = &h->profile;
	h->cfg.n_profiles = 1;
	h->cfg.devices = h->devs;
	h->cfg.n_devices = D_N;
	h->cfg.rules = h->rules;
}

/* The shipped smoke rule's shape: raise on alarm, clear after clear_for. */
static struct rule_config *h_smoke(struct harness *h, int64_t for_ms, int64_t clear_for_ms)
{
	struct rule_config *r = &h->rules[h->cfg.n_rules++];
	*r = (struct rule_config){ .id = "smoke", .profile = 0, .when = "alarm", .type = "fire.smoke", .severity = 2,
				   .for_ms = for_ms, .clear_for_ms = clear_for_ms, .enabled = true };
	return r;
}

/* The two-rule style of fire confirmation (docs/rules.md §2.4). */
static void h_confirmed(struct harness *h)
{
	struct rule_config *r = &h->rules[h->cfg.n_rules++];
	*r = (struct rule_config){ .id = "confirmed", .profile = 0, .when = "alarm", .type = "fire.confirmed",
				   .severity = 1, .confirmed_severity = 1, .group = GROUP_FLOOR, .min_devices = 2,
				   .within_ms = 60000, .enabled = true };
}

static void h_start(struct harness *h)
{
	char err[256];
	h->e = engine_create(&h->cfg, err, sizeof err);
	if (!h->e)
		fail_msg("engine_create: %s", err);
}

static size_t h_drain(struct harness *h)
{
	h->n = engine_drain(h->e, h->out, sizeof h->out / sizeof h->out[0]);
	return h->n;
}

static void put(struct harness *h, int dev, int pt, double v, int64_t t)
{
	struct point_value pv = { .value = v, .quality = QUALITY_GOOD, .ts_ms = t };
	engine_point(h->e, dev, pt, &pv, t);
}

static const struct engine_output *find(const struct harness *h, enum engine_output_kind k, const char *key)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->out[i].kind == k && (!key || strcmp(h->out[i].key, key) == 0))
			return &h->out[i];
	return NULL;
}

/* Anything that would reach the platform as a new alarm for key. */
static bool raised(const struct harness *h, const char *key)
{
	return find(h, OUT_RAISED, key) || find(h, OUT_UPDATED, key) || find(h, OUT_ESCALATED, key);
}

/* Runs time forward to t in steps, draining as it goes; true when anything
 * was raised for key on the way. */
static bool raised_until(struct harness *h, const char *key, int64_t from, int64_t to)
{
	bool any = false;
	for (int64_t t = from; t <= to; t += 500) {
		engine_tick(h->e, t);
		h_drain(h);
		any |= raised(h, key);
	}
	return any;
}

/* The field report: test smoke, the detector resets, the technician
 * unshelves while clear_for is still running. Nothing may be raised. */
static void test_unshelve_while_clearing_raises_nothing(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 30000);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);   /* test smoke */
	h_drain(&h);
	assert_false(raised(&h, KEY_S1));
	put(&h, D_S1, SP_ALARM, 0, 5000);   /* detector reset: clear_for runs until 35000 */
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 10000), 0);
	h_drain(&h);
	assert_false(raised(&h, KEY_S1));
	assert_false(raised_until(&h, KEY_S1, 10000, 120000));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	assert_false(engine_device_is_shelved(h.e, D_S1, 120000));
	engine_destroy(h.e);
}

/* The same when the shelve runs out by itself (a timer, not a command). */
static void test_shelve_expiry_while_clearing_raises_nothing(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 30000);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 20000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 15000);  /* clearing at the expiry (20000) */
	h_drain(&h);
	assert_false(raised_until(&h, KEY_S1, 15000, 120000));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	engine_destroy(h.e);
}

static void test_unshelve_after_clear_raises_nothing(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 30000);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	assert_false(raised_until(&h, KEY_S1, 2000, 60000)); /* cleared at 32000, still shelved */
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 60000), 0);
	h_drain(&h);
	assert_false(raised(&h, KEY_S1));
	assert_false(raised_until(&h, KEY_S1, 60000, 200000));
	engine_destroy(h.e);
}

/* Still in alarm at the unshelve: a new raise, but only once the rule's
 * on-delay has run from the unshelve — not at once, not sooner because the
 * delay had started while shelved. */
static void test_still_in_alarm_is_raised_after_the_on_delay(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 30000, 30000);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);   /* the debounced condition rises, suppressed, at 31000 */
	assert_false(raised_until(&h, KEY_S1, 1000, 40000));
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 40000), 0);
	h_drain(&h);
	assert_false(raised(&h, KEY_S1));
	assert_false(raised_until(&h, KEY_S1, 40000, 69500));
	engine_tick(h.e, 70000);
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->now_ms, 70000);
	assert_int_equal(o->count, 1);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	engine_destroy(h.e);
}

static void test_on_delay_running_at_unshelve_restarts(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 30000, 0);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 20000);  /* on-delay would end at 50000 */
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 40000), 0);
	assert_false(raised_until(&h, KEY_S1, 40000, 69500));
	engine_tick(h.e, 70000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_S1));
	engine_destroy(h.e);
}

/* The alarm ends during the new on-delay: nothing is raised at all. */
static void test_still_in_alarm_then_clears_within_the_on_delay(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 30000, 0);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 40000), 0);
	put(&h, D_S1, SP_ALARM, 0, 50000);
	assert_false(raised_until(&h, KEY_S1, 40000, 200000));
	engine_destroy(h.e);
}

/* A detector raised while shelved, cleared, unshelved: a later single alarm
 * on the same floor within `within` is one detector, not a confirmed fire. */
static void test_shelved_raise_never_counts_for_correlation(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 0);
	h_confirmed(&h);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	put(&h, D_S2, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 3000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 5000), 0);
	h_drain(&h);
	put(&h, D_S2, SP_ALARM, 1, 10000);  /* within 60 s of the shelved raise */
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_S2));
	assert_null(find(&h, OUT_RAISED, KEY_FLOOR));
	assert_false(raised_until(&h, KEY_FLOOR, 10000, 100000));
	/* a real second detector still confirms */
	put(&h, D_S3, SP_ALARM, 1, 100000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_FLOOR));
	engine_destroy(h.e);
}

/* Nor does it count while the detector is clearing at the unshelve. */
static void test_shelved_raise_clearing_at_unshelve_does_not_count(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 30000);
	h_confirmed(&h);
	h.rules[1].clear_for_ms = 30000;
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	put(&h, D_S2, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 3000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 5000), 0);
	put(&h, D_S2, SP_ALARM, 1, 6000);
	h_drain(&h);
	assert_null(find(&h, OUT_RAISED, KEY_FLOOR));
	assert_false(raised_until(&h, KEY_FLOOR, 6000, 100000));
	assert_false(raised_until(&h, KEY_S1, 6000, 100000));
	engine_destroy(h.e);
}

/* While the detector is shelved, its raise must not bring a confirmed fire
 * back from the recent history of the others either. */
static void test_shelved_raise_completes_no_group(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 0);
	h_confirmed(&h);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	put(&h, D_S2, SP_ALARM, 1, 1000);
	put(&h, D_S3, SP_ALARM, 1, 2000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_FLOOR));
	put(&h, D_S2, SP_ALARM, 0, 3000);
	put(&h, D_S3, SP_ALARM, 0, 3000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, KEY_FLOOR));
	assert_int_equal(engine_shelve_device(h.e, D_S1, 3600000, 4000), 0);
	put(&h, D_S1, SP_ALARM, 1, 5000);   /* within 60 s of both real raises */
	h_drain(&h);
	assert_false(raised(&h, KEY_FLOOR));
	assert_false(raised_until(&h, KEY_FLOOR, 5000, 100000));
	engine_destroy(h.e);
}

/* While shelved, the raise and its clear are outputs of their own (the
 * core logs them) and the device's view lists what was suppressed. */
static void test_suppressed_is_said_and_listed(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 30000);
	h_confirmed(&h);   /* its per-device alarms are silent: never listed */
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 600000, 0), 0);
	struct engine_suppressed sup[4];
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_int_equal(h.n, 1);
	const struct engine_output *o = find(&h, OUT_SUPPRESSED, KEY_S1);
	assert_non_null(o);
	assert_true(o->active);
	assert_string_equal(o->type, "fire.smoke");
	assert_int_equal(o->until_ms, 600000);
	assert_int_equal(o->now_ms, 1000);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 1);
	assert_string_equal(sup[0].type, "fire.smoke");
	assert_string_equal(engine_rule_id(h.e, sup[0].rule), "smoke");
	assert_int_equal(sup[0].at_ms, 1000);
	assert_int_equal(sup[0].count, 1);
	assert_true(sup[0].active);
	assert_false(sup[0].clearing);
	put(&h, D_S1, SP_ALARM, 0, 5000);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 1);
	assert_true(sup[0].active && sup[0].clearing);
	engine_tick(h.e, 35000);
	h_drain(&h);
	o = find(&h, OUT_SUPPRESSED, KEY_S1);
	assert_non_null(o);
	assert_false(o->active);
	assert_int_equal(o->now_ms, 35000);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 1);
	assert_false(sup[0].active);
	put(&h, D_S1, SP_ALARM, 1, 40000);  /* a second test */
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 1);
	assert_int_equal(sup[0].count, 2);
	assert_int_equal(sup[0].at_ms, 40000);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 0), 0);   /* max respected */
	assert_int_equal(engine_device_suppressed(h.e, D_S2, sup, 4), 0);   /* not shelved */
	/* a shelve moved (shelved again) keeps what it suppressed; a new one starts empty */
	assert_int_equal(engine_shelve_device(h.e, D_S1, 900000, 41000), 0);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 1);
	put(&h, D_S1, SP_ALARM, 0, 42000);
	engine_tick(h.e, 80000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 80000), 0);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 900000, 81000), 0);
	assert_int_equal(engine_device_suppressed(h.e, D_S1, sup, 4), 0);
	engine_destroy(h.e);
}

/* What `gridgw unshelve` reports: the raise to come, and when. */
static void test_pending_raise_after_unshelve(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 30000, 0);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	struct engine_pending p[4];
	assert_int_equal(engine_device_pending(h.e, D_S1, p, 4), 0);  /* shelved: nothing comes */
	engine_tick(h.e, 40000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 40000), 0);
	assert_int_equal(engine_device_pending(h.e, D_S1, p, 4), 1);
	assert_string_equal(p[0].type, "fire.smoke");
	assert_string_equal(engine_rule_id(h.e, p[0].rule), "smoke");
	assert_int_equal(p[0].due_ms, 70000);
	engine_tick(h.e, 70000);
	assert_int_equal(engine_device_pending(h.e, D_S1, p, 4), 0);
	/* cleared at the unshelve: nothing pending */
	put(&h, D_S2, SP_ALARM, 0, 70000);
	assert_int_equal(engine_shelve_device(h.e, D_S2, 600000, 70000), 0);
	put(&h, D_S2, SP_ALARM, 1, 71000);
	put(&h, D_S2, SP_ALARM, 0, 72000);
	assert_int_equal(engine_unshelve_device(h.e, D_S2, 73000), 0);
	assert_int_equal(engine_device_pending(h.e, D_S2, p, 4), 0);
	engine_destroy(h.e);
}

/* A reload during the test keeps the shelved raise a shelved one. */
static void test_reload_keeps_the_shelved_raise_dropped(void **state)
{
	(void)state;
	struct harness h, h2;
	h_init(&h);
	h_smoke(&h, 0, 30000);
	h_confirmed(&h);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	put(&h, D_S2, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 600000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	h_drain(&h);
	h_init(&h2);
	h_smoke(&h2, 0, 30000);
	h_confirmed(&h2);
	h_start(&h2);
	engine_adopt_state(h2.e, h.e);
	engine_destroy(h.e);
	struct engine_suppressed sup[4];
	assert_int_equal(engine_device_suppressed(h2.e, D_S1, sup, 4), 1);
	assert_true(sup[0].active);
	assert_int_equal(engine_unshelve_device(h2.e, D_S1, 5000), 0);
	put(&h2, D_S2, SP_ALARM, 1, 6000);
	h_drain(&h2);
	assert_false(raised(&h2, KEY_S1));
	assert_false(raised(&h2, KEY_FLOOR));
	assert_false(raised_until(&h2, KEY_S1, 6000, 100000));
	engine_destroy(h2.e);
}

/* device.offline is not debounced by the engine (the bus already waited):
 * a device still offline when its shelve ends is reported then, one that
 * came back meanwhile is not. */
static void test_offline_while_shelved(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, 0, 0);
	h.cfg.builtins.offline = (struct builtin_rule_config){ .enabled = true, .severity = 3 };
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 0, 0);
	put(&h, D_S2, SP_ALARM, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 600000, 0), 0);
	assert_int_equal(engine_shelve_device(h.e, D_S2, 600000, 0), 0);
	engine_device_online(h.e, D_S1, false, 1000);
	engine_device_online(h.e, D_S2, false, 1000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_SUPPRESSED, "device.offline/smoke-5-2-0701"));
	assert_null(find(&h, OUT_RAISED, "device.offline/smoke-5-2-0701"));
	engine_device_online(h.e, D_S2, true, 2000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 3000), 0);
	assert_int_equal(engine_unshelve_device(h.e, D_S2, 3000), 0);
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, "device.offline/smoke-5-2-0701");
	assert_non_null(o);
	assert_int_equal(o->now_ms, 3000);
	assert_null(find(&h, OUT_RAISED, "device.offline/smoke-5-2-0702"));
	engine_destroy(h.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unshelve_while_clearing_raises_nothing),
		cmocka_unit_test(test_shelve_expiry_while_clearing_raises_nothing),
		cmocka_unit_test(test_unshelve_after_clear_raises_nothing),
		cmocka_unit_test(test_still_in_alarm_is_raised_after_the_on_delay),
		cmocka_unit_test(test_on_delay_running_at_unshelve_restarts),
		cmocka_unit_test(test_still_in_alarm_then_clears_within_the_on_delay),
		cmocka_unit_test(test_shelved_raise_never_counts_for_correlation),
		cmocka_unit_test(test_shelved_raise_clearing_at_unshelve_does_not_count),
		cmocka_unit_test(test_shelved_raise_completes_no_group),
		cmocka_unit_test(test_suppressed_is_said_and_listed),
		cmocka_unit_test(test_pending_raise_after_unshelve),
		cmocka_unit_test(test_reload_keeps_the_shelved_raise_dropped),
		cmocka_unit_test(test_offline_while_shelved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
