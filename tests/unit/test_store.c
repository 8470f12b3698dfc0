/* Unit tests for the SQLite store: schema and migrations, the gapless outbox
 * seq (rollback, reopen, pruning), delivery marking, the size cap and
 * SQLITE_FULL, read-only handles, incidents rows and command results. Each
 * test works in its own temporary state_dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "common/ulid.h"

struct fixture {
	char dir[64];
	char db[128];
	struct store_config sc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/gridgw-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof f->db, "%s/gridgw.db", f->dir);
	f->sc.max_size_mb = 64;
	f->sc.history_keep_ms = 7LL * 86400 * 1000;
	f->sc.history_interval_ms = 60000;
	f->sc.delivered_keep_ms = 86400LL * 1000;
	f->sc.synchronous = "full";
	log_set_level(LOG_LVL_ERROR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *suffix[] = { "", "-wal", "-shm" };
	char p[160];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->db, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct store *open_store(struct fixture *f)
{
	char err[256] = "";
	struct store *s = store_open(f->dir, &f->sc, err, sizeof err);
	if (!s)
		fprintf(stderr, "store_open: %s\n", err);
	assert_non_null(s);
	return s;
}

static int64_t raw_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void raw_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static int collect_ids(void *ctx, const struct incident_row *r);

static uint64_t append(struct store *s, const char *payload)
{
	uint64_t seq = 0;
	assert_int_equal(store_append_event(s, "01TESTINCIDENT", "incident", payload, strlen(payload), &seq), STORE_OK);
	return seq;
}

/* Every undelivered seq in order; returns how many, checks they are > after. */
static int fetch_all(struct store *s, uint64_t *seqs, int max)
{
	struct outbox_event ev[64];
	int total = 0, n = 0;
	uint64_t after = 0;
	do {
		assert_int_equal(store_fetch_undelivered(s, after, 64, ev, &n), STORE_OK);
		for (int i = 0; i < n; i++) {
			assert_true(ev[i].seq > after);
			after = ev[i].seq;
			if (total < max)
				seqs[total] = ev[i].seq;
			total++;
			outbox_event_free(&ev[i]);
		}
	} while (n == 64);
	return total;
}

static void test_schema_created_and_reopened(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(store_next_seq(s), 1);
	assert_int_equal(store_last_seq(s), 0);
	char buf[64];
	assert_int_equal(store_check_integrity(s, buf, sizeof buf), STORE_OK);
	assert_string_equal(buf, "ok");
	store_close(s);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->db, "PRAGMA auto_vacuum"), 2); /* incremental */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
				       " ('incidents','events','device_state','readings','commands','meta')"), 6);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(h);
	s = open_store(f);
	assert_int_equal(store_next_seq(s), 1);
	store_close(s);
}

static void test_v0_file_is_migrated(void **state)
{
	struct fixture *f = *state;
	/* An older file: user_version 0 with a table of its own (rollback journal). */
	raw_exec(f->db, "CREATE TABLE legacy_note (x TEXT); INSERT INTO legacy_note VALUES ('kept');");
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 0);
	struct store *s = open_store(f);
	assert_int_equal(append(s, "{}"), 1);
	store_close(s);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM legacy_note"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 1);
}

static void test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	raw_exec(f->db, "PRAGMA user_version = 99; CREATE TABLE future (x);");
	char err[256] = "";
	struct store *s = store_open(f->dir, &f->sc, err, sizeof err);
	assert_null(s);
	assert_non_null(strstr(err, "newer"));
	assert_null(store_open_readonly(f->dir, err, sizeof err));
	/* Nothing was changed in the file. */
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 99);
}

static void test_bad_synchronous_is_rejected(void **state)
{
	struct fixture *f = *state;
	f->sc.synchronous = "sometimes";
	char err[256] = "";
	assert_null(store_open(f->dir, &f->sc, err, sizeof err));
	assert_non_null(strstr(err, "synchronous"));
}

static void test_seq_gapless_across_rollback_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(store_begin(s), STORE_OK);
	assert_true(store_in_transaction(s));
	assert_int_equal(append(s, "{\"n\":1}"), 1);
	assert_int_equal(append(s, "{\"n\":2}"), 2);
	assert_int_equal(append(s, "{\"n\":3}"), 3);
	assert_int_equal(store_commit(s), STORE_OK);
	assert_false(store_in_transaction(s));

	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(append(s, "{\"n\":4}"), 4);
	assert_int_equal(append(s, "{\"n\":5}"), 5);
	store_rollback(s);
	assert_int_equal(store_next_seq(s), 4); /* the reserved seqs are given back */

	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(append(s, "{\"n\":4}"), 4);
	assert_int_equal(store_commit(s), STORE_OK);
	/* Outside a transaction an append commits by itself. */
	assert_int_equal(append(s, "{\"n\":5}"), 5);
	assert_int_equal(store_last_seq(s), 5);
	store_close(s);

	s = open_store(f);
	assert_int_equal(store_next_seq(s), 6);
	uint64_t seqs[16];
	assert_int_equal(fetch_all(s, seqs, 16), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(seqs[i], (uint64_t)i + 1);
	/* Closing with an open transaction rolls it back. */
	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(append(s, "{\"n\":6}"), 6);
	store_close(s);
	s = open_store(f);
	assert_int_equal(store_next_seq(s), 6);
	store_close(s);
}

static void test_commit_without_begin_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(store_commit(s), STORE_ERR_INVALID);
	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(store_begin(s), STORE_ERR_INVALID);
	assert_true(store_in_transaction(s));
	store_rollback(s);
	store_close(s);
}

