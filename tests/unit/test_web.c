/* Unit tests for the parts of gateway/web/ that need no daemon: routing,
 * sessions and CSRF tokens, the login throttle, crypt(3) passwords and HTTP
 * Basic, the Prometheus text writer, the SSE ring and the embedded assets.
 * The HTTP server itself is tested over real HTTP by
 * tests/integration/test_console_api*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/web/web.h"
#include "gateway/web/web_priv.h"

/* ----------------------------------------------------------------- routes */

static void test_routes_match_every_api_path(void **state)
{
	(void)state;
	static const struct {
		const char *method, *path;
		enum web_route_id id;
		const char *param;
		bool post;
		enum web_role role;
	} cases[] = {
		{ "GET", "/", WEB_R_INDEX, "", false, WEB_ROLE_NONE },
		{ "GET", "/index.html", WEB_R_INDEX, "", false, WEB_ROLE_NONE },
		{ "GET", "/assets/app.js", WEB_R_ASSET, "app.js", false, WEB_ROLE_NONE },
		{ "GET", "/assets/img/logo.svg", WEB_R_ASSET, "img/logo.svg", false, WEB_ROLE_NONE },
		{ "GET", "/metrics", WEB_R_METRICS, "", false, WEB_ROLE_NONE },
		{ "POST", "/api/v1/login", WEB_R_LOGIN, "", true, WEB_ROLE_NONE },
		{ "POST", "/api/v1/logout", WEB_R_LOGOUT, "", true, WEB_ROLE_NONE },
		{ "GET", "/api/v1/session", WEB_R_SESSION, "", false, WEB_ROLE_VIEWER },
		{ "GET", "/api/v1/status", WEB_R_STATUS, "", false, WEB_ROLE_VIEWER },
		{ "GET", "/api/v1/devices", WEB_R_DEVICES, "", false, WEB_ROLE_VIEWER },
		{ "GET", "/api/v1/devices/smoke-a", WEB_R_DEVICE, "smoke-a", false, WEB_ROLE_VIEWER },
		{ "HEAD", "/api/v1/devices/smoke-a", WEB_R_DEVICE, "smoke-a", false, WEB_ROLE_VIEWER },
		{ "GET", "/api/v1/devices/smoke-a/history", WEB_R_DEVICE_HISTORY, "smoke-a", false, WEB_ROLE_VIEWER },
		{ "GET", "/api/v1/devices/smoke-a/read", WEB_R_DEVICE_READ, "smoke-a", false, WEB_ROLE_INSTALLER },
		{ "POST", "/api/v1/devices/s1/shelve", WEB_R_DEVICE_SHELVE, "s1", true, WEB_ROLE_OPERATOR },
		{ "POST", "/api/v1/devices/s1/unshelve", WEB_R_DEVICE_UNSHELVE, "s1", true, WEB_ROLE_OPERATOR },
		{ "GET", "/api/v1/incidents", WEB_R_INCIDENTS, "", false, WEB_ROLE_VIEWER },
		{ "GET", "/api/v1/incidents/01J0ABC", WEB_R_INCIDENT, "01J0ABC", false, WEB_ROLE_VIEWER },
		{ "POST", "/api/v1/incidents/01J0ABC/ack", WEB_R_INCIDENT_ACK, "01J0ABC", true, WEB_ROLE_OPERATOR },
		{ "POST", "/api/v1/notify/test", WEB_R_NOTIFY_TEST, "", true, WEB_ROLE_INSTALLER },
		{ "GET", "/api/v1/stream", WEB_R_STREAM, "", false, WEB_ROLE_VIEWER },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct web_route r;
		int rc = web_route_match(cases[i].method, cases[i].path, &r);
		if (rc != 0)
			fail_msg("%s %s: status %d", cases[i].method, cases[i].path, rc);
		assert_int_equal(r.id, cases[i].id);
		assert_string_equal(r.param, cases[i].param);
		assert_int_equal(r.post, cases[i].post);
		if (!r.public_route)
			assert_int_equal(r.min_role, cases[i].role);
		assert_int_equal(r.api, strncmp(cases[i].path, "/api/", 5) == 0);
	}
}

