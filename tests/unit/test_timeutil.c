/* Unit tests for duration parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Logs and tables: local time with date and offset; Chinese sites are UTC+8. */
static void test_local_time_and_iso_parse(void **state)
{
	(void)state;
	char buf[40];
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	time_format_local(1795334400123LL, buf, sizeof buf);
	assert_string_equal(buf, "2026-11-22 16:00:00 +0800");
	setenv("TZ", "UTC", 1);
	tzset();
	time_format_local(1795334400123LL, buf, sizeof buf);
	assert_string_equal(buf, "2026-11-22 08:00:00 +0000");
	int64_t ms = 0;
	assert_int_equal(time_parse_iso("2026-11-22T08:00:00.123Z", &ms), 0);
	assert_int_equal(ms, 1795334400123LL);
	assert_int_equal(time_parse_iso("2026-11-22T08:00:00Z", &ms), 0);
	assert_int_equal(ms, 1795334400000LL);
	assert_int_equal(time_parse_iso("2026-11-22 08:00:00", &ms), -1);
	assert_int_equal(time_parse_iso("2026-11-22T08:00:00+08:00", &ms), -1);
	assert_int_equal(time_parse_iso("2026-02-30T08:00:00Z", &ms), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_rejects_garbage),
		cmocka_unit_test(test_duration_format_roundtrip),
		cmocka_unit_test(test_iso_time_format),
		cmocka_unit_test(test_local_time_and_iso_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
