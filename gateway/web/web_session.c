/* web_session — console sessions (128-bit random ids, a CSRF token each,
 * idle timeout) and the per-address login throttle. Both are small fixed
 * tables behind one mutex each: a site has a handful of users, and a
 * bounded table is what an attacker on the LAN cannot grow. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gateway/web/web_priv.h"

int web_random_hex128(char out[WEB_ID_HEX + 1])
{
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t r = getrandom(b + got, sizeof b - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof b; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[WEB_ID_HEX] = '\0';
	return 0;
}

bool web_secret_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	size_t na = strlen(a), nb = strlen(b);
	/* Walk the expected secret's length whatever the guess is. */
	unsigned diff = (unsigned)(na ^ nb);
	for (size_t i = 0; i < nb; i++)
		diff |= (unsigned char)(i < na ? a[i] : 0) ^ (unsigned char)b[i];
	return diff == 0;
}

/* ---------------------------------------------------------------- sessions */

struct session {
	bool used;
	char id[WEB_ID_HEX + 1];
	struct web_session_info info;
	int64_t last_ms;
};

struct web_sessions {
	pthread_mutex_t mu;
	struct session *tab;
	int max;
	int64_t idle_ms;
};

struct web_sessions *web_sessions_create(int max, int64_t idle_ms)
{
	if (max <= 0 || idle_ms <= 0)
		return NULL;
	struct web_sessions *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->tab = calloc((size_t)max, sizeof *s->tab);
	if (s->tab == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s->tab);
		free(s);
		return NULL;
	}
	s->max = max;
	s->idle_ms = idle_ms;
	return s;
}

void web_sessions_destroy(struct web_sessions *s)
{
	if (s == NULL)
		return;
	/* Ids and tokens are secrets: do not leave them in freed memory. */
	explicit_bzero(s->tab, (size_t)s->max * sizeof *s->tab);
	pthread_mutex_destroy(&s->mu);
	free(s->tab);
	free(s);
}

static bool expired(const struct web_sessions *s, const struct session *e, int64_t now)
{
	return now - e->last_ms >= s->idle_ms;
}

