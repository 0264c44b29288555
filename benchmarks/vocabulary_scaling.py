"""Training step time and peak memory against embedding-table rows, dense against row-sparse updates.

Writes docs/vocabulary_scaling.md and docs/vocabulary_scaling.png. Usage:
python benchmarks/vocabulary_scaling.py [--rows 10000 100000 1000000 4000000 10000000] [--threads 1 2]

The setting of the big-tables issue: batch 4096, 10 categorical fields of dimension 16, MLP [400, 400], the first
field's vocabulary V rows and the others 100 each, ids of the big field drawn Zipf-like. Each configuration runs
in its own process (so peak memory is its own): a StudentClassifier is fitted for one epoch on two batches, then
``--steps`` training steps of its net (loss, embedding penalty, clipping, optimizer) are timed, the median kept.
Peak memory is what the fit adds to the process's resident set at its highest (the process's peak less its size
before the fit), against the table's own size. Both modes run
side by side for every size and thread count, on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, raw_rows_block, read_json_rows  # noqa: E402

BATCH, FIELDS, DIM, SMALL_VOCAB = 4096, 10, 16, 100


def encoded_rows(n_rows: int, big_vocab: int, seed: int = 0):
    from skctr.fields import Field, FieldArray, FieldSpec

    rng = np.random.default_rng(seed)
    spec = FieldSpec([Field("big", "categorical", big_vocab)]
                     + [Field(f"f{i}", "categorical", SMALL_VOCAB) for i in range(1, FIELDS)])
    big = np.minimum(rng.zipf(1.2, n_rows) + 2, big_vocab - 1)  # popular ids first, a long tail
    small = rng.integers(3, SMALL_VOCAB, size=(n_rows, FIELDS - 1))
    y = rng.integers(0, 2, n_rows)
    return FieldArray(np.column_stack([big, small]).astype(np.float64), spec), y


def _resident_bytes() -> int:
    """The process's resident set now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure(big_vocab: int, sparse: bool, threads: int, steps: int) -> dict:
    """One configuration, in this process."""
    from skctr import StudentClassifier
    from skctr.estimators._data import FieldTensors

    torch.set_num_threads(threads)
    X, y = encoded_rows(2 * BATCH + steps * BATCH, big_vocab)
    model = StudentClassifier(hidden_units=(400, 400), embedding_dim=DIM, batch_size=BATCH, max_epochs=1,
                              random_state=0, device="cpu", sparse_embeddings=sparse, calibrate=False)
    before = _resident_bytes()
    model.fit(X[: 2 * BATCH], y[: 2 * BATCH], eval_set=(X[:BATCH], y[:BATCH]))
    peak_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    net = model.net_
    train = FieldTensors.from_array(np.asarray(X[2 * BATCH:]), model.field_spec_, y[2 * BATCH:].astype(np.float32))
    times = []
    for batch in net.get_iterator(train, training=True):
        start = time.perf_counter()
        net.train_step(batch)
        times.append(time.perf_counter() - start)
    table_bytes = sum(p.numel() * p.element_size() for n, p in net.module_.named_parameters() if n.endswith("embedding.weight"))
    return {"rows": big_vocab + (FIELDS - 1) * SMALL_VOCAB, "mode": "row-sparse" if sparse else "dense",
            "threads": threads, "step_ms": round(1e3 * float(np.median(times[1:] or times)), 1),
            "peak_fit_mib": round(peak_fit / 2**20), "table_mib": round(table_bytes / 2**20, 1),
            "peak_over_table": round(peak_fit / table_bytes, 2)}


def run_one(big_vocab, sparse, threads, steps) -> dict:
    command = [sys.executable, __file__, "--one", str(big_vocab), str(int(sparse)), str(threads), str(steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (mode, threads), style in zip([(m, t) for m in ("dense", "row-sparse") for t in (1, 2)], ("o-", "o--", "s-", "s--")):
        part = sorted((r for r in rows if r["mode"] == mode and r["threads"] == threads), key=lambda r: r["rows"])
        if part:
            ax.plot([r["rows"] for r in part], [r["step_ms"] for r in part], style, label=f"{mode}, {threads} thread(s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("embedding table rows")
    ax.set_ylabel("ms per training step (batch 4096)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_report(rows, output: Path, command: str) -> None:
    image = output.with_suffix(".png")
    plot(rows, image)
    lines = [
        "# Training step time and memory against table rows",
        "",
        f"Batch {BATCH}, {FIELDS} categorical fields of dimension {DIM}, MLP [400, 400]; one field holds most rows, "
        f"the others {SMALL_VOCAB} each. Through StudentClassifier's own training step (loss, embedding penalty, "
        "clipping, optimizer), median of the timed steps; peak memory is what a one-epoch fit adds to its own "
        f"process's resident set at the highest, against the table's size. {machine().split(',')[0]}, {date.today()}. Produced by `{command}`.",
        "",
        f"![step time against table rows]({image.name})",
        "",
        "| table rows | threads | dense ms/step | row-sparse ms/step | speed-up | dense peak / table | row-sparse peak / table | table MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keyed = {(r["rows"], r["threads"], r["mode"]): r for r in rows}
    for rows_, threads in sorted({(r["rows"], r["threads"]) for r in rows}):
        dense, sparse = keyed.get((rows_, threads, "dense")), keyed.get((rows_, threads, "row-sparse"))
        if not (dense and sparse):
            continue
        lines.append(f"| {rows_:,} | {threads} | {dense['step_ms']} | {sparse['step_ms']} | "
                     f"{dense['step_ms'] / sparse['step_ms']:.2f}x | {dense['peak_over_table']} | "
                     f"{sparse['peak_over_table']} | {dense['table_mib']} |")
    for threads in sorted({r["threads"] for r in rows}):
        part = sorted((r for r in rows if r["mode"] == "row-sparse" and r["threads"] == threads), key=lambda r: r["rows"])
        if len(part) > 1:
            lines.append("")
            lines.append(f"Row-sparse, {threads} thread(s): the step at {part[-1]['rows']:,} rows costs "
                         f"{part[-1]['step_ms'] / part[0]['step_ms']:.2f}x the step at {part[0]['rows']:,} rows.")
    lines += ["", *raw_rows_block(rows)]
    output.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000, 1_000_000, 4_000_000, 10_000_000])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--one", nargs=4, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--merge", nargs="+")
    parser.add_argument("--data", help="unused: the data are synthetic")
    parser.add_argument("--output", default=str(ROOT / "docs" / "vocabulary_scaling.md"))
    args = parser.parse_args(argv)
    if args.one:
        vocab, sparse, threads, steps = args.one
        print(json.dumps(measure(vocab, bool(sparse), threads, steps)))
        return
    output = Path(args.output)
    command = (f"python benchmarks/vocabulary_scaling.py --rows {' '.join(map(str, args.rows))} "
               f"--threads {' '.join(map(str, args.threads))} --steps {args.steps}")
    if args.merge:
        write_report([r for path in args.merge for r in read_json_rows(path)], output, command)
        return
    rows = []
    for vocab in args.rows:
        for threads in args.threads:
            for sparse in (False, True):
                rows.append(run_one(vocab - (FIELDS - 1) * SMALL_VOCAB, sparse, threads, args.steps))
                print(json.dumps(rows[-1]), flush=True)
                write_report(rows, output, command)
    print(f"wrote {output} and {output.with_suffix('.png')}")


if __name__ == "__main__":
    main()
