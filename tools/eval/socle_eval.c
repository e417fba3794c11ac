/* socle-eval — score an adapter, or a predictions file, on a labelled set.
 *
 * Two modes:
 *   socle-eval --task T --gold FILE --pred FILE      (no model needed)
 *   socle-eval --task T --model DIR [--adapters DIR] [--adapter NAME] --data FILE
 * The second runs the adapter through the tasks library (task_run), exactly as
 * socled would, and needs socle built with tasks/ (SOCLE_HAVE_TASKS).
 * Output: a readable table on stdout, or one JSON object with --json.
 * Progress (examples/s, ETA) goes to stderr when it is a terminal.
 */
#include "tools/eval/metrics.h"
#include "tools/eval/readers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#ifdef SOCLE_HAVE_TASKS
#include "tasks/task.h"
#endif
#ifdef SOCLE_HAVE_SENTENCES
#include "tasks/task_impl.h" /* task_sentences_split: lead-3 uses the summarizer's splitter */
#endif
#ifdef SOCLE_HAVE_CLIENT
#include "clients/socle.h"

#endif

/* NER ignore list that drops no token ("" is no label): token-level evaluation
 * needs the O tokens too. */
__attribute__((unused)) static const char *const KEEP_ALL_LABELS[] = {""};

enum task { T_NONE, T_CLASSIFY, T_NER, T_QA, T_SUMMARIZE };
enum baseline { B_NONE, B_MAJORITY, B_LEAD3, B_OVERLAP, B_MEMO };

struct opts {
    enum task task;
    const char *gold, *pred, *data, *model, *adapters, *adapter, *format, *endpoint;
    const char *text_field, *label_field, *pred_field, *ref_field, *train;
    bool no_header, json, squad_v2, rouge_unicode, progress, ner_tokens;
    enum ev_stemmer rouge_stem;
    enum baseline baseline;
    size_t sum_sentences; /* summarize --model: sentences per summary (0 with ratio) */
    float sum_ratio;
    enum ev_ner_mode ner_mode;
    enum ev_lang lang;
    struct ev_limits limits;
    size_t batch;
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: socle-eval --task classify|ner|qa|summarize (--gold FILE --pred FILE | --model "
            "DIR [--adapters DIR] [--adapter NAME] --data FILE | --endpoint EP [--adapter NAME] "
            "--data FILE) [options]\n"
            "\n"
            "  --model DIR       run the adapter in-process through the tasks library\n"
            "  --endpoint EP     run it on a running socled (tcp://HOST:PORT, ipc://PATH)\n"
            "\n"
            "  --format F        gold/data format: jsonl csv tsv (classify), conll spans (ner),\n"
            "                    squad (qa), jsonl (summarize); default from the extension\n"
            "  --text-field F    JSONL key / CSV column(s) of the text (default text; a,b joins)\n"
            "  --label-field F   JSONL key / CSV column of the label (default label)\n"
            "  --no-header       CSV/TSV without header: fields are 0-based indices\n"
            "  --pred-field F    key of the prediction in a JSONL predictions file\n"
            "                    (default label; summarize: summary)\n"
            "  --ref-field F     summarize: key of the reference summary (default summary)\n"
            "  --ner-mode M      strict (seqeval strict IOB2, default) | conll (seqeval default)\n"
            "  --ner-aggregation first (default: the entities socled returns, HF aggregation\n"
            "                    first) | none (token labels; each CoNLL word takes its first\n"
            "                    sub-token's tag, then seqeval: HF run_ner's evaluation)\n"
            "  --lang en|fr      SQuAD answer normalization (default en = official v1.1)\n"
            "  --squad-v2        SQuAD 2.0 empty-answer rule (automatic for version v2.x)\n"
            "  --rouge-unicode   ROUGE tokens of any script (default: rouge_score's a-z0-9)\n"
            "  --rouge-stem      also score with the Porter (1980) stemmer (ROUGE-1.5.5 -m)\n"
            "  --rouge-stem-nltk also score with NLTK's Porter variant (rouge_score\n"
            "                    use_stemmer=True); both report unstemmed scores as well\n"
            "  --sentences N     summarize --model: sentences per summary (default 3)\n"
            "  --ratio R         summarize --model: that share of the sentences instead\n"
            "  --baseline B      scored in the same run, next to the model:\n"
            "                    majority (classify: most frequent label of --train FILE),\n"
            "                    memo (ner, CoNLL: each word's most frequent tag in --train),\n"
            "                    lead3 (summarize: first 3 sentences of the text field),\n"
            "                    overlap (qa: sentence sharing most words with the question)\n"
            "  --train FILE      labelled training data for --baseline majority / memo\n"
            "  --max-bytes N     refuse input files larger than N bytes (default 512 MiB)\n"
            "  --max-examples N  read at most N examples\n"
            "  --batch N         texts per task_run call in --model mode (default 32)\n"
            "  --json            print one JSON object instead of tables\n"
            "\n"
            "Predictions files: classify: JSONL with --pred-field, or one label per line;\n"
            "ner: CoNLL aligned with the gold file (or span JSONL with --format spans);\n"
            "qa: the official SQuAD predictions JSON {\"id\": \"answer\"}; summarize: JSONL.\n");
}

static int parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof(*o));
    o->batch = 32;
    o->progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (ARG("--task")) {
            o->task = strcmp(v, "classify") == 0    ? T_CLASSIFY
                      : strcmp(v, "ner") == 0       ? T_NER
                      : strcmp(v, "qa") == 0        ? T_QA
                      : strcmp(v, "summarize") == 0 ? T_SUMMARIZE
                                                    : T_NONE;
            if (o->task == T_NONE) {
                fprintf(stderr, "socle-eval: unknown task '%s'\n", v);
                return -1;
            }
        } else if (ARG("--gold")) {
            o->gold = v;
        } else if (ARG("--pred")) {
            o->pred = v;
        } else if (ARG("--data")) {
            o->data = v;
        } else if (ARG("--model")) {
            o->model = v;
        } else if (ARG("--endpoint")) {
            o->endpoint = v;
        } else if (ARG("--adapters")) {
            o->adapters = v;
        } else if (ARG("--adapter")) {
            o->adapter = v;
        } else if (ARG("--format")) {
            o->format = v;
        } else if (ARG("--text-field")) {
            o->text_field = v;
        } else if (ARG("--label-field")) {
            o->label_field = v;
        } else if (ARG("--pred-field")) {
            o->pred_field = v;
        } else if (ARG("--ref-field")) {
            o->ref_field = v;
        } else if (strcmp(a, "--no-header") == 0) {
            o->no_header = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--squad-v2") == 0) {
            o->squad_v2 = true;
        } else if (ARG("--ner-aggregation")) {
            if (strcmp(v, "first") == 0)
                o->ner_tokens = false;
            else if (strcmp(v, "none") == 0)
                o->ner_tokens = true;
            else {
                fprintf(stderr, "socle-eval: --ner-aggregation first|none\n");
                return -1;
            }
        } else if (strcmp(a, "--rouge-unicode") == 0) {
            o->rouge_unicode = true;
        } else if (strcmp(a, "--rouge-stem") == 0) {
            o->rouge_stem = EV_STEM_PORTER;
        } else if (strcmp(a, "--rouge-stem-nltk") == 0) {
            o->rouge_stem = EV_STEM_PORTER_NLTK;
        } else if (ARG("--baseline")) {
            o->baseline = strcmp(v, "majority") == 0  ? B_MAJORITY
                          : strcmp(v, "lead3") == 0   ? B_LEAD3
                          : strcmp(v, "overlap") == 0 ? B_OVERLAP
                          : strcmp(v, "memo") == 0    ? B_MEMO
                                                      : B_NONE;
            if (o->baseline == B_NONE) {
                fprintf(stderr, "socle-eval: --baseline majority|memo|overlap|lead3\n");
                return -1;
            }
        } else if (ARG("--train")) {
            o->train = v;
        } else if (ARG("--sentences")) {
            if (parse_size(v, &o->sum_sentences) || o->sum_sentences == 0)
                goto bad_num;
        } else if (ARG("--ratio")) {
            char *end;
            o->sum_ratio = strtof(v, &end);
            if (*end || !(o->sum_ratio > 0.0f && o->sum_ratio <= 1.0f)) {
                fprintf(stderr, "socle-eval: --ratio needs a number in (0, 1]\n");
                return -1;
            }
        } else if (ARG("--ner-mode")) {
            if (strcmp(v, "strict") == 0)
                o->ner_mode = EV_NER_STRICT;
            else if (strcmp(v, "conll") == 0)
                o->ner_mode = EV_NER_CONLL;
            else {
                fprintf(stderr, "socle-eval: --ner-mode strict|conll\n");
                return -1;
            }
        } else if (ARG("--lang")) {
            if (strcmp(v, "en") == 0)
                o->lang = EV_LANG_EN;
            else if (strcmp(v, "fr") == 0)
                o->lang = EV_LANG_FR;
            else {
                fprintf(stderr, "socle-eval: --lang en|fr\n");
                return -1;
            }
        } else if (ARG("--max-bytes")) {
            if (parse_size(v, &o->limits.max_bytes))
                goto bad_num;
        } else if (ARG("--max-examples")) {
            if (parse_size(v, &o->limits.max_examples))
                goto bad_num;
        } else if (ARG("--batch")) {
            if (parse_size(v, &o->batch) || o->batch == 0)
                goto bad_num;
        } else {
            fprintf(stderr, "socle-eval: unknown or incomplete option '%s' (see --help)\n", a);
            return -1;
        }
        continue;
    bad_num:
        fprintf(stderr, "socle-eval: %s needs a non-negative integer\n", a);
        return -1;