static void test_routes_refuse_with_the_right_status(void **state)
{
	(void)state;
	struct web_route r;
	assert_int_equal(web_route_match("GET", "/nope", &r), 404);
	assert_int_equal(web_route_match("GET", "/api/v2/status", &r), 404);
	assert_true(r.api);
	assert_int_equal(web_route_match("GET", "/api/v1/statusx", &r), 404);
	assert_int_equal(web_route_match("GET", "/api/v1/devices/a/b", &r), 404);
	assert_int_equal(web_route_match("GET", "/api/v1/devices/", &r), 400);
	assert_int_equal(web_route_match("GET", "/api/v1/devices/a\"b", &r), 400);
	assert_int_equal(web_route_match("GET", "/api/v1/devices/<script>", &r), 0); /* printable: the core says 404 */
	char longid[100];
	memset(longid, 'x', sizeof longid);
	longid[99] = '\0';
	char path[160];
	snprintf(path, sizeof path, "/api/v1/devices/%s", longid);
	assert_int_equal(web_route_match("GET", path, &r), 400);

	assert_int_equal(web_route_match("GET", "/api/v1/login", &r), 405);
	assert_string_equal(r.allow, "POST");
	assert_int_equal(web_route_match("DELETE", "/api/v1/incidents/x", &r), 405);
	assert_string_equal(r.allow, "GET");
	assert_int_equal(web_route_match("GET", "/api/v1/incidents/x/ack", &r), 405);
	assert_int_equal(web_route_match("POST", "/metrics", &r), 405);
	assert_int_equal(web_route_match("POST", "/", &r), 405);

	assert_int_equal(web_route_match("GET", "/assets/../web.h", &r), 404);
	assert_int_equal(web_route_match("GET", "/assets/a//b.js", &r), 404);
	assert_int_equal(web_route_match("GET", "/assets/", &r), 404);
	assert_int_equal(web_route_match("GET", "/assets/a b.js", &r), 404);
	assert_int_equal(web_route_match(NULL, "/", &r), 400);
}

static void test_roles(void **state)
{
	(void)state;
	assert_int_equal(web_role_parse("viewer"), WEB_ROLE_VIEWER);
	assert_int_equal(web_role_parse("operator"), WEB_ROLE_OPERATOR);
	assert_int_equal(web_role_parse("installer"), WEB_ROLE_INSTALLER);
	assert_int_equal(web_role_parse("admin"), WEB_ROLE_NONE);
	assert_int_equal(web_role_parse(NULL), WEB_ROLE_NONE);
	assert_string_equal(web_role_name(WEB_ROLE_OPERATOR), "operator");
	assert_true(WEB_ROLE_VIEWER < WEB_ROLE_OPERATOR && WEB_ROLE_OPERATOR < WEB_ROLE_INSTALLER);
}

/* --------------------------------------------------------------- sessions */

