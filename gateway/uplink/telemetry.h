/* telemetry — the JSON the gateway publishes about itself and its devices:
 * the retained status on P/G/status and the periodic snapshots on
 * P/G/telemetry, split into messages no larger than a configured size
 * (CONTRACT.md §3). Pure formatting: the core supplies the values. */
#ifndef GRIDGW_TELEMETRY_H
#define GRIDGW_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The figures of P/G/status that change while the gateway runs. */
struct status_counts {
	int devices_online;
	int devices_offline;
	int open_incidents;
	int64_t backlog;          /* undelivered outbox events */
};

/* {"gateway","state":"online"|"offline","version","ts","devices":{"online",
 * "offline"},"open_incidents","backlog"}. counts == NULL leaves out the
 * figures (the will message, written before they are known). Returns the
 * length, or -1 if it does not fit. */
int status_json(const char *gateway, bool online, const char *version, int64_t ts_wall_ms,
		const struct status_counts *counts, char *buf, size_t len);

struct telemetry_point {
	const char *name;
	double value;
	bool good;                /* false (never read, comm/decode error): published as null */
};

struct telemetry_device {
	const char *id;
	bool online;
	const struct telemetry_point *points;
	int n_points;
};

/* Smallest max_payload telemetry_build accepts. */
#define TELEMETRY_MIN_PAYLOAD 256

/* Builds the snapshot {"gateway","ts","part","parts","devices":{ID:{POINT:value,
 * ...,"_online":bool}}} as one or more messages of at most max_payload bytes
 * each; a device whose points do not fit in one message is continued in the
 * next (each part repeats its "_online"). emit is called once per message in
 * order with a buffer valid for the call; a non-zero return from emit stops
 * the build. Returns the number of messages emitted (>= 1), -2 when emit
 * stopped it, or -1 when max_payload is below TELEMETRY_MIN_PAYLOAD, a single
 * point does not fit, or memory runs out. */
int telemetry_build(const char *gateway, int64_t ts_wall_ms, const struct telemetry_device *devs,
		    int n_devs, size_t max_payload,
		    int (*emit)(void *ctx, const char *chunk, size_t len), void *ctx);

/* Appends s as a JSON string literal (with quotes) at buf[*pos]; returns 0,
 * or -1 without writing past len (buf[*pos] stays NUL-terminated). */
int json_append_string(char *buf, size_t len, size_t *pos, const char *s);

#endif
