/* expr — parser and evaluator of rule expressions (see expr.h, docs/rules.md).
 *
 * Text is parsed once by recursive descent into a flat postfix program of
 * fixed-size instructions; evaluation runs it on a small stack held in the
 * evaluator's frame, so it allocates nothing and its cost is linear in the
 * program length.
 *
 * Unknown is carried as NaN on the evaluation stack: a point that is not
 * good, a non-finite point value, x/0, or an arithmetic result that is not
 * finite (overflow to inf, inf-inf) all become NaN, which every operator
 * propagates except && and || where Kleene logic decides (false && unknown =
 * false, true || unknown = true). The final value maps to TRI_UNKNOWN (NaN),
 * TRI_FALSE (0) or TRI_TRUE (anything else). */
#include "rules/expr.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define EXPR_STACK_MAX 64   /* evaluation stack slots (deep nesting is rejected) */
#define EXPR_DEPTH_MAX 256  /* parser recursion limit (about 7 frames per paren) */
#define EXPR_CODE_MAX 1024  /* instructions per expression */

enum op {
	OP_NUM, OP_POINT, OP_WINDOW,
	OP_NOT, OP_NEG,
	OP_ADD, OP_SUB, OP_MUL, OP_DIV,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
	OP_AND, OP_OR,
};

struct insn {
	uint8_t op;
	uint8_t fn;          /* OP_WINDOW: 0 delta, 1 avg, 2 min, 3 max */
	int32_t point;       /* OP_POINT, OP_WINDOW */
	union {
		double num;         /* OP_NUM */
		int64_t window_ms;  /* OP_WINDOW */
	} u;
};

struct expr {
	struct insn *code;
	int n_code;
	int *points;         /* distinct points read, ascending */
	int n_points;
	int64_t max_window_ms;
};

/* Parser state: the text, a cursor, the program being built and the first error. */
struct parser {
	const char *text;
	size_t pos;
	const struct profile *profile;
	struct insn code[EXPR_CODE_MAX];
	int n_code;
	int depth;          /* current stack depth of the emitted program */
	int max_depth;
	int nesting;        /* recursion depth */
	bool failed;
	char *err;
	size_t errlen;
};

static const char *const window_names[4] = { "delta", "avg", "min", "max" };

