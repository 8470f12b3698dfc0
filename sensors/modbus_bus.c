/* modbus_bus — see modbus_bus.h. Owns the bus thread: its schedule (a
 * min-heap of devices by due time), the libmodbus context and its
 * reconnects, per-device failure/backoff/offline state, and the small write
 * queue the core feeds.
 *
 * Scheduling: each device has a phase inside its period (devices of a bus
 * are spread evenly at start, so a bus never starts with every device due
 * at once) and is polled at phase + k * period. A poll that starts late does
 * not shift later polls; a bus so far behind that a slot has passed skips
 * the slot (counted as an overrun) rather than stacking catch-up polls.
 *
 * Cost of a dead device on its own bus: while it is still counted online it
 * gets one attempt per block (no retries after a failed poll) and the poll
 * stops at the first timeout; once offline it is polled at doubling
 * multiples of its period up to min(offline_after, 8 s) (never less than one
 * period), so it costs at most one timeout per period, less once known
 * dead, and its return is still noticed within about offline_after. */
#include "sensors/modbus_bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/decode.h"
#include "sensors/modbus_link.h"
#include "sensors/modbus_plan.h"

#define MODBUS_BACKOFF_CAP_US (8 * 1000000LL)   /* offline device: retry at least this often */
#define LINK_BACKOFF_MIN_US (200 * 1000LL)
#define LINK_BACKOFF_MAX_US (10 * 1000000LL)
#define MODBUS_BUS_WAKE_MAX_US 2000             /* longest a posted message waits for the core's wake-up */
#define LATE_BUCKET_US 50
#define LATE_BUCKETS 4000                       /* 0..200 ms, then one overflow bucket */

enum dev_comm { DEV_UNKNOWN = 0, DEV_ONLINE, DEV_OFFLINE };

struct dev_state {
	int device;                 /* index in cfg->devices */
	const struct device_config *dc;
	const struct profile *prof;
	struct modbus_plan plan;
	struct point_value *cur;    /* what the core was last told, per point */
	int64_t period_us;
	int64_t offline_after_us;
	int64_t due_us;
	int64_t last_good_us;       /* start time until the first good read */
	int fails;                  /* consecutive polls without a good read */
	enum dev_comm comm;
	int last_error;
	unsigned polls_since_refresh;
	int64_t last_refresh_us;
};

struct write_req {
	int device;
	int point;
	double value;
	uint64_t id;
};

struct read_req {
	int device;
	uint64_t token;
};

struct bus_counters {
	atomic_uint_fast64_t requests, errors, timeouts, points, polls, overruns, writes,
		write_errors, connects, posted;
	atomic_int online, offline;
	atomic_bool link_up;
	atomic_int_fast64_t late_max;
	atomic_uint_fast32_t late_hist[LATE_BUCKETS + 1];
};

struct modbus_bus {
	const struct gw_config *cfg;
	const struct bus_config *bc;
	int bus_index;
	struct queue *q;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;       /* guards stop and the write ring */
	pthread_cond_t cond;        /* CLOCK_MONOTONIC; signalled on stop/write */
	bool stop;
	struct write_req wq[MODBUS_BUS_WRITE_QUEUE];
	int wq_head, wq_len;
	struct read_req rq[MODBUS_BUS_READ_QUEUE];   /* the console's one-shot reads (also under lock) */
	int rq_head, rq_len;

	/* everything below is owned by the bus thread */
	struct dev_state *devs;
	int n_devs;
	int *dev_slot;              /* cfg device index -> devs index, or -1 */
	int *heap;                  /* devs indices, min-heap by due_us */
	int heap_len;
	modbus_t *ctx;
	int64_t reconnect_at_us;
	int64_t reconnect_backoff_us;
	int link_timeouts;          /* consecutive polls that timed out, no good reply between */
	int64_t frame_delay_us;
	int64_t last_io_end_us;
	bool queue_closed;
	struct log_ratelimit rl;
	bool down_reported;         /* the link's failure is logged: retries are quiet until it opens */
	unsigned failed_connects;   /* since the link was last open */
	uint16_t regs[MODBUS_PLAN_MAX_REGS];
	uint8_t bits[MODBUS_PLAN_MAX_BITS];
	struct core_msg pend;       /* MSG_POINTS being filled by the current poll */
	int64_t unwoken_since_us;   /* first message posted since the core was last woken, or 0 */

