/* Unit tests for gateway/control: the request parser, and the server and
 * client over a real Unix socket in a temp dir (single-threaded where the
 * kernel's socket buffers allow it, a client thread where control_call must
 * block while the server loop runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/control/control.h"
#include "common/timeutil.h"

/* ------------------------------------------------------------------ parser */

static int parse(const char *s, struct control_request *r, char *err, size_t errlen)
{
	return control_parse_request(s, strlen(s), r, err, errlen);
}

static void test_parse_accepts_every_op(void **state)
{
	(void)state;
	struct control_request r;
	char err[256];
	assert_int_equal(parse("{\"op\":\"status\"}\n", &r, err, sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_STATUS);

	assert_int_equal(parse("{\"op\":\"incidents\"}", &r, err, sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_INCIDENTS);
	assert_true(r.open_only);
	assert_int_equal(r.limit, CONTROL_LIMIT_DEFAULT);
	assert_int_equal(parse("{\"op\":\"incidents\",\"open\":false,\"limit\":5}", &r, err, sizeof err), 0);
	assert_false(r.open_only);
	assert_int_equal(r.limit, 5);

	assert_int_equal(parse("{\"op\":\"ack\",\"id\":\"01JDX8Q4ZP6W6ZCFVX3N1M2B7K\",\"by\":\"Li Wei\","
			       "\"note\":\"checked, kitchen smoke\"}", &r, err, sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_ACK);
	assert_string_equal(r.id, "01JDX8Q4ZP6W6ZCFVX3N1M2B7K");
	assert_string_equal(r.by, "Li Wei");
	assert_string_equal(r.note, "checked, kitchen smoke");
	assert_int_equal(parse("{\"op\":\"ack\",\"id\":\"X\"}", &r, err, sizeof err), 0);
	assert_string_equal(r.by, "");

	assert_int_equal(parse(" { \"device\" : \"smoke-5-2-0701\", \"op\":\"shelve\", \"for\":\"2h\" } \r\n",
			       &r, err, sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_SHELVE);
	assert_string_equal(r.device, "smoke-5-2-0701");
	assert_int_equal(r.for_ms, 7200000);

	assert_int_equal(parse("{\"op\":\"unshelve\",\"device\":\"mc-0012\"}", &r, err, sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_UNSHELVE);
	assert_string_equal(r.device, "mc-0012");

	/* `gridgw read` through the daemon's bus thread. */
	assert_int_equal(parse("{\"op\":\"live_read\",\"device\":\"smoke-5-2-0701\"}", &r, err, sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_LIVE_READ);
	assert_string_equal(r.device, "smoke-5-2-0701");

	/* The platform's incident.close, locally. */
	assert_int_equal(parse("{\"op\":\"close\",\"id\":\"01jdx8\",\"workflow\":\"false_alarm\",\"by\":\"Li\"}", &r, err,
			       sizeof err), 0);
	assert_int_equal(r.op, CONTROL_OP_CLOSE);
	assert_string_equal(r.id, "01jdx8");
	assert_string_equal(r.workflow, "false_alarm");
	assert_string_equal(r.by, "Li");
	assert_int_equal(parse("{\"op\":\"close\",\"id\":\"01JDX8\"}", &r, err, sizeof err), 0);
	assert_string_equal(r.workflow, "");
	assert_int_equal(parse("{\"op\":\"close\",\"id\":\"01JDX8\",\"workflow\":\"accepted\"}", &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "closed or false_alarm"));
	assert_int_equal(parse("{\"op\":\"close\"}", &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "missing \"id\""));
}

/* Each bad request with a fragment its error message must contain. */
static void test_parse_rejects_with_clear_errors(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "", "empty" },
		{ "{\"op\":\"status\"", "malformed JSON" },
		{ "{op:status}", "malformed JSON at byte " },
		{ "{\"op\":\"status\"} x", "trailing data" },
		{ "[\"status\"]", "JSON object" },
		{ "{}", "missing \"op\"" },
		{ "{\"op\":7}", "\"op\" must be a string" },
		{ "{\"op\":\"reboot\"}", "unknown op 'reboot'" },
		{ "{\"op\":\"Status\"}", "unknown op" },
		{ "{\"OP\":\"status\"}", "missing \"op\"" },
		{ "{\"op\":\"status\",\"extra\":1}", "unknown key \"extra\"" },
		{ "{\"op\":\"status\",\"device\":\"x\"}", "unknown key \"device\" for op status" },
		{ "{\"op\":\"shelve\",\"Device\":\"x\",\"for\":\"1h\"}", "unknown key \"Device\"" },
		{ "{\"op\":\"status\",\"op\":\"status\"}", "duplicate key \"op\"" },
		{ "{\"op\":\"incidents\",\"limit\":0}", "\"limit\" must be an integer" },
		{ "{\"op\":\"incidents\",\"limit\":1001}", "\"limit\" must be an integer" },
		{ "{\"op\":\"incidents\",\"limit\":2.5}", "\"limit\" must be an integer" },
		{ "{\"op\":\"incidents\",\"limit\":\"5\"}", "\"limit\" must be an integer" },
		{ "{\"op\":\"incidents\",\"open\":1}", "\"open\" must be true or false" },
		{ "{\"op\":\"ack\"}", "missing \"id\"" },
		{ "{\"op\":\"ack\",\"id\":\"\"}", "\"id\" must not be empty" },
		{ "{\"op\":\"ack\",\"id\":3}", "\"id\" must be a string" },
		{ "{\"op\":\"ack\",\"id\":\"a\",\"note\":\"x\\ny\"}", "control character" },
		{ "{\"op\":\"shelve\",\"device\":\"x\"}", "missing \"for\"" },
		{ "{\"op\":\"shelve\",\"device\":\"x\",\"for\":\"soon\"}", "not a duration" },
		{ "{\"op\":\"shelve\",\"device\":\"x\",\"for\":\"0s\"}", "more than 0" },
		{ "{\"op\":\"shelve\",\"device\":\"x\",\"for\":\"31d\"}", "at most 30d" },
		{ "{\"op\":\"unshelve\"}", "missing \"device\"" },
		{ "{\"op\":\"live_read\"}", "missing \"device\"" },
		{ "{\"op\":\"live_read\",\"device\":\"x\",\"limit\":3}", "limit" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct control_request r;
		char err[256] = "";
		int rc = parse(cases[i][0], &r, err, sizeof err);
		if (rc != -1 || strstr(err, cases[i][1]) == NULL)
			fail_msg("case %zu %s: rc %d, error '%s', wanted '%s'", i, cases[i][0], rc, err, cases[i][1]);
	}
}

static void test_parse_is_bounded(void **state)
{
	(void)state;
	struct control_request r;
	char err[256];
	char buf[CONTROL_MAX_LINE + 64];
	/* device fits at 63 bytes, not at 64: overlong is an error, never truncated */
	char dev[65];
	memset(dev, 'd', 64);
	dev[64] = '\0';
	snprintf(buf, sizeof buf, "{\"op\":\"unshelve\",\"device\":\"%s\"}", dev);
	assert_int_equal(parse(buf, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "longer than 63"));
	dev[63] = '\0';
	snprintf(buf, sizeof buf, "{\"op\":\"unshelve\",\"device\":\"%s\"}", dev);
	assert_int_equal(parse(buf, &r, err, sizeof err), 0);
	assert_int_equal(strlen(r.device), 63);

	/* A whole line at the limit is refused before parsing. */
	memset(buf, ' ', CONTROL_MAX_LINE);
	memcpy(buf, "{\"op\":\"status\"}", 15);
	assert_int_equal(control_parse_request(buf, CONTROL_MAX_LINE, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "longer than"));

	/* Only len bytes are read: a valid prefix of a longer buffer parses,
	 * and a prefix cut inside a string does not read past len. */
	const char *s = "{\"op\":\"status\"}GARBAGE";
	assert_int_equal(control_parse_request(s, 15, &r, err, sizeof err), 0);
	char *heap = malloc(10);
	assert_non_null(heap);
	memcpy(heap, "{\"op\":\"sta", 10); /* no NUL anywhere: ASan catches any overread */
	assert_int_equal(control_parse_request(heap, 10, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "malformed JSON"));
	free(heap);
}

/* ------------------------------------------------------------------ server */

struct fixture {
	char dir[64];
	char path[100];
	struct control *c;
	/* what the callback saw */
	int n_requests;
	uint64_t last_conn;
	struct control_request last;
	bool auto_reply;          /* answer {"ok":true,"op":N} from inside the callback */
	const char *reply_text;   /* when auto_reply: this text instead */
};

static void on_request(void *ctx, uint64_t conn, const struct control_request *req)
{
	struct fixture *f = ctx;
	f->n_requests++;
	f->last_conn = conn;
	f->last = *req;
	if (f->auto_reply) {
		char buf[64];
		snprintf(buf, sizeof buf, "{\"ok\":true,\n\"op\":%d}", (int)req->op);
		assert_int_equal(control_reply(f->c, conn, f->reply_text ? f->reply_text : buf), 0);
	}
}

static struct control *open_server(struct fixture *f, int read_ms, int reply_ms, int max_clients)
{
	struct control_options o = { .read_timeout_ms = read_ms, .reply_timeout_ms = reply_ms, .max_clients = max_clients };
	char err[256] = "";
	int rc = 1;
	struct control *c = control_open(f->path, &o, &rc, err, sizeof err);
	if (c == NULL)
		fail_msg("control_open: %d %s", rc, err);
	assert_int_equal(rc, 0);
	return c;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/gridgw-ctl.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(control_socket_path(f->dir, f->path, sizeof f->path), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	control_close(f->c);
	char lock[160];
	snprintf(lock, sizeof lock, "%s.owner-lock", f->path);
	unlink(lock);
	unlink(f->path);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* Runs the server until cond(f) or ms pass; what the core's loop does. */
static void serve(struct fixture *f, int ms, bool (*cond)(struct fixture *))
{
	int64_t end = time_mono_ms() + ms;
	while (time_mono_ms() < end) {
		if (cond != NULL && cond(f))
			return;
		struct pollfd p = { .fd = control_fd(f->c), .events = POLLIN };
		int n = poll(&p, 1, 20);
		assert_true(n >= 0);
		assert_true(control_process(f->c, on_request, f) >= 0);
	}
}

static bool has_request(struct fixture *f) { return f->n_requests > 0; }
static bool no_clients(struct fixture *f) { return control_clients(f->c) == 0; }

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	struct timeval tv = { .tv_sec = 3 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads everything until EOF (bounded by SO_RCVTIMEO). */
static size_t raw_read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + got, len - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	return got;
}

static void test_request_answer_roundtrip(void **state)
{
	struct fixture *f = *state;
	f->c = open_server(f, 2000, 2000, 4);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);

	int fd = raw_connect(f->path);
	raw_send(fd, "{\"op\":\"shelve\",\"device\":\"smoke-1\",\"for\":\"30m\"}\n", 48);
	serve(f, 1000, has_request);
	assert_int_equal(f->n_requests, 1);
	assert_int_equal(f->last.op, CONTROL_OP_SHELVE);
	assert_string_equal(f->last.device, "smoke-1");
	assert_int_equal(f->last.for_ms, 1800000);
	assert_int_equal(control_clients(f->c), 1);

	/* The core answers later; newlines in its JSON are flattened. */
	assert_int_equal(control_reply(f->c, f->last_conn, "{\"ok\":true,\n \"shelved\":\"smoke-1\"}"), 0);
	char buf[256];
	raw_read_all(fd, buf, sizeof buf);
	assert_string_equal(buf, "{\"ok\":true,  \"shelved\":\"smoke-1\"}\n");
	close(fd);
	assert_int_equal(control_clients(f->c), 0);
	/* A second answer to the same connection has nobody to go to. */
	assert_int_equal(control_reply(f->c, f->last_conn, "{\"ok\":true}"), -ENOENT);
}

static void test_malformed_json_is_answered_with_the_reason(void **state)
{
	struct fixture *f = *state;
	f->c = open_server(f, 2000, 2000, 4);
	int fd = raw_connect(f->path);
	raw_send(fd, "{\"op\":\"status\",}\n", 17);
	serve(f, 300, NULL);
	assert_int_equal(f->n_requests, 0);
	char buf[256];
	raw_read_all(fd, buf, sizeof buf);
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"malformed JSON at byte 15\"}\n");
	close(fd);
}

static void test_oversized_line_is_rejected(void **state)
{
	struct fixture *f = *state;
	f->c = open_server(f, 2000, 2000, 4);
	int fd = raw_connect(f->path);
	char *big = malloc(CONTROL_MAX_LINE + 100);
	assert_non_null(big);
	memset(big, 'x', CONTROL_MAX_LINE + 100);
	raw_send(fd, big, CONTROL_MAX_LINE + 100);
	free(big);
	serve(f, 300, NULL);
	assert_int_equal(f->n_requests, 0);
	char buf[256];
	raw_read_all(fd, buf, sizeof buf);
	assert_non_null(strstr(buf, "\"ok\":false"));
	assert_non_null(strstr(buf, "request line longer than 8191 bytes"));
	close(fd);
	assert_int_equal(control_clients(f->c), 0);
}

static void test_silent_client_does_not_block_others(void **state)
{
	struct fixture *f = *state;
	f->auto_reply = true;
	f->c = open_server(f, 1000, 2000, 4);
	int64_t t0 = time_mono_ms();
	int silent = raw_connect(f->path);
	int fd = raw_connect(f->path);
	raw_send(fd, "{\"op\":\"status\"}\n", 16);
	serve(f, 2000, has_request);
	assert_int_equal(f->n_requests, 1);
	char buf[256];
	raw_read_all(fd, buf, sizeof buf);
	assert_string_equal(buf, "{\"ok\":true, \"op\":1}\n");
	/* Answered while the silent client still held its slot. */
	assert_true(time_mono_ms() - t0 < 900);
	assert_int_equal(control_clients(f->c), 1);
	close(fd);

	/* The silent one is dropped at its deadline: the timer makes
	 * control_fd readable, nobody has to call in between. */
	struct pollfd p = { .fd = control_fd(f->c), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 3000), 1);
	assert_int_equal(control_process(f->c, on_request, f), 0);
	int64_t waited = time_mono_ms() - t0;
	assert_true(waited >= 950);
	assert_true(waited < 3000);
	assert_int_equal(control_clients(f->c), 0);
	raw_read_all(silent, buf, sizeof buf);
	assert_non_null(strstr(buf, "timed out"));
	close(silent);
}

static void test_reply_after_timeout_or_hangup_is_refused(void **state)
{
	struct fixture *f = *state;
	f->c = open_server(f, 2000, 200, 4);
	int fd = raw_connect(f->path);
	raw_send(fd, "{\"op\":\"status\"}\n", 16);
	serve(f, 1000, has_request);
	assert_int_equal(f->n_requests, 1);
	uint64_t first = f->last_conn;
	serve(f, 2000, no_clients);      /* the core never answered in time */
	assert_int_equal(control_clients(f->c), 0);
	assert_int_equal(control_reply(f->c, first, "{\"ok\":true}"), -ENOENT);
	char buf[64];
	assert_int_equal(raw_read_all(fd, buf, sizeof buf), 0); /* plain EOF */
	close(fd);

	/* A client that hangs up while waiting frees its slot at once. */
	fd = raw_connect(f->path);
	raw_send(fd, "{\"op\":\"status\"}\n", 16);
	serve(f, 1000, has_request);
	serve(f, 100, NULL);
	assert_int_equal(f->n_requests, 2);
	assert_true(f->last_conn != first);
	close(fd);
	serve(f, 150, no_clients);
	assert_int_equal(control_clients(f->c), 0);
	assert_int_equal(control_reply(f->c, f->last_conn, "{\"ok\":true}"), -ENOENT);
}

static void test_too_many_clients_get_busy(void **state)
{
	struct fixture *f = *state;
	f->c = open_server(f, 2000, 2000, 1);
	int a = raw_connect(f->path);
	serve(f, 100, NULL);
	int b = raw_connect(f->path);
	serve(f, 100, NULL);
	char buf[256];
	raw_read_all(b, buf, sizeof buf);
	assert_non_null(strstr(buf, "busy"));
	close(b);
	assert_int_equal(control_clients(f->c), 1);
	close(a);
	serve(f, 200, no_clients);
	assert_int_equal(control_clients(f->c), 0);
}

static void test_stale_socket_replaced_live_one_refused(void **state)
{
	struct fixture *f = *state;
	char err[256];
	int rc = 0;

	/* A socket file nobody listens on (a crashed daemon's) is replaced. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	close(s);
	f->c = open_server(f, 2000, 2000, 2);

	/* A second daemon on the same state dir is refused. */
	assert_null(control_open(f->path, NULL, &rc, err, sizeof err));
	assert_int_equal(rc, -EADDRINUSE);
	assert_non_null(strstr(err, "another gridgw"));
	/* ... and the first one still works. */
	int fd = raw_connect(f->path);
	close(fd);
	control_close(f->c);
	f->c = NULL;
	struct stat st;
	assert_int_equal(stat(f->path, &st), -1); /* removed on close */

	/* Something else listening there (no lock held) is refused too. */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_null(control_open(f->path, NULL, &rc, err, sizeof err));
	assert_int_equal(rc, -EADDRINUSE);
	close(s);
	unlink(f->path);

	/* A regular file at the path is never deleted. */
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_null(control_open(f->path, NULL, &rc, err, sizeof err));
	assert_int_equal(rc, -EEXIST);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(f->path);

	/* A path that does not fit a sockaddr_un. */
	char longp[200];
	memset(longp, 'p', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	assert_null(control_open(longp, NULL, &rc, err, sizeof err));
	assert_int_equal(rc, -ENAMETOOLONG);
	assert_int_equal(control_socket_path(longp, err, sizeof err), -ENAMETOOLONG);
}

static void test_call_without_daemon_reports_not_running(void **state)
{
	struct fixture *f = *state;
	char *resp = (char *)1;
	assert_int_equal(control_call(f->path, "{\"op\":\"status\"}", &resp, 500), -ENOENT);
	assert_null(resp);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	close(s);
	assert_int_equal(control_call(f->path, "{\"op\":\"status\"}", &resp, 500), -ECONNREFUSED);
	assert_null(resp);
	unlink(f->path);
}

/* control_call blocks, so it runs in a thread while the test serves. */
struct call_job {
	const char *path;
	const char *request;
	int timeout_ms;
	int rc;
	char *response;
	atomic_int done;
};

static void *call_thread(void *arg)
{
	struct call_job *j = arg;
	j->rc = control_call(j->path, j->request, &j->response, j->timeout_ms);
	atomic_store(&j->done, 1);
	return NULL;
}

static struct call_job *job_for_cond;
static bool job_done(struct fixture *f) { (void)f; return atomic_load(&job_for_cond->done) != 0; }

static void run_call(struct fixture *f, struct call_job *j)
{
	pthread_t t;
	j->path = f->path;
	atomic_store(&j->done, 0);
	assert_int_equal(pthread_create(&t, NULL, call_thread, j), 0);
	job_for_cond = j;
	serve(f, 5000, job_done);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_call_roundtrip_and_large_answer(void **state)
{
	struct fixture *f = *state;
	f->auto_reply = true;
	f->c = open_server(f, 2000, 5000, 4);
	struct call_job j = { .request = "{\"op\":\"incidents\",\n\"limit\":3}", .timeout_ms = 3000 };
	run_call(f, &j);
	assert_int_equal(j.rc, 0);
	assert_string_equal(j.response, "{\"ok\":true, \"op\":2}");
	assert_int_equal(f->last.limit, 3);
	free(j.response);

	/* 1 MiB answer: more than the socket buffer, so the server must finish
	 * it from EPOLLOUT without blocking the loop. */
	size_t big = 1u << 20;
	char *text = malloc(big + 32);
	assert_non_null(text);
	strcpy(text, "{\"ok\":true,\"pad\":\"");
	size_t n = strlen(text);
	memset(text + n, 'z', big);
	strcpy(text + n + big, "\"}");
	f->reply_text = text;
	struct call_job k = { .request = "{\"op\":\"status\"}", .timeout_ms = 4000 };
	run_call(f, &k);
	assert_int_equal(k.rc, 0);
	assert_non_null(k.response);
	assert_int_equal(strlen(k.response), strlen(text));
	assert_string_equal(k.response, text);
	free(k.response);
	free(text);
	f->reply_text = NULL;
}

static void test_call_times_out_when_daemon_hangs(void **state)
{
	struct fixture *f = *state;
	f->c = open_server(f, 2000, 5000, 4);
	/* The server is never driven: the request sits in the backlog. */
	char *resp = NULL;
	int64_t t0 = time_mono_ms();
	assert_int_equal(control_call(f->path, "{\"op\":\"status\"}", &resp, 200), -ETIMEDOUT);
	int64_t took = time_mono_ms() - t0;
	assert_true(took >= 180 && took < 1500);
	assert_null(resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts_every_op),
		cmocka_unit_test(test_parse_rejects_with_clear_errors),
		cmocka_unit_test(test_parse_is_bounded),
		cmocka_unit_test_setup_teardown(test_request_answer_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_json_is_answered_with_the_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_line_is_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_client_does_not_block_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_after_timeout_or_hangup_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_clients_get_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced_live_one_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_without_daemon_reports_not_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_roundtrip_and_large_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_times_out_when_daemon_hangs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
