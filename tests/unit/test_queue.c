/* Unit tests for the core queue: FIFO order and bounds, and the capacity
 * reserved for control messages (uplink connected/lost/acked/failed/command,
 * control requests) that data pushes — bus readings, MQTT-source messages —
 * can never use, so a sensor flood cannot starve the uplink (issue 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "common/queue.h"

static struct core_msg data_msg(int i)
{
	struct core_msg m = { .type = MSG_POINT };
	m.u.point.device = 0;
	m.u.point.point = i;
	return m;
}

static struct core_msg source_msg(void)
{
	struct core_msg m = { .type = MSG_SOURCE_MESSAGE };
	m.u.blob.data = strdup("t\0{}");
	m.u.blob.len = 4;
	return m;
}

static void test_queue_fifo_and_bounds(void **state)
{
	(void)state;
	struct queue *q = queue_create(4, 2);
	assert_non_null(q);
	for (int i = 0; i < 4; i++) {
		struct core_msg m = data_msg(i);
		assert_int_equal(queue_push_nowait(q, &m), 0);
	}
	struct core_msg m = data_msg(4);
	assert_int_equal(queue_push_nowait(q, &m), -1);
	assert_int_equal(queue_dropped(q), 1);
	struct core_msg out[8];
	assert_int_equal(queue_pop_many(q, out, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(out[i].u.point.point, i);
	assert_int_equal(queue_pop_many(q, out, 8), 0);
	assert_false(queue_is_closed(q));
	queue_close(q);
	assert_true(queue_is_closed(q));
	assert_int_equal(queue_push_wait(q, &m), -1);
	struct core_msg c = { .type = MSG_UPLINK_ACKED };
	assert_int_equal(queue_push_nowait(q, &c), -1);
	queue_destroy(q);
}

/* A queue full of data still takes every kind of control message, in order
 * behind the data; the refused data push is counted. */
static void test_control_push_succeeds_when_full_of_data(void **state)
{
	(void)state;
	struct queue *q = queue_create(8, 6);
	assert_non_null(q);
	for (int i = 0; i < 8; i++) {
		struct core_msg m = i % 2 ? data_msg(i) : source_msg();
		assert_int_equal(queue_push_nowait(q, &m), 0);
	}
	struct core_msg m = source_msg();
	assert_int_equal(queue_push_nowait(q, &m), -1);  /* data: full */
	free(m.u.blob.data);
	assert_int_equal(queue_dropped(q), 1);
	static const enum core_msg_type ctl[] = { MSG_UPLINK_CONNECTED, MSG_UPLINK_LOST, MSG_UPLINK_ACKED,
						  MSG_UPLINK_FAILED, MSG_UPLINK_COMMAND, MSG_CONTROL };
	for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
		struct core_msg c = { .type = ctl[i] };
		c.u.uplink.seq = 100 + i;
		if (ctl[i] == MSG_UPLINK_LOST || ctl[i] == MSG_UPLINK_COMMAND || ctl[i] == MSG_CONTROL)
			c.u.blob.data = NULL;  /* blobs may be NULL */
		assert_int_equal(queue_push_nowait(q, &c), 0);
	}
	assert_int_equal(queue_dropped(q), 1);
	/* data still refused: the control messages took none of its room back */
	m = data_msg(99);
	assert_int_equal(queue_push_nowait(q, &m), -1);
	assert_int_equal(queue_dropped(q), 2);
	assert_int_equal(queue_length(q), 8 + 6);
	struct core_msg out[32];
	assert_int_equal(queue_pop_many(q, out, 32), 14);
	for (int i = 0; i < 8; i++)
		assert_int_equal(out[i].type, i % 2 ? MSG_POINT : MSG_SOURCE_MESSAGE);
	for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++)
		assert_int_equal(out[8 + i].type, ctl[i]);
	for (int i = 0; i < 8; i += 2)
		free(out[i].u.blob.data);
	queue_destroy(q);
}

/* The control reserve is its own: control messages queued first leave the
 * data capacity whole, and the reserve itself is bounded (then counted). */
