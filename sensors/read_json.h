/* read_json — one point of a live read as JSON: the one shape that
 * `gridgw read --json` (its own read or the daemon's), the console's live
 * read (GET /api/v1/devices/{id}/read) and the control socket's live_read
 * answer all print, built here once so they cannot drift apart. */
#ifndef GRIDGW_READ_JSON_H
#define GRIDGW_READ_JSON_H

#include <cjson/cJSON.h>

#include "common/model.h"
#include "sensors/modbus_bus.h"

/* {"name","value"(null unless good),"unit"?,"quality","table","address",
 *  "raw":[regs…]|[bit]|null,"error"?}. why: the plain-words reason the
 * point was not read (NULL or "" when it was); a point read but not
 * decodable gets its own reason. Returns NULL when out of memory. */
cJSON *read_point_json(const struct point_def *pd, const struct modbus_read_point *rp, const char *why);

#endif
