/* Unit tests for json_map: every key path form, every point type, every
 * drop class and the timestamp rules, on a hand-built config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "sensors/json_map.h"

#define NOW 1795334400000LL  /* 2026-11-22T08:00:00Z */

/* ---- a small config -------------------------------------------------- */

static struct enum_value status_values[] = { { "alarm", 1 }, { "normal", 0 }, { "Test", 7 } };

enum { P_TILT, P_OPEN, P_STATUS, P_BAT, P_FIRST, P_NESTED, N_POINTS };

static struct point_def manhole_points[N_POINTS] = {
	{ .name = "tilt", .type = PT_NUMBER, .json = "data.tilt", .scale = 1 },
	{ .name = "open", .type = PT_BOOL, .json = "data.open", .scale = 1 },
	{ .name = "status", .type = PT_ENUM, .json = "status", .values = status_values, .n_values = 3, .scale = 1 },
	{ .name = "battery", .type = PT_NUMBER, .json = "bat", .scale = 0.5, .offset = 1 },
	{ .name = "first", .type = PT_NUMBER, .json = "list[0].v", .scale = 1 },
	{ .name = "nested", .type = PT_NUMBER, .json = "m[1][0]", .scale = 1 },
};

static struct point_def modbus_points[] = {
	{ .name = "alarm", .type = PT_BOOL, .table = TABLE_DISCRETE, .address = 0, .scale = 1 },
};

static struct profile profiles[] = {
	{ .name = "manhole", .kind = "manhole", .is_mqtt = true, .points = manhole_points, .n_points = N_POINTS },
	{ .name = "smoke", .kind = "smoke", .points = modbus_points, .n_points = 1 },
};

static struct mqtt_source_config sources[] = {
	{ .name = "bridge", .url = "tcp://127.0.0.1:1883", .topic = "sensors/+/up", .device_from = DEVICE_FROM_TOPIC,
	  .topic_level = 2, .max_payload = 256 },
	{ .name = "lora", .url = "tcp://127.0.0.1:1883", .topic = "lora/#", .device_from = DEVICE_FROM_JSON,
	  .json_key = "meta.dev", .ts_key = "time" },
};

static struct device_config devices[] = {
	{ .id = "mc-0012", .profile = 0, .bus = -1, .source = 0 },
	{ .id = "mc-0013", .profile = 0, .bus = -1, .source = 0 },
	{ .id = "lora-7", .profile = 0, .bus = -1, .source = 1 },
	{ .id = "12345", .profile = 0, .bus = -1, .source = 1 },
	{ .id = "smoke-1", .profile = 1, .bus = 0, .source = -1 },
};

static struct gw_config cfg = {
	.sources = sources, .n_sources = 2,
	.profiles = profiles, .n_profiles = 2,
	.devices = devices, .n_devices = 5,
};

/* ---- collecting emitted points --------------------------------------- */

struct rec {
	int device, point;
	struct point_value pv;
};

struct sink {
	struct rec r[32];
	int n;
};

static void collect(void *ctx, int device, int point, const struct point_value *pv)
{
	struct sink *s = ctx;
	if (s->n < 32)
		s->r[s->n++] = (struct rec){ device, point, *pv };
}

static const struct rec *find(const struct sink *s, int point)
{
	for (int i = 0; i < s->n; i++)
		if (s->r[i].point == point)
			return &s->r[i];
	return NULL;
}

struct fixture {
	struct json_map *m;
	struct json_map_stats st;
	struct sink sink;
};

