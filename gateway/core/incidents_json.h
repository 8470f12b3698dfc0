/* incidents_json — the stored incidents as the control socket and the
 * console show them: {"ok":true,"incidents":[{id,type,severity,…}]}, newest
 * first. Shared by the core's answers and by `gridgw incidents` when the
 * daemon is down (gateway/cli/cmd_local.c reads the store itself then).
 * Defined in local.c beside the per-incident object it shares with
 * the other control answers. */
#ifndef GRIDGW_INCIDENTS_JSON_H
#define GRIDGW_INCIDENTS_JSON_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct store;

/* open_only: only open incidents; limit 0 = all. NULL when the store read
 * fails (or out of memory). The caller deletes the result. */
cJSON *incidents_list_json(struct store *s, bool open_only, int limit);

#endif
