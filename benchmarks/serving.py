"""Serving cost of an ensemble against its best_student_, in Python and exported to ONNX; writes docs/serving.md.

Usage: python benchmarks/serving.py [--students 3 6 10] [--repeats 200] [--data ../shared/data]
KDEF ensembles of MLP students ([400, 400, 400], embedding 16) are fitted for one epoch on Frappe (the
weights' quality does not change the cost), then ``predict_proba`` is timed on encoded rows (what a server
holds after encoding) and on raw DataFrame rows (encoding included), and the graphs of
``skctr.serving.export_onnx`` are timed in ONNX Runtime (CPU, its default threads) on the encoded arrays.
Latency is the median over ``--repeats`` calls at batch 1 and over a tenth of that at batches 1024 and 4096.
Size is the pickled estimator, or the .onnx file. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from skctr import FieldEncoder, KDEFClassifier
from skctr.serving import export_onnx

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
        "batch1024_encoded_ms": latency_ms(model.predict_proba, encoded[:1024], max(repeats // 10, 3)),
        "batch4096_encoded_ms": latency_ms(model.predict_proba, encoded[:4096], max(repeats // 10, 3)),
        "batch1_raw_ms": latency_ms(pipeline_predict, raw.head(1), repeats),
        "size_mib": len(pickle.dumps(model)) / 2**20,
    }


def measure_onnx(model, student, encoder, raw, encoded, repeats, folder):
    """The same figures for the exported graph in ONNX Runtime, fed the split (ids, values) arrays."""
    import onnxruntime

    path = export_onnx(model, Path(folder) / f"model_{student}.onnx", student=student)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    spec = (model.best_student_ if student else model).field_spec_
    inputs = [i.name for i in session.get_inputs()]

    def run(array):
        ids, values = spec.split_columns(array)
        return session.run(None, {name: {"ids": ids, "values": values}[name] for name in inputs})

    return {
        "batch1_encoded_ms": latency_ms(run, encoded[:1], repeats),
        "batch1024_encoded_ms": latency_ms(run, encoded[:1024], max(repeats // 10, 3)),
        "batch4096_encoded_ms": latency_ms(run, encoded[:4096], max(repeats // 10, 3)),
        "batch1_raw_ms": latency_ms(lambda X: run(encoder.transform(X)), raw.head(1), repeats),
        "size_mib": path.stat().st_size / 2**20,
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
    has_onnx = all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnxscript"))
    folder = tempfile.mkdtemp(prefix="skctr-serving-")
    rows = []
    for n in args.students:
        model = KDEFClassifier(n_students=n, max_epochs=1, random_state=0).fit(encoded, y)
        measured = [("ensemble", lambda: measure(model, encoder, train, encoded, args.repeats)),
                    ("best_student_", lambda: measure(model.best_student_, encoder, train, encoded, args.repeats))]
        if has_onnx:
            measured += [
                (f"{name} (ONNX Runtime)", lambda student=student: measure_onnx(
                    model, student, encoder, train, encoded, args.repeats, folder))
                for name, student in (("ensemble", False), ("best_student_", True))
            ]
        for name, run in measured:
            row = {"students": n, "model": name, **run()}
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = [
        "# Serving: ensemble against best_student_",
        "",
        f"KDEF with MLP students [400, 400, 400], embedding 16, Frappe vocabulary; {machine()}; {date.today()}.",
        f"Produced by `python benchmarks/serving.py --students {' '.join(map(str, args.students))} --repeats {args.repeats}`.",
        "Latency is the median `predict_proba` time, or `InferenceSession.run` on the split (ids, values) arrays",
        "for the exported ONNX graphs (" + ("onnxruntime installed" if has_onnx else "onnxruntime not installed: no ONNX rows")
        + "); \"raw\" includes FieldEncoder.transform of a one-row DataFrame. Size: pickle, or the .onnx file.",
        "",
        "| students | model | batch 1, encoded (ms) | batch 1, raw (ms) | batch 1024, encoded (ms) | batch 4096, encoded (ms) | size (MiB) |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['students']} | {r['model']} | {r['batch1_encoded_ms']:.2f} | {r['batch1_raw_ms']:.2f} | "
          f"{r['batch1024_encoded_ms']:.1f} | {r['batch4096_encoded_ms']:.1f} | {r['size_mib']:.1f} |" for r in rows],
        "",
        "Ratios, ensemble in Python / each way of serving:",
        "",
        "| students | served | batch 1, encoded | batch 1, raw | batch 1024 | batch 4096 | size |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = ("batch1_encoded_ms", "batch1_raw_ms", "batch1024_encoded_ms", "batch4096_encoded_ms", "size_mib")
    for n in args.students:
        ens = next(r for r in rows if r["students"] == n and r["model"] == "ensemble")
        for other in (r for r in rows if r["students"] == n and r is not ens):
            lines.append(f"| {n} | {other['model']} | " + " | ".join(f"{ens[k] / other[k]:.2f}x" for k in keys) + " |")
    lines += ["", "```", *[json.dumps(r) for r in rows], "```", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
