/* commands — what a command does to incidents and alarms, whichever way it
 * came (platform, control socket, console): acknowledge, move the
 * workflow, close, shelve, unshelve. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/store/store.h"
#include "gateway/uplink/command.h"
#include "common/log.h"
#include "common/timeutil.h"

int core_find_device(struct core *c, const char *id, char *err, size_t errlen)
{
	int d = config_find_device(c->cfg, id);
	if (d < 0)
		snprintf(err, errlen, "unknown device '%s'", id);
	return d;
}

/* The do_* helpers return 0, or a negative HTTP-like status with a reason
 * in err: -404 (no such incident/device), -409 (not in a state that allows
 * it). Platform commands only look at the sign. */

#define INCIDENT_PREFIX_MIN 4       /* as git: shorter abbreviations are refused */

#define INCIDENT_PREFIX_SHOWN 8     /* candidates listed when ambiguous */

/* A local (CLI/console) incident id: the full ULID or a unique prefix of
 * it, any case, resolved against every incident in the store as git
 * resolves abbreviated object names. The platform always sends full ids and
 * does not come through here. Returns 0 with the full id in out, -404 when
 * nothing matches, -409 when the prefix is ambiguous (the candidates, with
 * their state, are listed in err) or too short. */
int core_resolve_incident_id(struct core *c, const char *given, char out[27], char *err, size_t errlen)
{
	char prefix[27];
	size_t n = strlen(given);
	if (n >= sizeof prefix) {
		snprintf(err, errlen, "no incident '%s'", given);
		return -404;
	}
	for (size_t i = 0; i <= n; i++) /* ULIDs are Crockford base32, upper case */
		prefix[i] = (char)(given[i] >= 'a' && given[i] <= 'z' ? given[i] - 'a' + 'A' : given[i]);
	if (n < INCIDENT_PREFIX_MIN) {
		snprintf(err, errlen, "incident id prefix '%s' is too short (at least %d characters)", given,
			 INCIDENT_PREFIX_MIN);
		return -409;
	}
	char ids[INCIDENT_PREFIX_SHOWN][27];
	int found = 0;
	if (store_find_incident_prefix(c->store, prefix, ids, INCIDENT_PREFIX_SHOWN, &found) != STORE_OK) {
		snprintf(err, errlen, "store read failed");
		return -503;
	}
	if (found == 0) {
		snprintf(err, errlen, "no incident '%s'", given);
		return -404;
	}
	if (found == 1) {
		memcpy(out, ids[0], 27);
		return 0;
	}
	int len = snprintf(err, errlen, "incident id prefix '%s' is ambiguous (%d incidents):", given, found);
	for (int i = 0; i < found && i < INCIDENT_PREFIX_SHOWN && len >= 0 && (size_t)len < errlen; i++) {
		struct incident_row row;
		bool have = store_get_incident(c->store, ids[i], &row) == STORE_OK;
		len += snprintf(err + len, errlen - (size_t)len, " %s (%s %s)", ids[i], have ? row.type : "?",
				have ? row.workflow : "?");
		if (have)
			incident_row_free_json(&row);
	}
	if (found > INCIDENT_PREFIX_SHOWN && len >= 0 && (size_t)len < errlen)
		snprintf(err + len, errlen - (size_t)len, " and %d more", found - INCIDENT_PREFIX_SHOWN);
	return -409;
}

/* Acknowledge: the incident records who/why; the engine moves the alarm
 * state, and its OUT_ACKED output becomes the one `acked` event. */
int core_do_ack(struct core *c, const char *id, const char *by, const char *note, int64_t now, char *err,
		  size_t errlen)
{
	char key[ENGINE_KEY_MAX] = "";
	int rc = incidents_ack(c->inc, id, by, note, time_wall_ms(), key, sizeof key);
	if (rc < 0) {
		struct incident_row row;
		bool known = rc == -ENOENT && store_get_incident(c->store, id, &row) == STORE_OK;
		if (known)
			incident_row_free_json(&row);
		if (rc == -ENOENT && !known)
			snprintf(err, errlen, "no open incident '%s'", id);
		else if (known)
			snprintf(err, errlen, "incident '%s' is closed", id);
		else
			snprintf(err, errlen, "incident '%s' cannot be acknowledged", id);
		return rc == -ENOENT && !known ? -404 : -409;
	}
	if (key[0] && engine_ack(c->engine, key, now) < 0)
		log_debug("command", "ack %s: alarm %s already normal in the engine", id, key);
	return 0;
}

