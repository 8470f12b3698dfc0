/* Unit tests for the Modbus bus thread (sensors/modbus_bus.h) against
 * in-process libmodbus servers: a TCP server thread on 127.0.0.1 and an RTU
 * server on the master side of a pty, with fault injection (no reply,
 * exception, garbage, disconnect) per unit id. The config is built by hand
 * so these tests do not depend on the config loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pty.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

#include "common/queue.h"
#include "sensors/decode.h"
#include "sensors/modbus_bus.h"
#include "sensors/modbus_plan.h"

/* ---------------- test server ---------------- */

enum fault { F_NONE = 0, F_TIMEOUT, F_EXCEPTION, F_GARBAGE, F_DISCONNECT };

struct server {
	bool rtu;
	int port;
	int listen_fd;
	int master_fd;              /* rtu: pty master */
	char slave_path[64];
	modbus_t *ctx;
	modbus_mapping_t *map;
	pthread_mutex_t map_lock;   /* libmodbus mappings are unlocked (#718) */
	pthread_t thread;
	atomic_bool stop;
	atomic_int fault[256];      /* per unit id */
	atomic_int requests[256];
	atomic_int answer_units[256]; /* 1 = unit exists */
	atomic_llong first_req_us[256];  /* when each unit was first asked */
	atomic_llong last_req_us;        /* any unit */
	atomic_llong min_gap_us;         /* shortest gap between two requests */
};

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* Handles one request on ctx (socket already set); returns -1 to drop the client. */
static int server_handle(struct server *sv, const uint8_t *query, int len)
{
	int hdr = modbus_get_header_length(sv->ctx);
	int unit = query[hdr - 1];
	long long now = mono_us(), last = atomic_exchange(&sv->last_req_us, now);
	long long zero = 0;
	atomic_compare_exchange_strong(&sv->first_req_us[unit], &zero, now);
	if (last && now - last < atomic_load(&sv->min_gap_us))
		atomic_store(&sv->min_gap_us, now - last);
	atomic_fetch_add(&sv->requests[unit], 1);
	if (!atomic_load(&sv->answer_units[unit]))
		return 0;
	switch (atomic_load(&sv->fault[unit])) {
	case F_TIMEOUT:
		return 0;
	case F_EXCEPTION:
		return modbus_reply_exception(sv->ctx, query, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS) < 0 ? -1 : 0;
	case F_GARBAGE: {
		static const uint8_t junk[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 0x11, 0x83, 0x7e, 0xde,
						0xad, 0xbe, 0xef, 0x42, 0x42 };
		int fd = modbus_get_socket(sv->ctx);
		return write(fd, junk, sizeof junk) < 0 ? -1 : 0;
	}
	case F_DISCONNECT:
		return -1;
	default:
		break;
	}
	pthread_mutex_lock(&sv->map_lock);
	int rc = modbus_reply(sv->ctx, query, len, sv->map);
	pthread_mutex_unlock(&sv->map_lock);
	return rc < 0 ? -1 : 0;
}

static void *server_tcp_thread(void *arg)
{
	struct server *sv = arg;
	int clients[16], n = 0;
	uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
	while (!atomic_load(&sv->stop)) {
		fd_set rf;
		FD_ZERO(&rf);
		FD_SET(sv->listen_fd, &rf);
		int maxfd = sv->listen_fd;
		for (int i = 0; i < n; i++) {
			FD_SET(clients[i], &rf);
			if (clients[i] > maxfd)
				maxfd = clients[i];
		}
		struct timeval tv = { 0, 20000 };
		if (select(maxfd + 1, &rf, NULL, NULL, &tv) <= 0)
			continue;
		if (FD_ISSET(sv->listen_fd, &rf)) {
			int c = accept(sv->listen_fd, NULL, NULL);
			if (c >= 0 && n < 16)
				clients[n++] = c;
			else if (c >= 0)
				close(c);
		}
		for (int i = 0; i < n; i++) {
			if (!FD_ISSET(clients[i], &rf))
				continue;
			modbus_set_socket(sv->ctx, clients[i]);
			int len = modbus_receive(sv->ctx, query);
			if (len == 0)
				continue;
			if (len < 0 || server_handle(sv, query, len) < 0) {
				close(clients[i]);
				clients[i--] = clients[--n];
			}
		}
	}
	for (int i = 0; i < n; i++)
		close(clients[i]);
	return NULL;
}

