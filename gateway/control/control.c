/* control — the control socket: request parser, the non-blocking server the
 * core drives through one epoll fd, and the blocking client the CLI uses.
 * See control.h for the protocol and why the server lives in the core's
 * poll set rather than in a thread of its own. */
#include "gateway/control/control.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "gateway/control/control_peer.h"

/* ------------------------------------------------------------------ parser */

enum req_key { KEY_OP, KEY_OPEN, KEY_LIMIT, KEY_ID, KEY_BY, KEY_NOTE, KEY_DEVICE, KEY_FOR, KEY_CHANNEL, KEY_POINT,
	       KEY_SINCE, KEY_WORKFLOW, KEY_COUNT };

static const char *const req_key_names[KEY_COUNT] = {
	"op", "open", "limit", "id", "by", "note", "device", "for", "channel", "point", "since",
	"workflow",
};

struct op_spec {
	const char *name;
	enum control_op op;
	unsigned allowed;         /* bit per enum req_key */
	unsigned required;
};

#define K(k) (1u << (k))
static const struct op_spec op_specs[] = {
	{ "status", CONTROL_OP_STATUS, K(KEY_OP), K(KEY_OP) },
	{ "incidents", CONTROL_OP_INCIDENTS, K(KEY_OP) | K(KEY_OPEN) | K(KEY_LIMIT), K(KEY_OP) },
	{ "ack", CONTROL_OP_ACK, K(KEY_OP) | K(KEY_ID) | K(KEY_BY) | K(KEY_NOTE), K(KEY_OP) | K(KEY_ID) },
	{ "shelve", CONTROL_OP_SHELVE, K(KEY_OP) | K(KEY_DEVICE) | K(KEY_FOR), K(KEY_OP) | K(KEY_DEVICE) | K(KEY_FOR) },
	{ "unshelve", CONTROL_OP_UNSHELVE, K(KEY_OP) | K(KEY_DEVICE), K(KEY_OP) | K(KEY_DEVICE) },
	{ "notify_test", CONTROL_OP_NOTIFY_TEST, K(KEY_OP) | K(KEY_CHANNEL), K(KEY_OP) | K(KEY_CHANNEL) },
	{ "devices", CONTROL_OP_DEVICES, K(KEY_OP), K(KEY_OP) },
	{ "device", CONTROL_OP_DEVICE, K(KEY_OP) | K(KEY_DEVICE), K(KEY_OP) | K(KEY_DEVICE) },
	{ "history", CONTROL_OP_HISTORY, K(KEY_OP) | K(KEY_DEVICE) | K(KEY_POINT) | K(KEY_SINCE) | K(KEY_LIMIT),
	  K(KEY_OP) | K(KEY_DEVICE) },
	{ "incident", CONTROL_OP_INCIDENT, K(KEY_OP) | K(KEY_ID), K(KEY_OP) | K(KEY_ID) },
	{ "read", CONTROL_OP_READ, K(KEY_OP) | K(KEY_DEVICE), K(KEY_OP) | K(KEY_DEVICE) },
	{ "live_read", CONTROL_OP_LIVE_READ, K(KEY_OP) | K(KEY_DEVICE), K(KEY_OP) | K(KEY_DEVICE) },
	{ "close", CONTROL_OP_CLOSE, K(KEY_OP) | K(KEY_ID) | K(KEY_WORKFLOW) | K(KEY_BY) | K(KEY_NOTE),
	  K(KEY_OP) | K(KEY_ID) },
};
#undef K

static int req_key_find(const char *name)
{
	for (int k = 0; k < KEY_COUNT; k++)
		if (strcmp(name, req_key_names[k]) == 0)
			return k;
	return -1;
}

/* Copies a JSON string value into dst; refuses non-strings, overlong text and
 * control characters (they would corrupt log lines and status output). */
static int req_copy_string(const cJSON *item, const char *key, char *dst, size_t dstlen,
			   bool nonempty, char *err, size_t errlen)
{
	if (!cJSON_IsString(item) || item->valuestring == NULL) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return -1;
	}
	const char *s = item->valuestring;
	size_t n = strlen(s);
	if (n >= dstlen) {
		snprintf(err, errlen, "\"%s\" is longer than %zu bytes", key, dstlen - 1);
		return -1;
	}
	if (nonempty && n == 0) {
		snprintf(err, errlen, "\"%s\" must not be empty", key);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(err, errlen, "\"%s\" contains a control character", key);
			return -1;
		}
	}
	memcpy(dst, s, n + 1);
	return 0;
}

