/* Unit tests for incidents (gateway/core/incident.c) and ULIDs: engine outputs
 * built by hand become contract events in the store's outbox (parsed back
 * with cJSON and checked field by field), workflow legality, the single
 * `acked` event, gateway.* incidents, restart, and storage failure: events
 * held in memory and written later in order with gapless seqs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/core/incident.h"
#include "common/log.h"
#include "gateway/store/store.h"
#include "common/timeutil.h"
#include "common/ulid.h"

/* ---- a hand-built configuration ---- */

static struct point_def smoke_points[] = {
	{ .name = "alarm", .type = PT_BOOL, .table = TABLE_DISCRETE, .scale = 1 },
	{ .name = "smoke", .type = PT_U16, .table = TABLE_INPUT, .scale = 0.001 },
	{ .name = "temp", .type = PT_S16, .table = TABLE_INPUT, .scale = 0.1 },
	{ .name = "battery", .type = PT_U16, .table = TABLE_INPUT, .scale = 1 },
};
static struct point_def manhole_points[] = {
	{ .name = "tilt", .type = PT_NUMBER, .json = "data.tilt", .scale = 1 },
	{ .name = "open", .type = PT_BOOL, .json = "data.open", .scale = 1 },
};
static struct profile profiles[] = {
	{ .name = "smoke_detector", .kind = "smoke", .points = smoke_points, .n_points = 4 },
	{ .name = "manhole_cover_mqtt", .kind = "manhole", .is_mqtt = true, .points = manhole_points, .n_points = 2 },
};
static struct device_config devices[] = {
	{ .id = "smoke-5-2-0701", .profile = 0, .bus = 0, .source = -1, .unit = 3,
	  .location = { .building = "5", .entrance = "2", .room = "701", .floor = 7, .has_floor = true } },
	{ .id = "mc-0012", .profile = 1, .bus = -1, .source = 0,
	  .location = { .place = "North gate" } },
};

static void config_init(struct gw_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->gateway.id = "zz-jinshui-duling-gw01";
	cfg->gateway.site.street = "Duling";
	cfg->gateway.site.community = "Shangquan";
	cfg->gateway.site.grid = "G03";
	cfg->profiles = profiles;
	cfg->n_profiles = 2;
	cfg->devices = devices;
	cfg->n_devices = 2;
	cfg->store.max_size_mb = 64;
	cfg->store.history_keep_ms = 7LL * 86400 * 1000;
	cfg->store.delivered_keep_ms = 86400LL * 1000;
	cfg->store.synchronous = "full";
}

struct fx {
	char dir[64];
	struct gw_config cfg;
	struct store *st;
	struct incidents *inc;
	int64_t wall;
};

static void fx_open(struct fx *f)
{
	char err[256] = "";
	f->st = store_open(f->dir, &f->cfg.store, err, sizeof err);
	if (!f->st)
		fprintf(stderr, "store_open: %s\n", err);
	assert_non_null(f->st);
	f->inc = incidents_create(&f->cfg, f->st);
	assert_non_null(f->inc);
}

static void fx_close(struct fx *f)
{
	incidents_destroy(f->inc);
	store_close(f->st);
	f->inc = NULL;
	f->st = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/gridgw-inc-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	config_init(&f->cfg);
	f->wall = 1795334400123LL; /* 2026-11-22T08:00:00.123Z */
	log_set_level(LOG_LVL_ERROR);
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->inc || f->st)
		fx_close(f);
	const char *suffix[] = { "", "-wal", "-shm" };
	char p[160];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/gridgw.db%s", f->dir, suffix[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static struct engine_output smoke_output(enum engine_output_kind kind, uint32_t count)
{
	struct engine_output o;
	memset(&o, 0, sizeof o);
	o.kind = kind;
	snprintf(o.key, sizeof o.key, "smoke/smoke-5-2-0701");
	o.rule = 0;
	o.device = 0;
	o.type = "fire.smoke";
	o.severity = 1;
	o.active = kind == OUT_RAISED || kind == OUT_UPDATED || kind == OUT_ESCALATED;
	o.count = count;
	snprintf(o.message, sizeof o.message, "Smoke at 5-2-701");
	o.evidence[0] = (struct evidence_item){ 0, { 1.0, QUALITY_GOOD, 0 } };
	o.evidence[1] = (struct evidence_item){ 1, { 0.001 * 210, QUALITY_GOOD, 0 } };
	o.evidence[2] = (struct evidence_item){ 2, { 0, QUALITY_COMM_ERROR, 0 } };
	o.evidence[3] = (struct evidence_item){ 3, { 87, QUALITY_GOOD, 0 } };
	o.n_evidence = 4;
	return o;
}

static struct engine_output manhole_output(enum engine_output_kind kind)
{
	struct engine_output o;
	memset(&o, 0, sizeof o);
	o.kind = kind;
	snprintf(o.key, sizeof o.key, "tilt/mc-0012");
	o.device = 1;
	o.type = "manhole.tilt";
	o.severity = 3;
	o.active = kind != OUT_CLEARED;
	o.count = 1;
	snprintf(o.message, sizeof o.message, "Manhole cover tilted at North gate");
	o.evidence[0] = (struct evidence_item){ 0, { 23.5, QUALITY_GOOD, 0 } };
	o.n_evidence = 1;
	return o;
}

/* All undelivered events, parsed; each one's JSON seq is checked against
 * its outbox seq. Returns a cJSON array (caller deletes). */
