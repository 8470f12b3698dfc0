/* Unit tests for the rule engine: every alarm state transition, driven by
 * hand-set monotonic time on a configuration built in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules/engine.h"

/* ---------- an in-memory configuration ---------- */

enum { SP_ALARM, SP_SMOKE, SP_BATTERY, SP_FAULT, SP_SIREN, SP_N };
enum { EP_EBIKE, EP_CONF, EP_DOOR, EP_N };
enum { PROF_SMOKE, PROF_ELEV };
enum { D_S1, D_S2, D_S3, D_S4, D_E1, D_N };

static struct point_def smoke_points[SP_N] = {
	[SP_ALARM] = { .name = "alarm", .type = PT_BOOL },
	[SP_SMOKE] = { .name = "smoke", .type = PT_U16 },
	[SP_BATTERY] = { .name = "battery", .type = PT_U16 },
	[SP_FAULT] = { .name = "fault", .type = PT_BOOL },
	[SP_SIREN] = { .name = "siren", .type = PT_BOOL, .writable = true },
};
static struct point_def elev_points[EP_N] = {
	[EP_EBIKE] = { .name = "ebike", .type = PT_BOOL },
	[EP_CONF] = { .name = "confidence", .type = PT_U16 },
	[EP_DOOR] = { .name = "door_hold", .type = PT_BOOL, .writable = true },
};

struct harness {
	struct gw_config cfg;
	struct profile profiles[2];
	struct device_config devs[D_N];
	struct rule_config rules[8];
	struct action_config acts[8];
	int n_acts;
	struct engine *e;
	struct engine_output out[256];
	size_t n;
};

static void h_init(struct harness *h)
{
	memset(h, 0, sizeof *h);
	h->profiles[PROF_SMOKE] = (struct profile){ .name = "smoke_detector", .kind = "smoke", .points = smoke_points,
						    .n_points = SP_N };
	h->profiles[PROF_ELEV] = (struct profile){ .name = "elevator_ebike", .kind = "elevator", .points = elev_points,
						   .n_points = EP_N };
	static const struct { const char *id; int prof; const char *b, *en; int floor; const char *room; } d[D_N] = {
		{ "smoke-5-2-0701", PROF_SMOKE, "5", "2", 7, "701" },
		{ "smoke-5-2-0702", PROF_SMOKE, "5", "2", 7, "702" },
		{ "smoke-5-2-0801", PROF_SMOKE, "5", "2", 8, "801" },
		{ "smoke-5-2-0703", PROF_SMOKE, "5", "2", 7, "703" },
		{ "elev-5-2", PROF_ELEV, "5", "2", 0, NULL },
	};
	for (int i = 0; i < D_N; i++) {
		h->devs[i] = (struct device_config){ .id = (char *)d[i].id, .profile = d[i].prof, .bus = -1, .source = -1,
						     .poll_ms = 1000 };
		h->devs[i].location = (struct location){ .building = (char *)d[i].b, .entrance = (char *)d[i].en,
							 .floor = d[i].floor, .has_floor = d[i].prof == PROF_SMOKE,
							 .room = (char *)d[i].room };
	}
	h->cfg.profiles = h->profiles;
	h->cfg.n_profiles = 2;
	h->cfg.devices = h->devs;
	h->cfg.n_devices = D_N;
	h->cfg.rules = h->rules;
}

static struct rule_config *h_rule(struct harness *h, const char *id, int prof, const char *when, const char *type)
{
	struct rule_config *r = &h->rules[h->cfg.n_rules++];
	*r = (struct rule_config){ .id = (char *)id, .profile = prof, .when = (char *)when, .severity = 2,
				   .type = (char *)type, .enabled = true };
	return r;
}

static void h_start(struct harness *h)
{
	char err[256];
	h->e = engine_create(&h->cfg, err, sizeof err);
	if (!h->e)
		fail_msg("engine_create: %s", err);
}

static void h_done(struct harness *h)
{
	engine_destroy(h->e);
}

/* Drains every pending output into h->out (replacing what was there). */
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

static void put_bad(struct harness *h, int dev, int pt, int64_t t)
{
	struct point_value pv = { .value = 0, .quality = QUALITY_COMM_ERROR, .ts_ms = t };
	engine_point(h->e, dev, pt, &pv, t);
}

static int n_kind(const struct harness *h, enum engine_output_kind k)
{
	int n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += h->out[i].kind == k;
	return n;
}

static const struct engine_output *find(const struct harness *h, enum engine_output_kind k, const char *key)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->out[i].kind == k && (!key || strcmp(h->out[i].key, key) == 0))
			return &h->out[i];
	return NULL;
}

#define KEY_S1 "smoke/smoke-5-2-0701"
#define KEY_S2 "smoke/smoke-5-2-0702"

/* A plain smoke rule: raise on alarm, clear on !alarm. */
static void h_smoke(struct harness *h, bool latch)
{
	struct rule_config *r = h_rule(h, "smoke", PROF_SMOKE, "alarm || smoke > 150", "fire.smoke");
	r->latch = latch;
	r->severity = 1;
	r->message = "Smoke at {building}-{entrance}-{room} ({device}) smoke={smoke} alarm={alarm} {nope} {";
}

/* ---------- evidence ---------- */

/* A device with more points than ENGINE_EVIDENCE_MAX: the rule's point
 * first, then the others in profile order up to the bound, the rest counted. */