static int req_set_field(struct control_request *out, int key, const cJSON *item, char *err, size_t errlen)
{
	switch (key) {
	case KEY_POINT:
		return req_copy_string(item, "point", out->point, sizeof out->point, true, err, errlen);
	case KEY_SINCE: {
		char text[40];
		if (req_copy_string(item, "since", text, sizeof text, true, err, errlen) != 0)
			return -1;
		if (time_parse_iso(text, &out->since_ms) != 0) {
			snprintf(err, errlen, "\"since\" must be a UTC time like 2026-11-22T08:00:00Z");
			return -1;
		}
		return 0;
	}
	case KEY_OPEN:
		if (!cJSON_IsBool(item)) {
			snprintf(err, errlen, "\"open\" must be true or false");
			return -1;
		}
		out->open_only = cJSON_IsTrue(item);
		return 0;
	case KEY_LIMIT: {
		double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
		int max = out->op == CONTROL_OP_HISTORY ? CONTROL_HISTORY_MAX : CONTROL_LIMIT_MAX;
		if (!(v >= 1 && v <= max) || v != floor(v)) {
			snprintf(err, errlen, "\"limit\" must be an integer from 1 to %d", max);
			return -1;
		}
		out->limit = (int)v;
		return 0;
	}
	case KEY_ID:
		return req_copy_string(item, "id", out->id, sizeof out->id, true, err, errlen);
	case KEY_BY:
		return req_copy_string(item, "by", out->by, sizeof out->by, false, err, errlen);
	case KEY_NOTE:
		return req_copy_string(item, "note", out->note, sizeof out->note, false, err, errlen);
	case KEY_DEVICE:
		return req_copy_string(item, "device", out->device, sizeof out->device, true, err, errlen);
	case KEY_CHANNEL:
		return req_copy_string(item, "channel", out->channel, sizeof out->channel, true, err, errlen);
	case KEY_WORKFLOW:
		/* As the platform's incident.close: closed (default) or false_alarm. */
		if (req_copy_string(item, "workflow", out->workflow, sizeof out->workflow, true, err, errlen) != 0)
			return -1;
		if (strcmp(out->workflow, "closed") != 0 && strcmp(out->workflow, "false_alarm") != 0) {
			snprintf(err, errlen, "\"workflow\" must be closed or false_alarm");
			return -1;
		}
		return 0;
	case KEY_FOR: {
		char text[32];
		int64_t ms;
		if (req_copy_string(item, "for", text, sizeof text, true, err, errlen) != 0)
			return -1;
		if (duration_parse(text, &ms) != 0) {
			snprintf(err, errlen, "\"for\" is not a duration (500ms, 30s, 10m, 2h, 1d): '%s'", text);
			return -1;
		}
		if (ms <= 0 || ms > CONTROL_SHELVE_MAX_MS) {
			snprintf(err, errlen, "\"for\" must be more than 0 and at most 30d");
			return -1;
		}
		out->for_ms = ms;
		return 0;
	}
	default:
		snprintf(err, errlen, "internal: unexpected key");
		return -1;
	}
}

static const struct op_spec *req_find_op(const cJSON *root, char *err, size_t errlen)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
	if (op == NULL) {
		snprintf(err, errlen, "missing \"op\"");
		return NULL;
	}
	if (!cJSON_IsString(op) || op->valuestring == NULL) {
		snprintf(err, errlen, "\"op\" must be a string");
		return NULL;
	}
	for (size_t i = 0; i < sizeof op_specs / sizeof op_specs[0]; i++)
		if (strcmp(op->valuestring, op_specs[i].name) == 0)
			return &op_specs[i];
	char shown[40];
	snprintf(shown, sizeof shown, "%s", op->valuestring);
	for (char *p = shown; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	snprintf(err, errlen, "unknown op '%s' (status, incidents, ack, shelve, unshelve, notify_test, devices, device, "
			      "history, incident, read, close)", shown);
	return NULL;
}

