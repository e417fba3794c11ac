"""Throughput of the Python client next to the C CLI on the same daemon, same run.

    PYTHONPATH=clients/python:BUILD/clients/python/gen /usr/bin/python3 clients/python/bench.py \
        --socled BUILD/daemon/socled --cli BUILD/clients/socle [--n 4000] [--repeat 3]

Starts socled with models/socle-mini (2 workers) on a temporary ipc:// endpoint, then for
tokenize and classify times, alternately, `socle TASK --window 32 --file F` (the baseline)
and `Client.map(TASK, lines, window=32)`; checks both gave the same results first; prints
the median documents/s of each and the ratio Python / CLI. The machine is shared: read ratios,
not absolute numbers.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import socle

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORDS = ("the council met on monday to approve a new budget for schools while critics said "
         "stocks fell sharply after rates rose and the team won its final match in paris").split()


def docs(n):
    # deterministic short documents (8..24 words)
    out, x = [], 12345
    for i in range(n):
        k = 8 + i % 17
        ws = []
        for _ in range(k):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            ws.append(WORDS[x % len(WORDS)])
        out.append(" ".join(ws))
    return out


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI runs; socled is still running
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socled", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--window", type=int, default=32)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="socle-pybench-")
    ep = "ipc://%s/s.sock" % d
    model = os.path.join(SRC, "models", "socle-mini")
    p = subprocess.Popen([a.socled, "--endpoint", ep, "--model", model, "--adapters",
                          os.path.join(model, "adapters"), "--workers", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                with socle.Client(ep, timeout=0.3, retries=0) as c:
                    c.info()
                break
            except socle.SocleTimeoutError:
                time.sleep(0.05)
        lines = docs(a.n)
        f = os.path.join(d, "docs.txt")
        with open(f, "w") as fh:
            fh.write("".join(l + "\n" for l in lines))
        c = socle.Client(ep, timeout=30)
        for task, args, n in (("tokenize", [], a.n), ("classify", ["--top-k", "1"], a.n // 20)):
            opts = {"top_k": 1} if task == "classify" else {}
            sub = lines[:n]
            with open(f, "w") as fh:
                fh.write("".join(l + "\n" for l in sub))
            cmd = [a.cli, "--endpoint", ep, "--window", str(a.window), task] + args + [
                "--file", f]
            # validate before timing: same answers from both clients
            cli_out = [json.loads(l) for l in subprocess.run(
                cmd, capture_output=True, check=True).stdout.splitlines()]
            py_out = list(c.map(task, sub, window=a.window, **opts))
            if task == "tokenize":
                same = [o["ids"] for o in cli_out] == [o["ids"] for o in py_out]
            else:
                same = ([o["labels"][0]["label"] for o in cli_out] ==
                        [o["labels"][0]["label"] for o in py_out])
            if not same:
                print("%s: Python and CLI results differ" % task)
                return 1
            t_cli, t_py, cpu_cli, cpu_py = [], [], [], []
            for _ in range(a.repeat):
                t0, c0 = time.perf_counter(), children_cpu()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
                t_cli.append(time.perf_counter() - t0)
                cpu_cli.append(children_cpu() - c0)
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in c.map(task, sub, window=a.window, **opts):
                    pass
                t_py.append(time.perf_counter() - t0)
                cpu_py.append(time.process_time() - c0)
            cli_r, py_r = n / statistics.median(t_cli), n / statistics.median(t_py)
            print("%-9s n=%-5d window=%d  C CLI %8.0f docs/s  Python map %8.0f docs/s  "
                  "ratio %.2f  (median of %d; spread CLI %.0f-%.0f, Python %.0f-%.0f)" % (
                      task, n, a.window, cli_r, py_r, py_r / cli_r, a.repeat,
                      n / max(t_cli), n / min(t_cli), n / max(t_py), n / min(t_py)))
            print("%-9s client CPU per document: C CLI %.0f us, Python %.0f us (medians)" % (
                task, statistics.median(cpu_cli) / n * 1e6, statistics.median(cpu_py) / n * 1e6))
        c.close()
    finally:
        p.terminate()
        p.wait(20)
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
