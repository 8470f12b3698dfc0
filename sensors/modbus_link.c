/* modbus_link — see modbus_link.h. One operations table per transport; the
 * rest of the file is transport-neutral. Error recovery stays
 * MODBUS_ERROR_RECOVERY_NONE: libmodbus's LINK recovery loops close/connect
 * forever inside a call (PITFALLS.md), so callers back off themselves. */
#include "sensors/modbus_link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

struct link_ops {
	modbus_t *(*create)(const struct bus_config *bus);
	/* after connect: options that need the fd; returns 0 or -1 with errno */
	void (*after_connect)(modbus_t *ctx, const struct bus_config *bus);
	int64_t (*frame_delay_us)(const struct bus_config *bus);
	void (*describe)(const struct bus_config *bus, char *buf, size_t len);
	int reopen_after_timeouts; /* see modbus_link_timeouts_before_reopen */
};

static modbus_t *rtu_create(const struct bus_config *bus)
{
	if (!bus->device) {
		errno = EINVAL;
		return NULL;
	}
	return modbus_new_rtu(bus->device, bus->baud > 0 ? bus->baud : 9600,
			      bus->parity ? bus->parity : 'N', bus->data_bits ? bus->data_bits : 8,
			      bus->stop_bits ? bus->stop_bits : 1);
}

static void rtu_after_connect(modbus_t *ctx, const struct bus_config *bus)
{
	char eb[128];
	/* Both fail on ptys and on adapters without kernel RS-485 support: the
	 * line still works (auto-direction adapters), so this is a warning. */
	if (bus->rs485 && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) < 0)
		log_warn("modbus", "bus %s: RS-485 mode not supported by %s: %s", bus->name,
			 bus->device, modbus_link_strerror(errno, eb, sizeof eb));
	if (bus->rts && modbus_rtu_set_rts(ctx, MODBUS_RTU_RTS_UP) < 0)
		log_warn("modbus", "bus %s: RTS direction control not supported by %s: %s", bus->name,
			 bus->device, modbus_link_strerror(errno, eb, sizeof eb));
}

static int64_t rtu_frame_delay_us(const struct bus_config *bus)
{
	if (bus->frame_delay_ms > 0)
		return bus->frame_delay_ms * 1000;
	int baud = bus->baud > 0 ? bus->baud : 9600;
	if (baud > 19200)
		return 1750;
	return (int64_t)35 * 11 * 1000000 / 10 / baud; /* 3.5 chars of 11 bits */
}

static void rtu_describe(const struct bus_config *bus, char *buf, size_t len)
{
	snprintf(buf, len, "rtu %s %d %d%c%d", bus->device ? bus->device : "?",
		 bus->baud > 0 ? bus->baud : 9600, bus->data_bits ? bus->data_bits : 8,
		 bus->parity ? bus->parity : 'N', bus->stop_bits ? bus->stop_bits : 1);
}

static modbus_t *tcp_create(const struct bus_config *bus)
{
	char service[16];
	if (!bus->host) {
		errno = EINVAL;
		return NULL;
	}
	snprintf(service, sizeof service, "%d", bus->port > 0 ? bus->port : 502);
	/* _pi resolves names and IPv6; plain modbus_new_tcp takes IPv4 literals only */
	return modbus_new_tcp_pi(bus->host, service);
}

static void tcp_after_connect(modbus_t *ctx, const struct bus_config *bus)
{
	(void)ctx;
	(void)bus;
}

static int64_t tcp_frame_delay_us(const struct bus_config *bus)
{
	(void)bus;
	return 0;
}

static void tcp_describe(const struct bus_config *bus, char *buf, size_t len)
{
	snprintf(buf, len, "tcp %s:%d", bus->host ? bus->host : "?", bus->port > 0 ? bus->port : 502);
}

