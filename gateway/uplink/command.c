/* command — parsing and shape validation of platform commands, and the JSON
 * of their results. See command.h. Strict on purpose: a command that is not
 * exactly understood changes nothing, and its refusal says why. */
#include "gateway/uplink/command.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

static const struct {
	const char *name;
	enum command_op op;
} op_names[] = {
	{ "incident.ack", CMD_INCIDENT_ACK },
	{ "incident.workflow", CMD_INCIDENT_WORKFLOW },
	{ "incident.close", CMD_INCIDENT_CLOSE },
	{ "device.shelve", CMD_DEVICE_SHELVE },
	{ "device.unshelve", CMD_DEVICE_UNSHELVE },
	{ "point.write", CMD_POINT_WRITE },
	{ "gateway.resync", CMD_GATEWAY_RESYNC },
	{ "gateway.status", CMD_GATEWAY_STATUS },
};

static const char *const workflow_names[] = {
	"raised", "dispatched", "accepted", "resolved", "closed", "false_alarm",
};

/* Which fields each op takes. "req", "op" and "ts" are allowed everywhere. */
enum field_bit {
	F_INCIDENT = 1 << 0,
	F_WORKFLOW = 1 << 1,
	F_BY = 1 << 2,
	F_NOTE = 1 << 3,
	F_DEVICE = 1 << 4,
	F_POINT = 1 << 5,
	F_VALUE = 1 << 6,
	F_FOR = 1 << 7,
	F_ASSIGNEE = 1 << 8,
};

struct op_shape {
	unsigned allowed;
	unsigned required;
};

static struct op_shape shape_of(enum command_op op)
{
	const unsigned who = F_BY | F_NOTE;
	switch (op) {
	case CMD_INCIDENT_ACK:      return (struct op_shape){ F_INCIDENT | who, F_INCIDENT };
	case CMD_INCIDENT_WORKFLOW: return (struct op_shape){ F_INCIDENT | F_WORKFLOW | F_ASSIGNEE | who, F_INCIDENT | F_WORKFLOW };
	case CMD_INCIDENT_CLOSE:    return (struct op_shape){ F_INCIDENT | F_WORKFLOW | who, F_INCIDENT };
	case CMD_DEVICE_SHELVE:     return (struct op_shape){ F_DEVICE | F_FOR | who, F_DEVICE | F_FOR };
	case CMD_DEVICE_UNSHELVE:   return (struct op_shape){ F_DEVICE | who, F_DEVICE };
	case CMD_POINT_WRITE:       return (struct op_shape){ F_DEVICE | F_POINT | F_VALUE | who, F_DEVICE | F_POINT | F_VALUE };
	case CMD_GATEWAY_RESYNC:
	case CMD_GATEWAY_STATUS:
	case CMD_NONE:
		break;
	}
	return (struct op_shape){ 0, 0 };
}

static const struct {
	const char *name;
	unsigned bit;
} field_names[] = {
	{ "incident", F_INCIDENT }, { "workflow", F_WORKFLOW }, { "by", F_BY },
	{ "note", F_NOTE }, { "device", F_DEVICE }, { "point", F_POINT },
	{ "value", F_VALUE }, { "for", F_FOR }, { "assignee", F_ASSIGNEE },
};

const char *command_op_name(enum command_op op)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (op_names[i].op == op)
			return op_names[i].name;
	return "";
}

bool command_workflow_valid(const char *name)
{
	for (size_t i = 0; i < sizeof workflow_names / sizeof workflow_names[0]; i++)
		if (strcmp(workflow_names[i], name) == 0)
			return true;
	return false;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *arg)
{
	if (errlen > 0) {
		/* Field names in messages are truncated so the reason stays short. */
		if (arg)
			snprintf(err, errlen, fmt, arg);
		else
			snprintf(err, errlen, "%s", fmt);
	}
	return -1;
}

