/* sim_control — the simulator's control channel: one command per line, one
 * reply line per command ("ok ..." or "error ..."), over a Unix stream
 * socket (any number of clients) and/or stdin. Tests drive the simulator
 * with it: set values, inject faults, read counters and written values.
 * Also the tiny client behind `gridgw-sim ctl SOCK COMMAND...`. */
#include "sim/sim_control.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define CTL_MAX_TOKENS 8
#define CTL_MAX_CLIENTS 32
#define CTL_LINE_MAX 1024

/* ---- command execution ---- */

static bool is_pattern(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* Calls fn for every device whose id matches pattern (exact or glob).
 * Returns how many matched; stops early and returns -1 when fn fails. */
typedef int (*device_fn)(struct sim *s, struct sim_device *d, void *arg, char *err, size_t cap);

static int for_devices(struct sim *s, const char *pattern, device_fn fn, void *arg, char *err, size_t cap)
{
	int n = 0;
	bool glob = is_pattern(pattern);
	for (int i = 0; i < s->n_devs; i++) {
		const char *id = s->devs[i].cfg->id;
		if (glob ? fnmatch(pattern, id, 0) != 0 : strcmp(pattern, id) != 0)
			continue;
		if (fn(s, &s->devs[i], arg, err, cap) < 0)
			return -1;
		n++;
	}
	if (n == 0)
		snprintf(err, cap, "no device %s", pattern);
	return n;
}

struct set_arg {
	const char *point;
	const char *value;
	double to;
	int64_t dur_ms;
	bool ramp;
};

static int device_set(struct sim *s, struct sim_device *d, void *argp, char *err, size_t cap)
{
	struct set_arg *a = argp;
	int p = sim_find_point(d->prof, a->point);
	if (p < 0) {
		snprintf(err, cap, "device %s has no point %s", d->cfg->id, a->point);
		return -1;
	}
	if (a->ramp) {
		sim_ramp_locked(s, d, p, a->to, a->dur_ms, time_mono_ms());
		return 0;
	}
	double v;
	int ei;
	if (sim_parse_value(&d->prof->points[p], a->value, &v, &ei) < 0) {
		snprintf(err, cap, "bad value %s for %s:%s", a->value, d->cfg->id, a->point);
		return -1;
	}
	int rc = sim_set_locked(s, d, p, v, ei);
	if (rc < 0) {
		snprintf(err, cap, "value %s does not fit %s:%s (%s)", a->value, d->cfg->id, a->point,
			 strerror(-rc));
		return -1;
	}
	return 0;
}

struct fail_arg {
	enum sim_fault mode;
	int64_t slow_ms;
};

static int device_fail(struct sim *s, struct sim_device *d, void *argp, char *err, size_t cap)
{
	(void)s;
	struct fail_arg *a = argp;
	if (d->prof->is_mqtt && a->mode != SIM_FAULT_NONE && a->mode != SIM_FAULT_SILENT &&
	    a->mode != SIM_FAULT_TIMEOUT && a->mode != SIM_FAULT_DISCONNECT &&
	    a->mode != SIM_FAULT_GARBAGE && a->mode != SIM_FAULT_CRC) {
		snprintf(err, cap, "mode %s does not apply to MQTT device %s", sim_fault_name(a->mode),
			 d->cfg->id);
		return -1;
	}
	d->fault = a->mode;
	d->slow_ms = a->slow_ms;
	d->dirty = true;
	return 0;
}

/* Parses "3", "2.5" (seconds) or a duration "500ms"/"3s". */
static int parse_seconds(const char *text, int64_t *ms)
{
	if (duration_parse(text, ms) == 0)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (end == text || *end || errno || !(v >= 0) || v > 1e9)
		return -1;
	*ms = (int64_t)(v * 1000.0 + 0.5);
	return 0;
}

static void cmd_list(struct sim *s, char *reply, size_t cap)
{
	size_t n = (size_t)snprintf(reply, cap, "ok");
	for (int i = 0; i < s->n_devs && n < cap; i++) {
		int w = snprintf(reply + n, cap - n, " %s", s->devs[i].cfg->id);
		if (w < 0 || (size_t)w >= cap - n) {
			/* Bounded reply: mark the cut rather than overflow. */
			if (cap > 5)
				snprintf(reply + cap - 5, 5, " ...");
			return;
		}
		n += (size_t)w;
	}
}

static void cmd_stats(struct sim *s, char **tok, int ntok, char *reply, size_t cap)
{
	unsigned long req = 0, rd = 0, wr = 0;
	if (ntok >= 2) {
		int i = sim_find_device(s, tok[1]);
		if (i < 0) {
			snprintf(reply, cap, "error no device %s", tok[1]);
			return;
		}
		req = s->devs[i].requests;
		rd = s->devs[i].reads;
		wr = s->devs[i].writes;
	} else {
		for (int i = 0; i < s->n_devs; i++) {
			req += s->devs[i].requests;
			rd += s->devs[i].reads;
			wr += s->devs[i].writes;
		}
	}
	snprintf(reply, cap, "ok requests=%lu reads=%lu writes=%lu", req, rd, wr);
}

static void cmd_get(struct sim *s, char **tok, int ntok, char *reply, size_t cap)
{
	if (ntok != 3) {
		snprintf(reply, cap, "error usage: get DEVICE POINT");
		return;
	}
	int i = sim_find_device(s, tok[1]);
	if (i < 0) {
		snprintf(reply, cap, "error no device %s", tok[1]);
		return;
	}
	int p = sim_find_point(s->devs[i].prof, tok[2]);
	if (p < 0) {
		snprintf(reply, cap, "error device %s has no point %s", tok[1], tok[2]);
		return;
	}
	snprintf(reply, cap, "ok %.10g", s->devs[i].values[p]);
}

static void cmd_exec_locked(struct sim *s, char **tok, int ntok, char *reply, size_t cap, int *quit)
{
	char err[256] = "";
	const char *cmd = tok[0];
	if (strcmp(cmd, "set") == 0 || strcmp(cmd, "ramp") == 0) {
		struct set_arg a = { 0 };
		a.ramp = cmd[0] == 'r';
		if (ntok != (a.ramp ? 5 : 4)) {
			snprintf(reply, cap, "error usage: %s", a.ramp ? "ramp DEVICE POINT TO SECONDS" :
				 "set DEVICE POINT VALUE");
			return;
		}
		a.point = tok[2];
		a.value = tok[3];
		if (a.ramp) {
			char *end;
			errno = 0;
			a.to = strtod(tok[3], &end);
			if (end == tok[3] || *end || errno) {
				snprintf(reply, cap, "error bad target %s", tok[3]);
				return;
			}
			if (parse_seconds(tok[4], &a.dur_ms) < 0) {
				snprintf(reply, cap, "error bad duration %s", tok[4]);
				return;
			}
		}
		int n = for_devices(s, tok[1], device_set, &a, err, sizeof err);
		if (n <= 0)
			snprintf(reply, cap, "error %s", err);
		else if (a.ramp)
			snprintf(reply, cap, "ok ramp %s %s -> %s over %s", tok[1], tok[2], tok[3], tok[4]);
		else
			snprintf(reply, cap, "ok %s %s = %s", tok[1], tok[2], tok[3]);
	} else if (strcmp(cmd, "fail") == 0 || strcmp(cmd, "recover") == 0) {
		struct fail_arg a = { SIM_FAULT_NONE, s->default_slow_ms };
		if (cmd[0] == 'f') {
			if (ntok < 3 || ntok > 4 || sim_fault_parse(tok[2], &a.mode) < 0) {
				snprintf(reply, cap, "error usage: fail DEVICE timeout|exception|busy|garbage|crc|slow|disconnect|silent [DELAY]");
				return;
			}
			if (ntok == 4 && parse_seconds(tok[3], &a.slow_ms) < 0) {
				snprintf(reply, cap, "error bad delay %s", tok[3]);
				return;
			}
		} else if (ntok != 2) {
			snprintf(reply, cap, "error usage: recover DEVICE");
			return;
		}
		int n = for_devices(s, tok[1], device_fail, &a, err, sizeof err);
		if (n <= 0)
			snprintf(reply, cap, "error %s", err);
		else if (a.mode == SIM_FAULT_NONE)
			snprintf(reply, cap, "ok recover %s", tok[1]);
		else
			snprintf(reply, cap, "ok fail %s %s", tok[1], sim_fault_name(a.mode));
	} else if (strcmp(cmd, "stats") == 0) {
		cmd_stats(s, tok, ntok, reply, cap);
	} else if (strcmp(cmd, "get") == 0) {
		cmd_get(s, tok, ntok, reply, cap);
	} else if (strcmp(cmd, "list") == 0) {
		cmd_list(s, reply, cap);
	} else if (strcmp(cmd, "quit") == 0) {
		*quit = 1;
		snprintf(reply, cap, "ok bye");
	} else if (strcmp(cmd, "help") == 0) {
		snprintf(reply, cap, "ok set|ramp|fail|recover|stats|get|list|quit");
	} else {
		snprintf(reply, cap, "error unknown command %s", cmd);
	}
}

int sim_control_exec(struct sim *s, const char *line, char *reply, size_t cap)
{
	char buf[CTL_LINE_MAX];
	char *tok[CTL_MAX_TOKENS + 1];
	int ntok = 0, quit = 0;
	if (snprintf(buf, sizeof buf, "%s", line) >= (int)sizeof buf) {
		snprintf(reply, cap, "error line too long");
		return 0;
	}
	char *save = NULL;
	for (char *t = strtok_r(buf, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (ntok == CTL_MAX_TOKENS) {
			snprintf(reply, cap, "error too many arguments");
			return 0;
		}
		tok[ntok++] = t;
	}
	if (ntok == 0) {
		snprintf(reply, cap, "error empty command");
		return 0;
	}
	pthread_mutex_lock(&s->mu);
	cmd_exec_locked(s, tok, ntok, reply, cap, &quit);
	pthread_mutex_unlock(&s->mu);
	if (quit)
		atomic_store(&s->stop, true);
	return quit;
}

/* ---- the control thread ---- */

struct ctl_client {
	int fd;
	int len;
	bool overflow; /* the current line was longer than the buffer */
	char buf[CTL_LINE_MAX];
};

struct sim_control {
	struct sim *s;
	char *sock_path;
	int listen_fd;
	bool use_stdin;
	int wake[2];
	pthread_t th;
	bool started;
	struct ctl_client stdin_client;
	struct ctl_client clients[CTL_MAX_CLIENTS];
	int n_clients;
	char reply[CTL_LINE_MAX * 64]; /* `list` of thousands of devices fits */
};

static int write_all(int fd, const char *p, size_t n, bool sock)
{
	while (n > 0) {
		ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void client_reply(struct sim_control *c, struct ctl_client *cl, const char *reply)
{
	if (cl == &c->stdin_client) {
		sim_print(c->s, "%s", reply);
		return;
	}
	if (write_all(cl->fd, reply, strlen(reply), true) < 0 || write_all(cl->fd, "\n", 1, true) < 0)
		log_debug("sim", "control client went away before its reply");
}

/* Consumes complete lines of cl's buffer. */
static void client_lines(struct sim_control *c, struct ctl_client *cl)
{
	int start = 0;
	for (int i = 0; i < cl->len; i++) {
		if (cl->buf[i] != '\n')
			continue;
		cl->buf[i] = '\0';
		if (cl->overflow) {
			client_reply(c, cl, "error line too long");
			cl->overflow = false;
		} else {
			sim_control_exec(c->s, cl->buf + start, c->reply, sizeof c->reply);
			client_reply(c, cl, c->reply);
		}
		start = i + 1;
	}
	memmove(cl->buf, cl->buf + start, (size_t)(cl->len - start));
	cl->len -= start;
	if (cl->len == (int)sizeof cl->buf) {
		cl->overflow = true; /* drop the rest of this line */
		cl->len = 0;
	}
}

/* Reads what fd has; returns 0, or -1 on EOF/error. */
static int client_read(struct sim_control *c, struct ctl_client *cl)
{
	ssize_t r = read(cl->fd, cl->buf + cl->len, sizeof cl->buf - (size_t)cl->len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0)
		return -1;
	cl->len += (int)r;
	client_lines(c, cl);
	return 0;
}

static void control_accept(struct sim_control *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN)
			log_warn("sim", "control accept: %s", strerror(errno));
		return;
	}
	if (c->n_clients == CTL_MAX_CLIENTS) {
		const char *msg = "error too many control clients\n";
		(void)write_all(fd, msg, strlen(msg), true);
		close(fd);
		return;
	}
	struct ctl_client *cl = &c->clients[c->n_clients++];
	memset(cl, 0, sizeof *cl);
	cl->fd = fd;
}

static void *control_main(void *arg)
{
	struct sim_control *c = arg;
	struct pollfd pfd[CTL_MAX_CLIENTS + 3];
	while (!atomic_load(&c->s->stop)) {
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = c->wake[0], .events = POLLIN };
		int listen_at = -1, stdin_at = -1;
		if (c->listen_fd >= 0) {
			listen_at = n;
			pfd[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		}
		if (c->use_stdin) {
			stdin_at = n;
			pfd[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		}
		int first_client = n;
		for (int i = 0; i < c->n_clients; i++)
			pfd[n++] = (struct pollfd){ .fd = c->clients[i].fd, .events = POLLIN };
		int rc = poll(pfd, (nfds_t)n, 500);
		if (rc < 0 && errno != EINTR) {
			log_error("sim", "control poll: %s", strerror(errno));
			break;
		}
		if (rc <= 0 || pfd[0].revents)
			continue; /* the wake pipe only ever means "look at stop" */
		if (stdin_at >= 0 && pfd[stdin_at].revents) {
			if (client_read(c, &c->stdin_client) < 0)
				c->use_stdin = false; /* EOF: keep running, stop reading */
		}
		/* Walk clients backwards so removing one keeps indices valid. */
		for (int i = c->n_clients - 1; i >= 0; i--) {
			if (!pfd[first_client + i].revents)
				continue;
			if (client_read(c, &c->clients[i]) < 0) {
				close(c->clients[i].fd);
				c->clients[i] = c->clients[--c->n_clients];
			}
		}
		if (listen_at >= 0 && (pfd[listen_at].revents & POLLIN))
			control_accept(c);
	}
	return NULL;
}

static int control_listen(struct sim_control *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("sim", "control socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0) {
		log_error("sim", "control socket: %s", strerror(errno));
		return -1;
	}
	/* A stale socket left by a killed simulator would make bind fail. */
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("sim", "cannot remove old %s: %s", path, strerror(errno));
	if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(c->listen_fd, 16) < 0) {
		log_error("sim", "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	c->sock_path = strdup(path);
	return c->sock_path ? 0 : -1;
}

int sim_control_start(struct sim *s, const char *sock_path, bool use_stdin, struct sim_control **out)
{
	struct sim_control *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c)
		return -1;
	c->s = s;
	c->listen_fd = -1;
	c->wake[0] = c->wake[1] = -1;
	c->use_stdin = use_stdin;
	c->stdin_client.fd = STDIN_FILENO;
	if (pipe2(c->wake, O_CLOEXEC) < 0) {
		log_error("sim", "pipe: %s", strerror(errno));
		sim_control_stop(c);
		return -1;
	}
	if (sock_path && control_listen(c, sock_path) < 0) {
		sim_control_stop(c);
		return -1;
	}
	*out = c;
	return 0;
}

int sim_control_run(struct sim_control *c)
{
	if (!c)
		return 0;
	if (pthread_create(&c->th, NULL, control_main, c) != 0) {
		log_error("sim", "cannot start the control thread");
		return -1;
	}
	c->started = true;
	return 0;
}

void sim_control_stop(struct sim_control *c)
{
	if (!c)
		return;
	if (c->started) {
		atomic_store(&c->s->stop, true);
		if (write(c->wake[1], "x", 1) < 0)
			log_debug("sim", "control wake: %s", strerror(errno));
		pthread_join(c->th, NULL);
	}
	for (int i = 0; i < c->n_clients; i++)
		close(c->clients[i].fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->sock_path) {
		unlink(c->sock_path);
		free(c->sock_path);
	}
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	free(c);
}

/* ---- the client: gridgw-sim ctl SOCK COMMAND... ---- */

int sim_control_client(const char *sock_path, int argc, char **argv)
{
	char line[CTL_LINE_MAX];
	size_t n = 0;
	for (int i = 0; i < argc; i++) {
		int w = snprintf(line + n, sizeof line - n, "%s%s", i ? " " : "", argv[i]);
		if (w < 0 || (size_t)w >= sizeof line - n - 1) {
			fprintf(stderr, "gridgw-sim ctl: command too long\n");
			return 2;
		}
		n += (size_t)w;
	}
	line[n++] = '\n';
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock_path) >= sizeof sa.sun_path) {
		fprintf(stderr, "gridgw-sim ctl: socket path too long\n");
		return 2;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "gridgw-sim ctl: %s: %s\n", sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	if (write_all(fd, line, n, true) < 0) {
		fprintf(stderr, "gridgw-sim ctl: send: %s\n", strerror(errno));
		close(fd);
		return 2;
	}
	/* One reply line; bounded wait so a wedged simulator cannot hang a test. */
	char *reply = malloc(CTL_LINE_MAX * 64 + 2);
	size_t got = 0, cap = CTL_LINE_MAX * 64 + 2;
	if (!reply) {
		close(fd);
		return 2;
	}
	int64_t deadline = time_mono_ms() + 5000;
	while (got < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - time_mono_ms());
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		ssize_t r = read(fd, reply + got, cap - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(reply, '\n', got))
			break;
	}
	close(fd);
	reply[got] = '\0';
	char *nl = strchr(reply, '\n');
	if (!nl) {
		fprintf(stderr, "gridgw-sim ctl: no reply\n");
		free(reply);
		return 2;
	}
	*nl = '\0';
	printf("%s\n", reply);
	int rc = strncmp(reply, "ok", 2) == 0 ? 0 : 1;
	free(reply);
	return rc;
}
