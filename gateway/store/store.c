/* store — the gateway's SQLite database; see store.h for the interface and
 * docs/store.md for the schema and the durability choices.
 *
 * Invariants this file keeps:
 *  - Outbox seqs are gapless: next_seq is handed out by store_append_event
 *    and only becomes permanent when the row commits. Whenever a transaction
 *    ends without committing (deliberate rollback, a failed COMMIT, or a
 *    rollback we do ourselves after SQLITE_FULL / read-only / I/O errors)
 *    next_seq goes back to committed_next.
 *  - The seq counter never goes back after pruning: meta.last_seq records
 *    the high-water mark before any event row is deleted, and open takes
 *    max(max(seq), meta.last_seq) + 1.
 *  - Undelivered events are never deleted.
 *  - An event is delivered iff it has a row in `delivered` (schema v4);
 *    such a row exists only beside its event and is deleted with it.
 *  - floor never passes an undelivered event (see struct store).
 *  - No call aborts or crashes on an SQLite error: everything is mapped to
 *    enum store_err, kept for store_last_error and logged (rate-limited). */
#include "gateway/store/store.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "common/ulid.h"

#define STORE_DB_NAME "gridgw.db"
#define BUSY_TIMEOUT_MS 5000
/* WAL file size kept after a checkpoint; bigger WALs are truncated to it. */
#define JOURNAL_SIZE_LIMIT (4 * 1024 * 1024)
#define STORE_CACHE_KIB 512          /* SQLite page cache per connection */
/* store_prune works towards this share of the page cap, so that the deletes
 * and the WAL have room before SQLITE_FULL is hit. */
#define PRUNE_TARGET_PERCENT 90
#define PRUNE_CHUNK 500

/* Schema steps: migrations[i] takes user_version i to i + 1. A new version
 * appends one entry and bumps STORE_SCHEMA_VERSION; old steps never change. */
static const char *const migrations[] = {
	/* v0 -> v1: the first schema. */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('last_seq', 0);"
	"CREATE TABLE incidents ("
	"  id TEXT PRIMARY KEY, alarm_key TEXT NOT NULL, rule TEXT NOT NULL,"
	"  device TEXT NOT NULL, type TEXT NOT NULL, kind TEXT NOT NULL,"
	"  severity INTEGER NOT NULL, active INTEGER NOT NULL, acked INTEGER NOT NULL,"
	"  workflow TEXT NOT NULL, is_open INTEGER NOT NULL,"
	"  first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, count INTEGER NOT NULL,"
	"  message TEXT NOT NULL, location_json TEXT, evidence_json TEXT);"
	"CREATE INDEX incidents_open ON incidents (is_open, first_ms);"
	"CREATE INDEX incidents_first ON incidents (first_ms);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY, incident_id TEXT, topic_suffix TEXT NOT NULL,"
	"  payload TEXT NOT NULL, created_ms INTEGER NOT NULL, delivered_ms INTEGER);"
	"CREATE INDEX events_undelivered ON events (seq) WHERE delivered_ms IS NULL;"
	"CREATE INDEX events_delivered ON events (delivered_ms) WHERE delivered_ms IS NOT NULL;"
	"CREATE TABLE device_state ("
	"  device TEXT PRIMARY KEY, online INTEGER NOT NULL, last_good_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL);"
	"CREATE TABLE readings ("
	"  id INTEGER PRIMARY KEY, device TEXT NOT NULL, point TEXT NOT NULL, value REAL,"
	"  quality INTEGER NOT NULL, ts_ms INTEGER NOT NULL);"
	"CREATE INDEX readings_ts ON readings (ts_ms);"
	"CREATE INDEX readings_point ON readings (device, point, ts_ms);"
	"CREATE TABLE commands ("
	"  req TEXT PRIMARY KEY, result_json TEXT NOT NULL, ts_ms INTEGER NOT NULL);"
	"CREATE INDEX commands_ts ON commands (ts_ms);",
	/* v1 -> v2: notification jobs (gateway/notify), written in the same
	 * transaction as the incident event that caused them. state: 0 pending,
	 * 1 delivered, 2 cancelled (its `unless` state was reached), 3 failed
	 * for good (its channel left the configuration). */
	"CREATE TABLE notify_jobs ("
	"  id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL, event_seq INTEGER NOT NULL,"
	"  event TEXT NOT NULL, route INTEGER NOT NULL, step INTEGER NOT NULL, channel TEXT NOT NULL,"
	"  severity INTEGER NOT NULL, due_ms INTEGER NOT NULL, after_ms INTEGER NOT NULL,"
	"  unless INTEGER NOT NULL, hours_from INTEGER NOT NULL, hours_to INTEGER NOT NULL,"
	"  template TEXT, payload TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, done_ms INTEGER, error TEXT,"
	"  UNIQUE (incident_id, event_seq, route, channel));"
	"CREATE INDEX notify_jobs_due ON notify_jobs (due_ms) WHERE state = 0;"
	"CREATE INDEX notify_jobs_incident ON notify_jobs (incident_id) WHERE state = 0;"
	"CREATE INDEX notify_jobs_done ON notify_jobs (done_ms) WHERE state != 0;",
	/* v2 -> v3: when the alarm last cleared and was last acknowledged (wall
	 * ms, NULL = not in this cycle or unknown in an older row), so the local
	 * auto-close of a gateway without an uplink measures from them across
	 * restarts. */
	("ALTER TABLE incidents ADD COLUMN cleared_ms INTEGER;"
	 "ALTER TABLE incidents ADD COLUMN acked_ms INTEGER;"),
	/* v3 -> v4: delivery marks move out of the payload rows into their own
	 * table of small rows. Marking by UPDATE rewrote an ~800-byte row and
	 * moved it between two partial indexes, ~20 us per event: the whole gap
	 * between the outbox drain and bare Paho (docs/benchmarks.md, #12
	 * target 5). A row in `delivered` now means delivered; events.delivered_ms
	 * stays as a dead column (dropping it would rewrite the whole table at
	 * the upgrade) and is no longer written or read. The indexes go first so
	 * their pages can take the copied marks. */
	("DROP INDEX IF EXISTS events_undelivered;"
	 "DROP INDEX IF EXISTS events_delivered;"
	 "CREATE TABLE delivered (seq INTEGER PRIMARY KEY, delivered_ms INTEGER NOT NULL);"
	 "INSERT INTO delivered (seq, delivered_ms)"
	 "  SELECT seq, delivered_ms FROM events WHERE delivered_ms IS NOT NULL;"),
};
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

enum stmt_id {
	SQ_BEGIN, SQ_COMMIT, SQ_ROLLBACK,
	SQ_APPEND, SQ_MARK, SQ_FETCH, SQ_BACKLOG, SQ_FLOOR,
	SQ_PUT_INCIDENT, SQ_GET_INCIDENT,
	SQ_DEVICE_STATE, SQ_READING,
	SQ_CMD_GET, SQ_CMD_PUT,
	SQ_NOTIFY_ADD, SQ_NOTIFY_CANCEL, SQ_NOTIFY_DONE, SQ_NOTIFY_FAILED, SQ_NOTIFY_DUE_AT, SQ_NOTIFY_NEXT,
	SQ_COUNT
};

