"""Metrics shared by the model evaluation and the baselines (no dependencies).

entity_f1: micro precision / recall / F1 over exact (type, start, end) entity matches, with
           entities read as seqeval's strict IOB2 mode does: an entity starts at B-X and runs
           over the following I-X; an I-X that does not continue an X entity is no entity.
squad_em_f1: the official SQuAD v1.1 answer normalisation (lower case, drop punctuation,
           drop articles, collapse whitespace); French articles for PIAF (le, la, les, l',
           un, une, des, du, de, d').
"""
import collections
import re
import string
import unicodedata


def entities(tags):
    out, cur = [], None
    for i, t in enumerate(list(tags) + ["O"]):
        if cur is not None and not (t.startswith("I-") and t[2:] == cur[0]):
            out.append((cur[0], cur[1], i))
            cur = None
        if t.startswith("B-"):
            cur = (t[2:], i)
    return out


def entity_f1(gold_seqs, pred_seqs):
    tp = n_gold = n_pred = 0
    per_type = collections.defaultdict(lambda: [0, 0, 0])
    for g, p in zip(gold_seqs, pred_seqs):
        ge, pe = set(entities(g)), set(entities(p))
        tp += len(ge & pe)
        n_gold += len(ge)
        n_pred += len(pe)
        for e in ge & pe:
            per_type[e[0]][0] += 1
        for e in ge:
            per_type[e[0]][1] += 1
        for e in pe:
            per_type[e[0]][2] += 1
    pr = tp / n_pred if n_pred else 0.0
    rc = tp / n_gold if n_gold else 0.0
    f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
    types = {}
    for k, (t, g, p) in sorted(per_type.items()):
        a, b = t / p if p else 0.0, t / g if g else 0.0
        types[k] = 2 * a * b / (a + b) if a + b else 0.0
    return {"precision": pr, "recall": rc, "f1": f1, "f1_per_type": types}


_ART = {"en": re.compile(r"\b(a|an|the)\b", re.UNICODE),
        "fr": re.compile(r"\b(le|la|les|l'|un|une|des|du|de|d')\b", re.UNICODE)}
_PUNCT = set(string.punctuation) | {"«", "»", "’", "‘", "“", "”", "…", "–", "—"}


def norm_answer(s, lang):
    s = unicodedata.normalize("NFKC", s).lower()
    if lang == "fr":
        s = s.replace("’", "'")
        s = _ART["fr"].sub(" ", s)
    s = "".join(ch for ch in s if ch not in _PUNCT)
    if lang == "en":
        s = _ART["en"].sub(" ", s)
    return " ".join(s.split())


def _f1(pred, gold, lang):
    p, g = norm_answer(pred, lang).split(), norm_answer(gold, lang).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    pr, rc = same / len(p), same / len(g)
    return 2 * pr * rc / (pr + rc)


def squad_em_f1(preds, golds, lang):
    em = f1 = 0.0
    for p, gs in zip(preds, golds):
        em += max(float(norm_answer(p, lang) == norm_answer(g, lang)) for g in gs)
        f1 += max(_f1(p, g, lang) for g in gs)
    n = max(len(preds), 1)
    return {"em": 100.0 * em / n, "f1": 100.0 * f1 / n}
