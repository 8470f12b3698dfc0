/* sim_rtu — Modbus RTU serving for the simulator on pseudo-terminals. Each
 * `rtu` bus gets a pty (openpty, raw mode); its slave is symlinked at the
 * bus's `device` path so the gateway opens it like /dev/ttyS1. We keep our
 * own slave fd open: then the master never reads EIO when the gateway closes
 * and reopens the line, and termios survives between opens.
 *
 * Framing is done here rather than with a libmodbus RTU server, because a
 * libmodbus RTU context drops every frame not addressed to its one slave id,
 * and a bus carries many units. A request's length follows from its function
 * code (8 bytes for FC 1-6, 9 + byte count for FC 15/16); anything else is
 * delimited by silence. A bad CRC or a unit nobody has gets no answer, as on
 * a real RS-485 line; unit 0 is broadcast (writes, never answered). No
 * serial-mode or RTS calls: they fail on ptys. */
#include "sim/sim_modbus.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define RTU_BUF 512
#define RTU_GAP_MS 50 /* a partial frame older than this is line noise */

struct rtu_line {
	struct sim_rtu *owner;
	const struct bus_config *bus;
	int master;
	int slave;
	char pts[64];
	bool linked;
	int dev_of_unit[256];
	int dev_count;
	uint8_t buf[RTU_BUF];
	int len;
	unsigned int seed;
	pthread_t th;
	bool started;
};

struct sim_rtu {
	struct sim *s;
	struct rtu_line *lines;
	int n_lines;
	int wake[2]; /* written once at stop and never drained: wakes every line */
};

