/* sim_control — the simulator's control channel thread (Unix socket and/or
 * stdin) and the `gridgw-sim ctl` client. The command language itself is
 * sim_control_exec() in sim.h. */
#ifndef GRIDGW_SIM_CONTROL_H
#define GRIDGW_SIM_CONTROL_H

#include <stdbool.h>

#include "sim/sim.h"

struct sim_control;

/* Listens on sock_path (may be NULL; a stale socket file is replaced) and/or
 * reads stdin, once sim_control_run starts its thread. Returns 0 and *out,
 * or -1 (logged). */
int sim_control_start(struct sim *s, const char *sock_path, bool use_stdin, struct sim_control **out);
/* Starts answering (after the "ready" line, so no reply can come before
 * it on stdout; clients that connected meanwhile wait in the backlog).
 * NULL is fine. Returns 0, or -1 (logged). */
int sim_control_run(struct sim_control *c);
/* Stops the thread, closes clients, removes the socket file. NULL is fine. */
void sim_control_stop(struct sim_control *c);

/* Sends argv joined by spaces as one command to sock_path and prints the
 * reply line. Returns 0 for "ok ...", 1 for "error ...", 2 when there was no
 * reply (no simulator, timeout). */
int sim_control_client(const char *sock_path, int argc, char **argv);

#endif
