/* platform — the platform's commands (P/G/cmd, parsed by command.c,
 * answered on P/G/cmd/result) and their answers, remembered in the store so
 * a replayed `req` is answered again without being applied twice. An
 * answer is published only once the commit that stored it succeeded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/core/core.h"
#include "gateway/core/incident.h"
#include "gateway/store/store.h"
#include "gateway/uplink/command.h"
#include "gateway/uplink/uplink.h"
#include "common/log.h"
#include "common/timeutil.h"

static void publish_answer(struct core *c, const char *req, bool ok, const char *error)
{
	if (c->up && uplink_publish_result(c->up, req, ok, ok ? NULL : error) != 0)
		log_warn("command", "result of %s not published (uplink down); the platform may replay it", req);
}

/* Answers wait in c->results until core_commit has stored them: the
 * platform must never see ok:true for a change the store forgot (a replay
 * would then apply it a second time). */
void core_answer_platform(struct core *c, const char *req, bool ok, const char *error)
{
	if (c->n_results == c->cap_results) {
		int cap = c->cap_results ? c->cap_results * 2 : 32;
		struct pending_result *n = realloc(c->results, (size_t)cap * sizeof *n);
		if (!n) {
			log_error("command", "out of memory: the answer to %s is lost; the platform will replay it", req);
			return;
		}
		c->results = n;
		c->cap_results = cap;
	}
	struct pending_result *p = &c->results[c->n_results++];
	snprintf(p->req, sizeof p->req, "%s", req);
	p->ok = ok;
	p->stored = req[0] == '\0'; /* no req (unparsable): nothing to remember */
	snprintf(p->error, sizeof p->error, "%s", ok || !error ? "" : error);
	if (ok)
		log_info("command", "%s: ok", req);
	else
		log_warn("command", "%s: refused: %s", req, error);
}

static const struct pending_result *held_answer(const struct core *c, const char *req)
{
	for (int i = 0; i < c->n_results; i++)
		if (strcmp(c->results[i].req, req) == 0)
			return &c->results[i];
	return NULL;
}

