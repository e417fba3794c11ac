/* socle-train — train an adapter head on the frozen shared model.
 *
 *   socle-train --model DIR --task classify|ner --train FILE [--dev FILE] [--test FILE]
 *               --out ADAPTER_DIR [--name NAME] [options]
 *
 * DESIGN: the backbone never changes, so it runs exactly once over every example
 * (train, dev, test): the features it produces — one pooled vector per text for
 * classify, one vector per word (its first sub-token) for NER, from the last
 * layer or from the last K layers for a learned scalar mix — stay in memory
 * (bounded by --max-feature-mb) and every epoch only runs the head. Tokenization
 * and windows follow what socled does at inference (tasks/job.c): classify sees
 * the head of the text ([CLS] … [SEP], max_seq_len tokens); NER sentences are
 * joined with single spaces. The adapter written is the format tasks/adapter.c
 * loads (docs/adapters.md), so `socled` serves it as is.
 */
#include "engine/eng.h"
#include "tasks/task_impl.h"
#include "tokenizer/tok.h"
#include "tools/eval/metrics.h"
#include "tools/eval/readers.h"
#include "tools/train/trainer.h"

#include <errno.h>
#include <json-c/json.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum task { T_NONE, T_CLASSIFY, T_NER, T_QA };
enum pool { P_CLS, P_MEAN, P_POOLER };

struct opts {
    enum task task;
    const char *model, *train, *dev, *test, *out, *name, *format, *labels, *cache;
    const char *text_field, *label_field;
    bool no_header, quiet, progress, metric_acc;
    enum pool pool;
    size_t layers, hidden, epochs, batch, patience, max_seq, threads, max_feature_mb;
    double lr, wd, warmup, dev_ratio, test_ratio;
    uint64_t seed;
    bool mlp, lr_set, multi_label, ml_macro;
    bool summarize, pool_set; /* --task summarize: a sentence scorer trained as classify */
    double threshold; /* multi-label decision threshold of the dev metric */
    char label_sep;   /* multi-label CSV/TSV: separator inside the label column ('|') */
    enum tr_act act;
    /* qa */
    size_t doc_stride, max_question_len, max_answer_len;
    int qa_metric; /* 0 = F1, 1 = exact match, 2 = dev loss */
    bool lang_fr, print_targets;
    struct ev_limits limits;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* After training (Linux): resident memory split into anonymous (heap: features
 * held in RAM) and file-backed (the mapped model and feature cache: clean pages
 * the kernel may drop and read again), so the effect of --feature-cache shows. */
static void mem_report(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long anon = -1, file = -1;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "RssAnon:", 8))
            anon = strtol(line + 8, NULL, 10);
        else if (!strncmp(line, "RssFile:", 8))
            file = strtol(line + 8, NULL, 10);
    }
    fclose(f);
    if (anon >= 0 && file >= 0)
        fprintf(stderr, "memory: %.0f MiB anonymous, %.0f MiB file-backed (model, feature cache)\n",
                (double)anon / 1024.0, (double)file / 1024.0);
}

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: socle-train --model DIR --task classify|ner|qa|summarize --train FILE --out DIR "
        "[options]\n"
        "\n"
        "data\n"
        "  --dev FILE / --test FILE   evaluation sets (default: --dev-ratio of train)\n"
        "  --dev-ratio R              held-out share of train when no --dev (default 0.1)\n"
        "  --test-ratio R             held-out test share of train when no --test (default 0)\n"
        "  --format F                 jsonl | csv | tsv (classify), conll | spans (ner);\n"
        "                             qa: SQuAD JSON v1.1 / v2.0 (dev/test split by context)\n"
        "                             summarize: JSONL {\"text\", \"summary\"}: each sentence\n"
        "                             (the summarizer's splitter) is an example, labelled\n"
        "                             summary when the reference contains it, else other;\n"
        "                             mean pooling; the adapter scores sentences for socled\n"
        "  --text-field F --label-field F --no-header   as socle-eval\n"
        "  --labels a,b,c             fixed label set and order (default: from train, sorted)\n"
        "  --multi-label              classify: JSONL \"label\" is a list; sigmoid + binary\n"
        "                             cross-entropy per label, adapter \"multi_label\": true\n"
        "                             CSV/TSV: the label column lists the labels separated\n"
        "                             by --label-sep C (default '|'); empty = no label\n"
        "  --threshold X              multi-label decision threshold of the dev metric (0.5)\n"
        "  --max-examples N --max-bytes N\n"
        "head\n"
        "  --name NAME                adapter name (default: the --out directory's name)\n"
        "  --head linear|mlp          (default linear)\n"
        "  --hidden N                 MLP width (default 256)\n"
        "  --activation tanh|gelu|relu  MLP activation (default gelu)\n"
        "  --pooling cls|mean|pooler  classify pooling (default cls)\n"
        "  --layers K                 scalar mix of the last K hidden states (default 1)\n"
        "training\n"
        "  --epochs N (default 10)  --batch N (default 32)  --lr X (linear 5e-3, mlp 1e-3)\n"
        "  --weight-decay X (0.01)  --warmup R (0.1)  --patience N (3; 0 = no early stop)\n"
        "  --seed N (42)  --metric macro_f1|accuracy (classify), f1|em|loss (qa; default f1),\n"
        "                 micro_f1 (default)|macro_f1|accuracy (multi-label: subset accuracy)\n"
        "qa\n"
        "  --doc-stride N (128)  --max-question-len N (64)  --max-answer-len N (15, dev decoding)\n"
        "  --lang en|fr               SQuAD normalization of the dev metric (default en)\n"
        "  --print-targets            print each training window's target span\n"
        "model\n"
        "  --max-seq-len N            tokens per sequence (default: the model's maximum; qa 384)\n"
        "  --threads N                BLAS threads for the features pass (default 2)\n"
        "  --max-feature-mb N         refuse a features cache larger than N MiB (4096)\n"
        "  --feature-cache FILE       features go to FILE (memory-mapped for the epochs, not held\n"
        "                             in RAM: no --max-feature-mb limit); a rerun with the same\n"
        "                             model, data, layers, pooling, windows and split maps it\n"
        "                             instead of running the model (--features-cache: same)\n"
        "  --quiet                    no progress lines\n");
}

static int num(const char *s, double *out) {
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || *e || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int unum(const char *s, size_t *out) {
    double v;
    if (num(s, &v) || v != floor(v) || v > 1e15)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof(*o));
    o->layers = 1;
    o->hidden = 256;
    o->epochs = 10;
    o->batch = 32;
    o->patience = 3;
    o->threads = 2;
    o->max_feature_mb = 4096;
    o->wd = 0.01;
    o->warmup = 0.1;
    o->dev_ratio = 0.1;
    o->seed = 42;
    o->act = TR_ACT_GELU;
    o->doc_stride = 128;
    o->threshold = 0.5;
    o->max_question_len = 64;
    o->label_sep = '|';
    o->max_answer_len = 15;
    o->progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t z;
#define ARG(n) (strcmp(a, n) == 0 && v && (i++, 1))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (ARG("--task")) {
            o->summarize = !strcmp(v, "summarize");
            o->task = !strcmp(v, "classify") || o->summarize ? T_CLASSIFY
                      : !strcmp(v, "ner")                    ? T_NER
                      : !strcmp(v, "qa")                     ? T_QA
                                                             : T_NONE;
            if (o->task == T_NONE) {
                fprintf(stderr, "socle-train: --task classify|ner|qa|summarize\n");
                return -1;
            }
        } else if (ARG("--model"))
            o->model = v;
        else if (ARG("--train"))
            o->train = v;
        else if (ARG("--dev"))
            o->dev = v;
        else if (ARG("--test"))
            o->test = v;
        else if (ARG("--out"))
            o->out = v;
        else if (ARG("--name"))
            o->name = v;
        else if (ARG("--format"))
            o->format = v;
        else if (ARG("--labels"))
            o->labels = v;
        else if (ARG("--feature-cache") || ARG("--features-cache"))
            o->cache = v;
        else if (ARG("--text-field"))
            o->text_field = v;
        else if (ARG("--label-field"))
            o->label_field = v;
        else if (!strcmp(a, "--no-header"))
            o->no_header = true;
        else if (!strcmp(a, "--quiet"))
            o->quiet = true, o->progress = false;
        else if (ARG("--head")) {
            if (strcmp(v, "linear") && strcmp(v, "mlp"))
                goto bad;
            o->mlp = !strcmp(v, "mlp");
        } else if (ARG("--activation")) {
            if (!strcmp(v, "tanh"))
                o->act = TR_ACT_TANH;
            else if (!strcmp(v, "gelu"))
                o->act = TR_ACT_GELU;
            else if (!strcmp(v, "relu"))
                o->act = TR_ACT_RELU;
            else
                goto bad;
        } else if (ARG("--pooling")) {
            o->pool_set = true;
            if (!strcmp(v, "cls"))
                o->pool = P_CLS;
            else if (!strcmp(v, "mean"))
                o->pool = P_MEAN;
            else if (!strcmp(v, "pooler"))
                o->pool = P_POOLER;
            else
                goto bad;
        } else if (ARG("--metric")) {
            if (!strcmp(v, "accuracy"))
                o->metric_acc = true;
            else if (!strcmp(v, "micro_f1"))
                o->ml_macro = false;
            else if (!strcmp(v, "f1"))
                o->qa_metric = 0;
            else if (!strcmp(v, "em"))
                o->qa_metric = 1;
            else if (!strcmp(v, "loss"))
                o->qa_metric = 2;
            else if (!strcmp(v, "macro_f1"))
                o->ml_macro = true;
            else
                goto bad;
        } else if (ARG("--threshold")) {
            if (num(v, &o->threshold) || o->threshold <= 0 || o->threshold >= 1)
                goto bad;
        } else if (ARG("--doc-stride")) {
            if (unum(v, &o->doc_stride))
                goto bad;
        } else if (ARG("--max-question-len")) {
            if (unum(v, &o->max_question_len) || !o->max_question_len)
                goto bad;
        } else if (ARG("--max-answer-len")) {
            if (unum(v, &o->max_answer_len) || !o->max_answer_len)
                goto bad;
        } else if (ARG("--lang")) {
            if (strcmp(v, "en") && strcmp(v, "fr"))
                goto bad;
            o->lang_fr = !strcmp(v, "fr");
        } else if (!strcmp(a, "--print-targets")) {
            o->print_targets = true;
        } else if (ARG("--label-sep")) {
            if (strlen(v) != 1 || v[0] == '\n' || v[0] == '\x1f')
                goto bad;
            o->label_sep = v[0];
        } else if (!strcmp(a, "--multi-label")) {
            o->multi_label = true;
        } else if (ARG("--layers")) {
            if (unum(v, &o->layers) || !o->layers || o->layers > 64)
                goto bad;
        } else if (ARG("--hidden")) {
            if (unum(v, &o->hidden) || !o->hidden)
                goto bad;
        } else if (ARG("--epochs")) {
            if (unum(v, &o->epochs) || !o->epochs)
                goto bad;
        } else if (ARG("--batch")) {
            if (unum(v, &o->batch) || !o->batch)
                goto bad;
        } else if (ARG("--patience")) {
            if (unum(v, &o->patience))
                goto bad;
        } else if (ARG("--max-seq-len")) {
            if (unum(v, &o->max_seq) || o->max_seq < 4)
                goto bad;
        } else if (ARG("--threads")) {
            if (unum(v, &o->threads) || !o->threads)
                goto bad;
        } else if (ARG("--max-feature-mb")) {
            if (unum(v, &o->max_feature_mb))
                goto bad;
        } else if (ARG("--max-examples")) {
            if (unum(v, &o->limits.max_examples))
                goto bad;
        } else if (ARG("--max-bytes")) {
            if (unum(v, &o->limits.max_bytes))
                goto bad;
        } else if (ARG("--seed")) {
            if (unum(v, &z))
                goto bad;
            o->seed = z;
        } else if (ARG("--lr")) {
            if (num(v, &o->lr) || o->lr <= 0)
                goto bad;
            o->lr_set = true;
        } else if (ARG("--weight-decay")) {
            if (num(v, &o->wd))
                goto bad;
        } else if (ARG("--warmup")) {
            if (num(v, &o->warmup) || o->warmup > 1)
                goto bad;
        } else if (ARG("--dev-ratio")) {
            if (num(v, &o->dev_ratio) || o->dev_ratio >= 1)
                goto bad;
        } else if (ARG("--test-ratio")) {
            if (num(v, &o->test_ratio) || o->test_ratio >= 1)
                goto bad;
        } else {
            fprintf(stderr, "socle-train: unknown or incomplete option '%s' (see --help)\n", a);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "socle-train: bad value for %s: '%s'\n", a, v);
        return -1;
#undef ARG
    }
    if (o->task == T_NONE || !o->model || !o->train || !o->out) {
        fprintf(stderr,
                "socle-train: --task, --model, --train and --out are required (see --help)\n");
        return -1;
    }
    if (o->multi_label && (o->task != T_CLASSIFY || o->summarize)) {
        fprintf(stderr, "socle-train: --multi-label is for --task classify\n");
        return -1;
    }
    if (o->summarize) { /* the summarizer pools each sentence by its mean (tasks/job.c) */
        if (o->pool_set && o->pool != P_MEAN) {
            fprintf(stderr, "socle-train: --task summarize pools by the mean (no --pooling)\n");
            return -1;
        }
        o->pool = P_MEAN;
        if (!o->labels)
            o->labels = "other,summary";
    }
    if (o->pool == P_POOLER && o->layers > 1) {
        fprintf(stderr, "socle-train: --pooling pooler reads the last layer only (no --layers)\n");
        return -1;
    }
    if (!o->lr_set)
        o->lr = o->mlp ? 1e-3 : 5e-3;
    if (o->dev && o->dev_ratio == 0.1)
        o->dev_ratio = 0;
    return 0;
}

