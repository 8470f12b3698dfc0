/* Randomized test of the rule engine against a reference model of the alarm
 * state machine written plainly here (docs/rules.md is its specification):
 * random point values (with bad quality), acks, shelve/unshelve, incident
 * closes, offline/online and time steps, for hundreds of thousands of steps
 * over several rule configurations. After every step the engine's outputs
 * must equal the model's, and every alarm's state must match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/engine.h"

#define NONE INT64_MAX
#define N_DEV 2
#define MAX_OUT 64

/* ---------- the reference model ---------- */

struct mparams {
	int64_t for_ms, clear_for_ms, within_ms, esc_after, chatter_window;
	int count, chatter_max;
	bool latch, esc;
	int severity, esc_severity;
};

enum mstate { M_NORMAL, M_ACTIVE_UNACKED, M_ACTIVE_ACKED, M_RTN_UNACKED };

struct mout {
	enum engine_output_kind kind;
	int dev;
	int64_t t;
	uint32_t count;
	int severity;
	bool active, acked;
};

struct model {
	const struct mparams *p;
	/* inputs */
	bool known;
	double x;
	bool online;
	/* alarm */
	bool cond, last_w, acked, open, escalated;
	enum mstate st;
	uint32_t count;
	int severity;
	int64_t on_since, off_since, unacked_since;
	int64_t edges[8];
	int n_edges;
	bool shelved, shelved_out;
	bool shelved_cond;      /* cond rose while shelved */
	int64_t shelve_until;
	/* chatter */
	int64_t raises[16];     /* times of the last chatter_max + 1 visible raises */
	int n_raises;
	bool held, dirty;
	int64_t last_raise, last_update_out;
	int64_t now;    /* time of the last step: a timer that became due earlier fires then */
};

struct mlog {
	struct mout o[MAX_OUT];
	int n;
};

/* How often each output kind occurred, so the test shows it exercised them. */
static unsigned long kind_seen[OUT_ACTION + 1];
static unsigned long holds_seen;

static void m_emit(struct model *m, struct mlog *lg, int dev, enum engine_output_kind k, int64_t t)
{
	kind_seen[k]++;
	assert_true(lg->n < MAX_OUT);
	lg->o[lg->n++] = (struct mout){ k, dev, t, m->count, m->severity,
					m->st == M_ACTIVE_UNACKED || m->st == M_ACTIVE_ACKED, m->acked };
}

/* OUT_SUPPRESSED: `active` says the condition, not the alarm state. */
static void m_emit_suppressed(struct model *m, struct mlog *lg, int dev, bool active, int64_t t)
{
	m_emit(m, lg, dev, OUT_SUPPRESSED, t);
	lg->o[lg->n - 1].active = active;
}

static void m_isa_raise(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	if (m->held) {
		m->count++;
		m->dirty = true;
		return;
	}
	bool again = m->open;
	if (again) {
		m->count++;
	} else {
		m->count = 1;
		m->severity = m->p->severity;
		m->escalated = false;
	}
	m->st = M_ACTIVE_UNACKED;
	m->acked = false;
	m->open = true;
	m->unacked_since = t;
	if (m->p->chatter_max > 0) {
		int cap = m->p->chatter_max + 1;
		if (m->n_raises == cap) {
			memmove(m->raises, m->raises + 1, sizeof m->raises[0] * (size_t)(cap - 1));
			m->n_raises--;
		}
		m->raises[m->n_raises++] = t;
		if (m->n_raises == cap && t - m->raises[0] <= m->p->chatter_window) {
			m->held = true;
			holds_seen++;
			m->last_update_out = t;
		}
	}
	m_emit(m, lg, dev, again ? OUT_UPDATED : OUT_RAISED, t);
}

static void m_isa_clear(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	if (m->st == M_ACTIVE_UNACKED)
		m->st = m->p->latch ? M_RTN_UNACKED : M_NORMAL;
	else if (m->st == M_ACTIVE_ACKED)
		m->st = M_NORMAL;
	else
		return;
	m_emit(m, lg, dev, OUT_CLEARED, t);
	if (m->st == M_NORMAL)
		m_emit(m, lg, dev, OUT_NORMAL, t);
}

