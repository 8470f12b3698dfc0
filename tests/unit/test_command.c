/* Unit tests for platform command parsing and result JSON (gateway/uplink/command.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/uplink/command.h"

#define ULID "01JABCDEF00000000000000001"

static int parse(const char *json, struct command *c, char *err)
{
	return command_parse(json, strlen(json), c, err, 160);
}

static void expect_refused(const char *json, const char *reason_part, const char *req)
{
	struct command c;
	char err[160];
	int rc = parse(json, &c, err);
	if (rc != -1 || !strstr(err, reason_part) || strcmp(c.req, req) != 0)
		fail_msg("%s: rc %d err '%s' req '%s' (wanted '%s', req '%s')", json, rc, err, c.req, reason_part, req);
	assert_int_equal(c.op, CMD_NONE);  /* a refused command carries nothing to apply */
}

static void test_every_op_parses(void **state)
{
	(void)state;
	struct command c;
	char err[160];
	assert_int_equal(parse("{\"req\":\"a\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"by\":\"pm\",\"note\":\"seen\"}",
			       &c, err), 0);
	assert_int_equal(c.op, CMD_INCIDENT_ACK);
	assert_string_equal(c.req, "a");
	assert_string_equal(c.incident, ULID);
	assert_string_equal(c.by, "pm");
	assert_string_equal(c.note, "seen");

	assert_int_equal(parse("{\"req\":\"b\",\"op\":\"incident.workflow\",\"incident\":\"" ULID "\",\"workflow\":\"accepted\","
			       "\"by\":\"worker-17\",\"note\":\"on my way\"}", &c, err), 0);
	assert_int_equal(c.op, CMD_INCIDENT_WORKFLOW);
	assert_string_equal(c.workflow, "accepted");
	assert_string_equal(c.assignee, "");
	assert_int_equal(parse("{\"req\":\"b2\",\"op\":\"incident.workflow\",\"incident\":\"" ULID "\",\"workflow\":\"dispatched\","
			       "\"by\":\"desk\",\"assignee\":\"worker-17\"}", &c, err), 0);
	assert_string_equal(c.assignee, "worker-17");

	assert_int_equal(parse("{\"req\":\"c\",\"op\":\"incident.close\",\"incident\":\"" ULID "\"}", &c, err), 0);
	assert_int_equal(c.op, CMD_INCIDENT_CLOSE);
	assert_string_equal(c.workflow, "closed");
	assert_int_equal(parse("{\"req\":\"c2\",\"op\":\"incident.close\",\"incident\":\"" ULID "\",\"workflow\":\"false_alarm\"}",
			       &c, err), 0);
	assert_string_equal(c.workflow, "false_alarm");

	assert_int_equal(parse("{\"req\":\"d\",\"op\":\"device.shelve\",\"device\":\"smoke-5-2-0701\",\"for\":\"2h\"}", &c, err), 0);
	assert_int_equal(c.op, CMD_DEVICE_SHELVE);
	assert_string_equal(c.device, "smoke-5-2-0701");
	assert_int_equal(c.for_ms, 7200000);

	assert_int_equal(parse("{\"req\":\"e\",\"op\":\"device.unshelve\",\"device\":\"smoke-5-2-0701\"}", &c, err), 0);
	assert_int_equal(c.op, CMD_DEVICE_UNSHELVE);

	assert_int_equal(parse("{\"req\":\"f\",\"op\":\"point.write\",\"device\":\"elev-1\",\"point\":\"door_hold\",\"value\":1}",
			       &c, err), 0);
	assert_int_equal(c.op, CMD_POINT_WRITE);
	assert_string_equal(c.point, "door_hold");
	assert_true(c.value == 1.0);
	assert_int_equal(parse("{\"req\":\"f2\",\"op\":\"point.write\",\"device\":\"elev-1\",\"point\":\"door_hold\",\"value\":false}",
			       &c, err), 0);
	assert_true(c.value == 0.0);
	assert_int_equal(parse("{\"req\":\"f3\",\"op\":\"point.write\",\"device\":\"d\",\"point\":\"sp\",\"value\":-12.5}", &c, err), 0);
	assert_true(c.value == -12.5);

	assert_int_equal(parse("{\"req\":\"g\",\"op\":\"gateway.resync\"}", &c, err), 0);
	assert_int_equal(c.op, CMD_GATEWAY_RESYNC);
	assert_int_equal(parse(" {\"op\":\"gateway.status\",\"req\":\"h\",\"ts\":\"2026-11-22T08:00:00Z\"}\n", &c, err), 0);
	assert_int_equal(c.op, CMD_GATEWAY_STATUS);
	assert_string_equal(c.req, "h");
}

