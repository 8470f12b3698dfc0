/* sim_state — the simulator's device state (see sim.h): point values, the
 * Modbus register/bit images derived from them, faults, counters, and the
 * Modbus request handler shared by the TCP and RTU transports. The handler
 * works on PDUs (function code + data) so framing stays in the transports. */
#include "sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "sensors/decode.h"

static const char *const fault_names[] = {
	[SIM_FAULT_NONE] = "none",       [SIM_FAULT_TIMEOUT] = "timeout",
	[SIM_FAULT_EXCEPTION] = "exception", [SIM_FAULT_BUSY] = "busy",
	[SIM_FAULT_GARBAGE] = "garbage", [SIM_FAULT_CRC] = "crc",
	[SIM_FAULT_SLOW] = "slow",       [SIM_FAULT_DISCONNECT] = "disconnect",
	[SIM_FAULT_SILENT] = "silent",
};

const char *sim_fault_name(enum sim_fault f)
{
	if ((unsigned)f < sizeof fault_names / sizeof fault_names[0])
		return fault_names[f];
	return "?";
}

int sim_fault_parse(const char *name, enum sim_fault *out)
{
	for (size_t i = 1; i < sizeof fault_names / sizeof fault_names[0]; i++) {
		if (strcmp(name, fault_names[i]) == 0) {
			*out = (enum sim_fault)i;
			return 0;
		}
	}
	return -1;
}

static void print_line(struct sim *s, const char *prefix, const char *fmt, va_list ap)
{
	char line[4096];
	int n = snprintf(line, sizeof line, "%s", prefix);
	if (n < 0)
		return;
	int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&s->out_mu);
	const char *p = line;
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* stdout gone: nothing useful left to do with the line */
		p += w;
		n -= (int)w;
	}
	pthread_mutex_unlock(&s->out_mu);
}

void sim_print(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	print_line(s, "", fmt, ap);
	va_end(ap);
}

void sim_print_step(struct sim *s, const char *fmt, ...)
{
	if (s->quiet)
		return;
	char prefix[48];
	double t = (double)(time_mono_ms() - s->start_ms) / 1000.0;
	snprintf(prefix, sizeof prefix, "[sim %5.1fs] ", t);
	va_list ap;
	va_start(ap, fmt);
	print_line(s, prefix, fmt, ap);
	va_end(ap);
}

int sim_find_device(const struct sim *s, const char *id)
{
	for (int i = 0; i < s->n_devs; i++)
		if (strcmp(s->devs[i].cfg->id, id) == 0)
			return i;
	return -1;
}

int sim_find_point(const struct profile *p, const char *name)
{
	for (int i = 0; i < p->n_points; i++)
		if (strcmp(p->points[i].name, name) == 0)
			return i;
	return -1;
}

int sim_parse_value(const struct point_def *p, const char *text, double *value, int *enum_idx)
{
	*enum_idx = -1;
	if (strcasecmp(text, "true") == 0 || strcasecmp(text, "on") == 0) {
		*value = 1;
		return 0;
	}
	if (strcasecmp(text, "false") == 0 || strcasecmp(text, "off") == 0) {
		*value = 0;
		return 0;
	}
	if (p->type == PT_ENUM) {
		for (int i = 0; i < p->n_values; i++) {
			if (strcmp(p->values[i].name, text) == 0) {
				*value = p->values[i].value;
				*enum_idx = i;
				return 0;
			}
		}
	}
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || *end != '\0' || errno != 0 || !isfinite(v))
		return -1;
	*value = v;
	return 0;
}

/* ---- register images ---- */

static int table_build(struct sim_table *t, const struct profile *prof, enum point_table which)
{
	int lo = 65536, hi = -1;
	for (int i = 0; i < prof->n_points; i++) {
		const struct point_def *p = &prof->points[i];
		if (p->table != which)
			continue;
		int last = p->address + point_width(p) - 1;
		if (p->address < lo)
			lo = p->address;
		if (last > hi)
			hi = last;
	}
	t->lo = 0;
	t->n = 0;
	t->words = NULL;
	if (hi < 0)
		return 0;
	if (hi > 65535)
		hi = 65535;
	t->lo = lo;
	t->n = hi - lo + 1;
	t->words = calloc((size_t)t->n, sizeof *t->words);
	return t->words ? 0 : -1;
}