static void m_raise(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	m->cond = true;
	m->last_raise = t;
	m->n_edges = 0;
	if (m->shelved) {
		m->shelved_cond = true;
		m_emit_suppressed(m, lg, dev, true, t);
		return;
	}
	m_isa_raise(m, lg, dev, t);
}

static void m_clear(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	m->cond = false;
	if (m->shelved_cond) {
		m->shelved_cond = false;
		m_emit_suppressed(m, lg, dev, false, t);
	}
	if (!m->held)
		m_isa_clear(m, lg, dev, t);
}

/* when = x > 50, clear_when = x < 40; unknown when the value is not good. */
static void m_evaluate(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	if (!m->online)
		return;
	int w = m->known ? (m->x > 50) : -1;
	int c = m->known ? (m->x < 40) : -1;
	bool edge = false;
	if (w >= 0) {
		edge = w == 1 && !m->last_w;
		m->last_w = w == 1;
	}
	if (!m->cond) {
		m->off_since = NONE;
		if (w == 1) {
			if (m->on_since == NONE) {
				if (m->p->count < 2) {
					m->on_since = t;
				} else if (edge) {
					if (m->n_edges == m->p->count) {
						memmove(m->edges, m->edges + 1, sizeof m->edges[0] * (size_t)(m->n_edges - 1));
						m->n_edges--;
					}
					m->edges[m->n_edges++] = t;
					if (m->n_edges == m->p->count && t - m->edges[0] <= m->p->within_ms)
						m->on_since = t;
				}
			}
		} else {
			m->on_since = NONE;
		}
		if (m->on_since != NONE && t - m->on_since >= m->p->for_ms) {
			m->on_since = NONE;
			m_raise(m, lg, dev, t);
		}
	} else {
		m->on_since = NONE;
		if (c == 1) {
			if (m->off_since == NONE)
				m->off_since = t;
			if (t - m->off_since >= m->p->clear_for_ms) {
				m->off_since = NONE;
				m_clear(m, lg, dev, t);
			}
		} else {
			m->off_since = NONE;
		}
	}
}

static void m_unshelve(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	m->shelved = false;
	if (m->shelved_out) {
		m->shelved_out = false;
		m_emit(m, lg, dev, OUT_UNSHELVED, t);
	}
	bool active = m->st == M_ACTIVE_UNACKED || m->st == M_ACTIVE_ACKED;
	if (m->shelved_cond) {
		/* what rose while shelved is dropped; still true: a new on-delay from now */
		bool still = m->online && m->last_w && m->off_since == NONE;
		m->shelved_cond = false;
		m->cond = false;
		m->off_since = NONE;
		m->on_since = still ? t : NONE;
		if (active && !m->held)
			m_isa_clear(m, lg, dev, t);
	} else if (m->on_since != NONE) {
		m->on_since = t;
	} else if (m->cond && !active) {
		m_isa_raise(m, lg, dev, t);
	} else if (!m->cond && active && !m->held) {
		m_isa_clear(m, lg, dev, t);
	}
}

