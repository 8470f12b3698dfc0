/* ulid — see ulid.h. The 128-bit value is kept as 16 big-endian bytes and
 * encoded 5 bits at a time (26 chars = 130 bits, the top 2 always zero). */
#include "common/ulid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void ulid_gen_init(struct ulid_gen *g)
{
	memset(g, 0, sizeof *g);
}

static int random_fill(uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Adds one to the 80-bit random part; -1 on overflow (2^80 IDs in one ms). */
static int rand_increment(uint8_t r[10])
{
	for (int i = 9; i >= 0; i--) {
		if (++r[i] != 0)
			return 0;
	}
	return -1;
}

static void encode(const uint8_t bytes[16], char out[ULID_LEN + 1])
{
	/* Bit i of the 130-bit string (MSB first) is bit i-2 of the value. */
	for (int c = 0; c < ULID_LEN; c++) {
		unsigned v = 0;
		for (int b = 0; b < 5; b++) {
			int bit = c * 5 + b - 2;
			unsigned x = 0;
			if (bit >= 0)
				x = (bytes[bit / 8] >> (7 - bit % 8)) & 1u;
			v = (v << 1) | x;
		}
		out[c] = crockford[v];
	}
	out[ULID_LEN] = '\0';
}

int ulid_generate(struct ulid_gen *g, int64_t wall_ms, char out[ULID_LEN + 1])
{
	uint64_t ms = wall_ms < 0 ? 0 : (uint64_t)wall_ms & 0xFFFFFFFFFFFFull;
	uint8_t rnd[10];
	if (g->has_last && ms <= g->last_ms) {
		/* Same millisecond, or the clock stepped back: stay monotonic. */
		ms = g->last_ms;
		memcpy(rnd, g->last_rand, sizeof rnd);
		if (rand_increment(rnd) != 0)
			return -1;
	} else if (random_fill(rnd, sizeof rnd) != 0) {
		return -1;
	}
	uint8_t bytes[16];
	for (int i = 0; i < 6; i++)
		bytes[i] = (uint8_t)(ms >> (40 - 8 * i));
	memcpy(bytes + 6, rnd, sizeof rnd);
	encode(bytes, out);
	g->last_ms = ms;
	memcpy(g->last_rand, rnd, sizeof rnd);
	g->has_last = true;
	return 0;
}

static int decode_char(char c)
{
	const char *p = strchr(crockford, c);
	return (c && p) ? (int)(p - crockford) : -1;
}

bool ulid_valid(const char *text)
{
	if (!text || strlen(text) != ULID_LEN)
		return false;
	for (int i = 0; i < ULID_LEN; i++)
		if (decode_char(text[i]) < 0)
			return false;
	return decode_char(text[0]) <= 7; /* top 2 of 130 bits must be zero */
}

int ulid_time_ms(const char *text, int64_t *ms)
{
	if (!ulid_valid(text))
		return -1;
	/* The first 10 chars carry 50 bits: 2 zero bits + 48 bits of time. */
	uint64_t v = 0;
	for (int i = 0; i < 10; i++)
		v = (v << 5) | (uint64_t)decode_char(text[i]);
	*ms = (int64_t)v;
	return 0;
}
