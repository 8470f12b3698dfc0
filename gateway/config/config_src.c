/* config_src — reads config files into libconfig trees with correct
 * FILE:LINE for everything.
 *
 * libconfig 1.5 resolves `@include` against the working directory (or one
 * fixed include_dir), not the including file, so nested includes in other
 * directories cannot work through it. We expand includes ourselves: each
 * file's text is copied into one buffer with every `@include "x"` line
 * replaced by x's text (resolved against the including file's directory),
 * and a map records for every line of the buffer the file and line it came
 * from. libconfig then parses the buffer (as a memory stream), and a
 * setting's line, or a syntax error's line, is mapped back through the map.
 *
 * While copying we follow the lexical state (block comments, strings) so an
 * `@include` inside a comment is left alone, and we check integer literals:
 * libconfig 1.5 silently wraps 3000000000 to a negative int and turns
 * anything past int64 into -1, and ignores an unterminated block comment
 * (hiding the rest of the file); both become errors here. */
#include "gateway/config/config_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct strbuf {
	char *p;
	size_t len;
	size_t cap;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (b->len + n + 1 > cap)
			cap *= 2;
		b->p = cfg_xrealloc(b->p, cap, 1);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

int cfg_intern_file(struct cfg_ctx *c, const char *name)
{
	for (int i = 0; i < c->n_files; i++)
		if (strcmp(c->files[i], name) == 0)
			return i;
	if (c->n_files == c->cap_files) {
		c->cap_files = c->cap_files ? c->cap_files * 2 : 8;
		c->files = cfg_xrealloc(c->files, (size_t)c->cap_files, sizeof *c->files);
	}
	c->files[c->n_files] = cfg_xstrdup(name);
	return c->n_files++;
}

char *cfg_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return cfg_xstrdup(".");
	if (slash == path)
		return cfg_xstrdup("/");
	size_t n = (size_t)(slash - path);
	char *d = cfg_xcalloc(n + 1, 1);
	memcpy(d, path, n);
	return d;
}

char *cfg_path_join(const char *dir, const char *rel)
{
	if (rel[0] == '/' || strcmp(dir, ".") == 0)
		return cfg_xstrdup(rel);
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = cfg_xcalloc(n, 1);
	snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
	return p;
}

/* Errors found while reading text, before there is a setting to point at. */
static void src_err(struct cfg_ctx *c, int file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void src_err(struct cfg_ctx *c, int file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	config_errors_add(c->errs, c->files[file], line, "%s", msg);
}

static void map_line(struct cfg_src *s, int file, int line)
{
	if (s->n_lines == s->cap_lines) {
		s->cap_lines = s->cap_lines ? s->cap_lines * 2 : 256;
		s->line_file = cfg_xrealloc(s->line_file, (size_t)s->cap_lines, sizeof *s->line_file);
		s->line_no = cfg_xrealloc(s->line_no, (size_t)s->cap_lines, sizeof *s->line_no);
	}
	s->line_file[s->n_lines] = file;
	s->line_no[s->n_lines] = line;
	s->n_lines++;
}

static void file_err(struct cfg_ctx *c, const char *path, int err_file, int err_line, const char *what)
{
	if (err_file >= 0)
		src_err(c, err_file, err_line, "cannot open include file '%s': %s", path, what);
	else
		config_errors_add(c->errs, path, 0, "cannot open: %s", what);
}

/* Reads a regular file whole. Non-blocking open and the S_ISREG check keep
 * a FIFO or a device named by mistake (or by a fuzzer) from hanging us. */
static int read_whole_file(struct cfg_ctx *c, const char *path, int err_file, int err_line, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		file_err(c, path, err_file, err_line, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		file_err(c, path, err_file, err_line, S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		return -1;
	}
	int flags = fcntl(fd, F_GETFL);
	FILE *f = flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ? NULL : fdopen(fd, "rb");
	if (!f) {
		file_err(c, path, err_file, err_line, strerror(errno));
		close(fd);
		return -1;
	}
	struct strbuf b = { 0 };
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > CFG_MAX_FILE_BYTES) {
			fclose(f);
			free(b.p);
			config_errors_add(c->errs, path, 0, "file larger than %d bytes", CFG_MAX_FILE_BYTES);
			return -1;
		}
		sb_add(&b, chunk, n);
	}
	int failed = ferror(f);
	fclose(f);
	if (failed) {
		free(b.p);
		config_errors_add(c->errs, path, 0, "read error");
		return -1;
	}
	if (!b.p)
		sb_add(&b, "", 0);
	*text = b.p;
	*len = b.len;
	return 0;
}

