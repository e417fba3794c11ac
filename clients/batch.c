/* batch.c — `socle batch` (docs/batch.md).
 *
 * DESIGN. Documents stream from the input to the daemon with at most `window` requests in
 * flight (credit-based: a credit comes back with each answer, so only the window's documents
 * are ever in memory, never the file). Each answer is appended to --out at once as one line
 * {"id":…, …result} and the file is fsync'd every sync_every lines and every second.
 *
 * Exactly once across crashes comes from --out itself, not from any side file: at start the ids
 * already in --out are read into a set and those documents are skipped; a torn last line (the
 * client killed in the middle of a write) is cut off first, so its document is simply done
 * again. A result line is written only after its answer arrived, and an id is written at most
 * once per run (the client library hands each request id back exactly once), so a rerun after
 * a crash, a Ctrl-C or a daemon restart neither loses nor duplicates a document.
 *
 * Reliability is two-level, as the zguide's Lazy Pirate then Paranoid Pirate: the client
 * library resends unanswered requests on its own (timeout, backoff, retries); when it gives up
 * (SOCLE_ETIMEDOUT, the daemon is away) the batch keeps its window's documents, waits with a
 * growing backoff, opens a fresh connection and resends them, `daemon_waits` times before it
 * exits 3 ("rerun to resume"). Answers RESOURCE_EXHAUSTED / UNAVAILABLE (queue full, daemon
 * draining) are resent after a short wait instead of being written as results.
 */
/* _GNU_SOURCE (strdup, getline, nanosleep) comes from the build */
#include "clients/batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- a set of id keys (the id's JSON text, so 7 and "7" stay different) ---- */

struct idset {
    char **keys; /* open addressing, NULL = empty */
    size_t cap, n;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int idset_grow(struct idset *s) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    char **k = calloc(cap, sizeof *k);
    if (!k)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->keys[i])
            continue;
        size_t j = fnv1a(s->keys[i]) & (cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = s->keys[i];
    }
    free(s->keys);
    s->keys = k;
    s->cap = cap;
    return 0;
}