static const struct link_ops link_ops_table[] = {
	/* A serial line never: its timeouts mean dead units, and reopening the
	 * tty cures none of them. A TCP peer that accepts but stops answering
	 * (a half-dead Modbus gateway) is reopened after 3. */
	[BUS_RTU] = { rtu_create, rtu_after_connect, rtu_frame_delay_us, rtu_describe, 0 },
	[BUS_TCP] = { tcp_create, tcp_after_connect, tcp_frame_delay_us, tcp_describe, 3 },
};

static const struct link_ops *link_ops(const struct bus_config *bus)
{
	return bus->type == BUS_TCP ? &link_ops_table[BUS_TCP] : &link_ops_table[BUS_RTU];
}

static int link_set_timeout(modbus_t *ctx, const struct bus_config *bus)
{
	int64_t ms = bus->timeout_ms > 0 ? bus->timeout_ms : 500;
	uint32_t sec = (uint32_t)(ms / 1000), usec = (uint32_t)(ms % 1000) * 1000; /* usec < 1e6 */
	if (modbus_set_response_timeout(ctx, sec, usec) < 0)
		return -1;
	/* byte timeout: the gap allowed inside one reply; a fraction of the whole */
	int64_t bms = ms / 2 > 0 ? ms / 2 : 1;
	return modbus_set_byte_timeout(ctx, (uint32_t)(bms / 1000), (uint32_t)(bms % 1000) * 1000);
}

modbus_t *modbus_link_open(const struct bus_config *bus, char *err, size_t errlen)
{
	const struct link_ops *ops = link_ops(bus);
	char what[160], eb[128];
	ops->describe(bus, what, sizeof what);
	modbus_t *ctx = ops->create(bus);
	if (!ctx) {
		snprintf(err, errlen, "bus %s (%s): cannot create context: %s", bus->name, what,
			 modbus_link_strerror(errno, eb, sizeof eb));
		return NULL;
	}
	if (link_set_timeout(ctx, bus) < 0 ||
	    modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE) < 0) {
		snprintf(err, errlen, "bus %s (%s): cannot configure: %s", bus->name, what,
			 modbus_link_strerror(errno, eb, sizeof eb));
		modbus_free(ctx);
		return NULL;
	}
	if (modbus_connect(ctx) < 0) {
		int e = errno;
		/* a TCP connect timeout reports EINPROGRESS (PITFALLS.md) */
		snprintf(err, errlen, "bus %s (%s): cannot open: %s", bus->name, what,
			 e == EINPROGRESS ? "connection timed out" : modbus_link_strerror(e, eb, sizeof eb));
		modbus_free(ctx);
		errno = e;
		return NULL;
	}
	ops->after_connect(ctx, bus);
	return ctx;
}

void modbus_link_close(modbus_t **ctx)
{
	if (!*ctx)
		return;
	modbus_close(*ctx);
	modbus_free(*ctx);
	*ctx = NULL;
}

int64_t modbus_link_frame_delay_us(const struct bus_config *bus)
{
	return link_ops(bus)->frame_delay_us(bus);
}

void modbus_link_describe(const struct bus_config *bus, char *buf, size_t len)
{
	link_ops(bus)->describe(bus, buf, len);
}

int modbus_link_read(modbus_t *ctx, enum point_table t, int addr, int n, uint16_t *regs, uint8_t *bits)
{
	bool is_bits = t == TABLE_COIL || t == TABLE_DISCRETE;
	if (n < 1 || n > (is_bits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS) || addr < 0 ||
	    addr + n - 1 > 65535 || (is_bits ? !bits : !regs)) {
		errno = EINVAL;
		return -1;
	}
	switch (t) {
	case TABLE_COIL: return modbus_read_bits(ctx, addr, n, bits);
	case TABLE_DISCRETE: return modbus_read_input_bits(ctx, addr, n, bits);
	case TABLE_HOLDING: return modbus_read_registers(ctx, addr, n, regs);
	case TABLE_INPUT: return modbus_read_input_registers(ctx, addr, n, regs);
	default: errno = EINVAL; return -1;
	}
}