static int64_t min_t(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Fires every timer due at or before T, earliest first. The alarm's own
 * timers due at the same instant run in a fixed order: on-delay, off-delay,
 * chatter report, chatter release, escalation; then the shelve expiry. */
static void m_advance(struct model *m, struct mlog *lg, int dev, int64_t T)
{
	const struct mparams *p = m->p;
	for (;;) {
		bool unacked = m->st == M_ACTIVE_UNACKED || m->st == M_RTN_UNACKED;
		int64_t ta = NONE;
		if (m->on_since != NONE)
			ta = min_t(ta, m->on_since + p->for_ms);
		if (m->off_since != NONE)
			ta = min_t(ta, m->off_since + p->clear_for_ms);
		if (m->dirty)
			ta = min_t(ta, m->last_update_out + p->chatter_window);
		if (m->held)
			ta = min_t(ta, m->last_raise + p->chatter_window);
		if (p->esc && !m->escalated && unacked && !m->shelved)
			ta = min_t(ta, m->unacked_since + p->esc_after);
		int64_t tsh = m->shelved ? m->shelve_until : NONE;
		int64_t t = min_t(ta, tsh);
		if (t == NONE || t > T)
			return;
		if (t < m->now)
			t = m->now;  /* e.g. escalation resumed by an unshelve at the last step */
		m->now = t;
		if (ta > T || (tsh <= ta && tsh != NONE && ta != tsh)) {
			m_unshelve(m, lg, dev, t);
			continue;
		}
		if (m->on_since != NONE && t >= m->on_since + p->for_ms) {
			m->on_since = NONE;
			m_raise(m, lg, dev, t);
		}
		if (m->off_since != NONE && t >= m->off_since + p->clear_for_ms) {
			m->off_since = NONE;
			m_clear(m, lg, dev, t);
		}
		if (m->dirty && t >= m->last_update_out + p->chatter_window) {
			m->dirty = false;
			m->last_update_out = t;
			if (!m->shelved)
				m_emit(m, lg, dev, OUT_UPDATED, t);
		}
		if (m->held && t >= m->last_raise + p->chatter_window) {
			m->held = false;
			m->n_raises = 0;
			if (m->dirty) {
				m->dirty = false;
				if (!m->shelved)
					m_emit(m, lg, dev, OUT_UPDATED, t);
			}
			if (!m->cond && !m->shelved)
				m_isa_clear(m, lg, dev, t);
		}
		unacked = m->st == M_ACTIVE_UNACKED || m->st == M_RTN_UNACKED;
		if (p->esc && !m->escalated && unacked && !m->shelved && t >= m->unacked_since + p->esc_after) {
			m->escalated = true;
			if (p->esc_severity < m->severity)
				m->severity = p->esc_severity;
			m_emit(m, lg, dev, OUT_ESCALATED, t);
		}
	}
}

static int m_ack(struct model *m, struct mlog *lg, int dev, int64_t t)
{
	if (m->st == M_NORMAL)
		return -EINVAL;
	if (m->acked)
		return 0;
	m->acked = true;
	if (m->st == M_ACTIVE_UNACKED)
		m->st = M_ACTIVE_ACKED;
	else if (m->st == M_RTN_UNACKED)
		m->st = M_NORMAL;
	m_emit(m, lg, dev, OUT_ACKED, t);
	if (m->st == M_NORMAL)
		m_emit(m, lg, dev, OUT_NORMAL, t);
	return 0;
}

static void m_init(struct model *m, const struct mparams *p)
{
	memset(m, 0, sizeof *m);
	m->p = p;
	m->online = true;
	m->on_since = m->off_since = NONE;
	m->severity = p->severity;
}

/* ---------- the engine under test ---------- */

static struct point_def pts[1] = { { .name = "x", .type = PT_NUMBER } };
static struct profile prof = { .name = "p", .kind = "k", .points = pts, .n_points = 1 };

static int cmp_out(const void *a, const void *b)
{
	const struct mout *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->dev != y->dev)
		return x->dev - y->dev;
	return (int)x->kind - (int)y->kind;
}

/* Outputs at the same instant may come in either order when a device's
 * shelve expiry and an alarm timer fall on the same ms: sort by time, device
 * and kind before comparing. */