static cJSON *events(struct fx *f)
{
	cJSON *arr = cJSON_CreateArray();
	struct outbox_event ev[32];
	int n = 0;
	uint64_t after = 0;
	do {
		assert_int_equal(store_fetch_undelivered(f->st, after, 32, ev, &n), STORE_OK);
		for (int i = 0; i < n; i++) {
			const char *end = NULL;
			cJSON *j = cJSON_ParseWithLengthOpts(ev[i].payload, ev[i].len, &end, 0);
			assert_non_null(j);
			assert_ptr_equal(end, ev[i].payload + ev[i].len);
			assert_string_equal(ev[i].topic_suffix, "incident");
			cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
			assert_true(cJSON_IsNumber(seq));
			assert_int_equal((uint64_t)seq->valuedouble, ev[i].seq);
			cJSON_AddItemToArray(arr, j);
			after = ev[i].seq;
			outbox_event_free(&ev[i]);
		}
	} while (n == 32);
	return arr;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static bool jbool(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	assert_true(cJSON_IsBool(v));
	return cJSON_IsTrue(v);
}

static const cJSON *nth(const cJSON *arr, int i)
{
	const cJSON *e = cJSON_GetArrayItem(arr, i);
	assert_non_null(e);
	return e;
}

static int count_events(struct fx *f)
{
	cJSON *a = events(f);
	int n = cJSON_GetArraySize(a);
	cJSON_Delete(a);
	return n;
}

/* ---- ULID ---- */

static void test_ulid_is_sortable_and_monotonic(void **state)
{
	(void)state;
	struct ulid_gen g;
	ulid_gen_init(&g);
	char a[ULID_LEN + 1], b[ULID_LEN + 1], c[ULID_LEN + 1];
	assert_int_equal(ulid_generate(&g, 1795334400123LL, a), 0);
	assert_int_equal(ulid_generate(&g, 1795334400123LL, b), 0); /* same ms */
	assert_int_equal(ulid_generate(&g, 1795334400000LL, c), 0); /* clock stepped back */
	assert_int_equal(strlen(a), 26);
	assert_true(ulid_valid(a) && ulid_valid(b) && ulid_valid(c));
	assert_true(strcmp(a, b) < 0);
	assert_true(strcmp(b, c) < 0);
	int64_t ms = 0;
	assert_int_equal(ulid_time_ms(a, &ms), 0);
	assert_int_equal(ms, 1795334400123LL);
	assert_false(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAU")); /* 'U' is not Crockford */
	assert_false(ulid_valid("81ARZ3NDEKTSV4RRFFQ69G5FAV")); /* > 128 bits */
	assert_false(ulid_valid("01ARZ3NDEK"));
	/* The time prefix is the well-known encoding: 1469918176385 -> 01ARYZ6S41. */
	ulid_gen_init(&g);
	assert_int_equal(ulid_generate(&g, 1469918176385LL, a), 0);
	assert_memory_equal(a, "01ARYZ6S41", 10);
}

/* ---- events ---- */

static void test_raise_writes_contract_event(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(incidents_open_count(f->inc), 1);
	assert_int_equal(incidents_pending_count(f->inc), 0);

	/* The raw text: integers without ".0", the scaled value without noise. */
	struct outbox_event ev;
	int n = 0;
	assert_int_equal(store_fetch_undelivered(f->st, 0, 1, &ev, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ev.seq, 1);
	assert_non_null(strstr(ev.payload, "{\"schema\":\"gridgw.incident/1\",\"gateway\":\"zz-jinshui-duling-gw01\",\"id\":\""));
	assert_non_null(strstr(ev.payload, "\"seq\":1,\"event\":\"raised\",\"type\":\"fire.smoke\",\"severity\":1,"));
	/* The store's identity, before seq: (gateway, store, seq) names an event. */
	char want[64];
	snprintf(want, sizeof want, "\"store\":\"%s\",\"seq\":1,", store_id(f->st));
	assert_int_equal(strlen(store_id(f->st)), 26);
	assert_non_null(strstr(ev.payload, want));
	assert_non_null(strstr(ev.payload, "\"smoke\":0.21,"));
	assert_non_null(strstr(ev.payload, "\"count\":1,"));
	assert_non_null(strstr(ev.payload, "\"floor\":7,"));
	outbox_event_free(&ev);

	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 1);
	const cJSON *e = nth(a, 0);
	assert_string_equal(jstr(e, "schema"), "gridgw.incident/1");
	assert_string_equal(jstr(e, "gateway"), "zz-jinshui-duling-gw01");
	assert_true(ulid_valid(jstr(e, "id")));
	assert_string_equal(incidents_key_of(f->inc, jstr(e, "id")), "smoke/smoke-5-2-0701");
	assert_string_equal(incidents_id_of(f->inc, "smoke/smoke-5-2-0701"), jstr(e, "id"));
	assert_int_equal((int)jnum(e, "seq"), 1);
	assert_string_equal(jstr(e, "event"), "raised");
	assert_string_equal(jstr(e, "type"), "fire.smoke");
	assert_int_equal((int)jnum(e, "severity"), 1);
	assert_string_equal(jstr(e, "rule"), "smoke");
	assert_string_equal(jstr(e, "device"), "smoke-5-2-0701");
	assert_string_equal(jstr(e, "kind"), "smoke");
	const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "location");
	assert_true(cJSON_IsObject(loc));
	assert_string_equal(jstr(loc, "street"), "Duling");
	assert_string_equal(jstr(loc, "community"), "Shangquan");
	assert_string_equal(jstr(loc, "grid"), "G03");
	assert_string_equal(jstr(loc, "building"), "5");
	assert_string_equal(jstr(loc, "entrance"), "2");
	assert_int_equal((int)jnum(loc, "floor"), 7);
	assert_string_equal(jstr(loc, "room"), "701");
	assert_null(cJSON_GetObjectItemCaseSensitive(loc, "place"));
	assert_true(jbool(e, "active"));
	assert_false(jbool(e, "acked"));
	assert_string_equal(jstr(e, "workflow"), "raised");
	assert_int_equal((int)jnum(e, "count"), 1);
	assert_string_equal(jstr(e, "first_ts"), "2026-11-22T08:00:00.123Z");
	assert_string_equal(jstr(e, "ts"), "2026-11-22T08:00:00.123Z");
	assert_string_equal(jstr(e, "message"), "Smoke at 5-2-701");
	const cJSON *evd = cJSON_GetObjectItemCaseSensitive(e, "evidence");
	assert_true(cJSON_IsObject(evd));
	assert_true(jbool(evd, "alarm"));
	assert_true(jnum(evd, "smoke") == 0.21);
	assert_int_equal((int)jnum(evd, "battery"), 87);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(evd, "temp")));
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(evd, "_quality");
	assert_true(cJSON_IsObject(q));
	assert_int_equal(cJSON_GetArraySize(q), 1);
	assert_string_equal(jstr(q, "temp"), "comm_error");
	/* The incident row went in with the event. */
	struct incident_row r;
	assert_int_equal(store_get_incident(f->st, jstr(e, "id"), &r), STORE_OK);
	assert_string_equal(r.alarm_key, "smoke/smoke-5-2-0701");
	assert_string_equal(r.workflow, "raised");
	assert_true(r.active);
	incident_row_free_json(&r);
	cJSON_Delete(a);
}

