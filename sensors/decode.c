/* decode — see decode.h. Raw value extraction per type, then one affine
 * scaling; the encoder is the exact inverse so the simulator and writes can
 * never disagree with the poller about a layout. */
#include "sensors/decode.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* The 32 bits of a two-register point, high word first whatever the order. */
static uint32_t join_words(const struct point_def *p, const uint16_t *regs)
{
	uint16_t hi = regs[0], lo = regs[1];
	if (p->word_order == WORD_LITTLE) {
		hi = regs[1];
		lo = regs[0];
	}
	return (uint32_t)hi << 16 | lo;
}

static void split_words(const struct point_def *p, uint32_t v, uint16_t regs[2])
{
	uint16_t hi = (uint16_t)(v >> 16), lo = (uint16_t)(v & 0xffff);
	if (p->word_order == WORD_LITTLE) {
		regs[0] = lo;
		regs[1] = hi;
	} else {
		regs[0] = hi;
		regs[1] = lo;
	}
}

static enum quality scale_out(const struct point_def *p, double raw, double *value)
{
	double v = p->scale * raw + p->offset;
	if (!isfinite(v))
		return QUALITY_DECODE_ERROR;
	*value = v;
	return QUALITY_GOOD;
}

enum quality point_decode_regs(const struct point_def *p, const uint16_t *regs, double *value)
{
	double raw;
	switch (p->type) {
	case PT_BOOL:
		raw = regs[0] != 0;
		break;
	case PT_BIT:
		if (p->bit < 0 || p->bit > 15)
			return QUALITY_DECODE_ERROR;
		raw = (regs[0] >> p->bit) & 1u;
		break;
	case PT_U16:
		raw = regs[0];
		break;
	case PT_S16:
		raw = (int16_t)regs[0];
		break;
	case PT_U32:
		raw = join_words(p, regs);
		break;
	case PT_S32:
		raw = (int32_t)join_words(p, regs);
		break;
	case PT_F32: {
		uint32_t bits = join_words(p, regs);
		float f;
		memcpy(&f, &bits, sizeof f);
		if (!isfinite(f))
			return QUALITY_DECODE_ERROR;
		raw = f;
		break;
	}
	default:
		return QUALITY_DECODE_ERROR;
	}
	return scale_out(p, raw, value);
}

enum quality point_decode_bit(const struct point_def *p, uint8_t bit, double *value)
{
	if (p->type != PT_BOOL)
		return QUALITY_DECODE_ERROR;
	return scale_out(p, bit ? 1.0 : 0.0, value);
}

/* Rounds raw to an integer in [lo, hi]; -ERANGE outside. */
static int raw_integer(double raw, double lo, double hi, int64_t *out)
{
	double r = nearbyint(raw);
	if (r < lo || r > hi)
		return -ERANGE;
	*out = (int64_t)r;
	return 0;
}

int point_encode(const struct point_def *p, double value, uint16_t regs[2], int *nregs)
{
	if (!isfinite(value) || p->scale == 0.0 || !isfinite(p->scale))
		return -EINVAL;
	double raw = (value - p->offset) / p->scale;
	if (!isfinite(raw))
		return -ERANGE;
	int64_t iv;
	int rc;
	*nregs = 1;
	if (point_is_bit_table(p) || p->type == PT_BOOL) {
		if (p->type != PT_BOOL)
			return -EINVAL;
		regs[0] = nearbyint(raw) != 0.0;
		return 0;
	}
	switch (p->type) {
	case PT_BIT:
		if (p->bit < 0 || p->bit > 15)
			return -EINVAL;
		if (nearbyint(raw) != 0.0)
			regs[0] = (uint16_t)(regs[0] | (1u << p->bit));
		else
			regs[0] = (uint16_t)(regs[0] & ~(1u << p->bit));
		return 0;
	case PT_U16:
		if ((rc = raw_integer(raw, 0, 65535, &iv)) < 0)
			return rc;
		regs[0] = (uint16_t)iv;
		return 0;
	case PT_S16:
		if ((rc = raw_integer(raw, -32768, 32767, &iv)) < 0)
			return rc;
		regs[0] = (uint16_t)(int16_t)iv;
		return 0;
	case PT_U32:
		if ((rc = raw_integer(raw, 0, 4294967295.0, &iv)) < 0)
			return rc;
		split_words(p, (uint32_t)iv, regs);
		*nregs = 2;
		return 0;
	case PT_S32:
		if ((rc = raw_integer(raw, -2147483648.0, 2147483647.0, &iv)) < 0)
			return rc;
		split_words(p, (uint32_t)(int32_t)iv, regs);
		*nregs = 2;
		return 0;
	case PT_F32: {
		if (fabs(raw) > 3.4028234663852886e38)
			return -ERANGE;
		float f = (float)raw;
		uint32_t bits;
		memcpy(&bits, &f, sizeof bits);
		split_words(p, bits, regs);
		*nregs = 2;
		return 0;
	}
	default:
		return -EINVAL;
	}
}
