/* config_priv — internals shared by the config loader's files (not a public
 * header: only gateway/config/config*.c include it).
 *
 *   config.c        public API, orchestration, free, lookups, error list
 *   config_src.c    reading files: @include expansion relative to the
 *                   including file, a line map back to FILE:LINE, integer
 *                   literal range checks libconfig 1.5 does not do
 *   config_read.c   typed readers for libconfig settings (type checks,
 *                   unknown keys, durations) with errors at the setting
 *   config_schema.c the schema: every group/list into the structs, defaults
 *   config_notify.c the notify section (channels, routes)
 *   config_secret.c secrets: *_file readers, readable-secret and verify warnings
 *   config_check.c  cross-checks: references, duplicates, address
 *                   overlaps, actions, expressions
 *   config_syntax.c the text below libconfig: UTF-8 characters, full-width
 *                   punctuation, and the column of a syntax error
 *   config_warn.c   warnings of a valid config, and did-you-mean hints
 */
#ifndef GRIDGW_CONFIG_PRIV_H
#define GRIDGW_CONFIG_PRIV_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/config/config.h"

/* Includes nest at most this deep (libconfig's own limit is 10); also what
 * stops an include cycle. */
#define CFG_MAX_INCLUDE_DEPTH 10
/* Longest duration accepted anywhere (10 years). */
#define CFG_MAX_DURATION_MS (3650LL * 86400000LL)
/* Longest config file we read (a compound's config is tens of kB). */
#define CFG_MAX_FILE_BYTES (16 * 1024 * 1024)
/* ... and all of it with its includes expanded. */
#define CFG_MAX_TOTAL_BYTES (64 * 1024 * 1024)

/* One parsed document (the main file with its includes, or one file of the
 * profiles directory): the libconfig tree plus, for each line of the text
 * libconfig parsed, the file and line it came from. `lc` is the first
 * member so a setting (which points at its config_t) finds its document. */
struct cfg_src {
	config_t lc;
	bool parsed;
	int *line_file;           /* combined line (1-based, index line-1) -> file index */
	int *line_no;             /* -> line in that file */
	int n_lines;
	int cap_lines;
	int *bad_int_lines;       /* combined lines holding an out-of-range integer literal */
	int n_bad_int_lines;
};

/* ---- config_index.c ---- */
/* A string (+ int tag) -> index table; keys are borrowed, not copied. */
struct cfg_index_slot {
	const char *key;
	int tag;
	int value;
};
struct cfg_index {
	struct cfg_index_slot *slots;
	size_t cap, n;
};

/* Loader context: the error list, interned file names, parsed documents and
 * the config being built. */
struct cfg_ctx {
	struct config_errors *errs;
	int n_errs_at_start;
	char **files;
	int n_files;
	int cap_files;
	struct cfg_src **srcs;
	int n_srcs;
	struct gw_config *cfg;
	char *main_dir;           /* directory of the main file ("." if none) */
	const config_setting_t *profiles_dir_at; /* set when profiles_dir is explicit */
	const config_setting_t *vendor_dir_at;   /* set when vendor_profiles_dir is explicit */
	/* While the vendor directory is read: profiles [0, first_vendor_profile)
	 * are the installer's and win over a vendor profile of the same name. */
	bool in_vendor_dir;
	int first_vendor_profile;
	struct cfg_index device_ids; /* device id -> index, once the devices are read */
	bool secrets_optional;    /* config_load_without_secrets: EACCES on a secret file is a warning */
};

/* ---- memory: allocation failure at load time aborts (there is nothing
 * sensible to run without a config) ---- */
void *cfg_xcalloc(size_t n, size_t size);
void *cfg_xrealloc(void *p, size_t n, size_t size);
char *cfg_xstrdup(const char *s);

/* ---- config_src.c ---- */
int cfg_intern_file(struct cfg_ctx *c, const char *name);
/* Reads `path` (expanding includes) and parses it; errors go to c->errs.
 * Returns the document (also kept in c->srcs) or NULL when it could not be
 * read or parsed. */
struct cfg_src *cfg_src_parse_file(struct cfg_ctx *c, const char *path);
/* The same for text already in memory, named `name` (includes resolve
 * against name's directory). */
struct cfg_src *cfg_src_parse_text(struct cfg_ctx *c, const char *name, const char *text, size_t len);
void cfg_src_free(struct cfg_src *s);
/* The file and line a setting came from. */
void cfg_where(const struct cfg_ctx *c, const config_setting_t *s, const char **file, int *line);
/* True when the setting's line has an integer literal already reported as
 * out of range (its value is libconfig's garbage: do not report it again). */
bool cfg_on_bad_int_line(const config_setting_t *s);
/* dirname of a path as a new string ("." when it has no slash). */
char *cfg_dirname(const char *path);
/* `rel` resolved against directory `dir` (absolute paths unchanged). */
char *cfg_path_join(const char *dir, const char *rel);

