/* model — lookups and point geometry over the config structs (model.h). */
#include "common/model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

int config_index_devices(struct gw_config *cfg)
{
	free(cfg->device_slots);
	cfg->device_slots = NULL;
	cfg->device_slots_cap = 0;
	size_t cap = 16;
	while (cap < (size_t)cfg->n_devices * 2)
		cap *= 2;
	int *slots = malloc(cap * sizeof *slots);
	if (!slots)
		return -1;
	memset(slots, 0xff, cap * sizeof *slots); /* every slot -1 */
	for (int i = 0; i < cfg->n_devices; i++) {
		const char *id = cfg->devices[i].id;
		if (!id)
			continue;
		size_t k = id_hash(id) & (cap - 1);
		while (slots[k] >= 0 && strcmp(cfg->devices[slots[k]].id, id) != 0)
			k = (k + 1) & (cap - 1);
		if (slots[k] < 0) /* a duplicate id keeps its first index, as the linear search */
			slots[k] = i;
	}
	cfg->device_slots = slots;
	cfg->device_slots_cap = cap;
	cfg->device_slots_n = cfg->n_devices;
	return 0;
}

int config_find_device(const struct gw_config *cfg, const char *id)
{
	if (id && cfg->device_slots && cfg->device_slots_n == cfg->n_devices) {
		size_t mask = cfg->device_slots_cap - 1;
		for (size_t k = id_hash(id) & mask; cfg->device_slots[k] >= 0; k = (k + 1) & mask)
			if (strcmp(cfg->devices[cfg->device_slots[k]].id, id) == 0)
				return cfg->device_slots[k];
		return -1; /* the table is at most half full: an empty slot ends every probe */
	}
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