	struct bus_counters c;
};

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(int64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- schedule: a binary min-heap of device indices by due time ---- */

/* Ties (the devices of one tick) in configuration order. */
static bool heap_less(const struct modbus_bus *b, int i, int j)
{
	int64_t a = b->devs[b->heap[i]].due_us, c = b->devs[b->heap[j]].due_us;
	return a < c || (a == c && b->heap[i] < b->heap[j]);
}

static void heap_swap(struct modbus_bus *b, int i, int j)
{
	int t = b->heap[i];
	b->heap[i] = b->heap[j];
	b->heap[j] = t;
}

static void heap_push(struct modbus_bus *b, int dev)
{
	int i = b->heap_len++;
	b->heap[i] = dev;
	while (i > 0 && heap_less(b, i, (i - 1) / 2)) {
		heap_swap(b, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static int heap_pop(struct modbus_bus *b)
{
	int top = b->heap[0];
	b->heap[0] = b->heap[--b->heap_len];
	int i = 0;
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < b->heap_len && heap_less(b, l, m))
			m = l;
		if (r < b->heap_len && heap_less(b, r, m))
			m = r;
		if (m == i)
			break;
		heap_swap(b, i, m);
		i = m;
	}
	return top;
}

/* ---- posting to the core ---- */

/* Posts without waking the core: bus_wake_core does, once per burst. */
static void bus_post(struct modbus_bus *b, const struct core_msg *m)
{
	if (b->queue_closed)
		return;
	if (queue_push_wait_quiet(b->q, m) < 0) {
		b->queue_closed = true; /* the core is gone: the thread winds down */
		return;
	}
	if (b->unwoken_since_us == 0)
		b->unwoken_since_us = mono_us();
	atomic_fetch_add_explicit(&b->c.posted, 1, memory_order_relaxed);
}

/* Wakes the core for what was posted since the last wake-up: when the bus
 * is about to sleep (the tick's polls are done), or, inside a long burst (a
 * slow serial line), once MODBUS_BUS_WAKE_MAX_US have passed since the
 * first of them, which bounds what the batching adds to an alarm's way. */
static void bus_wake_core(struct modbus_bus *b, bool sleeping)
{
	if (b->unwoken_since_us == 0)
		return;
	if (!sleeping && mono_us() - b->unwoken_since_us < MODBUS_BUS_WAKE_MAX_US)
		return;
	queue_wake(b->q);
	b->unwoken_since_us = 0;
}

/* Posts the points gathered for the device being polled, if any. */
static void bus_flush_points(struct modbus_bus *b)
{
	if (b->pend.u.points.n == 0)
		return;
	bus_post(b, &b->pend);
	b->pend.u.points.n = 0;
}

/* Adds point's current value to the device's poll message (one MSG_POINTS
 * per poll; a full one is posted and a new one begun). */
static void bus_post_point(struct modbus_bus *b, struct dev_state *d, int point)
{
	if (b->pend.u.points.n > 0 &&
	    (b->pend.u.points.device != d->device || b->pend.u.points.ts_ms != d->cur[point].ts_ms))
		bus_flush_points(b);
	if (b->pend.u.points.n == 0) {
		b->pend.type = MSG_POINTS;
		b->pend.u.points.device = d->device;
		b->pend.u.points.ts_ms = d->cur[point].ts_ms;
	}
	(void)core_msg_add_point(&b->pend, point, &d->cur[point]);
	if (b->pend.u.points.n == QUEUE_POINTS_MAX)
		bus_flush_points(b);
}

/* Records a new value/quality of a point; posts it if it changed or force. */
static void bus_set_point(struct modbus_bus *b, struct dev_state *d, int point, enum quality q,
			  double value, int64_t wall_ms, bool force)
{
	struct point_value *pv = &d->cur[point];
	bool changed = pv->quality != q || (q == QUALITY_GOOD && pv->value != value);
	if (q != QUALITY_GOOD)
		value = pv->value; /* keep the last good value for the record */
	pv->quality = q;
	pv->value = value;
	if (changed || force) {
		pv->ts_ms = wall_ms;
		bus_post_point(b, d, point);
	}
}

static void bus_post_comm(struct modbus_bus *b, struct dev_state *d, int ok, int error)
{
	bus_flush_points(b); /* the core sees the points read before this change, in order */
	struct core_msg m = { .type = MSG_DEVICE_COMM };
	m.u.comm.device = d->device;
	m.u.comm.ok = ok;
	m.u.comm.error = error;
	bus_post(b, &m);
}

/* ---- the link ---- */

static void bus_drop_link(struct modbus_bus *b, int err)
{
	char eb[96];
	if (!b->ctx)
		return;
	log_warn("modbus", "bus %s: link lost (%s); reconnecting in %lld ms (retries logged once it opens again)",
		 b->bc->name, modbus_link_strerror(err, eb, sizeof eb), (long long)(b->reconnect_backoff_us / 1000));
	b->down_reported = true;
	modbus_link_close(&b->ctx);
	atomic_store(&b->c.link_up, false);
	b->reconnect_at_us = mono_us() + b->reconnect_backoff_us;
	b->link_timeouts = 0;
}

static void bus_try_connect(struct modbus_bus *b, int64_t now)
{
	char err[256];
	b->ctx = modbus_link_open(b->bc, err, sizeof err);
	if (!b->ctx) {
		/* Once per state change: the first failure at WARN with its
		 * cause, the retries at DEBUG, the recovery once at INFO. */
		b->failed_connects++;
		if (!b->down_reported)
			log_warn("modbus", "%s; retrying with backoff up to %lld s (logged again when the link opens)", err,
				 (long long)(LINK_BACKOFF_MAX_US / 1000000));
		else
			log_debug("modbus", "%s; retrying in %lld ms", err, (long long)(b->reconnect_backoff_us / 1000));
		b->down_reported = true;
		b->reconnect_at_us = now + b->reconnect_backoff_us;
		b->reconnect_backoff_us *= 2;
		if (b->reconnect_backoff_us > LINK_BACKOFF_MAX_US)
			b->reconnect_backoff_us = LINK_BACKOFF_MAX_US;
		return;
	}
	atomic_fetch_add(&b->c.connects, 1);
	atomic_store(&b->c.link_up, true);
	b->link_timeouts = 0;
	b->last_io_end_us = 0;
	if (b->down_reported)
		log_info("modbus", "bus %s: link open again (after %u failed connects)", b->bc->name, b->failed_connects);
	else
		log_info("modbus", "bus %s: link open", b->bc->name);
	b->down_reported = false;
	b->failed_connects = 0;
}

/* Waits the RTU inter-frame silence since the last transaction ended. */
static void bus_pace(struct modbus_bus *b)
{
	if (b->frame_delay_us <= 0 || b->last_io_end_us == 0)
		return;
	int64_t wait = b->last_io_end_us + b->frame_delay_us - mono_us();
	if (wait > 0)
		sleep_us(wait);
}

static int bus_request(struct modbus_bus *b, int unit, enum point_table t, int addr, int n)
{
	if (modbus_set_slave(b->ctx, unit) < 0)
		return -1;
	return modbus_link_read(b->ctx, t, addr, n, b->regs, b->bits);
}

/* Accounts one failed request and repairs the link state after it:
 * flush after a timeout or garbage (a late reply would corrupt the next
 * transaction, libmodbus #255), reconnect after link errors and after
 * repeated TCP timeouts (a half-dead peer). Returns the failure kind. */
static enum link_fail bus_request_failed(struct modbus_bus *b, int err)
{
	enum link_fail kind = modbus_link_classify(err);
	atomic_fetch_add_explicit(&b->c.errors, 1, memory_order_relaxed);
	switch (kind) {
	case LINK_FAIL_TIMEOUT:
		atomic_fetch_add_explicit(&b->c.timeouts, 1, memory_order_relaxed);
		if (modbus_flush(b->ctx) < 0)
			bus_drop_link(b, errno);
		break;
	case LINK_FAIL_FRAME:
		if (modbus_flush(b->ctx) < 0)
			bus_drop_link(b, errno);
		break;
	case LINK_FAIL_LINK:
		bus_drop_link(b, err);
		break;
	case LINK_FAIL_EXCEPTION:
	case LINK_FAIL_BUSY:
		b->link_timeouts = 0;
		break;
	}
	return kind;
}

/* One block with up to `attempts` tries. Returns 0, or -1 with *err set. */
static int bus_read_block(struct modbus_bus *b, const struct dev_state *d, const struct modbus_block *blk,
			  int attempts, int *err)
{
	for (int a = 0; a < attempts; a++) {
		if (!b->ctx) {
			*err = ENOTCONN;
			return -1;
		}
		bus_pace(b);
		int rc = bus_request(b, d->dc->unit, blk->table, blk->start, blk->count);
		int e = errno;
		b->last_io_end_us = mono_us();
		atomic_fetch_add_explicit(&b->c.requests, 1, memory_order_relaxed);
		if (rc == blk->count) {
			b->link_timeouts = 0;
			b->reconnect_backoff_us = LINK_BACKOFF_MIN_US; /* the link demonstrably works */
			return 0;
		}
		*err = rc < 0 ? e : EMBMDATA;
		enum link_fail kind = bus_request_failed(b, *err);
		if (kind == LINK_FAIL_EXCEPTION || kind == LINK_FAIL_LINK)
			return -1;
	}
	return -1;
}

/* ---- polling ---- */

static void bus_decode_block(struct modbus_bus *b, struct dev_state *d, const struct modbus_block *blk,
			     int64_t wall_ms, bool force)
{
	bool bits = blk->table == TABLE_COIL || blk->table == TABLE_DISCRETE;
	for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++) {
		const struct modbus_slot *sl = &d->plan.slots[s];
		const struct point_def *pd = &d->prof->points[sl->point];
		double v = 0;
		enum quality q = bits ? point_decode_bit(pd, b->bits[sl->offset], &v)
				      : point_decode_regs(pd, &b->regs[sl->offset], &v);
		bus_set_point(b, d, sl->point, q, v, wall_ms, force);
	}
	atomic_fetch_add_explicit(&b->c.points, (uint64_t)blk->n_slots, memory_order_relaxed);
}

static void bus_block_comm_error(struct modbus_bus *b, struct dev_state *d, const struct modbus_block *blk,
				 int64_t wall_ms)
{
	for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++)
		bus_set_point(b, d, d->plan.slots[s].point, QUALITY_COMM_ERROR, 0, wall_ms, false);
}

