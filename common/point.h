/* point — a decoded value of one point of one device, with its quality.
 * Shared by the bus threads, the MQTT sources, the rules and the core. */
#ifndef GRIDGW_POINT_H
#define GRIDGW_POINT_H

#include <stdint.h>

enum quality {
	QUALITY_NEVER_READ = 0,
	QUALITY_GOOD,
	QUALITY_COMM_ERROR,   /* timeout, exception, CRC, link down, device offline */
	QUALITY_DECODE_ERROR, /* the device answered but the value cannot be decoded */
};

const char *quality_name(enum quality q);

struct point_value {
	double value;
	enum quality quality;
	int64_t ts_ms;        /* wall clock of the reading (payload time or arrival) */
};

#endif