static void test_malformed_is_refused_with_a_reason(void **state)
{
	(void)state;
	expect_refused("{\"req\":\"x\",\"op\":", "malformed JSON", "");
	expect_refused("not json", "malformed JSON", "");
	expect_refused("{\"req\":\"x\",\"op\":\"gateway.status\"} trailing", "malformed JSON", "");
	expect_refused("[1,2]", "must be a JSON object", "");
	expect_refused("\"str\"", "must be a JSON object", "");
	expect_refused("{}", "missing field 'req'", "");
	expect_refused("{\"req\":17,\"op\":\"gateway.status\"}", "'req' must be a string", "");
	expect_refused("{\"req\":\"\",\"op\":\"gateway.status\"}", "1-64", "");
	expect_refused("{\"req\":\"a\\nb\",\"op\":\"gateway.status\"}", "printable", "");
	struct command c;
	char err[160];
	assert_int_equal(command_parse("", 0, &c, err, sizeof err), -1);
	assert_string_equal(err, "empty command");
	assert_int_equal(command_parse(NULL, 5, &c, err, sizeof err), -1);
}

static void test_unknown_and_illegal_are_refused(void **state)
{
	(void)state;
	expect_refused("{\"req\":\"r\"}", "missing field 'op'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"gateway.reboot\"}", "unknown op 'gateway.reboot'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"Incident.Ack\",\"incident\":\"" ULID "\"}", "unknown op", "r");
	expect_refused("{\"req\":\"r\",\"op\":7}", "'op' must be a string", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\"}", "missing field 'incident'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"nope\"}", "ULID", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"01JABCDEF0000000000000000I\"}", "ULID", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"81JABCDEF00000000000000001\"}", "ULID", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.workflow\",\"incident\":\"" ULID "\"}", "missing field 'workflow'", "r");
	/* assignee is for incident.workflow only */
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"assignee\":\"w\"}",
		       "unexpected field 'assignee'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.workflow\",\"incident\":\"" ULID "\",\"workflow\":\"done\"}",
		       "'workflow' must be one of", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.close\",\"incident\":\"" ULID "\",\"workflow\":\"accepted\"}",
		       "closed or false_alarm", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.shelve\",\"device\":\"d\"}", "missing field 'for'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.shelve\",\"device\":\"d\",\"for\":\"forever\"}", "duration", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.shelve\",\"device\":\"d\",\"for\":3600}", "duration", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.shelve\",\"device\":\"d\",\"for\":\"0s\"}", "between", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.shelve\",\"device\":\"d\",\"for\":\"31d\"}", "between", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.unshelve\",\"device\":\"has space\"}", "printable", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"device.unshelve\",\"device\":\"\"}", "printable", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"point.write\",\"device\":\"d\",\"point\":\"p\"}", "missing field 'value'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"point.write\",\"device\":\"d\",\"point\":\"p\",\"value\":\"1\"}",
		       "finite number", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"point.write\",\"device\":\"d\",\"point\":\"p\",\"value\":1e999}",
		       "finite number", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"point.write\",\"device\":\"d\",\"point\":\"p\",\"value\":null}",
		       "finite number", "r");
	/* Fields of other ops, unknown fields, duplicates, wrong case. */
	expect_refused("{\"req\":\"r\",\"op\":\"gateway.status\",\"device\":\"d\"}", "unexpected field 'device'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"extra\":1}", "unexpected field 'extra'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"Incident\":\"" ULID "\"}", "unexpected field 'Incident'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"incident\":\"" ULID "\"}",
		       "duplicate field 'incident'", "r");
	expect_refused("{\"req\":\"r\",\"op\":\"gateway.status\",\"op\":\"gateway.resync\"}", "duplicate field 'op'", "r");
}

