/* config_warn — what loads but is probably not meant, as warnings of a
 * valid configuration (`gridgw check` prints them as FILE:LINE: warning:
 * and still exits 0), and the did-you-mean hint for a misspelt point name:
 *   - a device no rule watches (only the built-in offline / battery_low /
 *     fault / tamper rules run for it), unless a rule's action writes to it
 *     (a siren relay is driven, not watched);
 *   - a serial `device` path that does not exist (an unplugged USB adapter,
 *     a typo: the daemon would retry it forever). */
#include "gateway/config/config_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *cfg_point_hint(const struct profile *p, const char *name)
{
	const char *best = NULL;
	int best_d = 3; /* two edits at most: further is another word */
	for (int i = 0; i < p->n_points; i++) {
		if (!p->points[i].name)
			continue;
		int d = cfg_edit_distance(name, p->points[i].name);
		if (d < best_d) {
			best_d = d;
			best = p->points[i].name;
		}
	}
	return best;
}

static void mark_written(const struct action_config *a, int n, bool *written)
{
	for (int i = 0; i < n; i++)
		if (a[i].kind == ACTION_WRITE && a[i].device >= 0)
			written[a[i].device] = true;
}

/* A device is covered when a rule runs for its profile or a rule's action
 * drives it; both found in one pass over the rules (per device over every
 * rule was devices x rules). */
static void warn_devices_without_rules(struct cfg_ctx *c)
{
	const struct gw_config *cfg = c->cfg;
	bool *prof_has = cfg_xcalloc((size_t)cfg->n_profiles + 1, sizeof *prof_has);
	bool *written = cfg_xcalloc((size_t)cfg->n_devices + 1, sizeof *written);
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct rule_config *r = &cfg->rules[i];
		if (r->enabled && r->profile >= 0)
			prof_has[r->profile] = true;
		mark_written(r->on_raise, r->n_on_raise, written);
		mark_written(r->on_clear, r->n_on_clear, written);
	}
	for (int d = 0; d < cfg->n_devices; d++) {
		const struct device_config *dev = &cfg->devices[d];
		if ((dev->profile >= 0 && prof_has[dev->profile]) || written[d])
			continue;
		config_warnings_add(c->errs, dev->file, dev->line, 0,
				    "device \"%s\" has no rule but the built-ins: no rule names profile \"%s\", so its readings "
				    "raise nothing but offline, battery_low, fault and tamper",
				    dev->id, cfg->profiles[dev->profile].name);
	}
	free(prof_has);
	free(written);
}

/* What one rule instance (a rule on one device) costs the engine: its alarm
 * state (96 bytes) and its timer-heap entry (16), measured as ~120 bytes in
 * docs/benchmarks.md; a reload holds the old and the new engine at once. */
#define RULE_INSTANCE_BYTES 120
/* A compound is thousands of points: 1M instances (120 MB, twice that
 * during a reload) is far past it and past a 256 MB gateway box. */
#define RULE_INSTANCES_WARN 1000000

static void warn_engine_size(struct cfg_ctx *c)
{
	const struct gw_config *cfg = c->cfg;
	int *per_profile = cfg_xcalloc((size_t)cfg->n_profiles + 1, sizeof *per_profile);
	for (int d = 0; d < cfg->n_devices; d++)
		if (cfg->devices[d].profile >= 0)
			per_profile[cfg->devices[d].profile]++;
	long long inst = 5LL * cfg->n_devices; /* the built-ins: offline, battery, fault, tamper, a margin */
	const struct rule_config *biggest = NULL;
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct rule_config *r = &cfg->rules[i];
		if (!r->enabled || r->profile < 0)
			continue;
		inst += per_profile[r->profile];
		if (!biggest)
			biggest = r;
	}
	free(per_profile);
	if (inst < RULE_INSTANCES_WARN)
		return;
	long long mb = inst * RULE_INSTANCE_BYTES / (1024 * 1024);
	const char *file = biggest ? biggest->file : cfg->path;
	int line = biggest ? biggest->line : 0;
	config_warnings_add(c->errs, file, line, 0,
			    "%d rules x %d devices make %lld rule instances: the engine needs about %lld MB "
			    "(%lld MB during a reload), far past what a compound needs; split the site over several "
			    "gateways or write fewer, broader rules",
			    cfg->n_rules, cfg->n_devices, inst, mb, 2 * mb);
}

static void warn_missing_serial_ports(struct cfg_ctx *c)
{
	const struct gw_config *cfg = c->cfg;
	for (int b = 0; b < cfg->n_buses; b++) {
		const struct bus_config *bus = &cfg->buses[b];
		struct stat st;
		if (bus->type != BUS_RTU || !bus->device || stat(bus->device, &st) == 0 || errno != ENOENT)
			continue;
		config_warnings_add(c->errs, bus->file, bus->line, 0,
				    "bus \"%s\": serial port \"%s\" does not exist (a typo, or the USB adapter unplugged? "
				    "ls /dev/ttyS* /dev/ttyUSB* /dev/serial/by-id/)",
				    bus->name, bus->device);
	}
}

void cfg_warn(struct cfg_ctx *c)
{
	warn_missing_serial_ports(c);
	warn_devices_without_rules(c);
	warn_engine_size(c);
}
