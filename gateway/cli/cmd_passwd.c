/* cmd_passwd — `gridgw passwd`: reads a password and prints its crypt(3)
 * hash (yescrypt) for console.users[].password_hash. On a terminal the
 * password is read twice with echo off; otherwise one line from stdin (for
 * scripts: `echo secret | gridgw passwd`). Nothing is written anywhere
 * but stdout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "gateway/cli/cli.h"
#include "gateway/web/web.h"

#define PASS_MAX 256

static void passwd_usage(FILE *to)
{
	fprintf(to, "usage: gridgw passwd\n"
		    "  reads a password (twice, without echo, on a terminal; one line from stdin\n"
		    "  otherwise) and prints a yescrypt hash for console.users[].password_hash.\n");
}

/* One line from fd into buf without its newline. 0, -1 on EOF/error,
 * -E2BIG when longer than the buffer. */
static int read_line(FILE *in, char *buf, size_t len)
{
	if (fgets(buf, (int)len, in) == NULL)
		return -1;
	size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(in))
		return -E2BIG;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static int read_no_echo(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
		return -1;
	int rc = read_line(stdin, buf, len);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &old) != 0)
		fprintf(stderr, "gridgw passwd: cannot restore the terminal: %s\n", strerror(errno));
	return rc;
}

int cmd_passwd(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 } };
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			passwd_usage(stdout);
			return 0;
		}
		passwd_usage(stderr);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "gridgw passwd: unexpected argument '%s'\n", argv[optind]);
		passwd_usage(stderr);
		return 2;
	}
	char pw[PASS_MAX], again[PASS_MAX];
	int rc;
	if (isatty(STDIN_FILENO)) {
		rc = read_no_echo("Password: ", pw, sizeof pw);
		if (rc == 0)
			rc = read_no_echo("Again: ", again, sizeof again);
		if (rc == 0 && strcmp(pw, again) != 0) {
			fprintf(stderr, "gridgw passwd: the two passwords differ\n");
			explicit_bzero(pw, sizeof pw);
			explicit_bzero(again, sizeof again);
			return 1;
		}
		explicit_bzero(again, sizeof again);
	} else {
		rc = read_line(stdin, pw, sizeof pw);
	}
	if (rc != 0) {
		fprintf(stderr, "gridgw passwd: %s\n",
			rc == -E2BIG ? "password longer than 255 bytes" : "no password read");
		explicit_bzero(pw, sizeof pw);
		return 1;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "gridgw passwd: empty password refused\n");
		return 1;
	}
	char hash[256];
	rc = web_password_hash(pw, hash, sizeof hash);
	explicit_bzero(pw, sizeof pw);
	if (rc != 0) {
		fprintf(stderr, "gridgw passwd: libcrypt: %s\n", strerror(-rc));
		return 1;
	}
	printf("%s\n", hash);
	return 0;
}