/* ---- the frozen model ---- */

struct backbone {
    struct eng_model *model;
    struct tok_tokenizer *tok;
    struct eng_ctx *ctx;
    const struct eng_model_info *info;
    size_t max_seq, max_tokens;
    unsigned want;
    size_t n_mix; /* layers in a feature */
};

static int backbone_open(const struct opts *o, struct backbone *b) {
    char err[512] = "";
    memset(b, 0, sizeof(*b));
    struct eng_model_params mp = eng_model_params_default();
    mp.load_head = false;
    int st = eng_model_load(o->model, &mp, &b->model, err, sizeof(err));
    if (st != ENG_OK) {
        fprintf(stderr, "socle-train: model %s: %s (%s)\n", o->model, err, eng_strerror(st));
        return -1;
    }
    st = tok_tokenizer_load(o->model, &b->tok, err, sizeof(err));
    if (st != TOK_OK) {
        fprintf(stderr, "socle-train: tokenizer in %s: %s (%s)\n", o->model, err, tok_strerror(st));
        return -1;
    }
    b->info = eng_model_get_info(b->model);
    if (o->pool == P_POOLER && o->task == T_CLASSIFY && !b->info->has_pooler) {
        fprintf(stderr, "socle-train: --pooling pooler but the model has no pooler\n");
        return -1;
    }
    if ((int)o->layers > b->info->n_layers + 1) {
        fprintf(stderr, "socle-train: --layers %zu but the model has %d hidden states\n", o->layers,
                b->info->n_layers + 1);
        return -1;
    }
    b->max_seq = (size_t)b->info->max_seq_len;
    size_t want_seq = o->max_seq ? o->max_seq : o->task == T_QA ? 384 : 0; /* socled's qa default */
    if (want_seq && want_seq < b->max_seq)
        b->max_seq = want_seq;
    b->max_tokens = b->max_seq > 4096 ? b->max_seq : 4096;
    eng_set_blas_threads((int)o->threads);
    st = eng_ctx_new(b->model, b->max_tokens, &b->ctx);
    if (st != ENG_OK) {
        fprintf(stderr, "socle-train: engine context: %s\n", eng_strerror(st));
        return -1;
    }
    b->n_mix = o->layers;
    b->want = ENG_WANT_HIDDEN;
    if (o->layers > 1)
        b->want |= ENG_WANT_ALL_LAYERS;
    if (o->pool == P_POOLER && o->task == T_CLASSIFY)
        b->want |= ENG_WANT_POOLER;
    return 0;
}

static void backbone_close(struct backbone *b) {
    eng_ctx_free(b->ctx);
    tok_tokenizer_free(b->tok);
    eng_model_free(b->model);
}

/* One example's model input. For NER, word_tok[w] = index (in the sequence) of
 * word w's first token, or -1 when truncation dropped the word. */
struct unit {
    size_t ex;
    struct tok_encoding *enc;
    int32_t *word_tok;
    size_t n_words;
};

struct fcache;

/* A feature set: n rows of (n_mix, d) floats and their labels. The rows live in
 * RAM (x) or, with --feature-cache, in the cache file: written there as they are
 * computed (through the small staging buffer), then read through a read-only
 * mapping (mx), so the epochs page them in from disk as they go. */
struct featset {
    size_t n, cap;
    float *x;
    int32_t *y;
    size_t *sent;      /* NER: sentence index of each row */
    size_t *word;      /* NER: word index */
    struct fcache *fc; /* file-backed when set */
    const float *mx;   /* (n, row) rows in the mapped cache file */
    float *stage;      /* rows waiting to be written to the cache */
    size_t stage_cap;  /* rows */
};

/* The rows of f, wherever they live. */
static const float *featset_rows(const struct featset *f) { return f->mx ? f->mx : f->x; }

static int featset_reserve(struct featset *f, size_t n, size_t row, size_t max_bytes) {
    if (n <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 1024;
    while (cap < n)
        cap *= 2;
    if (!f->fc && row && (double)cap * (double)row * 4.0 > (double)max_bytes) {
        cap = n;
        if ((double)cap * (double)row * 4.0 > (double)max_bytes)
            return -2;
    }
    if (!f->fc && row) { /* a file-backed set (or row 0) keeps only the labels in RAM */
        float *x = realloc(f->x, cap * row * sizeof(float));
        if (!x)
            return -1;
        f->x = x;
    }
    int32_t *y = realloc(f->y, cap * sizeof(int32_t));
    if (!y)
        return -1;
    f->y = y;
    size_t *s = realloc(f->sent, cap * sizeof(size_t));
    if (!s)
        return -1;
    f->sent = s;
    size_t *w = realloc(f->word, cap * sizeof(size_t));
    if (!w)
        return -1;
    f->word = w;
    f->cap = cap;
    return 0;
}

static int fcache_put(struct fcache *c, const float *rows, size_t n, size_t row);

/* Room for k more rows: where to write them (commit with featset_commit). */
static float *featset_add(struct featset *f, size_t k, size_t row, size_t max_bytes) {
    if (featset_reserve(f, f->n + k, row, max_bytes) != 0)
        return NULL;
    if (!f->fc)
        return f->x + f->n * row;
    if (k > f->stage_cap) {
        float *st = realloc(f->stage, k * row * sizeof(float));
        if (!st)
            return NULL;
        f->stage = st;
        f->stage_cap = k;
    }
    return f->stage;
}

static int featset_commit(struct featset *f, size_t k, size_t row) {
    if (f->fc && fcache_put(f->fc, f->stage, k, row) != 0)
        return -1;
    f->n += k;
    return 0;
}

static void featset_clear(struct featset *f) {
    free(f->stage);
    free(f->x);
    free(f->y);
    free(f->sent);
    free(f->word);
    memset(f, 0, sizeof(*f));
}

/* Copy hidden state rows into a feature row (n_mix, d): layer kk of the last
 * n_mix hidden states, token t (absolute index in the batch). */
static void take_token(const struct backbone *b, const struct eng_output *out, size_t t,
                       float *dst) {
    size_t d = (size_t)b->info->d_model, L = (size_t)b->info->n_layers;
    if (b->n_mix == 1) {
        memcpy(dst, out->last_hidden + t * d, d * sizeof(float));
        return;
    }
    for (size_t k = 0; k < b->n_mix; k++) {
        size_t layer = L + 1 - b->n_mix + k;
        memcpy(dst + k * d, out->all_layers + (layer * out->n_tokens + t) * d, d * sizeof(float));
    }
}

struct pass {
    const struct opts *o;
    struct backbone *b;
    enum task task;
    struct featset *fs;
    const int32_t *labels_cls;  /* classify: label id of example i */
    int32_t *const *labels_ner; /* ner: label ids of the words of sentence i */
    size_t max_bytes;
    size_t n_dropped_words, n_truncated;
};

/* Run one packed batch of units and append their features. */
static int run_batch(struct pass *p, struct unit *u, size_t nu) {
    struct backbone *b = p->b;
    size_t n_tok = 0;
    for (size_t i = 0; i < nu; i++)
        n_tok += u[i].enc->n_tokens;
    size_t *lens = malloc(nu * sizeof(*lens));
    int32_t *ids = malloc(n_tok * sizeof(*ids)), *tids = malloc(n_tok * sizeof(*tids));
    int rc = -1;
    if (!lens || !ids || !tids)
        goto done;
    size_t off = 0;
    for (size_t i = 0; i < nu; i++) {
        lens[i] = u[i].enc->n_tokens;
        memcpy(ids + off, u[i].enc->ids, lens[i] * sizeof(int32_t));
        memcpy(tids + off, u[i].enc->type_ids, lens[i] * sizeof(int32_t));
        off += lens[i];
    }
    struct eng_batch batch = {nu, lens, ids, tids};
    struct eng_output out;
    int st = eng_ctx_forward(b->ctx, &batch, b->want, &out);
    if (st != ENG_OK) {
        fprintf(stderr, "socle-train: forward: %s\n", eng_strerror(st));
        goto done;
    }
    size_t d = (size_t)b->info->d_model, row = b->n_mix * d;
    off = 0;
    for (size_t i = 0; i < nu; i++) {
        size_t n = lens[i];
        if (p->task == T_CLASSIFY) {
            float *dst = featset_add(p->fs, 1, row, p->max_bytes);
            if (!dst)
                goto oom;
            if (p->o->pool == P_POOLER) {
                memcpy(dst, out.pooler + i * d, d * sizeof(float));
            } else if (p->o->pool == P_CLS) {
                take_token(b, &out, off, dst);
            } else { /* mean over every row, specials included (tasks' task_pool) */
                float *tmp = malloc(row * sizeof(float));
                double *acc = calloc(row, sizeof(double));
                if (!tmp || !acc) {
                    free(tmp);
                    free(acc);
                    goto done;
                }
                for (size_t t = 0; t < n; t++) {
                    take_token(b, &out, off + t, tmp);
                    for (size_t j = 0; j < row; j++)
                        acc[j] += tmp[j];
                }
                for (size_t j = 0; j < row; j++)
                    dst[j] = (float)(acc[j] / (double)n);
                free(tmp);
                free(acc);
            }
            p->fs->y[p->fs->n] = p->labels_cls[u[i].ex];
            p->fs->sent[p->fs->n] = u[i].ex;
            p->fs->word[p->fs->n] = 0;
            if (featset_commit(p->fs, 1, row) != 0)
                goto io;
        } else {
            for (size_t w = 0; w < u[i].n_words; w++) {
                if (u[i].word_tok[w] < 0)
                    continue;
                float *dst = featset_add(p->fs, 1, row, p->max_bytes);
                if (!dst)
                    goto oom;
                take_token(b, &out, off + (size_t)u[i].word_tok[w], dst);
                p->fs->y[p->fs->n] = p->labels_ner[u[i].ex][w];
                p->fs->sent[p->fs->n] = u[i].ex;
                p->fs->word[p->fs->n] = w;
                if (featset_commit(p->fs, 1, row) != 0)
                    goto io;
            }
        }
        off += n;
    }
    rc = 0;
    goto done;
io:
    fprintf(stderr, "socle-train: cannot write the feature cache %s: %s\n", p->o->cache,
            strerror(errno));
    goto done;
oom:
    fprintf(stderr,
            "socle-train: the features would exceed --max-feature-mb %zu MiB (or memory is "
            "short); use --max-examples, fewer --layers, --feature-cache FILE, or raise the "
            "limit\n",
            p->o->max_feature_mb);
done:
    free(lens);
    free(ids);
    free(tids);
    return rc;
}

/* Encode example i into u (classify: the text; ner: the words joined by spaces). */
static int encode_unit(struct pass *p, size_t i, const char *text, size_t len,
                       const char *const *words, size_t n_words, struct unit *u) {
    struct tok_encode_params tp = tok_encode_params_default();
    tp.add_special_tokens = true;
    tp.use_file_truncation = false;
    tp.max_length = p->b->max_seq; /* the head of the text, as socled's classify window */
    char *joined = NULL;
    size_t *ws = NULL, *we = NULL;
    memset(u, 0, sizeof(*u));
    u->ex = i;
    if (words) {
        size_t tl = 0;
        for (size_t w = 0; w < n_words; w++)
            tl += strlen(words[w]) + 1;
        joined = malloc(tl + 1);
        ws = malloc((n_words + 1) * sizeof(*ws));
        we = malloc((n_words + 1) * sizeof(*we));
        u->word_tok = malloc((n_words + 1) * sizeof(*u->word_tok));
        if (!joined || !ws || !we || !u->word_tok)
            goto oom;
        size_t off = 0;
        for (size_t w = 0; w < n_words; w++) {
            size_t l = strlen(words[w]);
            if (w)
                joined[off++] = ' ';
            ws[w] = off;
            memcpy(joined + off, words[w], l);
            off += l;
            we[w] = off;
            u->word_tok[w] = -1;
        }
        joined[off] = '\0';
        text = joined;
        len = off;
        u->n_words = n_words;
    }
    size_t bad = 0;
    int st = tok_encode(p->b->tok, text, len, NULL, 0, &tp, &u->enc, &bad);
    if (st != TOK_OK) {
        fprintf(stderr, "socle-train: example %zu: cannot tokenize (%s at byte %zu)\n", i + 1,
                tok_strerror(st), bad);
        free(joined);
        free(ws);
        free(we);
        free(u->word_tok);
        u->word_tok = NULL;
        return -1;
    }
    if (u->enc->n_overflowing || u->enc->n_tokens >= p->b->max_seq)
        p->n_truncated++;
    if (words) {
        size_t nt = u->enc->n_tokens;
        uint32_t *ts = malloc((nt ? nt : 1) * sizeof(*ts));
        if (!ts)
            goto oom;
        for (size_t t = 0; t < nt; t++)
            ts[t] = u->enc->offsets[t].start;
        tr_word_first_tokens(ts, u->enc->special_mask, nt, we, n_words, u->word_tok);
        free(ts);
        for (size_t k = 0; k < n_words; k++)
            p->n_dropped_words += u->word_tok[k] < 0;
    }
    free(joined);
    free(ws);
    free(we);
    return 0;
oom:
    free(joined);
    free(ws);
    free(we);
    free(u->word_tok);
    u->word_tok = NULL;
    return -1;
}

/* The features pass over n examples (texts, or word lists). */
static int features(struct pass *p, size_t n, const char *const *texts,
                    const char *const *const *words, const size_t *n_words, const char *what) {
    struct unit *u = calloc(p->b->max_tokens, sizeof(*u));
    size_t nu = 0, n_tok = 0;
    double t0 = now_s(), last = t0;
    int rc = -1;
    if (!u)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct unit cur;
        if (encode_unit(p, i, texts ? texts[i] : NULL, texts ? strlen(texts[i]) : 0,
                        words ? words[i] : NULL, words ? n_words[i] : 0, &cur) != 0)
            goto done;
        if (nu > 0 && n_tok + cur.enc->n_tokens > p->b->max_tokens) {
            if (run_batch(p, u, nu) != 0) {
                tok_encoding_free(cur.enc);
                free(cur.word_tok);
                goto done;
            }
            for (size_t k = 0; k < nu; k++) {
                tok_encoding_free(u[k].enc);
                free(u[k].word_tok);
            }
            nu = n_tok = 0;
        }
        u[nu++] = cur;
        n_tok += cur.enc->n_tokens;
        double t = now_s();
        if (p->o->progress && t - last > 0.5) {
            double rate = (double)(i + 1) / (t - t0);
            fprintf(stderr, "\r  features %s: %zu/%zu  %.1f ex/s  ETA %.0fs   ", what, i + 1, n,
                    rate, (double)(n - i - 1) / rate);
            last = t;
        }
    }
    if (nu > 0 && run_batch(p, u, nu) != 0)
        goto done;
    rc = 0;
done:
    for (size_t k = 0; k < nu; k++) {
        tok_encoding_free(u[k].enc);
        free(u[k].word_tok);
    }
    free(u);
    if (p->o->progress)
        fprintf(stderr, "\r%70s\r", "");
    return rc;
}

