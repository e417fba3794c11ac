#!/usr/bin/python3
"""Markdown tables from the JSON lines of bench/run_engine_bench.sh (results.jsonl).

    /usr/bin/python3 bench/engine_peers/summarize.py bench/out/results.jsonl > summary.md

Throughput is compared at equal threads and batch; "PyTorch best" is the fastest of its
tuned settings (OMP_WAIT_POLICY=passive, or 1 torch thread + n OpenBLAS threads), "default"
is torch.set_num_threads(n) alone. Fractions of peak divide by OpenBLAS's FFN-up sgemm speed
at the largest batch measured with the same threads in the same run (sgemm_peak).
"""
import json
import sys


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                recs.append(json.loads(line))
    return recs


def fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def main():
    recs = load(sys.argv[1])
    out = []
    run = next((r["run"] for r in recs if "run" in r), {})
    end = next((r["run_end"] for r in recs if "run_end" in r), {})
    stamps = [r["stamp"] for r in recs if "stamp" in r]
    out.append("## Run\n")
    out.append(f"- commit `{run.get('commit')}`, CPU {run.get('cpu')} ({run.get('nproc')} cores), "
               f"shapes {run.get('shapes')}, {run.get('repeat')} timed runs after 1 warm-up, priority {run.get('priority')}, "
               f"load average at start {run.get('loadavg_start')}, at end {end.get('loadavg_end')}")
    for s in stamps:
        out.append(f"- {s['tool']}: {s['compiler']}, flags `{s['flags']}`, {s['blas']}, {s['utc']}")
    for r in recs:
        if r.get("check") == "last_hidden_state":
            out.append(f"- validation socle vs PyTorch: {r['sequences']} sequences / {r['tokens']} tokens, "
                       f"max |diff| packed {r['max_abs_diff_packed']:.2e}, alone {r['max_abs_diff_alone']:.2e} "
                       f"(max |ref| {r['max_abs_ref']:.2f}, tol {r['tol']}) → {'pass' if r['pass'] else 'FAIL'}")
        elif r.get("impl") == "ort" and "check" in r:
            out.append(f"- validation ONNX Runtime vs PyTorch: max |diff| hidden {r['max_abs_diff_hidden']:.2e}, "
                       f"pooler {r['max_abs_diff_pooler']:.2e}")
    out.append("")

    peak = {}
    for r in recs:
        if r.get("impl") == "openblas_sgemm_floor":
            peak[r["threads"]] = r["peak_gflops"]
    socle = {(r["threads"], r["batch"]): r for r in recs if r.get("impl") == "socle" and "ms_median" in r}
    ort = {(r["threads"], r["batch"]): r for r in recs if r.get("impl") == "ort" and "ms_median" in r}
    tbest, tdef = {}, {}
    for r in recs:
        if r.get("impl") != "torch" or "ms_median" not in r:
            continue
        k = (r["threads"], r["batch"])
        if r.get("setting") == "default":
            tdef[k] = r
        elif k not in tbest or r["ms_median"] < tbest[k]["ms_median"]:
            tbest[k] = r
    keys = sorted(set(socle) | set(ort) | set(tbest) | set(tdef))

    def pk(k, r):
        p = peak.get(k[0])
        return None if (r is None or not p) else r["gflops"] / p

    def spread(r):
        return None if r is None else 100.0 * (r["ms_max"] - r["ms_min"]) / r["ms_median"]

    out.append("## Throughput (BERT-base, seq 128, medians)\n")
    out.append("| threads | batch | socle ms (spread %) | socle seq/s | socle GFLOP/s | socle % sgemm peak | "
               "socle % shape floor | ORT seq/s | ORT % peak | PyTorch best seq/s (setting) | PyTorch default seq/s | "
               "socle/ORT | socle/PyTorch best | socle/PyTorch default |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        s, o, b, d = socle.get(k), ort.get(k), tbest.get(k), tdef.get(k)

        def ratio(x):
            return None if (s is None or x is None) else s["seq_per_s"] / x["seq_per_s"]

        out.append(
            f"| {k[0]} | {k[1]} | {fmt(s and s['ms_median'], 1)} ({fmt(spread(s), 0)}) | {fmt(s and s['seq_per_s'])} | "
            f"{fmt(s and s['gflops'], 1)} | {fmt(pk(k, s) and 100 * pk(k, s), 1)} | "
            f"{fmt(s and s.get('frac_of_floor') and 100 * s['frac_of_floor'], 1)} | "
            f"{fmt(o and o['seq_per_s'])} | {fmt(pk(k, o) and 100 * pk(k, o), 1)} | "
            f"{fmt(b and b['seq_per_s'])} ({b['setting'] if b else '—'}) | {fmt(d and d['seq_per_s'])} | "
            f"{fmt(ratio(o))} | {fmt(ratio(b))} | {fmt(ratio(d))} |")
    out.append("")
    each = [k for k in keys if k in socle and "frac_of_peak_each_median" in socle[k]]
    if each:
        out.append("socle against OpenBLAS's peak timed just before each of its forwards (engine_bench "
                   "--peak-each: the drift of the machine between the sgemm table above and socle's runs "
                   "cancels), median of the per-forward fractions (min–max), peak median GFLOP/s: " + ", ".join(
                       f"t{k[0]} b{k[1]} {100 * socle[k]['frac_of_peak_each_median']:.1f} % "
                       f"({100 * socle[k]['frac_of_peak_each_min']:.1f}–{100 * socle[k]['frac_of_peak_each_max']:.1f}, "
                       f"peak {socle[k]['peak_each_gflops_median']:.0f})" for k in each))
        out.append("")
    unp = {(r["threads"], r["batch"]): r for r in recs
           if r.get("impl") == "socle_unpacked" and "ms_median" in r}
    if unp:
        out.append("socle with pack_weights = false (OpenBLAS on the mapped weights), same run: " + ", ".join(
            f"t{k[0]} b{k[1]} {fmt(unp[k]['seq_per_s'])} seq/s (packed/unpacked "
            f"{fmt(socle[k]['seq_per_s'] / unp[k]['seq_per_s']) if k in socle else '—'})"
            for k in sorted(unp)))
        out.append("")
    out.append("Peers' spread (max−min)/median %: " + ", ".join(
        f"ORT t{k[0]} b{k[1]} {fmt(spread(ort[k]), 0)}" for k in sorted(ort)) + "; " + ", ".join(
        f"PyTorch-best t{k[0]} b{k[1]} {fmt(spread(tbest[k]), 0)}" for k in sorted(tbest)))
    out.append("")

    out.append("## OpenBLAS sgemm on the forward's shapes (GFLOP/s median, % of the thread count's peak)\n")
    sh = [r for r in recs if r.get("impl") == "openblas_sgemm"]
    names = []
    for r in sh:
        if r["shape"] not in names:
            names.append(r["shape"])
    out.append("| threads | batch | " + " | ".join(names) + " | floor ms | floor GFLOP/s |")
    out.append("|---|---|" + "---|" * (len(names) + 2))
    floors = {(r["threads"], r["batch"]): r for r in recs if r.get("impl") == "openblas_sgemm_floor"}
    for k in sorted({(r["threads"], r["batch"]) for r in sh}):
        cells = []
        for n in names:
            r = next((x for x in sh if (x["threads"], x["batch"], x["shape"]) == (k[0], k[1], n)), None)
            if r is None:
                cells.append("—")
            else:
                cells.append(f"{r['gflops_median']:.0f} ({100 * r['gflops_median'] / peak[k[0]]:.0f}%)")
        f = floors.get(k)
        out.append(f"| {k[0]} | {k[1]} | " + " | ".join(cells) +
                   f" | {fmt(f and f['floor_ms'], 1)} | {fmt(f and f['floor_gflops'], 1)} |")
    coldrows = [r for r in sh if "gflops_cold_median" in r]
    if coldrows:
        out.append("\nWith cold weights (B rotating over one copy per layer, as a forward walks its layers), "
                   "GFLOP/s: " + "; ".join(
                       f"t{k[0]} b{k[1]}: " + ", ".join(f"{r['shape']} {r['gflops_cold_median']:.0f}"
                                                        for r in coldrows if (r["threads"], r["batch"]) == k)
                       for k in sorted({(r["threads"], r["batch"]) for r in coldrows})))
        out.append("Floor with cold weights, ms: " + ", ".join(
            f"t{k[0]} b{k[1]} {f['floor_cold_ms']:.1f}" for k, f in sorted(floors.items()) if "floor_cold_ms" in f))
    if sh:
        r0 = {r["shape"]: r for r in sh if r["batch"] == sh[0]["batch"]}
        out.append("\nShapes (m × n × k, calls per forward at batch 1): " + ", ".join(
            f"{n} {r['m']}×{r['n']}×{r['k']} ×{r['calls_per_forward']:.0f}" for n, r in r0.items()))
    out.append("")

    ops = [r for r in recs if r.get("impl") == "socle_ops"]
    if ops:
        out.append("## Where socle's forward time goes (ms per forward, mean of the runs; in brackets the "
                   "same op's sgemm floor, weights hot / cold)\n")
        names = list(ops[0]["ops"])
        out.append("| threads | batch | forward | " + " | ".join(names) + " | all sgemm | non-sgemm | sgemm floor |")
        out.append("|---|---|---|" + "---|" * (len(names) + 3))
        for r in ops:
            cells = []
            for n in names:
                o = r["ops"][n]
                fl = f" ({o['floor_ms']:.1f})" if o["floor_ms"] >= 0 else ""
                if o.get("floor_cold_ms", -1) >= 0 and abs(o["floor_cold_ms"] - o["floor_ms"]) > 1e-6:
                    fl = f" ({o['floor_ms']:.1f} / {o['floor_cold_ms']:.1f})"
                cells.append(f"{o['ms']:.1f}{fl}")
            cold = f" / {r['floor_cold_ms']:.1f}" if r.get("floor_cold_ms", 0) > 0 else ""
            out.append(f"| {r['threads']} | {r['batch']} | {r['forward_ms']:.1f} | " + " | ".join(cells) +
                       f" | {r['sgemm_ms']:.1f} | {r['non_sgemm_ms']:.1f} | {r['floor_ms']:.1f}{cold} |")
        out.append("\nqkv floor is for three separate products as the engine issues them; one fused "
                   "(n, 3·d) product: " + ", ".join(f"t{r['threads']} b{r['batch']} {r['qkv_fused_floor_ms']:.1f} ms"
                                                    for r in ops))
        out.append("")
    wk = [r for r in recs if r.get("impl") == "socle_workers"]
    for r in wk:
        k = (r["workers"], r["batch"])
        o, s1 = ort.get(k), socle.get(k)
        out.append(f"socle {r['workers']} workers × 1 OpenBLAS thread, batch {r['batch']}: {r['seq_per_s']:.2f} seq/s "
                   f"({r['gflops']:.1f} GFLOP/s, CPU/wall {r['cpu_over_wall']:.2f})"
                   + (f"; vs socle 1 × {k[0]} threads {r['seq_per_s'] / s1['seq_per_s']:.2f}×" if s1 else "")
                   + (f"; vs ORT {k[0]} threads {r['seq_per_s'] / o['seq_per_s']:.2f}×" if o else ""))
    if wk:
        out.append("")
    prof = [r for r in recs if r.get("impl") == "ort" and "profile" in r]
    for r in prof:
        out.append(f"ONNX Runtime profile, {r['threads']} thread(s), {r['profile']}: " + ", ".join(
            f"{o['op']} {100 * o['share']:.1f}% (×{o['nodes_per_run']:g})" for o in r["ops"] if o["share"] >= 0.001))
        out.append("")
    cw = [r for r in socle.values() if "cpu_over_wall" in r]
    if cw:
        out.append("socle CPU time / wall time per forward (1.0 per thread when it had its cores): " + ", ".join(
            f"t{r['threads']} b{r['batch']} {r['cpu_over_wall']:.2f}" for r in cw))
        out.append("")

    rss = [r for r in recs if r.get("rss")]
    if rss:
        out.append("## Memory\n")
        out.append("| batch | weights MB | max RSS after load MB | max RSS after load + 1 forward MB | RSS / weights |")
        out.append("|---|---|---|---|---|")
        for r in rss:
            out.append(f"| {r['batch']} | {r['weights_bytes'] / 1e6:.1f} | {r['maxrss_after_load_kb'] * 1024 / 1e6:.1f} | "
                       f"{r['maxrss_after_forward_kb'] * 1024 / 1e6:.1f} | {r['rss_over_weights']:.3f} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