static void test_reraise_while_open_is_one_incident(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	o = smoke_output(OUT_CLEARED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 1000), 0);
	o = smoke_output(OUT_RAISED, 2);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 2000), 0);
	o = smoke_output(OUT_UPDATED, 3);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 3000), 0);
	assert_int_equal(incidents_open_count(f->inc), 1);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 4);
	const char *id = jstr(nth(a, 0), "id");
	const char *want[] = { "raised", "cleared", "updated", "updated" };
	for (int i = 0; i < 4; i++) {
		assert_string_equal(jstr(nth(a, i), "event"), want[i]);
		assert_string_equal(jstr(nth(a, i), "id"), id);
		assert_int_equal((int)jnum(nth(a, i), "seq"), i + 1);
		assert_string_equal(jstr(nth(a, i), "first_ts"), "2026-11-22T08:00:00.123Z");
	}
	assert_false(jbool(nth(a, 1), "active"));
	assert_true(jbool(nth(a, 2), "active"));
	assert_int_equal((int)jnum(nth(a, 3), "count"), 3);
	assert_string_equal(jstr(nth(a, 3), "ts"), "2026-11-22T08:00:03.123Z");
	cJSON_Delete(a);
	/* ACTION outputs are not incidents. */
	o = smoke_output(OUT_ACTION, 0);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(count_events(f), 4);
}

static void test_escalate_ack_clear_normal(void **state)
{
	struct fx *f = *state;
	struct engine_output o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	o = manhole_output(OUT_ESCALATED);
	o.severity = 1;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 600000), 0);
	o = manhole_output(OUT_ACKED);
	o.acked = true;
	o.severity = 1;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 700000), 0);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 700001), 0); /* a repeat says nothing */
	o = manhole_output(OUT_CLEARED);
	o.acked = true;
	o.severity = 1;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 800000), 0);
	o = manhole_output(OUT_NORMAL);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 800001), 0); /* nothing new */
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 4);
	assert_string_equal(jstr(nth(a, 0), "event"), "raised");
	assert_string_equal(jstr(nth(a, 0), "kind"), "manhole");
	const cJSON *loc = cJSON_GetObjectItemCaseSensitive(nth(a, 0), "location");
	assert_string_equal(jstr(loc, "place"), "North gate");
	assert_null(cJSON_GetObjectItemCaseSensitive(loc, "floor"));
	assert_true(jnum(cJSON_GetObjectItemCaseSensitive(nth(a, 0), "evidence"), "tilt") == 23.5);
	assert_string_equal(jstr(nth(a, 1), "event"), "escalated");
	assert_int_equal((int)jnum(nth(a, 1), "severity"), 1);
	assert_int_equal((int)jnum(nth(a, 1), "escalated_from"), 3);
	assert_string_equal(jstr(nth(a, 2), "event"), "acked");
	assert_true(jbool(nth(a, 2), "acked"));
	assert_true(jbool(nth(a, 2), "active"));
	assert_string_equal(jstr(nth(a, 3), "event"), "cleared");
	assert_false(jbool(nth(a, 3), "active"));
	assert_true(jbool(nth(a, 3), "acked"));
	assert_int_equal((int)jnum(nth(a, 3), "severity"), 1);
	cJSON_Delete(a);
	/* Still open until its workflow closes it. */
	assert_int_equal(incidents_open_count(f->inc), 1);
	/* Outputs for an alarm without an open incident that cannot open one are ignored. */
	o = smoke_output(OUT_CLEARED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	o = smoke_output(OUT_ACKED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(count_events(f), 4);
}

/* The sequences the real engine emits (rules/engine.c): a re-raise of an
 * open incident is OUT_UPDATED with acked reset; a non-latched clear is
 * CLEARED + NORMAL with acked false; an update drained after a local ack
 * carries the engine's older acked=false. */
static void test_engine_sequences_keep_ack_state_right(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	char id[32], key[ENGINE_KEY_MAX];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	assert_int_equal(incidents_ack(f->inc, id, "li", NULL, f->wall + 1, key, sizeof key), 0);
	o = smoke_output(OUT_UPDATED, 1); /* queued before engine_ack ran */
	o.acked = false;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 2), 0);
	o = smoke_output(OUT_ACKED, 1);
	o.acked = true;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 3), 0);
	o = smoke_output(OUT_CLEARED, 1);
	o.acked = true;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 4), 0);
	o = smoke_output(OUT_NORMAL, 1);
	o.acked = true;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 5), 0);
	/* Re-raise while the incident is open: UPDATED, active, not acked. */
	o = smoke_output(OUT_UPDATED, 2);
	o.acked = false;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 6), 0);
	/* Non-latched return to normal without an ack. */
	o = smoke_output(OUT_CLEARED, 2);
	o.acked = false;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 7), 0);
	o = smoke_output(OUT_NORMAL, 2);
	o.acked = false;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 8), 0);
	cJSON *a = events(f);
	struct { const char *event; bool active, acked; } want[] = {
		{ "raised", true, false }, { "acked", true, true }, { "updated", true, true },
		{ "cleared", false, true }, { "updated", true, false }, { "cleared", false, false },
	};
	assert_int_equal(cJSON_GetArraySize(a), 6);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(jstr(nth(a, i), "event"), want[i].event);
		assert_true(jbool(nth(a, i), "active") == want[i].active);
		assert_true(jbool(nth(a, i), "acked") == want[i].acked);
	}
	assert_int_equal((int)jnum(nth(a, 4), "count"), 2);
	cJSON_Delete(a);
}