static void test_evidence_bounded_rule_points_first(void **state)
{
	(void)state;
	enum { BIG_N = ENGINE_EVIDENCE_MAX + 8 };
	static struct point_def big[BIG_N];
	static char names[BIG_N][16];
	for (int i = 0; i < BIG_N; i++) {
		snprintf(names[i], sizeof names[i], "p%d", i);
		big[i] = (struct point_def){ .name = names[i], .type = PT_U16 };
	}
	struct harness h;
	h_init(&h);
	h.profiles[PROF_ELEV] = (struct profile){ .name = "big", .kind = "big", .points = big, .n_points = BIG_N };
	h_rule(&h, "hot", PROF_ELEV, "p39 > 5", "big.hot");
	h_start(&h);
	for (int i = 0; i < BIG_N; i++)
		put(&h, D_E1, i, i, 1000);
	assert_int_equal(h_drain(&h), 1);
	const struct engine_output *o = find(&h, OUT_RAISED, "hot/elev-5-2");
	assert_non_null(o);
	assert_int_equal(o->n_evidence, ENGINE_EVIDENCE_MAX);
	assert_int_equal(o->n_evidence_omitted, BIG_N - ENGINE_EVIDENCE_MAX);
	assert_int_equal(o->evidence[0].point, 39);
	assert_true(o->evidence[0].pv.value == 39);
	for (int i = 1; i < ENGINE_EVIDENCE_MAX; i++) {
		assert_int_equal(o->evidence[i].point, i - 1);
		assert_int_equal(o->evidence[i].pv.quality, QUALITY_GOOD);
	}
	h_done(&h);
}

/* ---------- basic transitions ---------- */

static void test_raise_clear_non_latched(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 10, 1000);
	put(&h, D_S1, SP_ALARM, 0, 1000);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	put(&h, D_S1, SP_ALARM, 1, 2000);
	assert_int_equal(h_drain(&h), 1);
	const struct engine_output *o = find(&h, OUT_RAISED, KEY_S1);
	assert_non_null(o);
	assert_string_equal(o->type, "fire.smoke");
	assert_int_equal(o->severity, 1);
	assert_true(o->active);
	assert_false(o->acked);
	assert_int_equal(o->count, 1);
	assert_int_equal(o->now_ms, 2000);
	assert_int_equal(o->device, D_S1);
	assert_string_equal(o->message, "Smoke at 5-2-701 (smoke-5-2-0701) smoke=10 alarm=true {nope} {");
	/* evidence: every point of the device with its quality, the two
	 * points the rule reads first */
	assert_int_equal(o->n_evidence, SP_N);
	assert_int_equal(o->n_evidence_omitted, 0);
	assert_int_equal(o->evidence[0].point, SP_ALARM);
	assert_true(o->evidence[0].pv.value == 1);
	assert_int_equal(o->evidence[0].pv.quality, QUALITY_GOOD);
	assert_int_equal(o->evidence[1].point, SP_SMOKE);
	assert_true(o->evidence[1].pv.value == 10);
	assert_int_equal(o->evidence[2].point, SP_BATTERY);
	assert_int_equal(o->evidence[2].pv.quality, QUALITY_NEVER_READ);
	assert_int_equal(o->evidence[3].point, SP_FAULT);
	assert_int_equal(o->evidence[4].point, SP_SIREN);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	/* repeating the same value changes nothing */
	put(&h, D_S1, SP_ALARM, 1, 2500);
	assert_int_equal(h_drain(&h), 0);
	put(&h, D_S1, SP_ALARM, 0, 3000);
	assert_int_equal(h_drain(&h), 2);
	o = find(&h, OUT_CLEARED, KEY_S1);
	assert_non_null(o);
	assert_false(o->active);
	assert_non_null(find(&h, OUT_NORMAL, KEY_S1));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	/* other devices untouched */
	assert_int_equal(engine_alarm_state(h.e, KEY_S2), ALARM_NORMAL);
	h_done(&h);
}

static void test_latch_stays_until_acked(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, true);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	assert_int_equal(h_drain(&h), 1);
	assert_non_null(find(&h, OUT_CLEARED, KEY_S1));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_RTN_UNACKED);
	assert_int_equal(engine_ack(h.e, KEY_S1, 3000), 0);
	assert_int_equal(h_drain(&h), 2);
	const struct engine_output *o = find(&h, OUT_ACKED, KEY_S1);
	assert_non_null(o);
	assert_true(o->acked);
	assert_non_null(find(&h, OUT_NORMAL, KEY_S1));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	/* ack of a normal alarm / unknown key */
	assert_int_equal(engine_ack(h.e, KEY_S1, 3100), -EINVAL);
	assert_int_equal(engine_ack(h.e, "smoke/nope", 3100), -ENOENT);
	assert_int_equal(engine_ack(h.e, "nokey", 3100), -ENOENT);
	h_done(&h);
}

static void test_ack_while_active_then_clear(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, true);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_int_equal(engine_ack(h.e, KEY_S1, 1500), 0);
	assert_int_equal(h_drain(&h), 1);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_ACKED);
	assert_int_equal(engine_ack(h.e, KEY_S1, 1600), 0); /* idempotent */
	assert_int_equal(h_drain(&h), 0);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	assert_int_equal(h_drain(&h), 2);
	assert_non_null(find(&h, OUT_CLEARED, KEY_S1));
	assert_non_null(find(&h, OUT_NORMAL, KEY_S1));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	h_done(&h);
}

static void test_reraise_open_incident_is_update(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	put(&h, D_S1, SP_ALARM, 1, 3000);
	h_drain(&h);
	assert_int_equal(n_kind(&h, OUT_RAISED), 1);
	const struct engine_output *o = find(&h, OUT_UPDATED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->count, 2);
	assert_true(o->active);
	/* once workflow closed the incident, the next raise is a new one */
	put(&h, D_S1, SP_ALARM, 0, 4000);
	assert_int_equal(engine_incident_closed(h.e, KEY_S1, 4100), 0);
	assert_int_equal(engine_incident_closed(h.e, "smoke/x", 4100), -ENOENT);
	put(&h, D_S1, SP_ALARM, 1, 5000);
	h_drain(&h);
	o = find(&h, OUT_RAISED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->count, 1);
	h_done(&h);
}

/* ---------- delays and hysteresis ---------- */

