/* Unit tests for the notify module's pure parts: signatures (vectors
 * computed independently with Python's hmac), labels and templates,
 * UTF-8-safe cutting, request bodies per channel, answer classification,
 * pacing, routing globs and hours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gateway/notify/notify_priv.h"

static void test_dingtalk_sign_matches_reference(void **state)
{
	(void)state;
	char out[128];
	assert_int_equal(notify_sign_dingtalk("SEC0123456789abcdef", 1700000000000LL, out, sizeof out), 0);
	assert_string_equal(out, "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D");
	assert_int_not_equal(notify_sign_dingtalk("SEC0123456789abcdef", 1700000000000LL, out, 10), 0);
}

static void test_feishu_sign_is_keyed_by_timestamp_and_secret(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(notify_sign_feishu("SEC0123456789abcdef", 1700000000LL, out, sizeof out), 0);
	assert_string_equal(out, "PiO7POLlSx/DM2qf8Dy/XCWeJK3exVnevp5G99LEN2M=");
}

static void test_webhook_signature_is_hex_hmac_of_body(void **state)
{
	(void)state;
	char out[80];
	assert_int_equal(notify_sign_webhook("whsecret", "{\"a\":1}", 7, out, sizeof out), 0);
	assert_string_equal(out, "sha256=b2ede3ef30f428daf114e70cd9dd2fd3ff364a1fdc17db5f846f4f49d8a01dab");
}

static void test_base64_and_urlencode(void **state)
{
	(void)state;
	char out[64];
	notify_base64((const unsigned char *)"ab", 2, out);
	assert_string_equal(out, "YWI=");
	notify_base64((const unsigned char *)"abc", 3, out);
	assert_string_equal(out, "YWJj");
	notify_base64((const unsigned char *)"a", 1, out);
	assert_string_equal(out, "YQ==");
	assert_int_equal(notify_urlencode("a+b/c=d ~", out, sizeof out), 0);
	assert_string_equal(out, "a%2Bb%2Fc%3Dd%20~");
	assert_int_equal(notify_urlencode("++++", out, 6), -1);
}

static void test_utf8_cut_never_splits_a_character(void **state)
{
	(void)state;
	/* Every cut length of a mixed string stays valid UTF-8 and within the limit. */
	const char *src = "烟感报警 at 5号楼 🔥 room 701";
	for (size_t max = 0; max <= strlen(src) + 2; max++) {
		char *s = strdup(src);
		notify_cut(s, max);
		assert_true(strlen(s) <= max || strlen(src) <= max);
		assert_true(notify_utf8_valid(s, strlen(s)));
		if (strlen(src) > max && max >= 3)
			assert_non_null(strstr(s, "…"));
		free(s);
	}
	assert_false(notify_utf8_valid("\xe7\x83", 2));
	assert_false(notify_utf8_valid("\xc0\xaf", 2));      /* overlong */
	assert_false(notify_utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
	assert_true(notify_utf8_valid("烟", strlen("烟")));
}

static void fill_smoke(struct notify_item *it)
{
	memset(it, 0, sizeof *it);
	it->job = 7;
	strcpy(it->incident, "01JABCDEF");
	strcpy(it->event, "raised");
	strcpy(it->type, "fire.smoke");
	it->severity = 1;
	strcpy(it->device, "smoke-5-2-0701");
	strcpy(it->message, "Smoke at 5-2-701");
	strcpy(it->building, "5");
	strcpy(it->entrance, "2");
	strcpy(it->room, "701");
	it->floor = 7;
	it->has_floor = true;
	it->ts_ms = 1764662400123LL; /* 2025-12-02T08:00:00Z */
}

static struct notify_render_ctx ctx(enum notify_lang l, enum notify_channel_type t, enum notify_format f, size_t limit)
{
	struct notify_render_ctx rc = { .lang = l, .type = t, .format = f, .limit = limit };
	return rc;
}

