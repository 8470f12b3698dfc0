/* sim_tcp — Modbus TCP serving for the simulator: every tcp bus of the
 * config becomes a listener on loopback, and one thread serves all
 * listeners and all client connections with poll() (no select(): thousands
 * of devices and many clients must not hit FD_SETSIZE). Frames are MBAP +
 * PDU; the unit id picks the device. A unit id no device has gets exception
 * 0x0B (gateway target device failed to respond), as a Modbus TCP/RTU
 * gateway answers for an absent slave. Slow answers are queued with a due
 * time instead of sleeping, so one slow device never stalls the others. */
#include "sim/sim_modbus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define TCP_MAX_CONNS 900   /* stay well below RLIMIT_NOFILE 1024 */
#define TCP_OUT_MAX 65536   /* a client that reads nothing is dropped past this */
#define MBAP_LEN 7

struct tcp_listener {
	struct in_addr addr;
	int port;
	int fd;
	int dev_of_unit[256]; /* device index or -1 */
};

struct tcp_conn {
	int fd;
	int listener;
	uint64_t id;
	int in_len;
	uint8_t in[MBAP_LEN + 260];
	uint8_t *out;
	int out_len;
	int out_cap;
};

struct tcp_delayed {
	uint64_t conn_id;
	int64_t due_ms;
	int len;
	uint8_t buf[MBAP_LEN + 256];
};

struct sim_tcp {
	struct sim *s;
	struct tcp_listener *ls;
	int n_ls;
	struct tcp_conn *conns;
	int n_conns;
	int cap_conns;
	uint64_t next_id;
	struct tcp_delayed *delayed;
	int n_delayed;
	int cap_delayed;
	struct pollfd *pfd;
	int cap_pfd;
	int wake[2];
	unsigned int seed;
	pthread_t th;
	bool started;
	struct log_ratelimit rl;
};

/* The simulator only ever listens on loopback: a config naming a LAN
 * address (a real deployment's) is served on 127.0.0.1 instead. */
static struct in_addr bind_addr(const struct bus_config *b)
{
	struct in_addr a;
	const char *host = b->host ? b->host : "127.0.0.1";
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127)
		return a;
	log_warn("sim", "bus %s: host %s is not loopback; serving it on 127.0.0.1", b->name, host);
	inet_pton(AF_INET, "127.0.0.1", &a);
	return a;
}

static int listener_find_or_add(struct sim_tcp *t, struct in_addr a, int port)
{
	for (int i = 0; i < t->n_ls; i++)
		if (t->ls[i].addr.s_addr == a.s_addr && t->ls[i].port == port)
			return i;
	struct tcp_listener *ls = realloc(t->ls, (size_t)(t->n_ls + 1) * sizeof *ls);
	if (!ls)
		return -1;
	t->ls = ls;
	struct tcp_listener *l = &t->ls[t->n_ls];
	l->addr = a;
	l->port = port;
	l->fd = -1;
	for (int u = 0; u < 256; u++)
		l->dev_of_unit[u] = -1;
	return t->n_ls++;
}

static int listener_open(struct tcp_listener *l)
{
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -1;
	int one = 1;
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		return -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->port), .sin_addr = l->addr };
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l->fd, 128) < 0)
		return -1;
	return 0;
}

