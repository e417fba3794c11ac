/* log.c — logfmt-style lines (key=value), one per event, so that grep/awk and log shippers
 * read them without a parser. Each line is formatted in a local buffer and written with one
 * fputs so lines from different threads never interleave. */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int min_level = CFG_LOG_INFO;

void slog_set_level(int level) { min_level = level; }

int slog_enabled(int level) { return level >= min_level; }

void slog(int level, const char *event, const char *fmt, ...) {
    if (level < min_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, cfg_log_level_name(level), event);
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && *fmt && used + 2 < sizeof line) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
        va_end(ap);
        if (m > 0)
            used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
    }
    if (used + 1 >= sizeof line)
        used = sizeof line - 2;
    line[used++] = '\n';
    line[used] = '\0';
    fputs(line, stderr);
}

const char *slog_q(char *buf, size_t n, const char *s) {
    if (n < 3) {
        if (n)
            buf[0] = '\0';
        return buf;
    }
    size_t k = 0;
    buf[k++] = '"';
    for (; s && *s && k + 3 < n; s++) {
        char c = *s;
        if (c == '"' || c == '\\') {
            buf[k++] = '\\';
            buf[k++] = c;
        } else if (c == '\n') {
            buf[k++] = '\\';
            buf[k++] = 'n';
        } else if ((unsigned char)c < 0x20) {
            buf[k++] = ' ';
        } else {
            buf[k++] = c;
        }
    }
    buf[k++] = '"';
    buf[k] = '\0';
    return buf;
}