static uint16_t crc16(const uint8_t *p, int n)
{
	uint16_t crc = 0xffff;
	for (int i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

/* The RTU server frames requests itself (a frame ends after 5 ms of
 * silence) and answers every unit id: libmodbus's own RTU server serves one
 * unit and, after ignoring a request to another unit, expects that unit's
 * reply and mis-frames the next request when none comes. */
static void *server_rtu_thread(void *arg)
{
	struct server *sv = arg;
	uint8_t frame[MODBUS_RTU_MAX_ADU_LENGTH];
	while (!atomic_load(&sv->stop)) {
		int len = 0;
		for (;;) {
			fd_set rf;
			FD_ZERO(&rf);
			FD_SET(sv->master_fd, &rf);
			struct timeval tv = { 0, len ? 5000 : 20000 };
			if (select(sv->master_fd + 1, &rf, NULL, NULL, &tv) <= 0)
				break;
			ssize_t r = read(sv->master_fd, frame + len, sizeof frame - (size_t)len);
			if (r <= 0) {
				usleep(10000); /* EIO while no one holds the slave side open */
				break;
			}
			len += (int)r;
			if (len == (int)sizeof frame)
				break;
		}
		if (len < 4 || crc16(frame, len - 2) != (uint16_t)(frame[len - 2] | frame[len - 1] << 8))
			continue;
		modbus_set_slave(sv->ctx, frame[0]);
		server_handle(sv, frame, len);
	}
	return NULL;
}

/* Starts a TCP (on `port`, 0 = any free one) or RTU-on-pty server. */
static void server_start_on(struct server *sv, bool rtu, int port)
{
	memset(sv, 0, sizeof *sv);
	sv->rtu = rtu;
	pthread_mutex_init(&sv->map_lock, NULL);
	sv->map = modbus_mapping_new(100, 100, 200, 200);
	assert_non_null(sv->map);
	for (int u = 0; u < 256; u++)
		atomic_store(&sv->answer_units[u], 1);
	atomic_store(&sv->min_gap_us, 1000000000LL);
	if (!rtu) {
		sv->port = port ? port : free_port();
		sv->ctx = modbus_new_tcp("127.0.0.1", sv->port);
		assert_non_null(sv->ctx);
		sv->listen_fd = modbus_tcp_listen(sv->ctx, 8);
		assert_true(sv->listen_fd >= 0);
		assert_int_equal(pthread_create(&sv->thread, NULL, server_tcp_thread, sv), 0);
		return;
	}
	int slave_fd;
	assert_int_equal(openpty(&sv->master_fd, &slave_fd, sv->slave_path, NULL, NULL), 0);
	close(slave_fd); /* the bus opens it by path */
	sv->ctx = modbus_new_rtu("/dev/null", 115200, 'N', 8, 1);
	assert_non_null(sv->ctx);
	assert_int_equal(modbus_set_socket(sv->ctx, sv->master_fd), 0);
	assert_int_equal(pthread_create(&sv->thread, NULL, server_rtu_thread, sv), 0);
}

static void server_start(struct server *sv, bool rtu)
{
	server_start_on(sv, rtu, 0);
}

static void server_stop(struct server *sv)
{
	atomic_store(&sv->stop, true);
	pthread_join(sv->thread, NULL);
	if (sv->rtu) {
		close(sv->master_fd);
	} else {
		close(sv->listen_fd);
	}
	modbus_free(sv->ctx);
	modbus_mapping_free(sv->map);
	pthread_mutex_destroy(&sv->map_lock);
}

static void server_set_point(struct server *sv, const struct point_def *p, double v)
{
	uint16_t regs[2];
	int n;
	pthread_mutex_lock(&sv->map_lock);
	if (p->table == TABLE_HOLDING || p->table == TABLE_INPUT) {
		uint16_t *tab = p->table == TABLE_HOLDING ? sv->map->tab_registers : sv->map->tab_input_registers;
		regs[0] = tab[p->address];
		assert_int_equal(point_encode(p, v, regs, &n), 0);
		for (int i = 0; i < n; i++)
			tab[p->address + i] = regs[i];
	} else {
		uint8_t *tab = p->table == TABLE_COIL ? sv->map->tab_bits : sv->map->tab_input_bits;
		tab[p->address] = v != 0;
	}
	pthread_mutex_unlock(&sv->map_lock);
}

/* ---------------- a hand-built config ---------------- */

#define NPTS 8
#define WORLD_DEVS 64
struct world {
	struct point_def pts[NPTS];
	struct profile prof;
	struct bus_config buses[2];
	struct device_config devs[WORLD_DEVS];
	struct gw_config cfg;
	struct queue *q;
};

static void world_points(struct world *w)
{
	static const struct { const char *name; enum point_table t; int addr; enum point_type ty;
			      enum word_order wo; double scale; int bit; } defs[NPTS] = {
		{ "alarm", TABLE_DISCRETE, 0, PT_BOOL, WORD_BIG, 1, 0 },
		{ "door", TABLE_COIL, 3, PT_BOOL, WORD_BIG, 1, 0 },
		{ "temp", TABLE_INPUT, 0, PT_S16, WORD_BIG, 0.1, 0 },
		{ "count", TABLE_INPUT, 1, PT_U32, WORD_LITTLE, 1, 0 },
		{ "level", TABLE_INPUT, 3, PT_F32, WORD_BIG, 1, 0 },
		{ "energy", TABLE_INPUT, 7, PT_S32, WORD_BIG, 0.01, 0 },
		{ "setp", TABLE_HOLDING, 10, PT_U16, WORD_BIG, 1, 0 },
		{ "flag", TABLE_HOLDING, 11, PT_BIT, WORD_BIG, 1, 5 },
	};
	for (int i = 0; i < NPTS; i++) {
		struct point_def *p = &w->pts[i];
		p->name = (char *)defs[i].name;
		p->table = defs[i].t;
		p->address = defs[i].addr;
		p->type = defs[i].ty;
		p->word_order = defs[i].wo;
		p->scale = defs[i].scale;
		p->bit = defs[i].bit;
		p->writable = p->table == TABLE_COIL || p->table == TABLE_HOLDING;
	}
	w->prof.name = "test";
	w->prof.kind = "test";
	w->prof.points = w->pts;
	w->prof.n_points = NPTS;
}

static void world_bus(struct world *w, int i, const struct server *sv, int64_t timeout_ms)
{
	struct bus_config *b = &w->buses[i];
	b->name = i == 0 ? "a" : "b";
	b->type = sv->rtu ? BUS_RTU : BUS_TCP;
	b->host = "127.0.0.1";
	b->port = sv->port;
	b->device = (char *)sv->slave_path;
	b->baud = 115200;
	b->parity = 'N';
	b->data_bits = 8;
	b->stop_bits = 1;
	b->timeout_ms = timeout_ms;
	b->retries = 1;
	b->max_gap = 4;
	b->max_block_regs = 125;
	b->max_block_bits = 2000;
	if (w->cfg.n_buses <= i)
		w->cfg.n_buses = i + 1;
}

static void world_device(struct world *w, const char *id, int bus, int unit, int64_t poll_ms)
{
	struct device_config *d = &w->devs[w->cfg.n_devices++];
	d->id = (char *)id;
	d->profile = 0;
	d->bus = bus;
	d->source = -1;
	d->unit = unit;
	d->poll_ms = poll_ms;
	d->offline_after_ms = 3 * poll_ms;
}

static void world_init(struct world *w)
{
	memset(w, 0, sizeof *w);
	world_points(w);
	w->cfg.profiles = &w->prof;
	w->cfg.n_profiles = 1;
	w->cfg.buses = w->buses;
	w->cfg.devices = w->devs;
	w->q = queue_create(8192, 6000);
	assert_non_null(w->q);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the core would know: latest value/quality per (device, point), comm per device. */
struct view {
	struct point_value pv[WORLD_DEVS][NPTS];
	int comm[WORLD_DEVS];     /* -1 unknown, 0 offline, 1 online */
	int comm_changes[WORLD_DEVS];
	int writes_ok, writes_failed;
	uint64_t last_write_req;
	struct modbus_read_result *read;  /* the last one-shot read's answer (owned) */
	uint64_t read_token;
	int n_reads;
	int point_msgs;           /* MSG_POINTS received */
	int last_n;               /* entries of the last MSG_POINTS */
	int last_point;           /* its first entry's point */
};

static void view_init(struct view *v)
{
	memset(v, 0, sizeof *v);
	for (int i = 0; i < WORLD_DEVS; i++)
		v->comm[i] = -1;
}

static void view_drain(struct world *w, struct view *v)
{
	struct core_msg m[256];
	size_t n;
	while ((n = queue_pop_many(w->q, m, 256)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (m[i].type == MSG_POINTS) {
				assert_true(m[i].u.points.n > 0 && m[i].u.points.n <= QUEUE_POINTS_MAX);
				for (int k = 0; k < m[i].u.points.n; k++) {
					int pt;
					struct point_value pv;
					core_msg_point(&m[i], k, &pt, &pv);
					v->pv[m[i].u.points.device][pt] = pv;
				}
				v->point_msgs++;
				v->last_n = m[i].u.points.n;
				v->last_point = m[i].u.points.point[0];
			} else if (m[i].type == MSG_DEVICE_COMM) {
				v->comm[m[i].u.comm.device] = m[i].u.comm.ok;
				v->comm_changes[m[i].u.comm.device]++;
			} else if (m[i].type == MSG_WRITE_RESULT) {
				if (m[i].u.write.ok)
					v->writes_ok++;
				else
					v->writes_failed++;
				v->last_write_req = m[i].u.write.request;
			} else if (m[i].type == MSG_READ_RESULT) {
				free(v->read);
				v->read = (struct modbus_read_result *)(void *)m[i].u.blob.data;
				v->read_token = (uint64_t)m[i].u.blob.a;
				v->n_reads++;
			}
		}
	}
}

/* Drains the queue until cond holds or timeout_ms passes. */
#define WAIT_FOR(w, v, cond, timeout_ms)                                                 \
	({                                                                                \
		int64_t dl_ = now_ms() + (timeout_ms);                                    \
		bool ok_ = false;                                                         \
		while (now_ms() < dl_) {                                                  \
			view_drain((w), (v));                                             \
			if (cond) {                                                       \
				ok_ = true;                                               \
				break;                                                    \
			}                                                                 \
			usleep(5000);                                                     \
		}                                                                         \
		ok_;                                                                      \
	})

static bool all_good(struct view *v, int dev)
{
	for (int i = 0; i < NPTS; i++)
		if (v->pv[dev][i].quality != QUALITY_GOOD)
			return false;
	return true;
}

static bool all_quality(struct view *v, int dev, enum quality q)
{
	for (int i = 0; i < NPTS; i++)
		if (v->pv[dev][i].quality != q)
			return false;
	return true;
}

static const double test_values[NPTS] = { 1, 1, -12.5, 4000000000.0, 3.25, -1234.56, 777, 1 };

static void set_all(struct world *w, struct server *sv)
{
	for (int i = 0; i < NPTS; i++)
		server_set_point(sv, &w->pts[i], test_values[i]);
}

static void check_values(struct view *v, int dev)
{
	for (int i = 0; i < NPTS; i++)
		assert_true(fabs(v->pv[dev][i].value - test_values[i]) < 1e-6 * (1 + fabs(test_values[i])));
}

static void world_stop(struct world *w, struct modbus_bus *b1, struct modbus_bus *b2)
{
	queue_close(w->q);
	modbus_bus_stop(b1);
	modbus_bus_stop(b2);
	queue_destroy(w->q);
}

/* ---------------- tests ---------------- */

static void test_tcp_decodes_every_type_and_goes_online(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 500);
	world_device(&w, "d0", 0, 7, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 3000));
	check_values(&v, 0);
	/* a changed value reaches the core */
	server_set_point(&sv, &w.pts[2], 21.5);
	assert_true(WAIT_FOR(&w, &v, fabs(v.pv[0][2].value - 21.5) < 1e-9, 2000));
	struct modbus_bus_stats st;
	modbus_bus_get_stats(b, &st);
	assert_true(st.polls >= 2);
	/* block plan: discrete, coil, input, holding = 4 requests per poll */
	assert_int_equal(modbus_plan_count_requests(&w.prof, &w.buses[0]), 4);
	assert_true(st.requests >= st.polls * 4 - 4 && st.requests <= st.polls * 4);
	assert_int_equal(st.errors, 0);
	assert_true(st.link_up);
	assert_int_equal(v.comm_changes[0], 1);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_requests_counted_at_server_match_plan(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 500);
	world_device(&w, "d0", 0, 3, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	queue_close(w.q);
	modbus_bus_stop(b);
	/* the server saw exactly 4 requests per poll, never one per point */
	int served = atomic_load(&sv.requests[3]);
	assert_true(served >= 4);
	assert_int_equal(served % 4, 0);
	queue_destroy(w.q);
	server_stop(&sv);
}

static void test_offline_after_three_missed_polls_and_immediate_return(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 100);
	world_device(&w, "d0", 0, 5, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 3000));
	int64_t t0 = now_ms();
	atomic_store(&sv.fault[5], F_TIMEOUT);
	/* one missed poll does not change qualities; offline after 300 ms */
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 0, 3000));
	int64_t took = now_ms() - t0;
	assert_true(took >= 250);
	assert_true(all_quality(&v, 0, QUALITY_COMM_ERROR));
	atomic_store(&sv.fault[5], F_NONE);
	t0 = now_ms();
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 3000));
	/* backoff after 1-2 failed polls: back within a few periods */
	assert_true(now_ms() - t0 < 1500);
	check_values(&v, 0);
	assert_int_equal(v.comm_changes[0], 3);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_exception_marks_points_comm_error_then_offline(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 200);
	world_device(&w, "d0", 0, 4, 100);
	set_all(&w, &sv);
	atomic_store(&sv.fault[4], F_EXCEPTION);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 0 && all_quality(&v, 0, QUALITY_COMM_ERROR), 3000));
	struct modbus_bus_stats st;
	modbus_bus_get_stats(b, &st);
	assert_true(st.errors > 0);
	assert_int_equal(st.timeouts, 0);
	atomic_store(&sv.fault[4], F_NONE);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 3000));
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_garbage_is_flushed_and_recovered(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 200);
	world_device(&w, "d0", 0, 6, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	atomic_store(&sv.fault[6], F_GARBAGE);
	struct modbus_bus_stats st;
	int64_t dl = now_ms() + 3000;
	do {
		usleep(20000);
		view_drain(&w, &v);
		modbus_bus_get_stats(b, &st);
	} while (st.errors < 3 && now_ms() < dl);
	assert_true(st.errors >= 3);
	atomic_store(&sv.fault[6], F_NONE);
	server_set_point(&sv, &w.pts[6], 4242);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0) && v.pv[0][6].value == 4242, 3000));
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_tcp_peer_disconnect_reconnects(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 300);
	world_device(&w, "d0", 0, 2, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	atomic_store(&sv.fault[2], F_DISCONNECT);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 0, 4000));
	atomic_store(&sv.fault[2], F_NONE);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 5000));
	struct modbus_bus_stats st;
	modbus_bus_get_stats(b, &st);
	assert_true(st.connects >= 2);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_tcp_server_absent_then_comes_up(void **state)
{
	(void)state;
	struct world w;
	struct view v;
	struct server fake = { .port = free_port() };
	char err[256];
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &fake, 200);
	world_device(&w, "d0", 0, 1, 100);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	/* nothing listens: the device goes offline, never read -> comm_error */
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 0 && all_quality(&v, 0, QUALITY_COMM_ERROR), 3000));
	/* the server comes up: reconnect with backoff, device back */
	struct server sv;
	server_start_on(&sv, false, fake.port);
	set_all(&w, &sv);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 12000));
	check_values(&v, 0);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_writes_coil_register_and_bit(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 500);
	world_device(&w, "d0", 0, 8, 100);
	set_all(&w, &sv);
	sv.map->tab_registers[11] = 0x8001;
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	assert_int_equal(modbus_bus_write(b, 0, 1, 0, 11), 0);     /* coil door := 0 */
	assert_int_equal(modbus_bus_write(b, 0, 6, 1500, 12), 0);  /* holding setp := 1500 */
	assert_int_equal(modbus_bus_write(b, 0, 7, 1, 13), 0);     /* bit 5 of holding 11 */
	assert_int_equal(modbus_bus_write(b, 0, 2, 1, 14), -EINVAL); /* input register */
	assert_int_equal(modbus_bus_write(b, 5, 1, 1, 15), -EINVAL); /* not on this bus */
	assert_true(WAIT_FOR(&w, &v, v.writes_ok == 3, 3000));
	assert_int_equal(v.last_write_req, 13);
	pthread_mutex_lock(&sv.map_lock);
	assert_int_equal(sv.map->tab_bits[3], 0);
	assert_int_equal(sv.map->tab_registers[10], 1500);
	assert_int_equal(sv.map->tab_registers[11], 0x8021); /* other bits kept */
	pthread_mutex_unlock(&sv.map_lock);
	/* a value that does not fit fails with a reason */
	assert_int_equal(modbus_bus_write(b, 0, 6, 70000, 16), 0);
	assert_true(WAIT_FOR(&w, &v, v.writes_failed == 1, 3000));
	assert_true(WAIT_FOR(&w, &v, v.pv[0][6].value == 1500 && v.pv[0][1].value == 0, 3000));
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

