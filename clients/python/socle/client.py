"""socle.Client: a synchronous Python client for socled (protocol socle/1, docs/protocol.md).

DESIGN. One Client is one ZeroMQ DEALER connected to one endpoint. Every request gets a fresh
id (from 1: the daemon answers frames it could not decode with id 0) and its encoded bytes are
kept until its answer arrives, so many requests can be in flight and answers may come back in
any order: an answer for another id than the one being waited for is kept in `_done` until
someone asks for it. Reliability is the ZeroMQ guide's Lazy Pirate over a window: when no
answer at all arrives for `timeout` seconds, the client waits (exponential backoff), closes the
socket, opens a new one (a new connection, so nothing queued on the dead one is kept) and
resends every unanswered request, up to `retries` times in a row without a sign of life; then
every request in flight fails with SocleTimeoutError. Requests are idempotent (no task changes
the daemon's state), which is what makes resending safe; answers to ids already answered
(the old connection was alive after all) are dropped, so each id is answered at most once.
`reopen=False` keeps the connection instead and resends on it, as the C client does: a daemon
still working on a request then answers the copy ALREADY_EXISTS, taken as a sign of life, and
the original answer stays deliverable; that is the better choice when single requests may
take longer than `timeout`.

Results are plain Python values built from the Response by field name (the names of
proto/socle.proto, the same keys the `socle` CLI prints), so they compare with the CLI's JSON.
A Client is not thread-safe: use one per thread (they are cheap; the ZeroMQ context is shared).
"""

import enum
import os
import time

import zmq

from ._pb import pb

__all__ = ["Client", "SocleError", "SocleTimeoutError", "SocleProtocolError", "Code",
           "default_local_endpoint", "TAG"]

TAG = b"socle/1"  # frame 2 of every message (docs/protocol.md)


# socle.v1.Code as a Python IntEnum built from the generated module, so a code added to the
# proto needs no edit here (Code.NOT_FOUND == 2, Code(2).name == "NOT_FOUND").
Code = enum.IntEnum("Code", dict(pb.Code.items()))


def _code(c):
    try:
        return Code(c)
    except ValueError:  # a code newer than this schema: keep the number
        return int(c)


class SocleError(Exception):
    """A request (or one input of a batched request) answered with a status other than OK.

    code: a Code (int); message: the daemon's message; index: the input's position in the
    call when the error belongs to one input of a batch, else None."""

    def __init__(self, code, message, index=None):
        self.code = _code(code)
        self.message = message
        self.index = index
        where = "" if index is None else " (input %d)" % index
        super().__init__("%s: %s%s" % (getattr(self.code, "name", self.code), message, where))

    def __reduce__(self):  # picklable (multiprocessing) whatever the subclass's signature
        return (_rebuild_error, (type(self), self.code, self.message, self.index))


def _rebuild_error(cls, code, message, index):
    e = cls.__new__(cls)
    SocleError.__init__(e, code, message, index)
    return e


class SocleTimeoutError(SocleError, TimeoutError):
    """No answer after every retry (the daemon is away). code is Code.UNAVAILABLE."""

    def __init__(self, message):
        super().__init__(Code.UNAVAILABLE, message)


class SocleProtocolError(SocleError):
    """The peer sent something that is not a socle/1 Response. code is Code.INTERNAL."""

    def __init__(self, message):
        super().__init__(Code.INTERNAL, message)