/* Encodes values[point] into the device's image. */
static int image_store(struct sim_device *d, int point)
{
	const struct point_def *p = &d->prof->points[point];
	if (p->table == TABLE_NONE)
		return 0;
	struct sim_table *t = &d->tables[p->table];
	int idx = p->address - t->lo;
	int width = point_width(p);
	if (!t->words || idx < 0 || idx + width > t->n)
		return -EINVAL;
	uint16_t regs[2] = { t->words[idx], 0 };
	int nregs = 0;
	int rc = point_encode(p, d->values[point], regs, &nregs);
	if (rc < 0)
		return rc;
	if (nregs < 1 || nregs > width)
		return -EINVAL;
	for (int i = 0; i < nregs; i++)
		t->words[idx + i] = regs[i];
	return 0;
}

/* After a client wrote addresses [addr, addr+n) of table `which`, decodes
 * every point touching them back into values. */
static void image_load(struct sim_device *d, enum point_table which, int addr, int n)
{
	struct sim_table *t = &d->tables[which];
	for (int i = 0; i < d->prof->n_points; i++) {
		const struct point_def *p = &d->prof->points[i];
		if (p->table != which)
			continue;
		int width = point_width(p);
		if (p->address + width <= addr || p->address >= addr + n)
			continue;
		int idx = p->address - t->lo;
		double v;
		enum quality q;
		if (point_is_bit_table(p))
			q = point_decode_bit(p, (uint8_t)(t->words[idx] != 0), &v);
		else
			q = point_decode_regs(p, &t->words[idx], &v);
		if (q != QUALITY_GOOD)
			continue;
		d->values[i] = v;
		d->enum_idx[i] = -1;
		d->ramps[i].active = false;
		d->dirty = true;
	}
}

static int device_init(struct sim_device *d, const struct gw_config *cfg, int i)
{
	memset(d, 0, sizeof *d);
	d->cfg = &cfg->devices[i];
	d->prof = &cfg->profiles[d->cfg->profile];
	int np = d->prof->n_points;
	d->values = calloc((size_t)(np ? np : 1), sizeof *d->values);
	d->enum_idx = calloc((size_t)(np ? np : 1), sizeof *d->enum_idx);
	d->ramps = calloc((size_t)(np ? np : 1), sizeof *d->ramps);
	if (!d->values || !d->enum_idx || !d->ramps)
		return -1;
	if (!d->prof->is_mqtt) {
		for (int t = TABLE_COIL; t <= TABLE_INPUT; t++)
			if (table_build(&d->tables[t], d->prof, (enum point_table)t) < 0)
				return -1;
	}
	for (int p = 0; p < np; p++) {
		d->enum_idx[p] = -1;
		if (strcmp(d->prof->points[p].name, "battery") == 0)
			d->values[p] = 100;
		if (image_store(d, p) < 0) {
			/* 0 or 100 does not fit this point's encoding (e.g. an
			 * offset): leave the image at zero rather than fail. */
			d->values[p] = 0;
		}
	}
	d->dirty = true;
	return 0;
}

static void device_free(struct sim_device *d)
{
	free(d->values);
	free(d->enum_idx);
	free(d->ramps);
	for (int t = 0; t < 5; t++)
		free(d->tables[t].words);
}

int sim_init(struct sim *s, const struct gw_config *cfg)
{
	memset(s, 0, sizeof *s);
	s->cfg = cfg;
	s->default_slow_ms = 2000;
	atomic_init(&s->stop, false);
	if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_mutex_init(&s->out_mu, NULL) != 0) {
		log_error("sim", "mutex init failed");
		return -1;
	}
	s->devs = calloc((size_t)(cfg->n_devices ? cfg->n_devices : 1), sizeof *s->devs);
	if (!s->devs) {
		log_error("sim", "out of memory");
		return -1;
	}
	for (int i = 0; i < cfg->n_devices; i++) {
		s->n_devs = i + 1;
		if (device_init(&s->devs[i], cfg, i) < 0) {
			log_error("sim", "out of memory for device %s", cfg->devices[i].id);
			return -1;
		}
	}
	s->n_devs = cfg->n_devices;
	s->start_ms = time_mono_ms();
	return 0;
}

