/* modbus_plan — see modbus_plan.h. Greedy left-to-right merging over the
 * points of one table sorted by address: extending the current block while
 * the gap and size limits allow is optimal for interval covering of this
 * shape, and it is O(n log n) at load time only. */
#include "sensors/modbus_plan.h"

#include <errno.h>
#include <stdlib.h>

#include "sensors/decode.h"

struct entry {
	enum point_table table;
	int start, end;   /* inclusive addresses */
	int point;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->table != y->table)
		return (int)x->table - (int)y->table;
	if (x->start != y->start)
		return x->start - y->start;
	return x->point - y->point;
}

static void plan_limits(const struct bus_config *bus, int *gap, int *max_regs, int *max_bits)
{
	*gap = bus ? bus->max_gap : MODBUS_PLAN_DEFAULT_GAP;
	if (*gap < 0)
		*gap = 0;
	*max_regs = bus && bus->max_block_regs > 0 && bus->max_block_regs <= MODBUS_PLAN_MAX_REGS
		? bus->max_block_regs : MODBUS_PLAN_MAX_REGS;
	if (*max_regs < 2)
		*max_regs = 2; /* a 32-bit point must fit one request */
	*max_bits = bus && bus->max_block_bits > 0 && bus->max_block_bits <= MODBUS_PLAN_MAX_BITS
		? bus->max_block_bits : MODBUS_PLAN_MAX_BITS;
}

/* Fills e[] with the profile's Modbus points; returns their number or -EINVAL. */
static int collect_entries(const struct profile *p, struct entry *e)
{
	int n = 0;
	for (int i = 0; i < p->n_points; i++) {
		const struct point_def *pd = &p->points[i];
		if (pd->table == TABLE_NONE)
			return -EINVAL;
		int w = point_width(pd);
		if (pd->address < 0 || pd->address + w - 1 > 65535)
			return -EINVAL;
		e[n++] = (struct entry){ pd->table, pd->address, pd->address + w - 1, i };
	}
	qsort(e, (size_t)n, sizeof *e, entry_cmp);
	return n;
}

void modbus_plan_free(struct modbus_plan *plan)
{
	if (!plan)
		return;
	free(plan->blocks);
	free(plan->slots);
	*plan = (struct modbus_plan){ 0 };
}

int modbus_plan_build(const struct profile *p, const struct bus_config *bus, struct modbus_plan *out)
{
	*out = (struct modbus_plan){ 0 };
	if (p->is_mqtt || p->n_points == 0)
		return 0;
	int gap, max_regs, max_bits;
	plan_limits(bus, &gap, &max_regs, &max_bits);
	struct entry *e = calloc((size_t)p->n_points, sizeof *e);
	out->blocks = calloc((size_t)p->n_points, sizeof *out->blocks);
	out->slots = calloc((size_t)p->n_points, sizeof *out->slots);
	if (!e || !out->blocks || !out->slots) {
		free(e);
		modbus_plan_free(out);
		return -ENOMEM;
	}
	int n = collect_entries(p, e);
	if (n < 0) {
		free(e);
		modbus_plan_free(out);
		return n;
	}
	struct modbus_block *cur = NULL;
	int cur_end = 0;
	for (int i = 0; i < n; i++) {
		int max = (e[i].table == TABLE_COIL || e[i].table == TABLE_DISCRETE) ? max_bits : max_regs;
		int new_end = e[i].end > cur_end ? e[i].end : cur_end;
		bool fits = cur && cur->table == e[i].table && e[i].start <= cur_end + 1 + gap &&
			new_end - cur->start + 1 <= max;
		if (!fits) {
			cur = &out->blocks[out->n_blocks++];
			*cur = (struct modbus_block){ e[i].table, e[i].start, 0, out->n_slots, 0 };
			new_end = e[i].end;
		}
		cur_end = new_end;
		cur->count = cur_end - cur->start + 1;
		cur->n_slots++;
		out->slots[out->n_slots++] = (struct modbus_slot){ e[i].point, e[i].start - cur->start };
		if (cur->count > out->max_count)
			out->max_count = cur->count;
	}
	free(e);
	return 0;
}

int modbus_plan_count_requests(const struct profile *p, const struct bus_config *bus)
{
	struct modbus_plan plan;
	int rc = modbus_plan_build(p, bus, &plan);
	if (rc < 0)
		return rc;
	rc = plan.n_blocks;
	modbus_plan_free(&plan);
	return rc;
}
