/* control — the local control socket: a Unix stream socket
 * (state_dir/gridgw.sock, mode 0660) through which `gridgw status|incidents|
 * ack|shelve|unshelve` talk to the running daemon, one JSON request line in,
 * one JSON answer line out, then the server closes.
 *
 * Server side, owned by the core thread and fully non-blocking: the listening
 * socket, every client connection and a deadline timer live in one epoll set,
 * and control_fd() is that epoll fd. The core adds it to its poll() set and
 * calls control_process() when it is readable; a stuck client (connects and
 * sends nothing, or never reads its answer) only holds one of a few slots
 * until its deadline and never blocks the core. Chosen over a reader thread
 * because it needs no locking, no fd handed across threads, and a client
 * cannot make the core answer a recycled fd: connections are named by a
 * 64-bit id that is never reused.
 *
 * Requests (keys are case-sensitive; unknown keys are errors):
 *   {"op":"status"}
 *   {"op":"incidents","open":true,"limit":20}          open default true, limit 1..1000, default 20
 *   {"op":"ack","id":"<incident id>","by":"...","note":"..."}   by/note optional; by (who was on site)
 *        is kept in the note: the recorded `by` is the client's Unix user (SO_PEERCRED)
 *   {"op":"shelve","device":"...","for":"2h"}           for: a duration, > 0, at most 30d
 *   {"op":"unshelve","device":"..."}
 *   {"op":"notify_test","channel":"..."}   answered once the channel's API answered:
 *        {"ok":true|false,"channel","status","answer"[,"error"]}
 *   {"op":"devices"}                                    every device: location, online, shelved, points
 *   {"op":"device","device":"..."}                      one device + its incidents
 *   {"op":"history","device":"...","point":"...","since":"ISO","limit":N}
 *                                                       sampled readings (point optional; since default 24 h
 *                                                       ago; limit 1..10000, default 2000, newest kept)
 *   {"op":"incident","id":"..."}                        one incident + its timeline (its events)
 *   {"op":"read","device":"..."}                        the device's current values as the core holds them
 *   {"op":"live_read","device":"..."}                   `gridgw read` through the daemon: the device's bus
 *        thread reads it now (the console's live read), answered when the bus has
 *        answered: {"ok","live":true,"device","profile","bus","unit","ts","requests",
 *        "good","points_total","points":[read_json.h],"error"?}; an MQTT device: its last
 *        message ("live":false). Failing: {"ok":false,"error","status":502|503|504}
 *        (502 no point read, 503 busy/not running/reloaded, 504 bus thread timeout)
 *   {"op":"close","id":"...","workflow":"closed|false_alarm","by":"...","note":"..."}
 *                                                       the platform's incident.close, locally (workflow
 *                                                       default closed; by/note optional)
 * Incident ids ("id") may be a unique prefix of at least 4 characters,
 * any case (resolved by the core as git resolves abbreviations).
 * Answers: {"ok":true,...} or {"ok":false,"error":"..."}. Transport and parse
 * errors are answered here; the core answers every parsed request. */
#ifndef GRIDGW_CONTROL_H
#define GRIDGW_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_SOCKET_NAME "gridgw.sock"
#define CONTROL_MAX_LINE 8192          /* request line, newline included */
#define CONTROL_MAX_RESPONSE (4 << 20) /* what control_call accepts */
#define CONTROL_SHELVE_MAX_MS (30LL * 24 * 3600 * 1000)  /* as the platform's device.shelve */
#define CONTROL_LIMIT_DEFAULT 20
#define CONTROL_LIMIT_MAX 1000

enum control_op {
	CONTROL_OP_STATUS = 1,
	CONTROL_OP_INCIDENTS,
	CONTROL_OP_ACK,
	CONTROL_OP_SHELVE,
	CONTROL_OP_UNSHELVE,
	CONTROL_OP_NOTIFY_TEST,
	CONTROL_OP_DEVICES,
	CONTROL_OP_DEVICE,
	CONTROL_OP_HISTORY,
	CONTROL_OP_INCIDENT,
	CONTROL_OP_READ,
	CONTROL_OP_CLOSE,
	CONTROL_OP_LIVE_READ,
};
#define CONTROL_OP_LAST CONTROL_OP_LIVE_READ
/* live_read: how long the core waits for the bus thread (the console's
 * CORE_READ_TIMEOUT_MS); the server keeps such a connection open 5 s longer. */
#define CONTROL_LIVE_READ_WAIT_MS 10000
#define CONTROL_HISTORY_DEFAULT 2000
#define CONTROL_HISTORY_MAX 10000
#define CONTROL_HISTORY_SPAN_MS (24LL * 3600 * 1000)   /* default "since": this long ago */