int modbus_link_timeouts_before_reopen(const struct bus_config *bus)
{
	return link_ops(bus)->reopen_after_timeouts;
}

int modbus_link_write(modbus_t *ctx, enum point_table t, int addr, int n, const uint16_t *regs)
{
	bool coil = t == TABLE_COIL;
	if ((t != TABLE_COIL && t != TABLE_HOLDING) || n < 1 || n > (coil ? 1 : MODBUS_MAX_WRITE_REGISTERS) ||
	    addr < 0 || addr + n - 1 > 65535 || !regs) {
		errno = EINVAL;
		return -1;
	}
	if (coil)
		return modbus_write_bit(ctx, addr, regs[0] != 0);
	if (n == 1)
		return modbus_write_register(ctx, addr, regs[0]);
	return modbus_write_registers(ctx, addr, n, regs);
}

enum link_fail modbus_link_classify(int err)
{
	switch (err) {
	case ETIMEDOUT:
		return LINK_FAIL_TIMEOUT;
	case EMBBADCRC: case EMBBADDATA: case EMBBADEXC: case EMBUNKEXC: case EMBMDATA:
	case EMBBADSLAVE: case EMSGSIZE:
		return LINK_FAIL_FRAME;
	case EMBXSBUSY: case EMBXACK:
		return LINK_FAIL_BUSY;
	case EMBXILFUN: case EMBXILADD: case EMBXILVAL: case EMBXSFAIL: case EMBXNACK:
	case EMBXMEMPAR: case EMBXGPATH: case EMBXGTAR:
		return LINK_FAIL_EXCEPTION;
	case EINVAL: /* a request we refused to send (bad unit id, count): no retry, link fine */
		return LINK_FAIL_EXCEPTION;
	default:
		return LINK_FAIL_LINK;
	}
}

const char *modbus_link_strerror(int err, char *buf, size_t len)
{
	static const char *const mb[] = {
		[EMBXILFUN - MODBUS_ENOBASE] = "exception: illegal function",
		[EMBXILADD - MODBUS_ENOBASE] = "exception: illegal data address",
		[EMBXILVAL - MODBUS_ENOBASE] = "exception: illegal data value",
		[EMBXSFAIL - MODBUS_ENOBASE] = "exception: server device failure",
		[EMBXACK - MODBUS_ENOBASE] = "exception: acknowledge",
		[EMBXSBUSY - MODBUS_ENOBASE] = "exception: server device busy",
		[EMBXNACK - MODBUS_ENOBASE] = "exception: negative acknowledge",
		[EMBXMEMPAR - MODBUS_ENOBASE] = "exception: memory parity error",
		[EMBXGPATH - MODBUS_ENOBASE] = "exception: gateway path unavailable",
		[EMBXGTAR - MODBUS_ENOBASE] = "exception: gateway target failed to respond",
		[EMBBADCRC - MODBUS_ENOBASE] = "invalid CRC",
		[EMBBADDATA - MODBUS_ENOBASE] = "invalid data",
		[EMBBADEXC - MODBUS_ENOBASE] = "invalid exception code",
		[EMBUNKEXC - MODBUS_ENOBASE] = "unknown exception code",
		[EMBMDATA - MODBUS_ENOBASE] = "too many data",
		[EMBBADSLAVE - MODBUS_ENOBASE] = "response from an unexpected unit",
	};
	if (err > MODBUS_ENOBASE && err <= EMBBADSLAVE && mb[err - MODBUS_ENOBASE]) {
		snprintf(buf, len, "%s", mb[err - MODBUS_ENOBASE]);
		return buf;
	}
	/* GNU strerror_r: returns a string that may or may not be buf */
	const char *s = strerror_r(err, buf, len);
	if (s != buf)
		snprintf(buf, len, "%s", s);
	return buf;
}
