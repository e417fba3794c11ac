#!/bin/sh
# bench/run_ort_ab.sh [THREADS] [BATCHES] [ROUNDS] — socle against ONNX Runtime, interleaved:
# per round and per (threads, batch), one engine_bench forward run (5 timed forwards after a
# warm-up) then one ort_bench.js run (the same), the order alternating between rounds; prints
# each pair and the median over the rounds of socle/ORT throughput. The ratio in
# run_engine_bench.sh's summary compares runs minutes apart, and this VM's speed drifts
# 10-20 % over that time; here the two are seconds apart. Needs what run_engine_bench.sh made:
# bench/out/models/bert-base (safetensors + model.onnx), bench/out/peers, and
# bench/engine_peers/node_modules. Default: THREADS "1 2", BATCHES "1 8 32", ROUNDS 4.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
THREADS=${1:-1 2} BATCHES=${2:-1 8 32} R=${3:-4}
OUT=$ROOT/bench/out
MODEL=$OUT/models/bert-base
export NODE_PATH=$ROOT/bench/engine_peers/node_modules
for f in "$MODEL/model.onnx" "$OUT/peers/ort_bench.js" "$BUILD/bench/engine_bench"; do
    [ -e "$f" ] || { echo "run_ort_ab: $f missing (run bench/run_engine_bench.sh first)" >&2; exit 2; }
done
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" | head -1; }
socle() {
    "$BUILD/bench/engine_bench" forward --model "$MODEL" --threads "$1" --batch "$2" --seq 128 \
        --repeat 5 --warmup 1 --no-floor 2>/dev/null | field seq_per_s
}
ort() {
    node "$OUT/peers/ort_bench.js" --model "$MODEL/model.onnx" --threads "$1" --shapes "${2}x128" \
        --warmup 1 --warmup-big 1 --min-runs 5 --max-runs 5 --min-time 0 2>/dev/null | field seq_per_s
}
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, commit $(git -C "$ROOT" rev-parse --short HEAD)"
for t in $THREADS; do
    for b in $BATCHES; do
        ratios=""
        i=0
        while [ "$i" -lt "$R" ]; do
            if [ $((i % 2)) = 0 ]; then s=$(socle "$t" "$b"); o=$(ort "$t" "$b"); else o=$(ort "$t" "$b"); s=$(socle "$t" "$b"); fi
            r=$(echo "$s $o" | awk '{printf "%.4f", $1 / $2}')
            echo "threads $t batch $b round $i: socle $s seq/s, ORT $o seq/s, socle/ORT $r"
            ratios="$ratios $r"
            i=$((i + 1))
        done
        echo "$ratios" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk -v b="$b" -v t="$t" \
            '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
             printf "threads %s batch %s: socle/ORT median %.3f (min %.3f, max %.3f, %d rounds)\n", t, b, m, v[1], v[NR], NR}'
    done
done