int core_do_shelve(struct core *c, const char *device, int64_t for_ms, int64_t now, char *err, size_t errlen)
{
	int d = core_find_device(c, device, err, errlen);
	if (d < 0)
		return -404;
	if (engine_shelve_device(c->engine, d, now + for_ms, now) < 0) {
		snprintf(err, errlen, "cannot shelve '%s'", device);
		return -409;
	}
	char dur[32];
	duration_format(for_ms, dur, sizeof dur);
	log_info("command", "device %s shelved for %s", device, dur);
	return 0;
}

int core_do_unshelve(struct core *c, const char *device, int64_t now, char *err, size_t errlen)
{
	int d = core_find_device(c, device, err, errlen);
	if (d < 0)
		return -404;
	if (engine_unshelve_device(c->engine, d, now) < 0) {
		snprintf(err, errlen, "device '%s' is not shelved", device);
		return -409;
	}
	log_info("command", "device %s unshelved", device);
	return 0;
}

/* Wall-clock time of a monotonic instant of the engine's. */
int64_t core_wall_of(int64_t mono_ms, int64_t now_mono)
{
	return time_wall_ms() + (mono_ms - now_mono);
}

void core_note_suppressed(struct core *c, const struct engine_output *o)
{
	char until[32];
	time_format_local(core_wall_of(o->until_ms, time_mono_ms()), until, sizeof until);
	const char *dev = o->device >= 0 && o->device < c->cfg->n_devices ? c->cfg->devices[o->device].id : "?";
	/* What a technician testing a detector watches for: the test worked. */
	if (o->active)
		log_info("shelve", "%s on %s (%s) suppressed: shelved until %s", o->type, dev, o->key, until);
	else
		log_info("shelve", "%s on %s (%s) cleared (was suppressed: shelved until %s)", o->type, dev, o->key,
			 until);
}

/* incident.workflow moves one legal step at a time; incident.close
 * (any_state) closes from any open state — the platform's verdict. When
 * the incident ends, the engine learns that the next raise is a new one. */
int core_do_workflow(struct core *c, const struct command *cmd, const char *to, bool any_state, int64_t now,
		       char *err, size_t errlen)
{
	const char *key = incidents_key_of(c->inc, cmd->incident);
	char keycopy[ENGINE_KEY_MAX];
	snprintf(keycopy, sizeof keycopy, "%s", key ? key : "");
	int rc = any_state ? incidents_close(c->inc, cmd->incident, to, cmd->by, cmd->note, time_wall_ms(), err, errlen)
			   : incidents_workflow_assign(c->inc, cmd->incident, to, cmd->by, cmd->note, cmd->assignee,
						       time_wall_ms(), err, errlen);
	if (rc < 0)
		return -1;
	if (keycopy[0] && (strcmp(to, "closed") == 0 || strcmp(to, "false_alarm") == 0))
		engine_incident_closed(c->engine, keycopy, now);
	return 0;
}

/* `gridgw close` and the console: the platform's incident.close, the same
 * call and the same `closed` event (with by/note), so a gateway without a
 * platform can end incidents on site. Like incident.close it closes from
 * any open state, an incident still in alarm too; *was_active tells the
 * caller to say so. */
int core_do_close(struct core *c, const char *given, const char *to, const char *by, const char *note,
		    int64_t now, char *id_out, bool *was_active, char *err, size_t errlen)
{
	int rc = core_resolve_incident_id(c, given, id_out, err, errlen);
	if (rc < 0)
		return rc;
	struct command cmd;
	memset(&cmd, 0, sizeof cmd);
	snprintf(cmd.incident, sizeof cmd.incident, "%s", id_out);
	snprintf(cmd.by, sizeof cmd.by, "%s", by);
	snprintf(cmd.note, sizeof cmd.note, "%s", note ? note : "");
	struct incident_row row;
	*was_active = false;
	if (store_get_incident(c->store, id_out, &row) == STORE_OK) {
		*was_active = row.active;
		incident_row_free_json(&row);
	}
	if (!incidents_key_of(c->inc, id_out)) {
		snprintf(err, errlen, "incident '%s' is already closed", id_out);
		return -409;
	}
	if (core_do_workflow(c, &cmd, to[0] ? to : "closed", true, now, err, errlen) < 0)
		return -409;
	return 0;
}