static void test_fetch_undelivered_in_order_and_mark(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(store_begin(s), STORE_OK);
	for (int i = 1; i <= 10; i++) {
		char p[32];
		snprintf(p, sizeof p, "{\"i\":%d}", i);
		assert_int_equal(append(s, p), (uint64_t)i);
	}
	assert_int_equal(store_commit(s), STORE_OK);
	struct outbox_event ev[4];
	int n = 0;
	assert_int_equal(store_fetch_undelivered(s, 0, 4, ev, &n), STORE_OK);
	assert_int_equal(n, 4);
	for (int i = 0; i < 4; i++) {
		char p[32];
		snprintf(p, sizeof p, "{\"i\":%d}", i + 1);
		assert_int_equal(ev[i].seq, (uint64_t)i + 1);
		assert_string_equal(ev[i].topic_suffix, "incident");
		assert_string_equal(ev[i].payload, p);
		assert_int_equal(ev[i].len, strlen(p));
		outbox_event_free(&ev[i]);
	}
	assert_int_equal(store_fetch_undelivered(s, 4, 4, ev, &n), STORE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(ev[0].seq, 5);
	assert_int_equal(ev[3].seq, 8);
	for (int i = 0; i < n; i++)
		outbox_event_free(&ev[i]);

	uint64_t done[] = { 1, 2, 3, 7 };
	assert_int_equal(store_mark_delivered(s, done, 4), STORE_OK);
	assert_int_equal(store_mark_delivered(s, done, 4), STORE_OK); /* a duplicate PUBACK is harmless */
	assert_int_equal(store_backlog(s), 6);
	uint64_t seqs[16];
	assert_int_equal(fetch_all(s, seqs, 16), 6);
	uint64_t want[] = { 4, 5, 6, 8, 9, 10 };
	for (int i = 0; i < 6; i++)
		assert_int_equal(seqs[i], want[i]);
	store_close(s);
}

static void test_prune_keeps_undelivered_and_seq_after_deleting_all(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(store_begin(s), STORE_OK);
	for (int i = 0; i < 20; i++)
		append(s, "{\"x\":1}");
	assert_int_equal(store_commit(s), STORE_OK);
	uint64_t d[14];
	for (int i = 0; i < 14; i++)
		d[i] = (uint64_t)i + 1;
	assert_int_equal(store_mark_delivered(s, d, 14), STORE_OK);
	int64_t later = time_wall_ms() + 2 * 86400LL * 1000;
	/* Too young to prune: nothing goes. */
	assert_int_equal(store_prune(s, time_wall_ms()), STORE_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 20);
	assert_int_equal(store_prune(s, later), STORE_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 6);
	assert_int_equal(raw_int(f->db, "SELECT min(seq) FROM events"), 15);
	assert_int_equal(store_backlog(s), 6);
	/* Now everything delivered and pruned, including the max-seq row. */
	uint64_t rest[] = { 15, 16, 17, 18, 19, 20 };
	assert_int_equal(store_mark_delivered(s, rest, 6), STORE_OK);
	assert_int_equal(store_prune(s, later), STORE_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(store_next_seq(s), 21);
	store_close(s);
	s = open_store(f);
	assert_int_equal(store_next_seq(s), 21); /* the counter never goes back */
	assert_int_equal(store_last_seq(s), 20);
	assert_int_equal(append(s, "{}"), 21);
	store_close(s);
}

/* Appends events of shrinking sizes until even a small one no longer fits:
 * the database is then packed to the cap. Returns the last committed seq. */
static uint64_t fill_until_full(struct store *s)
{
	static const size_t sizes[] = { 3000, 300, 30 };
	char payload[3001];
	uint64_t seq = 0, last = store_last_seq(s);
	for (size_t k = 0; k < 3; k++) {
		memset(payload, 'f', sizes[k]);
		payload[sizes[k]] = '\0';
		int rc = STORE_OK;
		for (int i = 0; i < 5000 && rc == STORE_OK; i++) {
			rc = store_append_event(s, NULL, "incident", payload, sizes[k], &seq);
			if (rc == STORE_OK)
				last = seq;
		}
		assert_int_equal(rc, STORE_ERR_FULL);
	}
	return last;
}

static void test_full_cap_rolls_back_and_recovers_after_prune(void **state)
{
	struct fixture *f = *state;
	f->sc.max_size_mb = 1;
	struct store *s = open_store(f);
	char payload[2048];
	memset(payload, 'x', sizeof payload - 1);
	payload[0] = '"';
	payload[sizeof payload - 2] = '"';
	payload[sizeof payload - 1] = '\0';
	uint64_t committed = 0;
	int rc = STORE_OK;
	int batches = 0;
	while (rc == STORE_OK && batches < 1000) {
		batches++;
		assert_int_equal(store_begin(s), STORE_OK);
		uint64_t seq = 0;
		for (int i = 0; i < 10 && rc == STORE_OK; i++)
			rc = store_append_event(s, NULL, "incident", payload, strlen(payload), &seq);
		if (rc == STORE_OK) {
			rc = store_commit(s);
			if (rc == STORE_OK)
				committed = seq;
		}
	}
	assert_int_equal(rc, STORE_ERR_FULL);
	assert_true(committed > 100);
	/* The failed batch was rolled back by the store, its seqs released. */
	assert_false(store_in_transaction(s));
	assert_int_equal(store_commit(s), STORE_ERR_FULL);    /* the caller's commit learns it */
	assert_non_null(strstr(store_last_error(s), "full"));
	assert_int_equal(store_commit(s), STORE_ERR_INVALID); /* once */
	assert_int_equal(store_next_seq(s), committed + 1);
	assert_true(store_size_bytes(s) <= 1024 * 1024);
	/* Still readable, and prune cannot delete undelivered events. */
	assert_int_equal(store_backlog(s), (int64_t)committed);
	int64_t later = time_wall_ms() + 2 * 86400LL * 1000;
	assert_int_equal(store_prune(s, later), STORE_ERR_FULL);
	assert_int_equal(store_backlog(s), (int64_t)committed);
	/* Delivered ones can go: then there is room again. */
	uint64_t *d = calloc(committed, sizeof *d);
	assert_non_null(d);
	for (uint64_t i = 0; i < committed; i++)
		d[i] = i + 1;
	assert_int_equal(store_mark_delivered(s, d, (int)committed), STORE_OK);
	free(d);
	assert_int_equal(store_prune(s, later), STORE_OK);
	assert_int_equal(store_append_event(s, NULL, "incident", payload, strlen(payload), &committed), STORE_OK);
	assert_int_equal(committed, store_last_seq(s));
	char buf[64];
	assert_int_equal(store_check_integrity(s, buf, sizeof buf), STORE_OK);
	store_close(s);
}

static void test_full_outside_transaction_keeps_seq(void **state)
{
	struct fixture *f = *state;
	f->sc.max_size_mb = 1;
	struct store *s = open_store(f);
	char payload[4000];
	memset(payload, 'y', sizeof payload - 1);
	payload[sizeof payload - 1] = '\0';
	uint64_t seq = 0, last = 0;
	int rc = STORE_OK;
	for (int i = 0; i < 2000 && rc == STORE_OK; i++) {
		rc = store_append_event(s, NULL, "incident", payload, strlen(payload), &seq);
		if (rc == STORE_OK)
			last = seq;
	}
	assert_int_equal(rc, STORE_ERR_FULL);
	assert_int_equal(store_next_seq(s), last + 1);
	assert_int_equal(store_last_seq(s), last);
	store_close(s);
	s = open_store(f);
	assert_int_equal(store_next_seq(s), last + 1);
	store_close(s);
}

/* Simulates a read-only database two ways: a second handle opened with
 * SQLITE_OPEN_READONLY (what the CLI uses; root ignores file modes so a
 * chmod would not provoke it), and PRAGMA query_only on the writer. */
static void test_packed_full_database_still_drains(void **state)
{
	struct fixture *f = *state;
	f->sc.max_size_mb = 1;
	struct store *s = open_store(f);
	uint64_t last = fill_until_full(s);
	assert_true(last > 100);
	uint64_t *d = calloc(last, sizeof *d);
	assert_non_null(d);
	for (uint64_t i = 0; i < last; i++)
		d[i] = i + 1;
	/* Marking may need pages the cap does not have: it must still work. */
	assert_int_equal(store_mark_delivered(s, d, (int)last), STORE_OK);
	free(d);
	assert_int_equal(store_backlog(s), 0);
	assert_int_equal(store_prune(s, time_wall_ms() + 2 * 86400LL * 1000), STORE_OK);
	assert_int_equal(append(s, "{\"after\":true}"), last + 1);
	store_close(s);
	s = open_store(f);
	assert_int_equal(store_next_seq(s), last + 2);
	store_close(s);
}

static void test_readonly_is_reported_and_store_recovers(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(append(s, "{\"a\":1}"), 1);

	char err[256] = "";
	struct store *ro = store_open_readonly(f->dir, err, sizeof err);
	assert_non_null(ro);
	assert_int_equal(store_backlog(ro), 1); /* reader alongside the writer (WAL) */
	uint64_t seq = 0;
	assert_int_equal(store_append_event(ro, NULL, "incident", "{}", 2, &seq), STORE_ERR_READONLY);
	assert_int_equal(store_begin(ro), STORE_ERR_READONLY);
	assert_int_equal(store_put_command_result(ro, "r1", "{}"), STORE_ERR_READONLY);
	/* The writer keeps going while the reader is open. */
	assert_int_equal(append(s, "{\"a\":2}"), 2);
	assert_int_equal(store_backlog(ro), 2);
	store_close(ro);

	assert_int_equal(store_set_query_only(s, true), STORE_OK);
	assert_int_equal(store_append_event(s, NULL, "incident", "{}", 2, &seq), STORE_ERR_READONLY);
	assert_int_equal(store_next_seq(s), 3);
	assert_int_equal(store_set_query_only(s, false), STORE_OK);
	assert_int_equal(append(s, "{\"a\":3}"), 3);
	store_close(s);
}

static void test_readonly_open_of_missing_db_fails(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	assert_null(store_open_readonly(f->dir, err, sizeof err));
	assert_true(strlen(err) > 0);
}

/* The CLI with no daemon running: the writer closed, -wal and -shm are gone. */
static void test_readonly_open_without_running_writer(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(append(s, "{\"a\":1}"), 1);
	struct incident_row r = { .id = "X", .workflow = "raised", .type = "t" };
	assert_int_equal(store_put_incident(s, &r), STORE_OK);
	store_close(s);
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	assert_int_not_equal(access(wal, F_OK), 0);
	char err[256] = "";
	struct store *ro = store_open_readonly(f->dir, err, sizeof err);
	if (!ro)
		fprintf(stderr, "store_open_readonly: %s\n", err);
	assert_non_null(ro);
	assert_int_equal(store_backlog(ro), 1);
	assert_int_equal(store_next_seq(ro), 2);
	char ids[200] = "";
	assert_int_equal(store_each_incident(ro, true, 10, collect_ids, ids), STORE_OK);
	assert_string_equal(ids, "X,");
	store_close(ro);
}

struct hook_log {
	int commits;
	int rollbacks;
	int last_err;
};

static void hook_cb(void *ctx, bool committed, int err)
{
	struct hook_log *h = ctx;
	if (committed)
		h->commits++;
	else
		h->rollbacks++;
	h->last_err = err;
}

static void test_txn_hook_reports_outcomes(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct hook_log h = { 0, 0, 0 };
	store_set_txn_hook(s, hook_cb, &h);
	assert_int_equal(store_begin(s), STORE_OK);
	append(s, "{}");
	assert_int_equal(store_commit(s), STORE_OK);
	assert_int_equal(h.commits, 1);
	assert_int_equal(store_begin(s), STORE_OK);
	append(s, "{}");
	store_rollback(s);
	assert_int_equal(h.rollbacks, 1);
	assert_int_equal(h.last_err, STORE_OK);
	/* A disk error inside the transaction: the store rolls back and says why. */
	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(store_set_query_only(s, true), STORE_OK);
	uint64_t seq;
	assert_int_equal(store_append_event(s, NULL, "incident", "{}", 2, &seq), STORE_ERR_READONLY);
	assert_int_equal(h.rollbacks, 2);
	assert_int_equal(h.last_err, STORE_ERR_READONLY);
	assert_false(store_in_transaction(s));
	assert_int_equal(store_commit(s), STORE_ERR_READONLY); /* the caller's commit learns it */
	assert_int_equal(store_set_query_only(s, false), STORE_OK);
	assert_int_equal(store_next_seq(s), 2);
	store_set_txn_hook(s, NULL, NULL);
	store_close(s);
}

static void test_command_results_replay(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	char *res = NULL;
	assert_int_equal(store_get_command_result(s, "req-1", &res), STORE_ERR_NOTFOUND);
	assert_null(res);
	assert_int_equal(store_put_command_result(s, "req-1", "{\"req\":\"req-1\",\"ok\":true}"), STORE_OK);
	store_close(s);
	s = open_store(f);
	assert_int_equal(store_get_command_result(s, "req-1", &res), STORE_OK);
	assert_string_equal(res, "{\"req\":\"req-1\",\"ok\":true}");
	free(res);
	/* Old results are pruned after delivered_keep. */
	assert_int_equal(store_prune(s, time_wall_ms() + 2 * 86400LL * 1000), STORE_OK);
	assert_int_equal(store_get_command_result(s, "req-1", &res), STORE_ERR_NOTFOUND);
	store_close(s);
}

static struct incident_row make_row(const char *id, const char *key, const char *wf, int64_t first)
{
	struct incident_row r;
	memset(&r, 0, sizeof r);
	snprintf(r.id, sizeof r.id, "%s", id);
	snprintf(r.alarm_key, sizeof r.alarm_key, "%s", key);
	snprintf(r.rule, sizeof r.rule, "smoke");
	snprintf(r.device, sizeof r.device, "smoke-1");
	snprintf(r.type, sizeof r.type, "fire.smoke");
	snprintf(r.kind, sizeof r.kind, "smoke");
	snprintf(r.workflow, sizeof r.workflow, "%s", wf);
	snprintf(r.message, sizeof r.message, "Smoke");
	r.severity = 1;
	r.active = true;
	r.count = 1;
	r.first_ms = first;
	r.last_ms = first;
	r.location_json = (char *)"{\"building\":\"5\"}";
	r.evidence_json = (char *)"{\"smoke\":0.2}";
	return r;
}

static int collect_ids(void *ctx, const struct incident_row *r)
{
	char *buf = ctx;
	strncat(buf, r->id, 200 - strlen(buf) - 2);
	strncat(buf, ",", 200 - strlen(buf) - 2);
	return 0;
}

static void test_incident_rows_upsert_and_list(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct incident_row a = make_row("A", "smoke/smoke-1", "raised", 1000);
	struct incident_row b = make_row("B", "smoke/smoke-2", "closed", 2000);
	struct incident_row c = make_row("C", "smoke/smoke-3", "accepted", 3000);
	assert_int_equal(store_put_incident(s, &a), STORE_OK);
	assert_int_equal(store_put_incident(s, &b), STORE_OK);
	assert_int_equal(store_put_incident(s, &c), STORE_OK);
	a.acked = true;
	a.count = 3;
	snprintf(a.workflow, sizeof a.workflow, "dispatched");
	assert_int_equal(store_put_incident(s, &a), STORE_OK);
	struct incident_row got;
	assert_int_equal(store_get_incident(s, "A", &got), STORE_OK);
	assert_true(got.acked);
	assert_int_equal(got.count, 3);
	assert_string_equal(got.workflow, "dispatched");
	assert_string_equal(got.alarm_key, "smoke/smoke-1");
	assert_string_equal(got.location_json, "{\"building\":\"5\"}");
	assert_string_equal(got.evidence_json, "{\"smoke\":0.2}");
	incident_row_free_json(&got);
	assert_int_equal(store_get_incident(s, "Z", &got), STORE_ERR_NOTFOUND);
	char ids[200] = "";
	assert_int_equal(store_each_incident(s, true, 0, collect_ids, ids), STORE_OK);
	assert_string_equal(ids, "C,A,");
	ids[0] = '\0';
	assert_int_equal(store_each_incident(s, false, 2, collect_ids, ids), STORE_OK);
	assert_string_equal(ids, "C,B,");
	store_close(s);
}

/* Git-like abbreviations: every id with the prefix, in order; a unique
 * prefix gives one; the count goes on past max. And the v3 columns. */
static void test_incident_prefix_and_cycle_times(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	const char *ids[] = { "01M8TJAAAA", "01M8TJAAAB", "01M8TK0000", "01M9000000" };
	for (int i = 0; i < 4; i++) {
		struct incident_row r = make_row(ids[i], ids[i], "raised", 1000 + i);
		r.cleared_ms = i == 0 ? 5000 : 0;
		r.acked_ms = i == 0 ? 6000 : 0;
		assert_int_equal(store_put_incident(s, &r), STORE_OK);
	}
	char got[2][27];
	int n = -1;
	assert_int_equal(store_find_incident_prefix(s, "01M8TJ", got, 2, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(got[0], "01M8TJAAAA");
	assert_string_equal(got[1], "01M8TJAAAB");
	assert_int_equal(store_find_incident_prefix(s, "01M8", got, 1, &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(got[0], "01M8TJAAAA");
	assert_int_equal(store_find_incident_prefix(s, "01M8TK", got, 2, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(got[0], "01M8TK0000");
	assert_int_equal(store_find_incident_prefix(s, "01M8TL", got, 2, &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_find_incident_prefix(s, "01m8tj", got, 2, &n), STORE_OK);
	assert_int_equal(n, 0); /* the caller folds case */
	struct incident_row r;
	assert_int_equal(store_get_incident(s, "01M8TJAAAA", &r), STORE_OK);
	assert_int_equal(r.cleared_ms, 5000);
	assert_int_equal(r.acked_ms, 6000);
	incident_row_free_json(&r);
	assert_int_equal(store_get_incident(s, "01M8TK0000", &r), STORE_OK);
	assert_int_equal(r.cleared_ms, 0);
	assert_int_equal(r.acked_ms, 0);
	incident_row_free_json(&r);
	store_close(s);
}

static void test_readings_pruned_by_age(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	int64_t now = time_wall_ms();
	assert_int_equal(store_begin(s), STORE_OK);
	for (int i = 0; i < 50; i++)
		assert_int_equal(store_add_reading(s, "dev", "temp", 20.5, 1, now - 8 * 86400LL * 1000 + i), STORE_OK);
	for (int i = 0; i < 30; i++)
		assert_int_equal(store_add_reading(s, "dev", "temp", 21.0, 1, now - i * 1000), STORE_OK);
	assert_int_equal(store_put_device_state(s, "dev", true, now), STORE_OK);
	assert_int_equal(store_put_device_state(s, "dev", false, now), STORE_OK);
	assert_int_equal(store_commit(s), STORE_OK);
	int64_t pages_before = raw_int(f->db, "PRAGMA page_count");
	/* As the core does it: inside its loop transaction. */
	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(store_prune(s, now), STORE_OK);
	assert_int_equal(store_commit(s), STORE_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM readings"), 30);
	/* Freed pages went back to the file system (auto_vacuum=INCREMENTAL). */
	assert_int_equal(raw_int(f->db, "PRAGMA freelist_count"), 0);
	assert_true(raw_int(f->db, "PRAGMA page_count") <= pages_before);
	assert_int_equal(raw_int(f->db, "SELECT online FROM device_state WHERE device = 'dev'"), 0);
	store_close(s);
}

static void test_size_cap_prunes_oldest_history_first(void **state)
{
	struct fixture *f = *state;
	f->sc.max_size_mb = 1;
	struct store *s = open_store(f);
	int64_t now = time_wall_ms();
	/* Fresh history (inside history_keep) that fills the cap. */
	int rc = STORE_OK, added = 0;
	while (rc == STORE_OK && added < 100000) {
		assert_int_equal(store_begin(s), STORE_OK);
		for (int i = 0; i < 200 && rc == STORE_OK; i++, added++)
			rc = store_add_reading(s, "device-with-a-long-name-0001", "temperature_sensor_point",
					       21.0, 1, now - 100000 + added);
		if (rc == STORE_OK)
			rc = store_commit(s);
	}
	assert_int_equal(rc, STORE_ERR_FULL);
	int64_t before = raw_int(f->db, "SELECT count(*) FROM readings");
	assert_int_equal(store_prune(s, now), STORE_OK);
	int64_t after = raw_int(f->db, "SELECT count(*) FROM readings");
	assert_true(after < before);
	assert_true(after > 0);
	/* The newest readings are the ones kept. */
	assert_int_equal(raw_int(f->db, "SELECT max(ts_ms) FROM readings"), now - 100000 + before - 1);
	uint64_t seq = 0;
	assert_int_equal(store_append_event(s, NULL, "incident", "{}", 2, &seq), STORE_OK);
	store_close(s);
}

/* A gateway upgraded in place: its v2 file holds an open, cleared and
 * acknowledged incident. The v3 step adds the clear/ack time columns
 * without touching the row, and the old row reads back with 0 (unknown)
 * times, which incident.c replaces by last_ms for the auto-close clock. */
static void test_v2_file_with_incidents_is_migrated(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct incident_row r = make_row("01V2ROW00000000000000000000", "smoke/smoke-1", "raised", 1700000000000);
	r.active = false;
	r.acked = true;
	assert_int_equal(store_put_incident(s, &r), STORE_OK);
	store_close(s);
	/* Turn the file back into what v2 wrote (v4's marks table undone too). */
	raw_exec(f->db, "ALTER TABLE incidents DROP COLUMN cleared_ms; ALTER TABLE incidents DROP COLUMN acked_ms;"
			"DROP TABLE delivered;"
			"CREATE INDEX events_undelivered ON events (seq) WHERE delivered_ms IS NULL;"
			"CREATE INDEX events_delivered ON events (delivered_ms) WHERE delivered_ms IS NOT NULL;"
			"PRAGMA user_version = 2;");
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_table_info('incidents') WHERE name = 'cleared_ms'"), 0);
	s = open_store(f);
	struct incident_row got;
	assert_int_equal(store_get_incident(s, r.id, &got), STORE_OK);
	assert_string_equal(got.alarm_key, "smoke/smoke-1");
	assert_false(got.active);
	assert_true(got.acked);
	assert_int_equal(got.last_ms, 1700000000000);
	assert_int_equal(got.cleared_ms, 0);
	assert_int_equal(got.acked_ms, 0);
	assert_string_equal(got.evidence_json, "{\"smoke\":0.2}");
	incident_row_free_json(&got);
	/* New rows carry the times. */
	r.cleared_ms = 1700000005000;
	r.acked_ms = 1700000006000;
	assert_int_equal(store_put_incident(s, &r), STORE_OK);
	assert_int_equal(store_get_incident(s, r.id, &got), STORE_OK);
	assert_int_equal(got.cleared_ms, 1700000005000);
	assert_int_equal(got.acked_ms, 1700000006000);
	incident_row_free_json(&got);
	store_close(s);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

/* meta.store_id is made once and kept: the same id after a reopen, through a
 * read-only handle, and in a store migrated from a file that had none; a
 * second store gets another. Events carry it, so a platform tells a new
 * store from a replay (docs/contract.md §3). */
static void test_store_id_persists_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	char id[32];
	snprintf(id, sizeof id, "%s", store_id(s));
	assert_int_equal(strlen(id), 26);
	assert_true(ulid_valid(id));
	append(s, "{}");
	store_close(s);

	s = open_store(f);
	assert_string_equal(store_id(s), id);
	char err[256] = "";
	struct store *ro = store_open_readonly(f->dir, err, sizeof err);
	assert_non_null(ro);
	assert_string_equal(store_id(ro), id);
	store_close(ro);
	store_close(s);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM meta WHERE key = 'store_id' AND typeof(value) = 'text'"), 1);

	/* Another store: another id. */
	char dir2[64];
	snprintf(dir2, sizeof dir2, "/tmp/gridgw-store2-XXXXXX");
	assert_non_null(mkdtemp(dir2));
	struct store *s2 = store_open(dir2, &f->sc, err, sizeof err);
	assert_non_null(s2);
	assert_true(ulid_valid(store_id(s2)));
	assert_string_not_equal(store_id(s2), id);
	store_close(s2);
	char p[160];
	const char *suffix[] = { "/gridgw.db", "/gridgw.db-wal", "/gridgw.db-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", dir2, suffix[i]);
		unlink(p);
	}
	rmdir(dir2);

	/* A file from a build before store ids: it gets one on open, kept after. */
	raw_exec(f->db, "DELETE FROM meta WHERE key = 'store_id'");
	s = open_store(f);
	snprintf(id, sizeof id, "%s", store_id(s));
	assert_true(ulid_valid(id));
	assert_int_equal(store_next_seq(s), 2); /* the old events stay: same store, one id from now on */
	store_close(s);
	s = open_store(f);
	assert_string_equal(store_id(s), id);
	store_close(s);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* store_open_recover: a sound file is opened as it is; a file that is not a
 * database is moved aside byte for byte and a new store (new id) started. */
static void test_open_recover_moves_only_a_corrupt_file_aside(void **state)
{
	struct fixture *f = *state;
	struct store_recovery rec;
	char err[256] = "";
	struct store *s = open_store(f);
	char id[32];
	snprintf(id, sizeof id, "%s", store_id(s));
	store_close(s);
	s = store_open_recover(f->dir, &f->sc, &rec, err, sizeof err);
	assert_non_null(s);
	assert_false(rec.replaced);
	assert_string_equal(rec.reason, "");
	assert_string_equal(store_id(s), id);
	store_close(s);

	char junk[8192];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)('a' + i % 26);
	write_file(f->db, junk, sizeof junk);
	s = store_open_recover(f->dir, &f->sc, &rec, err, sizeof err);
	assert_non_null(s);
	assert_true(rec.replaced);
	assert_false(rec.was_empty);
	assert_non_null(strstr(rec.reason, "not a database"));
	assert_true(ulid_valid(store_id(s)));
	assert_string_not_equal(store_id(s), id);
	assert_int_equal(store_next_seq(s), 1);
	store_close(s);
	FILE *fp = fopen(rec.moved_to, "rb");
	assert_non_null(fp);
	char back[sizeof junk + 1];
	assert_int_equal(fread(back, 1, sizeof back, fp), sizeof junk);
	fclose(fp);
	assert_memory_equal(back, junk, sizeof junk);
	assert_int_equal(unlink(rec.moved_to), 0);

	write_file(f->db, "", 0);
	s = store_open_recover(f->dir, &f->sc, &rec, err, sizeof err);
	assert_non_null(s);
	assert_true(rec.replaced);
	assert_true(rec.was_empty);
	store_close(s);
	assert_int_equal(unlink(rec.moved_to), 0);
}

/* Loads tests/fixtures/store/v3-main.sql (a dump of a store main's schema-v3
 * code wrote) into f->db. */
static void load_v3_fixture(struct fixture *f)
{
	const char *top = getenv("GRIDGW_TOP");
	char path[512];
	snprintf(path, sizeof path, "%s/tests/fixtures/store/v3-main.sql", top ? top : ".");
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	static char sql[65536];
	size_t n = fread(sql, 1, sizeof sql - 1, fp);
	fclose(fp);
	assert_true(n > 0 && n < sizeof sql - 1);
	sql[n] = '\0';
	raw_exec(f->db, sql);
	raw_exec(f->db, "PRAGMA journal_mode = WAL");
}

/* A store written by the schema-v3 code (delivered_ms in the event rows)
 * opens with its delivered and undelivered events as they were, keeps its
 * id and seq, and goes on: marking, pruning, reopening, read-only reads. */
static void test_v3_file_from_main_keeps_delivery_state(void **state)
{
	struct fixture *f = *state;
	load_v3_fixture(f);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 3);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events WHERE delivered_ms IS NULL"), 6);
	char err[256] = "";
	struct store *ro = store_open_readonly(f->dir, err, sizeof err);
	assert_null(ro); /* an old file is migrated by the daemon, not read as is */
	assert_non_null(strstr(err, "start the daemon once"));

	struct store *s = open_store(f);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_string_equal(store_id(s), "01M8YFMVGM64F18Z9VQG9CWVF4");
	assert_int_equal(store_next_seq(s), 11);
	assert_int_equal(store_backlog(s), 6);
	uint64_t seqs[16];
	uint64_t want[] = { 4, 5, 6, 8, 9, 10 };
	assert_int_equal(fetch_all(s, seqs, 16), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(seqs[i], want[i]);
	/* The first delivery time is what was recorded, not the migration's. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM delivered d JOIN events e USING (seq)"
				       " WHERE d.delivered_ms = e.delivered_ms"), 4);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'events_%deliver%'"), 0);

	uint64_t four = 4;
	assert_int_equal(store_mark_delivered(s, &four, 1), STORE_OK);
	assert_int_equal(store_backlog(s), 5);
	assert_int_equal(append(s, "{\"after\":1}"), 11);
	assert_int_equal(store_backlog(s), 6);
	store_close(s);

	ro = store_open_readonly(f->dir, err, sizeof err);
	assert_non_null(ro);
	assert_int_equal(store_backlog(ro), 6);
	struct outbox_event ev[8];
	int n = 0;
	assert_int_equal(store_fetch_undelivered(ro, 0, 8, ev, &n), STORE_OK);
	assert_int_equal(n, 6);
	assert_int_equal(ev[0].seq, 5);
	assert_string_equal(ev[0].payload, "{\"i\":5}");
	assert_int_equal(ev[5].seq, 11);
	for (int i = 0; i < n; i++)
		outbox_event_free(&ev[i]);
	store_close(ro);

	s = open_store(f);
	char buf[64];
	assert_int_equal(store_check_integrity(s, buf, sizeof buf), STORE_OK);
	assert_int_equal(store_prune(s, time_wall_ms() + 2 * 86400LL * 1000), STORE_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 6); /* 1-4 and 7 went */
	assert_int_equal(raw_int(f->db, "SELECT min(seq) FROM events"), 5);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM delivered"), 0);
	assert_int_equal(store_backlog(s), 6);
	store_close(s);
}

/* Marks written in a transaction that rolls back are gone: those events
 * are fetched again, even after a fetch inside it had moved past them. */
static void test_rolled_back_marks_are_fetched_again(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	assert_int_equal(store_begin(s), STORE_OK);
	for (int i = 0; i < 8; i++)
		append(s, "{}");
	assert_int_equal(store_commit(s), STORE_OK);
	uint64_t d[] = { 1, 2, 3, 4, 5 };
	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(store_mark_delivered(s, d, 5), STORE_OK);
	assert_int_equal(store_backlog(s), 3);
	uint64_t seqs[16];
	assert_int_equal(fetch_all(s, seqs, 16), 3);
	assert_int_equal(seqs[0], 6);
	store_rollback(s);
	assert_int_equal(store_backlog(s), 8);
	assert_int_equal(fetch_all(s, seqs, 16), 8);
	assert_int_equal(seqs[0], 1);

	/* Committed, they stay marked across a reopen. */
	assert_int_equal(store_mark_delivered(s, d, 5), STORE_OK);
	assert_int_equal(fetch_all(s, seqs, 16), 3);
	store_close(s);
	s = open_store(f);
	assert_int_equal(store_backlog(s), 3);
	assert_int_equal(fetch_all(s, seqs, 16), 3);
	assert_int_equal(seqs[0], 6);
	/* Every event delivered, then a rollback of new appends: the seqs they
	 * gave back are handed out again and those events are undelivered. */
	uint64_t rest[] = { 6, 7, 8 };
	assert_int_equal(store_mark_delivered(s, rest, 3), STORE_OK);
	assert_int_equal(store_backlog(s), 0);
	assert_int_equal(fetch_all(s, seqs, 16), 0);
	assert_int_equal(store_begin(s), STORE_OK);
	assert_int_equal(append(s, "{}"), 9);
	store_rollback(s);
	assert_int_equal(append(s, "{\"again\":9}"), 9);
	assert_int_equal(store_backlog(s), 1);
	assert_int_equal(fetch_all(s, seqs, 16), 1);
	assert_int_equal(seqs[0], 9);
	store_close(s);
}

/* A repeat PUBACK of an event already pruned marks nothing: no mark is
 * left without its event, and the counts stay right. */
static void test_ack_of_pruned_event_leaves_no_mark(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	for (int i = 0; i < 3; i++)
		append(s, "{}");
	uint64_t d[] = { 1, 2, 3, 42 };
	assert_int_equal(store_mark_delivered(s, d, 4), STORE_OK); /* 42 was never appended */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM delivered"), 3);
	assert_int_equal(store_prune(s, time_wall_ms() + 2 * 86400LL * 1000), STORE_OK);
	assert_int_equal(store_mark_delivered(s, d, 3), STORE_OK);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM delivered"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM events"), 0);
	assert_int_equal(store_backlog(s), 0);
	assert_int_equal(append(s, "{}"), 4);
	assert_int_equal(store_backlog(s), 1);
	store_close(s);
}

/* Random appends (committed or rolled back), marks (of kept, pruned and
 * unknown seqs; some in transactions that roll back), fetches from random
 * points, backlog counts and prunes, checked against a plain model of which
 * seqs exist and which are delivered. */
enum { MODEL_MAX = 600 };
struct model {
	bool exists[MODEL_MAX + 2];
	bool delivered[MODEL_MAX + 2];
	uint64_t next;
};

static void model_check_fetch(struct store *s, const struct model *m, uint64_t after, int max)
{
	struct outbox_event ev[32];
	int n = 0;
	assert_int_equal(store_fetch_undelivered(s, after, max, ev, &n), STORE_OK);
	int k = 0;
	for (uint64_t q = after + 1; q < m->next && k < max; q++) {
		if (!m->exists[q] || m->delivered[q])
			continue;
		assert_true(k < n);
		assert_int_equal(ev[k].seq, q);
		k++;
	}
	assert_int_equal(n, k);
	for (int i = 0; i < n; i++)
		outbox_event_free(&ev[i]);
}

static int64_t model_backlog(const struct model *m)
{
	int64_t b = 0;
	for (uint64_t q = 1; q < m->next; q++)
		b += m->exists[q] && !m->delivered[q];
	return b;
}

static void model_mark(struct store *s, struct model *m, unsigned *rnd, bool keep)
{
	uint64_t d[16];
	int n = 1 + (int)(rand_r(rnd) % 16);
	uint64_t base = m->next > 20 ? m->next - 20 : 1;
	for (int i = 0; i < n; i++) /* mostly recent, nearly in order, some beyond the head */
		d[i] = rand_r(rnd) % 8 == 0 ? 1 + rand_r(rnd) % (m->next + 2) : base + rand_r(rnd) % 22;
	assert_int_equal(store_mark_delivered(s, d, n), STORE_OK);
	for (int i = 0; keep && i < n; i++)
		if (d[i] < m->next && m->exists[d[i]])
			m->delivered[d[i]] = true;
}

static void test_delivery_state_matches_model(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	static struct model m;
	memset(&m, 0, sizeof m);
	m.next = 1;
	unsigned rnd = 12345;
	for (int step = 0; step < 3000 && m.next < MODEL_MAX - 8; step++) {
		int op = (int)(rand_r(&rnd) % 10);
		if (op < 3) {
			int k = 1 + (int)(rand_r(&rnd) % 4);
			bool keep = rand_r(&rnd) % 4 != 0;
			assert_int_equal(store_begin(s), STORE_OK);
			for (int i = 0; i < k; i++)
				assert_int_equal(append(s, "{}"), m.next + (uint64_t)i);
			/* Inside the transaction its own appends are there to fetch. */
			uint64_t before = m.next;
			for (int i = 0; i < k; i++)
				m.exists[m.next++] = true;
			model_check_fetch(s, &m, 0, 32);
			if (keep) {
				assert_int_equal(store_commit(s), STORE_OK);
			} else {
				store_rollback(s);
				while (m.next > before)
					m.exists[--m.next] = false;
			}
		} else if (op < 6) {
			model_mark(s, &m, &rnd, true);
		} else if (op == 6) {
			/* Marks in a caller's transaction that rolls back, after a fetch and
			 * a count inside it. */
			assert_int_equal(store_begin(s), STORE_OK);
			model_mark(s, &m, &rnd, false);
			int64_t ignored = store_backlog(s);
			(void)ignored;
			struct outbox_event ev[8];
			int n = 0;
			assert_int_equal(store_fetch_undelivered(s, 0, 8, ev, &n), STORE_OK);
			for (int i = 0; i < n; i++)
				outbox_event_free(&ev[i]);
			store_rollback(s);
		} else if (op == 7) {
			assert_int_equal(store_prune(s, time_wall_ms() + 2 * 86400LL * 1000), STORE_OK);
			for (uint64_t q = 1; q < m.next; q++)
				if (m.delivered[q])
					m.exists[q] = m.delivered[q] = false;
		} else if (op == 8 && rand_r(&rnd) % 20 == 0) {
			store_close(s);
			s = open_store(f);
		}
		assert_int_equal(store_backlog(s), model_backlog(&m));
		uint64_t after = rand_r(&rnd) % 2 ? 0 : rand_r(&rnd) % (m.next + 1);
		model_check_fetch(s, &m, after, 1 + (int)(rand_r(&rnd) % 32));
	}
	assert_true(m.next > 200);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_created_and_reopened, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_prefix_and_cycle_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v0_file_is_migrated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_file_with_incidents_is_migrated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_synchronous_is_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_gapless_across_rollback_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_without_begin_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_undelivered_in_order_and_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_keeps_undelivered_and_seq_after_deleting_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_cap_rolls_back_and_recovers_after_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_outside_transaction_keeps_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_full_database_still_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_is_reported_and_store_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_open_of_missing_db_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_open_without_running_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_hook_reports_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_results_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_rows_upsert_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readings_pruned_by_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_cap_prunes_oldest_history_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_id_persists_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_recover_moves_only_a_corrupt_file_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v3_file_from_main_keeps_delivery_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rolled_back_marks_are_fetched_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_of_pruned_event_leaves_no_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_state_matches_model, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