static void test_sizes_are_bounded(void **state)
{
	(void)state;
	struct command c;
	char err[160];
	char *big = malloc(COMMAND_MAX_PAYLOAD + 64);
	assert_non_null(big);
	int n = snprintf(big, COMMAND_MAX_PAYLOAD + 64, "{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"note\":\"");
	while (n < COMMAND_MAX_PAYLOAD + 10)
		big[n++] = 'x';
	memcpy(big + n, "\"}", 3);
	assert_int_equal(command_parse(big, strlen(big), &c, err, sizeof err), -1);
	assert_string_equal(err, "command too large");
	free(big);

	char note[400], json[600];
	memset(note, 'n', 255);
	note[255] = '\0';
	snprintf(json, sizeof json, "{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"note\":\"%s\"}", note);
	assert_int_equal(parse(json, &c, err), 0);
	assert_int_equal(strlen(c.note), 255);
	memset(note, 'n', 256);
	note[256] = '\0';
	snprintf(json, sizeof json, "{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"note\":\"%s\"}", note);
	expect_refused(json, "too long", "r");

	char req[80];
	memset(req, 'q', 64);
	req[64] = '\0';
	snprintf(json, sizeof json, "{\"req\":\"%s\",\"op\":\"gateway.status\"}", req);
	assert_int_equal(parse(json, &c, err), 0);
	assert_string_equal(c.req, req);
	snprintf(json, sizeof json, "{\"req\":\"%sq\",\"op\":\"gateway.status\"}", req);
	expect_refused(json, "1-64", "");
	/* A short error buffer is still terminated. */
	char tiny[8];
	assert_int_equal(command_parse("{", 1, &c, tiny, sizeof tiny), -1);
	assert_int_equal(strlen(tiny), 7);
	/* Not NUL-terminated input: only len bytes are read. */
	const char *two = "{\"req\":\"a\",\"op\":\"gateway.status\"}GARBAGE";
	assert_int_equal(command_parse(two, strlen(two) - 7, &c, err, sizeof err), 0);
}

static void test_text_fields_take_utf8_not_controls(void **state)
{
	(void)state;
	struct command c;
	char err[160];
	assert_int_equal(parse("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"by\":\"\\u738b\\u5de5\","
			       "\"note\":\"\xe5\x88\xb0\xe5\x9c\xba\"}", &c, err), 0);
	assert_string_equal(c.by, "\xe7\x8e\x8b\xe5\xb7\xa5");
	expect_refused("{\"req\":\"r\",\"op\":\"incident.ack\",\"incident\":\"" ULID "\",\"note\":\"a\\u0007b\"}",
		       "control characters", "r");
}

static void test_result_json(void **state)
{
	(void)state;
	char buf[256];
	int n = command_result_json("r1", true, NULL, buf, sizeof buf);
	assert_string_equal(buf, "{\"req\":\"r1\",\"ok\":true}");
	assert_int_equal(n, (int)strlen(buf));
	command_result_json("r\"2", false, "unknown op 'x'", buf, sizeof buf);
	assert_string_equal(buf, "{\"req\":\"r\\\"2\",\"ok\":false,\"error\":\"unknown op 'x'\"}");
	command_result_json(NULL, false, NULL, buf, sizeof buf);
	assert_string_equal(buf, "{\"req\":\"\",\"ok\":false,\"error\":\"failed\"}");
	assert_int_equal(command_result_json("r1", true, NULL, buf, 10), -1);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(command_op_name(CMD_POINT_WRITE), "point.write");
	assert_string_equal(command_op_name(CMD_NONE), "");
	assert_true(command_workflow_valid("false_alarm"));
	assert_false(command_workflow_valid("Closed"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_op_parses),
		cmocka_unit_test(test_malformed_is_refused_with_a_reason),
		cmocka_unit_test(test_unknown_and_illegal_are_refused),
		cmocka_unit_test(test_sizes_are_bounded),
		cmocka_unit_test(test_text_fields_take_utf8_not_controls),
		cmocka_unit_test(test_result_json),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
