"""The Python client against a real socled (label integ).

Two daemons on temporary ipc:// endpoints: one serving models/socle-mini with its adapters
(every task), one serving only the bert-base-uncased tokenizer of tests/data/integ, whose
reference encodings are HuggingFace tokenizers' output (tests/data/integ/README.md). Every task
is checked against the C CLI (`socle`, same daemon, same inputs: identical JSON, floats as the
CLI prints them, %.7g) and for being well formed; errors must raise SocleError with the
daemon's code. Paths: $SOCLED / $SOCLE_CLI, else $SOCLE_BINARY_DIR/{daemon/socled,clients/socle}.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import socle
from socle import pb

SRC = os.environ.get("SOCLE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("SOCLE_BINARY_DIR", os.path.join(SRC, "build"))
SOCLED = os.environ.get("SOCLED") or os.path.join(BIN, "daemon", "socled")
CLI = os.environ.get("SOCLE_CLI") or os.path.join(BIN, "clients", "socle")
MODEL = os.path.join(SRC, "models", "socle-mini")
DATA = os.path.join(SRC, "tests", "data", "integ")

# English and French, accents, an emoji (4-byte UTF-8: byte and code point offsets differ)
TEXTS = [
    "Angela Merkel visited Paris with Emmanuel Macron.",
    "Le film était une très belle surprise, je le recommande 😀.",
    "Stocks fell sharply on Wall Street after the Federal Reserve raised rates.",
    "Ronaldo scored twice as Real Madrid beat Barcelona in the final.",
]
QA = [
    ("Who visited Paris?", "Angela Merkel visited Paris in May with Emmanuel Macron."),
    ("Où est né Victor Hugo ?", "Victor Hugo est né à Besançon en 1802. Il meurt à Paris."),
]
DOC = ("The council met on Monday. It approved the new budget for schools. "
       "Teachers welcomed the decision. The mayor said more money would follow next year. "
       "Critics called the plan too small.")


class Daemon:
    def __init__(self, args, dir=None):
        """socled on DIR/socle.sock (dir None = a new temporary directory), its log in DIR."""
        self.dir = dir or tempfile.mkdtemp(prefix="socle-py-")
        self.args = args
        self.endpoint = "ipc://%s/socle.sock" % self.dir
        self.log_path = os.path.join(self.dir, "socled.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SOCLED, "--endpoint", self.endpoint, "--workers", "2"] +
                                     args, stdout=subprocess.DEVNULL, stderr=self.log)
        t0 = time.monotonic()
        while True:  # ready when it answers info; a daemon dead at start fails at once
            if self.proc.poll() is not None:
                raise RuntimeError("socled exited %d at start:\n%s" % (
                    self.proc.returncode, self.log_text()))
            try:
                with socle.Client(self.endpoint, timeout=0.3, retries=0) as c:
                    self.info = c.info()
                return
            except socle.SocleTimeoutError:
                if time.monotonic() - t0 > 20:
                    self.proc.kill()
                    raise RuntimeError("socled did not answer info in 20 s")

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def kill(self):
        """SIGKILL (a crash): the socket file stays behind."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        """SIGTERM; returns its exit status (0 expected: a drained, clean exit)."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        if rc != 0:
            print("--- socled log ---\n" + self.log_text())
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def cli(endpoint, args, lines):
    """Run the C CLI; returns its JSON lines."""
    p = subprocess.run([CLI, "--endpoint", endpoint, "--timeout", "20000"] + args,
                       input="".join(l + "\n" for l in lines).encode(), capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("socle %s exited %d: %s" % (" ".join(args), p.returncode,
                                                         p.stderr.decode()[-2000:]))
    return [json.loads(l) for l in p.stdout.decode().splitlines()]


def as_printed(v):
    """A Python result as the CLI prints it: floats at the 7 significant digits of the CLI's
    "%.7g" (clients/pbjson.c; the same float32 value, rounded by the same rule)."""
    if isinstance(v, float):
        return float("%.7g" % v)
    if isinstance(v, dict):
        return {k: as_printed(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):  # offsets are tuples; JSON has only arrays
        return [as_printed(x) for x in v]
    return v


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f]


def read_lines(path):
    with open(path, "rb") as f:
        return [l.decode("utf-8") for l in f.read().split(b"\n") if l]


def setUpModule():
    global MINI, BERT
    MINI = BERT = None
    if not os.access(SOCLED, os.X_OK) or not os.access(CLI, os.X_OK):
        raise unittest.SkipTest("socled or socle not built (%s, %s)" % (SOCLED, CLI))
    BERT = Daemon(["--tokenizer", os.path.join(DATA, "bert-base-uncased.tokenizer.json")])
    MINI = Daemon(["--model", MODEL, "--adapters", os.path.join(MODEL, "adapters")])


def tearDownModule():
    rcs = [d.stop() for d in (MINI, BERT) if d]
    if any(rcs):
        raise AssertionError("socled exit status %s after SIGTERM (0 expected)" % rcs)


def need(task):
    if task not in MINI.info["tasks"]:
        raise unittest.SkipTest("this socled does not serve %s (tasks module not built)" % task)


class TestTokenizeReference(unittest.TestCase):
    """Tokenization through the Python client = HuggingFace tokenizers' reference output."""

    def setUp(self):
        self.c = socle.Client(BERT.endpoint, timeout=20)

    def tearDown(self):
        self.c.close()

    def check(self, got, want):
        self.assertEqual(len(got), len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            for k in ("ids", "tokens", "offsets"):
                self.assertEqual(as_printed(g[k]), w[k], "line %d, %s" % (i + 1, k))

    def test_corpus40(self):
        lines = read_lines(os.path.join(DATA, "corpus40.txt"))
        self.assertEqual(len(lines), 40)
        self.check(self.c.tokenize(lines),
                   read_jsonl(os.path.join(DATA, "corpus40.bert-base-uncased.jsonl")))
        self.check(self.c.tokenize(lines, add_special_tokens=False),
                   read_jsonl(os.path.join(DATA, "corpus40.bert-base-uncased.nospecial.jsonl")))

    def test_pairs10(self):
        pairs = [l.split("\t", 1) for l in read_lines(os.path.join(DATA, "pairs10.txt"))]
        got = self.c.tokenize([p[0] for p in pairs], pairs=[p[1] for p in pairs])
        self.check(got, read_jsonl(os.path.join(DATA, "pairs10.bert-base-uncased.jsonl")))
        for e in got:  # sequence ids: specials -1, then 0s, then 1s
            self.assertEqual(len(e["sequence_ids"]), len(e["ids"]))
            self.assertEqual({s for s in e["sequence_ids"]}, {-1, 0, 1})

    def test_info_and_unserved_task(self):
        info = self.c.info()
        self.assertEqual(info["protocol"], "socle/1")
        self.assertEqual(info["tokenizer"]["vocab_size"], 30522)
        self.assertNotIn("model", info)  # tokenizer only
        self.assertIn("tokenize", info["tasks"])
        self.assertNotIn("classify", info["tasks"])
        with self.assertRaises(socle.SocleError) as cm:
            self.c.classify("no model here")
        self.assertEqual(cm.exception.code, socle.Code.UNIMPLEMENTED)


class TestTasksLikeCli(unittest.TestCase):
    """Every task: the Python client's result = the C CLI's JSON for the same inputs."""

    def setUp(self):
        self.c = socle.Client(MINI.endpoint, timeout=20)

    def tearDown(self):
        self.c.close()

    def same(self, py, cli_out):
        self.assertEqual(as_printed(py), cli_out)

    def test_info(self):
        info = self.c.info()
        self.assertEqual(info["protocol"], "socle/1")
        self.assertEqual(info["endpoints"], [MINI.endpoint])
        self.assertEqual((info["model"]["d_model"], info["model"]["n_layers"]), (384, 6))
        self.assertEqual(info["tokenizer"]["vocab_size"], 16000)
        names = {a["name"]: a for a in info["adapters"]}
        self.assertEqual(names["topic"]["labels"], ["World", "Sports", "Business", "Sci/Tech"])
        self.assertEqual(names["ner"]["task"], "ner")
        self.same([info], cli(MINI.endpoint, ["info"], []))
        st = self.c.stats()
        self.assertGreaterEqual(st["requests_total"], 1)
        self.assertEqual(len(st["total_us"]["counts"]), len(st["total_us"]["bounds"]) + 1)

    def test_tokenize_detokenize(self):
        got = self.c.tokenize(TEXTS)
        want = cli(MINI.endpoint, ["tokenize"], TEXTS)
        self.same([{k: e[k] for k in ("ids", "tokens", "offsets")} for e in got], want)
        e = got[1]  # code point offsets index the Python str; byte offsets its UTF-8
        b = TEXTS[1].encode()
        for (s, t), (cs, ct), tok in zip(e["offsets"], e["cp_offsets"], e["tokens"]):
            self.assertEqual(b[s:t].decode(), TEXTS[1][cs:ct])
        self.assertEqual(self.c.tokenize(TEXTS, count_only=True), [len(x["ids"]) for x in got])
        ids = [x["ids"] for x in got]
        self.assertEqual(self.c.detokenize(ids),
                         [o["text"] for o in cli(MINI.endpoint, ["detokenize"],
                                                 [" ".join(map(str, s)) for s in ids])])
        # socle-mini isolates punctuation, so decoding is not the input text: compare with the
        # CLI (a model-independent check of the option)
        self.assertEqual(self.c.detokenize(ids[0], skip_special_tokens=True),
                         cli(MINI.endpoint, ["detokenize", "--skip-special"],
                             [" ".join(map(str, ids[0]))])[0]["text"])

    def test_tokenize_options(self):
        # truncation with overflow windows: the CLI prints ids/tokens/offsets, "truncated"
        # when cut, and the windows as whole Encodings (flat offsets)
        got = self.c.tokenize(TEXTS, truncation="longest_first", max_length=8, stride=2,
                              return_overflowing=True)
        want = cli(MINI.endpoint, ["tokenize", "--max-length", "8", "--truncation",
                                   "longest_first", "--overflow", "--stride", "2"], TEXTS)
        for e, w in zip(got, want):
            self.assertEqual(len(e["ids"]), 8)
            self.assertTrue(e["truncated"])
            self.assertEqual(w.get("truncated"), True)
            self.same({k: e[k] for k in ("ids", "tokens", "offsets")},
                      {k: w[k] for k in ("ids", "tokens", "offsets")})
            self.assertGreater(len(e["overflowing"]), 0)
            self.assertEqual([o["ids"] for o in e["overflowing"]],
                             [o["ids"] for o in w["overflowing"]])
            self.assertEqual([sum(o["offsets"], ()) for o in e["overflowing"]],
                             [tuple(o["offsets"]) for o in w["overflowing"]])
        got = self.c.tokenize(TEXTS[:2], pairs=TEXTS[2:], add_special_tokens=False)
        want = cli(MINI.endpoint, ["tokenize", "--pair", "--no-special"],
                   ["%s\t%s" % p for p in zip(TEXTS[:2], TEXTS[2:])])
        self.same([{k: e[k] for k in ("ids", "tokens", "offsets")} for e in got], want)

    def test_classify(self):
        need("classify")
        for adapter, extra in ((None, []), ("topic", ["--top-k", "2"]), ("topic-bbc", [])):
            args = ["classify"] + (["--adapter", adapter] if adapter else []) + extra
            top_k = 2 if extra else 0
            got = self.c.classify(TEXTS, adapter=adapter, top_k=top_k)
            self.same(got, cli(MINI.endpoint, args, TEXTS))
            labels = {a["name"]: a["labels"] for a in MINI.info["adapters"]}
            for o in got:
                scores = [x["score"] for x in o["labels"]]
                self.assertEqual(scores, sorted(scores, reverse=True))
                self.assertGreater(o["n_tokens"], 2)
                if adapter:
                    self.assertTrue({x["label"] for x in o["labels"]} <= set(labels[adapter]))
                if not top_k:  # softmax over every label
                    self.assertAlmostEqual(sum(scores), 1.0, places=5)
        self.assertEqual(self.c.classify(TEXTS[2], adapter="topic", top_k=1)["labels"][0]["label"],
                         "Business")
        got = self.c.classify(TEXTS, adapter="sentiment", multi_label=True)
        self.same(got, cli(MINI.endpoint, ["classify", "--adapter", "sentiment",
                                           "--multi-label"], TEXTS))
        for o in got:  # sigmoid per label: independent scores in (0, 1)
            self.assertTrue(all(0 < x["score"] < 1 for x in o["labels"]))

    def test_ner(self):
        need("ner")
        for agg in ("simple", "none", "first"):
            got = self.c.ner(TEXTS, aggregation=agg)
            self.same(got, cli(MINI.endpoint, ["ner", "--aggregation", agg], TEXTS))
            for text, o in zip(TEXTS, got):
                b = text.encode()
                for e in o["entities"]:
                    sp = e["span"]
                    self.assertTrue(0 <= sp["start"] < sp["end"] <= len(b))
                    self.assertEqual(b[sp["start"]:sp["end"]].decode(),
                                     text[sp["cp_start"]:sp["cp_end"]])
                    self.assertTrue(0 < e["score"] <= 1)
                    self.assertNotEqual(e["type"], "O")
                    self.assertEqual(e["index"] >= 0, agg == "none")
        got = self.c.ner(TEXTS, aggregation="none", ignore_labels=["O", "B-PER"])
        self.same(got, cli(MINI.endpoint, ["ner", "--aggregation", "none", "--ignore-label", "O",
                                           "--ignore-label", "B-PER"], TEXTS))
        self.assertFalse({e["type"] for o in got for e in o["entities"]} & {"O", "B-PER"})
        ents = self.c.ner(TEXTS[0], aggregation="simple")["entities"]
        self.assertIn(("PER", "Angela Merkel"), [(e["type"], e["word"].strip()) for e in ents])

    def test_qa(self):
        need("qa")
        got = self.c.qa([q for q, _ in QA], [c for _, c in QA], top_k=2)
        self.same(got, cli(MINI.endpoint, ["qa", "--top-k", "2"], ["%s\t%s" % p for p in QA]))
        for (q, ctx), o in zip(QA, got):
            self.assertTrue(1 <= len(o["answers"]) <= 2)
            for a in o["answers"]:
                self.assertEqual(a["text"], ctx[a["span"]["cp_start"]:a["span"]["cp_end"]])
        # one question alone gives the batch's first answer (what the answer is, is the
        # model's business: tests/tasks/test_task_mini checks the model's numbers)
        self.assertEqual(self.c.qa(*QA[0])["answers"][0], got[0]["answers"][0])
        got = self.c.qa([q for q, _ in QA], [c for _, c in QA], handle_impossible_answer=True,
                        max_answer_len=3)
        self.same(got, cli(MINI.endpoint, ["qa", "--handle-impossible", "--max-answer-len", "3"],
                           ["%s\t%s" % p for p in QA]))

    def test_summarize(self):
        need("summarize")
        got = self.c.summarize([DOC, TEXTS[0]], max_sentences=2)
        self.same(got, cli(MINI.endpoint, ["summarize", "--max-sentences", "2"], [DOC, TEXTS[0]]))
        o = got[0]
        self.assertEqual(len(o["sentences"]), 2)
        starts = [s["span"]["cp_start"] for s in o["sentences"]]
        self.assertEqual(starts, sorted(starts))  # original order
        self.assertEqual(o["summary"], " ".join(
            DOC[s["span"]["cp_start"]:s["span"]["cp_end"]] for s in o["sentences"]))

    def test_embed(self):
        need("embed")
        got = self.c.embed(TEXTS, normalize=True)
        self.same(got, cli(MINI.endpoint, ["embed", "--normalize"], TEXTS))
        for o in got:
            self.assertEqual(len(o["vector"]), 384)
            self.assertAlmostEqual(math.sqrt(sum(x * x for x in o["vector"])), 1.0, places=4)
        mean = self.c.embed(TEXTS[:1], pooling="mean")
        self.same(mean, cli(MINI.endpoint, ["embed", "--pooling", "mean"], TEXTS[:1]))


class TestErrors(unittest.TestCase):
    def setUp(self):
        self.c = socle.Client(MINI.endpoint, timeout=20)

    def tearDown(self):
        self.c.close()

    def code_of(self, f, *a, **kw):
        with self.assertRaises(socle.SocleError) as cm:
            f(*a, **kw)
        return cm.exception

    def test_unknown_adapter(self):
        need("classify")
        e = self.code_of(self.c.classify, "x", adapter="no-such-adapter")
        self.assertEqual(e.code, socle.Code.NOT_FOUND)
        self.assertIn("no-such-adapter", e.message)
        e = self.code_of(self.c.tokenize, "x", adapter="ner")  # tokenize takes none
        self.assertEqual(e.code, socle.Code.NOT_FOUND)

    def test_invalid_utf8(self):
        # bytes go out as they are; the daemon names the text and the byte
        e = self.code_of(self.c.tokenize, ["fine", b"ab\xc0z"])
        self.assertEqual(e.code, socle.Code.INVALID_ARGUMENT)
        self.assertIn("text 1", e.message)
        self.assertIn("byte 2", e.message)
        # a str holding a lone surrogate can only be sent as invalid UTF-8 (ED B2 80)
        e = self.code_of(self.c.tokenize, "x\udc80")
        self.assertIn("byte 1", e.message)
        if "classify" in MINI.info["tasks"]:
            e = self.code_of(self.c.classify, [b"\xff"])
            self.assertEqual((e.code, e.message), (socle.Code.INVALID_ARGUMENT,
                                                   "text 0: invalid UTF-8 at byte 0"))

    def test_bad_values(self):
        e = self.code_of(self.c.detokenize, [1, 10 ** 6])  # id out of vocabulary
        self.assertEqual(e.code, socle.Code.INVALID_ARGUMENT)
        texts = ["t"] * (MINI.info["limits"]["max_texts"] + 1)
        self.assertEqual(self.code_of(self.c.tokenize, texts).code, socle.Code.INVALID_ARGUMENT)

    def test_raw_requests(self):
        # low level: a Request with no task, through request() (no raise: the Response)
        r = self.c.request(pb.Request())
        self.assertEqual(r.status.code, pb.INVALID_ARGUMENT)
        self.assertTrue(r.status.message.startswith("request names no task"))
        # the client still works after errors
        self.assertEqual(self.c.tokenize("ok", count_only=True), len(self.c.tokenize("ok")["ids"]))


class TestMap(unittest.TestCase):
    def test_200_in_order(self):
        c = socle.Client(MINI.endpoint, timeout=20)
        texts = ["document %d: %s" % (i, TEXTS[i % len(TEXTS)]) for i in range(200)]
        want = c.tokenize(texts[:100]) + c.tokenize(texts[100:])  # one batch each, in order
        got = list(c.map("tokenize", iter(texts), window=32))
        self.assertEqual(len(got), 200)
        self.assertEqual([e["ids"] for e in got], [e["ids"] for e in want])
        self.assertLessEqual(c.max_in_flight, 32)
        self.assertGreater(c.max_in_flight, 1)
        self.assertEqual(list(c.map("tokenize", texts[:50], window=4, count_only=True)),
                         [len(e["ids"]) for e in want[:50]])
        if "classify" in MINI.info["tasks"]:
            got = list(c.map("classify", texts[:12], window=4, adapter="topic", top_k=1))
            self.assertEqual([o["labels"][0]["label"] for o in got],
                             [o["labels"][0]["label"] for o in
                              c.classify(texts[:12], adapter="topic", top_k=1)])
        if "qa" in MINI.info["tasks"]:
            got = list(c.map("qa", QA * 2, window=4))
            self.assertEqual([o["answers"][0]["text"] for o in got[:2]],
                             [o["answers"][0]["text"] for o in c.qa(*zip(*QA))])
        # an error mid-stream: errors="return" puts it in its place
        got = list(c.map("tokenize", ["a", b"\xff", "c"], errors="return"))
        self.assertIsInstance(got[1], socle.SocleError)
        self.assertEqual((got[1].code, got[1].index), (socle.Code.INVALID_ARGUMENT, 1))
        self.assertEqual(got[2]["tokens"][1:-1], c.tokenize("c")["tokens"][1:-1])
        # a generator left early forgets its requests
        g = c.map("tokenize", texts, window=16)
        next(g)
        g.close()
        self.assertEqual(c.in_flight, 0)
        c.close()


class TestDaemonRestart(unittest.TestCase):
    def test_map_survives_crash_and_restart(self):
        # Lazy Pirate against a real daemon: frozen (SIGSTOP) with requests in flight, so the
        # client times out and reconnects, then killed (SIGKILL, its socket file left behind)
        # and restarted on the same ipc path; the client resends whatever is unanswered on a
        # new connection and map() ends with every result exactly once, in order.
        args = ["--tokenizer", os.path.join(DATA, "bert-base-uncased.tokenizer.json")]
        box = {"d": Daemon(args)}
        texts = read_lines(os.path.join(DATA, "corpus40.txt")) * 5
        want = read_jsonl(os.path.join(DATA, "corpus40.bert-base-uncased.jsonl")) * 5
        c = socle.Client(box["d"].endpoint, timeout=0.4, retries=10, backoff=0.05,
                         backoff_max=0.3)

        def crash_and_restart():
            time.sleep(1.0)
            old = box["d"]
            old.kill()
            box["d"] = Daemon(args, dir=old.dir)

        t = threading.Thread(target=crash_and_restart)
        got = []
        try:
            for e in c.map("tokenize", texts, window=16):
                got.append(e["ids"])
                if len(got) == 60:
                    os.kill(box["d"].proc.pid, signal.SIGSTOP)
                    t.start()
            t.join()
            self.assertEqual(got, [w["ids"] for w in want])
            self.assertGreaterEqual(c.reconnects, 2)  # 1 s frozen, 0.4 s per attempt
            self.assertEqual(c.in_flight, 0)
        finally:
            if t.is_alive():
                t.join()
            c.close()
            self.assertEqual(box["d"].stop(), 0)

if __name__ == "__main__":
    unittest.main()
