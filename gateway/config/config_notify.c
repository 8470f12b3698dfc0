/* config_notify — the `notify = { … }` section (docs/configuration.md,
 * docs/notify.md) into struct notify_config: language, console_url,
 * channels and routes. Every channel name a route sends to must exist,
 * globs and hours must parse, templates may use only the known
 * placeholders. Secrets (url, secret, password, or their *_file) are read
 * by config_secret.c and never appear in an error. */
#include "gateway/config/config_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "gateway/notify/notify_config.h"
#include "gateway/notify/notify_priv.h"

static const char *const notify_keys[] = { "language", "console_url", "channels", "routes", NULL };
static const char *const channel_keys[] = { "name", "type", "url", "url_file", "secret", "secret_file", "ca", "verify",
					    "format", "mention", "from", "to", "username", "password",
					    "password_file", "rate", "timeout", NULL };
static const char *const route_keys[] = { "match", "to", "events", "after", "unless", "hours", "template", NULL };
static const char *const match_keys[] = { "severity", "type", "building", NULL };
static const char *const languages[] = { "zh-CN", "en", NULL };
static const char *const type_names[] = { "wecom", "dingtalk", "feishu", "webhook", "email", NULL };
static const char *const formats[] = { "default", "text", "markdown", "card", NULL };
static const char *const unless_names[] = { "none", "acked", "accepted", "closed", NULL };
static const char *const event_names[] = { "raised", "cleared", "escalated", NULL };

/* A list or array of strings; NULL-free copies in *out. Returns the count,
 * or -1 (reported). */
static int rd_strings(struct cfg_ctx *c, const config_setting_t *grp, const char *key, char ***out)
{
	config_setting_t *s = config_setting_get_member(grp, key);
	if (!s)
		return 0;
	int t = config_setting_type(s);
	if (t == CONFIG_TYPE_STRING) { /* one value alone is fine: "a" as ["a"] */
		*out = cfg_xcalloc(1, sizeof **out);
		(*out)[0] = cfg_xstrdup(config_setting_get_string(s));
		return 1;
	}
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		cfg_err(c, s, "'%s' must be a list of strings [\"…\", …], not %s", key, cfg_type_name(t));
		return -1;
	}
	int n = config_setting_length(s);
	*out = cfg_xcalloc((size_t)n + 1, sizeof **out);
	int k = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_err(c, e, "'%s' must hold strings only, not %s", key, cfg_type_name(config_setting_type(e)));
			continue;
		}
		(*out)[k++] = cfg_xstrdup(config_setting_get_string(e));
	}
	return k;
}

static void free_strings(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* "20" (per minute) or "20/10s". */
static void read_rate(struct cfg_ctx *c, const config_setting_t *g, struct notify_channel_config *ch)
{
	config_setting_t *s = config_setting_get_member(g, "rate");
	ch->rate_window_ms = 60000;
	if (!s)
		return;
	long long n = 0;
	int64_t win = 60000;
	if (config_setting_type(s) == CONFIG_TYPE_INT) {
		n = config_setting_get_int(s);
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *v = config_setting_get_string(s);
		char *end;
		n = strtoll(v, &end, 10);
		if (end == v || (*end && *end != '/') || (*end == '/' && duration_parse(end + 1, &win) != 0) || win <= 0) {
			cfg_err(c, s, "'rate' must be messages per minute (20) or N/DURATION (\"20/1m\", \"5/10s\"), not \"%s\"", v);
			return;
		}
	} else {
		cfg_err(c, s, "'rate' must be an integer or \"N/DURATION\", not %s", cfg_type_name(config_setting_type(s)));
		return;
	}
	if (n < 1 || n > NOTIFY_PACE_MAX) {
		cfg_err(c, s, "'rate' must be 1..%d messages", NOTIFY_PACE_MAX);
		return;
	}
	ch->rate = (int)n;
	ch->rate_window_ms = win;
}

static bool url_has_scheme(const char *url, const char *const *schemes)
{
	for (int i = 0; schemes[i]; i++)
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])])
			return true;
	return false;
}

