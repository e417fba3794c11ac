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
# TOK_BENCH_ROUNDS (1; alternating HF/socle rounds, ratios paired per round),
# TOK_BENCH_BUILD (build-spm/rel), TOK_BENCH_OUT (bench/out/tok), TOK_BENCH_PERF=1 to also
# record a perf profile of tok_bench per tokenizer (top symbols in $OUT/<tok>.perf.txt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SOCLE_SHARED_DIR:-$ROOT/../shared}
BUILD=${TOK_BENCH_BUILD:-$ROOT/build-spm/rel}
OUT=${TOK_BENCH_OUT:-$ROOT/bench/out/tok}
MB=${TOK_BENCH_MB:-2}
REPEATS=${TOK_BENCH_REPEATS:-5}
ROUNDS=${TOK_BENCH_ROUNDS:-1}
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
  # Rounds alternate HF and socle so that both see the same load drift; ratios are taken
  # per round (paired), then the median over rounds.
  for round in $(seq 1 "$ROUNDS"); do
    counts=()
    [ "$round" = 1 ] && counts=(--counts "$OUT/$t.hf.counts")
    node "$ROOT/bench/tok_bench_hf.js" --tokenizer "$json" --text "$TEXT" --name "$t" \
      --repeats "$REPEATS" "${counts[@]}" | sed "s/^RESULT .*/& round=$round/" | tee -a "$RES"
    "$BUILD/bench/tok_bench" --tokenizer "$json" --text "$TEXT" --name "$t" --repeats "$REPEATS" \
      --expect "$OUT/$t.hf.counts" --counts "$OUT/$t.socle.counts" --count-too |
      sed "s/^RESULT .*/& round=$round/" | tee -a "$RES" ||
      echo "run_tok_bench: tok_bench failed for $t" >&2
  done
  if [ "${TOK_BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
    perf record -q -g -o "$OUT/$t.perf.data" "$BUILD/bench/tok_bench" --tokenizer "$json" \
      --text "$TEXT" --name "$t" --repeats 3 --warmup 0 >/dev/null 2>&1 &&
      perf report -i "$OUT/$t.perf.data" --no-children --percent-limit 1 2>/dev/null |
      grep -v '^#' | grep '%' | grep -v '^ *|' | grep -v -- '--' > "$OUT/$t.perf.txt" &&
      echo "# $t: perf profile (self time) in $OUT/$t.perf.txt" || true
  fi
done

echo
echo "## socle / HF, single thread, $ROUNDS round(s) x $REPEATS passes. MB/s: median pass of the"
echo "## last round. Ratios: per round, of median passes and (in parentheses) of best passes,"
echo "## then the median over rounds; on a loaded shared machine the best-pass and CPU-time"
echo "## ratios are the steadier ones (HF CPU time counts all its threads: JS + Rust worker)."
LC_ALL=C awk -v order="$TOKS" '
/^RESULT/ {
  delete kv; for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
  k = kv["tok"] SUBSEP kv["impl"] SUBSEP kv["mode"]
  mb[k] = kv["mbps"]; R = kv["round"] + 0; if (R > nr) nr = R
  mbr[k, R] = kv["mbps"]; best[k, R] = kv["min_s"]; cpur[k, R] = kv["cpu_mbps"]
  if (kv["impl"] == "socle" && kv["mode"] == "encode") mm[kv["tok"]] = kv["mismatches"]
}
function med(a, n,   i, j, x) {
  for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# median over rounds of num/den: by median-pass MB/s (how = 1), best pass (0), CPU MB/s (2)
function ratio(num, den, how,   R, n, v) {
  n = 0; delete v
  for (R = 1; R <= nr; R++) {
    if (how == 1 && mbr[den, R] > 0 && mbr[num, R] > 0) v[++n] = mbr[num, R] / mbr[den, R]
    if (how == 0 && best[num, R] > 0 && best[den, R] > 0) v[++n] = best[den, R] / best[num, R]
    if (how == 2 && cpur[den, R] > 0 && cpur[num, R] > 0) v[++n] = cpur[num, R] / cpur[den, R]
  }
  return n ? sprintf("%.2fx", med(v, n)) : "n/a"
}
END {
  printf "%-18s %7s %7s %7s %7s %24s %24s %8s\n", "tokenizer", "socle", "socle", "hf", "hf", "socle/hf vs batch", "socle/hf vs encode", "count";
  printf "%-18s %7s %7s %7s %7s %24s %24s %8s\n", "", "encode", "count", "batch", "encode", "wall (best) cpu", "wall (best) cpu", "mismatch";
  n = split(order, t, " ")
  for (i = 1; i <= n; i++) {
    k = t[i]; if (!((k SUBSEP "socle" SUBSEP "encode") in mb)) continue
    s = k SUBSEP "socle" SUBSEP "encode"; c = k SUBSEP "socle" SUBSEP "count"
    hb = k SUBSEP "hf" SUBSEP "encodeBatch"; he = k SUBSEP "hf" SUBSEP "encode"
    printf "%-18s %7s %7s %7s %7s %8s (%6s) %7s %8s (%6s) %7s %8s\n", k, mb[s], mb[c], mb[hb], mb[he],
      ratio(s, hb, 1), ratio(s, hb, 0), ratio(s, hb, 2), ratio(s, he, 1), ratio(s, he, 0),
      ratio(s, he, 2), mm[k]
  }
}' "$RES"