static const char *const stmt_sql[SQ_COUNT] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_APPEND] = "INSERT INTO events (seq, incident_id, topic_suffix, payload, created_ms)"
		      " VALUES (?1, ?2, ?3, ?4, ?5)",
	/* Only for an event still there: a late repeat PUBACK of a pruned event
	 * must not leave a mark without its row. The first mark's time stays. */
	[SQ_MARK] = "INSERT OR IGNORE INTO delivered (seq, delivered_ms)"
		    " SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM events WHERE seq = ?1)",
	[SQ_FETCH] = "SELECT e.seq, e.topic_suffix, e.payload FROM events e WHERE e.seq > ?1"
		     " AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.seq = e.seq) ORDER BY e.seq LIMIT ?2",
	[SQ_BACKLOG] = "SELECT count(*) FROM events e WHERE e.seq >= ?1"
		       " AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.seq = e.seq)",
	[SQ_FLOOR] = "SELECT e.seq FROM events e WHERE e.seq >= ?1"
		     " AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.seq = e.seq) ORDER BY e.seq LIMIT 1",
	[SQ_PUT_INCIDENT] =
		"INSERT INTO incidents (id, alarm_key, rule, device, type, kind, severity, active,"
		" acked, workflow, is_open, first_ms, last_ms, count, message, location_json, evidence_json,"
		" cleared_ms, acked_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
		" ON CONFLICT (id) DO UPDATE SET alarm_key = excluded.alarm_key, rule = excluded.rule,"
		" device = excluded.device, type = excluded.type, kind = excluded.kind,"
		" severity = excluded.severity, active = excluded.active, acked = excluded.acked,"
		" workflow = excluded.workflow, is_open = excluded.is_open, first_ms = excluded.first_ms,"
		" last_ms = excluded.last_ms, count = excluded.count, message = excluded.message,"
		" location_json = excluded.location_json, evidence_json = excluded.evidence_json,"
		" cleared_ms = excluded.cleared_ms, acked_ms = excluded.acked_ms",
	[SQ_GET_INCIDENT] = "SELECT id, alarm_key, rule, device, type, kind, severity, active, acked,"
			    " workflow, first_ms, last_ms, count, message, location_json, evidence_json, cleared_ms, acked_ms"
			    " FROM incidents WHERE id = ?1",
	[SQ_DEVICE_STATE] = "INSERT INTO device_state (device, online, last_good_ms, updated_ms)"
			    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device) DO UPDATE SET"
			    " online = excluded.online, last_good_ms = excluded.last_good_ms,"
			    " updated_ms = excluded.updated_ms",
	[SQ_READING] = "INSERT INTO readings (device, point, value, quality, ts_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQ_CMD_GET] = "SELECT result_json FROM commands WHERE req = ?1",
	[SQ_CMD_PUT] = "INSERT INTO commands (req, result_json, ts_ms) VALUES (?1, ?2, ?3)"
		       " ON CONFLICT (req) DO UPDATE SET result_json = excluded.result_json, ts_ms = excluded.ts_ms",
	[SQ_NOTIFY_ADD] = "INSERT OR IGNORE INTO notify_jobs (incident_id, event_seq, event, route, step, channel,"
			  " severity, due_ms, after_ms, unless, hours_from, hours_to, template, payload, created_ms)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	[SQ_NOTIFY_CANCEL] = "UPDATE notify_jobs SET state = 2, done_ms = ?3, error = ?4"
			     " WHERE incident_id = ?1 AND state = 0 AND unless > 0 AND unless <= ?2",
	[SQ_NOTIFY_DONE] = "UPDATE notify_jobs SET state = ?2, done_ms = ?3, error = ?4 WHERE id = ?1 AND state = 0",
	[SQ_NOTIFY_FAILED] = "UPDATE notify_jobs SET failures = failures + 1, error = ?2 WHERE id = ?1 AND state = 0",
	[SQ_NOTIFY_DUE_AT] = "UPDATE notify_jobs SET due_ms = ?2 WHERE id = ?1 AND state = 0",
	[SQ_NOTIFY_NEXT] = "SELECT min(due_ms) FROM notify_jobs WHERE state = 0 AND due_ms > ?1",
};

struct store {
	sqlite3 *db;
	bool readonly;
	char path[PATH_MAX];
	int64_t history_keep_ms;
	int64_t delivered_keep_ms;
	int64_t max_pages;        /* 0 = no cap */
	int64_t page_size;
	uint64_t next_seq;        /* the seq the next append gets */
	uint64_t committed_next;  /* next_seq as of the last commit */
	/* Every event with seq < floor is delivered (or gone): the outbox scans
	 * for undelivered events from here, not from the oldest kept delivered
	 * one. Only ever a lower bound, never past an undelivered event: it moves
	 * up only to the first undelivered seq seen (or next_seq when none is),
	 * and back to committed_floor when a transaction that may have written
	 * the marks it stands on is rolled back. */
	uint64_t floor;
	uint64_t committed_floor; /* floor as of the last commit */
	bool in_txn;
	bool lazy;                /* store_begin called, BEGIN not yet run: no write so far */
	int aborted;              /* store_err of a transaction we rolled back ourselves */
	store_txn_hook hook;
	void *hook_ctx;
	sqlite3_stmt *st[SQ_COUNT];
	char id[ULID_LEN + 1];    /* meta.store_id: this store's identity, "" if none */
	struct log_ratelimit rl;
	char err[512];
};

const char *store_err_name(int err)
{
	switch (err) {
	case STORE_OK: return "ok";
	case STORE_ERR_FULL: return "full";
	case STORE_ERR_READONLY: return "readonly";
	case STORE_ERR_IO: return "io";
	case STORE_ERR_NOTFOUND: return "notfound";
	case STORE_ERR_INVALID: return "invalid";
	}
	return "unknown";
}

/* SQLite result (extended codes are on) -> store_err. Disk-level errno is
 * looked at too: a remount read-only shows up as SQLITE_IOERR_WRITE + EROFS. */
static int map_rc(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return STORE_OK;
	case SQLITE_FULL:
		return STORE_ERR_FULL;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return STORE_ERR_READONLY;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		if (sys == EROFS || sys == EACCES || sys == EPERM)
			return STORE_ERR_READONLY;
		if (sys == ENOSPC || sys == EDQUOT)
			return STORE_ERR_FULL;
		return STORE_ERR_IO;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG:
		return STORE_ERR_INVALID;
	default:
		return STORE_ERR_IO;
	}
}

static void store_log(struct store *s, enum log_level lvl, const char *msg)
{
	unsigned long suppressed = 0;
	if (!log_ratelimit_ok(&s->rl, &suppressed))
		return;
	if (suppressed)
		log_msg(lvl, "store", "%s (%lu similar messages suppressed)", msg, suppressed);
	else
		log_msg(lvl, "store", "%s", msg);
}

static void set_err(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
}

/* Ends the bookkeeping of a transaction that did not commit: releases the
 * seqs it reserved and tells the observer. */
static void txn_ended_failed(struct store *s, int err)
{
	s->in_txn = false;
	s->lazy = false;
	s->next_seq = s->committed_next;
	s->floor = s->committed_floor; /* its marks may be gone with the rollback */
	if (s->hook)
		s->hook(s->hook_ctx, false, err);
}

/* Records and logs a failed SQLite call; returns the store_err. When the
 * failure is about the disk (full, read-only, I/O) inside a transaction, the
 * whole transaction is rolled back here: SQLite may or may not have done so
 * already, and a half-written batch must not be committed later. */
static int fail(struct store *s, int rc, const char *what)
{
	int err = map_rc(s->db, rc);
	int sys = sqlite3_system_errno(s->db);
	char line[sizeof s->err];
	if (sys && (rc & 0xff) != SQLITE_CONSTRAINT)
		snprintf(line, sizeof line, "%s: %s (%s, %s)", what, sqlite3_errmsg(s->db),
			 store_err_name(err), strerror(sys));
	else
		snprintf(line, sizeof line, "%s: %s (%s)", what, sqlite3_errmsg(s->db), store_err_name(err));
	memcpy(s->err, line, sizeof s->err);
	store_log(s, err == STORE_ERR_INVALID || err == STORE_ERR_NOTFOUND ? LOG_LVL_WARN : LOG_LVL_ERROR, line);
	if (s->in_txn) {
		bool sqlite_rolled_back = sqlite3_get_autocommit(s->db) != 0;
		bool disk = err == STORE_ERR_FULL || err == STORE_ERR_READONLY || err == STORE_ERR_IO;
		if (disk || sqlite_rolled_back) {
			if (!sqlite_rolled_back) {
				int rrc = sqlite3_step(s->st[SQ_ROLLBACK]);
				sqlite3_reset(s->st[SQ_ROLLBACK]);
				if (rrc != SQLITE_DONE)
					log_error("store", "rollback after error failed: %s", sqlite3_errmsg(s->db));
			}
			s->aborted = err;
			txn_ended_failed(s, err);
			store_log(s, LOG_LVL_WARN, "transaction rolled back; its events stay with their producer");
		}
	}
	return err;
}

