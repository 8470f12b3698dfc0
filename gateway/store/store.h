/* store — the gateway's SQLite database (WAL) in state_dir: incidents, the
 * event outbox with its gapless persistent `seq`, device state, a bounded
 * reading history, and the platform commands already applied. It is the only
 * outbox: an event is committed here before it is published, and leaves only
 * when delivered and old.
 *
 * Owned by the core thread (one connection). CLI reads use their own
 * read-only handle via store_open_readonly. All writes of one core-loop
 * iteration are grouped by store_begin/store_commit. */
#ifndef GRIDGW_STORE_H
#define GRIDGW_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config/config.h"

enum store_err {
	STORE_OK = 0,
	STORE_ERR_FULL = -1,      /* SQLITE_FULL, page cap reached or disk full */
	STORE_ERR_READONLY = -2,  /* read-only file system or database */
	STORE_ERR_IO = -3,        /* other I/O or corruption */
	STORE_ERR_NOTFOUND = -4,
	STORE_ERR_INVALID = -5,
};

struct store;

/* Opens (creating or migrating) state_dir/gridgw.db. NULL with err on failure. */
struct store *store_open(const char *state_dir, const struct store_config *sc, char *err, size_t errlen);
struct store *store_open_readonly(const char *state_dir, char *err, size_t errlen);
void store_close(struct store *s);
const char *store_last_error(const struct store *s);

/* Transactions: BEGIN IMMEDIATE / COMMIT / ROLLBACK. After a failed commit
 * the store has rolled back and the reserved seqs are released. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Incidents. Text fields are copied. */
struct incident_row {
	char id[27];              /* ULID */
	char alarm_key[160];      /* engine alarm key, for re-attaching after restart */
	char rule[64];
	char device[64];
	char type[64];
	char kind[32];
	int severity;
	bool active;
	bool acked;
	char workflow[16];        /* raised|dispatched|accepted|resolved|closed|false_alarm */
	int64_t first_ms;         /* wall */
	int64_t last_ms;          /* wall */
	uint32_t count;
	char message[256];
	char *location_json;      /* malloc'd in rows returned by the store */
	char *evidence_json;
	int64_t cleared_ms;       /* wall, last clear of this alarm cycle; 0 = none/unknown (schema v3) */
	int64_t acked_ms;         /* wall, its acknowledgement; 0 = none/unknown */
};
int store_put_incident(struct store *s, const struct incident_row *r);   /* upsert by id */
/* Open = workflow not closed/false_alarm. cb returns 0 to go on. */
int store_each_incident(struct store *s, bool open_only, int limit,
			int (*cb)(void *ctx, const struct incident_row *r), void *ctx);
int store_get_incident(struct store *s, const char *id, struct incident_row *out); /* caller frees json fields */
void incident_row_free_json(struct incident_row *r);

/* Outbox. store_append_event assigns the next seq (gapless: a rolled-back
 * transaction gives its seqs back) and returns it in *seq. */
int store_append_event(struct store *s, const char *incident_id, const char *topic_suffix,
		       const char *payload, size_t len, uint64_t *seq);
/* The seq the next append will get (before it is appended). */
uint64_t store_next_seq(const struct store *s);
struct outbox_event {
	uint64_t seq;
	char *topic_suffix;       /* "incident" */
	char *payload;            /* malloc'd, NUL-terminated */
	size_t len;
};
/* Up to max undelivered events with seq > after_seq, in seq order. */
int store_fetch_undelivered(struct store *s, uint64_t after_seq, int max, struct outbox_event *out, int *n);
void outbox_event_free(struct outbox_event *ev);
int store_mark_delivered(struct store *s, const uint64_t *seqs, int n);
int64_t store_backlog(struct store *s);   /* undelivered events */

/* Device state and reading history. */
int store_put_device_state(struct store *s, const char *device, bool online, int64_t last_good_ms);
int store_add_reading(struct store *s, const char *device, const char *point, double value,
		      int quality, int64_t ts_ms);

/* Platform commands already applied: the stored result is answered again on replay. */
int store_get_command_result(struct store *s, const char *req, char **result_json); /* STORE_ERR_NOTFOUND if new */
int store_put_command_result(struct store *s, const char *req, const char *result_json);

/* Housekeeping: deletes old delivered events, then old history, then old
 * command results, to stay under the size cap. Never deletes undelivered
 * events. Returns STORE_ERR_FULL when the cap is still exceeded after pruning. */
int store_prune(struct store *s, int64_t now_wall_ms);
int64_t store_size_bytes(struct store *s);

/* --- Additions (append-only) ------------------------------------------- */

/* Schema version this build writes (PRAGMA user_version). A file with a
 * newer version is refused; older ones are migrated step by step on open. */
#define STORE_SCHEMA_VERSION 4

/* True between a successful store_begin and the end of that transaction
 * (commit, rollback, or a rollback the store did itself after an error). */
bool store_in_transaction(const struct store *s);

/* One observer of transaction outcomes, called after every outermost
 * transaction ends: committed=true after a successful COMMIT; false after a
 * rollback, with err = the store_err that caused it (0 for a deliberate
 * store_rollback). The incidents module uses it to know when events it wrote
 * into a caller's transaction are durable. The hook must not call the store. */
typedef void (*store_txn_hook)(void *ctx, bool committed, int err);
void store_set_txn_hook(struct store *s, store_txn_hook fn, void *ctx);