#undef ARG
    }
    if (o->task == T_NONE) {
        fprintf(stderr, "socle-eval: --task is required (see --help)\n");
        return -1;
    }
    bool gold_mode = o->gold || o->pred, model_mode = o->model || o->endpoint || o->data;
    if (gold_mode == model_mode || (gold_mode && (!o->gold || !o->pred)) ||
        (model_mode && (!o->data || (!o->model == !o->endpoint)))) {
        fprintf(stderr, "socle-eval: give either --gold and --pred, or --data with one of --model "
                        "or --endpoint\n");
        return -1;
    }
    static const enum task base_task[] = {T_NONE, T_CLASSIFY, T_SUMMARIZE, T_QA, T_NER};
    if (o->baseline != B_NONE && base_task[o->baseline] != o->task) {
        fprintf(stderr, "socle-eval: --baseline majority is for classify, memo for ner, overlap "
                        "for qa, lead3 for summarize\n");
        return -1;
    }
    if ((o->baseline == B_MAJORITY || o->baseline == B_MEMO) != (o->train != NULL)) {
        fprintf(stderr, "socle-eval: --baseline majority and memo need --train FILE (and --train "
                        "is only used by them)\n");
        return -1;
    }
    if (o->sum_sentences && o->sum_ratio > 0.0f) {
        fprintf(stderr, "socle-eval: give --sentences or --ratio, not both\n");
        return -1;
    }
    if (!o->sum_sentences && !(o->sum_ratio > 0.0f))
        o->sum_sentences = 3;
    return 0;
}

static bool has_ext(const char *p, const char *e) {
    size_t n = strlen(p), k = strlen(e);
    return n >= k && strcmp(p + n - k, e) == 0;
}

static bool fmt_is(const struct opts *o, const char *f) {
    return o->format && strcmp(o->format, f) == 0;
}

/* ---- progress ---- */

#if defined(SOCLE_HAVE_TASKS) || defined(SOCLE_HAVE_CLIENT)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(const struct opts *o, double t0, size_t done, size_t total) {
    if (!o->progress)
        return;
    double el = now_s() - t0, rate = el > 0 ? (double)done / el : 0.0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0.0;
    fprintf(stderr, "\r  %zu/%zu examples  %.1f ex/s  ETA %.0fs   ", done, total, rate, eta);
    if (done == total)
        fputc('\n', stderr);
}
#endif

/* ---- output ---- */

static void print_prf_row(const char *name, const struct ev_prf *m) {
    printf("  %-24s %9.4f %9.4f %9.4f %9zu %9zu\n", name, m->precision, m->recall, m->f1, m->n_true,
           m->n_pred);
}

static struct json_object *jprf(const struct ev_prf *m) {
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "precision", json_object_new_double(m->precision));
    json_object_object_add(o, "recall", json_object_new_double(m->recall));
    json_object_object_add(o, "f1", json_object_new_double(m->f1));
    json_object_object_add(o, "support", json_object_new_int64((int64_t)m->n_true));
    json_object_object_add(o, "predicted", json_object_new_int64((int64_t)m->n_pred));
    json_object_object_add(o, "correct", json_object_new_int64((int64_t)m->n_match));
    return o;
}