static int req_fill(const cJSON *root, struct control_request *out, char *err, size_t errlen)
{
	const struct op_spec *spec = req_find_op(root, err, errlen);
	if (spec == NULL)
		return -1;
	out->op = spec->op;
	if (out->op == CONTROL_OP_HISTORY)
		out->limit = CONTROL_HISTORY_DEFAULT;
	unsigned seen = 0;
	for (const cJSON *item = root->child; item != NULL; item = item->next) {
		int key = item->string ? req_key_find(item->string) : -1;
		if (key < 0 || !(spec->allowed & (1u << key))) {
			char shown[40];
			snprintf(shown, sizeof shown, "%s", item->string ? item->string : "");
			for (char *p = shown; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = '?';
			snprintf(err, errlen, "unknown key \"%s\" for op %s", shown, spec->name);
			return -1;
		}
		if (seen & (1u << key)) {
			snprintf(err, errlen, "duplicate key \"%s\"", req_key_names[key]);
			return -1;
		}
		seen |= 1u << key;
		if (key != KEY_OP && req_set_field(out, key, item, err, errlen) != 0)
			return -1;
	}
	unsigned missing = spec->required & ~seen;
	for (int k = 0; k < KEY_COUNT; k++) {
		if (missing & (1u << k)) {
			snprintf(err, errlen, "missing \"%s\" for op %s", req_key_names[k], spec->name);
			return -1;
		}
	}
	return 0;
}

int control_parse_request(const char *line, size_t len, struct control_request *out,
			  char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->open_only = true;
	out->limit = CONTROL_LIMIT_DEFAULT;
	if (line == NULL || len == 0) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	if (len >= CONTROL_MAX_LINE) {
		snprintf(err, errlen, "request longer than %d bytes", CONTROL_MAX_LINE - 1);
		return -1;
	}
	/* cJSON_Parse would strlen past the buffer (PITFALLS): parse by length. */
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (root == NULL) {
		size_t at = (end != NULL && end >= line && end <= line + len) ? (size_t)(end - line) : 0;
		snprintf(err, errlen, "malformed JSON at byte %zu", at);
		return -1;
	}
	size_t used = (size_t)(end - line);
	for (size_t i = used; i < len; i++) {
		char ch = line[i];
		if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
			cJSON_Delete(root);
			snprintf(err, errlen, "malformed JSON: trailing data at byte %zu", i);
			return -1;
		}
	}
	int rc;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "request must be a JSON object");
		rc = -1;
	} else {
		rc = req_fill(root, out, err, errlen);
	}
	cJSON_Delete(root);
	return rc;
}

/* ------------------------------------------------------------------ server */

enum conn_state { CONN_FREE = 0, CONN_READING, CONN_WAITING, CONN_WRITING };

struct control_conn {
	enum conn_state state;
	int fd;
	uint64_t id;
	int64_t deadline_ms;
	size_t in_len;
	char *in;                 /* CONTROL_MAX_LINE bytes, allocated with the slot array */
	char *out;
	size_t out_len;
	size_t out_off;
	struct control_peer peer;
};

struct control {
	int epfd;
	int lfd;
	int tfd;
	int lockfd;
	int64_t listen_paused_until; /* 0 = listening; else accept failed (EMFILE) and resumes then */
	uint64_t next_id;
	struct control_options opt;
	struct control_conn *conns;
	char *inbufs;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct log_ratelimit accept_rl;
};

/* epoll data for the two fds that are not connections; connection ids start at 1. */
#define EV_LISTEN UINT64_MAX
#define EV_TIMER (UINT64_MAX - 1)

static int64_t control_now_ms(void)
{
	return time_mono_ms();
}

int control_socket_path(const char *state_dir, char *buf, size_t len)
{
	size_t cap = sizeof(((struct sockaddr_un *)0)->sun_path);
	if (state_dir == NULL || state_dir[0] == '\0')
		state_dir = ".";
	int n = snprintf(buf, len, "%s/%s", state_dir, CONTROL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= len || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}

static int control_fill_addr(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof *addr);
	addr->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof addr->sun_path)
		return -ENAMETOOLONG;
	memcpy(addr->sun_path, path, n + 1);
	return 0;
}

/* A JSON error line, escaped by cJSON; malloc'd, NULL on OOM. */
static char *control_error_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	char *text = NULL;
	if (cJSON_AddBoolToObject(o, "ok", 0) != NULL && cJSON_AddStringToObject(o, "error", msg) != NULL)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* One non-blocking attempt to tell a client why it is being dropped. */
static void control_send_error_now(int fd, const char *msg)
{
	char *text = control_error_json(msg);
	if (text == NULL)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%s\n", text);
	cJSON_free(text);
	if (n > 0 && (size_t)n < sizeof line) {
		ssize_t w = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w; /* best effort: the client is being closed either way */
	}
}

static struct control_conn *control_find(struct control *c, uint64_t id)
{
	for (int i = 0; i < c->opt.max_clients; i++)
		if (c->conns[i].state != CONN_FREE && c->conns[i].id == id)
			return &c->conns[i];
	return NULL;
}

static void control_conn_close(struct control *c, struct control_conn *k)
{
	if (k->state == CONN_FREE)
		return;
	if (epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->fd, NULL) != 0)
		log_debug("control", "epoll_ctl DEL: %s", strerror(errno));
	close(k->fd);
	free(k->out);
	k->out = NULL;
	k->out_len = k->out_off = 0;
	k->in_len = 0;
	k->fd = -1;
	k->state = CONN_FREE;
}

