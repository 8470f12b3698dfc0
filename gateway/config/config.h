/* config — loads the whole configuration (docs/configuration.md) from
 * libconfig files into the structs of common/model.h, validating it and
 * collecting every error in one pass as FILE:LINE: message. */
#ifndef GRIDGW_CONFIG_H
#define GRIDGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

/* Every error found in one pass, each "FILE:LINE: message". */
struct config_errors {
	char **msgs;
	int n;
	int cap;
};

/* Loads and validates `path`. On success returns 0 and *out; on failure
 * returns -1, *out = NULL, and every problem is appended to errs. */
int config_load(const char *path, struct gw_config **out, struct config_errors *errs);
void config_free(struct gw_config *cfg);

void config_errors_add(struct config_errors *errs, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void config_errors_clear(struct config_errors *errs);

/* Like config_load, but the main file's text is given (`name` is what
 * errors call it; @include and profiles_dir resolve against its directory).
 * For tests and the fuzzer: the same code path as config_load. */
int config_load_text(const char *name, const char *text, size_t len, struct gw_config **out,
		     struct config_errors *errs);

#endif