static void test_on_delay(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h.rules[0].for_ms = 5000;
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	assert_int_equal(engine_next_deadline(h.e), 6000);
	engine_tick(h.e, 5999);
	assert_int_equal(h_drain(&h), 0);
	/* falls before the delay: nothing, and the timer is gone */
	put(&h, D_S1, SP_ALARM, 0, 5999);
	assert_int_equal(engine_next_deadline(h.e), INT64_MAX);
	engine_tick(h.e, 7000);
	assert_int_equal(h_drain(&h), 0);
	/* true for the whole delay: raised at exactly for */
	put(&h, D_S1, SP_ALARM, 1, 10000);
	engine_tick(h.e, 20000);
	assert_int_equal(h_drain(&h), 1);
	const struct engine_output *o = find(&h, OUT_RAISED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->now_ms, 15000); /* at the deadline, not at the late tick */
	h_done(&h);
}

static void test_off_delay_and_hysteresis(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	struct rule_config *r = h_rule(&h, "smoke", PROF_SMOKE, "smoke > 150", "fire.smoke");
	r->clear_when = "smoke < 100";
	r->clear_for_ms = 30000;
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 200, 0);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_S1));
	/* inside the deadband: neither raise nor clear */
	put(&h, D_S1, SP_SMOKE, 120, 1000);
	engine_tick(h.e, 100000);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	/* below clear: off-delay starts; a bounce above clear restarts it */
	put(&h, D_S1, SP_SMOKE, 50, 100000);
	assert_int_equal(engine_next_deadline(h.e), 130000);
	put(&h, D_S1, SP_SMOKE, 110, 120000);
	assert_int_equal(engine_next_deadline(h.e), INT64_MAX);
	put(&h, D_S1, SP_SMOKE, 50, 125000);
	engine_tick(h.e, 154999);
	assert_int_equal(h_drain(&h), 0);
	engine_tick(h.e, 155000);
	assert_int_equal(h_drain(&h), 2);
	const struct engine_output *o = find(&h, OUT_CLEARED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->now_ms, 155000);
	h_done(&h);
}

/* ---------- count within ---------- */

static void ebike_rule(struct harness *h)
{
	struct rule_config *r = h_rule(h, "ebike", PROF_ELEV, "ebike && confidence >= 80", "elevator.ebike");
	r->count = 3;
	r->within_ms = 600000;
	r->severity = 3;
}

static void ebike_edge(struct harness *h, int64_t t)
{
	put(h, D_E1, EP_EBIKE, 1, t);
	put(h, D_E1, EP_EBIKE, 0, t + 1);
}

static void test_count_exactly_n_in_window_raises(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	ebike_rule(&h);
	h_start(&h);
	put(&h, D_E1, EP_CONF, 90, 0);
	ebike_edge(&h, 0);
	ebike_edge(&h, 300000);
	h_drain(&h);
	assert_int_equal(h.n, 0);
	put(&h, D_E1, EP_EBIKE, 1, 600000); /* third edge, exactly `within` after the first */
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, "ebike/elev-5-2"));
	h_done(&h);
}

static void test_count_n_in_window_plus_1ms_does_not(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	ebike_rule(&h);
	h_start(&h);
	put(&h, D_E1, EP_CONF, 90, 0);
	ebike_edge(&h, 0);
	ebike_edge(&h, 300000);
	put(&h, D_E1, EP_EBIKE, 1, 600001);
	h_drain(&h);
	assert_int_equal(h.n, 0);
	/* but a fourth edge makes 3 within the window again (300000..700000) */
	put(&h, D_E1, EP_EBIKE, 0, 650000);
	put(&h, D_E1, EP_EBIKE, 1, 700000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, "ebike/elev-5-2"));
	h_done(&h);
}

static void test_count_ignores_unknown_and_low_confidence(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	ebike_rule(&h);
	h_start(&h);
	put(&h, D_E1, EP_CONF, 90, 0);
	put(&h, D_E1, EP_EBIKE, 1, 1000);                 /* edge 1 */
	put_bad(&h, D_E1, EP_EBIKE, 2000);                /* unknown: not a fall */
	put(&h, D_E1, EP_EBIKE, 1, 3000);                 /* true -> unknown -> true: no edge */
	put(&h, D_E1, EP_CONF, 50, 4000);                 /* false */
	put(&h, D_E1, EP_CONF, 90, 5000);                 /* edge 2 */
	h_drain(&h);
	assert_int_equal(h.n, 0);
	put(&h, D_E1, EP_EBIKE, 0, 6000);
	put(&h, D_E1, EP_EBIKE, 1, 7000);                 /* edge 3 */
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, "ebike/elev-5-2"));
	h_done(&h);
}

/* ---------- unknown quality ---------- */

static void test_unknown_neither_raises_nor_clears(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	struct rule_config *r = h_rule(&h, "smoke", PROF_SMOKE, "smoke > 150", "fire.smoke");
	r->for_ms = 1000;
	h_start(&h);
	/* never read: unknown */
	put(&h, D_S1, SP_ALARM, 1, 0);
	engine_tick(h.e, 5000);
	assert_int_equal(h_drain(&h), 0);
	put(&h, D_S1, SP_SMOKE, 200, 5000);
	put_bad(&h, D_S1, SP_SMOKE, 5500);   /* unknown during the on-delay cancels it */
	engine_tick(h.e, 7000);
	assert_int_equal(h_drain(&h), 0);
	put(&h, D_S1, SP_SMOKE, 200, 7000);
	engine_tick(h.e, 8000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_S1));
	/* active, then unknown: stays active */
	put_bad(&h, D_S1, SP_SMOKE, 9000);
	engine_tick(h.e, 100000);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	put(&h, D_S1, SP_SMOKE, 10, 100000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, KEY_S1));
	h_done(&h);
}

/* ---------- chatter ---------- */

