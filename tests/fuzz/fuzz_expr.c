/* libFuzzer target for the rule expression parser and evaluator
 * (rules/expr.c). The input is the expression text. A compiled expression
 * is evaluated against several environments (good values, bad quality,
 * NaN/inf values, window functions known and unknown). Beyond ASan/UBSan it
 * checks the parser's promises: failure always leaves a "column N: ..."
 * message, the point list is sorted, distinct and in range, the longest
 * window is at least every per-point window, evaluation is three-valued,
 * deterministic, and unknown inputs never make a result that the same
 * expression with those inputs good would contradict through && / ||
 * short-circuit alone (checked by re-evaluation, not by a second parser). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/expr.h"

static struct point_def points[] = {
	{ .name = "alarm", .type = PT_BOOL }, { .name = "smoke", .type = PT_U16 }, { .name = "temp", .type = PT_S16 },
	{ .name = "battery", .type = PT_U16 }, { .name = "max", .type = PT_NUMBER }, { .name = "x_1", .type = PT_NUMBER },
};
#define N_POINTS ((int)(sizeof points / sizeof points[0]))
static const struct profile prof = { .name = "p", .kind = "k", .points = points, .n_points = N_POINTS };

struct wenv {
	int mode;  /* 0 unknown, 1 small numbers, 2 huge, 3 NaN */
};

static enum tri fuzz_window(void *ctx, int point, int fn, int64_t window_ms, double *out)
{
	const struct wenv *w = ctx;
	if (point < 0 || point >= N_POINTS || fn < 0 || fn > 3 || window_ms <= 0)
		abort();
	switch (w->mode) {
	case 0: return TRI_UNKNOWN;
	case 1: *out = point + fn * 0.5; return TRI_TRUE;
	case 2: *out = 1e308; return TRI_TRUE;
	default: *out = NAN; return TRI_TRUE;
	}
}

static enum tri eval_with(const struct expr *e, const struct point_value *v, int mode)
{
	struct wenv w = { mode };
	struct expr_env env = { .values = v, .window = fuzz_window, .ctx = &w };
	enum tri r = expr_eval(e, &env);
	if (r != TRI_FALSE && r != TRI_TRUE && r != TRI_UNKNOWN)
		abort();
	if (expr_eval(e, &env) != r)  /* deterministic, no hidden state */
		abort();
	return r;
}

static void check_compiled(const struct expr *e)
{
	const int *pts;
	int n = expr_points(e, &pts);
	if (n < 0 || n > N_POINTS)
		abort();
	for (int i = 0; i < n; i++) {
		if (pts[i] < 0 || pts[i] >= N_POINTS || (i > 0 && pts[i] <= pts[i - 1]))
			abort();
	}
	int64_t maxw = expr_max_window_ms(e);
	if (maxw < 0)
		abort();
	for (int k = 0; k < N_POINTS; k++) {
		int64_t w = expr_point_window_ms(e, k);
		if (w < 0 || w > maxw)
			abort();
		if (w > 0) {
			bool listed = false;
			for (int i = 0; i < n; i++)
				listed |= pts[i] == k;
			if (!listed)
				abort();
		}
	}
	struct point_value v[N_POINTS];
	static const double goods[] = { 0, 1, -1, 0.15, 1e308, -1e308, 5e-324 };
	for (size_t g = 0; g < sizeof goods / sizeof goods[0]; g++) {
		for (int k = 0; k < N_POINTS; k++)
			v[k] = (struct point_value){ .value = goods[g] * (k + 1), .quality = QUALITY_GOOD };
		enum tri known = eval_with(e, v, 1);
		for (int mode = 0; mode < 4; mode++)
			(void)eval_with(e, v, mode);
		/* A point that is not good can only turn a known result into
		 * unknown, never into the opposite known value. */
		for (int k = 0; k < N_POINTS; k++) {
			struct point_value saved = v[k];
			v[k].quality = QUALITY_COMM_ERROR;
			enum tri r = eval_with(e, v, 1);
			if (r != TRI_UNKNOWN && r != known)
				abort();
			v[k] = saved;
		}
	}
	for (int k = 0; k < N_POINTS; k++)
		v[k] = (struct point_value){ .value = k % 2 ? NAN : INFINITY, .quality = QUALITY_GOOD };
	(void)eval_with(e, v, 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char err[160];
	struct expr *e = expr_compile(text, &prof, err, sizeof err);
	if (!e) {
		if (strncmp(err, "column ", 7) != 0)
			abort();
	} else {
		check_compiled(e);
		expr_free(e);
	}
	free(text);
	return 0;
}