void sim_free(struct sim *s)
{
	for (int i = 0; i < s->n_devs; i++)
		device_free(&s->devs[i]);
	free(s->devs);
	s->devs = NULL;
	s->n_devs = 0;
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->out_mu);
}

int sim_set_locked(struct sim *s, struct sim_device *d, int point, double value, int enum_idx)
{
	(void)s;
	double old = d->values[point];
	d->values[point] = value;
	int rc = image_store(d, point);
	if (rc < 0) {
		d->values[point] = old;
		return rc;
	}
	d->enum_idx[point] = enum_idx;
	d->ramps[point].active = false;
	d->dirty = true;
	return 0;
}

void sim_ramp_locked(struct sim *s, struct sim_device *d, int point, double to, int64_t dur_ms, int64_t now_ms)
{
	(void)s;
	struct sim_ramp *r = &d->ramps[point];
	r->from = d->values[point];
	r->to = to;
	r->start_ms = now_ms;
	r->dur_ms = dur_ms;
	r->active = true;
	d->enum_idx[point] = -1;
}

void sim_tick_ramps_locked(struct sim *s, int64_t now_ms)
{
	for (int i = 0; i < s->n_devs; i++) {
		struct sim_device *d = &s->devs[i];
		for (int p = 0; p < d->prof->n_points; p++) {
			struct sim_ramp *r = &d->ramps[p];
			if (!r->active)
				continue;
			double f = r->dur_ms > 0 ? (double)(now_ms - r->start_ms) / (double)r->dur_ms : 1.0;
			if (f >= 1.0)
				f = 1.0;
			double v = r->from + (r->to - r->from) * f;
			double old = d->values[p];
			d->values[p] = v;
			if (image_store(d, p) < 0)
				d->values[p] = old; /* out of range for the type: hold */
			else if (v != old)
				d->dirty = true;
			if (f >= 1.0)
				r->active = false;
		}
	}
}

/* ---- Modbus request handling ---- */

static uint16_t get16(const uint8_t *b) { return (uint16_t)((b[0] << 8) | b[1]); }
static void put16(uint8_t *b, unsigned v) { b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; }

int sim_modbus_exception(uint8_t fc, uint8_t code, uint8_t *rsp)
{
	rsp[0] = (uint8_t)(fc | 0x80);
	rsp[1] = code;
	return 2;
}

/* The image for the request's table, or NULL (exception 2) when the range
 * [addr, addr+qty) is not inside it. */
static struct sim_table *table_range(struct sim_device *d, enum point_table which, int addr, int qty)
{
	struct sim_table *t = &d->tables[which];
	if (!t->words || addr < t->lo || addr + qty > t->lo + t->n)
		return NULL;
	return t;
}

static int pdu_read_bits(struct sim_device *d, enum point_table which, const uint8_t *pdu, int len, uint8_t *rsp)
{
	uint8_t fc = pdu[0];
	if (len != 5)
		return sim_modbus_exception(fc, 0x03, rsp);
	int addr = get16(pdu + 1), qty = get16(pdu + 3);
	if (qty < 1 || qty > 2000)
		return sim_modbus_exception(fc, 0x03, rsp);
	struct sim_table *t = table_range(d, which, addr, qty);
	if (!t)
		return sim_modbus_exception(fc, 0x02, rsp);
	int nbytes = (qty + 7) / 8;
	rsp[0] = fc;
	rsp[1] = (uint8_t)nbytes;
	memset(rsp + 2, 0, (size_t)nbytes);
	for (int i = 0; i < qty; i++)
		if (t->words[addr - t->lo + i])
			rsp[2 + i / 8] |= (uint8_t)(1u << (i % 8));
	d->reads++;
	return 2 + nbytes;
}