enum lex_state { LEX_NORMAL = 0, LEX_COMMENT, LEX_STRING };

/* The last significant token, to catch a string where libconfig's grammar
 * allows none: libconfig 1.5 leaks the string of such a syntax error (its
 * bison parser has no %destructor), so we report it ourselves instead. */
enum tok_class { TOK_START = 0, TOK_ASSIGN, TOK_OPEN, TOK_CLOSE, TOK_COMMA, TOK_OTHER, TOK_STR };

#define CFG_MAX_NESTING 256

struct expander {
	struct cfg_ctx *c;
	struct cfg_src *src;
	struct strbuf out;
	int depth;
	bool fatal;               /* text libconfig must not see */
	enum tok_class prev;
	char nest[CFG_MAX_NESTING]; /* open brackets, innermost last */
	int n_nest;
};

static void tok_bracket(struct expander *x, char ch)
{
	if (ch == '(' || ch == '[' || ch == '{') {
		if (x->n_nest < CFG_MAX_NESTING)
			x->nest[x->n_nest] = ch;
		x->n_nest++;
		x->prev = TOK_OPEN;
		return;
	}
	if (x->n_nest > 0)
		x->n_nest--;
	x->prev = TOK_CLOSE;
}

/* A string may start a value (after = or :), a list or array element
 * (after ( [ or a comma inside one), or continue a string ("a" "b"). */
static bool string_allowed(const struct expander *x)
{
	char inner = x->n_nest > 0 && x->n_nest <= CFG_MAX_NESTING ? x->nest[x->n_nest - 1] : 0;
	switch (x->prev) {
	case TOK_ASSIGN:
	case TOK_STR:
		return true;
	case TOK_OPEN:
	case TOK_COMMA:
		return inner == '(' || inner == '[';
	default:
		return x->n_nest > CFG_MAX_NESTING; /* too deep to know: let libconfig judge */
	}
}

static bool is_name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '*';
}

