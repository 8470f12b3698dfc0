/* Unit tests for point decoding and its inverse (sensors/decode.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sensors/decode.h"

static struct point_def mkpoint(enum point_table t, enum point_type ty, enum word_order wo)
{
	struct point_def p;
	memset(&p, 0, sizeof p);
	p.name = "p";
	p.table = t;
	p.type = ty;
	p.word_order = wo;
	p.scale = 1.0;
	return p;
}

static void test_decode_u16_s16_scale_offset(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_INPUT, PT_U16, WORD_BIG);
	uint16_t r[2] = { 65535, 0 };
	double v = 0;
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_GOOD);
	assert_true(v == 65535.0);
	p.type = PT_S16;
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_GOOD);
	assert_true(v == -1.0);
	p.scale = 0.1;
	p.offset = -40;
	r[0] = 615; /* 61.5 - 40 = 21.5 */
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_GOOD);
	assert_true(fabs(v - 21.5) < 1e-9);
}

static void test_decode_32bit_word_orders(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_HOLDING, PT_U32, WORD_BIG);
	uint16_t big[2] = { 0x0001, 0x0002 }, little[2] = { 0x0002, 0x0001 };
	double v = 0;
	assert_int_equal(point_width(&p), 2);
	assert_int_equal(point_decode_regs(&p, big, &v), QUALITY_GOOD);
	assert_true(v == 65538.0);
	p.word_order = WORD_LITTLE;
	assert_int_equal(point_decode_regs(&p, little, &v), QUALITY_GOOD);
	assert_true(v == 65538.0);
	p.type = PT_S32;
	uint16_t neg[2] = { 0xfffe, 0xffff }; /* little: hi=ffff lo=fffe = -2 */
	assert_int_equal(point_decode_regs(&p, neg, &v), QUALITY_GOOD);
	assert_true(v == -2.0);
	p.type = PT_F32;
	p.word_order = WORD_BIG;
	uint16_t f[2] = { 0x41c8, 0x0000 }; /* 25.0f */
	assert_int_equal(point_decode_regs(&p, f, &v), QUALITY_GOOD);
	assert_true(v == 25.0);
}

static void test_decode_f32_nan_inf_is_decode_error(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_INPUT, PT_F32, WORD_BIG);
	uint16_t nan_[2] = { 0x7fc0, 0x0000 }, inf[2] = { 0x7f80, 0x0000 }, ninf[2] = { 0xff80, 0 };
	double v = 123;
	assert_int_equal(point_decode_regs(&p, nan_, &v), QUALITY_DECODE_ERROR);
	assert_int_equal(point_decode_regs(&p, inf, &v), QUALITY_DECODE_ERROR);
	assert_int_equal(point_decode_regs(&p, ninf, &v), QUALITY_DECODE_ERROR);
	assert_true(v == 123); /* untouched on error */
}

static void test_decode_bool_and_bits(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_HOLDING, PT_BIT, WORD_BIG);
	p.bit = 3;
	uint16_t r[1] = { 0x0008 };
	double v = -1;
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_GOOD);
	assert_true(v == 1.0);
	r[0] = 0xfff7;
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_GOOD);
	assert_true(v == 0.0);
	p.bit = 16;
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_DECODE_ERROR);
	p = mkpoint(TABLE_HOLDING, PT_BOOL, WORD_BIG);
	r[0] = 42;
	assert_int_equal(point_decode_regs(&p, r, &v), QUALITY_GOOD);
	assert_true(v == 1.0);
	p = mkpoint(TABLE_DISCRETE, PT_BOOL, WORD_BIG);
	assert_true(point_is_bit_table(&p));
	assert_int_equal(point_decode_bit(&p, 1, &v), QUALITY_GOOD);
	assert_true(v == 1.0);
	assert_int_equal(point_decode_bit(&p, 0, &v), QUALITY_GOOD);
	assert_true(v == 0.0);
}

