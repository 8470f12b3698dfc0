/* Unit tests for rule expressions: parsing, errors with columns, precedence,
 * three-valued logic, arithmetic edge cases and window functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules/expr.h"

enum { P_ALARM, P_SMOKE, P_TEMP, P_BATTERY, P_N };

static struct point_def defs[P_N] = {
	[P_ALARM] = { .name = "alarm", .type = PT_BOOL },
	[P_SMOKE] = { .name = "smoke", .type = PT_U16 },
	[P_TEMP] = { .name = "temp", .type = PT_S16 },
	[P_BATTERY] = { .name = "battery", .type = PT_U16 },
};
static const struct profile prof = { .name = "smoke_detector", .kind = "smoke", .points = defs, .n_points = P_N };

/* A test environment: values per point, and a window callback that answers
 * from a table so window calls are checked exactly. */
struct fake {
	struct point_value v[P_N];
	double win_result[4];
	bool win_known;
	int calls;
	int last_point, last_fn;
	int64_t last_window;
};

static enum tri fake_window(void *ctx, int point, int fn, int64_t window_ms, double *out)
{
	struct fake *f = ctx;
	f->calls++;
	f->last_point = point;
	f->last_fn = fn;
	f->last_window = window_ms;
	if (!f->win_known)
		return TRI_UNKNOWN;
	*out = f->win_result[fn];
	return TRI_TRUE;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof *f);
	for (int i = 0; i < P_N; i++)
		f->v[i] = (struct point_value){ .value = 0, .quality = QUALITY_GOOD };
}

static void set(struct fake *f, int p, double v)
{
	f->v[p].value = v;
	f->v[p].quality = QUALITY_GOOD;
}

static void set_bad(struct fake *f, int p)
{
	f->v[p].quality = QUALITY_COMM_ERROR;
}

static enum tri eval_text(const char *text, struct fake *f)
{
	char err[128];
	struct expr *e = expr_compile(text, &prof, err, sizeof err);
	if (!e)
		fail_msg("compile '%s': %s", text, err);
	struct expr_env env = { .values = f->v, .window = fake_window, .ctx = f };
	enum tri r = expr_eval(e, &env);
	expr_free(e);
	return r;
}

static void test_literals_and_points(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	assert_int_equal(eval_text("true", &f), TRI_TRUE);
	assert_int_equal(eval_text("false", &f), TRI_FALSE);
	assert_int_equal(eval_text("0", &f), TRI_FALSE);
	assert_int_equal(eval_text("0.5", &f), TRI_TRUE);
	assert_int_equal(eval_text(".5 == 0.5", &f), TRI_TRUE);
	assert_int_equal(eval_text("1e3 == 1000", &f), TRI_TRUE);
	assert_int_equal(eval_text("2.5E-1 == 0.25", &f), TRI_TRUE);
	set(&f, P_SMOKE, 0.21);
	assert_int_equal(eval_text("smoke > 0.15", &f), TRI_TRUE);
	assert_int_equal(eval_text("smoke <= 0.15", &f), TRI_FALSE);
	set(&f, P_ALARM, 1);
	assert_int_equal(eval_text("alarm", &f), TRI_TRUE);
	assert_int_equal(eval_text("!alarm", &f), TRI_FALSE);
	assert_int_equal(eval_text("alarm == true", &f), TRI_TRUE);
}