static int setup(void **state)
{
	static struct fixture f;
	char err[256];
	memset(&f, 0, sizeof f);
	log_set_level(LOG_LVL_ERROR);  /* drops log at warn; keep test output to TAP */
	f.m = json_map_create(&cfg, err, sizeof err);
	if (!f.m) {
		fprintf(stderr, "json_map_create: %s\n", err);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	json_map_destroy(f->m);
	return 0;
}

static int map(struct fixture *f, int source, const char *topic, const char *payload)
{
	f->sink.n = 0;
	return json_map_message(f->m, source, topic, payload, strlen(payload), NOW, collect, &f->sink, &f->st);
}

/* ---- tests ----------------------------------------------------------- */

static void test_topic_device_maps_every_path_form(void **state)
{
	struct fixture *f = *state;
	int rc = map(f, 0, "sensors/mc-0013/up",
		     "{\"data\":{\"tilt\":12.5,\"open\":true},\"status\":\"alarm\",\"bat\":80,"
		     "\"list\":[{\"v\":3},{\"v\":4}],\"m\":[[1],[2,9]]}");
	assert_int_equal(rc, 1);
	assert_int_equal(f->sink.n, N_POINTS);
	for (int i = 0; i < f->sink.n; i++) {
		assert_int_equal(f->sink.r[i].device, 1);
		assert_int_equal(f->sink.r[i].pv.quality, QUALITY_GOOD);
		assert_int_equal(f->sink.r[i].pv.ts_ms, NOW);
	}
	assert_true(find(&f->sink, P_TILT)->pv.value == 12.5);
	assert_true(find(&f->sink, P_OPEN)->pv.value == 1.0);
	assert_true(find(&f->sink, P_STATUS)->pv.value == 1.0);
	assert_true(find(&f->sink, P_BAT)->pv.value == 41.0);  /* 0.5 * 80 + 1 */
	assert_true(find(&f->sink, P_FIRST)->pv.value == 3.0);
	assert_true(find(&f->sink, P_NESTED)->pv.value == 2.0);
	assert_int_equal(f->st.points, N_POINTS);
	assert_int_equal(f->st.messages, 1);
}

static void test_bool_accepts_all_documented_forms(void **state)
{
	struct fixture *f = *state;
	const char *forms[] = { "true", "false", "1", "0", "\"true\"", "\"false\"", "1.0" };
	const double want[] = { 1, 0, 1, 0, 1, 0, 1 };
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "{\"data\":{\"open\":%s}}", forms[i]);
		assert_int_equal(map(f, 0, "sensors/mc-0012/up", buf), 0);
		assert_int_equal(f->sink.n, 1);
		assert_int_equal(f->sink.r[0].point, P_OPEN);
		assert_int_equal(f->sink.r[0].pv.quality, QUALITY_GOOD);
		assert_true(f->sink.r[0].pv.value == want[i]);
	}
}

static void test_bool_rejects_other_values(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = { "2", "-1", "0.5", "\"TRUE\"", "\"yes\"", "\"1\"", "[]", "{}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char buf[128];
		snprintf(buf, sizeof buf, "{\"data\":{\"open\":%s}}", bad[i]);
		uint64_t before = f->st.wrong_type;
		assert_int_equal(map(f, 0, "sensors/mc-0012/up", buf), 0);
		assert_int_equal(f->sink.n, 1);
		assert_int_equal(f->sink.r[0].pv.quality, QUALITY_DECODE_ERROR);
		assert_int_equal(f->st.wrong_type, before + 1);
	}
}

static void test_enum_maps_strings_case_sensitively(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{\"status\":\"normal\"}"), 0);
	assert_int_equal(f->sink.n, 1);
	assert_true(f->sink.r[0].pv.value == 0.0);
	assert_int_equal(f->sink.r[0].pv.quality, QUALITY_GOOD);
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{\"status\":\"Test\"}"), 0);
	assert_true(f->sink.r[0].pv.value == 7.0);
	const char *bad[] = { "\"ALARM\"", "\"test\"", "\"\"", "1", "true" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "{\"status\":%s}", bad[i]);
		assert_int_equal(map(f, 0, "sensors/mc-0012/up", buf), 0);
		assert_int_equal(f->sink.n, 1);
		assert_int_equal(f->sink.r[0].pv.quality, QUALITY_DECODE_ERROR);
	}
}

