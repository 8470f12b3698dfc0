/* Unit tests for block-read planning (sensors/modbus_plan.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sensors/modbus_plan.h"

#define MAXP 300

struct fixture {
	struct point_def pts[MAXP];
	struct profile prof;
	struct bus_config bus;
};

static void fx_init(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	f->prof.name = "t";
	f->prof.points = f->pts;
	f->bus.max_gap = 4;
	f->bus.max_block_regs = 125;
	f->bus.max_block_bits = 2000;
}

static void fx_add(struct fixture *f, enum point_table t, int addr, enum point_type ty)
{
	struct point_def *p = &f->pts[f->prof.n_points++];
	p->name = "p";
	p->table = t;
	p->address = addr;
	p->type = ty;
	p->scale = 1;
}

static void test_plan_coalesces_contiguous_points(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f);
	for (int i = 0; i < 30; i++)
		fx_add(&f, TABLE_HOLDING, 100 + i, PT_U16);
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 1);
	struct modbus_plan plan;
	assert_int_equal(modbus_plan_build(&f.prof, &f.bus, &plan), 0);
	assert_int_equal(plan.blocks[0].start, 100);
	assert_int_equal(plan.blocks[0].count, 30);
	assert_int_equal(plan.n_slots, 30);
	modbus_plan_free(&plan);
}

static void test_plan_splits_tables(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f); /* the smoke detector of CONTRACT.md: 2 discrete + 3 input */
	fx_add(&f, TABLE_DISCRETE, 0, PT_BOOL);
	fx_add(&f, TABLE_INPUT, 0, PT_U16);
	fx_add(&f, TABLE_INPUT, 1, PT_S16);
	fx_add(&f, TABLE_INPUT, 2, PT_U16);
	fx_add(&f, TABLE_DISCRETE, 1, PT_BOOL);
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 2);
	fx_add(&f, TABLE_COIL, 0, PT_BOOL);
	fx_add(&f, TABLE_HOLDING, 0, PT_U16);
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 4);
}

static void test_plan_gap_limit(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f);
	fx_add(&f, TABLE_INPUT, 0, PT_U16);
	fx_add(&f, TABLE_INPUT, 5, PT_U16);   /* gap of 4 unused: read through */
	fx_add(&f, TABLE_INPUT, 11, PT_U16);  /* gap of 5: new block */
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 2);
	f.bus.max_gap = 0;
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 3);
	f.bus.max_gap = 10;
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 1);
}

static void test_plan_respects_125_registers(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f);
	for (int i = 0; i < 250; i++)
		fx_add(&f, TABLE_HOLDING, i, PT_U16);
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 2);
	fx_add(&f, TABLE_HOLDING, 250, PT_U16);
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 3);
	f.bus.max_block_regs = 50;
	assert_int_equal(modbus_plan_count_requests(&f.prof, &f.bus), 6);
}

static void test_plan_32bit_point_never_split(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f);
	for (int i = 0; i < 62; i++)
		fx_add(&f, TABLE_HOLDING, 2 * i, PT_U32); /* 0..123 */
	fx_add(&f, TABLE_HOLDING, 124, PT_F32);      /* 124..125: would make 126 */
	struct modbus_plan plan;
	assert_int_equal(modbus_plan_build(&f.prof, &f.bus, &plan), 0);
	assert_int_equal(plan.n_blocks, 2);
	assert_int_equal(plan.blocks[0].count, 124);
	assert_int_equal(plan.blocks[1].start, 124);
	assert_int_equal(plan.blocks[1].count, 2);
	assert_true(plan.max_count <= 125);
	modbus_plan_free(&plan);
}

static void test_plan_bits_limit_and_slots(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f);
	fx_add(&f, TABLE_COIL, 1999, PT_BOOL);
	fx_add(&f, TABLE_COIL, 0, PT_BOOL);
	fx_add(&f, TABLE_COIL, 2000, PT_BOOL);
	f.bus.max_gap = 5000;
	struct modbus_plan plan;
	assert_int_equal(modbus_plan_build(&f.prof, &f.bus, &plan), 0);
	assert_int_equal(plan.n_blocks, 2);
	assert_int_equal(plan.blocks[0].count, 2000);
	/* slots are in address order and carry the profile index */
	assert_int_equal(plan.slots[0].point, 1);
	assert_int_equal(plan.slots[1].point, 0);
	assert_int_equal(plan.slots[1].offset, 1999);
	assert_int_equal(plan.slots[2].point, 2);
	assert_int_equal(plan.slots[2].offset, 0);
	modbus_plan_free(&plan);
}

static void test_plan_rejects_point_past_65535(void **state)
{
	(void)state;
	struct fixture f;
	fx_init(&f);
	fx_add(&f, TABLE_HOLDING, 65535, PT_U32);
	assert_true(modbus_plan_count_requests(&f.prof, &f.bus) < 0);
	f.prof.is_mqtt = true;
	assert_int_equal(modbus_plan_count_requests(&f.prof, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_coalesces_contiguous_points),
		cmocka_unit_test(test_plan_splits_tables),
		cmocka_unit_test(test_plan_gap_limit),
		cmocka_unit_test(test_plan_respects_125_registers),
		cmocka_unit_test(test_plan_32bit_point_never_split),
		cmocka_unit_test(test_plan_bits_limit_and_slots),
		cmocka_unit_test(test_plan_rejects_point_past_65535),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
