#!/usr/bin/env bash
# run_load_bench.sh — socled under load on a BERT-base-shaped model (issue 6, docs/serving.md).
#
# usage: bench/run_load_bench.sh [--build DIR (build-serverel)] [--out DIR (bench/out/load)]
#                                [--nice N (-10; 0 = leave it)] [load_bench options…]
#   e.g. bench/run_load_bench.sh --clients 1,4,16,64 --seconds 8
#
# 1. Model (once, cached in OUT): tools/make_bert_base.py writes a random-weight BERT-base
#    checkpoint (12 layers, d_model 768, 110M parameters, 438 MB), the bert-base-uncased
#    tokenizer.json from ../shared/data/tokenizers is copied next to it, and
#    tools/make_adapter.py writes a random-weight classify adapter `sentiment`
#    (docs/adapters.md: adapter.json + head.safetensors, linear head on [CLS]).
# 2. bench/load_bench (Release build) measures in one run: the engine's own best batched
#    throughput in process, a direct engine call's latency, then socled with dynamic batching
#    (its defaults) and with batch size 1 at each client count.
#
# The machine is shared: like run_engine_bench.sh the run starts its own session (setsid) and,
# when allowed, sets that session's autogroup niceness to --nice, so other users' builds take
# less of the cores while it runs. Run it under `flock /tmp/bench.lock` on a shared machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-serverel
OUT=$ROOT/bench/out/load
NICE=-10
ORIG_ARGS=("$@")
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$(realpath "$2"); shift ;;
        --out) OUT=$(realpath -m "$2"); shift ;;
        --nice) NICE=$2; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
log() { echo "[run_load_bench $(date -u +%H:%M:%S)] $*" >&2; }

if [ "$NICE" != 0 ] && [ -z "${SOCLE_BENCH_SESSION:-}" ] && command -v setsid > /dev/null; then
    SOCLE_BENCH_SESSION=1 exec setsid -w "$0" "${ORIG_ARGS[@]}"
fi
PRIO=none
if [ "$NICE" != 0 ]; then
    if [ -e /proc/$$/autogroup ] && echo "$NICE" 2> /dev/null > /proc/$$/autogroup; then
        PRIO="autogroup nice $NICE"
    elif renice -n "$NICE" -p $$ > /dev/null 2>&1; then
        PRIO="nice $NICE"
    fi
fi

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >&2
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" ||
    log "warning: $BUILD is not a Release build"
cmake --build "$BUILD" -j2 --target socled load_bench >&2

MODEL=$OUT/bert-base
PY=/usr/bin/python3
if [ ! -f "$MODEL/model.safetensors" ]; then
    log "writing a random-weight BERT-base checkpoint to $MODEL"
    "$PY" "$ROOT/tools/make_bert_base.py" --out "$MODEL" >&2
fi
if [ ! -f "$MODEL/tokenizer.json" ]; then
    TOK=$ROOT/../shared/data/tokenizers/bert-base-uncased/tokenizer.json
    [ -f "$TOK" ] || { log "missing $TOK"; exit 1; }
    cp "$TOK" "$MODEL/tokenizer.json"
    chmod u+w "$MODEL/tokenizer.json"
fi
if [ ! -f "$MODEL/adapters/sentiment/head.safetensors" ]; then
    "$PY" "$ROOT/tools/make_adapter.py" --out "$MODEL/adapters/sentiment" --name sentiment \
        --task classify --labels negative,positive --d-model 768 --n-layers 12 >&2
fi

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$ROOT" diff --quiet HEAD -- daemon bench tasks engine 2>/dev/null; then
    COMMIT="$COMMIT+dirty"
fi
echo "# run_load_bench: $(date -u +%FT%TZ), commit $COMMIT, priority: $PRIO"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r)"
echo "# build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))"
echo "# command: $BUILD/bench/load_bench $BUILD/daemon/socled --model $MODEL ${ARGS[*]:-}"
exec "$BUILD/bench/load_bench" "$BUILD/daemon/socled" --model "$MODEL" "${ARGS[@]}"