/* ---- config_read.c ---- */
void cfg_err(struct cfg_ctx *c, const config_setting_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *cfg_type_name(int type);

/* Reports every member of `grp` whose name is not in `allowed` (NULL
 * terminated), with a suggestion when one is close. */
void rd_check_keys(struct cfg_ctx *c, const config_setting_t *grp, const char *const *allowed, const char *what);
/* The same, but keys in `elsewhere` (valid in a sibling variant, e.g. tcp
 * keys in an rtu bus) get `note` instead of "unknown key". */
void rd_check_keys_note(struct cfg_ctx *c, const config_setting_t *grp, const char *const *allowed, const char *what,
			const char *const *elsewhere, const char *note);
int cfg_edit_distance(const char *a, const char *b);
/* Each reader: 1 present and valid (*out set), 0 absent (*out untouched;
 * an error if `required`), -1 present but invalid (error reported). */
int rd_string(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required, char **out);
int rd_int(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
	   long long min, long long max, long long *out);
int rd_double(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required, double *out);
int rd_bool(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required, bool *out);
/* A duration string ("500ms") or the integer 0; min_ms is the smallest allowed. */
int rd_duration(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
		int64_t min_ms, int64_t *out);
/* A string that must be one of `names` (NULL terminated); *out = its index. */
int rd_choice(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
	      const char *const *names, int *out);
/* The same, ignoring ASCII case ("e" is "E"). */
int rd_choice_ci(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required,
		 const char *const *names, int *out);
/* Sub-group / list members, type-checked; NULL if absent or wrong type. */
config_setting_t *rd_group(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required);
config_setting_t *rd_list(struct cfg_ctx *c, const config_setting_t *grp, const char *key, bool required);
/* Reports a missing required key at the group. */
void rd_missing(struct cfg_ctx *c, const config_setting_t *grp, const char *key);

/* Names: identifiers usable in expressions, and ids usable in topics/keys. */
bool cfg_is_identifier(const char *s);
bool cfg_is_id(const char *s);

/* ---- config_console.c ---- */
void cfg_read_console(struct cfg_ctx *c, const config_setting_t *root);
void cfg_free_console(struct console_config *cc);

/* ---- config_schema.c ---- */
/* Reads the whole main document (and the profiles directory) into c->cfg. */
void cfg_read_main(struct cfg_ctx *c, struct cfg_src *main_src);
void cfg_read_profiles(struct cfg_ctx *c, const config_setting_t *profiles);

/* ---- config_profile_dirs.c ---- */
/* Reads gateway.profiles_dir, then gateway.vendor_profiles_dir: a vendor
 * file whose name is also in profiles_dir is skipped, and a vendor profile
 * whose name is already defined is skipped (the installer's wins). */
void cfg_load_profile_dirs(struct cfg_ctx *c);

/* ---- config_refs.c: devices and rules, resolved against the rest ---- */
void cfg_read_devices(struct cfg_ctx *c, const config_setting_t *list);
void cfg_read_rules(struct cfg_ctx *c, const config_setting_t *list);

/* ---- config_notify.c: the notify section ---- */
void cfg_read_notify(struct cfg_ctx *c, const config_setting_t *root);
void cfg_free_notify(struct notify_config *nc);

/* ---- config_secret.c: secrets (issue #14) ---- */
/* The first line of a secret file, without its newline; the file must be a
 * regular file not readable by group or others (else an error at `at`). */
char *cfg_read_secret_file(struct cfg_ctx *c, const config_setting_t *at, const char *path);
/* `key` inline or `file_key` (a path, relative to the main file; not both)
 * into *out. With warn_inline, an inline value in a config file group or
 * others can read is a warning. */
void cfg_read_secret(struct cfg_ctx *c, const config_setting_t *g, const char *key, const char *file_key,
		     bool warn_inline, char **out);
/* A warning when the private key file `path` (setting `key` of g) is open to
 * group or others. */
void cfg_check_key_file(struct cfg_ctx *c, const config_setting_t *g, const char *key, const char *path);
/* The warning for `verify = false` in group g ("uplink.tls"). */
void cfg_warn_no_verify(struct cfg_ctx *c, const config_setting_t *g, const char *what);

/* ---- config_check.c: checks across settings ---- */
void cfg_check_profiles(struct cfg_ctx *c);
void cfg_check_globals(struct cfg_ctx *c);

/* ---- config_syntax.c ---- */
/* Decodes the UTF-8 character at p (p < end): its length in bytes (1 for a
 * byte that starts no valid sequence, *cp = 0xFFFD). */
size_t cfg_utf8_char(const char *p, const char *end, uint32_t *cp);
/* The ASCII character a Chinese input method's full-width or curly
 * punctuation stands for ("；" -> ";", "“" -> "\""), or NULL. */
const char *cfg_fullwidth_ascii(uint32_t cp);
/* 1-based column, in characters, of `at` on the line starting at `line`. */
int cfg_column(const char *line, const char *at);
/* Where libconfig's grammar breaks in `text` (the text libconfig parsed):
 * follows libconfig 1.5's grammar token by token. Returns the 1-based line
 * of the first token that does not fit, with its column and a description
 * ("unexpected ';' where a value belongs") in what; 0 if none is found. */
int cfg_syntax_locate(const char *text, int *column, char *what, size_t len);

/* ---- config_index.c ---- */
void cfg_index_init(struct cfg_index *ix, int expected);
void cfg_index_free(struct cfg_index *ix);
/* Adds key -> value unless present; returns the value already there, or -1. */
int cfg_index_add(struct cfg_index *ix, const char *key, int tag, int value);
int cfg_index_get(const struct cfg_index *ix, const char *key, int tag);

/* ---- config_warn.c ---- */
/* The point of p closest to a misspelt name, or NULL. */
const char *cfg_point_hint(const struct profile *p, const char *name);
/* Adds the warnings of a config read without errors. */
void cfg_warn(struct cfg_ctx *c);

#endif
