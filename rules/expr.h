/* expr — rule expressions (CONTRACT.md §2): point names of the rule's
 * profile, numbers, true/false, == != < <= > >= && || ! + - * / ( ), and the
 * window functions delta/avg/min/max(point, "60s"). Compiled once at config
 * load into a compact form; evaluation allocates nothing.
 *
 * Three-valued logic: a point that is not good makes the result unknown,
 * which neither raises nor clears (&& and || short-circuit like Kleene logic:
 * false && unknown = false, true || unknown = true). */
#ifndef GRIDGW_EXPR_H
#define GRIDGW_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "common/point.h"

enum tri { TRI_FALSE = 0, TRI_TRUE = 1, TRI_UNKNOWN = 2 };

struct expr;

/* Compiles `text` against the points of `profile`. On error returns NULL and
 * writes a one-line message (with the column) to err. */
struct expr *expr_compile(const char *text, const struct profile *profile, char *err, size_t errlen);
void expr_free(struct expr *e);

/* Points the expression reads (indices into the profile), for indexing rules
 * by point. Returns the count and sets *points to an internal array. */
int expr_points(const struct expr *e, const int **points);
/* Longest window any window function of the expression uses (0 if none). */
int64_t expr_max_window_ms(const struct expr *e);
/* Longest window any window function of the expression uses on `point`
 * (0 if it reads that point only directly, or not at all). */
int64_t expr_point_window_ms(const struct expr *e, int point);

/* Where an evaluation reads values: the current value of a point, and the
 * window aggregates over the recent history the rule engine keeps. */
struct expr_env {
	const struct point_value *values;   /* indexed by profile point */
	/* fn: 0 delta, 1 avg, 2 min, 3 max. Returns TRI_TRUE with *out set, or
	 * TRI_UNKNOWN when the window holds no good sample. */
	enum tri (*window)(void *ctx, int point, int fn, int64_t window_ms, double *out);
	void *ctx;
};

enum tri expr_eval(const struct expr *e, const struct expr_env *env);

#endif
