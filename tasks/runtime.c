/* runtime.c — the loaded model, its tokenizer and the adapter registry.
 *
 * DESIGN. The runtime is shared read-only by every worker. Adapters live in an
 * immutable, reference-counted set: a request (job) takes a reference when it
 * starts, so a reload (SIGHUP) swaps in a new set without waiting for requests
 * in flight and without them seeing a half-loaded state. A reload that fails
 * keeps the old set. Set order: the checkpoint's head, the adapter directories in
 * name order, then the weightless embed and summarize adapters; the default
 * adapter for a task is the first of its kind.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tasks/task_impl.h"

struct task_runtime {
    struct eng_model *model;
    struct tok_tokenizer *tok;
    char *adapters_dir;
    bool wordpiece;
    pthread_mutex_t mu;
    struct task_adapter_set *cur;
    struct task_adapter_set *prev; /* kept one reload longer: task_runtime_adapters' promise */
};

struct task_worker {
    struct eng_ctx *ctx;
    size_t max_tokens;
};

static int errf(char *err, size_t errlen, int rc, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

const char *task_strerror(int status) {
    switch (status) {
    case TASK_OK:
        return "ok";
    case TASK_ENOMEM:
        return "out of memory";
    case TASK_EINVAL:
        return "invalid argument";
    case TASK_ENOTFOUND:
        return "adapter not found";
    case TASK_EUNIMPL:
        return "not available for this model or adapter";
    case TASK_ELIMIT:
        return "limit exceeded";
    case TASK_EIO:
        return "file unreadable";
    case TASK_EFORMAT:
        return "file malformed or inconsistent";
    case TASK_EINTERNAL:
        return "internal error";
    default:
        return "unknown status";
    }
}

const char *task_kind_name(enum task_kind kind) {
    switch (kind) {
    case TASK_CLASSIFY:
        return "classify";
    case TASK_NER:
        return "ner";
    case TASK_QA:
        return "qa";
    case TASK_SUMMARIZE:
        return "summarize";
    case TASK_EMBED:
        return "embed";
    }
    return "unknown";
}

static void set_free(struct task_adapter_set *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        task_head_free(s->heads[i]);
    free(s->heads);
    free(s->infos);
    free(s);
}

static int set_add(struct task_adapter_set *s, struct task_head *h, char *err, size_t errlen) {
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->heads[i]->name, h->name) == 0) {
            int rc = errf(err, errlen, TASK_EFORMAT, "two adapters are named \"%s\" (%s, %s)",
                          h->name, s->heads[i]->source, h->source);
            task_head_free(h);
            return rc;
        }
    }
    struct task_head **p = realloc(s->heads, (s->n + 1) * sizeof(*p));
    if (!p) {
        task_head_free(h);
        return TASK_ENOMEM;
    }
    s->heads = p;
    s->heads[s->n++] = h;
    return TASK_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int set_build(const struct task_runtime *rt, struct task_adapter_set **out, char *err,
                     size_t errlen) {
    const struct eng_model_info *info = eng_model_get_info(rt->model);
    struct task_adapter_set *s = calloc(1, sizeof(*s));
    char **names = NULL;
    size_t n_names = 0;
    DIR *d = NULL;
    int rc = TASK_ENOMEM;
    if (!s)
        return rc;
    s->refs = 1;
    struct task_head *h;
    if (info->head != ENG_HEAD_NONE) {
        if ((rc = task_head_from_checkpoint(rt->model, &h, err, errlen)) != TASK_OK)
            goto fail;
        if ((rc = set_add(s, h, err, errlen)) != TASK_OK)
            goto fail;
    }
    if (rt->adapters_dir) {
        d = opendir(rt->adapters_dir);
        if (!d) {
            rc =
                errf(err, errlen, TASK_EIO, "%s: cannot open adapters directory", rt->adapters_dir);
            goto fail;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            struct stat sb;
            snprintf(path, sizeof(path), "%s/%s/adapter.json", rt->adapters_dir, e->d_name);
            if (stat(path, &sb) != 0)
                continue; /* not an adapter directory */
            char **p = realloc(names, (n_names + 1) * sizeof(*p));
            if (!p)
                goto fail;
            names = p;
            if (!(names[n_names] = task_strdup(e->d_name)))
                goto fail;
            n_names++;
        }
        qsort(names, n_names, sizeof(*names), cmp_str);
        for (size_t i = 0; i < n_names; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", rt->adapters_dir, names[i]);
            if ((rc = task_head_load_dir(path, rt->model, &h, err, errlen)) != TASK_OK)
                goto fail;
            if ((rc = set_add(s, h, err, errlen)) != TASK_OK)
                goto fail;
        }
    }
    static const enum task_kind builtin[] = {TASK_EMBED, TASK_SUMMARIZE};
    for (int i = 0; i < 2; i++) {
        if ((rc = task_head_builtin(builtin[i], &h)) != TASK_OK)
            goto fail;
        h->d_model = (size_t)info->d_model;
        if ((rc = set_add(s, h, err, errlen)) != TASK_OK)
            goto fail;
    }
    if (!(s->infos = calloc(s->n, sizeof(*s->infos)))) {
        rc = TASK_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct task_head *x = s->heads[i];
        s->infos[i] = (struct task_adapter_info){x->name, x->kind, x->n_labels,
                                                 (const char *const *)x->labels, x->source};
    }
    rc = TASK_OK;
    *out = s;
    s = NULL;
fail:
    if (d)
        closedir(d);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    set_free(s);
    return rc;
}

