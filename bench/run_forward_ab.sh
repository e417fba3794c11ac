#!/bin/sh
# bench/run_forward_ab.sh A B [BATCH] [THREADS] [ROUNDS] — A/B of two engine_bench binaries
# on the BERT-base forward (bench/out/models/bert-base, made by run_engine_bench.sh), run
# alternately ROUNDS times (5 timed forwards each, after one warm-up), so that the VM's slow
# drift (10-15 % over tens of minutes) hits both alike. Prints each round's medians and the
# median over the rounds of B/A in throughput (> 1: B faster).
# Example: cp build-bench/bench/engine_bench /tmp/eb_old; (change, rebuild);
#          bench/run_forward_ab.sh /tmp/eb_old build-bench/bench/engine_bench 1 2 8
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
A=$1 B=$2 BATCH=${3:-1} T=${4:-2} R=${5:-8}
MODEL=${MODEL:-$ROOT/bench/out/models/bert-base}
ms() {
    "$1" forward --model "$MODEL" --threads "$T" --batch "$BATCH" --seq 128 --repeat 5 \
        --warmup 1 --no-floor 2>/dev/null | sed -n 's/.*"ms_median": \([0-9.]*\).*/\1/p'
}
i=0
ratios=""
while [ "$i" -lt "$R" ]; do
    if [ $((i % 2)) = 0 ]; then a=$(ms "$A"); b=$(ms "$B"); else b=$(ms "$B"); a=$(ms "$A"); fi
    r=$(echo "$a $b" | awk '{printf "%.4f", $1 / $2}')
    echo "round $i: A $a ms  B $b ms  B/A $r"
    ratios="$ratios $r"
    i=$((i + 1))
done
echo "$ratios" | tr ' ' '\n' | sed '/^$/d' | sort -n |
    awk -v b="$BATCH" -v t="$T" '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "batch %s, %s thread(s), %d rounds: B/A throughput median %.4f (min %.4f, max %.4f)\n", b, t, NR, m, v[1], v[NR]}'
