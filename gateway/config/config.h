/* config — loads the whole configuration (docs/configuration.md) from
 * libconfig files into the structs of common/model.h, validating it and
 * collecting every error in one pass as FILE:LINE: message. */
#ifndef GRIDGW_CONFIG_H
#define GRIDGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

enum config_severity { CONFIG_SEV_ERROR = 0, CONFIG_SEV_WARNING };

/* One problem, structured (for `gridgw check --json`). */
struct config_diag {
	enum config_severity severity;
	char *file;
	int line;                 /* 0: the file as a whole */
	int column;               /* 1-based, in characters; 0 when not known */
	char *message;            /* without the FILE:LINE: prefix */
};

/* Every error found in one pass, each "FILE:LINE: message"; and the
 * warnings of a valid configuration, each "FILE:LINE: warning: message"
 * (things that load but are probably not meant: a device no rule watches, a
 * serial port that does not exist). `diags` holds both, structured, in the
 * order found. A warning never makes config_load fail. */
struct config_errors {
	char **msgs;
	int n;
	int cap;
	char **warnings;
	int n_warnings;
	int cap_warnings;
	struct config_diag *diags;
	int n_diags;
	int cap_diags;
};

/* Loads and validates `path`. On success returns 0 and *out; on failure
 * returns -1, *out = NULL, and every problem is appended to errs. */
int config_load(const char *path, struct gw_config **out, struct config_errors *errs);
/* The same for a command that does not use the secrets (status, ack, a
 * `check` by an operator): a secret file (password_file, secret_file,
 * url_file) this user may not open is left unread, its field "" and a
 * warning, instead of an error; operators are not meant to read them
 * (docs/operations.md). The daemon uses config_load: it needs every secret. */
int config_load_without_secrets(const char *path, struct gw_config **out, struct config_errors *errs);
void config_free(struct gw_config *cfg);

void config_errors_add(struct config_errors *errs, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with the column (1-based, characters) where it is known. */
void config_errors_add_at(struct config_errors *errs, const char *file, int line, int column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void config_warnings_add(struct config_errors *errs, const char *file, int line, int column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void config_errors_clear(struct config_errors *errs);

/* Like config_load, but the main file's text is given (`name` is what
 * errors call it; @include and profiles_dir resolve against its directory).
 * For tests and the fuzzer: the same code path as config_load. */
int config_load_text(const char *name, const char *text, size_t len, struct gw_config **out,
		     struct config_errors *errs);

#endif
