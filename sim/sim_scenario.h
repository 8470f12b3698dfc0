/* sim_scenario — timed scenario files for gridgw-sim (format in
 * sim_scenario.c and docs/simulator.md). */
#ifndef GRIDGW_SIM_SCENARIO_H
#define GRIDGW_SIM_SCENARIO_H

#include <stdint.h>

#include "sim/sim.h"

struct sim_scenario;

/* Parses and checks `path` against the simulator's devices. Every problem
 * is printed to stderr as "FILE:LINE: message"; returns NULL on any. */
struct sim_scenario *sim_scenario_load(struct sim *s, const char *path);
void sim_scenario_free(struct sim_scenario *sc);
/* Applies the `initial` values (silently). */
void sim_scenario_initial(struct sim *s, struct sim_scenario *sc);
/* Applies every step due at now_ms (relative to s->start_ms), printing
 * "[sim  12.0s] set DEV POINT = V" for each. NULL sc is fine. */
void sim_scenario_tick(struct sim *s, struct sim_scenario *sc, int64_t now_ms);
/* Steps not yet applied. */
int sim_scenario_remaining(const struct sim_scenario *sc);

#endif
