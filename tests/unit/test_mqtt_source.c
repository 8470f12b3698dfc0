/* Unit tests for mqtt_source that need no broker: argument checks, the
 * disconnected state, publish while down, start/stop while the broker is
 * unreachable (retrying in the background), and the proxy environment.
 * Broker behaviour is in tests/integration/test_mqtt_source*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "sensors/mqtt_source.h"

/* A loopback port nobody listens on: bound by the kernel, then released. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

struct fixture {
	char url[64];
	struct mqtt_source_config sc;
	struct gw_config cfg;
	struct queue *q;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof f);
	log_set_level(LOG_LVL_ERROR);
	snprintf(f.url, sizeof f.url, "tcp://127.0.0.1:%d", closed_port());
	f.sc = (struct mqtt_source_config){ .name = "bridge", .url = f.url, .topic = "sensors/+/up",
					    .device_from = DEVICE_FROM_TOPIC, .topic_level = 2 };
	f.cfg.gateway.id = "unit-gw";
	f.cfg.sources = &f.sc;
	f.cfg.n_sources = 1;
	f.q = queue_create(16, 8);
	*state = &f;
	return f.q ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	queue_destroy(f->q);
	return 0;
}

static void test_unreachable_broker_is_down_and_publish_fails_fast(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct mqtt_source *s = mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err);
	assert_non_null(s);
	assert_string_equal(mqtt_source_name(s), "bridge");
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	nanosleep(&ts, NULL);  /* let the first connect attempt fail */
	assert_false(mqtt_source_connected(s));
	assert_int_equal(mqtt_source_publish(s, "actions/siren", "{}", 2, 1), -ENOTCONN);
	struct mqtt_source_stats st;
	mqtt_source_get_stats(s, &st);
	assert_int_equal(st.connects, 0);
	assert_false(st.connected);
	assert_false(st.subscribed);
	assert_int_equal(queue_length(f->q), 0);
	mqtt_source_stop(s);
}

static void test_publish_rejects_bad_arguments(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct mqtt_source *s = mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(mqtt_source_publish(s, "a/+/b", "x", 1, 1), -EINVAL);
	assert_int_equal(mqtt_source_publish(s, "a/#", "x", 1, 1), -EINVAL);
	assert_int_equal(mqtt_source_publish(s, "", "x", 1, 1), -EINVAL);
	assert_int_equal(mqtt_source_publish(s, NULL, "x", 1, 1), -EINVAL);
	assert_int_equal(mqtt_source_publish(s, "a/b", "x", 1, 3), -EINVAL);
	assert_int_equal(mqtt_source_publish(s, "a/b", "x", 1, -1), -EINVAL);
	assert_int_equal(mqtt_source_publish(s, "a/b", NULL, 1, 1), -EINVAL);
	mqtt_source_stop(s);
}

static void test_bad_url_and_index_are_refused(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	f->sc.url = "foo://127.0.0.1:1";
	assert_null(mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err));
	assert_non_null(strstr(err, "bridge"));
	err[0] = '\0';
	assert_null(mqtt_source_start(&f->cfg, 1, f->q, err, sizeof err));
	assert_true(err[0] != '\0');
	assert_null(mqtt_source_start(&f->cfg, -1, f->q, err, sizeof err));
	f->sc.url = NULL;
	assert_null(mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err));
}

static void test_tls_url_starts_and_stops(void **state)
{
	struct fixture *f = *state;
	char err[256];
	char url[64];
	snprintf(url, sizeof url, "ssl://%s", f->url + strlen("tcp://"));
	f->sc.url = url;
	f->sc.client_id = "explicit-id";
	struct mqtt_source *s = mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err);
	assert_non_null(s);
	assert_false(mqtt_source_connected(s));
	mqtt_source_stop(s);
}

static void test_proxy_environment_is_removed(void **state)
{
	struct fixture *f = *state;
	char err[256];
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
	struct mqtt_source *s = mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err);
	assert_non_null(s);
	assert_null(getenv("http_proxy"));
	assert_null(getenv("HTTPS_PROXY"));
	mqtt_source_stop(s);
}

/* The source decodes with its own JSON map, built at start: a key path
 * it cannot compile refuses the start with a message (nothing half-made
 * runs); a rebind with a map it cannot build is refused and leaves the
 * source as it was. */
static void test_start_and_rebind_build_the_sources_map(void **state)
{
	struct fixture *f = *state;
	struct point_def pd = { .name = "bat", .type = PT_NUMBER, .json = "a..b", .scale = 1 };
	struct profile pr = { .name = "mc", .kind = "manhole", .is_mqtt = true, .points = &pd, .n_points = 1 };
	struct device_config dc = { .id = "mc-1", .profile = 0, .bus = -1, .source = 0 };
	f->cfg.profiles = &pr;
	f->cfg.n_profiles = 1;
	f->cfg.devices = &dc;
	f->cfg.n_devices = 1;
	char err[256] = "";
	assert_null(mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err));
	assert_non_null(strstr(err, "bad json key path"));
	assert_non_null(strstr(err, "bridge"));
	pd.json = "bat";
	struct mqtt_source *s = mqtt_source_start(&f->cfg, 0, f->q, err, sizeof err);
	assert_non_null(s);
	mqtt_source_hold(s, true);
	pd.json = "a..b";
	assert_int_equal(mqtt_source_rebind(s, &f->cfg, 0, NULL), -1);
	pd.json = "bat";
	assert_int_equal(mqtt_source_rebind(s, &f->cfg, 0, NULL), 0);
	mqtt_source_hold(s, false);
	struct mqtt_source_stats st;
	mqtt_source_get_stats(s, &st);
	assert_int_equal(st.map.messages, 0);
	assert_int_equal(st.backlog, 0);
	mqtt_source_stop_take(s, NULL, NULL, &st.map); /* adds nothing: nothing decoded */
	assert_int_equal(st.map.messages, 0);
}

static void test_stop_null_is_harmless(void **state)
{
	(void)state;
	mqtt_source_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unreachable_broker_is_down_and_publish_fails_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_rejects_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_url_and_index_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_url_starts_and_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_environment_is_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_and_rebind_build_the_sources_map, setup, teardown),
		cmocka_unit_test(test_stop_null_is_harmless),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