/* The console's live read: every block once on the bus thread, raw
 * registers as the server holds them, decoded values; a unit that does not
 * answer gives every point comm_error with the timeout; the poll's view of
 * the device is not touched. */
static void test_one_shot_read_raw_registers(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 300);
	world_device(&w, "d0", 0, 8, 100);
	world_device(&w, "dead", 0, 9, 100);
	atomic_store(&sv.answer_units[9], 0);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	assert_int_equal(modbus_bus_read(b, 7, 1), -EINVAL); /* no such device */
	assert_int_equal(modbus_bus_read(b, 0, 41), 0);
	assert_true(WAIT_FOR(&w, &v, v.n_reads == 1, 3000));
	assert_int_equal(v.read_token, 41);
	struct modbus_read_result *r = v.read;
	assert_int_equal(r->device, 0);
	assert_int_equal(r->unit, 8);
	assert_int_equal(r->n_points, NPTS);
	assert_int_equal(r->good, NPTS);
	assert_true(r->requests >= 1);
	pthread_mutex_lock(&sv.map_lock);
	assert_int_equal(r->points[2].raw[0], sv.map->tab_input_registers[0]);          /* temp s16 */
	assert_int_equal(r->points[3].raw[0], sv.map->tab_input_registers[1]);          /* count u32, 2 regs */
	assert_int_equal(r->points[3].raw[1], sv.map->tab_input_registers[2]);
	assert_int_equal(r->points[0].bit, sv.map->tab_input_bits[0]);                  /* alarm */
	pthread_mutex_unlock(&sv.map_lock);
	for (int i = 0; i < NPTS; i++) {
		assert_true(r->points[i].read_ok);
		assert_true(fabs(r->points[i].value - test_values[i]) < 1e-6 * (1 + fabs(test_values[i])));
	}
	/* a unit nobody answers for: the reason per point, within its timeouts */
	assert_true(WAIT_FOR(&w, &v, v.comm[1] == 0, 5000));
	int polls_changes = v.comm_changes[1];
	assert_int_equal(modbus_bus_read(b, 1, 42), 0);
	assert_true(WAIT_FOR(&w, &v, v.n_reads == 2, 3000));
	r = v.read;
	assert_int_equal(v.read_token, 42);
	assert_int_equal(r->good, 0);
	for (int i = 0; i < NPTS; i++) {
		assert_false(r->points[i].read_ok);
		assert_int_equal(r->points[i].quality, QUALITY_COMM_ERROR);
		assert_int_not_equal(r->points[i].error, 0);
	}
	assert_int_equal(v.comm_changes[1], polls_changes); /* the read decided nothing */
	free(v.read);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_write_queue_full_is_eagain(void **state)
{
	(void)state;
	struct world w;
	struct server sv;
	char err[256];
	server_start(&sv, false);
	atomic_store(&sv.answer_units[1], 0); /* every write takes a timeout */
	world_init(&w);
	world_bus(&w, 0, &sv, 200);
	world_device(&w, "d0", 0, 1, 100000);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	int rc = 0, i;
	for (i = 0; i < 10000 && rc == 0; i++)
		rc = modbus_bus_write(b, 0, 6, 1, (uint64_t)i);
	assert_int_equal(rc, -EAGAIN);
	assert_true(i <= MODBUS_BUS_WRITE_QUEUE + 2);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

/* A dead device on bus A (timeouts) leaves bus B's poll periods intact. */
static void test_dead_device_on_other_bus_does_not_delay(void **state)
{
	(void)state;
	struct server sa, sb;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sa, false);
	server_start(&sb, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sa, 300);
	world_bus(&w, 1, &sb, 300);
	world_device(&w, "dead1", 0, 9, 100);
	world_device(&w, "dead2", 0, 10, 100);
	world_device(&w, "live", 1, 1, 50);
	atomic_store(&sa.answer_units[9], 0);
	atomic_store(&sa.answer_units[10], 0);
	set_all(&w, &sb);
	struct modbus_bus *ba = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	struct modbus_bus *bb = modbus_bus_start(&w.cfg, 1, w.q, err, sizeof err);
	assert_non_null(ba);
	assert_non_null(bb);
	int64_t t0 = now_ms();
	while (now_ms() - t0 < 1500) {
		view_drain(&w, &v);
		usleep(10000);
	}
	struct modbus_bus_stats sa_st, sb_st;
	modbus_bus_get_stats(ba, &sa_st);
	modbus_bus_get_stats(bb, &sb_st);
	assert_true(sa_st.timeouts >= 2);
	assert_int_equal(v.comm[0], 0);
	assert_int_equal(v.comm[2], 1);
	/* 1.5 s at 50 ms = 30 polls; allow scheduling slack */
	assert_true(sb_st.polls >= 27);
	assert_true(sb_st.late_p99_us < 20000);
	assert_int_equal(sb_st.overruns, 0);
	world_stop(&w, ba, bb);
	server_stop(&sa);
	server_stop(&sb);
}

