/* config_console — the `console` section (docs/configuration.md): the web
 * console's address, optional TLS, its users and /metrics. No section, no
 * console; a console with no users is an error (there is no default user
 * and no default password). */
#include <stdlib.h>
#include <string.h>

#include "gateway/config/config_priv.h"
#include "gateway/web/web.h"

static const char *const console_keys[] = { "listen", "tls", "users", "metrics", "session_idle", NULL };
static const char *const console_tls_keys[] = { "cert", "key", NULL };
static const char *const user_keys[] = { "name", "role", "password_hash", NULL };
static const char *const roles[] = { "viewer", "operator", "installer", NULL };

static void read_user(struct cfg_ctx *c, const config_setting_t *g, struct console_user *u, int index)
{
	cfg_where(c, g, &u->file, &u->line);
	if (!config_setting_is_group(g)) {
		cfg_err(c, g, "console.users[%d] must be a group { name; role; password_hash; }", index);
		return;
	}
	rd_check_keys(c, g, user_keys, "a console user");
	if (rd_string(c, g, "name", true, &u->name) > 0 &&
	    (strlen(u->name) == 0 || strlen(u->name) > 63 || strpbrk(u->name, ":\"\\/ ") != NULL))
		cfg_err(c, config_setting_get_member(g, "name"),
			"console user name '%s' must be 1-63 characters without ':', quotes, '/', '\\' or spaces", u->name);
	int role;
	if (rd_choice(c, g, "role", true, roles, &role) > 0)
		u->role = (enum console_role)(CONSOLE_ROLE_VIEWER + role);
	if (rd_string(c, g, "password_hash", true, &u->password_hash) > 0 && !web_hash_usable(u->password_hash))
		cfg_err(c, config_setting_get_member(g, "password_hash"),
			"'password_hash' of console user '%s' is not a crypt(3) hash (make one with `gridgw passwd`)",
			u->name ? u->name : "?");
}

void cfg_read_console(struct cfg_ctx *c, const config_setting_t *root)
{
	struct console_config *cc = &c->cfg->console;
	cc->metrics = true;
	cc->session_idle_ms = 30 * 60000;
	const config_setting_t *g = rd_group(c, root, "console", false);
	if (!g)
		return;
	cc->present = true;
	rd_check_keys(c, g, console_keys, "console");
	cc->listen = cfg_xstrdup("0.0.0.0:8080");
	char *listen = NULL;
	if (rd_string(c, g, "listen", false, &listen) > 0) {
		char host[64], err[160];
		int port;
		if (web_parse_listen(listen, host, sizeof host, &port, err, sizeof err) != 0)
			cfg_err(c, config_setting_get_member(g, "listen"), "%s", err);
		free(cc->listen);
		cc->listen = listen;
	}
	const config_setting_t *tls = rd_group(c, g, "tls", false);
	if (tls) {
		rd_check_keys(c, tls, console_tls_keys, "console.tls");
		int hc = rd_string(c, tls, "cert", true, &cc->tls_cert);
		int hk = rd_string(c, tls, "key", true, &cc->tls_key);
		(void)hc; /* missing ones are reported as required */
		if (hk > 0)
			cfg_check_key_file(c, tls, "key", cc->tls_key);
	}
	rd_bool(c, g, "metrics", false, &cc->metrics);
	if (rd_duration(c, g, "session_idle", false, 60000, &cc->session_idle_ms) > 0 &&
	    cc->session_idle_ms > 7LL * 86400000)
		cfg_err(c, config_setting_get_member(g, "session_idle"), "'session_idle' must be at most 7d");
	const config_setting_t *users = rd_list(c, g, "users", false);
	int n = users ? config_setting_length(users) : 0;
	if (n == 0) {
		cfg_err(c, users ? users : g,
			"console has no users: add console.users = ( { name = \"...\"; role = \"operator\"; "
			"password_hash = \"$y$...\"; } ) (hash from `gridgw passwd`); there is no default user");
		return;
	}
	cc->users = cfg_xcalloc((size_t)n, sizeof *cc->users);
	cc->n_users = n;
	for (int i = 0; i < n; i++) {
		read_user(c, config_setting_get_elem(users, (unsigned)i), &cc->users[i], i);
		for (int k = 0; k < i; k++)
			if (cc->users[i].name && cc->users[k].name && strcmp(cc->users[i].name, cc->users[k].name) == 0)
				cfg_err(c, config_setting_get_elem(users, (unsigned)i),
					"console user '%s' is defined twice (first at %s:%d)", cc->users[i].name,
					cc->users[k].file, cc->users[k].line);
	}
}

void cfg_free_console(struct console_config *cc)
{
	free(cc->listen);
	free(cc->tls_cert);
	free(cc->tls_key);
	for (int i = 0; i < cc->n_users; i++) {
		free(cc->users[i].name);
		free(cc->users[i].password_hash);
	}
	free(cc->users);
	memset(cc, 0, sizeof *cc);
}