static void emit_json(struct json_object *o) {
    printf("%s\n",
           json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* The --baseline majority predictions, scored with the model's (bp == NULL: none). */
struct cls_base {
    int32_t *pred; /* (n) the majority label's id for every example */
    char *label;
};

static int report_cls(const struct opts *o, const struct ev_labels *labels, const int32_t *gold,
                      const int32_t *pred, size_t n, const struct cls_base *base) {
    struct ev_cls_report r, rb = {0};
    int st = ev_cls_score(gold, pred, n, labels->n, &r);
    if (st == EV_OK && base && base->pred) {
        st = ev_cls_score(gold, base->pred, n, labels->n, &rb);
        if (st != EV_OK)
            ev_cls_report_clear(&r);
    }
    if (st != EV_OK) {
        fprintf(stderr, "socle-eval: %s\n", ev_strerror(st));
        return 1;
    }
    bool has_base = base && base->pred;
    if (o->json) {
        struct json_object *j = json_object_new_object(), *pl = json_object_new_object();
        json_object_object_add(j, "task", json_object_new_string("classify"));
        json_object_object_add(j, "examples", json_object_new_int64((int64_t)n));
        json_object_object_add(j, "accuracy", json_object_new_double(r.accuracy));
        json_object_object_add(j, "macro_precision", json_object_new_double(r.macro_precision));
        json_object_object_add(j, "macro_recall", json_object_new_double(r.macro_recall));
        json_object_object_add(j, "macro_f1", json_object_new_double(r.macro_f1));
        json_object_object_add(j, "weighted_f1", json_object_new_double(r.weighted_f1));
        for (size_t c = 0; c < labels->n; c++)
            json_object_object_add(pl, labels->names[c], jprf(&r.per_label[c]));
        json_object_object_add(j, "per_label", pl);
        if (has_base) {
            struct json_object *b = json_object_new_object();
            json_object_object_add(b, "name", json_object_new_string("majority"));
            json_object_object_add(b, "label", json_object_new_string(base->label));
            json_object_object_add(b, "train", json_object_new_string(o->train));
            json_object_object_add(b, "accuracy", json_object_new_double(rb.accuracy));
            json_object_object_add(b, "macro_f1", json_object_new_double(rb.macro_f1));
            json_object_object_add(b, "weighted_f1", json_object_new_double(rb.weighted_f1));
            json_object_object_add(j, "baseline", b);
        }
        emit_json(j);
    } else {
        printf("classification: %zu examples, %zu labels\n", n, labels->n);
        printf("  accuracy %.4f   macro-F1 %.4f   (macro P %.4f, macro R %.4f, weighted F1 %.4f)\n",
               r.accuracy, r.macro_f1, r.macro_precision, r.macro_recall, r.weighted_f1);
        if (has_base)
            printf("  baseline majority (\"%s\", most frequent in %s): accuracy %.4f   "
                   "macro-F1 %.4f\n",
                   base->label, o->train, rb.accuracy, rb.macro_f1);
        printf("\n");
        printf("  %-24s %9s %9s %9s %9s %9s\n", "label", "precision", "recall", "f1", "support",
               "predicted");
        for (size_t c = 0; c < labels->n; c++)
            print_prf_row(labels->names[c], &r.per_label[c]);
    }
    ev_cls_report_clear(&r);
    if (has_base)
        ev_cls_report_clear(&rb);
    return 0;
}

/* base: the memo baseline's scorer over the same sentences, or NULL. */
static int report_ner(const struct opts *o, const struct ev_ner *s, bool tags,
                      const struct ev_ner *base) {
    struct ev_ner_report r, rb = {0};
    if (ev_ner_report(s, &r) != EV_OK) {
        fprintf(stderr, "socle-eval: out of memory\n");
        return 1;
    }
    if (base && ev_ner_report(base, &rb) != EV_OK) {
        ev_ner_report_clear(&r);
        fprintf(stderr, "socle-eval: out of memory\n");
        return 1;
    }
    const char *mode = o->ner_mode == EV_NER_STRICT ? "strict IOB2" : "conlleval";
    if (o->json) {
        struct json_object *j = json_object_new_object(), *pt = json_object_new_object();
        json_object_object_add(j, "task", json_object_new_string("ner"));
        json_object_object_add(j, "mode", json_object_new_string(mode));
        json_object_object_add(j, "sentences", json_object_new_int64((int64_t)r.n_sentences));
        json_object_object_add(j, "micro", jprf(&r.micro));
        json_object_object_add(j, "macro_f1", json_object_new_double(r.macro_f1));
        if (tags)
            json_object_object_add(j, "token_accuracy", json_object_new_double(r.token_accuracy));
        for (size_t t = 0; t < r.n_types; t++)
            json_object_object_add(pt, r.type_names[t], jprf(&r.per_type[t]));
        json_object_object_add(j, "per_type", pt);
        if (base) {
            struct json_object *b = json_object_new_object(), *bt = json_object_new_object();
            json_object_object_add(b, "name", json_object_new_string("memo"));
            json_object_object_add(b, "train", json_object_new_string(o->train));
            json_object_object_add(b, "micro", jprf(&rb.micro));
            json_object_object_add(b, "macro_f1", json_object_new_double(rb.macro_f1));
            for (size_t t = 0; t < rb.n_types; t++)
                json_object_object_add(bt, rb.type_names[t], jprf(&rb.per_type[t]));
            json_object_object_add(b, "per_type", bt);
            json_object_object_add(j, "baseline", b);
        }
        emit_json(j);
    } else {
        printf("NER (entity level, %s): %zu sentences\n", mode, r.n_sentences);
        printf("  micro P %.4f  R %.4f  F1 %.4f   macro F1 %.4f", r.micro.precision, r.micro.recall,
               r.micro.f1, r.macro_f1);
        if (tags)
            printf("   token accuracy %.4f", r.token_accuracy);
        if (base)
            printf("\n  baseline memo (each word's most frequent tag in %s): micro P %.4f  R %.4f"
                   "  F1 %.4f   macro F1 %.4f",
                   o->train, rb.micro.precision, rb.micro.recall, rb.micro.f1, rb.macro_f1);
        printf("\n\n  %-24s %9s %9s %9s %9s %9s\n", "type", "precision", "recall", "f1", "support",
               "predicted");
        for (size_t t = 0; t < r.n_types; t++)
            print_prf_row(r.type_names[t], &r.per_type[t]);
        print_prf_row("(micro)", &r.micro);
    }
    ev_ner_report_clear(&r);
    if (base)
        ev_ner_report_clear(&rb);
    return 0;
}

/* base: the overlap baseline's {EM, F1} in [0, 1], or NULL. */
static int report_qa(const struct opts *o, double em, double f1, size_t n, size_t missing,
                     size_t bad_offsets, const double *base) {
    if (o->json) {
        struct json_object *j = json_object_new_object();
        json_object_object_add(j, "task", json_object_new_string("qa"));
        json_object_object_add(j, "questions", json_object_new_int64((int64_t)n));
        json_object_object_add(j, "exact_match", json_object_new_double(100.0 * em));
        json_object_object_add(j, "f1", json_object_new_double(100.0 * f1));
        json_object_object_add(j, "missing_predictions", json_object_new_int64((int64_t)missing));
        json_object_object_add(j, "gold_bad_offsets", json_object_new_int64((int64_t)bad_offsets));
        json_object_object_add(j, "normalization",
                               json_object_new_string(o->lang == EV_LANG_FR ? "fr" : "en"));
        if (base) {
            struct json_object *b = json_object_new_object();
            json_object_object_add(b, "name", json_object_new_string("overlap"));
            json_object_object_add(b, "exact_match", json_object_new_double(100.0 * base[0]));
            json_object_object_add(b, "f1", json_object_new_double(100.0 * base[1]));
            json_object_object_add(j, "baseline", b);
        }
        emit_json(j);
    } else {
        printf("QA (SQuAD, %s normalization): %zu questions\n",
               o->lang == EV_LANG_FR ? "French" : "official English", n);
        printf("  exact_match %.2f   f1 %.2f\n", 100.0 * em, 100.0 * f1);
        if (base)
            printf("  baseline overlap (sentence sharing most question words): exact_match %.2f"
                   "   f1 %.2f\n",
                   100.0 * base[0], 100.0 * base[1]);
        if (missing)
            printf("  %zu question(s) without a prediction (scored 0, as the official script)\n",
                   missing);
        if (bad_offsets)
            printf("  note: %zu gold answer(s) whose answer_start does not match the context "
                   "(texts still used)\n",
                   bad_offsets);
    }
    return 0;
}

/* ROUGE sums over pairs: [0] without stemming, [1] with o->rouge_stem. */
struct sum_scores {
    struct ev_rouge_score s[2][EV_ROUGE_COUNT];
};

static const char *const k_rouge_names[EV_ROUGE_COUNT] = {"rouge1", "rouge2", "rougeL",
                                                          "rougeLsum"};

static const char *stem_name(enum ev_stemmer st) {
    return st == EV_STEM_PORTER ? "porter" : st == EV_STEM_PORTER_NLTK ? "porter-nltk" : "none";
}

/* Means of one variant as {"rouge1": {precision, recall, fmeasure}, ...} added to j. */
static void jrouge_add(struct json_object *j, const struct ev_rouge_score *sum, double d) {
    for (int k = 0; k < EV_ROUGE_COUNT; k++) {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "precision", json_object_new_double(sum[k].precision / d));
        json_object_object_add(m, "recall", json_object_new_double(sum[k].recall / d));
        json_object_object_add(m, "fmeasure", json_object_new_double(sum[k].fmeasure / d));
        json_object_object_add(j, k_rouge_names[k], m);
    }
}

/* Unstemmed scores at the top of j, stemmed ones (when asked) under "stemmed". */
static void jrouge_system(const struct opts *o, struct json_object *j, const struct sum_scores *sc,
                          double d) {
    jrouge_add(j, sc->s[0], d);
    if (o->rouge_stem != EV_STEM_NONE) {
        struct json_object *st = json_object_new_object();
        json_object_object_add(st, "stemmer", json_object_new_string(stem_name(o->rouge_stem)));
        jrouge_add(st, sc->s[1], d);
        json_object_object_add(j, "stemmed", st);
    }
}

static void print_rouge_prf(const char *title, const struct ev_rouge_score *sum, double d) {
    printf("  %s\n  %-10s %9s %9s %9s\n", title, "", "precision", "recall", "fmeasure");
    for (int k = 0; k < EV_ROUGE_COUNT; k++)
        printf("  %-10s %9.4f %9.4f %9.4f\n", k_rouge_names[k], sum[k].precision / d,
               sum[k].recall / d, sum[k].fmeasure / d);
}

/* model: the summaries scored (predictions or the summarizer's); base: lead-3 or
 * NULL; n_fail: texts the summarizer refused (scored as empty summaries). */
static int report_rouge(const struct opts *o, const struct sum_scores *model,
                        const struct sum_scores *base, size_t n, size_t n_fail) {
    double d = n ? (double)n : 1.0;
    bool stem = o->rouge_stem != EV_STEM_NONE;
    const char *tokens = o->rouge_unicode ? "unicode" : "a-z0-9";
    if (o->json) {
        struct json_object *j = json_object_new_object();
        json_object_object_add(j, "task", json_object_new_string("summarize"));
        json_object_object_add(j, "examples", json_object_new_int64((int64_t)n));
        json_object_object_add(j, "tokens", json_object_new_string(tokens));
        if (o->model || o->endpoint) {
            struct json_object *sm = json_object_new_object();
            if (o->sum_ratio > 0.0f)
                json_object_object_add(sm, "ratio", json_object_new_double(o->sum_ratio));
            else
                json_object_object_add(sm, "max_sentences",
                                       json_object_new_int64((int64_t)o->sum_sentences));
            json_object_object_add(sm, "failed", json_object_new_int64((int64_t)n_fail));
            json_object_object_add(j, "summarizer", sm);
        }
        jrouge_system(o, j, model, d);
        if (base) {
            struct json_object *b = json_object_new_object();
            json_object_object_add(b, "name", json_object_new_string("lead3"));
            jrouge_system(o, b, base, d);
            json_object_object_add(j, "baseline", b);
        }
        emit_json(j);
        return 0;
    }
    printf("ROUGE (mean over %zu pairs, %s tokens%s%s)\n", n, tokens,
           stem ? ", with and without stemming: " : ", no stemming",
           stem ? stem_name(o->rouge_stem) : "");
    if (n_fail)
        printf("  %zu text(s) the summarizer refused, scored as empty summaries\n", n_fail);
    print_rouge_prf("no stemming", model->s[0], d);
    if (stem)
        print_rouge_prf("stemmed", model->s[1], d);
    if (base) {
        printf("\n  F-measure     model  lead-3%s\n", stem ? "   model  lead-3 (stemmed)" : "");
        for (int k = 0; k < EV_ROUGE_COUNT; k++) {
            printf("  %-10s %8.4f %7.4f", k_rouge_names[k], model->s[0][k].fmeasure / d,
                   base->s[0][k].fmeasure / d);
            if (stem)
                printf(" %7.4f %7.4f", model->s[1][k].fmeasure / d, base->s[1][k].fmeasure / d);
            printf("\n");
        }
    }
    return 0;
}

/* Add the ROUGE of one pair to acc (unstemmed, and stemmed when asked). */
static int score_summary(const struct opts *o, const char *cand, const char *ref,
                         struct sum_scores *acc) {
    for (int v = 0; v < 2; v++) {
        if (v == 1 && o->rouge_stem == EV_STEM_NONE)
            break;
        struct ev_rouge_opts ro = {o->rouge_unicode, v ? o->rouge_stem : EV_STEM_NONE};
        struct ev_rouge_score sc[EV_ROUGE_COUNT];
        int st = ev_rouge(cand, strlen(cand), ref, strlen(ref), &ro, sc);
        if (st != EV_OK)
            return st;
        for (int k = 0; k < EV_ROUGE_COUNT; k++) {
            acc->s[v][k].precision += sc[k].precision;
            acc->s[v][k].recall += sc[k].recall;
            acc->s[v][k].fmeasure += sc[k].fmeasure;
        }
    }
    return EV_OK;
}

/* Sentences text[spans[i]] joined one per line (ROUGE-Lsum's sentence split),
 * line breaks inside a sentence turned into spaces. Returns NULL on ENOMEM. */
static char *join_sentences(const char *text, const size_t *starts, const size_t *ends, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += ends[i] - starts[i] + 1;
    char *out = malloc(len + 1), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = '\n';
        for (size_t b = starts[i]; b < ends[i]; b++)
            *p++ = (text[b] == '\n' || text[b] == '\r') ? ' ' : text[b];
    }
    *p = '\0';
    return out;
}

/* Lead-3: the first 3 sentences of text, split by the summarizer's own splitter
 * (tasks/sentences.c), so the baseline and the model pick from the same units. */
static int lead3(const char *text, char **out) {
#ifdef SOCLE_HAVE_SENTENCES
    struct task_span *sp = NULL;
    size_t n = 0;
    if (task_sentences_split(text, strlen(text), &sp, &n) != TASK_OK)
        return -1;
    size_t k = n < 3 ? n : 3, st[3], en[3];
    for (size_t i = 0; i < k; i++) {
        st[i] = sp[i].start;
        en[i] = sp[i].end;
    }
    free(sp);
    *out = join_sentences(text, st, en, k);
    return *out ? 0 : -1;
#else
    (void)text;
    *out = NULL;
    fprintf(stderr, "socle-eval: this build has no sentence splitter (tasks/): no lead3\n");
    return -1;
#endif
}

/* Score lead-3 of doc against ref into acc. */
static int score_lead3(const struct opts *o, const char *doc, const char *ref,
                       struct sum_scores *acc) {
    char *l3 = NULL;
    if (lead3(doc, &l3) != 0)
        return EV_ENOMEM;
    int st = score_summary(o, l3, ref, acc);
    free(l3);
    return st;
}

/* ---- gold data loading shared by both modes ---- */

static int load_cls(const struct opts *o, const char *path, struct ev_cls_data *d) {
    char err[512];
    struct ev_cls_read_opts ro = {0};
    ro.format = fmt_is(o, "jsonl") ? EV_CLS_JSONL
                : fmt_is(o, "csv") ? EV_CLS_CSV
                : fmt_is(o, "tsv") ? EV_CLS_TSV
                                   : EV_CLS_AUTO;
    ro.text_field = o->text_field;
    ro.label_field = o->label_field;
    ro.no_header = o->no_header;
    ro.limits = o->limits;
    int st = ev_cls_read(path, &ro, d, err, sizeof(err));
    if (st != EV_OK)
        fprintf(stderr, "socle-eval: %s\n", err);
    return st;
}