/* On one bus, a dead device costs at most one timeout per its period once it failed. */
static void test_dead_device_costs_at_most_its_timeout(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 100);
	w.buses[0].retries = 3;
	world_device(&w, "dead", 0, 9, 200);
	world_device(&w, "live", 0, 1, 200);
	atomic_store(&sv.answer_units[9], 0);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	/* Measured from the dead device's offline report on: its first poll's
	 * retries (4 timeouts, on a loaded box later than planned) are the
	 * cost of finding it dead, not of a period. */
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 0, 5000));
	struct modbus_bus_stats st0, st;
	modbus_bus_get_stats(b, &st0);
	int req0 = atomic_load(&sv.requests[1]);
	int64_t t0 = now_ms();
	while (now_ms() - t0 < 2000) {
		view_drain(&w, &v);
		usleep(10000);
	}
	modbus_bus_get_stats(b, &st);
	/* 2 s / 200 ms = 10 periods: at most one timeout per period (then
	 * backoff once offline), and the live device polled every period */
	assert_true(st.timeouts - st0.timeouts <= 10);
	assert_true(atomic_load(&sv.requests[1]) - req0 >= 4 * 9);
	assert_int_equal(v.comm[1], 1);
	assert_int_equal(v.comm[0], 0);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_rtu_on_pty_decodes_and_times_out_other_units(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, true);
	world_init(&w);
	view_init(&v);
	/* 600 ms, not 200: the pty server is a thread of this test, and on a
	 * box loaded by make test-stress it answered rtu12 late enough to time
	 * out now and then, so rtu12 was seldom online with all points good at
	 * the same moment as rtu13 was offline (failed twice in 4 s). */
	world_bus(&w, 0, &sv, 600);
	world_device(&w, "rtu12", 0, 12, 100);
	world_device(&w, "rtu13", 0, 13, 100);
	atomic_store(&sv.answer_units[13], 0); /* nobody answers unit 13 */
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	bool seen = WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0) && v.comm[1] == 0, 10000);
	if (!seen)
		fprintf(stderr, "# rtu12 comm %d (%d changes) all good %d, rtu13 comm %d (%d changes)\n", v.comm[0],
			v.comm_changes[0], all_good(&v, 0), v.comm[1], v.comm_changes[1]);
	assert_true(seen);
	check_values(&v, 0);
	struct modbus_bus_stats st;
	modbus_bus_get_stats(b, &st);
	assert_true(st.timeouts >= 1);
	/* writes go through RTU too */
	assert_int_equal(modbus_bus_write(b, 0, 6, 99, 1), 0);
	assert_true(WAIT_FOR(&w, &v, v.writes_ok == 1 && v.pv[0][6].value == 99, 3000));
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

