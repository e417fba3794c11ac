"""socle-mini tokenizer: a SentencePiece Unigram model exported as a HuggingFace tokenizer.json.

The exported pipeline is kept to pieces socle's C tokenizer implements:
    normalizer   Sequence[NFKC, Replace "\\t"->" ", Replace "\\n"->" ", Replace "\\r"->" "]
    pre_tokenizer Sequence[WhitespaceSplit,
                           Split(Regex PUNCT_REGEX, behavior Isolated),
                           Metaspace(replacement "\u2581", prepend_scheme "always", split true)]
    model        Unigram(vocab [[piece, score]...], unk_id 1, byte_fallback false)
    post         TemplateProcessing "<s> $A </s>" / "<s> $A </s> </s> $B </s>" (type ids 0 / 1)
    decoder      Metaspace
SentencePiece runs with the "identity" normalization rule and no whitespace removal; encode()
below applies the same normalization and pre-tokenization in Python first (words split on white
space, punctuation isolated, chunks joined by one space), so spm's ids equal the tokenizer.json's
ids (checked with the reference Rust implementation by check_tokenizer.js).

Why punctuation is isolated (v2): with Metaspace alone "Merkel." and "Merkel ." were different
pieces, and NER spans kept the full stop. Every punctuation character except the apostrophes and
the hyphen (kept inside words: "l'Europe", "aujourd'hui", "Jean-Pierre") is its own pre-token,
so text written with or without a space before punctuation gives the same pieces.
"""
import json
import unicodedata

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
PAD, UNK, BOS, EOS, MASK = 0, 1, 2, 3, 4

# Onig (HF tokenizers) and PCRE2 (socle) both read this: one punctuation character (Unicode
# category P) other than ' ’ and -.
PUNCT_REGEX = "(?!['\u2019-])\\p{P}"
KEEP_IN_WORD = "'\u2019-"
# Rust char::is_whitespace (Unicode White_Space), what HF WhitespaceSplit splits on.
WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                  + "".join(chr(c) for c in range(0x2000, 0x200b)))


def _isolated(c):
    return unicodedata.category(c).startswith("P") and c not in KEEP_IN_WORD


def chunks(text):
    """(start, chunk) pre-tokens of normalized text, as the tokenizer.json's pre-tokenizer
    cuts it: white space removed, each isolated punctuation character alone."""
    out, start = [], None
    for i, c in enumerate(text + " "):
        if c in WHITE_SPACE or _isolated(c):
            if start is not None:
                out.append((start, text[start:i]))
                start = None
            if i < len(text) and c not in WHITE_SPACE:
                out.append((i, c))
        elif start is None:
            start = i
    return out


def pretokenized(text):
    """Normalized text rewritten so that spm (dummy prefix, split on spaces) sees the same
    pre-tokens as the tokenizer.json pipeline."""
    return " ".join(c for _, c in chunks(normalize(text)))


def normalize(text):
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def train(input_path, prefix, vocab_size, n_sentences):
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(
        input=input_path, model_prefix=prefix, model_type="unigram", vocab_size=vocab_size,
        character_coverage=0.9995, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_by_whitespace=True,
        byte_fallback=False, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS,
        user_defined_symbols=["<mask>"], input_sentence_size=n_sentences,
        shuffle_input_sentence=True, max_sentence_length=8192, num_threads=1, seed_sentencepiece_size=400000,
        train_extremely_large_corpus=False)


class Tokenizer:
    def __init__(self, model_path):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=model_path)

    def __len__(self):
        return self.sp.get_piece_size()

    def encode(self, text):
        """Ids without special tokens, as tokenizer.json gives them for `text`."""
        t = pretokenized(text)
        if not t:
            return []
        return self.sp.encode(t)

    def encode_batch(self, texts):
        ts = [pretokenized(text) for text in texts]
        out = self.sp.encode(ts)
        return [o if t else [] for o, t in zip(out, ts)]

    def pieces(self, ids):
        return [self.sp.id_to_piece(i) for i in ids]

    def word_pieces(self, word):
        """Ids of one whitespace-free word plus each piece's [start,end) in the word, in code
        points. Offsets are exact when NFKC leaves the word unchanged, else every piece spans
        the whole word."""
        if normalize(word) != word:
            ids = self.encode(word)
            return ids, [(0, len(word))] * len(ids)
        ids, offs = [], []
        for st, c in chunks(word):
            ci, co = self._chunk_pieces(c)
            ids += ci
            offs += [(st + a, st + b) for a, b in co]
        return ids, offs

    def _chunk_pieces(self, word):
        ids = self.sp.encode(word) if word else []
        offs, pos = [], 0
        for i in ids:
            p = self.sp.id_to_piece(i)
            ln = len(p) - (1 if p.startswith("\u2581") else 0)
            if i == UNK:
                ln = None
            offs.append((pos, ln))
            pos += ln if ln is not None else 0
        # unknown runs: give them the rest of the gap up to the next known piece
        res, total = [], len(word)
        known_after = [None] * len(offs)
        nxt = total
        for k in range(len(offs) - 1, -1, -1):
            known_after[k] = nxt
            if offs[k][1] is not None:
                nxt = offs[k][0]
        pos = 0
        for k, (st, ln) in enumerate(offs):
            if ln is None:
                res.append((pos, known_after[k]))
                pos = known_after[k]
            else:
                res.append((pos, pos + ln))
                pos += ln
        return ids, res


def export_tokenizer_json(model_path, out_path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model_path)
    vocab = []
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        score = 0.0 if i < len(SPECIALS) else float(sp.get_score(i))
        vocab.append([piece, score])
    for i, s in enumerate(SPECIALS):
        assert vocab[i][0] == s, (i, vocab[i][0], s)
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKC"},
            {"type": "Replace", "pattern": {"String": "\t"}, "content": " "},
            {"type": "Replace", "pattern": {"String": "\n"}, "content": " "},
            {"type": "Replace", "pattern": {"String": "\r"}, "content": " "},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"Regex": PUNCT_REGEX}, "behavior": "Isolated",
             "invert": False},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
             "split": True},
        ]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "</s>", "type_id": 1}}],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [EOS], "tokens": ["</s>"]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": UNK, "vocab": vocab, "byte_fallback": False},
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
