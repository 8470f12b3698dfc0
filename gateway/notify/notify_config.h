/* notify_config — the `notify = { … }` section of the configuration, as the
 * config loader fills it (gateway/config/) and the notify module reads it.
 * Plain data, libc types only, so the shared model can include it. Every
 * string is owned by the gw_config that holds it; secrets are read from
 * their files at load time and never printed. */
#ifndef GRIDGW_NOTIFY_CONFIG_H
#define GRIDGW_NOTIFY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum notify_channel_type {
	NOTIFY_WECOM = 0,    /* WeCom (企业微信) group robot */
	NOTIFY_DINGTALK,     /* DingTalk (钉钉) custom robot */
	NOTIFY_FEISHU,       /* Feishu / Lark (飞书) custom bot */
	NOTIFY_WEBHOOK,      /* any HTTP endpoint: the incident event as published */
	NOTIFY_EMAIL,        /* SMTP / SMTPS */
	NOTIFY_TYPE_COUNT
};

enum notify_format {
	NOTIFY_FMT_DEFAULT = 0, /* per type: markdown for wecom/dingtalk, text for feishu/email */
	NOTIFY_FMT_TEXT,
	NOTIFY_FMT_MARKDOWN,
	NOTIFY_FMT_CARD,        /* feishu interactive card */
};

/* Bits of notify_route_config.events. */
#define NOTIFY_EV_RAISED    0x1u
#define NOTIFY_EV_CLEARED   0x2u
#define NOTIFY_EV_ESCALATED 0x4u

enum notify_unless { NOTIFY_UNLESS_NONE = 0, NOTIFY_UNLESS_ACKED, NOTIFY_UNLESS_ACCEPTED, NOTIFY_UNLESS_CLOSED };

struct notify_channel_config {
	char *name;
	enum notify_channel_type type;
	char *url;
	char *secret;             /* signing secret (dingtalk, feishu, webhook); from secret or secret_file */
	char *ca;                 /* CA bundle file for https/smtps; NULL = system store */
	bool verify;              /* TLS peer and host verification, default true */
	enum notify_format format;
	char **mention;           /* mobile numbers to @ (wecom text, dingtalk) */
	int n_mention;
	char *from;               /* email */
	char **to;                /* email recipients */
	int n_to;
	char *username;           /* email */
	char *password;           /* email; from password or password_file */
	int rate;                 /* messages per rate_window_ms the gateway sends at most */
	int64_t rate_window_ms;   /* default 60 s ("rate = 20" means 20/min) */
	int64_t timeout_ms;       /* per request, default 10 s */
	const char *file;
	int line;
};

struct notify_route_config {
	int *severity;            /* match: any of these (none given = any) */
	int n_severity;
	char **type;              /* match: glob patterns ('*', '?') */
	int n_type;
	char **building;          /* match: exact building names */
	int n_building;
	int *to;                  /* channel indices */
	int n_to;
	unsigned events;          /* NOTIFY_EV_*, default raised */
	int64_t after_ms;         /* > 0: an escalation step, due this long after the raise */
	enum notify_unless unless;
	bool has_hours;           /* hours = "HH:MM-HH:MM" in local time (may wrap midnight) */
	int hours_from_min;
	int hours_to_min;
	char *template_text;      /* NULL = the channel type's default template */
	const char *file;
	int line;
};

/* "wecom", "dingtalk", … (notify_channel.c). */
const char *notify_type_name(enum notify_channel_type type);

struct notify_config {
	char *language;           /* "zh-CN" (default) or "en" */
	char *console_url;        /* optional link base: URL/incidents/ID */
	struct notify_channel_config *channels;
	int n_channels;
	struct notify_route_config *routes;
	int n_routes;
};

#endif
