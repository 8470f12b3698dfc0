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

static bool actions_write_device(const struct action_config *a, int n, int device)
{
	for (int i = 0; i < n; i++)
		if (a[i].kind == ACTION_WRITE && a[i].device == device)
			return true;
	return false;
}

/* A rule runs for the device, or a rule's action drives it. */
static bool device_has_rule(const struct gw_config *cfg, int d)
{
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct rule_config *r = &cfg->rules[i];
		if (r->enabled && r->profile == cfg->devices[d].profile)
			return true;
		if (actions_write_device(r->on_raise, r->n_on_raise, d) || actions_write_device(r->on_clear, r->n_on_clear, d))
			return true;
	}
	return false;
}

static void warn_devices_without_rules(struct cfg_ctx *c)
{
	const struct gw_config *cfg = c->cfg;
	for (int d = 0; d < cfg->n_devices; d++) {
		const struct device_config *dev = &cfg->devices[d];
		if (device_has_rule(cfg, d))
			continue;
		config_warnings_add(c->errs, dev->file, dev->line, 0,
				    "device \"%s\" has no rule but the built-ins: no rule names profile \"%s\", so its readings "
				    "raise nothing but offline, battery_low, fault and tamper",
				    dev->id, cfg->profiles[dev->profile].name);
	}
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
}
