"""Dataset loaders and the fixed train / held-out splits for socle-mini.

Every split is a pure function of the files in ../shared/data and the seeds below, so
the held-out parts can be recomputed by anyone (and by socle-eval) without our files.
Held-out parts are never used in training, neither for the task heads nor for the
masked-language-model pretraining text.
"""
import csv
import glob
import gzip
import json
import os

import numpy as np

SPLIT_SEED = 9  # one seed for every permutation below

HELD_OUT = {
    "ag_news": "classification/en/ag_news/test.csv: rows (0-based, header excluded) at positions "
               "0..1899 of np.random.RandomState(9).permutation(7600) are held out (1,900); the other 5,700 train",
    "bbc": "summarization/en/bbc_news_summary/{business,entertainment,politics,sport,tech}.jsonl read in that "
           "order (2,225 records): positions 0..444 of np.random.RandomState(9).permutation(2225) held out (445)",
    "sst2": "classification/en/sst2/dev.tsv rows (header excluded): positions 0..271 of "
            "np.random.RandomState(9).permutation(872) held out (272); 600 train",
    "allocine": "classification/fr/allocine_tv_series: train.tsv + dev.tsv train (3,130); test.tsv held out (782)",
    "wikiann_en": "ner/en/wikiann: train.txt trains (20,000); test.txt held out (10,000); dev.txt unused",
    "wikiann_fr": "ner/fr/wikiann: train.txt trains (20,000); test.txt held out (10,000); dev.txt unused",
    "squad": "qa/en/squad_v1.1_dev: part1of4..part3of4 train (36 articles, 8,123 questions); "
             "part4of4 held out (12 articles, 2,447 questions)",
    "piaf": "qa/fr/piaf_v1.0/piaf-v1.0.json: articles at positions 0..37 of np.random.RandomState(9).permutation(191) "
            "held out (38 articles); the other 153 articles train",
}


def shared_dir():
    env = os.environ.get("SOCLE_SHARED_DIR")
    if env:
        return os.path.join(env, "data")
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data"))


def _p(*parts):
    return os.path.join(shared_dir(), *parts)


def _perm(n):
    return np.random.RandomState(SPLIT_SEED).permutation(n)


def _split(items, n_held):
    perm = _perm(len(items))
    held = set(int(i) for i in perm[:n_held])
    train = [x for i, x in enumerate(items) if i not in held]
    test = [x for i, x in enumerate(items) if i in held]
    return train, test


# ---- classification: lists of (text, label_index) ----

AG_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
BBC_LABELS = ["business", "entertainment", "politics", "sport", "tech"]
SENT_LABELS = ["negative", "positive"]


def ag_news():
    rows = []
    with open(_p("classification/en/ag_news/test.csv"), newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        for lab, title, desc in r:
            # AG News escapes newlines as backslashes; a space keeps words apart.
            text = (title + ". " + desc).replace("\\", " ")
            rows.append((text, int(lab) - 1))
    return _split(rows, 1900)


def bbc_records():
    recs = []
    for cat in BBC_LABELS:
        with open(_p("summarization/en/bbc_news_summary/%s.jsonl" % cat), encoding="utf-8") as f:
            for line in f:
                recs.append(json.loads(line))
    return recs


def bbc():
    rows = [(r["article"], BBC_LABELS.index(r["category"])) for r in bbc_records()]
    return _split(rows, 445)


def sst2():
    rows = []
    with open(_p("classification/en/sst2/dev.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            text, lab = line.rstrip("\n").rsplit("\t", 1)
            rows.append((text.strip(), int(lab)))
    return _split(rows, 272)


def _allocine_file(name):
    rows = []
    with open(_p("classification/fr/allocine_tv_series/%s.tsv" % name), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            lab, text = line.split("\t", 1)
            rows.append((text.strip(), int(lab)))
    return rows


def allocine():
    return _allocine_file("train") + _allocine_file("dev"), _allocine_file("test")


# ---- NER: lists of (words, tags) ----

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def _conll(path, prefix):
    sents, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if words:
                    sents.append((words, tags))
                words, tags = [], []
                continue
            tok, tag = line.rsplit("\t", 1)
            if tok.startswith(prefix):
                tok = tok[len(prefix):]
            words.append(tok)
            tags.append(tag)
    if words:
        sents.append((words, tags))
    return sents


def wikiann(lang):
    d = _p("ner", lang, "wikiann")
    pre = lang + ":"
    return _conll(os.path.join(d, "train.txt"), pre), _conll(os.path.join(d, "test.txt"), pre)


# ---- QA: lists of dicts {id, context, question, answers: [(text, start)]} ----

def _squad_items(articles):
    out = []
    for art in articles:
        for para in art["paragraphs"]:
            ctx = para["context"]
            for qa in para["qas"]:
                out.append({"id": qa["id"], "context": ctx, "question": qa["question"],
                            "answers": [(a["text"], a["answer_start"]) for a in qa["answers"]]})
    return out


def squad():
    arts = []
    for k in range(1, 5):
        with open(_p("qa/en/squad_v1.1_dev/dev-v1.1.part%dof4.json" % k), encoding="utf-8") as f:
            arts.append(json.load(f)["data"])
    return _squad_items(arts[0] + arts[1] + arts[2]), _squad_items(arts[3])


def piaf():
    with open(_p("qa/fr/piaf_v1.0/piaf-v1.0.json"), encoding="utf-8") as f:
        arts = json.load(f)["data"]
    train, test = _split(arts, 38)
    return _squad_items(train), _squad_items(test)


# ---- raw text for pretraining ----

def corpus_documents():
    """Yield (name, list of paragraphs) for every novel, sorted by path."""
    for path in sorted(glob.glob(_p("corpus", "*", "*", "*.txt.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            paras = [l.strip() for l in f if l.strip()]
        yield os.path.relpath(path, shared_dir()), paras