static void test_missing_keys_and_nulls_emit_nothing(void **state)
{
	struct fixture *f = *state;
	/* Only bat present: everything else must be left alone. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{\"bat\":10}"), 0);
	assert_int_equal(f->sink.n, 1);
	assert_int_equal(f->sink.r[0].point, P_BAT);
	/* Nulls, short arrays, absent nested keys, key case differing. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up",
			     "{\"data\":null,\"status\":null,\"list\":[],\"m\":[[1]],\"BAT\":5}"), 0);
	assert_int_equal(f->sink.n, 0);
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{\"data\":{\"TILT\":1,\"open\":null}}"), 0);
	assert_int_equal(f->sink.n, 0);
	/* A well-formed message with no known key still names a live device. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{}"), 0);
	assert_int_equal(f->sink.n, 0);
}

static void test_wrong_types_mark_decode_error(void **state)
{
	struct fixture *f = *state;
	uint64_t before = f->st.wrong_type;
	/* tilt a string, bat an object, data.open fine, list not an array, m[1] a number. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up",
			     "{\"data\":{\"tilt\":\"12\",\"open\":false},\"bat\":{},\"list\":{\"0\":1},\"m\":[0,5]}"), 0);
	assert_int_equal(f->sink.n, 5);
	assert_int_equal(find(&f->sink, P_TILT)->pv.quality, QUALITY_DECODE_ERROR);
	assert_int_equal(find(&f->sink, P_OPEN)->pv.quality, QUALITY_GOOD);
	assert_int_equal(find(&f->sink, P_BAT)->pv.quality, QUALITY_DECODE_ERROR);
	assert_int_equal(find(&f->sink, P_FIRST)->pv.quality, QUALITY_DECODE_ERROR);
	assert_int_equal(find(&f->sink, P_NESTED)->pv.quality, QUALITY_DECODE_ERROR);
	assert_int_equal(f->st.wrong_type, before + 4);
	/* data is a number where an object is needed: both its points fail. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{\"data\":5}"), 0);
	assert_int_equal(f->sink.n, 2);
	assert_int_equal(f->sink.r[0].pv.quality, QUALITY_DECODE_ERROR);
	assert_int_equal(f->sink.r[1].pv.quality, QUALITY_DECODE_ERROR);
	/* A number too large for a double, and one the scale pushes to infinity. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "{\"data\":{\"tilt\":1e999},\"bat\":1.7e308}"), 0);
	assert_int_equal(f->sink.n, 2);
	assert_int_equal(f->sink.r[0].pv.quality, QUALITY_DECODE_ERROR);
	assert_int_equal(f->sink.r[1].pv.quality, QUALITY_GOOD);  /* 0.5 * 1.7e308 is finite */
	assert_int_equal(map(f, 0, "sensors/mc-0013/up", "{\"m\":[0,[1e308]],\"list\":[{\"v\":-1e308}]}"), 1);
	assert_int_equal(f->sink.n, 2);
	assert_int_equal(f->sink.r[0].pv.quality, QUALITY_GOOD);
}

static void test_malformed_payloads_are_counted_and_dropped(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = { "", "{", "not json", "{\"a\":1}}", "{\"a\":1} x", "42", "\"str\"", "true", "null",
			      "{'a':1}", "{\"a\":1,}", "[1,2", NULL };
	for (int i = 0; bad[i]; i++) {
		uint64_t before = f->st.malformed;
		assert_int_equal(map(f, 0, "sensors/mc-0012/up", bad[i]), JSON_MAP_MALFORMED);
		assert_int_equal(f->sink.n, 0);
		assert_int_equal(f->st.malformed, before + 1);
	}
	/* Trailing whitespace and a C client's terminating NUL are fine. */
	const char ok[] = "{\"bat\":2}\r\n \0";
	f->sink.n = 0;
	assert_int_equal(json_map_message(f->m, 0, "sensors/mc-0012/up", ok, sizeof ok, NOW, collect, &f->sink, &f->st), 0);
	assert_int_equal(f->sink.n, 1);
	/* The payload is not NUL-terminated: parsing must stop at len. */
	const char cut[] = "{\"bat\":2}{\"bat\":3}";
	f->sink.n = 0;
	assert_int_equal(json_map_message(f->m, 0, "sensors/mc-0012/up", cut, 9, NOW, collect, &f->sink, &f->st), 0);
	assert_int_equal(f->sink.n, 1);
	assert_true(f->sink.r[0].pv.value == 2.0);
	/* A top-level array is valid JSON, but every key path of this profile
	 * needs an object there: all points are decode errors. */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", "[1,2]"), 0);
	assert_int_equal(f->sink.n, N_POINTS);
	for (int i = 0; i < f->sink.n; i++)
		assert_int_equal(f->sink.r[i].pv.quality, QUALITY_DECODE_ERROR);
}

/* Every prefix of a payload, placed to end exactly at an unmapped page: a
 * read past `len` (by us or by libcjson, which no sanitizer watches) faults. */
