/* web_priv — the parts of the web console that need neither the daemon nor
 * libmicrohttpd: request routing, sessions and CSRF tokens, the login
 * throttle, passwords and HTTP Basic, the Prometheus text writer, the SSE
 * event ring and the embedded assets. Shared by the files of gateway/web/,
 * the unit tests and the fuzz target; nothing else includes it (the daemon
 * uses gateway/web/web.h).
 *
 * Every piece here is thread-safe where it says so: the HTTP threads of
 * libmicrohttpd (one per connection) share the session table, the throttle
 * and the ring; the core thread only ever pushes into the ring. */
#ifndef GRIDGW_WEB_PRIV_H
#define GRIDGW_WEB_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ roles */

enum web_role { WEB_ROLE_NONE = 0, WEB_ROLE_VIEWER, WEB_ROLE_OPERATOR, WEB_ROLE_INSTALLER };

/* "viewer" | "operator" | "installer" -> role, or WEB_ROLE_NONE. */
enum web_role web_role_parse(const char *name);
const char *web_role_name(enum web_role r);

/* ---------------------------------------------------------------- routing */

enum web_route_id {
	WEB_R_NONE = 0,
	WEB_R_INDEX,            /* GET /  (and /index.html) */
	WEB_R_ASSET,            /* GET /assets/<param> */
	WEB_R_METRICS,          /* GET /metrics */
	WEB_R_LOGIN,            /* POST /api/v1/login */
	WEB_R_LOGOUT,           /* POST /api/v1/logout */
	WEB_R_SESSION,          /* GET /api/v1/session */
	WEB_R_STATUS,           /* GET /api/v1/status */
	WEB_R_DEVICES,          /* GET /api/v1/devices */
	WEB_R_DEVICE,           /* GET /api/v1/devices/<param> */
	WEB_R_DEVICE_HISTORY,   /* GET /api/v1/devices/<param>/history */
	WEB_R_DEVICE_READ,      /* GET /api/v1/devices/<param>/read */
	WEB_R_DEVICE_SHELVE,    /* POST /api/v1/devices/<param>/shelve */
	WEB_R_DEVICE_UNSHELVE,  /* POST /api/v1/devices/<param>/unshelve */
	WEB_R_INCIDENTS,        /* GET /api/v1/incidents */
	WEB_R_INCIDENT,         /* GET /api/v1/incidents/<param> */
	WEB_R_INCIDENT_ACK,     /* POST /api/v1/incidents/<param>/ack */
	WEB_R_NOTIFY_TEST,      /* POST /api/v1/notify/test */
	WEB_R_STREAM,           /* GET /api/v1/stream (SSE) */
	WEB_R_COUNT
};

#define WEB_PARAM_MAX 64       /* device and incident ids, as the control socket's fields */
#define WEB_ASSET_PATH_MAX 128

struct web_route {
	enum web_route_id id;
	int status;             /* 0 = matched; 404 unknown path, 405 wrong method, 400 bad id */
	const char *allow;      /* for 405: the method the path takes */
	char param[WEB_ASSET_PATH_MAX];
	bool post;              /* state-changing: needs the CSRF token with a cookie session */
	bool api;               /* under /api/: JSON errors, Cache-Control no-store */
	bool public_route;      /* no login needed (index, assets, login, metrics if enabled) */
	enum web_role min_role; /* role needed when not public */
};

/* Matches a request. method and path as libmicrohttpd gives them (path
 * already percent-decoded, no query string). A path parameter must be 1..63
 * bytes of printable ASCII without '/', '\\' or quotes (ids are like that;
 * anything else cannot name a device or incident). Asset paths are
 * [A-Za-z0-9._-/] without "..". Returns out->status (0 when matched). */
int web_route_match(const char *method, const char *path, struct web_route *out);

/* -------------------------------------------------------------- sessions */

#define WEB_ID_HEX 32            /* 128 bits as lower-case hex */
#define WEB_USER_MAX 64

struct web_session_info {
	char user[WEB_USER_MAX];
	enum web_role role;
	char csrf[WEB_ID_HEX + 1];
};

struct web_sessions;

/* At most max sessions (the least recently used is ended to make room);
 * a session unused for idle_ms ends. Thread-safe. NULL on out of memory. */
struct web_sessions *web_sessions_create(int max, int64_t idle_ms);
void web_sessions_destroy(struct web_sessions *s);
/* New session with fresh 128-bit id and CSRF token from getrandom(2).
 * Returns 0, or -errno (getrandom failed: no session is made). */
int web_session_new(struct web_sessions *s, const char *user, enum web_role role, int64_t now_ms,
		    char id_out[WEB_ID_HEX + 1], struct web_session_info *info_out);
/* Looks a session up by id (constant-time compare), refreshing its idle
 * timer. Returns 0 and fills *out, or -ENOENT (unknown, malformed, expired). */
int web_session_get(struct web_sessions *s, const char *id, int64_t now_ms, struct web_session_info *out);
/* Whether the session is alive, without refreshing its idle timer (a live
 * stream left open is not activity). 0 or -ENOENT. */
int web_session_peek(struct web_sessions *s, const char *id, int64_t now_ms);
/* Ends a session; -ENOENT when there was none. */
int web_session_end(struct web_sessions *s, const char *id);
/* Ends every session of a user (a user removed or whose role changed). */
void web_sessions_end_user(struct web_sessions *s, const char *user);
int web_sessions_count(struct web_sessions *s, int64_t now_ms);

