/* notify_priv — what the files of the notify module share and nothing else
 * includes (tests aside): the notification item, signing helpers, message
 * rendering, per-channel request building and answer classification, and the
 * pacing state. These parts are pure (no threads, no I/O) so they are unit
 * tested directly; notify_thread.c runs them under libcurl. */
#ifndef GRIDGW_NOTIFY_PRIV_H
#define GRIDGW_NOTIFY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/notify/notify_config.h"

/* ---- one notification: an incident event as a person should read it ---- */

struct notify_item {
	int64_t job;              /* store row id; 0 for `gridgw notify test` */
	char incident[32];        /* ULID */
	char event[16];           /* raised | cleared | escalated */
	char type[64];            /* fire.smoke … */
	int severity;             /* 1 most severe .. 4 */
	char device[64];
	char rule[64];
	char message[512];        /* the rule's rendered message */
	char building[32], entrance[32], room[32];
	char place[128];
	int floor;
	bool has_floor;
	int64_t ts_ms;            /* wall time of the event */
	int route;                /* route index (for the record) */
	int step;                 /* 0 = first notice, 1 = an escalation step (after/unless) */
	int64_t after_ms;         /* escalation step: its `after` */
	enum notify_unless unless;
	char *template_text;      /* malloc'd route override, or NULL */
	char *event_json;         /* malloc'd: the event as published (webhook body), or NULL */
};

void notify_item_free(struct notify_item *it);

/* ---- signing (notify_sign.c): HMAC-SHA256 from OpenSSL libcrypto ---- */

#define NOTIFY_SHA256_LEN 32
int notify_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		       unsigned char out[NOTIFY_SHA256_LEN]);
/* Standard base64 with padding; out needs 4*((n+2)/3)+1 bytes. Returns the length. */
size_t notify_base64(const unsigned char *in, size_t n, char *out);
/* Percent-encodes everything but ALPHA DIGIT - . _ ~ (RFC 3986 unreserved).
 * Returns 0, or -1 when out is too small. */
int notify_urlencode(const char *in, char *out, size_t outlen);
/* Lower-case hex; out needs 2n+1 bytes. */
void notify_hex(const unsigned char *in, size_t n, char *out);
/* DingTalk: urlencode(base64(HMAC-SHA256(key=secret, msg=ts_ms "\n" secret))). */
int notify_sign_dingtalk(const char *secret, int64_t ts_ms, char *out, size_t outlen);
/* Feishu: base64(HMAC-SHA256(key=ts_s "\n" secret, msg="")). out >= 45 bytes. */
int notify_sign_feishu(const char *secret, int64_t ts_s, char *out, size_t outlen);
/* Webhook: "sha256=" HEX(HMAC-SHA256(secret, body)). out >= 72 bytes. */
int notify_sign_webhook(const char *secret, const char *body, size_t len, char *out, size_t outlen);

/* ---- text (notify_text.c): labels, templates, UTF-8-safe cutting ---- */

enum notify_lang { NOTIFY_LANG_ZH = 0, NOTIFY_LANG_EN };
enum notify_lang notify_lang_of(const char *language);
const char *notify_severity_label(enum notify_lang l, int severity);
/* A label for a known type ("fire.smoke" → 烟感报警), else NULL. */
const char *notify_type_label(enum notify_lang l, const char *type);

/* Length of the longest prefix of s (at most max bytes) that ends on a
 * UTF-8 character boundary. */
size_t notify_utf8_prefix(const char *s, size_t max);
/* True when s[0..len) is valid UTF-8. */
bool notify_utf8_valid(const char *s, size_t len);
/* Cuts a malloc'd string in place to at most max bytes, ending in "…"
 * when cut, never inside a character. */
void notify_cut(char *s, size_t max);

/* The placeholder names templates may use; validation for `gridgw check`.
 * Returns 0, or -1 with the offending name in bad. */
int notify_template_check(const char *tmpl, char *bad, size_t badlen);

struct notify_render_ctx {
	enum notify_lang lang;
	const char *console_url;  /* may be NULL */
	enum notify_channel_type type;
	enum notify_format format;/* resolved: TEXT, MARKDOWN or CARD */
	size_t limit;             /* content size limit in bytes */
	const char *const *mention; /* dingtalk: "@mobile" appended to the text */
	int n_mention;
};

struct notify_text {
	char title[192];          /* short: DingTalk title, e-mail subject, card header */
	char *body;               /* malloc'd, valid UTF-8, strlen(body) <= limit */
};

/* One item as a message (the route's template or the default). Returns 0 or -ENOMEM. */
int notify_render_one(const struct notify_render_ctx *rc, const struct notify_item *it, struct notify_text *out);
/* A digest of items[0..n) (already sorted most severe first): as many lines
 * as fit the limit, then "and N more to follow". *used gets how many items
 * the message covers (at least 1). Returns 0 or -ENOMEM. */
int notify_render_digest(const struct notify_render_ctx *rc, const struct notify_item *const *items, size_t n,
			 size_t *used, struct notify_text *out);
