/* libFuzzer target: duration_parse on arbitrary text. Whatever parses must
 * be non-negative and survive duration_format -> duration_parse unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256];
	if (size >= sizeof text)
		size = sizeof text - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	int64_t ms;
	if (duration_parse(text, &ms) != 0)
		return 0;
	if (ms < 0)
		abort();
	char buf[64];
	duration_format(ms, buf, sizeof buf);
	int64_t back;
	if (duration_parse(buf, &back) != 0 || back != ms)
		abort();
	return 0;
}
