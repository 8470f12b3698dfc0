/* web_ring — the bounded ring of live events the SSE connections read.
 * See web_priv.h. One mutex and one condition variable (CLOCK_MONOTONIC);
 * the writer (the core) holds the mutex only to swap a pointer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/web/web_priv.h"

#define RING_DATA_MAX (64 * 1024)

struct ring_rec {
	char *text;               /* "event: x\ndata: {...}\n\n" */
	size_t len;
};

struct web_ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ring_rec *recs;
	size_t cap;
	uint64_t next;            /* seq of the next record; record seq lives at recs[seq % cap] */
	bool closed;
};

struct web_ring *web_ring_create(size_t capacity)
{
	if (capacity == 0)
		return NULL;
	struct web_ring *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->recs = calloc(capacity, sizeof *r->recs);
	pthread_condattr_t ca;
	bool ok = r->recs != NULL && pthread_condattr_init(&ca) == 0;
	if (ok) {
		ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&r->cv, &ca) == 0;
		pthread_condattr_destroy(&ca);
	}
	if (ok && pthread_mutex_init(&r->mu, NULL) != 0) {
		pthread_cond_destroy(&r->cv);
		ok = false;
	}
	if (!ok) {
		free(r->recs);
		free(r);
		return NULL;
	}
	r->cap = capacity;
	return r;
}

void web_ring_destroy(struct web_ring *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->cap; i++)
		free(r->recs[i].text);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->recs);
	free(r);
}

int web_ring_push(struct web_ring *r, const char *event, const char *data)
{
	size_t dl = strlen(data);
	if (dl > RING_DATA_MAX)
		return -EMSGSIZE;
	size_t n = strlen(event) + dl + 20;
	char *text = malloc(n);
	if (text == NULL)
		return -ENOMEM;
	/* SSE ends a record at a blank line: a newline inside data would cut it. */
	int len = snprintf(text, n, "event: %s\ndata: ", event);
	for (size_t i = 0; i < dl; i++)
		text[len++] = (data[i] == '\n' || data[i] == '\r') ? ' ' : data[i];
	memcpy(text + len, "\n\n", 3);
	len += 2;
	pthread_mutex_lock(&r->mu);
	struct ring_rec *slot = &r->recs[r->next % r->cap];
	char *old = slot->text;
	slot->text = text;
	slot->len = (size_t)len;
	r->next++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	free(old);
	return 0;
}

uint64_t web_ring_next(struct web_ring *r)
{
	pthread_mutex_lock(&r->mu);
	uint64_t n = r->next;
	pthread_mutex_unlock(&r->mu);
	return n;
}

void web_ring_close(struct web_ring *r)
{
	pthread_mutex_lock(&r->mu);
	r->closed = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static struct timespec deadline_after(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

long web_ring_read(struct web_ring *r, uint64_t *pos, size_t *part, char *buf, size_t len, int timeout_ms)
{
	if (len == 0)
		return WEB_RING_TIMEOUT;
	struct timespec until = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&r->mu);
	long rc = WEB_RING_TIMEOUT;
	for (;;) {
		if (r->closed) {
			rc = WEB_RING_CLOSED;
			break;
		}
		if (r->next > r->cap && *pos < r->next - r->cap) {
			rc = WEB_RING_DROPPED;
			break;
		}
		if (*pos < r->next)
			break;
		if (timeout_ms <= 0 || pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT) {
			if (!r->closed && *pos >= r->next) {
				rc = WEB_RING_TIMEOUT;
				pthread_mutex_unlock(&r->mu);
				return rc;
			}
		}
	}
	if (rc == WEB_RING_TIMEOUT) {
		size_t out = 0;
		while (*pos < r->next && out < len) {
			const struct ring_rec *rec = &r->recs[*pos % r->cap];
			size_t left = rec->len - *part;
			if (left > len - out) {
				if (out > 0)
					break;        /* whole records first; a piece only when it cannot fit */
				left = len - out;
			}
			memcpy(buf + out, rec->text + *part, left);
			out += left;
			*part += left;
			if (*part == rec->len) {
				*part = 0;
				(*pos)++;
			}
		}
		rc = (long)out;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}
