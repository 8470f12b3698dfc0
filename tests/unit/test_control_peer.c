/* Unit tests for gateway/control/control_peer: what the server records of
 * the Unix user on a request (issue #14): ack/close get `by` = the user
 * name, a client's own `by` moves into the note as "on site: NAME", a pair
 * too long for the note is refused, and other ops keep what they had. The
 * credentials come from a real socketpair (SO_PEERCRED of this process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/control/control.h"
#include "gateway/control/control_peer.h"

static struct control_peer me(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct control_peer p;
	control_peer_get(sv[0], &p);
	close(sv[0]);
	close(sv[1]);
	return p;
}

static void parse(const char *line, struct control_request *r)
{
	char err[256];
	assert_int_equal(control_parse_request(line, strlen(line), r, err, sizeof err), 0);
}

static void test_peer_credentials_are_this_process(void **state)
{
	(void)state;
	struct control_peer p = me();
	assert_true(p.known);
	assert_int_equal(p.uid, getuid());
	assert_int_equal(p.pid, getpid());
	assert_true(p.privileged); /* our own uid is the "service user" here */
}

static void test_ack_by_is_the_unix_user_and_by_moves_to_the_note(void **state)
{
	(void)state;
	struct control_peer p = me();
	char name[64], err[256];
	control_peer_name(p.uid, name, sizeof name);
	struct control_request r;
	parse("{\"op\":\"ack\",\"id\":\"01ABCD\",\"by\":\"张工\",\"note\":\"checked\"}", &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), 0);
	assert_string_equal(r.by, name);
	assert_string_equal(r.note, "on site: 张工; checked");
	assert_int_equal(r.peer_uid, (int64_t)p.uid);
	parse("{\"op\":\"close\",\"id\":\"01ABCD\",\"by\":\"worker-17\"}", &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), 0);
	assert_string_equal(r.by, name);
	assert_string_equal(r.note, "on site: worker-17");
	parse("{\"op\":\"ack\",\"id\":\"01ABCD\",\"note\":\"n\"}", &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), 0);
	assert_string_equal(r.by, name);
	assert_string_equal(r.note, "n");
}

static void test_by_and_note_too_long_together_are_refused(void **state)
{
	(void)state;
	struct control_peer p = me();
	char line[1024], by[64], note[256], err[256];
	memset(by, 'b', 63);
	by[63] = '\0';
	memset(note, 'n', 200);
	note[200] = '\0';
	snprintf(line, sizeof line, "{\"op\":\"ack\",\"id\":\"01ABCD\",\"by\":\"%s\",\"note\":\"%s\"}", by, note);
	struct control_request r;
	parse(line, &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), -1);
	assert_non_null(strstr(err, "too long"));
	assert_string_equal(r.note, note); /* untouched */
}

static void test_other_ops_keep_their_fields(void **state)
{
	(void)state;
	struct control_peer p = me();
	char err[256];
	struct control_request r;
	parse("{\"op\":\"status\"}", &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), 0);
	assert_string_equal(r.by, "");
	assert_string_equal(r.peer_user, ""); /* no name lookup for a read */
	parse("{\"op\":\"shelve\",\"device\":\"d1\",\"for\":\"1m\"}", &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), 0);
	assert_string_not_equal(r.peer_user, "");
	assert_string_equal(r.by, "");
}

static void test_unknown_peer_and_nameless_uid(void **state)
{
	(void)state;
	struct control_peer p = { 0 };
	char err[256], name[64];
	struct control_request r;
	parse("{\"op\":\"ack\",\"id\":\"01ABCD\"}", &r);
	assert_int_equal(control_peer_stamp(&r, &p, err, sizeof err), 0);
	assert_string_equal(r.by, "unknown");
	assert_int_equal(r.peer_uid, -1);
	control_peer_name((uid_t)4000000000u, name, sizeof name);
	assert_string_equal(name, "uid:4000000000");
}

/* The lookup cache (8 names) never answers with another uid's name, however
 * many uids pass through it, and a hit is the same as a lookup. */
static void test_name_cache_keeps_uids_apart(void **state)
{
	(void)state;
	char name[64], want[64];
	for (int round = 0; round < 3; round++) {
		for (unsigned u = 0; u < 12; u++) {
			unsigned uid = 4000000000u + u;
			control_peer_name((uid_t)uid, name, sizeof name);
			snprintf(want, sizeof want, "uid:%u", uid);
			assert_string_equal(name, want);
			control_peer_name(0, name, sizeof name);
			assert_string_equal(name, "root");
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_credentials_are_this_process),
		cmocka_unit_test(test_ack_by_is_the_unix_user_and_by_moves_to_the_note),
		cmocka_unit_test(test_by_and_note_too_long_together_are_refused),
		cmocka_unit_test(test_other_ops_keep_their_fields),
		cmocka_unit_test(test_unknown_peer_and_nameless_uid),
		cmocka_unit_test(test_name_cache_keeps_uids_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