/* 1 added, 0 already there, -1 out of memory. */
static int idset_add(struct idset *s, const char *key) {
    if ((s->n + 1) * 2 > s->cap && idset_grow(s) != 0)
        return -1;
    size_t j = fnv1a(key) & (s->cap - 1);
    while (s->keys[j]) {
        if (strcmp(s->keys[j], key) == 0)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    if (!(s->keys[j] = strdup(key)))
        return -1;
    s->n++;
    return 1;
}

static void idset_free(struct idset *s) {
    for (size_t i = 0; i < s->cap; i++)
        free(s->keys[i]);
    free(s->keys);
}

static const char *json_plain(struct json_object *o) {
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- arguments ---- */

static const char *const batch_tasks[] = {"tokenize", "classify",  "ner",
                                          "qa",       "summarize", "embed"};

int batch_args(int argc, char **argv, struct batch_opts *o, int *argc_out, char **argv_out) {
    /* `batch` must be the command: the first argument that is not an option or its value.
     * The CLI's global options all take a value, so skipping pairs finds it. */
    int at = 1;
    while (at < argc && argv[at][0] == '-' && argv[at][1] && strcmp(argv[at], "--") != 0)
        at += 2;
    if (at >= argc || strcmp(argv[at], "batch") != 0)
        return 0;
    memset(o, 0, sizeof *o);
    o->progress = -1;
    o->sync_every = 256;
    o->daemon_waits = 5;
    int n = 0;
    int task_at = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i == at) {
            task_at = n;
            argv_out[n++] = argv[i]; /* replaced by the task below */
            continue;
        }
        if (i > at &&
            (strcmp(a, "--task") == 0 || strcmp(a, "--in") == 0 || strcmp(a, "--out") == 0 ||
             strcmp(a, "--sync-every") == 0 || strcmp(a, "--daemon-waits") == 0)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "socle batch: option %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--task") == 0)
                o->task = v;
            else if (strcmp(a, "--in") == 0)
                o->in = v;
            else if (strcmp(a, "--out") == 0)
                o->out = v;
            else {
                char *end = NULL;
                errno = 0;
                unsigned long u = strtoul(v, &end, 10);
                if (errno || end == v || *end || v[0] == '-' || u > 1000000000ul) {
                    fprintf(stderr, "socle batch: bad value '%s' for %s\n", v, a);
                    return 2;
                }
                if (strcmp(a, "--sync-every") == 0)
                    o->sync_every = u ? (unsigned)u : 1;
                else
                    o->daemon_waits = (unsigned)u;
            }
            continue;
        }
        if (strcmp(a, "--priority") == 0)
            o->priority_given = true;
        if (strcmp(a, "--window") == 0)
            o->window_given = true;
        if (i > at && strcmp(a, "--progress") == 0) {
            o->progress = 1;
            continue;
        }
        if (i > at && strcmp(a, "--no-progress") == 0) {
            o->progress = 0;
            continue;
        }
        if (i > at && a[0] != '-') {
            fprintf(stderr, "socle batch: unexpected argument '%s' (documents come from --in)\n",
                    a);
            return 2;
        }
        argv_out[n++] = argv[i];
    }
    if (!o->task || !o->out) {
        fprintf(stderr, "usage: socle [options] batch --task "
                        "tokenize|classify|ner|qa|summarize|embed --out RESULTS.jsonl\n"
                        "       [--in DOCS.jsonl|DIR|-] [--progress|--no-progress] "
                        "[--sync-every N] [--daemon-waits N] [task options]\n"
                        "input lines: {\"id\":ID,\"text\":\"…\"} (+ \"context\" for qa); a "
                        "directory: one document per *.txt, id = file name\n");
        return 2;
    }
    bool known = false;
    for (size_t k = 0; k < sizeof batch_tasks / sizeof *batch_tasks; k++)
        known |= strcmp(o->task, batch_tasks[k]) == 0;
    if (!known) {
        fprintf(stderr,
                "socle batch: --task %s: not a batch task (tokenize classify ner qa "
                "summarize embed)\n",
                o->task);
        return 2;
    }
    argv_out[task_at] = (char *)(uintptr_t)o->task;
    *argc_out = n;
    return 1;
}

/* ---- documents in ---- */

struct source {
    FILE *f; /* jsonl */
    DIR *dir;
    const char *dirpath;
    bool qa;
    char *line;
    size_t cap;
    size_t lineno;
    size_t bad; /* unreadable lines */
    /* the current document */
    struct json_object *doc; /* parsed line (owns id and text) */
    struct json_object *id;  /* borrowed from doc, or made for a file name */
    char *text;              /* malloc'd copy (qa: question TAB context) */
    size_t len;
};

static void source_clear(struct source *s) {
    if (s->doc)
        json_object_put(s->doc);
    s->doc = NULL;
    s->id = NULL;
    free(s->text);
    s->text = NULL;
}

static char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!b || err) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

static bool is_txt(const char *name) {
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".txt") == 0 && name[0] != '.';
}

/* Next document: 1, 0 at the end, -1 read error (printed). Unreadable lines are reported,
 * counted in s->bad and skipped. */