def default_local_endpoint():
    """The endpoint socled binds when given none, and where `socle` connects by default:
    ipc://$XDG_RUNTIME_DIR/socle.sock, or ipc:///tmp/socle-UID.sock when XDG_RUNTIME_DIR is
    unset (proto/socle_proto.h, docs/cli.md)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg.startswith("/"):
        return "ipc://%s/socle.sock" % xdg
    return "ipc:///tmp/socle-%d.sock" % os.getuid()


# ---------------------------------------------------------------------------------------------
# Response messages -> plain values


def _value(fd, v):
    if fd.type == fd.TYPE_MESSAGE:
        return message_to_dict(v)
    if fd.type == fd.TYPE_ENUM:
        ev = fd.enum_type.values_by_number.get(v)
        return ev.name if ev else v
    if fd.type == fd.TYPE_BYTES:
        return v.decode("utf-8", "replace")
    return v


_PLAIN = frozenset(getattr(pb.DESCRIPTOR.message_types_by_name["Encoding"].fields[0], t)
                   for t in ("TYPE_INT32", "TYPE_UINT32", "TYPE_INT64", "TYPE_UINT64",
                             "TYPE_FLOAT", "TYPE_DOUBLE", "TYPE_BOOL", "TYPE_STRING",
                             "TYPE_SINT32", "TYPE_SINT64", "TYPE_FIXED32", "TYPE_FIXED64"))


def message_to_dict(m):
    """Any message as a dict keyed by its proto field names: scalars always present (defaults
    included), enums by name, unset sub-messages and oneof members left out — the
    conventions of the CLI's JSON (clients/pbjson.h)."""
    out = {}
    for fd in m.DESCRIPTOR.fields:
        v = getattr(m, fd.name)
        if fd.label == fd.LABEL_REPEATED:
            if fd.type in _PLAIN:
                out[fd.name] = list(v)  # ids, offsets, vectors: no per-item conversion
            else:
                out[fd.name] = [_value(fd, x) for x in v]
        elif fd.type == fd.TYPE_MESSAGE:
            if m.HasField(fd.name):
                out[fd.name] = _value(fd, v)
        elif fd.containing_oneof is not None and m.WhichOneof(fd.containing_oneof.name) != fd.name:
            continue
        else:
            out[fd.name] = _value(fd, v)
    return out


def _pairs(flat):
    it = iter(flat)
    return list(zip(it, it))


def _encoding(e):
    # Written out rather than message_to_dict: tokenize is cheap in the daemon, so this
    # conversion is most of a tokenize call's client time. Offsets are (start, end) tuples,
    # as in HuggingFace tokenizers' Encoding.offsets.
    return {"length": e.length, "ids": list(e.ids), "tokens": list(e.tokens),
            "offsets": _pairs(e.offsets), "cp_offsets": _pairs(e.cp_offsets),
            "type_ids": list(e.type_ids), "special_mask": list(e.special_mask),
            "sequence_ids": list(e.sequence_ids), "word_ids": list(e.word_ids),
            "truncated": e.truncated, "overflowing": [_encoding(o) for o in e.overflowing]}


def _output(o):
    d = message_to_dict(o)
    d.pop("status", None)
    return d


# ---------------------------------------------------------------------------------------------
# Requests


def _as_bytes(t):
    if isinstance(t, bytes):
        return t  # sent as is: the daemon validates UTF-8 and names the bad byte
    if isinstance(t, (bytearray, memoryview)):
        return bytes(t)
    if isinstance(t, str):
        return t.encode("utf-8", "surrogatepass")
    raise TypeError("socle: a text must be str or bytes, not %s" % type(t).__name__)


def _texts(texts):
    """(list of bytes, single) — a lone str/bytes is a batch of one whose result is unwrapped."""
    if isinstance(texts, (str, bytes, bytearray, memoryview)):
        return [_as_bytes(texts)], True
    return [_as_bytes(t) for t in texts], False


def _enum(enum, prefix, value):
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    try:
        return enum.Value(prefix + str(value).upper())
    except ValueError:
        raise ValueError("socle: unknown %s %r (one of %s)" % (
            prefix.rstrip("_").lower(), value,
            ", ".join(n[len(prefix):].lower() for n in enum.keys()))) from None


# What each task's per-input options become in its request message; the request field that
# holds the inputs ("texts", "pairs", "sequences") is filled by _build_request.
def _fill_classify(m, top_k=0, multi_label=False):
    m.top_k = top_k
    m.multi_label = multi_label


def _fill_ner(m, aggregation=None, ignore_labels=(), stride=0):
    m.aggregation = _enum(pb.Aggregation, "AGGREGATION_", aggregation)
    m.ignore_labels.extend(ignore_labels or ())
    m.stride = stride


def _fill_qa(m, top_k=0, max_seq_len=0, doc_stride=0, max_question_len=0, max_answer_len=0,
             handle_impossible_answer=False):
    m.top_k = top_k
    m.max_seq_len = max_seq_len
    m.doc_stride = doc_stride
    m.max_question_len = max_question_len
    m.max_answer_len = max_answer_len
    m.handle_impossible_answer = handle_impossible_answer


def _fill_summarize(m, max_sentences=0, ratio=0.0, mmr_lambda=0.0):
    m.max_sentences = max_sentences
    m.ratio = ratio
    m.mmr_lambda = mmr_lambda


def _fill_embed(m, pooling=None, normalize=False):
    m.pooling = _enum(pb.Pooling, "POOLING_", pooling)
    m.normalize = normalize