static void test_default_template_zh_has_labels_location_and_local_time(void **state)
{
	(void)state;
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	struct notify_item it;
	fill_smoke(&it);
	struct notify_render_ctx rc = ctx(NOTIFY_LANG_ZH, NOTIFY_WECOM, NOTIFY_FMT_MARKDOWN, 4096);
	rc.console_url = "http://192.168.1.10:8080/";
	struct notify_text t;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_non_null(strstr(t.title, "【紧急】烟感报警"));
	assert_non_null(strstr(t.body, "5号楼2单元7层701室"));
	assert_non_null(strstr(t.body, "Smoke at 5-2-701"));
	assert_non_null(strstr(t.body, "2025-12-02 16:00:00")); /* Beijing time */
	assert_non_null(strstr(t.body, "http://192.168.1.10:8080/incidents/01JABCDEF"));
	notify_text_free(&t);
	/* Without a console_url the link line is left out entirely. */
	rc.console_url = NULL;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_null(strstr(t.body, "查看事件"));
	notify_text_free(&t);
}

static void test_english_labels_and_escalation_title(void **state)
{
	(void)state;
	struct notify_item it;
	fill_smoke(&it);
	it.step = 1;
	it.after_ms = 300000;
	it.unless = NOTIFY_UNLESS_ACKED;
	struct notify_render_ctx rc = ctx(NOTIFY_LANG_EN, NOTIFY_FEISHU, NOTIFY_FMT_TEXT, 4096);
	struct notify_text t;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_string_equal(t.title, "[Critical] Smoke alarm (not acknowledged after 5 min)");
	assert_non_null(strstr(t.body, "Building 5, Entrance 2, Floor 7, Room 701"));
	notify_text_free(&t);
	rc.lang = NOTIFY_LANG_ZH;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_string_equal(t.title, "【紧急】烟感报警（5分钟未确认）");
	notify_text_free(&t);
	strcpy(it.event, "cleared");
	it.step = 0;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_string_equal(t.title, "【已恢复】烟感报警");
	notify_text_free(&t);
	assert_string_equal(notify_severity_label(NOTIFY_LANG_ZH, 2), "重要");
	assert_string_equal(notify_severity_label(NOTIFY_LANG_ZH, 3), "一般");
	assert_string_equal(notify_severity_label(NOTIFY_LANG_ZH, 4), "提示");
	assert_string_equal(notify_type_label(NOTIFY_LANG_ZH, "manhole.gas"), "可燃气体");
	assert_string_equal(notify_type_label(NOTIFY_LANG_ZH, "elevator.ebike"), "电动车进电梯");
	assert_null(notify_type_label(NOTIFY_LANG_ZH, "custom.thing"));
}

static void test_route_template_override_and_check(void **state)
{
	(void)state;
	struct notify_item it;
	fill_smoke(&it);
	it.template_text = strdup("{severity}|{type}|{room}|{place}\nonly place: {place}\nfixed line");
	struct notify_render_ctx rc = ctx(NOTIFY_LANG_ZH, NOTIFY_WECOM, NOTIFY_FMT_TEXT, 2048);
	struct notify_text t;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_string_equal(t.body, "紧急|烟感报警|701|\nfixed line");
	notify_text_free(&t);
	notify_item_free(&it);
	char bad[80];
	assert_int_equal(notify_template_check("{type} at {room}", bad, sizeof bad), 0);
	assert_int_equal(notify_template_check("{type} at {rooom}", bad, sizeof bad), -1);
	assert_string_equal(bad, "rooom");
	assert_int_equal(notify_template_check("{type", bad, sizeof bad), -1);
}

static void test_message_fits_the_limit_as_valid_utf8(void **state)
{
	(void)state;
	struct notify_item it;
	fill_smoke(&it);
	for (size_t i = 0; i + 4 < sizeof it.message; i += 3)
		memcpy(it.message + i, "烟", 3);
	it.message[sizeof it.message - 1] = '\0';
	it.message[notify_utf8_prefix(it.message, sizeof it.message - 1)] = '\0';
	struct notify_render_ctx rc = ctx(NOTIFY_LANG_ZH, NOTIFY_WECOM, NOTIFY_FMT_TEXT, 200);
	struct notify_text t;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_true(strlen(t.body) <= 200);
	assert_true(notify_utf8_valid(t.body, strlen(t.body)));
	assert_non_null(strstr(t.body, "…"));
	notify_text_free(&t);
	/* Invalid bytes from a device's strings never reach an API. */
	fill_smoke(&it);
	strcpy(it.message, "bad \xff\xfe bytes");
	rc.limit = 2048;
	assert_int_equal(notify_render_one(&rc, &it, &t), 0);
	assert_true(notify_utf8_valid(t.body, strlen(t.body)));
	notify_text_free(&t);
}

