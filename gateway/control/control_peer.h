/* control_peer — who is on the other end of a control connection (not a
 * public header: only the control module includes it). The kernel's
 * SO_PEERCRED names the Unix user; the server uses it to share its slots
 * fairly (one user cannot hold them all) and to record who did a local
 * action. */
#ifndef GRIDGW_CONTROL_PEER_H
#define GRIDGW_CONTROL_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gateway/control/control.h"

struct control_peer {
	bool known;               /* SO_PEERCRED answered */
	uid_t uid;
	pid_t pid;
	bool privileged;          /* root or the daemon's own user: the reserved slots */
};

/* Fills *p from a connected Unix socket; p->known false when the kernel
 * would not say (then the peer counts as an ordinary user of its own). */
void control_peer_get(int fd, struct control_peer *p);
/* The user name of uid, or "uid:N" when it has none. */
void control_peer_name(uid_t uid, char *buf, size_t len);
/* Records the peer on a parsed request: peer_uid, peer_user (for the
 * actions, see control.h), and for ack and close `by` becomes the peer's
 * user name while a free-text `by` sent by the client is kept at the front
 * of the note ("on site: NAME; note").
 * Returns 0, or -1 with a reason in err when by and note together do not
 * fit the note. */
int control_peer_stamp(struct control_request *req, const struct control_peer *p, char *err, size_t errlen);

#endif
