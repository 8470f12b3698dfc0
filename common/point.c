/* point — names of point qualities as they appear in evidence and telemetry. */
#include "common/point.h"

const char *quality_name(enum quality q)
{
	switch (q) {
	case QUALITY_NEVER_READ: return "never_read";
	case QUALITY_GOOD: return "good";
	case QUALITY_COMM_ERROR: return "comm_error";
	case QUALITY_DECODE_ERROR: return "decode_error";
	}
	return "unknown";
}
