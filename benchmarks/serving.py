"""Serving cost of an ensemble against its best_student_: latency at batch 1 and 4096, and size; writes docs/serving.md.

Usage: python benchmarks/serving.py [--students 3 6 10] [--repeats 200] [--data ../shared/data]
KDEF ensembles of MLP students ([400, 400, 400], embedding 16) are fitted for one epoch on Frappe (the
weights' quality does not change the cost), then ``predict_proba`` is timed on encoded rows (what a server
holds after encoding) and on raw DataFrame rows (encoding included). Latency is the median over
``--repeats`` calls at batch 1 and over a tenth of that at batch 4096. Size is the pickled estimator.
Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

from skctr import FieldEncoder, KDEFClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def latency_ms(predict, X, repeats):
    predict(X)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def measure(model, encoder, raw, encoded, repeats):
    pipeline_predict = lambda X: model.predict_proba(encoder.transform(X))  # noqa: E731
    return {
        "batch1_encoded_ms": latency_ms(model.predict_proba, encoded[:1], repeats),
        "batch4096_encoded_ms": latency_ms(model.predict_proba, encoded[:4096], max(repeats // 10, 3)),
        "batch1_raw_ms": latency_ms(pipeline_predict, raw.head(1), repeats),
        "size_mib": len(pickle.dumps(model)) / 2**20,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[3, 6, 10])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rows", type=int, default=None, help="fit on the first ROWS training rows (default: all)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "serving.md"))
    args = parser.parse_args(argv)
    train = pd.read_parquet(Path(args.data) / "frappe" / "train.parquet")
    if args.rows:
        train = train.head(args.rows)
    y = train.pop("label").to_numpy()
    encoder = FieldEncoder().fit(train)
    encoded = encoder.transform(train)
    rows = []
    for n in args.students:
        model = KDEFClassifier(n_students=n, max_epochs=1, random_state=0).fit(encoded, y)
        for name, estimator in (("ensemble", model), ("best_student_", model.best_student_)):
            row = {"students": n, "model": name, **measure(estimator, encoder, train, encoded, args.repeats)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = [
        "# Serving: ensemble against best_student_",
        "",
        f"KDEF with MLP students [400, 400, 400], embedding 16, Frappe vocabulary; {machine()}; {date.today()}.",
        f"Produced by `python benchmarks/serving.py --students {' '.join(map(str, args.students))} --repeats {args.repeats}`.",
        "Latency is the median `predict_proba` time; \"raw\" includes FieldEncoder.transform of a one-row DataFrame.",
        "",
        "| students | model | batch 1, encoded (ms) | batch 1, raw (ms) | batch 4096, encoded (ms) | pickled size (MiB) |",
        "|---|---|---|---|---|---|",
        *[f"| {r['students']} | {r['model']} | {r['batch1_encoded_ms']:.2f} | {r['batch1_raw_ms']:.2f} | "
          f"{r['batch4096_encoded_ms']:.1f} | {r['size_mib']:.1f} |" for r in rows],
        "",
        "Ratios, ensemble / best_student_:",
        "",
        "| students | batch 1, encoded | batch 1, raw | batch 4096 | size |",
        "|---|---|---|---|---|",
    ]
    for n in args.students:
        ens, best = (next(r for r in rows if r["students"] == n and r["model"] == m) for m in ("ensemble", "best_student_"))
        lines.append(
            f"| {n} | {ens['batch1_encoded_ms'] / best['batch1_encoded_ms']:.2f}x | {ens['batch1_raw_ms'] / best['batch1_raw_ms']:.2f}x | "
            f"{ens['batch4096_encoded_ms'] / best['batch4096_encoded_ms']:.2f}x | {ens['size_mib'] / best['size_mib']:.2f}x |"
        )
    lines += ["", "```", *[json.dumps(r) for r in rows], "```", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