/* Puts the answers not yet stored into the open transaction. */
static int store_results(struct core *c)
{
	if (!store_in_transaction(c->store))
		return STORE_ERR_IO; /* rolled back earlier in the iteration */
	for (int i = 0; i < c->n_results; i++) {
		struct pending_result *p = &c->results[i];
		char buf[512];
		if (p->stored)
			continue;
		if (command_result_json(p->req, p->ok, p->ok ? NULL : p->error, buf, sizeof buf) < 0)
			return STORE_ERR_INVALID;
		int rc = store_put_command_result(c->store, p->req, buf);
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

/* Publishes the stored answers once no incident event is held in memory
 * (the change an answer reports is then in the store too). At most
 * CORE_RESULTS_PER_ITERATION per call, and none after a refused publish:
 * a backlog let go after an outage must not overflow Paho's buffer (the
 * outbox shares it); what is left goes out in the next iterations. */
static void publish_stored(struct core *c)
{
	if (c->n_results == 0 || incidents_pending_count(c->inc) > 0)
		return;
	int kept = 0, sent = 0;
	bool refused = false;
	for (int i = 0; i < c->n_results; i++) {
		const struct pending_result *p = &c->results[i];
		bool send = p->stored && !refused && sent < CORE_RESULTS_PER_ITERATION;
		if (send && c->up && uplink_publish_result(c->up, p->req, p->ok, p->ok ? NULL : p->error) != 0) {
			log_debug("command", "result of %s not published yet (uplink down or busy); retried", p->req);
			refused = true;
			send = false;
		}
		if (send)
			sent++;
		else
			c->results[kept++] = *p;
	}
	c->n_results = kept;
	c->results_refused = refused;
}

int64_t core_answers_deadline(const struct core *c, int64_t now)
{
	/* Stored answers past this iteration's share go out in the next ones:
	 * soon, not at the loop's next timer (up to a second away). */
	if (c->up && uplink_is_up(c->up) && c->n_results > 0 && c->results[0].stored &&
	    incidents_pending_count(c->inc) == 0)
		return now + (c->results_refused ? 20 : 1); /* Paho's buffer full: let it drain */
	return INT64_MAX;
}

void core_pace_commands(struct core *c)
{
	uplink_pause_commands(c->up, !c->results_held && c->n_results >= CORE_RESULTS_PAUSE_AT);
}

int core_commit(struct core *c)
{
	static int held_logged; /* core thread only: log when the backlog changes, not every iteration */
	int rc = c->n_results ? store_results(c) : STORE_OK;
	int crc = store_commit(c->store);
	if (rc == STORE_OK && crc == STORE_OK) {
		for (int i = 0; i < c->n_results; i++)
			c->results[i].stored = true;
	}
	publish_stored(c);
	bool held = crc != STORE_OK || rc != STORE_OK || incidents_pending_count(c->inc) > 0;
	c->results_held = held;
	if (held && c->n_results > 0 && c->n_results != held_logged)
		log_warn("command", "%d command answer(s) held until the store has them (%s)", c->n_results,
			 crc != STORE_OK ? store_err_name(crc) : rc != STORE_OK ? store_err_name(rc) :
			 "incident events still held");
	held_logged = held ? c->n_results : 0;
	return crc;
}

void core_free_results(struct core *c)
{
	if (c->n_results)
		log_warn("command", "stopping with %d command answer(s) never stored; the platform will replay them",
			 c->n_results);
	free(c->results);
	c->results = NULL;
	c->n_results = c->cap_results = 0;
}

/* point.write: only points the config marks remote_write; answered when the
 * bus reports the write's result (core_write_result). */
static int do_point_write(struct core *c, const struct command *cmd, char *err, size_t errlen)
{
	int d = core_find_device(c, cmd->device, err, errlen);
	if (d < 0)
		return -1;
	const struct profile *p = &c->cfg->profiles[c->cfg->devices[d].profile];
	int pt = config_find_point(p, cmd->point);
	if (pt < 0) {
		snprintf(err, errlen, "device '%s' has no point '%s'", cmd->device, cmd->point);
		return -1;
	}
	if (!p->points[pt].remote_write) {
		snprintf(err, errlen, "point '%s' is not remote_write", cmd->point);
		return -1;
	}
	if (c->cfg->devices[d].bus < 0) {
		snprintf(err, errlen, "device '%s' is not on a Modbus bus", cmd->device);
		return -1;
	}
	int rc = core_start_write(c, d, pt, cmd->value, cmd->req, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "write not queued: %s", strerror(-rc));
		return -1;
	}
	return 1; /* answered later */
}

static int apply_command(struct core *c, const struct command *cmd, int64_t now, char *err, size_t errlen)
{
	switch (cmd->op) {
	case CMD_INCIDENT_ACK:
		return core_do_ack(c, cmd->incident, cmd->by, cmd->note, now, err, errlen);
	case CMD_INCIDENT_WORKFLOW:
		return core_do_workflow(c, cmd, cmd->workflow, false, now, err, errlen);
	case CMD_INCIDENT_CLOSE:
		return core_do_workflow(c, cmd, cmd->workflow[0] ? cmd->workflow : "closed", true, now, err, errlen);
	case CMD_DEVICE_SHELVE:
		return core_do_shelve(c, cmd->device, cmd->for_ms, now, err, errlen);
	case CMD_DEVICE_UNSHELVE:
		return core_do_unshelve(c, cmd->device, now, err, errlen);
	case CMD_POINT_WRITE:
		return do_point_write(c, cmd, err, errlen);
	case CMD_GATEWAY_RESYNC:
		if (incidents_resync(c->inc, time_wall_ms()) < 0) {
			snprintf(err, errlen, "resync failed: store unavailable");
			return -1;
		}
		return 0;
	case CMD_GATEWAY_STATUS: {
		int on, off;
		core_status_counts(c, &on, &off);
		struct status_counts sc = { on, off, (int)incidents_open_count(c->inc), store_backlog(c->store) };
		if (c->up)
			uplink_force_status(c->up, &sc, now);
		return 0;
	}
	case CMD_NONE:
		break;
	}
	snprintf(err, errlen, "unknown op");
	return -1;
}

void core_handle_platform_command(struct core *c, const char *json, size_t len, int64_t now)
{
	struct command cmd;
	char err[256] = "";
	if (command_parse(json, len, &cmd, err, sizeof err) != 0) {
		if (c->n_results >= CORE_MAX_HELD_RESULTS && c->results_held) /* nothing applied: no need to hold it */
			publish_answer(c, cmd.req, false, err);
		else
			core_answer_platform(c, cmd.req, false, err);
		return;
	}
	if (held_answer(c, cmd.req)) {
		/* Applied, its answer waits for the store: apply nothing again. */
		log_info("command", "%s: replayed while its answer waits for the store; answered once stored", cmd.req);
		return;
	}
	char *prev = NULL;
	if (store_get_command_result(c->store, cmd.req, &prev) == STORE_OK) {
		/* A replay: answer what was answered, apply nothing. */
		log_info("command", "%s: replayed; answering the stored result", cmd.req);
		cJSON *j = cJSON_ParseWithLength(prev, strlen(prev));
		const cJSON *ok = j ? cJSON_GetObjectItemCaseSensitive(j, "ok") : NULL;
		const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
		if (c->up)
			uplink_publish_result(c->up, cmd.req, cJSON_IsTrue(ok), cJSON_IsString(e) ? e->valuestring : NULL);
		cJSON_Delete(j);
		free(prev);
		return;
	}
	if (core_write_executing(c, cmd.req)) {
		/* A replay of a point.write still executing: its answer follows. */
		log_info("command", "%s: replayed while still executing; answered when done", cmd.req);
		return;
	}
	if (c->n_results >= CORE_MAX_HELD_RESULTS && c->results_held) {
		/* The store fails: nothing applied, nothing stored; its retry is
		 * applied normally. (While the store works the uplink's pause
		 * bounds the answers instead: see core_pace_commands.) */
		log_warn("command", "%s: refused unapplied: %d answers wait for the store", cmd.req, c->n_results);
		publish_answer(c, cmd.req, false, "store unavailable: not applied, retry later");
		return;
	}
	log_info("command", "%s: %s from the platform", cmd.req, command_op_name(cmd.op));
	int rc = apply_command(c, &cmd, now, err, sizeof err);
	if (rc == 0)
		core_answer_platform(c, cmd.req, true, NULL);
	else if (rc < 0)
		core_answer_platform(c, cmd.req, false, err);
}
