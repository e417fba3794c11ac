#!/usr/bin/env node
// tok_bench_hf.js — the baseline for tok_bench.c: HF tokenizers' Rust core (npm package
// @anush008/tokenizers, tokenizers 0.22 behind napi) on the same text, same tokenizer.json.
//
// Inputs: one per non-empty line of --text (split on \r?\n, the rule tok_bench.c uses).
// Modes, each timed after --warmup passes over --repeats passes (median, min, max):
//   encode       await tok.encode(line) line after line: HF core plus one napi async task
//                (libuv thread-pool hop + promise) per line;
//   encodeBatch  await tok.encodeBatch(all lines) in one call: the core alone, serial when
//                TOKENIZERS_PARALLELISM=false / RAYON_NUM_THREADS=1 (run_tok_bench.sh sets
//                both; we refuse to run without them so "single-thread" stays true).
// --counts FILE writes HF's token count per line (with special tokens) for tok_bench.c's
// validation. Output: "RESULT impl=hf ..." lines, same keys as tok_bench.c.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const tokPath = arg('--tokenizer');
const textPath = arg('--text');
const name = arg('--name', tokPath);
const repeats = parseInt(arg('--repeats', '5'), 10);
const warmup = parseInt(arg('--warmup', '1'), 10);
const countsPath = arg('--counts');
const modes = arg('--modes', 'encode,encodeBatch').split(',');
const special = !process.argv.includes('--no-special');
if (!tokPath || !textPath) {
  console.error('usage: tok_bench_hf.js --tokenizer tokenizer.json --text FILE [--name N] ' +
                '[--repeats 5] [--warmup 1] [--counts OUT] [--modes encode,encodeBatch] [--no-special]');
  process.exit(2);
}
if (process.env.TOKENIZERS_PARALLELISM !== 'false' || process.env.RAYON_NUM_THREADS !== '1') {
  console.error('tok_bench_hf.js: set TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 (single thread)');
  process.exit(2);
}

const text = fs.readFileSync(textPath, 'utf8');
const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
const bytes = lines.reduce((s, l) => s + Buffer.byteLength(l, 'utf8'), 0);
const file = fs.statSync(tokPath).isDirectory() ? tokPath + '/tokenizer.json' : tokPath;
const t0 = process.hrtime.bigint();
const tok = Tokenizer.fromFile(file);
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
const opts = { addSpecialTokens: special };
console.log(`# hf tok_bench: @anush008/tokenizers ${require('@anush008/tokenizers/package.json').version}, ` +
            `node ${process.version}, TOKENIZERS_PARALLELISM=${process.env.TOKENIZERS_PARALLELISM}, ` +
            `RAYON_NUM_THREADS=${process.env.RAYON_NUM_THREADS}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE || 'default'}`);
console.log(`# ${name}: ${lines.length} lines, ${bytes} bytes, loaded in ${loadMs.toFixed(1)} ms`);

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

async function passEncode() {
  let n = 0;
  for (const l of lines) n += (await tok.encode(l, null, opts)).getLength();
  return n;
}
async function passBatch() {
  const encs = await tok.encodeBatch(lines, opts);
  let n = 0;
  for (const e of encs) n += e.getLength();
  return n;
}

(async () => {
  if (countsPath) {
    const out = [];
    for (const l of lines) out.push((await tok.encode(l, null, opts)).getLength());
    fs.writeFileSync(countsPath, out.join('\n') + '\n');
  }
  for (const mode of modes) {
    const fn = mode === 'encodeBatch' ? passBatch : passEncode;
    const wall = [], cpu = [];
    let tokens = 0;
    for (let r = -warmup; r < repeats; r++) {
      const c0 = process.cpuUsage();
      const s = process.hrtime.bigint();
      tokens = await fn();
      const e = Number(process.hrtime.bigint() - s) / 1e9;
      const c = process.cpuUsage(c0); // all threads: JS main thread + the libuv worker running Rust
      if (r >= 0) { wall.push(e); cpu.push((c.user + c.system) / 1e6); }
    }
    const med = median(wall), cmed = median(cpu);
    const mn = Math.min(...wall), mx = Math.max(...wall);
    console.log(`RESULT impl=hf tok=${name} mode=${mode} lines=${lines.length} bytes=${bytes} ` +
                `tokens=${tokens} repeats=${repeats} median_s=${med.toFixed(6)} min_s=${mn.toFixed(6)} ` +
                `max_s=${mx.toFixed(6)} spread_pct=${(100 * (mx - mn) / med).toFixed(1)} ` +
                `mbps=${(bytes / med / 1e6).toFixed(3)} ktokps=${(tokens / med / 1e3).toFixed(1)} ` +
                `cpu_median_s=${cmed.toFixed(6)} cpu_mbps=${(bytes / cmed / 1e6).toFixed(3)}`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