/* Printable ASCII only: identifiers travel into topics, logs and SQL keys. */
static bool is_identifier(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Crockford base32, as ULIDs are written (upper case, no I L O U). */
static bool is_ulid(const char *s)
{
	if (strlen(s) != 26)
		return false;
	if (s[0] > '7')  /* 128 bits: the first character carries 3 bits */
		return false;
	for (int i = 0; i < 26; i++)
		if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* Free text (by, note): any UTF-8 except control characters. */
static bool is_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int copy_string(const cJSON *item, const char *name, char *dst, size_t dstlen,
		       bool identifier, char *err, size_t errlen)
{
	if (!cJSON_IsString(item) || !item->valuestring)
		return fail(err, errlen, "field '%s' must be a string", name);
	const char *s = item->valuestring;
	bool good = identifier ? is_identifier(s, dstlen - 1) : is_text(s, dstlen - 1);
	if (!good)
		return fail(err, errlen, identifier ? "field '%s' must be 1-63 printable characters without spaces"
				     : "field '%s' is too long or has control characters", name);
	snprintf(dst, dstlen, "%s", s);
	return 0;
}

static int parse_req(const cJSON *root, struct command *out, char *err, size_t errlen)
{
	const cJSON *req = NULL;
	for (const cJSON *it = root->child; it; it = it->next)
		if (it->string && strcmp(it->string, "req") == 0)
			req = it;
	if (!req)
		return fail(err, errlen, "missing field 'req'", NULL);
	if (!cJSON_IsString(req) || !req->valuestring)
		return fail(err, errlen, "field 'req' must be a string", NULL);
	size_t n = strlen(req->valuestring);
	if (n == 0 || n > 64)
		return fail(err, errlen, "field 'req' must be 1-64 characters", NULL);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)req->valuestring[i];
		if (c < 0x20 || c > 0x7e)
			return fail(err, errlen, "field 'req' must be printable ASCII", NULL);
	}
	memcpy(out->req, req->valuestring, n + 1);
	return 0;
}

static int parse_op(const cJSON *item, struct command *out, char *err, size_t errlen)
{
	if (!item)
		return fail(err, errlen, "missing field 'op'", NULL);
	if (!cJSON_IsString(item) || !item->valuestring)
		return fail(err, errlen, "field 'op' must be a string", NULL);
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++) {
		if (strcmp(op_names[i].name, item->valuestring) == 0) {
			out->op = op_names[i].op;
			return 0;
		}
	}
	char shown[40];
	snprintf(shown, sizeof shown, "%s", item->valuestring);
	for (char *p = shown; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\')
			*p = '?';
	return fail(err, errlen, "unknown op '%s'", shown);
}

static int parse_value(const cJSON *item, struct command *out, char *err, size_t errlen)
{
	if (cJSON_IsBool(item)) {
		out->value = cJSON_IsTrue(item) ? 1.0 : 0.0;
		return 0;
	}
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
		return fail(err, errlen, "field 'value' must be a finite number or a boolean", NULL);
	out->value = item->valuedouble;
	return 0;
}

static int parse_for(const cJSON *item, struct command *out, char *err, size_t errlen)
{
	int64_t ms;
	if (!cJSON_IsString(item) || !item->valuestring || duration_parse(item->valuestring, &ms) != 0)
		return fail(err, errlen, "field 'for' must be a duration such as \"30m\" or \"2h\"", NULL);
	if (ms <= 0 || ms > COMMAND_MAX_SHELVE_MS)
		return fail(err, errlen, "field 'for' must be between 1ms and 30d", NULL);
	out->for_ms = ms;
	return 0;
}

static int parse_field(unsigned bit, const cJSON *it, struct command *out, char *err, size_t errlen)
{
	switch (bit) {
	case F_INCIDENT:
		if (!cJSON_IsString(it) || !it->valuestring || !is_ulid(it->valuestring))
			return fail(err, errlen, "field 'incident' must be an incident id (ULID)", NULL);
		memcpy(out->incident, it->valuestring, 27);
		return 0;
	case F_WORKFLOW:
		if (!cJSON_IsString(it) || !it->valuestring || !command_workflow_valid(it->valuestring))
			return fail(err, errlen, "field 'workflow' must be one of raised, dispatched, accepted, "
				    "resolved, closed, false_alarm", NULL);
		snprintf(out->workflow, sizeof out->workflow, "%s", it->valuestring);
		return 0;
	case F_BY:     return copy_string(it, "by", out->by, sizeof out->by, false, err, errlen);
	case F_NOTE:   return copy_string(it, "note", out->note, sizeof out->note, false, err, errlen);
	case F_ASSIGNEE: return copy_string(it, "assignee", out->assignee, sizeof out->assignee, false, err, errlen);
	case F_DEVICE: return copy_string(it, "device", out->device, sizeof out->device, true, err, errlen);
	case F_POINT:  return copy_string(it, "point", out->point, sizeof out->point, true, err, errlen);
	case F_VALUE:  return parse_value(it, out, err, errlen);
	case F_FOR:    return parse_for(it, out, err, errlen);
	default:       return fail(err, errlen, "internal: unknown field", NULL);
	}
}