static void test_digest_most_severe_first_and_and_more(void **state)
{
	(void)state;
	enum { N = 60 };
	struct notify_item *items = calloc(N, sizeof *items);
	const struct notify_item **ptrs = calloc(N, sizeof *ptrs);
	for (int i = 0; i < N; i++) {
		fill_smoke(&items[i]);
		items[i].job = i + 1;
		items[i].severity = i == 40 ? 1 : 4;
		strcpy(items[i].type, i == 40 ? "fire.smoke" : "device.battery_low");
		snprintf(items[i].room, sizeof items[i].room, "%d", 100 + i);
		items[i].ts_ms += i;
		ptrs[i] = &items[i];
	}
	qsort(ptrs, N, sizeof *ptrs, notify_item_cmp);
	assert_int_equal(ptrs[0]->job, 41); /* the fire alarm first */
	struct notify_render_ctx rc = ctx(NOTIFY_LANG_ZH, NOTIFY_WECOM, NOTIFY_FMT_MARKDOWN, 1024);
	struct notify_text t;
	size_t used = 0;
	assert_int_equal(notify_render_digest(&rc, ptrs, N, &used, &t), 0);
	assert_true(used >= 2 && used < N);
	assert_true(strlen(t.body) <= 1024);
	assert_true(notify_utf8_valid(t.body, strlen(t.body)));
	char more[64];
	snprintf(more, sizeof more, "另有%d条稍后发送", (int)(N - used));
	assert_non_null(strstr(t.body, more));
	assert_true(strstr(t.body, "烟感报警") < strstr(t.body, "电量低"));
	assert_non_null(strstr(t.title, "共60条"));
	notify_text_free(&t);
	/* A big enough limit takes them all. */
	rc.limit = 65536;
	assert_int_equal(notify_render_digest(&rc, ptrs, N, &used, &t), 0);
	assert_int_equal(used, N);
	assert_null(strstr(t.body, "另有"));
	notify_text_free(&t);
	free(ptrs);
	free(items);
}

static cJSON *body_of(const struct notify_request *r)
{
	const char *end;
	cJSON *j = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
	assert_non_null(j);
	return j;
}