/* store_begin only marks the transaction wanted; BEGIN IMMEDIATE runs
 * before its first write. The core opens one per loop iteration, and most
 * iterations under a stream of unchanged readings write nothing: an empty
 * BEGIN/COMMIT per iteration was most of the daemon's SQLite time. */
static int begin_if_lazy(struct store *s)
{
	if (!s->lazy)
		return STORE_OK;
	s->lazy = false;
	int rc = sqlite3_step(s->st[SQ_BEGIN]);
	sqlite3_reset(s->st[SQ_BEGIN]);
	return rc == SQLITE_DONE ? STORE_OK : fail(s, rc, "begin");
}

/* Steps a statement expected to finish without rows; resets it. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	if (s->lazy && st != s->st[SQ_BEGIN] && !sqlite3_stmt_readonly(st)) {
		int brc = begin_if_lazy(s);
		if (brc != STORE_OK) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return brc;
		}
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return STORE_OK;
	return fail(s, rc, what);
}

/* Runs SQL without a result (may be several statements). */
static int exec_sql(struct store *s, const char *sql, const char *what)
{
	int brc = begin_if_lazy(s);
	if (brc != STORE_OK)
		return brc;
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	sqlite3_free(msg);
	if (rc == SQLITE_OK)
		return STORE_OK;
	return fail(s, rc, what);
}

/* Runs a statement returning one integer (PRAGMA x, SELECT count). */
static int query_int(struct store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
		while (rc == SQLITE_ROW) /* PRAGMAs such as incremental_vacuum return several */
			rc = sqlite3_step(st);
	} else if (rc == SQLITE_DONE) {
		*out = 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, sql);
	return STORE_OK;
}

/* Runs a PRAGMA returning text (journal_mode); copies the first row. */
static int query_text(struct store *s, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, sql);
	buf[0] = '\0';
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(buf, len, "%s", t ? (const char *)t : "");
		while (rc == SQLITE_ROW)
			rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, sql);
	return STORE_OK;
}

static int migrate(struct store *s)
{
	int64_t version = 0;
	int rc = query_int(s, "PRAGMA user_version", &version);
	if (rc != STORE_OK)
		return rc;
	if (version > STORE_SCHEMA_VERSION) {
		set_err(s, "%s: schema version %lld is newer than this gridgw understands (%d); "
			"refusing to touch it", s->path, (long long)version, STORE_SCHEMA_VERSION);
		log_error("store", "%s", s->err);
		return STORE_ERR_INVALID;
	}
	for (int64_t v = version; v < STORE_SCHEMA_VERSION; v++) {
		/* Each step commits on its own, so an interrupted upgrade resumes
		 * from the last finished version. */
		char sql[64];
		rc = exec_sql(s, "BEGIN IMMEDIATE", "begin migration");
		if (rc != STORE_OK)
			return rc;
		rc = exec_sql(s, migrations[v], "migrate schema");
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)(v + 1));
		if (rc == STORE_OK)
			rc = exec_sql(s, sql, "set user_version");
		if (rc == STORE_OK)
			rc = exec_sql(s, "COMMIT", "commit migration");
		if (rc != STORE_OK) {
			if (!sqlite3_get_autocommit(s->db) && sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
				log_error("store", "rollback of migration failed: %s", sqlite3_errmsg(s->db));
			char why[512];
			snprintf(why, sizeof why, "%s", s->err);
			set_err(s, "%s: migrating schema v%lld -> v%lld failed: %s", s->path, (long long)v,
				(long long)(v + 1), why);
			log_error("store", "%s", s->err);
			return rc;
		}
		log_info("store", "%s: schema migrated v%lld -> v%lld", s->path, (long long)v, (long long)(v + 1));
	}
	return STORE_OK;
}

static int prepare_all(struct store *s)
{
	for (int i = 0; i < SQ_COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc, "prepare statement");
	}
	return STORE_OK;
}

/* next seq = max(max(seq), meta.last_seq) + 1: the meta row keeps the count
 * going after pruning deleted every row. */
static int load_seq(struct store *s)
{
	int64_t max_seq = 0, meta = 0;
	int rc = query_int(s, "SELECT coalesce(max(seq), 0) FROM events", &max_seq);
	if (rc == STORE_OK)
		rc = query_int(s, "SELECT coalesce((SELECT value FROM meta WHERE key = 'last_seq'), 0)", &meta);
	if (rc != STORE_OK)
		return rc;
	int64_t last = max_seq > meta ? max_seq : meta;
	s->next_seq = (uint64_t)last + 1;
	s->committed_next = s->next_seq;
	return STORE_OK;
}

/* meta.store_id: a ULID made once, when this build first opens the file
 * (a new store, or an older file that had none), and never changed. Every
 * event carries it, so a platform tells a new store starting again at seq 1
 * (after a corrupt or lost file was replaced) from a replay of old seqs.
 * meta.value has INTEGER affinity: an id of digits only would be stored as a
 * number, so such an id is never made (and one read back must be text). */
static int load_id(struct store *s, bool create)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'store_id'", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "read store id");
	s->id[0] = '\0';
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
		snprintf(s->id, sizeof s->id, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc, "read store id");
	if (ulid_valid(s->id) || !create)
		return STORE_OK;
	if (rc == SQLITE_ROW)
		log_warn("store", "%s: meta.store_id is not a valid id; making a new one", s->path);
	struct ulid_gen g;
	ulid_gen_init(&g);
	char id[ULID_LEN + 1];
	do {
		if (ulid_generate(&g, time_wall_ms(), id) != 0) {
			set_err(s, "%s: no randomness for the store id", s->path);
			log_error("store", "%s", s->err);
			return STORE_ERR_IO;
		}
	} while (strspn(id, "0123456789") == ULID_LEN);
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta (key, value) VALUES ('store_id', '%s')", id);
	rc = exec_sql(s, sql, "write store id");
	if (rc != STORE_OK) {
		/* A full or read-only disk at an upgrade must not stop alarming:
		 * the id is written at a later start that can write. */
		log_warn("store", "%s: cannot record a store id (%s); events carry none until it is written",
			 s->path, store_err_name(rc));
		return STORE_OK;
	}
	memcpy(s->id, id, sizeof s->id);
	log_info("store", "%s: new store id %s", s->path, s->id);
	return STORE_OK;
}

