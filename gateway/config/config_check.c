/* config_check — checks that look across settings once they are read:
 * register/bit overlaps inside a profile, and client-id clashes between
 * the MQTT clients the gateway opens. */
#include "gateway/config/config_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void describe_range(const struct point_def *pt, char *buf, size_t len)
{
	if (point_width(pt) == 2)
		snprintf(buf, len, "%s %d-%d", point_table_name(pt->table), pt->address, pt->address + 1);
	else
		snprintf(buf, len, "%s %d", point_table_name(pt->table), pt->address);
}

/* Two points of one table overlap when their address ranges meet, unless
 * both are `bit` points of the same register on different bits. */
static void check_overlaps(struct cfg_ctx *c, const struct profile *p)
{
	for (int i = 0; i < p->n_points; i++) {
		const struct point_def *a = &p->points[i];
		if (a->table == TABLE_NONE || !a->name)
			continue;
		for (int j = 0; j < i; j++) {
			const struct point_def *b = &p->points[j];
			if (b->table != a->table || !b->name)
				continue;
			int a_end = a->address + point_width(a), b_end = b->address + point_width(b);
			if (a->address >= b_end || b->address >= a_end)
				continue;
			if (a->type == PT_BIT && b->type == PT_BIT) {
				if (a->bit != b->bit)
					continue;
				config_errors_add(c->errs, a->file, a->line,
						  "point \"%s\" uses bit %d of %s register %d, as point \"%s\" does (%s:%d)",
						  a->name, a->bit, point_table_name(a->table), a->address, b->name, b->file,
						  b->line);
				break;
			}
			char ra[32], rb[32];
			describe_range(a, ra, sizeof ra);
			describe_range(b, rb, sizeof rb);
			config_errors_add(c->errs, a->file, a->line,
					  "point \"%s\" (%s) overlaps point \"%s\" (%s) of profile \"%s\" (%s:%d)", a->name,
					  ra, b->name, rb, p->name, b->file, b->line);
			break;
		}
	}
}

void cfg_check_profiles(struct cfg_ctx *c)
{
	for (int i = 0; i < c->cfg->n_profiles; i++)
		if (!c->cfg->profiles[i].is_mqtt)
			check_overlaps(c, &c->cfg->profiles[i]);
}

/* A broker disconnects the older of two clients with one client id: the
 * uplink and every source must differ. */
static void check_client_ids(struct cfg_ctx *c)
{
	const struct gw_config *cfg = c->cfg;
	for (int i = 0; i < cfg->n_sources; i++) {
		const struct mqtt_source_config *s = &cfg->sources[i];
		if (!s->client_id)
			continue;
		if (cfg->uplink.url && cfg->uplink.client_id && strcmp(cfg->uplink.client_id, s->client_id) == 0)
			config_errors_add(c->errs, s->file, s->line,
					  "mqtt source \"%s\" uses client id \"%s\", as the uplink does: a broker would drop one",
					  s->name ? s->name : "?", s->client_id);
		for (int j = 0; j < i; j++)
			if (cfg->sources[j].client_id && strcmp(cfg->sources[j].client_id, s->client_id) == 0)
				config_errors_add(c->errs, s->file, s->line,
						  "mqtt source \"%s\" uses client id \"%s\", as source \"%s\" does (%s:%d)",
						  s->name ? s->name : "?", s->client_id,
						  cfg->sources[j].name ? cfg->sources[j].name : "?", cfg->sources[j].file,
						  cfg->sources[j].line);
	}
}

void cfg_check_globals(struct cfg_ctx *c)
{
	check_client_ids(c);
}
