"""Frappe (Frappe_x1 split): default estimators against the published anchors; writes docs/results_frappe.md.

Usage: python benchmarks/frappe.py [--models kdef student] [--seeds 0] [--device auto] [--data ../shared/data]
       python benchmarks/frappe.py --merge a.md b.md --output docs/results_frappe_all.md
Run it on an idle machine: two OpenMP threads on two cores stall when another process takes a core.
The report is rewritten after every fit, so an interrupted run keeps what it finished; ``--merge`` joins the
raw rows of several reports (runs split across processes or machines) into one, with mean and standard
deviation over seeds.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from skctr import CETNetClassifier, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_options, device_name, fit_and_score, mean_std, raw_rows_block, read_json_rows  # noqa: E402

MODELS = {
    "student": lambda seed: StudentClassifier(random_state=seed),
    "student_sparse": lambda seed: StudentClassifier(random_state=seed, sparse_embeddings=True),
    "dcnv2": lambda seed: StudentClassifier(student="dcnv2", random_state=seed),
    "final": lambda seed: FINALClassifier(random_state=seed),
    "kdef2": lambda seed: KDEFClassifier(n_students=2, random_state=seed),
    "kdef": lambda seed: KDEFClassifier(random_state=seed),
    "kdef_sparse": lambda seed: KDEFClassifier(random_state=seed, sparse_embeddings=True),
    "kdef4": lambda seed: KDEFClassifier(n_students=4, random_state=seed),
    "kdef6": lambda seed: KDEFClassifier(n_students=6, random_state=seed),
    "kdef10": lambda seed: KDEFClassifier(n_students=10, random_state=seed),
    "latest": lambda seed: KDEFClassifier(students="latest", random_state=seed),
    "tf4ctr": lambda seed: TF4CTRClassifier(random_state=seed),
    "cetnet": lambda seed: CETNetClassifier(random_state=seed),
}
LABELS = {
    "dcnv2": 'StudentClassifier(student="dcnv2")',
    "final": "FINALClassifier() (FINAL 1B)",
    "kdef2": "KDEFClassifier(n_students=2)",
    "kdef": "KDEFClassifier() (3 MLP students)",
    "kdef_sparse": "KDEFClassifier(sparse_embeddings=True)",
    "kdef4": "KDEFClassifier(n_students=4)",
    "kdef6": "KDEFClassifier(n_students=6)",
    "kdef10": "KDEFClassifier(n_students=10)",
    "latest": 'KDEFClassifier(students="latest") (PNN, FINAL, ECN)',
    "student": "StudentClassifier() (one MLP)",
    "student_sparse": "StudentClassifier(sparse_embeddings=True)",
    "tf4ctr": "TF4CTRClassifier() (SER, WSF)",
    "cetnet": "CETNetClassifier() (DCNv2 + FINAL, one table each)",
}


def run(name, seed, splits, max_epochs=None, device="auto"):
    model = MODELS[name](seed).set_params(device=device)
    if max_epochs:
        model.set_params(max_epochs=max_epochs)
    row = {"model": name, "seed": seed, "device": device_name(device), **fit_and_score(model, splits)}
    if "member_test" in row:
        row["student_test_auc"] = [m["auc"] for m in row.pop("member_test").values()]
    print(json.dumps(row), flush=True)
    return row


def summary_lines(rows) -> list[str]:
    """One line per (model, device): mean ± sample standard deviation over its seeds."""
    lines = [
        "| model | device | seeds | test AUC | test logloss | best student test AUC | best student test logloss | epochs | fit time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r.get("device", "")), []).append(r)
    order = list(MODELS)
    for (name, device), group in sorted(groups.items(), key=lambda item: (order.index(item[0][0]), item[0][1])):
        def column(key, digits=5):
            return mean_std([r[key] for r in group], digits) if all(key in r for r in group) else ""
        lines.append(
            f"| {LABELS[name]} | {device} | {len(group)} | {column('test_auc')} | {column('test_logloss')} | "
            f"{column('best_student_test_auc')} | {column('best_student_test_logloss')} | "
            f"{np.mean([r['epochs'] for r in group]):.0f} | {np.mean([r['fit_seconds'] for r in group]):.0f} s |"
        )
    return lines


def write_report(rows, path, n_train):
    lines = [
        "# Frappe results",
        "",
        f"Frappe_x1 split from `../shared/data/frappe` ({n_train:,} training rows; 57,722 validation, 28,860 test), default parameters,",
        "early stopping on the validation split, figures on the test split. Produced by `python benchmarks/frappe.py`;",
        "mean ± sample standard deviation over seeds, then every run. Times depend on the device named.",
        "",
        *summary_lines(rows),
        "",
        "| model | device | seed | test AUC | test logloss | best student test AUC / logloss | epochs (best) | fit time | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        student = (f"{r['best_student_test_auc']:.5f} / {r['best_student_test_logloss']:.5f} (#{r['best_student']})"
                   if "best_student" in r else "")
        lines.append(
            f"| {LABELS[r['model']]} | {r.get('device', '')} | {r['seed']} | {r['test_auc']:.5f} | {r['test_logloss']:.5f} | "
            f"{student} | {r['epochs']} ({r['best_epoch']}) | {r['fit_seconds']:.0f} s | {r['seconds_per_epoch']} |"
        )
    lines += [
        "",
        "Published anchors (BARS, the FINAL and FinalMLP papers): best published deep model on Frappe_x1 FinalMLP 0.9861 AUC,",
        "FINAL 2B 0.9857 / 0.1311; plain DNN 0.9833-0.9842; tuned LightGBM on this local data 0.9868 / 0.1229.",
        "",
        *raw_rows_block(rows),
    ]
    path.write_text("\n".join(lines))


def read_rows(path) -> tuple[list[dict], int]:
    """The raw JSON rows and the training-set size of a report written by this script."""
    text = Path(path).read_text()
    return read_json_rows(path), int(re.search(r"\(([\d,]+) training rows", text).group(1).replace(",", ""))


def load(folder: Path, rows: int | None = None) -> list:
    """``[(X, y)]`` of the train, valid and test splits; ``rows`` keeps the first training rows only."""
    splits = []
    for split in ("train", "valid", "test"):
        frame = pd.read_parquet(folder / f"{split}.parquet")
        if split == "train" and rows:
            frame = frame.head(rows)
        splits.append((frame.drop(columns="label"), frame["label"].to_numpy()))
    return splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["kdef"], choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--rows", type=int, default=None, help="train on the first ROWS training rows (smoke runs)")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (smoke runs)")
    add_run_options(parser, "results_frappe.md")
    args = parser.parse_args(argv)
    if args.merge:
        parts = [read_rows(path) for path in args.merge]
        if len({n for _, n in parts}) > 1:
            raise SystemExit(f"cannot merge reports of different training sizes: {sorted({n for _, n in parts})}")
        write_report([row for rows, _ in parts for row in rows], Path(args.output), parts[0][1])
        print(f"wrote {args.output}")
        return
    splits = load(Path(args.data) / "frappe", args.rows)
    rows = []
    for name in args.models:
        for seed in args.seeds:
            rows.append(run(name, seed, splits, args.max_epochs, args.device))
            write_report(rows, Path(args.output), len(splits[0][1]))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
