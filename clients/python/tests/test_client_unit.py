"""Client logic against a fake daemon (a ROUTER in a thread, no socled): ids matched to answers
in any order, Lazy Pirate retries (how many copies arrive, on how many connections), duplicate
answers dropped, the timeout error, map() order and window, request building and errors."""

import os
import random
import shutil
import tempfile
import threading
import time
import unittest

import zmq

import socle
from socle import pb


class FakeDaemon:
    """A ROUTER on a temporary ipc:// endpoint. handler(router_id, Request) -> list of
    (router_id, frames) to send now, and may stash state on self. Records every request."""

    def __init__(self, handler):
        self.dir = tempfile.mkdtemp(prefix="socle-pyfake-")
        self.endpoint = "ipc://%s/fake.sock" % self.dir
        self.handler = handler
        self.received = []  # (router_id, Request)
        self.lock = threading.Lock()
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(self.endpoint)
        self.later = []  # (when, router_id, frames): answers the handler delayed
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            for item in [x for x in self.later if x[0] <= now]:
                self.later.remove(item)
                self.sock.send_multipart([item[1]] + item[2])
            if not self.sock.poll(10):
                continue
            frames = self.sock.recv_multipart()
            rid, rest = frames[0], frames[1:]
            assert rest[0] == b"" and rest[1] == socle.TAG and len(rest) == 3, rest
            req = pb.Request.FromString(rest[2])
            with self.lock:
                self.received.append((rid, req))
            for to, out in self.handler(self, rid, req):
                self.sock.send_multipart([to] + out)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        self.ctx.term()
        shutil.rmtree(self.dir, ignore_errors=True)


def answer(resp):
    return [b"", socle.TAG, resp.SerializeToString()]


def info_answer(req, version=None):
    return answer(pb.Response(id=req.id, info=pb.InfoResult(
        version=version or "v%d" % req.id, protocol="socle/1")))