static void bus_device_offline(struct modbus_bus *b, struct dev_state *d, int64_t wall_ms)
{
	char eb[96];
	if (d->comm == DEV_ONLINE)
		atomic_fetch_sub(&b->c.online, 1);
	d->comm = DEV_OFFLINE;
	atomic_fetch_add(&b->c.offline, 1);
	log_warn("modbus", "bus %s: device %s (unit %d) offline: %s", b->bc->name, d->dc->id, d->dc->unit,
		 modbus_link_strerror(d->last_error, eb, sizeof eb));
	bus_post_comm(b, d, 0, d->last_error);
	for (int i = 0; i < d->prof->n_points; i++)
		bus_set_point(b, d, i, QUALITY_COMM_ERROR, 0, wall_ms, false);
}

static void bus_device_good(struct modbus_bus *b, struct dev_state *d, int64_t now)
{
	d->last_good_us = now;
	d->fails = 0;
	if (d->comm == DEV_ONLINE)
		return;
	if (d->comm == DEV_OFFLINE) {
		atomic_fetch_sub(&b->c.offline, 1);
		log_info("modbus", "bus %s: device %s (unit %d) back online", b->bc->name, d->dc->id, d->dc->unit);
	}
	d->comm = DEV_ONLINE;
	atomic_fetch_add(&b->c.online, 1);
	bus_post_comm(b, d, 1, 0);
}