uint16_t sim_crc16(const uint8_t *buf, int len)
{
	uint16_t crc = 0xFFFF;
	for (int i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static bool crc_ok(const uint8_t *f, int len)
{
	if (len < 4)
		return false;
	uint16_t crc = sim_crc16(f, len - 2);
	return f[len - 2] == (crc & 0xFF) && f[len - 1] == (crc >> 8);
}

static void line_write(struct rtu_line *l, uint8_t *frame, int len, bool add_crc)
{
	if (add_crc) {
		uint16_t crc = sim_crc16(frame, len);
		frame[len++] = (uint8_t)(crc & 0xFF);
		frame[len++] = (uint8_t)(crc >> 8);
	}
	const uint8_t *p = frame;
	while (len > 0) {
		ssize_t w = write(l->master, p, (size_t)len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			/* Nobody reads the line (gateway gone): drop the stale bytes
			 * so a reopening gateway does not read old answers. */
			if (tcflush(l->slave, TCIFLUSH) < 0)
				log_debug("sim", "tcflush: %s", strerror(errno));
			return;
		}
		if (w <= 0) {
			log_warn("sim", "bus %s: pty write: %s", l->bus->name, strerror(errno));
			return;
		}
		p += w;
		len -= (int)w;
	}
}

/* Serves one frame with a good CRC (unit + PDU + CRC). */
static void frame_handle(struct rtu_line *l, const uint8_t *f, int len)
{
	struct sim *s = l->owner->s;
	int unit = f[0];
	const uint8_t *pdu = f + 1;
	int pdu_len = len - 3;
	if (unit == 0) {
		for (int u = 1; u < 256; u++)
			if (l->dev_of_unit[u] >= 0)
				sim_modbus_broadcast(s, l->dev_of_unit[u], pdu, pdu_len);
		return;
	}
	int dev = l->dev_of_unit[unit];
	if (dev < 0)
		return; /* not ours: another slave (or nobody) on the line */
	uint8_t out[RTU_BUF];
	int rsp_len = 0;
	int64_t delay = 0;
	out[0] = (uint8_t)unit;
	enum sim_action act = sim_modbus_request(s, dev, pdu, pdu_len, out + 1, &rsp_len, &delay);
	switch (act) {
	case SIM_ACT_NONE:
	case SIM_ACT_DISCONNECT: /* a serial line cannot hang up: silence */
		return;
	case SIM_ACT_GARBAGE: {
		int n = 5 + rand_r(&l->seed) % 16;
		sim_random_bytes(&l->seed, out, n);
		if (crc_ok(out, n))
			out[n - 1] ^= 0xFF; /* garbage must never pass as a frame */
		line_write(l, out, n, false);
		return;
	}
	case SIM_ACT_CORRUPT: {
		int n = 1 + rsp_len;
		uint16_t crc = sim_crc16(out, n);
		out[n] = (uint8_t)((crc & 0xFF) ^ 0x55);
		out[n + 1] = (uint8_t)(crc >> 8);
		line_write(l, out, n + 2, false);
		return;
	}
	case SIM_ACT_DELAY: {
		/* A slow slave holds the whole line: sleeping here is the point.
		 * Sleep in slices so shutdown stays prompt. */
		int64_t until = time_mono_ms() + delay;
		while (!atomic_load(&s->stop)) {
			int64_t left = until - time_mono_ms();
			if (left <= 0)
				break;
			usleep((useconds_t)(left > 100 ? 100000 : left * 1000));
		}
		line_write(l, out, 1 + rsp_len, true);
		return;
	}
	case SIM_ACT_REPLY:
		line_write(l, out, 1 + rsp_len, true);
		return;
	}
}

/* Length of the request frame starting at buf, 0 if not yet known, -1 for
 * a function code whose length only silence can tell. */
static int frame_len(const uint8_t *b, int len)
{
	if (len < 2)
		return 0;
	switch (b[1]) {
	case 0x01: case 0x02: case 0x03: case 0x04: case 0x05: case 0x06:
		return 8;
	case 0x0F: case 0x10:
		return len < 7 ? 0 : 9 + b[6];
	default:
		return -1;
	}
}

/* Consumes the complete frames in the buffer. */
static void line_frames(struct rtu_line *l)
{
	while (l->len > 0) {
		int need = frame_len(l->buf, l->len);
		if (need <= 0 || l->len < need)
			return;
		if (crc_ok(l->buf, need)) {
			frame_handle(l, l->buf, need);
			memmove(l->buf, l->buf + need, (size_t)(l->len - need));
			l->len -= need;
		} else {
			l->len = 0; /* out of sync: resynchronise on the next silence */
			return;
		}
	}
}

/* The line went quiet with bytes pending: a frame of an unknown function
 * (answered with exception 1 if its CRC is good and it is ours) or noise. */
static void line_silence(struct rtu_line *l)
{
	if (l->len >= 4 && frame_len(l->buf, l->len) < 0 && crc_ok(l->buf, l->len) && l->buf[0] != 0 &&
	    l->dev_of_unit[l->buf[0]] >= 0)
		frame_handle(l, l->buf, l->len);
	l->len = 0;
}

static void *rtu_main(void *arg)
{
	struct rtu_line *l = arg;
	struct sim *s = l->owner->s;
	while (!atomic_load(&s->stop)) {
		struct pollfd p[2] = {
			{ .fd = l->owner->wake[0], .events = POLLIN },
			{ .fd = l->master, .events = POLLIN },
		};
		int rc = poll(p, 2, l->len > 0 ? RTU_GAP_MS : 500);
		if (rc < 0 && errno != EINTR) {
			log_error("sim", "bus %s: poll: %s", l->bus->name, strerror(errno));
			break;
		}
		if (rc == 0 && l->len > 0) {
			line_silence(l);
			continue;
		}
		if (rc <= 0 || p[0].revents)
			continue;
		if (p[1].revents & POLLIN) {
			if (l->len == RTU_BUF)
				l->len = 0;
			ssize_t r = read(l->master, l->buf + l->len, (size_t)(RTU_BUF - l->len));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				/* Cannot happen while we hold the slave open; back off. */
				usleep(50000);
				continue;
			}
			l->len += (int)r;
			line_frames(l);
		} else if (p[1].revents & (POLLHUP | POLLERR)) {
			usleep(50000);
		}
	}
	return NULL;
}

static int line_link(struct rtu_line *l)
{
	const char *path = l->bus->device;
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			log_error("sim", "bus %s: %s exists and is not a symlink; refusing to replace it",
				  l->bus->name, path);
			return -1;
		}
		if (unlink(path) < 0) {
			log_error("sim", "bus %s: cannot remove old link %s: %s", l->bus->name, path, strerror(errno));
			return -1;
		}
	}
	if (symlink(l->pts, path) < 0) {
		log_error("sim", "bus %s: symlink %s -> %s: %s", l->bus->name, path, l->pts, strerror(errno));
		return -1;
	}
	l->linked = true;
	return 0;
}