static void test_serial_device_vanishes_and_returns(void **state)
{
	(void)state;
	struct world w;
	struct view v;
	char err[256];
	char link[128];
	snprintf(link, sizeof link, "/tmp/gridgw-h4-tty-%d", (int)getpid());
	struct server sv;
	server_start(&sv, true);
	unlink(link);
	assert_int_equal(symlink(sv.slave_path, link), 0);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 200);
	w.buses[0].device = link;
	world_device(&w, "rtu12", 0, 12, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 4000));
	/* unplug: the pty goes away and the path with it */
	server_stop(&sv);
	unlink(link);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 0, 4000));
	/* plug back in (a new pty at the same path) */
	server_start(&sv, true);
	set_all(&w, &sv);
	assert_int_equal(symlink(sv.slave_path, link), 0);
	assert_true(WAIT_FOR(&w, &v, v.comm[0] == 1 && all_good(&v, 0), 12000));
	struct modbus_bus_stats st;
	modbus_bus_get_stats(b, &st);
	assert_true(st.connects >= 2);
	world_stop(&w, b, NULL);
	server_stop(&sv);
	unlink(link);
}

/* RTU: the configured inter-frame silence separates every two requests. */
static void test_rtu_inter_frame_delay_honoured(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, true);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 200);
	w.buses[0].frame_delay_ms = 15;
	world_device(&w, "rtu3", 0, 3, 100);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	assert_true(WAIT_FOR(&w, &v, atomic_load(&sv.requests[3]) >= 8, 3000));
	/* the gap is measured between request arrivals, so it also includes the
	 * previous reply: it can only be longer than the silence */
	assert_true(atomic_load(&sv.min_gap_us) >= 15000);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

