/* batch.c — `socle batch` (docs/batch.md).
 *
 * DESIGN. Documents stream from the input to the daemon with at most `window` requests in
 * flight (credit-based: a credit comes back with each answer, so only the window's documents
 * are ever in memory, never the file). Each answer is appended to --out as one line
 * {"id":…, …result}; every sync_every lines and every second the lines go to the kernel and a
 * thread of its own fdatasyncs the file (the disk never stalls the window).
 *
 * Per-document cost is what limits a fast daemon (issue 7): result lines are written as text
 * straight from the protobuf answer (pbjson_text, no json object per field) and plain input
 * lines ({"id":7,"text":"…"} without escapes) are read without json-c; json-c still reads
 * every other line, so both paths accept and refuse the same input.
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
#include <pthread.h>
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
        /* Anything else (task options and their values, stray TEXT arguments) goes to the CLI's
         * own parser, which knows which options take a value; main() refuses TEXT for batch. */
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
    size_t bad;              /* unreadable lines */
    struct json_tokener *tk; /* reused: one per line was a visible share of the time */
    /* the current document, both malloc'd */
    char *key;  /* the id as JSON text (7 or "a"): the idset key, written back as it is */
    char *text; /* qa: question TAB context */
    size_t len;
};

static void source_clear(struct source *s) {
    free(s->key);
    s->key = NULL;
    free(s->text);
    s->text = NULL;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Take the document (key, question, context) into s; -1 out of memory. */
static int source_take(struct source *s, const char *key, size_t kl, const char *t, size_t tl,
                       const char *c, size_t cl) {
    s->key = dup_n(key, kl);
    s->text = malloc(tl + cl + 2);
    if (!s->key || !s->text)
        return -1;
    memcpy(s->text, t, tl);
    s->len = tl;
    if (c) {
        s->text[tl] = '\t';
        memcpy(s->text + tl + 1, c, cl);
        s->len = tl + 1 + cl;
    }
    s->text[s->len] = '\0';
    return 0;
}

/* ---- the common input line without json-c ----
 * Most lines are {"id": 7, "text": "…"} with no escapes in the strings. Those are read here
 * directly (no json objects, no copies but the document's own); anything else — escapes,
 * other value types, a repeated key, a missing field — returns false and json-c reads the
 * line as before, so both paths accept, refuse and report exactly the same lines. */

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A string at p ('"'), with no escape and no control character: its length including both
 * quotes; 0 otherwise. Its JSON text is then also what json-c prints for it. */
static size_t plain_string(const char *p, const char *end) {
    for (const char *q = p + 1; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            return (size_t)(q - p) + 1;
        if (c == '\\' || c < 0x20)
            return 0;
    }
    return 0;
}

/* An integer in json-c's printed form (-?(0|[1-9][0-9]*), not -0, at most 18 digits so it
 * fits int64): its length; 0 otherwise. */
static size_t plain_int(const char *p, const char *end) {
    const char *q = p + (p < end && *p == '-');
    size_t nd = 0;
    while (q + nd < end && q[nd] >= '0' && q[nd] <= '9')
        nd++;
    if (nd == 0 || nd > 18 || (q[0] == '0' && (nd > 1 || q != p)))
        return 0;
    return (size_t)(q - p) + nd;
}

struct plain_doc {
    const char *id, *text, *ctx; /* id: its JSON text; text, ctx: inside the quotes */
    size_t id_len, text_len, ctx_len;
};

/* One key and its value at *pp; false if not plain. */
static bool plain_member(const char **pp, const char *end, struct plain_doc *d) {
    const char *p = *pp;
    size_t kl = p < end && *p == '"' ? plain_string(p, end) : 0;
    if (!kl)
        return false;
    const char *k = p + 1;
    p = skip_ws(p + kl, end);
    if (p == end || *p++ != ':')
        return false;
    p = skip_ws(p, end);
    bool str = p < end && *p == '"';
    size_t vl = str ? plain_string(p, end) : plain_int(p, end);
    if (!vl)
        return false;
    const char **v = NULL;
    size_t *vlen = NULL;
    bool quoted = str;
    if (kl == 4 && memcmp(k, "id", 2) == 0) {
        v = &d->id, vlen = &d->id_len, quoted = false; /* kept with its quotes */
    } else if (kl == 6 && memcmp(k, "text", 4) == 0) {
        v = &d->text, vlen = &d->text_len;
    } else if (kl == 9 && memcmp(k, "context", 7) == 0) {
        v = &d->ctx, vlen = &d->ctx_len;
    }
    if (v) {
        if (*v || (v != &d->id && !str))
            return false; /* a repeated key (json-c keeps the last one) or a wrong type */
        *v = p + quoted;
        *vlen = vl - 2 * quoted;
    }
    *pp = p + vl;
    return true;
}

static bool plain_doc(const char *s, size_t n, bool qa, struct plain_doc *d) {
    const char *p = skip_ws(s, s + n), *end = s + n;
    memset(d, 0, sizeof *d);
    if (p == end || *p++ != '{')
        return false;
    for (p = skip_ws(p, end);;) {
        if (!plain_member(&p, end, d))
            return false;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p == end || *p++ != '}')
            return false;
        break;
    }
    return skip_ws(p, end) == end && d->id && d->text && (!qa || d->ctx);
}