static int apply_pragmas(struct store *s, const struct store_config *sc, bool is_new)
{
	char buf[32];
	int rc;
	if (is_new) {
		/* Must precede the first table; later it needs a full VACUUM. */
		rc = exec_sql(s, "PRAGMA auto_vacuum = INCREMENTAL", "auto_vacuum");
		if (rc != STORE_OK)
			return rc;
	}
	rc = query_text(s, "PRAGMA journal_mode = WAL", buf, sizeof buf);
	if (rc != STORE_OK)
		return rc;
	if (strcmp(buf, "wal") != 0) {
		set_err(s, "%s: cannot switch to WAL (journal_mode is '%s')", s->path, buf);
		log_error("store", "%s", s->err);
		return STORE_ERR_IO;
	}
	const char *sync = sc && sc->synchronous ? sc->synchronous : "full";
	if (strcmp(sync, "full") == 0)
		rc = exec_sql(s, "PRAGMA synchronous = FULL", "synchronous");
	else if (strcmp(sync, "normal") == 0)
		rc = exec_sql(s, "PRAGMA synchronous = NORMAL", "synchronous");
	else {
		set_err(s, "store.synchronous must be \"full\" or \"normal\", not \"%s\"", sync);
		return STORE_ERR_INVALID;
	}
	if (rc == STORE_OK) /* Debian enables secure_delete: zeroing freed pages wears flash. */
		rc = exec_sql(s, "PRAGMA secure_delete = OFF", "secure_delete");
	if (rc == STORE_OK) {
		/* The page cache is bounded for the 8 MB RSS target (#12): the hot
		 * set is the outbox head and open incidents, a few dozen pages;
		 * SQLite's default (2 MB per connection) only fills with pages of
		 * history and pruning scans that are read once. */
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", STORE_CACHE_KIB);
		rc = exec_sql(s, sql, "cache_size");
	}
	if (rc == STORE_OK) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", JOURNAL_SIZE_LIMIT);
		int64_t v;
		rc = query_int(s, sql, &v);
	}
	return rc;
}

/* The page cap: SQLITE_FULL from here, well before the disk itself fills,
 * so there is room left for the deletes and the WAL that free space. */
static int apply_cap(struct store *s, int64_t max_size_mb)
{
	int64_t v = 0;
	int rc = query_int(s, "PRAGMA page_size", &s->page_size);
	if (rc != STORE_OK)
		return rc;
	if (s->page_size <= 0)
		s->page_size = 4096;
	if (max_size_mb <= 0) {
		s->max_pages = 0;
		return STORE_OK;
	}
	int64_t want = max_size_mb * 1024 * 1024 / s->page_size;
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)want);
	rc = query_int(s, sql, &v);
	if (rc != STORE_OK)
		return rc;
	s->max_pages = v;
	if (v > want)
		log_warn("store", "%s is already larger (%lld pages) than store.max_size_mb = %lld; "
			 "pruning will work it down", s->path, (long long)v, (long long)max_size_mb);
	struct statvfs fs;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", s->path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (statvfs(slash ? dir : ".", &fs) == 0) {
		int64_t avail = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
		int64_t size = 0;
		if (query_int(s, "PRAGMA page_count", &size) == STORE_OK &&
		    avail + size * s->page_size < want * s->page_size + JOURNAL_SIZE_LIMIT)
			log_warn("store", "store.max_size_mb = %lld is more than the disk has free (%lld MB): "
				 "the disk would fill before the cap", (long long)max_size_mb,
				 (long long)(avail / (1024 * 1024)));
	}
	return STORE_OK;
}

static struct store *store_new(const char *state_dir, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(5, 10000);
	s->rl = rl;
	int n = snprintf(s->path, sizeof s->path, "%s/%s", state_dir, STORE_DB_NAME);
	if (n < 0 || (size_t)n >= sizeof s->path) {
		snprintf(err, errlen, "state_dir path too long");
		free(s);
		return NULL;
	}
	s->history_keep_ms = 7LL * 86400 * 1000;
	s->delivered_keep_ms = 86400LL * 1000;
	s->floor = s->committed_floor = 1; /* seqs start at 1 */
	return s;
}

static void store_fail_open(struct store *s, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", s->err[0] ? s->err : "cannot open store");
	store_close(s);
}

