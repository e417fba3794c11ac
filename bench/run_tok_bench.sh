#!/usr/bin/env bash
# run_tok_bench.sh — tokenizer throughput, socle vs HF tokenizers, in one run.
#
# Builds tok_bench (RelWithDebInfo, no sanitizers) in $TOK_BENCH_BUILD, prepares one bench
# text (fixtures/tokenizer/corpus.txt + English and French novels from data/corpus, empty
# lines dropped, cut to $TOK_BENCH_MB MB at a line end), then for each tokenizer runs
# tok_bench_hf.js (HF's Rust core, single thread; writes HF's per-line token counts) and
# tok_bench (validates its counts against HF's, then times), and prints MB/s and the
# socle/HF ratio per vocabulary family. Both sides encode line by line with special tokens.
#
# Env: SOCLE_SHARED_DIR (default ../shared), TOK_BENCH_TOKENIZERS (default
# "bert-base-uncased llama3 t5-small"), TOK_BENCH_MB (2), TOK_BENCH_REPEATS (5),
# TOK_BENCH_BUILD (build-spm/rel), TOK_BENCH_OUT (bench/out/tok).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SOCLE_SHARED_DIR:-$ROOT/../shared}
BUILD=${TOK_BENCH_BUILD:-$ROOT/build-spm/rel}
OUT=${TOK_BENCH_OUT:-$ROOT/bench/out/tok}
MB=${TOK_BENCH_MB:-2}
REPEATS=${TOK_BENCH_REPEATS:-5}
TOKS=${TOK_BENCH_TOKENIZERS:-"bert-base-uncased llama3 t5-small"}
mkdir -p "$OUT"

[ -d "$SHARED/data/tokenizers" ] || { echo "run_tok_bench: $SHARED/data/tokenizers missing" >&2; exit 1; }
[ -d "$ROOT/bench/node_modules/@anush008/tokenizers" ] ||
  (cd "$ROOT/bench" && npm install --no-audit --no-fund >/dev/null)

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCLE_SANITIZE= \
  -DSOCLE_BUILD_TESTS=ON -DSOCLE_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD" --target tok_bench -j2 >/dev/null

TEXT=$OUT/bench_text.txt
LC_ALL=C awk -v lim="$(awk -v m="$MB" 'BEGIN { printf "%d", m * 1000000 }')" 'length($0) > 0 { n += length($0) + 1; print; if (n >= lim) exit }' \
  <(cat "$SHARED/fixtures/tokenizer/corpus.txt"
    zcat "$SHARED"/data/corpus/en/eltec_eng/ENG18481_Dickens.txt.gz
    zcat "$SHARED"/data/corpus/fr/cligs_roman19/*.txt.gz 2>/dev/null | head -c 3000000) > "$TEXT" || true
echo "# bench text: $TEXT, $(wc -l < "$TEXT") lines, $(wc -c < "$TEXT") bytes"
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 UV_THREADPOOL_SIZE=1
RES=$OUT/results.txt
: > "$RES"
for t in $TOKS; do
  json=$SHARED/data/tokenizers/$t/tokenizer.json
  [ -f "$json" ] || json=$SHARED/fixtures/tokenizer/$t/tokenizer.json
  if [ ! -f "$json" ] && [ -f "$SHARED/data/tokenizers/$t/tokenizer.json.gz" ]; then
    json=$OUT/$t.tokenizer.json # llama3 ships gzipped; both sides read the same copy
    zcat "$SHARED/data/tokenizers/$t/tokenizer.json.gz" > "$json"
  fi
  [ -f "$json" ] || { echo "run_tok_bench: no tokenizer.json for $t" >&2; continue; }
  node "$ROOT/bench/tok_bench_hf.js" --tokenizer "$json" --text "$TEXT" --name "$t" \
    --repeats "$REPEATS" --counts "$OUT/$t.hf.counts" | tee -a "$RES"
  "$BUILD/bench/tok_bench" --tokenizer "$json" --text "$TEXT" --name "$t" --repeats "$REPEATS" \
    --expect "$OUT/$t.hf.counts" --counts "$OUT/$t.socle.counts" --count-too | tee -a "$RES" ||
    echo "run_tok_bench: tok_bench failed for $t" >&2
done

echo
echo "## socle / HF throughput, single thread: MB/s at the median of $REPEATS passes; ratios of"
echo "## medians and (min) ratios of best passes, the steadier figure on a shared machine"
LC_ALL=C awk -v order="$TOKS" '
/^RESULT/ {
  delete kv; for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
  k = kv["tok"] SUBSEP kv["impl"] SUBSEP kv["mode"]
  mb[k] = kv["mbps"]; best[k] = kv["min_s"]; sp[k] = kv["spread_pct"]
  if (kv["impl"] == "socle" && kv["mode"] == "encode") mm[kv["tok"]] = kv["mismatches"]
}
function r(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "n/a" }
END {
  printf "%-18s %8s %8s %8s %8s %16s %16s %9s\n", "tokenizer", "socle", "socle", "hf", "hf", "socle/hf", "socle/hf", "count";
  printf "%-18s %8s %8s %8s %8s %16s %16s %9s\n", "", "encode", "count", "batch", "encode", "vs batch (min)", "vs encode (min)", "mismatch";
  n = split(order, t, " ")
  for (i = 1; i <= n; i++) {
    k = t[i]; if (!((k SUBSEP "socle" SUBSEP "encode") in mb)) continue
    s = k SUBSEP "socle" SUBSEP "encode"; c = k SUBSEP "socle" SUBSEP "count"
    hb = k SUBSEP "hf" SUBSEP "encodeBatch"; he = k SUBSEP "hf" SUBSEP "encode"
    printf "%-18s %8s %8s %8s %8s %7s (%6s) %7s (%6s) %9s\n", k, mb[s], mb[c], mb[hb], mb[he],
      r(mb[s], mb[hb]), r(best[hb], best[s]), r(mb[s], mb[he]), r(best[he], best[s]), mm[k]
  }
}' "$RES"
