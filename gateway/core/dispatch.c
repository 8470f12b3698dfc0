/* dispatch — what the core thread does with each queued message (handed to
 * the file of its concept), and with the rule engine's outputs: incidents
 * and local actions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/uplink/outbox.h"
#include "gateway/uplink/uplink.h"
#include "gateway/web/web.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/mqtt_source.h"

#define ENGINE_DRAIN 64

/* One device poll: the engine stores every point, then evaluates each rule
 * that reads them once. Stack only: nothing on this path allocates. */
static void handle_points(struct core *c, const struct core_msg *m, int64_t now)
{
	struct engine_update u[QUEUE_POINTS_MAX];
	int n = m->u.points.n <= QUEUE_POINTS_MAX ? m->u.points.n : QUEUE_POINTS_MAX;
	if (m->u.points.device < 0 || m->u.points.device >= c->cfg->n_devices)
		return;
	for (int i = 0; i < n; i++)
		core_msg_point(m, i, &u[i].point, &u[i].pv);
	engine_points(c->engine, m->u.points.device, u, (size_t)n, now);
}

void core_handle_message(struct core *c, struct core_msg *m, int64_t now)
{
	switch (m->type) {
	case MSG_POINTS:
		handle_points(c, m, now);
		break;
	case MSG_POINT:
		if (m->u.point.device >= 0 && m->u.point.device < c->cfg->n_devices)
			engine_point(c->engine, m->u.point.device, m->u.point.point, &m->u.point.pv, now);
		break;
	case MSG_DEVICE_COMM:
		core_device_comm(c, m->u.comm.device, m->u.comm.ok != 0, now);
		break;
	case MSG_WRITE_RESULT:
		core_write_result(c, m, now);
		break;
	case MSG_SOURCE_POINTS:
		core_handle_source_points(c, m, now);
		break;
	case MSG_SOURCE_MESSAGE: /* stays inside a source: never posted */
		free(m->u.blob.data);
		break;
	case MSG_UPLINK_CONNECTED:
		if (c->up) {
			uplink_on_connected(c->up, now);
			outbox_on_connected(c->ob);
		}
		break;
	case MSG_UPLINK_LOST:
		if (c->up) {
			uplink_on_lost(c->up, m->u.blob.a != 0, m->u.blob.data, now);
			outbox_on_lost(c->ob);
		}
		free(m->u.blob.data);
		break;
	case MSG_UPLINK_ACKED:
		if (c->ob)
			outbox_on_acked(c->ob, m->u.uplink.seq);
		break;
	case MSG_UPLINK_FAILED:
		if (c->ob)
			outbox_on_failed(c->ob, m->u.uplink.seq);
		break;
	case MSG_UPLINK_COMMAND:
		core_handle_platform_command(c, m->u.blob.data, m->u.blob.len, now);
		free(m->u.blob.data);
		break;
	case MSG_NOTIFY_RESULT:
		core_notify_result(c, (const struct notify_result *)m->u.blob.data);
		free(m->u.blob.data);
		break;
	case MSG_WEB_REQUEST:
		core_handle_web(c, (struct web_call *)(void *)m->u.blob.data);
		break;
	case MSG_READ_RESULT:
		core_web_read_result(c, m);
		break;
	case MSG_CONTROL: case MSG_USER:
		free(m->u.blob.data);
		break;
	case MSG_STOP:
		c->running = false;
		break;
	}
}

static void run_action(struct core *c, const struct engine_output *o)
{
	const struct action_config *a = o->action;
	if (!a)
		return;
	if (a->kind == ACTION_WRITE) {
		if (o->action_device < 0 || o->action_point < 0)
			return;
		int rc = core_start_write(c, o->action_device, o->action_point, a->value, NULL, o->key);
		if (rc != 0) {
			char what[200], e[96];
			snprintf(what, sizeof what, "write %s.%s = %g", c->cfg->devices[o->action_device].id,
				 a->point_name, a->value);
			snprintf(e, sizeof e, "not queued: %s", strerror(-rc));
			log_error("action", "%s: %s %s", o->key, what, e);
			incidents_note_action(c->inc, o->key, what, false, e, time_wall_ms());
		}
		return;
	}
	/* publish on a source broker (e.g. a voice broadcaster) */
	if (a->source < 0 || !c->sources || !c->sources[a->source])
		return;
	/* The engine renders the payload template ({field} filled in) into o->message. */
	const char *payload = o->message;
	int rc = mqtt_source_publish(c->sources[a->source], a->topic, payload, strlen(payload), 1);
	char what[200];
	snprintf(what, sizeof what, "publish %s", a->topic);
	if (rc != 0)
		log_error("action", "%s: publish to %s failed: %s", o->key, a->topic, strerror(rc < 0 ? -rc : rc));
	else
		log_info("action", "%s: published to %s", o->key, a->topic);
	incidents_note_action(c->inc, o->key, what, rc == 0, rc ? strerror(rc < 0 ? -rc : rc) : NULL, time_wall_ms());
}

void core_drain_engine(struct core *c, int64_t now)
{
	struct engine_output out[ENGINE_DRAIN];
	size_t n;
	(void)now;
	while ((n = engine_drain(c->engine, out, ENGINE_DRAIN)) > 0) {
		int64_t wall = time_wall_ms();
		for (size_t i = 0; i < n; i++) {
			if (out[i].kind == OUT_ACTION) {
				run_action(c, &out[i]);
				continue;
			}
			if (out[i].kind == OUT_SUPPRESSED) {
				core_note_suppressed(c, &out[i]);
				continue;
			}
			/* Storage trouble is handled inside (events held in memory,
			 * gateway.storage raised); a negative return is a refusal. */
			if (incidents_apply(c->inc, &out[i], wall) < 0)
				log_error("core", "%s: incident change refused (out of memory?)", out[i].key);
		}
	}
}
