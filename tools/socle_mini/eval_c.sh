#!/bin/sh
# Evaluate socle-mini's adapters with socle-eval (the C tool, --model mode: the tasks library
# runs the adapter in-process, as socled does) on the held-out parts of tools/socle_mini/data.py.
#
#   sh tools/socle_mini/eval_c.sh [BUILD_DIR [OUT_DIR]]
#
# BUILD_DIR (default build-evalrel) must hold a Release socle-eval:
#   cmake -S . -B build-evalrel -DCMAKE_BUILD_TYPE=Release -DSOCLE_BUILD_TESTS=OFF
#   cmake --build build-evalrel -j2 --target socle-eval
# Results: one JSON file per run in OUT_DIR (default tools/work/eval_c), plus timings.
# SUBSET=1 evaluates NER on the first 2,000 test sentences of each language and QA on every
# 5th held-out question (what a slow machine can do); SUBSET=0 evaluates the full parts.
# RUN="cls ner qa" (default all three) picks the groups to run.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build-evalrel}
OUT=${2:-tools/work/eval_c}
HELD=tools/work/heldout
SUBSET=${SUBSET:-0}
RUN=${RUN:-cls ner qa}
EVAL="$BUILD/tools/eval/socle-eval"
MODEL=models/socle-mini
[ -x "$EVAL" ] || { echo "eval_c.sh: no $EVAL (build it first)" >&2; exit 2; }
mkdir -p "$OUT"
/usr/bin/python3 tools/socle_mini/export_heldout.py --out "$HELD" --ner-first 2000 --qa-every 5 >"$OUT/counts.json"

# The machine may be shared: one evaluation at a time, niced, one BLAS thread.
export OPENBLAS_NUM_THREADS=1
run() { # name, then socle-eval arguments
    name=$1
    shift
    t0=$(date +%s)
    nice -n 10 "$EVAL" --model "$MODEL" --adapters "$MODEL/adapters" --json "$@" >"$OUT/$name.json"
    echo "$name $(($(date +%s) - t0)) s" | tee -a "$OUT/times.txt"
}

want() { case " $RUN " in *" $1 "*) return 0 ;; esac; return 1; }

if want cls; then
run ag_news --task classify --adapter topic --data "$HELD/ag_news.jsonl"
run bbc --task classify --adapter topic-bbc --data "$HELD/bbc.jsonl"
run sst2 --task classify --adapter sentiment --data "$HELD/sst2.jsonl"
run allocine --task classify --adapter sentiment --data "$HELD/allocine.jsonl"
fi

if [ "$SUBSET" = 1 ]; then ner=.first2000 qa=.every5; else ner= qa=; fi
if want ner; then
for lang in en fr; do
    # none = word tag from its first piece, seqeval strict: the Python evaluation's reading;
    # first = the entities socled returns (HF aggregation first).
    run "wikiann_$lang$ner.none" --task ner --adapter ner --ner-aggregation none \
        --data "$HELD/wikiann_$lang$ner.conll"
    run "wikiann_$lang$ner.first" --task ner --adapter ner --ner-aggregation first \
        --data "$HELD/wikiann_$lang$ner.conll"
done
fi
if want qa; then
run "squad$qa" --task qa --adapter qa --lang en --data "$HELD/squad$qa.json"
run "piaf$qa" --task qa --adapter qa --lang fr --data "$HELD/piaf$qa.json"
fi