/* The line through json-c: 1 a document, 0 unreadable (reported, counted), -1 no memory. */
static int jsonc_doc(struct source *s, size_t n) {
    if (!s->tk && !(s->tk = json_tokener_new()))
        return -1;
    json_tokener_reset(s->tk);
    struct json_object *o = json_tokener_parse_ex(s->tk, s->line, (int)n);
    bool complete = json_tokener_get_error(s->tk) == json_tokener_success;
    struct json_object *id = NULL, *text = NULL, *ctx = NULL;
    const char *why = NULL;
    if (!o || !complete)
        why = "not a JSON value";
    else if (!json_object_is_type(o, json_type_object))
        why = "not a JSON object";
    else if (!json_object_object_get_ex(o, "id", &id) ||
             !(json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int)))
        why = "no \"id\" (string or integer)";
    else if (!json_object_object_get_ex(o, "text", &text) ||
             !json_object_is_type(text, json_type_string))
        why = "no \"text\" string";
    else if (s->qa && (!json_object_object_get_ex(o, "context", &ctx) ||
                       !json_object_is_type(ctx, json_type_string)))
        why = "qa: no \"context\" string";
    else if (s->qa &&
             memchr(json_object_get_string(text), '\t', (size_t)json_object_get_string_len(text)))
        why = "qa: a TAB in the question";
    int rc = 0;
    if (why) {
        fprintf(stderr, "socle batch: input line %zu: %s (skipped)\n", s->lineno, why);
        s->bad++;
    } else {
        const char *key = json_plain(id);
        rc = source_take(s, key, strlen(key), json_object_get_string(text),
                         (size_t)json_object_get_string_len(text),
                         ctx ? json_object_get_string(ctx) : NULL,
                         ctx ? (size_t)json_object_get_string_len(ctx) : 0) == 0
                 ? 1
                 : -1;
    }
    if (o)
        json_object_put(o);
    return rc;
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

/* Next *.txt of the directory: 1, 0 at the end, -1 error (printed). */
static int dir_next(struct source *s) {
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
        struct json_object *name = json_object_new_string(e->d_name);
        s->key = name ? strdup(json_plain(name)) : NULL;
        json_object_put(name);
        s->text = t;
        s->len = len;
        if (!s->key) {
            fprintf(stderr, "socle batch: out of memory\n");
            return -1;
        }
        return 1;
    }
}

/* Next document: 1, 0 at the end, -1 read error (printed). Unreadable lines are reported,
 * counted in s->bad and skipped. */
