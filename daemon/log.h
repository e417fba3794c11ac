/* log.h — structured log lines for socled: one event per line on stderr,
 *   ts=2026-11-26T13:45:01.123Z level=info event=listen endpoint=ipc:///run/user/1000/socle.sock
 * Callers pass the key=value pairs after `event`; values that may hold spaces or quotes go
 * through slog_q(). Thread-safe (one fputs per line). */
#ifndef SOCLED_LOG_H
#define SOCLED_LOG_H

#include <stddef.h>

#include "daemon/config.h"

void slog_set_level(int level); /* enum cfg_log_level */
int slog_enabled(int level);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void slog(int level, const char *event, const char *fmt, ...);

/* Quote s as a logfmt value ("..." with \" \\ \n escaped) into buf; returns buf. */
const char *slog_q(char *buf, size_t n, const char *s);

#endif
