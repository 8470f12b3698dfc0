/* web_http — the console's HTTP server on libmicrohttpd: daemon setup and
 * limits, the access handler (routing, authentication, roles, CSRF, body
 * limits), static assets, login/logout, the API answers the core gives,
 * /metrics and the SSE stream. See web.h for the threading.
 *
 * Why thread-per-connection: an API request waits for the core (a few ms,
 * at most WEB_CORE_TIMEOUT_MS) and an SSE stream waits for events; with a
 * thread per connection both simply block on a condition variable, and the
 * connection limits below bound the threads. libmicrohttpd's own timeout
 * closes idle and half-open connections; per-IP and total limits keep one
 * client (or one scanner) from taking every slot. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>

#include "common/dynlib.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/timeutil.h"
#include "common/model.h"
#include "gateway/web/web.h"
#include "gateway/web/web_priv.h"

/* libmicrohttpd is loaded when the console starts, not linked: linking it
 * (with gnutls, p11-kit, nettle, gmp behind it) costs every gridgw process
 * 2-4 MB of touched library pages and gnutls's start-up work, also without
 * a console (docs/benchmarks.md, issue #12). The functions are called
 * through this table; the macros keep the call sites as MHD's manual writes
 * them. The soname is MHD's ABI (12 since 2014). */
#define MHD_SONAME "libmicrohttpd.so.12"
#define MHD_FNS(X) X(add_response_header) X(lookup_connection_value) X(queue_response) X(destroy_response) \
	X(create_response_from_buffer) X(create_response_from_callback) X(start_daemon) X(stop_daemon) \
	X(is_feature_supported) X(get_connection_info)
#define MHD_FN_PTR(n) __typeof__(MHD_##n) *n;
static struct {
	MHD_FNS(MHD_FN_PTR)
} lm;
#define MHD_add_response_header lm.add_response_header
#define MHD_lookup_connection_value lm.lookup_connection_value
#define MHD_queue_response lm.queue_response
#define MHD_destroy_response lm.destroy_response
#define MHD_create_response_from_buffer lm.create_response_from_buffer
#define MHD_create_response_from_callback lm.create_response_from_callback
#define MHD_start_daemon lm.start_daemon
#define MHD_stop_daemon lm.stop_daemon
#define MHD_is_feature_supported lm.is_feature_supported
#define MHD_get_connection_info lm.get_connection_info

/* libmicrohttpd is loaded when the console starts. A failed load is not
 * remembered: once libmicrohttpd12 is installed, a reload starts it. */
static pthread_mutex_t mhd_load_mu = PTHREAD_MUTEX_INITIALIZER;
static bool mhd_loaded;          /* kept for the process's life once loaded */
#define MHD_FN_SYM(n) { "MHD_" #n, (void **)&lm.n },
static const struct dynlib_sym mhd_syms[] = { MHD_FNS(MHD_FN_SYM) };
#undef MHD_FN_SYM
static int mhd_load(char *err, size_t errlen)
{
	pthread_mutex_lock(&mhd_load_mu);
	if (!mhd_loaded)
		mhd_loaded = dynlib_open("console", MHD_SONAME, "libmicrohttpd12", mhd_syms,
					 sizeof mhd_syms / sizeof mhd_syms[0], err, errlen) != NULL;
	pthread_mutex_unlock(&mhd_load_mu);
	return mhd_loaded ? 0 : -1;
}

#define COOKIE_NAME "gridgw_session"
#define CSP "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " \
	    "connect-src 'self'; frame-ancestors 'none'"
#define PASSWORD_MAX 256

struct web_user {
	char name[WEB_USER_MAX];
	enum web_role role;
	char hash[256];
};

struct web {
	struct MHD_Daemon *mhd;
	struct queue *q;
	bool tls;
	/* users and metrics may change on reload: guarded by cfg_mu */
	pthread_mutex_t cfg_mu;
	struct web_user *users;
	int n_users;
	bool metrics;
	char listen[128];
	char *tls_cert_path, *tls_key_path;
	char *tls_cert_pem, *tls_key_pem;
	struct web_sessions *sessions;
	struct web_throttle *throttle;
	struct web_ring *ring;
	atomic_int streams;
	/* core calls: one mutex and condition variable for all of them */
	pthread_mutex_t call_mu;
	pthread_cond_t call_cv;
	bool stopping;
	char dummy_hash[256];     /* verified for unknown users: same time as a known one */
};

struct web_call {
	struct web *w;
	int refs;                 /* the waiting HTTP thread + the queue/core */
	bool done;
	int status;
	char *answer;             /* malloc'd JSON */
	struct control_request req;
};

/* Per request state, kept in libmicrohttpd's con_cls between the calls of
 * one request (headers, body pieces, the final call). */
struct req_state {
	struct web_route route;
	char *body;
	size_t body_len;
	bool too_large;
};

/* ------------------------------------------------------------- core calls */

const struct control_request *web_call_request(const struct web_call *call)
{
	return &call->req;
}

static void call_release_locked(struct web_call *call)
{
	if (--call->refs == 0) {
		free(call->answer);
		free(call);
	}
}