static void read_channel(struct cfg_ctx *c, const config_setting_t *g, struct notify_channel_config *ch)
{
	cfg_where(c, g, &ch->file, &ch->line);
	rd_check_keys(c, g, channel_keys, "notify channel");
	ch->verify = true;
	if (rd_string(c, g, "name", true, &ch->name) > 0 && !cfg_is_id(ch->name))
		cfg_err(c, config_setting_get_member(g, "name"),
			"channel name \"%s\" must be 1-64 letters, digits, '-', '_' or '.'", ch->name);
	int type = -1;
	if (rd_choice(c, g, "type", true, type_names, &type) > 0)
		ch->type = (enum notify_channel_type)type;
	static const char *const http[] = { "http://", "https://", NULL };
	static const char *const smtp[] = { "smtp://", "smtps://", NULL };
	/* A robot's url holds its key (WeCom key=, DingTalk access_token=,
	 * Feishu hook id): a secret, so it may come from url_file. */
	bool robot = type >= 0 && ch->type != NOTIFY_EMAIL && ch->type != NOTIFY_WEBHOOK;
	cfg_read_secret(c, g, "url", "url_file", robot, &ch->url);
	const config_setting_t *url_at = config_setting_get_member(g, "url");
	if (!url_at)
		url_at = config_setting_get_member(g, "url_file");
	if (!url_at)
		rd_missing(c, g, "url");
	if (ch->url && ch->url[0] && type >= 0) {
		bool mail = ch->type == NOTIFY_EMAIL;
		if (!url_has_scheme(ch->url, mail ? smtp : http))
			cfg_err(c, url_at, "'url' of a %s channel must start with %s", type_names[type],
				mail ? "smtp:// or smtps://" : "http:// or https://");
	}
	cfg_read_secret(c, g, "secret", "secret_file", true, &ch->secret);
	cfg_read_secret(c, g, "password", "password_file", true, &ch->password);
	rd_string(c, g, "ca", false, &ch->ca);
	if (ch->ca && access(ch->ca, R_OK) != 0)
		cfg_err(c, config_setting_get_member(g, "ca"), "cannot read CA file '%s': %s", ch->ca, strerror(errno));
	if (rd_bool(c, g, "verify", false, &ch->verify) > 0 && !ch->verify) {
		char what[96];
		snprintf(what, sizeof what, "notify channel \"%s\"", ch->name ? ch->name : "?");
		cfg_warn_no_verify(c, g, what);
	}
	int fmt = 0;
	if (rd_choice(c, g, "format", false, formats, &fmt) > 0) {
		ch->format = (enum notify_format)fmt;
		if (ch->format == NOTIFY_FMT_CARD && type >= 0 && ch->type != NOTIFY_FEISHU)
			cfg_err(c, config_setting_get_member(g, "format"), "format \"card\" is for feishu channels only");
		if (ch->format == NOTIFY_FMT_MARKDOWN && type >= 0 &&
		    (ch->type == NOTIFY_FEISHU || ch->type == NOTIFY_EMAIL || ch->type == NOTIFY_WEBHOOK))
			cfg_err(c, config_setting_get_member(g, "format"),
				"format \"markdown\" is for wecom and dingtalk channels (feishu: \"text\" or \"card\")");
	}
	int n = rd_strings(c, g, "mention", &ch->mention);
	ch->n_mention = n > 0 ? n : 0;
	for (int i = 0; i < ch->n_mention; i++) {
		const char *m = ch->mention[i];
		bool ok = *m && strlen(m) <= 20;
		for (const char *p = m; *p; p++)
			ok = ok && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-');
		if (!ok)
			cfg_err(c, config_setting_get_member(g, "mention"), "'mention' holds mobile numbers, not \"%s\"", m);
	}
	if (ch->n_mention && ch->format == NOTIFY_FMT_MARKDOWN && ch->type == NOTIFY_WECOM)
		cfg_err(c, config_setting_get_member(g, "mention"),
			"a WeCom markdown message cannot @ anyone: drop format = \"markdown\" (mentions send text)");
	rd_string(c, g, "from", false, &ch->from);
	n = rd_strings(c, g, "to", &ch->to);
	ch->n_to = n > 0 ? n : 0;
	rd_string(c, g, "username", false, &ch->username);
	if (type >= 0 && ch->type == NOTIFY_EMAIL) {
		if (!ch->from)
			rd_missing(c, g, "from");
		if (!config_setting_get_member(g, "to"))
			rd_missing(c, g, "to");
		else if (ch->n_to == 0)
			cfg_err(c, config_setting_get_member(g, "to"), "'to' needs at least one address");
		if (ch->password && !ch->username)
			rd_missing(c, g, "username");
	} else if (type >= 0) {
		static const char *const mail_only[] = { "from", "to", "username", "password", "password_file", NULL };
		for (int i = 0; mail_only[i]; i++)
			if (config_setting_get_member(g, mail_only[i]))
				cfg_err(c, config_setting_get_member(g, mail_only[i]), "'%s' is for email channels only",
					mail_only[i]);
		if (ch->type == NOTIFY_WECOM && ch->secret)
			cfg_err(c, config_setting_get_member(g, config_setting_get_member(g, "secret") ? "secret" : "secret_file"),
				"a WeCom robot has no signing secret: its key is part of the url");
	}
	read_rate(c, g, ch);
	ch->timeout_ms = 8000;
	rd_duration(c, g, "timeout", false, 100, &ch->timeout_ms);
	/* `notify test` answers through the control socket, which gives up after 10 s. */
	if (ch->timeout_ms > 9000)
		cfg_err(c, config_setting_get_member(g, "timeout"), "'timeout' must be at most 9s");
}