/* --baseline majority: the most frequent label of --train (ties: the first in
 * byte order, so the choice does not depend on the file's order), predicted for
 * all n examples; the label joins the table if gold never has it. */
static int cls_base_new(const struct opts *o, struct ev_labels *labels, size_t n,
                        struct cls_base *b) {
    memset(b, 0, sizeof(*b));
    if (o->baseline != B_MAJORITY)
        return 0;
    struct ev_cls_data t = {0};
    struct ev_labels tl = {0};
    size_t *count = NULL;
    int rc = -1;
    if (load_cls(o, o->train, &t) != EV_OK)
        goto done;
    for (size_t i = 0; i < t.n; i++)
        if (ev_labels_find(&tl, t.ex[i].label, true) < 0)
            goto done;
    if (tl.n == 0) {
        fprintf(stderr, "socle-eval: %s: no labelled example\n", o->train);
        goto done;
    }
    ev_labels_sort(&tl);
    if (!(count = calloc(tl.n, sizeof(*count))))
        goto done;
    for (size_t i = 0; i < t.n; i++)
        count[ev_labels_find(&tl, t.ex[i].label, false)]++;
    size_t best = 0;
    for (size_t c = 1; c < tl.n; c++)
        if (count[c] > count[best])
            best = c;
    int32_t id = ev_labels_find(labels, tl.names[best], true);
    b->label = strdup(tl.names[best]);
    b->pred = malloc((n ? n : 1) * sizeof(*b->pred));
    if (id < 0 || !b->label || !b->pred)
        goto done;
    for (size_t i = 0; i < n; i++)
        b->pred[i] = id;
    rc = 0;
done:
    if (rc != 0) {
        free(b->label);
        free(b->pred);
        memset(b, 0, sizeof(*b));
    }
    free(count);
    ev_labels_clear(&tl);
    ev_cls_data_clear(&t);
    return rc;
}

static void cls_base_clear(struct cls_base *b) {
    free(b->label);
    free(b->pred);
    memset(b, 0, sizeof(*b));
}

/* A predictions file for classification: JSONL objects (field --pred-field) or
 * one bare label per line. Empty lines are skipped in both. */
static int load_cls_preds(const struct opts *o, char ***out, size_t *n_out) {
    FILE *f = fopen(o->pred, "rb");
    if (!f) {
        fprintf(stderr, "socle-eval: %s: %s\n", o->pred, strerror(errno));
        return EV_EIO;
    }
    /* Same size cap as the readers: getline below can then never grow past it. */
    struct stat sb;
    size_t cap_bytes = o->limits.max_bytes ? o->limits.max_bytes : (size_t)512 << 20;
    if (fstat(fileno(f), &sb) != 0 || (uint64_t)sb.st_size > (uint64_t)cap_bytes) {
        fprintf(stderr, "socle-eval: %s: larger than %zu bytes (--max-bytes)\n", o->pred,
                cap_bytes);
        fclose(f);
        return EV_ELIMIT;
    }
    char *line = NULL;
    size_t cap = 0, n = 0, ncap = 0, lineno = 0;
    char **v = NULL;
    ssize_t len;
    int st = EV_OK;
    const char *field = o->pred_field ? o->pred_field : "label";
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *label = NULL;
        if (line[0] == '{') {
            struct json_object *obj = json_tokener_parse(line), *jl = NULL;
            if (obj && json_object_object_get_ex(obj, field, &jl) && jl)
                label = strdup(json_object_is_type(jl, json_type_string)
                                   ? json_object_get_string(jl)
                                   : json_object_to_json_string_ext(jl, JSON_C_TO_STRING_PLAIN));
            json_object_put(obj);
            if (!label) {
                fprintf(stderr, "socle-eval: %s:%zu: no field \"%s\"\n", o->pred, lineno, field);
                st = EV_EFORMAT;
                break;
            }
        } else {
            label = strdup(line);
        }
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 256;
            char **nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                free(label);
                st = EV_ENOMEM;
                break;
            }
            v = nv;
        }
        v[n++] = label;
    }
    free(line);
    fclose(f);
    *out = v;
    *n_out = n;
    return st;
}

static int run_cls_gold(const struct opts *o) {
    struct ev_cls_data g = {0};
    char **preds = NULL;
    size_t np = 0;
    int rc = 1;
    struct ev_labels labels = {0};
    int32_t *gi = NULL, *pi = NULL;
    struct cls_base base = {0};
    if (load_cls(o, o->gold, &g) != EV_OK || load_cls_preds(o, &preds, &np) != EV_OK)
        goto done;
    if (np != g.n) {
        fprintf(stderr, "socle-eval: %zu predictions for %zu gold examples\n", np, g.n);
        goto done;
    }
    gi = malloc(g.n * sizeof(*gi));
    pi = malloc(g.n * sizeof(*pi));
    if (!gi || !pi)
        goto done;
    for (size_t i = 0; i < g.n; i++)
        if (ev_labels_find(&labels, g.ex[i].label, true) < 0)
            goto done;
    ev_labels_sort(&labels); /* stable label order whatever the file order */
    for (size_t i = 0; i < g.n; i++) {
        gi[i] = ev_labels_find(&labels, g.ex[i].label, false);
        pi[i] =
            ev_labels_find(&labels, preds[i], true); /* a label never in gold is its own class */
        if (pi[i] < 0)
            goto done;
    }
    if (cls_base_new(o, &labels, g.n, &base) != 0)
        goto done;
    rc = report_cls(o, &labels, gi, pi, g.n, &base);
done:
    cls_base_clear(&base);
    for (size_t i = 0; i < np; i++)
        free(preds[i]);
    free(preds);
    free(gi);
    free(pi);
    ev_labels_clear(&labels);
    ev_cls_data_clear(&g);
    return rc;
}

static int load_conll(const struct opts *o, const char *path, struct ev_ner_data *d) {
    char err[512];
    struct ev_conll_opts co = ev_conll_opts_default();
    co.limits = o->limits;
    /* Predictions may use any tag set the decoder accepts; validation of the
     * prefixes happens in the scorer (with the sentence and position). */
    co.check_iob2 = false;
    int st = ev_conll_read(path, &co, d, err, sizeof(err));
    if (st != EV_OK)
        fprintf(stderr, "socle-eval: %s\n", err);
    return st;
}

static int load_spans(const struct opts *o, const char *path, struct ev_span_data *d) {
    char err[512];
    int st = ev_spans_read(path, &o->limits, d, err, sizeof(err));
    if (st != EV_OK)
        fprintf(stderr, "socle-eval: %s\n", err);
    return st;
}

static int spans_to_entities(struct ev_ner *s, const struct ev_span_doc *doc,
                             struct ev_entity **out) {
    struct ev_entity *e = malloc((doc->n ? doc->n : 1) * sizeof(*e));
    if (!e)
        return EV_ENOMEM;
    for (size_t k = 0; k < doc->n; k++) {
        e[k].start = doc->spans[k].start;
        e[k].end = doc->spans[k].end;
        int st = ev_ner_type(s, doc->spans[k].label, strlen(doc->spans[k].label), &e[k].type);
        if (st != EV_OK) {
            free(e);
            return st;
        }
    }
    *out = e;
    return EV_OK;
}

/* --baseline memo: learn word -> tag from --train (CoNLL), predict every gold
 * sentence of g, score into *out (a scorer the caller frees). */
static int ner_memo_score(const struct opts *o, const struct ev_ner_data *g, struct ev_ner **out) {
    struct ev_ner_data t = {0};
    struct ev_ner_memo *m = NULL;
    struct ev_ner *sb = NULL;
    char **tags = NULL;
    size_t max_n = 1;
    int rc = -1;
    *out = NULL;
    if (load_conll(o, o->train, &t) != EV_OK || ev_ner_memo_new(&m) != EV_OK ||
        ev_ner_new(o->ner_mode, &sb) != EV_OK)
        goto done;
    for (size_t i = 0; i < t.n; i++)
        for (size_t k = 0; k < t.s[i].n; k++)
            if (ev_ner_memo_add(m, t.s[i].tokens[k], t.s[i].tags[k]) != EV_OK)
                goto done;
    for (size_t i = 0; i < g->n; i++)
        max_n = g->s[i].n > max_n ? g->s[i].n : max_n;
    if (!(tags = calloc(max_n, sizeof(*tags))))
        goto done;
    for (size_t i = 0; i < g->n; i++) {
        const struct ev_ner_sentence *se = &g->s[i];
        size_t bad = 0;
        if (ev_ner_memo_predict(m, (const char *const *)se->tokens, se->n, tags) != EV_OK)
            goto done;
        int st = ev_ner_add_tags(sb, (const char *const *)se->tags, (const char *const *)tags,
                                 se->n, &bad);
        for (size_t k = 0; k < se->n; k++)
            free(tags[k]);
        if (st != EV_OK) {
            fprintf(stderr, "socle-eval: memo baseline: sentence %zu (%s:%zu): %s\n", i + 1,
                    o->data ? o->data : o->gold, se->line, ev_strerror(st));
            goto done;
        }
    }
    *out = sb;
    sb = NULL;
    rc = 0;
done:
    free(tags);
    ev_ner_free(sb);
    ev_ner_memo_free(m);
    ev_ner_data_clear(&t);
    return rc;
}

