/* sim_mqtt — the simulator's MQTT publishers (one Paho client per source
 * broker that has devices). See sim_mqtt.c for topics and payloads. */
#ifndef GRIDGW_SIM_MQTT_H
#define GRIDGW_SIM_MQTT_H

#include <stdint.h>

#include "sim/sim.h"

struct sim_mqtt;

/* Creates and connects (asynchronously, retrying) a client per used source.
 * Returns 0 and *out, or -1 (logged) when a client cannot be created. */
int sim_mqtt_start(struct sim *s, int64_t heartbeat_ms, unsigned int seed, struct sim_mqtt **out);
/* Publishes what changed since the last tick and the heartbeats due; after a
 * (re)connect, every device. Called from the main loop; takes s->mu. */
void sim_mqtt_tick(struct sim_mqtt *m, int64_t now_ms);
/* Disconnects (bounded wait) and destroys the clients. NULL is fine. */
void sim_mqtt_stop(struct sim_mqtt *m);

#endif
