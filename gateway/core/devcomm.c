/* devcomm — each device's communication state as the core knows it: online,
 * offline, or not heard from yet. One owner: a bus reports its devices
 * (MSG_DEVICE_COMM), an MQTT device is online on a well-formed message and
 * offline after offline_after without one (no bus thread watches it); the
 * engine, the store, the console and status learn it from here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/core/core.h"
#include "gateway/store/store.h"
#include "common/log.h"
#include "common/timeutil.h"

int core_devcomm_start(struct core *c, const struct devcomm *prev)
{
	const struct gw_config *cfg = c->cfg;
	struct devcomm *dc = &c->comm;
	dc->last_good_mono = calloc((size_t)cfg->n_devices + 1, sizeof *dc->last_good_mono);
	dc->state = malloc((size_t)cfg->n_devices + 1);
	if (!dc->last_good_mono || !dc->state) {
		core_devcomm_free(dc);
		return -1;
	}
	dc->cfg = cfg;
	c->next_offline_check_ms = 0; /* other devices, other deadlines: scan at once */
	int64_t now = time_mono_ms();
	for (int d = 0; d < cfg->n_devices; d++) {
		int o = prev && prev->cfg && prev->state ? config_find_device(prev->cfg, cfg->devices[d].id) : -1;
		/* An MQTT device never heard from gets offline_after from start. */
		dc->last_good_mono[d] = o >= 0 ? prev->last_good_mono[o] : now;
		dc->state[d] = o >= 0 ? prev->state[o] : -1;
	}
	return 0;
}

void core_devcomm_stop(struct core *c, struct devcomm *keep)
{
	if (keep)
		*keep = c->comm;
	else
		core_devcomm_free(&c->comm);
	memset(&c->comm, 0, sizeof c->comm);
}

void core_devcomm_free(struct devcomm *d)
{
	free(d->last_good_mono);
	free(d->state);
	memset(d, 0, sizeof *d);
}

int core_device_state(const struct core *c, int device)
{
	if (!c->comm.state || c->comm.cfg != c->cfg || device < 0 || device >= c->cfg->n_devices)
		return -1;
	return c->comm.state[device];
}

void core_add_online(cJSON *o, const struct core *c, int device)
{
	int comm = core_device_state(c, device);
	if (comm < 0)
		cJSON_AddNullToObject(o, "online");    /* not heard of since start */
	else
		cJSON_AddBoolToObject(o, "online", comm == 1);
}

void core_device_comm(struct core *c, int device, bool ok, int64_t now)
{
	if (device < 0 || device >= c->cfg->n_devices || !c->comm.state || c->comm.cfg != c->cfg)
		return;
	if (ok)
		c->comm.last_good_mono[device] = now;
	if (c->comm.state[device] == (int8_t)ok)
		return;
	c->comm.state[device] = (int8_t)ok;
	int64_t due = now + c->cfg->devices[device].offline_after_ms;
	if (ok && c->cfg->devices[device].source >= 0 && due < c->next_offline_check_ms)
		c->next_offline_check_ms = due; /* the scan must see this device's deadline */
	log_info("core", "device %s %s", c->cfg->devices[device].id, ok ? "online" : "offline");
	engine_device_online(c->engine, device, ok, now);
	core_web_device_changed(c, c->cfg->devices[device].id, ok);
	int rc = store_put_device_state(c->store, c->cfg->devices[device].id, ok, time_wall_ms());
	if (rc != STORE_OK)
		log_warn("core", "device state of %s not stored: %s", c->cfg->devices[device].id, store_err_name(rc));
}

/* MQTT devices: offline after offline_after without a well-formed message.
 * The scan runs when the earliest deadline is due, not every tick: a
 * message only moves its device's deadline later, and a device coming
 * online brings the next scan forward (core_device_comm), so nothing is
 * missed, and 20,000 quiet detectors cost one scan per deadline. */
void core_check_mqtt_offline(struct core *c, int64_t now)
{
	if (now < c->next_offline_check_ms)
		return;
	if (!c->comm.state) { /* no devices: nothing ever due (the loop waits on this deadline) */
		c->next_offline_check_ms = INT64_MAX;
		return;
	}
	int64_t next = INT64_MAX;
	for (int d = 0; d < c->cfg->n_devices; d++) {
		const struct device_config *dc = &c->cfg->devices[d];
		if (dc->source < 0 || c->comm.state[d] == 0)
			continue;
		/* Also a device never heard from since start. */
		int64_t due = c->comm.last_good_mono[d] + dc->offline_after_ms;
		if (now >= due)
			core_device_comm(c, d, false, now);
		else if (due < next)
			next = due;
	}
	/* offline_after is seconds to hours: 100 ms late at most is exact enough */
	c->next_offline_check_ms = next == INT64_MAX ? INT64_MAX : next > now + 100 ? next : now + 100;
}

void core_status_counts(struct core *c, int *online, int *offline)
{
	int on = 0, off = 0;
	/* Not the engine's view: a device never heard from since start is not
	 * counted online. */
	for (int d = 0; d < c->cfg->n_devices; d++) {
		if (core_device_state(c, d) == 1)
			on++;
		else
			off++;
	}
	*online = on;
	*offline = off;
}