static bool is_name_char(char ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* A number literal starting at p (sign allowed); returns its length and
 * reports integers libconfig 1.5 would silently corrupt. */
static size_t check_number(struct expander *x, int file, int line, const char *p, const char *end)
{
	const char *q = p;
	if (q < end && (*q == '-' || *q == '+'))
		q++;
	bool hex = false, is_float = false;
	if (q + 1 < end && q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
		hex = true;
		q += 2;
		while (q < end && ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
			q++;
	} else {
		while (q < end && is_digit(*q))
			q++;
		if (q < end && *q == '.') {
			is_float = true;
			q++;
			while (q < end && is_digit(*q))
				q++;
		}
		if (q < end && (*q == 'e' || *q == 'E')) {
			const char *e = q + 1;
			if (e < end && (*e == '-' || *e == '+'))
				e++;
			if (e < end && is_digit(*e)) {
				is_float = true;
				q = e;
				while (q < end && is_digit(*q))
					q++;
			}
		}
	}
	size_t digits_len = (size_t)(q - p);
	bool is_long = false;
	if (!is_float && q < end && *q == 'L') {
		is_long = true;
		q++;
		if (q < end && *q == 'L')
			q++;
	}
	if (is_float)
		return (size_t)(q - p) ? (size_t)(q - p) : 1;
	char tmp[80];
	bool too_long = digits_len >= sizeof tmp;
	if (too_long)
		digits_len = sizeof tmp - 4;
	memcpy(tmp, p, digits_len);
	tmp[digits_len] = '\0';
	if (too_long)
		strcat(tmp, "...");
	errno = 0;
	bool bad;
	if (too_long) {
		bad = true;
	} else if (hex) {
		bool neg = tmp[0] == '-';
		const char *digits = tmp + (tmp[0] == '-' || tmp[0] == '+');
		unsigned long long v = strtoull(digits, NULL, 16);
		bad = errno == ERANGE || (neg && v != 0) || (!is_long && v > 0x7fffffffULL);
	} else {
		long long v = strtoll(tmp, NULL, 10);
		bad = errno == ERANGE || (!is_long && (v > INT_MAX || v < INT_MIN));
	}
	if (bad) {
		/* Remember the line: the value libconfig makes of it is garbage,
		 * and the readers must not report that garbage as well. */
		struct cfg_src *s = x->src;
		s->bad_int_lines = cfg_xrealloc(s->bad_int_lines, (size_t)s->n_bad_int_lines + 1,
						sizeof *s->bad_int_lines);
		s->bad_int_lines[s->n_bad_int_lines++] = s->n_lines + 1;
		src_err(x->c, file, line, "integer %s is out of range (%s)", tmp,
			is_long ? "64-bit integers hold -9223372036854775808 to 9223372036854775807"
				: "use -2147483648 to 2147483647, or append L for a 64-bit integer");
	}
	return (size_t)(q - p) ? (size_t)(q - p) : 1;
}

static int expand_file(struct expander *x, const char *path, int inc_file, int inc_line);

static bool is_open_quote(uint32_t cp) { return cp == 0x201C || cp == 0x2018 || cp == 0xFF02; }
static bool is_close_quote(uint32_t cp) { return cp == 0x201D || cp == 0x2019 || cp == 0xFF02 || cp == 0x201C; }

/* One full-width character typed with a Chinese input method: named, with
 * its column and what to type instead. */
static void report_fullwidth(struct expander *x, int file, int line, const char *ls, const char *q, size_t n,
			     uint32_t cp, const char *ascii)
{
	int col = cfg_column(ls, q);
	if (cp == 0x3000)
		config_errors_add_at(x->c->errs, x->c->files[file], line, col,
				     "full-width space (U+3000) at column %d, typed with a Chinese input method: use an ASCII space",
				     col);
	else
		config_errors_add_at(x->c->errs, x->c->files[file], line, col,
				     "full-width '%.*s' (U+%04X) at column %d, typed with a Chinese input method: use '%s'", (int)n,
				     q, (unsigned)cp, col, ascii);
}

/* A non-ASCII character outside strings and comments, at q: libconfig would
 * only say "syntax error". Reports it plainly and returns where to go on. */
static const char *non_ascii(struct expander *x, int file, int line, const char *ls, const char *q, const char *le)
{
	uint32_t cp;
	size_t n = cfg_utf8_char(q, le, &cp);
	const char *ascii = cfg_fullwidth_ascii(cp);
	x->fatal = true;
	if (ascii) {
		report_fullwidth(x, file, line, ls, q, n, cp, ascii);
		q += n;
		/* go on as if the ASCII character were typed: no follow-up errors */
		if (ascii[0] == '=' || ascii[0] == ':')
			x->prev = TOK_ASSIGN;
		else if (strchr("([{)]}", ascii[0]))
			tok_bracket(x, ascii[0]);
		else if (ascii[0] == ',')
			x->prev = TOK_COMMA;
		else if (ascii[0] != ' ')
			x->prev = TOK_OTHER;
		if (!is_open_quote(cp))
			return q;
		/* “text”: the text between is a string typed with the wrong quotes */
		x->prev = TOK_STR;
		for (const char *r = q; r < le;) {
			uint32_t c2;
			size_t n2 = cfg_utf8_char(r, le, &c2);
			if (is_close_quote(c2)) {
				report_fullwidth(x, file, line, ls, r, n2, c2, cfg_fullwidth_ascii(c2));
				return r + n2;
			}
			r += n2;
		}
		return le;
	}
	int col = cfg_column(ls, q);
	const char *r = q + n;
	while (r < le && (unsigned char)*r >= 0x80) { /* one report for a run of such characters */
		uint32_t c2;
		size_t n2 = cfg_utf8_char(r, le, &c2);
		if (cfg_fullwidth_ascii(c2))
			break;
		r += n2;
	}
	config_errors_add_at(x->c->errs, x->c->files[file], line, col,
			     "'%.*s' (U+%04X) at column %d is outside a string: names are ASCII letters, digits, - and _; "
			     "text belongs in \"double quotes\"",
			     (int)(r - q), q, (unsigned)cp, col);
	x->prev = TOK_OTHER;
	return r;
}

/* If the line is `@include "x"` (libconfig: at the start of a line, outside
 * comments and strings), expands it and returns 1; 0 if it is not one. */
static int try_include(struct expander *x, int file, int line, const char *p, const char *end)
{
	const char *q = p;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((size_t)(end - q) < 8 || strncmp(q, "@include", 8) != 0)
		return 0;
	q += 8;
	if (q >= end || (*q != ' ' && *q != '\t')) {
		src_err(x->c, file, line, "@include must be followed by a quoted file name");
		return 1;
	}
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= end || *q != '"') {
		src_err(x->c, file, line, "@include must be followed by a quoted file name");
		return 1;
	}
	const char *name = ++q;
	while (q < end && *q != '"')
		q++;
	if (q >= end) {
		src_err(x->c, file, line, "unterminated file name after @include");
		return 1;
	}
	size_t name_len = (size_t)(q - name);
	q++;
	while (q < end && (*q == ' ' || *q == '\t' || *q == '\r'))
		q++;
	if (q < end && *q != '#' && !(end - q >= 2 && q[0] == '/' && q[1] == '/')) {
		src_err(x->c, file, line, "unexpected text after @include (it must be on a line of its own)");
		return 1;
	}
	if (name_len == 0) {
		src_err(x->c, file, line, "empty file name after @include");
		return 1;
	}
	char *rel = cfg_xcalloc(name_len + 1, 1);
	memcpy(rel, name, name_len);
	char *dir = cfg_dirname(x->c->files[file]);
	char *full = cfg_path_join(dir, rel);
	if (x->depth >= CFG_MAX_INCLUDE_DEPTH)
		src_err(x->c, file, line, "@include nested deeper than %d (an include cycle?)", CFG_MAX_INCLUDE_DEPTH);
	else
		expand_file(x, full, file, line);
	free(full);
	free(dir);
	free(rel);
	return 1;
}

/* Copies one file's text into the buffer, line by line, expanding includes. */
static int expand_text(struct expander *x, int file, const char *text, size_t len)
{
	enum lex_state st = LEX_NORMAL;
	int comment_line = 0, string_line = 0;
	const char *p = text, *end = text + len;
	int line = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		line++;
		if (st == LEX_NORMAL && try_include(x, file, line, p, le)) {
			p = eol ? eol + 1 : end;
			continue;
		}
		for (const char *q = p; q < le;) {
			if (st == LEX_COMMENT) {
				if (q + 1 < le && q[0] == '*' && q[1] == '/') {
					st = LEX_NORMAL;
					q += 2;
				} else {
					q++;
				}
			} else if (st == LEX_STRING) {
				if (*q == '\\' && q + 1 < le)
					q += 2;
				else if (*q == '"') {
					st = LEX_NORMAL;
					q++;
				} else {
					q++;
				}
			} else if (*q == '#' || (q + 1 < le && q[0] == '/' && q[1] == '/')) {
				break;
			} else if (q + 1 < le && q[0] == '/' && q[1] == '*') {
				st = LEX_COMMENT;
				comment_line = line;
				q += 2;
			} else if (*q == '"') {
				if (!string_allowed(x)) {
					src_err(x->c, file, line, "syntax error: unexpected string");
					x->fatal = true;
				}
				x->prev = TOK_STR;
				st = LEX_STRING;
				string_line = line;
				q++;
			} else if ((unsigned char)*q >= 0x80) {
				q = non_ascii(x, file, line, p, q, le);
			} else if (is_name_start(*q)) {
				while (q < le && is_name_char(*q))
					q++;
				x->prev = TOK_OTHER;
			} else if (is_digit(*q) || ((*q == '-' || *q == '+') && q + 1 < le && is_digit(q[1]))) {
				q += check_number(x, file, line, q, le);
				x->prev = TOK_OTHER;
			} else {
				if (*q == '=' || *q == ':')
					x->prev = TOK_ASSIGN;
				else if (strchr("([{)]}", *q))
					tok_bracket(x, *q);
				else if (*q == ',')
					x->prev = TOK_COMMA;
				else if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\f' && *q != '\v')
					x->prev = TOK_OTHER;
				q++;
			}
		}
		sb_add(&x->out, p, (size_t)(le - p));
		sb_add(&x->out, "\n", 1);
		map_line(x->src, file, line);
		p = eol ? eol + 1 : end;
	}
	if (st == LEX_COMMENT) {
		src_err(x->c, file, comment_line, "unterminated /* comment");
		return -1;
	}
	if (st == LEX_STRING) {
		src_err(x->c, file, string_line, "unterminated string");
		return -1;
	}
	return 0;
}

