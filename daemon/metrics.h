/* metrics.h — Prometheus text exposition of socled's stats, served on HTTP GET /metrics.
 *
 * No thread and no HTTP library: the broker polls a ZMQ_STREAM socket bound to the --metrics
 * tcp:// address next to its other sockets, so the counters it alone owns are read without a
 * lock. A request is answered from the first TCP segment of a connection (a GET is a few
 * hundred bytes; the exporters' scrapers send it in one), then the connection is closed
 * (HTTP/1.0 style). Anything but GET /metrics gets 404 (405 for other methods).
 */
#ifndef SOCLED_METRICS_H
#define SOCLED_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/socle.pb-c.h"

/* Render s as Prometheus text format 0.0.4 into a malloc'd buffer. 0, or -1 (out of memory). */
int metrics_render(const Socle__V1__StatsResult *s, char **out, size_t *len);

/* Open the ZMQ_STREAM socket on endpoint (tcp://HOST:PORT). NULL on failure, err says why. */
void *metrics_open(void *zctx, const char *endpoint, char *err, size_t errlen);

/* Read one event from the socket. Returns 1 when a GET /metrics arrived (id/id_len name the
 * connection: answer with metrics_reply), 0 otherwise (connects, closes and bad requests are
 * handled here). */
int metrics_recv(void *sock, uint8_t *id, size_t *id_len);

/* Send body as the 200 answer to connection id and close it. */
void metrics_reply(void *sock, const uint8_t *id, size_t id_len, const char *body, size_t len);

#endif
