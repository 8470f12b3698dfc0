/* engine — the local alarm engine. Pure logic: it takes the configuration,
 * point updates, device online/offline changes, operator actions and a
 * monotonic time in ms, and produces outputs (alarm changes and actions)
 * that the core drains. No Modbus, MQTT or SQLite here.
 *
 * An *alarm* is one (rule, device) pair — or, for correlation rules, one
 * (rule, group) pair — and is named by a stable key "RULE_ID/DEVICE_ID"
 * (correlation: "RULE_ID/GROUP", e.g. "smoke/b5-e2-f7") so the core can map
 * it to its open incident and state survives a reload that keeps both. */
#ifndef GRIDGW_ENGINE_H
#define GRIDGW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "common/point.h"

#define ENGINE_KEY_MAX 160
#define ENGINE_MSG_MAX 256
/* Points of a device carried as an output's evidence (the rule's first,
 * then the others in profile order); a rule reads at most this many. */
#define ENGINE_EVIDENCE_MAX 32

enum alarm_state {
	ALARM_NORMAL = 0,
	ALARM_ACTIVE_UNACKED,
	ALARM_ACTIVE_ACKED,
	ALARM_RTN_UNACKED,     /* returned to normal, not yet acknowledged (latch) */
};

enum engine_output_kind {
	OUT_RAISED = 1,   /* alarm became active (new incident) */
	OUT_UPDATED,      /* re-raised while its incident is open, or count grew (chatter held) */
	OUT_CLEARED,      /* condition returned to normal (alarm may stay unacked if latched) */
	OUT_ACKED,        /* acknowledged */
	OUT_ESCALATED,    /* unacknowledged past escalate.after: severity raised */
	OUT_NORMAL,       /* alarm fully back to normal and acknowledged: incident may close */
	OUT_SHELVED,      /* device shelved / unshelved (one per affected active alarm) */
	OUT_UNSHELVED,
	OUT_SUPPRESSED,   /* a raise (active) or the clear of one (!active) while the device is shelved:
			   * for the log and the views only, never an incident */
	OUT_ACTION,       /* execute `action` (on_raise/on_clear) */
};

struct evidence_item {
	int point;                 /* index into the device's profile points */
	struct point_value pv;
};

struct engine_output {
	enum engine_output_kind kind;
	char key[ENGINE_KEY_MAX];  /* alarm key, see above */
	int rule;                  /* index into engine rules (engine_rule_*) */
	int device;                /* device index (correlation: the device that completed the group) */
	const char *type;          /* incident type, e.g. "fire.smoke" (points into config/engine) */
	int severity;
	bool active;
	bool acked;
	uint32_t count;            /* raises folded into this alarm so far */
	int64_t now_ms;            /* monotonic time of the change */
	int64_t until_ms;          /* OUT_SUPPRESSED: when the device's shelve ends (monotonic) */
	char message[ENGINE_MSG_MAX]; /* rendered template */
	struct evidence_item evidence[ENGINE_EVIDENCE_MAX]; /* every point of the device, bounded */
	int n_evidence;
	int n_evidence_omitted;    /* device points beyond ENGINE_EVIDENCE_MAX, left out */
	/* OUT_ACTION */
	const struct action_config *action;
	int action_device;         /* resolved target device */
	int action_point;          /* resolved target point (write) */
};

struct engine;

/* Builds rules from cfg (user rules, correlation rules, and the built-in
 * device.offline / battery_low / fault / tamper rules). cfg must outlive the
 * engine. NULL with err on failure (an expression that does not compile). */
struct engine *engine_create(const struct gw_config *cfg, char *err, size_t errlen);
void engine_destroy(struct engine *e);

/* Reload: moves the state of every alarm whose key exists in both engines
 * (and current point values of devices that still exist) from old to new. */
void engine_adopt_state(struct engine *e, struct engine *old);

void engine_point(struct engine *e, int device, int point, const struct point_value *pv, int64_t now_ms);
/* One point of a batch. */
struct engine_update {
	int point;
	struct point_value pv;
};
/* A batch of updates of one device read together (one poll): the same as
 * engine_point for each in turn, except that each rule reading any of them
 * is evaluated once, after the whole batch is stored, so it sees one
 * consistent reading of the device rather than a mix of old and new values.
 * No allocation. */
void engine_points(struct engine *e, int device, const struct engine_update *u, size_t n, int64_t now_ms);
void engine_device_online(struct engine *e, int device, bool online, int64_t now_ms);
/* Runs delays, windows, escalation, shelve expiry up to now_ms. */
void engine_tick(struct engine *e, int64_t now_ms);
/* Monotonic time of the next timer, or INT64_MAX. */
int64_t engine_next_deadline(const struct engine *e);

/* Operator actions; 0, or -ENOENT / -EINVAL. */
int engine_ack(struct engine *e, const char *key, int64_t now_ms);
int engine_shelve_device(struct engine *e, int device, int64_t until_ms, int64_t now_ms);
int engine_unshelve_device(struct engine *e, int device, int64_t now_ms);
/* The incident of this alarm was closed by workflow: the next raise is a new incident. */
int engine_incident_closed(struct engine *e, const char *key, int64_t now_ms);

/* After a restart: puts the alarm `key` back into the state its open
 * incident recorded (active/acked, count, severity), so a condition that
 * ended while the gateway was down is cleared by the first fresh reading,
 * and one still true is not raised a second time. -ENOENT for a key this
 * configuration no longer has. */
int engine_restore_alarm(struct engine *e, const char *key, bool active, bool acked, uint32_t count,
			 int severity, int64_t now_ms);

/* Moves up to max pending outputs into out; returns how many. */
size_t engine_drain(struct engine *e, struct engine_output *out, size_t max);

/* Introspection for status, CLI and reload. */
int engine_rule_count(const struct engine *e);
const char *engine_rule_id(const struct engine *e, int rule);
const struct point_value *engine_device_values(const struct engine *e, int device);
bool engine_device_is_online(const struct engine *e, int device);
bool engine_device_is_shelved(const struct engine *e, int device, int64_t now_ms);
/* When the device's shelve ends (monotonic ms), or 0 when it is not shelved. */
int64_t engine_device_shelved_until(const struct engine *e, int device, int64_t now_ms);

/* An alarm of a shelved device whose condition rose during this shelve:
 * what `gridgw status` shows so a technician sees the test worked. */
struct engine_suppressed {
	int rule;
	const char *type;          /* points into config/engine */
	int64_t at_ms;             /* monotonic time of its latest suppressed raise */
	uint32_t count;            /* suppressed raises during this shelve */
	bool active;               /* its condition is still true (or clearing) */
	bool clearing;             /* active, and the clear delay (clear_for) is running */
};
/* Up to max of device's suppressed alarms into out; returns how many. */
int engine_device_suppressed(const struct engine *e, int device, struct engine_suppressed *out, int max);

/* An alarm of a device that is not shelved whose on-delay is running: it
 * is raised at due_ms unless its condition ends first (what `gridgw
 * unshelve` says is coming). */
struct engine_pending {
	int rule;
	const char *type;
	int64_t due_ms;            /* monotonic */
};
int engine_device_pending(const struct engine *e, int device, struct engine_pending *out, int max);
enum alarm_state engine_alarm_state(const struct engine *e, const char *key);

#endif
