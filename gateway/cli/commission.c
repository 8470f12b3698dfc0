/* commission — the helpers `gridgw scan` and `gridgw read` share; see
 * commission.h. */
#include "gateway/cli/commission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gateway/cli/cli.h"
#include "gateway/config/config.h"
#include "gateway/control/control.h"
#include "sensors/modbus_link.h"
#include "sensors/read_json.h"

/* The daemon answers status at once; a daemon that does not answer within
 * this is treated as unknown. */
#define GUARD_TIMEOUT_MS 2000

struct gw_config *commission_load(const char *cmd, const char *conf)
{
	const char *path = cli_config_path(conf);
	struct config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	/* scan and read talk to the bus only: an operator need not read secrets */
	if (config_load_without_secrets(path, &cfg, &errs) < 0) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "gridgw %s: %s is not a valid configuration (see `gridgw check`)\n", cmd, path);
		config_errors_clear(&errs);
		return NULL;
	}
	config_errors_clear(&errs);
	return cfg;
}

static void commission_pace(const struct bus_config *bus)
{
	int64_t us = modbus_link_frame_delay_us(bus);
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };
	if (us > 0)
		nanosleep(&ts, NULL);
}

int commission_read_block(modbus_t *ctx, const struct bus_config *bus, const struct modbus_block *blk,
			  struct block_buf *buf, int attempts, int *err)
{
	for (int a = 0; a < attempts; a++) {
		commission_pace(bus);
		int rc = modbus_link_read(ctx, blk->table, blk->start, blk->count, buf->regs, buf->bits);
		if (rc == blk->count)
			return 0;
		*err = rc < 0 ? errno : EMBMDATA;
		enum link_fail k = modbus_link_classify(*err);
		if (k == LINK_FAIL_TIMEOUT || k == LINK_FAIL_FRAME)
			modbus_flush(ctx); /* a late reply must not answer the next request */
		if (k == LINK_FAIL_EXCEPTION || k == LINK_FAIL_LINK)
			return -1;
	}
	return -1;
}

modbus_t *commission_open(const char *cmd, const struct bus_config *bus)
{
	char err[320], what[160], why[320];
	modbus_t *ctx = modbus_link_open(bus, err, sizeof err);
	if (ctx) {
		/* Bytes a previous master left on the line must not answer us. */
		if (bus->type == BUS_RTU)
			modbus_flush(ctx);
		return ctx;
	}
	int e = errno;
	modbus_link_describe(bus, what, sizeof what);
	fprintf(stderr, "gridgw %s: bus %s (%s): cannot open: %s\n", cmd, bus->name, what,
		read_explain_link(bus, e, why, sizeof why));
	return NULL;
}

/* Whether the daemon's status answer lists bus `name`. */
static bool status_has_bus(const cJSON *ans, const char *name)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(ans, "buses")) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return true;
	}
	return false;
}

int commission_guard_bus(const char *cmd, const struct gw_config *cfg, const struct bus_config *bus, bool force)
{
	char sock[256], what[160];
	if (control_socket_path(cfg->gateway.state_dir, sock, sizeof sock) != 0)
		return 0;
	char *resp = NULL;
	int rc = control_call(sock, "{\"op\":\"status\"}", &resp, GUARD_TIMEOUT_MS);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return 0; /* no daemon */
	modbus_link_describe(bus, what, sizeof what);
	if (rc != 0) {
		/* A daemon may be there; we cannot tell whether it polls this bus. */
		fprintf(stderr, "gridgw %s: warning: cannot ask the daemon at %s (%s): make sure it does not poll bus %s\n", cmd,
			sock, strerror(-rc), bus->name);
		return 0;
	}
	cJSON *ans = cJSON_Parse(resp);
	free(resp);
	bool owns = ans && status_has_bus(ans, bus->name);
	cJSON_Delete(ans);
	if (!owns)
		return 0;
	if (bus->type == BUS_TCP) {
		fprintf(stderr,
			"gridgw %s: warning: the running gridgw daemon polls bus %s (%s) too; a Modbus TCP endpoint serves both, "
			"but a device that takes one client only drops one of us\n",
			cmd, bus->name, what);
		return 0;
	}
	if (force) {
		fprintf(stderr,
			"gridgw %s: warning: --force: the running gridgw daemon is the master of bus %s (%s); expect timeouts "
			"and CRC errors on both sides while this runs\n",
			cmd, bus->name, what);
		return 0;
	}
	fprintf(stderr,
		"gridgw %s: the running gridgw daemon is the master of bus %s (%s): an RS-485 line has one master, two "
		"garble each other's frames. Stop it first (systemctl stop gridgw), or add --force\n",
		cmd, bus->name, what);
	return 1;
}
