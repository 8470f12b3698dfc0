/* writes — the writes the core asks a bus for (a rule action, or a
 * platform point.write waiting for its result before answering), their
 * whole life: queued, retried a bounded number of times, carried over a
 * reload, finished by the bus's MSG_WRITE_RESULT, noted on the incident and
 * answered to the platform. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/modbus_bus.h"

/* The outcome of a rule's action goes on its incident's evidence. */
static void note_write(struct core *c, const struct pending_write *w, bool ok, const char *error)
{
	if (!w->alarm_key[0])
		return;
	const struct device_config *dc = &c->cfg->devices[w->device];
	char what[200];
	snprintf(what, sizeof what, "write %s.%s = %g", dc->id, c->cfg->profiles[dc->profile].points[w->point].name,
		 w->value);
	incidents_note_action(c->inc, w->alarm_key, what, ok, error, time_wall_ms());
}

static struct pending_write *write_slot(struct core *c)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++)
		if (!c->writes[i].used)
			return &c->writes[i];
	return NULL;
}

static int bus_write(struct core *c, struct pending_write *w)
{
	const struct device_config *dc = &c->cfg->devices[w->device];
	if (dc->bus < 0 || !c->buses || !c->buses[dc->bus])
		return -EINVAL;
	w->attempts++;
	w->retry_at_ms = 0;
	return modbus_bus_write(c->buses[dc->bus], w->device, w->point, w->value, w->request);
}

/* Queues a write (rule action or platform point.write). Returns 0 or -errno. */
int core_start_write(struct core *c, int device, int point, double value, const char *cmd_req, const char *key)
{
	struct pending_write *w = write_slot(c);
	if (!w)
		return -EAGAIN;
	memset(w, 0, sizeof *w);
	w->used = true;
	w->request = ++c->next_request;
	w->device = device;
	w->point = point;
	w->value = value;
	snprintf(w->cmd_req, sizeof w->cmd_req, "%s", cmd_req ? cmd_req : "");
	snprintf(w->alarm_key, sizeof w->alarm_key, "%s", key ? key : "");
	int rc = bus_write(c, w);
	if (rc == -EAGAIN) {
		w->retry_at_ms = time_mono_ms() + CORE_WRITE_RETRY_MS;
		return 0;
	}
	if (rc != 0)
		w->used = false;
	return rc;
}

void core_retry_writes(struct core *c, int64_t now)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		struct pending_write *w = &c->writes[i];
		if (!w->used || w->retry_at_ms == 0 || w->retry_at_ms > now)
			continue;
		int rc = bus_write(c, w);
		if (rc == -EAGAIN && w->attempts < CORE_WRITE_ATTEMPTS)
			w->retry_at_ms = now + CORE_WRITE_RETRY_MS;
		else if (rc != 0) {
			log_error("action", "write %s.%s = %g failed: %s", c->cfg->devices[w->device].id,
				  c->cfg->profiles[c->cfg->devices[w->device].profile].points[w->point].name, w->value,
				  strerror(-rc));
			char e[96];
			snprintf(e, sizeof e, "write not done: %s", strerror(-rc));
			if (w->cmd_req[0])
				core_answer_platform(c, w->cmd_req, false, e);
			note_write(c, w, false, e);
			w->used = false;
		}
	}
}

/* A write finished at the bus: retry a failed action a bounded number of
 * times; answer a platform point.write. */
void core_write_result(struct core *c, const struct core_msg *m, int64_t now)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		struct pending_write *w = &c->writes[i];
		if (!w->used || w->request != m->u.write.request)
			continue;
		const struct device_config *dc = &c->cfg->devices[w->device];
		const char *pname = c->cfg->profiles[dc->profile].points[w->point].name;
		if (m->u.write.ok) {
			log_info("action", "wrote %s.%s = %g", dc->id, pname, w->value);
			if (w->cmd_req[0])
				core_answer_platform(c, w->cmd_req, true, NULL);
			note_write(c, w, true, NULL);
			w->used = false;
		} else if (!w->cmd_req[0] && w->attempts < CORE_WRITE_ATTEMPTS) {
			log_warn("action", "write %s.%s = %g failed (%s), attempt %d of %d", dc->id, pname, w->value,
				 m->u.write.error, w->attempts, CORE_WRITE_ATTEMPTS);
			w->retry_at_ms = now + CORE_WRITE_RETRY_MS;
		} else {
			log_error("action", "write %s.%s = %g failed: %s", dc->id, pname, w->value, m->u.write.error);
			char e[128];
			snprintf(e, sizeof e, "write failed: %s", m->u.write.error);
			if (w->cmd_req[0])
				core_answer_platform(c, w->cmd_req, false, e);
			note_write(c, w, false, e);
			w->used = false;
		}
		return;
	}
}

/* Writes still waiting when the buses stopped (queued at a bus that dropped
 * them, or waiting for a retry) are moved to the new config by device id
 * and point name and sent again; one the new config cannot take is answered
 * (platform) or logged (rule action). */
void core_carry_writes(struct core *c, const struct gw_config *old, const struct gw_config *ncfg, int64_t now)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++) {
		struct pending_write *w = &c->writes[i];
		if (!w->used)
			continue;
		const struct device_config *od = &old->devices[w->device];
		const char *pname = old->profiles[od->profile].points[w->point].name;
		int nd = config_find_device(ncfg, od->id);
		int np = nd >= 0 ? config_find_point(&ncfg->profiles[ncfg->devices[nd].profile], pname) : -1;
		if (np >= 0 && ncfg->devices[nd].bus >= 0 &&
		    ncfg->profiles[ncfg->devices[nd].profile].points[np].writable) {
			w->device = nd;
			w->point = np;
			w->attempts = 0;
			w->retry_at_ms = now; /* core_retry_writes sends it again */
			continue;
		}
		log_error("action", "write %s.%s dropped: the new configuration has no such writable point", od->id, pname);
		if (w->cmd_req[0])
			core_answer_platform(c, w->cmd_req, false, "point no longer writable after a configuration reload");
		w->used = false;
	}
}

bool core_write_executing(const struct core *c, const char *cmd_req)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++)
		if (c->writes[i].used && strcmp(c->writes[i].cmd_req, cmd_req) == 0)
			return true;
	return false;
}

int64_t core_writes_deadline(const struct core *c, int64_t d)
{
	for (int i = 0; i < CORE_MAX_PENDING_WRITES; i++)
		if (c->writes[i].used && c->writes[i].retry_at_ms && c->writes[i].retry_at_ms < d)
			d = c->writes[i].retry_at_ms;
	return d;
}