static int find_channel(const struct notify_config *n, const char *name)
{
	for (int i = 0; i < n->n_channels; i++)
		if (n->channels[i].name && strcmp(n->channels[i].name, name) == 0)
			return i;
	return -1;
}

static void read_match(struct cfg_ctx *c, const config_setting_t *g, struct notify_route_config *r)
{
	const config_setting_t *m = rd_group(c, g, "match", false);
	if (!m)
		return;
	rd_check_keys(c, m, match_keys, "route match");
	config_setting_t *sev = config_setting_get_member(m, "severity");
	if (sev) {
		int t = config_setting_type(sev);
		int n = t == CONFIG_TYPE_INT ? 1 : (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(sev) : -1;
		if (n < 0) {
			cfg_err(c, sev, "'severity' must be a list of 1..4, e.g. [1, 2]");
		} else {
			r->severity = cfg_xcalloc((size_t)n + 1, sizeof *r->severity);
			for (int i = 0; i < n; i++) {
				const config_setting_t *e = t == CONFIG_TYPE_INT ? sev : config_setting_get_elem(sev, (unsigned)i);
				if (config_setting_type(e) != CONFIG_TYPE_INT || config_setting_get_int(e) < 1 ||
				    config_setting_get_int(e) > 4) {
					cfg_err(c, e, "'severity' values are 1 (most severe) .. 4");
					continue;
				}
				r->severity[r->n_severity++] = config_setting_get_int(e);
			}
		}
	}
	int n = rd_strings(c, m, "type", &r->type);
	r->n_type = n > 0 ? n : 0;
	for (int i = 0; i < r->n_type; i++)
		if (!notify_glob_valid(r->type[i]))
			cfg_err(c, config_setting_get_member(m, "type"),
				"bad type pattern \"%s\": use names and the wildcards * and ? (e.g. \"device.*\")", r->type[i]);
	n = rd_strings(c, m, "building", &r->building);
	r->n_building = n > 0 ? n : 0;
}

static void read_route(struct cfg_ctx *c, const config_setting_t *g, struct notify_config *nc,
		       struct notify_route_config *r)
{
	cfg_where(c, g, &r->file, &r->line);
	rd_check_keys(c, g, route_keys, "notify route");
	read_match(c, g, r);
	char **to = NULL;
	int n = rd_strings(c, g, "to", &to);
	if (n == 0 && !config_setting_get_member(g, "to"))
		rd_missing(c, g, "to");
	else if (n == 0)
		cfg_err(c, config_setting_get_member(g, "to"), "'to' needs at least one channel");
	r->to = cfg_xcalloc((size_t)(n > 0 ? n : 0) + 1, sizeof *r->to);
	for (int i = 0; i < n; i++) {
		int ch = find_channel(nc, to[i]);
		if (ch < 0) {
			const char *hint = NULL;
			int best = 3;
			for (int k = 0; k < nc->n_channels; k++) {
				int d = nc->channels[k].name ? cfg_edit_distance(to[i], nc->channels[k].name) : 99;
				if (d < best) {
					best = d;
					hint = nc->channels[k].name;
				}
			}
			if (hint)
				cfg_err(c, config_setting_get_member(g, "to"), "no notify channel named \"%s\" (did you mean \"%s\"?)",
					to[i], hint);
			else
				cfg_err(c, config_setting_get_member(g, "to"), "no notify channel named \"%s\"", to[i]);
			continue;
		}
		r->to[r->n_to++] = ch;
	}
	free_strings(to, n);
	char **ev = NULL;
	n = rd_strings(c, g, "events", &ev);
	r->events = n > 0 ? 0 : NOTIFY_EV_RAISED;
	for (int i = 0; i < n; i++) {
		int k;
		for (k = 0; event_names[k] && strcmp(event_names[k], ev[i]) != 0; k++)
			;
		if (!event_names[k])
			cfg_err(c, config_setting_get_member(g, "events"),
				"'events' holds raised, cleared or escalated, not \"%s\"", ev[i]);
		else
			r->events |= 1u << k;
	}
	if (n == 0 && config_setting_get_member(g, "events"))
		cfg_err(c, config_setting_get_member(g, "events"), "'events' needs at least one of raised, cleared, escalated");
	free_strings(ev, n);
	rd_duration(c, g, "after", false, 1000, &r->after_ms);
	int u = 0;
	if (rd_choice(c, g, "unless", false, unless_names, &u) > 0)
		r->unless = (enum notify_unless)u;
	if (r->unless != NOTIFY_UNLESS_NONE && r->after_ms == 0)
		cfg_err(c, config_setting_get_member(g, "unless"), "'unless' needs 'after' (the time to wait for it)");
	if (r->after_ms > 0 && (r->events & ~NOTIFY_EV_RAISED))
		cfg_err(c, config_setting_get_member(g, "after"), "an 'after' step counts from the raise: events must be [\"raised\"]");
	char *hours = NULL;
	if (rd_string(c, g, "hours", false, &hours) > 0) {
		if (notify_hours_parse(hours, &r->hours_from_min, &r->hours_to_min) != 0)
			cfg_err(c, config_setting_get_member(g, "hours"),
				"'hours' must be \"HH:MM-HH:MM\" in local time (e.g. \"08:00-21:00\", may wrap midnight), not \"%s\"",
				hours);
		else
			r->has_hours = true;
	}
	free(hours);
	if (rd_string(c, g, "template", false, &r->template_text) > 0) {
		char bad[80];
		if (!r->template_text[0])
			cfg_err(c, config_setting_get_member(g, "template"), "'template' must not be empty");
		else if (notify_template_check(r->template_text, bad, sizeof bad) != 0)
			cfg_err(c, config_setting_get_member(g, "template"),
				"template: unknown placeholder {%s} (known: {title} {severity} {type} {type_id} {event} {message} "
				"{location} {building} {entrance} {floor} {room} {place} {device} {rule} {time} {incident} {link} "
				"{escalation})", bad);
	}
}

void cfg_read_notify(struct cfg_ctx *c, const config_setting_t *root)
{
	const config_setting_t *g = rd_group(c, root, "notify", false);
	if (!g)
		return;
	rd_check_keys(c, g, notify_keys, "notify");
	struct notify_config *nc = cfg_xcalloc(1, sizeof *nc);
	c->cfg->notify = nc;
	nc->language = cfg_xstrdup("zh-CN");
	int lang;
	if (rd_choice(c, g, "language", false, languages, &lang) > 0) {
		free(nc->language);
		nc->language = cfg_xstrdup(languages[lang]);
	}
	if (rd_string(c, g, "console_url", false, &nc->console_url) > 0) {
		static const char *const http[] = { "http://", "https://", NULL };
		if (!url_has_scheme(nc->console_url, http))
			cfg_err(c, config_setting_get_member(g, "console_url"), "'console_url' must start with http:// or https://");
	}
	const config_setting_t *chs = rd_list(c, g, "channels", true);
	int n = chs ? config_setting_length(chs) : 0;
	nc->channels = cfg_xcalloc((size_t)n + 1, sizeof *nc->channels);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(chs, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			cfg_err(c, e, "notify.channels: each channel must be a group { ... }");
			continue;
		}
		struct notify_channel_config *ch = &nc->channels[nc->n_channels];
		read_channel(c, e, ch);
		int dup = ch->name ? find_channel(nc, ch->name) : -1;
		nc->n_channels++;
		if (dup >= 0)
			cfg_err(c, config_setting_get_member(e, "name"), "duplicate notify channel \"%s\" (first at %s:%d)",
				ch->name, nc->channels[dup].file, nc->channels[dup].line);
	}
	const config_setting_t *rts = rd_list(c, g, "routes", false);
	n = rts ? config_setting_length(rts) : 0;
	nc->routes = cfg_xcalloc((size_t)n + 1, sizeof *nc->routes);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(rts, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			cfg_err(c, e, "notify.routes: each route must be a group { ... }");
			continue;
		}
		read_route(c, e, nc, &nc->routes[nc->n_routes++]);
	}
}

void cfg_free_notify(struct notify_config *nc)
{
	if (!nc)
		return;
	free(nc->language);
	free(nc->console_url);
	for (int i = 0; i < nc->n_channels; i++) {
		struct notify_channel_config *ch = &nc->channels[i];
		free(ch->name);
		free(ch->url);
		if (ch->secret)
			explicit_bzero(ch->secret, strlen(ch->secret));
		if (ch->password)
			explicit_bzero(ch->password, strlen(ch->password));
		free(ch->secret);
		free(ch->password);
		free(ch->ca);
		free_strings(ch->mention, ch->n_mention);
		free(ch->from);
		free_strings(ch->to, ch->n_to);
		free(ch->username);
	}
	free(nc->channels);
	for (int i = 0; i < nc->n_routes; i++) {
		struct notify_route_config *r = &nc->routes[i];
		free(r->severity);
		free_strings(r->type, r->n_type);
		free_strings(r->building, r->n_building);
		free(r->to);
		free(r->template_text);
	}
	free(nc->routes);
	free(nc);
}
