/* config_syntax — the configuration text below libconfig: UTF-8
 * characters, the full-width punctuation a Chinese input method types
 * (；＝“), and where a syntax error is. libconfig 1.5 reports a syntax
 * error with its line only ("syntax error"), so when it fails we walk its
 * grammar ourselves, token by token, to name the column and the token that
 * does not fit. The walk only ever refines an error libconfig found; it
 * never makes one. */
#include "gateway/config/config_priv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

size_t cfg_utf8_char(const char *p, const char *end, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t avail = (size_t)(end - p), n;
	uint32_t v;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xE0) == 0xC0) {
		n = 2;
		v = u[0] & 0x1F;
	} else if ((u[0] & 0xF0) == 0xE0) {
		n = 3;
		v = u[0] & 0x0F;
	} else if ((u[0] & 0xF8) == 0xF0) {
		n = 4;
		v = u[0] & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (avail < n) {
		*cp = 0xFFFD;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		v = (v << 6) | (u[i] & 0x3F);
	}
	*cp = v;
	return n;
}

const char *cfg_fullwidth_ascii(uint32_t cp)
{
	static const struct {
		uint32_t cp;
		const char *ascii;
	} map[] = {
		{ 0xFF1B, ";" }, { 0xFF1D, "=" }, { 0xFF1A, ":" }, { 0xFF0C, "," }, { 0x3001, "," },
		{ 0x201C, "\"" }, { 0x201D, "\"" }, { 0xFF02, "\"" }, { 0x2018, "\"" }, { 0x2019, "\"" },
		{ 0xFF08, "(" }, { 0xFF09, ")" }, { 0xFF5B, "{" }, { 0xFF5D, "}" }, { 0xFF3B, "[" },
		{ 0xFF3D, "]" }, { 0x3010, "[" }, { 0x3011, "]" }, { 0x3002, "." }, { 0xFF0E, "." },
		{ 0xFF03, "#" }, { 0xFF0F, "/" }, { 0xFF0D, "-" }, { 0x3000, " " },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i].cp == cp)
			return map[i].ascii;
	if (cp >= 0xFF10 && cp <= 0xFF19) { /* full-width digits */
		static const char *const digits[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" };
		return digits[cp - 0xFF10];
	}
	return NULL;
}

int cfg_column(const char *line, const char *at)
{
	int col = 1;
	for (const char *p = line; p < at;) {
		uint32_t cp;
		p += cfg_utf8_char(p, at, &cp);
		col++;
	}
	return col;
}

/* ---------------------------------------------------------------- tokens */

enum tok {
	T_EOF = 0, T_NAME, T_SCALAR, T_STRING, T_ASSIGN, T_TERM, T_COMMA, T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN,
	T_LBRACKET, T_RBRACKET, T_BAD,
};

struct lexer {
	const char *p, *end;
	const char *line_start;
	int line;
	/* the current token */
	enum tok t;
	const char *start;
	size_t len;
	int tline, tcol;
};

static bool name_start(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '*'; }
static bool name_char(char ch)
{
	return name_start(ch) || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}
static bool digit(char ch) { return ch >= '0' && ch <= '9'; }

static void newline(struct lexer *l, const char *after)
{
	l->line++;
	l->line_start = after;
}

/* Skips blanks and comments. */
static void skip(struct lexer *l)
{
	while (l->p < l->end) {
		char ch = *l->p;
		if (ch == '\n') {
			l->p++;
			newline(l, l->p);
		} else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v') {
			l->p++;
		} else if (ch == '#' || (ch == '/' && l->p + 1 < l->end && l->p[1] == '/')) {
			while (l->p < l->end && *l->p != '\n')
				l->p++;
		} else if (ch == '/' && l->p + 1 < l->end && l->p[1] == '*') {
			l->p += 2;
			while (l->p < l->end && !(*l->p == '*' && l->p + 1 < l->end && l->p[1] == '/')) {
				if (*l->p == '\n')
					newline(l, l->p + 1);
				l->p++;
			}
			l->p = l->p < l->end ? l->p + 2 : l->end;
		} else {
			return;
		}
	}
}

