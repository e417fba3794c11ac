/* metrics.c — Prometheus text for socled (see metrics.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "daemon/daemon.h"
#include "daemon/metrics.h"

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct sbuf *b, const char *fmt, ...) {
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void counter(struct sbuf *b, const char *name, const char *help, uint64_t v) {
    put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

static void gauge(struct sbuf *b, const char *name, const char *help, double v) {
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* scale: 1e-6 turns the µs histograms into seconds (the Prometheus base unit) */
static void histogram(struct sbuf *b, const char *name, const char *help,
                      const Socle__V1__Histogram *h, double scale) {
    if (!h)
        return;
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < h->n_bounds && i < h->n_counts; i++)
        put(b, "%s_bucket{le=\"%.17g\"} %llu\n", name, h->bounds[i] * scale,
            (unsigned long long)h->counts[i]);
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name,
        (unsigned long long)h->count, name, h->sum * scale, name, (unsigned long long)h->count);
}

int metrics_render(const Socle__V1__StatsResult *s, char **out, size_t *len) {
    struct sbuf b = {malloc(8192), 0, 8192, 0};
    if (!b.p)
        return -1;
    b.p[0] = '\0';
    gauge(&b, "socled_uptime_seconds", "Seconds since socled started.", s->uptime_ms / 1000.0);
    counter(&b, "socled_requests_total", "Requests received, well-formed or not.",
            s->requests_total);
    put(&b, "# HELP socled_responses_total Answers sent, by task and status code.\n"
            "# TYPE socled_responses_total counter\n");
    for (size_t t = 0; t < s->n_tasks; t++)
        for (size_t c = 0; c < s->tasks[t]->n_codes; c++)
            put(&b, "socled_responses_total{task=\"%s\",code=\"%s\"} %llu\n", s->tasks[t]->task,
                reply_code_name((int)s->tasks[t]->codes[c]->code),
                (unsigned long long)s->tasks[t]->codes[c]->count);
    gauge(&b, "socled_in_flight", "Requests accepted and not yet answered.", s->in_flight);
    put(&b,
        "# HELP socled_queue_requests Requests waiting for a worker, by lane.\n"
        "# TYPE socled_queue_requests gauge\n"
        "socled_queue_requests{lane=\"interactive\"} %u\nsocled_queue_requests{lane=\"batch\"} "
        "%u\n",
        s->queue_interactive, s->queue_batch);
    gauge(&b, "socled_queue_tokens", "Estimated model tokens waiting for a worker.",
          (double)s->queue_tokens);
    gauge(&b, "socled_workers_busy", "Workers computing a batch.", s->workers_busy);
    counter(&b, "socled_dropped_replies_total", "Answers whose client had gone.",
            s->dropped_replies);
    counter(&b, "socled_batches_total", "Batches handed to workers.", s->batches_total);
    counter(&b, "socled_forwards_total", "Engine forwards run.", s->forwards_total);
    counter(&b, "socled_computed_total", "Requests that reached the model.", s->computed_total);
    counter(&b, "socled_expired_total",
            "Requests answered DEADLINE_EXCEEDED before reaching the model.", s->expired_total);
    put(&b,
        "# HELP socled_cancelled_total Accepted requests dropped from the queue unanswered, "
        "never computed, by reason.\n# TYPE socled_cancelled_total counter\n"
        "socled_cancelled_total{reason=\"client_gone\"} %llu\n",
        (unsigned long long)s->cancelled_total);
    histogram(&b, "socled_queue_seconds", "Receipt to a worker picking the request up.",
              s->queue_us, 1e-6);
    histogram(&b, "socled_total_seconds", "Receipt to answer.", s->total_us, 1e-6);
    histogram(&b, "socled_tokenize_seconds", "Tokenizing and windowing, per computed request.",
              s->tokenize_us, 1e-6);
    histogram(&b, "socled_forward_seconds",
              "Engine forwards a computed request took part in (shared with its batch).",
              s->forward_us, 1e-6);
    histogram(&b, "socled_post_seconds", "Heads decoding and response building, per request.",
              s->post_us, 1e-6);
    histogram(&b, "socled_batch_requests", "Requests per batch.", s->batch_requests, 1);
    histogram(&b, "socled_batch_sequences", "Model sequences per engine forward.", s->batch_seqs,
              1);
    histogram(&b, "socled_batch_tokens", "Tokens per engine forward.", s->batch_tokens, 1);
    if (b.failed) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

void *metrics_open(void *zctx, const char *endpoint, char *err, size_t errlen) {
    void *s = zmq_socket(zctx, ZMQ_STREAM);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(s, endpoint) != 0) {
        snprintf(err, errlen, "bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void send_close(void *sock, const uint8_t *id, size_t id_len, const char *data, size_t len) {
    zmq_send(sock, id, id_len, ZMQ_SNDMORE);
    zmq_send(sock, data, len, 0);
    /* an empty frame closes the connection (ZMQ_STREAM) */
    zmq_send(sock, id, id_len, ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

int metrics_recv(void *sock, uint8_t *id, size_t *id_len) {
    int n = zmq_recv(sock, id, 255, ZMQ_DONTWAIT);
    if (n <= 0)
        return 0;
    *id_len = (size_t)n;
    char req[2048];
    int m = zmq_recv(sock, req, sizeof req - 1, 0);
    if (m <= 0)
        return 0; /* a connect or a close notice */
    req[m < (int)sizeof req - 1 ? m : (int)sizeof req - 1] = '\0';
    if (strncmp(req, "GET ", 4) != 0) {
        static const char r405[] = "HTTP/1.0 405 Method Not Allowed\r\nAllow: GET\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n";
        send_close(sock, id, *id_len, r405, sizeof r405 - 1);
        return 0;
    }
    const char *path = req + 4;
    size_t pl = strcspn(path, " ?\r\n");
    if (!(pl == 8 && !memcmp(path, "/metrics", 8))) {
        static const char r404[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 20\r\nConnection: close\r\n\r\n"
                                   "try GET /metrics\r\n\r\n";
        send_close(sock, id, *id_len, r404, sizeof r404 - 1);
        return 0;
    }
    return 1;
}

void metrics_reply(void *sock, const uint8_t *id, size_t id_len, const char *body, size_t len) {
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                      "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      len);
    zmq_send(sock, id, id_len, ZMQ_SNDMORE);
    zmq_send(sock, head, (size_t)hl, 0);
    zmq_send(sock, id, id_len, ZMQ_SNDMORE);
    zmq_send(sock, body, len, 0);
    zmq_send(sock, id, id_len, ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}