static void test_chatter_held_with_growing_count(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h.rules[0].chatter_max = 3;
	h.rules[0].chatter_window_ms = 60000;
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	int64_t t = 1000;
	/* 3 raise/clear cycles within the window: normal */
	for (int i = 0; i < 3; i++, t += 2000) {
		put(&h, D_S1, SP_ALARM, 1, t);
		put(&h, D_S1, SP_ALARM, 0, t + 1000);
	}
	h_drain(&h);
	assert_int_equal(n_kind(&h, OUT_RAISED), 1);
	assert_int_equal(n_kind(&h, OUT_UPDATED), 2);
	assert_int_equal(n_kind(&h, OUT_CLEARED), 3);
	/* the 4th raise within the window: held active */
	put(&h, D_S1, SP_ALARM, 1, t);
	put(&h, D_S1, SP_ALARM, 0, t + 1000);
	h_drain(&h);
	assert_int_equal(n_kind(&h, OUT_UPDATED), 1);
	assert_int_equal(n_kind(&h, OUT_CLEARED), 0);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	int64_t held_at = t;
	t += 2000;
	/* more flapping: no outputs at all, the count grows */
	for (int i = 0; i < 10; i++, t += 2000) {
		put(&h, D_S1, SP_ALARM, 1, t);
		put(&h, D_S1, SP_ALARM, 0, t + 1000);
	}
	assert_int_equal(h_drain(&h), 0);
	/* one UPDATED per chatter window with the folded count */
	engine_tick(h.e, held_at + 60000);
	h_drain(&h);
	assert_int_equal(h.n, 1);
	const struct engine_output *o = find(&h, OUT_UPDATED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->count, 14);
	assert_true(o->active);
	/* quiet for a window after the last raise: released and cleared */
	int64_t last_raise = t - 2000;
	engine_tick(h.e, last_raise + 59999);
	assert_int_equal(h_drain(&h), 0);
	engine_tick(h.e, last_raise + 60000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, KEY_S1));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	h_done(&h);
}

/* ---------- escalation ---------- */

static void test_escalation_when_unacked(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, true);
	h.rules[0].severity = 3;
	h.rules[0].has_escalate = true;
	h.rules[0].escalate_after_ms = 600000;
	h.rules[0].escalate_severity = 1;
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_int_equal(engine_next_deadline(h.e), 601000);
	engine_tick(h.e, 600999);
	assert_int_equal(h_drain(&h), 0);
	engine_tick(h.e, 601000);
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_ESCALATED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->severity, 1);
	assert_int_equal(engine_next_deadline(h.e), INT64_MAX); /* once */
	/* acked alarms do not escalate */
	put(&h, D_S2, SP_SMOKE, 0, 0);
	put(&h, D_S2, SP_ALARM, 1, 1000000);
	assert_int_equal(engine_ack(h.e, KEY_S2, 1000001), 0);
	engine_tick(h.e, 3000000);
	h_drain(&h);
	assert_null(find(&h, OUT_ESCALATED, KEY_S2));
	/* a latched alarm that returned to normal unacked still escalates */
	put(&h, D_S4, SP_SMOKE, 0, 3000000);
	put(&h, D_S4, SP_ALARM, 1, 3000000);
	put(&h, D_S4, SP_ALARM, 0, 3000100);
	engine_tick(h.e, 3600000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_ESCALATED, "smoke/smoke-5-2-0703"));
	h_done(&h);
}

/* ---------- correlation ---------- */

static void corr_rule(struct harness *h)
{
	struct rule_config *r = h_rule(h, "smoke", PROF_SMOKE, "alarm", "fire.smoke");
	r->group = GROUP_FLOOR;
	r->min_devices = 2;
	r->within_ms = 60000;
	r->severity = 2;
	r->confirmed_severity = 1;
}

static void test_correlation_two_detectors_one_floor(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	corr_rule(&h);
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_int_equal(h.n, 1); /* the per-device alarm */
	assert_non_null(find(&h, OUT_RAISED, KEY_S1));
	/* a detector on another floor does not confirm */
	put(&h, D_S3, SP_ALARM, 1, 2000);
	h_drain(&h);
	assert_null(find(&h, OUT_RAISED, "smoke/b5-e2-f7"));
	put(&h, D_S2, SP_ALARM, 1, 30000);
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, "smoke/b5-e2-f7");
	assert_non_null(o);
	assert_string_equal(o->type, "fire.confirmed");
	assert_int_equal(o->severity, 1);
	assert_int_equal(o->device, D_S2);
	assert_non_null(find(&h, OUT_RAISED, KEY_S2));
	assert_int_equal(engine_alarm_state(h.e, "smoke/b5-e2-f7"), ALARM_ACTIVE_UNACKED);
	/* the confirmed alarm clears when no detector of the group is in alarm */
	put(&h, D_S1, SP_ALARM, 0, 40000);
	h_drain(&h);
	assert_null(find(&h, OUT_CLEARED, "smoke/b5-e2-f7"));
	put(&h, D_S2, SP_ALARM, 0, 41000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, "smoke/b5-e2-f7"));
	h_done(&h);
}

static void test_correlation_window(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	corr_rule(&h);
	h_start(&h);
	/* a detector that alarmed and cleared 60001 ms earlier does not count */
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	put(&h, D_S2, SP_ALARM, 1, 61001);
	h_drain(&h);
	assert_null(find(&h, OUT_RAISED, "smoke/b5-e2-f7"));
	put(&h, D_S2, SP_ALARM, 0, 62000);
	/* exactly within the window counts, even though the first one cleared */
	put(&h, D_S4, SP_ALARM, 1, 121001);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, "smoke/b5-e2-f7"));
	h_done(&h);
}

static void test_correlation_skips_shelved_device(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	corr_rule(&h);
	h_start(&h);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 1000000, 0), 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);  /* detector under test */
	put(&h, D_S2, SP_ALARM, 1, 2000);
	h_drain(&h);
	assert_null(find(&h, OUT_RAISED, "smoke/b5-e2-f7"));
	assert_null(find(&h, OUT_RAISED, KEY_S1));
	assert_non_null(find(&h, OUT_RAISED, KEY_S2));
	h_done(&h);
}