static void test_local_ack_gives_exactly_one_acked_event(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	char id[32];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	char key[ENGINE_KEY_MAX];
	assert_int_equal(incidents_ack(f->inc, id, "manager-li", "checked, cooking smoke", f->wall + 5000,
				       key, sizeof key), 0);
	assert_string_equal(key, "smoke/smoke-5-2-0701");
	/* The engine's answer to engine_ack(key) comes back: no second event. */
	o = smoke_output(OUT_ACKED, 1);
	o.acked = true;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 5001), 0);
	/* A second ack (platform after local) is fine and silent. */
	assert_int_equal(incidents_ack(f->inc, id, "platform", NULL, f->wall + 6000, key, sizeof key), 0);
	assert_int_equal(incidents_ack(f->inc, "01NOSUCHINCIDENT0000000000", "x", NULL, f->wall, key, sizeof key), -ENOENT);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 2);
	const cJSON *e = nth(a, 1);
	assert_string_equal(jstr(e, "event"), "acked");
	assert_true(jbool(e, "acked"));
	assert_string_equal(jstr(e, "by"), "manager-li");
	assert_string_equal(jstr(e, "note"), "checked, cooking smoke");
	assert_null(cJSON_GetObjectItemCaseSensitive(nth(a, 0), "by"));
	cJSON_Delete(a);
}

/* The assignee rides in the evidence of the workflow event itself; a
 * refused step leaves it as it was; accepted by a worker assigns that worker. */
static void test_workflow_assignee(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	char id[32], err[128] = "";
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	assert_int_equal(incidents_workflow_assign(f->inc, id, "accepted", "desk", NULL, "team-9", f->wall, err, sizeof err),
			 -EINVAL);
	assert_int_equal(count_events(f), 1);
	assert_int_equal(incidents_workflow_assign(f->inc, id, "dispatched", "desk", "team 3", "worker-17", f->wall + 1,
						   err, sizeof err), 0);
	assert_int_equal(incidents_workflow_assign(f->inc, id, "accepted", "worker-18", NULL, NULL, f->wall + 2,
						   err, sizeof err), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 3);
	const cJSON *ev0 = cJSON_GetObjectItemCaseSensitive(nth(a, 0), "evidence");
	assert_null(cJSON_GetObjectItemCaseSensitive(ev0, "_assignee"));
	assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(nth(a, 1), "evidence"), "_assignee"), "worker-17");
	assert_string_equal(jstr(nth(a, 1), "by"), "desk");
	/* the worker who accepted it has it now; the readings stay in the evidence */
	const cJSON *ev2 = cJSON_GetObjectItemCaseSensitive(nth(a, 2), "evidence");
	assert_string_equal(jstr(ev2, "_assignee"), "worker-18");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(ev2, "smoke"));
	cJSON_Delete(a);
	/* new readings replace the evidence, not the assignee */
	struct engine_output c = smoke_output(OUT_CLEARED, 1);
	assert_int_equal(incidents_apply(f->inc, &c, f->wall + 3), 0);
	a = events(f);
	const cJSON *last = nth(a, cJSON_GetArraySize(a) - 1);
	assert_string_equal(jstr(last, "event"), "cleared");
	assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(last, "evidence"), "_assignee"), "worker-18");
	cJSON_Delete(a);
}

static void test_workflow_legal_steps_and_rejections(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	char id[32];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	char err[128] = "";
	/* Illegal: skipping, staying, going back, unknown states, unknown ids. Nothing written. */
	assert_int_equal(incidents_workflow(f->inc, id, "accepted", "w", NULL, f->wall, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "raised -> accepted"));
	assert_int_equal(incidents_workflow(f->inc, id, "raised", "w", NULL, f->wall, err, sizeof err), -EINVAL);
	assert_int_equal(incidents_workflow(f->inc, id, "closed", "w", NULL, f->wall, err, sizeof err), -EINVAL);
	assert_int_equal(incidents_workflow(f->inc, id, "done", "w", NULL, f->wall, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "unknown workflow"));
	assert_int_equal(incidents_workflow(f->inc, "01NOSUCHINCIDENT0000000000", "dispatched", "w", NULL,
					    f->wall, err, sizeof err), -ENOENT);
	assert_int_equal(count_events(f), 1);

	const char *steps[] = { "dispatched", "accepted", "resolved" };
	for (int i = 0; i < 3; i++)
		assert_int_equal(incidents_workflow(f->inc, id, steps[i], "worker-17", "on my way",
						    f->wall + 1000 * (i + 1), err, sizeof err), 0);
	assert_int_equal(incidents_workflow(f->inc, id, "dispatched", "w", NULL, f->wall, err, sizeof err), -EINVAL);
	assert_int_equal(incidents_workflow(f->inc, id, "closed", "worker-17", NULL, f->wall + 5000, err, sizeof err), 0);
	assert_int_equal(incidents_open_count(f->inc), 0);
	assert_null(incidents_key_of(f->inc, id));
	/* Closed is final. */
	assert_int_equal(incidents_workflow(f->inc, id, "false_alarm", "w", NULL, f->wall, err, sizeof err), -ENOENT);

	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 5);
	for (int i = 0; i < 3; i++) {
		const cJSON *e = nth(a, i + 1);
		assert_string_equal(jstr(e, "event"), "workflow");
		assert_string_equal(jstr(e, "workflow"), steps[i]);
		assert_string_equal(jstr(e, "by"), "worker-17");
		assert_string_equal(jstr(e, "note"), "on my way");
	}
	assert_string_equal(jstr(nth(a, 4), "event"), "closed");
	assert_string_equal(jstr(nth(a, 4), "workflow"), "closed");
	cJSON_Delete(a);
	struct incident_row r;
	assert_int_equal(store_get_incident(f->st, id, &r), STORE_OK);
	assert_string_equal(r.workflow, "closed");
	incident_row_free_json(&r);

	/* After closing, the same alarm raising again is a new incident. */
	o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 10000), 0);
	const char *id2 = incidents_id_of(f->inc, "smoke/smoke-5-2-0701");
	assert_non_null(id2);
	assert_string_not_equal(id2, id);
	/* false_alarm closes from any open state. */
	char id2c[32];
	snprintf(id2c, sizeof id2c, "%s", id2);
	assert_int_equal(incidents_workflow(f->inc, id2c, "false_alarm", "platform", "test", f->wall + 11000,
					    err, sizeof err), 0);
	assert_int_equal(incidents_open_count(f->inc), 0);
	a = events(f);
	const cJSON *last = nth(a, cJSON_GetArraySize(a) - 1);
	assert_string_equal(jstr(last, "event"), "closed");
	assert_string_equal(jstr(last, "workflow"), "false_alarm");
	cJSON_Delete(a);
}

