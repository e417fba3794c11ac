#!/bin/sh
# run_multi_bench.sh — "several tasks, one pass": classify + ner on the same 100 texts as one
# MultiRequest vs two requests, against a Release socled on models/socle-mini (1 worker).
# usage: bench/run_multi_bench.sh [BUILD_DIR (default build-multi-rel)] [multi_bench options]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-multi-rel}
[ $# -gt 0 ] && shift
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$build/daemon/socled" --model "$root/models/socle-mini" --adapters "$root/models/socle-mini/adapters" \
  --endpoint "ipc://$dir/s.sock" --workers 1 --log-level warn 2>"$dir/log" &
pid=$!
i=0
until "$build/clients/socle" --endpoint "ipc://$dir/s.sock" --timeout 500 --retries 0 info >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -lt 60 ] || { cat "$dir/log"; exit 1; }; sleep 0.5
done
"$build/bench/multi_bench" "ipc://$dir/s.sock" "$@"