static void test_correlation_by_building_and_missing_location(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	corr_rule(&h);
	h.rules[0].group = GROUP_BUILDING;
	h.devs[D_S4].location.building = NULL;  /* no building: in no group */
	h_start(&h);
	put(&h, D_S4, SP_ALARM, 1, 500);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_null(find(&h, OUT_RAISED, "smoke/b5"));
	put(&h, D_S3, SP_ALARM, 1, 2000);      /* another floor, same building */
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, "smoke/b5");
	assert_non_null(o);
	assert_int_equal(o->device, D_S3);
	/* the confirmed alarm is acked and closed through its own key */
	assert_int_equal(engine_ack(h.e, "smoke/b5", 3000), 0);
	assert_int_equal(engine_alarm_state(h.e, "smoke/b5"), ALARM_ACTIVE_ACKED);
	assert_int_equal(engine_incident_closed(h.e, "smoke/b5", 3000), 0);
	h_done(&h);
}

/* The issue-9 two-rule style: a per-device rule typed fire.smoke, and a
 * correlation rule whose own type is the confirmed type. One detector must
 * never produce an incident typed fire.confirmed; two on a floor give one. */
static void test_correlation_rule_typed_confirmed_raises_only_the_group(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	struct rule_config *r = h_rule(&h, "smoke", PROF_SMOKE, "alarm", "fire.smoke");
	r->latch = true;
	r = h_rule(&h, "confirmed", PROF_SMOKE, "alarm", "fire.confirmed");
	r->group = GROUP_FLOOR;
	r->min_devices = 2;
	r->within_ms = 60000;
	r->severity = 1;
	r->confirmed_severity = 1;
	h_start(&h);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_int_equal(h.n, 1);
	assert_non_null(find(&h, OUT_RAISED, KEY_S1));
	for (size_t i = 0; i < h.n; i++)
		assert_string_not_equal(h.out[i].type, "fire.confirmed");
	assert_int_equal(engine_alarm_state(h.e, "confirmed/smoke-5-2-0701"), ALARM_NORMAL);
	put(&h, D_S2, SP_ALARM, 1, 30000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, KEY_S2));
	const struct engine_output *o = find(&h, OUT_RAISED, "confirmed/b5-e2-f7");
	assert_non_null(o);
	assert_string_equal(o->type, "fire.confirmed");
	int confirmed = 0;
	for (size_t i = 0; i < h.n; i++)
		confirmed += strcmp(h.out[i].type, "fire.confirmed") == 0;
	assert_int_equal(confirmed, 1);
	assert_int_equal(h.n, 2);
	/* the silent per-device alarms of the correlation rule still drive the
	 * group: it clears when both detectors are quiet */
	put(&h, D_S1, SP_ALARM, 0, 40000);
	put(&h, D_S2, SP_ALARM, 0, 41000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, "confirmed/b5-e2-f7"));
	assert_null(find(&h, OUT_CLEARED, "confirmed/smoke-5-2-0701"));
	/* shelving and unshelving a detector brings no per-device confirmed alarm back */
	put(&h, D_S1, SP_ALARM, 1, 50000);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 60000, 50000), 0);
	engine_tick(h.e, 60000);
	h_drain(&h);
	for (size_t i = 0; i < h.n; i++)
		assert_string_not_equal(h.out[i].key, "confirmed/smoke-5-2-0701");
	assert_int_equal(engine_ack(h.e, "confirmed/smoke-5-2-0701", 61000), -EINVAL);
	h_done(&h);
}

static void test_message_values_enum_and_unknown(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	static struct enum_value modes[] = { { "normal", 0 }, { "alarm", 1 } };
	smoke_points[SP_FAULT].type = PT_ENUM;
	smoke_points[SP_FAULT].values = modes;
	smoke_points[SP_FAULT].n_values = 2;
	struct rule_config *r = h_rule(&h, "m", PROF_SMOKE, "alarm", "x");
	r->message = "{fault} {smoke} {floor}/{place}|{battery}";
	h_start(&h);
	put(&h, D_S1, SP_FAULT, 1, 0);
	put(&h, D_S1, SP_SMOKE, 0.125, 0);
	put_bad(&h, D_S1, SP_BATTERY, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, "m/smoke-5-2-0701");
	assert_non_null(o);
	assert_string_equal(o->message, "alarm 0.125 7/|?");
	smoke_points[SP_FAULT].type = PT_BOOL;
	smoke_points[SP_FAULT].values = NULL;
	smoke_points[SP_FAULT].n_values = 0;
	h_done(&h);
}

/* ---------- shelving ---------- */

static void test_shelve_during_active_alarm(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	h_drain(&h);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 100000, 2000), 0);
	assert_true(engine_device_is_shelved(h.e, D_S1, 2000));
	h_drain(&h);
	assert_int_equal(h.n, 1);
	assert_non_null(find(&h, OUT_SHELVED, KEY_S1));
	/* clears are still reported; new raises only as suppressed (the log and views) */
	put(&h, D_S1, SP_ALARM, 0, 3000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, KEY_S1));
	put(&h, D_S1, SP_ALARM, 1, 4000);
	assert_int_equal(h_drain(&h), 1);
	assert_true(find(&h, OUT_SUPPRESSED, KEY_S1)->active);
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_NORMAL);
	/* shelve expires at 100000: unshelved, and the alarm still true is raised
	 * after its on-delay (none here: at once) */
	assert_int_equal(engine_next_deadline(h.e), 100000);
	engine_tick(h.e, 100000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_UNSHELVED, KEY_S1));
	const struct engine_output *o = find(&h, OUT_UPDATED, KEY_S1); /* incident still open */
	assert_non_null(o);
	assert_int_equal(o->now_ms, 100000);
	assert_false(engine_device_is_shelved(h.e, D_S1, 100000));
	assert_int_equal(engine_alarm_state(h.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	/* errors */
	assert_int_equal(engine_shelve_device(h.e, D_N, 200000, 100000), -ENOENT);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 100000, 100000), -EINVAL);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 100000), -EINVAL);
	h_done(&h);
}

