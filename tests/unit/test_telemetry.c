/* Unit tests for the status and telemetry JSON (gateway/uplink/telemetry.c): the
 * contract's fields, and snapshots split under a size limit without losing
 * or repeating a point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/uplink/telemetry.h"

#define TS 1795334400123LL  /* 2026-11-22T08:00:00.123Z */

static void test_status_has_contract_fields(void **state)
{
	(void)state;
	char buf[512];
	struct status_counts c = { .devices_online = 12, .devices_offline = 2, .open_incidents = 3, .backlog = 40 };
	int n = status_json("zz-gw01", true, "0.1.0", TS, &c, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(n, (int)strlen(buf));
	cJSON *o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "gateway")->valuestring, "zz-gw01");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "state")->valuestring, "online");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "version")->valuestring, "0.1.0");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "ts")->valuestring, "2026-11-22T08:00:00.123Z");
	cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "devices");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(d, "online")->valueint, 12);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(d, "offline")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "open_incidents")->valueint, 3);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "backlog")->valueint, 40);
	cJSON_Delete(o);

	/* The will: no figures, offline. */
	status_json("zz-gw01", false, "0.1.0", TS, NULL, buf, sizeof buf);
	o = cJSON_Parse(buf);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "state")->valuestring, "offline");
	assert_null(cJSON_GetObjectItemCaseSensitive(o, "backlog"));
	cJSON_Delete(o);
	assert_int_equal(status_json("zz-gw01", true, "0.1.0", TS, &c, buf, 40), -1);
}

static void test_json_string_escapes(void **state)
{
	(void)state;
	char buf[64];
	size_t pos = 0;
	assert_int_equal(json_append_string(buf, sizeof buf, &pos, "a\"b\\c\n\x01"), 0);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\\u0001\"");
	assert_int_equal(pos, strlen(buf));
	char small[6];
	pos = 0;
	assert_int_equal(json_append_string(small, sizeof small, &pos, "abcdef"), -1);
	assert_int_equal(pos, 0);
	assert_int_equal(small[0], '\0');
}

struct collected {
	int n;
	size_t max_len;
	char *msgs[512];
	int stop_after;   /* 0 = never */
};

static int collect(void *ctx, const char *chunk, size_t len)
{
	struct collected *c = ctx;
	if (c->stop_after && c->n >= c->stop_after)
		return 1;
	assert_true(c->n < 512);
	assert_int_equal(strlen(chunk), len);
	c->msgs[c->n] = strndup(chunk, len);
	c->n++;
	if (len > c->max_len)
		c->max_len = len;
	return 0;
}

static void collected_free(struct collected *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->msgs[i]);
}

/* 40 devices x 12 points; a few not good. */
#define NDEV 40
#define NPT 12
struct fleet {
	char ids[NDEV][32];
	char names[NPT][24]; /* "point_" + any int: no truncation */
	struct telemetry_point pts[NDEV][NPT];
	struct telemetry_device devs[NDEV];
};

static void fleet_init(struct fleet *f)
{
	for (int p = 0; p < NPT; p++)
		snprintf(f->names[p], sizeof f->names[p], "point_%d", p);
	for (int d = 0; d < NDEV; d++) {
		snprintf(f->ids[d], sizeof f->ids[d], "smoke-5-2-%04d", d);
		for (int p = 0; p < NPT; p++)
			f->pts[d][p] = (struct telemetry_point){ f->names[p], d * 100 + p + 0.5, (d + p) % 7 != 0 };
		f->devs[d] = (struct telemetry_device){ f->ids[d], d % 3 != 0, f->pts[d], NPT };
	}
}

/* Every (device, point) appears exactly once over all messages, with its value. */
static void check_coverage(struct collected *c)
{
	int seen[NDEV][NPT] = { { 0 } };
	for (int i = 0; i < c->n; i++) {
		cJSON *o = cJSON_Parse(c->msgs[i]);
		assert_non_null(o);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "gateway")->valuestring, "gw");
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "part")->valueint, i + 1);
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "parts")->valueint, c->n);
		cJSON *devs = cJSON_GetObjectItemCaseSensitive(o, "devices");
		cJSON *dev;
		cJSON_ArrayForEach(dev, devs) {
			int d;
			assert_int_equal(sscanf(dev->string, "smoke-5-2-%d", &d), 1);
			cJSON *on = cJSON_GetObjectItemCaseSensitive(dev, "_online");
			assert_true(cJSON_IsBool(on));
			assert_int_equal(cJSON_IsTrue(on), d % 3 != 0);
			cJSON *pt;
			cJSON_ArrayForEach(pt, dev) {
				if (strcmp(pt->string, "_online") == 0)
					continue;
				int p;
				assert_int_equal(sscanf(pt->string, "point_%d", &p), 1);
				seen[d][p]++;
				if ((d + p) % 7 != 0)
					assert_true(cJSON_IsNumber(pt) && pt->valuedouble == d * 100 + p + 0.5);
				else
					assert_true(cJSON_IsNull(pt));
			}
		}
		cJSON_Delete(o);
	}
	for (int d = 0; d < NDEV; d++)
		for (int p = 0; p < NPT; p++)
			assert_int_equal(seen[d][p], 1);
}