static void test_request_bodies_per_channel(void **state)
{
	(void)state;
	struct notify_text t = { .title = "【紧急】烟感报警" };
	t.body = strdup("body text");
	char *mention[] = { "13800000000" };
	struct notify_channel_config ch = { .name = "w", .type = NOTIFY_WECOM, .url = "http://127.0.0.1:1/cgi-bin/webhook/send?key=K" };
	struct notify_request r;
	assert_int_equal(notify_build_request(&ch, &t, NULL, 1700000000000LL, &r), 0);
	cJSON *j = body_of(&r);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msgtype")->valuestring, "markdown");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "markdown"), "content")->valuestring, "body text");
	assert_string_equal(r.url, ch.url);
	cJSON_Delete(j);
	notify_request_free(&r);
	/* With mentions WeCom sends text (markdown cannot @). */
	ch.mention = mention;
	ch.n_mention = 1;
	assert_int_equal(notify_build_request(&ch, &t, NULL, 1700000000000LL, &r), 0);
	j = body_of(&r);
	cJSON *txt = cJSON_GetObjectItemCaseSensitive(j, "text");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(txt, "mentioned_mobile_list"), 0)->valuestring, "13800000000");
	cJSON_Delete(j);
	notify_request_free(&r);
	/* DingTalk: timestamp and sign in the URL. */
	struct notify_channel_config d = { .name = "d", .type = NOTIFY_DINGTALK, .secret = "SEC0123456789abcdef",
					   .url = "http://127.0.0.1:1/robot/send?access_token=T" };
	assert_int_equal(notify_build_request(&d, &t, NULL, 1700000000000LL, &r), 0);
	assert_string_equal(r.url, "http://127.0.0.1:1/robot/send?access_token=T&timestamp=1700000000000"
				   "&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D");
	j = body_of(&r);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "markdown"), "title")->valuestring, t.title);
	cJSON_Delete(j);
	notify_request_free(&r);
	/* Feishu: timestamp (a string of seconds) and sign in the body. */
	struct notify_channel_config f = { .name = "f", .type = NOTIFY_FEISHU, .secret = "SEC0123456789abcdef",
					   .url = "http://127.0.0.1:1/open-apis/bot/v2/hook/H" };
	assert_int_equal(notify_build_request(&f, &t, NULL, 1700000000999LL, &r), 0);
	j = body_of(&r);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "timestamp")->valuestring, "1700000000");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "sign")->valuestring, "PiO7POLlSx/DM2qf8Dy/XCWeJK3exVnevp5G99LEN2M=");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "msg_type")->valuestring, "text");
	cJSON_Delete(j);
	notify_request_free(&r);
	/* Webhook: the event exactly, signed. */
	struct notify_channel_config w = { .name = "h", .type = NOTIFY_WEBHOOK, .secret = "whsecret", .url = "http://127.0.0.1:1/hook/x" };
	assert_int_equal(notify_build_request(&w, &t, "{\"a\":1}", 0, &r), 0);
	assert_string_equal(r.body, "{\"a\":1}");
	bool found = false;
	for (int i = 0; i < r.n_headers; i++)
		found = found || strcmp(r.headers[i], "X-Gridgw-Signature: sha256=b2ede3ef30f428daf114e70cd9dd2fd3ff364a1fdc17db5f846f4f49d8a01dab") == 0;
	assert_true(found);
	notify_request_free(&r);
	/* E-mail: UTF-8 subject as an encoded word, base64 body. */
	char *to[] = { "<duty@example.org>" };
	struct notify_channel_config e = { .name = "m", .type = NOTIFY_EMAIL, .url = "smtp://127.0.0.1:1",
					   .from = "<gw@example.org>", .to = to, .n_to = 1 };
	assert_int_equal(notify_build_request(&e, &t, NULL, 1700000000000LL, &r), 0);
	assert_non_null(strstr(r.body, "Subject: =?UTF-8?B?"));
	assert_non_null(strstr(r.body, "Content-Type: text/plain; charset=UTF-8\r\n"));
	assert_non_null(strstr(r.body, "\r\n\r\nYm9keSB0ZXh0\r\n"));
	notify_request_free(&r);
	free(t.body);
}