static int line_open(struct rtu_line *l)
{
	if (!l->bus->device || !l->bus->device[0]) {
		log_error("sim", "bus %s has no device path", l->bus->name);
		return -1;
	}
	if (openpty(&l->master, &l->slave, l->pts, NULL, NULL) < 0) {
		log_error("sim", "bus %s: openpty: %s", l->bus->name, strerror(errno));
		return -1;
	}
	struct termios tio;
	if (tcgetattr(l->slave, &tio) < 0) {
		log_error("sim", "bus %s: tcgetattr: %s", l->bus->name, strerror(errno));
		return -1;
	}
	cfmakeraw(&tio);
	if (tcsetattr(l->slave, TCSANOW, &tio) < 0) {
		log_error("sim", "bus %s: tcsetattr: %s", l->bus->name, strerror(errno));
		return -1;
	}
	int fl = fcntl(l->master, F_GETFL);
	if (fl < 0 || fcntl(l->master, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(l->master, F_SETFD, FD_CLOEXEC) < 0 || fcntl(l->slave, F_SETFD, FD_CLOEXEC) < 0) {
		log_error("sim", "bus %s: fcntl: %s", l->bus->name, strerror(errno));
		return -1;
	}
	return line_link(l);
}

int sim_rtu_start(struct sim *s, unsigned int seed, struct sim_rtu **out)
{
	*out = NULL;
	struct sim_rtu *r = calloc(1, sizeof *r);
	if (!r)
		return -1;
	r->s = s;
	r->wake[0] = r->wake[1] = -1;
	const struct gw_config *cfg = s->cfg;
	int n = 0;
	for (int b = 0; b < cfg->n_buses; b++)
		if (cfg->buses[b].type == BUS_RTU)
			n++;
	r->lines = calloc((size_t)(n ? n : 1), sizeof *r->lines);
	if (!r->lines || pipe2(r->wake, O_CLOEXEC) < 0) {
		sim_rtu_stop(r);
		return -1;
	}
	for (int b = 0; b < cfg->n_buses; b++) {
		if (cfg->buses[b].type != BUS_RTU)
			continue;
		struct rtu_line *l = &r->lines[r->n_lines++];
		l->owner = r;
		l->bus = &cfg->buses[b];
		l->master = l->slave = -1;
		l->seed = seed + (unsigned)b * 7919u;
		for (int u = 0; u < 256; u++)
			l->dev_of_unit[u] = -1;
		for (int d = 0; d < s->n_devs; d++) {
			const struct device_config *dc = &cfg->devices[d];
			if (dc->bus != b)
				continue;
			if (dc->unit < 1 || dc->unit > 247 || l->dev_of_unit[dc->unit] >= 0) {
				log_error("sim", "device %s: unit %d is invalid or taken on bus %s", dc->id, dc->unit,
					  l->bus->name);
				sim_rtu_stop(r);
				return -1;
			}
			l->dev_of_unit[dc->unit] = d;
			l->dev_count++;
		}
		if (line_open(l) < 0) {
			sim_rtu_stop(r);
			return -1;
		}
		sim_print(s, "pty %s %s", l->bus->name, l->pts);
		log_info("sim", "modbus rtu bus %s: %s -> %s (%d devices)", l->bus->name, l->bus->device, l->pts,
			 l->dev_count);
	}
	for (int i = 0; i < r->n_lines; i++) {
		if (pthread_create(&r->lines[i].th, NULL, rtu_main, &r->lines[i]) != 0) {
			log_error("sim", "cannot start the thread of bus %s", r->lines[i].bus->name);
			sim_rtu_stop(r);
			return -1;
		}
		r->lines[i].started = true;
	}
	*out = r;
	return 0;
}

static void line_unlink(struct rtu_line *l)
{
	char target[sizeof l->pts];
	ssize_t n = readlink(l->bus->device, target, sizeof target - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	/* Another simulator may have taken the path over since: leave it. */
	if (strcmp(target, l->pts) == 0 && unlink(l->bus->device) < 0)
		log_warn("sim", "cannot remove %s: %s", l->bus->device, strerror(errno));
}

void sim_rtu_stop(struct sim_rtu *r)
{
	if (!r)
		return;
	atomic_store(&r->s->stop, true);
	if (r->wake[1] >= 0 && write(r->wake[1], "x", 1) < 0)
		log_debug("sim", "rtu wake: %s", strerror(errno));
	for (int i = 0; i < r->n_lines; i++) {
		struct rtu_line *l = &r->lines[i];
		if (l->started)
			pthread_join(l->th, NULL);
		if (l->linked)
			line_unlink(l);
		if (l->master >= 0)
			close(l->master);
		if (l->slave >= 0)
			close(l->slave);
	}
	for (int i = 0; i < 2; i++)
		if (r->wake[i] >= 0)
			close(r->wake[i]);
	free(r->lines);
	free(r);
}
