/* config_index — a string -> index hash table for the loader's duplicate and
 * reference checks. A config with N devices used to compare each new device
 * with every earlier one (N²/2 strcmp: 80k devices took 10 s in `check`); an
 * open-addressing table keeps loading linear in the config's size. */
#include "gateway/config/config_priv.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over the key, then the int tag (bus/unit pairs use it). */
static uint64_t hash_key(const char *s, int tag)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h = (h ^ (uint64_t)(unsigned)tag) * 1099511628211ULL;
	return h ^ (h >> 29);
}

void cfg_index_init(struct cfg_index *ix, int expected)
{
	size_t cap = 16;
	while (cap < (size_t)(expected > 0 ? expected : 1) * 2)
		cap *= 2;
	ix->cap = cap;
	ix->n = 0;
	ix->slots = cfg_xcalloc(cap, sizeof *ix->slots);
}

void cfg_index_free(struct cfg_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof *ix);
}

static struct cfg_index_slot *probe(const struct cfg_index *ix, const char *key, int tag)
{
	size_t mask = ix->cap - 1;
	for (size_t i = hash_key(key, tag) & mask;; i = (i + 1) & mask) {
		struct cfg_index_slot *s = &ix->slots[i];
		if (!s->key || (s->tag == tag && strcmp(s->key, key) == 0))
			return s; /* the table is never more than half full: an empty slot exists */
	}
}

static void grow(struct cfg_index *ix)
{
	struct cfg_index old = *ix;
	cfg_index_init(ix, (int)old.cap);
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*probe(ix, old.slots[i].key, old.slots[i].tag) = old.slots[i];
	ix->n = old.n;
	free(old.slots);
}

int cfg_index_add(struct cfg_index *ix, const char *key, int tag, int value)
{
	if (!key)
		return -1;
	if ((ix->n + 1) * 2 > ix->cap)
		grow(ix);
	struct cfg_index_slot *s = probe(ix, key, tag);
	if (s->key)
		return s->value;
	s->key = key;
	s->tag = tag;
	s->value = value;
	ix->n++;
	return -1;
}

int cfg_index_get(const struct cfg_index *ix, const char *key, int tag)
{
	if (!key || !ix->cap)
		return -1;
	const struct cfg_index_slot *s = probe(ix, key, tag);
	return s->key ? s->value : -1;
}
