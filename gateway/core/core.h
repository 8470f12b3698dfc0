/* core — the state the core thread owns, shared by the files that make up
 * the core loop (loop.c: lifecycle, poll loop, reload; core_dispatch.c:
 * queue messages, actions, periodic work; core_commands.c: platform and
 * control-socket commands). Nothing outside these files includes it: every
 * other thread talks to the core through its queue. */
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

/* A write the core asked a bus for: a rule action, or a platform point.write
 * waiting for its result before answering. */
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
 * answers wait here (core_commands.c). */
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
/* Answers handed to the uplink per iteration (Paho buffers 100 messages). */
#define CORE_RESULTS_PER_ITERATION 32

struct core {
	const char *config_path;
	struct gw_config *cfg;
	struct queue *q;
	struct store *store;
	struct engine *engine;
	struct incidents *inc;
	struct uplink *up;        /* NULL when no uplink is configured */
	struct outbox *ob;
	struct json_map *jmap;
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
	/* console live reads waiting for their bus thread (core_web.c) */
	struct core_web_read {
		struct web_call *call;        /* NULL = free slot */
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

	/* MQTT devices have no bus thread watching them: the core does. */
	int64_t *last_good_mono;  /* per device */
	int8_t *comm;             /* per device, as last told to the engine: -1 not yet, 0 offline, 1 online */

	struct pending_write writes[CORE_MAX_PENDING_WRITES];
	struct pending_result *results; /* answers not yet published (malloc'd) */
	int n_results, cap_results;
	uint64_t next_request;

	int64_t next_telemetry_ms;
	int64_t next_status_ms;
	int64_t next_offline_check_ms;
	int64_t next_prune_ms;
	int64_t next_watchdog_ms;
	int64_t watchdog_interval_ms;
	int64_t next_history_ms;
	bool uplink_down_raised;
	bool storage_full_raised;
	uint64_t messages;        /* queue messages handled, for status */
	struct json_map_stats source_stats; /* MQTT source messages: counted drops */
	/* MQTT readings: the last applied per point (core_dispatch.c), and how
	 * many older ones were not applied (redelivered or overtaken). */
	struct source_order *src_order;
	size_t *src_order_off;
	const struct gw_config *src_order_cfg;
	uint64_t source_stale;
	int64_t started_mono;
};

/* core_dispatch.c */
void core_handle_message(struct core *c, struct core_msg *m, int64_t now);
void core_drain_engine(struct core *c, int64_t now);
void core_periodic(struct core *c, int64_t now);
void core_check_mqtt_offline(struct core *c, int64_t now);
/* Frees the MQTT reading-order table (rebuilt on the next message). */
void core_source_order_free(struct core *c);
int64_t core_next_deadline(struct core *c, int64_t now);
void core_retry_writes(struct core *c, int64_t now);
void core_status_counts(struct core *c, int *online, int *offline);
int core_start_write(struct core *c, int device, int point, double value, const char *cmd_req, const char *key);
void core_write_result_pending(struct core *c, const struct core_msg *m, int64_t now,
			       void (*answer)(struct core *c, const char *req, bool ok, const char *error));

/* core_commands.c */
void core_answer_platform(struct core *c, const char *req, bool ok, const char *error);
/* Ends the iteration's store transaction: stores the answers given in it,
 * commits, and publishes them if that worked. Returns the commit's result. */
int core_commit(struct core *c);
void core_free_results(struct core *c);
void core_handle_platform_command(struct core *c, const char *json, size_t len, int64_t now);
/* Logs an alarm raised (or cleared) while its device is shelved (core_commands.c). */
void core_note_suppressed(struct core *c, const struct engine_output *o);
void core_handle_control(void *ctx, uint64_t conn, const struct control_request *req);
void core_write_result(struct core *c, const struct core_msg *m, int64_t now);
void core_notify_result(struct core *c, const struct notify_result *r);
#define CORE_WEB_TOKEN (1ULL << 63)
/* Answers console calls still waiting (shutdown): before web_stop. */
void core_web_abandon(struct core *c);
void core_handle_web(struct core *c, struct web_call *call);

/* core_web.c */
void core_web_device_changed(struct core *c, const char *id, bool online);
void core_web_after_commit(struct core *c);
void core_sample_history(struct core *c, int64_t now);
/* The console's live read of a device (installer): a Modbus device is read
 * by its bus thread (modbus_bus_read) and answered when MSG_READ_RESULT
 * comes back, or 504 at CORE_READ_TIMEOUT_MS; an MQTT device is answered at
 * once with the values of its last message. */
#define CORE_READ_TIMEOUT_MS 10000
void core_web_read(struct core *c, struct web_call *call);
void core_web_read_result(struct core *c, struct core_msg *m);
void core_web_tick(struct core *c, int64_t now);
void core_web_read_abandon(struct core *c);
/* Keeps the warnings of the configuration now running (errs NULL: frees
 * them), for the console's commissioning page; added to status as
 * "config_warnings". */
void core_web_keep_warnings(struct core *c, const struct config_errors *errs);
void core_web_add_warnings(struct core *c, struct cJSON *status);

#endif