struct control_request {
	enum control_op op;
	bool open_only;           /* incidents: "open" (default true) */
	int limit;                /* incidents: 1..CONTROL_LIMIT_MAX; history: 1..CONTROL_HISTORY_MAX */
	char id[64];              /* ack: incident id */
	char by[64];              /* ack: who (may be empty) */
	char note[256];           /* ack: free text (may be empty) */
	char device[64];          /* shelve/unshelve/device/history/read */
	char point[64];           /* history: one point, "" = every point */
	int64_t since_ms;         /* history: wall ms, 0 = CONTROL_HISTORY_SPAN_MS ago */
	int64_t for_ms;           /* shelve: 1..CONTROL_SHELVE_MAX_MS */
	char channel[64];         /* notify_test: channel name */
	char workflow[16];        /* close: "closed" or "false_alarm" ("" = closed) */
	/* Set by the server, never parsed: who sent it (SO_PEERCRED). For ack
	 * and close the server also sets `by` to peer_user and moves a `by`
	 * the client sent into `note` as "on site: NAME" (docs/contract.md). */
	int64_t peer_uid;         /* -1 when the kernel would not say */
	char peer_user[64];       /* user name, "uid:N" without one, "unknown"; only for
				   * ack, close, shelve, unshelve, notify_test, live_read ("" otherwise) */
};

/* Parses one request (exactly len bytes, need not be NUL-terminated; a
 * trailing newline is allowed). Returns 0 and fills *out, or -1 with a
 * one-line reason in err ("malformed JSON at byte 12", "unknown op 'x'",
 * "missing \"device\"", ...). Strings longer than their field are errors,
 * never truncated; control characters in strings are refused. */
int control_parse_request(const char *line, size_t len, struct control_request *out,
			  char *err, size_t errlen);

/* Server. */
struct control;

struct control_options {
	int read_timeout_ms;      /* accept -> whole request line; default 2000 */
	int reply_timeout_ms;     /* request -> answer fully written; default 10000 */
	int max_clients;          /* connections at once, default 8; more get "busy" */
	/* Fair shares (issue #14: one local user could hold every slot by
	 * reopening idle connections): a user other than root and the daemon's
	 * own holds at most per_user connections at once (default 2), and
	 * all such users together leave `reserved` slots (default 2) that only
	 * root and the daemon's user may take, so `gridgw ack` run by them
	 * always gets in. */
	int per_user;
	int reserved;
};

/* The callback receives each well-formed request with the id of its
 * connection; the core answers with control_reply, now or later. */
typedef void (*control_request_fn)(void *ctx, uint64_t conn, const struct control_request *req);

/* Listens on sock_path (path of the socket file, < 108 bytes). A stale socket
 * file (nobody listening) is replaced; a socket someone answers on, or a
 * non-socket file at the path, is refused (-EADDRINUSE / -EEXIST) with a
 * reason in err. A lock file sock_path + ".owner-lock" (flock; mode 0600,
 * replaced when it is anyone else's, so no other user can hold it) serialises two
 * daemons starting at once. opts may be NULL for the defaults. On failure
 * returns NULL and *rc (if not NULL) gets a negative errno. */
struct control *control_open(const char *sock_path, const struct control_options *opts,
			     int *rc, char *err, size_t errlen);
/* Closes every connection, removes the socket file. NULL is fine. */
void control_close(struct control *c);
/* The fd to poll() for POLLIN (an epoll fd; readable when a client connects,
 * sends, can take more of its answer, or a deadline passed). */
int control_fd(const struct control *c);
/* Handles whatever is ready without blocking: accepts, reads, parses, calls
 * fn for each complete request, writes answers, expires deadlines. Returns
 * the number of requests delivered to fn, or a negative errno if epoll
 * itself failed. */
int control_process(struct control *c, control_request_fn fn, void *ctx);
/* Answers connection conn with one JSON line (newlines inside json become
 * spaces; the '\n' terminator is added) and closes it once written.
 * Returns 0, or -ENOENT when the connection is gone (timed out, or already
 * answered), -ENOMEM. Safe to call from inside fn. */
int control_reply(struct control *c, uint64_t conn, const char *json);
/* Connections currently open (tests, status). */
int control_clients(const struct control *c);

/* Client (the CLI). Sends request_json (one line; a newline is added) to the
 * daemon on sock_path and waits up to timeout_ms for the answer line, which
 * is returned NUL-terminated in *response (malloc'd, no newline; caller
 * frees). Returns 0, or a negative errno: -ENOENT (no socket file) or
 * -ECONNREFUSED (nobody listening) mean the daemon is not running and the
 * CLI falls back to the store; -EACCES (not in group gridgw), -ETIMEDOUT,
 * -EPROTO (answer too long or cut short), -ENAMETOOLONG, -ENOMEM. */
int control_call(const char *sock_path, const char *request_json, char **response, int timeout_ms);

/* Builds state_dir + "/" CONTROL_SOCKET_NAME into buf. Returns 0, or
 * -ENAMETOOLONG when it does not fit buf or a sockaddr_un. */
int control_socket_path(const char *state_dir, char *buf, size_t len);

#endif
