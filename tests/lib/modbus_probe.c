/* modbus_probe — a tiny libmodbus client for integration tests: one read or
 * write against a Modbus TCP server or an RTU line, values printed on one
 * line, errors as "error: TEXT" with exit status 1 (so a test sees a fault
 * the way a gateway would: timeout, exception, bad data).
 *
 *   modbus_probe [opts] tcp HOST PORT UNIT TABLE ADDR N
 *   modbus_probe [opts] tcp HOST PORT UNIT write TABLE ADDR VALUE...
 *   modbus_probe [opts] rtu DEVICE UNIT TABLE ADDR N
 *   modbus_probe [opts] rtu DEVICE UNIT write TABLE ADDR VALUE...
 *
 * TABLE: coil | discrete | holding | input. opts: -t MS response timeout
 * (default 1000), -r N repeat the request N times on one connection
 * (prints the last answer; stops at the first error), -s MS sleep between
 * repeats. Exit 0 ok, 1 Modbus error, 2 usage/connect error. */
#include <errno.h>
#include <modbus.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct probe {
	int timeout_ms;
	int repeat;
	int sleep_ms;
	bool write;
	const char *table;
	int addr;
	int n;
	uint16_t regs[125];
	uint8_t bits[2000];
};

static int usage(void)
{
	fprintf(stderr, "usage: modbus_probe [-t MS] [-r N] [-s MS] tcp HOST PORT UNIT [write] TABLE ADDR N|VALUE...\n"
			"       modbus_probe [-t MS] [-r N] [-s MS] rtu DEVICE UNIT [write] TABLE ADDR N|VALUE...\n");
	return 2;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (end == s || *end || errno || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int do_once(modbus_t *ctx, struct probe *p)
{
	const char *t = p->table;
	if (p->write) {
		if (strcmp(t, "coil") == 0)
			return p->n == 1 ? modbus_write_bit(ctx, p->addr, p->bits[0])
					 : modbus_write_bits(ctx, p->addr, p->n, p->bits);
		return p->n == 1 ? modbus_write_register(ctx, p->addr, p->regs[0])
				 : modbus_write_registers(ctx, p->addr, p->n, p->regs);
	}
	if (strcmp(t, "coil") == 0)
		return modbus_read_bits(ctx, p->addr, p->n, p->bits);
	if (strcmp(t, "discrete") == 0)
		return modbus_read_input_bits(ctx, p->addr, p->n, p->bits);
	if (strcmp(t, "holding") == 0)
		return modbus_read_registers(ctx, p->addr, p->n, p->regs);
	return modbus_read_input_registers(ctx, p->addr, p->n, p->regs);
}

static void print_values(const struct probe *p)
{
	bool bits = strcmp(p->table, "coil") == 0 || strcmp(p->table, "discrete") == 0;
	if (p->write) {
		printf("ok\n");
		return;
	}
	for (int i = 0; i < p->n; i++)
		printf("%s%u", i ? " " : "", bits ? (unsigned)p->bits[i] : (unsigned)p->regs[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	struct probe p = { .timeout_ms = 1000, .repeat = 1 };
	int ch;
	while ((ch = getopt(argc, argv, "t:r:s:")) != -1) {
		int *dst = ch == 't' ? &p.timeout_ms : ch == 'r' ? &p.repeat : ch == 's' ? &p.sleep_ms : NULL;
		if (!dst || parse_int(optarg, ch == 'r' ? 1 : 0, 600000, dst) < 0)
			return usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage();
	modbus_t *ctx;
	int i, unit;
	if (strcmp(argv[0], "tcp") == 0 && argc >= 7) {
		int port;
		if (parse_int(argv[2], 1, 65535, &port) < 0)
			return usage();
		ctx = modbus_new_tcp(argv[1], port);
		i = 3;
	} else if (strcmp(argv[0], "rtu") == 0 && argc >= 6) {
		ctx = modbus_new_rtu(argv[1], 9600, 'N', 8, 1);
		i = 2;
	} else {
		return usage();
	}
	if (!ctx) {
		fprintf(stderr, "modbus_probe: cannot create context: %s\n", modbus_strerror(errno));
		return 2;
	}
	if (parse_int(argv[i++], 0, 255, &unit) < 0) {
		modbus_free(ctx);
		return usage();
	}
	if (strcmp(argv[i], "write") == 0) {
		p.write = true;
		i++;
	}
	if (argc - i < 3) {
		modbus_free(ctx);
		return usage();
	}
	p.table = argv[i++];
	if ((strcmp(p.table, "coil") && strcmp(p.table, "discrete") && strcmp(p.table, "holding") &&
	     strcmp(p.table, "input")) || (p.write && (!strcmp(p.table, "discrete") || !strcmp(p.table, "input"))) ||
	    parse_int(argv[i++], 0, 65535, &p.addr) < 0) {
		modbus_free(ctx);
		return usage();
	}
	if (p.write) {
		p.n = argc - i;
		if (p.n > 123) {
			modbus_free(ctx);
			return usage();
		}
		for (int k = 0; k < p.n; k++) {
			int v;
			if (parse_int(argv[i + k], 0, 65535, &v) < 0) {
				modbus_free(ctx);
				return usage();
			}
			p.regs[k] = (uint16_t)v;
			p.bits[k] = v ? 1 : 0;
		}
	} else if (parse_int(argv[i], 1, 2000, &p.n) < 0 ||
		   (p.n > 125 && strcmp(p.table, "coil") && strcmp(p.table, "discrete"))) {
		modbus_free(ctx);
		return usage();
	}
	if (modbus_set_slave(ctx, unit) < 0 ||
	    modbus_set_response_timeout(ctx, (uint32_t)(p.timeout_ms / 1000), (uint32_t)(p.timeout_ms % 1000) * 1000) < 0) {
		fprintf(stderr, "modbus_probe: %s\n", modbus_strerror(errno));
		modbus_free(ctx);
		return 2;
	}
	if (modbus_connect(ctx) < 0) {
		fprintf(stderr, "modbus_probe: connect: %s\n", modbus_strerror(errno));
		modbus_free(ctx);
		return 2;
	}
	/* A line may hold bytes a previous client left unread (a garbage
	 * fault): a well-behaved master discards them when it opens the line. */
	if (modbus_flush(ctx) < 0) {
		fprintf(stderr, "modbus_probe: flush: %s\n", modbus_strerror(errno));
		modbus_close(ctx);
		modbus_free(ctx);
		return 2;
	}
	int rc = 0;
	for (int r = 0; r < p.repeat; r++) {
		if (r > 0 && p.sleep_ms > 0)
			usleep((useconds_t)p.sleep_ms * 1000);
		rc = do_once(ctx, &p);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		printf("error: %s\n", modbus_strerror(errno));
	else
		print_values(&p);
	modbus_close(ctx);
	modbus_free(ctx);
	return rc < 0 ? 1 : 0;
}
