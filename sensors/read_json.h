/* read_json — one point of a live read as JSON, and why a point or a link
 * failed in plain words: what `gridgw read` (its own read or the daemon's),
 * `gridgw scan`, the console's live read (GET /api/v1/devices/{id}/read)
 * and the control socket's live_read answer all print, made here once so
 * they cannot drift apart. */
#ifndef GRIDGW_READ_JSON_H
#define GRIDGW_READ_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/model.h"
#include "sensors/modbus_bus.h"

/* {"name","value"(null unless good),"unit"?,"quality","table","address",
 *  "raw":[regs…]|[bit]|null,"error"?}. why: the plain-words reason the
 * point was not read (NULL or "" when it was); a point read but not
 * decodable gets its own reason. Returns NULL when out of memory. */
cJSON *read_point_json(const struct point_def *pd, const struct modbus_read_point *rp, const char *why);

/* Plain words for a failed request to `unit` (err: errno or libmodbus code),
 * with what to check. timeout_ms is the response timeout in force. */
const char *read_explain(const struct bus_config *bus, int unit, int64_t timeout_ms, int err, char *buf, size_t len);

/* Plain words for a link that cannot be opened or was lost (err: errno). */
const char *read_explain_link(const struct bus_config *bus, int err, char *buf, size_t len);

/* "2 min 6 s", "9.5 s", "300 ms". */
void read_format_secs(double s, char *buf, size_t len);

#endif
