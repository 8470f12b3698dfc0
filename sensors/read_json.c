/* read_json — see read_json.h. */
#include "sensors/read_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/point.h"
#include "sensors/modbus_link.h"

cJSON *read_point_json(const struct point_def *pd, const struct modbus_read_point *rp, const char *why)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "name", pd->name);
	if (rp->quality == QUALITY_GOOD)
		cJSON_AddNumberToObject(j, "value", rp->value);
	else
		cJSON_AddNullToObject(j, "value");
	if (pd->unit)
		cJSON_AddStringToObject(j, "unit", pd->unit);
	cJSON_AddStringToObject(j, "quality", quality_name(rp->quality));
	cJSON_AddStringToObject(j, "table", point_table_name(pd->table));
	cJSON_AddNumberToObject(j, "address", pd->address);
	if (rp->read_ok) {
		cJSON *raw = cJSON_AddArrayToObject(j, "raw");
		if (point_is_bit_table(pd))
			cJSON_AddItemToArray(raw, cJSON_CreateNumber(rp->bit));
		for (int k = 0; !point_is_bit_table(pd) && k < point_width(pd); k++)
			cJSON_AddItemToArray(raw, cJSON_CreateNumber(rp->raw[k]));
	} else {
		cJSON_AddNullToObject(j, "raw");
	}
	if (why && why[0])
		cJSON_AddStringToObject(j, "error", why);
	else if (rp->quality == QUALITY_DECODE_ERROR)
		cJSON_AddStringToObject(j, "error", "the registers do not decode (NaN/Inf)");
	return j;
}

void read_format_secs(double s, char *buf, size_t len)
{
	if (s < 1.0)
		snprintf(buf, len, "%.0f ms", s * 1000.0);
	else if (s < 60.0)
		snprintf(buf, len, "%.1f s", s);
	else
		snprintf(buf, len, "%d min %d s", (int)(s / 60.0), (int)s % 60);
}

const char *read_explain_link(const struct bus_config *bus, int err, char *buf, size_t len)
{
	char eb[128], where[160];
	modbus_link_describe(bus, where, sizeof where);
	const char *endpoint = where + 4; /* past "rtu " / "tcp " */
	if (bus->type == BUS_RTU) {
		const char *dev = bus->device ? bus->device : "?";
		switch (err) {
		case ENOENT:
			snprintf(buf, len, "no serial port %s — check the name (ls /dev/ttyS* /dev/ttyUSB* /dev/serial/by-id/)",
				 dev);
			return buf;
		case EACCES: case EPERM:
			snprintf(buf, len, "permission denied on %s — run as root or join group dialout", dev);
			return buf;
		case EBUSY:
			snprintf(buf, len, "%s is busy — another program holds the port", dev);
			return buf;
		case ENXIO: case ENODEV: case EIO:
			snprintf(buf, len, "%s is not usable (%s) — the USB adapter unplugged, or not a serial port", dev,
				 modbus_link_strerror(err, eb, sizeof eb));
			return buf;
		default:
			break;
		}
	} else {
		switch (err) {
		case ECONNREFUSED:
			snprintf(buf, len, "connection refused by %s — nothing listens there: check host, port and that the device is on",
				 endpoint);
			return buf;
		case EINPROGRESS: case ETIMEDOUT:
			snprintf(buf, len, "no answer from %s — check the address, the cable or VLAN, and that the device is on",
				 endpoint);
			return buf;
		case EHOSTUNREACH: case ENETUNREACH:
			snprintf(buf, len, "no route to %s — check the address and the gateway's network settings", endpoint);
			return buf;
		case ECONNRESET: case EPIPE:
			snprintf(buf, len, "connection closed by %s — the device dropped us (too many clients?)", endpoint);
			return buf;
		default:
			break;
		}
	}
	return modbus_link_strerror(err, buf, len);
}

const char *read_explain(const struct bus_config *bus, int unit, int64_t timeout_ms, int err, char *buf, size_t len)
{
	char t[32], eb[128];
	bool rtu = bus->type == BUS_RTU;
	read_format_secs((double)timeout_ms / 1000.0, t, sizeof t);
	switch (err) {
	case ETIMEDOUT:
		if (rtu)
			snprintf(buf, len, "no answer from unit %d within %s — check unit id, baud/parity, A/B wiring", unit, t);
		else
			snprintf(buf, len, "no answer from unit %d within %s — check the unit id and that the device is up", unit,
				 t);
		return buf;
	case EMBBADCRC:
		snprintf(buf, len,
			 "garbled answer from unit %d (bad CRC) — check baud/parity, termination and biasing, and that no other device has unit id %d",
			 unit, unit);
		return buf;
	case EMBBADSLAVE:
		snprintf(buf, len, "an answer from another unit than %d — two devices with one unit id, or another master on the line",
			 unit);
		return buf;
	case EMBBADDATA: case EMBMDATA: case EMBBADEXC: case EMBUNKEXC:
		snprintf(buf, len, "malformed answer from unit %d (%s) — check baud/parity, or another master on the line", unit,
			 modbus_link_strerror(err, eb, sizeof eb));
		return buf;
	case EMBXILFUN:
		snprintf(buf, len,
			 "unit %d answers, but refuses this function (exception 01 illegal function) — check the points' table against the device's manual",
			 unit);
		return buf;
	case EMBXILADD:
		snprintf(buf, len,
			 "unit %d answers, but has no such register (exception 02 illegal data address) — check the profile's addresses against the device's manual",
			 unit);
		return buf;
	case EMBXILVAL:
		snprintf(buf, len,
			 "unit %d refuses the request (exception 03 illegal data value) — it may read fewer registers at once: lower max_block_regs or max_gap",
			 unit);
		return buf;
	case EMBXSFAIL:
		snprintf(buf, len, "unit %d reports an internal failure (exception 04) — check the device itself", unit);
		return buf;
	case EMBXSBUSY: case EMBXACK:
		snprintf(buf, len, "unit %d is busy (exception %s) — try again", unit, err == EMBXSBUSY ? "06" : "05");
		return buf;
	case ENOTCONN:
		/* the daemon's bus thread: its link is down between reconnects */
		snprintf(buf, len, "bus %s link down (not connected)", bus->name);
		return buf;
	case EMBXGPATH:
		snprintf(buf, len, "the Modbus gateway has no path to unit %d (exception 0A) — check its routing", unit);
		return buf;
	case EMBXGTAR:
		snprintf(buf, len,
			 "the Modbus gateway got no answer from unit %d (exception 0B) — check unit id, its serial settings and wiring",
			 unit);
		return buf;
	default:
		break;
	}
	if (err > MODBUS_ENOBASE && err <= EMBBADSLAVE) {
		snprintf(buf, len, "unit %d: %s", unit, modbus_link_strerror(err, eb, sizeof eb));
		return buf;
	}
	char why[256];
	snprintf(buf, len, "bus lost: %s", read_explain_link(bus, err, why, sizeof why));
	return buf;
}
