#!/bin/bash
# run_batch_bench.sh — `socle batch` throughput vs the daemon's best throughput, in one run
# (issue 7, target >= 90%).
#
# For each configuration (model × task) one Release socled is started; then REPS times
# (a row each) TRIALS pairs of runs in alternating order (baseline first, then batch first, …),
# the row keeping the best of its trials for each side (TRIALS: 3 on the tiny fixtures, whose
# runs take half a second and swing with whatever else the shared machine runs; 1 on
# socle-mini, whose runs take a minute):
#   best    bench/batch_bench: the same documents through the C client library with a wide
#           window, nothing else (no JSON, no file, no resume); best of --window 64 and 256;
#   batch   socle batch --task T --in docs.jsonl --out FILE (defaults: window, sync, priority).
# Both go in the same priority lane (-1, batch's default). Prints each run and batch / best.
# The socle batch output is checked: N lines, every id once, no error line. Each run's line
# (stderr, indented) also gives the client's and socled's CPU seconds: on a shared machine a
# slow run with the same CPU was waiting for the machine, not working more.
#
# usage: bench/run_batch_bench.sh [BUILD_DIR (default build-batch-rel)] [N (10000)] [REPS (3)]
#        CONFIGS="mini-ner mini-classify tiny-ner tiny-classify" (environment, default all),
#        TRIALS=N (environment: pairs of runs per row, default 3 tiny / 1 socle-mini)
# Run it under `flock /tmp/bench.lock` on a shared machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-batch-rel}
n=${2:-10000}
reps=${3:-3}
configs=${CONFIGS:-mini-ner mini-classify tiny-ner tiny-classify}
shared=${SOCLE_SHARED_DIR:-$root/../shared}
socle=$build/clients/socle
dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

# N short documents (5-30 words), deterministic, from fixed parts; ids 0..N-1.
awk -v n="$n" -v txt="$dir/docs.txt" -v js="$dir/docs.jsonl" 'BEGIN {
    split("Marie Curie|Barack Obama|the mayor of Lyon|Angela Merkel|a spokesman for Google|" \
          "Lionel Messi|the French government|the board of Siemens", who, "|");
    split("praised|criticised|announced|visited|welcomed|rejected", verb, "|");
    split("the new stadium in Paris|the merger of two banks in London|a plan for schools in " \
          "Berlin|the film festival in Cannes|the research centre at Oxford University|a " \
          "disappointing deal with Microsoft|the harbour of Rotterdam", what, "|");
    split(".| on Monday.| after a long and difficult week of negotiations in Brussels.|, saying " \
          "it was a wonderful day for everyone involved.| in a short statement.", tail, "|");
    for (i = 0; i < n; i++) {
        t = who[i % 8 + 1] " " verb[int(i / 8) % 6 + 1] " " what[int(i / 3) % 7 + 1] \
            tail[int(i / 5) % 5 + 1];
        print t > txt;
        printf "{\"id\":%d,\"text\":\"%s\"}\n", i, t > js;
    }
}'

stamp() {
    echo "# run_batch_bench: $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- clients bench || echo +dirty)"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# build: $build ($(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2)); N=$n docs, $reps reps"
}

start_daemon() { # model_dir [adapters_dir]
    local args=(--model "$1" --endpoint "ipc://$dir/s.sock" --log-level warn)
    [ -n "${2:-}" ] && args+=(--adapters "$2")
    "$build/daemon/socled" "${args[@]}" 2>"$dir/socled.log" &
    pid=$!
    local i=0
    until "$socle" --endpoint "ipc://$dir/s.sock" --timeout 500 --retries 0 info >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 120 ] || { cat "$dir/socled.log"; exit 1; }
        sleep 0.5
    done
}

# CPU seconds (user + system, all threads) socled has used so far, from /proc: a run whose
# wall time grew while the daemon's CPU did not was waiting for the (shared) machine.
daemon_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' \
        "/proc/$pid/stat"
}

stop_daemon() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a ? b : a) }'; }

