/* ulid — Universally Unique Lexicographically Sortable Identifiers for
 * incidents: 48 bits of wall-clock milliseconds then 80 random bits from
 * getrandom(2), written as 26 characters of Crockford base32. IDs from one
 * generator sort in creation order: within one millisecond (or if the clock
 * steps back) the random part is incremented instead of redrawn. */
#ifndef GRIDGW_ULID_H
#define GRIDGW_ULID_H

#include <stdbool.h>
#include <stdint.h>

#define ULID_LEN 26

struct ulid_gen {
	uint64_t last_ms;
	uint8_t last_rand[10];
	bool has_last;
};

void ulid_gen_init(struct ulid_gen *g);
/* Writes a NUL-terminated ULID into out (ULID_LEN + 1 bytes). Returns 0, or
 * -1 when no randomness is available or the random part would overflow. */
int ulid_generate(struct ulid_gen *g, int64_t wall_ms, char out[ULID_LEN + 1]);
/* Decodes the time part of a ULID; 0 or -1 when text is not a valid ULID. */
int ulid_time_ms(const char *text, int64_t *ms);
bool ulid_valid(const char *text);

#endif
