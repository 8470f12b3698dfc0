/* notify_listen — a stand-in for systemd's notification socket in tests:
 * binds a Unix datagram socket at PATH and prints every datagram it
 * receives as one line (newlines inside become spaces), flushed at once,
 * until SECONDS have passed. With -t each line starts with the monotonic
 * time of its arrival in ms (taken at recv, so a busy reader of our stdout
 * does not stretch the gaps between watchdog pings).
 *   notify_listen [-t] PATH SECONDS */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/timeutil.h"

int main(int argc, char **argv)
{
	bool stamp = argc == 4 && strcmp(argv[1], "-t") == 0;
	if (stamp) {
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: notify_listen [-t] PATH SECONDS\n");
		return 2;
	}
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(argv[1]) >= sizeof a.sun_path) {
		fprintf(stderr, "notify_listen: path too long\n");
		return 2;
	}
	memcpy(a.sun_path, argv[1], strlen(argv[1]) + 1);
	int secs = atoi(argv[2]);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		fprintf(stderr, "notify_listen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int64_t end = time_mono_ms() + (int64_t)secs * 1000;
	char buf[4096];
	for (int64_t left; (left = end - time_mono_ms()) > 0;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		ssize_t r = recv(fd, buf, sizeof buf - 1, 0);
		if (r < 0)
			continue;
		buf[r] = '\0';
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] == '\n' || buf[i] == '\0')
				buf[i] = ' ';
		if (stamp)
			printf("%lld ", (long long)time_mono_ms());
		printf("%s\n", buf);
		fflush(stdout);
	}
	close(fd);
	unlink(argv[1]);
	return 0;
}
