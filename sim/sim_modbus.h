/* sim_modbus — the simulator's Modbus transports: one thread serving every
 * `tcp` bus of the config (all listeners and connections in one poll loop),
 * and one thread per `rtu` bus serving RTU frames on a pseudo-terminal whose
 * slave side is symlinked at the bus's `device` path. Framing lives here;
 * the request semantics are sim_modbus_request() in sim.h. */
#ifndef GRIDGW_SIM_MODBUS_H
#define GRIDGW_SIM_MODBUS_H

#include "sim/sim.h"

struct sim_tcp;
struct sim_rtu;

/* Listens on every tcp bus (loopback only; see docs/simulator.md) and starts
 * the serving thread. With no tcp bus, *out is a valid empty server.
 * Returns 0, or -1 (logged) when a port cannot be bound. */
int sim_tcp_start(struct sim *s, unsigned int seed, struct sim_tcp **out);
void sim_tcp_stop(struct sim_tcp *t);

/* Creates a pty per rtu bus, symlinks it at the bus's device path (a stale
 * symlink is replaced, any other file is refused), prints
 * "pty BUSNAME /dev/pts/N" and starts one thread per bus. */
int sim_rtu_start(struct sim *s, unsigned int seed, struct sim_rtu **out);
/* Stops the threads, removes the symlinks that still point at our ptys. */
void sim_rtu_stop(struct sim_rtu *r);

/* Modbus RTU CRC-16 (poly 0xA001, init 0xFFFF); sent low byte first. */
uint16_t sim_crc16(const uint8_t *buf, int len);

#endif