/* Devices with the same period start spread over it, not all at once, one
 * per tick while there are no more of them than ticks in the period. */
static void test_first_polls_spread_over_the_period(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 500);
	for (int i = 0; i < 8; i++)
		world_device(&w, "d", 0, 20 + i, 8 * MODBUS_BUS_TICK_MS);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, atomic_load(&sv.first_req_us[27]) != 0, 8 * MODBUS_BUS_TICK_MS + 2000));
	/* 8 devices over 8 ticks: first polls one tick apart */
	for (int i = 1; i < 8; i++) {
		long long gap = atomic_load(&sv.first_req_us[20 + i]) - atomic_load(&sv.first_req_us[19 + i]);
		assert_true(gap >= MODBUS_BUS_TICK_MS * 1000 - 15000 && gap <= MODBUS_BUS_TICK_MS * 1000 + 15000);
	}
	struct modbus_bus_stats st;
	assert_true(WAIT_FOR(&w, &v, (modbus_bus_get_stats(b, &st), st.polls >= 16), 8 * MODBUS_BUS_TICK_MS + 3000));
	assert_int_equal(st.overruns, 0);
	assert_true(st.late_p99_us < 20000);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

/* One message per poll, carrying only what changed: every point on the
 * first read, nothing while values hold, then the one point that moved. */
