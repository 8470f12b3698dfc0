/* model — the configuration as plain structs: the vocabulary every module
 * shares (point/profile/device/bus/source/rule definitions and the whole
 * struct gw_config). Everything the hot paths need is resolved to indices at
 * load time: a device points at its profile, bus or source by index; a rule
 * at its profile; an action at its target device and point. A loaded config
 * is immutable and owned by whoever loaded it (gateway/config/config.h
 * builds it from libconfig files); a reload builds a new one and swaps.
 *
 * Lives in common/ so that sensors/ and rules/ can read a config without
 * depending on the loader (and on libconfig). Depends on nothing of ours. */
#ifndef GRIDGW_MODEL_H
#define GRIDGW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum point_table { TABLE_NONE = 0, TABLE_COIL, TABLE_DISCRETE, TABLE_HOLDING, TABLE_INPUT };
enum point_type {
	PT_BOOL = 0,  /* coil/discrete bit, or a register != 0; JSON true/false/0/1/"true"/"false" */
	PT_BIT,       /* bit `bit` (0..15) of a holding/input register */
	PT_U16, PT_S16, PT_U32, PT_S32, PT_F32,
	PT_NUMBER,    /* JSON number */
	PT_ENUM,      /* JSON string mapped through `values` */
};
enum word_order { WORD_BIG = 0, WORD_LITTLE };

struct enum_value {
	char *name;
	double value;
};

struct point_def {
	char *name;
	char *unit;               /* may be NULL */
	enum point_type type;
	/* Modbus profiles */
	enum point_table table;   /* TABLE_NONE for JSON points */
	int address;              /* 0..65535 */
	int bit;                  /* PT_BIT: 0..15 */
	enum word_order word_order;
	/* MQTT profiles */
	char *json;               /* key path "a.b", "list[0].v"; NULL for Modbus points */
	struct enum_value *values;
	int n_values;
	double scale;             /* default 1 */
	double offset;            /* default 0 */
	bool remote_write;        /* platform point.write allowed */
	bool writable;            /* coil or holding */
	const char *file;         /* interned source file of the definition */
	int line;
};

struct profile {
	char *name;
	char *kind;               /* "smoke", "manhole", "elevator", ... */
	bool is_mqtt;             /* JSON points (true) or Modbus points (false) */
	struct point_def *points;
	int n_points;
	const char *file;
	int line;
};

enum bus_type { BUS_RTU = 0, BUS_TCP };

struct bus_config {
	char *name;
	enum bus_type type;
	/* rtu */
	char *device;             /* /dev/ttyS1 */
	int baud;                 /* default 9600 */
	char parity;              /* 'N', 'E', 'O' */
	int data_bits;            /* default 8 */
	int stop_bits;            /* default 1 */
	bool rs485;               /* TIOCSRS485 mode, default false */
	bool rts;                 /* RTS-driven direction (MODBUS_RTU_RTS_UP), default false */
	int64_t frame_delay_ms;   /* silent time between frames; default 0 = 3.5 chars */
	/* tcp */
	char *host;
	int port;                 /* default 502 */
	/* both */
	int64_t timeout_ms;       /* response timeout, default 500ms */
	int retries;              /* per request, default 1 */
	int max_gap;              /* unused addresses read through when coalescing, default 4 */
	int max_block_regs;       /* default 125 */
	int max_block_bits;       /* default 2000 */
	const char *file;
	int line;
};

enum device_from { DEVICE_FROM_TOPIC = 0, DEVICE_FROM_JSON };

struct mqtt_source_config {
	char *name;
	char *url;
	char *topic;              /* subscription filter */
	enum device_from device_from;
	int topic_level;          /* "topic:2" -> 2 (1-based) */
	char *json_key;           /* "json:dev" -> "dev" */
	char *ts_key;             /* JSON key of the payload timestamp, default "ts" */
	char *client_id;          /* default "<gateway.id>-src-<name>" */
	char *username;
	char *password;
	int max_payload;          /* bytes, default 65536 */
	const char *file;
	int line;
};

struct location {
	char *building;
	char *entrance;
	char *room;
	char *place;
	int floor;
	bool has_floor;
};

struct device_config {
	char *id;
	int profile;              /* index into gw_config.profiles */
	int bus;                  /* index into buses, or -1 */
	int source;               /* index into sources, or -1 */
	int unit;                 /* Modbus unit id 1..247 (0..255 on TCP) */
	int64_t poll_ms;          /* default 1s */
	int64_t offline_after_ms; /* default 3 * poll (Modbus), 1h (MQTT) */
	struct location location;
	const char *file;
	int line;
};

enum action_kind { ACTION_WRITE = 0, ACTION_PUBLISH };

struct action_config {
	enum action_kind kind;
	/* write: device index (-1 = the rule's own device, resolved per raise) and point index */
	int device;
	char *point_name;
	double value;
	/* publish */
	int source;               /* index into sources */
	char *topic;
	char *payload;            /* may contain {field} placeholders */
	const char *file;
	int line;
};

enum group_by { GROUP_NONE = 0, GROUP_BUILDING, GROUP_ENTRANCE, GROUP_FLOOR };