static void test_control_reserve_is_separate_and_bounded(void **state)
{
	(void)state;
	struct queue *q = queue_create(4, 4);
	assert_non_null(q);
	struct core_msg c = { .type = MSG_UPLINK_ACKED };
	for (int i = 0; i < QUEUE_CONTROL_SLOTS; i++) {
		c.u.uplink.seq = (uint64_t)i + 1;
		assert_int_equal(queue_push_nowait(q, &c), 0);
	}
	assert_int_equal(queue_push_nowait(q, &c), -1);
	assert_int_equal(queue_dropped(q), 1);
	for (int i = 0; i < 4; i++) {
		struct core_msg m = data_msg(i);
		assert_int_equal(queue_push_nowait(q, &m), 0);
	}
	struct core_msg m = data_msg(4);
	assert_int_equal(queue_push_nowait(q, &m), -1);
	assert_int_equal(queue_dropped(q), 2);
	struct core_msg *out = calloc(QUEUE_CONTROL_SLOTS + 8, sizeof *out);
	assert_non_null(out);
	assert_int_equal(queue_pop_many(q, out, QUEUE_CONTROL_SLOTS + 8), QUEUE_CONTROL_SLOTS + 4);
	assert_int_equal(out[0].u.uplink.seq, 1);
	assert_int_equal(out[QUEUE_CONTROL_SLOTS].type, MSG_POINT);
	/* room again for both */
	assert_int_equal(queue_push_nowait(q, &c), 0);
	assert_int_equal(queue_push_nowait(q, &m), 0);
	assert_int_equal(queue_pop_many(q, out, 8), 2);
	free(out);
	queue_destroy(q);
}

struct waiter {
	struct queue *q;
	int rc;
};

static void *push_wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct core_msg m = data_msg(7);
	w->rc = queue_push_wait(w->q, &m);
	return NULL;
}

/* A bus thread waiting at the high-water mark does not hold control
 * messages back, and is released when the core pops. */
static void test_control_passes_a_waiting_bus(void **state)
{
	(void)state;
	struct queue *q = queue_create(8, 2);
	assert_non_null(q);
	for (int i = 0; i < 2; i++) {
		struct core_msg m = data_msg(i);
		assert_int_equal(queue_push_wait(q, &m), 0);
	}
	struct waiter w = { .q = q, .rc = 99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, push_wait_thread, &w), 0);
	struct core_msg c = { .type = MSG_UPLINK_CONNECTED };
	assert_int_equal(queue_push_nowait(q, &c), 0);
	/* the waiter is blocked: length stays 3 until a pop makes room */
	for (int i = 0; i < 50 && queue_length(q) != 3; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	assert_int_equal(queue_length(q), 3);
	struct core_msg out[8];
	size_t got = queue_pop_many(q, out, 8);
	assert_int_equal(got, 3);
	assert_int_equal(out[2].type, MSG_UPLINK_CONNECTED);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_int_equal(queue_pop_many(q, out, 8), 1);
	assert_int_equal(out[0].u.point.point, 7);
	queue_destroy(q);
}

