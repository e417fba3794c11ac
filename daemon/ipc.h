/* ipc.h — ipc:// (Unix socket) endpoints of socled: owner-only socket files, safe recovery of
 * a crashed daemon's stale socket, never stealing a live daemon's (docs/config.md, "Local
 * clients").
 *
 * Why this exists: libzmq's ipc listener unlinks whatever file is at the path before it binds,
 * so a second socled started on the endpoint of a running one would silently take its clients
 * away; and the socket file gets the process umask (0755 with the usual 022, 0777 with 000). */
#ifndef SOCLED_IPC_H
#define SOCLED_IPC_H

#include <stdbool.h>
#include <stddef.h>

enum ipc_status {
    IPC_OK = 0,
    IPC_ELIVE = -1,  /* a live daemon answers on the socket: "endpoint in use by a live daemon" */
    IPC_EEXIST = -2, /* the path exists and is not our socket (a file, a symlink, another uid) */
    IPC_EINVAL = -3, /* bad mode text, unknown group, path too long */
    IPC_ESYS = -4,   /* a system call failed (errno in the message) */
    IPC_EBIND = -5,  /* zmq_bind failed (message has zmq's reason) */
};

/* The file path of an ipc:// endpoint into buf; false for other transports (and for
 * ipc://@abstract names, which have no file). */
bool ipc_endpoint_path(const char *endpoint, char *buf, size_t n);

/* "0600", "660", … (octal, permission bits only) into *mode. IPC_OK or IPC_EINVAL. */
int ipc_parse_mode(const char *s, unsigned *mode);

/* Make the path free for a bind: nothing there → OK; a Unix socket of ours that nobody
 * answers on (a crashed daemon's) → unlinked, OK (*removed = true); a socket something
 * answers on → IPC_ELIVE; anything else → IPC_EEXIST (never deleted). Message in err. */
int ipc_clear_stale(const char *path, bool *removed, char *err, size_t errlen);

/* Bind zsock (a zmq socket) to endpoint. For ipc:// the stale check above runs first, the
 * socket file is created owner-only (umask 0177 around the bind, so no instant exists where it
 * is wider), then given `group` (NULL/"" = keep) and then `mode`: the group is set before the
 * bits are widened, so no other group ever sees a group-writable socket. Other transports are
 * a plain zmq_bind. *stale_removed (may be NULL): a crashed daemon's socket was removed.
 * Not thread-safe (umask is process-wide): call before starting threads that
 * create files. */
int ipc_bind(void *zsock, const char *endpoint, unsigned mode, const char *group,
             bool *stale_removed, char *err, size_t errlen);

#endif