static void test_never_reads_past_the_payload(void **state)
{
	struct fixture *f = *state;
	long page = sysconf(_SC_PAGESIZE);
	assert_true(page > 0);
	char *region = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	assert_int_equal(mprotect(region + page, (size_t)page, PROT_NONE), 0);
	const char *full[] = {
		"{\"data\":{\"tilt\":-12.5e+1,\"open\":\"true\"},\"status\":\"alarm\",\"bat\":80,"
		"\"list\":[{\"v\":3}],\"m\":[[1],[2]],\"ts\":\"2026-11-22T07:59:00.5Z\"}",
		"[\"\\u00e9\\ud83d\\ude00\",true,false,null,1e999]",
	};
	for (size_t k = 0; k < sizeof full / sizeof full[0]; k++) {
		size_t n = strlen(full[k]);
		for (size_t len = 0; len <= n; len++) {
			char *p = region + page - len;
			memcpy(p, full[k], len);
			f->sink.n = 0;
			int rc = json_map_message(f->m, 0, "sensors/mc-0012/up", p, len, NOW, collect, &f->sink, &f->st);
			assert_true(rc == 0 || rc == JSON_MAP_MALFORMED);
			assert_true(rc == 0 || len < n);
		}
	}
	munmap(region, 2 * (size_t)page);
}

static void test_unknown_device_is_counted(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(map(f, 0, "sensors/mc-9999/up", "{\"bat\":1}"), JSON_MAP_UNKNOWN_DEVICE);
	assert_int_equal(f->sink.n, 0);
	/* lora-7 exists, but on the other source. */
	assert_int_equal(map(f, 0, "sensors/lora-7/up", "{\"bat\":1}"), JSON_MAP_UNKNOWN_DEVICE);
	/* A Modbus device is never addressable over MQTT. */
	assert_int_equal(map(f, 0, "sensors/smoke-1/up", "{\"bat\":1}"), JSON_MAP_UNKNOWN_DEVICE);
	/* Prefix and case must match exactly. */
	assert_int_equal(map(f, 0, "sensors/mc-001/up", "{\"bat\":1}"), JSON_MAP_UNKNOWN_DEVICE);
	assert_int_equal(map(f, 0, "sensors/MC-0012/up", "{\"bat\":1}"), JSON_MAP_UNKNOWN_DEVICE);
	assert_int_equal(f->st.unknown_device, 5);
	/* The device level is the last one. */
	assert_int_equal(map(f, 0, "sensors/mc-0012", "{\"bat\":1}"), 0);
}

static void test_missing_device_id_is_counted(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(map(f, 0, "sensors", "{\"bat\":1}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 0, "sensors//up", "{\"bat\":1}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 0, "", "{\"bat\":1}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 1, "lora/x", "{\"bat\":1}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 1, "lora/x", "{\"meta\":{\"dev\":true}}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 1, "lora/x", "{\"meta\":{\"dev\":\"\"}}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 1, "lora/x", "{\"meta\":{\"dev\":1.5}}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(map(f, 1, "lora/x", "{\"meta\":\"lora-7\"}"), JSON_MAP_NO_DEVICE_ID);
	assert_int_equal(f->st.no_device_id, 8);
	assert_int_equal(f->sink.n, 0);
}

static void test_json_device_id_string_and_number(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(map(f, 1, "lora/any/topic", "{\"meta\":{\"dev\":\"lora-7\"},\"data\":{\"tilt\":3}}"), 2);
	assert_int_equal(f->sink.n, 1);
	assert_int_equal(f->sink.r[0].device, 2);
	assert_int_equal(map(f, 1, "lora/x", "{\"meta\":{\"dev\":12345},\"bat\":4}"), 3);
	assert_int_equal(f->sink.n, 1);
	assert_int_equal(f->sink.r[0].device, 3);
	/* Topic devices are not looked up on a json source. */
	assert_int_equal(map(f, 1, "lora/mc-0012", "{\"meta\":{\"dev\":\"mc-0012\"}}"), JSON_MAP_UNKNOWN_DEVICE);
	assert_int_equal(map(f, 2, "lora/x", "{}"), JSON_MAP_BAD_SOURCE);
	assert_int_equal(map(f, -1, "lora/x", "{}"), JSON_MAP_BAD_SOURCE);
}

static void test_oversized_payload_is_dropped_before_parsing(void **state)
{
	struct fixture *f = *state;
	char big[300];
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "{\"bat\":1}", 9);
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", big), JSON_MAP_OVERSIZED);
	assert_int_equal(f->st.oversized, 1);
	assert_int_equal(f->sink.n, 0);
	big[256] = '\0';  /* exactly max_payload is allowed */
	assert_int_equal(map(f, 0, "sensors/mc-0012/up", big), 0);
	assert_int_equal(f->sink.n, 1);
}

static int64_t ts_of(struct fixture *f, int source, const char *topic, const char *payload)
{
	int rc = map(f, source, topic, payload);
	assert_true(rc >= 0);
	assert_true(f->sink.n >= 1);
	return f->sink.r[0].pv.ts_ms;
}

static void test_payload_timestamps_when_sane(void **state)
{
	struct fixture *f = *state;
	const char *t = "sensors/mc-0012/up";
	/* Seconds, fractional seconds, milliseconds, ISO with Z and with an offset. */
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":1795334340}"), NOW - 60000);
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":1795334340.25}"), NOW - 59750);
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":1795334399123}"), NOW - 877);
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":\"2026-11-22T07:59:00.5Z\"}"), NOW - 59500);
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":\"2026-11-22T15:59:00+08:00\"}"), NOW - 60000);
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":\"2026-11-22 08:04:00z\"}"), NOW + 240000);
	assert_int_equal(f->st.ts_rejected, 0);
	/* Edges: exactly 5 min ahead and 1 day behind are accepted. */
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":1795334700000}"), NOW + 300000);
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1,\"ts\":1795248000}"), NOW - 86400000);
	/* No ts at all: arrival time, not a rejection. */
	assert_int_equal(ts_of(f, 0, t, "{\"bat\":1}"), NOW);
	assert_int_equal(f->st.ts_rejected, 0);
}

