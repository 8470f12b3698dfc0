/* libFuzzer target for the platform command parser (gateway/uplink/command.c): any
 * bytes from the broker must parse or be refused with a reason, never crash,
 * leak or read past len. Also checks the parser's own promises: a refusal
 * carries no op, an accepted command has a valid req and op, and the result
 * JSON for whatever req came out is well-formed and fits a 512-byte buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/uplink/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so ASan catches any read past len. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct command c;
	char err[160];
	int rc = command_parse(buf, size, &c, err, sizeof err);
	if (rc == 0) {
		if (c.op == CMD_NONE || c.req[0] == '\0' || strlen(c.req) > 64 || command_op_name(c.op)[0] == '\0')
			abort();
	} else {
		if (rc != -1 || c.op != CMD_NONE || err[0] == '\0')
			abort();
	}
	char res[512];
	if (command_result_json(c.req, rc == 0, err, res, sizeof res) < 0)
		abort();  /* req <= 64 chars and err < 160: the answer always fits */
	free(buf);
	return 0;
}