static void test_close_from_any_open_state(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	char id[32], err[128];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	assert_int_equal(incidents_close(f->inc, id, "dispatched", "p", NULL, f->wall, err, sizeof err), -EINVAL);
	assert_int_equal(incidents_close(f->inc, id, "closed", "platform", "duplicate", f->wall + 1, err, sizeof err), 0);
	assert_int_equal(incidents_open_count(f->inc), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 2);
	assert_string_equal(jstr(nth(a, 1), "event"), "closed");
	assert_string_equal(jstr(nth(a, 1), "note"), "duplicate");
	cJSON_Delete(a);
}

static void test_gateway_incident_raise_and_clear(void **state)
{
	struct fx *f = *state;
	assert_int_equal(incidents_gateway(f->inc, "gateway.uplink_down", 2, true, "Uplink down for 5m", f->wall), 0);
	assert_int_equal(incidents_gateway(f->inc, "gateway.uplink_down", 2, true, "Uplink down for 5m", f->wall + 1), 0);
	assert_int_equal(incidents_open_count(f->inc), 1);
	char key[ENGINE_KEY_MAX] = "x";
	const char *id = incidents_id_of(f->inc, INCIDENTS_GATEWAY_KEY_PREFIX "gateway.uplink_down");
	assert_non_null(id);
	char idc[32];
	snprintf(idc, sizeof idc, "%s", id);
	assert_int_equal(incidents_ack(f->inc, idc, "manager", NULL, f->wall + 2, key, sizeof key), 0);
	assert_string_equal(key, ""); /* no engine alarm behind it */
	assert_int_equal(incidents_gateway(f->inc, "gateway.uplink_down", 2, false, "Uplink back", f->wall + 3), 0);
	assert_int_equal(incidents_open_count(f->inc), 0);
	assert_int_equal(incidents_gateway(f->inc, "gateway.uplink_down", 2, false, NULL, f->wall + 4), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 4);
	const char *want[] = { "raised", "acked", "cleared", "closed" };
	for (int i = 0; i < 4; i++) {
		assert_string_equal(jstr(nth(a, i), "event"), want[i]);
		assert_string_equal(jstr(nth(a, i), "type"), "gateway.uplink_down");
		assert_string_equal(jstr(nth(a, i), "device"), "zz-jinshui-duling-gw01");
		assert_string_equal(jstr(nth(a, i), "kind"), "gateway");
		assert_int_equal((int)jnum(nth(a, i), "severity"), 2);
	}
	assert_string_equal(jstr(nth(a, 0), "message"), "Uplink down for 5m");
	const cJSON *loc = cJSON_GetObjectItemCaseSensitive(nth(a, 0), "location");
	assert_string_equal(jstr(loc, "grid"), "G03");
	assert_null(cJSON_GetObjectItemCaseSensitive(loc, "building"));
	assert_false(jbool(nth(a, 2), "active"));
	assert_string_equal(jstr(nth(a, 3), "workflow"), "closed");
	cJSON_Delete(a);
}

static void test_resync_updates_every_open_incident(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(incidents_resync(f->inc, f->wall + 100), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 4);
	assert_string_equal(jstr(nth(a, 2), "event"), "updated");
	assert_string_equal(jstr(nth(a, 3), "event"), "updated");
	assert_true(jbool(nth(a, 2), "resync"));
	assert_string_not_equal(jstr(nth(a, 2), "id"), jstr(nth(a, 3), "id"));
	cJSON_Delete(a);
}

static void test_shelve_is_an_update(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	o = smoke_output(OUT_SHELVED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 1), 0);
	o = smoke_output(OUT_UNSHELVED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 2), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 3);
	assert_string_equal(jstr(nth(a, 1), "event"), "updated");
	assert_true(jbool(nth(a, 1), "shelved"));
	assert_false(jbool(nth(a, 2), "shelved"));
	cJSON_Delete(a);
}

static void test_open_incidents_survive_restart(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(incidents_gateway(f->inc, "gateway.uplink_down", 2, true, "down", f->wall), 0);
	o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	char id[32], err[128];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "tilt/mc-0012"));
	assert_int_equal(incidents_workflow(f->inc, id, "false_alarm", "p", NULL, f->wall, err, sizeof err), 0);
	char smoke_id[32];
	snprintf(smoke_id, sizeof smoke_id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	fx_close(f);

	fx_open(f);
	assert_int_equal(incidents_load_open(f->inc), 2);
	assert_string_equal(incidents_id_of(f->inc, "smoke/smoke-5-2-0701"), smoke_id);
	assert_null(incidents_id_of(f->inc, "tilt/mc-0012"));
	o = smoke_output(OUT_UPDATED, 4);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 60000), 0);
	/* The gateway incident is still the same one and clears normally. */
	assert_int_equal(incidents_gateway(f->inc, "gateway.uplink_down", 2, false, "up", f->wall + 60001), 0);
	cJSON *a = events(f);
	int n = cJSON_GetArraySize(a);
	assert_int_equal(n, 7);
	const cJSON *u = nth(a, 4);
	assert_string_equal(jstr(u, "event"), "updated");
	assert_string_equal(jstr(u, "id"), smoke_id);
	assert_int_equal((int)jnum(u, "seq"), 5);
	assert_int_equal((int)jnum(u, "count"), 4);
	assert_string_equal(jstr(u, "first_ts"), "2026-11-22T08:00:00.123Z");
	/* Location and evidence came back from the store intact. */
	assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(u, "location"), "room"), "701");
	assert_string_equal(jstr(nth(a, 6), "event"), "closed");
	cJSON_Delete(a);
}