void web_call_answer(struct web_call *call, int status, const char *json)
{
	struct web *w = call->w;
	char *copy = json ? strdup(json) : NULL;
	pthread_mutex_lock(&w->call_mu);
	call->status = copy ? status : 503;
	call->answer = copy;
	call->done = true;
	pthread_cond_broadcast(&w->call_cv);
	call_release_locked(call);
	pthread_mutex_unlock(&w->call_mu);
}

/* Asks the core; returns the HTTP status and *answer (malloc'd, caller
 * frees) or 503 with *answer NULL when the core did not answer in time. */
static int ask_core(struct web *w, const struct control_request *req, char **answer)
{
	*answer = NULL;
	struct web_call *call = calloc(1, sizeof *call);
	if (call == NULL)
		return 503;
	call->w = w;
	call->refs = 2;
	call->req = *req;
	struct core_msg m = { .type = MSG_WEB_REQUEST };
	m.u.blob.data = (char *)call;
	m.u.blob.len = sizeof *call;
	if (queue_push_nowait(w->q, &m) != 0) {
		free(call);
		return 503;
	}
	/* A notify test waits for the channel's own API as well, a live read
	 * for the device's bus thread. */
	int wait_ms = req->op == CONTROL_OP_NOTIFY_TEST ? WEB_NOTIFY_TIMEOUT_MS
		      : req->op == CONTROL_OP_READ   ? WEB_READ_TIMEOUT_MS : WEB_CORE_TIMEOUT_MS;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->call_mu);
	while (!call->done && !w->stopping)
		if (pthread_cond_timedwait(&w->call_cv, &w->call_mu, &until) == ETIMEDOUT)
			break;
	int status = 503;
	if (call->done) {
		status = call->status;
		*answer = call->answer;
		call->answer = NULL;
	}
	call_release_locked(call);
	pthread_mutex_unlock(&w->call_mu);
	return status;
}

/* -------------------------------------------------------------- responses */

static void add_common_headers(struct MHD_Response *r, bool api)
{
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	if (api)
		MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_buffer(struct MHD_Connection *conn, int status, const char *type, const void *data,
				   size_t len, enum MHD_ResponseMemoryMode mode, bool api, const char *hname,
				   const char *hvalue)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, mode);
	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)data);
		return MHD_NO;
	}
	add_common_headers(r, api);
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (hname)
		MHD_add_response_header(r, hname, hvalue);
	enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int status, char *json, const char *hname,
				 const char *hvalue)
{
	if (json == NULL)
		return MHD_NO;
	return send_buffer(conn, status, "application/json; charset=utf-8", json, strlen(json), MHD_RESPMEM_MUST_FREE,
			   true, hname, hvalue);
}

static char *error_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;
	if (o && cJSON_AddStringToObject(o, "error", msg))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *msg)
{
	return send_json(conn, status, error_json(msg), NULL, NULL);
}

static enum MHD_Result send_error_hdr(struct MHD_Connection *conn, int status, const char *msg, const char *hname,
				      const char *hvalue)
{
	return send_json(conn, status, error_json(msg), hname, hvalue);
}

static enum MHD_Result send_text_error(struct MHD_Connection *conn, int status, const char *msg, const char *allow)
{
	char *s = strdup(msg);
	if (s == NULL)
		return MHD_NO;
	return send_buffer(conn, status, "text/plain; charset=utf-8", s, strlen(s), MHD_RESPMEM_MUST_FREE, false,
			   allow ? "Allow" : NULL, allow);
}

/* ------------------------------------------------------------ client info */

static void client_address(struct MHD_Connection *conn, char *buf, size_t len)
{
	snprintf(buf, len, "?");
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		/* An IPv4 client on a dual-stack socket is throttled as itself. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)len);
	}
}

/* A user name as it may appear in a log line. */
static void printable(const char *in, char *out, size_t len)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 1 < len; p++)
		out[o++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
	out[o] = '\0';
}

/* ----------------------------------------------------------------- users */