struct store *store_open(const char *state_dir, const struct store_config *sc, char *err, size_t errlen)
{
	if (!state_dir || !*state_dir) {
		snprintf(err, errlen, "no state_dir");
		return NULL;
	}
	if (mkdir(state_dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create state_dir %s: %s", state_dir, strerror(errno));
		return NULL;
	}
	struct store *s = store_new(state_dir, err, errlen);
	if (!s)
		return NULL;
	if (sc) {
		s->history_keep_ms = sc->history_keep_ms;
		s->delivered_keep_ms = sc->delivered_keep_ms;
	}
	struct stat stbuf;
	bool is_new = stat(s->path, &stbuf) != 0 || stbuf.st_size == 0;
	/* One connection owned by the core thread: no SQLite mutexes needed. */
	int rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		set_err(s, "cannot open %s: %s (%s)", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
			store_err_name(map_rc(s->db, rc)));
		log_error("store", "%s", s->err);
		store_fail_open(s, err, errlen);
		return NULL;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (apply_pragmas(s, sc, is_new) != STORE_OK || migrate(s) != STORE_OK || load_id(s, true) != STORE_OK ||
	    apply_cap(s, sc ? sc->max_size_mb : 256) != STORE_OK || prepare_all(s) != STORE_OK ||
	    load_seq(s) != STORE_OK) {
		store_fail_open(s, err, errlen);
		return NULL;
	}
	int64_t av = 0;
	if (query_int(s, "PRAGMA auto_vacuum", &av) == STORE_OK && av != 2)
		log_info("store", "%s was created without auto_vacuum=INCREMENTAL; freed pages are reused "
			 "but the file does not shrink", s->path);
	log_info("store", "opened %s (store %s, next seq %llu, cap %lld pages)", s->path, s->id,
		 (unsigned long long)s->next_seq, (long long)s->max_pages);
	return s;
}

struct store *store_open_readonly(const char *state_dir, char *err, size_t errlen)
{
	if (!state_dir || !*state_dir) {
		snprintf(err, errlen, "no state_dir");
		return NULL;
	}
	struct store *s = store_new(state_dir, err, errlen);
	if (!s)
		return NULL;
	s->readonly = true;
	int rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		set_err(s, "cannot open %s read-only: %s", s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		store_fail_open(s, err, errlen);
		return NULL;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	int64_t version = 0;
	if (query_int(s, "PRAGMA user_version", &version) != STORE_OK) {
		store_fail_open(s, err, errlen);
		return NULL;
	}
	if (version != STORE_SCHEMA_VERSION) {
		set_err(s, "%s has schema version %lld, this gridgw reads %d%s", s->path, (long long)version,
			STORE_SCHEMA_VERSION, version < STORE_SCHEMA_VERSION ? " (start the daemon once to migrate it)" : "");
		store_fail_open(s, err, errlen);
		return NULL;
	}
	if (apply_cap(s, 0) != STORE_OK || prepare_all(s) != STORE_OK || load_seq(s) != STORE_OK ||
	    load_id(s, false) != STORE_OK) {
		store_fail_open(s, err, errlen);
		return NULL;
	}
	return s;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->in_txn) {
		log_warn("store", "closing with an open transaction: rolled back");
		store_rollback(s);
	}
	for (int i = 0; i < SQ_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_error("store", "close %s: %s", s->path, sqlite3_errmsg(s->db));
	free(s);
}

const char *store_id(const struct store *s)
{
	return s ? s->id : "";
}

const char *store_last_error(const struct store *s)
{
	return s ? s->err : "no store";
}

bool store_in_transaction(const struct store *s)
{
	return s->in_txn;
}

void store_set_txn_hook(struct store *s, store_txn_hook fn, void *ctx)
{
	s->hook = fn;
	s->hook_ctx = ctx;
}

int store_begin(struct store *s)
{
	if (s->in_txn) {
		set_err(s, "store_begin: a transaction is already open");
		log_error("store", "%s", s->err);
		return STORE_ERR_INVALID;
	}
	s->aborted = 0;
	if (s->readonly) {
		/* SQLite would begin and fail only at the first write. */
		set_err(s, "%s is open read-only", s->path);
		return STORE_ERR_READONLY;
	}
	s->in_txn = true;
	s->lazy = true; /* BEGIN IMMEDIATE at the first write: begin_if_lazy */
	return STORE_OK;
}

int store_commit(struct store *s)
{
	if (!s->in_txn) {
		if (s->aborted) {
			/* The transaction was rolled back by an earlier error: report it. */
			int e = s->aborted;
			s->aborted = 0;
			return e;
		}
		set_err(s, "store_commit: no transaction open");
		return STORE_ERR_INVALID;
	}
	if (s->lazy) {
		/* Nothing was written: nothing to commit. */
		s->lazy = false;
		s->in_txn = false;
		s->committed_next = s->next_seq;
		s->committed_floor = s->floor;
		if (s->hook)
			s->hook(s->hook_ctx, true, STORE_OK);
		return STORE_OK;
	}
	int rc = sqlite3_step(s->st[SQ_COMMIT]);
	sqlite3_reset(s->st[SQ_COMMIT]);
	if (rc == SQLITE_DONE) {
		s->in_txn = false;
		s->committed_next = s->next_seq;
		s->committed_floor = s->floor;
		if (s->hook)
			s->hook(s->hook_ctx, true, STORE_OK);
		return STORE_OK;
	}
	int err = fail(s, rc, "commit");
	if (s->in_txn) {
		/* fail() rolls back only disk errors; a failed COMMIT is always the end. */
		if (!sqlite3_get_autocommit(s->db)) {
			int rrc = sqlite3_step(s->st[SQ_ROLLBACK]);
			sqlite3_reset(s->st[SQ_ROLLBACK]);
			if (rrc != SQLITE_DONE)
				log_error("store", "rollback after failed commit: %s", sqlite3_errmsg(s->db));
		}
		txn_ended_failed(s, err);
	}
	s->aborted = 0;
	return err;
}

void store_rollback(struct store *s)
{
	if (!s->in_txn) {
		s->aborted = 0;
		return;
	}
	s->lazy = false;
	if (!sqlite3_get_autocommit(s->db)) {
		int rc = sqlite3_step(s->st[SQ_ROLLBACK]);
		sqlite3_reset(s->st[SQ_ROLLBACK]);
		if (rc != SQLITE_DONE)
			log_error("store", "rollback: %s", sqlite3_errmsg(s->db));
	}
	txn_ended_failed(s, STORE_OK);
}

/* For calls made outside a transaction that write several rows: one own
 * transaction instead of one fsync per row. */
static int own_begin(struct store *s, bool *own)
{
	*own = !s->in_txn;
	return *own ? store_begin(s) : STORE_OK;
}

static int own_end(struct store *s, bool own, int rc)
{
	if (!own)
		return rc;
	if (rc == STORE_OK)
		return store_commit(s);
	store_rollback(s);
	return rc;
}

static int delete_with(struct store *s, const char *sql, int64_t arg, const char *what, int *changed);

/* ---- incidents ---- */

static int bind_text(sqlite3_stmt *st, int i, const char *t)
{
	return t ? sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static bool workflow_is_open(const char *wf)
{
	return strcmp(wf, "closed") != 0 && strcmp(wf, "false_alarm") != 0;
}

int store_put_incident(struct store *s, const struct incident_row *r)
{
	if (!r || !r->id[0] || !r->workflow[0]) {
		set_err(s, "store_put_incident: incomplete row");
		return STORE_ERR_INVALID;
	}
	sqlite3_stmt *st = s->st[SQ_PUT_INCIDENT];
	int rc = SQLITE_OK;
	rc |= bind_text(st, 1, r->id);
	rc |= bind_text(st, 2, r->alarm_key);
	rc |= bind_text(st, 3, r->rule);
	rc |= bind_text(st, 4, r->device);
	rc |= bind_text(st, 5, r->type);
	rc |= bind_text(st, 6, r->kind);
	rc |= sqlite3_bind_int(st, 7, r->severity);
	rc |= sqlite3_bind_int(st, 8, r->active);
	rc |= sqlite3_bind_int(st, 9, r->acked);
	rc |= bind_text(st, 10, r->workflow);
	rc |= sqlite3_bind_int(st, 11, workflow_is_open(r->workflow));
	rc |= sqlite3_bind_int64(st, 12, r->first_ms);
	rc |= sqlite3_bind_int64(st, 13, r->last_ms);
	rc |= sqlite3_bind_int64(st, 14, r->count);
	rc |= bind_text(st, 15, r->message);
	rc |= bind_text(st, 16, r->location_json);
	rc |= bind_text(st, 17, r->evidence_json);
	rc |= r->cleared_ms > 0 ? sqlite3_bind_int64(st, 18, r->cleared_ms) : sqlite3_bind_null(st, 18);
	rc |= r->acked_ms > 0 ? sqlite3_bind_int64(st, 19, r->acked_ms) : sqlite3_bind_null(st, 19);
	if (rc != SQLITE_OK) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return fail(s, sqlite3_errcode(s->db), "bind incident");
	}
	return step_done(s, st, "put incident");
}

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

/* Columns as in SQ_GET_INCIDENT. Returns -1 when a JSON copy failed (OOM). */
static int row_from_stmt(sqlite3_stmt *st, struct incident_row *r)
{
	memset(r, 0, sizeof *r);
	copy_col(st, 0, r->id, sizeof r->id);
	copy_col(st, 1, r->alarm_key, sizeof r->alarm_key);
	copy_col(st, 2, r->rule, sizeof r->rule);
	copy_col(st, 3, r->device, sizeof r->device);
	copy_col(st, 4, r->type, sizeof r->type);
	copy_col(st, 5, r->kind, sizeof r->kind);
	r->severity = sqlite3_column_int(st, 6);
	r->active = sqlite3_column_int(st, 7) != 0;
	r->acked = sqlite3_column_int(st, 8) != 0;
	copy_col(st, 9, r->workflow, sizeof r->workflow);
	r->first_ms = sqlite3_column_int64(st, 10);
	r->last_ms = sqlite3_column_int64(st, 11);
	r->count = (uint32_t)sqlite3_column_int64(st, 12);
	copy_col(st, 13, r->message, sizeof r->message);
	r->location_json = dup_col(st, 14);
	r->evidence_json = dup_col(st, 15);
	r->cleared_ms = sqlite3_column_int64(st, 16); /* NULL reads as 0 */
	r->acked_ms = sqlite3_column_int64(st, 17);
	if ((sqlite3_column_type(st, 14) != SQLITE_NULL && !r->location_json) ||
	    (sqlite3_column_type(st, 15) != SQLITE_NULL && !r->evidence_json)) {
		incident_row_free_json(r);
		return -1;
	}
	return 0;
}

void incident_row_free_json(struct incident_row *r)
{
	if (!r)
		return;
	free(r->location_json);
	free(r->evidence_json);
	r->location_json = NULL;
	r->evidence_json = NULL;
}

int store_each_incident(struct store *s, bool open_only, int limit,
			int (*cb)(void *ctx, const struct incident_row *r), void *ctx)
{
	/* Not a cached statement: the callback may call back into the store. */
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT id, alarm_key, rule, device, type, kind, severity, active, acked,"
				    " workflow, first_ms, last_ms, count, message, location_json, evidence_json, cleared_ms, acked_ms"
				    " FROM incidents WHERE (?1 = 0 OR is_open = 1)"
				    " ORDER BY first_ms DESC, id DESC LIMIT ?2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "list incidents");
	sqlite3_bind_int(st, 1, open_only ? 1 : 0);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	int ret = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct incident_row r;
		if (row_from_stmt(st, &r) != 0) {
			set_err(s, "list incidents: out of memory");
			ret = STORE_ERR_IO;
			break;
		}
		int stop = cb(ctx, &r);
		incident_row_free_json(&r);
		if (stop)
			break;
	}
	if (ret == STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = fail(s, rc, "list incidents");
	sqlite3_finalize(st);
	return ret;
}

int store_get_incident(struct store *s, const char *id, struct incident_row *out)
{
	sqlite3_stmt *st = s->st[SQ_GET_INCIDENT];
	bind_text(st, 1, id);
	int rc = sqlite3_step(st);
	int ret = STORE_ERR_NOTFOUND;
	if (rc == SQLITE_ROW)
		ret = row_from_stmt(st, out) == 0 ? STORE_OK : STORE_ERR_IO;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc, "get incident");
	return ret;
}

/* Git-like lookup: ids starting with prefix (compared as given; ULIDs are
 * upper case, the caller folds). The PRIMARY KEY index serves the range. */
int store_find_incident_prefix(struct store *s, const char *prefix, char (*ids)[27], int max, int *n)
{
	*n = 0;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT id FROM incidents WHERE id >= ?1 AND id < ?1 || char(127)"
				    " AND substr(id, 1, length(?1)) = ?1 ORDER BY id", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "find incident by prefix");
	bind_text(st, 1, prefix);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n < max)
			copy_col(st, 0, ids[*n], sizeof ids[*n]);
		(*n)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, "find incident by prefix");
	return STORE_OK;
}