static void test_shelve_manual_unshelve_condition_gone(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	assert_int_equal(engine_shelve_device(h.e, D_S1, 100000, 0), 0);
	assert_int_equal(h_drain(&h), 0);  /* nothing active: nothing to report */
	put(&h, D_S1, SP_ALARM, 1, 1000);
	put(&h, D_S1, SP_ALARM, 0, 2000);
	assert_int_equal(h_drain(&h), 2);   /* suppressed: the raise, then its clear */
	assert_true(h.out[0].kind == OUT_SUPPRESSED && h.out[0].active && h.out[0].now_ms == 1000);
	assert_true(h.out[1].kind == OUT_SUPPRESSED && !h.out[1].active && h.out[1].now_ms == 2000);
	assert_int_equal(engine_unshelve_device(h.e, D_S1, 3000), 0);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_next_deadline(h.e), INT64_MAX);
	h_done(&h);
}

/* ---------- offline ---------- */

static void test_offline_raises_and_suppresses(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h.rules[0].for_ms = 5000;
	h.cfg.builtins.offline = (struct builtin_rule_config){ .enabled = true, .severity = 3 };
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);  /* on-delay running */
	engine_device_online(h.e, D_S1, false, 2000);
	assert_false(engine_device_is_online(h.e, D_S1));
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, "device.offline/smoke-5-2-0701");
	assert_non_null(o);
	assert_string_equal(o->type, "device.offline");
	assert_int_equal(o->severity, 3);
	assert_string_equal(o->message, "Device smoke-5-2-0701 offline");
	/* the on-delay stopped: no smoke alarm while offline */
	engine_tick(h.e, 20000);
	put(&h, D_S1, SP_ALARM, 1, 21000);
	assert_int_equal(h_drain(&h), 0);
	engine_device_online(h.e, D_S1, true, 30000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, "device.offline/smoke-5-2-0701"));
	/* the next update re-evaluates, even if unchanged, and the delay runs again */
	put(&h, D_S1, SP_ALARM, 1, 31000);
	engine_tick(h.e, 36000);
	h_drain(&h);
	o = find(&h, OUT_RAISED, KEY_S1);
	assert_non_null(o);
	assert_int_equal(o->now_ms, 36000);
	h_done(&h);
}

/* ---------- built-ins ---------- */

static void test_builtins_battery_fault(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h.cfg.builtins.battery_low = (struct builtin_rule_config){ .enabled = true, .severity = 4, .threshold = 20,
								   .clear_threshold = 25 };
	h.cfg.builtins.fault = (struct builtin_rule_config){ .enabled = true, .severity = 3 };
	h.cfg.builtins.tamper = (struct builtin_rule_config){ .enabled = true }; /* no profile has it */
	h_start(&h);
	put(&h, D_S1, SP_BATTERY, 19, 1000);
	h_drain(&h);
	const struct engine_output *o = find(&h, OUT_RAISED, "device.battery_low/smoke-5-2-0701");
	assert_non_null(o);
	assert_int_equal(o->severity, 4);
	put(&h, D_S1, SP_BATTERY, 22, 2000);  /* hysteresis */
	assert_int_equal(h_drain(&h), 0);
	put(&h, D_S1, SP_BATTERY, 25, 3000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, "device.battery_low/smoke-5-2-0701"));
	put(&h, D_S2, SP_FAULT, 1, 4000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, "device.fault/smoke-5-2-0702"));
	/* the elevator has no battery point: no such alarm */
	assert_int_equal(engine_alarm_state(h.e, "device.battery_low/elev-5-2"), ALARM_NORMAL);
	int n = engine_rule_count(h.e);
	assert_int_equal(n, 2); /* battery_low + fault for the smoke profile only */
	/* turned off: no rule */
	h_done(&h);
	h_init(&h);
	h.cfg.builtins.battery_low = (struct builtin_rule_config){ .enabled = false };
	h_start(&h);
	put(&h, D_S1, SP_BATTERY, 1, 1000);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_rule_count(h.e), 0);
	h_done(&h);
}

/* ---------- actions ---------- */

static void test_actions_on_raise_and_clear(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	struct rule_config *r = h_rule(&h, "ebike", PROF_ELEV, "ebike", "elevator.ebike");
	h.acts[0] = (struct action_config){ .kind = ACTION_WRITE, .device = -1, .point_name = "door_hold", .value = 1 };
	h.acts[1] = (struct action_config){ .kind = ACTION_WRITE, .device = D_S1, .point_name = "siren", .value = 1 };
	h.acts[2] = (struct action_config){ .kind = ACTION_PUBLISH, .source = 0, .topic = "x/y",
					    .payload = "{\"dev\":\"{device}\",\"b\":\"{building}\"}" };
	h.acts[3] = (struct action_config){ .kind = ACTION_WRITE, .device = -1, .point_name = "door_hold", .value = 0 };
	r->on_raise = &h.acts[0];
	r->n_on_raise = 3;
	r->on_clear = &h.acts[3];
	r->n_on_clear = 1;
	h_start(&h);
	put(&h, D_E1, EP_EBIKE, 1, 1000);
	h_drain(&h);
	assert_int_equal(n_kind(&h, OUT_ACTION), 3);
	assert_int_equal(h.out[0].kind, OUT_RAISED);
	assert_int_equal(h.out[1].action_device, D_E1);
	assert_int_equal(h.out[1].action_point, EP_DOOR);
	assert_true(h.out[1].action->value == 1);
	assert_int_equal(h.out[2].action_device, D_S1);
	assert_int_equal(h.out[2].action_point, SP_SIREN);
	assert_int_equal(h.out[3].action->kind, ACTION_PUBLISH);
	assert_string_equal(h.out[3].message, "{\"dev\":\"elev-5-2\",\"b\":\"5\"}");
	put(&h, D_E1, EP_EBIKE, 0, 2000);
	h_drain(&h);
	assert_int_equal(n_kind(&h, OUT_ACTION), 1);
	const struct engine_output *o = find(&h, OUT_ACTION, NULL);
	assert_true(o->action->value == 0);
	assert_int_equal(o->action_point, EP_DOOR);
	h_done(&h);
}

