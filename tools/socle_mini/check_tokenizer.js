// Compare socle-mini's tokenizer.json, run by the reference HF tokenizers Rust core
// (npm @anush008/tokenizers), with the Python/SentencePiece encoding used in training.
//   node tools/socle_mini/check_tokenizer.js TOKENIZER_JSON SAMPLES_JSONL
// SAMPLES_JSONL lines: {"text": ..., "ids": [...]} (ids without special tokens).
// Needs NODE_PATH pointing at a node_modules holding @anush008/tokenizers.
const fs = require("fs");
const { Tokenizer } = require("@anush008/tokenizers");
async function main() {
  const tk = Tokenizer.fromFile(process.argv[2]);
  const lines = fs.readFileSync(process.argv[3], "utf8").split("\n").filter((l) => l.length);
  let bad = 0;
  for (const l of lines) {
    const s = JSON.parse(l);
    const enc = await tk.encode(s.text, null, { addSpecialTokens: false });
    const got = Array.from(enc.getIds());
    if (JSON.stringify(got) !== JSON.stringify(s.ids)) {
      bad++;
      if (bad <= 5) console.log("MISMATCH", JSON.stringify(s.text).slice(0, 200), "\n  hf ", JSON.stringify(got).slice(0, 300), "\n  spm", JSON.stringify(s.ids).slice(0, 300));
    }
  }
  const p = await tk.encode("Bonjour le monde", "Hello world", { addSpecialTokens: true });
  console.log("pair ids", JSON.stringify(Array.from(p.getIds())), "types", JSON.stringify(Array.from(p.getTypeIds())));
  console.log(`${lines.length - bad}/${lines.length} lines identical`);
  process.exit(bad ? 1 : 0);
}
main();