/* Highest seq ever committed (0 if none); survives pruning of every row. */
uint64_t store_last_seq(struct store *s);
/* PRAGMA integrity_check: "ok" in buf and 0, or the first problem in buf. */
int store_check_integrity(struct store *s, char *buf, size_t len);
/* Short name of a store_err ("full", "readonly", "io", ...). */
const char *store_err_name(int err);
/* PRAGMA query_only: while on, every write fails with STORE_ERR_READONLY
 * exactly as on a read-only database (tests, maintenance windows). */
int store_set_query_only(struct store *s, bool on);

/* Notification jobs (gateway/notify, schema v2). A job is one notification
 * of one incident event on one channel by one route step; (incident,
 * event_seq, route, channel) is unique, so planning twice adds nothing.
 * Pending jobs are never pruned; finished ones go with delivered events. */
enum { NOTIFY_JOB_PENDING = 0, NOTIFY_JOB_DELIVERED = 1, NOTIFY_JOB_CANCELLED = 2, NOTIFY_JOB_FAILED = 3 };
struct notify_job_row {
	int64_t id;
	char incident_id[27];
	uint64_t event_seq;
	char event[16];           /* raised | cleared | escalated */
	int route;                /* index in notify.routes when planned */
	int step;                 /* 0 first notice, 1 escalation step (after/unless) */
	char channel[64];
	int severity;
	int64_t due_ms;           /* wall */
	int64_t after_ms;
	int unless;               /* enum notify_unless */
	int hours_from, hours_to; /* minutes of the local day, -1 = any time */
	char *template_text;      /* route override or NULL */
	char *payload;            /* the incident event JSON as published */
	int failures;             /* failed attempts recorded on the incident */
	int64_t created_ms;
};
int store_notify_add(struct store *s, const struct notify_job_row *j);
/* Cancels the pending steps of an incident whose `unless` level is <= reached
 * (1 acked, 2 accepted, 3 closed). Returns how many, or a store_err. */
int store_notify_cancel(struct store *s, const char *incident_id, int reached, int64_t now_ms, const char *why);
int store_notify_done(struct store *s, int64_t id, int state, const char *error, int64_t now_ms);
int store_notify_failed(struct store *s, int64_t id, const char *error);
int store_notify_due_at(struct store *s, int64_t id, int64_t due_ms);
/* Earliest due time after after_ms of a pending job; STORE_ERR_NOTFOUND if none. */
int store_notify_next_due(struct store *s, int64_t after_ms, int64_t *due_ms);
/* Pending jobs due by due_by_ms, most severe first, then oldest; the row's
 * strings are valid during the callback only. cb returns non-zero to stop. */
int store_notify_each_due(struct store *s, int64_t due_by_ms, int limit,
			  int (*cb)(void *ctx, const struct notify_job_row *j), void *ctx);
/* Pending jobs per channel. */
int store_notify_pending(struct store *s, int (*cb)(void *ctx, const char *channel, int64_t n), void *ctx);
/* Reads for the console. cb returns 0 to go on. */
/* The events of one incident (its timeline), oldest first; at most limit
 * (the newest kept). Events pruned after delivery are gone. */
int store_each_event_of(struct store *s, const char *incident_id, int limit,
			int (*cb)(void *ctx, uint64_t seq, const char *payload), void *ctx);
/* Committed events with seq > after_seq, delivered or not, in seq order, at
 * most max. Returns how many were handed to cb, or a negative store_err. */
int store_each_event_after(struct store *s, uint64_t after_seq, int max,
			   int (*cb)(void *ctx, uint64_t seq, const char *payload), void *ctx);
/* Sampled readings of a device (point NULL or "" = all points) with
 * ts_ms >= since_ms, oldest first; at most limit (the newest kept). */
int store_each_reading(struct store *s, const char *device, const char *point, int64_t since_ms, int limit,
		       int (*cb)(void *ctx, const char *point, double value, int quality, int64_t ts_ms), void *ctx);

/* Incident ids beginning with prefix (as `git` resolves abbreviations),
 * in id order: the first max go into ids, *n gets how many matched in all. */
int store_find_incident_prefix(struct store *s, const char *prefix, char (*ids)[27], int max, int *n);

/* This store's identity (meta.store_id): a ULID made when the store is
 * created (or when this build first opens an older file without one) and
 * kept for the store's life. Every event carries it as `store`, so a
 * platform tells a new store (seq starting at 1 again) from a replay by
 * (gateway, store, seq). "" for a read-only handle on a file without one. */
const char *store_id(const struct store *s);

/* What store_open_recover found and did. reason is "" when the file was
 * fine (or missing: a first start); otherwise it says why a new store was
 * started, for the gateway.storage incident. */
struct store_recovery {
	bool replaced;            /* the old file was moved aside, a new store started */
	bool was_empty;           /* …because it was 0 bytes (no WAL either) */
	char reason[256];
	char moved_to[PATH_MAX];  /* where the old file (and its -wal/-shm) went */
};

/* store_open for the daemon's start: a file that SQLite calls corrupt or
 * "not a database", that fails PRAGMA quick_check, or that is 0 bytes long
 * is moved aside to gridgw.db.corrupt-<UTC time> (with its -wal and -shm,
 * byte for byte) and a new store, with a new store id, is opened in its
 * place; rec says so. A file that cannot be read or written (permissions, a
 * read-only file system, I/O errors) is never moved: that is an error, as
 * is a file whose schema is newer than this build. */
struct store *store_open_recover(const char *state_dir, const struct store_config *sc,
				 struct store_recovery *rec, char *err, size_t errlen);

#endif
