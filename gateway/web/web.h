/* web — the local web console, its JSON API (/api/v1/...) and /metrics,
 * served by the daemon itself with libmicrohttpd. See docs/console.md.
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by the
 * connection limits below). Those threads never touch core state: a request
 * that needs the core becomes a `struct control_request` — built as the
 * control socket's JSON and parsed by the very same control_parse_request,
 * so the CLI and the console share one vocabulary — and travels to the core
 * as MSG_WEB_REQUEST carrying a struct web_call. The core answers it with
 * web_call_answer (status + JSON) on its own thread; the HTTP thread waits
 * on a condition variable for at most WEB_CORE_TIMEOUT_MS, then answers 503.
 *
 * Live updates: the core hands every incident event (the JSON published on
 * P/G/incident) and every device online/offline change to web_publish once
 * the transaction that made it committed. web_publish copies into a bounded
 * ring (never blocks beyond a short mutex hold) from which the SSE
 * connections read; a client that falls a whole ring behind is dropped. */
#ifndef GRIDGW_WEB_H
#define GRIDGW_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/control/control.h"

struct queue;
struct console_config;

/* Limits (docs/console.md, "Security"). */
#define WEB_MAX_CONNECTIONS 64          /* all clients together */
#define WEB_MAX_PER_IP 16               /* one address (a LAN client, a scanner) */
#define WEB_CONNECTION_TIMEOUT_S 20     /* idle connection closed after this */
#define WEB_CONNECTION_MEMORY 32768     /* per connection: request line + headers + buffers */
#define WEB_BODY_MAX 8192               /* request body; more is 413 */
#define WEB_MAX_SSE 16                  /* live streams at once; more is 503 */
#define WEB_SSE_KEEPALIVE_MS 15000
#define WEB_CORE_TIMEOUT_MS 5000        /* core answer; later is 503 */
#define WEB_NOTIFY_TIMEOUT_MS 30000     /* notify test: the channel's API answers through the core */
#define WEB_READ_TIMEOUT_MS 15000       /* live read: the bus thread answers through the core (which gives up at 10 s) */
#define WEB_MAX_SESSIONS 64
#define WEB_LOGIN_FAILURES 5            /* per address ... */
#define WEB_LOGIN_WINDOW_MS 60000       /* ... per minute, then 429 */
#define WEB_RING_EVENTS 1024

struct web;

/* Parses "HOST:PORT" / "[V6]:PORT" (numeric addresses only, port 1..65535).
 * Returns 0, or -1 with a reason in err. */
int web_parse_listen(const char *listen, char *host, size_t hostlen, int *port, char *err, size_t errlen);

/* True when hash looks like a crypt(3) hash libcrypt can verify
 * ("$y$...", "$6$...", "$2b$..."; not "*", "!" or a bare setting). */
bool web_hash_usable(const char *hash);
/* A new yescrypt ("$y$") hash of password into out (`gridgw passwd`).
 * Returns 0 or -errno. */
int web_password_hash(const char *password, char *out, size_t outlen);

/* Starts the console described by cc (copied: cc may be freed after). q is
 * the core queue. Returns NULL with a reason in err (cannot bind, TLS files
 * unreadable, no users, ...). */
struct web *web_start(const struct console_config *cc, struct queue *q, char *err, size_t errlen);
/* Stops serving: open streams end, requests waiting for the core get 503,
 * every connection thread is joined; then frees. NULL is fine. Call it
 * before the core queue is destroyed (a queued web_call is a plain malloc
 * block queue_destroy may free). */
void web_stop(struct web *w);
/* A reload: users, roles and metrics on/off apply at once (sessions of a
 * removed user or a changed role end); listen and tls need a restart and
 * are reported in err (returns 1 then, 0 when everything applied). */
int web_reconfigure(struct web *w, const struct console_config *cc, char *err, size_t errlen);

/* Core thread: one live event for the streams. event is "incident" (json =
 * the event exactly as published) or "device" (json = {"id","online"}). */
void web_publish(struct web *w, const char *event, const char *json);
/* Streams open now (tests, status). */
int web_stream_count(struct web *w);

/* --- the core's side of a console request -------------------------------- */

struct web_call;
/* The parsed request (valid until web_call_answer). */
const struct control_request *web_call_request(const struct web_call *call);
/* Answers with an HTTP status (200, 400, 404, 409, 503, ...) and a JSON
 * object text (copied). Called exactly once per popped call, on the core
 * thread; it also releases the call. */
void web_call_answer(struct web_call *call, int status, const char *json);

#endif
