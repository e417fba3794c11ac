#!/usr/bin/python3
"""Write tests/data/eval/porter_vocab.tsv: word -> Porter stems from NLTK's PorterStemmer.

Each line is "word<TAB>original<TAB>nltk": the stem in NLTK's ORIGINAL_ALGORITHM mode (the
1980 paper, EV_STEM_PORTER) and in its default NLTK_EXTENSIONS mode (what Google's rouge_score
uses with use_stemmer=True, EV_STEM_PORTER_NLTK). test_metrics checks porter.c against every line.

Words: the distinct alphabetic tokens (rouge_score's tokenizer: lowercase, split on [^a-z0-9])
of the BBC News Summary articles, plus the examples printed in Porter's paper. Kept: every word
whose two stems differ, and every K-th of the others (sorted), so the file stays small. Then
--random N made-up words (seed 1): up to 6 random letters (y and w/x/y-final cases included)
followed by up to 3 of the algorithm's suffixes, so every rule and condition is exercised.

NLTK need not be installed: --nltk-dir may point at an unpacked Debian python3-nltk, e.g.
    apt-get download python3-nltk && dpkg-deb -x python3-nltk_3.8-1_all.deb /tmp/nltk
    /usr/bin/python3 tools/eval/gen_porter_fixture.py \
        --nltk-dir /tmp/nltk/usr/lib/python3/dist-packages > tests/data/eval/porter_vocab.tsv
Only nltk/stem/api.py and nltk/stem/porter.py are loaded (the nltk package itself needs
modules Debian's python3 may lack).
"""
import argparse
import glob
import importlib.util
import json
import os
import re
import sys
import random
import types

PAPER = ("caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated "
         "troubled sized hopping tanned falling hissing fizzed failing filing happy sky "
         "relational conditional rational valenci hesitanci digitizer conformabli radicalli "
         "differentli vileli analogousli vietnamization predication operator feudalism "
         "decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate "
         "formative formalize electriciti electrical hopeful goodness revival allowance "
         "inference airliner gyroscopic adjustable defensible irritant replacement adjustment "
         "dependent adoption homologou communism activate angulariti homologous effective "
         "bowdlerize probate rate cease controll roll generalizations oscillators").split()


def load_porter(nltk_dir):
    if nltk_dir is None:
        from nltk.stem import porter
        return porter
    d = os.path.join(nltk_dir, "nltk", "stem")
    for name in ("nltk", "nltk.stem"):
        m = types.ModuleType(name)
        m.__path__ = []
        sys.modules[name] = m
    mods = {}
    for mod, fn in (("nltk.stem.api", "api.py"), ("nltk.stem.porter", "porter.py")):
        spec = importlib.util.spec_from_file_location(mod, os.path.join(d, fn))
        mods[mod] = importlib.util.module_from_spec(spec)
        sys.modules[mod] = mods[mod]
        spec.loader.exec_module(mods[mod])
    return mods["nltk.stem.porter"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nltk-dir", help="directory holding nltk/stem/porter.py")
    ap.add_argument("--bbc-dir", default=os.path.join(
        here, "..", "..", "..", "shared", "data", "summarization", "en", "bbc_news_summary"))
    ap.add_argument("--every", type=int, default=4, help="keep every K-th word whose stems agree")
    ap.add_argument("--random", type=int, default=3000, help="made-up suffix-heavy words")
    a = ap.parse_args()
    porter = load_porter(a.nltk_dir)
    orig = porter.PorterStemmer(porter.PorterStemmer.ORIGINAL_ALGORITHM)
    ext = porter.PorterStemmer(porter.PorterStemmer.NLTK_EXTENSIONS)
    words = set(PAPER)
    for path in sorted(glob.glob(os.path.join(a.bbc_dir, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["article"].lower()
                words.update(w for w in re.split(r"[^a-z0-9]+", text) if w.isalpha())
    rows, same = [], 0
    for w in sorted(words):
        o, e = orig.stem(w), ext.stem(w)
        if o != e or w in PAPER:
            rows.append((w, o, e))
        else:
            if same % a.every == 0:
                rows.append((w, o, e))
            same += 1
    rng = random.Random(1)
    sufs = ("sses ies ss s eed ed ing at bl iz y ational tional enci anci izer abli bli alli entli "
            "eli ousli ization ation ator alism iveness fulness ousness aliti iviti biliti fulli "
            "logi icate ative alize iciti ical ful ness al ance ence er ic able ible ant ement ment "
            "ent ion sion tion ou ism ate iti ous ive ize e ll").split()
    made = []
    while len(made) < a.random:
        w = "".join(rng.choice("aeiouybcdlstgnmrwxzy") for _ in range(rng.randint(0, 6)))
        w += "".join(rng.choice(sufs) for _ in range(rng.randint(0, 3)))
        if w and w not in words:
            words.add(w)
            made.append((w, orig.stem(w), ext.stem(w)))
    rows += made
    print("# word\tPorter 1980 (NLTK ORIGINAL_ALGORITHM)\tNLTK_EXTENSIONS (rouge_score use_stemmer)")
    print("# generated by tools/eval/gen_porter_fixture.py from %d distinct BBC words"
          " and %d made-up ones" % (len(words) - len(made), len(made)))
    for r in rows:
        print("\t".join(r))


if __name__ == "__main__":
    main()