static void test_one_message_per_poll_with_only_changed_points(void **state)
{
	(void)state;
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 500);
	world_device(&w, "d0", 0, 7, 50);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, all_good(&v, 0), 3000));
	assert_int_equal(v.point_msgs, 1);
	assert_int_equal(v.last_n, NPTS);
	struct modbus_bus_stats st0, st1;
	modbus_bus_get_stats(b, &st0);
	usleep(300 * 1000);
	view_drain(&w, &v);
	modbus_bus_get_stats(b, &st1);
	assert_true(st1.polls >= st0.polls + 3);
	assert_int_equal(v.point_msgs, 1); /* polls went on, nothing changed, nothing posted */
	server_set_point(&sv, &w.pts[2], 33.5);
	assert_true(WAIT_FOR(&w, &v, v.point_msgs == 2, 2000));
	assert_int_equal(v.last_n, 1);
	assert_int_equal(v.last_point, 2);
	assert_true(fabs(v.pv[0][2].value - 33.5) < 1e-9);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

/* A bus with more devices than ticks in a period wakes once per tick and
 * polls the devices of that tick back to back: 40 devices every 1 s are
 * polled in 1000 / MODBUS_BUS_TICK_MS groups, not one at a time every 25 ms,
 * and every period still holds. */
static void test_many_devices_polled_in_ticks(void **state)
{
	(void)state;
	enum { N = 40, PERIOD = 1000 };
	struct server sv;
	struct world w;
	struct view v;
	char err[256];
	server_start(&sv, false);
	world_init(&w);
	view_init(&v);
	world_bus(&w, 0, &sv, 500);
	for (int i = 0; i < N; i++)
		world_device(&w, "d", 0, 1 + i, PERIOD);
	set_all(&w, &sv);
	struct modbus_bus *b = modbus_bus_start(&w.cfg, 0, w.q, err, sizeof err);
	assert_non_null(b);
	assert_true(WAIT_FOR(&w, &v, atomic_load(&sv.first_req_us[N]) != 0, 3000));
	/* first requests in unit order; a new group starts after a pause */
	int groups = 1;
	for (int u = 2; u <= N; u++) {
		long long gap = atomic_load(&sv.first_req_us[u]) - atomic_load(&sv.first_req_us[u - 1]);
		assert_true(gap >= 0);
		if (gap > (MODBUS_BUS_TICK_MS * 1000) / 2)
			groups++;
	}
	assert_int_equal(groups, PERIOD / MODBUS_BUS_TICK_MS);
	struct modbus_bus_stats st;
	modbus_bus_reset_lateness(b);
	assert_true(WAIT_FOR(&w, &v, (modbus_bus_get_stats(b, &st), st.polls >= 2 * N), 3000));
	assert_int_equal(st.overruns, 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(v.comm[i], 1);
	world_stop(&w, b, NULL);
	server_stop(&sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_decodes_every_type_and_goes_online),
		cmocka_unit_test(test_requests_counted_at_server_match_plan),
		cmocka_unit_test(test_offline_after_three_missed_polls_and_immediate_return),
		cmocka_unit_test(test_exception_marks_points_comm_error_then_offline),
		cmocka_unit_test(test_garbage_is_flushed_and_recovered),
		cmocka_unit_test(test_tcp_peer_disconnect_reconnects),
		cmocka_unit_test(test_tcp_server_absent_then_comes_up),
		cmocka_unit_test(test_writes_coil_register_and_bit),
		cmocka_unit_test(test_write_queue_full_is_eagain),
		cmocka_unit_test(test_dead_device_on_other_bus_does_not_delay),
		cmocka_unit_test(test_dead_device_costs_at_most_its_timeout),
		cmocka_unit_test(test_rtu_on_pty_decodes_and_times_out_other_units),
		cmocka_unit_test(test_serial_device_vanishes_and_returns),
		cmocka_unit_test(test_rtu_inter_frame_delay_honoured),
		cmocka_unit_test(test_first_polls_spread_over_the_period),
		cmocka_unit_test(test_one_shot_read_raw_registers),
		cmocka_unit_test(test_one_message_per_poll_with_only_changed_points),
		cmocka_unit_test(test_many_devices_polled_in_ticks),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