static void test_bad_config_is_reported(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_rule(&h, "bad", PROF_SMOKE, "alarm &&", "x");
	char err[256];
	assert_null(engine_create(&h.cfg, err, sizeof err));
	assert_non_null(strstr(err, "rule bad: when: column 9"));
	h_init(&h);
	struct rule_config *r = h_rule(&h, "act", PROF_SMOKE, "alarm", "x");
	h.acts[0] = (struct action_config){ .kind = ACTION_WRITE, .device = -1, .point_name = "nope" };
	r->on_raise = h.acts;
	r->n_on_raise = 1;
	assert_null(engine_create(&h.cfg, err, sizeof err));
	assert_non_null(strstr(err, "unknown point 'nope'"));
}

/* ---------- window functions ---------- */

static void test_window_functions_over_history(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_rule(&h, "rise", PROF_SMOKE, "delta(smoke, '60s') >= 100", "fire.rise");
	h_rule(&h, "avg", PROF_SMOKE, "avg(smoke, '30s') > 50", "fire.avg");
	h_rule(&h, "max", PROF_SMOKE, "max(smoke, '10s') > 500", "fire.max");
	h_start(&h);
	/* one sample per 5 s: 0, 10, 20, ... */
	for (int i = 0; i <= 10; i++)
		put(&h, D_S1, SP_SMOKE, i * 10, i * 5000);
	h_drain(&h);
	/* at t=50s: delta over 60s = 100 - 0 = 100 -> raise; avg(30s) of 50..100 = 75 */
	assert_non_null(find(&h, OUT_RAISED, "rise/smoke-5-2-0701"));
	assert_non_null(find(&h, OUT_RAISED, "avg/smoke-5-2-0701"));
	assert_null(find(&h, OUT_RAISED, "max/smoke-5-2-0701"));
	/* a spike: max over 10 s sees it for 10 s, then it ages out */
	put(&h, D_S1, SP_SMOKE, 600, 55000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_RAISED, "max/smoke-5-2-0701"));

	put(&h, D_S1, SP_SMOKE, 100, 60000);
	h_drain(&h);
	assert_null(find(&h, OUT_CLEARED, "max/smoke-5-2-0701"));
	/* 600 was in effect during [55000, 60000): max over [now-10s, now] sees it until 69999 */
	assert_int_equal(engine_alarm_state(h.e, "rise/smoke-5-2-0701"), ALARM_ACTIVE_UNACKED); /* 100 - 0 */
	put(&h, D_S1, SP_SMOKE, 100, 65000);
	/* delta over [5000, 65000] is 100 - 10 = 90: clears */
	assert_int_equal(engine_alarm_state(h.e, "rise/smoke-5-2-0701"), ALARM_NORMAL);
	put(&h, D_S1, SP_SMOKE, 100, 69999);
	h_drain(&h);
	assert_null(find(&h, OUT_CLEARED, "max/smoke-5-2-0701"));
	put(&h, D_S1, SP_SMOKE, 100, 70000);
	h_drain(&h);
	assert_non_null(find(&h, OUT_CLEARED, "max/smoke-5-2-0701"));
	/* flat for a long time: delta 0 clears, the carried value keeps avg */
	put(&h, D_S1, SP_SMOKE, 100, 200000);
	h_drain(&h);
	assert_int_equal(engine_alarm_state(h.e, "rise/smoke-5-2-0701"), ALARM_NORMAL);
	assert_int_equal(engine_alarm_state(h.e, "avg/smoke-5-2-0701"), ALARM_ACTIVE_UNACKED);
	/* a comm error, then nothing good inside the window: unknown, no change */
	put_bad(&h, D_S1, SP_SMOKE, 201000);
	put_bad(&h, D_S1, SP_SMOKE, 400000);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_alarm_state(h.e, "avg/smoke-5-2-0701"), ALARM_ACTIVE_UNACKED);
	h_done(&h);
}

/* ---------- reload ---------- */

static void test_adopt_state_across_reload(void **state)
{
	(void)state;
	struct harness h, h2;
	h_init(&h);
	h_smoke(&h, true);
	h_start(&h);
	put(&h, D_S1, SP_SMOKE, 0, 0);
	put(&h, D_S1, SP_ALARM, 1, 1000);
	assert_int_equal(engine_shelve_device(h.e, D_S2, 500000, 1000), 0);
	h_drain(&h);
	h_init(&h2);
	h_smoke(&h2, true);
	h_rule(&h2, "extra", PROF_ELEV, "ebike", "x");
	h_start(&h2);
	engine_adopt_state(h2.e, h.e);
	h_done(&h);
	assert_int_equal(engine_alarm_state(h2.e, KEY_S1), ALARM_ACTIVE_UNACKED);
	assert_true(engine_device_values(h2.e, D_S1)[SP_ALARM].value == 1);
	assert_true(engine_device_is_shelved(h2.e, D_S2, 2000));
	assert_int_equal(engine_next_deadline(h2.e), 500000);
	put(&h2, D_S1, SP_ALARM, 0, 3000);
	h_drain(&h2);
	assert_non_null(find(&h2, OUT_CLEARED, KEY_S1));
	assert_null(find(&h2, OUT_RAISED, KEY_S1));
	assert_int_equal(engine_alarm_state(h2.e, KEY_S1), ALARM_RTN_UNACKED);
	h_done(&h2);
}

