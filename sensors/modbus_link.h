/* modbus_link — opening a libmodbus context for one configured bus, behind a
 * small table of per-transport operations (RTU serial line, TCP endpoint),
 * the way libmodbus hides its own backends: reads, writes, pacing and when
 * to reopen a link are all asked of it, so the bus thread never asks "which
 * transport" (the commissioning commands ask only for what they tell the
 * installer: unit ranges, how long a scan takes). Also a thread-safe
 * error text and error classification (modbus_strerror is not thread-safe,
 * libmodbus #468). */
#ifndef GRIDGW_MODBUS_LINK_H
#define GRIDGW_MODBUS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

#include "common/model.h"

/* How a failed request should be treated. */
enum link_fail {
	LINK_FAIL_TIMEOUT = 1, /* no (complete) answer in time: the device may be dead */
	LINK_FAIL_FRAME,       /* CRC/framing/garbage or a mismatched reply: flush, retry */
	LINK_FAIL_EXCEPTION,   /* the device answered with a Modbus exception: it is alive */
	LINK_FAIL_BUSY,        /* exception "server busy" / "acknowledge": alive, retry later */
	LINK_FAIL_LINK,        /* the connection or serial device itself is gone: reconnect */
};

/* Creates and configures (timeouts, error recovery NONE) a context for bus,
 * then connects it and applies serial options that need an open fd
 * (RS-485 mode, RTS; a kernel that refuses them is logged, not fatal).
 * Returns the context, or NULL with a message in err. */
modbus_t *modbus_link_open(const struct bus_config *bus, char *err, size_t errlen);
/* Closes and frees *ctx (NULL-safe), sets it to NULL. */
void modbus_link_close(modbus_t **ctx);
/* Silent time to leave between the end of one RTU transaction and the next
 * request: frame_delay_ms if set, else 3.5 character times (1750 us above
 * 19200 baud, as the Modbus serial line spec fixes it); 0 for TCP. */
int64_t modbus_link_frame_delay_us(const struct bus_config *bus);
/* "rtu /dev/ttyS1 9600 8N1" or "tcp 127.0.0.1:1502", for messages. */
void modbus_link_describe(const struct bus_config *bus, char *buf, size_t len);

/* One read request of n registers (holding/input, into regs) or bits
 * (coil/discrete, into bits) at addr. n must be 1..125 registers or 1..2000
 * bits (libmodbus 3.1.6 does not check nb < 1). Returns the count read, or
 * -1 with errno. */
int modbus_link_read(modbus_t *ctx, enum point_table t, int addr, int n, uint16_t *regs, uint8_t *bits);

/* One write at addr: a coil (function 05, on when regs[0] != 0, n = 1) or
 * holding registers (n = 1: function 06, else 16, up to 123). Returns n
 * (1 for a coil), or -1 with errno (EINVAL for another table or count). */
int modbus_link_write(modbus_t *ctx, enum point_table t, int addr, int n, const uint16_t *regs);

/* How many consecutive timed-out polls, with no good reply between, make
 * the link itself suspect so that it is closed and reopened; 0 = never. */
int modbus_link_timeouts_before_reopen(const struct bus_config *bus);

enum link_fail modbus_link_classify(int err);
/* Thread-safe text for an errno or libmodbus error code. */
const char *modbus_link_strerror(int err, char *buf, size_t len);

#endif
