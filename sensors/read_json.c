/* read_json — see read_json.h. */
#include "sensors/read_json.h"

#include "common/point.h"

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