static void test_insane_timestamps_fall_back_to_arrival(void **state)
{
	struct fixture *f = *state;
	const char *t = "sensors/mc-0012/up";
	const char *bad[] = {
		"{\"bat\":1,\"ts\":1795334701000}",           /* 5 min + 1 s ahead */
		"{\"bat\":1,\"ts\":1795247999}",              /* a day and a second old */
		"{\"bat\":1,\"ts\":0}",
		"{\"bat\":1,\"ts\":-1795334400}",
		"{\"bat\":1,\"ts\":1e300}",
		"{\"bat\":1,\"ts\":\"2026-11-22T08:00:00\"}", /* no zone */
		"{\"bat\":1,\"ts\":\"2026-02-29T08:00:00Z\"}",
		"{\"bat\":1,\"ts\":\"yesterday\"}",
		"{\"bat\":1,\"ts\":true}",
		"{\"bat\":1,\"ts\":{}}",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		uint64_t before = f->st.ts_rejected;
		assert_int_equal(ts_of(f, 0, t, bad[i]), NOW);
		assert_int_equal(f->st.ts_rejected, before + 1);
	}
	/* The lora source reads "time", not "ts". */
	assert_int_equal(ts_of(f, 1, "lora/x", "{\"meta\":{\"dev\":\"lora-7\"},\"bat\":1,\"ts\":1795334340}"), NOW);
	assert_int_equal(ts_of(f, 1, "lora/x", "{\"meta\":{\"dev\":\"lora-7\"},\"bat\":1,\"time\":1795334340}"),
			 NOW - 60000);
}