/* ---- label tables ---- */

static int labels_from_list(const char *list, struct ev_labels *l) {
    for (const char *p = list; *p;) {
        const char *q = strchr(p, ',');
        size_t k = q ? (size_t)(q - p) : strlen(p);
        char tmp[512];
        if (k == 0 || k >= sizeof(tmp))
            return -1;
        memcpy(tmp, p, k);
        tmp[k] = '\0';
        if (ev_labels_find(l, tmp, true) < 0)
            return -1;
        p += k + (q != NULL);
    }
    return 0;
}

/* ---- evaluation of a trained head on a feature set ---- */

struct eval_ctx {
    const struct opts *o;
    const struct featset *fs;
    const struct ev_labels *labels;
    /* classify */
    const struct ev_cls_data *cls;
    /* ner */
    const struct ev_ner_data *ner;
    double acc, macro_f1, micro_p, micro_r, micro_f1;
};

/* Predicted label id of every row. */
static int predict_rows(const struct tr_head *h, const struct featset *fs, int32_t *pred) {
    struct tr_scratch *s = NULL;
    float *lg = malloc(h->cfg.n_out * sizeof(float));
    if (!lg || tr_scratch_new(&h->cfg, &s) != TR_OK) {
        free(lg);
        return -1;
    }
    size_t row = h->cfg.n_mix * h->cfg.d_model;
    for (size_t i = 0; i < fs->n; i++) {
        tr_head_forward(h, featset_rows(fs) + i * row, lg, s);
        pred[i] = (int32_t)tr_argmax(lg, h->cfg.n_out);
    }
    free(lg);
    tr_scratch_free(s);
    return 0;
}

static int eval_cls(const struct tr_head *h, struct eval_ctx *e) {
    const struct featset *fs = e->fs;
    int32_t *pred = malloc((fs->n ? fs->n : 1) * sizeof(*pred));
    int32_t *gold = malloc((fs->n ? fs->n : 1) * sizeof(*gold));
    struct ev_labels ext = {0};
    int rc = -1;
    if (!pred || !gold || predict_rows(h, fs, pred) != 0)
        goto done;
    /* Gold labels unseen in train get ids after the trained ones: always wrong. */
    for (size_t i = 0; i < e->labels->n; i++)
        ev_labels_find(&ext, e->labels->names[i], true);
    for (size_t i = 0; i < fs->n; i++)
        gold[i] = ev_labels_find(&ext, e->cls->ex[fs->sent[i]].label, true);
    struct ev_cls_report r;
    if (ev_cls_score(gold, pred, fs->n, ext.n, &r) != EV_OK)
        goto done;
    e->acc = r.accuracy;
    e->macro_f1 = r.macro_f1;
    ev_cls_report_clear(&r);
    rc = 0;
done:
    free(pred);
    free(gold);
    ev_labels_clear(&ext);
    return rc;
}

static int eval_ner(const struct tr_head *h, struct eval_ctx *e) {
    const struct featset *fs = e->fs;
    const struct ev_ner_data *nd = e->ner;
    int32_t *pred = malloc((fs->n ? fs->n : 1) * sizeof(*pred));
    struct ev_ner *sc = NULL;
    int rc = -1;
    if (!pred || predict_rows(h, fs, pred) != 0 || ev_ner_new(EV_NER_STRICT, &sc) != EV_OK)
        goto done;
    size_t r = 0;
    for (size_t si = 0; si < nd->n; si++) {
        const struct ev_ner_sentence *s = &nd->s[si];
        const char **tags = malloc((s->n ? s->n : 1) * sizeof(*tags));
        if (!tags)
            goto done;
        for (size_t w = 0; w < s->n; w++)
            tags[w] = "O"; /* words truncation dropped are predicted O */
        while (r < fs->n && fs->sent[r] == si) {
            tags[fs->word[r]] = e->labels->names[pred[r]];
            r++;
        }
        size_t bad = 0;
        int st = ev_ner_add_tags(sc, (const char *const *)s->tags, tags, s->n, &bad);
        free(tags);
        if (st != EV_OK)
            goto done;
    }
    struct ev_ner_report rep;
    if (ev_ner_report(sc, &rep) != EV_OK)
        goto done;
    e->micro_p = rep.micro.precision;
    e->micro_r = rep.micro.recall;
    e->micro_f1 = rep.micro.f1;
    e->macro_f1 = rep.macro_f1;
    e->acc = rep.token_accuracy;
    ev_ner_report_clear(&rep);
    rc = 0;
done:
    free(pred);
    ev_ner_free(sc);
    return rc;
}

static int eval_ml(const struct tr_head *h, struct eval_ctx *e);

static double dev_metric(const struct tr_head *h, void *ud) {
    struct eval_ctx *e = ud;
    if (e->o->multi_label) {
        if (eval_ml(h, e) != 0)
            return -1;
        return e->o->metric_acc ? e->acc : e->o->ml_macro ? e->macro_f1 : e->micro_f1;
    }
    if (e->ner) {
        if (eval_ner(h, e) != 0)
            return -1;
        return e->micro_f1;
    }
    if (eval_cls(h, e) != 0)
        return -1;
    return e->o->metric_acc ? e->acc : e->macro_f1;
}

static void on_progress(const struct tr_epoch_info *e, void *ud) {
    const struct opts *o = ud;
    if (o->quiet)
        return;
    if (!e->end_of_epoch) {
        if (o->progress)
            fprintf(stderr, "\r  epoch %zu/%zu  step %zu/%zu  loss %.4f  %.0f ex/s   ", e->epoch,
                    e->n_epochs, e->step, e->total_steps, e->loss, e->examples_per_s);
        return;
    }
    if (o->progress)
        fprintf(stderr, "\r%78s\r", "");
    double eta = e->seconds * (double)(e->n_epochs - e->epoch);
    fprintf(stderr, "epoch %2zu/%zu  loss %.4f  dev %s %.4f%s  %.2fs  %.0f ex/s  ETA %.0fs (max)\n",
            e->epoch, e->n_epochs, e->loss,
            o->task == T_NER  ? "F1"
            : o->task == T_QA ? (o->qa_metric == 2 ? "-loss"
                                 : o->qa_metric    ? "EM"
                                                   : "F1")
            : o->metric_acc   ? "acc"
                              : "macro-F1",
            e->dev_metric, e->improved ? " *" : "", e->seconds, e->examples_per_s, eta);
}

/* ---- data split ---- */

/* Deterministic split of n indices: a seeded shuffle, then [dev | test | train]. */
static void split_indices(size_t n, uint64_t seed, size_t n_dev, size_t n_test, uint8_t *part) {
    size_t *idx = malloc(n * sizeof(*idx));
    if (!idx)
        return;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = n; i > 1; i--) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        size_t j = (size_t)(s % i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    for (size_t k = 0; k < n; k++)
        part[idx[k]] = k < n_dev ? 1 : k < n_dev + n_test ? 2 : 0;
    free(idx);
}

/* ---- feature cache (--feature-cache) ---- */

/* Everything the features depend on; a cache whose key differs is recomputed. */
static void cache_key(const struct opts *o, const struct ev_labels *labels, size_t max_seq,
                      char *key, size_t n) {
    size_t k = 0;
    const char *files[3] = {o->train, o->dev, o->test};
    k += (size_t)snprintf(key + k, n - k,
                          "socle-train-features/2|model=%s|task=%d|layers=%zu|pool=%d|"
                          "seq=%zu|stride=%zu|maxq=%zu|max=%zu|dev=%g|test=%g|seed=%llu|fmt=%s|"
                          "tf=%s|lf=%s|nh=%d",
                          o->model, (int)o->task, o->layers, (int)o->pool, max_seq, o->doc_stride,
                          o->max_question_len, o->limits.max_examples, o->dev_ratio, o->test_ratio,
                          (unsigned long long)o->seed, o->format ? o->format : "",
                          o->text_field ? o->text_field : "", o->label_field ? o->label_field : "",
                          (int)o->no_header);
    char mpath[4200];
    snprintf(mpath, sizeof(mpath), "%s/model.safetensors", o->model);
    struct stat st;
    if (k < n && stat(mpath, &st) == 0)
        k += (size_t)snprintf(key + k, n - k, "|msize=%lld|mtime=%lld", (long long)st.st_size,
                              (long long)st.st_mtime);
    for (int i = 0; i < 3 && k < n; i++) {
        if (!files[i])
            continue;
        long long sz = -1, mt = -1;
        if (stat(files[i], &st) == 0) {
            sz = (long long)st.st_size;
            mt = (long long)st.st_mtime;
        }
        k += (size_t)snprintf(key + k, n - k, "|f%d=%s:%lld:%lld", i, files[i], sz, mt);
    }
    for (size_t i = 0; i < labels->n && k < n; i++)
        k += (size_t)snprintf(key + k, n - k, "|%s", labels->names[i]);
}