/* Every type and word order: encode then decode gives the value back. */
static void test_encode_roundtrip_every_type(void **state)
{
	(void)state;
	struct { enum point_type t; double v; double scale; double offset; } cases[] = {
		{ PT_U16, 1234, 1, 0 }, { PT_S16, -1234, 1, 0 }, { PT_U16, 21.5, 0.1, 0 },
		{ PT_S16, -40.0, 0.5, 10 }, { PT_U32, 4000000000.0, 1, 0 }, { PT_S32, -2000000000.0, 1, 0 },
		{ PT_S32, -12.345, 0.001, 0 }, { PT_F32, 3.5, 1, 0 }, { PT_F32, -0.25, 2, 1 },
		{ PT_BOOL, 1, 1, 0 }, { PT_BOOL, 0, 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int wo = WORD_BIG; wo <= WORD_LITTLE; wo++) {
			struct point_def p = mkpoint(TABLE_HOLDING, cases[i].t, (enum word_order)wo);
			p.scale = cases[i].scale;
			p.offset = cases[i].offset;
			uint16_t r[2] = { 0, 0 };
			int n = 0;
			double back = NAN;
			assert_int_equal(point_encode(&p, cases[i].v, r, &n), 0);
			assert_int_equal(n, point_width(&p));
			assert_int_equal(point_decode_regs(&p, r, &back), QUALITY_GOOD);
			assert_true(fabs(back - cases[i].v) < 1e-6 * (1 + fabs(cases[i].v)));
		}
	}
}

static void test_encode_word_order_layout(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_HOLDING, PT_U32, WORD_BIG);
	uint16_t r[2];
	int n;
	assert_int_equal(point_encode(&p, 0x00010002, r, &n), 0);
	assert_int_equal(r[0], 1);
	assert_int_equal(r[1], 2);
	p.word_order = WORD_LITTLE;
	assert_int_equal(point_encode(&p, 0x00010002, r, &n), 0);
	assert_int_equal(r[0], 2);
	assert_int_equal(r[1], 1);
}

static void test_encode_bit_is_read_modify_write(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_HOLDING, PT_BIT, WORD_BIG);
	p.bit = 4;
	uint16_t r[2] = { 0x8001, 0 };
	int n;
	assert_int_equal(point_encode(&p, 1, r, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0], 0x8011);
	assert_int_equal(point_encode(&p, 0, r, &n), 0);
	assert_int_equal(r[0], 0x8001);
}

static void test_encode_rejects_out_of_range(void **state)
{
	(void)state;
	struct point_def p = mkpoint(TABLE_HOLDING, PT_U16, WORD_BIG);
	uint16_t r[2];
	int n;
	assert_int_equal(point_encode(&p, -1, r, &n), -ERANGE);
	assert_int_equal(point_encode(&p, 65536, r, &n), -ERANGE);
	p.type = PT_S16;
	assert_int_equal(point_encode(&p, 70000, r, &n), -ERANGE);
	assert_int_equal(point_encode(&p, NAN, r, &n), -EINVAL);
	p.scale = 0;
	assert_int_equal(point_encode(&p, 1, r, &n), -EINVAL);
	p = mkpoint(TABLE_HOLDING, PT_U32, WORD_BIG);
	assert_int_equal(point_encode(&p, 4294967296.0, r, &n), -ERANGE);
	p = mkpoint(TABLE_NONE, PT_NUMBER, WORD_BIG);
	assert_int_equal(point_encode(&p, 1, r, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_u16_s16_scale_offset),
		cmocka_unit_test(test_decode_32bit_word_orders),
		cmocka_unit_test(test_decode_f32_nan_inf_is_decode_error),
		cmocka_unit_test(test_decode_bool_and_bits),
		cmocka_unit_test(test_encode_roundtrip_every_type),
		cmocka_unit_test(test_encode_word_order_layout),
		cmocka_unit_test(test_encode_bit_is_read_modify_write),
		cmocka_unit_test(test_encode_rejects_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