int task_runtime_open(const struct task_runtime_params *params, struct task_runtime **out,
                      char *err, size_t errlen) {
    if (!params || !params->model_dir)
        return errf(err, errlen, TASK_EINVAL, "model_dir is required");
    struct task_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return TASK_ENOMEM;
    pthread_mutex_init(&rt->mu, NULL);
    char sub[512] = "";
    int rc;
    struct eng_model_params mp = eng_model_params_default();
    int erc = eng_model_load(params->model_dir, &mp, &rt->model, sub, sizeof(sub));
    if (erc != ENG_OK) {
        rc = errf(err, errlen, erc == ENG_EIO ? TASK_EIO : TASK_EFORMAT, "model: %s", sub);
        goto fail;
    }
    int trc = tok_tokenizer_load(params->model_dir, &rt->tok, sub, sizeof(sub));
    if (trc != TOK_OK) {
        rc = errf(err, errlen, trc == TOK_EIO ? TASK_EIO : TASK_EFORMAT, "tokenizer: %s", sub);
        goto fail;
    }
    const char *mn = tok_model_name(rt->tok);
    rt->wordpiece = mn && strncmp(mn, "WordPiece", 9) == 0;
    if (params->adapters_dir && !(rt->adapters_dir = task_strdup(params->adapters_dir))) {
        rc = TASK_ENOMEM;
        goto fail;
    }
    if ((rc = set_build(rt, &rt->cur, err, errlen)) != TASK_OK)
        goto fail;
    *out = rt;
    return TASK_OK;
fail:
    task_runtime_free(rt);
    return rc;
}

void task_runtime_free(struct task_runtime *rt) {
    if (!rt)
        return;
    set_free(rt->cur);
    set_free(rt->prev);
    tok_tokenizer_free(rt->tok);
    eng_model_free(rt->model);
    free(rt->adapters_dir);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
}

static void release_locked(struct task_adapter_set *s) {
    if (s && --s->refs == 0)
        set_free(s);
}

int task_runtime_reload_adapters(struct task_runtime *rt, char *err, size_t errlen) {
    struct task_adapter_set *s;
    int rc = set_build(rt, &s, err, errlen);
    if (rc != TASK_OK)
        return rc; /* the old set stays */
    pthread_mutex_lock(&rt->mu);
    release_locked(rt->prev);
    rt->prev = rt->cur;
    rt->cur = s;
    pthread_mutex_unlock(&rt->mu);
    return TASK_OK;
}