struct rule_config {
	char *id;
	int profile;              /* index into profiles */
	char *when;               /* expression text, validated at load */
	char *clear_when;         /* NULL = !(when) */
	int64_t for_ms;
	int64_t clear_for_ms;
	int count;                /* 0/1 = raise on first rise */
	int64_t within_ms;        /* count window, or correlation window */
	bool latch;
	int severity;             /* 1 (most urgent) .. 4 */
	char *type;               /* incident type, e.g. "fire.smoke" */
	char *message;            /* template with {field}; NULL = type */
	struct action_config *on_raise;
	int n_on_raise;
	struct action_config *on_clear;
	int n_on_clear;
	bool has_escalate;
	int64_t escalate_after_ms;
	int escalate_severity;
	enum group_by group;      /* correlation: GROUP_NONE for a plain rule */
	int min_devices;
	char *confirmed_type;     /* correlation incident type, default "fire.confirmed" */
	int confirmed_severity;   /* default 1 */
	int chatter_max;          /* raise/clear cycles in chatter_window before holding; default 5 */
	int64_t chatter_window_ms;/* default 60s */
	bool enabled;
	const char *file;
	int line;
};

/* Built-in per-device rules; each may be disabled or retuned. */
struct builtin_rule_config {
	bool enabled;
	int severity;
	double threshold;         /* battery_low: raise below this %, default 20 */
	double clear_threshold;   /* battery_low: clear at or above, default 25 */
	char *point;              /* the profile point it watches ("battery", "fault", "tamper") */
};

struct builtin_rules_config {
	struct builtin_rule_config offline;      /* default severity 3 */
	struct builtin_rule_config battery_low;  /* default severity 4 */
	struct builtin_rule_config fault;        /* default severity 3 */
	struct builtin_rule_config tamper;       /* default severity 2 */
};

struct tls_config {
	char *ca;
	char *cert;
	char *key;
	bool verify;              /* default true */
	bool present;
};

struct uplink_config {
	char *url;                /* tcp://host:port or ssl://host:port; NULL = no uplink */
	char *client_id;
	char *username;
	char *password;
	struct tls_config tls;
	char *topic_prefix;       /* default "grid/v1" */
	int64_t keepalive_ms;     /* default 30s */
	int64_t telemetry_interval_ms; /* default 60s, 0 = off */
	int mqtt_version;         /* 3 (3.1.1, default) or 5 */
	int inflight;             /* outbox window, default 16 (below mosquitto's 20) */
	int max_payload;          /* telemetry split size, default 16384 */
	int64_t down_after_ms;    /* gateway.uplink_down after this outage, default 5m */
	int64_t reconnect_min_ms; /* default 1s */
	int64_t reconnect_max_ms; /* default 60s */
};

struct store_config {
	int64_t max_size_mb;      /* database size cap, default 256 */
	int64_t history_keep_ms;  /* reading history age, default 7d */
	int64_t history_interval_ms; /* sample a point into history at most this often, default 60s */
	int64_t delivered_keep_ms;/* keep delivered events this long, default 1d */
	char *synchronous;        /* "full" (default) or "normal" */
};

struct site {
	char *street;
	char *community;
	char *grid;
};

struct gateway_config {
	char *id;
	struct site site;
	char *state_dir;          /* default /var/lib/gridgw */
	char *profiles_dir;       /* resolved to an absolute/relative-to-cwd path */
	char *vendor_profiles_dir; /* shipped profiles, read after profiles_dir; NULL = none */
	char *log_level;          /* default "info" */
};

struct notify_config;
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

/* incidents = { ... } (docs/configuration.md). */
struct incidents_config {
	/* Without an uplink: close an incident cleared and acknowledged this
	 * long ago. Default 1h; 0 = never. Ignored with an uplink (the platform
	 * closes incidents). */
	int64_t auto_close_after_ms;
};

struct gw_config {
	char *path;               /* main config file as given */
	struct console_config console;
	struct gateway_config gateway;
	struct uplink_config uplink;
	struct store_config store;
	struct builtin_rules_config builtins;
	struct bus_config *buses;
	int n_buses;
	struct mqtt_source_config *sources;
	int n_sources;
	struct profile *profiles;
	int n_profiles;
	struct device_config *devices;
	int n_devices;
	struct rule_config *rules;
	int n_rules;
	struct notify_config *notify; /* the notify section (gateway/notify/notify_config.h), NULL when absent */
	char **files;             /* interned file names the file/line pointers refer to */
	int n_files;
	struct incidents_config incidents;
	/* device id -> index (config_index_devices); NULL: lookups are linear */
	int *device_slots;        /* open addressing, -1 = empty, device_slots_cap a power of 2 */
	size_t device_slots_cap;
	int device_slots_n;       /* n_devices when built: a changed list falls back to linear */
};

/* Lookups by name (linear; for load time and commands, not hot paths). -1 if absent.
 * config_find_device is O(1) once config_index_devices has run (config_load
 * does): a reload looks up every new device in the old config. */
int config_find_device(const struct gw_config *cfg, const char *id);
/* Builds cfg's device id table; -1 when out of memory (lookups stay linear). */
int config_index_devices(struct gw_config *cfg);
int config_find_bus(const struct gw_config *cfg, const char *name);
int config_find_profile(const struct gw_config *cfg, const char *name);
int config_find_point(const struct profile *p, const char *name);
int config_find_rule(const struct gw_config *cfg, const char *id);

/* Correlation rules (docs/rules.md §2.4). The type of a rule's confirmed
 * (group) incident: confirmed_type, default "fire.confirmed". */
const char *rule_confirmed_type(const struct rule_config *r);
/* True for a correlation rule whose own type is its confirmed type: it
 * raises only group incidents; its per-device alarms only count detectors
 * (their incidents would be one detector typed as confirmed). */
bool rule_is_correlation_only(const struct rule_config *r);

/* Registers (or bits) a Modbus point occupies: [address, address + width). */
int point_width(const struct point_def *p);
/* Coil or discrete input: one bit per address. */
bool point_is_bit_table(const struct point_def *p);
/* "coil", "discrete", "holding", "input", or "-" for JSON points. */
const char *point_table_name(enum point_table t);

#endif