/* Copies the user with this name out (under cfg_mu). */
static bool find_user(struct web *w, const char *name, struct web_user *out)
{
	bool found = false;
	pthread_mutex_lock(&w->cfg_mu);
	for (int i = 0; i < w->n_users; i++) {
		if (strcmp(w->users[i].name, name) == 0) {
			*out = w->users[i];
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&w->cfg_mu);
	return found;
}

/* Verifies name/password. Unknown users cost as much as known ones. */
static bool check_password(struct web *w, const char *name, const char *password, struct web_user *out)
{
	struct web_user u;
	bool known = find_user(w, name, &u);
	int rc = web_password_verify(password, known ? u.hash : w->dummy_hash);
	explicit_bzero(u.hash, sizeof u.hash);
	if (!known || rc != 0)
		return false;
	*out = u;
	return true;
}

struct auth {
	bool ok;
	bool by_cookie;
	char session_id[WEB_ID_HEX + 1];
	struct web_session_info info;
};

/* Session cookie first, else HTTP Basic. Returns 0 (authenticated), or an
 * HTTP status to answer with (401, 429) and a message. */
static int authenticate(struct web *w, struct MHD_Connection *conn, const char *addr, struct auth *a,
			const char **msg, int *retry_after)
{
	memset(a, 0, sizeof *a);
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
	if (cookie != NULL && web_session_get(w->sessions, cookie, time_mono_ms(), &a->info) == 0) {
		/* The user may have been removed or changed role by a reload. */
		struct web_user u;
		if (find_user(w, a->info.user, &u) && u.role == a->info.role) {
			explicit_bzero(u.hash, sizeof u.hash);
			a->ok = a->by_cookie = true;
			snprintf(a->session_id, sizeof a->session_id, "%s", cookie);
			return 0;
		}
		web_session_end(w->sessions, cookie);
	}
	const char *hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (hdr == NULL) {
		*msg = cookie ? "session expired; log in again" : "login required";
		return 401;
	}
	char user[WEB_USER_MAX], pass[PASSWORD_MAX];
	if (web_basic_decode(hdr, user, sizeof user, pass, sizeof pass) != 0) {
		*msg = "malformed Authorization header (Basic expected)";
		return 401;
	}
	if (web_throttle_blocked(w->throttle, addr, time_mono_ms(), retry_after)) {
		explicit_bzero(pass, sizeof pass);
		*msg = "too many failed logins from this address; try again later";
		return 429;
	}
	struct web_user u;
	bool good = check_password(w, user, pass, &u);
	explicit_bzero(pass, sizeof pass);
	if (!good) {
		int n = web_throttle_fail(w->throttle, addr, time_mono_ms());
		char shown[WEB_USER_MAX];
		printable(user, shown, sizeof shown);
		log_warn("console", "failed Basic login for '%s' from %s (%d in the last minute)", shown, addr, n);
		*msg = "wrong user name or password";
		return 401;
	}
	a->ok = true;
	snprintf(a->info.user, sizeof a->info.user, "%s", u.name);
	a->info.role = u.role;
	explicit_bzero(u.hash, sizeof u.hash);
	return 0;
}

/* ------------------------------------------------------------------ body */

/* Parses the body as a JSON object whose keys are all in `allowed`
 * (NULL-terminated); an empty body is an empty object. Returns the object
 * or NULL with a reason in err. */
static cJSON *parse_body(const struct req_state *st, const char *const *allowed, char *err, size_t errlen)
{
	if (st->body_len == 0)
		return cJSON_CreateObject();
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(st->body, st->body_len, &end, 0);
	if (o == NULL || !cJSON_IsObject(o)) {
		snprintf(err, errlen, "the body must be a JSON object");
		cJSON_Delete(o);
		return NULL;
	}
	for (size_t i = (size_t)(end - st->body); i < st->body_len; i++) {
		char ch = st->body[i];
		if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
			snprintf(err, errlen, "trailing data after the JSON body");
			cJSON_Delete(o);
			return NULL;
		}
	}
	for (const cJSON *it = o->child; it; it = it->next) {
		bool ok = false;
		for (int k = 0; allowed && allowed[k]; k++)
			if (it->string && strcmp(it->string, allowed[k]) == 0)
				ok = true;
		if (!ok) {
			char shown[40];
			printable(it->string ? it->string : "", shown, sizeof shown);
			snprintf(err, errlen, "unknown key \"%s\" in the body", shown);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

/* A POST with a body must say it is JSON: a cross-site HTML form cannot
 * send application/json without a CORS preflight this server never
 * answers (defence in depth next to SameSite and the CSRF token). */
static bool body_type_ok(struct MHD_Connection *conn, const struct req_state *st)
{
	if (st->body_len == 0)
		return true;
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	return ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
	       (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/* -------------------------------------------------------- the core's ops */

/* Turns a control-socket JSON request into its struct through the control
 * parser, asks the core and answers with what it says. */
static enum MHD_Result core_op(struct web *w, struct MHD_Connection *conn, cJSON *req_json)
{
	char *line = req_json ? cJSON_PrintUnformatted(req_json) : NULL;
	cJSON_Delete(req_json);
	if (line == NULL)
		return send_error(conn, 503, "out of memory");
	struct control_request req;
	char err[256];
	int rc = control_parse_request(line, strlen(line), &req, err, sizeof err);
	cJSON_free(line);
	if (rc != 0)
		return send_error(conn, 400, err);
	char *answer = NULL;
	int status = ask_core(w, &req, &answer);
	if (answer == NULL)
		return send_error(conn, 503, "the gateway's core did not answer in time");
	return send_json(conn, status, answer, NULL, NULL);
}

static cJSON *op_object(const char *op)
{
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddStringToObject(o, "op", op)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static const char *query(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Query flag: 1/true/yes or 0/false/no. -1 when malformed. */
static int query_bool(const char *v, bool dflt)
{
	if (v == NULL)
		return dflt;
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
		return 1;
	if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
		return 0;
	return -1;
}

static enum MHD_Result handle_api(struct web *w, struct MHD_Connection *conn, struct req_state *st,
				  const struct auth *a)
{
	const struct web_route *rt = &st->route;
	char err[256] = "";
	cJSON *o = NULL;
	switch (rt->id) {
	case WEB_R_STATUS:
		return core_op(w, conn, op_object("status"));
	case WEB_R_DEVICES:
		return core_op(w, conn, op_object("devices"));
	case WEB_R_DEVICE:
		o = op_object("device");
		cJSON_AddStringToObject(o, "device", rt->param);
		return core_op(w, conn, o);
	case WEB_R_DEVICE_READ:
		o = op_object("read");
		cJSON_AddStringToObject(o, "device", rt->param);
		return core_op(w, conn, o);
	case WEB_R_DEVICE_HISTORY: {
		o = op_object("history");
		cJSON_AddStringToObject(o, "device", rt->param);
		const char *point = query(conn, "point"), *since = query(conn, "since"), *limit = query(conn, "limit");
		if (point)
			cJSON_AddStringToObject(o, "point", point);
		if (since)
			cJSON_AddStringToObject(o, "since", since);
		if (limit) {
			char *end = NULL;
			long n = strtol(limit, &end, 10);
			if (end == limit || *end) {
				cJSON_Delete(o);
				return send_error(conn, 400, "limit must be an integer");
			}
			cJSON_AddNumberToObject(o, "limit", (double)n);
		}
		return core_op(w, conn, o);
	}
	case WEB_R_INCIDENTS: {
		int open = query_bool(query(conn, "open"), true);
		if (open < 0)
			return send_error(conn, 400, "open must be 1 or 0");
		o = op_object("incidents");
		cJSON_AddBoolToObject(o, "open", open);
		const char *limit = query(conn, "limit");
		char *end = NULL;
		long n = limit ? strtol(limit, &end, 10) : CONTROL_LIMIT_MAX;
		if (limit && (end == limit || *end)) {
			cJSON_Delete(o);
			return send_error(conn, 400, "limit must be an integer");
		}
		cJSON_AddNumberToObject(o, "limit", (double)n);
		return core_op(w, conn, o);
	}
	case WEB_R_INCIDENT:
		o = op_object("incident");
		cJSON_AddStringToObject(o, "id", rt->param);
		return core_op(w, conn, o);
	case WEB_R_INCIDENT_ACK: {
		static const char *const keys[] = { "note", NULL };
		cJSON *body = parse_body(st, keys, err, sizeof err);
		if (body == NULL)
			return send_error(conn, 400, err);
		o = op_object("ack");
		cJSON_AddStringToObject(o, "id", rt->param);
		cJSON_AddStringToObject(o, "by", a->info.user);
		cJSON *note = cJSON_DetachItemFromObjectCaseSensitive(body, "note");
		if (note)
			cJSON_AddItemToObject(o, "note", note);
		cJSON_Delete(body);
		return core_op(w, conn, o);
	}
	case WEB_R_DEVICE_SHELVE: {
		static const char *const keys[] = { "for", NULL };
		cJSON *body = parse_body(st, keys, err, sizeof err);
		if (body == NULL)
			return send_error(conn, 400, err);
		o = op_object("shelve");
		cJSON_AddStringToObject(o, "device", rt->param);
		cJSON *f = cJSON_DetachItemFromObjectCaseSensitive(body, "for");
		cJSON_Delete(body);
		if (f == NULL) {
			cJSON_Delete(o);
			return send_error(conn, 400, "missing \"for\" (a duration such as \"2h\")");
		}
		cJSON_AddItemToObject(o, "for", f);
		return core_op(w, conn, o);
	}
	case WEB_R_DEVICE_UNSHELVE: {
		cJSON *body = parse_body(st, NULL, err, sizeof err);
		if (body == NULL)
			return send_error(conn, 400, err);
		cJSON_Delete(body);
		o = op_object("unshelve");
		cJSON_AddStringToObject(o, "device", rt->param);
		return core_op(w, conn, o);
	}
	case WEB_R_NOTIFY_TEST: {
		static const char *const keys[] = { "channel", NULL };
		cJSON *body = parse_body(st, keys, err, sizeof err);
		if (body == NULL)
			return send_error(conn, 400, err);
		o = op_object("notify_test");
		cJSON *ch = cJSON_DetachItemFromObjectCaseSensitive(body, "channel");
		cJSON_Delete(body);
		if (ch == NULL) {
			cJSON_Delete(o);
			return send_error(conn, 400, "missing \"channel\"");
		}
		cJSON_AddItemToObject(o, "channel", ch);
		return core_op(w, conn, o);
	}
	default:
		break;
	}
	return send_error(conn, 404, "not found");
}

/* ------------------------------------------------------- login, session */

static char *session_json(const struct web_session_info *info, bool with_csrf)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "user", info->user);
	cJSON_AddStringToObject(o, "role", web_role_name(info->role));
	if (with_csrf)
		cJSON_AddStringToObject(o, "csrf", info->csrf);
	else
		cJSON_AddNullToObject(o, "csrf");
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static enum MHD_Result handle_login(struct web *w, struct MHD_Connection *conn, struct req_state *st,
				    const char *addr)
{
	int retry = 0;
	if (web_throttle_blocked(w->throttle, addr, time_mono_ms(), &retry)) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry > 0 ? retry : 1);
		log_warn("console", "login from %s refused: too many failures in the last minute", addr);
		return send_error_hdr(conn, 429, "too many failed logins from this address; try again later",
				      MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	static const char *const keys[] = { "username", "password", NULL };
	char err[256];
	cJSON *body = parse_body(st, keys, err, sizeof err);
	if (body == NULL)
		return send_error(conn, 400, err);
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "username");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");
	if (!cJSON_IsString(u) || !cJSON_IsString(p) || u->valuestring[0] == '\0' ||
	    strlen(u->valuestring) >= WEB_USER_MAX || strlen(p->valuestring) >= PASSWORD_MAX) {
		cJSON_Delete(body);
		return send_error(conn, 400, "username and password (strings) are required");
	}
	struct web_user user;
	bool good = check_password(w, u->valuestring, p->valuestring, &user);
	char shown[WEB_USER_MAX];
	printable(u->valuestring, shown, sizeof shown);
	explicit_bzero(p->valuestring, strlen(p->valuestring));
	cJSON_Delete(body);
	if (!good) {
		int n = web_throttle_fail(w->throttle, addr, time_mono_ms());
		log_warn("console", "failed login for '%s' from %s (%d in the last minute)", shown, addr, n);
		return send_error(conn, 401, "wrong user name or password");
	}
	char id[WEB_ID_HEX + 1];
	struct web_session_info info;
	int rc = web_session_new(w->sessions, user.name, user.role, time_mono_ms(), id, &info);
	explicit_bzero(user.hash, sizeof user.hash);
	if (rc != 0) {
		log_error("console", "no session for %s: getrandom: %s", shown, strerror(-rc));
		return send_error(conn, 503, "cannot create a session");
	}
	log_info("console", "login %s (%s) from %s", info.user, web_role_name(info.role), addr);
	char cookie[160];
	snprintf(cookie, sizeof cookie, COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict%s", id,
		 w->tls ? "; Secure" : "");
	explicit_bzero(id, sizeof id);
	enum MHD_Result r = send_json(conn, 200, session_json(&info, true), MHD_HTTP_HEADER_SET_COOKIE, cookie);
	explicit_bzero(cookie, sizeof cookie);
	return r;
}

/* ------------------------------------------------------------- /metrics */

static enum MHD_Result handle_metrics(struct web *w, struct MHD_Connection *conn)
{
	cJSON *o = op_object("status");
	char *line = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	struct control_request req;
	char err[128];
	int rc = line ? control_parse_request(line, strlen(line), &req, err, sizeof err) : -1;
	cJSON_free(line);
	if (rc != 0)
		return send_text_error(conn, 503, "internal error\n", NULL);
	char *answer = NULL;
	int status = ask_core(w, &req, &answer);
	cJSON *st = answer && status == 200 ? cJSON_Parse(answer) : NULL;
	free(answer);
	if (st == NULL)
		return send_text_error(conn, 503, "the gateway's core did not answer in time\n", NULL);
	struct web_process_stats ps;
	if (web_process_stats(&ps) != 0)
		log_debug("console", "process figures unavailable");
	char *text = web_metrics_render(st, &ps);
	cJSON_Delete(st);
	if (text == NULL)
		return send_text_error(conn, 503, "out of memory\n", NULL);
	return send_buffer(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text),
			   MHD_RESPMEM_MUST_FREE, true, NULL, NULL);
}

/* ---------------------------------------------------------------- assets */

static enum MHD_Result handle_asset(struct MHD_Connection *conn, const char *path)
{
	const struct web_asset *a = web_asset_find(path);
	if (a == NULL)
		return send_text_error(conn, 404, "not found\n", NULL);
	char etag[24];
	web_asset_etag(a, etag);
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	bool fresh = inm != NULL && strstr(inm, etag) != NULL;
	struct MHD_Response *r = MHD_create_response_from_buffer(fresh ? 0 : a->len, fresh ? NULL : (void *)a->data,
								 MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	add_common_headers(r, false);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, web_content_type(a->path));
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	/* Revalidated each time (cheap: 304), so a new build is seen at once. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	enum MHD_Result rc = MHD_queue_response(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* ------------------------------------------------------------------- SSE */

struct sse {
	struct web *w;
	uint64_t pos;
	size_t part;
	bool hello_sent;
	bool by_cookie;
	char session_id[WEB_ID_HEX + 1];
	int64_t next_keepalive;
	int64_t next_check;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct sse *s = cls;
	if (!s->hello_sent) {
		s->hello_sent = true;
		int n = snprintf(buf, max, "retry: 2000\n: gridgw live events\n\n");
		return n > 0 && (size_t)n < max ? n : 0;
	}
	for (;;) {
		int64_t now = time_mono_ms();
		if (now >= s->next_check) {
			/* A stream ends with its session (logout, expiry, user removed). */
			s->next_check = now + 1000;
			if (s->by_cookie && web_session_peek(s->w->sessions, s->session_id, now) != 0)
				return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (now >= s->next_keepalive) {
			s->next_keepalive = now + WEB_SSE_KEEPALIVE_MS;
			int n = snprintf(buf, max, ": keep-alive\n\n");
			return n > 0 && (size_t)n < max ? n : 0;
		}
		int64_t wait = s->next_keepalive - now;
		if (wait > s->next_check - now)
			wait = s->next_check - now;
		long r = web_ring_read(s->w->ring, &s->pos, &s->part, buf, max, (int)(wait > 0 ? wait : 1));
		if (r > 0)
			return (ssize_t)r;
		if (r == WEB_RING_DROPPED) {
			log_info("console", "a live stream fell behind and was dropped (the page reconnects)");
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (r == WEB_RING_CLOSED)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	atomic_fetch_sub(&s->w->streams, 1);
	explicit_bzero(s->session_id, sizeof s->session_id);
	free(s);
}

static enum MHD_Result handle_stream(struct web *w, struct MHD_Connection *conn, const struct auth *a)
{
	if (atomic_fetch_add(&w->streams, 1) >= WEB_MAX_SSE) {
		atomic_fetch_sub(&w->streams, 1);
		return send_error(conn, 503, "too many live streams open");
	}
	struct sse *s = calloc(1, sizeof *s);
	if (s == NULL) {
		atomic_fetch_sub(&w->streams, 1);
		return send_error(conn, 503, "out of memory");
	}
	s->w = w;
	s->pos = web_ring_next(w->ring);
	s->by_cookie = a->by_cookie;
	snprintf(s->session_id, sizeof s->session_id, "%s", a->session_id);
	s->next_keepalive = time_mono_ms() + WEB_SSE_KEEPALIVE_MS;
	s->next_check = time_mono_ms() + 1000;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	if (r == NULL) {
		sse_free(s);
		return MHD_NO;
	}
	add_common_headers(r, true);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

int web_stream_count(struct web *w)
{
	return atomic_load(&w->streams);
}

void web_publish(struct web *w, const char *event, const char *json)
{
	if (w == NULL || event == NULL || json == NULL)
		return;
	int rc = web_ring_push(w->ring, event, json);
	if (rc != 0)
		log_warn("console", "live %s event not passed to the streams: %s", event, strerror(-rc));
}

/* -------------------------------------------------------- access handler */

static enum MHD_Result handle_request(struct web *w, struct MHD_Connection *conn, struct req_state *st)
{
	const struct web_route *rt = &st->route;
	if (rt->status != 0) {
		const char *msg = rt->status == 405 ? "method not allowed" : rt->status == 400 ? "bad id in path" : "not found";
		if (rt->api)
			return send_error_hdr(conn, rt->status, msg, rt->allow ? "Allow" : NULL, rt->allow);
		return send_text_error(conn, rt->status, rt->status == 405 ? "method not allowed\n" : "not found\n", rt->allow);
	}
	if (st->too_large)
		return send_error(conn, 413, "request body too large");
	if (rt->post && !body_type_ok(conn, st))
		return send_error(conn, 415, "the body must be application/json");
	char addr[64];
	client_address(conn, addr, sizeof addr);
	switch (rt->id) {
	case WEB_R_INDEX:
		return handle_asset(conn, "index.html");
	case WEB_R_ASSET:
		return handle_asset(conn, rt->param);
	case WEB_R_METRICS: {
		pthread_mutex_lock(&w->cfg_mu);
		bool on = w->metrics;
		pthread_mutex_unlock(&w->cfg_mu);
		if (!on)
			return send_text_error(conn, 404, "metrics are off (console.metrics = false)\n", NULL);
		return handle_metrics(w, conn);
	}
	case WEB_R_LOGIN:
		return handle_login(w, conn, st, addr);
	case WEB_R_LOGOUT: {
		const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);
		struct web_session_info info;
		if (cookie && web_session_get(w->sessions, cookie, time_mono_ms(), &info) == 0) {
			const char *tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
			if (!web_secret_equal(tok ? tok : "", info.csrf))
				return send_error(conn, 403, "CSRF token missing or wrong");
			web_session_end(w->sessions, cookie);
			log_info("console", "logout %s from %s", info.user, addr);
		}
		char clear[128];
		snprintf(clear, sizeof clear, COOKIE_NAME "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
			 w->tls ? "; Secure" : "");
		return send_buffer(conn, 204, NULL, "", 0, MHD_RESPMEM_PERSISTENT, true, MHD_HTTP_HEADER_SET_COOKIE, clear);
	}
	default:
		break;
	}
	struct auth a;
	const char *msg = "";
	int retry = 0;
	int rc = authenticate(w, conn, addr, &a, &msg, &retry);
	if (rc == 429) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", retry > 0 ? retry : 1);
		return send_error_hdr(conn, 429, msg, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (rc != 0)
		return send_error(conn, rc, msg);
	if (a.info.role < rt->min_role)
		return send_error(conn, 403, "forbidden");
	if (rt->post && a.by_cookie) {
		const char *tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-CSRF-Token");
		if (!web_secret_equal(tok ? tok : "", a.info.csrf))
			return send_error(conn, 403, "CSRF token missing or wrong");
	}
	if (rt->id == WEB_R_SESSION)
		return send_json(conn, 200, session_json(&a.info, a.by_cookie), NULL, NULL);
	if (rt->id == WEB_R_STREAM)
		return handle_stream(w, conn, &a);
	return handle_api(w, conn, st, &a);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct web *w = cls;
	struct req_state *st = *con_cls;
	if (st == NULL) {
		st = calloc(1, sizeof *st);
		if (st == NULL)
			return MHD_NO;
		*con_cls = st;
		web_route_match(method, url, &st->route);
		/* Refuse an announced oversized body before reading any of it. */
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > WEB_BODY_MAX) {
			st->too_large = true;
			return send_error(conn, 413, "request body too large");
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!st->too_large && st->body_len + *upload_data_size <= WEB_BODY_MAX) {
			char *nb = realloc(st->body, st->body_len + *upload_data_size + 1);
			if (nb == NULL)
				return MHD_NO;
			st->body = nb;
			memcpy(st->body + st->body_len, upload_data, *upload_data_size);
			st->body_len += *upload_data_size;
			st->body[st->body_len] = '\0';
		} else {
			st->too_large = true;   /* chunked bodies have no Content-Length */
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return handle_request(w, conn, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req_state *st = *con_cls;
	if (st == NULL)
		return;
	if (st->body) {
		explicit_bzero(st->body, st->body_len); /* may hold a password */
		free(st->body);
	}
	free(st);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[256];
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("console", "libmicrohttpd: %s", line);
}

/* ------------------------------------------------------------- lifecycle */

int web_parse_listen(const char *listen, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
	if (listen == NULL || listen[0] == '\0') {
		snprintf(err, errlen, "listen is empty (expected \"HOST:PORT\", e.g. \"0.0.0.0:8080\")");
		return -1;
	}
	const char *colon;
	const char *h = listen;
	size_t hl;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "listen '%s': expected \"[V6ADDR]:PORT\"", listen);
			return -1;
		}
		h = listen + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || strchr(listen, ':') != colon) {
			snprintf(err, errlen, "listen '%s': expected \"HOST:PORT\" (IPv6 in brackets)", listen);
			return -1;
		}
		hl = (size_t)(colon - listen);
	}
	if (hl == 0 || hl >= hostlen) {
		snprintf(err, errlen, "listen '%s': missing or overlong address", listen);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || p < 1 || p > 65535) {
		snprintf(err, errlen, "listen '%s': port must be 1..65535", listen);
		return -1;
	}
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
		snprintf(err, errlen, "listen '%s': '%s' is not a numeric IPv4 or IPv6 address", listen, host);
		return -1;
	}
	*port = (int)p;
	return 0;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		if (len + 1 >= cap) {
			if (cap >= (1u << 20)) {
				snprintf(err, errlen, "%s: larger than 1 MiB", path);
				free(buf);
				buf = NULL;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - 1 - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (buf != NULL && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf != NULL)
		buf[len] = '\0';
	else if (err[0] == '\0')
		snprintf(err, errlen, "%s: out of memory", path);
	return buf;
}

static int copy_users(const struct console_config *cc, struct web_user **out, int *n, char *err, size_t errlen)
{
	if (cc->n_users <= 0) {
		snprintf(err, errlen, "console: no users configured (console.users); "
				      "create a password hash with `gridgw passwd`");
		return -1;
	}
	struct web_user *u = calloc((size_t)cc->n_users, sizeof *u);
	if (u == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < cc->n_users; i++) {
		const struct console_user *cu = &cc->users[i];
		if (cu->name == NULL || strlen(cu->name) >= sizeof u[i].name || cu->password_hash == NULL ||
		    strlen(cu->password_hash) >= sizeof u[i].hash || !web_hash_usable(cu->password_hash)) {
			snprintf(err, errlen, "console: user %d ('%s') has no usable password hash", i + 1,
				 cu->name ? cu->name : "");
			free(u);
			return -1;
		}
		snprintf(u[i].name, sizeof u[i].name, "%s", cu->name);
		snprintf(u[i].hash, sizeof u[i].hash, "%s", cu->password_hash);
		u[i].role = (enum web_role)cu->role;
	}
	*out = u;
	*n = cc->n_users;
	return 0;
}

static void web_free(struct web *w)
{
	if (w->users)
		explicit_bzero(w->users, (size_t)w->n_users * sizeof *w->users);
	free(w->users);
	web_sessions_destroy(w->sessions);
	web_throttle_destroy(w->throttle);
	web_ring_destroy(w->ring);
	free(w->tls_cert_path);
	free(w->tls_key_path);
	if (w->tls_key_pem) {
		explicit_bzero(w->tls_key_pem, strlen(w->tls_key_pem));
		free(w->tls_key_pem);
	}
	free(w->tls_cert_pem);
	pthread_cond_destroy(&w->call_cv);
	pthread_mutex_destroy(&w->call_mu);
	pthread_mutex_destroy(&w->cfg_mu);
	free(w);
}

struct web *web_start(const struct console_config *cc, struct queue *q, char *err, size_t errlen)
{
	err[0] = '\0';
	char host[64];
	int port = 0;
	const char *listen = cc->listen ? cc->listen : "0.0.0.0:8080";
	if (web_parse_listen(listen, host, sizeof host, &port, err, errlen) != 0)
		return NULL;
	if (mhd_load(err, errlen) != 0)
		return NULL;
	struct web *w = calloc(1, sizeof *w);
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->call_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->call_mu, NULL);
	pthread_mutex_init(&w->cfg_mu, NULL);
	atomic_init(&w->streams, 0);
	w->q = q;
	w->metrics = cc->metrics;
	snprintf(w->listen, sizeof w->listen, "%s", listen);
	if (copy_users(cc, &w->users, &w->n_users, err, errlen) != 0)
		goto fail;
	int64_t idle = cc->session_idle_ms > 0 ? cc->session_idle_ms : 30LL * 60 * 1000;
	w->sessions = web_sessions_create(WEB_MAX_SESSIONS, idle);
	w->throttle = web_throttle_create(256, WEB_LOGIN_FAILURES, WEB_LOGIN_WINDOW_MS);
	w->ring = web_ring_create(WEB_RING_EVENTS);
	if (!w->sessions || !w->throttle || !w->ring) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* A hash of the same kind as the first user's, so that a wrong user
	 * name costs what a wrong password costs. */
	if (web_password_hash("gridgw-no-such-user", w->dummy_hash, sizeof w->dummy_hash) != 0) {
		snprintf(err, errlen, "libcrypt cannot make a yescrypt hash");
		goto fail;
	}
	if ((cc->tls_cert == NULL) != (cc->tls_key == NULL)) {
		snprintf(err, errlen, "console.tls needs both cert and key");
		goto fail;
	}
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;
	if (cc->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "console.tls: this libmicrohttpd has no TLS support");
			goto fail;
		}
		w->tls_cert_path = strdup(cc->tls_cert);
		w->tls_key_path = strdup(cc->tls_key);
		w->tls_cert_pem = read_file(cc->tls_cert, err, errlen);
		if (w->tls_cert_pem == NULL)
			goto fail;
		w->tls_key_pem = read_file(cc->tls_key, err, errlen);
		if (w->tls_key_pem == NULL)
			goto fail;
		w->tls = true;
		flags |= MHD_USE_TLS;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		flags |= strcmp(host, "::") == 0 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &s4->sin_addr);
	}
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, w->tls_cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, w->tls_key_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	w->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, w,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_MAX_CONNECTIONS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_MAX_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_CONNECTION_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONNECTION_MEMORY,
				  MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
				  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)w,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)w,
				  MHD_OPTION_ARRAY, w->tls ? tls_opts : &tls_opts[2],
				  MHD_OPTION_END);
	if (w->mhd == NULL) {
		snprintf(err, errlen, "console: cannot listen on %s (address in use, or not an address of this host)",
			 listen);
		goto fail;
	}
	log_info("console", "listening on %s://%s (%d users, metrics %s)", w->tls ? "https" : "http", listen,
		 w->n_users, w->metrics ? "on" : "off");
	return w;
fail:
	web_free(w);
	return NULL;
}

void web_stop(struct web *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->call_mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->call_cv);
	pthread_mutex_unlock(&w->call_mu);
	web_ring_close(w->ring);
	MHD_stop_daemon(w->mhd);
	web_free(w);
}

