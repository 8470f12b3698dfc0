/* libFuzzer target for Modbus point decoding and block planning
 * (sensors/decode.c, sensors/modbus_plan.c): register contents come from
 * devices, so any words with any point definition must decode or be refused
 * as decode_error, never crash; a good value must encode back to words that
 * decode to the same value; and any set of points must plan into blocks that
 * respect the 125-register / 2000-bit limits and cover every point. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/decode.h"
#include "sensors/modbus_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one_point(const uint8_t *d)
{
	struct point_def p;
	memset(&p, 0, sizeof p);
	p.table = (enum point_table)(1 + d[0] % 4);
	p.type = (enum point_type)(d[1] % 7);
	p.word_order = (enum word_order)(d[2] & 1);
	p.bit = d[2] >> 1;                      /* 0..127: out of range is refused */
	static const double scales[] = { 1, 0.1, 0.001, 10, -1, 0.5, 1e-30, 1e30 };
	p.scale = scales[d[3] % 8];
	p.offset = (double)(int8_t)d[4];
	uint16_t regs[2] = { (uint16_t)(d[5] << 8 | d[6]), (uint16_t)(d[7] << 8 | d[8]) };
	double v = 0;
	enum quality q = point_is_bit_table(&p) ? point_decode_bit(&p, d[5] & 1, &v) : point_decode_regs(&p, regs, &v);
	if (q != QUALITY_GOOD && q != QUALITY_DECODE_ERROR)
		abort();
	if (q != QUALITY_GOOD || !isfinite(v))
		return;
	uint16_t back[2] = { regs[0], regs[1] };
	int n = 0;
	if (point_encode(&p, v, back, &n) != 0)
		return; /* extreme scales may not invert exactly: refusing is fine */
	if (n != point_width(&p))
		abort();
	double v2 = 0;
	q = point_is_bit_table(&p) ? point_decode_bit(&p, (uint8_t)back[0], &v2) : point_decode_regs(&p, back, &v2);
	if (q != QUALITY_GOOD || fabs(v2 - v) > 1e-6 * (1 + fabs(v)) + fabs(p.scale))
		abort();
}

static void fuzz_plan(const uint8_t *data, size_t size)
{
	int n = (int)(size / 4);
	if (n > 64)
		n = 64;
	struct point_def pts[64];
	memset(pts, 0, sizeof pts);
	for (int i = 0; i < n; i++) {
		const uint8_t *d = data + 4 * i;
		pts[i].table = (enum point_table)(1 + d[0] % 4);
		pts[i].type = (enum point_type)(d[1] % 7);
		pts[i].address = (d[2] << 8 | d[3]) % 65536;
		pts[i].scale = 1;
	}
	struct profile prof = { .name = "f", .points = pts, .n_points = n };
	struct bus_config bus = { .max_gap = data[0] % 16, .max_block_regs = 1 + data[1] % 125,
				  .max_block_bits = 1 + (data[2] << 8 | data[3]) % 2000 };
	struct modbus_plan plan;
	if (modbus_plan_build(&prof, &bus, &plan) < 0)
		return; /* a 32-bit point at 65535 */
	int covered = 0;
	for (int b = 0; b < plan.n_blocks; b++) {
		const struct modbus_block *blk = &plan.blocks[b];
		int bits = blk->table == TABLE_COIL || blk->table == TABLE_DISCRETE;
		if (blk->count < 1 || blk->count > (bits ? 2000 : 125) || blk->start + blk->count - 1 > 65535)
			abort();
		for (int s = blk->first_slot; s < blk->first_slot + blk->n_slots; s++) {
			const struct point_def *pd = &pts[plan.slots[s].point];
			if (pd->table != blk->table || plan.slots[s].offset != pd->address - blk->start ||
			    plan.slots[s].offset + point_width(pd) > blk->count)
				abort();
			covered++;
		}
	}
	if (covered != n || plan.n_slots != n)
		abort();
	modbus_plan_free(&plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;
	fuzz_one_point(data);
	fuzz_plan(data, size);
	return 0;
}
