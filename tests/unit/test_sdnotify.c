/* Unit tests for gateway/sdnotify: a fake NOTIFY_SOCKET (a Unix datagram
 * socket in a temp dir) receives what the daemon would tell systemd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gateway/core/sdnotify.h"

struct fake_systemd {
	char dir[64];
	char path[96];
	int fd;
};

static int setup(void **state)
{
	struct fake_systemd *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/gridgw-sdn.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/notify", f->dir);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
	struct timeval tv = { .tv_sec = 2 };
	assert_int_equal(setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake_systemd *f = *state;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Receives one datagram as a string (fails the test after 2 s). */
static void recv_msg(struct fake_systemd *f, char *buf, size_t len)
{
	ssize_t n = recv(f->fd, buf, len - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void assert_nothing_sent(struct fake_systemd *f)
{
	char buf[64];
	ssize_t n = recv(f->fd, buf, sizeof buf, MSG_DONTWAIT);
	assert_int_equal(n, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_ready_sends_ready_and_status(void **state)
{
	struct fake_systemd *f = *state;
	char buf[512];
	sdnotify_ready("12 devices, uplink connected");
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "READY=1\nSTATUS=12 devices, uplink connected");
	sdnotify_ready(NULL);
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "READY=1");
}

static void test_status_newlines_cannot_inject_assignments(void **state)
{
	struct fake_systemd *f = *state;
	char buf[512];
	sdnotify_status("device %s offline", "x\nREADY=1\tWATCHDOG=trigger");
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "STATUS=device x READY=1 WATCHDOG=trigger offline");
	assert_null(strchr(buf, '\n'));
}

static void test_status_is_bounded(void **state)
{
	struct fake_systemd *f = *state;
	char big[1024];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char buf[2048];
	sdnotify_status("%s", big);
	recv_msg(f, buf, sizeof buf);
	assert_int_equal(strncmp(buf, "STATUS=aaaa", 11), 0);
	assert_int_equal(strlen(buf), strlen("STATUS=") + 255);
}

static void test_reloading_carries_monotonic_usec(void **state)
{
	struct fake_systemd *f = *state;
	char buf[256];
	struct timespec ts;
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	unsigned long long before = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
	sdnotify_reloading();
	recv_msg(f, buf, sizeof buf);
	unsigned long long usec = 0;
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
	assert_true(usec >= before);
	assert_true(usec - before < 2000000ULL);
}

static void test_stopping_and_watchdog_ping(void **state)
{
	struct fake_systemd *f = *state;
	char buf[64];
	sdnotify_watchdog_ping();
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "WATCHDOG=1");
	sdnotify_stopping();
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "STOPPING=1");
}

static void test_watchdog_interval_is_half_of_watchdog_usec(void **state)
{
	(void)state;
	char pid[32];
	assert_int_equal(sdnotify_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_interval_ms(), 15000);
	/* Meant for another process (e.g. the parent of a fork): not ours. */
	snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sdnotify_watchdog_interval_ms(), 0);
	/* No WATCHDOG_PID at all: the watchdog applies to us. */
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "1000", 1);
	assert_int_equal(sdnotify_watchdog_interval_ms(), 1);
	setenv("WATCHDOG_USEC", "garbage", 1);
	assert_int_equal(sdnotify_watchdog_interval_ms(), 0);
}

static void test_everything_is_a_noop_without_notify_socket(void **state)
{
	struct fake_systemd *f = *state;
	unsetenv("NOTIFY_SOCKET");
	sdnotify_ready("x");
	sdnotify_reloading();
	sdnotify_status("y %d", 1);
	sdnotify_stopping();
	sdnotify_watchdog_ping();
	assert_nothing_sent(f);
	/* And they still work once systemd is there again. */
	setenv("NOTIFY_SOCKET", f->path, 1);
	sdnotify_watchdog_ping();
	char buf[64];
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "WATCHDOG=1");
}

/* systemd may name a socket in the abstract namespace: "@name". */
static void test_abstract_notify_socket(void **state)
{
	(void)state;
	char name[64];
	snprintf(name, sizeof name, "gridgw-sdn-%ld", (long)getpid());
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path + 1, name, strlen(name)); /* sun_path[0] = 0: abstract */
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, alen), 0);
	struct timeval tv = { .tv_sec = 2 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	char env[80];
	snprintf(env, sizeof env, "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	sdnotify_watchdog_ping();
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
	assert_int_equal(n, 10);
	buf[n] = '\0';
	assert_string_equal(buf, "WATCHDOG=1");
	/* a name that is neither a path nor "@…" is not sent anywhere */
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	sdnotify_watchdog_ping();
	assert_int_equal(recv(fd, buf, sizeof buf, MSG_DONTWAIT), -1);
	close(fd);
}

static void test_watchdog_usec_garbage_is_no_watchdog(void **state)
{
	(void)state;
	unsetenv("WATCHDOG_PID");
	const char *bad[] = { "", "0", "-5", "12abc", "99999999999999999999999", NULL };
	for (int i = 0; bad[i]; i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		assert_int_equal(sdnotify_watchdog_interval_ms(), 0);
	}
	setenv("WATCHDOG_USEC", "4000000", 1);
	setenv("WATCHDOG_PID", "12x", 1);
	assert_int_equal(sdnotify_watchdog_interval_ms(), 0);
}

/* Runs fn with stderr (where the log goes) in a file; returns what it wrote. */
static char *stderr_of(void (*fn)(void))
{
	char path[] = "/tmp/gridgw-sdn-err.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	static char out[1024];
	ssize_t n = pread(fd, out, sizeof out - 1, 0);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void ping(void) { sdnotify_watchdog_ping(); }

/* A socket that is gone is said once at WARN (a watchdog may stop the
 * service for it), not at every keep-alive; a send that works again is said too. */
static void test_a_failing_socket_is_warned_once(void **state)
{
	struct fake_systemd *f = *state;
	char buf[64];
	(void)stderr_of(ping); /* a send that works: whatever an earlier test left is over */
	recv_msg(f, buf, sizeof buf);
	char gone[128];
	snprintf(gone, sizeof gone, "%s/gone", f->dir);
	assert_int_equal(setenv("NOTIFY_SOCKET", gone, 1), 0);
	const char *first = stderr_of(ping);
	assert_non_null(strstr(first, "WARN sdnotify: cannot notify systemd at "));
	assert_non_null(strstr(first, "No such file or directory"));
	assert_string_equal(stderr_of(ping), "");
	assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
	assert_non_null(strstr(stderr_of(ping), "systemd notified again"));
	recv_msg(f, buf, sizeof buf);
	assert_string_equal(buf, "WATCHDOG=1");
	assert_string_equal(stderr_of(ping), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready_sends_ready_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_newlines_cannot_inject_assignments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reloading_carries_monotonic_usec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_and_watchdog_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_interval_is_half_of_watchdog_usec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_everything_is_a_noop_without_notify_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abstract_notify_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_usec_garbage_is_no_watchdog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failing_socket_is_warned_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