static int pdu_read_regs(struct sim_device *d, enum point_table which, const uint8_t *pdu, int len, uint8_t *rsp)
{
	uint8_t fc = pdu[0];
	if (len != 5)
		return sim_modbus_exception(fc, 0x03, rsp);
	int addr = get16(pdu + 1), qty = get16(pdu + 3);
	if (qty < 1 || qty > 125)
		return sim_modbus_exception(fc, 0x03, rsp);
	struct sim_table *t = table_range(d, which, addr, qty);
	if (!t)
		return sim_modbus_exception(fc, 0x02, rsp);
	rsp[0] = fc;
	rsp[1] = (uint8_t)(qty * 2);
	for (int i = 0; i < qty; i++)
		put16(rsp + 2 + 2 * i, t->words[addr - t->lo + i]);
	d->reads++;
	return 2 + 2 * qty;
}

static int pdu_write_coil(struct sim_device *d, const uint8_t *pdu, int len, uint8_t *rsp)
{
	uint8_t fc = pdu[0];
	if (len != 5)
		return sim_modbus_exception(fc, 0x03, rsp);
	int addr = get16(pdu + 1), val = get16(pdu + 3);
	if (val != 0xFF00 && val != 0x0000)
		return sim_modbus_exception(fc, 0x03, rsp);
	struct sim_table *t = table_range(d, TABLE_COIL, addr, 1);
	if (!t)
		return sim_modbus_exception(fc, 0x02, rsp);
	t->words[addr - t->lo] = val ? 1 : 0;
	image_load(d, TABLE_COIL, addr, 1);
	d->writes++;
	memcpy(rsp, pdu, 5);
	return 5;
}

static int pdu_write_reg(struct sim_device *d, const uint8_t *pdu, int len, uint8_t *rsp)
{
	uint8_t fc = pdu[0];
	if (len != 5)
		return sim_modbus_exception(fc, 0x03, rsp);
	int addr = get16(pdu + 1);
	struct sim_table *t = table_range(d, TABLE_HOLDING, addr, 1);
	if (!t)
		return sim_modbus_exception(fc, 0x02, rsp);
	t->words[addr - t->lo] = get16(pdu + 3);
	image_load(d, TABLE_HOLDING, addr, 1);
	d->writes++;
	memcpy(rsp, pdu, 5);
	return 5;
}

static int pdu_write_coils(struct sim_device *d, const uint8_t *pdu, int len, uint8_t *rsp)
{
	uint8_t fc = pdu[0];
	if (len < 6)
		return sim_modbus_exception(fc, 0x03, rsp);
	int addr = get16(pdu + 1), qty = get16(pdu + 3), bc = pdu[5];
	if (qty < 1 || qty > 1968 || bc != (qty + 7) / 8 || len != 6 + bc)
		return sim_modbus_exception(fc, 0x03, rsp);
	struct sim_table *t = table_range(d, TABLE_COIL, addr, qty);
	if (!t)
		return sim_modbus_exception(fc, 0x02, rsp);
	for (int i = 0; i < qty; i++)
		t->words[addr - t->lo + i] = (pdu[6 + i / 8] >> (i % 8)) & 1;
	image_load(d, TABLE_COIL, addr, qty);
	d->writes++;
	memcpy(rsp, pdu, 5);
	return 5;
}

static int pdu_write_regs(struct sim_device *d, const uint8_t *pdu, int len, uint8_t *rsp)
{
	uint8_t fc = pdu[0];
	if (len < 6)
		return sim_modbus_exception(fc, 0x03, rsp);
	int addr = get16(pdu + 1), qty = get16(pdu + 3), bc = pdu[5];
	if (qty < 1 || qty > 123 || bc != 2 * qty || len != 6 + bc)
		return sim_modbus_exception(fc, 0x03, rsp);
	struct sim_table *t = table_range(d, TABLE_HOLDING, addr, qty);
	if (!t)
		return sim_modbus_exception(fc, 0x02, rsp);
	for (int i = 0; i < qty; i++)
		t->words[addr - t->lo + i] = get16(pdu + 6 + 2 * i);
	image_load(d, TABLE_HOLDING, addr, qty);
	d->writes++;
	memcpy(rsp, pdu, 5);
	return 5;
}