static int control_conn_watch(struct control *c, struct control_conn *k, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = k->id };
	if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, k->fd, &ev) != 0) {
		log_warn("control", "epoll_ctl MOD: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes as much of the answer as the socket takes; closes when done or on
 * error, otherwise waits for EPOLLOUT. */
static void control_conn_flush(struct control *c, struct control_conn *k)
{
	while (k->out_off < k->out_len) {
		ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			k->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (control_conn_watch(c, k, EPOLLOUT) != 0)
				control_conn_close(c, k);
			return;
		}
		log_debug("control", "client %llu went away before its answer: %s",
			  (unsigned long long)k->id, w < 0 ? strerror(errno) : "short write");
		control_conn_close(c, k);
		return;
	}
	control_conn_close(c, k);
}

/* Queues `json` plus a newline as the connection's answer. Takes ownership of
 * nothing; copies. */
static int control_conn_answer(struct control *c, struct control_conn *k, const char *json)
{
	size_t n = strlen(json);
	char *out = malloc(n + 1);
	if (out == NULL) {
		control_conn_close(c, k);
		return -ENOMEM;
	}
	/* Raw newlines in JSON are only ever whitespace between tokens (inside
	 * strings they are escaped), so blanking them keeps it one valid line. */
	for (size_t i = 0; i < n; i++)
		out[i] = (json[i] == '\n' || json[i] == '\r') ? ' ' : json[i];
	out[n] = '\n';
	free(k->out);
	k->out = out;
	k->out_len = n + 1;
	k->out_off = 0;
	k->state = CONN_WRITING;
	k->deadline_ms = control_now_ms() + c->opt.reply_timeout_ms;
	control_conn_flush(c, k);
	return 0;
}

static void control_conn_answer_error(struct control *c, struct control_conn *k, const char *msg)
{
	char *text = control_error_json(msg);
	if (text == NULL) {
		control_conn_close(c, k);
		return;
	}
	control_conn_answer(c, k, text);
	cJSON_free(text);
}

int control_reply(struct control *c, uint64_t conn, const char *json)
{
	if (c == NULL || json == NULL)
		return -EINVAL;
	struct control_conn *k = control_find(c, conn);
	if (k == NULL || k->state != CONN_WAITING)
		return -ENOENT;
	return control_conn_answer(c, k, json);
}

/* Every local action that changes something (or takes bus time) is logged with the Unix user
 * who asked for it (a shelve has no event of its own to carry it). */
static void control_log_action(const struct control_request *req)
{
	const char *what = NULL;
	const char *target = req->id;
	switch (req->op) {
	case CONTROL_OP_ACK: what = "ack"; break;
	case CONTROL_OP_CLOSE: what = "close"; break;
	case CONTROL_OP_SHELVE: what = "shelve"; target = req->device; break;
	case CONTROL_OP_UNSHELVE: what = "unshelve"; target = req->device; break;
	case CONTROL_OP_NOTIFY_TEST: what = "notify test"; target = req->channel; break;
	case CONTROL_OP_LIVE_READ: what = "live read of"; target = req->device; break; /* it costs bus time */
	default: return;
	}
	log_info("control", "%s %s asked by unix user %s (uid %lld)", what, target, req->peer_user,
		 (long long)req->peer_uid);
}

/* A complete request line (without its newline) arrived. */
static int control_conn_deliver(struct control *c, struct control_conn *k, size_t len,
				control_request_fn fn, void *ctx)
{
	struct control_request req;
	char err[256];
	k->state = CONN_WAITING;
	k->deadline_ms = control_now_ms() + c->opt.reply_timeout_ms;
	/* Stop reading: one request per connection. HUP/ERR are still reported. */
	if (control_conn_watch(c, k, 0) != 0) {
		control_conn_close(c, k);
		return 0;
	}
	if (control_parse_request(k->in, len, &req, err, sizeof err) != 0) {
		log_debug("control", "bad request: %s", err);
		control_conn_answer_error(c, k, err);
		return 0;
	}
	if (control_peer_stamp(&req, &k->peer, err, sizeof err) != 0) {
		control_conn_answer_error(c, k, err);
		return 0;
	}
	control_log_action(&req);
	/* A live read waits for the device's bus thread, which the core gives
	 * up on at its own deadline (CONTROL_LIVE_READ_WAIT_MS): its answer
	 * must still find the connection open. */
	if (req.op == CONTROL_OP_LIVE_READ && c->opt.reply_timeout_ms < CONTROL_LIVE_READ_WAIT_MS + 5000)
		k->deadline_ms = control_now_ms() + CONTROL_LIVE_READ_WAIT_MS + 5000;
	uint64_t id = k->id;
	fn(ctx, id, &req);
	return 1;
}

static int control_conn_read(struct control *c, struct control_conn *k, control_request_fn fn, void *ctx)
{
	for (;;) {
		size_t room = CONTROL_MAX_LINE - k->in_len;
		if (room == 0) {
			char msg[64];
			snprintf(msg, sizeof msg, "request line longer than %d bytes", CONTROL_MAX_LINE - 1);
			control_conn_answer_error(c, k, msg);
			return 0;
		}
		ssize_t r = recv(k->fd, k->in + k->in_len, room, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			control_conn_close(c, k);
			return 0;
		}
		if (r == 0) {
			/* EOF: a last line without newline still counts as the request. */
			if (k->in_len == 0) {
				control_conn_close(c, k);
				return 0;
			}
			return control_conn_deliver(c, k, k->in_len, fn, ctx);
		}
		char *nl = memchr(k->in + k->in_len, '\n', (size_t)r);
		k->in_len += (size_t)r;
		if (nl != NULL)
			return control_conn_deliver(c, k, (size_t)(nl - k->in), fn, ctx);
	}
}

/* A free slot for a new connection from `peer`, or NULL with the reason.
 * Root and the daemon's own user take any free slot; anyone else at most
 * opt.per_user at once, and not the last opt.reserved. */
static struct control_conn *control_admit(struct control *c, const struct control_peer *peer, char *why,
					  size_t len)
{
	struct control_conn *free_slot = NULL;
	int same = 0, ordinary = 0;
	for (int i = 0; i < c->opt.max_clients; i++) {
		struct control_conn *k = &c->conns[i];
		if (k->state == CONN_FREE) {
			if (!free_slot)
				free_slot = k;
			continue;
		}
		if (!k->peer.privileged)
			ordinary++;
		if (k->peer.known == peer->known && k->peer.uid == peer->uid)
			same++;
	}
	if (!free_slot) {
		snprintf(why, len, "busy: too many control connections");
		return NULL;
	}
	if (peer->privileged)
		return free_slot;
	if (same >= c->opt.per_user) {
		snprintf(why, len, "busy: your user already has %d control connections open", same);
		return NULL;
	}
	if (ordinary >= c->opt.max_clients - c->opt.reserved) {
		snprintf(why, len, "busy: too many control connections");
		return NULL;
	}
	return free_slot;
}

static void control_accept_all(struct control *c)
{
	for (;;) {
		int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE/ENFILE/ENOMEM: the listen fd stays readable, so stop
			 * watching it for a second instead of spinning the core. */
			unsigned long dropped = 0;
			if (log_ratelimit_ok(&c->accept_rl, &dropped))
				log_warn("control", "accept: %s (listening again in 1s)", strerror(errno));
			struct epoll_event ev = { .events = 0, .data.u64 = EV_LISTEN };
			if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &ev) != 0)
				log_warn("control", "epoll_ctl MOD listen: %s", strerror(errno));
			c->listen_paused_until = control_now_ms() + 1000;
			return;
		}
		struct control_peer peer;
		control_peer_get(fd, &peer);
		char why[128];
		struct control_conn *k = control_admit(c, &peer, why, sizeof why);
		if (k == NULL) {
			control_send_error_now(fd, why);
			close(fd);
			continue;
		}
		k->peer = peer;
		k->fd = fd;
		k->id = c->next_id++;
		k->in_len = 0;
		k->state = CONN_READING;
		k->deadline_ms = control_now_ms() + c->opt.read_timeout_ms;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = k->id };
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			log_warn("control", "epoll_ctl ADD: %s", strerror(errno));
			close(fd);
			k->fd = -1;
			k->state = CONN_FREE;
		}
	}
}

