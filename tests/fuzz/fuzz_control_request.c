/* libFuzzer target for the control socket's request parser: any bytes a
 * local client sends must parse or be refused, never crash or overread. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway/control/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request r;
	char err[256];
	if (control_parse_request((const char *)data, size, &r, err, sizeof err) == 0) {
		/* What the core relies on after a successful parse. */
		if (r.op < CONTROL_OP_STATUS || r.op > CONTROL_OP_LAST)
			__builtin_trap();
		if (r.limit < 1 || r.limit > (r.op == CONTROL_OP_HISTORY ? CONTROL_HISTORY_MAX : CONTROL_LIMIT_MAX))
			__builtin_trap();
		if (memchr(r.device, '\0', sizeof r.device) == NULL || memchr(r.note, '\0', sizeof r.note) == NULL)
			__builtin_trap();
		if (r.op == CONTROL_OP_SHELVE && (r.for_ms <= 0 || r.for_ms > CONTROL_SHELVE_MAX_MS || r.device[0] == '\0'))
			__builtin_trap();
	} else if (memchr(err, '\0', sizeof err) == NULL) {
		__builtin_trap();
	}
	return 0;
}