/* ---- outbox ---- */

int store_append_event(struct store *s, const char *incident_id, const char *topic_suffix,
		       const char *payload, size_t len, uint64_t *seq)
{
	if (!topic_suffix || !payload || len > INT_MAX) {
		set_err(s, "store_append_event: bad arguments");
		return STORE_ERR_INVALID;
	}
	sqlite3_stmt *st = s->st[SQ_APPEND];
	uint64_t next = s->next_seq;
	int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)next);
	rc |= bind_text(st, 2, incident_id);
	rc |= bind_text(st, 3, topic_suffix);
	rc |= sqlite3_bind_text(st, 4, payload, (int)len, SQLITE_TRANSIENT);
	rc |= sqlite3_bind_int64(st, 5, time_wall_ms());
	if (rc != SQLITE_OK) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return fail(s, sqlite3_errcode(s->db), "bind event");
	}
	rc = step_done(s, st, "append event");
	if (rc != STORE_OK)
		return rc;
	s->next_seq = next + 1;
	if (!s->in_txn)
		s->committed_next = s->next_seq; /* autocommit: it is durable now */
	if (seq)
		*seq = next;
	return STORE_OK;
}

uint64_t store_next_seq(const struct store *s)
{
	return s->next_seq;
}

uint64_t store_last_seq(struct store *s)
{
	return s->committed_next - 1;
}

void outbox_event_free(struct outbox_event *ev)
{
	if (!ev)
		return;
	free(ev->topic_suffix);
	free(ev->payload);
	ev->topic_suffix = NULL;
	ev->payload = NULL;
	ev->len = 0;
}

/* Raises the floor to v. Outside a transaction what was read is committed,
 * so no rollback can take it back. */
static void floor_raise(struct store *s, uint64_t v)
{
	if (v > s->floor)
		s->floor = v;
	if (!s->in_txn)
		s->committed_floor = s->floor;
}

/* Moves the floor up to the oldest undelivered event, or to next_seq when
 * every event is delivered: every later event gets a seq >= next_seq, and a
 * rollback puts the floor back with next_seq. */
static int floor_refresh(struct store *s)
{
	sqlite3_stmt *st = s->st[SQ_FLOOR];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->floor);
	int rc = sqlite3_step(st);
	uint64_t first = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : s->next_seq;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc, "find oldest undelivered");
	floor_raise(s, first);
	return STORE_OK;
}

int store_fetch_undelivered(struct store *s, uint64_t after_seq, int max, struct outbox_event *out, int *n)
{
	*n = 0;
	if (max <= 0)
		return STORE_OK;
	/* Below the floor everything is delivered: start there. Such a fetch
	 * also finds the oldest undelivered event, the next floor. */
	bool from_floor = after_seq < s->floor;
	uint64_t lo = from_floor ? s->floor - 1 : after_seq;
	sqlite3_stmt *st = s->st[SQ_FETCH];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int(st, 2, max);
	int rc = SQLITE_DONE; /* max may be 0: no step at all */
	int ret = STORE_OK;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct outbox_event *ev = &out[*n];
		ev->seq = (uint64_t)sqlite3_column_int64(st, 0);
		ev->topic_suffix = dup_col(st, 1);
		const void *p = sqlite3_column_blob(st, 2);
		int len = sqlite3_column_bytes(st, 2);
		ev->payload = malloc((size_t)len + 1);
		if (!ev->topic_suffix || !ev->payload) {
			outbox_event_free(ev);
			set_err(s, "fetch events: out of memory");
			ret = STORE_ERR_IO;
			break;
		}
		if (len > 0)
			memcpy(ev->payload, p, (size_t)len);
		ev->payload[len] = '\0';
		ev->len = (size_t)len;
		(*n)++;
	}
	if (ret == STORE_OK && *n < max && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		ret = fail(s, rc, "fetch events");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != STORE_OK) {
		for (int i = 0; i < *n; i++)
			outbox_event_free(&out[i]);
		*n = 0;
		return ret;
	}
	if (from_floor)
		floor_raise(s, *n > 0 ? out[0].seq : s->next_seq);
	return ret;
}

/* Marking needs a little room (a new row in `delivered`). When the cap is
 * hit there may be none; then the delivered rows are deleted right away
 * instead, after recording the seq high-water mark: deleting frees pages,
 * so the outbox can always drain a full database. An event's mark goes with
 * it (a repeat PUBACK may have marked it before). */
static int delete_delivered_now(struct store *s, const uint64_t *seqs, int n)
{
	bool own;
	int rc = own_begin(s, &own);
	if (rc != STORE_OK)
		return rc;
	rc = delete_with(s, "UPDATE meta SET value = max(value, ?1) WHERE key = 'last_seq'",
			 (int64_t)(s->committed_next - 1), "record last seq", NULL);
	for (int i = 0; i < n && rc == STORE_OK; i++) {
		rc = delete_with(s, "DELETE FROM events WHERE seq = ?1", (int64_t)seqs[i], "delete delivered event", NULL);
		if (rc == STORE_OK)
			rc = delete_with(s, "DELETE FROM delivered WHERE seq = ?1", (int64_t)seqs[i],
					 "delete delivered mark", NULL);
	}
	if (rc != STORE_OK && !s->in_txn)
		return rc;
	rc = own_end(s, own, rc);
	if (rc == STORE_OK)
		log_warn("store", "database full: %d delivered events deleted at once instead of kept", n);
	return rc;
}

int store_mark_delivered(struct store *s, const uint64_t *seqs, int n)
{
	if (n <= 0)
		return STORE_OK;
	bool own;
	int rc = own_begin(s, &own);
	if (rc != STORE_OK)
		return rc;
	int64_t now = time_wall_ms();
	sqlite3_stmt *st = s->st[SQ_MARK];
	for (int i = 0; i < n && rc == STORE_OK; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)seqs[i]);
		sqlite3_bind_int64(st, 2, now);
		rc = step_done(s, st, "mark delivered");
	}
	if (rc == STORE_OK)
		rc = own_end(s, own, rc);
	else if (s->in_txn)
		rc = own_end(s, own, rc);
	if (rc == STORE_ERR_FULL && !s->in_txn)
		rc = delete_delivered_now(s, seqs, n);
	return rc;
}

/* Counts from the floor: the delivered history kept below it is not walked. */
int64_t store_backlog(struct store *s)
{
	int frc = floor_refresh(s);
	if (frc != STORE_OK)
		return frc;
	sqlite3_stmt *st = s->st[SQ_BACKLOG];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)s->floor);
	int rc = sqlite3_step(st);
	int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW)
		return fail(s, rc, "backlog");
	return v;
}