static void test_output_queue_grows(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_rule(&h, "a", PROF_SMOKE, "alarm", "x");
	h_start(&h);
	/* 3000 cycles x 2 outputs without draining */
	for (int i = 0; i < 3000; i++) {
		put(&h, D_S1, SP_ALARM, 1, i * 10);
		put(&h, D_S1, SP_ALARM, 0, i * 10 + 5);
	}
	size_t total = 0, n;
	while ((n = h_drain(&h)) > 0) {
		if (total == 0)
			assert_int_equal(h.out[0].kind, OUT_RAISED);
		total += n;
	}
	assert_int_equal(total, 3000 * 3); /* raised/updated + cleared + normal */
	h_done(&h);
}

/* ---------- batches (one device poll) ---------- */

static void put_batch(struct harness *h, int dev, const int *pts, const double *vals, int n, int64_t t)
{
	struct engine_update u[8];
	for (int i = 0; i < n; i++)
		u[i] = (struct engine_update){ pts[i], { .value = vals[i], .quality = QUALITY_GOOD, .ts_ms = t } };
	engine_points(h->e, dev, u, (size_t)n, t);
}

/* A rule reading two points of one poll sees the whole poll, never the new
 * value of one next to the old value of the other (one at a time, smoke
 * 200 with the old battery 50 would raise and clear at once). */
static void test_batch_is_one_consistent_reading(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_rule(&h, "mix", PROF_SMOKE, "smoke > 100 && battery > 20", "test.mix");
	h_start(&h);
	static const int pts[2] = { SP_SMOKE, SP_BATTERY };
	put_batch(&h, D_S1, pts, (const double[]){ 10, 50 }, 2, 1000);
	assert_int_equal(h_drain(&h), 0);
	put_batch(&h, D_S1, pts, (const double[]){ 200, 5 }, 2, 2000);
	assert_int_equal(h_drain(&h), 0);
	assert_int_equal(engine_alarm_state(h.e, "mix/smoke-5-2-0701"), ALARM_NORMAL);
	/* the same two updates one at a time show the transient */
	put(&h, D_S1, SP_SMOKE, 10, 3000);
	put(&h, D_S1, SP_BATTERY, 50, 3000);
	put(&h, D_S1, SP_SMOKE, 200, 4000);
	put(&h, D_S1, SP_BATTERY, 5, 4000);
	assert_non_null((h_drain(&h), find(&h, OUT_RAISED, "mix/smoke-5-2-0701")));
	/* a batch whose end state is true raises once, values stored */
	put_batch(&h, D_S2, pts, (const double[]){ 10, 50 }, 2, 5000);
	put_batch(&h, D_S2, pts, (const double[]){ 300, 60 }, 2, 6000);
	assert_int_equal(h_drain(&h), 1);
	assert_non_null(find(&h, OUT_RAISED, "mix/smoke-5-2-0702"));
	assert_true(engine_device_values(h.e, D_S2)[SP_SMOKE].value == 300);
	assert_true(engine_device_values(h.e, D_S2)[SP_BATTERY].value == 60);
	h_done(&h);
}

/* Offline: a batch is stored, nothing evaluated; back online the next batch
 * evaluates every rule of the device, changed points or not. */
static void test_batch_offline_then_online_evaluates_all(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	h_smoke(&h, false);
	h_start(&h);
	static const int pts[2] = { SP_SMOKE, SP_ALARM };
	put_batch(&h, D_S1, pts, (const double[]){ 10, 0 }, 2, 1000);
	engine_device_online(h.e, D_S1, false, 1500);
	h_drain(&h);
	put_batch(&h, D_S1, pts, (const double[]){ 10, 1 }, 2, 2000);
	assert_null((h_drain(&h), find(&h, OUT_RAISED, KEY_S1)));
	engine_device_online(h.e, D_S1, true, 2500);
	h_drain(&h);
	static const int bat[1] = { SP_BATTERY };
	put_batch(&h, D_S1, bat, (const double[]){ 80 }, 1, 3000); /* the smoke rule reads no battery */
	assert_non_null((h_drain(&h), find(&h, OUT_RAISED, KEY_S1)));
	h_done(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evidence_bounded_rule_points_first),
		cmocka_unit_test(test_raise_clear_non_latched),
		cmocka_unit_test(test_latch_stays_until_acked),
		cmocka_unit_test(test_ack_while_active_then_clear),
		cmocka_unit_test(test_reraise_open_incident_is_update),
		cmocka_unit_test(test_on_delay),
		cmocka_unit_test(test_off_delay_and_hysteresis),
		cmocka_unit_test(test_count_exactly_n_in_window_raises),
		cmocka_unit_test(test_count_n_in_window_plus_1ms_does_not),
		cmocka_unit_test(test_count_ignores_unknown_and_low_confidence),
		cmocka_unit_test(test_unknown_neither_raises_nor_clears),
		cmocka_unit_test(test_chatter_held_with_growing_count),
		cmocka_unit_test(test_escalation_when_unacked),
		cmocka_unit_test(test_correlation_two_detectors_one_floor),
		cmocka_unit_test(test_correlation_window),
		cmocka_unit_test(test_correlation_skips_shelved_device),
		cmocka_unit_test(test_correlation_by_building_and_missing_location),
		cmocka_unit_test(test_correlation_rule_typed_confirmed_raises_only_the_group),
		cmocka_unit_test(test_message_values_enum_and_unknown),
		cmocka_unit_test(test_shelve_during_active_alarm),
		cmocka_unit_test(test_shelve_manual_unshelve_condition_gone),
		cmocka_unit_test(test_offline_raises_and_suppresses),
		cmocka_unit_test(test_builtins_battery_fault),
		cmocka_unit_test(test_actions_on_raise_and_clear),
		cmocka_unit_test(test_bad_config_is_reported),
		cmocka_unit_test(test_window_functions_over_history),
		cmocka_unit_test(test_adopt_state_across_reload),
		cmocka_unit_test(test_output_queue_grows),
		cmocka_unit_test(test_batch_is_one_consistent_reading),
		cmocka_unit_test(test_batch_offline_then_online_evaluates_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