static int source_next(struct source *s) {
    source_clear(s);
    if (s->dir) {
        for (;;) {
            errno = 0;
            struct dirent *e = readdir(s->dir);
            if (!e) {
                if (errno) {
                    fprintf(stderr, "socle batch: %s: %s\n", s->dirpath, strerror(errno));
                    return -1;
                }
                return 0;
            }
            if (!is_txt(e->d_name))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", s->dirpath, e->d_name);
            size_t len = 0;
            char *t = read_whole(path, &len);
            if (!t) {
                fprintf(stderr, "socle batch: %s: %s (skipped)\n", path, strerror(errno));
                s->bad++;
                continue;
            }
            if (len && t[len - 1] == '\n')
                len--;
            s->doc = json_object_new_string(e->d_name);
            s->id = s->doc;
            s->text = t;
            s->len = len;
            return 1;
        }
    }
    for (;;) {
        errno = 0;
        ssize_t n = getline(&s->line, &s->cap, s->f);
        if (n < 0) {
            if (ferror(s->f)) {
                fprintf(stderr, "socle batch: read error: %s\n", strerror(errno));
                return -1;
            }
            return 0;
        }
        s->lineno++;
        while (n > 0 && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        struct json_tokener *tk = json_tokener_new();
        struct json_object *o = tk ? json_tokener_parse_ex(tk, s->line, (int)n) : NULL;
        bool complete = tk && json_tokener_get_error(tk) == json_tokener_success;
        json_tokener_free(tk);
        struct json_object *id = NULL, *text = NULL, *ctx = NULL;
        const char *why = NULL;
        if (!o || !complete)
            why = "not a JSON value";
        else if (!json_object_is_type(o, json_type_object))
            why = "not a JSON object";
        else if (!json_object_object_get_ex(o, "id", &id) ||
                 !(json_object_is_type(id, json_type_string) ||
                   json_object_is_type(id, json_type_int)))
            why = "no \"id\" (string or integer)";
        else if (!json_object_object_get_ex(o, "text", &text) ||
                 !json_object_is_type(text, json_type_string))
            why = "no \"text\" string";
        else if (s->qa && (!json_object_object_get_ex(o, "context", &ctx) ||
                           !json_object_is_type(ctx, json_type_string)))
            why = "qa: no \"context\" string";
        else if (s->qa && memchr(json_object_get_string(text), '\t',
                                 (size_t)json_object_get_string_len(text)))
            why = "qa: a TAB in the question";
        if (why) {
            fprintf(stderr, "socle batch: input line %zu: %s (skipped)\n", s->lineno, why);
            s->bad++;
            if (o)
                json_object_put(o);
            continue;
        }
        size_t tl = (size_t)json_object_get_string_len(text);
        size_t cl = ctx ? (size_t)json_object_get_string_len(ctx) : 0;
        s->text = malloc(tl + cl + 2);
        if (!s->text) {
            json_object_put(o);
            fprintf(stderr, "socle batch: out of memory\n");
            return -1;
        }
        memcpy(s->text, json_object_get_string(text), tl);
        s->len = tl;
        if (ctx) {
            s->text[tl] = '\t';
            memcpy(s->text + tl + 1, json_object_get_string(ctx), cl);
            s->len = tl + 1 + cl;
        }
        s->text[s->len] = '\0';
        s->doc = o;
        s->id = id;
        return 1;
    }
}

/* Documents in the input, for the ETA: lines of a regular file, *.txt of a directory;
 * 0 = unknown (stdin, a pipe). */
static size_t source_count(const char *in, bool is_dir) {
    size_t n = 0;
    if (is_dir) {
        DIR *d = opendir(in);
        struct dirent *e;
        while (d && (e = readdir(d)))
            n += is_txt(e->d_name);
        if (d)
            closedir(d);
        return n;
    }
    struct stat st;
    if (!in || strcmp(in, "-") == 0 || stat(in, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    FILE *f = fopen(in, "rb");
    if (!f)
        return 0;
    char buf[65536];
    size_t r;
    char last = '\n';
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < r; i++)
            n += buf[i] == '\n';
        last = buf[r - 1];
    }
    fclose(f);
    return n + (last != '\n');
}

/* ---- results out ---- */

/* Read the ids already in path into done; cut a torn last line. Returns 0, or -1 (printed). */
static int out_load(const char *path, struct idset *done, size_t *unreadable) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        fprintf(stderr, "socle batch: %s: %s\n", path, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    off_t good = 0; /* end of the last complete line */
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* torn: written partly when the writer died */
        good += n;
        struct json_object *o = json_tokener_parse(line), *id = NULL;
        if (o && json_object_object_get_ex(o, "id", &id)) {
            if (idset_add(done, json_plain(id)) < 0)
                rc = -1;
        } else {
            ++*unreadable;
        }
        if (o)
            json_object_put(o);
    }
    free(line);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0 && st.st_size > good) {
        fprintf(stderr, "socle batch: %s: cutting a torn last line (%lld bytes)\n", path,
                (long long)(st.st_size - good));
        if (ftruncate(fd, good) != 0) {
            fprintf(stderr, "socle batch: %s: %s\n", path, strerror(errno));
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* ---- progress ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct progress {
    int mode; /* 0 none, 1 plain lines, 2 bar */
    double t0, last;
    size_t total, skipped_before; /* total in the input (0 unknown); ids in --out at start */
    bool drawn;
};

static void progress_show(struct progress *p, size_t done, size_t skipped, size_t errors,
                          bool final) {
    double t = now_s();
    if (!p->mode || (!final && t - p->last < (p->mode == 2 ? 0.2 : 5.0)))
        return;
    p->last = t;
    double el = t - p->t0;
    double rate = el > 0 ? (double)done / el : 0;
    char eta[32] = "?";
    size_t todo = p->total > p->skipped_before ? p->total - p->skipped_before : 0;
    if (todo && rate > 0 && done <= todo) {
        long s = (long)((double)(todo - done) / rate + 0.5);
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    if (p->mode == 2) {
        char bar[31];
        int w = todo ? (int)(30.0 * (double)done / (double)todo) : 0;
        for (int i = 0; i < 30; i++)
            bar[i] = i < w ? '#' : '.';
        bar[30] = '\0';
        if (todo)
            fprintf(stderr, "\r[%s] %zu/%zu  %.1f docs/s  ETA %s  skipped %zu  errors %zu\033[K",
                    bar, done, todo, rate, eta, skipped, errors);
        else /* stdin: no total, no bar */
            fprintf(stderr, "\r%zu done  %.1f docs/s  skipped %zu  errors %zu\033[K", done, rate,
                    skipped, errors);
        p->drawn = true;
        if (final)
            fputc('\n', stderr);
    } else {
        char of[32] = "";
        if (todo)
            snprintf(of, sizeof of, "/%zu", todo);
        fprintf(stderr, "socle batch: %zu%s done, %.1f docs/s, ETA %s, skipped %zu, errors %zu%s\n",
                done, of, rate, eta, skipped, errors, final ? " (end)" : "");
    }
}

/* ---- the run ---- */

struct slot {
    bool busy;
    unsigned tries; /* transient answers (queue full, draining) so far */
    struct json_object *id;
    char *text;
    size_t len;
};

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop)
        ;
}

/* Request ids carry the slot: id = seq << 16 | slot, so an answer finds its document without
 * a search and a resent document gets a fresh id (never confused with a late answer). */
enum { SLOT_BITS = 16 };

int batch_run(const struct batch_opts *o, batch_send_fn send, batch_result_fn result, void *ud) {
    int status = 0;
    struct idset done = {0};
    struct source src = {.qa = strcmp(o->task, "qa") == 0};
    struct slot *slots = NULL;
    struct socle_client *cl = NULL;
    FILE *out = NULL;
    size_t window = o->window ? o->window : 32;
    if (window >= (1u << SLOT_BITS))
        window = (1u << SLOT_BITS) - 1;

    struct stat st;
    bool is_dir = o->in && strcmp(o->in, "-") != 0 && stat(o->in, &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir) {
        src.dir = opendir(o->in);
        src.dirpath = o->in;
    } else if (o->in && strcmp(o->in, "-") != 0) {
        src.f = fopen(o->in, "rb");
    } else {
        src.f = stdin;
    }
    if (!src.dir && !src.f) {
        fprintf(stderr, "socle batch: %s: %s\n", o->in, strerror(errno));
        return 2;
    }
    size_t unreadable_out = 0;
    if (out_load(o->out, &done, &unreadable_out) != 0) {
        status = 2;
        goto end;
    }
    if (unreadable_out)
        fprintf(stderr, "socle batch: %s: %zu lines without an id ignored\n", o->out,
                unreadable_out);
    int ofd = open(o->out, O_WRONLY | O_APPEND | O_CREAT, 0644);
    out = ofd >= 0 ? fdopen(ofd, "ab") : NULL;
    slots = calloc(window, sizeof *slots);
    if (!out || !slots) {
        fprintf(stderr, "socle batch: %s: %s\n", o->out, strerror(errno));
        if (!out && ofd >= 0)
            close(ofd);
        status = 2;
        goto end;
    }
    int rc = socle_client_new(o->endpoint, &o->copts, &cl);
    if (rc != SOCLE_OK) {
        fprintf(stderr, "socle batch: cannot use endpoint %s: %s\n",
                o->endpoint ? o->endpoint : "(default)", socle_strerror(rc));
        status = 3;
        goto end;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct progress pg = {
        .t0 = now_s(), .total = source_count(o->in, is_dir), .skipped_before = done.n};
    pg.last = pg.t0;
    pg.mode = o->progress < 0 ? (isatty(2) ? 2 : 0) : o->progress ? (isatty(2) ? 2 : 1) : 0;
    size_t n_done = 0, n_skipped = 0, n_errors = 0, unsynced = 0;
    size_t in_flight = 0;
    uint64_t seq = 1;
    bool eof = false;
    unsigned waits = 0;
    double last_sync = now_s();

    while ((!eof || in_flight) && !g_stop) {
        /* credits: one document per free slot */
        for (size_t k = 0; !eof && in_flight < window && !g_stop; k++) {
            int r = source_next(&src);
            if (r < 0) {
                status = 2;
                eof = true;
                break;
            }
            if (r == 0) {
                eof = true;
                break;
            }
            const char *key = json_plain(src.id);
            int added = idset_add(&done, key);
            if (added < 0) {
                status = 2;
                eof = true;
                break;
            }
            if (added == 0) {
                /* in --out already (resume), or the same id twice in the input */
                n_skipped++;
                continue;
            }
            size_t si = 0;
            while (slots[si].busy)
                si++;
            struct slot *sl = &slots[si];
            sl->busy = true;
            sl->tries = 0;
            sl->id = json_object_get(src.id);
            sl->text = src.text;
            sl->len = src.len;
            src.text = NULL;
            const char *why = NULL;
            rc = send(ud, cl, (seq++ << SLOT_BITS) | si, sl->text, sl->len, &why);
            if (rc == 1) {
                /* the task cannot take this input: an error line, like the CLI */
                struct json_object *line = json_object_new_object(), *e = json_object_new_object();
                json_object_object_add(line, "id", json_object_get(sl->id));
                json_object_object_add(e, "code", json_object_new_string("INVALID_ARGUMENT"));
                json_object_object_add(e, "message", json_object_new_string(why ? why : ""));
                json_object_object_add(line, "error", e);
                fprintf(out, "%s\n", json_plain(line));
                json_object_put(line);
                n_done++;
                n_errors++;
                unsynced++;
                json_object_put(sl->id);
                free(sl->text);
                memset(sl, 0, sizeof *sl);
                continue;
            }
            if (rc != SOCLE_OK) {
                fprintf(stderr, "socle batch: send: %s\n", socle_strerror(rc));
                status = 3;
                goto flush;
            }
            in_flight++;
        }
        if (!in_flight)
            break;
        Socle__V1__Response *r = NULL;
        rc = socle_client_recv(cl, &r);
        if (rc == SOCLE_ETIMEDOUT) {
            /* the client's own retries are spent: the daemon is away. Keep the documents,
             * back off, reconnect, resend them all (Paranoid Pirate on the client side). */
            if (waits >= o->daemon_waits) {
                fprintf(stderr,
                        "socle batch: the daemon (%s) does not answer; %zu results written this "
                        "run. Rerun the same command to resume.\n",
                        o->endpoint ? o->endpoint : "default endpoint", n_done);
                status = 3;
                goto flush;
            }
            long wait = 1000L << (waits < 5 ? waits : 5);
            waits++;
            fprintf(stderr, "socle batch: the daemon does not answer; retrying in %.1f s (%u/%u)\n",
                    (double)wait / 1000.0, waits, o->daemon_waits);
            fflush(out);
            sleep_ms(wait);
            socle_client_free(cl);
            cl = NULL;
            if (socle_client_new(o->endpoint, &o->copts, &cl) != SOCLE_OK) {
                status = 3;
                goto flush;
            }
            for (size_t si = 0; si < window; si++) {
                if (!slots[si].busy)
                    continue;
                const char *why = NULL;
                if (send(ud, cl, (seq++ << SLOT_BITS) | si, slots[si].text, slots[si].len, &why) !=
                    SOCLE_OK) {
                    status = 3;
                    goto flush;
                }
            }
            continue;
        }
        if (rc != SOCLE_OK) {
            fprintf(stderr, "socle batch: %s\n", socle_strerror(rc));
            status = 3;
            goto flush;
        }
        waits = 0;
        size_t si = (size_t)(r->id & ((1u << SLOT_BITS) - 1));
        if (si >= window || !slots[si].busy) {
            fprintf(stderr, "socle batch: unexpected answer id %llu\n", (unsigned long long)r->id);
            socle_response_free(r);
            status = 3;
            goto flush;
        }
        struct slot *sl = &slots[si];
        int code = r->status ? (int)r->status->code : 0;
        if ((code == SOCLE__V1__CODE__RESOURCE_EXHAUSTED || code == SOCLE__V1__CODE__UNAVAILABLE) &&
            sl->tries < 8) {
            /* queue full or daemon draining: not this document's fault, send it again */
            socle_response_free(r);
            sleep_ms(10L << sl->tries);
            sl->tries++;
            const char *why = NULL;
            if (send(ud, cl, (seq++ << SLOT_BITS) | si, sl->text, sl->len, &why) != SOCLE_OK) {
                in_flight--;
                status = 3;
                goto flush;
            }
            continue;
        }
        bool failed = false;
        struct json_object *res = result(ud, r, &failed);
        socle_response_free(r);
        struct json_object *line = json_object_new_object();
        json_object_object_add(line, "id", json_object_get(sl->id));
        json_object_object_foreach(res, k, v) json_object_object_add(line, k, json_object_get(v));
        json_object_put(res);
        fprintf(out, "%s\n", json_plain(line));
        json_object_put(line);
        json_object_put(sl->id);
        free(sl->text);
        memset(sl, 0, sizeof *sl);
        in_flight--;
        n_done++;
        n_errors += failed;
        unsynced++;
        if (unsynced >= o->sync_every || now_s() - last_sync >= 1.0) {
            fflush(out);
            fsync(fileno(out));
            unsynced = 0;
            last_sync = now_s();
        }
        progress_show(&pg, n_done, n_skipped, n_errors, false);
    }
flush:
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
        fprintf(stderr, "socle batch: %s: %s\n", o->out, strerror(errno));
        status = 2;
    }
    progress_show(&pg, n_done, n_skipped, n_errors, true);
    if (g_stop && status == 0) {
        fprintf(stderr,
                "socle batch: interrupted; %zu results written. Rerun the same command "
                "to resume.\n",
                n_done);
        status = 130;
    }
    if (status == 0 && (n_errors || src.bad))
        status = 1;
end:
    for (size_t i = 0; slots && i < window; i++) {
        if (slots[i].id)
            json_object_put(slots[i].id);
        free(slots[i].text);
    }
    free(slots);
    socle_client_free(cl);
    if (out)
        fclose(out);
    source_clear(&src);
    free(src.line);
    if (src.f && src.f != stdin)
        fclose(src.f);
    if (src.dir)
        closedir(src.dir);
    idset_free(&done);
    return status;
}