static int n_auto_closed;
static void on_auto_closed(void *ctx, const char *key)
{
	(void)ctx;
	assert_string_equal(key, "smoke/smoke-5-2-0701");
	n_auto_closed++;
}

/* Local-only auto-close: only cleared and acknowledged incidents, measured
 * from the later of the two, across a restart; gateway.* never; the event
 * is incident.close's. */
static void test_auto_close_cleared_and_acked(void **state)
{
	struct fx *f = *state;
	const int64_t after = 60000;
	n_auto_closed = 0;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(incidents_gateway(f->inc, "gateway.notify", 2, true, "bad key", f->wall), 0);
	char id[32], key[ENGINE_KEY_MAX];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	/* Active and unacked, then acked but active: never. */
	assert_int_equal(incidents_auto_close(f->inc, after, f->wall + 10 * after, on_auto_closed, NULL), 0);
	assert_int_equal(incidents_ack(f->inc, id, "li", NULL, f->wall + 1000, key, sizeof key), 0);
	assert_int_equal(incidents_auto_close(f->inc, after, f->wall + 10 * after, on_auto_closed, NULL), 0);
	/* Cleared at +5 s: due at +65 s, whatever happened in between. */
	o = smoke_output(OUT_CLEARED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 5000), 0);
	assert_int_equal(incidents_auto_close(f->inc, after, f->wall + 5000 + after - 1, on_auto_closed, NULL), 0);
	assert_int_equal(incidents_auto_close(f->inc, 0, f->wall + 100 * after, on_auto_closed, NULL), 0);
	fx_close(f);
	fx_open(f);
	assert_int_equal(incidents_load_open(f->inc), 2);
	assert_int_equal(incidents_auto_close(f->inc, after, f->wall + 5000 + after - 1, on_auto_closed, NULL), 0);
	assert_int_equal(incidents_auto_close(f->inc, after, f->wall + 5000 + after, on_auto_closed, NULL), 1);
	assert_int_equal(n_auto_closed, 1);
	assert_null(incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	assert_int_equal(incidents_open_count(f->inc), 1); /* gateway.notify stays */
	cJSON *a = events(f);
	const cJSON *last = nth(a, cJSON_GetArraySize(a) - 1);
	assert_string_equal(jstr(last, "event"), "closed");
	assert_string_equal(jstr(last, "id"), id);
	assert_string_equal(jstr(last, "workflow"), "closed");
	assert_string_equal(jstr(last, "by"), "gateway");
	assert_non_null(strstr(jstr(last, "note"), "auto-closed"));
	cJSON_Delete(a);
}

/* Read-only storage is simulated with PRAGMA query_only on the store's
 * connection: every write fails with SQLITE_READONLY, as on a file system
 * remounted read-only. */
static void test_storage_failure_holds_events_then_writes_in_order(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0); /* seq 1, written */
	assert_int_equal(store_set_query_only(f->st, true), STORE_OK);

	o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 10), 0); /* accepted, held */
	assert_true(incidents_storage_failing(f->inc));
	o = smoke_output(OUT_CLEARED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 20), 0);
	char id[32], err[128];
	snprintf(id, sizeof id, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	assert_int_equal(incidents_workflow(f->inc, id, "dispatched", "w1", NULL, f->wall + 30, err, sizeof err), 0);
	/* Held: tilt raised, gateway.storage raised, smoke cleared, smoke workflow. */
	assert_int_equal(incidents_pending_count(f->inc), 4);
	assert_int_equal(store_backlog(f->st), 1);
	assert_int_equal(store_next_seq(f->st), 2);
	/* Retrying while still failing changes nothing. */
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 2000), STORE_ERR_READONLY);
	assert_int_equal(incidents_pending_count(f->inc), 4);
	assert_int_equal(store_backlog(f->st), 1);

	assert_int_equal(store_set_query_only(f->st, false), STORE_OK);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 4000), 0);
	assert_int_equal(incidents_pending_count(f->inc), 0);
	assert_false(incidents_storage_failing(f->inc));

	cJSON *a = events(f);
	int n = cJSON_GetArraySize(a);
	assert_int_equal(n, 7);
	struct { const char *event, *type; } want[] = {
		{ "raised", "fire.smoke" },
		{ "raised", "manhole.tilt" },
		{ "raised", "gateway.storage" },
		{ "cleared", "fire.smoke" },
		{ "workflow", "fire.smoke" },
		{ "cleared", "gateway.storage" },
		{ "closed", "gateway.storage" },
	};
	for (int i = 0; i < n; i++) {
		assert_int_equal((int)jnum(nth(a, i), "seq"), i + 1); /* gapless, in order */
		assert_string_equal(jstr(nth(a, i), "event"), want[i].event);
		assert_string_equal(jstr(nth(a, i), "type"), want[i].type);
	}
	/* Each held event keeps the time it happened, not the time it was written. */
	assert_string_equal(jstr(nth(a, 1), "ts"), "2026-11-22T08:00:00.133Z");
	assert_string_equal(jstr(nth(a, 3), "ts"), "2026-11-22T08:00:00.143Z");
	assert_string_equal(jstr(nth(a, 2), "message"), "Storage failure (readonly): incident events are held in memory");
	cJSON_Delete(a);
	assert_int_equal(incidents_open_count(f->inc), 2);
}