static void test_precedence(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	assert_int_equal(eval_text("1 + 2 * 3 == 7", &f), TRI_TRUE);
	assert_int_equal(eval_text("(1 + 2) * 3 == 9", &f), TRI_TRUE);
	assert_int_equal(eval_text("10 - 4 - 3 == 3", &f), TRI_TRUE);   /* left-assoc */
	assert_int_equal(eval_text("12 / 3 / 2 == 2", &f), TRI_TRUE);
	assert_int_equal(eval_text("-2 * -3 == 6", &f), TRI_TRUE);
	assert_int_equal(eval_text("--2 == 2", &f), TRI_TRUE);
	assert_int_equal(eval_text("+2 == 2", &f), TRI_TRUE);
	assert_int_equal(eval_text("true || false && false", &f), TRI_TRUE);  /* && binds tighter */
	assert_int_equal(eval_text("(true || false) && false", &f), TRI_FALSE);
	assert_int_equal(eval_text("1 < 2 == true", &f), TRI_TRUE);   /* relational before equality */
	assert_int_equal(eval_text("!0 && !false", &f), TRI_TRUE);
	assert_int_equal(eval_text("1 != 2", &f), TRI_TRUE);
	assert_int_equal(eval_text("2 >= 2 && 2 <= 2 && !(2 < 2) && !(2 > 2)", &f), TRI_TRUE);
	assert_int_equal(eval_text("  \t(\n1\r)  ", &f), TRI_TRUE);
}

