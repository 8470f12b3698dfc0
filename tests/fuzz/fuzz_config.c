/* libFuzzer target: arbitrary bytes as the main configuration file, through
 * config_load_text (the same code as config_load: include expansion, the
 * libconfig parse, the whole schema and cross-checks). Includes resolve
 * against a directory that does not exist, so the input alone decides. A
 * successful load must give a config whose references are all in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gateway/config/config.h"

static void check_config(const struct gw_config *cfg)
{
	for (int i = 0; i < cfg->n_devices; i++) {
		const struct device_config *d = &cfg->devices[i];
		if (d->profile < 0 || d->profile >= cfg->n_profiles)
			abort();
		if ((d->bus < 0) == (d->source < 0))
			abort();
		if (d->bus >= cfg->n_buses || d->source >= cfg->n_sources)
			abort();
		if (cfg->profiles[d->profile].is_mqtt != (d->source >= 0))
			abort();
	}
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct rule_config *r = &cfg->rules[i];
		if (r->profile < 0 || r->profile >= cfg->n_profiles || r->severity < 1 || r->severity > 4)
			abort();
		for (int a = 0; a < r->n_on_raise; a++)
			if (r->on_raise[a].device >= cfg->n_devices || r->on_raise[a].source >= cfg->n_sources)
				abort();
	}
	for (int p = 0; p < cfg->n_profiles; p++)
		for (int k = 0; k < cfg->profiles[p].n_points; k++)
			if (config_find_point(&cfg->profiles[p], cfg->profiles[p].points[k].name) > k)
				abort(); /* duplicate point names must have been rejected */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_config *cfg = NULL;
	struct config_errors errs = { 0 };
	int rc = config_load_text("/nonexistent-gridgw-fuzz/fuzz.conf", (const char *)data, size, &cfg, &errs);
	if (rc == 0) {
		if (!cfg || errs.n != 0)
			abort();
		check_config(cfg);
		config_free(cfg);
	} else if (cfg || errs.n == 0) {
		abort(); /* a failed load must say why */
	}
	config_errors_clear(&errs);
	return 0;
}