/* ---- device state, history, commands ---- */

int store_put_device_state(struct store *s, const char *device, bool online, int64_t last_good_ms)
{
	sqlite3_stmt *st = s->st[SQ_DEVICE_STATE];
	bind_text(st, 1, device);
	sqlite3_bind_int(st, 2, online);
	sqlite3_bind_int64(st, 3, last_good_ms);
	sqlite3_bind_int64(st, 4, time_wall_ms());
	return step_done(s, st, "put device state");
}

int store_add_reading(struct store *s, const char *device, const char *point, double value,
		      int quality, int64_t ts_ms)
{
	sqlite3_stmt *st = s->st[SQ_READING];
	bind_text(st, 1, device);
	bind_text(st, 2, point);
	sqlite3_bind_double(st, 3, value); /* NaN binds as NULL */
	sqlite3_bind_int(st, 4, quality);
	sqlite3_bind_int64(st, 5, ts_ms);
	return step_done(s, st, "add reading");
}

int store_get_command_result(struct store *s, const char *req, char **result_json)
{
	*result_json = NULL;
	sqlite3_stmt *st = s->st[SQ_CMD_GET];
	bind_text(st, 1, req);
	int rc = sqlite3_step(st);
	int ret = STORE_OK;
	if (rc == SQLITE_ROW) {
		*result_json = dup_col(st, 0);
		if (!*result_json)
			ret = STORE_ERR_IO;
	} else if (rc == SQLITE_DONE) {
		ret = STORE_ERR_NOTFOUND;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc, "get command result");
	return ret;
}

int store_put_command_result(struct store *s, const char *req, const char *result_json)
{
	if (!req || !result_json)
		return STORE_ERR_INVALID;
	sqlite3_stmt *st = s->st[SQ_CMD_PUT];
	bind_text(st, 1, req);
	bind_text(st, 2, result_json);
	sqlite3_bind_int64(st, 3, time_wall_ms());
	return step_done(s, st, "put command result");
}

/* ---- housekeeping ---- */

static int used_pages(struct store *s, int64_t *used)
{
	int64_t pages = 0, free_pages = 0;
	int rc = query_int(s, "PRAGMA page_count", &pages);
	if (rc == STORE_OK)
		rc = query_int(s, "PRAGMA freelist_count", &free_pages);
	*used = pages - free_pages;
	return rc;
}

static bool above_target(struct store *s, int *rc)
{
	if (s->max_pages <= 0)
		return false;
	int64_t used = 0;
	*rc = used_pages(s, &used);
	return *rc == STORE_OK && used * 100 > s->max_pages * PRUNE_TARGET_PERCENT;
}

static int delete_with(struct store *s, const char *sql, int64_t arg, const char *what, int *changed)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, what);
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, arg);
	rc = begin_if_lazy(s);
	if (rc != STORE_OK) {
		sqlite3_finalize(st);
		return rc;
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, what);
	if (changed)
		*changed = sqlite3_changes(s->db);
	return STORE_OK;
}

/* The deletes, in order of what matters least. */
static int prune_rows(struct store *s, int64_t now)
{
	int n = 0;
	/* First the seq high-water mark, so deleting rows never lowers it. */
	int rc = delete_with(s, "UPDATE meta SET value = max(value, ?1) WHERE key = 'last_seq'",
			     (int64_t)(s->next_seq - 1), "record last seq", NULL);
	if (rc == STORE_OK) /* an event and its mark go together */
		rc = delete_with(s, "DELETE FROM events WHERE seq IN (SELECT seq FROM delivered WHERE delivered_ms < ?1)",
				 now - s->delivered_keep_ms, "prune delivered events", NULL);
	if (rc == STORE_OK)
		rc = delete_with(s, "DELETE FROM delivered WHERE delivered_ms < ?1", now - s->delivered_keep_ms,
				 "prune delivered marks", NULL);
	if (rc == STORE_OK)
		rc = delete_with(s, "DELETE FROM readings WHERE ts_ms < ?1", now - s->history_keep_ms,
				 "prune readings", NULL);
	if (rc == STORE_OK)
		rc = delete_with(s, "DELETE FROM commands WHERE ts_ms < ?1", now - s->delivered_keep_ms,
				 "prune command results", NULL);
	if (rc == STORE_OK) /* pending jobs are never pruned: nothing is dropped silently */
		rc = delete_with(s, "DELETE FROM notify_jobs WHERE state != 0 AND done_ms < ?1", now - s->delivered_keep_ms,
				 "prune finished notification jobs", NULL);
	/* Still too big: history goes first, oldest first. */
	for (int i = 0; rc == STORE_OK && above_target(s, &rc) && i < 100000; i++) {
		rc = delete_with(s, "DELETE FROM readings WHERE id IN"
				    " (SELECT id FROM readings ORDER BY ts_ms LIMIT ?1)",
				 PRUNE_CHUNK, "prune oldest readings", &n);
		if (n == 0)
			break;
	}
	/* Then delivered events however young: the platform has them. */
	if (rc == STORE_OK && above_target(s, &rc)) {
		rc = delete_with(s, "DELETE FROM events WHERE seq IN (SELECT seq FROM delivered)", 0,
				 "prune all delivered events", NULL);
		if (rc == STORE_OK)
			rc = delete_with(s, "DELETE FROM delivered", 0, "prune all delivered marks", NULL);
	}
	/* Last, closed incidents, oldest first. Open incidents are never touched. */
	for (int i = 0; rc == STORE_OK && above_target(s, &rc) && i < 100000; i++) {
		rc = delete_with(s, "DELETE FROM incidents WHERE id IN"
				    " (SELECT id FROM incidents WHERE is_open = 0 ORDER BY last_ms LIMIT ?1)",
				 100, "prune closed incidents", &n);
		if (n == 0)
			break;
	}
	return rc;
}

int store_prune(struct store *s, int64_t now_wall_ms)
{
	bool own;
	int rc = own_begin(s, &own);
	if (rc != STORE_OK)
		return rc;
	rc = prune_rows(s, now_wall_ms);
	if (rc != STORE_OK && !s->in_txn)
		return rc; /* fail() rolled back */
	if (rc == STORE_OK) {
		/* Give freed pages back to the file system; inside the caller's
		 * transaction it commits with everything else. */
		int64_t ignored;
		rc = query_int(s, "PRAGMA incremental_vacuum", &ignored);
		if (rc != STORE_OK && !s->in_txn)
			return rc;
	}
	rc = own_end(s, own, rc);
	if (rc != STORE_OK)
		return rc;
	if (above_target(s, &rc)) {
		set_err(s, "store above %d%% of store.max_size_mb after pruning: only undelivered events "
			"and open incidents left", PRUNE_TARGET_PERCENT);
		store_log(s, LOG_LVL_WARN, s->err);
		return STORE_ERR_FULL;
	}
	return rc;
}

int64_t store_size_bytes(struct store *s)
{
	int64_t pages = 0;
	int rc = query_int(s, "PRAGMA page_count", &pages);
	if (rc != STORE_OK)
		return rc;
	return pages * s->page_size;
}

int store_check_integrity(struct store *s, char *buf, size_t len)
{
	int rc = query_text(s, "PRAGMA integrity_check", buf, len);
	if (rc != STORE_OK)
		return rc;
	return strcmp(buf, "ok") == 0 ? STORE_OK : STORE_ERR_IO;
}

int store_set_query_only(struct store *s, bool on)
{
	return exec_sql(s, on ? "PRAGMA query_only = 1" : "PRAGMA query_only = 0", "query_only");
}

/* ---- notification jobs (gateway/notify) ---- */