def _fill_tokenize(m, add_special_tokens=True, truncation=None, max_length=0, stride=0,
                   return_overflowing=False, count_only=False):
    m.no_special_tokens = not add_special_tokens
    m.truncation = _enum(pb.Truncation, "TRUNCATION_", truncation)
    m.max_length = max_length
    m.stride = stride
    m.return_overflowing = return_overflowing
    m.count_only = count_only


def _fill_detokenize(m, skip_special_tokens=False):
    m.skip_special_tokens = skip_special_tokens


_FILL = {"classify": _fill_classify, "ner": _fill_ner, "qa": _fill_qa,
         "summarize": _fill_summarize, "embed": _fill_embed, "tokenize": _fill_tokenize,
         "detokenize": _fill_detokenize}
TASKS = tuple(_FILL)


def _build_request(task, inputs, adapter=None, deadline_ms=0, priority=0, pairs=None, **opts):
    """One socle.v1.Request for `task` over `inputs`: texts (bytes), (question, context)
    byte pairs for qa, id lists for detokenize. Unknown options raise TypeError."""
    if task not in _FILL:
        raise ValueError("socle: unknown task %r (one of %s)" % (task, ", ".join(TASKS)))
    req = pb.Request(adapter=adapter or "", deadline_ms=deadline_ms, priority=priority)
    m = getattr(req, task)
    m.SetInParent()  # selects the oneof member even when it has no inputs
    if task == "qa":
        for q, c in inputs:
            m.pairs.add(question=q, context=c)
    elif task == "detokenize":
        for ids in inputs:
            m.sequences.add(ids=ids)
    else:
        m.texts.extend(inputs)
        if pairs is not None:
            if task != "tokenize":
                raise TypeError("socle: pairs= is a tokenize option")
            m.pairs.extend(pairs)
    _FILL[task](m, **opts)
    return req


# ---------------------------------------------------------------------------------------------


