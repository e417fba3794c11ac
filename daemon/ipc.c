/* ipc.c — ipc:// endpoints: stale-socket recovery and socket file permissions (ipc.h).
 *
 * DESIGN. Liveness is asked of the socket itself, not of a pid file: connect(2) on the path
 * succeeds only if some process listens there (a crashed daemon leaves a file that answers
 * ECONNREFUSED). Only a socket that we own and that refuses is unlinked; a regular file, a
 * symlink or another user's socket is left alone and socled refuses to start. The remaining
 * race (two daemons starting at the same instant on one path) is not handled: both may see no
 * listener; the later bind wins, as with libzmq alone.
 *
 * Permissions: the file is created under umask 0177 (srw-------), then chown'd to the group,
 * then chmod'ed to the configured mode. In a world-writable directory the sticky bit (/tmp)
 * keeps other users from replacing our file between bind and chmod; $XDG_RUNTIME_DIR is 0700.
 */
#include "daemon/ipc.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <zmq.h>

static void set_err(char *err, size_t n, const char *what, const char *path, const char *why) {
    if (err && n)
        snprintf(err, n, "%s %s: %s", what, path, why);
}

bool ipc_endpoint_path(const char *endpoint, char *buf, size_t n) {
    if (!endpoint || strncmp(endpoint, "ipc://", 6) != 0)
        return false;
    const char *p = endpoint + 6;
    if (p[0] == '@' || p[0] == '\0' || strcmp(p, "*") == 0)
        return false; /* abstract namespace / zmq-chosen temporary name: no file to manage */
    if (strlen(p) >= n)
        return false;
    memcpy(buf, p, strlen(p) + 1);
    return true;
}

int ipc_parse_mode(const char *s, unsigned *mode) {
    if (!s || !*s)
        return IPC_EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 8);
    if (errno || *end || s[0] == '-' || v > 0777)
        return IPC_EINVAL;
    *mode = (unsigned)v;
    return IPC_OK;
}

int ipc_clear_stale(const char *path, bool *removed, char *err, size_t errlen) {
    *removed = false;
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return IPC_OK;
        set_err(err, errlen, "ipc endpoint", path, strerror(errno));
        return IPC_ESYS;
    }
    if (!S_ISSOCK(st.st_mode)) {
        set_err(err, errlen, "ipc endpoint", path, "exists and is not a socket; not removing it");
        return IPC_EEXIST;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        set_err(err, errlen, "ipc endpoint", path, "path too long for a Unix socket");
        return IPC_EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(err, errlen, "ipc endpoint", path, strerror(errno));
        return IPC_ESYS;
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0) {
        set_err(err, errlen, "ipc endpoint", path, "endpoint in use by a live daemon");
        return IPC_ELIVE;
    }
    if (st.st_uid != geteuid()) {
        /* someone else's socket: not ours to judge or delete */
        set_err(err, errlen, "ipc endpoint", path,
                "socket belongs to another user; not removing it");
        return IPC_EEXIST;
    }
    if (e != ECONNREFUSED) {
        set_err(err, errlen, "ipc endpoint", path, strerror(e));
        return IPC_ESYS;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        set_err(err, errlen, "ipc endpoint", path, strerror(errno));
        return IPC_ESYS;
    }
    *removed = true;
    return IPC_OK;
}

int ipc_bind(void *zsock, const char *endpoint, unsigned mode, const char *group,
             bool *stale_removed, char *err, size_t errlen) {
    if (stale_removed)
        *stale_removed = false;
    char path[512];
    if (!ipc_endpoint_path(endpoint, path, sizeof path)) {
        if (zmq_bind(zsock, endpoint) != 0) {
            set_err(err, errlen, "bind", endpoint, zmq_strerror(errno));
            return IPC_EBIND;
        }
        return IPC_OK;
    }
    gid_t gid = (gid_t)-1;
    if (group && *group) {
        struct group *g = getgrnam(group);
        if (!g) {
            set_err(err, errlen, "ipc group", group, "no such group");
            return IPC_EINVAL;
        }
        gid = g->gr_gid;
    }
    bool removed = false;
    int rc = ipc_clear_stale(path, &removed, err, errlen);
    if (rc != IPC_OK)
        return rc;
    if (stale_removed)
        *stale_removed = removed;
    mode_t old = umask(0177);
    rc = zmq_bind(zsock, endpoint);
    int e = errno;
    umask(old);
    if (rc != 0) {
        set_err(err, errlen, "bind", endpoint, zmq_strerror(e));
        return IPC_EBIND;
    }
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) {
        set_err(err, errlen, "ipc endpoint chown", path, strerror(errno));
        zmq_unbind(zsock, endpoint);
        return IPC_ESYS;
    }
    if (chmod(path, (mode_t)mode) != 0) {
        set_err(err, errlen, "ipc endpoint chmod", path, strerror(errno));
        zmq_unbind(zsock, endpoint);
        return IPC_ESYS;
    }
    return IPC_OK;
}