int store_notify_add(struct store *s, const struct notify_job_row *j)
{
	sqlite3_stmt *st = s->st[SQ_NOTIFY_ADD];
	bind_text(st, 1, j->incident_id);
	sqlite3_bind_int64(st, 2, (int64_t)j->event_seq);
	bind_text(st, 3, j->event);
	sqlite3_bind_int(st, 4, j->route);
	sqlite3_bind_int(st, 5, j->step);
	bind_text(st, 6, j->channel);
	sqlite3_bind_int(st, 7, j->severity);
	sqlite3_bind_int64(st, 8, j->due_ms);
	sqlite3_bind_int64(st, 9, j->after_ms);
	sqlite3_bind_int(st, 10, j->unless);
	sqlite3_bind_int(st, 11, j->hours_from);
	sqlite3_bind_int(st, 12, j->hours_to);
	if (j->template_text)
		bind_text(st, 13, j->template_text);
	else
		sqlite3_bind_null(st, 13);
	bind_text(st, 14, j->payload ? j->payload : "{}");
	sqlite3_bind_int64(st, 15, j->created_ms);
	return step_done(s, st, "add notification job");
}

int store_notify_cancel(struct store *s, const char *incident_id, int reached, int64_t now_ms, const char *why)
{
	sqlite3_stmt *st = s->st[SQ_NOTIFY_CANCEL];
	bind_text(st, 1, incident_id);
	sqlite3_bind_int(st, 2, reached);
	sqlite3_bind_int64(st, 3, now_ms);
	bind_text(st, 4, why ? why : "");
	int rc = step_done(s, st, "cancel notification jobs");
	return rc == STORE_OK ? sqlite3_changes(s->db) : rc;
}

int store_notify_done(struct store *s, int64_t id, int state, const char *error, int64_t now_ms)
{
	sqlite3_stmt *st = s->st[SQ_NOTIFY_DONE];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, state);
	sqlite3_bind_int64(st, 3, now_ms);
	if (error)
		bind_text(st, 4, error);
	else
		sqlite3_bind_null(st, 4);
	return step_done(s, st, "finish notification job");
}

int store_notify_failed(struct store *s, int64_t id, const char *error)
{
	sqlite3_stmt *st = s->st[SQ_NOTIFY_FAILED];
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, error ? error : "");
	return step_done(s, st, "count notification failure");
}

int store_notify_due_at(struct store *s, int64_t id, int64_t due_ms)
{
	sqlite3_stmt *st = s->st[SQ_NOTIFY_DUE_AT];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, due_ms);
	return step_done(s, st, "reschedule notification job");
}

int store_notify_next_due(struct store *s, int64_t after_ms, int64_t *due_ms)
{
	sqlite3_stmt *st = s->st[SQ_NOTIFY_NEXT];
	sqlite3_bind_int64(st, 1, after_ms);
	int rc = sqlite3_step(st);
	int ret = STORE_ERR_NOTFOUND;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*due_ms = sqlite3_column_int64(st, 0);
		ret = STORE_OK;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = fail(s, rc, "next notification job");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

int store_notify_each_due(struct store *s, int64_t due_by_ms, int limit,
			  int (*cb)(void *ctx, const struct notify_job_row *j), void *ctx)
{
	/* Not a cached statement: the callback writes to the store. */
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT id, incident_id, event_seq, event, route, step, channel, severity, due_ms,"
				    " after_ms, unless, hours_from, hours_to, template, payload, failures, created_ms"
				    " FROM notify_jobs WHERE state = 0 AND due_ms <= ?1"
				    " ORDER BY severity, due_ms, id LIMIT ?2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "list due notification jobs");
	sqlite3_bind_int64(st, 1, due_by_ms);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	int ret = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct notify_job_row j = { 0 };
		j.id = sqlite3_column_int64(st, 0);
		snprintf(j.incident_id, sizeof j.incident_id, "%s", col_text(st, 1));
		j.event_seq = (uint64_t)sqlite3_column_int64(st, 2);
		snprintf(j.event, sizeof j.event, "%s", col_text(st, 3));
		j.route = sqlite3_column_int(st, 4);
		j.step = sqlite3_column_int(st, 5);
		snprintf(j.channel, sizeof j.channel, "%s", col_text(st, 6));
		j.severity = sqlite3_column_int(st, 7);
		j.due_ms = sqlite3_column_int64(st, 8);
		j.after_ms = sqlite3_column_int64(st, 9);
		j.unless = sqlite3_column_int(st, 10);
		j.hours_from = sqlite3_column_int(st, 11);
		j.hours_to = sqlite3_column_int(st, 12);
		j.template_text = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : (char *)col_text(st, 13);
		j.payload = (char *)col_text(st, 14);
		j.failures = sqlite3_column_int(st, 15);
		j.created_ms = sqlite3_column_int64(st, 16);
		if (cb(ctx, &j))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = fail(s, rc, "list due notification jobs");
	sqlite3_finalize(st);
	return ret;
}

/* ---- reads for the console (not cached statements: callbacks may call
 * back into the store, and these run at human request rates) ---- */

int store_each_event_of(struct store *s, const char *incident_id, int limit,
			int (*cb)(void *ctx, uint64_t seq, const char *payload), void *ctx)
{
	sqlite3_stmt *st = NULL;
	/* The newest `limit` events, handed out oldest first. */
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT seq, payload FROM (SELECT seq, payload FROM events WHERE incident_id = ?1"
				    " ORDER BY seq DESC LIMIT ?2) ORDER BY seq", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "events of incident");
	bind_text(st, 1, incident_id);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 1);
		if (cb(ctx, (uint64_t)sqlite3_column_int64(st, 0), p ? p : "{}"))
			break;
	}
	int ret = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? STORE_OK : fail(s, rc, "events of incident");
	sqlite3_finalize(st);
	return ret;
}

int store_notify_pending(struct store *s, int (*cb)(void *ctx, const char *channel, int64_t n), void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT channel, count(*) FROM notify_jobs WHERE state = 0 GROUP BY channel",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "count pending notification jobs");
	int ret = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ctx, col_text(st, 0), sqlite3_column_int64(st, 1)))
			break;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = fail(s, rc, "count pending notification jobs");
	sqlite3_finalize(st);
	return ret;
}

int store_each_event_after(struct store *s, uint64_t after_seq, int max,
			   int (*cb)(void *ctx, uint64_t seq, const char *payload), void *ctx)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, "SELECT seq, payload FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2", -1,
				    &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "events after");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
	sqlite3_bind_int(st, 2, max > 0 ? max : -1);
	int n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 1);
		n++;
		if (cb(ctx, (uint64_t)sqlite3_column_int64(st, 0), p ? p : "{}"))
			break;
	}
	int ret = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? n : fail(s, rc, "events after");
	sqlite3_finalize(st);
	return ret;
}

int store_each_reading(struct store *s, const char *device, const char *point, int64_t since_ms, int limit,
		       int (*cb)(void *ctx, const char *point, double value, int quality, int64_t ts_ms), void *ctx)
{
	sqlite3_stmt *st = NULL;
	/* Newest `limit` samples (readings_point index), handed out oldest first. */
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT point, value, quality, ts_ms FROM (SELECT point, value, quality, ts_ms"
				    " FROM readings WHERE device = ?1 AND (?2 IS NULL OR point = ?2) AND ts_ms >= ?3"
				    " ORDER BY ts_ms DESC LIMIT ?4) ORDER BY ts_ms, point", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "readings");
	bind_text(st, 1, device);
	if (point && point[0])
		bind_text(st, 2, point);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, since_ms);
	sqlite3_bind_int(st, 4, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		if (cb(ctx, p ? p : "", sqlite3_column_double(st, 1), sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3)))
			break;
	}
	int ret = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? STORE_OK : fail(s, rc, "readings");
	sqlite3_finalize(st);
	return ret;
}