static int source_next(struct source *s) {
    source_clear(s);
    if (s->dir)
        return dir_next(s);
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
        struct plain_doc d;
        int rc;
        if (plain_doc(s->line, (size_t)n, s->qa, &d))
            rc = source_take(s, d.id, d.id_len, d.text, d.text_len, d.ctx, d.ctx_len) == 0 ? 1 : -1;
        else
            rc = jsonc_doc(s, (size_t)n);
        if (rc < 0)
            fprintf(stderr, "socle batch: out of memory\n");
        if (rc != 0)
            return rc;
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
    char *key;      /* the id's JSON text */
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

/* --out reaches the disk every sync_every lines and at least every second. The lines are
 * handed to the kernel (fflush) on the main thread; the fdatasync itself runs on a thread of
 * its own, so a slow disk never stalls the window (on a busy disk one sync took longer than
 * the window's worth of answers). Exactness never depends on it: after a crash of the client
 * alone, what write() handed to the kernel is in the file anyway; fdatasync only bounds what
 * a crash of the whole machine can lose (then the torn-line rule and the rerun apply). */
struct syncer {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd, err; /* err: the first fdatasync errno */
    bool want, stop, started;
};

static void *syncer_main(void *arg) {
    struct syncer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->want && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->want)
            break;
        s->want = false;
        pthread_mutex_unlock(&s->mu);
        int rc = fdatasync(s->fd), e = errno;
        pthread_mutex_lock(&s->mu);
        if (rc != 0 && !s->err)
            s->err = e;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int syncer_start(struct syncer *s, int fd) {
    s->fd = fd;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    s->started = pthread_create(&s->th, NULL, syncer_main, s) == 0;
    if (!s->started) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    return 0;
}

/* Ask for a sync (one already asked for and not started yet covers this one too). */
static void syncer_kick(struct syncer *s) {
    pthread_mutex_lock(&s->mu);
    s->want = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Join; returns the first fdatasync error (0 none). NULL-safe on a syncer never started. */
static int syncer_stop(struct syncer *s) {
    if (!s->started)
        return 0;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    s->started = false;
    return s->err;
}

struct run {
    const struct batch_opts *o;
    batch_send_fn send;
    batch_result_fn result;
    void *ud;
    struct socle_client *cl;
    FILE *out;
    struct pbjson_buf res; /* an answer's JSON, reused */
    struct syncer sync;
    struct slot *slots;
    size_t *free_slots, n_free, window, in_flight;
    uint64_t seq;
    struct source *src;
    struct idset *done;
    bool eof;
    int input_error;
    size_t n_done, n_skipped, n_errors, unsynced;
    double last_sync;
};

static uint64_t next_id(struct run *r, size_t si) { return (r->seq++ << SLOT_BITS) | si; }

static void slot_release(struct run *r, size_t si) {
    free(r->slots[si].key);
    free(r->slots[si].text);
    memset(&r->slots[si], 0, sizeof r->slots[si]);
    r->free_slots[r->n_free++] = si;
}

static int out_flush(struct run *r, bool wait) {
    r->unsynced = 0;
    r->last_sync = now_s();
    int err = 0;
    if (fflush(r->out) != 0)
        err = errno;
    else if (!wait && r->sync.started)
        syncer_kick(&r->sync);
    else if ((err = syncer_stop(&r->sync)) == 0 && fdatasync(fileno(r->out)) != 0)
        err = errno;
    if (err) {
        fprintf(stderr, "socle batch: %s: %s\n", r->o->out, strerror(err));
        return -1;
    }
    return 0;
}

/* Append line = {"id":KEY, …the fields of the object text obj…}\n to --out. */
static int out_line(struct run *r, const char *key, const char *obj, size_t obj_len) {
    /* pieces straight into the FILE buffer: no line buffer to copy through */
    FILE *f = r->out;
    size_t kl = strlen(key);
    bool fields = obj_len > 2; /* obj is "{…}": its fields follow the id */
    if (fwrite("{\"id\":", 1, 6, f) != 6 || fwrite(key, 1, kl, f) != kl ||
        (fields && (fputc(',', f) == EOF || fwrite(obj + 1, 1, obj_len - 1, f) != obj_len - 1)) ||
        (!fields && fputc('}', f) == EOF) || fputc('\n', f) == EOF) {
        fprintf(stderr, "socle batch: %s: %s\n", r->o->out, strerror(errno));
        return -1;
    }
    r->n_done++;
    if (++r->unsynced >= r->o->sync_every || now_s() - r->last_sync >= 1.0)
        return out_flush(r, false);
    return 0;
}

/* The task cannot take this input (build_request refused it): an error line, like the CLI. */
static int out_input_error(struct run *r, const char *key, const char *why) {
    struct pbjson_buf e = {0};
    static const char head[] = "{\"error\":{\"code\":\"INVALID_ARGUMENT\",\"message\":";
    int rc = pbjson_buf_put(&e, head, sizeof head - 1);
    if (rc == 0)
        rc = pbjson_text_string(&e, why ? why : "", why ? strlen(why) : 0);
    if (rc == 0)
        rc = pbjson_buf_put(&e, "}}", 2);
    rc = rc == 0 ? out_line(r, key, e.p, e.len) : -1;
    pbjson_buf_free(&e);
    r->n_errors++;
    return rc;
}

/* Send the next document of src into a free slot. 1 sent (or written as an error line, or
 * skipped), 0 end of input, 2 usage/file error, 3 send error (printed). */
static int feed_one(struct run *r, struct source *src, struct idset *done) {
    int got = source_next(src);
    if (got <= 0)
        return got < 0 ? 2 : 0;
    int added = idset_add(done, src->key);
    if (added < 0)
        return 2;
    if (added == 0) { /* in --out already (resume), or the same id twice in the input */
        r->n_skipped++;
        return 1;
    }
    size_t si = r->free_slots[--r->n_free];
    struct slot *sl = &r->slots[si];
    *sl = (struct slot){.busy = true, .key = src->key, .text = src->text, .len = src->len};
    src->key = src->text = NULL;
    const char *why = NULL;
    int rc = r->send(r->ud, r->cl, next_id(r, si), sl->text, sl->len, &why);
    if (rc == 1) {
        rc = out_input_error(r, sl->key, why);
        slot_release(r, si);
        return rc == 0 ? 1 : 2;
    }
    if (rc != SOCLE_OK) {
        fprintf(stderr, "socle batch: send: %s\n", socle_strerror(rc));
        slot_release(r, si);
        return 3;
    }
    r->in_flight++;
    return 1;
}

/* The daemon is away (the client library's retries are spent): keep the documents, back off,
 * reconnect, resend them all (Paranoid Pirate on the client side). 0, or 3 to give up. */
static int daemon_away(struct run *r, unsigned *waits) {
    const struct batch_opts *o = r->o;
    if (*waits >= o->daemon_waits) {
        fprintf(stderr,
                "socle batch: the daemon (%s) does not answer; %zu results written this "
                "run. Rerun the same command to resume.\n",
                o->endpoint ? o->endpoint : "default endpoint", r->n_done);
        return 3;
    }
    long wait = 1000L << (*waits < 5 ? *waits : 5);
    ++*waits;
    fprintf(stderr, "socle batch: the daemon does not answer; retrying in %.1f s (%u/%u)\n",
            (double)wait / 1000.0, *waits, o->daemon_waits);
    fflush(r->out);
    sleep_ms(wait);
    socle_client_free(r->cl);
    r->cl = NULL;
    if (socle_client_new(o->endpoint, &o->copts, &r->cl) != SOCLE_OK)
        return 3;
    for (size_t si = 0; si < r->window; si++) {
        const char *why = NULL;
        if (r->slots[si].busy && r->send(r->ud, r->cl, next_id(r, si), r->slots[si].text,
                                         r->slots[si].len, &why) != SOCLE_OK)
            return 3;
    }
    return 0;
}

/* Credits: one document per free slot, until the input ends. 0, or 3 (a send error,
 * printed); an input or file error ends the input (r->eof) and is kept in r->input_error, so
 * what is in flight still finishes. */
static int refill(struct run *r) {
    while (!r->eof && r->n_free && !g_stop) {
        int rc = feed_one(r, r->src, r->done);
        if (rc == 0 || rc == 2)
            r->eof = true;
        if (rc == 2)
            r->input_error = 2;
        else if (rc == 3)
            return 3;
    }
    return 0;
}

/* One answer: resend it (queue full, draining) or write its line. 0, or 2/3 (printed). */
static int on_answer(struct run *r, Socle__V1__Response *resp) {
    size_t si = (size_t)(resp->id & ((1u << SLOT_BITS) - 1));
    if (si >= r->window || !r->slots[si].busy) {
        fprintf(stderr, "socle batch: unexpected answer id %llu\n", (unsigned long long)resp->id);
        socle_response_free(resp);
        return 3;
    }
    struct slot *sl = &r->slots[si];
    int code = resp->status ? (int)resp->status->code : 0;
    if ((code == SOCLE__V1__CODE__RESOURCE_EXHAUSTED || code == SOCLE__V1__CODE__UNAVAILABLE) &&
        sl->tries < 8) {
        /* queue full or daemon draining: not this document's fault, send it again */
        socle_response_free(resp);
        sleep_ms(10L << sl->tries);
        sl->tries++;
        const char *why = NULL;
        if (r->send(r->ud, r->cl, next_id(r, si), sl->text, sl->len, &why) != SOCLE_OK) {
            r->in_flight--;
            return 3;
        }
        return 0;
    }
    /* The credit goes back before the line is written: the next document is sent first
     * (refill), then this answer is formatted and written while the daemon works on it. With
     * a fast daemon the run is bound by the round trip, not by CPU, and writing first kept a
     * slot empty for the ~10 µs a 1.5 kB line takes. */
    char *key = sl->key;
    sl->key = NULL;
    slot_release(r, si);
    r->in_flight--;
    int st = refill(r);
    bool failed = false;
    r->res.len = 0;
    int rc = r->result(r->ud, resp, &r->res, &failed);
    socle_response_free(resp);
    rc = rc == 0 ? out_line(r, key, r->res.p, r->res.len) : -1;
    free(key);
    r->n_errors += failed;
    return rc != 0 ? 2 : st;
}

static int open_input(const char *in, bool is_dir, struct source *src) {
    if (is_dir) {
        src->dir = opendir(in);
        src->dirpath = in;
    } else if (in && strcmp(in, "-") != 0) {
        src->f = fopen(in, "rb");
    } else {
        src->f = stdin;
    }
    if (!src->dir && !src->f) {
        fprintf(stderr, "socle batch: %s: %s\n", in, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_output(struct run *r, struct idset *done) {
    size_t unreadable_out = 0;
    if (out_load(r->o->out, done, &unreadable_out) != 0)
        return -1;
    if (unreadable_out)
        fprintf(stderr, "socle batch: %s: %zu lines without an id ignored\n", r->o->out,
                unreadable_out);
    int ofd = open(r->o->out, O_WRONLY | O_APPEND | O_CREAT, 0644);
    r->out = ofd >= 0 ? fdopen(ofd, "ab") : NULL;
    if (!r->out) {
        fprintf(stderr, "socle batch: %s: %s\n", r->o->out, strerror(errno));
        if (ofd >= 0)
            close(ofd);
        return -1;
    }
    /* lines are ~0.1-2 kB: fewer, larger writes (each sync flushes it anyway) */
    setvbuf(r->out, NULL, _IOFBF, 1 << 16);
    if (syncer_start(&r->sync, ofd) != 0) /* then out_flush syncs on this thread */
        fprintf(stderr, "socle batch: no sync thread; syncing inline\n");
    return 0;
}

int batch_run(const struct batch_opts *o, batch_send_fn send, batch_result_fn result, void *ud) {
    int status = 0;
    struct idset done = {0};
    struct source src = {.qa = strcmp(o->task, "qa") == 0};
    struct run r = {.o = o, .send = send, .result = result, .ud = ud, .seq = 1};
    r.window = o->window ? o->window : 32;
    if (r.window >= (1u << SLOT_BITS))
        r.window = (1u << SLOT_BITS) - 1;

    struct stat st;
    bool is_dir = o->in && strcmp(o->in, "-") != 0 && stat(o->in, &st) == 0 && S_ISDIR(st.st_mode);
    if (open_input(o->in, is_dir, &src) != 0)
        return 2;
    r.slots = calloc(r.window, sizeof *r.slots);
    r.free_slots = calloc(r.window, sizeof *r.free_slots);
    if (!r.slots || !r.free_slots || open_output(&r, &done) != 0) {
        status = 2;
        goto end;
    }
    for (size_t i = r.window; i-- > 0;)
        r.free_slots[r.n_free++] = i;
    int rc = socle_client_new(o->endpoint, &o->copts, &r.cl);
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
    unsigned waits = 0;
    r.last_sync = now_s();
    r.src = &src;
    r.done = &done;

    while ((!r.eof || r.in_flight) && !g_stop && status == 0) {
        status = refill(&r);
        if (!r.in_flight || status)
            break;
        Socle__V1__Response *resp = NULL;
        rc = socle_client_recv(r.cl, &resp);
        if (rc == SOCLE_ETIMEDOUT) {
            status = daemon_away(&r, &waits);
            continue;
        }
        if (rc != SOCLE_OK) {
            fprintf(stderr, "socle batch: %s\n", socle_strerror(rc));
            status = 3;
            break;
        }
        waits = 0;
        status = on_answer(&r, resp);
        progress_show(&pg, r.n_done, r.n_skipped, r.n_errors, false);
    }
    if (status == 0)
        status = r.input_error;
    if (out_flush(&r, true) != 0)
        status = 2;
    progress_show(&pg, r.n_done, r.n_skipped, r.n_errors, true);
    if (g_stop && status == 0) {
        fprintf(stderr,
                "socle batch: interrupted; %zu results written. Rerun the same command "
                "to resume.\n",
                r.n_done);
        status = 130;
    }
    if (status == 0 && (r.n_errors || src.bad))
        status = 1;
end:
    for (size_t i = 0; r.slots && i < r.window; i++) {
        free(r.slots[i].key);
        free(r.slots[i].text);
    }
    free(r.slots);
    free(r.free_slots);
    syncer_stop(&r.sync);
    pbjson_buf_free(&r.res);
    socle_client_free(r.cl);
    if (r.out)
        fclose(r.out);
    source_clear(&src);
    free(src.line);
    if (src.tk)
        json_tokener_free(src.tk);
    if (src.f && src.f != stdin)
        fclose(src.f);
    if (src.dir)
        closedir(src.dir);
    idset_free(&done);
    return status;
}
