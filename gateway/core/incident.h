/* incident — the gateway's incidents: records of alarms as the grid platform
 * sees them, each with a ULID, an alarm state (active, acked), a workflow
 * (raised → dispatched → accepted → resolved → closed, or false_alarm), and
 * one outbox event (docs/contract.md §3, "gridgw.incident/1") per change.
 *
 * Owned by the core thread. It turns rule-engine outputs, operator and
 * platform actions, and the core's own gateway.* conditions into incident
 * changes; keeps the open incidents in memory keyed by alarm key; and writes
 * every change (incident row + event with its outbox seq inside the JSON) to
 * the store.
 *
 * Transactions: every call that changes something writes at once. If the
 * caller has a store transaction open (store_begin … store_commit around a
 * core-loop iteration, the intended use), the writes go into it and the
 * module learns through the store's transaction hook whether they committed;
 * otherwise each call runs its own transaction. Either way an event leaves
 * the module's memory only after its transaction committed.
 *
 * Storage failure: when the store cannot write (full, read-only, I/O), the
 * events wait in memory, in order and without a seq, and a gateway.storage
 * incident is raised (in memory too). Writes are retried on later calls (at
 * most once a second while failing) and by incidents_flush_pending, which
 * the core calls every iteration; once a write commits, everything held is
 * in the store in its original order with gapless seqs, and gateway.storage
 * is cleared and closed. The memory queue holds INCIDENTS_PENDING_MAX events;
 * beyond it an event of any kind is folded into the newest held event of
 * the same incident (never into its first held one, so a raise survives;
 * a held clear keeps its word while the incident is inactive); nothing is
 * dropped. See docs/store.md. */
#ifndef GRIDGW_INCIDENT_H
#define GRIDGW_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config/config.h"
#include "gateway/store/store.h"
#include "rules/engine.h"

#define INCIDENTS_PENDING_MAX 10000
/* Minimum time between write attempts while the store is failing. */
#define INCIDENTS_RETRY_MS 1000
/* Alarm keys of incidents the core raises itself: "gateway:" + type. */
#define INCIDENTS_GATEWAY_KEY_PREFIX "gateway:"

struct incidents;

/* cfg must stay valid until incidents_set_config/destroy; st must outlive it.
 * Installs itself as the store's transaction hook. NULL on out of memory. */
struct incidents *incidents_create(const struct gw_config *cfg, struct store *st);
void incidents_destroy(struct incidents *inc);
/* Reload: device and profile indices of later outputs refer to cfg. Open
 * incidents keep their copied strings. */
void incidents_set_config(struct incidents *inc, const struct gw_config *cfg);

/* After a restart: open incidents from the store, keyed by alarm key.
 * Returns how many, or a negative store_err. */
int incidents_load_open(struct incidents *inc);

/* One engine output. RAISED opens an incident (new ULID, event `raised`) or,
 * when one with that key is open, becomes `updated`. UPDATED → `updated`
 * (opens a new incident when none is open and the alarm is active; an
 * inactive incident becoming active again starts a new ack cycle); CLEARED →
 * `cleared`; ACKED → `acked` (nothing when already acked, e.g. by
 * incidents_ack); ESCALATED → `escalated` with "escalated_from"; NORMAL →
 * whatever of cleared/acked has not been said yet; SHELVED/UNSHELVED →
 * `updated` with "shelved". The incident stays open until its workflow
 * closes it. OUT_ACTION and outputs for keys without an open incident that
 * do not open one are ignored (0).
 *
 * Like every call below that changes an incident, returns 0 when the change
 * is accepted, whether it is already written or held in memory because the
 * store failed (nothing is lost; see incidents_pending_count), and a
 * negative errno only when it is rejected or memory ran out. */
int incidents_apply(struct incidents *inc, const struct engine_output *o, int64_t wall_ms);

/* Workflow step from the platform. Legal: raised→dispatched→accepted→
 * resolved→closed, one step at a time, and false_alarm from any open state.
 * closed/false_alarm close the incident (event `closed`), the others give
 * `workflow`; "by" and "note" (may be NULL) go into the event. An illegal
 * or unknown request returns -EINVAL / -ENOENT with a reason in err and
 * writes nothing. Closing forgets the alarm key: read incidents_key_of
 * before, to tell the engine (engine_incident_closed). */
int incidents_workflow(struct incidents *inc, const char *id, const char *to, const char *by,
		       const char *note, int64_t wall_ms, char *err, size_t errlen);
