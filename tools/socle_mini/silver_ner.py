#!/usr/bin/python3
"""silver_ner.py — whole-sentence NER training data by distant supervision (issue 9).

WikiANN, the only openly usable PER/ORG/LOC training set here, is made of Wikipedia
title-like fragments: almost no verbs, so a head trained on it alone misses a city that is
the object of a verb ("Macron a visité Lyon avec ..."). This tool labels real sentences —
the open novel corpora (../shared/data/corpus: CLiGS French, ELTeC English) and the training
parts of the task datasets socle-mini already trains on (PIAF and Allociné for French; SQuAD
parts 1-3, BBC and AG News for English; splits of data.py, held-out parts never read) — with
a gazetteer taken from WikiANN *train* only (its test and dev are never read), and keeps a
sentence only when the labels explain it fully:

  * every entity match is a token sequence WikiANN train labels consistently
    (>= 80 % one type; single words also rarely written in lower case in the corpus);
  * every other capitalised word is sentence-initial or a word WikiANN train tags O when
    capitalised (titles, "Le", "The", ...). An unknown capitalised word (a character's
    name) would be an entity labelled O, so its sentence is dropped instead of taught wrong.

Output: CoNLL (word TAB IOB2 tag, blank line between sentences), no language prefix, plus
WikiANN train (en + fr, prefixes stripped) merged with it, and stats on stdout (JSON).

    /usr/bin/python3 tools/socle_mini/silver_ner.py --out DIR [--per-entity 12] [--per-lang 6000]

Deterministic: files and sentences are read in sorted order; sampling uses --seed.
"""
import argparse
import collections
import glob
import gzip
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402  (the task datasets' train/held-out splits)

DATA = data.shared_dir()
WORD = re.compile(r"[\w’']+(?:[-‐][\w’']+)*|[^\w\s]")
SENT_END = re.compile(r'(?<=[.!?…])\s+(?=[«"“A-ZÀ-ÖØ-Þ])')
TITLES = {'Mr', 'Mrs', 'Ms', 'Dr', 'M', 'Mme', 'Mlle', 'Monsieur', 'Madame', 'Mademoiselle',
          'Miss', 'Sir', 'Madam'}


def read_wikiann(path):
    """Sentences of (word, tag) with the 'xx:' prefix removed."""
    sents, cur = [], []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line.strip():
                if cur:
                    sents.append(cur)
                cur = []
                continue
            word, tag = line.split('\t')
            if word[:3] in ('en:', 'fr:'):
                word = word[3:]
            cur.append((word, tag))
    if cur:
        sents.append(cur)
    return sents


def entities(sent):
    """(type, tuple of words) of each IOB2 entity."""
    out, cur, typ = [], [], None
    for word, tag in sent + [('', 'O')]:
        if tag.startswith('I-') and typ == tag[2:]:
            cur.append(word)
            continue
        if cur:
            out.append((typ, tuple(cur)))
        cur, typ = ([word], tag[2:]) if tag != 'O' else ([], None)
    return out


ELIDED_CAP = re.compile(r"^[^\W\d_]{1,2}['’][A-ZÀ-ÖØ-Þ]")


def is_cap(word):
    """Capitalised, or an elided capitalised word (l'Allemagne, d'Orléans)."""
    return word[:1].isupper() or bool(ELIDED_CAP.match(word))


def paragraphs(lang, sources):
    """Paragraphs of the novels and, with sources 'all', of the *training* parts of the task
    datasets (tools/socle_mini/data.py splits: the held-out parts are never read)."""
    sub = {'fr': 'fr/*/*.txt.gz', 'en': 'en/*/*.txt.gz'}[lang]
    for path in sorted(glob.glob(os.path.join(DATA, 'corpus', sub))):
        with gzip.open(path, 'rt', encoding='utf-8') as f:
            yield from f
    if sources != 'all':
        return
    if lang == 'fr':
        yield from sorted({q['context'] for q in data.piaf()[0]})
        yield from (t for t, _ in data.allocine()[0])
    else:
        yield from sorted({q['context'] for q in data.squad()[0]})
        for text, _ in data.bbc()[0]:
            yield from text.split('\n')
        yield from (t for t, _ in data.ag_news()[0])


def corpus_sentences(lang, sources='all'):
    for para in paragraphs(lang, sources):
        para = para.strip()
        if para:
            yield from SENT_END.split(para)


def build_gazetteer(train, lower_counts, cap_counts):
    counts = collections.defaultdict(collections.Counter)
    for sent in train:
        for typ, words in entities(sent):
            counts[words][typ] += 1
    gaz = {}
    for words, c in counts.items():
        typ, n = c.most_common(1)[0]
        total = sum(c.values())
        if n / total < 0.8 or not all(w[:1].isalnum() or w in '-&.' for w in words):
            continue
        if not is_cap(words[0]):
            continue
        if len(words) == 1:
            w = words[0]
            if total < 2 or len(w) < 3 or lower_counts[w.lower()] * 10 > cap_counts[w]:
                continue
        gaz[words] = typ
    return gaz


def capitalised_o_words(train):
    o, ent = collections.Counter(), collections.Counter()
    for sent in train:
        for word, tag in sent:
            if is_cap(word):
                (o if tag == 'O' else ent)[word] += 1
    return {w for w, n in o.items() if n >= 2 and n >= 9 * ent[w]} | TITLES


def label_sentence(words, gaz, max_len, o_caps):
    """IOB2 tags for words, or None when a capitalised word stays unexplained."""
    tags, i, found = ['O'] * len(words), 0, 0
    first_word = next((k for k, w in enumerate(words) if w[:1].isalnum()), 0)
    while i < len(words):
        for n in range(min(max_len, len(words) - i), 0, -1):
            typ = gaz.get(tuple(words[i:i + n]))
            if typ:
                tags[i] = 'B-' + typ
                for k in range(i + 1, i + n):
                    tags[k] = 'I-' + typ
                i += n
                found += 1
                break
        else:
            w = words[i]
            if is_cap(w) and i != first_word and w not in o_caps:
                return None
            i += 1
    return tags if found else None


def silver(lang, gaz, o_caps, args, rng):
    max_len = max(len(k) for k in gaz)
    per_entity = collections.Counter()
    kept = []
    for text in corpus_sentences(lang, args.sources):
        words = WORD.findall(text)
        if not 6 <= len(words) <= 40:
            continue
        tags = label_sentence(words, gaz, max_len, o_caps)
        if tags is None:
            continue
        ents = entities(list(zip(words, tags)))
        if any(per_entity[e] >= args.per_entity for e in ents):
            continue
        per_entity.update(ents)
        kept.append(list(zip(words, tags)))
    rng.shuffle(kept)
    return kept[:args.per_lang]


def write_conll(path, sents):
    with open(path, 'w', encoding='utf-8') as f:
        for sent in sents:
            for word, tag in sent:
                f.write(f'{word}\t{tag}\n')
            f.write('\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--per-entity', type=int, default=12)
    ap.add_argument('--per-lang', type=int, default=6000)
    ap.add_argument('--seed', type=int, default=13)
    ap.add_argument('--sources', choices=('novels', 'all'), default='all',
                    help='novels only, or also the training parts of PIAF, Allociné (fr), '
                         'SQuAD, BBC, AG News (en)')
    ap.add_argument('--repeat', type=int, default=4,
                    help='copies of each silver sentence in the merged file (they are few)')
    ap.add_argument('--dev', type=int, default=2000, help='WikiANN dev sentences per language')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    train = {l: read_wikiann(os.path.join(DATA, 'ner', l, 'wikiann', 'train.txt'))
             for l in ('en', 'fr')}
    stats = {}
    all_silver = []
    for lang in ('fr', 'en'):
        lower, cap = collections.Counter(), collections.Counter()
        for text in corpus_sentences(lang, args.sources):
            for w in WORD.findall(text):
                (cap if is_cap(w) else lower)[w] += 1
        gaz = build_gazetteer(train['en'] + train['fr'], lower, cap)
        o_caps = capitalised_o_words(train[lang])
        sents = silver(lang, gaz, o_caps, args, rng)
        write_conll(os.path.join(args.out, f'silver_{lang}.conll'), sents)
        types = collections.Counter(t for s in sents for t, _ in entities(s))
        stats[lang] = {'gazetteer': len(gaz), 'sentences': len(sents),
                       'entities': dict(types),
                       'tokens': sum(len(s) for s in sents)}
        all_silver += sents
    merged = train['en'] + train['fr'] + all_silver * args.repeat
    rng.shuffle(merged)
    write_conll(os.path.join(args.out, 'train_wikiann_silver.conll'), merged)
    write_conll(os.path.join(args.out, 'train_wikiann.conll'), train['en'] + train['fr'])
    stats['merged_sentences'] = len(merged)
    # evaluation files (never trained on): WikiANN dev for early stopping, and WNUT-17 test
    # (tweets, whole sentences) mapped to PER/ORG/LOC as a sentence-level check
    dev = [s for l in ('en', 'fr') for s in
           read_wikiann(os.path.join(DATA, 'ner', l, 'wikiann', 'dev.txt'))[:args.dev]]
    write_conll(os.path.join(args.out, 'dev_wikiann.conll'), dev)
    wnut = read_wikiann(os.path.join(DATA, 'ner', 'en', 'wnut17', 'emerging.test.annotated'))
    to = {'person': 'PER', 'location': 'LOC', 'corporation': 'ORG', 'group': 'ORG'}
    mapped = [[(w, t[:2] + to[t[2:]] if t != 'O' and t[2:] in to else 'O') for w, t in s]
              for s in wnut]
    write_conll(os.path.join(args.out, 'wnut17_test_perorgloc.conll'), mapped)
    stats['wnut17_test_sentences'] = len(mapped)
    print(json.dumps(stats))


if __name__ == '__main__':
    main()
