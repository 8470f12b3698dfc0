/* commission — what the commissioning commands `gridgw scan` (commission_scan.c)
 * and `gridgw read` (commission_read.c) share: loading the config, one block
 * read with the bus's pacing and retries, the one-master-per-line guard
 * against a running daemon, and plain words for a failed request — what a
 * technician on a ladder can act on ("no answer from unit 3 within 500 ms —
 * check unit id, baud/parity, A/B wiring"), not an errno text. */
#ifndef GRIDGW_CLI_COMMISSION_H
#define GRIDGW_CLI_COMMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modbus.h>

#include "common/model.h"
#include "sensors/modbus_plan.h"

/* Buffers of one block read. */
struct block_buf {
	uint16_t regs[MODBUS_PLAN_MAX_REGS];
	uint8_t bits[MODBUS_PLAN_MAX_BITS];
};

/* Loads the config named by -c (or the default); prints the errors and
 * returns NULL when it is not valid. */
struct gw_config *commission_load(const char *cmd, const char *conf);

/* One block read with up to `attempts` tries, paced by the bus's frame
 * delay. Returns 0, or -1 with *err (errno or libmodbus code). A Modbus
 * exception or a lost link is not retried. */
int commission_read_block(modbus_t *ctx, const struct bus_config *bus, const struct modbus_block *blk,
			  struct block_buf *buf, int attempts, int *err);

/* Opens the bus; on failure prints "gridgw CMD: bus B (…): cannot open: <cause
 * in plain words>" and returns NULL. */
modbus_t *commission_open(const char *cmd, const struct bus_config *bus);

/* The one-master guard: asks the daemon (control socket in state_dir) for
 * its status. When it polls this bus: a warning on a Modbus TCP bus (an
 * endpoint serves several clients), a refusal on a serial line unless
 * `force` (two masters garble each other's frames). Returns 0 to go on, or 1
 * (refused, message printed). */
int commission_guard_bus(const char *cmd, const struct gw_config *cfg, const struct bus_config *bus, bool force);

#endif
