"""MovieLens-100K with behaviour sequences: CETNet against its components trained alone; writes docs/results_movielens.md.

Usage: python benchmarks/movielens.py [--models cetnet interformer dhen ...] [--seeds 0] [--data ../shared/data]
Every model reads the same encoding: ``hist_items`` is a history of ``item_id`` (shared vocabulary and table),
``genres`` a multi-valued field. gAUC groups the test rows by ``user_id``. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from skctr import CETNetClassifier, FieldEncoder, KDEFClassifier, StudentClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fit_and_score, machine, raw_rows_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "cetnet": lambda seed: CETNetClassifier(random_state=seed),
    "cetnet_din": lambda seed: CETNetClassifier(components=["din", "dhen"], random_state=seed),
    "interformer": lambda seed: StudentClassifier("interformer", random_state=seed),
    "dhen": lambda seed: StudentClassifier("dhen", random_state=seed),
    "din": lambda seed: StudentClassifier("din", random_state=seed),
    "mlp": lambda seed: StudentClassifier(random_state=seed),
    "mlp_sparse": lambda seed: StudentClassifier(random_state=seed, sparse_embeddings=True),
    "kdef": lambda seed: KDEFClassifier(random_state=seed),
    "kdef_sparse": lambda seed: KDEFClassifier(random_state=seed, sparse_embeddings=True),
}
LABELS = {
    "cetnet": "CETNetClassifier() (InterFormer + DHEN)",
    "cetnet_din": 'CETNetClassifier(components=["din", "dhen"])',
    "interformer": 'StudentClassifier("interformer")',
    "dhen": 'StudentClassifier("dhen")',
    "din": 'StudentClassifier("din")',
    "mlp": "StudentClassifier() (MLP, history mean-pooled)",
    "mlp_sparse": "StudentClassifier(sparse_embeddings=True)",
    "kdef": "KDEFClassifier()",
    "kdef_sparse": "KDEFClassifier(sparse_embeddings=True)",
}


def load(folder: Path):
    frames = {s: pd.read_parquet(folder / f"{s}.parquet").drop(columns="ts") for s in ("train", "valid", "test")}
    encoder = FieldEncoder(sequence={"hist_items": {"target": "item_id", "max_len": 20}, "genres": {}}, sequence_order="newest_first")
    encoder.fit(frames["train"].drop(columns="label"))
    splits = [(encoder.transform(f.drop(columns="label")), f["label"].to_numpy()) for f in frames.values()]
    return splits, frames["test"]["user_id"].to_numpy()


def summary_lines(rows):
    lines = []
    for name in dict.fromkeys(r["model"] for r in rows):
        runs = [r for r in rows if r["model"] == name]
        cells = []
        for key in ("test_auc", "test_gauc", "test_logloss"):
            values = np.array([r[key] for r in runs])
            cells.append(f"{values.mean():.5f} ± {values.std(ddof=1):.5f}" if len(runs) > 1 else f"{values[0]:.5f}")
        lines.append(f"| {LABELS[name]} | {len(runs)} | " + " | ".join(cells) + " |")
    return lines


def write_report(rows, path):
    lines = [
        "# MovieLens-100K results",
        "",
        "`../shared/data/movielens100k` (80,000 / 10,000 / 10,000 rows split by time; label = rating >= 4), default",
        "parameters, early stopping on the validation split, figures on the test split; gAUC groups by `user_id`",
        f"(impression-weighted). Produced by `python benchmarks/movielens.py` on {machine()}.",
        "",
        "Mean and standard deviation over seeds:",
        "",
        "| model | seeds | test AUC | test gAUC | test logloss |",
        "|---|---|---|---|---|",
        *summary_lines(rows),
        "",
        "Every run:",
        "",
        "| model | seed | test AUC | test gAUC | test logloss | epochs (best) | fit time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {LABELS[r['model']]} | {r['seed']} | {r['test_auc']:.5f} | {r['test_gauc']:.5f} | {r['test_logloss']:.5f} | "
            f"{r['epochs']} ({r['best_epoch']}) | {r['fit_seconds']:.0f} s |"
        )
    members = [r for r in rows if "member_test" in r]
    if members:
        lines += ["", "Components inside the ensemble (test, calibrated), and the extracted `best_student_`:", "",
                  "| model | seed | component | AUC | gAUC | logloss |", "|---|---|---|---|---|---|"]
        for r in members:
            for name, s in r["member_test"].items():
                lines.append(f"| {LABELS[r['model']]} | {r['seed']} | {name} | {s['auc']:.5f} | {s['gauc']:.5f} | {s['logloss']:.5f} |")
            lines.append(
                f"| {LABELS[r['model']]} | {r['seed']} | `best_student_` (#{r['best_student']}, serves "
                f"{r['best_student_speedup']}x faster) | {r['best_student_test_auc']:.5f} | {r['best_student_test_gauc']:.5f} | "
                f"{r['best_student_test_logloss']:.5f} |"
            )
    lines += ["", *raw_rows_block(rows)]
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cetnet", "interformer", "dhen"], choices=sorted(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (smoke runs)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "results_movielens.md"))
    args = parser.parse_args(argv)
    splits, test_users = load(Path(args.data) / "movielens100k")
    rows = []
    for name in args.models:
        for seed in args.seeds:
            model = MODELS[name](seed)
            if args.max_epochs:
                model.set_params(max_epochs=args.max_epochs)
            row = {"model": name, "seed": seed, **fit_and_score(model, splits, test_users)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    write_report(rows, Path(args.output))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