static void parse_fail(struct parser *p, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void parse_fail(struct parser *p, size_t col, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = true;
	if (!p->err || p->errlen == 0)
		return;
	int n = snprintf(p->err, p->errlen, "column %zu: ", col + 1);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void skip_space(struct parser *p)
{
	while (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' || p->text[p->pos] == '\n' ||
	       p->text[p->pos] == '\r')
		p->pos++;
}

/* Consumes `tok` (after whitespace) if it is next; returns whether it did. */
static bool accept(struct parser *p, const char *tok)
{
	skip_space(p);
	size_t n = strlen(tok);
	if (strncmp(p->text + p->pos, tok, n) != 0)
		return false;
	p->pos += n;
	return true;
}

static void emit(struct parser *p, struct insn in, int stack_change)
{
	if (p->failed)
		return;
	if (p->n_code >= EXPR_CODE_MAX) {
		parse_fail(p, p->pos, "expression too long");
		return;
	}
	p->code[p->n_code++] = in;
	p->depth += stack_change;
	if (p->depth > p->max_depth)
		p->max_depth = p->depth;
	if (p->max_depth > EXPR_STACK_MAX)
		parse_fail(p, p->pos, "expression nested too deeply");
}

static void emit_op(struct parser *p, enum op op)
{
	struct insn in = { .op = (uint8_t)op };
	int change = (op == OP_NOT || op == OP_NEG) ? 0 : -1;
	emit(p, in, change);
}

static bool is_ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Reads an identifier at the cursor into buf; returns its length (0 = none). */
static size_t read_ident(struct parser *p, char *buf, size_t len)
{
	size_t start = p->pos, n = 0;
	if (!is_ident_start(p->text[start]))
		return 0;
	while (is_ident_char(p->text[start + n]))
		n++;
	if (n >= len) {
		parse_fail(p, start, "name too long");
		return 0;
	}
	memcpy(buf, p->text + start, n);
	buf[n] = '\0';
	p->pos += n;
	return n;
}

static int find_point(const struct profile *prof, const char *name)
{
	if (!prof)
		return -1;
	for (int i = 0; i < prof->n_points; i++)
		if (prof->points[i].name && strcmp(prof->points[i].name, name) == 0)
			return i;
	return -1;
}

static void parse_or(struct parser *p);

/* A number: digits [. digits] [e [+-] digits]. No sign (unary minus does
 * that), no hex, no inf/nan. */
static void parse_number(struct parser *p)
{
	size_t start = p->pos, i = start;
	char buf[64];
	while (isdigit((unsigned char)p->text[i]))
		i++;
	if (p->text[i] == '.') {
		i++;
		if (!isdigit((unsigned char)p->text[i])) {
			parse_fail(p, i, "digit expected after '.'");
			return;
		}
		while (isdigit((unsigned char)p->text[i]))
			i++;
	}
	if (p->text[i] == 'e' || p->text[i] == 'E') {
		i++;
		if (p->text[i] == '+' || p->text[i] == '-')
			i++;
		if (!isdigit((unsigned char)p->text[i])) {
			parse_fail(p, i, "digit expected in exponent");
			return;
		}
		while (isdigit((unsigned char)p->text[i]))
			i++;
	}
	if (is_ident_char(p->text[i])) {
		parse_fail(p, i, "unexpected '%c' after number", p->text[i]);
		return;
	}
	if (i - start >= sizeof buf) {
		parse_fail(p, start, "number too long");
		return;
	}
	memcpy(buf, p->text + start, i - start);
	buf[i - start] = '\0';
	double v = strtod(buf, NULL);
	if (!isfinite(v)) {
		parse_fail(p, start, "number out of range");
		return;
	}
	p->pos = i;
	struct insn in = { .op = OP_NUM, .u.num = v };
	emit(p, in, +1);
}

/* A quoted duration '60s' or "60s" inside a window function call. */
static int64_t parse_duration_arg(struct parser *p)
{
	skip_space(p);
	char q = p->text[p->pos];
	size_t start = p->pos;
	if (q != '"' && q != '\'') {
		parse_fail(p, start, "quoted duration expected, e.g. \"60s\"");
		return 0;
	}
	size_t i = start + 1;
	char buf[32];
	size_t n = 0;
	while (p->text[i] && p->text[i] != q) {
		if (n + 1 >= sizeof buf) {
			parse_fail(p, start, "duration too long");
			return 0;
		}
		buf[n++] = p->text[i++];
	}
	if (p->text[i] != q) {
		parse_fail(p, start, "unterminated string");
		return 0;
	}
	buf[n] = '\0';
	int64_t ms;
	if (duration_parse(buf, &ms) != 0 || ms <= 0) {
		parse_fail(p, start + 1, "bad duration \"%s\" (e.g. \"500ms\", \"60s\", \"10m\")", buf);
		return 0;
	}
	p->pos = i + 1;
	return ms;
}

/* delta|avg|min|max ( point , "duration" ) — the name is already consumed. */
static void parse_window(struct parser *p, int fn, size_t name_col)
{
	char name[64];
	skip_space(p);
	size_t col = p->pos;
	if (!read_ident(p, name, sizeof name)) {
		parse_fail(p, col, "point name expected as first argument of %s()", window_names[fn]);
		return;
	}
	int pt = find_point(p->profile, name);
	if (pt < 0) {
		parse_fail(p, col, "unknown point '%s'", name);
		return;
	}
	if (!accept(p, ",")) {
		parse_fail(p, p->pos, "',' expected in %s()", window_names[fn]);
		return;
	}
	int64_t ms = parse_duration_arg(p);
	if (p->failed)
		return;
	if (!accept(p, ")")) {
		parse_fail(p, p->pos, "')' expected to close %s() opened at column %zu", window_names[fn],
			   name_col + 1);
		return;
	}
	struct insn in = { .op = OP_WINDOW, .fn = (uint8_t)fn, .point = pt, .u.window_ms = ms };
	emit(p, in, +1);
}

static void parse_primary(struct parser *p)
{
	skip_space(p);
	size_t col = p->pos;
	char c = p->text[col];
	if (c == '(') {
		p->pos++;
		parse_or(p);
		if (!p->failed && !accept(p, ")"))
			parse_fail(p, p->pos, "')' expected to close '(' at column %zu", col + 1);
		return;
	}
	if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)p->text[col + 1]))) {
		parse_number(p);
		return;
	}
	if (is_ident_start(c)) {
		char name[64];
		if (!read_ident(p, name, sizeof name))
			return;
		if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0) {
			struct insn in = { .op = OP_NUM, .u.num = name[0] == 't' ? 1.0 : 0.0 };
			emit(p, in, +1);
			return;
		}
		for (int fn = 0; fn < 4; fn++) {
			if (strcmp(name, window_names[fn]) == 0 && accept(p, "(")) {
				parse_window(p, fn, col);
				return;
			}
		}
		int pt = find_point(p->profile, name);
		if (pt < 0) {
			parse_fail(p, col, "unknown point '%s'", name);
			return;
		}
		struct insn in = { .op = OP_POINT, .point = pt };
		emit(p, in, +1);
		return;
	}
	if (c == '\0')
		parse_fail(p, col, "unexpected end of expression");
	else
		parse_fail(p, col, "unexpected '%c'", c);
}

