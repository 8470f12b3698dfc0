/* devcomm — each device's communication state as the core knows it: online,
 * offline, or not heard from yet. One owner: a bus reports its devices
 * (MSG_DEVICE_COMM), an MQTT device is online on a well-formed message and
 * offline after offline_after without one (no bus thread watches it); the
 * engine, the store, the console and status learn it from here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/store/store.h"
#include "common/log.h"
#include "common/timeutil.h"

void core_device_comm(struct core *c, int device, bool ok, int64_t now)
{
	if (device < 0 || device >= c->cfg->n_devices)
		return;
	if (ok)
		c->last_good_mono[device] = now;
	if (c->comm[device] == (int8_t)ok)
		return;
	c->comm[device] = (int8_t)ok;
	log_info("core", "device %s %s", c->cfg->devices[device].id, ok ? "online" : "offline");
	engine_device_online(c->engine, device, ok, now);
	core_web_device_changed(c, c->cfg->devices[device].id, ok);
	int rc = store_put_device_state(c->store, c->cfg->devices[device].id, ok, time_wall_ms());
	if (rc != STORE_OK)
		log_warn("core", "device state of %s not stored: %s", c->cfg->devices[device].id, store_err_name(rc));
}

/* MQTT devices: offline after offline_after without a well-formed message. */
void core_check_mqtt_offline(struct core *c, int64_t now)
{
	if (now < c->next_offline_check_ms)
		return;
	c->next_offline_check_ms = now + 100; /* offline_after is seconds to hours: 100 ms is exact enough */
	for (int d = 0; d < c->cfg->n_devices; d++) {
		const struct device_config *dc = &c->cfg->devices[d];
		if (dc->source < 0 || !c->comm)
			continue;
		/* Also a device never heard from since start. */
		bool stale = now - c->last_good_mono[d] >= dc->offline_after_ms;
		if (stale && c->comm[d] != 0)
			core_device_comm(c, d, false, now);
	}
}

void core_status_counts(struct core *c, int *online, int *offline)
{
	int on = 0, off = 0;
	/* c->online, not the engine's view: a device never heard from since
	 * start is not counted online. */
	for (int d = 0; d < c->cfg->n_devices; d++) {
		if (c->comm && c->comm[d] == 1)
			on++;
		else
			off++;
	}
	*online = on;
	*offline = off;
}