static bool wr(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

/* The cache file (little-endian host layout; a file from another machine is
 * simply stale):
 *   "SOCLEFC2" | u64 key_len | key | zero padding to 64
 *   rows of set 0 | rows of set 1 | rows of set 2     (float32, (n_i, row) each)
 *   meta: per set u64 n, u64 rows_offset, y (n int32), pad to 8, sent (n u64), word (n u64)
 *   trailer: u64 row, u64 meta_offset, "SOCLEFCE"
 * The file is written under FILE.tmp and renamed once complete, so a run killed
 * mid-way leaves no cache that looks valid. */
struct fcache {
    const char *path;
    char tmp[4200];
    FILE *f;
    uint64_t pos;         /* bytes written so far */
    uint64_t rows_off[3]; /* file offset of each set's rows */
    void *map;
    size_t map_len;
};

static int fcache_put(struct fcache *c, const float *rows, size_t n, size_t row) {
    size_t bytes = n * row * sizeof(float);
    if (!wr(c->f, rows, bytes))
        return -1;
    c->pos += bytes;
    return 0;
}

static int pad_to(struct fcache *c, uint64_t align) {
    static const char zero[64];
    uint64_t k = (align - c->pos % align) % align;
    if (!wr(c->f, zero, (size_t)k))
        return -1;
    c->pos += k;
    return 0;
}

/* Start writing path: the header, then the rows of sets 0..2 as they come. */
static int fcache_create(const char *path, const char *key, struct fcache *c,
                         struct featset *const fs[3]) {
    memset(c, 0, sizeof(*c));
    c->path = path;
    snprintf(c->tmp, sizeof(c->tmp), "%s.tmp", path);
    if (!(c->f = fopen(c->tmp, "wb")))
        return -1;
    uint64_t kl = strlen(key);
    if (!wr(c->f, "SOCLEFC2", 8) || !wr(c->f, &kl, 8) || !wr(c->f, key, kl))
        return -1;
    c->pos = 16 + kl;
    if (pad_to(c, 64) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        fs[i]->fc = c;
    return 0;
}

/* Set i's rows begin here (sets are computed one after the other). */
static void fcache_begin(struct fcache *c, int i) { c->rows_off[i] = c->pos; }

static int fcache_map(struct fcache *c, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 88) {
        close(fd);
        return -1;
    }
    c->map_len = (size_t)st.st_size;
    c->map = mmap(NULL, c->map_len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        return -1;
    }
    /* the epochs walk the rows in shuffled order: let the kernel read ahead less */
    madvise(c->map, c->map_len, MADV_RANDOM);
    return 0;
}

static void fcache_close(struct fcache *c) {
    if (c->f) {
        fclose(c->f);
        remove(c->tmp);
    }
    if (c->map)
        munmap(c->map, c->map_len);
    memset(c, 0, sizeof(*c));
}

/* Point the sets at their rows in the mapping and copy their labels back to RAM.
 * 1 = done, 0 = the file does not match (stale), -1 = error. */
static int fcache_attach(struct fcache *c, const char *key, size_t row,
                         struct featset *const fs[3]) {
    const uint8_t *m = c->map;
    uint64_t kl, r, meta;
    memcpy(&kl, m + 8, 8);
    if (memcmp(m, "SOCLEFC2", 8) || kl != strlen(key) || kl > c->map_len - 88 ||
        memcmp(m + 16, key, kl))
        return 0;
    memcpy(&r, m + c->map_len - 24, 8);
    memcpy(&meta, m + c->map_len - 16, 8);
    if (memcmp(m + c->map_len - 8, "SOCLEFCE", 8) || r != row || meta > c->map_len - 24)
        return 0;
    uint64_t p = meta;
    for (int i = 0; i < 3; i++) {
        uint64_t n, off;
        if (p + 16 > c->map_len - 24)
            return -1;
        memcpy(&n, m + p, 8);
        memcpy(&off, m + p + 8, 8);
        p += 16;
        uint64_t ylen = (n * 4 + 7) / 8 * 8;
        if (n > c->map_len / 20 || off % 4 || off + n * row * 4 > meta ||
            p + ylen + 16 * n > c->map_len - 24)
            return -1;
        fs[i]->fc = NULL; /* labels go to RAM as usual */
        fs[i]->n = 0;
        if (n && featset_reserve(fs[i], (size_t)n, 0, SIZE_MAX) != 0)
            return -1;
        if (n)
            memcpy(fs[i]->y, m + p, (size_t)n * 4);
        p += ylen;
        for (uint64_t k = 0; k < n; k++) {
            uint64_t sv, wv;
            memcpy(&sv, m + p + 8 * k, 8);
            memcpy(&wv, m + p + 8 * (n + k), 8);
            fs[i]->sent[k] = (size_t)sv;
            fs[i]->word[k] = (size_t)wv;
        }
        p += 16 * n;
        fs[i]->n = (size_t)n;
        fs[i]->mx = (const float *)(const void *)(m + off);
    }
    return 1;
}

/* All sets written: the labels and the trailer, rename, map. */
static int fcache_finish(struct fcache *c, const char *key, size_t row,
                         struct featset *const fs[3]) {
    if (pad_to(c, 8) != 0)
        return -1;
    uint64_t meta = c->pos;
    bool ok = true;
    for (int i = 0; ok && i < 3; i++) {
        uint64_t n = fs[i]->n;
        ok = wr(c->f, &n, 8) && wr(c->f, &c->rows_off[i], 8) && wr(c->f, fs[i]->y, (size_t)n * 4);
        c->pos += 16 + n * 4;
        ok = ok && pad_to(c, 8) == 0;
        for (uint64_t k = 0; ok && k < n; k++) {
            uint64_t v = fs[i]->sent[k];
            ok = wr(c->f, &v, 8);
        }
        for (uint64_t k = 0; ok && k < n; k++) {
            uint64_t v = fs[i]->word[k];
            ok = wr(c->f, &v, 8);
        }
        c->pos += 16 * n;
    }
    uint64_t r = row;
    ok = ok && wr(c->f, &r, 8) && wr(c->f, &meta, 8) && wr(c->f, "SOCLEFCE", 8);
    ok = (fclose(c->f) == 0) && ok;
    c->f = NULL;
    if (!ok || rename(c->tmp, c->path) != 0) {
        remove(c->tmp);
        return -1;
    }
    if (fcache_map(c, c->path) != 0)
        return -1;
    return fcache_attach(c, key, row, fs) == 1 ? 0 : -1;
}

/* Open an existing cache: 1 = mapped and attached, 0 = absent or stale, -1 = error. */
static int fcache_open(const char *path, const char *key, size_t row, struct fcache *c,
                       struct featset *const fs[3]) {
    memset(c, 0, sizeof(*c));
    c->path = path;
    if (access(path, F_OK) != 0)
        return 0;
    if (fcache_map(c, path) != 0)
        return -1;
    int r = fcache_attach(c, key, row, fs);
    if (r != 1) {
        for (int i = 0; i < 3; i++) {
            fs[i]->n = 0;
            fs[i]->mx = NULL;
        }
        munmap(c->map, c->map_len);
        c->map = NULL;
    }
    return r;
}

/* --feature-cache: map a matching cache (1), or start writing a new one (0);
 * -1 after printing why neither works. */
static int cache_open(const struct opts *o, const char *key, size_t row, struct fcache *c,
                      struct featset *const sets[3]) {
    int r = fcache_open(o->cache, key, row, c, sets);
    if (r == 1) {
        fprintf(stderr, "features: loaded from %s (memory-mapped)\n", o->cache);
        return 1;
    }
    if (r < 0)
        fprintf(stderr, "socle-train: %s unreadable: recomputing\n", o->cache);
    if (fcache_create(o->cache, key, c, sets) != 0) {
        fprintf(stderr, "socle-train: cannot create the feature cache %s: %s\n", o->cache,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- main flows ---- */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    while (s && s[1] == '\0' && s > p) { /* trailing slash */
        const char *q = s - 1;
        while (q > p && *q != '/')
            q--;
        return *q == '/' ? q + 1 : q;
    }
    return s ? s + 1 : p;
}

static void print_metrics(const char *what, const struct eval_ctx *e, bool ner) {
    if (e->o->multi_label)
        printf("%-5s micro P %.4f  R %.4f  F1 %.4f   macro-F1 %.4f   subset accuracy %.4f "
               "(threshold %.2f)\n",
               what, e->micro_p, e->micro_r, e->micro_f1, e->macro_f1, e->acc, e->o->threshold);
    else if (ner)
        printf(
            "%-5s entity P %.4f  R %.4f  F1 %.4f (strict IOB2)   macro-F1 %.4f   token acc %.4f\n",
            what, e->micro_p, e->micro_r, e->micro_f1, e->macro_f1, e->acc);
    else
        printf("%-5s accuracy %.4f   macro-F1 %.4f\n", what, e->acc, e->macro_f1);
}

struct dataset {
    /* classify */
    struct ev_cls_data cls;
    /* ner */
    struct ev_ner_data ner;
    int32_t **ner_ids; /* (n) label ids per word (-1 = unseen label) */
};

static void dataset_clear(struct dataset *d) {
    for (size_t i = 0; d->ner_ids && i < d->ner.n; i++)
        free(d->ner_ids[i]);
    free(d->ner_ids);
    ev_cls_data_clear(&d->cls);
    ev_ner_data_clear(&d->ner);
}

/* ---- multi-label classification (--multi-label) ---- */

/* Label lists travel through the classify data as one string, labels joined by
 * ML_SEP (a control character no label holds), so the split, the features pass
 * and the cache treat them as any classify label. */
#define ML_SEP '\x1f'

/* JSONL {"text": ..., "label": ["a", "b"]} (a single string = a one-label list,
 * [] = no label). Same field options and limits as the classify reader. */
static int ml_read(const struct opts *o, const char *path, struct ev_cls_data *out) {
    const char *tf = o->text_field ? o->text_field : "text";
    const char *lf = o->label_field ? o->label_field : "label";
    size_t max_bytes = o->limits.max_bytes ? o->limits.max_bytes : (size_t)512 << 20;
    size_t max_line = o->limits.max_line ? o->limits.max_line : (size_t)16 << 20;
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "socle-train: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if ((size_t)st.st_size > max_bytes) {
        fprintf(stderr, "socle-train: %s: larger than --max-bytes %zu\n", path, max_bytes);
        fclose(f);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = -1;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len > max_line) {
            fprintf(stderr, "socle-train: %s:%zu: line longer than %zu bytes\n", path, lineno,
                    max_line);
            goto done;
        }
        size_t k = 0;
        while (k < (size_t)len &&
               (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n'))
            k++;
        if (k == (size_t)len)
            continue; /* empty lines are skipped */
        if (o->limits.max_examples && out->n >= o->limits.max_examples)
            break;
        struct json_tokener *tk = json_tokener_new();
        struct json_object *j = tk ? json_tokener_parse_ex(tk, line, (int)len) : NULL, *jt, *jl;
        bool ok = tk && json_tokener_get_error(tk) == json_tokener_success && j &&
                  json_object_is_type(j, json_type_object);
        if (tk)
            json_tokener_free(tk);
        if (!ok || !json_object_object_get_ex(j, tf, &jt) ||
            !json_object_is_type(jt, json_type_string) || !json_object_object_get_ex(j, lf, &jl) ||
            !(json_object_is_type(jl, json_type_array) ||
              json_object_is_type(jl, json_type_string))) {
            fprintf(stderr,
                    "socle-train: %s:%zu: expected a JSON object with a string \"%s\" and a "
                    "list \"%s\" of label strings\n",
                    path, lineno, tf, lf);
            json_object_put(j);
            goto done;
        }
        size_t n_l = json_object_is_type(jl, json_type_array) ? json_object_array_length(jl) : 1;
        size_t total = 1;
        bool strs = true;
        for (size_t i = 0; i < n_l; i++) {
            struct json_object *e =
                json_object_is_type(jl, json_type_array) ? json_object_array_get_idx(jl, i) : jl;
            strs =
                strs && e && json_object_is_type(e, json_type_string) &&
                json_object_get_string_len(e) > 0 &&
                !memchr(json_object_get_string(e), ML_SEP, (size_t)json_object_get_string_len(e));
            total += (size_t)(strs ? json_object_get_string_len(e) : 0) + 1;
        }
        char *joined = strs ? malloc(total) : NULL, *text = strdup(json_object_get_string(jt));
        if (!strs || !joined || !text) {
            if (!strs)
                fprintf(stderr, "socle-train: %s:%zu: labels must be non-empty strings\n", path,
                        lineno);
            free(joined);
            free(text);
            json_object_put(j);
            goto done;
        }
        size_t off = 0;
        for (size_t i = 0; i < n_l; i++) {
            struct json_object *e =
                json_object_is_type(jl, json_type_array) ? json_object_array_get_idx(jl, i) : jl;
            if (i)
                joined[off++] = ML_SEP;
            size_t l = (size_t)json_object_get_string_len(e);
            memcpy(joined + off, json_object_get_string(e), l);
            off += l;
        }
        joined[off] = '\0';
        json_object_put(j);
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 256;
            struct ev_cls_example *ex = realloc(out->ex, nc * sizeof(*ex));
            if (!ex) {
                free(joined);
                free(text);
                goto done;
            }
            out->ex = ex;
            out->cap = nc;
        }
        out->ex[out->n++] = (struct ev_cls_example){text, joined, lineno};
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    if (rc != 0)
        ev_cls_data_clear(out);
    return rc;
}

/* Set the 0/1 targets (n_labels) of one joined label list; labels not in the
 * table are counted in *unseen (and left out: the head has no output for them). */
static void ml_targets(const char *joined, struct ev_labels *labels, uint8_t *t, size_t *unseen) {
    memset(t, 0, labels->n);
    for (const char *p = joined; *p;) {
        const char *q = strchr(p, ML_SEP);
        size_t k = q ? (size_t)(q - p) : strlen(p);
        char tmp[1024];
        if (k < sizeof(tmp)) {
            memcpy(tmp, p, k);
            tmp[k] = '\0';
            int32_t id = ev_labels_find(labels, tmp, false);
            if (id >= 0)
                t[id] = 1;
            else if (unseen)
                (*unseen)++;
        }
        p += k + (q != NULL);
    }
}

/* Add every label of the joined lists of d to labels. */
static void ml_collect(const struct ev_cls_data *d, struct ev_labels *labels) {
    for (size_t i = 0; i < d->n; i++)
        for (const char *p = d->ex[i].label; *p;) {
            const char *q = strchr(p, ML_SEP);
            size_t k = q ? (size_t)(q - p) : strlen(p);
            char tmp[1024];
            if (k < sizeof(tmp)) {
                memcpy(tmp, p, k);
                tmp[k] = '\0';
                ev_labels_find(labels, tmp, true);
            }
            p += k + (q != NULL);
        }
}

/* Targets (rows, n_labels) of a feature set's rows (row r = example sent[r]). */
static uint8_t *ml_row_targets(const struct featset *fs, const struct ev_cls_data *d,
                               struct ev_labels *labels, size_t *unseen) {
    uint8_t *t = malloc(fs->n * labels->n + 1);
    for (size_t r = 0; t && r < fs->n; r++)
        ml_targets(d->ex[fs->sent[r]].label, labels, t + r * labels->n, unseen);
    return t;
}

/* Multi-label scores at the threshold: micro-F1 over (example, label) pairs,
 * macro-F1 over labels, subset accuracy (every label of the example right). */
static int eval_ml(const struct tr_head *h, struct eval_ctx *e) {
    const struct featset *fs = e->fs;
    size_t nl = e->labels->n;
    uint8_t *t = malloc(nl + 1);
    float *lg = malloc(nl * sizeof(float));
    size_t *tp = calloc(nl, sizeof(size_t)), *fp = calloc(nl, sizeof(size_t)),
           *fn = calloc(nl, sizeof(size_t));
    struct tr_scratch *s = NULL;
    int rc = -1;
    if (!t || !lg || !tp || !fp || !fn || tr_scratch_new(&h->cfg, &s) != TR_OK)
        goto done;
    size_t row = h->cfg.n_mix * h->cfg.d_model, exact = 0, unseen_fn = 0;
    /* sigmoid(z) >= thr  <=>  z >= logit(thr) */
    double zt = log(e->o->threshold / (1.0 - e->o->threshold));
    for (size_t r = 0; r < fs->n; r++) {
        tr_head_forward(h, featset_rows(fs) + r * row, lg, s);
        size_t un = 0;
        ml_targets(e->cls->ex[fs->sent[r]].label, (struct ev_labels *)(uintptr_t)e->labels, t, &un);
        bool all = un == 0;
        unseen_fn += un; /* a label the head does not know is always missed */
        for (size_t l = 0; l < nl; l++) {
            bool p = (double)lg[l] >= zt;
            tp[l] += p && t[l];
            fp[l] += p && !t[l];
            fn[l] += !p && t[l];
            all = all && p == (t[l] != 0);
        }
        exact += all;
    }
    size_t TP = 0, FP = 0, FN = unseen_fn;
    double macro = 0;
    for (size_t l = 0; l < nl; l++) {
        TP += tp[l];
        FP += fp[l];
        FN += fn[l];
        macro += tp[l] ? 2.0 * (double)tp[l] / (double)(2 * tp[l] + fp[l] + fn[l]) : 0.0;
    }
    e->micro_p = TP + FP ? (double)TP / (double)(TP + FP) : 0;
    e->micro_r = TP + FN ? (double)TP / (double)(TP + FN) : 0;
    e->micro_f1 = TP ? 2.0 * (double)TP / (double)(2 * TP + FP + FN) : 0;
    e->macro_f1 = nl ? macro / (double)nl : 0;
    e->acc = fs->n ? (double)exact / (double)fs->n : 0;
    rc = 0;
done:
    free(t);
    free(lg);
    free(tp);
    free(fp);
    free(fn);
    tr_scratch_free(s);
    return rc;
}

/* ---- summarize: the sentences of {text, summary} documents as classify examples ---- */

/* s[0 .. n) without white space: the BBC references glue their sentences together. */
static char *squeeze(const char *s, size_t n) {
    char *o = malloc(n + 1), *w = o;
    for (size_t i = 0; o && i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            *w++ = s[i];
    if (o)
        *w = '\0';
    return o;
}

static int summ_push(struct ev_cls_data *d, const char *text, size_t len, bool in, size_t line) {
    char *t = strndup(text, len), *l = strdup(in ? "summary" : "other");
    if (!t || !l || ev_cls_push(d, t, l, line) != EV_OK) {
        free(t);
        free(l);
        return -1;
    }
    return 0;
}

/* JSONL {"text": document, "summary": reference} (--text-field, --label-field): each
 * document is cut by the summarizer's own splitter (task_sentences_split); a sentence is
 * "summary" when it occurs in the reference (white space ignored, 10+ characters), else
 * "other". Examples are sentences, so --dev-ratio splits sentences, not documents. */
static int summ_read(const struct opts *o, const char *path, struct ev_cls_data *out) {
    char err[512];
    struct ev_cls_read_opts ro = {0};
    ro.format = EV_CLS_JSONL;
    ro.text_field = o->text_field;
    ro.label_field = o->label_field ? o->label_field : "summary";
    ro.limits = o->limits;
    struct ev_cls_data docs = {0};
    if (ev_cls_read(path, &ro, &docs, err, sizeof(err)) != EV_OK) {
        fprintf(stderr, "socle-train: %s\n", err);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    size_t pos = 0, unmatched = 0;
    int rc = 0;
    for (size_t i = 0; i < docs.n && rc == 0; i++) {
        const char *text = docs.ex[i].text;
        struct task_span *sp = NULL;
        size_t ns = 0, hits = 0;
        char *ref = squeeze(docs.ex[i].label, strlen(docs.ex[i].label));
        if (!ref || task_sentences_split(text, strlen(text), &sp, &ns) != TASK_OK)
            rc = -1;
        for (size_t s = 0; rc == 0 && s < ns; s++) {
            size_t len = sp[s].end - sp[s].start;
            char *key = squeeze(text + sp[s].start, len);
            bool in = key && strlen(key) >= 10 && strstr(ref, key);
            hits += in;
            rc = key && summ_push(out, text + sp[s].start, len, in, docs.ex[i].line) == 0 ? 0 : -1;
            free(key);
        }
        unmatched += rc == 0 && hits == 0;
        pos += hits;
        free(sp);
        free(ref);
    }
    if (rc != 0)
        fprintf(stderr, "socle-train: %s: out of memory\n", path);
    else
        printf("summarize: %zu documents -> %zu sentences, %zu in the references (%zu documents "
               "with none)\n",
               docs.n, out->n, pos, unmatched);
    ev_cls_data_clear(&docs);
    return rc;
}

/* CSV/TSV multi-label data: the classify reader (same columns, header, quoting rules), then
 * each label cell "a|b" becomes the list a, b (pieces trimmed; an empty cell = no label; an
 * empty piece is refused). */
static int ml_read_table(const struct opts *o, const char *path, enum ev_cls_format fmt,
                         struct ev_cls_data *out) {
    char err[512];
    struct ev_cls_read_opts ro = {0};
    ro.format = fmt;
    ro.text_field = o->text_field;
    ro.label_field = o->label_field;
    ro.no_header = o->no_header;
    ro.label_optional = true;
    ro.limits = o->limits;
    if (ev_cls_read(path, &ro, out, err, sizeof(err)) != EV_OK) {
        fprintf(stderr, "socle-train: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < out->n; i++) {
        struct ev_cls_example *e = &out->ex[i];
        if (!e->label && !(e->label = strdup("")))
            return -1;
        char *w = e->label;
        const char *r = e->label;
        bool any = false;
        while (*r == ' ')
            r++;
        if (!*r) { /* an empty cell: no label */
            *w = '\0';
            continue;
        }
        for (;;) {
            const char *end = strchr(r, o->label_sep);
            size_t len = end ? (size_t)(end - r) : strlen(r);
            while (len && (*r == ' ' || *r == '\t'))
                r++, len--;
            while (len && (r[len - 1] == ' ' || r[len - 1] == '\t'))
                len--;
            if (!len || memchr(r, ML_SEP, len)) {
                fprintf(stderr, "socle-train: %s:%zu: empty label in the label list\n", path,
                        e->line);
                return -1;
            }
            if (any)
                *w++ = ML_SEP;
            memmove(w, r, len); /* w never passes r: pieces only shrink */
            w += len;
            any = true;
            if (!end)
                break;
            r = end + 1;
        }
        *w = '\0';
    }
    return 0;
}

/* --format for classify data as the reader's enum (AUTO when not given). */
static enum ev_cls_format cls_format(const struct opts *o) {
    return !o->format                     ? EV_CLS_AUTO
           : !strcmp(o->format, "csv")   ? EV_CLS_CSV
           : !strcmp(o->format, "tsv")   ? EV_CLS_TSV
           : !strcmp(o->format, "jsonl") ? EV_CLS_JSONL
                                         : EV_CLS_AUTO;
}

static int load_set(const struct opts *o, const char *path, struct dataset *d) {
    char err[512];
    memset(d, 0, sizeof(*d));
    if (o->summarize)
        return summ_read(o, path, &d->cls);
    if (o->task == T_CLASSIFY && o->multi_label) {
        /* JSONL unless --format (or, without it, the extension) says CSV / TSV */
        enum ev_cls_format f = o->format               ? cls_format(o)
                               : ev_ends_with(path, ".csv") ? EV_CLS_CSV
                               : ev_ends_with(path, ".tsv") ? EV_CLS_TSV
                                                            : EV_CLS_JSONL;
        if (f == EV_CLS_CSV || f == EV_CLS_TSV)
            return ml_read_table(o, path, f, &d->cls);
        return ml_read(o, path, &d->cls);
    }
    if (o->task == T_CLASSIFY) {
        struct ev_cls_read_opts ro = {0};
        ro.format = cls_format(o);
        ro.text_field = o->text_field;
        ro.label_field = o->label_field;
        ro.no_header = o->no_header;
        ro.limits = o->limits;
        if (ev_cls_read(path, &ro, &d->cls, err, sizeof(err)) != EV_OK) {
            fprintf(stderr, "socle-train: %s\n", err);
            return -1;
        }
    } else if ((o->format && !strcmp(o->format, "spans")) ||
               (!o->format && ev_ends_with(path, ".jsonl"))) {
        /* JSONL with character spans: words = runs of non-space, IOB2 from the spans */
        struct ev_span_data sd;
        if (ev_spans_read(path, &o->limits, &sd, err, sizeof(err)) != EV_OK) {
            fprintf(stderr, "socle-train: %s\n", err);
            return -1;
        }
        int st = ev_spans_to_words(&sd, &d->ner);
        ev_span_data_clear(&sd);
        if (st != EV_OK) {
            fprintf(stderr, "socle-train: %s: %s\n", path, ev_strerror(st));
            return -1;
        }
    } else {
        struct ev_conll_opts co = ev_conll_opts_default();
        co.limits = o->limits;
        if (ev_conll_read(path, &co, &d->ner, err, sizeof(err)) != EV_OK) {
            fprintf(stderr, "socle-train: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* Move the examples of src whose part == want into dst (strings are moved). */
static void take_part(struct dataset *src, const uint8_t *part, uint8_t want, struct dataset *dst,
                      bool ner) {
    memset(dst, 0, sizeof(*dst));
    size_t n = ner ? src->ner.n : src->cls.n, k = 0;
    for (size_t i = 0; i < n; i++)
        k += part[i] == want;
    if (ner) {
        dst->ner.s = calloc(k ? k : 1, sizeof(*dst->ner.s));
        for (size_t i = 0; dst->ner.s && i < n; i++)
            if (part[i] == want)
                dst->ner.s[dst->ner.n++] = src->ner.s[i];
        dst->ner.cap = k;
    } else {
        dst->cls.ex = calloc(k ? k : 1, sizeof(*dst->cls.ex));
        for (size_t i = 0; dst->cls.ex && i < n; i++)
            if (part[i] == want)
                dst->cls.ex[dst->cls.n++] = src->cls.ex[i];
        dst->cls.cap = k;
    }
}

static int compute_set_features(const struct opts *o, struct backbone *b, struct dataset *d,
                                struct ev_labels *labels, struct featset *fs, const char *what,
                                size_t *n_unseen) {
    struct pass p = {o, b, o->task, fs, NULL, NULL, o->max_feature_mb << 20, 0, 0};
    int rc = -1;
    *n_unseen = 0;
    if (o->task == T_CLASSIFY) {
        size_t n = d->cls.n;
        int32_t *y = malloc(n * sizeof(*y));
        const char **texts = malloc(n * sizeof(*texts));
        if (!y || !texts) {
            free(y);
            free(texts);
            return -1;
        }
        uint8_t *t = o->multi_label ? malloc(labels->n + 1) : NULL;
        if (o->multi_label && !t) {
            free(y);
            free(texts);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            texts[i] = d->cls.ex[i].text;
            if (o->multi_label) { /* every row trains; its targets come from the list */
                ml_targets(d->cls.ex[i].label, labels, t, n_unseen);
                y[i] = 0;
                continue;
            }
            y[i] = ev_labels_find(labels, d->cls.ex[i].label, false);
            *n_unseen += y[i] < 0;
        }
        free(t);
        p.labels_cls = y;
        rc = features(&p, n, texts, NULL, NULL, what);
        free(y);
        free(texts);
    } else {
        size_t n = d->ner.n;
        d->ner_ids = calloc(n ? n : 1, sizeof(*d->ner_ids));
        const char *const **words = malloc((n ? n : 1) * sizeof(*words));
        size_t *nw = malloc((n ? n : 1) * sizeof(*nw));
        if (!d->ner_ids || !words || !nw) {
            free(words);
            free(nw);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            const struct ev_ner_sentence *s = &d->ner.s[i];
            words[i] = (const char *const *)s->tokens;
            nw[i] = s->n;
            d->ner_ids[i] = malloc((s->n ? s->n : 1) * sizeof(int32_t));
            if (!d->ner_ids[i]) {
                free(words);
                free(nw);
                return -1;
            }
            for (size_t w = 0; w < s->n; w++) {
                d->ner_ids[i][w] = ev_labels_find(labels, s->tags[w], false);
                *n_unseen += d->ner_ids[i][w] < 0;
            }
        }
        p.labels_ner = d->ner_ids;
        rc = features(&p, n, NULL, words, nw, what);
        free(words);
        free(nw);
        if (p.n_dropped_words)
            fprintf(stderr, "  %s: %zu word(s) beyond max_seq_len were dropped (predicted O)\n",
                    what, p.n_dropped_words);
    }
    if (p.n_truncated && o->task == T_CLASSIFY)
        fprintf(stderr,
                "  %s: %zu text(s) longer than %zu tokens: their head is used, as socled does\n",
                what, p.n_truncated, b->max_seq);
    return rc;
}

/* Write the adapter directory --out (docs/adapters.md). */
static int write_adapter(const struct opts *o, const struct backbone *b, const struct tr_head *h,
                         const char *task, size_t n_labels, const char *const *labels,
                         const struct tr_fit_result *fr, size_t rows) {
    int *layer_idx = NULL;
    size_t n_li = 0;
    if (b->n_mix > 1) {
        layer_idx = malloc(b->n_mix * sizeof(int));
        if (!layer_idx)
            return -1;
        for (size_t k = 0; k < b->n_mix; k++)
            layer_idx[k] = -(int)(b->n_mix - k);
        n_li = b->n_mix;
    }
    char extra[512];
    snprintf(extra, sizeof(extra),
             "{\"tool\":\"socle-train\",\"train\":\"%s\",\"rows\":%zu,\"epochs\":%zu,"
             "\"best_epoch\":%zu,\"seed\":%llu,\"lr\":%g,\"batch\":%zu,\"dev_metric\":%.6f}",
             base_name(o->train), rows, fr->epochs_run, fr->best_epoch, (unsigned long long)o->seed,
             o->lr, o->batch, fr->best_dev);
    static const char *const pools[] = {"cls", "mean", "pooler"};
    bool cls = strcmp(task, "classify") == 0 || strcmp(task, "summarize") == 0;
    struct tr_adapter_meta meta = {o->name ? o->name : base_name(o->out),
                                   task,
                                   b->info->model_type,
                                   b->info->d_model,
                                   b->info->n_layers,
                                   b->info->vocab_size,
                                   n_labels,
                                   labels,
                                   cls ? pools[o->pool] : NULL,
                                   layer_idx,
                                   n_li,
                                   strcmp(task, "ner") == 0 ? "IOB2" : NULL,
                                   strchr(o->train, '"') ? NULL : extra,
                                   cls && o->multi_label,
                                   0,
                                   0,
                                   0};
    if (strcmp(task, "qa") == 0) { /* the windows it was trained on: socled's defaults */
        meta.qa_max_seq_len = b->max_seq;
        meta.qa_doc_stride = o->doc_stride;
        meta.qa_max_question_len = o->max_question_len;
    }
    char err[512] = "";
    int st = tr_adapter_write(o->out, &meta, h, err, sizeof(err));
    free(layer_idx);
    if (st != TR_OK) {
        fprintf(stderr, "socle-train: %s\n", err[0] ? err : tr_strerror(st));
        return -1;
    }
    printf("adapter written: %s (adapter.json, head.safetensors)\n", o->out);
    return 0;
}

/* ---- QA (SQuAD): windows, span labels, features, decoding ---- */

/* The question's part of every window (pre = [CLS] question [SEP], suf = the
 * final [SEP]) and the context tokens, cut as tasks/job.c cuts them for socled. */
struct qa_enc {
    struct tok_encoding *enc;
    size_t n_pre, n_suf, n_ctx;
    size_t *pre, *suf, *ctx; /* encoding indices */
    struct task_window *wins;
    size_t n_wins;
};

static void qa_enc_clear(struct qa_enc *e) {
    tok_encoding_free(e->enc);
    free(e->pre);
    free(e->suf);
    free(e->ctx);
    free(e->wins);
    memset(e, 0, sizeof(*e));
}

/* Encode the pair and plan the context windows. 1 = skipped (nothing to cut:
 * no context tokens, or a question longer than the sequence), 0 = ok, -1 = error. */
static int qa_encode(const struct opts *o, const struct backbone *b, const char *q, const char *c,
                     struct qa_enc *e) {
    struct tok_encode_params tp = tok_encode_params_default();
    tp.add_special_tokens = true;
    tp.use_file_truncation = false;
    tp.max_length = 0;
    size_t bad = 0;
    memset(e, 0, sizeof(*e));
    int st = tok_encode(b->tok, q, strlen(q), c, strlen(c), &tp, &e->enc, &bad);
    if (st != TOK_OK) {
        fprintf(stderr, "socle-train: cannot tokenize a question/context (%s at byte %zu)\n",
                tok_strerror(st), bad);
        return -1;
    }
    const struct tok_encoding *x = e->enc;
    size_t first = SIZE_MAX, last = 0, n_q = 0;
    for (size_t i = 0; i < x->n_tokens; i++)
        if (x->sequence_ids[i] == 1) {
            first = first == SIZE_MAX ? i : first;
            last = i;
        }
    if (first == SIZE_MAX)
        return 1;
    e->pre = malloc((first + 1) * sizeof(size_t));
    e->suf = malloc((x->n_tokens - last) * sizeof(size_t));
    e->ctx = malloc((last - first + 1) * sizeof(size_t));
    if (!e->pre || !e->suf || !e->ctx)
        return -1;
    size_t max_q = o->max_question_len;
    for (size_t i = 0; i < first; i++)
        if (!(x->sequence_ids[i] == 0 && ++n_q > max_q)) /* question cut at max_q tokens */
            e->pre[e->n_pre++] = i;
    for (size_t i = first; i <= last; i++)
        if (x->sequence_ids[i] == 1)
            e->ctx[e->n_ctx++] = i;
    for (size_t i = last + 1; i < x->n_tokens; i++)
        e->suf[e->n_suf++] = i;
    if (e->n_pre + e->n_suf + 1 > b->max_seq)
        return 1;
    size_t width = b->max_seq - e->n_pre - e->n_suf, stride = o->doc_stride;
    if (stride >= width)
        stride = width / 2; /* as tasks/job.c: windows keep moving forward */
    e->n_wins = task_windows_plan(e->n_ctx, width, stride, NULL);
    e->wins = malloc(e->n_wins * sizeof(*e->wins));
    if (!e->wins)
        return -1;
    task_windows_plan(e->n_ctx, width, stride, e->wins);
    return 0;
}

/* HF prepare_train_features: the window's start/end token when the answer
 * [a, z) (code points of the context) lies wholly inside the window's context,
 * else both on token 0 ([CLS]). Returns window-relative indices. */
static void qa_window_target(const struct qa_enc *e, size_t w, bool has, size_t a, size_t z,
                             int32_t *start, int32_t *end) {
    const struct tok_offset *cp = e->enc->cp_offsets;
    size_t ws = e->wins[w].start, we = e->wins[w].end;
    *start = *end = 0;
    if (!has || we <= ws || cp[e->ctx[ws]].start > a || cp[e->ctx[we - 1]].end < z)
        return;
    size_t ts = ws, te = we - 1;
    while (ts < we && cp[e->ctx[ts]].start <= a)
        ts++;
    while (te > ws && cp[e->ctx[te]].end >= z)
        te--;
    /* HF steps te down while the token ends at or after z and takes te + 1; when
     * even the window's first token does, HF's loop leaves the context and the
     * end is that first token. */
    size_t end_tok = cp[e->ctx[te]].end >= z ? ws : te + 1;
    *start = (int32_t)(e->n_pre + (ts - 1 - ws));
    *end = (int32_t)(e->n_pre + (end_tok - ws));
}

/* One question's context tokens, kept for decoding dev/test answers. */
struct qa_meta {
    size_t n_ctx;
    struct tok_offset *bo, *co; /* (n_ctx) byte and code point offsets in the context */
    int32_t *word;              /* (n_ctx) word ids (HF align_to_words) */
    bool cls0;                  /* token 0 of every window is [CLS] */
};

/* The questions of one set (indices into a SQuAD file) and their features: rows
 * = every token of every window, in window order. */
struct qa_set {
    const struct ev_qa_data *d;
    size_t n_q;
    size_t *qi;
    struct featset fs;
    size_t n_win, cap_win;
    size_t *row_off;      /* (n_win + 1) */
    int32_t *start, *end; /* (n_win) targets; -1 = not trained on (answer offsets bad) */
    size_t *win_q;        /* (n_win) position of the window's question in qi */
    size_t *n_pre, *n_ctx, *ctx_first;
    struct qa_meta *meta; /* (n_q) */
    size_t n_bad, n_skipped;
};

static void qa_set_clear(struct qa_set *s) {
    featset_clear(&s->fs);
    free(s->qi);
    free(s->row_off);
    free(s->start);
    free(s->end);
    free(s->win_q);
    free(s->n_pre);
    free(s->n_ctx);
    free(s->ctx_first);
    for (size_t i = 0; s->meta && i < s->n_q; i++) {
        free(s->meta[i].bo);
        free(s->meta[i].co);
        free(s->meta[i].word);
    }
    free(s->meta);
    memset(s, 0, sizeof(*s));
}

static int qa_win_reserve(struct qa_set *s, size_t n) {
    if (n <= s->cap_win)
        return 0;
    size_t cap = s->cap_win ? s->cap_win * 2 : 256;
    while (cap < n)
        cap *= 2;
    size_t *ro = realloc(s->row_off, (cap + 1) * sizeof(size_t));
    if (!ro)
        return -1;
    s->row_off = ro;
#define GROW(f)                                                                                    \
    do {                                                                                           \
        void *p_ = realloc(s->f, cap * sizeof(*s->f));                                             \
        if (!p_)                                                                                   \
            return -1;                                                                             \
        s->f = p_;                                                                                 \
    } while (0)
    GROW(start);
    GROW(end);
    GROW(win_q);
    GROW(n_pre);
    GROW(n_ctx);
    GROW(ctx_first);
#undef GROW
    s->cap_win = cap;
    return 0;
}

/* Sequences waiting for one forward. */
struct qa_batch {
    size_t n_seq, n_tok, cap_tok;
    size_t *lens;
    int32_t *ids, *tids;
};

static int qa_flush(const struct opts *o, struct backbone *b, struct qa_set *s,
                    struct qa_batch *q) {
    if (q->n_seq == 0)
        return 0;
    struct eng_batch batch = {q->n_seq, q->lens, q->ids, q->tids};
    struct eng_output out;
    int st = eng_ctx_forward(b->ctx, &batch, b->want, &out);
    if (st != ENG_OK) {
        fprintf(stderr, "socle-train: forward: %s (%s)\n", eng_strerror(st),
                eng_ctx_last_error(b->ctx));
        return -1;
    }
    size_t row = b->n_mix * (size_t)b->info->d_model;
    float *dst = featset_add(&s->fs, q->n_tok, row, o->max_feature_mb << 20);
    if (!dst) {
        fprintf(stderr,
                "socle-train: the features would exceed --max-feature-mb %zu MiB (or memory is "
                "short); use --max-examples, fewer --layers, --feature-cache FILE, or raise the "
                "limit\n",
                o->max_feature_mb);
        return -1;
    }
    for (size_t t = 0; t < q->n_tok; t++) {
        take_token(b, &out, t, dst + t * row);
        s->fs.y[s->fs.n + t] = 0;
        s->fs.sent[s->fs.n + t] = s->fs.word[s->fs.n + t] = 0;
    }
    if (featset_commit(&s->fs, q->n_tok, row) != 0) {
        fprintf(stderr, "socle-train: cannot write the feature cache %s: %s\n", o->cache,
                strerror(errno));
        return -1;
    }
    q->n_seq = q->n_tok = 0;
    return 0;
}

static int qa_keep_meta(struct qa_meta *m, const struct qa_enc *e, int32_t cls) {
    const struct tok_encoding *x = e->enc;
    m->n_ctx = e->n_ctx;
    m->bo = malloc((e->n_ctx + 1) * sizeof(*m->bo));
    m->co = malloc((e->n_ctx + 1) * sizeof(*m->co));
    m->word = malloc((e->n_ctx + 1) * sizeof(*m->word));
    if (!m->bo || !m->co || !m->word)
        return -1;
    for (size_t k = 0; k < e->n_ctx; k++) {
        m->bo[k] = x->offsets[e->ctx[k]];
        m->co[k] = x->cp_offsets[e->ctx[k]];
        m->word[k] = x->word_ids[e->ctx[k]];
    }
    m->cls0 = cls >= 0 && e->n_pre > 0 && x->ids[e->pre[0]] == cls;
    return 0;
}

/* Append one window of question k (its target computed from the first answer). */
static int qa_add_window(const struct opts *o, struct backbone *b, struct qa_set *s,
                         struct qa_batch *q, const struct qa_enc *e, size_t k, size_t w,
                         int32_t start, int32_t end) {
    size_t nc = e->wins[w].end - e->wins[w].start, n = e->n_pre + nc + e->n_suf;
    if (qa_win_reserve(s, s->n_win + 1) != 0)
        return -1;
    size_t wi = s->n_win++;
    if (wi == 0)
        s->row_off[0] = 0;
    s->row_off[wi + 1] = s->row_off[wi] + n; /* rows come out of the forwards in this order */
    s->start[wi] = start;
    s->end[wi] = end;
    s->win_q[wi] = k;
    s->n_pre[wi] = e->n_pre;
    s->n_ctx[wi] = nc;
    s->ctx_first[wi] = e->wins[w].start;
    if (s->fs.mx) /* rows already in the mapped cache: only the windows are rebuilt */
        return 0;
    if (q->n_tok + n > b->max_tokens && qa_flush(o, b, s, q) != 0)
        return -1;
    const struct tok_encoding *x = e->enc;
    int32_t *ids = q->ids + q->n_tok, *tids = q->tids + q->n_tok;
    size_t j = 0;
    for (size_t i = 0; i < e->n_pre; i++, j++)
        ids[j] = x->ids[e->pre[i]], tids[j] = x->type_ids[e->pre[i]];
    for (size_t i = e->wins[w].start; i < e->wins[w].end; i++, j++)
        ids[j] = x->ids[e->ctx[i]], tids[j] = x->type_ids[e->ctx[i]];
    for (size_t i = 0; i < e->n_suf; i++, j++)
        ids[j] = x->ids[e->suf[i]], tids[j] = x->type_ids[e->suf[i]];
    q->lens[q->n_seq++] = n;
    q->n_tok += n;
    return 0;
}

/* --print-targets: what a window is trained to answer, "id<TAB>window<TAB>text"
 * ("" = [CLS], no answer in the window) — the targets can be checked by eye. */
static void qa_print_target(const struct qa_enc *e, size_t w, const char *id, const char *ctx,
                            int32_t st, int32_t en) {
    if (st < 0) {
        printf("target\t%s\t%zu\t(not trained)\n", id, w);
        return;
    }
    if (st == 0) {
        printf("target\t%s\t%zu\t\n", id, w);
        return;
    }
    size_t a = e->ctx[e->wins[w].start + (size_t)st - e->n_pre];
    size_t z = e->ctx[e->wins[w].start + (size_t)en - e->n_pre];
    struct task_span sp = {e->enc->offsets[a].start, e->enc->offsets[z].end,
                           e->enc->cp_offsets[a].start, e->enc->cp_offsets[z].end};
    task_span_trim(ctx, strlen(ctx), &sp);
    printf("target\t%s\t%zu\t%.*s\n", id, w, (int)(sp.end - sp.start), ctx + sp.start);
}

/* The features pass over the questions of s. keep_meta: keep what decoding
 * needs (dev/test). */
static int qa_features(const struct opts *o, struct backbone *b, struct qa_set *s, bool keep_meta,
                       const char *what) {
    struct qa_batch q = {0};
    q.cap_tok = b->max_tokens;
    q.lens = malloc(q.cap_tok * sizeof(size_t));
    q.ids = malloc(q.cap_tok * sizeof(int32_t));
    q.tids = malloc(q.cap_tok * sizeof(int32_t));
    s->meta = keep_meta ? calloc(s->n_q ? s->n_q : 1, sizeof(*s->meta)) : NULL;
    int32_t cls = tok_special_id(b->tok, TOK_SPECIAL_CLS);
    double t0 = now_s(), last = t0;
    int rc = -1;
    if (!q.lens || !q.ids || !q.tids || (keep_meta && !s->meta))
        goto done;
    for (size_t k = 0; k < s->n_q; k++) {
        const struct ev_qa_item *it = &s->d->q[s->qi[k]];
        const char *ctx = s->d->contexts[it->context];
        struct qa_enc e;
        int r = qa_encode(o, b, it->question, ctx, &e);
        if (r < 0 || (r == 0 && keep_meta && qa_keep_meta(&s->meta[k], &e, cls) != 0)) {
            qa_enc_clear(&e);
            goto done;
        }
        if (r == 1) { /* nothing to window: scored as an empty answer */
            s->n_skipped++;
            qa_enc_clear(&e);
            continue;
        }
        /* The first answer is the target (HF run_qa); one whose offsets do not
         * point at its text would teach a wrong span: not trained on. */
        bool has = it->n_answers > 0 && !it->impossible, ok = !has || it->offset_ok[0];
        size_t a = has ? it->answer_starts[0] : 0;
        size_t z = has ? a + ev_utf8_count(it->answers[0], strlen(it->answers[0])) : 0;
        s->n_bad += !ok;
        for (size_t w = 0; w < e.n_wins; w++) {
            int32_t st = -1, en = -1;
            if (ok)
                qa_window_target(&e, w, has, a, z, &st, &en);
            if (o->print_targets && !keep_meta)
                qa_print_target(&e, w, it->id, ctx, st, en);
            if (qa_add_window(o, b, s, &q, &e, k, w, st, en) != 0) {
                qa_enc_clear(&e);
                goto done;
            }
        }
        qa_enc_clear(&e);
        double t = now_s();
        if (o->progress && t - last > 0.5) {
            double rate = (double)(k + 1) / (t - t0);
            fprintf(stderr, "\r  features %s: %zu/%zu  %.1f q/s  ETA %.0fs   ", what, k + 1, s->n_q,
                    rate, (double)(s->n_q - k - 1) / rate);
            last = t;
        }
    }
    rc = s->fs.mx ? 0 : qa_flush(o, b, s, &q);
    if (rc == 0 && s->fs.n != (s->n_win ? s->row_off[s->n_win] : 0)) {
        fprintf(stderr, "socle-train: %s: the feature cache holds %zu rows, the windows %zu\n",
                what, s->fs.n, s->n_win ? s->row_off[s->n_win] : 0);
        rc = -1;
    }
done:
    if (o->progress)
        fprintf(stderr, "\r%70s\r", "");
    free(q.lens);
    free(q.ids);
    free(q.tids);
    return rc;
}

/* Decoded answer of question k from the head (socled's rules: tasks/qa.c
 * selection, HF align_to_words, white space trimmed). *out points into the
 * context, *len bytes; "" when nothing was found or the null answer wins. */
static int qa_decode(const struct tr_head *h, const struct qa_set *s, size_t w0, size_t w1,
                     size_t k, bool v2, size_t max_answer, const char **out, size_t *len) {
    const struct qa_meta *m = &s->meta[k];
    const char *ctx = s->d->contexts[s->d->q[s->qi[k]].context];
    *out = ctx;
    *len = 0;
    if (w1 == w0)
        return 0;
    size_t row = h->cfg.n_mix * h->cfg.d_model, n_rows = s->row_off[w1] - s->row_off[w0];
    float *lg = malloc(2 * n_rows * sizeof(float) + 1);
    uint8_t *fl = malloc(2 * n_rows + 1);
    struct task_qa_window *wins = calloc(w1 - w0, sizeof(*wins));
    struct tr_scratch *sc = NULL;
    int rc = -1;
    if (!lg || !fl || !wins || tr_scratch_new(&h->cfg, &sc) != TR_OK)
        goto done;
    for (size_t w = w0; w < w1; w++) {
        size_t r0 = s->row_off[w] - s->row_off[w0], n = s->row_off[w + 1] - s->row_off[w];
        float *st = lg + 2 * r0, *en = st + n, two[2];
        uint8_t *isc = fl + 2 * r0, *iscls = isc + n;
        for (size_t t = 0; t < n; t++) {
            tr_head_forward(h, featset_rows(&s->fs) + (s->row_off[w] + t) * row, two, sc);
            st[t] = two[0];
            en[t] = two[1];
            isc[t] = t >= s->n_pre[w] && t < s->n_pre[w] + s->n_ctx[w];
            iscls[t] = t == 0 && m->cls0;
        }
        wins[w - w0] = (struct task_qa_window){n, st, en, isc, iscls, s->ctx_first[w]};
    }
    float min_null = 1e6f;
    struct task_qa_cand c;
    size_t n_c = 0;
    if (task_qa_select(wins, w1 - w0, 1, max_answer, &min_null, &c, &n_c) != TASK_OK)
        goto done;
    rc = 0;
    if (n_c == 0 || (v2 && min_null > c.score))
        goto done;
    size_t a = c.s, z = c.e; /* widen to whole words (HF align_to_words) */
    while (m->word[a] >= 0 && a > 0 && m->word[a - 1] == m->word[a])
        a--;
    while (m->word[z] >= 0 && z + 1 < m->n_ctx && m->word[z + 1] == m->word[z])
        z++;
    struct task_span sp = {m->bo[a].start, m->bo[z].end, m->co[a].start, m->co[z].end};
    task_span_trim(ctx, strlen(ctx), &sp);
    *out = ctx + sp.start;
    *len = sp.end - sp.start;
done:
    free(lg);
    free(fl);
    free(wins);
    tr_scratch_free(sc);
    return rc;
}

struct qa_eval {
    const struct opts *o;
    const struct qa_set *s;
    bool v2;
    double em, f1, loss; /* EM/F1 in percent, as the SQuAD script */
};

/* Dev/test EM, F1 and mean window loss of the head. */
static int qa_evaluate(const struct tr_head *h, struct qa_eval *e) {
    const struct qa_set *s = e->s;
    double em_sum = 0, f1_sum = 0, loss_sum = 0;
    size_t n_loss = 0, max_len = 1;
    for (size_t w = 0; w < s->n_win; w++)
        if (s->row_off[w + 1] - s->row_off[w] > max_len)
            max_len = s->row_off[w + 1] - s->row_off[w];
    double *work = malloc(2 * max_len * sizeof(double));
    struct tr_scratch *sc = NULL;
    int rc = -1;
    if (!work || tr_scratch_new(&h->cfg, &sc) != TR_OK)
        goto done;
    size_t row = h->cfg.n_mix * h->cfg.d_model, w = 0;
    for (size_t k = 0; k < s->n_q; k++) {
        size_t w0 = w;
        while (w < s->n_win && s->win_q[w] == k) {
            if (s->start[w] >= 0) {
                loss_sum += tr_span_backward(h, featset_rows(&s->fs) + s->row_off[w] * row,
                                             s->row_off[w + 1] - s->row_off[w], s->start[w],
                                             s->end[w], 0, NULL, sc, work);
                n_loss++;
            }
            w++;
        }
        const char *ans;
        size_t len;
        if (qa_decode(h, s, w0, w, k, e->v2, e->o->max_answer_len, &ans, &len) != 0)
            goto done;
        const struct ev_qa_item *it = &s->d->q[s->qi[k]];
        size_t *gl = malloc((it->n_answers + 1) * sizeof(size_t));
        if (!gl)
            goto done;
        for (size_t i = 0; i < it->n_answers; i++)
            gl[i] = strlen(it->answers[i]);
        double em = 0, f1 = 0;
        int st = ev_squad_score(ans, len, (const char *const *)it->answers, gl, it->n_answers,
                                e->o->lang_fr ? EV_LANG_FR : EV_LANG_EN, e->v2, &em, &f1);
        free(gl);
        if (st != EV_OK)
            goto done;
        em_sum += em;
        f1_sum += f1;
    }
    e->em = s->n_q ? 100.0 * em_sum / (double)s->n_q : 0;
    e->f1 = s->n_q ? 100.0 * f1_sum / (double)s->n_q : 0;
    e->loss = n_loss ? loss_sum / (double)n_loss : 0;
    rc = 0;
done:
    free(work);
    tr_scratch_free(sc);
    return rc;
}

static double qa_dev_metric(const struct tr_head *h, void *ud) {
    struct qa_eval *e = ud;
    if (qa_evaluate(h, e) != 0)
        return -1e300;
    return e->o->qa_metric == 2 ? -e->loss : e->o->qa_metric == 1 ? e->em : e->f1;
}

/* Questions of d whose context has part p (parts from a seeded split of the
 * contexts, so no context is shared between train and dev/test). */
static int qa_pick(const struct ev_qa_data *d, const uint8_t *part, uint8_t p, struct qa_set *s) {
    s->d = d;
    s->qi = malloc((d->n ? d->n : 1) * sizeof(size_t));
    if (!s->qi)
        return -1;
    for (size_t i = 0; i < d->n; i++)
        if (!part || part[d->q[i].context] == p)
            s->qi[s->n_q++] = i;
    return 0;
}

/* SQuAD 2.0 (the null answer competes, empty answers score): by version, as
 * socle-eval decides, or by an impossible question. */
static bool squad_v2(const struct ev_qa_data *d) {
    if (strncmp(d->version, "v2", 2) == 0 || strncmp(d->version, "2", 1) == 0)
        return true;
    for (size_t i = 0; i < d->n; i++)
        if (d->q[i].impossible)
            return true;
    return false;
}

static void qa_print(const char *what, const struct qa_eval *e) {
    printf("%-5s exact_match %.2f   f1 %.2f   loss %.4f   (%zu questions)\n", what, e->em, e->f1,
           e->loss, e->s->n_q);
}

static int main_qa(struct opts *o) {
    struct ev_qa_data d_tr = {0}, d_dv = {0}, d_te = {0};
    struct qa_set s_tr = {0}, s_dv = {0}, s_te = {0};
    struct backbone b = {0};
    struct tr_head *h = NULL;
    struct fcache fc = {0};
    uint8_t *part = NULL;
    bool have_b = false;
    int rc = 1;
    char err[512] = "";
    if (ev_squad_read(o->train, &o->limits, &d_tr, err, sizeof(err)) != EV_OK ||
        (o->dev && ev_squad_read(o->dev, &o->limits, &d_dv, err, sizeof(err)) != EV_OK) ||
        (o->test && ev_squad_read(o->test, &o->limits, &d_te, err, sizeof(err)) != EV_OK)) {
        fprintf(stderr, "socle-train: %s\n", err);
        goto done;
    }
    size_t n_ctx = d_tr.n_contexts;
    size_t n_dev = o->dev ? 0 : (size_t)(o->dev_ratio * (double)n_ctx + 0.5);
    size_t n_test = o->test ? 0 : (size_t)(o->test_ratio * (double)n_ctx + 0.5);
    if (!(part = calloc(n_ctx ? n_ctx : 1, 1)))
        goto done;
    split_indices(n_ctx, o->seed, n_dev, n_test, part);
    if (qa_pick(&d_tr, part, 0, &s_tr) ||
        qa_pick(o->dev ? &d_dv : &d_tr, o->dev ? NULL : part, 1, &s_dv) ||
        qa_pick(o->test ? &d_te : &d_tr, o->test ? NULL : part, 2, &s_te))
        goto done;
    if (!o->dev && !n_dev)
        s_dv.n_q = 0;
    if (!o->test && !n_test)
        s_te.n_q = 0;
    if (s_tr.n_q == 0) {
        fprintf(stderr, "socle-train: no training questions left\n");
        goto done;
    }
    have_b = true;
    if (backbone_open(o, &b) != 0)
        goto done;
    size_t d = (size_t)b.info->d_model, row = b.n_mix * d;
    struct featset *const sets[3] = {&s_tr.fs, &s_dv.fs, &s_te.fs};
    char ckey[8192] = "";
    int cached = 0;
    if (o->cache) {
        struct ev_labels none = {0};
        cache_key(o, &none, b.max_seq, ckey, sizeof(ckey));
        if ((cached = cache_open(o, ckey, row, &fc, sets)) < 0)
            goto done;
    }
    double t0 = now_s();
    fcache_begin(&fc, 0);
    if (qa_features(o, &b, &s_tr, false, "train") != 0)
        goto done;
    double t_feat_train = now_s() - t0;
    t0 = now_s();
    fcache_begin(&fc, 1);
    if (s_dv.n_q && qa_features(o, &b, &s_dv, true, "dev") != 0)
        goto done;
    fcache_begin(&fc, 2);
    if (s_te.n_q && qa_features(o, &b, &s_te, true, "test") != 0)
        goto done;
    if (o->cache && cached != 1 && fcache_finish(&fc, ckey, row, sets) != 0) {
        fprintf(stderr, "socle-train: cannot write the feature cache %s: %s\n", o->cache,
                strerror(errno));
        goto done;
    }
    double t_feat_eval = now_s() - t0;
    fprintf(stderr,
            "features: train %zu questions -> %zu windows, %zu rows in %.1fs (%.1f q/s); dev+test "
            "%zu+%zu questions in %.1fs; %.1f MiB\n",
            s_tr.n_q, s_tr.n_win, s_tr.fs.n, t_feat_train,
            (double)s_tr.n_q / (t_feat_train > 0 ? t_feat_train : 1), s_dv.n_q, s_te.n_q,
            t_feat_eval,
            (double)(s_tr.fs.n + s_dv.fs.n + s_te.fs.n) * (double)row * 4.0 / 1048576.0);
    if (s_tr.n_bad + s_dv.n_bad + s_te.n_bad)
        fprintf(stderr,
                "socle-train: warning: %zu/%zu/%zu train/dev/test questions whose first answer's "
                "answer_start does not point at its text: not trained on (still scored)\n",
                s_tr.n_bad, s_dv.n_bad, s_te.n_bad);
    if (s_tr.n_skipped + s_dv.n_skipped + s_te.n_skipped)
        fprintf(stderr,
                "socle-train: warning: %zu questions with no context tokens or a question longer "
                "than the sequence: skipped (scored as empty answers)\n",
                s_tr.n_skipped + s_dv.n_skipped + s_te.n_skipped);

    struct tr_head_cfg hc = {d, b.n_mix, o->mlp, o->hidden, o->act, 2};
    if (tr_head_new(&hc, o->seed, &h) != TR_OK)
        goto done;
    struct qa_eval dev_e = {o, &s_dv, squad_v2(o->dev ? &d_dv : &d_tr), 0, 0, 0};
    struct tr_fit_opts fo = {0};
    fo.epochs = o->epochs;
    fo.batch_size = o->batch;
    fo.lr = o->lr;
    fo.weight_decay = o->wd;
    fo.warmup_ratio = o->warmup;
    fo.patience = o->patience;
    fo.seed = o->seed;
    fo.dev_metric = s_dv.n_q ? qa_dev_metric : NULL;
    fo.dev_ud = &dev_e;
    fo.progress = on_progress;
    fo.progress_ud = o;
    struct tr_data td = {.n = s_tr.n_win,
                         .feats = featset_rows(&s_tr.fs),
                         .label = s_tr.start,
                         .loss = TR_LOSS_SPAN,
                         .label_end = s_tr.end,
                         .row_off = s_tr.row_off};
    struct tr_fit_result fr;
    t0 = now_s();
    int st = tr_fit(h, &td, &fo, &fr);
    if (st != TR_OK) {
        fprintf(stderr, "socle-train: training failed: %s\n", tr_strerror(st));
        goto done;
    }
    double t_fit = now_s() - t0;
    mem_report();
    printf("trained %s qa head (%zu params) on %zu windows: %zu epochs in %.1fs (%.2fs/epoch), "
           "loss %.4f -> %.4f, best epoch %zu\n",
           o->mlp ? "mlp" : "linear", h->n_params, s_tr.n_win, fr.epochs_run, t_fit,
           t_fit / (double)fr.epochs_run, fr.first_loss, fr.final_loss, fr.best_epoch);
    if (s_dv.n_q && qa_evaluate(h, &dev_e) == 0)
        qa_print("dev", &dev_e);
    if (s_te.n_q) {
        struct qa_eval te_e = {o, &s_te, squad_v2(o->test ? &d_te : &d_tr), 0, 0, 0};
        if (qa_evaluate(h, &te_e) == 0)
            qa_print("test", &te_e);
    }
    rc = write_adapter(o, &b, h, "qa", 0, NULL, &fr, s_tr.n_win) == 0 ? 0 : 1;
done:
    tr_head_free(h);
    qa_set_clear(&s_tr);
    qa_set_clear(&s_dv);
    qa_set_clear(&s_te);
    fcache_close(&fc); /* after the last use of the mapped rows */
    if (have_b)
        backbone_close(&b);
    ev_qa_data_clear(&d_tr);
    ev_qa_data_clear(&d_dv);
    ev_qa_data_clear(&d_te);
    free(part);
    return rc;
}

int main(int argc, char **argv) {
    struct opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (o.task == T_QA)
        return main_qa(&o);
    bool ner = o.task == T_NER;
    struct dataset all = {0}, tr = {0}, dv = {0}, te = {0};
    struct ev_labels labels = {0};
    struct backbone b = {0};
    struct featset f_tr = {0}, f_dv = {0}, f_te = {0};
    struct fcache fc = {0};
    struct tr_head *h = NULL;
    uint8_t *part = NULL, *ml_t = NULL;
    int rc = 1;
    bool have_b = false;

    /* data */
    if (load_set(&o, o.train, &all) != 0)
        goto done;
    size_t n_all = ner ? all.ner.n : all.cls.n;
    size_t n_dev = o.dev ? 0 : (size_t)(o.dev_ratio * (double)n_all + 0.5);
    size_t n_test = o.test ? 0 : (size_t)(o.test_ratio * (double)n_all + 0.5);
    part = calloc(n_all, 1);
    if (!part)
        goto done;
    split_indices(n_all, o.seed, n_dev, n_test, part);
    take_part(&all, part, 0, &tr, ner);
    if (!o.dev && n_dev)
        take_part(&all, part, 1, &dv, ner);
    if (!o.test && n_test)
        take_part(&all, part, 2, &te, ner);
    /* the strings now belong to the parts: release only all's arrays */
    free(all.cls.ex);
    free(all.ner.s);
    memset(&all, 0, sizeof(all));
    if (o.dev && load_set(&o, o.dev, &dv) != 0)
        goto done;
    if (o.test && load_set(&o, o.test, &te) != 0)
        goto done;
    size_t n_tr = ner ? tr.ner.n : tr.cls.n, n_dv = ner ? dv.ner.n : dv.cls.n,
           n_te = ner ? te.ner.n : te.cls.n;
    if (n_tr == 0) {
        fprintf(stderr, "socle-train: no training examples left\n");
        goto done;
    }

    /* labels */
    if (o.labels) {
        if (labels_from_list(o.labels, &labels) != 0) {
            fprintf(stderr, "socle-train: bad --labels list\n");
            goto done;
        }
    } else if (o.multi_label) {
        ml_collect(&tr.cls, &labels);
        ev_labels_sort(&labels);
    } else if (!ner) {
        for (size_t i = 0; i < tr.cls.n; i++)
            ev_labels_find(&labels, tr.cls.ex[i].label, true);
        ev_labels_sort(&labels);
    } else {
        /* O, then B-X and I-X for every type X seen in train, types sorted */
        struct ev_labels types = {0};
        for (size_t i = 0; i < tr.ner.n; i++)
            for (size_t w = 0; w < tr.ner.s[i].n; w++)
                if (strcmp(tr.ner.s[i].tags[w], "O") != 0)
                    ev_labels_find(&types, tr.ner.s[i].tags[w] + 2, true);
        ev_labels_sort(&types);
        ev_labels_find(&labels, "O", true);
        for (size_t t = 0; t < types.n; t++) {
            char tag[600];
            snprintf(tag, sizeof(tag), "B-%s", types.names[t]);
            ev_labels_find(&labels, tag, true);
            snprintf(tag, sizeof(tag), "I-%s", types.names[t]);
            ev_labels_find(&labels, tag, true);
        }
        ev_labels_clear(&types);
    }
    if (labels.n < (o.multi_label ? 1u : 2u)) {
        fprintf(stderr, "socle-train: need at least %d labels, found %zu\n", o.multi_label ? 1 : 2,
                labels.n);
        goto done;
    }

    /* frozen model: one features pass per set */
    have_b = true; /* backbone_close copes with a partly opened backbone */
    if (backbone_open(&o, &b) != 0)
        goto done;
    size_t unseen = 0;
    double t0 = now_s(), t_feat_train = 0;
    size_t d = (size_t)b.info->d_model;
    char ckey[8192] = "";
    struct featset *const sets[3] = {&f_tr, &f_dv, &f_te};
    int cached = 0;
    if (o.cache) {
        cache_key(&o, &labels, b.max_seq, ckey, sizeof(ckey));
        if ((cached = cache_open(&o, ckey, b.n_mix * d, &fc, sets)) < 0)
            goto done;
    }
    if (cached != 1) {
        fcache_begin(&fc, 0);
        if (compute_set_features(&o, &b, &tr, &labels, &f_tr, "train", &unseen) != 0)
            goto done;
        if (unseen) {
            fprintf(stderr, "socle-train: %zu training label(s) not in --labels\n", unseen);
            goto done;
        }
        t_feat_train = now_s() - t0;
        t0 = now_s();
        fcache_begin(&fc, 1);
        if (n_dv && compute_set_features(&o, &b, &dv, &labels, &f_dv, "dev", &unseen) != 0)
            goto done;
        if (unseen)
            fprintf(stderr,
                    "socle-train: warning: %zu dev %s with a label never seen in train: scored as "
                    "errors (the head cannot predict them)\n",
                    unseen,
                    ner             ? "words"
                    : o.multi_label ? "labels (in lists)"
                                    : "examples");
        fcache_begin(&fc, 2);
        if (n_te && compute_set_features(&o, &b, &te, &labels, &f_te, "test", &unseen) != 0)
            goto done;
        if (unseen)
            fprintf(stderr, "socle-train: warning: %zu test %s with a label never seen in train\n",
                    unseen,
                    ner             ? "words"
                    : o.multi_label ? "labels (in lists)"
                                    : "examples");
        if (o.cache && fcache_finish(&fc, ckey, b.n_mix * d, sets) != 0) {
            fprintf(stderr, "socle-train: cannot write the feature cache %s: %s\n", o.cache,
                    strerror(errno));
            goto done;
        }
    }
    double t_feat_eval = cached == 1 ? 0 : now_s() - t0;
    if (cached != 1)
        fprintf(
            stderr,
            "features: train %zu %s -> %zu rows in %.1fs (%.1f %s/s); dev+test %zu+%zu in %.1fs; "
            "cache %.1f MiB\n",
            n_tr, ner ? "sentences" : "texts", f_tr.n, t_feat_train,
            (double)n_tr / (t_feat_train > 0 ? t_feat_train : 1), ner ? "sent" : "texts", n_dv,
            n_te, t_feat_eval,
            (double)(f_tr.n + f_dv.n + f_te.n) * (double)(b.n_mix * d) * 4.0 / 1048576.0);

    /* head */
    struct tr_head_cfg hc = {d, b.n_mix, o.mlp, o.hidden, o.act, labels.n};
    if (tr_head_new(&hc, o.seed, &h) != TR_OK)
        goto done;
    struct eval_ctx dev_e = {&o, &f_dv, &labels, &dv.cls, ner ? &dv.ner : NULL, 0, 0, 0, 0, 0};
    struct tr_fit_opts fo = {0};
    fo.epochs = o.epochs;
    fo.batch_size = o.batch;
    fo.lr = o.lr;
    fo.weight_decay = o.wd;
    fo.warmup_ratio = o.warmup;
    fo.patience = o.patience;
    fo.seed = o.seed;
    fo.dev_metric = n_dv ? dev_metric : NULL;
    fo.dev_ud = &dev_e;
    fo.progress = on_progress;
    fo.progress_ud = &o;
    struct tr_data td = {.n = f_tr.n, .feats = featset_rows(&f_tr), .label = f_tr.y};
    if (o.multi_label) {
        if (!(ml_t = ml_row_targets(&f_tr, &tr.cls, &labels, NULL)))
            goto done;
        td.loss = TR_LOSS_SIGMOID;
        td.targets = ml_t;
    }
    struct tr_fit_result fr;
    t0 = now_s();
    int st = tr_fit(h, &td, &fo, &fr);
    if (st != TR_OK) {
        fprintf(stderr, "socle-train: training failed: %s\n", tr_strerror(st));
        goto done;
    }
    double t_fit = now_s() - t0;
    mem_report();
    printf("trained %s head (%zu labels, %zu params) on %zu rows: %zu epochs in %.1fs "
           "(%.2fs/epoch), loss %.4f -> %.4f, best epoch %zu\n",
           o.mlp ? "mlp" : "linear", labels.n, h->n_params, f_tr.n, fr.epochs_run, t_fit,
           t_fit / (double)fr.epochs_run, fr.first_loss, fr.final_loss, fr.best_epoch);
    if (n_dv) {
        dev_metric(h, &dev_e);
        print_metrics("dev", &dev_e, ner);
    }
    if (n_te) {
        struct eval_ctx te_e = {&o, &f_te, &labels, &te.cls, ner ? &te.ner : NULL, 0, 0, 0, 0, 0};
        dev_metric(h, &te_e);
        print_metrics("test", &te_e, ner);
    }

    /* adapter */
    if (write_adapter(&o, &b, h, ner ? "ner" : o.summarize ? "summarize" : "classify", labels.n,
                      (const char *const *)labels.names, &fr, f_tr.n) != 0)
        goto done;
    rc = 0;
done:
    tr_head_free(h);
    featset_clear(&f_tr);
    featset_clear(&f_dv);
    featset_clear(&f_te);
    fcache_close(&fc); /* after the last use of the mapped rows */
    free(ml_t);
    if (have_b)
        backbone_close(&b);
    ev_labels_clear(&labels);
    dataset_clear(&tr);
    dataset_clear(&dv);
    dataset_clear(&te);
    dataset_clear(&all);
    free(part);
    return rc;
}
