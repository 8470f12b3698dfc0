/* libFuzzer target for the console's request handling that runs before the
 * core is asked: routing of method + path, the Basic credentials decoder,
 * the query/body values the console hands to the control parser, and the
 * SSE ring's framing of whatever JSON text it is given. Input layout:
 * "METHOD\nPATH\nAUTHORIZATION\nVALUE" (missing parts are empty). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/control/control.h"
#include "gateway/web/web.h"
#include "gateway/web/web_priv.h"

static const char *next_part(char **p)
{
	char *s = *p;
	char *nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *p = buf;
	const char *method = next_part(&p), *path = next_part(&p), *auth = next_part(&p), *value = p;

	struct web_route r;
	int st = web_route_match(method, path, &r);
	if (st == 0) {
		if (r.id <= WEB_R_NONE || r.id >= WEB_R_COUNT)
			__builtin_trap();
		if (memchr(r.param, '\0', sizeof r.param) == NULL)
			__builtin_trap();
		if (r.id == WEB_R_ASSET && (strstr(r.param, "..") || r.param[0] == '/'))
			__builtin_trap();
		if ((r.id == WEB_R_DEVICE || r.id == WEB_R_INCIDENT_ACK) && (r.param[0] == '\0' || strchr(r.param, '/')))
			__builtin_trap();
	} else if (st != 400 && st != 404 && st != 405) {
		__builtin_trap();
	}

	char user[64], pass[256];
	if (web_basic_decode(auth, user, sizeof user, pass, sizeof pass) == 0) {
		if (user[0] == '\0' || strchr(user, ':'))
			__builtin_trap();
	}

	/* What the console builds from a path id and a query/body value. */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "op", "history");
	cJSON_AddStringToObject(o, "device", r.param[0] ? r.param : "d");
	cJSON_AddStringToObject(o, "since", value);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (line) {
		struct control_request req;
		char err[256];
		if (control_parse_request(line, strlen(line), &req, err, sizeof err) == 0 &&
		    (req.op != CONTROL_OP_HISTORY || req.since_ms < 0 || req.limit != CONTROL_HISTORY_DEFAULT))
			__builtin_trap();
		cJSON_free(line);
	}

	/* The ring frames one record per event whatever the text holds. */
	struct web_ring *ring = web_ring_create(2);
	if (ring) {
		uint64_t pos = web_ring_next(ring);
		size_t part = 0;
		if (web_ring_push(ring, "incident", value) == 0) {
			char out[64];
			size_t total = 0;
			long n;
			while ((n = web_ring_read(ring, &pos, &part, out, sizeof out, 0)) > 0) {
				for (long i = 0; i < n; i++)
					if (out[i] == '\r')
						__builtin_trap();
				total += (size_t)n;
			}
			if (n != WEB_RING_TIMEOUT || total != strlen(value) + strlen("event: incident\ndata: \n\n"))
				__builtin_trap();
		}
		web_ring_destroy(ring);
	}
	free(buf);
	return 0;
}