static int run_ner_gold(const struct opts *o) {
    struct ev_ner *s = NULL;
    int rc = 1;
    if (ev_ner_new(o->ner_mode, &s) != EV_OK)
        return 1;
    bool spans = fmt_is(o, "spans") || (!o->format && has_ext(o->gold, ".jsonl"));
    if (spans && o->baseline == B_MEMO) {
        fprintf(stderr, "socle-eval: --baseline memo needs CoNLL data (words)\n");
        ev_ner_free(s);
        return 1;
    }
    if (spans) {
        struct ev_span_data g = {0}, p = {0};
        if (load_spans(o, o->gold, &g) == EV_OK && load_spans(o, o->pred, &p) == EV_OK) {
            if (g.n != p.n) {
                fprintf(stderr, "socle-eval: %zu predicted documents for %zu gold\n", p.n, g.n);
            } else {
                rc = 0;
                for (size_t i = 0; i < g.n && rc == 0; i++) {
                    struct ev_entity *ge = NULL, *pe = NULL;
                    if (spans_to_entities(s, &g.d[i], &ge) != EV_OK ||
                        spans_to_entities(s, &p.d[i], &pe) != EV_OK ||
                        ev_ner_add_entities(s, ge, g.d[i].n, pe, p.d[i].n) != EV_OK)
                        rc = 1;
                    free(ge);
                    free(pe);
                }
                if (rc == 0)
                    rc = report_ner(o, s, false, NULL);
            }
        }
        ev_span_data_clear(&g);
        ev_span_data_clear(&p);
    } else {
        struct ev_ner_data g = {0}, p = {0};
        if (load_conll(o, o->gold, &g) == EV_OK && load_conll(o, o->pred, &p) == EV_OK) {
            if (g.n != p.n) {
                fprintf(stderr, "socle-eval: %zu predicted sentences for %zu gold\n", p.n, g.n);
            } else {
                rc = 0;
                for (size_t i = 0; i < g.n && rc == 0; i++) {
                    if (g.s[i].n != p.s[i].n) {
                        fprintf(stderr,
                                "socle-eval: sentence %zu (%s:%zu) has %zu tokens, prediction "
                                "(%s:%zu) %zu\n",
                                i + 1, o->gold, g.s[i].line, g.s[i].n, o->pred, p.s[i].line,
                                p.s[i].n);
                        rc = 1;
                        break;
                    }
                    size_t bad = 0;
                    int st = ev_ner_add_tags(s, (const char *const *)g.s[i].tags,
                                             (const char *const *)p.s[i].tags, g.s[i].n, &bad);
                    if (st == EV_EINVAL) {
                        fprintf(stderr,
                                "socle-eval: sentence %zu token %zu: tag not allowed by the "
                                "scheme (gold '%s', predicted '%s')\n",
                                i + 1, bad + 1, g.s[i].tags[bad], p.s[i].tags[bad]);
                        rc = 1;
                    } else if (st != EV_OK) {
                        rc = 1;
                    }
                }
                struct ev_ner *sb = NULL;
                if (rc == 0 && o->baseline == B_MEMO && ner_memo_score(o, &g, &sb) != 0)
                    rc = 1;
                if (rc == 0)
                    rc = report_ner(o, s, true, sb);
                ev_ner_free(sb);
            }
        }
        ev_ner_data_clear(&g);
        ev_ner_data_clear(&p);
    }
    ev_ner_free(s);
    return rc;
}

static int load_squad(const struct opts *o, const char *path, struct ev_qa_data *d) {
    char err[512];
    int st = ev_squad_read(path, &o->limits, d, err, sizeof(err));
    if (st != EV_OK)
        fprintf(stderr, "socle-eval: %s\n", err);
    return st;
}

/* Score one question; answer may be NULL (no prediction: scores 0 as in the
 * official script, which prints a message and skips it). */
static int score_question(const struct opts *o, bool v2, const struct ev_qa_item *q,
                          const char *answer, double *em, double *f1) {
    *em = *f1 = 0.0;
    if (!answer)
        return EV_OK;
    size_t *lens = malloc((q->n_answers ? q->n_answers : 1) * sizeof(*lens));
    if (!lens)
        return EV_ENOMEM;
    for (size_t k = 0; k < q->n_answers; k++)
        lens[k] = strlen(q->answers[k]);
    int st = ev_squad_score(answer, strlen(answer), (const char *const *)q->answers, lens,
                            q->n_answers, o->lang, v2, em, f1);
    free(lens);
    return st;
}

/* --baseline overlap over every question of g: mean EM and F1 into base[0..1]. */
static int qa_overlap_scores(const struct opts *o, bool v2, const struct ev_qa_data *g,
                             double base[2]) {
    base[0] = base[1] = 0.0;
    for (size_t i = 0; i < g->n; i++) {
        const struct ev_qa_item *q = &g->q[i];
        const char *ctx = g->contexts[q->context];
        char *ans = NULL;
        double em, f1;
        int st = ev_qa_overlap_answer(q->question, strlen(q->question), ctx, strlen(ctx), &ans);
        if (st == EV_OK)
            st = score_question(o, v2, q, ans, &em, &f1);
        free(ans);
        if (st != EV_OK) {
            fprintf(stderr, "socle-eval: overlap baseline, question %s: %s\n", q->id,
                    ev_strerror(st));
            return st;
        }
        base[0] += em;
        base[1] += f1;
    }
    base[0] /= g->n ? (double)g->n : 1.0;
    base[1] /= g->n ? (double)g->n : 1.0;
    return EV_OK;
}

static int run_qa_gold(const struct opts *o) {
    struct ev_qa_data g = {0};
    struct ev_kv_map p = {0};
    char err[512];
    int rc = 1;
    if (load_squad(o, o->gold, &g) != EV_OK)
        return 1;
    if (ev_predictions_read(o->pred, &o->limits, &p, err, sizeof(err)) != EV_OK) {
        fprintf(stderr, "socle-eval: %s\n", err);
        goto done;
    }
    bool v2 = o->squad_v2 || strncmp(g.version, "v2", 2) == 0 || strncmp(g.version, "2", 1) == 0;
    double sem = 0, sf1 = 0;
    size_t missing = 0;
    for (size_t i = 0; i < g.n; i++) {
        const char *ans = ev_kv_get(&p, g.q[i].id);
        missing += ans == NULL;
        double em, f1;
        if (score_question(o, v2, &g.q[i], ans, &em, &f1) != EV_OK) {
            fprintf(stderr, "socle-eval: question %s: invalid text\n", g.q[i].id);
            goto done;
        }
        sem += em;
        sf1 += f1;
    }
    double base[2];
    bool has_base = o->baseline == B_OVERLAP;
    if (has_base && qa_overlap_scores(o, v2, &g, base) != EV_OK)
        goto done;
    rc = report_qa(o, sem / (double)g.n, sf1 / (double)g.n, g.n, missing, g.n_bad_offsets,
                   has_base ? base : NULL);
done:
    ev_qa_data_clear(&g);
    ev_kv_map_clear(&p);
    return rc;
}

/* Summaries: references (and, for lead3, the documents) from --gold, candidates
 * from --pred. */
static int read_sum(const struct opts *o, const char *path, const char *text_field,
                    const char *label_field, struct ev_cls_data *d) {
    struct ev_cls_read_opts ro = {0};
    char err[512];
    ro.format = EV_CLS_JSONL;
    ro.text_field = text_field;
    ro.label_field = label_field;
    ro.label_optional = label_field == NULL;
    ro.limits = o->limits;
    int st = ev_cls_read(path, &ro, d, err, sizeof(err));
    if (st != EV_OK)
        fprintf(stderr, "socle-eval: %s\n", err);
    return st;
}

static int run_sum_gold(const struct opts *o) {
    struct ev_cls_data g = {0}, p = {0}, docs = {0};
    int rc = 1;
    const char *ref = o->ref_field ? o->ref_field : "summary";
    if (read_sum(o, o->gold, ref, NULL, &g) != EV_OK ||
        read_sum(o, o->pred, o->pred_field ? o->pred_field : "summary", NULL, &p) != EV_OK)
        goto done;
    if (o->baseline == B_LEAD3 &&
        read_sum(o, o->gold, o->text_field ? o->text_field : "text", NULL, &docs) != EV_OK)
        goto done;
    if (g.n != p.n) {
        fprintf(stderr, "socle-eval: %zu predictions for %zu references\n", p.n, g.n);
        goto done;
    }
    struct sum_scores model, base;
    memset(&model, 0, sizeof(model));
    memset(&base, 0, sizeof(base));
    for (size_t i = 0; i < g.n; i++) {
        int st = score_summary(o, p.ex[i].text, g.ex[i].text, &model);
        if (st == EV_OK && o->baseline == B_LEAD3)
            st = score_lead3(o, docs.ex[i].text, g.ex[i].text, &base);
        if (st != EV_OK) {
            fprintf(stderr, "socle-eval: pair %zu (%s:%zu): %s\n", i + 1, o->gold, g.ex[i].line,
                    ev_strerror(st));
            goto done;
        }
    }
    rc = report_rouge(o, &model, o->baseline == B_LEAD3 ? &base : NULL, g.n, 0);
done:
    ev_cls_data_clear(&g);
    ev_cls_data_clear(&p);
    ev_cls_data_clear(&docs);
    return rc;
}

/* ---- model mode: predictors ----
 *
 * The same evaluation runs either in-process through the tasks library
 * (task_run, --model) or against a running socled (--endpoint, through the C
 * client library). Both fill the small pr_out records below.
 */

#if defined(SOCLE_HAVE_TASKS) || defined(SOCLE_HAVE_CLIENT)
#define HAVE_PREDICT 1

struct pr_entity {
    char *type;
    size_t cp_start, cp_end;
};
struct pr_out {
    bool ok;
    char *label;  /* classify: top label */
    char *answer; /* qa: best answer ("" = none) */
    size_t n_ents;
    struct pr_entity *ents; /* ner */
};

static void pr_out_clear(struct pr_out *o, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(o[i].label);
        free(o[i].answer);
        for (size_t k = 0; k < o[i].n_ents; k++)
            free(o[i].ents[k].type);
        free(o[i].ents);
    }
    memset(o, 0, n * sizeof(*o));
}

