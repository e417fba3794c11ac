#!/bin/sh
# Evaluate socle-mini's adapters with socle-eval (the C tool, --model mode: the tasks library
# runs the adapter in-process, as socled does) on the held-out parts of tools/socle_mini/data.py,
# each next to the baseline socle-eval computes in the same run:
#   classification  majority class of the training part (--baseline majority --train)
#   NER             memorisation: each word's most frequent training tag (--baseline memo)
#   QA              sentence overlap (--baseline overlap, baselines.py's heuristic)
#   summaries       lead-3 (--baseline lead3), ROUGE with and without Porter stemming
# (baselines.py's bag-of-words logistic regression is Python only.)
#
#   sh tools/socle_mini/eval_c.sh [BUILD_DIR [OUT_DIR]]
#
# BUILD_DIR (default build-evalrel) must hold a Release socle-eval:
#   cmake -S . -B build-evalrel -DCMAKE_BUILD_TYPE=Release -DSOCLE_BUILD_TESTS=OFF
#   cmake --build build-evalrel -j2 --target socle-eval
# Results: one JSON file per run in OUT_DIR (default tools/work/eval_c), times.txt (seconds per
# run), and results.md (one table of every run, model next to baseline).
# Environment:
#   MODEL=DIR      model directory (default models/socle-mini; adapters in DIR/adapters)
#   RUN="..."      groups to run, any of: cls ner qa sum (default all four)
#   SUBSET=1       NER on the first 2,000 test sentences of each language and QA on every 5th
#                  held-out question (what a slow machine can do); 0 (default) = full parts
#   SENTENCES=N    sentences per summary (default 3, as lead-3)
# A run that fails is reported and the others go on; the exit status is 1 if any failed.
# Time, full parts, Release build, on the shared 2-core VM while other builds ran (load 5-9):
# about 18 minutes — cls 3.3 min, ner 3.7, qa 9.5, sum 1.8 (times.txt has this run's split;
# it holds only the groups of the last invocation). SUBSET=1 cuts ner and qa to about a fifth.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build-evalrel}
OUT=${2:-tools/work/eval_c}
HELD=tools/work/heldout
SUBSET=${SUBSET:-0}
RUN=${RUN:-cls ner qa sum}
SENTENCES=${SENTENCES:-3}
MODEL=${MODEL:-models/socle-mini}
EVAL="$BUILD/tools/eval/socle-eval"
[ -x "$EVAL" ] || { echo "eval_c.sh: no $EVAL (build it first)" >&2; exit 2; }
[ -f "$MODEL/config.json" ] || { echo "eval_c.sh: no model in $MODEL" >&2; exit 2; }
"$EVAL" --help | grep -q -- "--baseline" ||
    { echo "eval_c.sh: $EVAL predates --baseline (rebuild it)" >&2; exit 2; }
mkdir -p "$OUT"
/usr/bin/python3 tools/socle_mini/export_heldout.py --out "$HELD" --ner-first 2000 --qa-every 5 >"$OUT/counts.json"
: >"$OUT/times.txt"
: >"$OUT/failed.txt"

# The machine may be shared: one evaluation at a time, niced, one BLAS thread.
export OPENBLAS_NUM_THREADS=1
T_START=$(date +%s)
run() { # name, then socle-eval arguments
    name=$1
    shift
    t0=$(date +%s)
    rm -f "$OUT/$name.json"
    # Written under a temporary name: a failed run leaves no JSON that looks like a result.
    if nice -n 10 "$EVAL" --model "$MODEL" --adapters "$MODEL/adapters" --json "$@" \
        >"$OUT/$name.json.part" 2>"$OUT/$name.err"; then
        mv "$OUT/$name.json.part" "$OUT/$name.json"
        echo "$name $(($(date +%s) - t0)) s" | tee -a "$OUT/times.txt"
    else
        echo "eval_c.sh: $name FAILED (exit $?), see $OUT/$name.err:" >&2
        tail -n 3 "$OUT/$name.err" >&2
        echo "$name" >>"$OUT/failed.txt"
        rm -f "$OUT/$name.json.part"
    fi
}

want() { case " $RUN " in *" $1 "*) return 0 ;; esac; return 1; }