static bool id_wellformed(const char *id)
{
	if (id == NULL || strlen(id) != WEB_ID_HEX)
		return false;
	for (int i = 0; i < WEB_ID_HEX; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

int web_session_new(struct web_sessions *s, const char *user, enum web_role role, int64_t now_ms,
		    char id_out[WEB_ID_HEX + 1], struct web_session_info *info_out)
{
	struct session fresh = { .used = true, .last_ms = now_ms };
	int rc = web_random_hex128(fresh.id);
	if (rc == 0)
		rc = web_random_hex128(fresh.info.csrf);
	if (rc != 0)
		return rc;
	snprintf(fresh.info.user, sizeof fresh.info.user, "%s", user);
	fresh.info.role = role;
	pthread_mutex_lock(&s->mu);
	struct session *slot = NULL;
	for (int i = 0; i < s->max && slot == NULL; i++)
		if (!s->tab[i].used || expired(s, &s->tab[i], now_ms))
			slot = &s->tab[i];
	if (slot == NULL) {
		slot = &s->tab[0];
		for (int i = 1; i < s->max; i++)
			if (s->tab[i].last_ms < slot->last_ms)
				slot = &s->tab[i];
	}
	*slot = fresh;
	pthread_mutex_unlock(&s->mu);
	memcpy(id_out, fresh.id, sizeof fresh.id);
	if (info_out)
		*info_out = fresh.info;
	explicit_bzero(&fresh, sizeof fresh);
	return 0;
}

int web_session_get(struct web_sessions *s, const char *id, int64_t now_ms, struct web_session_info *out)
{
	if (!id_wellformed(id))
		return -ENOENT;
	int rc = -ENOENT;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->max; i++) {
		struct session *e = &s->tab[i];
		/* Every slot is compared, so the time taken says nothing about which. */
		bool match = e->used && web_secret_equal(id, e->id);
		if (!match)
			continue;
		if (expired(s, e, now_ms)) {
			explicit_bzero(e, sizeof *e);
			continue;
		}
		e->last_ms = now_ms;
		if (out)
			*out = e->info;
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int web_session_peek(struct web_sessions *s, const char *id, int64_t now_ms)
{
	if (!id_wellformed(id))
		return -ENOENT;
	int rc = -ENOENT;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->max; i++)
		if (s->tab[i].used && web_secret_equal(id, s->tab[i].id) && !expired(s, &s->tab[i], now_ms))
			rc = 0;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int web_session_end(struct web_sessions *s, const char *id)
{
	if (!id_wellformed(id))
		return -ENOENT;
	int rc = -ENOENT;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->max; i++) {
		if (s->tab[i].used && web_secret_equal(id, s->tab[i].id)) {
			explicit_bzero(&s->tab[i], sizeof s->tab[i]);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void web_sessions_end_user(struct web_sessions *s, const char *user)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->max; i++)
		if (s->tab[i].used && strcmp(s->tab[i].info.user, user) == 0)
			explicit_bzero(&s->tab[i], sizeof s->tab[i]);
	pthread_mutex_unlock(&s->mu);
}

int web_sessions_count(struct web_sessions *s, int64_t now_ms)
{
	int n = 0;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->max; i++)
		if (s->tab[i].used && !expired(s, &s->tab[i], now_ms))
			n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---------------------------------------------------------------- throttle */

#define THROTTLE_ADDR_MAX 64     /* an IPv6 text address is at most 45 */
#define THROTTLE_FAIL_MAX 32

struct throttle_entry {
	char addr[THROTTLE_ADDR_MAX];
	int64_t fails[THROTTLE_FAIL_MAX];  /* ring of failure times */
	int n;                             /* valid entries, newest at (head - 1) */
	int head;
	int64_t last_ms;
};

struct web_throttle {
	pthread_mutex_t mu;
	struct throttle_entry *tab;
	int max_addrs;
	int max_failures;
	int64_t window_ms;
};

struct web_throttle *web_throttle_create(int max_addrs, int max_failures, int64_t window_ms)
{
	if (max_addrs <= 0 || max_failures <= 0 || max_failures > THROTTLE_FAIL_MAX || window_ms <= 0)
		return NULL;
	struct web_throttle *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->tab = calloc((size_t)max_addrs, sizeof *t->tab);
	if (t->tab == NULL || pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t->tab);
		free(t);
		return NULL;
	}
	t->max_addrs = max_addrs;
	t->max_failures = max_failures;
	t->window_ms = window_ms;
	return t;
}

void web_throttle_destroy(struct web_throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->tab);
	free(t);
}

/* Drops failures that left the window. */
static void throttle_age(const struct web_throttle *t, struct throttle_entry *e, int64_t now)
{
	while (e->n > 0) {
		int oldest = (e->head - e->n + THROTTLE_FAIL_MAX) % THROTTLE_FAIL_MAX;
		if (now - e->fails[oldest] < t->window_ms)
			break;
		e->n--;
	}
	if (e->n == 0)
		e->addr[0] = '\0';
}

static struct throttle_entry *throttle_find(struct web_throttle *t, const char *addr, int64_t now)
{
	for (int i = 0; i < t->max_addrs; i++) {
		struct throttle_entry *e = &t->tab[i];
		if (e->addr[0] == '\0')
			continue;
		throttle_age(t, e, now);
		if (e->addr[0] != '\0' && strcmp(e->addr, addr) == 0)
			return e;
	}
	return NULL;
}

bool web_throttle_blocked(struct web_throttle *t, const char *addr, int64_t now_ms, int *retry_after_s)
{
	bool blocked = false;
	pthread_mutex_lock(&t->mu);
	struct throttle_entry *e = throttle_find(t, addr, now_ms);
	if (e != NULL && e->n >= t->max_failures) {
		/* Free again when the failure that makes it max_failures leaves. */
		int idx = (e->head - t->max_failures + THROTTLE_FAIL_MAX) % THROTTLE_FAIL_MAX;
		int64_t wait = e->fails[idx] + t->window_ms - now_ms;
		if (retry_after_s)
			*retry_after_s = (int)((wait + 999) / 1000);
		blocked = true;
	}
	pthread_mutex_unlock(&t->mu);
	return blocked;
}

int web_throttle_fail(struct web_throttle *t, const char *addr, int64_t now_ms)
{
	pthread_mutex_lock(&t->mu);
	struct throttle_entry *e = throttle_find(t, addr, now_ms);
	if (e == NULL) {
		struct throttle_entry *victim = NULL;
		for (int i = 0; i < t->max_addrs && victim == NULL; i++)
			if (t->tab[i].addr[0] == '\0')
				victim = &t->tab[i];
		if (victim == NULL) {
			victim = &t->tab[0];
			for (int i = 1; i < t->max_addrs; i++)
				if (t->tab[i].last_ms < victim->last_ms)
					victim = &t->tab[i];
		}
		memset(victim, 0, sizeof *victim);
		snprintf(victim->addr, sizeof victim->addr, "%s", addr[0] ? addr : "?");
		e = victim;
	}
	e->fails[e->head] = now_ms;
	e->head = (e->head + 1) % THROTTLE_FAIL_MAX;
	if (e->n < THROTTLE_FAIL_MAX)
		e->n++;
	e->last_ms = now_ms;
	int n = e->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}