static void parse_unary(struct parser *p)
{
	if (++p->nesting > EXPR_DEPTH_MAX) {
		parse_fail(p, p->pos, "expression nested too deeply");
		return;
	}
	skip_space(p);
	char c = p->text[p->pos];
	if (c == '!' && p->text[p->pos + 1] != '=') {
		p->pos++;
		parse_unary(p);
		emit_op(p, OP_NOT);
	} else if (c == '-') {
		p->pos++;
		parse_unary(p);
		emit_op(p, OP_NEG);
	} else if (c == '+') {
		p->pos++;
		parse_unary(p);
	} else {
		parse_primary(p);
	}
	p->nesting--;
}

/* One binary precedence level: operand (op operand)*, left-associative.
 * ops/codes are parallel arrays; longer tokens must come first. */
static void parse_level(struct parser *p, void (*operand)(struct parser *), const char *const *ops,
			const enum op *codes, int n_ops)
{
	if (++p->nesting > EXPR_DEPTH_MAX) {
		parse_fail(p, p->pos, "expression nested too deeply");
		return;
	}
	operand(p);
	while (!p->failed) {
		int hit = -1;
		for (int i = 0; i < n_ops && hit < 0; i++)
			if (accept(p, ops[i]))
				hit = i;
		if (hit < 0)
			break;
		operand(p);
		emit_op(p, codes[hit]);
	}
	p->nesting--;
}

static void parse_mul(struct parser *p)
{
	static const char *const ops[] = { "*", "/" };
	static const enum op codes[] = { OP_MUL, OP_DIV };
	parse_level(p, parse_unary, ops, codes, 2);
}

static void parse_add(struct parser *p)
{
	static const char *const ops[] = { "+", "-" };
	static const enum op codes[] = { OP_ADD, OP_SUB };
	parse_level(p, parse_mul, ops, codes, 2);
}

static void parse_rel(struct parser *p)
{
	static const char *const ops[] = { "<=", ">=", "<", ">" };
	static const enum op codes[] = { OP_LE, OP_GE, OP_LT, OP_GT };
	parse_level(p, parse_add, ops, codes, 4);
}

static void parse_eq(struct parser *p)
{
	static const char *const ops[] = { "==", "!=" };
	static const enum op codes[] = { OP_EQ, OP_NE };
	parse_level(p, parse_rel, ops, codes, 2);
}

static void parse_and(struct parser *p)
{
	static const char *const ops[] = { "&&" };
	static const enum op codes[] = { OP_AND };
	parse_level(p, parse_eq, ops, codes, 1);
}

static void parse_or(struct parser *p)
{
	static const char *const ops[] = { "||" };
	static const enum op codes[] = { OP_OR };
	parse_level(p, parse_and, ops, codes, 1);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Packs the parsed program into its compact heap form. */
static struct expr *expr_build(const struct parser *p)
{
	struct expr *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->code = malloc((size_t)p->n_code * sizeof *e->code);
	e->points = malloc((size_t)p->n_code * sizeof *e->points);
	if (!e->code || !e->points) {
		expr_free(e);
		return NULL;
	}
	memcpy(e->code, p->code, (size_t)p->n_code * sizeof *e->code);
	e->n_code = p->n_code;
	int n = 0;
	for (int i = 0; i < p->n_code; i++) {
		const struct insn *in = &p->code[i];
		if (in->op != OP_POINT && in->op != OP_WINDOW)
			continue;
		e->points[n++] = in->point;
		if (in->op == OP_WINDOW && in->u.window_ms > e->max_window_ms)
			e->max_window_ms = in->u.window_ms;
	}
	qsort(e->points, (size_t)n, sizeof *e->points, cmp_int);
	int u = 0;
	for (int i = 0; i < n; i++)
		if (u == 0 || e->points[u - 1] != e->points[i])
			e->points[u++] = e->points[i];
	e->n_points = u;
	return e;
}

struct expr *expr_compile(const char *text, const struct profile *profile, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!text) {
		if (err && errlen)
			snprintf(err, errlen, "column 1: empty expression");
		return NULL;
	}
	/* The parser holds the program buffer (~24 KB): keep it off the stack. */
	struct parser *p = calloc(1, sizeof *p);
	if (!p) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->text = text;
	p->profile = profile;
	p->err = err;
	p->errlen = errlen;
	parse_or(p);
	skip_space(p);
	if (!p->failed && p->text[p->pos] != '\0')
		parse_fail(p, p->pos, "unexpected '%c'", p->text[p->pos]);
	struct expr *e = NULL;
	if (!p->failed) {
		e = expr_build(p);
		if (!e && err && errlen)
			snprintf(err, errlen, "out of memory");
	}
	free(p);
	return e;
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	free(e->code);
	free(e->points);
	free(e);
}