static void compare_logs(struct mlog *want, struct mlog *got, long step, uint32_t seed)
{
	qsort(want->o, (size_t)want->n, sizeof want->o[0], cmp_out);
	qsort(got->o, (size_t)got->n, sizeof got->o[0], cmp_out);
	if (want->n != got->n) {
		for (int i = 0; i < got->n; i++)
			print_message("engine: kind %d dev %d t %lld count %u\n", got->o[i].kind, got->o[i].dev,
				      (long long)got->o[i].t, got->o[i].count);
		for (int i = 0; i < want->n; i++)
			print_message("model:  kind %d dev %d t %lld count %u\n", want->o[i].kind, want->o[i].dev,
				      (long long)want->o[i].t, want->o[i].count);
	}
	if (want->n != got->n)
		fail_msg("seed %u step %ld: %d outputs, model %d (first kind %d vs %d)", seed, step, got->n, want->n,
			 got->n ? (int)got->o[0].kind : -1, want->n ? (int)want->o[0].kind : -1);
	for (int i = 0; i < want->n; i++) {
		const struct mout *w = &want->o[i], *g = &got->o[i];
		if (w->kind != g->kind || w->dev != g->dev || w->t != g->t || w->count != g->count ||
		    w->severity != g->severity || w->active != g->active || w->acked != g->acked)
			fail_msg("seed %u step %ld out %d: engine kind %d dev %d t %lld count %u sev %d active %d acked %d; "
				 "model kind %d dev %d t %lld count %u sev %d active %d acked %d",
				 seed, step, i, g->kind, g->dev, (long long)g->t, g->count, g->severity, g->active,
				 g->acked, w->kind, w->dev, (long long)w->t, w->count, w->severity, w->active, w->acked);
	}
}

static long run_config(const struct mparams *p, uint32_t seed, long steps)
{
	struct device_config devs[N_DEV] = {
		{ .id = "d0", .profile = 0, .bus = -1, .source = -1 },
		{ .id = "d1", .profile = 0, .bus = -1, .source = -1 },
	};
	struct rule_config rule = { .id = "r", .profile = 0, .when = "x > 50", .clear_when = "x < 40",
				    .for_ms = p->for_ms, .clear_for_ms = p->clear_for_ms, .count = p->count,
				    .within_ms = p->within_ms, .latch = p->latch, .severity = p->severity,
				    .type = "t", .has_escalate = p->esc, .escalate_after_ms = p->esc_after,
				    .escalate_severity = p->esc_severity, .chatter_max = p->chatter_max,
				    .chatter_window_ms = p->chatter_window, .enabled = true };
	struct gw_config cfg = { .profiles = &prof, .n_profiles = 1, .devices = devs, .n_devices = N_DEV,
				 .rules = &rule, .n_rules = 1 };
	char err[128];
	struct engine *e = engine_create(&cfg, err, sizeof err);
	assert_non_null(e);
	struct model m[N_DEV];
	for (int d = 0; d < N_DEV; d++)
		m_init(&m[d], p);
	static const char *const keys[N_DEV] = { "r/d0", "r/d1" };
	static const double vals[] = { 30, 39, 40, 45, 50, 51, 70 };
	srand(seed);
	int64_t t = 0;
	struct mlog want, got;
	struct engine_output out[MAX_OUT];
	for (long step = 0; step < steps; step++) {
		want.n = got.n = 0;
		int r = rand() % 100;
		t += (r < 50) ? rand() % 400 : rand() % 4000;
		int d = rand() % N_DEV;
		for (int i = 0; i < N_DEV; i++)
			m_advance(&m[i], &want, i, t);
		int op = rand() % 100;
		if (op < 60) {
			struct point_value pv = { .value = vals[rand() % 7], .quality = QUALITY_GOOD };
			if (rand() % 10 == 0)
				pv.quality = QUALITY_COMM_ERROR;
			engine_point(e, d, 0, &pv, t);
			m[d].known = pv.quality == QUALITY_GOOD;
			m[d].x = pv.value;
			m_evaluate(&m[d], &want, d, t);
		} else if (op < 70) {
			int rc = engine_ack(e, keys[d], t);
			int mrc = m_ack(&m[d], &want, d, t);
			if (rc != mrc)
				fail_msg("seed %u step %ld: ack %d, model %d", seed, step, rc, mrc);
		} else if (op < 74) {
			int64_t until = t + 1 + rand() % 20000;
			assert_int_equal(engine_shelve_device(e, d, until, t), 0);
			if (!m[d].shelved) {
				m[d].shelved = true;
				if (m[d].st != M_NORMAL) {
					m[d].shelved_out = true;
					m_emit(&m[d], &want, d, OUT_SHELVED, t);
				}
			}
			m[d].shelve_until = until;
		} else if (op < 77) {
			int rc = engine_unshelve_device(e, d, t);
			if (m[d].shelved) {
				assert_int_equal(rc, 0);
				m_unshelve(&m[d], &want, d, t);
			} else {
				assert_int_equal(rc, -EINVAL);
			}
		} else if (op < 80) {
			assert_int_equal(engine_incident_closed(e, keys[d], t), 0);
			m[d].open = false;
		} else if (op < 83) {
			bool on = rand() % 2;
			engine_device_online(e, d, on, t);
			if (m[d].online != on) {
				m[d].online = on;
				if (!on)
					m[d].on_since = m[d].off_since = NONE;
			}
		} else {
			engine_tick(e, t);
		}
		engine_tick(e, t);
		size_t n;
		while ((n = engine_drain(e, out, MAX_OUT)) > 0) {
			for (size_t i = 0; i < n; i++) {
				assert_true(got.n < MAX_OUT);
				got.o[got.n++] = (struct mout){ out[i].kind, out[i].device, out[i].now_ms, out[i].count,
								out[i].severity, out[i].active, out[i].acked };
			}
		}
		for (int i = 0; i < N_DEV; i++) {
			m[i].now = t;
			m_advance(&m[i], &want, i, t);  /* the engine_tick(t) after the operation */
		}
		compare_logs(&want, &got, step, seed);
		for (int i = 0; i < N_DEV; i++)
			if ((int)engine_alarm_state(e, keys[i]) != (int)m[i].st)
				fail_msg("seed %u step %ld dev %d: state %d, model %d", seed, step, i,
					 engine_alarm_state(e, keys[i]), m[i].st);
		int64_t nd = engine_next_deadline(e);
		assert_true(nd == INT64_MAX || nd > t);
	}
	engine_destroy(e);
	return steps;
}