# A group that runs drops its older results first (a SUBSET=1 file must not linger next to
# the full run's); results.md lists every result file in OUT_DIR.
if want cls; then
    rm -f "$OUT"/ag_news.json "$OUT"/bbc.json "$OUT"/sst2.json "$OUT"/allocine.json
    for set in ag_news:topic bbc:topic-bbc sst2:sentiment allocine:sentiment; do
        name=${set%%:*}
        run "$name" --task classify --adapter "${set#*:}" --data "$HELD/$name.jsonl" \
            --baseline majority --train "$HELD/$name.train.jsonl"
    done
fi

if [ "$SUBSET" = 1 ]; then ner=.first2000 qa=.every5; else ner= qa=; fi
if want ner; then
    rm -f "$OUT"/wikiann_*.json
    for lang in en fr; do
        train=$HELD/wikiann_$lang.train.conll
        # none = word tag from its first piece, seqeval strict: the Python evaluation's reading;
        # first = the entities socled returns (HF aggregation first).
        run "wikiann_$lang$ner.none" --task ner --adapter ner --ner-aggregation none \
            --data "$HELD/wikiann_$lang$ner.conll" --baseline memo --train "$train"
        run "wikiann_$lang$ner.first" --task ner --adapter ner --ner-aggregation first \
            --data "$HELD/wikiann_$lang$ner.conll" --baseline memo --train "$train"
    done
fi

if want qa; then
    rm -f "$OUT"/squad*.json "$OUT"/piaf*.json
    run "squad$qa" --task qa --adapter qa --lang en --data "$HELD/squad$qa.json" --baseline overlap
    run "piaf$qa" --task qa --adapter qa --lang fr --data "$HELD/piaf$qa.json" --baseline overlap
fi

if want sum; then
    # The tasks library's extractive summarizer picks as many sentences as lead-3, from the
    # same sentence splitter; reference and summaries one sentence per line. Salience: the
    # trained summarize-bbc adapter (the default), then the unsupervised centrality.
    run bbc_summary --task summarize --adapter summarize-bbc --data "$HELD/bbc_summary.jsonl" \
        --sentences "$SENTENCES" --baseline lead3 --rouge-stem
    run bbc_summary.unsupervised --task summarize --adapter default-summarize \
        --data "$HELD/bbc_summary.jsonl" --sentences "$SENTENCES" --baseline lead3 --rouge-stem
fi

echo "total $(($(date +%s) - T_START)) s" | tee -a "$OUT/times.txt"

# One table of every result file: model next to its baseline.
/usr/bin/python3 - "$OUT" <<'EOF' | tee "$OUT/results.md"
import glob, json, os, sys
out = sys.argv[1]
print("| held-out set | n | metric | socle-mini | baseline | baseline name |")
print("|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    name = os.path.basename(path)[:-5]
    if name == "counts":
        continue
    j = json.load(open(path))
    b = j.get("baseline", {})
    t = j["task"]
    if t == "classify":
        rows = [("accuracy", j["accuracy"], b.get("accuracy")), ("macro-F1", j["macro_f1"], b.get("macro_f1"))]
        n = j["examples"]
    elif t == "ner":
        rows = [("entity F1 (%s)" % j["mode"], j["micro"]["f1"], b.get("micro", {}).get("f1"))]
        n = j["sentences"]
    elif t == "qa":
        rows = [("EM", j["exact_match"], b.get("exact_match")), ("F1", j["f1"], b.get("f1"))]
        n = j["questions"]
    else:
        n = j["examples"]
        rows = [("%s F" % k, j[k]["fmeasure"], b.get(k, {}).get("fmeasure"))
                for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")]
        if "stemmed" in j:
            rows += [("%s F stemmed" % k, j["stemmed"][k]["fmeasure"],
                      b.get("stemmed", {}).get(k, {}).get("fmeasure"))
                     for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")]
    for m, v, bv in rows:
        f = (lambda x: "%.2f" % x) if t == "qa" else (lambda x: "%.4f" % x)
        print("| %s | %d | %s | %s | %s | %s |" % (name, n, m, f(v), "-" if bv is None else f(bv),
                                                   b.get("name", "-")))
EOF

if [ -s "$OUT/failed.txt" ]; then
    echo "eval_c.sh: failed runs: $(tr '\n' ' ' <"$OUT/failed.txt")" >&2
    exit 1
fi
