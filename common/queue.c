/* queue — see queue.h. A ring under one mutex: producers are few (one per
 * bus, Paho's threads, the control socket) and the critical section is a
 * struct copy, so a lock-free ring would buy nothing measurable here. */
#include "common/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_full;
	struct core_msg *ring;
	size_t cap, high_water;     /* data slots; where data push_wait waits */
	size_t ring_cap;            /* cap + QUEUE_CONTROL_SLOTS */
	size_t head, len;           /* len counts both classes */
	size_t n_control;           /* control messages among len */
	int efd;
	bool closed;
	bool signalled;
	uint64_t dropped;
};

struct queue *queue_create(size_t capacity, size_t high_water)
{
	struct queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	if (capacity == 0 || capacity > SIZE_MAX / sizeof *q->ring - QUEUE_CONTROL_SLOTS) {
		free(q);
		return NULL;
	}
	q->ring_cap = capacity + QUEUE_CONTROL_SLOTS;
	q->ring = calloc(q->ring_cap, sizeof *q->ring);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!q->ring || q->efd < 0) {
		free(q->ring);
		if (q->efd >= 0)
			close(q->efd);
		free(q);
		return NULL;
	}
	q->cap = capacity;
	q->high_water = high_water && high_water < capacity ? high_water : capacity;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_full, NULL);
	return q;
}

bool queue_msg_is_control(enum core_msg_type t)
{
	switch (t) {
	case MSG_UPLINK_CONNECTED: case MSG_UPLINK_LOST: case MSG_UPLINK_ACKED: case MSG_UPLINK_FAILED:
	case MSG_UPLINK_COMMAND: case MSG_CONTROL: case MSG_NOTIFY_RESULT: case MSG_WEB_REQUEST:
		return true;
	default:
		return false;
	}
}

/* Called with the lock held: is there room for m in its class? `limit` is
 * the data limit (high_water for push_wait, cap for push_nowait). */
static bool has_room_locked(const struct queue *q, const struct core_msg *m, size_t limit)
{
	if (queue_msg_is_control(m->type))
		return q->n_control < QUEUE_CONTROL_SLOTS;
	return q->len - q->n_control < limit;
}

static void free_blob(struct core_msg *m)
{
	switch (m->type) {
	case MSG_SOURCE_MESSAGE: case MSG_UPLINK_LOST: case MSG_UPLINK_COMMAND:
	case MSG_CONTROL: case MSG_USER: case MSG_NOTIFY_RESULT: case MSG_READ_RESULT:
		free(m->u.blob.data);
		break;
	default:
		break;
	}
}

void queue_destroy(struct queue *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->len; i++)
		free_blob(&q->ring[(q->head + i) % q->ring_cap]);
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->not_full);
	free(q->ring);
	free(q);
}

int queue_fd(const struct queue *q) { return q->efd; }

/* Called with the lock held: makes the eventfd readable once per drain. */
static void signal_locked(struct queue *q)
{
	if (!q->signalled) {
		uint64_t one = 1;
		/* EAGAIN only if the counter would overflow: it is then readable anyway. */
		ssize_t w = write(q->efd, &one, sizeof one);
		(void)w;
		q->signalled = true;
	}
}

/* Called with the lock held. */
static void push_locked(struct queue *q, const struct core_msg *m, bool wake)
{
	q->ring[(q->head + q->len) % q->ring_cap] = *m;
	q->len++;
	if (queue_msg_is_control(m->type))
		q->n_control++;
	if (wake)
		signal_locked(q);
}

static int push_wait(struct queue *q, const struct core_msg *m, bool wake)
{
	pthread_mutex_lock(&q->lock);
	while (!q->closed && !has_room_locked(q, m, q->high_water)) {
		if (q->len > 0)
			signal_locked(q); /* quiet pushes must not leave a full queue asleep */
		pthread_cond_wait(&q->not_full, &q->lock);
	}
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	push_locked(q, m, wake);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int queue_push_wait(struct queue *q, const struct core_msg *m)
{
	return push_wait(q, m, true);
}

int queue_push_wait_quiet(struct queue *q, const struct core_msg *m)
{
	return push_wait(q, m, false);
}

void queue_wake(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->len > 0)
		signal_locked(q);
	pthread_mutex_unlock(&q->lock);
}

int queue_push_nowait(struct queue *q, const struct core_msg *m)
{
	pthread_mutex_lock(&q->lock);
	if (q->closed || !has_room_locked(q, m, q->cap)) {
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	push_locked(q, m, true);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int queue_push_many_nowait(struct queue *q, const struct core_msg *m, size_t n)
{
	pthread_mutex_lock(&q->lock);
	if (q->closed || q->len - q->n_control + n > q->cap) {
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		push_locked(q, &m[i], true);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

bool queue_data_room(struct queue *q, size_t n)
{
	pthread_mutex_lock(&q->lock);
	bool room = !q->closed && q->len - q->n_control + n <= q->cap;
	pthread_mutex_unlock(&q->lock);
	return room;
}

size_t queue_pop_many(struct queue *q, struct core_msg *out, size_t max)
{
	pthread_mutex_lock(&q->lock);
	size_t n = 0;
	while (n < max && q->len > 0) {
		out[n] = q->ring[q->head];
		if (queue_msg_is_control(out[n].type))
			q->n_control--;
		n++;
		q->head = (q->head + 1) % q->ring_cap;
		q->len--;
	}
	if (q->len == 0 && q->signalled) {
		uint64_t v;
		ssize_t r = read(q->efd, &v, sizeof v);
		(void)r; /* EAGAIN: already drained */
		q->signalled = false;
	}
	if (n > 0)
		pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return n;
}

size_t queue_length(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	size_t n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void queue_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

bool queue_is_closed(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	bool closed = q->closed;
	pthread_mutex_unlock(&q->lock);
	return closed;
}

uint64_t queue_dropped(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	uint64_t d = q->dropped;
	pthread_mutex_unlock(&q->lock);
	return d;
}