/* incidents_workflow with who the incident is now assigned to: `assignee`
 * when given, else for `accepted` the worker who accepted it (`by`), else
 * unchanged. Kept in the incident's evidence as "_assignee" (so it travels
 * with every later event and survives a restart with the row) and set
 * before the workflow event is built, so that event carries it already. */
int incidents_workflow_assign(struct incidents *inc, const char *id, const char *to, const char *by,
			      const char *note, const char *assignee, int64_t wall_ms, char *err, size_t errlen);
/* Platform incident.close: closes from any open state; to is "closed" or
 * "false_alarm". Same returns as incidents_workflow. */
int incidents_close(struct incidents *inc, const char *id, const char *to, const char *by,
		    const char *note, int64_t wall_ms, char *err, size_t errlen);

/* Local or platform acknowledgement. Writes the one `acked` event at once
 * (with by/note) and copies the alarm key out so the core can call
 * engine_ack(key); the OUT_ACKED that comes back finds the incident acked and
 * adds nothing. alarm_key_out is "" for gateway.* incidents (no engine
 * alarm). Acking an already acked incident is not an error and writes
 * nothing. -ENOENT when no open incident has this id. */
int incidents_ack(struct incidents *inc, const char *id, const char *by, const char *note,
		  int64_t wall_ms, char *alarm_key_out, size_t len);

/* Incidents of the gateway itself (gateway.uplink_down, gateway.storage):
 * active=true raises (or updates the message of) the one open incident of
 * this type; active=false clears it and closes it (events `cleared` and
 * `closed`). */
int incidents_gateway(struct incidents *inc, const char *type, int severity, bool active,
		      const char *message, int64_t wall_ms);

/* gateway.resync: one `updated` event for every open incident. */
int incidents_resync(struct incidents *inc, int64_t wall_ms);

/* Records the outcome of a local action (on_raise/on_clear write or
 * publish) on the evidence of the open incident of alarm_key, as
 * "_actions":[{"action","ok","error","ts"}], and sends it as an `updated`
 * event. -ENOENT when the alarm has no open incident (any more). */
int incidents_note_action(struct incidents *inc, const char *alarm_key, const char *action, bool ok,
			  const char *error, int64_t wall_ms);

/* Records one notification outcome on the evidence of the open incident id,
 * as "_notified":[{"channel","route","step","ts","ok","error"}] (the newest
 * INCIDENTS_NOTIFIED_MAX kept), and sends it as an `updated` event. -ENOENT
 * when the incident is not open (any more). */
#define INCIDENTS_NOTIFIED_MAX 50
int incidents_note_notify(struct incidents *inc, const char *id, const char *channel, int route, int step, bool ok,
			  const char *error, int64_t wall_ms);

/* The notify planner (gateway/notify) to hand every event written to the
 * store, inside its transaction (notify_plan_event). NULL = none. */
struct notify;
void incidents_set_notify(struct incidents *inc, struct notify *n);

/* Writes what is held in memory (see above). Returns 0 when nothing is
 * held any more (or it went into the caller's open transaction), else the
 * store_err that keeps it held. */
int incidents_flush_pending(struct incidents *inc, int64_t wall_ms);

/* A gateway without an uplink has nobody to close its incidents: closes
 * every open rule incident that is cleared and acknowledged and has been
 * both for at least after_ms (measured from the later of its clear and ack
 * times, which the store keeps across restarts), with the same `closed`
 * event as incident.close (by "gateway", a note saying why). closed(ctx,
 * alarm_key) is called for each so the core tells the engine that the next
 * raise is a new incident. Returns how many were closed. after_ms <= 0: none. */
int incidents_auto_close(struct incidents *inc, int64_t after_ms, int64_t wall_ms,
			 void (*closed)(void *ctx, const char *alarm_key), void *ctx);

size_t incidents_open_count(const struct incidents *inc);
/* Alarm key of an open incident, or NULL. Valid until the next call. */
const char *incidents_key_of(const struct incidents *inc, const char *id);
/* Id of the open incident of an alarm key, or NULL. */
const char *incidents_id_of(const struct incidents *inc, const char *alarm_key);
/* The message of the open incident for alarm_key, or NULL. */
const char *incidents_message_of(const struct incidents *inc, const char *alarm_key);
/* Events held in memory, not yet committed to the store. */
size_t incidents_pending_count(const struct incidents *inc);
/* True while the module's gateway.storage incident is raised. */
bool incidents_storage_failing(const struct incidents *inc);

#endif