# best TASK ADAPTER: prints docs/s of the best window
run_best() {
    local best=0 w line r
    for w in 64 256; do
        local c0 c1
        c0=$(daemon_cpu)
        line=$("$build/bench/batch_bench" "ipc://$dir/s.sock" --task "$1" --adapter "$2" \
            --in "$dir/docs.txt" --window $w)
        c1=$(daemon_cpu)
        echo "    $line socled_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" >&2
        r=$(sed 's/.*docs_per_s=\([0-9.]*\).*/\1/' <<<"$line")
        best=$(max "$best" "$r")
    done
    echo "$best"
}

# batch TASK ADAPTER: prints docs/s of socle batch
run_batch() {
    local out="$dir/results.jsonl" t0 t1 ad=()
    rm -f "$out"
    [ -n "$2" ] && ad=(--adapter "$2")
    local c0 c1
    c0=$(daemon_cpu)
    t0=$(date +%s.%N)
    local tm
    tm=$( { /usr/bin/time -f "%U %S" "$socle" --endpoint "ipc://$dir/s.sock" batch --task "$1" \
        "${ad[@]}" --in "$dir/docs.jsonl" --out "$out" --no-progress; } 2>&1 >/dev/null)
    t1=$(date +%s.%N)
    c1=$(daemon_cpu)
    local lines ids errs
    lines=$(wc -l <"$out")
    ids=$(sed 's/^{"id":\([0-9]*\),.*/\1/' "$out" | sort -un | wc -l)
    errs=$(grep -c '"error":' "$out" || true)
    if [ "$lines" != "$n" ] || [ "$ids" != "$n" ] || [ "$errs" != 0 ]; then
        echo "socle batch output wrong: $lines lines, $ids ids, $errs errors ($tm)" >&2
        exit 1
    fi
    local r
    r=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
    echo "    socle batch task=$1 docs=$n wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') docs_per_s=$r client_cpu_s(user sys)=$tm socled_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" >&2
    echo "$r"
}

stamp
printf '%-14s %4s %-12s %10s %10s %7s\n' config rep order best batch ratio
summary=()
for cfg in $configs; do
    case $cfg in
    mini-ner) model=$root/models/socle-mini adapters=$model/adapters task=ner ad=ner ;;
    mini-classify) model=$root/models/socle-mini adapters=$model/adapters task=classify ad=sentiment ;;
    tiny-ner) model=$shared/fixtures/models/bert-tokcls adapters= task=ner ad= ;;
    tiny-classify) model=$shared/fixtures/models/bert-seqcls adapters= task=classify ad= ;;
    *) echo "unknown config $cfg" >&2; exit 2 ;;
    esac
    [ -f "$model/config.json" ] || { echo "skip $cfg: no $model" >&2; continue; }
    start_daemon "$model" "$adapters"
    # warm-up: page in the model, start the workers
    head -n 500 "$dir/docs.txt" >"$dir/warm.txt"
    "$build/bench/batch_bench" "ipc://$dir/s.sock" --task "$task" --adapter "$ad" \
        --in "$dir/warm.txt" >/dev/null
    trials=${TRIALS:-$([ "${cfg#tiny}" != "$cfg" ] && echo 3 || echo 1)}
    for rep in $(seq 1 "$reps"); do
        best=0 batch=0
        for t in $(seq 1 "$trials"); do
            if [ $(((rep + t) % 2)) = 0 ]; then
                order=best,batch
                b1=$(run_best "$task" "$ad"); b2=$(run_batch "$task" "$ad")
            else
                order=batch,best
                b2=$(run_batch "$task" "$ad"); b1=$(run_best "$task" "$ad")
            fi
            best=$(max "$best" "$b1"); batch=$(max "$batch" "$b2")
        done
        [ "$trials" -gt 1 ] && order="x$trials"
        ratio=$(awk -v a="$batch" -v b="$best" 'BEGIN { printf "%.0f%%", 100 * a / b }')
        printf '%-14s %4s %-12s %10s %10s %7s\n' "$cfg" "$rep" "$order" "$best" "$batch" "$ratio"
        summary+=("$cfg rep $rep: $ratio")
    done
    stop_daemon
done
echo "# batch / best: ${summary[*]}"