static void control_expire(struct control *c, int64_t now)
{
	for (int i = 0; i < c->opt.max_clients; i++) {
		struct control_conn *k = &c->conns[i];
		if (k->state == CONN_FREE || k->deadline_ms > now)
			continue;
		if (k->state == CONN_READING)
			control_send_error_now(k->fd, "timed out waiting for the request line");
		log_debug("control", "client %llu timed out", (unsigned long long)k->id);
		control_conn_close(c, k);
	}
	if (c->listen_paused_until != 0 && c->listen_paused_until <= now) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_LISTEN };
		if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->lfd, &ev) == 0)
			c->listen_paused_until = 0;
		else
			c->listen_paused_until = now + 1000;
	}
}

/* Arms the timer for the earliest deadline, so control_fd turns readable
 * when a client overstays even if nothing else happens. */
static void control_arm_timer(struct control *c)
{
	int64_t next = c->listen_paused_until;
	for (int i = 0; i < c->opt.max_clients; i++) {
		const struct control_conn *k = &c->conns[i];
		if (k->state != CONN_FREE && (next == 0 || k->deadline_ms < next))
			next = k->deadline_ms;
	}
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (next > 0) {
		/* Absolute CLOCK_MONOTONIC, the clock time_mono_ms reads; +1 ms so
		 * the expiry check after wake-up sees the deadline as passed. */
		next += 1;
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
	}
	if (timerfd_settime(c->tfd, next > 0 ? TFD_TIMER_ABSTIME : 0, &its, NULL) != 0)
		log_warn("control", "timerfd_settime: %s", strerror(errno));
}