static void test_random_ids_are_128_bit_hex_and_differ(void **state)
{
	(void)state;
	char a[WEB_ID_HEX + 1], b[WEB_ID_HEX + 1];
	assert_int_equal(web_random_hex128(a), 0);
	assert_int_equal(web_random_hex128(b), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	assert_true(web_secret_equal(a, a));
	assert_false(web_secret_equal(a, b));
	assert_false(web_secret_equal("abc", "abcd"));
	assert_false(web_secret_equal("abcd", "abc"));
	assert_false(web_secret_equal(NULL, "x"));
}

static void test_sessions_lifecycle(void **state)
{
	(void)state;
	struct web_sessions *s = web_sessions_create(4, 1000);
	assert_non_null(s);
	char id[WEB_ID_HEX + 1];
	struct web_session_info info, got;
	assert_int_equal(web_session_new(s, "wuye", WEB_ROLE_OPERATOR, 0, id, &info), 0);
	assert_string_equal(info.user, "wuye");
	assert_int_equal(strlen(info.csrf), 32);
	assert_string_not_equal(info.csrf, id);

	assert_int_equal(web_session_get(s, id, 500, &got), 0);
	assert_string_equal(got.user, "wuye");
	assert_int_equal(got.role, WEB_ROLE_OPERATOR);
	assert_string_equal(got.csrf, info.csrf);
	/* Use refreshes the idle timer: 500 + 999 is still alive. */
	assert_int_equal(web_session_get(s, id, 1499, &got), 0);
	/* Idle for the whole timeout: gone, and stays gone. */
	assert_int_equal(web_session_get(s, id, 2499, &got), -ENOENT);
	assert_int_equal(web_session_get(s, id, 2500, &got), -ENOENT);

	assert_int_equal(web_session_new(s, "screen", WEB_ROLE_VIEWER, 3000, id, &info), 0);
	assert_int_equal(web_session_end(s, id), 0);
	assert_int_equal(web_session_get(s, id, 3001, &got), -ENOENT);
	assert_int_equal(web_session_end(s, id), -ENOENT);

	assert_int_equal(web_session_get(s, "", 0, &got), -ENOENT);
	assert_int_equal(web_session_get(s, "ABCDEF0123456789ABCDEF0123456789", 0, &got), -ENOENT);
	assert_int_equal(web_session_get(s, NULL, 0, &got), -ENOENT);
	web_sessions_destroy(s);
}

static void test_sessions_full_table_ends_the_least_recently_used(void **state)
{
	(void)state;
	struct web_sessions *s = web_sessions_create(3, 1000000);
	char ids[4][WEB_ID_HEX + 1];
	for (int i = 0; i < 3; i++)
		assert_int_equal(web_session_new(s, "u", WEB_ROLE_VIEWER, i, ids[i], NULL), 0);
	assert_int_equal(web_session_get(s, ids[0], 10, NULL), 0); /* 1 is now the oldest */
	assert_int_equal(web_session_new(s, "v", WEB_ROLE_VIEWER, 11, ids[3], NULL), 0);
	assert_int_equal(web_session_get(s, ids[1], 12, NULL), -ENOENT);
	assert_int_equal(web_session_get(s, ids[0], 12, NULL), 0);
	assert_int_equal(web_session_get(s, ids[2], 12, NULL), 0);
	assert_int_equal(web_session_get(s, ids[3], 12, NULL), 0);
	assert_int_equal(web_sessions_count(s, 12), 3);
	web_sessions_end_user(s, "u");
	assert_int_equal(web_sessions_count(s, 12), 1);
	web_sessions_destroy(s);
}

/* --------------------------------------------------------------- throttle */

static void test_throttle_five_failures_a_minute(void **state)
{
	(void)state;
	struct web_throttle *t = web_throttle_create(4, 5, 60000);
	assert_non_null(t);
	int wait = 0;
	for (int i = 0; i < 4; i++) {
		assert_false(web_throttle_blocked(t, "10.0.0.5", i * 1000, &wait));
		assert_int_equal(web_throttle_fail(t, "10.0.0.5", i * 1000), i + 1);
	}
	assert_false(web_throttle_blocked(t, "10.0.0.5", 4000, &wait));
	assert_int_equal(web_throttle_fail(t, "10.0.0.5", 4000), 5);
	assert_true(web_throttle_blocked(t, "10.0.0.5", 4000, &wait));
	assert_int_equal(wait, 56);  /* the first failure leaves at 60 s */
	/* Another address is not affected. */
	assert_false(web_throttle_blocked(t, "10.0.0.6", 4000, &wait));
	/* Still blocked just before the first failure leaves, free after. */
	assert_true(web_throttle_blocked(t, "10.0.0.5", 59999, &wait));
	assert_false(web_throttle_blocked(t, "10.0.0.5", 60000, &wait));
	/* Many addresses: the table stays bounded, the newest are kept. */
	char a[32];
	for (int i = 0; i < 20; i++) {
		snprintf(a, sizeof a, "10.1.0.%d", i);
		for (int k = 0; k < 5; k++)
			web_throttle_fail(t, a, 70000 + i);
	}
	assert_true(web_throttle_blocked(t, "10.1.0.19", 70100, &wait));
	assert_false(web_throttle_blocked(t, "10.1.0.0", 70100, &wait));
	web_throttle_destroy(t);
	assert_null(web_throttle_create(4, 0, 1000));
}

/* -------------------------------------------------------------- passwords */

static void test_password_hash_and_verify(void **state)
{
	(void)state;
	char h[256];
	assert_int_equal(web_password_hash("correct horse", h, sizeof h), 0);
	assert_memory_equal(h, "$y$", 3);
	assert_true(web_hash_usable(h));
	assert_int_equal(web_password_verify("correct horse", h), 0);
	assert_int_equal(web_password_verify("correct hors", h), -EACCES);
	assert_int_equal(web_password_verify("", h), -EACCES);
	char h2[256];
	assert_int_equal(web_password_hash("correct horse", h2, sizeof h2), 0);
	assert_string_not_equal(h, h2); /* salted */
	char small[10];
	assert_int_equal(web_password_hash("x", small, sizeof small), -ENOSPC);

	/* SHA-512 crypt is fine too (generated with `openssl passwd -6 -salt abcdefgh secret`). */
	const char *sha = "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.";
	assert_true(web_hash_usable(sha));
	assert_int_equal(web_password_verify("secret", sha), 0);
	assert_int_equal(web_password_verify("Secret", sha), -EACCES);

	assert_false(web_hash_usable("plaintext"));
	assert_false(web_hash_usable("*"));
	assert_false(web_hash_usable("!"));
	assert_false(web_hash_usable(""));
	assert_false(web_hash_usable(NULL));
	assert_false(web_hash_usable("$y$j9T$abc"));          /* a setting, not a hash */
	assert_false(web_hash_usable("$zz$abc$def"));         /* unknown method */
	char cut[256];
	snprintf(cut, sizeof cut, "%.*s", (int)strlen(h) - 3, h);
	assert_false(web_hash_usable(cut));                   /* truncated */
	assert_int_equal(web_password_verify("x", "plaintext"), -EINVAL);
}

static void test_basic_decode(void **state)
{
	(void)state;
	char u[64], p[128];
	/* "wuye:pa:ss" */
	assert_int_equal(web_basic_decode("Basic d3V5ZTpwYTpzcw==", u, sizeof u, p, sizeof p), 0);
	assert_string_equal(u, "wuye");
	assert_string_equal(p, "pa:ss");
	assert_int_equal(web_basic_decode("basic  d3V5ZTpwYTpzcw== ", u, sizeof u, p, sizeof p), 0);
	/* "a:" empty password */
	assert_int_equal(web_basic_decode("Basic YTo=", u, sizeof u, p, sizeof p), 0);
	assert_string_equal(p, "");
	assert_int_equal(web_basic_decode("Bearer abc", u, sizeof u, p, sizeof p), -EINVAL);
	assert_int_equal(web_basic_decode("Basic !!!!", u, sizeof u, p, sizeof p), -EINVAL);
	assert_int_equal(web_basic_decode("Basic YWJj", u, sizeof u, p, sizeof p), -EINVAL);   /* "abc": no colon */
	assert_int_equal(web_basic_decode("Basic OmFiYw==", u, sizeof u, p, sizeof p), -EINVAL); /* ":abc": no user */
	assert_int_equal(web_basic_decode("Basic YQ=a", u, sizeof u, p, sizeof p), -EINVAL);
	assert_int_equal(web_basic_decode("Basic YTpiAGM=", u, sizeof u, p, sizeof p), -EINVAL); /* NUL inside */
	assert_int_equal(web_basic_decode("Basic YTpiCmM=", u, sizeof u, p, sizeof p), -EINVAL); /* newline inside */
	char small[3];
	assert_int_equal(web_basic_decode("Basic d3V5ZTpwYTpzcw==", small, sizeof small, p, sizeof p), -E2BIG);
}

/* ---------------------------------------------------------------- metrics */

static void test_label_values_are_escaped(void **state)
{
	(void)state;
	struct web_text t = { 0 };
	const char *labels[] = { "bus", "a\"b\\c\nd", "x", "<y>", NULL };
	web_metric_sample(&t, "m_total", labels, 3);
	assert_string_equal(t.s, "m_total{bus=\"a\\\"b\\\\c\\nd\",x=\"<y>\"} 3\n");
	web_text_free(&t);
	web_metric_family(&t, "m", "gauge", "line1\nback\\slash");
	assert_string_equal(t.s, "# HELP m line1\\nback\\\\slash\n# TYPE m gauge\n");
	web_text_free(&t);
	web_metric_sample(&t, "f", NULL, 0.25);
	web_metric_sample(&t, "g", NULL, 1e20);
	assert_string_equal(t.s, "f 0.25\ng 1e+20\n");
	web_text_free(&t);
}

static void test_metrics_render_from_status(void **state)
{
	(void)state;
	const char *status_json =
		"{\"ok\":true,\"uplink\":\"up\",\"devices\":{\"online\":3,\"offline\":1,\"shelved\":1},"
		"\"open_by_severity\":{\"1\":2,\"3\":1},\"backlog\":7,\"store_bytes\":40960,"
		"\"buses\":[{\"name\":\"lan\\\"x\",\"requests\":100,\"errors\":2,\"polls\":50,"
		"\"late_p50_us\":150,\"late_p99_us\":900,\"late_max_us\":2000}],"
		"\"sources\":[{\"name\":\"nb\",\"received\":12}]}";
	cJSON *st = cJSON_Parse(status_json);
	assert_non_null(st);
	struct web_process_stats ps;
	assert_int_equal(web_process_stats(&ps), 0);
	assert_true(ps.cpu_seconds >= 0);
	assert_true(ps.resident_bytes > 0);
	assert_true(ps.start_time_seconds > 1.6e9);
	char *m = web_metrics_render(st, &ps);
	assert_non_null(m);
	const char *want[] = {
		"gridgw_up 1\n",
		"gridgw_devices{state=\"online\"} 3\n",
		"gridgw_devices{state=\"offline\"} 1\n",
		"gridgw_devices{state=\"shelved\"} 1\n",
		"gridgw_incidents_open{severity=\"1\"} 2\n",
		"gridgw_incidents_open{severity=\"2\"} 0\n",
		"gridgw_incidents_open{severity=\"3\"} 1\n",
		"gridgw_incidents_open{severity=\"4\"} 0\n",
		"gridgw_events_undelivered 7\n",
		"gridgw_uplink_connected 1\n",
		"gridgw_bus_requests_total{bus=\"lan\\\"x\"} 100\n",
		"gridgw_bus_errors_total{bus=\"lan\\\"x\"} 2\n",
		"gridgw_bus_poll_lateness_seconds{bus=\"lan\\\"x\",quantile=\"0.99\"} 0.00089999999999999998\n",
		"gridgw_mqtt_source_messages_total{source=\"nb\"} 12\n",
		"gridgw_store_bytes 40960\n",
		"# TYPE process_cpu_seconds_total counter\n",
		"process_resident_memory_bytes ",
		"process_start_time_seconds ",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (strstr(m, want[i]) == NULL)
			fail_msg("missing %s in:\n%s", want[i], m);
	/* No notify figures in the status: no notify families (not zeros). */
	assert_null(strstr(m, "gridgw_notify_sent_total"));
	free(m);
	cJSON_Delete(st);
}

/* ------------------------------------------------------------------- ring */

static void test_ring_reads_in_order_and_drops_the_slow(void **state)
{
	(void)state;
	struct web_ring *r = web_ring_create(4);
	assert_non_null(r);
	uint64_t pos = web_ring_next(r);
	size_t part = 0;
	char buf[256];
	assert_int_equal(web_ring_read(r, &pos, &part, buf, sizeof buf, 0), WEB_RING_TIMEOUT);
	assert_int_equal(web_ring_push(r, "incident", "{\"a\":1}"), 0);
	assert_int_equal(web_ring_push(r, "device", "{\"id\":\"x\",\n\"online\":true}"), 0);
	long n = web_ring_read(r, &pos, &part, buf, sizeof buf, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "event: incident\ndata: {\"a\":1}\n\nevent: device\ndata: {\"id\":\"x\", \"online\":true}\n\n");
	assert_int_equal(pos, 2);

	/* A small buffer gets whole records first, then pieces of a long one. */
	assert_int_equal(web_ring_push(r, "incident", "{\"b\":2}"), 0);
	char tiny[10];
	size_t got = 0;
	char acc[64] = "";
	while ((n = web_ring_read(r, &pos, &part, tiny, sizeof tiny, 0)) > 0) {
		memcpy(acc + got, tiny, (size_t)n);
		got += (size_t)n;
	}
	acc[got] = '\0';
	assert_string_equal(acc, "event: incident\ndata: {\"b\":2}\n\n");

	/* Five more records into a ring of four: this reader is behind. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(web_ring_push(r, "incident", "{}"), 0);
	assert_int_equal(web_ring_read(r, &pos, &part, buf, sizeof buf, 0), WEB_RING_DROPPED);
	/* A new reader starts at the newest. */
	pos = web_ring_next(r);
	part = 0;
	assert_int_equal(web_ring_read(r, &pos, &part, buf, sizeof buf, 10), WEB_RING_TIMEOUT);
	web_ring_close(r);
	assert_int_equal(web_ring_read(r, &pos, &part, buf, sizeof buf, 1000), WEB_RING_CLOSED);
	web_ring_destroy(r);
}

struct ring_waiter {
	struct web_ring *r;
	uint64_t pos;
	long got;
};

static void *ring_wait(void *arg)
{
	struct ring_waiter *w = arg;
	size_t part = 0;
	char buf[128];
	w->got = web_ring_read(w->r, &w->pos, &part, buf, sizeof buf, 10000);
	return NULL;
}

static void test_ring_wakes_a_waiting_reader(void **state)
{
	(void)state;
	struct web_ring *r = web_ring_create(8);
	struct ring_waiter w = { r, web_ring_next(r), 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, ring_wait, &w), 0);
	assert_int_equal(web_ring_push(r, "device", "{\"id\":\"a\",\"online\":false}"), 0);
	pthread_join(th, NULL);
	assert_true(w.got > 0);
	/* Close wakes a waiter too. */
	w.pos = web_ring_next(r);
	assert_int_equal(pthread_create(&th, NULL, ring_wait, &w), 0);
	web_ring_close(r);
	pthread_join(th, NULL);
	assert_int_equal(w.got, WEB_RING_CLOSED);
	web_ring_destroy(r);
}

/* ----------------------------------------------------------------- assets */

static void test_assets(void **state)
{
	(void)state;
	assert_string_equal(web_content_type("index.html"), "text/html; charset=utf-8");
	assert_string_equal(web_content_type("a/b.js"), "text/javascript; charset=utf-8");
	assert_string_equal(web_content_type("x.css"), "text/css; charset=utf-8");
	assert_string_equal(web_content_type("x.svg"), "image/svg+xml");
	assert_string_equal(web_content_type("alarm.wav"), "audio/wav");
	assert_string_equal(web_content_type("noext"), "application/octet-stream");
	assert_string_equal(web_content_type("a.js/b"), "application/octet-stream");
	/* index.html is always there (the UI's, or the placeholder). */
	const struct web_asset *a = web_asset_find("index.html");
	assert_non_null(a);
	assert_true(a->len > 0);
	assert_non_null(memmem(a->data, a->len, "<html", 5));
	assert_int_equal(a->data[a->len], 0);
	char etag[24], etag2[24];
	web_asset_etag(a, etag);
	web_asset_etag(a, etag2);
	assert_string_equal(etag, etag2);
	assert_int_equal(strlen(etag), 18);
	assert_null(web_asset_find("missing.js"));
	assert_true(web_assets_count >= 1);
	for (size_t i = 0; i < web_assets_count; i++)
		assert_non_null(web_assets[i].path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_match_every_api_path),
		cmocka_unit_test(test_routes_refuse_with_the_right_status),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_random_ids_are_128_bit_hex_and_differ),
		cmocka_unit_test(test_sessions_lifecycle),
		cmocka_unit_test(test_sessions_full_table_ends_the_least_recently_used),
		cmocka_unit_test(test_throttle_five_failures_a_minute),
		cmocka_unit_test(test_password_hash_and_verify),
		cmocka_unit_test(test_basic_decode),
		cmocka_unit_test(test_label_values_are_escaped),
		cmocka_unit_test(test_metrics_render_from_status),
		cmocka_unit_test(test_ring_reads_in_order_and_drops_the_slow),
		cmocka_unit_test(test_ring_wakes_a_waiting_reader),
		cmocka_unit_test(test_assets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