static int tcp_setup(struct sim_tcp *t)
{
	const struct gw_config *cfg = t->s->cfg;
	for (int d = 0; d < t->s->n_devs; d++) {
		const struct device_config *dc = &cfg->devices[d];
		if (dc->bus < 0 || cfg->buses[dc->bus].type != BUS_TCP)
			continue;
		const struct bus_config *b = &cfg->buses[dc->bus];
		int li = listener_find_or_add(t, bind_addr(b), b->port);
		if (li < 0)
			return -1;
		if (dc->unit < 0 || dc->unit > 255) {
			log_error("sim", "device %s: unit %d out of range", dc->id, dc->unit);
			return -1;
		}
		int *slot = &t->ls[li].dev_of_unit[dc->unit];
		if (*slot >= 0) {
			log_error("sim", "devices %s and %s share unit %d on port %d", cfg->devices[*slot].id,
				  dc->id, dc->unit, b->port);
			return -1;
		}
		*slot = d;
	}
	for (int i = 0; i < t->n_ls; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &t->ls[i].addr, a, sizeof a);
		if (listener_open(&t->ls[i]) < 0) {
			log_error("sim", "cannot listen on %s:%d: %s", a, t->ls[i].port, strerror(errno));
			return -1;
		}
		log_info("sim", "modbus tcp on %s:%d", a, t->ls[i].port);
	}
	return 0;
}

static void conn_close(struct sim_tcp *t, int i)
{
	close(t->conns[i].fd);
	t->conns[i].fd = -1; /* compacted after the poll round */
}

static void conn_flush(struct sim_tcp *t, int i)
{
	struct tcp_conn *c = &t->conns[i];
	while (c->out_len > 0) {
		ssize_t w = send(c->fd, c->out, (size_t)c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			conn_close(t, i);
			return;
		}
		memmove(c->out, c->out + w, (size_t)(c->out_len - w));
		c->out_len -= (int)w;
	}
}