static int expand_file(struct expander *x, const char *path, int inc_file, int inc_line)
{
	char *text;
	size_t len;
	if (read_whole_file(x->c, path, inc_file, inc_line, &text, &len) < 0)
		return -1;
	if (memchr(text, '\0', len)) {
		config_errors_add(x->c->errs, path, 0, "contains a NUL byte: not a text file");
		free(text);
		return -1;
	}
	if (x->out.len + len > CFG_MAX_TOTAL_BYTES) {
		/* Includes repeated at every level multiply: stop the blow-up. */
		if (inc_file >= 0)
			src_err(x->c, inc_file, inc_line, "configuration larger than %d bytes with its includes",
				CFG_MAX_TOTAL_BYTES);
		else
			config_errors_add(x->c->errs, path, 0, "larger than %d bytes", CFG_MAX_TOTAL_BYTES);
		x->fatal = true;
		free(text);
		return -1;
	}
	int file = cfg_intern_file(x->c, path);
	x->depth++;
	int rc = expand_text(x, file, text, len);
	x->depth--;
	free(text);
	return rc;
}

static struct cfg_src *src_new(struct cfg_ctx *c)
{
	struct cfg_src *s = cfg_xcalloc(1, sizeof *s);
	c->srcs = cfg_xrealloc(c->srcs, (size_t)c->n_srcs + 1, sizeof *c->srcs);
	c->srcs[c->n_srcs++] = s;
	return s;
}

