/* command — platform commands arriving on P/G/cmd (CONTRACT.md §3): parsing
 * and shape validation into a fixed struct, and the JSON of the answer on
 * P/G/cmd/result. Pure functions (no I/O, no allocation that outlives a
 * call), fuzzed by tests/fuzz/fuzz_command.c.
 *
 * What is checked here is everything that can be judged from the payload
 * alone: JSON syntax, size, the op, required and unexpected fields, types,
 * lengths, identifier syntax, workflow state names, durations. Whether the
 * incident exists, the device is known or the point is remote_write is the
 * core's judgement (it has the config and the store). */
#ifndef GRIDGW_COMMAND_H
#define GRIDGW_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest command payload accepted; larger ones are refused unparsed. */
#define COMMAND_MAX_PAYLOAD 4096
/* Longest `for` of device.shelve: 30 days. */
#define COMMAND_MAX_SHELVE_MS (30LL * 24 * 3600 * 1000)

enum command_op {
	CMD_NONE = 0,
	CMD_INCIDENT_ACK,       /* incident, [by], [note] */
	CMD_INCIDENT_WORKFLOW,  /* incident, workflow, [by], [note], [assignee] */
	CMD_INCIDENT_CLOSE,     /* incident, [workflow = closed|false_alarm], [by], [note] */
	CMD_DEVICE_SHELVE,      /* device, for (duration string), [by], [note] */
	CMD_DEVICE_UNSHELVE,    /* device, [by], [note] */
	CMD_POINT_WRITE,        /* device, point, value (number or bool), [by], [note] */
	CMD_GATEWAY_RESYNC,     /* no arguments */
	CMD_GATEWAY_STATUS,     /* no arguments */
};

struct command {
	char req[65];           /* 1..64 printable ASCII characters */
	enum command_op op;
	char incident[27];      /* ULID: 26 Crockford base32 characters */
	char workflow[16];      /* raised|dispatched|accepted|resolved|closed|false_alarm */
	char by[64];
	char note[256];
	char assignee[64];      /* incident.workflow: who the incident is dispatched to ("" = not said) */
	char device[64];
	char point[64];
	double value;
	int64_t for_ms;
};

/* Parses one command payload (not NUL-terminated; len bytes). Returns 0 and
 * fills *out, or -1 with a reason in err (always NUL-terminated when
 * errlen > 0). On failure out->req still holds the request id when one could
 * be read, so the refusal can be answered to the right request; otherwise
 * out->req is "". */
int command_parse(const char *json, size_t len, struct command *out, char *err, size_t errlen);

/* "incident.ack", ... ; "" for CMD_NONE. */
const char *command_op_name(enum command_op op);

/* {"req":"...","ok":true} or {"req":"...","ok":false,"error":"..."} with
 * proper escaping. Returns the length written (excluding the NUL), or -1 if
 * it does not fit in len. error is ignored when ok. */
int command_result_json(const char *req, bool ok, const char *error, char *buf, size_t len);

/* True for the workflow state names of CONTRACT.md §3. */
bool command_workflow_valid(const char *name);

#endif