int control_process(struct control *c, control_request_fn fn, void *ctx)
{
	struct epoll_event evs[16];
	int delivered = 0;
	int n = epoll_wait(c->epfd, evs, (int)(sizeof evs / sizeof evs[0]), 0);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		if (tag == EV_LISTEN) {
			control_accept_all(c);
			continue;
		}
		if (tag == EV_TIMER) {
			uint64_t ticks;
			ssize_t r = read(c->tfd, &ticks, sizeof ticks);
			(void)r; /* EAGAIN if already consumed; expiry below decides */
			continue;
		}
		/* Looked up by id: an event for a connection closed earlier in this
		 * batch finds nothing, even if its slot was reused. */
		struct control_conn *k = control_find(c, tag);
		if (k == NULL)
			continue;
		uint32_t e = evs[i].events;
		if (k->state == CONN_READING && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
			delivered += control_conn_read(c, k, fn, ctx);
		} else if (k->state == CONN_WRITING && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
			control_conn_flush(c, k);
		} else if (k->state == CONN_WAITING && (e & (EPOLLHUP | EPOLLERR))) {
			/* Client gave up while the core works on it; the later
			 * control_reply gets -ENOENT. */
			control_conn_close(c, k);
		}
	}
	control_expire(c, control_now_ms());
	control_arm_timer(c);
	return delivered;
}

int control_fd(const struct control *c)
{
	return c->epfd;
}

int control_clients(const struct control *c)
{
	int n = 0;
	for (int i = 0; i < c->opt.max_clients; i++)
		if (c->conns[i].state != CONN_FREE)
			n++;
	return n;
}

/* 1 when a process listens on the Unix socket at path, 0 when none does
 * (no file, or connection refused), -errno when that cannot be told. */
static int socket_listener(const char *path)
{
	struct sockaddr_un addr;
	if (control_fill_addr(path, &addr) != 0)
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	int e = errno;
	close(fd);
	/* EAGAIN: a listener whose backlog is full is still a listener. */
	if (rc == 0 || e == EAGAIN)
		return 1;
	return e == ECONNREFUSED || e == ENOENT ? 0 : -e;
}

/* Decides what to do with an existing file at the socket path: 0 when the
 * path is free (stale socket removed), negative errno to refuse. */
static int control_clear_path(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not replacing it", path);
		return -EEXIST;
	}
	int rc = socket_listener(path);
	if (rc == 1) {
		snprintf(err, errlen, "another gridgw is listening on %s", path);
		return -EADDRINUSE;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		int e = errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(e));
		return -e;
	}
	log_info("control", "replaced stale control socket %s", path);
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Unlinks lock_path only if it still names the file judged (`judged`): a
 * concurrent start may have replaced it with its own lock meanwhile. 0 when
 * removed or already gone, 1 when it changed (look again), -1 on error. */
static int unlink_if_same(const char *lock_path, const struct stat *judged)
{
	struct stat now;
	if (lstat(lock_path, &now) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!same_file(&now, judged))
		return 1;
	log_warn("control", "%s is not the service user's own private file: replacing it", lock_path);
	if (unlink(lock_path) != 0)
		return errno == ENOENT ? 0 : -1;
	return 0;
}

/* Opens and locks the lock file so that only the service user can open
 * it: flock works on a read-only handle, so a lock file another user can
 * read lets that user hold it and stop every start (issue #14). A file
 * left by someone else, or with group/other bits, is replaced, but never
 * under a live daemon: a held private file is refused (root can open the
 * service user's), and any other file is left alone while a daemon
 * listens on the socket. The name is new
 * ("…sock.lock" was 0660): a handle still held on the old file locks
 * nothing. Each replacement re-checks that the path still names the file
 * judged, and a lock counts only on the file the path names after the
 * flock: two starts racing over a stale file cannot both win. Returns the
 * locked fd, or -1 with errno (EADDRINUSE: held). */
