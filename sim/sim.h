/* sim — the device simulator's shared state (gridgw-sim). It owns the
 * simulated value of every point of every configured device, the register
 * and bit images a Modbus client reads, the injected faults and the per-unit
 * request counters. Transports (Modbus TCP, Modbus RTU on a pty, MQTT), the
 * control channel and the scenario runner all go through the functions here,
 * under one mutex, so a value set by a test is what the next read returns.
 *
 * Values are engineering values (what the gateway decodes); the register
 * images are derived from them with point_encode() from sensors/decode.h,
 * and a Modbus write decodes back with point_decode_*(). */
#ifndef GRIDGW_SIM_H
#define GRIDGW_SIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config/config.h"

enum sim_fault {
	SIM_FAULT_NONE = 0,
	SIM_FAULT_TIMEOUT,    /* no answer */
	SIM_FAULT_EXCEPTION,  /* exception 0x02 illegal data address */
	SIM_FAULT_BUSY,       /* exception 0x06 server device busy */
	SIM_FAULT_GARBAGE,    /* random bytes (bad MBAP on TCP) */
	SIM_FAULT_CRC,        /* right answer, bad CRC (RTU) / wrong transaction id (TCP) */
	SIM_FAULT_SLOW,       /* right answer after slow_ms */
	SIM_FAULT_DISCONNECT, /* close the TCP connection (RTU: no answer) */
	SIM_FAULT_SILENT,     /* no answers (Modbus), no publishing (MQTT) */
};

const char *sim_fault_name(enum sim_fault f);
/* Returns 0 and *out for a known mode name, else -1. */
int sim_fault_parse(const char *name, enum sim_fault *out);

/* A contiguous image of one Modbus table of one device, covering every
 * configured point: addresses lo .. lo+n-1. Bit tables hold 0/1 per word. */
struct sim_table {
	int lo;
	int n;
	uint16_t *words;
};

struct sim_ramp {
	bool active;
	double from;
	double to;
	int64_t start_ms;
	int64_t dur_ms;
};

struct sim_device {
	const struct device_config *cfg;
	const struct profile *prof;
	double *values;         /* per profile point */
	int *enum_idx;          /* enum points: which name was set (-1 = first match) */
	struct sim_ramp *ramps; /* per profile point */
	struct sim_table tables[5]; /* indexed by enum point_table */
	enum sim_fault fault;
	int64_t slow_ms;
	unsigned long requests, reads, writes;
	bool dirty;             /* MQTT: publish at the next tick */
	int64_t last_pub_ms;    /* MQTT: monotonic time of the last publish */
};

/* What a transport must do with one Modbus request. */
enum sim_action {
	SIM_ACT_REPLY = 0,  /* send rsp */
	SIM_ACT_NONE,       /* send nothing */
	SIM_ACT_GARBAGE,    /* send random bytes */
	SIM_ACT_CORRUPT,    /* send rsp with a corrupted frame (CRC / MBAP) */
	SIM_ACT_DELAY,      /* send rsp after delay_ms */
	SIM_ACT_DISCONNECT, /* drop the connection */
};

struct sim {
	const struct gw_config *cfg;
	pthread_mutex_t mu;       /* guards devs[] (values, images, faults, stats) */
	pthread_mutex_t out_mu;   /* one stdout line at a time */
	struct sim_device *devs;  /* one per cfg->devices[] */
	int n_devs;
	int64_t start_ms;         /* monotonic start of the run (scenario clock) */
	int64_t default_slow_ms;  /* delay of "fail DEV slow" without a delay */
	bool quiet;               /* no step lines on stdout */
	atomic_bool stop;         /* set by quit / signal / duration */
	int64_t stop_at_ms;       /* "quit" request time (0 = none) */
};

/* Builds the state for every device of cfg: values 0/false, a point named
 * "battery" 100, register images encoded. Returns 0 or -1 (logged). */
int sim_init(struct sim *s, const struct gw_config *cfg);
void sim_free(struct sim *s);

/* Writes one line (a '\n' is appended) to stdout in one write(2). */
void sim_print(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "[sim  12.0s] " prefix + line, unless quiet. */
void sim_print_step(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int sim_find_device(const struct sim *s, const char *id);
int sim_find_point(const struct profile *p, const char *name);

/* Parses a point value as text: a number, true/false, or (enum points) a
 * value name. Sets *value and *enum_idx (-1 unless a name was given).
 * Returns 0 or -1. */
int sim_parse_value(const struct point_def *p, const char *text, double *value, int *enum_idx);

/* All *_locked functions expect s->mu held. */
/* Sets a point (cancels its ramp). Returns 0, or -ERANGE / -EINVAL when the
 * value cannot be encoded for the point's register type. */
int sim_set_locked(struct sim *s, struct sim_device *d, int point, double value, int enum_idx);
void sim_ramp_locked(struct sim *s, struct sim_device *d, int point, double to, int64_t dur_ms, int64_t now_ms);
/* Advances every active ramp to now_ms. */
void sim_tick_ramps_locked(struct sim *s, int64_t now_ms);

/* Handles one Modbus request PDU (function code + data) addressed to device
 * `dev`: counts it, applies the device's fault, and fills rsp (function code
 * + data, at most 253 bytes) with the answer or an exception. Takes s->mu. */
enum sim_action sim_modbus_request(struct sim *s, int dev, const uint8_t *pdu, int pdu_len,
				   uint8_t *rsp, int *rsp_len, int64_t *delay_ms);
/* A broadcast (RTU unit 0) write: applied to the device, never answered. */
void sim_modbus_broadcast(struct sim *s, int dev, const uint8_t *pdu, int pdu_len);
/* An exception response PDU for fc; returns its length (2). */
int sim_modbus_exception(uint8_t fc, uint8_t code, uint8_t *rsp);

/* Fills buf with n pseudo-random bytes from *seed (rand_r). */
void sim_random_bytes(unsigned int *seed, uint8_t *buf, int n);

/* Control commands (see docs/simulator.md). Executes one line, writes one
 * reply line (without '\n') into reply. Returns 1 when the line was "quit",
 * else 0. Takes s->mu itself. */
int sim_control_exec(struct sim *s, const char *line, char *reply, size_t cap);

#endif