static void conn_send(struct sim_tcp *t, int i, const uint8_t *buf, int len)
{
	struct tcp_conn *c = &t->conns[i];
	if (c->fd < 0)
		return;
	if (c->out_len + len > c->out_cap) {
		int cap = c->out_cap ? c->out_cap * 2 : 1024;
		while (cap < c->out_len + len)
			cap *= 2;
		if (cap > TCP_OUT_MAX) {
			log_warn("sim", "modbus tcp client reads nothing; dropping it");
			conn_close(t, i);
			return;
		}
		uint8_t *out = realloc(c->out, (size_t)cap);
		if (!out) {
			conn_close(t, i);
			return;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, (size_t)len);
	c->out_len += len;
	conn_flush(t, i);
}

static void delay_add(struct sim_tcp *t, uint64_t conn_id, int64_t due, const uint8_t *buf, int len)
{
	if (t->n_delayed == t->cap_delayed) {
		int cap = t->cap_delayed ? t->cap_delayed * 2 : 16;
		struct tcp_delayed *d = realloc(t->delayed, (size_t)cap * sizeof *d);
		if (!d)
			return; /* a lost slow answer looks like a timeout: acceptable */
		t->delayed = d;
		t->cap_delayed = cap;
	}
	struct tcp_delayed *d = &t->delayed[t->n_delayed++];
	d->conn_id = conn_id;
	d->due_ms = due;
	d->len = len;
	memcpy(d->buf, buf, (size_t)len);
}

static void delay_run(struct sim_tcp *t, int64_t now)
{
	for (int k = 0; k < t->n_delayed;) {
		struct tcp_delayed *d = &t->delayed[k];
		if (d->due_ms > now) {
			k++;
			continue;
		}
		for (int i = 0; i < t->n_conns; i++)
			if (t->conns[i].id == d->conn_id && t->conns[i].fd >= 0)
				conn_send(t, i, d->buf, d->len);
		t->delayed[k] = t->delayed[--t->n_delayed];
	}
}

/* Answers one complete frame (MBAP + PDU) of connection i. */
static void frame_handle(struct sim_tcp *t, int i, const uint8_t *frame, int len)
{
	uint8_t out[MBAP_LEN + 256];
	uint8_t *rsp = out + MBAP_LEN;
	int rsp_len = 0;
	int64_t delay = 0;
	int unit = frame[6];
	int dev = t->ls[t->conns[i].listener].dev_of_unit[unit];
	enum sim_action act;
	if (dev < 0) {
		rsp_len = sim_modbus_exception(frame[7], 0x0B, rsp);
		act = SIM_ACT_REPLY;
	} else {
		act = sim_modbus_request(t->s, dev, frame + MBAP_LEN, len - MBAP_LEN, rsp, &rsp_len, &delay);
	}
	memcpy(out, frame, 4); /* transaction id, protocol id */
	out[4] = (uint8_t)((rsp_len + 1) >> 8);
	out[5] = (uint8_t)(rsp_len + 1);
	out[6] = (uint8_t)unit;
	switch (act) {
	case SIM_ACT_REPLY:
		conn_send(t, i, out, MBAP_LEN + rsp_len);
		break;
	case SIM_ACT_NONE:
		break;
	case SIM_ACT_DISCONNECT:
		conn_close(t, i);
		break;
	case SIM_ACT_CORRUPT:
		/* A well-formed answer to some other transaction. */
		out[0] ^= 0x5A;
		out[1] ^= 0xA5;
		conn_send(t, i, out, MBAP_LEN + rsp_len);
		break;
	case SIM_ACT_GARBAGE: {
		int n = 8 + rand_r(&t->seed) % 12;
		sim_random_bytes(&t->seed, out, n);
		out[2] |= 0x80; /* never a valid protocol id */
		conn_send(t, i, out, n);
		break;
	}
	case SIM_ACT_DELAY:
		delay_add(t, t->conns[i].id, time_mono_ms() + delay, out, MBAP_LEN + rsp_len);
		break;
	}
}

static void conn_read(struct sim_tcp *t, int i)
{
	struct tcp_conn *c = &t->conns[i];
	ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - (size_t)c->in_len, MSG_DONTWAIT);
	if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r <= 0) {
		conn_close(t, i);
		return;
	}
	c->in_len += (int)r;
	int off = 0;
	while (c->fd >= 0 && c->in_len - off >= MBAP_LEN) {
		const uint8_t *f = c->in + off;
		int proto = (f[2] << 8) | f[3];
		int len = (f[4] << 8) | f[5]; /* unit id + PDU */
		if (proto != 0 || len < 2 || len > 254) {
			unsigned long sup;
			if (log_ratelimit_ok(&t->rl, &sup))
				log_warn("sim", "bad MBAP header from a client; closing it");
			conn_close(t, i);
			return;
		}
		if (c->in_len - off < 6 + len)
			break;
		frame_handle(t, i, f, 6 + len);
		off += 6 + len;
	}
	if (c->fd < 0)
		return;
	memmove(c->in, c->in + off, (size_t)(c->in_len - off));
	c->in_len -= off;
}

static void listener_accept(struct sim_tcp *t, int li)
{
	for (;;) {
		int fd = accept4(t->ls[li].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("sim", "accept: %s", strerror(errno));
			return;
		}
		if (t->n_conns >= TCP_MAX_CONNS) {
			log_warn("sim", "too many modbus tcp clients; refusing one");
			close(fd);
			continue;
		}
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
			log_debug("sim", "TCP_NODELAY: %s", strerror(errno));
		if (t->n_conns == t->cap_conns) {
			int cap = t->cap_conns ? t->cap_conns * 2 : 16;
			struct tcp_conn *cs = realloc(t->conns, (size_t)cap * sizeof *cs);
			if (!cs) {
				close(fd);
				return;
			}
			t->conns = cs;
			t->cap_conns = cap;
		}
		struct tcp_conn *c = &t->conns[t->n_conns++];
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->listener = li;
		c->id = ++t->next_id;
	}
}

static void conns_compact(struct sim_tcp *t)
{
	int j = 0;
	for (int i = 0; i < t->n_conns; i++) {
		if (t->conns[i].fd < 0) {
			free(t->conns[i].out);
			continue;
		}
		t->conns[j++] = t->conns[i];
	}
	t->n_conns = j;
}