static bool fd_readable(struct queue *q)
{
	struct pollfd p = { .fd = queue_fd(q), .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void *push_quiet_thread(void *arg)
{
	struct waiter *w = arg;
	struct core_msg m = data_msg(9);
	w->rc = queue_push_wait_quiet(w->q, &m);
	return NULL;
}

/* Quiet pushes leave the consumer asleep until queue_wake; one that has to
 * wait for room wakes it, or a full queue would never be drained. */
static void test_quiet_push_wakes_once_or_when_full(void **state)
{
	(void)state;
	struct queue *q = queue_create(8, 2);
	assert_non_null(q);
	for (int i = 0; i < 2; i++) {
		struct core_msg m = data_msg(i);
		assert_int_equal(queue_push_wait_quiet(q, &m), 0);
	}
	assert_false(fd_readable(q));
	queue_wake(q);
	assert_true(fd_readable(q));
	struct core_msg out[8];
	assert_int_equal(queue_pop_many(q, out, 8), 2);
	assert_false(fd_readable(q));
	queue_wake(q); /* nothing waiting: stays asleep */
	assert_false(fd_readable(q));
	for (int i = 0; i < 2; i++) {
		struct core_msg m = data_msg(i);
		assert_int_equal(queue_push_wait_quiet(q, &m), 0);
	}
	struct waiter w = { .q = q, .rc = 99 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, push_quiet_thread, &w), 0);
	struct pollfd p = { .fd = queue_fd(q), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1); /* the blocked pusher woke the consumer */
	assert_int_equal(queue_pop_many(q, out, 8), 2);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_int_equal(queue_pop_many(q, out, 8), 1);
	assert_int_equal(out[0].u.point.point, 9);
	queue_destroy(q);
}

/* MSG_POINTS: entries in, entries out, bounded. */
/* The parts of one split MQTT-source message go in all together or not
 * at all, in order, next to each other; control slots are not theirs. */
static void test_push_many_is_all_or_nothing(void **state)
{
	(void)state;
	struct queue *q = queue_create(4, 4);
	assert_non_null(q);
	struct core_msg parts[3];
	for (int i = 0; i < 3; i++) {
		parts[i] = (struct core_msg){ .type = MSG_SOURCE_POINTS };
		parts[i].u.points.device = i;
	}
	struct core_msg one = data_msg(9);
	assert_int_equal(queue_push_nowait(q, &one), 0);
	assert_true(queue_data_room(q, 3));
	assert_false(queue_data_room(q, 4));
	assert_int_equal(queue_push_many_nowait(q, parts, 3), 0);
	assert_false(queue_data_room(q, 1));
	struct core_msg c = { .type = MSG_UPLINK_ACKED };
	assert_int_equal(queue_push_nowait(q, &c), 0);
	assert_int_equal(queue_push_many_nowait(q, parts, 1), -1); /* the control message left room: not for data */
	assert_int_equal(queue_dropped(q), 1);
	struct core_msg out[8];
	assert_int_equal(queue_pop_many(q, out, 2), 2);
	assert_int_equal(queue_push_many_nowait(q, parts, 3), -1); /* 2 free, 3 asked: none goes in */
	assert_int_equal(queue_length(q), 3);
	assert_int_equal(queue_pop_many(q, out + 2, 8), 3);
	assert_int_equal(out[0].u.point.point, 9);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(out[1 + i].type, MSG_SOURCE_POINTS);
		assert_int_equal(out[1 + i].u.points.device, i);
	}
	assert_int_equal(out[4].type, MSG_UPLINK_ACKED);
	queue_close(q);
	assert_int_equal(queue_push_many_nowait(q, parts, 1), -1);
	assert_false(queue_data_room(q, 1));
	queue_destroy(q);
}

static void test_points_message_round_trip(void **state)
{
	(void)state;
	struct core_msg m = { .type = MSG_POINTS };
	m.u.points.device = 3;
	m.u.points.ts_ms = 1234;
	for (int i = 0; i < QUEUE_POINTS_MAX; i++) {
		struct point_value pv = { .value = i * 1.5, .quality = i % 2 ? QUALITY_GOOD : QUALITY_COMM_ERROR };
		assert_true(core_msg_add_point(&m, 100 + i, &pv));
	}
	struct point_value pv = { 0 };
	assert_false(core_msg_add_point(&m, 1, &pv));
	assert_int_equal(m.u.points.n, QUEUE_POINTS_MAX);
	for (int i = 0; i < QUEUE_POINTS_MAX; i++) {
		int pt;
		core_msg_point(&m, i, &pt, &pv);
		assert_int_equal(pt, 100 + i);
		assert_true(pv.value == i * 1.5);
		assert_int_equal(pv.quality, i % 2 ? QUALITY_GOOD : QUALITY_COMM_ERROR);
		assert_int_equal(pv.ts_ms, 1234);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_fifo_and_bounds),
		cmocka_unit_test(test_control_push_succeeds_when_full_of_data),
		cmocka_unit_test(test_control_reserve_is_separate_and_bounded),
		cmocka_unit_test(test_control_passes_a_waiting_bus),
		cmocka_unit_test(test_quiet_push_wakes_once_or_when_full),
		cmocka_unit_test(test_points_message_round_trip),
		cmocka_unit_test(test_push_many_is_all_or_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