/* One poll of every block of a device; updates its comm state. */
static void bus_poll_device(struct modbus_bus *b, struct dev_state *d)
{
	int64_t wall_ms = time_wall_ms();
	int attempts = d->fails == 0 ? 1 + (b->bc->retries > 0 ? b->bc->retries : 0) : 1;
	int64_t start_us = mono_us();
	bool force = ++d->polls_since_refresh >= MODBUS_BUS_REFRESH_POLLS &&
		     start_us - d->last_refresh_us >= MODBUS_BUS_REFRESH_MIN_MS * 1000LL;
	int good = 0, err = ENOTCONN;
	atomic_fetch_add_explicit(&b->c.polls, 1, memory_order_relaxed);
	for (int i = 0; i < d->plan.n_blocks && !b->queue_closed; i++) {
		const struct modbus_block *blk = &d->plan.blocks[i];
		if (bus_read_block(b, d, blk, attempts, &err) == 0) {
			good++;
			bus_decode_block(b, d, blk, wall_ms, force);
			continue;
		}
		enum link_fail kind = err == ENOTCONN ? LINK_FAIL_LINK : modbus_link_classify(err);
		if (kind == LINK_FAIL_EXCEPTION || kind == LINK_FAIL_BUSY) {
			bus_block_comm_error(b, d, blk, wall_ms);
			continue;
		}
		break; /* timeout or link gone: the rest would only cost more timeouts */
	}
	if (force) {
		d->polls_since_refresh = 0;
		d->last_refresh_us = start_us;
	}
	int64_t now = mono_us();
	if (good > 0) {
		bus_device_good(b, d, now);
		return;
	}
	d->fails++;
	d->last_error = err;
	/* A TCP peer that accepts but never answers anyone (a half-dead gateway)
	 * is reconnected; one dead unit among live ones never triggers this,
	 * as every good reply resets the count. */
	int reopen_after = modbus_link_timeouts_before_reopen(b->bc);
	if (err == ETIMEDOUT && b->ctx && reopen_after > 0 && ++b->link_timeouts >= reopen_after)
		bus_drop_link(b, ETIMEDOUT);
	if (d->comm != DEV_OFFLINE && now - d->last_good_us >= d->offline_after_us)
		bus_device_offline(b, d, wall_ms);
}

/* The next due time after a poll that was due at d->due_us. */
static void bus_reschedule(struct modbus_bus *b, struct dev_state *d, int64_t now)
{
	int64_t step = d->period_us;
	if (d->comm == DEV_OFFLINE) {
		/* retried at least once per offline_after (at most 8 s), so a
		 * device's return is seen within the time its loss took */
		int64_t cap = d->offline_after_us < MODBUS_BACKOFF_CAP_US ? d->offline_after_us : MODBUS_BACKOFF_CAP_US;
		if (cap < d->period_us)
			cap = d->period_us;
		for (int i = 1; i < d->fails && step < cap; i++)
			step *= 2;
		if (step > cap)
			step = cap / d->period_us * d->period_us; /* stay on the device's phase */
	}
	int64_t next = d->due_us + step;
	if (next <= now) {
		int64_t missed = (now - next) / step + 1;
		atomic_fetch_add_explicit(&b->c.overruns, (uint64_t)missed, memory_order_relaxed);
		next += missed * step;
	}
	d->due_us = next;
}

static void bus_record_lateness(struct modbus_bus *b, int64_t late)
{
	if (late < 0)
		late = 0;
	int64_t bucket = late / LATE_BUCKET_US;
	if (bucket > LATE_BUCKETS)
		bucket = LATE_BUCKETS;
	atomic_fetch_add_explicit(&b->c.late_hist[bucket], 1, memory_order_relaxed);
	int64_t m = atomic_load_explicit(&b->c.late_max, memory_order_relaxed);
	while (late > m && !atomic_compare_exchange_weak(&b->c.late_max, &m, late))
		;
}

