#!/usr/bin/python3
"""Example producer and sink for socled's queue endpoint (docs/batch.md, docs/protocol.md).

    socled --model models/socle-mini --adapters models/socle-mini/adapters \
           --pipeline-in ipc:///tmp/socle-in.sock --pipeline-out ipc:///tmp/socle-out.sock
    python3 clients/examples/pipeline_producer.py sink ipc:///tmp/socle-out.sock 3000 >> out.txt &
    for k in 1 2 3; do
        python3 clients/examples/pipeline_producer.py produce ipc:///tmp/socle-in.sock $k docs.txt &
    done; wait

Producers PUSH [b"socle/1", Request] messages; the sink PULLs [b"socle/1", Response]. Request
ids must be unique across the whole job for the sink to tell the results apart: here the
producer number goes in the high 32 bits and the line number in the low 32.

The pipeline is at most once (docs/protocol.md): if socled dies, what it had queued or in flight
never reaches the sink. The sink's output is the job's record, so the job resumes from it:

    # after a crash: the sink keeps what it has (ids already in out.txt are not printed again)
    python3 clients/examples/pipeline_producer.py sink ipc:///tmp/socle-out.sock 3000 \
        --done out.txt >> out.txt &
    # each producer pushes only the lines whose ids are not in out.txt
    python3 clients/examples/pipeline_producer.py produce ipc:///tmp/socle-in.sock 1 docs.txt \
        --done out.txt

Rerun until the sink has its N ids: each document ends up in out.txt exactly once (the sink
drops an id it already has, should a late answer come after a re-push). tests/fault/
test_pipeline_kill.c does the same in C. Needs python3-zmq and python3-protobuf, and socle_pb2
(generated from proto/socle.proto: `protoc -I proto --python_out=GEN proto/socle.proto`, then
PYTHONPATH=GEN; the Python client's build does the same in its build directory).
"""
import sys

import zmq

import socle_pb2

TAG = b"socle/1"


def done_ids(path):
    """The ids (k, i) already in a sink output file (its lines start with "k i")."""
    ids = set()
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    parts = line.split(" ", 2)
                    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                        ids.add((int(parts[0]), int(parts[1])))
        except FileNotFoundError:
            pass
    return ids


def produce(endpoint, k, path, done):
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 60000)  # deliver what is queued before exiting
    s.connect(endpoint)
    sent = 0
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if (k, i) in done:
                continue
            req = socle_pb2.Request(
                id=(k << 32) | i,
                priority=-1,  # batch lane: interactive clients of the same daemon go first
                ner=socle_pb2.NerRequest(texts=[line.rstrip("\n").encode()]),
            )
            s.send_multipart([TAG, req.SerializeToString()])  # blocks at the HWM: flow control
            sent += 1
    s.close()
    print(f"producer {k}: pushed {sent} ({len(done)} already at the sink)", file=sys.stderr)


def sink(endpoint, n, done):
    s = zmq.Context.instance().socket(zmq.PULL)
    s.connect(endpoint)
    seen = set(done)
    dups = 0
    while len(seen) < n:
        tag, body = s.recv_multipart()
        r = socle_pb2.Response.FromString(body)
        key = (r.id >> 32, r.id & 0xFFFFFFFF)
        if key in seen:
            dups += 1  # a late answer to a document pushed again: keep the first
            continue
        if r.status.code != socle_pb2.OK:
            print(f"id {r.id}: {socle_pb2.Code.Name(r.status.code)} {r.status.message}",
                  file=sys.stderr)
            continue  # not recorded: a resume pushes it again
        seen.add(key)
        ents = r.ner.outputs[0].entities if r.ner.outputs else []
        print(key[0], key[1], [(e.type, e.word) for e in ents], flush=True)
    print(f"sink: {n} ids, {dups} duplicates dropped", file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    done_path = None
    if len(args) >= 2 and args[-2] == "--done":
        done_path = args[-1]
        args = args[:-2]
    if len(args) == 4 and args[0] == "produce":
        produce(args[1], int(args[2]), args[3], done_ids(done_path))
    elif len(args) == 3 and args[0] == "sink":
        sink(args[1], int(args[2]), done_ids(done_path))
    else:
        sys.exit(__doc__)