static void test_random_streams_match_reference_model(void **state)
{
	(void)state;
	static const struct mparams configs[] = {
		{ .severity = 3 },
		{ .for_ms = 2000, .clear_for_ms = 3000, .severity = 2 },
		{ .latch = true, .severity = 1 },
		{ .for_ms = 1000, .latch = true, .esc = true, .esc_after = 8000, .esc_severity = 1, .severity = 3 },
		{ .count = 3, .within_ms = 10000, .severity = 3 },
		{ .count = 2, .within_ms = 5000, .for_ms = 500, .clear_for_ms = 1500, .latch = true, .severity = 2 },
		{ .clear_for_ms = 5000, .esc = true, .esc_after = 3000, .esc_severity = 2, .severity = 4 },
		{ .for_ms = 3000, .clear_for_ms = 3000, .count = 4, .within_ms = 20000, .esc = true,
		  .esc_after = 10000, .esc_severity = 1, .severity = 2, .latch = true },
		{ .chatter_max = 2, .chatter_window = 60000, .severity = 3 },
		{ .chatter_max = 3, .chatter_window = 120000, .latch = true, .esc = true, .esc_after = 15000,
		  .esc_severity = 1, .severity = 3, .clear_for_ms = 500 },
	};
	long total = 0;
	for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
		total += run_config(&configs[i], 1000u + (uint32_t)i, 50000);
	assert_true(total >= 500000);
	print_message("%ld random steps matched the reference model: raised %lu updated %lu cleared %lu acked %lu "
		      "escalated %lu normal %lu shelved %lu unshelved %lu suppressed %lu, chatter holds %lu\n",
		      total, kind_seen[OUT_RAISED], kind_seen[OUT_UPDATED], kind_seen[OUT_CLEARED], kind_seen[OUT_ACKED],
		      kind_seen[OUT_ESCALATED], kind_seen[OUT_NORMAL], kind_seen[OUT_SHELVED], kind_seen[OUT_UNSHELVED],
		      kind_seen[OUT_SUPPRESSED], holds_seen);
	for (int k = OUT_RAISED; k <= OUT_SUPPRESSED; k++)
		assert_true(kind_seen[k] > 100);
	assert_true(holds_seen > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_streams_match_reference_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
