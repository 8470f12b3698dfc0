/* decode — turns the raw registers or bits of one Modbus point into its
 * engineering value (value = scale * raw + offset), and back (point_encode)
 * for writes and for the simulator. Pure functions, no I/O, no allocation:
 * they sit on the hot path from a Modbus reply to a rule decision.
 *
 * Register layout of 32-bit types: two consecutive registers starting at the
 * point's address. word_order "big" (WORD_BIG, the Modbus convention) puts
 * the high 16 bits in the first register; "little" puts them in the second.
 * Bytes inside each register are always big-endian (libmodbus already gives
 * us host-order uint16_t values). */
#ifndef GRIDGW_DECODE_H
#define GRIDGW_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/model.h"
#include "common/point.h"

/* Decodes a register-table point (holding/input) from regs[0..width-1]
 * (regs[0] is the register at the point's address). Sets *value and returns
 * QUALITY_GOOD, or QUALITY_DECODE_ERROR (f32 NaN/Inf, a result that is not
 * finite after scaling, a bit number out of range, or a type that is not a
 * register type). *value is left untouched on error. */
enum quality point_decode_regs(const struct point_def *p, const uint16_t *regs, double *value);

/* Decodes a bit-table point (coil/discrete, type bool) from the bit as
 * libmodbus returns it (0 or 1 in a uint8_t). value = scale * bit + offset. */
enum quality point_decode_bit(const struct point_def *p, uint8_t bit, double *value);

/* The inverse of decoding: the raw words a device must hold for the point to
 * decode to `value`. raw = (value - offset) / scale, rounded to the nearest
 * integer for integer types.
 *  - coil/discrete, or PT_BOOL on a register: regs[0] = 0 or 1, *nregs = 1;
 *  - PT_BIT: regs[0] is READ as the register's current contents and only bit
 *    `bit` is changed (a read-modify-write; the caller supplies the current
 *    register), *nregs = 1;
 *  - u16/s16: *nregs = 1; u32/s32/f32: *nregs = 2 in the point's word order.
 * Returns 0, -ERANGE when the raw value does not fit the type (e.g. -1 for
 * u16, 70000 for s16), or -EINVAL (value NaN/Inf, scale 0, a JSON type). */
int point_encode(const struct point_def *p, double value, uint16_t regs[2], int *nregs);

#endif