/* Entity type without a B-/I- prefix (aggregation none reports token tags). */
static const char *bare_type(const char *t) {
    if ((t[0] == 'B' || t[0] == 'I') && t[1] == '-')
        return t + 2;
    return t;
}

struct predictor {
    const struct opts *o;
#ifdef SOCLE_HAVE_TASKS
    struct task_runtime *rt;
    struct task_worker *w;
#endif
#ifdef SOCLE_HAVE_CLIENT
    struct socle_client *cl;
#endif
};

static int pr_open(const struct opts *o, struct predictor *p) {
    memset(p, 0, sizeof(*p));
    p->o = o;
    if (o->endpoint) {
#ifdef SOCLE_HAVE_CLIENT
        struct socle_client_opts co = socle_client_opts_default();
        co.timeout_ms = 120000; /* a batch of long texts on a busy daemon */
        int st = socle_client_new(o->endpoint, &co, &p->cl);
        if (st != SOCLE_OK) {
            fprintf(stderr, "socle-eval: %s: %s\n", o->endpoint, socle_strerror(st));
            return -1;
        }
        return 0;
#else
        fprintf(stderr, "socle-eval: this build has no client library: --endpoint unavailable\n");
        return -1;
#endif
    }
#ifdef SOCLE_HAVE_TASKS
    char err[512] = "";
    struct task_runtime_params rp = {o->model, o->adapters};
    int st = task_runtime_open(&rp, &p->rt, err, sizeof(err));
    if (st != TASK_OK) {
        fprintf(stderr, "socle-eval: cannot open model %s: %s (%s)\n", o->model, err,
                task_strerror(st));
        return -1;
    }
    st = task_worker_new(p->rt, 0, &p->w);
    if (st != TASK_OK) {
        fprintf(stderr, "socle-eval: worker: %s\n", task_strerror(st));
        task_runtime_free(p->rt);
        p->rt = NULL;
        return -1;
    }
    return 0;
#else
    fprintf(stderr, "socle-eval: this build has no tasks library (socle_tasks was not built), so "
                    "--model mode is unavailable; use --endpoint with a running socled, or "
                    "--gold/--pred with a predictions file\n");
    return -1;
#endif
}

static void pr_close(struct predictor *p) {
#ifdef SOCLE_HAVE_TASKS
    task_worker_free(p->w);
    task_runtime_free(p->rt);
#endif
#ifdef SOCLE_HAVE_CLIENT
    socle_client_free(p->cl);
#endif
    memset(p, 0, sizeof(*p));
}

#ifdef SOCLE_HAVE_TASKS
/* The summarizer's sentences (spans of text, in document order), one per line. */
static int summary_text(const char *text, const struct task_sentence *sents, size_t n, char **out) {
    size_t *st = malloc((n ? n : 1) * sizeof(*st)), *en = malloc((n ? n : 1) * sizeof(*en));
    int rc = -1;
    if (st && en) {
        for (size_t i = 0; i < n; i++) {
            st[i] = sents[i].span.start;
            en[i] = sents[i].span.end;
        }
        *out = join_sentences(text, st, en, n);
        rc = *out ? 0 : -1;
    }
    free(st);
    free(en);
    return rc;
}

static int pr_run_lib(struct predictor *p, enum task t, size_t n, const char *const *texts,
                      const size_t *lens, const char *const *ctx, const size_t *clens, bool v2,
                      struct pr_out *out) {
    struct task_request req;
    memset(&req, 0, sizeof(req));
    req.adapter = p->o->adapter;
    req.n_texts = n;
    req.texts = texts;
    req.text_lens = lens;
    if (t == T_CLASSIFY) {
        req.kind = TASK_CLASSIFY;
        req.opts.classify.top_k = 1;
    } else if (t == T_NER) {
        req.kind = TASK_NER;
        req.opts.ner.aggregation = p->o->ner_tokens ? TASK_AGG_NONE : TASK_AGG_FIRST;
        if (p->o->ner_tokens) { /* every token, O included: see pr_word_tags */
            req.opts.ner.ignore_labels = KEEP_ALL_LABELS;
            req.opts.ner.n_ignore = 1;
        }
    } else if (t == T_SUMMARIZE) {
        req.kind = TASK_SUMMARIZE;
        req.opts.summarize.max_sentences = p->o->sum_sentences;
        req.opts.summarize.ratio = p->o->sum_ratio;
    } else {
        req.kind = TASK_QA;
        req.contexts = ctx;
        req.context_lens = clens;
        req.opts.qa.top_k = 1;
        req.opts.qa.handle_impossible_answer = v2;
    }
    char err[512] = "";
    struct task_response *resp = NULL;
    int st = task_run(p->rt, p->w, &req, &resp, err, sizeof(err));
    if (st != TASK_OK) {
        fprintf(stderr, "socle-eval: task_run: %s (%s)\n", err, task_strerror(st));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct task_result *r = &resp->results[i];
        out[i].ok = r->status == 0;
        if (!out[i].ok)
            continue;
        if (t == T_CLASSIFY && r->n_items > 0) {
            rc = (out[i].label = strdup(r->u.labels[0].label)) ? 0 : -1;
        } else if (t == T_SUMMARIZE) {
            rc = summary_text(texts[i], r->u.sentences, r->n_items, &out[i].answer);
        } else if (t == T_QA) {
            rc = (out[i].answer = strdup(r->n_items > 0 ? r->u.answers[0].text : "")) ? 0 : -1;
        } else if (t == T_NER && r->n_items > 0) {
            out[i].ents = calloc(r->n_items, sizeof(*out[i].ents));
            if (!out[i].ents) {
                rc = -1;
                break;
            }
            for (size_t k = 0; k < r->n_items; k++) {
                const struct task_entity *e = &r->u.entities[k];
                out[i].ents[k].type = strdup(p->o->ner_tokens ? e->type : bare_type(e->type));
                out[i].ents[k].cp_start = e->span.cp_start;
                out[i].ents[k].cp_end = e->span.cp_end;
                out[i].n_ents = k + 1;
                if (!out[i].ents[k].type) {
                    rc = -1;
                    break;
                }
            }
        }
    }
    task_response_free(resp);
    return rc;
}
#endif

#ifdef SOCLE_HAVE_CLIENT
static int pr_run_client(struct predictor *p, enum task t, size_t n, const char *const *texts,
                         const size_t *lens, const char *const *ctx, const size_t *clens, bool v2,
                         struct pr_out *out) {
    Socle__V1__Request req = SOCLE__V1__REQUEST__INIT;
    Socle__V1__ClassifyRequest cr = SOCLE__V1__CLASSIFY_REQUEST__INIT;
    Socle__V1__NerRequest nr = SOCLE__V1__NER_REQUEST__INIT;
    Socle__V1__QaRequest qr = SOCLE__V1__QA_REQUEST__INIT;
    if (t == T_SUMMARIZE) {
        fprintf(stderr, "socle-eval: summarize is evaluated in-process only (--model)\n");
        return -1;
    }
    ProtobufCBinaryData *bd = calloc(n ? n : 1, sizeof(*bd));
    Socle__V1__QaPair *pairs = calloc(n ? n : 1, sizeof(*pairs));
    Socle__V1__QaPair **pp = calloc(n ? n : 1, sizeof(*pp));
    Socle__V1__Response *resp = NULL;
    int rc = -1;
    if (!bd || !pairs || !pp)
        goto done;
    /* const is cast away for the wire structs only: the client library encodes
     * them and never writes through these pointers. */
    for (size_t i = 0; i < n; i++) {
        bd[i].data = (uint8_t *)(uintptr_t)texts[i];
        bd[i].len = lens[i];
    }
    req.adapter = (char *)(uintptr_t)(p->o->adapter ? p->o->adapter : "");
    if (t == T_CLASSIFY) {
        cr.n_texts = n;
        cr.texts = bd;
        cr.top_k = 1;
        req.task_case = SOCLE__V1__REQUEST__TASK_CLASSIFY;
        req.classify = &cr;
    } else if (t == T_NER) {
        nr.n_texts = n;
        nr.texts = bd;
        nr.aggregation = p->o->ner_tokens ? SOCLE__V1__AGGREGATION__AGGREGATION_NONE
                                          : SOCLE__V1__AGGREGATION__AGGREGATION_FIRST;
        if (p->o->ner_tokens) {
            nr.n_ignore_labels = 1;
            nr.ignore_labels = (char **)(uintptr_t)KEEP_ALL_LABELS;
        }
        req.task_case = SOCLE__V1__REQUEST__TASK_NER;
        req.ner = &nr;
    } else {
        for (size_t i = 0; i < n; i++) {
            socle__v1__qa_pair__init(&pairs[i]);
            pairs[i].question = bd[i];
            pairs[i].context.data = (uint8_t *)(uintptr_t)ctx[i];
            pairs[i].context.len = clens[i];
            pp[i] = &pairs[i];
        }
        qr.n_pairs = n;
        qr.pairs = pp;
        qr.top_k = 1;
        qr.handle_impossible_answer = v2;
        req.task_case = SOCLE__V1__REQUEST__TASK_QA;
        req.qa = &qr;
    }
    int st = socle_client_call(p->cl, &req, &resp);
    if (st != SOCLE_OK) {
        fprintf(stderr, "socle-eval: %s: %s\n", p->o->endpoint, socle_strerror(st));
        goto done;
    }
    if (resp->status && resp->status->code != 0) {
        fprintf(stderr, "socle-eval: socled: %s: %s\n", socle_code_name(resp->status->code),
                resp->status->message ? resp->status->message : "");
        goto done;
    }
    size_t n_out = t == T_CLASSIFY ? (resp->classify ? resp->classify->n_outputs : 0)
                   : t == T_NER    ? (resp->ner ? resp->ner->n_outputs : 0)
                                   : (resp->qa ? resp->qa->n_outputs : 0);
    if (n_out != n) {
        fprintf(stderr, "socle-eval: socled answered %zu results for %zu inputs\n", n_out, n);
        goto done;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (t == T_CLASSIFY) {
            const Socle__V1__ClassifyOutput *co = resp->classify->outputs[i];
            out[i].ok = !co->status || co->status->code == 0;
            if (out[i].ok && co->n_labels > 0)
                rc = (out[i].label = strdup(co->labels[0]->label)) ? 0 : -1;
        } else if (t == T_QA) {
            const Socle__V1__QaOutput *qo = resp->qa->outputs[i];
            out[i].ok = !qo->status || qo->status->code == 0;
            if (out[i].ok)
                rc = (out[i].answer = strdup(qo->n_answers > 0 ? qo->answers[0]->text : "")) ? 0
                                                                                             : -1;
        } else {
            const Socle__V1__NerOutput *no = resp->ner->outputs[i];
            out[i].ok = !no->status || no->status->code == 0;
            if (!out[i].ok || no->n_entities == 0)
                continue;
            out[i].ents = calloc(no->n_entities, sizeof(*out[i].ents));
            if (!out[i].ents) {
                rc = -1;
                break;
            }
            for (size_t k = 0; k < no->n_entities; k++) {
                const Socle__V1__Entity *e = no->entities[k];
                out[i].ents[k].type = strdup(p->o->ner_tokens ? e->type : bare_type(e->type));
                out[i].ents[k].cp_start = e->span ? e->span->cp_start : 0;
                out[i].ents[k].cp_end = e->span ? e->span->cp_end : 0;
                out[i].n_ents = k + 1;
                if (!out[i].ents[k].type) {
                    rc = -1;
                    break;
                }
            }
        }
    }
done:
    socle_response_free(resp);
    free(bd);
    free(pairs);
    free(pp);
    return rc;
}
#endif

