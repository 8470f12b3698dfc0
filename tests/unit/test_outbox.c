/* Unit tests for the outbox pump (gateway/uplink/outbox.c) over a real store in a
 * temporary directory and a fake publisher, and for the uplink's reconnect
 * backoff. What they pin: seq order, the window, resending from the oldest
 * undelivered with the same seq after a reconnect/failure/ack timeout, no
 * skipping when the uplink refuses a message, delivered marks only on ack. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/uplink/outbox.h"
#include "gateway/store/store.h"
#include "gateway/uplink/uplink.h"

#define WINDOW 16

struct fake {
	uint64_t seqs[20000];
	char payload_of_first[256];
	int n;
	uint64_t refuse_from;     /* refuse seqs >= this (0 = accept all) */
};

struct fixture {
	char dir[64];
	struct store *st;
	struct outbox *ob;
	struct fake pub;
};

static int fake_publish(void *ctx, const char *topic_suffix, const void *payload, size_t len, uint64_t seq)
{
	struct fake *f = ctx;
	assert_string_equal(topic_suffix, "incident");
	if (f->refuse_from && seq >= f->refuse_from)
		return -12;
	if (f->n == 0)
		snprintf(f->payload_of_first, sizeof f->payload_of_first, "%.*s", (int)len, (const char *)payload);
	assert_true(f->n < 20000);
	f->seqs[f->n++] = seq;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	assert_non_null(fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/gridgw-outbox.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	char err[256];
	struct store_config sc = { .max_size_mb = 64, .history_keep_ms = 86400000, .history_interval_ms = 60000,
				   .delivered_keep_ms = 86400000, .synchronous = "normal" };
	fx->st = store_open(fx->dir, &sc, err, sizeof err);
	if (!fx->st)
		fail_msg("store_open: %s", err);
	fx->ob = outbox_create_with(fx->st, WINDOW, fake_publish, &fx->pub);
	assert_non_null(fx->ob);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	outbox_destroy(fx->ob);
	store_close(fx->st);
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void append(struct fixture *fx, int n)
{
	assert_int_equal(store_begin(fx->st), STORE_OK);
	for (int i = 0; i < n; i++) {
		char payload[128];
		uint64_t next = store_next_seq(fx->st), seq = 0;
		int len = snprintf(payload, sizeof payload, "{\"id\":\"01JABCDEF0000000000000000%d\",\"seq\":%llu}",
				   (int)(next % 7), (unsigned long long)next);
		assert_int_equal(store_append_event(fx->st, "01JABCDEF00000000000000001", "incident", payload,
						    (size_t)len, &seq), STORE_OK);
		assert_true(seq == next);
	}
	assert_int_equal(store_commit(fx->st), STORE_OK);
}

static void test_sends_in_seq_order_within_the_window(void **state)
{
	struct fixture *fx = *state;
	append(fx, 100);
	assert_int_equal(outbox_pump_at(fx->ob, 1000), 0);  /* not connected: nothing */
	assert_int_equal(fx->pub.n, 0);
	outbox_on_connected(fx->ob);
	assert_int_equal(outbox_pump_at(fx->ob, 1000), WINDOW);
	assert_int_equal(outbox_pump_at(fx->ob, 1001), 0);  /* window full */
	for (int i = 0; i < WINDOW; i++)
		assert_true(fx->pub.seqs[i] == (uint64_t)i + 1);
	for (uint64_t s = 1; s <= 5; s++)
		outbox_on_acked(fx->ob, s);
	assert_int_equal(outbox_pump_at(fx->ob, 1002), 5);
	assert_int_equal(store_backlog(fx->st), 100);          /* marks wait for their batch */
	assert_int_equal(outbox_flush(fx->ob), 0);
	assert_int_equal(store_backlog(fx->st), 95);           /* marked only on ack */
	assert_true(fx->pub.seqs[WINDOW] == WINDOW + 1);
	assert_true(fx->pub.seqs[fx->pub.n - 1] == WINDOW + 5);
	struct outbox_stats st;
	outbox_get_stats(fx->ob, &st);
	assert_int_equal(st.inflight, WINDOW);
	assert_int_equal(st.marked, 5);
}

static void test_reconnect_resends_from_oldest_undelivered(void **state)
{
	struct fixture *fx = *state;
	append(fx, 40);
	outbox_on_connected(fx->ob);
	outbox_pump_at(fx->ob, 0);
	char first[256];
	snprintf(first, sizeof first, "%s", fx->pub.payload_of_first);
	outbox_on_acked(fx->ob, 1);
	outbox_on_acked(fx->ob, 2);
	outbox_on_acked(fx->ob, 4);  /* out of order: 3 stays undelivered */
	outbox_on_lost(fx->ob);
	assert_int_equal(outbox_pump_at(fx->ob, 1), 0);      /* flushes marks, sends nothing */
	assert_int_equal(store_backlog(fx->st), 37);
	fx->pub.n = 0;
	outbox_on_connected(fx->ob);
	assert_int_equal(outbox_pump_at(fx->ob, 2), WINDOW);
	uint64_t want[] = { 3, 5, 6, 7 };
	for (int i = 0; i < 4; i++)
		assert_true(fx->pub.seqs[i] == want[i]);
	assert_non_null(strstr(first, "\"seq\":1}"));
}

static void test_refused_publish_is_retried_without_skipping(void **state)
{
	struct fixture *fx = *state;
	append(fx, 30);
	outbox_on_connected(fx->ob);
	fx->pub.refuse_from = 5;
	assert_int_equal(outbox_pump_at(fx->ob, 0), 4);
	assert_int_equal(outbox_next_tick_ms(fx->ob, 0), OUTBOX_RETRY_MS);
	fx->pub.refuse_from = 0;
	assert_int_equal(outbox_pump_at(fx->ob, 20), WINDOW - 4);
	for (int i = 0; i < fx->pub.n; i++)
		assert_true(fx->pub.seqs[i] == (uint64_t)i + 1);
}

static void test_failure_pauses_then_rewinds(void **state)
{
	struct fixture *fx = *state;
	append(fx, 30);
	outbox_on_connected(fx->ob);
	outbox_pump_at(fx->ob, 0);
	outbox_on_acked(fx->ob, 1);
	outbox_on_failed(fx->ob, 2);
	fx->pub.n = 0;
	assert_int_equal(outbox_pump_at(fx->ob, 100), 0);   /* paused */
	assert_int_equal(fx->pub.n, 0);
	assert_true(outbox_next_tick_ms(fx->ob, 100) > 0);
	assert_int_equal(outbox_pump_at(fx->ob, 100 + OUTBOX_FAIL_PAUSE_MS), WINDOW);
	assert_true(fx->pub.seqs[0] == 2);                 /* oldest undelivered, same seq */
}

static void test_ack_timeout_resends(void **state)
{
	struct fixture *fx = *state;
	append(fx, 20);
	outbox_on_connected(fx->ob);
	outbox_pump_at(fx->ob, 0);
	fx->pub.n = 0;
	assert_int_equal(outbox_pump_at(fx->ob, OUTBOX_ACK_TIMEOUT_MS - 1), 0);
	assert_int_equal(outbox_next_tick_ms(fx->ob, OUTBOX_ACK_TIMEOUT_MS - 1), 1);
	assert_int_equal(outbox_pump_at(fx->ob, OUTBOX_ACK_TIMEOUT_MS), WINDOW);
	assert_true(fx->pub.seqs[0] == 1);
}

static void test_drains_a_backlog_and_follows_new_events(void **state)
{
	struct fixture *fx = *state;
	append(fx, 3000);
	outbox_on_connected(fx->ob);
	int64_t now = 0;
	for (int guard = 0; guard < 10000 && store_backlog(fx->st) > 0; guard++) {
		int before = fx->pub.n;
		outbox_pump_at(fx->ob, now++);
		for (int i = before; i < fx->pub.n; i++)
			outbox_on_acked(fx->ob, fx->pub.seqs[i]);
	}
	outbox_pump_at(fx->ob, now++);
	assert_int_equal(store_backlog(fx->st), 0);
	assert_int_equal(fx->pub.n, 3000);
	for (int i = 0; i < 3000; i++)
		assert_true(fx->pub.seqs[i] == (uint64_t)i + 1);
	/* Caught up: a new event is picked up by the next pump. */
	append(fx, 1);
	assert_int_equal(outbox_pump_at(fx->ob, now++), 1);
	assert_true(fx->pub.seqs[3000] == 3001);
}

/* Acks everything published since the last call. */
static void ack_published(struct fixture *fx)
{
	for (int i = 0; i < fx->pub.n; i++)
		outbox_on_acked(fx->ob, fx->pub.seqs[i]);
	fx->pub.n = 0;
}

/* A store that cannot write the marks (PRAGMA query_only on the real
 * store): every reconnect resends and re-acks the same events. The pending
 * marks must not hold a seq twice, and the write is retried until it works. */
static void test_unwritable_marks_are_not_duplicated_and_retried(void **state)
{
	struct fixture *fx = *state;
	append(fx, 10);
	assert_int_equal(store_set_query_only(fx->st, true), STORE_OK);
	int64_t t = 0;
	for (int round = 0; round < 30; round++) {
		outbox_on_connected(fx->ob);
		outbox_pump_at(fx->ob, t);
		ack_published(fx);
		t += OUTBOX_MARK_DELAY_MS + 1;
		outbox_pump_at(fx->ob, t);   /* the write fails */
		outbox_on_lost(fx->ob);
		t += OUTBOX_MARK_RETRY_MS + 1;
	}
	struct outbox_stats st;
	outbox_get_stats(fx->ob, &st);
	assert_true(st.store_errors > 0);
	assert_int_equal(st.pending_marks, 10);
	assert_int_equal(store_backlog(fx->st), 10);
	assert_int_equal(store_set_query_only(fx->st, false), STORE_OK);
	outbox_pump_at(fx->ob, t);
	outbox_get_stats(fx->ob, &st);
	assert_int_equal(st.pending_marks, 0);
	assert_int_equal(st.marked, 10);    /* each seq written once */
	assert_int_equal(store_backlog(fx->st), 0);
}

/* While the marks cannot be written the outbox sends no more than the
 * marks can hold: memory stays bounded, and nothing is lost once the store
 * writes again. */
static void test_marks_bounded_while_store_cannot_write(void **state)
{
	struct fixture *fx = *state;
	enum { N = 3000 };
	append(fx, N);
	assert_int_equal(store_set_query_only(fx->st, true), STORE_OK);
	outbox_on_connected(fx->ob);
	int64_t t = 0;
	uint64_t published = 0;
	for (int i = 0; i < 600; i++, t += 5) {
		int n = outbox_pump_at(fx->ob, t);
		published += n > 0 ? (uint64_t)n : 0;
		ack_published(fx);
	}
	struct outbox_stats st;
	outbox_get_stats(fx->ob, &st);
	assert_true(st.pending_marks <= OUTBOX_MARKS_MAX);
	assert_true(published <= OUTBOX_MARKS_MAX);
	assert_int_equal(st.marks_dropped, 0);
	assert_int_equal(store_set_query_only(fx->st, false), STORE_OK);
	for (int i = 0; i < 2000 && store_backlog(fx->st) > 0; i++, t += 5) {
		outbox_pump_at(fx->ob, t);
		ack_published(fx);
	}
	outbox_pump_at(fx->ob, t + OUTBOX_MARK_RETRY_MS);
	outbox_get_stats(fx->ob, &st);
	assert_int_equal(store_backlog(fx->st), 0);
	assert_int_equal(st.marked, N);
}

static void test_backoff_grows_caps_and_jitters(void **state)
{
	(void)state;
	uint64_t rng = 12345;
	int64_t lo = INT64_MAX, hi = 0;
	for (int i = 0; i < 2000; i++) {
		int64_t d = uplink_backoff_ms(1, 1000, 60000, &rng);
		assert_true(d >= 500 && d <= 1000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(hi - lo > 400);  /* spread: gateways do not retry in lockstep */
	for (int i = 0; i < 100; i++) {
		int64_t d = uplink_backoff_ms(4, 1000, 60000, &rng);
		assert_true(d >= 4000 && d <= 8000);
		d = uplink_backoff_ms(30, 1000, 60000, &rng);
		assert_true(d >= 30000 && d <= 60000);
		d = uplink_backoff_ms(1000000, 1000, 60000, &rng);
		assert_true(d >= 30000 && d <= 60000);
	}
	uint64_t a = 1, b = 2;
	assert_true(uplink_backoff_ms(1, 10000, 10000, &a) != uplink_backoff_ms(1, 10000, 10000, &b) ||
		    uplink_backoff_ms(1, 10000, 10000, &a) != uplink_backoff_ms(1, 10000, 10000, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sends_in_seq_order_within_the_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_resends_from_oldest_undelivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_publish_is_retried_without_skipping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_pauses_then_rewinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_marks_are_not_duplicated_and_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marks_bounded_while_store_cannot_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_timeout_resends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drains_a_backlog_and_follows_new_events, setup, teardown),
		cmocka_unit_test(test_backoff_grows_caps_and_jitters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