static void test_unknown_point_makes_result_unknown(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	set_bad(&f, P_SMOKE);
	assert_int_equal(eval_text("smoke > 0.15", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("!(smoke > 0.15)", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("smoke + 1", &f), TRI_UNKNOWN);
	f.v[P_TEMP].quality = QUALITY_NEVER_READ;
	assert_int_equal(eval_text("temp == 0", &f), TRI_UNKNOWN);
	f.v[P_TEMP].quality = QUALITY_DECODE_ERROR;
	assert_int_equal(eval_text("temp", &f), TRI_UNKNOWN);
}

/* Kleene truth table for && and ||, both operand orders. */
static void test_kleene_logic_table(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	set_bad(&f, P_SMOKE); /* "smoke" is unknown */
	static const struct { const char *text; enum tri want; } cases[] = {
		{ "false && smoke", TRI_FALSE }, { "smoke && false", TRI_FALSE },
		{ "true && smoke", TRI_UNKNOWN }, { "smoke && true", TRI_UNKNOWN },
		{ "smoke && smoke", TRI_UNKNOWN },
		{ "true || smoke", TRI_TRUE }, { "smoke || true", TRI_TRUE },
		{ "false || smoke", TRI_UNKNOWN }, { "smoke || false", TRI_UNKNOWN },
		{ "smoke || smoke", TRI_UNKNOWN },
		{ "!smoke", TRI_UNKNOWN },
		{ "true && true", TRI_TRUE }, { "true && false", TRI_FALSE },
		{ "false || false", TRI_FALSE }, { "false || true", TRI_TRUE },
		{ "alarm || smoke > 0.15", TRI_UNKNOWN },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum tri got = eval_text(cases[i].text, &f);
		if (got != cases[i].want)
			fail_msg("'%s': got %d want %d", cases[i].text, got, cases[i].want);
	}
	set(&f, P_ALARM, 1);
	assert_int_equal(eval_text("alarm || smoke > 0.15", &f), TRI_TRUE);
	set(&f, P_ALARM, 0);
	assert_int_equal(eval_text("!alarm && smoke < 0.10", &f), TRI_UNKNOWN);
	set(&f, P_ALARM, 1);
	assert_int_equal(eval_text("!alarm && smoke < 0.10", &f), TRI_FALSE);
}

static void test_arithmetic_edge_cases(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	/* division by zero is unknown, whatever the numerator */
	assert_int_equal(eval_text("1 / 0", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("0 / 0 == 0", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("1 / 0 > 5 || true", &f), TRI_TRUE);
	assert_int_equal(eval_text("1 / 0 > 5 && false", &f), TRI_FALSE);
	set(&f, P_TEMP, 0);
	assert_int_equal(eval_text("smoke / temp > 1", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("-0 == 0", &f), TRI_TRUE);
	/* overflow to infinity is unknown */
	assert_int_equal(eval_text("1e308 * 10 > 0", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("1e308 + 1e308 > 0", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("-1e308 - 1e308 < 0", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("1e308 / 1e-308 > 0", &f), TRI_UNKNOWN);
	/* underflow to 0 is an ordinary number */
	assert_int_equal(eval_text("1e-308 / 1e308 == 0", &f), TRI_TRUE);
	/* NaN / inf point values are unknown even with good quality */
	set(&f, P_SMOKE, NAN);
	assert_int_equal(eval_text("smoke > 0", &f), TRI_UNKNOWN);
	assert_int_equal(eval_text("smoke != smoke", &f), TRI_UNKNOWN);
	set(&f, P_SMOKE, INFINITY);
	assert_int_equal(eval_text("smoke > 0", &f), TRI_UNKNOWN);
	set(&f, P_SMOKE, -INFINITY);
	assert_int_equal(eval_text("smoke < 0", &f), TRI_UNKNOWN);
}

static void test_window_functions_call_env(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f);
	f.win_known = true;
	f.win_result[0] = 5;   /* delta */
	f.win_result[1] = 20;  /* avg */
	f.win_result[2] = 1;   /* min */
	f.win_result[3] = 40;  /* max */
	assert_int_equal(eval_text("delta(temp, \"60s\") == 5", &f), TRI_TRUE);
	assert_int_equal(f.last_point, P_TEMP);
	assert_int_equal(f.last_fn, 0);
	assert_int_equal(f.last_window, 60000);
	assert_int_equal(eval_text("avg(smoke, '10m') == 20", &f), TRI_TRUE);
	assert_int_equal(f.last_fn, 1);
	assert_int_equal(f.last_point, P_SMOKE);
	assert_int_equal(f.last_window, 600000);
	assert_int_equal(eval_text("min( temp , \"500ms\" ) == 1", &f), TRI_TRUE);
	assert_int_equal(f.last_fn, 2);
	assert_int_equal(f.last_window, 500);
	assert_int_equal(eval_text("max(temp,'2h') - min(temp,'2h') == 39", &f), TRI_TRUE);
	f.win_known = false;
	assert_int_equal(eval_text("max(temp, '60s') > 1", &f), TRI_UNKNOWN);
	/* a non-finite window result is unknown too */
	f.win_known = true;
	f.win_result[3] = NAN;
	assert_int_equal(eval_text("max(temp, '60s') > 1", &f), TRI_UNKNOWN);
	/* a point named like a function but not called is an ordinary name */
	struct point_def d2[] = { { .name = "max" }, { .name = "delta" } };
	struct profile p2 = { .name = "x", .points = d2, .n_points = 2 };
	char err[128];
	struct expr *e = expr_compile("max > 3 && delta(max, '1s') > 0", &p2, err, sizeof err);
	assert_non_null(e);
	const int *pts;
	assert_int_equal(expr_points(e, &pts), 1);
	assert_int_equal(pts[0], 0);
	expr_free(e);
}

static void test_points_and_max_window(void **state)
{
	(void)state;
	char err[128];
	struct expr *e = expr_compile("alarm || smoke > 0.15 && avg(temp, '30s') > 50 || max(temp, '2m') > 70 || smoke > 1",
				      &prof, err, sizeof err);
	assert_non_null(e);
	const int *pts;
	int n = expr_points(e, &pts);
	assert_int_equal(n, 3);
	assert_int_equal(pts[0], P_ALARM);
	assert_int_equal(pts[1], P_SMOKE);
	assert_int_equal(pts[2], P_TEMP);
	assert_int_equal(expr_max_window_ms(e), 120000);
	expr_free(e);
	e = expr_compile("true", &prof, err, sizeof err);
	assert_non_null(e);
	assert_int_equal(expr_points(e, &pts), 0);
	assert_int_equal(expr_max_window_ms(e), 0);
	expr_free(e);
}

static void expect_error(const char *text, const char *want)
{
	char err[160];
	struct expr *e = expr_compile(text, &prof, err, sizeof err);
	if (e) {
		expr_free(e);
		fail_msg("'%s' compiled but should not", text);
	}
	if (!strstr(err, want))
		fail_msg("'%s': error '%s' does not contain '%s'", text, err, want);
}

static void test_errors_name_the_column(void **state)
{
	(void)state;
	expect_error("", "column 1: unexpected end");
	expect_error("alarm ||", "column 9: unexpected end");
	expect_error("alrm || smoke > 1", "column 1: unknown point 'alrm'");
	expect_error("smoke > 1 && flame", "column 14: unknown point 'flame'");
	expect_error("(smoke > 1", "column 11: ')' expected to close '(' at column 1");
	expect_error("smoke = 1", "column 7: unexpected '='");
	expect_error("smoke > 1)", "column 10: unexpected ')'");
	expect_error("smoke & 1", "column 7: unexpected '&'");
	expect_error("1.", "digit expected after '.'");
	expect_error("1e", "digit expected in exponent");
	expect_error("12abc", "unexpected 'a' after number");
	expect_error("1e999 > 0", "number out of range");
	expect_error("avg(temp) > 1", "',' expected");
	expect_error("avg(temp, 60s) > 1", "quoted duration expected");
	expect_error("avg(temp, '60x') > 1", "bad duration \"60x\"");
	expect_error("avg(temp, '0s') > 1", "bad duration");
	expect_error("avg(temp, '60s' > 1", "')' expected to close avg()");
	expect_error("avg(temp, '60s) > 1", "unterminated string");
	expect_error("avg(flame, '60s') > 1", "unknown point 'flame'");
	expect_error("avg(1, '60s') > 1", "point name expected");
	expect_error("alarm !", "unexpected '!'");
	expect_error("!= 1", "unexpected '!'");
	expect_error("smoke > 1 #", "unexpected '#'");
	/* a NULL text and a NULL err buffer are both handled */
	assert_null(expr_compile(NULL, &prof, NULL, 0));
	assert_null(expr_compile("nope", &prof, NULL, 0));
}

static void test_deep_nesting_is_rejected_not_crashing(void **state)
{
	(void)state;
	char buf[20000];
	size_t n = 0;
	for (int i = 0; i < 5000; i++)
		buf[n++] = '(';
	buf[n++] = '1';
	for (int i = 0; i < 5000; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	expect_error(buf, "nested too deeply");
	n = 0;
	for (int i = 0; i < 5000; i++)
		buf[n++] = '!';
	buf[n++] = '1';
	buf[n] = '\0';
	expect_error(buf, "nested too deeply");
	/* moderate nesting still works */
	struct fake f;
	fake_init(&f);
	assert_int_equal(eval_text("((((((((((1+1))))))))))==2", &f), TRI_TRUE);
	n = 0;
	for (int i = 0; i < 30; i++)
		buf[n++] = '(';
	buf[n++] = '1';
	for (int i = 0; i < 30; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	assert_int_equal(eval_text(buf, &f), TRI_TRUE);  /* the documented 30+ levels work */
	/* long flat chains do not need a deep stack */
	n = 0;
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s1", i ? "+" : "");
	snprintf(buf + n, sizeof buf - n, " == 500");
	assert_int_equal(eval_text(buf, &f), TRI_TRUE);
	/* too many instructions is an error, not an overflow */
	n = 0;
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s1", i ? "+" : "");
	expect_error(buf, "too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_and_points),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_unknown_point_makes_result_unknown),
		cmocka_unit_test(test_kleene_logic_table),
		cmocka_unit_test(test_arithmetic_edge_cases),
		cmocka_unit_test(test_window_functions_call_env),
		cmocka_unit_test(test_points_and_max_window),
		cmocka_unit_test(test_errors_name_the_column),
		cmocka_unit_test(test_deep_nesting_is_rejected_not_crashing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