/* ---- writes ---- */

static int bus_write_point(struct modbus_bus *b, struct dev_state *d, const struct point_def *pd, double value,
			   char *err, size_t errlen)
{
	uint16_t regs[2] = { 0, 0 };
	int n = 0, rc, attempts = 1 + (b->bc->retries > 0 ? b->bc->retries : 0);
	char eb[96];
	for (int a = 0; a < attempts; a++) {
		if (!b->ctx) {
			snprintf(err, errlen, "bus %s link down", b->bc->name);
			return -1;
		}
		bus_pace(b);
		rc = modbus_set_slave(b->ctx, d->dc->unit);
		if (rc == 0 && pd->type == PT_BIT) {
			/* one bit of a register: read-modify-write */
			rc = modbus_link_read(b->ctx, TABLE_HOLDING, pd->address, 1, regs, NULL) == 1 ? 0 : -1;
			atomic_fetch_add_explicit(&b->c.requests, 1, memory_order_relaxed);
			b->last_io_end_us = mono_us();
			if (rc == 0)
				bus_pace(b); /* inter-frame silence before the write, too */
		}
		if (rc == 0) {
			int erc = point_encode(pd, value, regs, &n);
			if (erc < 0) {
				snprintf(err, errlen, erc == -ERANGE ? "value out of range for the point type"
								       : "value cannot be encoded");
				return -1;
			}
			int want = pd->table == TABLE_COIL ? 1 : n;
			rc = modbus_link_write(b->ctx, pd->table, pd->address, want, regs) == want ? 0 : -1;
			atomic_fetch_add_explicit(&b->c.requests, 1, memory_order_relaxed);
		}
		int e = errno;
		b->last_io_end_us = mono_us();
		if (rc == 0)
			return 0;
		snprintf(err, errlen, "%s", modbus_link_strerror(e, eb, sizeof eb));
		enum link_fail kind = bus_request_failed(b, e);
		if (kind == LINK_FAIL_EXCEPTION || kind == LINK_FAIL_LINK)
			return -1;
	}
	return -1;
}

static bool bus_pop_write(struct modbus_bus *b, struct write_req *out)
{
	pthread_mutex_lock(&b->lock);
	bool got = b->wq_len > 0 && !b->stop; /* results of writes left at stop are not posted */
	if (got) {
		*out = b->wq[b->wq_head];
		b->wq_head = (b->wq_head + 1) % MODBUS_BUS_WRITE_QUEUE;
		b->wq_len--;
	}
	pthread_mutex_unlock(&b->lock);
	return got;
}

/* Runs every queued write before the next poll: writes carry actions (door
 * hold, siren) that must not wait behind a round of polls. */
static void bus_run_writes(struct modbus_bus *b)
{
	struct write_req w;
	while (!b->queue_closed && bus_pop_write(b, &w)) {
		struct dev_state *d = &b->devs[b->dev_slot[w.device]];
		const struct point_def *pd = &d->prof->points[w.point];
		struct core_msg m = { .type = MSG_WRITE_RESULT };
		m.u.write.device = w.device;
		m.u.write.point = w.point;
		m.u.write.request = w.id;
		m.u.write.ok = bus_write_point(b, d, pd, w.value, m.u.write.error, sizeof m.u.write.error) == 0;
		atomic_fetch_add(&b->c.writes, 1);
		if (!m.u.write.ok) {
			atomic_fetch_add(&b->c.write_errors, 1);
			log_warn("modbus", "bus %s: write %s.%s = %g failed: %s", b->bc->name, d->dc->id, pd->name,
				 w.value, m.u.write.error);
		}
		bus_post(b, &m);
	}
}

/* ---- one-shot reads (the console's live read) ---- */

static bool bus_pop_read(struct modbus_bus *b, struct read_req *out)
{
	pthread_mutex_lock(&b->lock);
	bool got = b->rq_len > 0 && !b->stop;
	if (got) {
		*out = b->rq[b->rq_head];
		b->rq_head = (b->rq_head + 1) % MODBUS_BUS_READ_QUEUE;
		b->rq_len--;
	}
	pthread_mutex_unlock(&b->lock);
	return got;
}

/* The points of one block into the result, from the bus buffers (read_ok)
 * or with the block's error. */
static void bus_read_fill(const struct modbus_bus *b, const struct dev_state *d, const struct modbus_block *blk,
			  bool ok, int err, struct modbus_read_result *r)
{
	bool bits = blk->table == TABLE_COIL || blk->table == TABLE_DISCRETE;
	for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++) {
		const struct modbus_slot *sl = &d->plan.slots[s];
		const struct point_def *pd = &d->prof->points[sl->point];
		struct modbus_read_point *p = &r->points[sl->point];
		p->read_ok = ok;
		p->quality = QUALITY_COMM_ERROR;
		p->error = ok ? 0 : err;
		if (!ok)
			continue;
		if (bits) {
			p->bit = b->bits[sl->offset];
			p->quality = point_decode_bit(pd, p->bit, &p->value);
		} else {
			p->raw[0] = b->regs[sl->offset];
			if (point_width(pd) == 2)
				p->raw[1] = b->regs[sl->offset + 1];
			p->quality = point_decode_regs(pd, &b->regs[sl->offset], &p->value);
		}
		r->good += p->quality == QUALITY_GOOD;
	}
}