class TestRetry(unittest.TestCase):
    def test_silent_daemon_times_out_after_retries(self):
        # Lazy Pirate: 1 + retries copies of the request, each on a new connection
        fake = FakeDaemon(lambda f, rid, req: [])
        try:
            c = socle.Client(fake.endpoint, timeout=0.15, retries=2, backoff=0.01,
                             backoff_max=0.02)
            t0 = time.monotonic()
            with self.assertRaises(socle.SocleTimeoutError) as cm:
                c.info()
            dt = time.monotonic() - t0
            self.assertEqual(cm.exception.code, socle.Code.UNAVAILABLE)
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertIn("3 attempt", str(cm.exception))
            self.assertGreaterEqual(dt, 3 * 0.15)
            self.assertLess(dt, 3.0)
            time.sleep(0.05)
            with fake.lock:
                got = list(fake.received)
            self.assertEqual(len(got), 3)
            self.assertEqual({r.id for _, r in got}, {1})
            self.assertEqual(len({who for who, _ in got}), 3)  # a new connection per retry
            self.assertEqual(c.reconnects, 2)
            self.assertEqual(c.in_flight, 0)  # given up, not left dangling
            c.close()
        finally:
            fake.close()

    def test_silent_daemon_same_connection_when_reopen_false(self):
        fake = FakeDaemon(lambda f, rid, req: [])
        try:
            c = socle.Client(fake.endpoint, timeout=0.1, retries=3, backoff=0.01,
                             reopen=False)
            with self.assertRaises(socle.SocleTimeoutError):
                c.info()
            time.sleep(0.05)
            with fake.lock:
                got = list(fake.received)
            self.assertEqual(len(got), 4)
            self.assertEqual(len({who for who, _ in got}), 1)
            self.assertEqual(c.reconnects, 0)
            c.close()
        finally:
            fake.close()

    def test_timeout_fails_every_request_in_flight(self):
        fake = FakeDaemon(lambda f, rid, req: [])
        try:
            c = socle.Client(fake.endpoint, timeout=0.1, retries=0)
            a = c.submit(pb.Request(info=pb.InfoRequest()))
            b = c.submit(pb.Request(info=pb.InfoRequest()))
            with self.assertRaises(socle.SocleTimeoutError):
                c.result(a)
            with self.assertRaises(socle.SocleTimeoutError):
                c.result(b)  # given up together, reported to whoever asks
            with self.assertRaises(KeyError):
                c.result(b)
            c.close()
        finally:
            fake.close()

    def test_lost_first_copy_then_duplicate_answers(self):
        # the daemon drops the first copy of every id and answers the second one twice:
        # the call succeeds after one retry, and the duplicate never reaches a later call
        seen = {}

        def handler(f, rid, req):
            seen[req.id] = seen.get(req.id, 0) + 1
            if seen[req.id] == 1:
                return []
            return [(rid, info_answer(req)), (rid, info_answer(req, "duplicate"))]

        fake = FakeDaemon(handler)
        try:
            c = socle.Client(fake.endpoint, timeout=0.15, retries=2, backoff=0.01)
            self.assertEqual(c.info()["version"], "v1")
            self.assertEqual(c.info()["version"], "v2")
            self.assertEqual(c.reconnects, 2)
            self.assertEqual(c.in_flight, 0)
            c.close()
        finally:
            fake.close()

    def test_answer_during_backoff_is_kept(self):
        # the answer arrives after the timeout but during the backoff: the client reads it
        # instead of dropping the connection it came on and resending
        def handler(f, rid, req):
            f.later.append((time.monotonic() + 0.2, rid, info_answer(req, "late")))
            return []

        fake = FakeDaemon(handler)
        try:
            c = socle.Client(fake.endpoint, timeout=0.1, retries=2, backoff=0.4)
            self.assertEqual(c.info()["version"], "late")
            self.assertEqual(c.reconnects, 0)
            self.assertEqual(len(fake.received), 1)
            c.close()
        finally:
            fake.close()

    def test_already_exists_is_a_sign_of_life(self):
        # reopen=False: the resent copy is answered ALREADY_EXISTS by a daemon still working
        # on the original; the client swallows it and gets the original's answer
        state = {"n": 0}

        def handler(f, rid, req):
            state["n"] += 1
            if state["n"] == 1:
                return []
            err = pb.Response(id=req.id, status=pb.Status(code=pb.ALREADY_EXISTS,
                                                          message="in flight"))
            return [(rid, answer(err)), (rid, info_answer(req, "original"))]

        fake = FakeDaemon(handler)
        try:
            c = socle.Client(fake.endpoint, timeout=0.15, retries=1, backoff=0.01,
                             reopen=False)
            self.assertEqual(c.info()["version"], "original")
            c.close()
        finally:
            fake.close()