static void test_caller_transaction_rollback_keeps_events(void **state)
{
	struct fx *f = *state;
	/* The core's pattern: one transaction around a loop iteration. */
	assert_int_equal(store_begin(f->st), STORE_OK);
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_int_equal(incidents_pending_count(f->inc), 0); /* written into the open transaction */
	assert_int_equal(store_next_seq(f->st), 3);
	store_rollback(f->st);
	/* Not committed: back in memory, seqs released. */
	assert_int_equal(incidents_pending_count(f->inc), 2);
	assert_int_equal(store_next_seq(f->st), 1);
	assert_int_equal(store_backlog(f->st), 0);

	assert_int_equal(store_begin(f->st), STORE_OK);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 1), 0);
	assert_int_equal(store_commit(f->st), STORE_OK);
	assert_int_equal(incidents_pending_count(f->inc), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 2);
	assert_string_equal(jstr(nth(a, 0), "type"), "fire.smoke");
	assert_string_equal(jstr(nth(a, 1), "type"), "manhole.tilt");
	cJSON_Delete(a);

	/* A disk failure inside the caller's transaction (its commit fails): held too. */
	assert_int_equal(store_begin(f->st), STORE_OK);
	o = smoke_output(OUT_CLEARED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 2), 0);
	assert_int_equal(store_set_query_only(f->st, true), STORE_OK);
	assert_int_equal(store_put_device_state(f->st, "smoke-5-2-0701", true, f->wall), STORE_ERR_READONLY);
	assert_int_equal(store_commit(f->st), STORE_ERR_READONLY);
	assert_int_equal(incidents_pending_count(f->inc), 1);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 3), STORE_ERR_READONLY);
	assert_true(incidents_storage_failing(f->inc));
	assert_int_equal(store_set_query_only(f->st, false), STORE_OK);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 5000), 0);
	a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 6);
	assert_string_equal(jstr(nth(a, 2), "event"), "cleared");
	assert_string_equal(jstr(nth(a, 3), "type"), "gateway.storage");
	assert_int_equal((int)jnum(nth(a, 5), "seq"), 6);
	cJSON_Delete(a);
}

/* The real SQLITE_FULL path: a 1 MB cap filled with undelivered events. */
static void test_full_store_holds_events_until_space(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	f->cfg.store.max_size_mb = 1;
	fx_open(f);
	/* Events of shrinking sizes until even a small one does not fit. */
	static const size_t sizes[] = { 3000, 300, 30 };
	char payload[3001];
	uint64_t seq = 0, last = 0;
	for (size_t k = 0; k < 3; k++) {
		memset(payload, 'z', sizes[k]);
		payload[sizes[k]] = '\0';
		int rc = STORE_OK;
		for (int i = 0; i < 5000 && rc == STORE_OK; i++) {
			rc = store_append_event(f->st, NULL, "incident", payload, sizes[k], &seq);
			if (rc == STORE_OK)
				last = seq;
		}
		assert_int_equal(rc, STORE_ERR_FULL);
	}
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	assert_true(incidents_storage_failing(f->inc));
	assert_int_equal(incidents_pending_count(f->inc), 2);
	/* The uplink delivers the filler; pruning makes room; the held events go in. */
	uint64_t *d = calloc(last, sizeof *d);
	assert_non_null(d);
	for (uint64_t i = 0; i < last; i++)
		d[i] = i + 1;
	assert_int_equal(store_mark_delivered(f->st, d, (int)last), STORE_OK);
	free(d);
	assert_int_equal(store_prune(f->st, time_wall_ms() + 2 * 86400LL * 1000), STORE_OK);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 2000), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 4);
	assert_int_equal((int)jnum(nth(a, 0), "seq"), (int)last + 1);
	assert_string_equal(jstr(nth(a, 0), "type"), "fire.smoke");
	assert_string_equal(jstr(nth(a, 1), "type"), "gateway.storage");
	assert_string_equal(jstr(nth(a, 1), "message"), "Storage failure (full): incident events are held in memory");
	assert_string_equal(jstr(nth(a, 3), "event"), "closed");
	assert_int_equal((int)jnum(nth(a, 3), "seq"), (int)last + 4);
	cJSON_Delete(a);
}

/* Points beyond the engine's evidence bound are counted, not hidden. */
static void test_evidence_counts_omitted_points(void **state)
{
	struct fx *f = *state;
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	o.n_evidence_omitted = 3;
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	cJSON *a = events(f);
	assert_int_equal(cJSON_GetArraySize(a), 1);
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(nth(a, 0), "evidence");
	assert_int_equal((int)jnum(ev, "_omitted"), 3);
	cJSON_Delete(a);
}

/* Past the bound the queue stays bounded whatever the kind: an incident
 * keeps its first held event and one newest event with the latest state. */
