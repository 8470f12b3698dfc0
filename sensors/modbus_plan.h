/* modbus_plan — block reads: which Modbus requests one poll of a device
 * costs. The points of a profile that live in the same table are coalesced
 * into as few requests as possible: a block may read through at most
 * bus->max_gap unused addresses between points, and may not exceed
 * bus->max_block_regs registers (≤ 125) or bus->max_block_bits bits
 * (≤ 2000). A plan depends only on the profile and the bus limits, so it is
 * built once per (device, bus) at start and reused every poll. */
#ifndef GRIDGW_MODBUS_PLAN_H
#define GRIDGW_MODBUS_PLAN_H

#include "common/model.h"

#define MODBUS_PLAN_MAX_REGS 125   /* FC 3/4 protocol limit */
#define MODBUS_PLAN_MAX_BITS 2000  /* FC 1/2 protocol limit */
#define MODBUS_PLAN_DEFAULT_GAP 4

struct modbus_block {
	enum point_table table;
	int start;                 /* first address read */
	int count;                 /* registers or bits */
	int first_slot;            /* index into modbus_plan.slots of its first point */
	int n_slots;
};

/* One point's place in a block: its index in the profile and its offset
 * (in registers or bits) from the block's start. */
struct modbus_slot {
	int point;
	int offset;
};

struct modbus_plan {
	struct modbus_block *blocks;
	int n_blocks;
	struct modbus_slot *slots;  /* grouped by block, in address order */
	int n_slots;
	int max_count;              /* largest block: size of the read buffer needed */
};

/* Builds the plan of one poll of a device with profile p on bus (bus may be
 * NULL: defaults). Returns 0, or -ENOMEM, or -EINVAL for a point that cannot
 * be read (address + width past 65535, no table). An MQTT profile has an
 * empty plan. */
int modbus_plan_build(const struct profile *p, const struct bus_config *bus, struct modbus_plan *out);
void modbus_plan_free(struct modbus_plan *plan);

/* Requests one poll of a device with profile p costs on bus (bus may be NULL:
 * defaults); 0 for an MQTT profile; negative errno as modbus_plan_build.
 * `gridgw check` prints this per profile. */
int modbus_plan_count_requests(const struct profile *p, const struct bus_config *bus);

#endif