class TestMatching(unittest.TestCase):
    def test_answers_in_any_order(self):
        # the fake holds 5 requests, then answers them in reverse order
        held = []

        def handler(f, rid, req):
            held.append((rid, req))
            if len(held) < 5:
                return []
            out = [(w, info_answer(r)) for w, r in reversed(held)]
            held.clear()
            return out

        fake = FakeDaemon(handler)
        try:
            c = socle.Client(fake.endpoint, timeout=2, retries=0)
            ids = [c.submit(pb.Request(info=pb.InfoRequest())) for _ in range(5)]
            self.assertEqual(ids, [1, 2, 3, 4, 5])
            self.assertEqual(c.max_in_flight, 5)
            for i in ids:  # asked in order, arrived in reverse
                r = c.result(i)
                self.assertEqual((r.id, r.info.version), (i, "v%d" % i))
            self.assertEqual(c.in_flight, 0)
            c.close()
        finally:
            fake.close()

    def test_map_order_and_window(self):
        # tokenize answered with ids = [the number in the text], in shuffled bursts of 7:
        # map() must yield in input order and never exceed its window
        rng = random.Random(7)
        held = []

        def handler(f, rid, req):
            held.append((rid, req))
            if len(held) < 7 and req.tokenize.texts[0] != b"199":
                return []
            rng.shuffle(held)
            out = []
            for w, r in held:
                n = int(r.tokenize.texts[0])
                out.append((w, answer(pb.Response(id=r.id, tokenize=pb.TokenizeResult(
                    encodings=[pb.Encoding(length=1, ids=[n], tokens=["t"],
                                           offsets=[0, len(r.tokenize.texts[0])])])))))
            held.clear()
            return out

        fake = FakeDaemon(handler)
        try:
            c = socle.Client(fake.endpoint, timeout=2, retries=0)
            got = list(c.map("tokenize", (str(i) for i in range(200)), window=16))
            self.assertEqual([e["ids"] for e in got], [[i] for i in range(200)])
            self.assertEqual(got[123]["offsets"], [(0, 3)])
            self.assertLessEqual(c.max_in_flight, 16)
            self.assertGreaterEqual(c.max_in_flight, 7)
            self.assertEqual(c.in_flight, 0)
            c.close()
        finally:
            fake.close()

    def test_map_per_input_error(self):
        def handler(f, rid, req):
            t = req.classify.texts[0]
            o = pb.ClassifyOutput(labels=[pb.LabelScore(label="x", score=1.0)])
            if t == b"bad":
                o = pb.ClassifyOutput(status=pb.Status(code=pb.INVALID_ARGUMENT, message="no"))
            return [(rid, answer(pb.Response(id=req.id, classify=pb.ClassifyResult(
                outputs=[o]))))]

        fake = FakeDaemon(handler)
        try:
            c = socle.Client(fake.endpoint, timeout=2, retries=0)
            got = list(c.map("classify", ["a", "bad", "c"], errors="return"))
            self.assertEqual(got[0]["labels"], [{"label": "x", "score": 1.0}])
            self.assertIsInstance(got[1], socle.SocleError)
            self.assertEqual((got[1].code, got[1].index), (socle.Code.INVALID_ARGUMENT, 1))
            with self.assertRaises(socle.SocleError) as cm:
                list(c.map("classify", ["a", "b", "bad"]))
            self.assertEqual(cm.exception.index, 2)
            c.close()
        finally:
            fake.close()

    def test_not_socle_answer(self):
        fake = FakeDaemon(lambda f, rid, req: [(rid, [b"", b"socle/9", b""])])
        try:
            c = socle.Client(fake.endpoint, timeout=2, retries=0)
            with self.assertRaises(socle.SocleProtocolError):
                c.info()
            c.close()
        finally:
            fake.close()