static void test_held_queue_bound_folds_updates_not_raises(void **state)
{
	struct fx *f = *state;
	assert_int_equal(store_set_query_only(f->st, true), STORE_OK);
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	/* raised + gateway.storage raised, then updates up to and past the bound. */
	for (uint32_t i = 2; i < INCIDENTS_PENDING_MAX + 2000; i++) {
		o = smoke_output(OUT_UPDATED, i);
		assert_int_equal(incidents_apply(f->inc, &o, f->wall + i), 0);
	}
	size_t held = incidents_pending_count(f->inc);
	assert_int_equal(held, INCIDENTS_PENDING_MAX);
	/* Past the bound a clear folds into the newest held event (not the raise). */
	o = smoke_output(OUT_CLEARED, INCIDENTS_PENDING_MAX + 2000);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 20000), 0);
	assert_int_equal(incidents_pending_count(f->inc), INCIDENTS_PENDING_MAX);
	/* A new incident past the bound: its raise is appended, never folded. */
	o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 20001), 0);
	assert_int_equal(incidents_pending_count(f->inc), INCIDENTS_PENDING_MAX + 1);

	assert_int_equal(store_set_query_only(f->st, false), STORE_OK);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 30000), 0);
	cJSON *a = events(f);
	int n = cJSON_GetArraySize(a);
	assert_int_equal(n, INCIDENTS_PENDING_MAX + 3);
	assert_string_equal(jstr(nth(a, 0), "event"), "raised");
	/* The last held event of the smoke incident is the clear, with the newest count. */
	const cJSON *clr = nth(a, INCIDENTS_PENDING_MAX - 1);
	assert_string_equal(jstr(clr, "event"), "cleared");
	assert_int_equal((int)jnum(clr, "count"), INCIDENTS_PENDING_MAX + 2000);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(clr, "active")));
	assert_string_equal(jstr(nth(a, INCIDENTS_PENDING_MAX), "type"), "manhole.tilt");
	for (int i = 0; i < n; i++)
		assert_int_equal((int)jnum(nth(a, i), "seq"), i + 1);
	cJSON_Delete(a);
}

/* Flapping, acks and workflow steps past the bound (a store that cannot
 * write for hours under a chattering detector): the queue stays at the
 * bound plus two per incident, and the platform still sees every
 * incident's raise and its final clear. */
static void test_held_queue_bound_holds_for_every_kind(void **state)
{
	struct fx *f = *state;
	assert_int_equal(store_set_query_only(f->st, true), STORE_OK);
	struct engine_output o = smoke_output(OUT_RAISED, 1);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall), 0);
	for (uint32_t i = 2; i < INCIDENTS_PENDING_MAX; i++) {
		o = smoke_output(OUT_UPDATED, i);
		assert_int_equal(incidents_apply(f->inc, &o, f->wall + i), 0);
	}
	assert_int_equal(incidents_pending_count(f->inc), INCIDENTS_PENDING_MAX);
	o = manhole_output(OUT_RAISED);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 20000), 0);
	char smoke[32], tilt[32], err[128];
	snprintf(smoke, sizeof smoke, "%s", incidents_id_of(f->inc, "smoke/smoke-5-2-0701"));
	snprintf(tilt, sizeof tilt, "%s", incidents_id_of(f->inc, "tilt/mc-0012"));
	uint32_t count = INCIDENTS_PENDING_MAX;
	for (int k = 0; k < 20000; k++) {
		o = smoke_output(k % 2 ? OUT_UPDATED : OUT_CLEARED, count++);
		assert_int_equal(incidents_apply(f->inc, &o, f->wall + 20001 + k), 0);
		o = manhole_output(k % 2 ? OUT_RAISED : OUT_CLEARED);
		assert_int_equal(incidents_apply(f->inc, &o, f->wall + 20001 + k), 0);
		assert_true(incidents_pending_count(f->inc) <= INCIDENTS_PENDING_MAX + 3);
	}
	o = smoke_output(OUT_CLEARED, count);
	assert_int_equal(incidents_apply(f->inc, &o, f->wall + 50000), 0);
	/* An ack and a workflow step of the cleared incident keep the word "cleared". */
	assert_int_equal(incidents_ack(f->inc, smoke, "duty", "seen", f->wall + 50001, NULL, 0), 0);
	assert_int_equal(incidents_workflow(f->inc, smoke, "dispatched", "duty", NULL, f->wall + 50002, err, sizeof err), 0);
	assert_int_equal(incidents_workflow(f->inc, tilt, "false_alarm", "duty", NULL, f->wall + 50003, err, sizeof err), 0);
	size_t held = incidents_pending_count(f->inc);
	assert_true(held <= INCIDENTS_PENDING_MAX + 3);

	assert_int_equal(store_set_query_only(f->st, false), STORE_OK);
	assert_int_equal(incidents_flush_pending(f->inc, f->wall + 60000), 0);
	cJSON *a = events(f);
	int n = cJSON_GetArraySize(a);
	const cJSON *smoke_first = NULL, *smoke_last = NULL, *tilt_first = NULL, *tilt_last = NULL;
	for (int i = 0; i < n; i++) {
		const cJSON *e = nth(a, i);
		assert_int_equal((int)jnum(e, "seq"), i + 1);
		if (strcmp(jstr(e, "id"), smoke) == 0) {
			smoke_first = smoke_first ? smoke_first : e;
			smoke_last = e;
		} else if (strcmp(jstr(e, "id"), tilt) == 0) {
			tilt_first = tilt_first ? tilt_first : e;
			tilt_last = e;
		}
	}
	assert_non_null(smoke_first);
	assert_non_null(tilt_first);
	assert_string_equal(jstr(smoke_first, "event"), "raised");
	assert_string_equal(jstr(smoke_last, "event"), "cleared");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(smoke_last, "active")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(smoke_last, "acked")));
	assert_string_equal(jstr(smoke_last, "workflow"), "dispatched");
	assert_int_equal((int)jnum(smoke_last, "count"), (int)count);
	assert_string_equal(jstr(tilt_first, "event"), "raised");
	assert_string_equal(jstr(tilt_last, "event"), "closed");
	assert_string_equal(jstr(tilt_last, "workflow"), "false_alarm");
	cJSON_Delete(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ulid_is_sortable_and_monotonic),
		cmocka_unit_test_setup_teardown(test_raise_writes_contract_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reraise_while_open_is_one_incident, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escalate_ack_clear_normal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_ack_gives_exactly_one_acked_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_sequences_keep_ack_state_right, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workflow_legal_steps_and_rejections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_from_any_open_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gateway_incident_raise_and_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync_updates_every_open_incident, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shelve_is_an_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_incidents_survive_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_close_cleared_and_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_failure_holds_events_then_writes_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caller_transaction_rollback_keeps_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_store_holds_events_until_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_queue_bound_folds_updates_not_raises, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workflow_assignee, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_queue_bound_holds_for_every_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evidence_counts_omitted_points, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