static int lock_private_file(const char *lock_path, const char *sock_path)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		struct stat st;
		int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			/* Someone else's file we may not write, or a symlink (ELOOP). */
			if (errno != EACCES && errno != EPERM && errno != ELOOP)
				return -1;
			if (lstat(lock_path, &st) != 0) {
				if (errno == ENOENT)
					continue;
				return -1;
			}
			int live = socket_listener(sock_path);
			if (live != 0) {
				errno = live > 0 ? EADDRINUSE : -live;
				return -1;
			}
		} else {
			bool is_private = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0;
			if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
				int e = errno;
				close(fd);
				if (e != EWOULDBLOCK) {
					errno = e;
					return -1;
				}
				/* Held. A private file is a daemon's lock (root can open the
				 * service user's): never replaced under it. One others can
				 * open may be planted to stop every start: replaced unless
				 * a daemon listens. */
				if (is_private || socket_listener(sock_path) != 0) {
					errno = EADDRINUSE;
					return -1;
				}
			} else if (is_private && st.st_uid == geteuid()) {
				/* Locked; but a concurrent start may have unlinked this
				 * file between our open and our flock: only the file the
				 * path still names is the lock. */
				struct stat now;
				if (lstat(lock_path, &now) == 0 && same_file(&now, &st))
					return fd;
				close(fd);
				continue;
			} else {
				close(fd);
			}
		}
		int rc = unlink_if_same(lock_path, &st);
		if (rc < 0)
			return -1;
	}
	errno = EAGAIN; /* the file kept changing under us: another start is racing */
	return -1;
}

static int control_take_lock(struct control *c, char *err, size_t errlen)
{
	char lock_path[sizeof c->path + 16];
	snprintf(lock_path, sizeof lock_path, "%s.owner-lock", c->path);
	c->lockfd = lock_private_file(lock_path, c->path);
	if (c->lockfd < 0) {
		int e = errno;
		if (e == EADDRINUSE)
			snprintf(err, errlen, "another gridgw holds %s", lock_path);
		else
			snprintf(err, errlen, "%s: %s", lock_path, strerror(e));
		return -e;
	}
	return 0;
}

static int control_listen(struct control *c, char *err, size_t errlen)
{
	struct sockaddr_un addr;
	if (control_fill_addr(c->path, &addr) != 0) {
		snprintf(err, errlen, "%s: path too long for a Unix socket", c->path);
		return -ENAMETOOLONG;
	}
	int rc = control_clear_path(c->path, err, errlen);
	if (rc != 0)
		return rc;
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->lfd < 0) {
		int e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	if (bind(c->lfd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		int e = errno;
		snprintf(err, errlen, "bind %s: %s", c->path, strerror(e));
		return e == EADDRINUSE ? -EADDRINUSE : -e;
	}
	/* Owner and group (operators in group gridgw) may connect; nobody else. */
	if (chmod(c->path, 0660) != 0) {
		int e = errno;
		snprintf(err, errlen, "chmod %s: %s", c->path, strerror(e));
		unlink(c->path);
		return -e;
	}
	if (listen(c->lfd, 16) != 0) {
		int e = errno;
		snprintf(err, errlen, "listen %s: %s", c->path, strerror(e));
		unlink(c->path);
		return -e;
	}
	return 0;
}

static int control_setup_epoll(struct control *c, char *err, size_t errlen)
{
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->epfd < 0 || c->tfd < 0) {
		int e = errno;
		snprintf(err, errlen, "epoll/timerfd: %s", strerror(e));
		return -e;
	}
	struct epoll_event lev = { .events = EPOLLIN, .data.u64 = EV_LISTEN };
	struct epoll_event tev = { .events = EPOLLIN, .data.u64 = EV_TIMER };
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->lfd, &lev) != 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->tfd, &tev) != 0) {
		int e = errno;
		snprintf(err, errlen, "epoll_ctl: %s", strerror(e));
		return -e;
	}
	return 0;
}

static void control_free(struct control *c, bool unlink_socket)
{
	if (c->conns != NULL)
		for (int i = 0; i < c->opt.max_clients; i++)
			control_conn_close(c, &c->conns[i]);
	if (c->lfd >= 0) {
		close(c->lfd);
		if (unlink_socket)
			unlink(c->path);
	}
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->epfd >= 0)
		close(c->epfd);
	/* The lock file stays: removing it would let a third daemon lock a new
	 * inode while a second one still holds the old. */
	if (c->lockfd >= 0)
		close(c->lockfd);
	free(c->conns);
	free(c->inbufs);
	free(c);
}

