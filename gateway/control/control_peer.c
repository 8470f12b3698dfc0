/* control_peer — peer credentials of a control connection, and what the
 * server records of them on a request (issue #14: `by` used to be whatever
 * the client typed, "local" when nothing; now it is the Unix user the
 * kernel vouches for, and the typed name is kept as a note of who was on
 * site). */
#include "gateway/control/control_peer.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

void control_peer_get(int fd, struct control_peer *p)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	memset(p, 0, sizeof *p);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof cr)
		return;
	p->known = true;
	p->uid = cr.uid;
	p->pid = cr.pid;
	p->privileged = cr.uid == 0 || cr.uid == geteuid();
}

/* Names looked up lately, so a burst of acks from one operator costs one
 * NSS lookup (with LDAP or sssd that may block the core for a while), and
 * a renamed account shows its new name within a minute. Core thread only. */
#define PEER_NAME_CACHE 8
#define PEER_NAME_TTL_S 60
static struct {
	bool used;
	uid_t uid;
	time_t at;
	char name[64];
} name_cache[PEER_NAME_CACHE];

static void lookup_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[2048];
	/* A name longer than a `by` field is shown by number rather than cut. */
	if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res && res->pw_name && res->pw_name[0] &&
	    strlen(res->pw_name) < len) {
		snprintf(buf, len, "%s", res->pw_name);
		return;
	}
	snprintf(buf, len, "uid:%u", (unsigned)uid);
}

void control_peer_name(uid_t uid, char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int slot = 0;
	for (int i = 0; i < PEER_NAME_CACHE; i++) {
		if (name_cache[i].used && name_cache[i].uid == uid && ts.tv_sec - name_cache[i].at < PEER_NAME_TTL_S &&
		    strlen(name_cache[i].name) < len) {
			snprintf(buf, len, "%s", name_cache[i].name);
			return;
		}
		/* the slot a new name takes: a free one, else the oldest */
		if (name_cache[slot].used && (!name_cache[i].used || name_cache[i].at < name_cache[slot].at))
			slot = i;
	}
	lookup_name(uid, buf, len);
	if (strlen(buf) < sizeof name_cache[slot].name) {
		name_cache[slot].used = true;
		name_cache[slot].uid = uid;
		name_cache[slot].at = ts.tv_sec;
		snprintf(name_cache[slot].name, sizeof name_cache[slot].name, "%s", buf);
	}
}

int control_peer_stamp(struct control_request *req, const struct control_peer *p, char *err, size_t errlen)
{
	req->peer_uid = p->known ? (int64_t)p->uid : -1;
	req->peer_user[0] = '\0';
	/* The name lookup runs on the core thread (NSS may be slow; cached a
	 * minute): only for the actions that record or log who asked. */
	bool acts = req->op == CONTROL_OP_ACK || req->op == CONTROL_OP_CLOSE || req->op == CONTROL_OP_SHELVE ||
		    req->op == CONTROL_OP_UNSHELVE || req->op == CONTROL_OP_NOTIFY_TEST || req->op == CONTROL_OP_LIVE_READ;
	if (!acts)
		return 0;
	if (p->known)
		control_peer_name(p->uid, req->peer_user, sizeof req->peer_user);
	else
		snprintf(req->peer_user, sizeof req->peer_user, "unknown");
	if (req->op != CONTROL_OP_ACK && req->op != CONTROL_OP_CLOSE)
		return 0;
	if (req->by[0]) {
		char note[sizeof req->note];
		int n = req->note[0] ? snprintf(note, sizeof note, "on site: %s; %s", req->by, req->note)
				     : snprintf(note, sizeof note, "on site: %s", req->by);
		if (n < 0 || (size_t)n >= sizeof note) {
			snprintf(err, errlen, "--by and --note together are too long (at most %zu bytes with \"on site: \")",
				 sizeof note - 1);
			return -1;
		}
		memcpy(req->note, note, (size_t)n + 1);
	}
	snprintf(req->by, sizeof req->by, "%s", req->peer_user);
	return 0;
}