static void test_iso_parser(void **state)
{
	(void)state;
	int64_t ms;
	assert_int_equal(json_map_parse_iso("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(json_map_parse_iso("2026-11-22T08:00:00.123Z", &ms), 0);
	assert_int_equal(ms, NOW + 123);
	assert_int_equal(json_map_parse_iso("2024-02-29T00:00:00-01:30", &ms), 0);
	assert_int_equal(ms, 1709164800000LL + 5400000);
	assert_int_equal(json_map_parse_iso("2000-03-01T00:00:00.999999999Z", &ms), 0);
	assert_int_equal(ms, 951868800999LL);
	const char *bad[] = { "", "2026-11-22", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-22T24:00:00Z",
			      "2026-11-22T08:60:00Z", "2026-11-22T08:00:00.Z", "2026-11-22T08:00:00Zx",
			      "2026-11-22T08:00:00+0800", "2026-11-22X08:00:00Z", "26-11-22T08:00:00Z",
			      "2100-02-29T00:00:00Z", "2026-11-22T08:00:00.1234567890Z", NULL };
	for (int i = 0; bad[i]; i++)
		assert_int_equal(json_map_parse_iso(bad[i], &ms), -1);
	assert_int_equal(json_map_parse_iso(NULL, &ms), -1);
}

static void test_bad_key_paths_fail_create(void **state)
{
	(void)state;
	const char *bad[] = { "", "a..b", "a.", ".a", "a[", "a[]", "a[x]", "a[-1]", "a]b", "a[0]b", "a.[0]", "a[1]]",
			      NULL };
	struct point_def pd = { .name = "p", .type = PT_NUMBER, .scale = 1 };
	struct profile pr = { .name = "pr", .points = &pd, .n_points = 1, .is_mqtt = true };
	struct mqtt_source_config sc = { .name = "s", .device_from = DEVICE_FROM_TOPIC, .topic_level = 1 };
	struct device_config dc = { .id = "d", .profile = 0, .bus = -1, .source = 0 };
	struct gw_config c = { .sources = &sc, .n_sources = 1, .profiles = &pr, .n_profiles = 1, .devices = &dc,
			       .n_devices = 1 };
	char err[256];
	for (int i = 0; bad[i]; i++) {
		pd.json = (char *)bad[i];
		err[0] = '\0';
		assert_null(json_map_create(&c, err, sizeof err));
		assert_non_null(strstr(err, "bad json key path"));
	}
	const char *good[] = { "a", "[0]", "[0][1].x", "a.b.c", "x[12].y[3]", "a b", "ü", "a[99999999999999999999]",
			       NULL };
	for (int i = 0; good[i]; i++) {
		pd.json = (char *)good[i];
		struct json_map *m = json_map_create(&c, err, sizeof err);
		assert_non_null(m);
		json_map_destroy(m);
	}
	/* A huge index compiles but never matches. */
	pd.json = "a[99999999999999999999]";
	struct json_map *hm = json_map_create(&c, err, sizeof err);
	assert_non_null(hm);
	struct sink sk = { .n = 0 };
	assert_int_equal(json_map_message(hm, 0, "d", "{\"a\":[1,2]}", 11, NOW, collect, &sk, NULL), 0);
	assert_int_equal(sk.n, 0);
	json_map_destroy(hm);
	/* A point with no json path on a device fed by MQTT. */
	pd.json = NULL;
	assert_null(json_map_create(&c, err, sizeof err));
	assert_non_null(strstr(err, "no json key path"));
	/* The same profile on a Modbus-only device is none of our business. */
	dc.source = -1;
	struct json_map *m = json_map_create(&c, err, sizeof err);
	assert_non_null(m);
	json_map_destroy(m);
	/* Bad device_from settings. */
	dc.source = 0;
	pd.json = "a";
	sc.topic_level = 0;
	assert_null(json_map_create(&c, err, sizeof err));
	sc.device_from = DEVICE_FROM_JSON;
	sc.json_key = "a..b";
	assert_null(json_map_create(&c, err, sizeof err));
}

/* A source's own map (what each mqtt_source decodes with): its devices
 * map as in the whole-config map, another source's messages are refused
 * without being read, and a bad path on another source's profile is not
 * this map's business. */
static void test_source_map_holds_only_its_source(void **state)
{
	(void)state;
	char err[256];
	struct json_map *m = json_map_create_source(&cfg, 1, err, sizeof err);
	assert_non_null(m);
	struct sink sk = { .n = 0 };
	struct json_map_stats st = { 0 };
	const char *lora = "{\"meta\":{\"dev\":\"lora-7\"},\"bat\":10}";
	assert_int_equal(json_map_message(m, 1, "lora/x", lora, strlen(lora), NOW, collect, &sk, &st), 2);
	assert_int_equal(sk.n, 1);
	assert_true(sk.r[0].pv.value == 6.0);
	const char *bridge = "{\"bat\":10}";
	assert_int_equal(json_map_message(m, 0, "sensors/mc-0012/up", bridge, strlen(bridge), NOW, collect, &sk, &st),
			 JSON_MAP_BAD_SOURCE);
	assert_int_equal(sk.n, 1);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.points, 1);
	json_map_destroy(m);
	assert_null(json_map_create_source(&cfg, 2, err, sizeof err));
	assert_non_null(strstr(err, "out of range"));
	assert_null(json_map_create_source(&cfg, -1, err, sizeof err));

	struct point_def pd[2] = { { .name = "a", .type = PT_NUMBER, .json = "a", .scale = 1 },
				   { .name = "b", .type = PT_NUMBER, .json = "b..", .scale = 1 } };
	struct profile pr[2] = { { .name = "ok", .points = &pd[0], .n_points = 1, .is_mqtt = true },
				 { .name = "bad", .points = &pd[1], .n_points = 1, .is_mqtt = true } };
	struct mqtt_source_config sc[2] = { { .name = "s0", .device_from = DEVICE_FROM_TOPIC, .topic_level = 1 },
					    { .name = "s1", .device_from = DEVICE_FROM_TOPIC, .topic_level = 1 } };
	struct device_config dc[2] = { { .id = "d0", .profile = 0, .bus = -1, .source = 0 },
				       { .id = "d1", .profile = 1, .bus = -1, .source = 1 } };
	struct gw_config c = { .sources = sc, .n_sources = 2, .profiles = pr, .n_profiles = 2, .devices = dc,
			       .n_devices = 2 };
	struct json_map *m0 = json_map_create_source(&c, 0, err, sizeof err);
	assert_non_null(m0);
	json_map_destroy(m0);
	assert_null(json_map_create_source(&c, 1, err, sizeof err));
	assert_non_null(strstr(err, "bad json key path"));
}

static void test_stats_add(void **state)
{
	(void)state;
	struct json_map_stats a = { 1, 2, 3, 4, 5, 6, 7, 8 }, b = { 10, 20, 30, 40, 50, 60, 70, 80 };
	json_map_stats_add(&a, &b);
	struct json_map_stats want = { 11, 22, 33, 44, 55, 66, 77, 88 };
	assert_memory_equal(&a, &want, sizeof a);
}

static void test_many_devices_hash_lookup(void **state)
{
	(void)state;
	enum { N = 500 };
	static struct device_config devs[N];
	static char ids[N][16];
	struct point_def pd = { .name = "p", .type = PT_NUMBER, .json = "v", .scale = 1 };
	struct profile pr = { .name = "pr", .points = &pd, .n_points = 1, .is_mqtt = true };
	struct mqtt_source_config sc = { .name = "s", .device_from = DEVICE_FROM_TOPIC, .topic_level = 1 };
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "dev-%d", i);
		devs[i] = (struct device_config){ .id = ids[i], .profile = 0, .bus = -1, .source = 0 };
	}
	struct gw_config c = { .sources = &sc, .n_sources = 1, .profiles = &pr, .n_profiles = 1, .devices = devs,
			       .n_devices = N };
	char err[256];
	struct json_map *m = json_map_create(&c, err, sizeof err);
	assert_non_null(m);
	for (int i = 0; i < N; i++) {
		char topic[32];
		snprintf(topic, sizeof topic, "dev-%d/up", i);
		assert_int_equal(json_map_message(m, 0, topic, "{}", 2, NOW, collect, &(struct sink){ 0 }, NULL), i);
	}
	assert_int_equal(json_map_message(m, 0, "dev-500", "{}", 2, NOW, collect, &(struct sink){ 0 }, NULL),
			 JSON_MAP_UNKNOWN_DEVICE);
	json_map_destroy(m);
}