static void test_classify_answers(void **state)
{
	(void)state;
	char err[256];
	const char *ok = "{\"errcode\":0,\"errmsg\":\"ok\"}";
	assert_int_equal(notify_classify(NOTIFY_WECOM, NULL, 200, ok, strlen(ok), err, sizeof err), NOTIFY_OK);
	const char *rl = "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}";
	assert_int_equal(notify_classify(NOTIFY_WECOM, NULL, 200, rl, strlen(rl), err, sizeof err), NOTIFY_RATE_LIMITED);
	const char *key = "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}";
	assert_int_equal(notify_classify(NOTIFY_WECOM, NULL, 200, key, strlen(key), err, sizeof err), NOTIFY_PERMANENT);
	assert_non_null(strstr(err, "93000"));
	const char *sig = "{\"errcode\":310000,\"errmsg\":\"sign not match\"}";
	assert_int_equal(notify_classify(NOTIFY_DINGTALK, NULL, 200, sig, strlen(sig), err, sizeof err), NOTIFY_PERMANENT);
	const char *fast = "{\"errcode\":130101,\"errmsg\":\"send too fast\"}";
	assert_int_equal(notify_classify(NOTIFY_DINGTALK, NULL, 200, fast, strlen(fast), err, sizeof err), NOTIFY_RATE_LIMITED);
	const char *fs = "{\"code\":19021,\"msg\":\"sign match fail\"}";
	assert_int_equal(notify_classify(NOTIFY_FEISHU, NULL, 200, fs, strlen(fs), err, sizeof err), NOTIFY_PERMANENT);
	const char *ff = "{\"code\":11232,\"msg\":\"frequency limited\"}";
	assert_int_equal(notify_classify(NOTIFY_FEISHU, NULL, 200, ff, strlen(ff), err, sizeof err), NOTIFY_RATE_LIMITED);
	const char *fok = "{\"code\":0,\"msg\":\"success\"}";
	assert_int_equal(notify_classify(NOTIFY_FEISHU, NULL, 200, fok, strlen(fok), err, sizeof err), NOTIFY_OK);
	assert_int_equal(notify_classify(NOTIFY_WECOM, "Connection refused", 0, NULL, 0, err, sizeof err), NOTIFY_RETRY);
	assert_int_equal(notify_classify(NOTIFY_WECOM, NULL, 500, "x", 1, err, sizeof err), NOTIFY_RETRY);
	assert_int_equal(notify_classify(NOTIFY_WECOM, NULL, 200, "<html>", 6, err, sizeof err), NOTIFY_RETRY);
	assert_int_equal(notify_classify(NOTIFY_WEBHOOK, NULL, 204, NULL, 0, err, sizeof err), NOTIFY_OK);
	assert_int_equal(notify_classify(NOTIFY_WEBHOOK, NULL, 401, NULL, 0, err, sizeof err), NOTIFY_PERMANENT);
	assert_int_equal(notify_classify(NOTIFY_WEBHOOK, NULL, 429, NULL, 0, err, sizeof err), NOTIFY_RATE_LIMITED);
	assert_int_equal(notify_classify(NOTIFY_EMAIL, NULL, 250, NULL, 0, err, sizeof err), NOTIFY_OK);
	assert_int_equal(notify_classify(NOTIFY_EMAIL, "Login denied", 535, NULL, 0, err, sizeof err), NOTIFY_PERMANENT);
	assert_int_equal(notify_classify(NOTIFY_EMAIL, "Couldn't connect", 0, NULL, 0, err, sizeof err), NOTIFY_RETRY);
}

static void test_pace_never_exceeds_rate_in_any_window(void **state)
{
	(void)state;
	struct notify_pace p;
	assert_int_equal(notify_pace_init(&p, 20, 60000), 0);
	int64_t sends[200];
	int n = 0;
	for (int64_t t = 0; t < 300000 && n < 200;) {
		int64_t next = notify_pace_next(&p, t);
		assert_true(next >= t);
		notify_pace_sent(&p, next);
		sends[n++] = next;
		t = next;
	}
	for (int i = 0; i + 20 < n; i++)
		assert_true(sends[i + 20] - sends[i] >= 60000);
	/* The first half of the budget goes at once, the rest is spread. */
	assert_int_equal(sends[9], 0);
	assert_int_equal(sends[10], 3000);
	notify_pace_free(&p);
}

static void test_pace_backoff_and_throttle(void **state)
{
	(void)state;
	struct notify_pace p;
	assert_int_equal(notify_pace_init(&p, 20, 60000), 0);
	notify_pace_result(&p, NOTIFY_RETRY, 0, 1000);
	assert_int_equal(notify_pace_next(&p, 1000), 2000);
	notify_pace_result(&p, NOTIFY_RETRY, 0, 2000);
	assert_int_equal(notify_pace_next(&p, 2000), 4000);
	for (int i = 0; i < 10; i++)
		notify_pace_result(&p, NOTIFY_RETRY, 0, 5000);
	assert_int_equal(notify_pace_next(&p, 5000), 5000 + NOTIFY_BACKOFF_MAX_MS);
	notify_pace_result(&p, NOTIFY_OK, 0, 20000);
	notify_pace_result(&p, NOTIFY_RETRY, 0, 20000);
	assert_int_equal(notify_pace_next(&p, 20000), 21000);
	notify_pace_result(&p, NOTIFY_RATE_LIMITED, 600000, 30000);
	assert_int_equal(notify_pace_next(&p, 30000), 630000);
	notify_pace_free(&p);
	assert_int_not_equal(notify_pace_init(&p, 0, 60000), 0);
	notify_pace_free(&p); /* a failed init leaves nothing to free: harmless */
}