/* 16 random bytes as 32 hex digits + NUL. Returns 0 or -errno. */
int web_random_hex128(char out[WEB_ID_HEX + 1]);
/* Compares two NUL-terminated strings in time independent of where they
 * differ (their lengths may leak). */
bool web_secret_equal(const char *a, const char *b);

/* -------------------------------------------------------------- throttle */

/* Login failures per client address: at most max_failures in window_ms,
 * then every login attempt from the address is refused (429) until the
 * oldest failure leaves the window. Tracks at most max_addrs addresses
 * (the one with the oldest last failure is forgotten first). Thread-safe. */
struct web_throttle;
struct web_throttle *web_throttle_create(int max_addrs, int max_failures, int64_t window_ms);
void web_throttle_destroy(struct web_throttle *t);
/* True when addr may not try now; *retry_after_s gets seconds to wait. */
bool web_throttle_blocked(struct web_throttle *t, const char *addr, int64_t now_ms, int *retry_after_s);
/* Records one failure; returns the failures of addr now in the window. */
int web_throttle_fail(struct web_throttle *t, const char *addr, int64_t now_ms);

/* ----------------------------------------------------- passwords, Basic */

/* web_hash_usable: see web.h. */
/* Verifies password against a crypt(3) hash. 0 = match, -EACCES = no match,
 * -EINVAL = unusable hash, -ENOMEM. */
int web_password_verify(const char *password, const char *hash);

/* Decodes an "Authorization: Basic <base64>" value (the header value, with
 * the scheme) into user and password. Returns 0, or -EINVAL (not Basic,
 * bad base64, no ':', control characters) / -E2BIG (too long). */
int web_basic_decode(const char *header, char *user, size_t userlen, char *pass, size_t passlen);

/* --------------------------------------------------------------- metrics */

/* A growing text buffer for the exposition format. On allocation failure
 * it stops growing and remembers it (web_text_failed). */
struct web_text {
	char *s;
	size_t len, cap;
	bool failed;
};
void web_text_printf(struct web_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void web_text_free(struct web_text *t);

/* Writes value as a label value escaped per the text format 0.0.4
 * (backslash, double quote and newline). */
void web_text_label_value(struct web_text *t, const char *value);
/* "# HELP name help\n# TYPE name type\n" (help escaped: backslash, newline). */
void web_metric_family(struct web_text *t, const char *name, const char *type, const char *help);
/* name{k1="v1",k2="v2"} value\n; labels is NULL-terminated pairs, may be NULL. */
void web_metric_sample(struct web_text *t, const char *name, const char *const *labels, double value);

/* What /proc/self says, for process_* metrics. */
struct web_process_stats {
	double cpu_seconds;
	double resident_bytes;
	double start_time_seconds;   /* since the epoch */
	double open_fds;
	double max_fds;
};
int web_process_stats(struct web_process_stats *out);

/* Renders the whole /metrics answer from the core's status object (the
 * JSON of `gridgw status --json`, parsed) and the process figures.
 * Returns a malloc'd NUL-terminated text, or NULL on out of memory. */
struct cJSON;
char *web_metrics_render(const struct cJSON *status, const struct web_process_stats *ps);

/* ---------------------------------------------------------------- the ring */

/* The live events for SSE clients: a bounded ring of already formatted
 * "event: NAME\ndata: JSON\n\n" records with consecutive sequence numbers.
 * The core pushes (never blocks beyond a short mutex hold: a full ring
 * overwrites the oldest record); each SSE connection reads from its own
 * position. A reader that fell behind the oldest record is told so
 * (WEB_RING_DROPPED) and is dropped by its connection: a slow client can
 * neither block the core nor make the ring grow. */
struct web_ring;
struct web_ring *web_ring_create(size_t capacity);
void web_ring_destroy(struct web_ring *r);
/* Formats and appends one record; data must be one line (JSON printed
 * unformatted). Returns 0, or -ENOMEM / -EMSGSIZE (data over 64 KiB). */
int web_ring_push(struct web_ring *r, const char *event, const char *data);
/* Sequence number the next pushed record will get. */
uint64_t web_ring_next(struct web_ring *r);
enum { WEB_RING_TIMEOUT = 0, WEB_RING_DROPPED = -1, WEB_RING_CLOSED = -2 };
/* Copies whole records from *pos on into buf (at most len bytes; a record
 * longer than len is cut into pieces over several calls, *part remembering
 * where), waiting up to timeout_ms for one. Returns the bytes copied (> 0),
 * WEB_RING_TIMEOUT, WEB_RING_DROPPED (the reader is behind the oldest
 * record) or WEB_RING_CLOSED (web_ring_close was called). */
long web_ring_read(struct web_ring *r, uint64_t *pos, size_t *part, char *buf, size_t len, int timeout_ms);
/* Wakes every reader with WEB_RING_CLOSED from now on. */
void web_ring_close(struct web_ring *r);

/* ---------------------------------------------------------------- assets */

struct web_asset {
	const char *path;          /* relative to gateway/web/assets/, e.g. "app.js" */
	const unsigned char *data;
	size_t len;
};
/* Generated at build time from every file under gateway/web/assets/. */
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

/* Content-Type by extension (text types with charset=utf-8);
 * "application/octet-stream" for anything unknown. */
const char *web_content_type(const char *path);
/* The asset at path, or NULL. */
const struct web_asset *web_asset_find(const char *path);
/* A strong ETag for an asset ("\"<16 hex>\"", FNV-1a 64 of the content). */
void web_asset_etag(const struct web_asset *a, char out[24]);

#endif
