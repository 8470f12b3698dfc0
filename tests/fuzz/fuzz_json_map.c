/* libFuzzer target for json_map_message(): the MQTT source payload mapping.
 * Input: byte 0 selects the source (bit 0) and a topic (bits 1-3), or with
 * bit 4 set the topic is taken from the input up to the first NUL (at most
 * 96 bytes); the rest is the payload. The config is built in code: two
 * sources (topic-level and JSON-key device ids, one with a custom ts key and
 * a small max_payload), a few devices, and a profile using every point type
 * and key path form. Beyond ASan/UBSan, it checks the mapping's promises:
 * good values are finite, bools are 0/1, indices are in range, timestamps
 * are within the documented bounds of the arrival time. The payload is
 * placed so that it ends exactly at a PROT_NONE page: libcjson is the
 * system's uninstrumented library, and a read past `len` inside it must
 * still crash the run. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "sensors/json_map.h"

#define ARRIVAL 1795334400000LL

static struct enum_value status_values[] = { { "alarm", 1 }, { "normal", 0 }, { "test", 2 } };
static struct point_def points[] = {
	{ .name = "tilt", .type = PT_NUMBER, .json = "data.tilt", .scale = 0.1, .offset = -5 },
	{ .name = "open", .type = PT_BOOL, .json = "data.open", .scale = 1 },
	{ .name = "status", .type = PT_ENUM, .json = "status", .values = status_values, .n_values = 3, .scale = 1 },
	{ .name = "battery", .type = PT_NUMBER, .json = "bat", .scale = 1 },
	{ .name = "first", .type = PT_NUMBER, .json = "list[0].v", .scale = 1 },
	{ .name = "deep", .type = PT_BOOL, .json = "a.b[2][0].c", .scale = 1 },
	{ .name = "top", .type = PT_NUMBER, .json = "[1]", .scale = 1 },
};
#define N_POINTS ((int)(sizeof points / sizeof points[0]))
static struct profile profiles[] = {
	{ .name = "every", .kind = "manhole", .is_mqtt = true, .points = points, .n_points = N_POINTS },
};
static struct mqtt_source_config sources[] = {
	{ .name = "bridge", .topic = "sensors/+/up", .device_from = DEVICE_FROM_TOPIC, .topic_level = 2 },
	{ .name = "lora", .topic = "lora/#", .device_from = DEVICE_FROM_JSON, .json_key = "meta.dev",
	  .ts_key = "t.s", .max_payload = 4096 },
};
static struct device_config devices[] = {
	{ .id = "mc-1", .profile = 0, .bus = -1, .source = 0 },
	{ .id = "mc-2", .profile = 0, .bus = -1, .source = 0 },
	{ .id = "lr-1", .profile = 0, .bus = -1, .source = 1 },
	{ .id = "42", .profile = 0, .bus = -1, .source = 1 },
};
static struct gw_config cfg = {
	.sources = sources, .n_sources = 2, .profiles = profiles, .n_profiles = 1,
	.devices = devices, .n_devices = 4,
};
static const char *topics[8] = { "sensors/mc-1/up", "sensors/mc-2/up", "sensors/zz/up", "sensors",
				 "sensors//up", "lora/a", "", "sensors/mc-1" };

static struct json_map *map;
static char *guarded;        /* GUARDED_LEN bytes, followed by a PROT_NONE page */
#define GUARDED_LEN (64 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	char err[256];
	log_set_level(LOG_LVL_ERROR);
	map = json_map_create(&cfg, err, sizeof err);
	if (!map)
		abort();
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0 || GUARDED_LEN % page != 0)
		abort();
	char *region = mmap(NULL, GUARDED_LEN + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED || mprotect(region + GUARDED_LEN, (size_t)page, PROT_NONE) != 0)
		abort();
	guarded = region;
	return 0;
}

static void check(void *ctx, int device, int point, const struct point_value *pv)
{
	int *count = ctx;
	(*count)++;
	if (device < 0 || device >= cfg.n_devices || point < 0 || point >= N_POINTS)
		abort();
	if (pv->ts_ms < ARRIVAL - JSON_MAP_TS_MAX_BEHIND_MS || pv->ts_ms > ARRIVAL + JSON_MAP_TS_MAX_AHEAD_MS)
		abort();
	if (pv->quality == QUALITY_GOOD) {
		if (!isfinite(pv->value))
			abort();
		if (points[point].type == PT_BOOL && pv->value != 0.0 && pv->value != 1.0)
			abort();
	} else if (pv->quality != QUALITY_DECODE_ERROR) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int source = data[0] & 1;
	char topic[97];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	if (data[0] & 0x10) {
		size_t t = 0;
		while (t < n && t < 96 && p[t] != 0)
			t++;
		memcpy(topic, p, t);
		topic[t] = '\0';
		if (t < n)
			t++;  /* skip the NUL */
		p += t;
		n -= t;
	} else {
		strcpy(topic, topics[(data[0] >> 1) & 7]);
	}
	/* Ending at the guard page: any read past the payload faults, in our
	 * code (ASan would see it too) and in libcjson (which ASan cannot). */
	if (n > GUARDED_LEN)
		return 0;
	char *payload = guarded + GUARDED_LEN - n;
	memcpy(payload, p, n);
	struct json_map_stats st = { 0 };
	int count = 0;
	int rc = json_map_message(map, source, topic, payload, n, ARRIVAL, check, &count, &st);
	if (rc >= cfg.n_devices || (rc < 0 && count != 0) || st.points != (uint64_t)count || st.messages != 1)
		abort();
	if (rc >= 0 && devices[rc].source != source)
		abort();
	return 0;
}