class Client:
    """One connection to socled.

    endpoint: tcp://HOST:PORT or ipc://PATH; None = $SOCLE_ENDPOINT, else the default local
    endpoint (default_local_endpoint()). Connecting is asynchronous: a daemon not up yet is
    not an error until a call times out.
    timeout: seconds to wait for any answer per attempt (None = forever); retries: resend
    attempts in a row without an answer; backoff, backoff_max: seconds before the first
    retry, doubled each time up to backoff_max; reopen: new connection per retry (Lazy
    Pirate, the default) or resend on the same one (see the module's DESIGN note);
    context: a zmq.Context (default: the process-wide zmq.Context.instance()).

    Every task method takes `adapter=`, `deadline_ms=` and `priority=` (Request fields,
    docs/protocol.md) and `errors="raise"` (a failed input raises SocleError with its index)
    or `errors="return"` (the SocleError takes its place in the result list). A lone str is
    a batch of one whose result comes back unwrapped; texts may also be bytes (sent as they
    are, so the daemon's UTF-8 validation applies). Not thread-safe."""

    def __init__(self, endpoint=None, timeout=5.0, retries=3, backoff=0.1, backoff_max=2.0,
                 reopen=True, context=None):
        self.endpoint = endpoint or os.environ.get("SOCLE_ENDPOINT") or default_local_endpoint()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.reopen = reopen
        self._ctx = context or zmq.Context.instance()
        self._sock = None
        self._next_id = 1
        self._pending = {}  # id -> encoded Request, until answered or given up
        self._done = {}     # id -> Response answered but not yet asked for
        self._failed = {}   # id -> SocleTimeoutError for requests given up on
        self.max_in_flight = 0  # most requests in flight at once (a statistic)
        self.reconnects = 0     # sockets reopened by retries (a statistic)
        self._open()

    # -- connection ---------------------------------------------------------------------------

    def _open(self):
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)  # a closed socket drops what it still had queued
        s.connect(self.endpoint)
        self._sock = s

    def close(self):
        """Close the socket; requests in flight are dropped. Idempotent."""
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self._pending.clear()
        self._done.clear()
        self._failed.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: zmq may already be gone
            pass

    @property
    def in_flight(self):
        """Requests sent and not yet answered."""
        return len(self._pending)

    # -- low level: many requests in flight ----------------------------------------------------

    # Frames go out with copy=True (pyzmq's default): its zero-copy path costs about 0.5 ms
    # per small frame (a tracked Frame object each), which capped map() near 2,000 requests/s.
    def submit(self, request):
        """Send a socle.v1.Request without waiting; returns its id (assigned here: any id the
        request carries is replaced, so ids never collide). The answer is fetched with
        result(id)."""
        if self._sock is None:
            raise ValueError("socle: client is closed")
        rid = self._next_id
        self._next_id += 1
        request.id = rid
        payload = request.SerializeToString()
        self._sock.send_multipart([b"", TAG, payload])
        self._pending[rid] = payload
        self.max_in_flight = max(self.max_in_flight, len(self._pending))
        return rid

    def result(self, rid):
        """The socle.v1.Response to request `rid` (whatever its status), waiting with the
        retry policy. Raises SocleTimeoutError, SocleProtocolError, KeyError for an id not in
        flight."""
        return self._wait((rid,))

    def request(self, request):
        """submit + result: one socle.v1.Request, its socle.v1.Response (not raising on the
        status; the task methods do)."""
        return self.result(self.submit(request))

    def _forget(self, ids):
        for rid in ids:
            self._pending.pop(rid, None)
            self._done.pop(rid, None)
            self._failed.pop(rid, None)

    def _resend_all(self):
        if self.reopen:
            self._sock.close(linger=0)
            self._open()
            self.reconnects += 1
        for payload in self._pending.values():
            self._sock.send_multipart([b"", TAG, payload])

    def _read(self):
        frames = self._sock.recv_multipart()
        if len(frames) != 3 or frames[0] != b"" or frames[1] != TAG:
            raise SocleProtocolError("not a socle/1 answer (%d frames, tag %r)" % (
                len(frames), frames[1][:16] if len(frames) > 1 else b""))
        try:
            return pb.Response.FromString(frames[2])
        except Exception as e:  # google.protobuf.message.DecodeError
            raise SocleProtocolError("undecodable Response: %s" % e) from None

    def _wait(self, wanted):
        """The next answer to one of the ids in `wanted` (a collection); answers to other ids
        in flight are kept in _done. Retries per the policy; on giving up every request in
        flight fails with the same SocleTimeoutError."""
        for rid in wanted:
            if rid in self._done:
                return self._done.pop(rid)
            if rid in self._failed:
                raise self._failed.pop(rid)
        if not any(rid in self._pending for rid in wanted):
            raise KeyError("socle: none of these requests is in flight")
        attempt, backoff = 0, self.backoff
        poll_ms = None if self.timeout is None else max(0, int(self.timeout * 1000))
        while True:
            if not self._sock.poll(poll_ms, zmq.POLLIN):
                if attempt >= self.retries:
                    err = SocleTimeoutError("no answer from %s in %d attempt(s) of %gs" % (
                        self.endpoint, attempt + 1, self.timeout))
                    for rid in self._pending:
                        self._failed[rid] = err
                    self._pending.clear()
                    for rid in wanted:
                        self._failed.pop(rid, None)
                    raise err
                attempt += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                if self._sock.poll(0, zmq.POLLIN):
                    continue  # an answer came during the backoff: alive, read it first
                self._resend_all()
                continue
            r = self._read()
            attempt, backoff = 0, self.backoff  # the daemon is alive
            rid = r.id
            if rid == 0 and len(self._pending) == 1:
                # answers to frames the daemon could not decode carry id 0 (protocol.md);
                # with one request in flight it can only be that one's.
                rid = r.id = next(iter(self._pending))
            if rid not in self._pending:
                continue  # duplicate after a resend, or an unmatchable id-0 answer
            if r.status.code == pb.ALREADY_EXISTS:
                # the answer to a resent copy (reopen=False) while the daemon still works on
                # the original; ids are ours and unique, so it can mean nothing else
                continue
            del self._pending[rid]
            if rid in wanted:
                return r
            self._done[rid] = r

    # -- results -------------------------------------------------------------------------------

    @staticmethod
    def _check(r):
        if r.status.code != pb.OK:
            raise SocleError(r.status.code, r.status.message)

    @staticmethod
    def _unpack(task, r, errors, base=0):
        """Per-input results of an OK Response of `task`, in input order."""
        if r.WhichOneof("result") != task:
            raise SocleProtocolError("answer carries %r, not %r" % (r.WhichOneof("result"), task))
        res = getattr(r, task)
        if task == "tokenize":
            # Encodings carry no status: an input-level failure fails the whole request
            return [_encoding(e) for e in res.encodings]
        if task == "detokenize":
            return list(res.texts)
        out = []
        for i, o in enumerate(res.outputs):
            if o.status.code != pb.OK:
                err = SocleError(o.status.code, o.status.message, base + i)
                if errors == "raise":
                    raise err
                out.append(err)
            else:
                out.append(_output(o))
        return out

    def _task(self, task, inputs, single, errors="raise", **opts):
        if errors not in ("raise", "return"):
            raise ValueError("socle: errors= is 'raise' or 'return'")
        r = self.request(_build_request(task, inputs, **opts))
        self._check(r)
        out = self._unpack(task, r, errors)
        if len(out) != len(inputs):
            raise SocleProtocolError("%d results for %d inputs" % (len(out), len(inputs)))
        return out[0] if single else out

    # -- tasks ---------------------------------------------------------------------------------

    def info(self):
        """What the daemon serves: version, protocol, model, tokenizer, adapters, endpoints,
        tasks, workers, limits (InfoResult as a dict)."""
        r = self.request(pb.Request(info=pb.InfoRequest()))
        self._check(r)
        return message_to_dict(r.info)

    def stats(self):
        """Counters and histograms (StatsResult as a dict)."""
        r = self.request(pb.Request(stats=pb.StatsRequest()))
        self._check(r)
        return message_to_dict(r.stats)

    def tokenize(self, texts, pairs=None, add_special_tokens=True, truncation=None, max_length=0,
                 stride=0, return_overflowing=False, count_only=False, **common):
        """Encodings: dicts with ids, tokens, offsets ([start, end) byte pairs), cp_offsets
        (code point pairs), type_ids, special_mask, sequence_ids, word_ids, length,
        truncated, overflowing. count_only=True returns token counts (ints) instead.
        truncation: None (tokenizer.json's), "none", "longest_first", "only_first",
        "only_second"."""
        inputs, single = _texts(texts)
        if pairs is not None:
            pairs, psingle = _texts(pairs)
            if psingle != single or len(pairs) != len(inputs):
                raise ValueError("socle: one pair per text")
        out = self._task("tokenize", inputs, single, pairs=pairs,
                         add_special_tokens=add_special_tokens, truncation=truncation,
                         max_length=max_length, stride=stride,
                         return_overflowing=return_overflowing, count_only=count_only, **common)
        if count_only:
            return out["length"] if single else [e["length"] for e in out]
        return out

    def detokenize(self, ids, skip_special_tokens=False, **common):
        """Text of one id sequence (a list of ints), or a list of texts for a list of them."""
        ids = list(ids)
        single = all(isinstance(i, int) for i in ids)
        seqs = [ids] if single else [list(s) for s in ids]
        return self._task("detokenize", seqs, single,
                          skip_special_tokens=skip_special_tokens, **common)

    def classify(self, texts, adapter=None, top_k=0, multi_label=False, **common):
        """{"labels": [{"label", "score"}, ...] best first, "n_tokens", "truncated"} per text."""
        inputs, single = _texts(texts)
        return self._task("classify", inputs, single, adapter=adapter, top_k=top_k,
                          multi_label=multi_label, **common)

    def ner(self, texts, adapter=None, aggregation=None, ignore_labels=(), stride=0, **common):
        """{"entities": [{"type", "score", "word", "span", "index"}, ...], ...} per text.
        aggregation: None/"none", "simple", "first", "average", "max"."""
        inputs, single = _texts(texts)
        return self._task("ner", inputs, single, adapter=adapter, aggregation=aggregation,
                          ignore_labels=ignore_labels, stride=stride, **common)

    def qa(self, question, context, adapter=None, top_k=0, **opts):
        """{"answers": [{"text", "score", "span"}, ...] best first, ...} for one question and
        context, or a list for lists of both (one context per question). Options:
        top_k, max_seq_len, doc_stride, max_question_len, max_answer_len,
        handle_impossible_answer."""
        qs, single = _texts(question)
        cs, csingle = _texts(context)
        if single != csingle or len(qs) != len(cs):
            raise ValueError("socle: one context per question")
        return self._task("qa", list(zip(qs, cs)), single, adapter=adapter, top_k=top_k, **opts)

    def summarize(self, texts, max_sentences=0, ratio=0.0, mmr_lambda=0.0, adapter=None,
                  **common):
        """{"sentences": [{"span", "score"}, ...] in text order, "summary", ...} per text."""
        inputs, single = _texts(texts)
        return self._task("summarize", inputs, single, adapter=adapter,
                          max_sentences=max_sentences, ratio=ratio, mmr_lambda=mmr_lambda,
                          **common)

    def embed(self, texts, pooling=None, normalize=False, adapter=None, **common):
        """{"vector": [floats], "n_tokens", "truncated"} per text. pooling: None (the
        adapter's), "cls", "mean"."""
        inputs, single = _texts(texts)
        return self._task("embed", inputs, single, adapter=adapter, pooling=pooling,
                          normalize=normalize, **common)

    def multi(self, texts, tasks, errors="raise", deadline_ms=0, priority=0):
        """Several tasks over the same texts in one model pass (MultiRequest,
        docs/protocol.md): the backbone runs once per text, each head reads the same hidden
        states. tasks: "KIND[:ADAPTER]" strings or (spec, {options}) pairs, KIND one of
        classify, ner, summarize, embed, options those of the task's own method. Per text:
        {spec: that task's result for the text}, the keys `socle multi --task` prints."""
        inputs, single = _texts(texts)
        if errors not in ("raise", "return"):
            raise ValueError("socle: errors= is 'raise' or 'return'")
        req = pb.Request(deadline_ms=deadline_ms, priority=priority)
        req.multi.SetInParent()
        req.multi.texts.extend(inputs)
        specs = []
        for t in tasks:
            spec, opts = (t, {}) if isinstance(t, str) else (t[0], dict(t[1]))
            kind, _, adapter = spec.partition(":")
            if kind not in ("classify", "ner", "summarize", "embed"):
                raise ValueError("socle: multi task %r: KIND is classify, ner, summarize or "
                                 "embed" % spec)
            sub = req.multi.tasks.add(adapter=adapter)
            m = getattr(sub, kind)
            m.SetInParent()
            _FILL[kind](m, **opts)
            specs.append(spec)
        r = self.request(req)
        self._check(r)
        if r.WhichOneof("result") != "multi" or len(r.multi.results) != len(specs):
            raise SocleProtocolError("multi answer without one result per task")
        per_task = [self._unpack(sr.WhichOneof("result"), sr, errors) for sr in r.multi.results]
        if any(len(p) != len(inputs) for p in per_task):
            raise SocleProtocolError("multi: not one result per input")
        out = [{spec: per_task[k][i] for k, spec in enumerate(specs)} for i in range(len(inputs))]
        return out[0] if single else out

    # -- batch helper --------------------------------------------------------------------------

    def map(self, task, inputs, window=32, errors="raise", **opts):
        """Yield the result of `task` for each input, in input order, one request per input
        with at most `window` inputs sent and not yet yielded (in flight or waiting for an
        earlier one), so any iterable — a file, a generator — streams through in bounded
        memory. Inputs: texts (str/bytes); (question, context) tuples for qa; id lists for
        detokenize. Options are the task method's. errors="return" yields a failed input's
        SocleError instead of raising it. Closing the generator early forgets its requests."""
        if window < 1:
            raise ValueError("socle: window must be >= 1")
        if errors not in ("raise", "return"):
            raise ValueError("socle: errors= is 'raise' or 'return'")
        count_only = task == "tokenize" and opts.get("count_only")
        it = iter(inputs)
        id2idx = {}   # request id -> input index, for requests in flight
        ready = {}    # input index -> result, answered before an earlier input
        n_sent = next_out = 0
        exhausted = False
        try:
            while True:
                while not exhausted and len(id2idx) + len(ready) < window:
                    try:
                        x = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    if task == "qa":
                        item = (_as_bytes(x[0]), _as_bytes(x[1]))
                    elif task == "detokenize":
                        item = list(x)
                    else:
                        item = _as_bytes(x)
                    rid = self.submit(_build_request(task, [item], **opts))
                    id2idx[rid] = n_sent
                    n_sent += 1
                if next_out in ready:
                    yield ready.pop(next_out)
                    next_out += 1
                    continue
                if not id2idx:
                    return
                r = self._wait(id2idx)
                idx = id2idx.pop(r.id)
                if r.status.code != pb.OK:
                    err = SocleError(r.status.code, r.status.message, idx)
                    if errors == "raise":
                        raise err
                    ready[idx] = err
                    continue
                res = self._unpack(task, r, errors, base=idx)
                if len(res) != 1:
                    raise SocleProtocolError("%d results for 1 input" % len(res))
                v = res[0]
                ready[idx] = v["length"] if count_only and isinstance(v, dict) else v
        finally:
            self._forget(list(id2idx))
