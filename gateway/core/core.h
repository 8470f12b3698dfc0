/* core — the core thread's private header: the state it owns and the
 * functions its files share. Nothing outside gateway/core/ includes it:
 * every other thread talks to the core through its queue, and the CLI
 * reaches it only through cmd_run (gateway/cli/cli.h). One file per
 * concept:
 *
 *   loop.c        life cycle (open, close) and the loop itself
 *   dispatch.c    queue messages to their concept; engine outputs to
 *                 incidents and actions
 *   devcomm.c     device comm state (online/offline), its one owner
 *   source.c      MQTT-source points (decoded by their source): ordered, applied
 *   writes.c      pending writes to a bus, their whole life
 *   southbound.c  starting and stopping the buses and sources
 *   reload.c      SIGHUP
 *   platform.c    platform commands and their stored answers
 *   commands.c    what a command does (ack, workflow, close, shelve)
 *   local.c       control-socket requests (the console shares the path)
 *   console.c     console requests, live reads, what the console is handed
 *   periodic.c    timers: telemetry, status, prune, history, watchdog
 *   incident.c    incidents (its own header, incident.h) */
#ifndef GRIDGW_CORE_H
#define GRIDGW_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/config/config.h"
#include "gateway/control/control.h"
#include "common/queue.h"
#include "rules/engine.h"
#include "sensors/json_map.h"

struct store;
struct incidents;
struct uplink;
struct outbox;
struct json_map;
struct modbus_bus;
struct mqtt_source;
struct notify;
struct notify_result;
struct web;
struct web_call;
struct cJSON;

/* A write the core asked a bus for (writes.c, the only file that touches
 * one): a rule action, or a platform point.write waiting for its result
 * before answering. */
struct pending_write {
	uint64_t request;
	int device, point;
	double value;
	int attempts;
	int64_t retry_at_ms;      /* 0 = in flight at the bus */
	char cmd_req[65];         /* platform request to answer, "" for actions */
	char alarm_key[ENGINE_KEY_MAX];
	bool used;
};
#define CORE_MAX_PENDING_WRITES 64
#define CORE_WRITE_ATTEMPTS 3
#define CORE_WRITE_RETRY_MS 2000

/* A platform command's answer. It is stored with the iteration that gave
 * it and published only once that commit succeeded and no incident event
 * is still held in memory: an answer the platform sees is one the store
 * remembers, with the change it made. While the store cannot write the
 * answers wait here (platform.c). */
struct pending_result {
	char req[65];
	bool ok;
	bool stored;              /* its row is committed */
	char error[192];
};
/* Answers waiting for the store. Beyond this a new command is refused
 * unapplied (ok:false, not stored: its retry is applied normally); answers
 * of commands already applied (point.write results) are always kept. */
#define CORE_MAX_HELD_RESULTS 1024
/* Answers handed to the uplink per iteration (Paho buffers 256 messages,
 * the outbox's window and telemetry share them). */
#define CORE_RESULTS_PER_ITERATION 32
/* With this many answers waiting while the store works (they wait only
 * for their turn to be published), the core takes no more commands: the
 * uplink holds them, in order. A healthy burst is then never refused;
 * the queue's control slots bound what is already on its way. */
#define CORE_RESULTS_PAUSE_AT 128

/* Each device's comm state, for the config it was made for (devcomm.c is
 * the only file that touches it; the others ask core_device_state). */
struct devcomm {
	const struct gw_config *cfg;
	int8_t *state;            /* per device, as last told to the engine: -1 not yet, 0 offline, 1 online */
	/* MQTT devices have no bus thread watching them: the core does. */
	int64_t *last_good_mono;  /* per device */
};

/* gateway.storage's message while the store is at its size cap: how the
 * core tells, after a restart, that condition from a store replaced at start. */
#define CORE_STORAGE_CAP_MESSAGE "Store at its size cap with undelivered events"

struct core {
	const char *config_path;
	struct gw_config *cfg;
	struct queue *q;
	struct store *store;
	struct engine *engine;
	struct incidents *inc;
	struct uplink *up;        /* NULL when no uplink is configured */
	struct outbox *ob;
	struct modbus_bus **buses;
	struct mqtt_source **sources;
	struct control *ctl;
	struct notify *notify;    /* notifications to people on site (gateway/notify) */
	struct web *web;          /* NULL when no console is configured */
	uint64_t web_seq;         /* last outbox seq handed to the console's live streams */
	struct { char id[64]; bool online; } web_dev[64]; /* device changes of this iteration, for after commit */
	int n_web_dev;
	/* console `notify test` calls waiting for the channel's API; their
	 * notify token is CORE_WEB_TOKEN | slot (control connections are small ids) */
	struct web_call *web_notify[8];
	/* live reads waiting for their bus thread (console.c): the console's
	 * (call) or `gridgw read`'s over the control socket (conn) */
	struct core_web_read {
		struct web_call *call;        /* both NULL/0 = free slot */
		uint64_t conn;                /* control connection id (ids start at 1) */
		uint64_t token;
		int64_t deadline_ms;          /* monotonic: answered 504 after it */
		char device[64];
	} web_reads[8];
	uint64_t web_read_seq;
	char *cfg_warnings;       /* JSON array text of the running config's `gridgw check` warnings, or NULL */
	int sigfd;
	bool running;
	bool reload_requested;
	bool hang_requested;      /* test-only fault switch (GRIDGW_TEST_FAULTS=1, SIGUSR2) */