/* Every block of the device once, as `gridgw read` does, with the bus's
 * retries while the device is online (one attempt once it is known
 * dead, so a read of a dead unit costs what one of its polls costs). The
 * poll state is left alone: the next poll still decides online/offline. */
static struct modbus_read_result *bus_read_once(struct modbus_bus *b, struct dev_state *d)
{
	int np = d->prof->n_points;
	struct modbus_read_result *r = calloc(1, sizeof *r + (size_t)(np > 0 ? np : 1) * sizeof r->points[0]);
	if (!r)
		return NULL;
	r->device = d->device;
	r->unit = d->dc->unit;
	r->n_points = np;
	r->ts_ms = time_wall_ms();
	for (int i = 0; i < np; i++) {
		r->points[i].quality = QUALITY_COMM_ERROR;
		r->points[i].error = ENOTCONN;
	}
	int attempts = d->fails == 0 ? 1 + (b->bc->retries > 0 ? b->bc->retries : 0) : 1;
	uint64_t req0 = atomic_load(&b->c.requests);
	int64_t start = mono_us();
	int err = 0;
	for (int i = 0; i < d->plan.n_blocks; i++) {
		const struct modbus_block *blk = &d->plan.blocks[i];
		int e = ENOTCONN;
		bool ok = err == 0 && bus_read_block(b, d, blk, attempts, &e) == 0;
		if (!ok && err == 0) {
			enum link_fail kind = e == ENOTCONN ? LINK_FAIL_LINK : modbus_link_classify(e);
			if (kind != LINK_FAIL_EXCEPTION && kind != LINK_FAIL_BUSY)
				err = e; /* timeout or link gone: the other blocks would only time out too */
		}
		bus_read_fill(b, d, blk, ok, err ? err : e, r);
	}
	r->elapsed_us = mono_us() - start;
	r->requests = (int)(atomic_load(&b->c.requests) - req0);
	return r;
}

/* Runs the queued one-shot reads, each posted as MSG_READ_RESULT. */
static void bus_run_reads(struct modbus_bus *b)
{
	struct read_req rq;
	while (!b->queue_closed && bus_pop_read(b, &rq)) {
		struct dev_state *d = &b->devs[b->dev_slot[rq.device]];
		struct modbus_read_result *r = bus_read_once(b, d);
		if (!r) {
			log_warn("modbus", "bus %s: live read of %s: out of memory", b->bc->name, d->dc->id);
			continue; /* the core's deadline answers the console */
		}
		struct core_msg m = { .type = MSG_READ_RESULT };
		m.u.blob.data = (char *)r;
		m.u.blob.len = sizeof *r + (size_t)r->n_points * sizeof r->points[0];
		m.u.blob.a = (int64_t)rq.token;
		bus_post(b, &m);
		if (b->queue_closed)
			free(r); /* not taken: the core is gone */
	}
}

/* ---- the thread ---- */

static bool bus_should_stop(struct modbus_bus *b)
{
	pthread_mutex_lock(&b->lock);
	bool s = b->stop;
	pthread_mutex_unlock(&b->lock);
	return s || b->queue_closed;
}

/* Sleeps until deadline (monotonic us), a queued write, or stop. */
static void bus_wait_until(struct modbus_bus *b, int64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000000), (long)(deadline % 1000000) * 1000 };
	pthread_mutex_lock(&b->lock);
	while (!b->stop && b->wq_len == 0 && b->rq_len == 0) {
		if (pthread_cond_timedwait(&b->cond, &b->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&b->lock);
}

static void *bus_thread(void *arg)
{
	struct modbus_bus *b = arg;
	char name[16]; /* shown by top -H, ps -L: "bus-rs485-1" */
	snprintf(name, sizeof name, "bus-%s", b->bc->name);
	pthread_setname_np(pthread_self(), name);
	while (!bus_should_stop(b)) {
		int64_t now = mono_us();
		if (!b->ctx && now >= b->reconnect_at_us)
			bus_try_connect(b, now);
		bus_run_writes(b);
		bus_run_reads(b);
		now = mono_us();
		int64_t wake = now + 1000000;
		if (!b->ctx && b->reconnect_at_us < wake)
			wake = b->reconnect_at_us;
		if (b->heap_len > 0) {
			struct dev_state *d = &b->devs[b->heap[0]];
			if (d->due_us <= now) {
				heap_pop(b);
				bus_record_lateness(b, now - d->due_us);
				bus_poll_device(b, d);
				bus_flush_points(b);
				bus_wake_core(b, false);
				bus_reschedule(b, d, mono_us());
				heap_push(b, (int)(d - b->devs));
				continue;
			}
			if (d->due_us < wake)
				wake = d->due_us;
		}
		bus_wake_core(b, true);
		bus_wait_until(b, wake);
	}
	bus_wake_core(b, true);
	modbus_link_close(&b->ctx);
	atomic_store(&b->c.link_up, false);
	return NULL;
}

/* ---- setup ---- */

static void bus_free(struct modbus_bus *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n_devs; i++) {
		modbus_plan_free(&b->devs[i].plan);
		free(b->devs[i].cur);
	}
	free(b->devs);
	free(b->dev_slot);
	free(b->heap);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b);
}

