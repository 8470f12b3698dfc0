/* notify_pace — the gateway's own rate limit per channel, so that the
 * robot APIs never throttle it (DingTalk throttles for 10 minutes once
 * its 20/min is exceeded).
 *
 * A sliding window: at most `rate` sends in any `window_ms`. A send counts
 * from when its answer came back (the server has surely seen it by then),
 * so the server's own count over any window can never exceed ours. Once
 * half the window's budget is spent, sends are spaced window/rate apart:
 * a burst then goes out as a few digests spread over the minute instead of
 * twenty messages at once and silence for the rest of it. Backoff after
 * transport errors doubles from 1 s to 10 s; a rate-limit answer waits the
 * API's own throttle time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/notify/notify_priv.h"

int notify_pace_init(struct notify_pace *p, int rate, int64_t window_ms)
{
	memset(p, 0, sizeof *p);
	if (rate < 1 || rate > NOTIFY_PACE_MAX || window_ms < 1)
		return -EINVAL;
	p->sent = calloc((size_t)rate, sizeof *p->sent);
	if (!p->sent)
		return -ENOMEM;
	p->rate = rate;
	p->window_ms = window_ms;
	return 0;
}

void notify_pace_free(struct notify_pace *p)
{
	free(p->sent);
	p->sent = NULL;
}

/* i-th newest send (0 = newest); only for i < n_sent. */
static int64_t nth_newest(const struct notify_pace *p, int i)
{
	int idx = (p->head - 1 - i) % p->rate;
	if (idx < 0)
		idx += p->rate;
	return p->sent[idx];
}

int notify_pace_used(const struct notify_pace *p, int64_t now)
{
	int n = 0;
	for (int i = 0; i < p->n_sent; i++)
		if (nth_newest(p, i) > now - p->window_ms)
			n++;
	return n;
}

int64_t notify_pace_next(const struct notify_pace *p, int64_t now)
{
	int64_t t = now > p->not_before ? now : p->not_before;
	if (p->n_sent == 0)
		return t;
	if (p->n_sent == p->rate) {
		/* The oldest of the last `rate` sends must leave the window first. */
		int64_t oldest = nth_newest(p, p->rate - 1);
		if (oldest + p->window_ms > t)
			t = oldest + p->window_ms;
	}
	if (nth_newest(p, 0) + p->min_gap_ms > t)
		t = nth_newest(p, 0) + p->min_gap_ms;
	if (p->rate >= 2 && notify_pace_used(p, t) >= p->rate / 2) {
		int64_t gap = p->window_ms / p->rate;
		if (nth_newest(p, 0) + gap > t)
			t = nth_newest(p, 0) + gap;
	}
	return t;
}

void notify_pace_sent(struct notify_pace *p, int64_t now)
{
	p->sent[p->head] = now;
	p->head = (p->head + 1) % p->rate;
	if (p->n_sent < p->rate)
		p->n_sent++;
}

void notify_pace_result(struct notify_pace *p, enum notify_verdict v, int64_t pause_ms, int64_t now)
{
	switch (v) {
	case NOTIFY_OK:
		p->backoff_ms = 0;
		break;
	case NOTIFY_RETRY:
		p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : NOTIFY_BACKOFF_MIN_MS;
		if (p->backoff_ms > NOTIFY_BACKOFF_MAX_MS)
			p->backoff_ms = NOTIFY_BACKOFF_MAX_MS;
		p->not_before = now + p->backoff_ms;
		break;
	case NOTIFY_RATE_LIMITED:
		p->not_before = now + pause_ms;
		break;
	case NOTIFY_PERMANENT:
		break;
	}
}