static void test_strerror_names(void **state)
{
	(void)state;
	assert_string_equal(json_map_strerror(3), "ok");
	assert_string_equal(json_map_strerror(JSON_MAP_MALFORMED), "malformed");
	assert_string_equal(json_map_strerror(JSON_MAP_UNKNOWN_DEVICE), "unknown_device");
	assert_string_equal(json_map_strerror(JSON_MAP_OVERSIZED), "oversized");
	assert_string_equal(json_map_strerror(JSON_MAP_NO_DEVICE_ID), "no_device_id");
	assert_string_equal(json_map_strerror(-99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_topic_device_maps_every_path_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bool_accepts_all_documented_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bool_rejects_other_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enum_maps_strings_case_sensitively, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_keys_and_nulls_emit_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_types_mark_decode_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_payloads_are_counted_and_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_reads_past_the_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_device_is_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_device_id_is_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_device_id_string_and_number, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_payload_is_dropped_before_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_timestamps_when_sane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insane_timestamps_fall_back_to_arrival, setup, teardown),
		cmocka_unit_test(test_iso_parser),
		cmocka_unit_test(test_bad_key_paths_fail_create),
		cmocka_unit_test(test_source_map_holds_only_its_source),
		cmocka_unit_test(test_stats_add),
		cmocka_unit_test(test_many_devices_hash_lookup),
		cmocka_unit_test(test_strerror_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
