#!/bin/sh
# bench/run_sgemm_ab.sh A B [M] [THREADS] [ROUNDS] — A/B of two versions of engine/sgemm.c on
# the BERT-base layer products, timed interleaved in one process (bench/sgemm_ab/sgemm_ab.c).
# A and B: a git revision (its engine/sgemm.c) or a path to a file. The rest of the engine
# (pool, kernels) comes from the Release build in $BUILD (default build-bench), built first.
# Example: bench/run_sgemm_ab.sh HEAD~1 HEAD 128 2
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
A=$1 B=$2 M=${3:-128} T=${4:-1} R=${5:-9}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for v in a b; do
    src=$A
    [ "$v" = b ] && src=$B
    if [ -f "$src" ]; then cp "$src" "$OUT/$v.c"; else git -C "$ROOT" show "$src:engine/sgemm.c" > "$OUT/$v.c"; fi
done
[ -d "$BUILD" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$BUILD" -j2 --target socle_engine socle_bench_sgemm > /dev/null
CFLAGS="-O3 -std=c11 -D_GNU_SOURCE -I$ROOT"
for v in a b; do
    cc $CFLAGS "-DV(x)=${v}_##x" -include "$ROOT/bench/sgemm_ab/rename.h" -c "$OUT/$v.c" -o "$OUT/$v.o"
done
cc $CFLAGS "$ROOT/bench/sgemm_ab/sgemm_ab.c" "$OUT/a.o" "$OUT/b.o" "$BUILD/engine/libsocle_engine.a" \
    "$BUILD/bench/libsocle_bench_sgemm.a" \
    $(pkg-config --libs openblas json-c 2>/dev/null || echo -lopenblas -ljson-c) -lm -lpthread -o "$OUT/sgemm_ab"
"$OUT/sgemm_ab" "$M" "$T" "$R"
