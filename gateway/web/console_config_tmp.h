/* TEMPORARY until the layout change lands: moves into common/model.h. */
#ifndef GRIDGW_CONSOLE_CONFIG_TMP_H
#define GRIDGW_CONSOLE_CONFIG_TMP_H
#include <stdbool.h>
#include <stdint.h>

enum console_role { CONSOLE_ROLE_VIEWER = 1, CONSOLE_ROLE_OPERATOR, CONSOLE_ROLE_INSTALLER };

struct console_user {
	char *name;
	enum console_role role;
	char *password_hash;      /* crypt(3), e.g. "$y$..." from `gridgw passwd` */
	const char *file;
	int line;
};

/* console = { ... } (docs/configuration.md). present = false: no console. */
struct console_config {
	bool present;
	char *listen;             /* "HOST:PORT", default "0.0.0.0:8080" */
	char *tls_cert;           /* PEM files; both or neither */
	char *tls_key;
	struct console_user *users;
	int n_users;
	bool metrics;             /* GET /metrics without login; default true */
	int64_t session_idle_ms;  /* default 30m */
};
#endif