static int poll_timeout(struct sim_tcp *t)
{
	int64_t now = time_mono_ms(), best = 500;
	for (int k = 0; k < t->n_delayed; k++) {
		int64_t left = t->delayed[k].due_ms - now;
		if (left < best)
			best = left < 0 ? 0 : left;
	}
	return (int)best;
}

static void *tcp_main(void *arg)
{
	struct sim_tcp *t = arg;
	while (!atomic_load(&t->s->stop)) {
		int need = 1 + t->n_ls + t->n_conns;
		if (need > t->cap_pfd) {
			struct pollfd *p = realloc(t->pfd, (size_t)need * sizeof *p);
			if (!p) {
				log_error("sim", "out of memory in the modbus tcp loop");
				break;
			}
			t->pfd = p;
			t->cap_pfd = need;
		}
		int n = 0;
		t->pfd[n++] = (struct pollfd){ .fd = t->wake[0], .events = POLLIN };
		for (int i = 0; i < t->n_ls; i++)
			t->pfd[n++] = (struct pollfd){ .fd = t->ls[i].fd, .events = POLLIN };
		int nc = t->n_conns; /* accepts below append; they are polled next round */
		for (int i = 0; i < nc; i++)
			t->pfd[n++] = (struct pollfd){ .fd = t->conns[i].fd,
				.events = (short)(POLLIN | (t->conns[i].out_len ? POLLOUT : 0)) };
		int rc = poll(t->pfd, (nfds_t)n, poll_timeout(t));
		if (rc < 0 && errno != EINTR) {
			log_error("sim", "modbus tcp poll: %s", strerror(errno));
			break;
		}
		delay_run(t, time_mono_ms());
		if (rc <= 0)
			continue;
		for (int i = 0; i < nc; i++) {
			short ev = t->pfd[1 + t->n_ls + i].revents;
			if (t->conns[i].fd < 0 || !ev)
				continue;
			if (ev & POLLOUT)
				conn_flush(t, i);
			if (t->conns[i].fd >= 0 && (ev & (POLLIN | POLLHUP | POLLERR)))
				conn_read(t, i);
		}
		for (int i = 0; i < t->n_ls; i++)
			if (t->pfd[1 + i].revents & POLLIN)
				listener_accept(t, i);
		conns_compact(t);
	}
	return NULL;
}

int sim_tcp_start(struct sim *s, unsigned int seed, struct sim_tcp **out)
{
	*out = NULL;
	struct sim_tcp *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	t->s = s;
	t->seed = seed;
	t->wake[0] = t->wake[1] = -1;
	t->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 10000);
	if (pipe2(t->wake, O_CLOEXEC) < 0 || tcp_setup(t) < 0) {
		sim_tcp_stop(t);
		return -1;
	}
	if (t->n_ls > 0) {
		if (pthread_create(&t->th, NULL, tcp_main, t) != 0) {
			log_error("sim", "cannot start the modbus tcp thread");
			sim_tcp_stop(t);
			return -1;
		}
		t->started = true;
	}
	*out = t;
	return 0;
}

void sim_tcp_stop(struct sim_tcp *t)
{
	if (!t)
		return;
	if (t->started) {
		atomic_store(&t->s->stop, true);
		if (write(t->wake[1], "x", 1) < 0)
			log_debug("sim", "tcp wake: %s", strerror(errno));
		pthread_join(t->th, NULL);
	}
	for (int i = 0; i < t->n_conns; i++) {
		if (t->conns[i].fd >= 0)
			close(t->conns[i].fd);
		free(t->conns[i].out);
	}
	for (int i = 0; i < t->n_ls; i++)
		if (t->ls[i].fd >= 0)
			close(t->ls[i].fd);
	for (int i = 0; i < 2; i++)
		if (t->wake[i] >= 0)
			close(t->wake[i]);
	free(t->conns);
	free(t->ls);
	free(t->delayed);
	free(t->pfd);
	free(t);
}
