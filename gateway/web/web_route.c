/* web_route — which handler a request goes to, what it needs (role, CSRF)
 * and its path parameter. Pure string work: fuzzed (tests/fuzz/fuzz_web_request.c). */
#include <string.h>

#include "gateway/web/web_priv.h"

enum web_role web_role_parse(const char *name)
{
	if (name == NULL)
		return WEB_ROLE_NONE;
	if (strcmp(name, "viewer") == 0)
		return WEB_ROLE_VIEWER;
	if (strcmp(name, "operator") == 0)
		return WEB_ROLE_OPERATOR;
	if (strcmp(name, "installer") == 0)
		return WEB_ROLE_INSTALLER;
	return WEB_ROLE_NONE;
}

const char *web_role_name(enum web_role r)
{
	switch (r) {
	case WEB_ROLE_VIEWER: return "viewer";
	case WEB_ROLE_OPERATOR: return "operator";
	case WEB_ROLE_INSTALLER: return "installer";
	case WEB_ROLE_NONE: break;
	}
	return "none";
}

/* Ids name devices and incidents: printable ASCII, no separators or quotes. */
static bool param_ok(const char *s, size_t n)
{
	if (n == 0 || n >= WEB_PARAM_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '\\' || ch == '"' || ch == '\'')
			return false;
	}
	return true;
}

static bool asset_path_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= WEB_ASSET_PATH_MAX || s[0] == '/' || s[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '.' || ch == '_' || ch == '-' || ch == '/';
		if (!ok)
			return false;
	}
	return strstr(s, "..") == NULL && strstr(s, "//") == NULL;
}

struct route_spec {
	enum web_route_id id;
	const char *method;
	const char *prefix;       /* after /api/v1/ for API routes */
	const char *suffix;       /* after "/<param>", or NULL for no parameter */
	bool public_route;
	enum web_role min_role;
};

/* API routes below /api/v1/. A parameter route is prefix + "/" + param
 * [+ "/" + suffix]; suffix "" means the parameter ends the path. */
static const struct route_spec api_routes[] = {
	{ WEB_R_LOGIN, "POST", "login", NULL, true, WEB_ROLE_NONE },
	{ WEB_R_LOGOUT, "POST", "logout", NULL, true, WEB_ROLE_NONE },
	{ WEB_R_SESSION, "GET", "session", NULL, false, WEB_ROLE_VIEWER },
	{ WEB_R_STATUS, "GET", "status", NULL, false, WEB_ROLE_VIEWER },
	{ WEB_R_DEVICES, "GET", "devices", NULL, false, WEB_ROLE_VIEWER },
	{ WEB_R_INCIDENTS, "GET", "incidents", NULL, false, WEB_ROLE_VIEWER },
	{ WEB_R_STREAM, "GET", "stream", NULL, false, WEB_ROLE_VIEWER },
	{ WEB_R_NOTIFY_TEST, "POST", "notify/test", NULL, false, WEB_ROLE_INSTALLER },
	{ WEB_R_DEVICE, "GET", "devices", "", false, WEB_ROLE_VIEWER },
	{ WEB_R_DEVICE_HISTORY, "GET", "devices", "history", false, WEB_ROLE_VIEWER },
	{ WEB_R_DEVICE_READ, "GET", "devices", "read", false, WEB_ROLE_INSTALLER },
	{ WEB_R_DEVICE_SHELVE, "POST", "devices", "shelve", false, WEB_ROLE_OPERATOR },
	{ WEB_R_DEVICE_UNSHELVE, "POST", "devices", "unshelve", false, WEB_ROLE_OPERATOR },
	{ WEB_R_INCIDENT, "GET", "incidents", "", false, WEB_ROLE_VIEWER },
	{ WEB_R_INCIDENT_ACK, "POST", "incidents", "ack", false, WEB_ROLE_OPERATOR },
};

static void set_match(struct web_route *out, const struct route_spec *sp)
{
	out->id = sp->id;
	out->status = 0;
	out->post = strcmp(sp->method, "POST") == 0;
	out->public_route = sp->public_route;
	out->min_role = sp->min_role;
}

/* rest = the path after "/api/v1/". */
static int match_api(const char *method, const char *rest, struct web_route *out)
{
	const char *allow = NULL;
	bool bad_param = false;
	for (size_t i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) {
		const struct route_spec *sp = &api_routes[i];
		size_t pl = strlen(sp->prefix);
		if (strncmp(rest, sp->prefix, pl) != 0)
			continue;
		const char *after = rest + pl;
		if (sp->suffix == NULL) {
			if (*after != '\0')
				continue;
		} else {
			if (*after != '/')
				continue;
			const char *param = after + 1;
			const char *slash = strchr(param, '/');
			size_t n = slash ? (size_t)(slash - param) : strlen(param);
			const char *tail = slash ? slash + 1 : NULL;
			if (sp->suffix[0] == '\0' ? tail != NULL : (tail == NULL || strcmp(tail, sp->suffix) != 0))
				continue;
			if (!param_ok(param, n)) {
				bad_param = true;
				continue;
			}
			memcpy(out->param, param, n);
			out->param[n] = '\0';
		}
		if (strcmp(method, sp->method) != 0 && !(strcmp(method, "HEAD") == 0 && strcmp(sp->method, "GET") == 0)) {
			allow = sp->method;
			continue;
		}
		set_match(out, sp);
		return 0;
	}
	out->param[0] = '\0';
	if (allow) {
		out->allow = allow;
		return out->status = 405;
	}
	return out->status = bad_param ? 400 : 404;
}

int web_route_match(const char *method, const char *path, struct web_route *out)
{
	memset(out, 0, sizeof *out);
	if (method == NULL || path == NULL)
		return out->status = 400;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0) {
		out->api = true;
		if (strncmp(path, "/api/v1/", 8) != 0)
			return out->status = 404;
		return match_api(method, path + 8, out);
	}
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		out->id = WEB_R_INDEX;
		out->public_route = true;
	} else if (strncmp(path, "/assets/", 8) == 0) {
		if (!asset_path_ok(path + 8))
			return out->status = 404;
		out->id = WEB_R_ASSET;
		out->public_route = true;
		strcpy(out->param, path + 8); /* length checked by asset_path_ok */
	} else if (strcmp(path, "/metrics") == 0) {
		out->id = WEB_R_METRICS;
		out->public_route = true;
	} else {
		return out->status = 404;
	}
	if (!get) {
		out->id = WEB_R_NONE;
		out->param[0] = '\0';
		out->allow = "GET";
		return out->status = 405;
	}
	return 0;
}