/* A number as libconfig's scanner takes it (integer, hex, float, L suffix). */
static size_t number_len(const char *p, const char *end)
{
	const char *q = p;
	if (q < end && (*q == '-' || *q == '+'))
		q++;
	if (q + 1 < end && q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
		q += 2;
		while (q < end && (digit(*q) || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
			q++;
	} else {
		while (q < end && digit(*q))
			q++;
		if (q < end && *q == '.') {
			q++;
			while (q < end && digit(*q))
				q++;
		}
		if (q < end && (*q == 'e' || *q == 'E')) {
			const char *e = q + 1;
			if (e < end && (*e == '-' || *e == '+'))
				e++;
			if (e < end && digit(*e)) {
				q = e;
				while (q < end && digit(*q))
					q++;
			}
		}
	}
	while (q < end && *q == 'L')
		q++;
	return (size_t)(q - p);
}

static void next(struct lexer *l)
{
	skip(l);
	l->start = l->p;
	l->tline = l->line;
	l->tcol = cfg_column(l->line_start, l->p);
	if (l->p >= l->end) {
		l->t = T_EOF;
		l->len = 0;
		return;
	}
	char ch = *l->p;
	const char *q = l->p;
	if (name_start(ch)) {
		while (q < l->end && name_char(*q))
			q++;
		size_t n = (size_t)(q - l->p);
		bool boolean = (n == 4 && strncasecmp(l->p, "true", 4) == 0) || (n == 5 && strncasecmp(l->p, "false", 5) == 0);
		l->t = boolean ? T_SCALAR : T_NAME;
	} else if (digit(ch) || ((ch == '-' || ch == '+' || ch == '.') && q + 1 < l->end && (digit(q[1]) || q[1] == '.'))) {
		q += number_len(q, l->end);
		if (q == l->p)
			q++;
		l->t = T_SCALAR;
	} else if (ch == '"') {
		q++;
		while (q < l->end && *q != '"' && *q != '\n')
			q += *q == '\\' && q + 1 < l->end ? 2 : 1;
		q = q < l->end ? q + 1 : q;
		l->t = T_STRING;
	} else {
		q++;
		switch (ch) {
		case '=': case ':': l->t = T_ASSIGN; break;
		case ';': l->t = T_TERM; break;
		case ',': l->t = T_COMMA; break;
		case '{': l->t = T_LBRACE; break;
		case '}': l->t = T_RBRACE; break;
		case '(': l->t = T_LPAREN; break;
		case ')': l->t = T_RPAREN; break;
		case '[': l->t = T_LBRACKET; break;
		case ']': l->t = T_RBRACKET; break;
		default: {
			uint32_t cp;
			q = l->p + cfg_utf8_char(l->p, l->end, &cp);
			l->t = T_BAD;
		}
		}
	}
	l->len = (size_t)(q - l->p);
	l->p = q;
}

/* ---------------------------------------------------------------- grammar */

#define MAX_DEPTH 512

struct walk {
	struct lexer l;
	char stack[MAX_DEPTH];    /* '{' '(' '[' of the open values; none at top level */
	int depth;
	int err_line, err_col;
	char *what;
	size_t what_len;
};

static void fail(struct walk *w, const char *expected)
{
	char tok[40];
	if (w->l.t == T_EOF) {
		snprintf(tok, sizeof tok, "end of file");
	} else {
		size_t n = w->l.len < 24 ? w->l.len : 24;
		snprintf(tok, sizeof tok, "'%.*s'%s", (int)n, w->l.start, n < w->l.len ? "..." : "");
	}
	w->err_line = w->l.tline;
	w->err_col = w->l.tcol;
	snprintf(w->what, w->what_len, "unexpected %s %s", tok, expected);
}

static bool is_value_start(enum tok t)
{
	return t == T_SCALAR || t == T_STRING || t == T_LBRACE || t == T_LPAREN || t == T_LBRACKET;
}

static bool walk_value(struct walk *w, bool simple_only);

/* settings up to '}' (inside a group) or the end (top level) */
static bool walk_settings(struct walk *w, bool top)
{
	for (;;) {
		if (w->l.t == (top ? T_EOF : T_RBRACE))
			return true;
		if (w->l.t != T_NAME) {
			fail(w, top ? "where a setting name belongs" : "where a setting name or '}' belongs");
			return false;
		}
		next(&w->l);
		if (w->l.t != T_ASSIGN) {
			fail(w, "after a setting name, where '=' belongs");
			return false;
		}
		next(&w->l);
		if (!walk_value(w, false))
			return false;
		if (w->l.t == T_TERM || w->l.t == T_COMMA)
			next(&w->l);
	}
}

/* elements up to the closing bracket of a list ( ) or array [ ] */
static bool walk_elements(struct walk *w, enum tok close, bool simple_only)
{
	if (w->l.t == close)
		return true;
	for (;;) {
		if (!walk_value(w, simple_only))
			return false;
		if (w->l.t == close)
			return true;
		if (w->l.t != T_COMMA) {
			fail(w, close == T_RPAREN ? "in a list, where ',' or ')' belongs" : "in an array, where ',' or ']' belongs");
			return false;
		}
		next(&w->l);
	}
}

static bool walk_value(struct walk *w, bool simple_only)
{
	enum tok t = w->l.t;
	if (!is_value_start(t) || (simple_only && t != T_SCALAR && t != T_STRING)) {
		fail(w, simple_only ? "where an array element (a number, string or boolean) belongs" : "where a value belongs");
		return false;
	}
	if (t == T_SCALAR) {
		next(&w->l);
		return true;
	}
	if (t == T_STRING) {
		while (w->l.t == T_STRING) /* "a" "b" is one string */
			next(&w->l);
		return true;
	}
	if (w->depth >= MAX_DEPTH)
		return false; /* too deep to follow: no column */
	w->stack[w->depth++] = (char)t;
	next(&w->l);
	bool ok;
	enum tok close = t == T_LBRACE ? T_RBRACE : t == T_LPAREN ? T_RPAREN : T_RBRACKET;
	if (t == T_LBRACE)
		ok = walk_settings(w, false);
	else
		ok = walk_elements(w, close, t == T_LBRACKET);
	if (!ok)
		return false;
	w->depth--;
	next(&w->l); /* the closing bracket */
	return true;
}

int cfg_syntax_locate(const char *text, int *column, char *what, size_t len)
{
	struct walk w = { .what = what, .what_len = len };
	w.l.p = text;
	w.l.end = text + strlen(text);
	w.l.line_start = text;
	w.l.line = 1;
	what[0] = '\0';
	next(&w.l);
	if (walk_settings(&w, true) || w.err_line == 0)
		return 0;
	*column = w.err_col;
	return w.err_line;
}