struct task_adapter_set *task_runtime_acquire(const struct task_runtime *crt) {
    /* The mutex and reference counts are the only mutable state of a shared runtime. */
    struct task_runtime *rt = (struct task_runtime *)(uintptr_t)crt;
    pthread_mutex_lock(&rt->mu);
    struct task_adapter_set *s = rt->cur;
    s->refs++;
    pthread_mutex_unlock(&rt->mu);
    return s;
}

void task_runtime_retain(const struct task_runtime *crt, struct task_adapter_set *set) {
    struct task_runtime *rt = (struct task_runtime *)(uintptr_t)crt;
    pthread_mutex_lock(&rt->mu);
    set->refs++;
    pthread_mutex_unlock(&rt->mu);
}

void task_runtime_release(const struct task_runtime *crt, struct task_adapter_set *set) {
    struct task_runtime *rt = (struct task_runtime *)(uintptr_t)crt;
    if (!set)
        return;
    pthread_mutex_lock(&rt->mu);
    release_locked(set);
    pthread_mutex_unlock(&rt->mu);
}

const struct tok_tokenizer *task_runtime_tokenizer(const struct task_runtime *rt) {
    return rt->tok;
}

const struct eng_model *task_runtime_model(const struct task_runtime *rt) { return rt->model; }

bool task_runtime_wordpiece(const struct task_runtime *rt) { return rt->wordpiece; }

size_t task_runtime_adapters(const struct task_runtime *crt, const struct task_adapter_info **out) {
    struct task_runtime *rt = (struct task_runtime *)(uintptr_t)crt;
    pthread_mutex_lock(&rt->mu);
    *out = rt->cur->infos;
    size_t n = rt->cur->n;
    pthread_mutex_unlock(&rt->mu);
    return n;
}

int task_set_find(const struct task_adapter_set *set, enum task_kind kind, const char *name,
                  const struct task_head **out, char *err, size_t errlen) {
    for (size_t i = 0; i < set->n; i++) {
        const struct task_head *h = set->heads[i];
        if (name && *name) {
            if (strcmp(h->name, name) != 0)
                continue;
            if (h->kind != kind)
                return errf(err, errlen, TASK_EINVAL, "adapter \"%s\" is a %s adapter, not %s",
                            name, task_kind_name(h->kind), task_kind_name(kind));
        } else if (h->kind != kind) {
            continue;
        }
        *out = h;
        return TASK_OK;
    }
    if (name && *name)
        return errf(err, errlen, TASK_ENOTFOUND, "no adapter named \"%s\"", name);
    return errf(err, errlen, TASK_ENOTFOUND, "no %s adapter is loaded", task_kind_name(kind));
}

int task_worker_new(const struct task_runtime *rt, size_t max_batch_tokens,
                    struct task_worker **out) {
    const struct eng_model_info *info = eng_model_get_info(rt->model);
    if (max_batch_tokens == 0)
        max_batch_tokens = 8192;
    if (max_batch_tokens < (size_t)info->max_seq_len)
        max_batch_tokens = (size_t)info->max_seq_len; /* any single window must fit */
    struct task_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return TASK_ENOMEM;
    int rc = eng_ctx_new(rt->model, max_batch_tokens, &w->ctx);
    if (rc != ENG_OK) {
        free(w);
        return rc == ENG_ENOMEM ? TASK_ENOMEM : TASK_EINTERNAL;
    }
    w->max_tokens = max_batch_tokens;
    *out = w;
    return TASK_OK;
}

void task_worker_free(struct task_worker *w) {
    if (!w)
        return;
    eng_ctx_free(w->ctx);
    free(w);
}

size_t task_worker_max_tokens(const struct task_worker *w) { return w->max_tokens; }

struct eng_ctx *task_worker_ctx(struct task_worker *w) {
    return w->ctx;
}