static int bus_init_device(struct modbus_bus *b, int ci, int64_t start, char *err, size_t errlen)
{
	const struct device_config *dc = &b->cfg->devices[ci];
	struct dev_state *d = &b->devs[b->n_devs];
	d->device = ci;
	d->dc = dc;
	d->prof = &b->cfg->profiles[dc->profile];
	if (d->prof->n_points > UINT16_MAX) { /* MSG_POINTS numbers points in 16 bits */
		snprintf(err, errlen, "device %s: profile %s has more than %d points", dc->id, d->prof->name,
			 UINT16_MAX);
		return -1;
	}
	int rc = modbus_plan_build(d->prof, b->bc, &d->plan);
	if (rc < 0) {
		snprintf(err, errlen, "device %s: profile %s cannot be read (%s)", dc->id, d->prof->name,
			 rc == -ENOMEM ? "out of memory" : "a point past address 65535 or without table");
		return -1;
	}
	d->cur = calloc((size_t)(d->prof->n_points > 0 ? d->prof->n_points : 1), sizeof *d->cur);
	if (!d->cur) {
		modbus_plan_free(&d->plan);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->period_us = (dc->poll_ms > 0 ? dc->poll_ms : 1000) * 1000;
	d->offline_after_us = dc->offline_after_ms > 0 ? dc->offline_after_ms * 1000 : 3 * d->period_us;
	d->last_good_us = start;
	b->dev_slot[ci] = b->n_devs++;
	return 0;
}

/* Spreads the devices' first polls over their periods, in at most
 * period / MODBUS_BUS_TICK_MS slots: devices of one slot are due at the
 * same instant and polled back to back on one wake-up of the thread. A bus
 * with few devices gets one slot each (spread evenly, as they were); a
 * large one wakes once per tick instead of once per device poll, which on
 * a virtual machine cost more than the poll itself. Each device keeps its
 * exact period, so the slot only fixes its phase. Measured on a shared
 * 2-core VM (docs/benchmarks.md): every burst costs the bus and the core
 * a fixed ~0.1-0.3 ms (wake-ups, cold caches), so fewer, longer bursts are
 * cheaper; MODBUS_BUS_TICK_MS bounds how long a burst gets. */
static void bus_spread_phases(struct modbus_bus *b, int64_t start)
{
	const int64_t tick = MODBUS_BUS_TICK_MS * 1000LL;
	/* Buses take turns inside a tick: one bus's burst does not stretch
	 * another's (they share the CPU) and each wakes the core on its own. */
	int64_t offset = b->cfg->n_buses > 1 ? tick * b->bus_index / b->cfg->n_buses : 0;
	for (int i = 0; i < b->n_devs; i++) {
		struct dev_state *d = &b->devs[i];
		int same = 0, rank = 0; /* devices of this period on the bus, and this one's place among them */
		for (int j = 0; j < b->n_devs; j++) {
			if (b->devs[j].period_us != d->period_us)
				continue;
			if (j < i)
				rank++;
			same++;
		}
		int64_t slots = d->period_us / tick;
		if (slots > same)
			slots = same;
		if (slots < 1)
			slots = 1;
		/* the offset only matters where devices share slots (bursts) */
		d->due_us = start + (slots < same ? offset : 0) + d->period_us * (rank * slots / same) / slots;
		heap_push(b, i);
	}
}

struct modbus_bus *modbus_bus_start(const struct gw_config *cfg, int bus_index, struct queue *q,
				    char *err, size_t errlen)
{
	if (!cfg || !q || bus_index < 0 || bus_index >= cfg->n_buses) {
		snprintf(err, errlen, "bus index %d out of range", bus_index);
		return NULL;
	}
	struct modbus_bus *b = calloc(1, sizeof *b);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	b->cfg = cfg;
	b->bc = &cfg->buses[bus_index];
	b->bus_index = bus_index;
	b->q = q;
	b->reconnect_backoff_us = LINK_BACKOFF_MIN_US;
	b->frame_delay_us = modbus_link_frame_delay_us(b->bc);
	b->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(3, 60000);
	int nd = cfg->n_devices > 0 ? cfg->n_devices : 1;
	b->devs = calloc((size_t)nd, sizeof *b->devs);
	b->dev_slot = malloc((size_t)nd * sizeof *b->dev_slot);
	b->heap = calloc((size_t)nd, sizeof *b->heap);
	if (!b->devs || !b->dev_slot || !b->heap) {
		snprintf(err, errlen, "out of memory");
		bus_free(b);
		return NULL;
	}
	int64_t start = mono_us();
	for (int i = 0; i < cfg->n_devices; i++) {
		b->dev_slot[i] = -1;
		const struct device_config *dc = &cfg->devices[i];
		if (dc->bus != bus_index || dc->profile < 0 || dc->profile >= cfg->n_profiles ||
		    cfg->profiles[dc->profile].is_mqtt)
			continue;
		if (bus_init_device(b, i, start, err, errlen) < 0) {
			bus_free(b);
			return NULL;
		}
	}
	bus_spread_phases(b, start);
	int rc = pthread_create(&b->thread, NULL, bus_thread, b);
	if (rc != 0) {
		snprintf(err, errlen, "bus %s: cannot start thread: %s", b->bc->name, strerror(rc));
		bus_free(b);
		return NULL;
	}
	b->thread_started = true;
	return b;
}

int modbus_bus_write(struct modbus_bus *b, int device, int point, double value, uint64_t request_id)
{
	if (device < 0 || device >= b->cfg->n_devices || b->dev_slot[device] < 0)
		return -EINVAL;
	const struct profile *p = b->devs[b->dev_slot[device]].prof;
	if (point < 0 || point >= p->n_points)
		return -EINVAL;
	enum point_table t = p->points[point].table;
	if (t != TABLE_COIL && t != TABLE_HOLDING)
		return -EINVAL;
	int rc = 0;
	pthread_mutex_lock(&b->lock);
	if (b->stop) {
		rc = -ESHUTDOWN;
	} else if (b->wq_len == MODBUS_BUS_WRITE_QUEUE) {
		rc = -EAGAIN;
	} else {
		b->wq[(b->wq_head + b->wq_len) % MODBUS_BUS_WRITE_QUEUE] =
			(struct write_req){ device, point, value, request_id };
		b->wq_len++;
		pthread_cond_signal(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int modbus_bus_read(struct modbus_bus *b, int device, uint64_t token)
{
	if (device < 0 || device >= b->cfg->n_devices || b->dev_slot[device] < 0)
		return -EINVAL;
	int rc = 0;
	pthread_mutex_lock(&b->lock);
	if (b->stop) {
		rc = -ESHUTDOWN;
	} else if (b->rq_len == MODBUS_BUS_READ_QUEUE) {
		rc = -EAGAIN;
	} else {
		b->rq[(b->rq_head + b->rq_len) % MODBUS_BUS_READ_QUEUE] = (struct read_req){ device, token };
		b->rq_len++;
		pthread_cond_signal(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void modbus_bus_stop(struct modbus_bus *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->thread_started)
		pthread_join(b->thread, NULL);
	bus_free(b);
}

void modbus_bus_reset_lateness(struct modbus_bus *b)
{
	for (int i = 0; i <= LATE_BUCKETS; i++)
		atomic_store_explicit(&b->c.late_hist[i], 0, memory_order_relaxed);
	atomic_store(&b->c.late_max, 0);
}

static int64_t late_percentile(const uint64_t *hist, uint64_t total, double pct)
{
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)(pct * (double)total + 0.999999), acc = 0;
	for (int i = 0; i <= LATE_BUCKETS; i++) {
		acc += hist[i];
		if (acc >= want)
			return (int64_t)(i + 1) * LATE_BUCKET_US;
	}
	return (int64_t)(LATE_BUCKETS + 1) * LATE_BUCKET_US;
}

void modbus_bus_get_stats(struct modbus_bus *b, struct modbus_bus_stats *out)
{
	memset(out, 0, sizeof *out);
	out->requests = atomic_load(&b->c.requests);
	out->errors = atomic_load(&b->c.errors);
	out->timeouts = atomic_load(&b->c.timeouts);
	out->points = atomic_load(&b->c.points);
	out->polls = atomic_load(&b->c.polls);
	out->overruns = atomic_load(&b->c.overruns);
	out->writes = atomic_load(&b->c.writes);
	out->write_errors = atomic_load(&b->c.write_errors);
	out->connects = atomic_load(&b->c.connects);
	out->posted = atomic_load(&b->c.posted);
	out->devices = b->n_devs;
	out->online = atomic_load(&b->c.online);
	out->offline = atomic_load(&b->c.offline);
	out->link_up = atomic_load(&b->c.link_up);
	out->late_max_us = atomic_load(&b->c.late_max);
	_Static_assert(LATE_BUCKETS + 1 <= 4096, "histogram copy fits the stack");
	uint64_t hist[LATE_BUCKETS + 1], total = 0;
	for (int i = 0; i <= LATE_BUCKETS; i++) {
		hist[i] = atomic_load_explicit(&b->c.late_hist[i], memory_order_relaxed);
		total += hist[i];
	}
	out->late_p50_us = late_percentile(hist, total, 0.50);
	out->late_p99_us = late_percentile(hist, total, 0.99);
}
