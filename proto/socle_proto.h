/* socle_proto.h — constants of the wire protocol shared by socled and every client.
 *
 * The frames and messages are specified in docs/protocol.md and proto/socle.proto; this header
 * only holds what both ends must agree on outside the protobuf schema: the frame tag and the
 * default local endpoint. Header-only so that the daemon and the clients (which may not link
 * each other) use one definition.
 */
#ifndef SOCLE_PROTO_H
#define SOCLE_PROTO_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto/socle.pb-c.h"

/* Second frame of every message, both directions. A daemon answers any other tag with
 * UNIMPLEMENTED (the versioning rule: an incompatible change gets a new tag). */
#define SOCLE_PROTOCOL_TAG "socle/1"
#define SOCLE_PROTOCOL_TAG_LEN 7

/* Default local endpoint, used by socled when no endpoint is configured and by clients when
 * none is given: ipc://$XDG_RUNTIME_DIR/socle.sock when XDG_RUNTIME_DIR is set (a per-user,
 * owner-only directory on systemd machines), else ipc:///tmp/socle-<uid>.sock.
 * Writes at most n bytes into buf (NUL-terminated); returns buf. */
static inline const char *socle_default_endpoint(char *buf, size_t n) {
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/')
        snprintf(buf, n, "ipc://%s/socle.sock", xdg);
    else
        snprintf(buf, n, "ipc:///tmp/socle-%u.sock", (unsigned)getuid());
    return buf;
}

#endif