/* Run n inputs (ctx: QA contexts) and fill out[0..n); out must be zeroed. */
static int pr_run(struct predictor *p, enum task t, size_t n, const char *const *texts,
                  const size_t *lens, const char *const *ctx, const size_t *clens, bool v2,
                  struct pr_out *out) {
#ifdef SOCLE_HAVE_CLIENT
    if (p->cl)
        return pr_run_client(p, t, n, texts, lens, ctx, clens, v2, out);
#endif
#ifdef SOCLE_HAVE_TASKS
    if (p->rt)
        return pr_run_lib(p, t, n, texts, lens, ctx, clens, v2, out);
#endif
    (void)t, (void)n, (void)texts, (void)lens, (void)ctx, (void)clens, (void)v2, (void)out;
    return -1;
}

static int run_cls_model(const struct opts *o) {
    struct ev_cls_data g = {0};
    struct predictor pr;
    bool opened = false;
    struct ev_labels labels = {0};
    int32_t *gi = NULL, *pi = NULL;
    const char **texts = NULL;
    size_t *lens = NULL;
    struct pr_out *out = NULL;
    struct cls_base base = {0};
    int rc = 1;
    if (load_cls(o, o->data, &g) != EV_OK)
        goto done;
    if (pr_open(o, &pr) != 0)
        goto done;
    opened = true;
    gi = malloc(g.n * sizeof(*gi));
    pi = malloc(g.n * sizeof(*pi));
    texts = malloc(o->batch * sizeof(*texts));
    lens = malloc(o->batch * sizeof(*lens));
    out = calloc(o->batch, sizeof(*out));
    if (!gi || !pi || !texts || !lens || !out)
        goto done;
    for (size_t i = 0; i < g.n; i++)
        if (ev_labels_find(&labels, g.ex[i].label, true) < 0)
            goto done;
    ev_labels_sort(&labels);
    /* Before the model run: a bad --train file fails in seconds, not after it. */
    if (cls_base_new(o, &labels, g.n, &base) != 0)
        goto done;
    size_t n_err = 0;
    double t0 = now_s();
    for (size_t b = 0; b < g.n; b += o->batch) {
        size_t nb = g.n - b < o->batch ? g.n - b : o->batch;
        for (size_t k = 0; k < nb; k++) {
            texts[k] = g.ex[b + k].text;
            lens[k] = strlen(texts[k]);
        }
        if (pr_run(&pr, T_CLASSIFY, nb, texts, lens, NULL, NULL, false, out) != 0)
            goto done;
        for (size_t k = 0; k < nb; k++) {
            const char *lab = out[k].ok && out[k].label ? out[k].label : "(error)";
            n_err += !out[k].ok;
            gi[b + k] = ev_labels_find(&labels, g.ex[b + k].label, false);
            pi[b + k] = ev_labels_find(&labels, lab, true);
        }
        pr_out_clear(out, nb);
        progress(o, t0, b + nb, g.n);
    }
    if (n_err)
        fprintf(stderr, "socle-eval: %zu text(s) failed (counted as label \"(error)\")\n", n_err);
    rc = report_cls(o, &labels, gi, pi, g.n, &base);
done:
    cls_base_clear(&base);
    free(gi);
    free(pi);
    free(texts);
    free(lens);
    free(out);
    ev_labels_clear(&labels);
    ev_cls_data_clear(&g);
    if (opened)
        pr_close(&pr);
    return rc;
}

/* CoNLL sentence -> text (tokens joined by one space) and token code point
 * spans; predicted entity spans are mapped back to IOB2 tags over tokens: the
 * first token an entity overlaps gets B-, later ones I-. */
struct ner_item {
    char *text;
    size_t len, n_tok;
    size_t *cps, *cpe; /* (n_tok) token code point spans (CoNLL input) */
};

static void ner_item_clear(struct ner_item *it) {
    free(it->text);
    free(it->cps);
    free(it->cpe);
    memset(it, 0, sizeof(*it));
}

static int ner_item_from_sentence(const struct ev_ner_sentence *se, struct ner_item *it) {
    size_t tl = 0, nt = se->n;
    memset(it, 0, sizeof(*it));
    for (size_t k = 0; k < nt; k++)
        tl += strlen(se->tokens[k]) + 1;
    it->text = malloc(tl + 1);
    it->cps = malloc((nt ? nt : 1) * sizeof(size_t));
    it->cpe = malloc((nt ? nt : 1) * sizeof(size_t));
    if (!it->text || !it->cps || !it->cpe) {
        ner_item_clear(it);
        return -1;
    }
    size_t off = 0, cp = 0;
    for (size_t k = 0; k < nt; k++) {
        size_t l = strlen(se->tokens[k]);
        if (k) {
            it->text[off++] = ' ';
            cp++;
        }
        memcpy(it->text + off, se->tokens[k], l);
        off += l;
        it->cps[k] = cp;
        cp += ev_utf8_count(se->tokens[k], l);
        it->cpe[k] = cp;
    }
    it->text[off] = '\0';
    it->len = off;
    it->n_tok = nt;
    return 0;
}

/* Score one NER prediction against its gold sentence (tags) or document (spans). */
static int score_ner_result(struct ev_ner *s, const struct pr_out *r, const struct ner_item *it,
                            const struct ev_ner_sentence *gs, const struct ev_span_doc *gd,
                            bool tokens) {
    size_t ne = r->ok ? r->n_ents : 0;
    int rc = -1;
    if (gd) {
        struct ev_entity *ge = NULL, *pe = malloc((ne ? ne : 1) * sizeof(*pe));
        if (pe && spans_to_entities(s, gd, &ge) == EV_OK) {
            rc = 0;
            for (size_t k = 0; rc == 0 && k < ne; k++) {
                pe[k].start = r->ents[k].cp_start;
                pe[k].end = r->ents[k].cp_end;
                if (ev_ner_type(s, r->ents[k].type, strlen(r->ents[k].type), &pe[k].type) != EV_OK)
                    rc = -1;
            }
            if (rc == 0 && ev_ner_add_entities(s, ge, gd->n, pe, ne) != EV_OK)
                rc = -1;
        }
        free(ge);
        free(pe);
        return rc;
    }
    size_t nt = it->n_tok;
    char **ptags = calloc(nt ? nt : 1, sizeof(*ptags));
    if (!ptags)
        return -1;
    bool ok = true;
    /* Token labels (aggregation none): a word takes the tag of its first
     * sub-token as HF word_ids define it (a lone "▁" piece before the word
     * included), as-is (B-X / I-X / O), and seqeval decodes. The request asks
     * for every token (ignore list {""}), O included: with the default list
     * {"O"} a word whose first piece (a lone "▁") is O would take its second
     * piece's tag instead. */
    if (tokens && ok && ne) {
        size_t *ts = malloc(ne * sizeof(*ts));
        const char **tt = malloc(ne * sizeof(*tt)), **wt = malloc((nt ? nt : 1) * sizeof(*wt));
        if (ts && tt && wt) {
            for (size_t e = 0; e < ne; e++) {
                ts[e] = r->ents[e].cp_start;
                tt[e] = r->ents[e].type;
            }
            ev_ner_word_tags(it->cps, it->cpe, nt, ts, (const char *const *)tt, ne, wt);
            for (size_t k = 0; ok && k < nt; k++)
                if (wt[k] && !(ptags[k] = strdup(wt[k])))
                    ok = false;
        } else {
            ok = false;
        }
        free(ts);
        free(tt);
        free(wt);
    }
    for (size_t e = 0; !tokens && ok && e < ne; e++) {
        const struct pr_entity *en = &r->ents[e];
        bool first = true;
        for (size_t k = 0; k < nt; k++) {
            if (it->cpe[k] <= en->cp_start || it->cps[k] >= en->cp_end || ptags[k])
                continue;
            size_t l = strlen(en->type) + 3;
            if (!(ptags[k] = malloc(l))) {
                ok = false;
                break;
            }
            snprintf(ptags[k], l, "%c-%s", first ? 'B' : 'I', en->type);
            first = false;
        }
    }
    for (size_t k = 0; ok && k < nt; k++)
        if (!ptags[k] && !(ptags[k] = strdup("O")))
            ok = false;
    size_t bad = 0;
    if (ok && ev_ner_add_tags(s, (const char *const *)gs->tags, (const char *const *)ptags, nt,
                              &bad) == EV_OK)
        rc = 0;
    for (size_t k = 0; k < nt; k++)
        free(ptags[k]);
    free(ptags);
    return rc;
}