static int field_bit_of(const char *name, unsigned *bit)
{
	for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++) {
		if (strcmp(field_names[i].name, name) == 0) {
			*bit = field_names[i].bit;
			return 0;
		}
	}
	return -1;
}

/* Every member once, every member known to the op, every required present. */
static int parse_fields(const cJSON *root, struct command *out, char *err, size_t errlen)
{
	struct op_shape shape = shape_of(out->op);
	unsigned seen = 0;
	bool seen_req = false, seen_op = false, seen_ts = false;
	for (const cJSON *it = root->child; it; it = it->next) {
		const char *name = it->string ? it->string : "";
		bool *once = strcmp(name, "req") == 0 ? &seen_req : strcmp(name, "op") == 0 ? &seen_op
			   : strcmp(name, "ts") == 0 ? &seen_ts : NULL;
		if (once) {
			if (*once)
				return fail(err, errlen, "duplicate field '%s'", name);
			*once = true;
			continue;
		}
		unsigned bit;
		if (field_bit_of(name, &bit) != 0 || !(shape.allowed & bit)) {
			char shown[40];
			snprintf(shown, sizeof shown, "%s", name);
			for (char *p = shown; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\')
					*p = '?';
			return fail(err, errlen, "unexpected field '%s'", shown);
		}
		if (seen & bit)
			return fail(err, errlen, "duplicate field '%s'", name);
		seen |= bit;
		if (parse_field(bit, it, out, err, errlen) != 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
		if ((shape.required & field_names[i].bit) && !(seen & field_names[i].bit))
			return fail(err, errlen, "missing field '%s'", field_names[i].name);
	if (out->op == CMD_INCIDENT_CLOSE) {
		if (!out->workflow[0])
			snprintf(out->workflow, sizeof out->workflow, "closed");
		else if (strcmp(out->workflow, "closed") != 0 && strcmp(out->workflow, "false_alarm") != 0)
			return fail(err, errlen, "incident.close takes workflow closed or false_alarm", NULL);
	}
	return 0;
}

static const cJSON *member(const cJSON *root, const char *name)
{
	for (const cJSON *it = root->child; it; it = it->next)
		if (it->string && strcmp(it->string, name) == 0)
			return it;
	return NULL;
}

int command_parse(const char *json, size_t len, struct command *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (errlen > 0)
		err[0] = '\0';
	if (!json || len == 0)
		return fail(err, errlen, "empty command", NULL);
	if (len > COMMAND_MAX_PAYLOAD)
		return fail(err, errlen, "command too large", NULL);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root)
		return fail(err, errlen, "malformed JSON", NULL);
	/* cJSON stops after the first value: anything but whitespace after it is garbage. */
	for (const char *p = end; p && p < json + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(root);
			return fail(err, errlen, "malformed JSON", NULL);
		}
	}
	int rc = -1;
	if (!cJSON_IsObject(root)) {
		fail(err, errlen, "command must be a JSON object", NULL);
		goto out;
	}
	if (parse_req(root, out, err, errlen) != 0)
		goto out;
	if (parse_op(member(root, "op"), out, err, errlen) != 0)
		goto out;
	if (parse_fields(root, out, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		/* Keep only the req so the refusal reaches the right request. */
		char req[sizeof out->req];
		memcpy(req, out->req, sizeof req);
		memset(out, 0, sizeof *out);
		memcpy(out->req, req, sizeof req);
	}
	cJSON_Delete(root);
	return rc;
}

int command_result_json(const char *req, bool ok, const char *error, char *buf, size_t len)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -1;
	int rc = -1;
	if (!cJSON_AddStringToObject(o, "req", req ? req : "") || !cJSON_AddBoolToObject(o, "ok", ok))
		goto out;
	if (!ok && !cJSON_AddStringToObject(o, "error", error && error[0] ? error : "failed"))
		goto out;
	if (!cJSON_PrintPreallocated(o, buf, (int)(len > 0x7fffffff ? 0x7fffffff : len), 0))
		goto out;
	rc = (int)strlen(buf);
out:
	cJSON_Delete(o);
	return rc;
}