	struct devcomm comm;      /* device comm state: devcomm.c only */

	struct pending_write writes[CORE_MAX_PENDING_WRITES];
	struct pending_result *results; /* answers not yet published (malloc'd) */
	int n_results, cap_results;
	bool results_held;        /* the last commit could not store them (store failing) */
	bool results_refused;     /* the uplink refused the last answer published (buffer full) */
	uint64_t next_request;

	int64_t next_telemetry_ms;
	int64_t next_status_ms;
	int64_t next_offline_check_ms;
	int64_t next_prune_ms;
	int64_t next_watchdog_ms;
	int64_t watchdog_interval_ms;
	int64_t next_history_ms;
	bool uplink_down_raised;
	bool storage_full_raised; /* the open gateway.storage is the size cap (CORE_STORAGE_CAP_MESSAGE) */
	uint64_t messages;        /* queue messages handled, for status */
	/* MQTT-source decoding counters of the sources stopped so far (each
	 * live source counts its own; status adds them up) */
	struct json_map_stats source_stats_gone;
	/* Sources held by a reload, out of `sources` until rebound (counted
	 * in status meanwhile): carry.kept, by new index */
	struct mqtt_source **held_sources;
	int n_held_sources;
	/* MQTT readings: the last applied per point (source.c), and how
	 * many older ones were not applied (redelivered or overtaken). */
	struct source_order *src_order;
	size_t *src_order_off;
	const struct gw_config *src_order_cfg;
	uint64_t source_stale;
	int64_t started_mono;
};

/* Messages popped from the queue at once. */
#define CORE_QUEUE_BATCH 512

/* Messages whose handling must wait until a reload has swapped configs. */
struct deferred {
	struct core_msg *m;
	size_t n, cap;
};

/* What a reload carries from the old southbound side to the new one. */
struct comm_carry {
	struct devcomm comm;      /* comm state of the old config's devices */
	/* MQTT sources kept running across the reload (same client settings),
	 * by their index in the new config; held until the swap is done. */
	struct mqtt_source **kept;
	/* Their JSON maps for the new config, built (and so validated) before
	 * the reload commits; by new index, NULL for a source not kept. */
	struct json_map **maps;
};

/* dispatch.c */
void core_handle_message(struct core *c, struct core_msg *m, int64_t now);
void core_drain_engine(struct core *c, int64_t now);

/* devcomm.c */
/* Sets up c->comm for c->cfg, carrying each device's state over from prev
 * (NULL at start) by device id: a reload must neither restart an MQTT
 * device's offline timer (regular reloads would hide a dead device) nor
 * flap its status. Returns 0, or -1 out of memory. */
int core_devcomm_start(struct core *c, const struct devcomm *prev);
/* Hands c->comm over to *keep (for core_devcomm_start after a reload), or
 * frees it when keep is NULL. */
void core_devcomm_stop(struct core *c, struct devcomm *keep);
void core_devcomm_free(struct devcomm *d);
/* A bus's report, an MQTT device's message (ok), or its silence. */
void core_device_comm(struct core *c, int device, bool ok, int64_t now);
/* -1 not heard from since start, 0 offline, 1 online. */
int core_device_state(const struct core *c, int device);
/* Adds "online": true/false, or null for a device not heard from yet. */
void core_add_online(struct cJSON *o, const struct core *c, int device);
void core_check_mqtt_offline(struct core *c, int64_t now);
void core_status_counts(struct core *c, int *online, int *offline);

/* source.c */
/* A MSG_SOURCE_POINTS (decoded by its source): each point applied unless
 * older than the last applied, then the device marked online. */
void core_handle_source_points(struct core *c, const struct core_msg *m, int64_t now);
/* Every source's decoding counters, the stopped ones' included. */
void core_source_stats(const struct core *c, struct json_map_stats *out);
/* Frees the MQTT reading-order table (rebuilt on the next message). */
void core_source_order_free(struct core *c);

/* writes.c */
int core_start_write(struct core *c, int device, int point, double value, const char *cmd_req, const char *key);
void core_retry_writes(struct core *c, int64_t now);
/* A write finished at the bus (MSG_WRITE_RESULT). */
void core_write_result(struct core *c, const struct core_msg *m, int64_t now);
/* A platform point.write with this req is still at a bus or waiting to retry. */
bool core_write_executing(const struct core *c, const char *cmd_req);
/* The earlier of d and the next write retry. */
int64_t core_writes_deadline(const struct core *c, int64_t d);
void core_carry_writes(struct core *c, const struct gw_config *old, const struct gw_config *ncfg, int64_t now);