static void test_snapshot_fits_in_one_message(void **state)
{
	(void)state;
	static struct fleet f;
	fleet_init(&f);
	struct collected c = { 0 };
	assert_int_equal(telemetry_build("gw", TS, f.devs, NDEV, 1 << 20, collect, &c), 1);
	check_coverage(&c);
	collected_free(&c);
}

static void test_snapshot_split_under_max_payload(void **state)
{
	(void)state;
	static struct fleet f;
	fleet_init(&f);
	size_t limits[] = { 256, 300, 700, 1024, 4096 };
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		struct collected c = { 0 };
		int n = telemetry_build("gw", TS, f.devs, NDEV, limits[i], collect, &c);
		assert_true(n > 1);
		assert_int_equal(n, c.n);
		assert_true(c.max_len <= limits[i]);
		check_coverage(&c);
		collected_free(&c);
	}
}

static void test_snapshot_edge_cases(void **state)
{
	(void)state;
	struct collected c = { 0 };
	/* No devices: one message with an empty map. */
	assert_int_equal(telemetry_build("gw", TS, NULL, 0, 1024, collect, &c), 1);
	assert_non_null(strstr(c.msgs[0], "\"devices\":{}}"));
	collected_free(&c);
	memset(&c, 0, sizeof c);
	/* Too small a limit, and a point name that can never fit. */
	struct telemetry_point pt = { "p", 1, true };
	struct telemetry_device d = { "dev", true, &pt, 1 };
	assert_int_equal(telemetry_build("gw", TS, &d, 1, 100, collect, &c), -1);
	char longname[400];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	pt.name = longname;
	assert_int_equal(telemetry_build("gw", TS, &d, 1, 256, collect, &c), -1);
	assert_int_equal(c.n, 0);
	/* Non-finite values are null; names are escaped. */
	struct telemetry_point odd[2] = { { "a\"b", NAN, true }, { "inf", INFINITY, true } };
	struct telemetry_device od = { "d\\1", false, odd, 2 };
	assert_int_equal(telemetry_build("gw", TS, &od, 1, 1024, collect, &c), 1);
	cJSON *o = cJSON_Parse(c.msgs[0]);
	assert_non_null(o);
	cJSON *dev = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "devices"), "d\\1");
	assert_non_null(dev);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(dev, "a\"b")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(dev, "inf")));
	cJSON_Delete(o);
	collected_free(&c);
}

static void test_emit_can_stop_the_build(void **state)
{
	(void)state;
	static struct fleet f;
	fleet_init(&f);
	struct collected c = { .stop_after = 2 };
	assert_int_equal(telemetry_build("gw", TS, f.devs, NDEV, 512, collect, &c), -2);
	assert_int_equal(c.n, 2);
	collected_free(&c);
}

/* Values are written as "%.10g" writes them, whichever path formats them. */
static void test_values_formatted_as_printf(void **state)
{
	(void)state;
	static const double vals[] = { 0, -0.0, 1, -1, 7, 65535, 4294967295.0, 9999999999.0, -9999999999.0,
				       1e10, -1e10, 12.5, -0.25, 1e-7, 123456789012.0, 0.1 };
	enum { N = sizeof vals / sizeof vals[0] };
	struct telemetry_point pts[N];
	char names[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "v%d", i);
		pts[i] = (struct telemetry_point){ names[i], vals[i], true };
	}
	struct telemetry_device d = { "dev", true, pts, N };
	struct collected c = { 0 };
	assert_int_equal(telemetry_build("gw", TS, &d, 1, 1 << 16, collect, &c), 1);
	for (int i = 0; i < N; i++) {
		char want[64];
		snprintf(want, sizeof want, "\"v%d\":%.10g%c", i, vals[i], i == N - 1 ? '}' : ',');
		if (!strstr(c.msgs[0], want))
			fail_msg("%s not in %s", want, c.msgs[0]);
	}
	collected_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_has_contract_fields),
		cmocka_unit_test(test_json_string_escapes),
		cmocka_unit_test(test_snapshot_fits_in_one_message),
		cmocka_unit_test(test_snapshot_split_under_max_payload),
		cmocka_unit_test(test_snapshot_edge_cases),
		cmocka_unit_test(test_emit_can_stop_the_build),
		cmocka_unit_test(test_values_formatted_as_printf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