class TestRequests(unittest.TestCase):
    def test_default_endpoint(self):
        old = os.environ.get("XDG_RUNTIME_DIR")
        try:
            os.environ["XDG_RUNTIME_DIR"] = "/run/user/77"
            self.assertEqual(socle.default_local_endpoint(), "ipc:///run/user/77/socle.sock")
            del os.environ["XDG_RUNTIME_DIR"]
            self.assertEqual(socle.default_local_endpoint(),
                             "ipc:///tmp/socle-%d.sock" % os.getuid())
        finally:
            if old is not None:
                os.environ["XDG_RUNTIME_DIR"] = old

    def test_build_request(self):
        from socle.client import _build_request
        r = _build_request("ner", [b"x"], adapter="ner", aggregation="simple",
                           ignore_labels=["O", "MISC"], deadline_ms=50, priority=-1)
        self.assertEqual(r.WhichOneof("task"), "ner")
        self.assertEqual((r.adapter, r.deadline_ms, r.priority), ("ner", 50, -1))
        self.assertEqual(r.ner.aggregation, pb.AGGREGATION_SIMPLE)
        self.assertEqual(list(r.ner.ignore_labels), ["O", "MISC"])
        r = _build_request("tokenize", [b"a", b"b"], pairs=[b"c", b"d"],
                           add_special_tokens=False, truncation="only_second", max_length=9)
        self.assertTrue(r.tokenize.no_special_tokens)
        self.assertEqual(r.tokenize.truncation, pb.TRUNCATION_ONLY_SECOND)
        self.assertEqual(list(r.tokenize.pairs), [b"c", b"d"])
        r = _build_request("qa", [(b"q", b"c")], top_k=2)
        self.assertEqual((r.qa.pairs[0].question, r.qa.pairs[0].context, r.qa.top_k),
                         (b"q", b"c", 2))
        r = _build_request("detokenize", [[1, 2], [3]], skip_special_tokens=True)
        self.assertEqual([list(s.ids) for s in r.detokenize.sequences], [[1, 2], [3]])
        r = _build_request("embed", [], pooling="mean")
        self.assertEqual(r.WhichOneof("task"), "embed")  # selected even with no texts
        with self.assertRaises(ValueError):
            _build_request("ner", [b"x"], aggregation="biggest")
        with self.assertRaises(TypeError):
            _build_request("classify", [b"x"], aggregation="simple")
        with self.assertRaises(ValueError):
            _build_request("translate", [b"x"])

    def test_texts(self):
        from socle.client import _texts
        self.assertEqual(_texts("é"), ([b"\xc3\xa9"], True))
        self.assertEqual(_texts([b"\xff", "a"]), ([b"\xff", b"a"], False))
        # a lone surrogate can not be valid UTF-8: it is sent, and the daemon refuses it
        self.assertEqual(_texts("\udc80")[0], [b"\xed\xb2\x80"])
        with self.assertRaises(TypeError):
            _texts([1])

    def test_message_to_dict(self):
        r = pb.Response(id=3, classify=pb.ClassifyResult(outputs=[pb.ClassifyOutput(
            n_tokens=4, labels=[pb.LabelScore(label="a", score=0.5)])]))
        d = socle.message_to_dict(r)
        self.assertEqual(d["id"], 3)
        self.assertNotIn("ner", d)  # oneof members not chosen are left out
        self.assertNotIn("timing", d)  # unset sub-messages too
        self.assertEqual(d["classify"]["outputs"][0],
                         {"n_tokens": 4, "truncated": False,
                          "labels": [{"label": "a", "score": 0.5}]})
        d = socle.message_to_dict(pb.Response(status=pb.Status(code=pb.NOT_FOUND)))
        self.assertEqual(d["status"], {"code": "NOT_FOUND", "message": ""})
        self.assertEqual(socle.Code(2).name, "NOT_FOUND")

    def test_encoding_has_every_field(self):
        # _encoding is written out for speed: a field added to Encoding must be added there
        from socle.client import _encoding
        e = pb.Encoding(length=2, ids=[5, 6], tokens=["a", "b"], offsets=[0, 1, 1, 3],
                        cp_offsets=[0, 1, 1, 2], overflowing=[pb.Encoding(length=1)])
        d = _encoding(e)
        self.assertEqual(set(d), {f.name for f in pb.Encoding.DESCRIPTOR.fields})
        self.assertEqual((d["offsets"], d["cp_offsets"]), ([(0, 1), (1, 3)], [(0, 1), (1, 2)]))
        self.assertEqual(d["overflowing"][0]["length"], 1)
        self.assertEqual(socle.SocleError(99, "new").code, 99)

    def test_errors_pickle(self):
        import pickle
        for e in (socle.SocleError(socle.Code.NOT_FOUND, "no adapter", 3),
                  socle.SocleTimeoutError("no answer")):
            f = pickle.loads(pickle.dumps(e))
            self.assertIs(type(f), type(e))
            self.assertEqual((f.code, f.message, f.index, str(f)),
                             (e.code, e.message, e.index, str(e)))


if __name__ == "__main__":
    unittest.main()