static int run_ner_model(const struct opts *o) {
    struct ev_ner *s = NULL, *sb = NULL;
    struct predictor pr;
    bool opened = false;
    struct ev_ner_data g = {0};
    struct ev_span_data sd = {0};
    struct ner_item *items = NULL;
    struct pr_out *out = NULL;
    const char **texts = NULL;
    size_t *lens = NULL, n = 0;
    int rc = 1;
    if (ev_ner_new(o->ner_mode, &s) != EV_OK)
        return 1;
    bool spans = fmt_is(o, "spans") || (!o->format && has_ext(o->data, ".jsonl"));
    if (spans && (o->ner_tokens || o->baseline == B_MEMO)) {
        fprintf(stderr, "socle-eval: --ner-aggregation none and --baseline memo need CoNLL data "
                        "(words)\n");
        goto done;
    }
    if ((spans ? load_spans(o, o->data, &sd) : load_conll(o, o->data, &g)) != EV_OK)
        goto done;
    /* Before the model run: a bad --train file fails in seconds, not after it. */
    if (o->baseline == B_MEMO && ner_memo_score(o, &g, &sb) != 0)
        goto done;
    n = spans ? sd.n : g.n;
    items = calloc(n, sizeof(*items));
    texts = malloc(o->batch * sizeof(*texts));
    lens = malloc(o->batch * sizeof(*lens));
    out = calloc(o->batch, sizeof(*out));
    if (!items || !texts || !lens || !out)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (spans) {
            items[i].text = strdup(sd.d[i].text);
            items[i].len = items[i].text ? strlen(items[i].text) : 0;
            if (!items[i].text)
                goto done;
        } else if (ner_item_from_sentence(&g.s[i], &items[i]) != 0) {
            goto done;
        }
    }
    if (pr_open(o, &pr) != 0)
        goto done;
    opened = true;
    double t0 = now_s();
    for (size_t b = 0; b < n; b += o->batch) {
        size_t nb = n - b < o->batch ? n - b : o->batch;
        for (size_t k = 0; k < nb; k++) {
            texts[k] = items[b + k].text;
            lens[k] = items[b + k].len;
        }
        if (pr_run(&pr, T_NER, nb, texts, lens, NULL, NULL, false, out) != 0)
            goto done;
        for (size_t k = 0; k < nb; k++) {
            size_t i = b + k;
            if (score_ner_result(s, &out[k], &items[i], spans ? NULL : &g.s[i],
                                 spans ? &sd.d[i] : NULL, o->ner_tokens) != 0) {
                fprintf(stderr, "socle-eval: example %zu (%s:%zu) could not be scored\n", i + 1,
                        o->data, spans ? sd.d[i].line : g.s[i].line);
                pr_out_clear(out, nb);
                goto done;
            }
        }
        pr_out_clear(out, nb);
        progress(o, t0, b + nb, n);
    }
    rc = report_ner(o, s, !spans, sb);
done:
    for (size_t i = 0; items && i < n; i++)
        ner_item_clear(&items[i]);
    free(items);
    free(texts);
    free(lens);
    free(out);
    ev_ner_data_clear(&g);
    ev_span_data_clear(&sd);
    if (opened)
        pr_close(&pr);
    ev_ner_free(s);
    ev_ner_free(sb);
    return rc;
}

static int run_qa_model(const struct opts *o) {
    struct ev_qa_data g = {0};
    struct predictor pr;
    bool opened = false;
    const char **qs = NULL, **cs = NULL;
    size_t *ql = NULL, *cl = NULL;
    struct pr_out *out = NULL;
    int rc = 1;
    if (load_squad(o, o->data, &g) != EV_OK)
        goto done;
    if (pr_open(o, &pr) != 0)
        goto done;
    opened = true;
    qs = malloc(o->batch * sizeof(*qs));
    cs = malloc(o->batch * sizeof(*cs));
    ql = malloc(o->batch * sizeof(*ql));
    cl = malloc(o->batch * sizeof(*cl));
    out = calloc(o->batch, sizeof(*out));
    if (!qs || !cs || !ql || !cl || !out)
        goto done;
    bool v2 = o->squad_v2 || strncmp(g.version, "v2", 2) == 0;
    double sem = 0, sf1 = 0, t0 = now_s();
    for (size_t b = 0; b < g.n; b += o->batch) {
        size_t nb = g.n - b < o->batch ? g.n - b : o->batch;
        for (size_t k = 0; k < nb; k++) {
            const struct ev_qa_item *q = &g.q[b + k];
            qs[k] = q->question;
            ql[k] = strlen(q->question);
            cs[k] = g.contexts[q->context];
            cl[k] = strlen(cs[k]);
        }
        if (pr_run(&pr, T_QA, nb, qs, ql, cs, cl, v2, out) != 0)
            goto done;
        for (size_t k = 0; k < nb; k++) {
            const char *ans = out[k].ok && out[k].answer ? out[k].answer : "";
            double em, f1;
            if (score_question(o, v2, &g.q[b + k], ans, &em, &f1) != EV_OK) {
                pr_out_clear(out, nb);
                goto done;
            }
            sem += em;
            sf1 += f1;
        }
        pr_out_clear(out, nb);
        progress(o, t0, b + nb, g.n);
    }
    double base[2];
    bool has_base = o->baseline == B_OVERLAP;
    if (has_base && qa_overlap_scores(o, v2, &g, base) != EV_OK)
        goto done;
    rc = report_qa(o, sem / (double)g.n, sf1 / (double)g.n, g.n, 0, g.n_bad_offsets,
                   has_base ? base : NULL);
done:
    free(qs);
    free(cs);
    free(ql);
    free(cl);
    free(out);
    ev_qa_data_clear(&g);
    if (opened)
        pr_close(&pr);
    return rc;
}

/* Summaries of --data's text field by the summarizer, against its reference
 * field; lead-3 of the same texts in the same run with --baseline lead3. */
static int run_sum_model(const struct opts *o) {
    struct ev_cls_data g = {0};
    struct predictor pr;
    bool opened = false;
    const char **texts = NULL;
    size_t *lens = NULL;
    struct pr_out *out = NULL;
    int rc = 1;
    if (read_sum(o, o->data, o->text_field ? o->text_field : "text",
                 o->ref_field ? o->ref_field : "summary", &g) != EV_OK)
        goto done;
    if (pr_open(o, &pr) != 0)
        goto done;
    opened = true;
    texts = malloc(o->batch * sizeof(*texts));
    lens = malloc(o->batch * sizeof(*lens));
    out = calloc(o->batch, sizeof(*out));
    if (!texts || !lens || !out)
        goto done;
    struct sum_scores model, base;
    memset(&model, 0, sizeof(model));
    memset(&base, 0, sizeof(base));
    size_t n_fail = 0;
    double t0 = now_s();
    for (size_t b = 0; b < g.n; b += o->batch) {
        size_t nb = g.n - b < o->batch ? g.n - b : o->batch;
        for (size_t k = 0; k < nb; k++) {
            texts[k] = g.ex[b + k].text;
            lens[k] = strlen(texts[k]);
        }
        if (pr_run(&pr, T_SUMMARIZE, nb, texts, lens, NULL, NULL, false, out) != 0)
            goto done;
        for (size_t k = 0; k < nb; k++) {
            const struct ev_cls_example *ex = &g.ex[b + k];
            n_fail += !out[k].ok;
            int st = score_summary(o, out[k].ok && out[k].answer ? out[k].answer : "", ex->label,
                                   &model);
            if (st == EV_OK && o->baseline == B_LEAD3)
                st = score_lead3(o, ex->text, ex->label, &base);
            if (st != EV_OK) {
                fprintf(stderr, "socle-eval: %s:%zu: %s\n", o->data, ex->line, ev_strerror(st));
                pr_out_clear(out, nb);
                goto done;
            }
        }
        pr_out_clear(out, nb);
        progress(o, t0, b + nb, g.n);
    }
    if (n_fail)
        fprintf(stderr, "socle-eval: the summarizer refused %zu text(s) (scored as empty)\n",
                n_fail);
    rc = report_rouge(o, &model, o->baseline == B_LEAD3 ? &base : NULL, g.n, n_fail);
done:
    free(texts);
    free(lens);
    free(out);
    ev_cls_data_clear(&g);
    if (opened)
        pr_close(&pr);
    return rc;
}
#endif

static int run_model(const struct opts *o) {
#ifdef HAVE_PREDICT
    switch (o->task) {
    case T_CLASSIFY:
        return run_cls_model(o);
    case T_NER:
        return run_ner_model(o);
    case T_QA:
        return run_qa_model(o);
    case T_SUMMARIZE:
        if (o->endpoint) {
            fprintf(stderr, "socle-eval: summarize runs with --model (in-process) only; against "
                            "socled, write predictions and use --gold/--pred\n");
            return 2;
        }
        return run_sum_model(o);
    default:
        return 2;
    }
#else
    (void)o;
    fprintf(stderr, "socle-eval: this build has no tasks library (socle_tasks was not built), so "
                    "--model mode is unavailable; use --gold/--pred with a predictions file\n");
    return 2;
#endif
}

int main(int argc, char **argv) {
    struct opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (o.model || o.endpoint)
        return run_model(&o);
    switch (o.task) {
    case T_CLASSIFY:
        return run_cls_gold(&o);
    case T_NER:
        return run_ner_gold(&o);
    case T_QA:
        return run_qa_gold(&o);
    case T_SUMMARIZE:
        return run_sum_gold(&o);
    default:
        return 2;
    }
}