int web_reconfigure(struct web *w, const struct console_config *cc, char *err, size_t errlen)
{
	err[0] = '\0';
	struct web_user *users = NULL;
	int n = 0;
	if (copy_users(cc, &users, &n, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&w->cfg_mu);
	struct web_user *old = w->users;
	int n_old = w->n_users;
	w->users = users;
	w->n_users = n;
	w->metrics = cc->metrics;
	pthread_mutex_unlock(&w->cfg_mu);
	/* Sessions whose user is gone or has another role end now. */
	for (int i = 0; i < n_old; i++) {
		bool same = false;
		for (int k = 0; k < n; k++)
			if (strcmp(old[i].name, users[k].name) == 0 && old[i].role == users[k].role)
				same = true;
		if (!same)
			web_sessions_end_user(w->sessions, old[i].name);
	}
	explicit_bzero(old, (size_t)n_old * sizeof *old);
	free(old);
	const char *listen = cc->listen ? cc->listen : "0.0.0.0:8080";
	bool tls_same = (cc->tls_cert == NULL && w->tls_cert_path == NULL) ||
			(cc->tls_cert && w->tls_cert_path && strcmp(cc->tls_cert, w->tls_cert_path) == 0 && cc->tls_key &&
			 w->tls_key_path && strcmp(cc->tls_key, w->tls_key_path) == 0);
	if (strcmp(listen, w->listen) != 0 || !tls_same) {
		snprintf(err, errlen, "console.listen and console.tls take effect at the next restart");
		return 1;
	}
	return 0;
}