/* libconfig copies a string it is given whole (3.6 MB for 20,000 devices,
 * alive through the parse, on top of our own copy); from a FILE it reads
 * 16 kB at a time, so the expanded text is handed over as a memory stream. */
static int parse_text(config_t *lc, const char *text, size_t len)
{
	if (len == 0)
		return config_read_string(lc, "");
	FILE *f = fmemopen((void *)text, len, "r");
	if (!f)
		return config_read_string(lc, text);
	int ok = config_read(lc, f);
	fclose(f);
	return ok;
}

/* Hands the expanded text to libconfig and maps a syntax error back. Text
 * with lexical problems already reported (a bad integer) is still parsed,
 * so one pass reports everything it can. */
static struct cfg_src *src_finish(struct cfg_ctx *c, struct expander *x, int rc)
{
	struct cfg_src *s = x->src;
	if (rc < 0 || x->fatal) {
		free(x->out.p);
		return NULL;
	}
	config_init(&s->lc);
	s->parsed = true;
	/* No autoconvert: an int where a float is expected stays visible. */
	config_set_options(&s->lc, 0);
	int ok = parse_text(&s->lc, x->out.p ? x->out.p : "", x->out.p ? x->out.len : 0);
	int l = config_error_line(&s->lc), col = 0;
	char what[160] = "";
	/* libconfig gives the line only: find the column ourselves */
	if (ok != CONFIG_TRUE && x->out.p && cfg_syntax_locate(x->out.p, &col, what, sizeof what) != l)
		col = 0;
	free(x->out.p);
	if (ok == CONFIG_TRUE)
		return s;
	const char *file = c->n_files ? c->files[0] : "?";
	int line = l;
	if (l >= 1 && l <= s->n_lines) {
		file = c->files[s->line_file[l - 1]];
		line = s->line_no[l - 1];
	} else if (s->n_lines > 0) {
		/* Past the last line: the end of the last file read. */
		file = c->files[s->line_file[s->n_lines - 1]];
		line = s->line_no[s->n_lines - 1] + (l - s->n_lines);
	}
	const char *text = config_error_text(&s->lc);
	if (col > 0)
		config_errors_add_at(c->errs, file, line, col, "%s at column %d: %s", text ? text : "syntax error", col, what);
	else
		config_errors_add(c->errs, file, line, "%s", text ? text : "syntax error");
	return NULL;
}

struct cfg_src *cfg_src_parse_file(struct cfg_ctx *c, const char *path)
{
	struct expander x = { .c = c, .src = src_new(c) };
	int rc = expand_file(&x, path, -1, 0);
	return src_finish(c, &x, rc);
}

struct cfg_src *cfg_src_parse_text(struct cfg_ctx *c, const char *name, const char *text, size_t len)
{
	struct expander x = { .c = c, .src = src_new(c) };
	int rc;
	if (memchr(text, '\0', len)) {
		config_errors_add(c->errs, name, 0, "contains a NUL byte: not a text file");
		rc = -1;
	} else {
		int file = cfg_intern_file(c, name);
		x.depth = 1;
		rc = expand_text(&x, file, text, len);
	}
	return src_finish(c, &x, rc);
}

void cfg_src_free(struct cfg_src *s)
{
	if (!s)
		return;
	if (s->parsed)
		config_destroy(&s->lc);
	free(s->line_file);
	free(s->line_no);
	free(s->bad_int_lines);
	free(s);
}

void cfg_where(const struct cfg_ctx *c, const config_setting_t *set, const char **file, int *line)
{
	const struct cfg_src *s = (const struct cfg_src *)(const void *)set->config;
	unsigned int l = config_setting_source_line(set);
	if (s && l >= 1 && (int)l <= s->n_lines) {
		*file = c->files[s->line_file[l - 1]];
		*line = s->line_no[l - 1];
		return;
	}
	/* The root group has line 0: name the document's first file. */
	*file = s && s->n_lines ? c->files[s->line_file[0]] : (c->n_files ? c->files[0] : "?");
	*line = 0;
}

bool cfg_on_bad_int_line(const config_setting_t *set)
{
	const struct cfg_src *s = (const struct cfg_src *)(const void *)set->config;
	int l = (int)config_setting_source_line(set);
	for (int i = 0; s && i < s->n_bad_int_lines; i++)
		if (s->bad_int_lines[i] == l)
			return true;
	return false;
}
