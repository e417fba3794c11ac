#!/usr/bin/python3
"""Simple baselines on socle-mini's held-out splits (numpy only, one thread is enough).

    /usr/bin/python3 tools/socle_mini/baselines.py --out tools/work/baselines.json

classify: majority class; bag-of-words multinomial logistic regression (lower-cased word
          unigrams + bigrams seen >= 2 times in train, binary features, rows L2-normalised,
          L2 penalty, full-batch Adam, fixed 400 steps; written here in numpy with a CSR matrix).
ner:      memorisation: each word gets the tag it had most often in train (else O), an I-X
          that does not continue an X entity becomes B-X; entity F1 strict IOB2 (seqeval strict).
qa:       sentence overlap: the context sentence sharing most lower-cased words with the
          question; answer = its longest run of words that are not in the question.
"""
import argparse
import collections
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import metrics  # noqa: E402

WORD = re.compile(r"\w+", re.UNICODE)


def feats(text):
    w = WORD.findall(text.lower())
    return set(w) | set(a + " " + b for a, b in zip(w, w[1:]))


def csr(rows, vocab):
    indptr, indices = [0], []
    for f in rows:
        idx = sorted(vocab[x] for x in f if x in vocab)
        indices += idx
        indptr.append(len(indices))
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    cnt = np.diff(indptr)
    val = np.repeat(1.0 / np.sqrt(np.maximum(cnt, 1)), cnt)  # L2-normalised binary rows
    rowid = np.repeat(np.arange(len(rows)), cnt)
    return indices, val, rowid, len(rows)


def matmul(X, W):
    ind, val, rowid, n = X
    out = np.zeros((n, W.shape[1]))
    for c in range(W.shape[1]):
        out[:, c] = np.bincount(rowid, weights=W[ind, c] * val, minlength=n)
    return out


def tmatmul(X, G, n_feat):
    ind, val, rowid, _ = X
    out = np.zeros((n_feat, G.shape[1]))
    for c in range(G.shape[1]):
        out[:, c] = np.bincount(ind, weights=G[rowid, c] * val, minlength=n_feat)
    return out


def logreg(train, test, n_cls, l2=1e-4, steps=400, lr=0.05):
    cnt = collections.Counter()
    for t, _ in train:
        cnt.update(feats(t))
    vocab = {w: i for i, w in enumerate(sorted(w for w, c in cnt.items() if c >= 2))}
    Xtr = csr([feats(t) for t, _ in train], vocab)
    Xte = csr([feats(t) for t, _ in test], vocab)
    ytr = np.array([l for _, l in train])
    F = len(vocab)
    W = np.zeros((F, n_cls))
    b = np.zeros(n_cls)
    m = [np.zeros_like(W), np.zeros_like(b)]
    v = [np.zeros_like(W), np.zeros_like(b)]
    Y = np.eye(n_cls)[ytr]
    for t in range(1, steps + 1):
        z = matmul(Xtr, W) + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        G = (p - Y) / len(ytr)
        gW = tmatmul(Xtr, G, F) + l2 * W
        gb = G.sum(0)
        for k, (g, prm) in enumerate(((gW, W), (gb, b))):
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            prm -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    pred = (matmul(Xte, W) + b).argmax(1)
    return float(np.mean(pred == np.array([l for _, l in test])))


def majority(train, test):
    maj = collections.Counter(l for _, l in train).most_common(1)[0][0]
    return float(np.mean([l == maj for _, l in test]))


def ner_memo(train, test):
    tags = collections.defaultdict(collections.Counter)
    for ws, ts in train:
        for w, t in zip(ws, ts):
            tags[w][t] += 1
    gold, pred = [], []
    for ws, ts in test:
        p = [tags[w].most_common(1)[0][0] if w in tags else "O" for w in ws]
        for i, t in enumerate(p):
            if t.startswith("I-") and (i == 0 or p[i - 1][2:] != t[2:] or p[i - 1] == "O"):
                p[i] = "B-" + t[2:]
        gold.append(ts)
        pred.append(p)
    return metrics.entity_f1(gold, pred)


SENT = re.compile(r"(?<=[.!?])\s+")


def qa_overlap(test, lang):
    preds, golds = [], []
    for it in test:
        q = set(WORD.findall(it["question"].lower()))
        best, best_s = "", -1
        for s in SENT.split(it["context"]):
            sc = len(q & set(WORD.findall(s.lower())))
            if sc > best_s:
                best, best_s = s, sc
        run, cur = [], []
        for w in best.split():
            if WORD.sub("", w.lower()) == w.lower() or set(WORD.findall(w.lower())) & q:
                if len(cur) > len(run):
                    run = cur
                cur = []
            else:
                cur.append(w)
        if len(cur) > len(run):
            run = cur
        preds.append(" ".join(run))
        golds.append([a for a, _ in it["answers"]])
    return metrics.squad_em_f1(preds, golds, lang)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tools/work/baselines.json")
    a = ap.parse_args()
    res = {}
    for name, fn, ncls in (("ag_news", data.ag_news, 4), ("bbc", data.bbc, 5), ("sst2", data.sst2, 2),
                           ("allocine", data.allocine, 2)):
        tr, te = fn()
        res[name] = {"majority_acc": majority(tr, te), "bow_logreg_acc": logreg(tr, te, ncls), "n_test": len(te)}
        print(name, res[name], flush=True)
    for lang in ("en", "fr"):
        tr, te = data.wikiann(lang)
        res["wikiann_" + lang] = {"memorisation": ner_memo(tr, te), "n_test": len(te)}
        print(lang, res["wikiann_" + lang], flush=True)
    for name, fn, lang in (("squad", data.squad, "en"), ("piaf", data.piaf, "fr")):
        tr, te = fn()
        res[name] = {"sentence_overlap": qa_overlap(te, lang), "n_test": len(te)}
        print(name, res[name], flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