/* Serves the request from the images; rsp holds at least 253 bytes. */
static int pdu_serve(struct sim_device *d, const uint8_t *pdu, int len, uint8_t *rsp)
{
	switch (pdu[0]) {
	case 0x01: return pdu_read_bits(d, TABLE_COIL, pdu, len, rsp);
	case 0x02: return pdu_read_bits(d, TABLE_DISCRETE, pdu, len, rsp);
	case 0x03: return pdu_read_regs(d, TABLE_HOLDING, pdu, len, rsp);
	case 0x04: return pdu_read_regs(d, TABLE_INPUT, pdu, len, rsp);
	case 0x05: return pdu_write_coil(d, pdu, len, rsp);
	case 0x06: return pdu_write_reg(d, pdu, len, rsp);
	case 0x0F: return pdu_write_coils(d, pdu, len, rsp);
	case 0x10: return pdu_write_regs(d, pdu, len, rsp);
	default: return sim_modbus_exception(pdu[0], 0x01, rsp);
	}
}

enum sim_action sim_modbus_request(struct sim *s, int dev, const uint8_t *pdu, int pdu_len,
				   uint8_t *rsp, int *rsp_len, int64_t *delay_ms)
{
	*rsp_len = 0;
	*delay_ms = 0;
	if (pdu_len < 1)
		return SIM_ACT_NONE;
	pthread_mutex_lock(&s->mu);
	struct sim_device *d = &s->devs[dev];
	d->requests++;
	enum sim_fault f = d->fault;
	enum sim_action act = SIM_ACT_REPLY;
	switch (f) {
	case SIM_FAULT_TIMEOUT:
	case SIM_FAULT_SILENT:
		act = SIM_ACT_NONE;
		break;
	case SIM_FAULT_DISCONNECT:
		act = SIM_ACT_DISCONNECT;
		break;
	case SIM_FAULT_GARBAGE:
		act = SIM_ACT_GARBAGE;
		break;
	case SIM_FAULT_EXCEPTION:
		*rsp_len = sim_modbus_exception(pdu[0], 0x02, rsp);
		break;
	case SIM_FAULT_BUSY:
		*rsp_len = sim_modbus_exception(pdu[0], 0x06, rsp);
		break;
	case SIM_FAULT_CRC:
		*rsp_len = pdu_serve(d, pdu, pdu_len, rsp);
		act = SIM_ACT_CORRUPT;
		break;
	case SIM_FAULT_SLOW:
		*rsp_len = pdu_serve(d, pdu, pdu_len, rsp);
		*delay_ms = d->slow_ms;
		act = SIM_ACT_DELAY;
		break;
	case SIM_FAULT_NONE:
		*rsp_len = pdu_serve(d, pdu, pdu_len, rsp);
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return act;
}

void sim_modbus_broadcast(struct sim *s, int dev, const uint8_t *pdu, int pdu_len)
{
	uint8_t rsp[256];
	if (pdu_len < 1)
		return;
	/* Only writes make sense broadcast; reads would be answered by nobody. */
	if (pdu[0] != 0x05 && pdu[0] != 0x06 && pdu[0] != 0x0F && pdu[0] != 0x10)
		return;
	pthread_mutex_lock(&s->mu);
	struct sim_device *d = &s->devs[dev];
	d->requests++;
	if (d->fault == SIM_FAULT_NONE || d->fault == SIM_FAULT_SLOW)
		(void)pdu_serve(d, pdu, pdu_len, rsp);
	pthread_mutex_unlock(&s->mu);
}

void sim_random_bytes(unsigned int *seed, uint8_t *buf, int n)
{
	for (int i = 0; i < n; i++)
		buf[i] = (uint8_t)(rand_r(seed) >> 7);
}
