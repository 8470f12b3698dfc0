/* model — lookups and point geometry over the config structs (model.h). */
#include "common/model.h"

#include <string.h>

int config_find_device(const struct gw_config *cfg, const char *id)
{
	for (int i = 0; id && i < cfg->n_devices; i++)
		if (cfg->devices[i].id && strcmp(cfg->devices[i].id, id) == 0)
			return i;
	return -1;
}

int config_find_bus(const struct gw_config *cfg, const char *name)
{
	for (int i = 0; name && i < cfg->n_buses; i++)
		if (cfg->buses[i].name && strcmp(cfg->buses[i].name, name) == 0)
			return i;
	return -1;
}

int config_find_profile(const struct gw_config *cfg, const char *name)
{
	for (int i = 0; name && i < cfg->n_profiles; i++)
		if (cfg->profiles[i].name && strcmp(cfg->profiles[i].name, name) == 0)
			return i;
	return -1;
}

int config_find_point(const struct profile *p, const char *name)
{
	for (int i = 0; name && i < p->n_points; i++)
		if (p->points[i].name && strcmp(p->points[i].name, name) == 0)
			return i;
	return -1;
}

int config_find_rule(const struct gw_config *cfg, const char *id)
{
	for (int i = 0; id && i < cfg->n_rules; i++)
		if (cfg->rules[i].id && strcmp(cfg->rules[i].id, id) == 0)
			return i;
	return -1;
}

bool point_is_bit_table(const struct point_def *p)
{
	return p->table == TABLE_COIL || p->table == TABLE_DISCRETE;
}

static bool type_is_32bit(enum point_type t)
{
	return t == PT_U32 || t == PT_S32 || t == PT_F32;
}

int point_width(const struct point_def *p)
{
	if (point_is_bit_table(p))
		return 1;
	return type_is_32bit(p->type) ? 2 : 1;
}

const char *point_table_name(enum point_table t)
{
	switch (t) {
	case TABLE_COIL: return "coil";
	case TABLE_DISCRETE: return "discrete";
	case TABLE_HOLDING: return "holding";
	case TABLE_INPUT: return "input";
	default: return "-";
	}
}

const char *rule_confirmed_type(const struct rule_config *r)
{
	return r->confirmed_type ? r->confirmed_type : "fire.confirmed";
}

bool rule_is_correlation_only(const struct rule_config *r)
{
	return r->group != GROUP_NONE && r->type && strcmp(r->type, rule_confirmed_type(r)) == 0;
}