int expr_points(const struct expr *e, const int **points)
{
	*points = e->points;
	return e->n_points;
}

int64_t expr_max_window_ms(const struct expr *e)
{
	return e->max_window_ms;
}

/* Anything that is not a finite number is unknown. */
static inline double finite_or_unknown(double v)
{
	return isfinite(v) ? v : NAN;
}

static inline double logic_and(double a, double b)
{
	if (a == 0.0 || b == 0.0)
		return 0.0;   /* false && anything = false, NaN == 0 is false */
	if (isnan(a) || isnan(b))
		return NAN;
	return 1.0;
}

static inline double logic_or(double a, double b)
{
	if ((!isnan(a) && a != 0.0) || (!isnan(b) && b != 0.0))
		return 1.0;
	if (isnan(a) || isnan(b))
		return NAN;
	return 0.0;
}

static inline double compare(enum op op, double a, double b)
{
	if (isnan(a) || isnan(b))
		return NAN;
	switch (op) {
	case OP_EQ: return a == b;
	case OP_NE: return a != b;
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	default: return a >= b;
	}
}

static double read_point(const struct expr_env *env, int point)
{
	const struct point_value *pv = &env->values[point];
	if (pv->quality != QUALITY_GOOD)
		return NAN;
	return finite_or_unknown(pv->value);
}

static double read_window(const struct expr_env *env, const struct insn *in)
{
	double out = 0;
	if (!env->window || env->window(env->ctx, in->point, in->fn, in->u.window_ms, &out) != TRI_TRUE)
		return NAN;
	return finite_or_unknown(out);
}

enum tri expr_eval(const struct expr *e, const struct expr_env *env)
{
	double st[EXPR_STACK_MAX];
	int sp = 0;
	for (int i = 0; i < e->n_code; i++) {
		const struct insn *in = &e->code[i];
		double a, b;
		switch ((enum op)in->op) {
		case OP_NUM: st[sp++] = in->u.num; break;
		case OP_POINT: st[sp++] = read_point(env, in->point); break;
		case OP_WINDOW: st[sp++] = read_window(env, in); break;
		case OP_NOT:
			a = st[sp - 1];
			st[sp - 1] = isnan(a) ? NAN : (a == 0.0);
			break;
		case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
		default:
			b = st[--sp];
			a = st[sp - 1];
			switch ((enum op)in->op) {
			case OP_ADD: a = finite_or_unknown(a + b); break;
			case OP_SUB: a = finite_or_unknown(a - b); break;
			case OP_MUL: a = finite_or_unknown(a * b); break;
			case OP_DIV: a = (b == 0.0 || isnan(b)) ? NAN : finite_or_unknown(a / b); break;
			case OP_AND: a = logic_and(a, b); break;
			case OP_OR: a = logic_or(a, b); break;
			default: a = compare((enum op)in->op, a, b); break;
			}
			st[sp - 1] = a;
			break;
		}
	}
	double r = sp > 0 ? st[sp - 1] : NAN;
	if (isnan(r))
		return TRI_UNKNOWN;
	return r != 0.0 ? TRI_TRUE : TRI_FALSE;
}

int64_t expr_point_window_ms(const struct expr *e, int point)
{
	int64_t ms = 0;
	for (int i = 0; i < e->n_code; i++)
		if (e->code[i].op == OP_WINDOW && e->code[i].point == point && e->code[i].u.window_ms > ms)
			ms = e->code[i].u.window_ms;
	return ms;
}