static void test_glob_and_route_match(void **state)
{
	(void)state;
	assert_true(notify_glob_match("device.*", "device.battery_low"));
	assert_false(notify_glob_match("device.*", "fire.smoke"));
	assert_true(notify_glob_match("*", "x"));
	assert_true(notify_glob_match("fire.?moke", "fire.smoke"));
	assert_true(notify_glob_match("*.gas", "manhole.gas"));
	assert_false(notify_glob_match("fire", "fire.smoke"));
	assert_true(notify_glob_valid("device.*"));
	assert_false(notify_glob_valid("device.[ab]"));
	assert_false(notify_glob_valid(""));
	int sev[] = { 1, 2 };
	char *bld[] = { "5" };
	struct notify_route_config r = { .severity = sev, .n_severity = 2, .building = bld, .n_building = 1,
					 .events = NOTIFY_EV_RAISED };
	assert_true(notify_route_matches(&r, "fire.smoke", 1, "5", NOTIFY_EV_RAISED));
	assert_false(notify_route_matches(&r, "fire.smoke", 3, "5", NOTIFY_EV_RAISED));
	assert_false(notify_route_matches(&r, "fire.smoke", 1, "6", NOTIFY_EV_RAISED));
	assert_false(notify_route_matches(&r, "fire.smoke", 1, NULL, NOTIFY_EV_RAISED));
	assert_false(notify_route_matches(&r, "fire.smoke", 1, "5", NOTIFY_EV_CLEARED));
}

static void test_hours_in_local_time(void **state)
{
	(void)state;
	int a, b;
	assert_int_equal(notify_hours_parse("08:00-21:00", &a, &b), 0);
	assert_int_equal(a, 480);
	assert_int_equal(b, 1260);
	assert_int_equal(notify_hours_parse("22:00-06:30", &a, &b), 0);
	assert_int_equal(notify_hours_parse("8:00-21:00", &a, &b), -1);
	assert_int_equal(notify_hours_parse("08:00-25:00", &a, &b), -1);
	assert_int_equal(notify_hours_parse("08:00-08:00", &a, &b), -1);
	assert_int_equal(notify_hours_parse("08:00-21:00x", &a, &b), -1);
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	struct notify_route_config r = { .has_hours = true, .hours_from_min = 480, .hours_to_min = 1260 };
	int64_t three_am = 1764615600000LL; /* 2025-12-01T19:00:00Z = 03:00 in Shanghai */
	int64_t opens = 0;
	assert_false(notify_hours_open(&r, three_am, &opens));
	assert_int_equal(opens, three_am + 5 * 3600000LL);
	assert_true(notify_hours_open(&r, three_am + 6 * 3600000LL, NULL));
	/* The same instant is 19:00 in UTC: open there. */
	setenv("TZ", "UTC", 1);
	tzset();
	assert_true(notify_hours_open(&r, three_am, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dingtalk_sign_matches_reference),
		cmocka_unit_test(test_feishu_sign_is_keyed_by_timestamp_and_secret),
		cmocka_unit_test(test_webhook_signature_is_hex_hmac_of_body),
		cmocka_unit_test(test_base64_and_urlencode),
		cmocka_unit_test(test_utf8_cut_never_splits_a_character),
		cmocka_unit_test(test_default_template_zh_has_labels_location_and_local_time),
		cmocka_unit_test(test_english_labels_and_escalation_title),
		cmocka_unit_test(test_route_template_override_and_check),
		cmocka_unit_test(test_message_fits_the_limit_as_valid_utf8),
		cmocka_unit_test(test_digest_most_severe_first_and_and_more),
		cmocka_unit_test(test_request_bodies_per_channel),
		cmocka_unit_test(test_classify_answers),
		cmocka_unit_test(test_pace_never_exceeds_rate_in_any_window),
		cmocka_unit_test(test_pace_backoff_and_throttle),
		cmocka_unit_test(test_glob_and_route_match),
		cmocka_unit_test(test_hours_in_local_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
