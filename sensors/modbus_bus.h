/* modbus_bus — one polling thread per configured Modbus bus (an RS-485 line
 * or a Modbus TCP endpoint), each with its own libmodbus context. The thread
 * polls every device of the bus on its own `poll` period, reads each device
 * with the block plan of modbus_plan.h, decodes points (decode.h), executes
 * writes the core asks for between polls, detects devices going offline and
 * coming back, and reports everything to the core through its queue.
 * Requests on one bus are strictly serialised (one thread, one context).
 *
 * Messages the thread posts (queue_push_wait_quiet, then one queue_wake when
 * the tick's polls are done or 2 ms have passed; a closed queue stops the
 * thread):
 *  - MSG_POINTS {device, n, ts_ms, point/quality/value[n]}: one per device
 *    poll (several when more than QUEUE_POINTS_MAX points changed; none when
 *    nothing did), carrying the points whose value or quality changed, and
 *    every point of a device after MODBUS_BUS_REFRESH_POLLS polls but not
 *    more often than every MODBUS_BUS_REFRESH_MIN_MS (so the core's current
 *    values and their ts stay fresh without flooding it at fast poll rates).
 *    ts_ms is wall time of the read. Qualities: good after a decoded read; decode_error when the
 *    answer cannot be decoded (f32 NaN/Inf); comm_error for the points of a
 *    block the device refused with an exception, and for every point of a
 *    device when it goes offline. A single missed poll does NOT change
 *    qualities: values are held until the device goes offline.
 *  - MSG_DEVICE_COMM {device, ok, error}: transitions only. ok=1 on the first
 *    good read after start or after being offline (immediately); ok=0 once a
 *    device has had no good read for offline_after (default 3 poll periods;
 *    counted from start for a device never read), error = errno or libmodbus
 *    code of the last failure (ENOTCONN when the link is down).
 *  - MSG_WRITE_RESULT {device, point, ok, request, error}: one per accepted
 *    modbus_bus_write, in order.
 *  - MSG_READ_RESULT {blob.data = struct modbus_read_result *, blob.a = token}:
 *    one per accepted modbus_bus_read (the console's live read), in order.
 * A "good read" is a poll in which at least one block was read. */
#ifndef GRIDGW_MODBUS_BUS_H
#define GRIDGW_MODBUS_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "common/queue.h"

#define MODBUS_BUS_REFRESH_POLLS 30      /* re-post unchanged points after this many polls */
#define MODBUS_BUS_REFRESH_MIN_MS 10000  /* ... and at most this often */
#define MODBUS_BUS_WRITE_QUEUE 32   /* pending writes per bus before -EAGAIN */
#define MODBUS_BUS_READ_QUEUE 4     /* pending one-shot reads per bus before -EAGAIN */
#define MODBUS_BUS_TICK_MS 200      /* phases are grouped so a bus wakes at most once per tick */

struct modbus_bus;

struct modbus_bus_stats {
	uint64_t requests;     /* Modbus requests sent, retries included */
	uint64_t errors;       /* requests that failed, any reason */
	uint64_t timeouts;     /* of which timeouts */
	uint64_t points;       /* point values decoded */
	uint64_t polls;        /* device polls run */
	uint64_t overruns;     /* poll slots skipped because the bus was behind */
	uint64_t writes;       /* writes executed (ok or not) */
	uint64_t write_errors;
	uint64_t connects;     /* successful link opens, the first included */
	uint64_t posted;       /* messages posted to the core */
	int64_t late_p50_us;   /* poll start minus scheduled time: median */
	int64_t late_p99_us;   /*   99th percentile (histogram bucket bound, 50 us steps) */
	int64_t late_max_us;
	int devices;           /* devices polled by this bus */
	int online;            /* devices currently online */
	int offline;           /* devices currently offline */
	bool link_up;
};

/* Starts the thread of cfg->buses[bus_index]. cfg and q must outlive the bus.
 * The link is opened by the thread (a bus that cannot be opened yet is
 * retried with backoff; its devices go offline after offline_after).
 * Returns NULL with a message in err on bad arguments, a profile that
 * cannot be planned, or no memory/threads. */
struct modbus_bus *modbus_bus_start(const struct gw_config *cfg, int bus_index, struct queue *q,
				    char *err, size_t errlen);

/* Queues a write of `value` to point `point` (index in the device profile)
 * of device `device` (index in cfg->devices). Thread-safe, never blocks.
 * Returns 0 (a MSG_WRITE_RESULT with request_id will follow), -EINVAL
 * (device not on this bus, bad point, point not a coil/holding point),
 * -EAGAIN (write queue full) or -ESHUTDOWN (bus stopping). */
int modbus_bus_write(struct modbus_bus *b, int device, int point, double value, uint64_t request_id);

/* One point of a one-shot read (modbus_bus_read). */
struct modbus_read_point {
	enum quality quality;      /* good, decode_error, or comm_error when its block was not read */
	double value;              /* valid when good */
	bool read_ok;              /* its block was read: raw/bit are what the device sent */
	uint16_t raw[2];           /* registers (1 or 2 by the point's width) */
	uint8_t bit;               /* coil/discrete */
	int error;                 /* errno or libmodbus code when !read_ok (ENOTCONN: link down) */
};

/* The answer to a one-shot read: every point of the device's profile, by
 * profile index. A plain malloc block (one free) that the core owns once
 * popped. */
struct modbus_read_result {
	int device;                /* index in cfg->devices */
	int unit;
	int requests;              /* Modbus requests sent for it, retries included */
	int good;                  /* points decoded good */
	int64_t ts_ms;             /* wall time the read started */
	int64_t elapsed_us;        /* how long the requests took */
	int n_points;
	struct modbus_read_point points[];
};

/* Queues a one-shot read of every block of device `device` (index in
 * cfg->devices) for an installer's live read from the console: the bus
 * thread, which alone owns the line, runs it between polls (after queued
 * writes) and posts MSG_READ_RESULT with `token`. It does not change the
 * device's poll schedule, comm state or the values the core holds.
 * Thread-safe, never blocks. Returns 0, -EINVAL (device not on this bus),
 * -EAGAIN (MODBUS_BUS_READ_QUEUE reads pending) or -ESHUTDOWN. */
int modbus_bus_read(struct modbus_bus *b, int device, uint64_t token);

/* Stops and joins the thread, closes the link, frees. The thread may be
 * inside queue_push_wait: close the queue (queue_close) or keep draining it
 * before calling this. Takes at most about one request timeout. NULL-safe. */
void modbus_bus_stop(struct modbus_bus *b);

/* Thread-safe snapshot of the counters. */
void modbus_bus_get_stats(struct modbus_bus *b, struct modbus_bus_stats *out);
/* Restarts the lateness histogram and maximum (e.g. after a warm-up, or per
 * status interval); other counters are cumulative. Thread-safe. */
void modbus_bus_reset_lateness(struct modbus_bus *b);

#endif