struct control *control_open(const char *sock_path, const struct control_options *opts,
			     int *rc, char *err, size_t errlen)
{
	int r = -EINVAL;
	struct control *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		if (rc != NULL)
			*rc = -ENOMEM;
		return NULL;
	}
	c->epfd = c->lfd = c->tfd = c->lockfd = -1;
	c->next_id = 1;
	c->opt.read_timeout_ms = 2000;
	c->opt.reply_timeout_ms = 10000;
	c->opt.max_clients = 8;
	c->opt.per_user = 2;
	c->opt.reserved = 2;
	if (opts != NULL) {
		if (opts->read_timeout_ms > 0)
			c->opt.read_timeout_ms = opts->read_timeout_ms;
		if (opts->reply_timeout_ms > 0)
			c->opt.reply_timeout_ms = opts->reply_timeout_ms;
		if (opts->max_clients > 0)
			c->opt.max_clients = opts->max_clients;
		if (opts->per_user > 0)
			c->opt.per_user = opts->per_user;
		if (opts->reserved > 0)
			c->opt.reserved = opts->reserved;
	}
	/* Ordinary users always keep at least one slot. */
	if (c->opt.reserved >= c->opt.max_clients)
		c->opt.reserved = c->opt.max_clients - 1;
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(3, 10000);
	c->accept_rl = rl;
	bool listening = false;
	if (sock_path == NULL || strlen(sock_path) >= sizeof c->path) {
		snprintf(err, errlen, "control socket path too long (max %zu bytes)", sizeof c->path - 1);
		r = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(c->path, sizeof c->path, "%s", sock_path);
	c->conns = calloc((size_t)c->opt.max_clients, sizeof *c->conns);
	c->inbufs = malloc((size_t)c->opt.max_clients * CONTROL_MAX_LINE);
	if (c->conns == NULL || c->inbufs == NULL) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < c->opt.max_clients; i++) {
		c->conns[i].fd = -1;
		c->conns[i].in = c->inbufs + (size_t)i * CONTROL_MAX_LINE;
	}
	if ((r = control_take_lock(c, err, errlen)) != 0)
		goto fail;
	if ((r = control_listen(c, err, errlen)) != 0)
		goto fail;
	listening = true;
	if ((r = control_setup_epoll(c, err, errlen)) != 0)
		goto fail;
	if (rc != NULL)
		*rc = 0;
	return c;
fail:
	if (rc != NULL)
		*rc = r;
	control_free(c, listening);
	return NULL;
}

void control_close(struct control *c)
{
	if (c != NULL)
		control_free(c, true);
}

/* ------------------------------------------------------------------ client */

static int client_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - control_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int client_connect(const char *sock_path, int timeout_ms, int *fd_out)
{
	struct sockaddr_un addr;
	if (control_fill_addr(sock_path, &addr) != 0)
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A blocking Unix connect waits for backlog room, bounded by SO_SNDTIMEO. */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc;
	do
		rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		int e = errno;
		close(fd);
		if (e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS)
			return -ETIMEDOUT;
		return -e;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*fd_out = fd;
	return 0;
}

static int client_send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	while (off < len) {
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = client_wait(fd, POLLOUT, deadline);
			if (rc != 0)
				return rc;
			continue;
		}
		return w < 0 ? -errno : -EPROTO;
	}
	return 0;
}

/* Reads until the first newline; *out is malloc'd and NUL-terminated. */
static int client_read_line(int fd, char **out, int64_t deadline)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= (size_t)CONTROL_MAX_RESPONSE) {
				free(buf);
				return -EPROTO;
			}
			size_t ncap = cap * 2;
			char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r > 0) {
			char *nl = memchr(buf + len, '\n', (size_t)r);
			len += (size_t)r;
			if (nl != NULL) {
				*nl = '\0';
				*out = buf;
				return 0;
			}
			continue;
		}
		if (r == 0) {       /* closed without a complete answer line */
			free(buf);
			return -EPROTO;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = client_wait(fd, POLLIN, deadline);
			if (rc != 0) {
				free(buf);
				return rc;
			}
			continue;
		}
		int e = errno;
		free(buf);
		return e == ECONNRESET ? -EPROTO : -e;
	}
}

int control_call(const char *sock_path, const char *request_json, char **response, int timeout_ms)
{
	if (sock_path == NULL || request_json == NULL || response == NULL)
		return -EINVAL;
	*response = NULL;
	if (timeout_ms <= 0)
		timeout_ms = 5000;
	int64_t deadline = control_now_ms() + timeout_ms;
	size_t n = strlen(request_json);
	if (n + 1 >= CONTROL_MAX_LINE)
		return -EMSGSIZE;
	char line[CONTROL_MAX_LINE];
	for (size_t i = 0; i < n; i++)
		line[i] = (request_json[i] == '\n' || request_json[i] == '\r') ? ' ' : request_json[i];
	line[n] = '\n';
	int fd = -1;
	int rc = client_connect(sock_path, timeout_ms, &fd);
	if (rc != 0)
		return rc;
	rc = client_send_all(fd, line, n + 1, deadline);
	if (rc == 0)
		rc = client_read_line(fd, response, deadline);
	close(fd);
	return rc;
}