/* southbound.c */
int core_start_southbound(struct core *c, const struct comm_carry *prev);
void core_stop_southbound(struct core *c, struct deferred *d, struct comm_carry *carry);
/* Builds the JSON map of every source of ncfg (a bad one refuses the
 * reload before anything is touched: returns -1 with err), then holds the
 * sources that keep running and takes them out of c->sources. */
int core_keep_sources(struct core *c, const struct gw_config *ncfg, struct comm_carry *carry, char *err,
		      size_t errlen);
/* Frees the maps core_start_southbound did not take over. */
void core_free_maps(struct comm_carry *carry, int n_sources);

/* reload.c */
void core_reload(struct core *c);
void core_log_config_errors(const struct config_errors *errs);
void core_apply_log_level(const struct gw_config *cfg);

/* periodic.c */
void core_periodic(struct core *c, int64_t now);
int64_t core_next_deadline(struct core *c, int64_t now);
void core_sample_history(struct core *c, int64_t now);

/* platform.c */
void core_answer_platform(struct core *c, const char *req, bool ok, const char *error);
/* Ends the iteration's store transaction: stores the answers given in it,
 * commits, and publishes them if that worked. Returns the commit's result. */
int core_commit(struct core *c);
/* Flow control of platform commands: pauses the uplink's intake while
 * CORE_RESULTS_PAUSE_AT answers wait only to be published. */
void core_pace_commands(struct core *c);
/* When the loop must run again for answers waiting only for their turn
 * to be published (INT64_MAX: none). */
int64_t core_answers_deadline(const struct core *c, int64_t now);
void core_free_results(struct core *c);
void core_handle_platform_command(struct core *c, const char *json, size_t len, int64_t now);

/* commands.c: the core_do_* return 0, or a negative HTTP-like status with a
 * reason in err: -404 (no such incident/device), -409 (not in a state that
 * allows it). Platform commands only look at the sign. */
int core_find_device(struct core *c, const char *id, char *err, size_t errlen);
int core_resolve_incident_id(struct core *c, const char *given, char out[27], char *err, size_t errlen);
int core_do_ack(struct core *c, const char *id, const char *by, const char *note, int64_t now, char *err,
		size_t errlen);
int core_do_shelve(struct core *c, const char *device, int64_t for_ms, int64_t now, char *err, size_t errlen);
int core_do_unshelve(struct core *c, const char *device, int64_t now, char *err, size_t errlen);
struct command;
int core_do_workflow(struct core *c, const struct command *cmd, const char *to, bool any_state, int64_t now,
		     char *err, size_t errlen);
int core_do_close(struct core *c, const char *given, const char *to, const char *by, const char *note,
		  int64_t now, char *id_out, bool *was_active, char *err, size_t errlen);
/* Wall-clock time of a monotonic instant of the engine's. */
int64_t core_wall_of(int64_t mono_ms, int64_t now_mono);
/* Logs an alarm raised (or cleared) while its device is shelved. */
void core_note_suppressed(struct core *c, const struct engine_output *o);

/* local.c */
/* One request from the control socket or the console: *json gets the
 * answer (malloc'd; NULL only when out of memory). Returns the status. */
int core_request(struct core *c, const struct control_request *req, char **json);
char *core_print_free(struct cJSON *o);
char *core_error_text(const char *error);
void core_handle_control(void *ctx, uint64_t conn, const struct control_request *req);
void core_notify_result(struct core *c, const struct notify_result *r);

/* console.c */
#define CORE_WEB_TOKEN (1ULL << 63)
void core_handle_web(struct core *c, struct web_call *call);
/* Answers console calls still waiting (shutdown): before web_stop. */
void core_web_abandon(struct core *c);
void core_web_device_changed(struct core *c, const char *id, bool online);
void core_web_after_commit(struct core *c);
/* The console's live read of a device (installer): a Modbus device is read
 * by its bus thread (modbus_bus_read) and answered when MSG_READ_RESULT
 * comes back, or 504 at CORE_READ_TIMEOUT_MS; an MQTT device is answered at
 * once with the values of its last message. */
#define CORE_READ_TIMEOUT_MS CONTROL_LIVE_READ_WAIT_MS
void core_web_read(struct core *c, struct web_call *call);
/* The same read asked over the control socket (`gridgw read` while the
 * daemon runs): answered on conn, failures with "status" 502/503/504. */
void core_control_live_read(struct core *c, uint64_t conn, const struct control_request *req);
void core_web_read_result(struct core *c, struct core_msg *m);
void core_web_tick(struct core *c, int64_t now);
void core_web_read_abandon(struct core *c);
/* Keeps the warnings of the configuration now running (errs NULL: frees
 * them), for the console's commissioning page; added to status as
 * "config_warnings". */
void core_web_keep_warnings(struct core *c, const struct config_errors *errs);
void core_web_add_warnings(struct core *c, struct cJSON *status);

#endif