void notify_text_free(struct notify_text *t);
/* The local time of a wall-clock ms as "2026-11-22 16:00:03". */
void notify_format_local(int64_t wall_ms, char *buf, size_t len);
/* Orders items most severe first, then oldest first (qsort comparator on item pointers). */
int notify_item_cmp(const void *a, const void *b);

/* ---- channels (notify_channel.c): requests and answers ---- */

/* The resolved format and size limit of a channel. */
enum notify_format notify_channel_format(const struct notify_channel_config *ch);
size_t notify_channel_limit(const struct notify_channel_config *ch);

struct notify_request {
	char *url;                /* malloc'd */
	char *body;               /* malloc'd (JSON, or for e-mail the RFC 5322 message) */
	size_t body_len;
	char *headers[4];         /* malloc'd "Name: value" lines */
	int n_headers;
};
void notify_request_free(struct notify_request *r);

/* Builds the HTTP (or SMTP) request that carries text t on channel ch at
 * wall time now_ms (signatures). event_json: webhook body (the event as
 * published); for other types it is ignored. Returns 0 or a negative errno. */
int notify_build_request(const struct notify_channel_config *ch, const struct notify_text *t,
			 const char *event_json, int64_t now_ms, struct notify_request *out);

enum notify_verdict {
	NOTIFY_OK = 0,
	NOTIFY_RETRY,             /* transport error, 5xx, unparsable answer: back off and retry */
	NOTIFY_RATE_LIMITED,      /* the API says too fast: wait longer, retry */
	NOTIFY_PERMANENT,         /* cannot succeed by retrying (bad key, signature, 4xx) */
};
/* Classifies an answer. transport_error: libcurl's text when the transfer
 * failed (then status/body are ignored). error gets a short reason (never a
 * secret) for anything but NOTIFY_OK. */
enum notify_verdict notify_classify(enum notify_channel_type type, const char *transport_error, long status,
				    const char *body, size_t len, char *error, size_t errlen);
/* How long the API throttles after a rate-limit answer. */
int64_t notify_rate_limit_pause_ms(enum notify_channel_type type);
/* Default per-minute rate of a channel type (the API's documented limit). */
int notify_default_rate(enum notify_channel_type type);
int notify_type_parse(const char *name, enum notify_channel_type *out);

/* ---- pacing (notify_pace.c): the gateway's own rate limit and backoff ---- */

#define NOTIFY_PACE_MAX 1000      /* largest `rate` accepted */
#define NOTIFY_BACKOFF_MIN_MS 1000
#define NOTIFY_BACKOFF_MAX_MS 10000

struct notify_pace {
	int rate;                 /* at most this many sends … */
	int64_t window_ms;        /* … in any window this long */
	int64_t *sent;            /* ring of the last `rate` send times (mono ms) */
	int n_sent, head;
	int64_t not_before;       /* backoff / API throttle: no send before this */
	int64_t backoff_ms;       /* current transport backoff (doubles, capped) */
	int64_t min_gap_ms;       /* smallest time between two sends (Feishu: 5/s) */
};
int notify_pace_init(struct notify_pace *p, int rate, int64_t window_ms);
void notify_pace_free(struct notify_pace *p);
/* Earliest time >= now a send may start (sliding window, backoff, and a
 * spacing of window/rate once half the window's budget is used, so a burst
 * does not spend the whole minute at once). */
int64_t notify_pace_next(const struct notify_pace *p, int64_t now);
/* Sends started in (now - window, now]. */
int notify_pace_used(const struct notify_pace *p, int64_t now);
void notify_pace_sent(struct notify_pace *p, int64_t now);
/* After an answer: OK resets the backoff; RETRY doubles it; RATE_LIMITED waits pause_ms. */
void notify_pace_result(struct notify_pace *p, enum notify_verdict v, int64_t pause_ms, int64_t now);

/* ---- routing (notify_route.c): which routes an incident event matches ---- */

/* fnmatch-style glob with '*' and '?' only; true on a match. */
bool notify_glob_match(const char *pattern, const char *s);
/* Checks a glob for `gridgw check`: non-empty, printable, no '[' classes. */
bool notify_glob_valid(const char *pattern);
/* Parses "HH:MM-HH:MM"; 0 or -1. from == to is refused (use no hours). */
int notify_hours_parse(const char *text, int *from_min, int *to_min);
/* Minutes since local midnight of a wall time. */
int notify_local_minute(int64_t wall_ms);
/* Whether wall time t is inside the route's hours (true without hours), and
 * if not, the wall time the window next opens (*opens). */
bool notify_hours_open(const struct notify_route_config *r, int64_t wall_ms, int64_t *opens);
/* Whether an event (type, severity, building, event kind bit) matches a
 * route's `match` and `events`. */
bool notify_route_matches(const struct notify_route_config *r, const char *type, int severity,
			  const char *building, unsigned event_bit);

#endif
