/* engine_impl — the rule engine's private data structures, shared by
 * engine.c (evaluation, state machines, timers) and engine_build.c
 * (create/destroy/reload). Not a public header: nothing outside rules/
 * includes it. */
#ifndef GRIDGW_ENGINE_IMPL_H
#define GRIDGW_ENGINE_IMPL_H

#include "rules/engine.h"
#include "rules/expr.h"

#define NEVER INT64_MAX
#define WIN_SLOTS 48            /* entries per window history */
#define RING_MAX 1000           /* largest count / chatter_max accepted (as the config loader) */
#define OUT_INITIAL 256         /* output queue capacity at create (~1 KB each; grows if undrained) */

enum rule_kind { RK_USER = 0, RK_OFFLINE, RK_BATTERY, RK_FAULT, RK_TAMPER };

/* One slot of a window history: a good sample, several merged samples that
 * arrived within merge_ms of each other, or a quality gap marker. */
struct wentry {
	int64_t t0, t1;
	double first, last, min, max, sum;
	uint32_t n;
	uint32_t gap;
};

struct whist {
	int64_t merge_ms;
	int head;                   /* index of the newest entry */
	int n;
	struct wentry e[WIN_SLOTS];
};

struct erule {
	const char *id;
	enum rule_kind kind;
	int profile;                /* -1: every device (device.offline) */
	const struct rule_config *cfg; /* NULL for built-ins */
	struct expr *when, *clear;  /* clear NULL: !(when) */
	const char *type;
	const char *message;        /* template; NULL: type */
	int severity;
	int64_t for_ms, clear_for_ms, within_ms;
	int count;                  /* >= 2: rising edges needed within within_ms */
	bool latch;
	bool has_escalate;
	int64_t escalate_after_ms;
	int escalate_severity;
	int chatter_max;            /* 0: no chatter control */
	int64_t chatter_window_ms;
	bool windowed;              /* reads a window function: evaluate on every update */
	int ev_points[ENGINE_EVIDENCE_MAX];
	int n_ev;
	int *raise_points, *clear_points; /* resolved write point per action, -1 for publish */
	int first_alarm;            /* alarms of slot s: first_alarm + s */
	int n_slots;
	int64_t *edge_pool;         /* count entries per slot */
	int64_t *chatter_pool;      /* chatter_max + 1 entries per alarm (slots, then groups) */
	/* correlation */
	enum group_by group;
	int min_devices;
	int *slot_group;            /* slot -> group index or -1 */
	int n_groups;
	char **group_keys;
	int first_group_alarm;
	const char *confirmed_type;
	int confirmed_severity;
	bool group_only;            /* type == confirmed_type: per-device alarms only count detectors, raise nothing */
};

struct alarm {
	int rule;
	int device;                 /* group alarms: the device that completed the group */
	int group;                  /* -1 for per-device alarms */
	int slot;
	uint8_t state;              /* enum alarm_state */
	bool cond;                  /* debounced condition (after delays and count) */
	bool last_w;                /* last known value of `when`, for edge detection */
	bool acked;
	bool incident_open;
	bool escalated;
	bool held;                  /* chatter: held active */
	bool dirty;                 /* chatter: count grew, UPDATED not yet sent */
	bool shelved_out;           /* SHELVED was emitted */
	bool shelved_cond;          /* cond rose while shelved: never shown, never counted, dropped at unshelve */
	int severity;
	uint32_t count;
	int64_t on_since, off_since;
	int64_t unacked_since;      /* escalation timer start */
	int64_t last_raise;         /* cond went true */
	int64_t corr_raise;         /* cond went true while not shelved: what correlation's `within` counts */
	int64_t suppressed_at;      /* latest raise suppressed during this shelve, NEVER if none */
	uint32_t n_suppressed;      /* raises suppressed during this shelve */
	int64_t last_update_out;    /* chatter: last UPDATED sent */
	int n_edges, edge_head;
	int n_chat, chat_head;
};

struct edev {
	int profile;
	int pslot;                  /* index among the devices of its profile */
	bool online;
	bool shelved;
	bool force_eval;
	int64_t shelve_until;
	struct point_value *values;
	struct whist **hist;        /* per point, NULL when no window reads it */
	int *alarms;                /* this device's per-device alarms */
	int n_alarms;
};

struct rule_list {
	int *rules;
	int n;
};

/* An indexed binary min-heap of timer owners: alarms [0, n_alarms) and
 * devices [n_alarms, n_alarms + n_devices) (shelve expiry). */
struct theap {
	int *ids;
	int *pos;                   /* id -> heap index or -1 */
	int64_t *key;               /* id -> deadline */
	int n;
};

struct engine {
	const struct gw_config *cfg;
	struct erule *rules;
	int n_rules;
	struct alarm *alarms;
	int n_alarms;
	struct edev *devs;
	int n_devs;
	struct rule_list **prof_rules;  /* [profile][point] */
	int *prof_n_devs;
	struct theap heap;
	int64_t now;                    /* latest time seen; timers never fire before it */
	struct engine_output *q;
	size_t q_cap, q_head, q_n;
	/* pools freed at destroy */
	void *pool_values, *pool_hist, *pool_dev_alarms, *pool_rule_lists;
};

/* Internal entry points engine_build.c uses after a reload. */
void engine_alarm_reschedule(struct engine *e, int id);
void engine_timer_set(struct engine *e, int id, int64_t deadline);

#endif
