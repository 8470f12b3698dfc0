/* Unit tests for duration parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/timeutil.h"

static void test_duration_units(void **state)
{
	(void)state;
	int64_t ms;
	assert_int_equal(duration_parse("500ms", &ms), 0); assert_int_equal(ms, 500);
	assert_int_equal(duration_parse("30s", &ms), 0); assert_int_equal(ms, 30000);
	assert_int_equal(duration_parse("10m", &ms), 0); assert_int_equal(ms, 600000);
	assert_int_equal(duration_parse("2h", &ms), 0); assert_int_equal(ms, 7200000);
	assert_int_equal(duration_parse("1d", &ms), 0); assert_int_equal(ms, 86400000);
	assert_int_equal(duration_parse("0", &ms), 0); assert_int_equal(ms, 0);
}

static void test_duration_rejects_garbage(void **state)
{
	(void)state;
	int64_t ms;
	const char *bad[] = { "", "s", "-1s", "1.5s", "10", "10x", "1 s", "s10", "99999999999999999999s",
			      "9223372036854775807d", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(duration_parse(bad[i], &ms), -1);
	assert_int_equal(duration_parse(NULL, &ms), -1);
}

static void test_duration_format_roundtrip(void **state)
{
	(void)state;
	char buf[32];
	int64_t vals[] = { 500, 30000, 90000, 7200000, 86400000, 1500 };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		int64_t back;
		duration_format(vals[i], buf, sizeof buf);
		assert_int_equal(duration_parse(buf, &back), 0);
		assert_int_equal(back, vals[i]);
	}
}

static void test_iso_time_format(void **state)
{
	(void)state;
	char buf[32];
	time_format_iso(1795334400123LL, buf, sizeof buf);
	assert_string_equal(buf, "2026-11-22T08:00:00.123Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_rejects_garbage),
		cmocka_unit_test(test_duration_format_roundtrip),
		cmocka_unit_test(test_iso_time_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
