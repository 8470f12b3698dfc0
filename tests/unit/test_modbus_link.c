/* Unit tests for modbus_link's transport-neutral requests: reads and writes
 * against a real libmodbus TCP server on a loopback port (a thread here),
 * argument checks, and the per-transport reopen rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modbus.h>

#include "sensors/modbus_link.h"

struct server {
	modbus_t *ctx;
	modbus_mapping_t *map;
	int listen_fd;
	int port;
	pthread_t thread;
};

/* Serves one client until it disconnects. */
static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = modbus_tcp_accept(s->ctx, &s->listen_fd);
	if (fd < 0)
		return NULL;
	uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
	for (;;) {
		int n = modbus_receive(s->ctx, req);
		if (n < 0)
			break;
		if (n > 0)
			modbus_reply(s->ctx, req, n, s->map);
	}
	close(fd);
	return NULL;
}

static int server_start(struct server *s)
{
	memset(s, 0, sizeof *s);
	s->map = modbus_mapping_new(16, 0, 200, 0);
	if (!s->map)
		return -1;
	for (s->port = 21000 + (int)(getpid() % 20000); s->port < 65000; s->port += 7) {
		s->ctx = modbus_new_tcp("127.0.0.1", s->port);
		if (!s->ctx)
			return -1;
		s->listen_fd = modbus_tcp_listen(s->ctx, 1);
		if (s->listen_fd >= 0)
			break;
		modbus_free(s->ctx);
		s->ctx = NULL;
	}
	if (!s->ctx)
		return -1;
	return pthread_create(&s->thread, NULL, serve, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	modbus_free(s->ctx);
	modbus_mapping_free(s->map);
}

static struct bus_config tcp_bus(int port)
{
	struct bus_config b = { 0 };
	b.name = "lan";
	b.type = BUS_TCP;
	b.host = "127.0.0.1";
	b.port = port;
	b.timeout_ms = 1000;
	return b;
}

static void test_writes_reach_the_device(void **state)
{
	(void)state;
	struct server s;
	assert_int_equal(server_start(&s), 0);
	struct bus_config bus = tcp_bus(s.port);
	char err[256];
	modbus_t *ctx = modbus_link_open(&bus, err, sizeof err);
	assert_non_null(ctx);

	uint16_t one[1] = { 0x1234 }, two[2] = { 0xBEEF, 0x0042 }, on[1] = { 7 };
	assert_int_equal(modbus_link_write(ctx, TABLE_HOLDING, 10, 1, one), 1);
	assert_int_equal(modbus_link_write(ctx, TABLE_HOLDING, 20, 2, two), 2);
	assert_int_equal(modbus_link_write(ctx, TABLE_COIL, 3, 1, on), 1);
	assert_int_equal(s.map->tab_registers[10], 0x1234);
	assert_int_equal(s.map->tab_registers[20], 0xBEEF);
	assert_int_equal(s.map->tab_registers[21], 0x0042);
	assert_int_equal(s.map->tab_bits[3], 1);

	/* and read back through the same link */
	uint16_t regs[2] = { 0 };
	uint8_t bits[1] = { 0 };
	assert_int_equal(modbus_link_read(ctx, TABLE_HOLDING, 20, 2, regs, NULL), 2);
	assert_int_equal(regs[0], 0xBEEF);
	assert_int_equal(modbus_link_read(ctx, TABLE_COIL, 3, 1, NULL, bits), 1);
	assert_int_equal(bits[0], 1);

	/* a Modbus exception from the device (address past its map) is an error */
	errno = 0;
	assert_int_equal(modbus_link_write(ctx, TABLE_HOLDING, 199, 2, two), -1);
	assert_int_equal(modbus_link_classify(errno), LINK_FAIL_EXCEPTION);

	modbus_link_close(&ctx);
	assert_null(ctx);
	server_stop(&s);
}

static void test_write_arguments_checked(void **state)
{
	(void)state;
	uint16_t regs[124] = { 0 };
	struct { enum point_table t; int addr, n; const uint16_t *r; } bad[] = {
		{ TABLE_INPUT, 0, 1, regs },      /* read-only tables */
		{ TABLE_DISCRETE, 0, 1, regs },
		{ TABLE_HOLDING, 0, 0, regs },    /* counts */
		{ TABLE_HOLDING, 0, 124, regs },
		{ TABLE_COIL, 0, 2, regs },
		{ TABLE_HOLDING, -1, 1, regs },   /* addresses */
		{ TABLE_HOLDING, 65535, 2, regs },
		{ TABLE_HOLDING, 0, 1, NULL },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		/* checked before the context is used: NULL would crash otherwise */
		assert_int_equal(modbus_link_write(NULL, bad[i].t, bad[i].addr, bad[i].n, bad[i].r), -1);
		assert_int_equal(errno, EINVAL);
	}
}

static void test_reopen_rule_per_transport(void **state)
{
	(void)state;
	struct bus_config tcp = tcp_bus(502), rtu = { 0 };
	rtu.type = BUS_RTU;
	rtu.device = "/dev/ttyS1";
	assert_true(modbus_link_timeouts_before_reopen(&tcp) > 0);
	assert_int_equal(modbus_link_timeouts_before_reopen(&rtu), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_reach_the_device),
		cmocka_unit_test(test_write_arguments_checked),
		cmocka_unit_test(test_reopen_rule_per_transport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
