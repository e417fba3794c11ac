#!/usr/bin/python3
"""Example producer and sink for socled's queue endpoint (docs/batch.md, docs/protocol.md).

    socled --model models/socle-mini --adapters models/socle-mini/adapters \
           --pipeline-in ipc:///tmp/socle-in.sock --pipeline-out ipc:///tmp/socle-out.sock
    python3 clients/examples/pipeline_producer.py sink ipc:///tmp/socle-out.sock 3000 &
    for k in 1 2 3; do
        python3 clients/examples/pipeline_producer.py produce ipc:///tmp/socle-in.sock $k docs.txt &
    done; wait

Producers PUSH [b"socle/1", Request] messages; the sink PULLs [b"socle/1", Response]. Request
ids must be unique across the whole job for the sink to tell the results apart: here the
producer number goes in the high 32 bits. Needs python3-zmq and python3-protobuf, and socle_pb2
(generated from proto/socle.proto: `protoc -I proto --python_out=GEN proto/socle.proto`, then
PYTHONPATH=GEN; the Python client's build does the same in its build directory).
"""
import sys

import zmq

import socle_pb2

TAG = b"socle/1"


def produce(endpoint, k, path):
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 60000)  # deliver what is queued before exiting
    s.connect(endpoint)
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            req = socle_pb2.Request(
                id=(k << 32) | i,
                priority=-1,  # batch lane: interactive clients of the same daemon go first
                ner=socle_pb2.NerRequest(texts=[line.rstrip("\n").encode()]),
            )
            s.send_multipart([TAG, req.SerializeToString()])  # blocks at the HWM: flow control
    s.close()


def sink(endpoint, n):
    s = zmq.Context.instance().socket(zmq.PULL)
    s.connect(endpoint)
    seen = set()
    while len(seen) < n:
        tag, body = s.recv_multipart()
        r = socle_pb2.Response.FromString(body)
        if r.status.code != socle_pb2.OK:
            print(f"id {r.id}: {socle_pb2.Code.Name(r.status.code)} {r.status.message}",
                  file=sys.stderr)
        seen.add(r.id)
        ents = r.ner.outputs[0].entities if r.ner.outputs else []
        print(r.id >> 32, r.id & 0xFFFFFFFF, [(e.type, e.word) for e in ents])


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "produce":
        produce(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "sink":
        sink(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
