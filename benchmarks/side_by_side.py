"""Every estimator with default parameters on MovieLens-100K (histories, gAUC) and Criteo-10K (log-bucketed counts).

Usage: python benchmarks/side_by_side.py [--datasets movielens100k criteo10k] [--models student kdef tf4ctr cetnet]
       [--seeds 0 1 2] [--device auto] [--data ../shared/data] [--output docs/results_side_by_side.md]
       python benchmarks/side_by_side.py --merge a.md b.md
The models are those of benchmarks/frappe.py. MovieLens: the user's last 20 items as a sequence field sharing the
item vocabulary, genres multi-valued, gAUC grouped by ``user_id``. Criteo: ``I1``..``I13`` bucketed as
floor(ln(x)^2) for x > 2 (FieldEncoder's ``"log_bucket"``), ``C1``..``C26`` categorical, missing values a value
of their own. The report is rewritten after every fit; ``--merge`` joins reports run in separate processes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from skctr import FieldEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_options, device_name, fit_and_score, mean_std, raw_rows_block, read_json_rows  # noqa: E402
from frappe import LABELS, MODELS  # noqa: E402

DATASETS = ("movielens100k", "criteo10k")


def load(folder: Path, dataset: str):
    """Encoded (X, y) for train, valid and test, and the test rows' gAUC groups (None without users)."""
    frames = {s: pd.read_parquet(folder / dataset / f"{s}.parquet") for s in ("train", "valid", "test")}
    if dataset == "movielens100k":
        frames = {s: f.drop(columns="ts") for s, f in frames.items()}
        encoder = FieldEncoder(sequence={"hist_items": {"target": "item_id", "max_len": 20}, "genres": {}}, sequence_order="newest_first")
        groups = frames["test"]["user_id"].to_numpy()
    else:
        counts = [c for c in frames["train"] if c.startswith("I")]
        encoder = FieldEncoder(numeric=counts, numeric_encoding="log_bucket")
        groups = None
    encoder.fit(frames["train"].drop(columns="label"))
    splits = [(encoder.transform(f.drop(columns="label")), f["label"].to_numpy()) for f in frames.values()]
    return splits, groups


def label(row) -> str:
    if row["model"] == "cetnet":
        return f"CETNetClassifier() ({' + '.join(row['components'])})"
    return LABELS[row["model"]]


def run(dataset, name, seed, splits, groups, device, max_epochs=None):
    model = MODELS[name](seed).set_params(device=device)
    if max_epochs:
        model.set_params(max_epochs=max_epochs)
    row = {"data": dataset, "model": name, "seed": seed, "device": device_name(device),
           **fit_and_score(model, splits, groups)}
    row.pop("member_test", None)
    if hasattr(model, "components_"):
        row["components"] = [spec if isinstance(spec, str) else spec[0] for spec in model.components_]
    print(json.dumps(row), flush=True)
    return row


def write_report(rows, path):
    lines = [
        "# MovieLens-100K and Criteo-10K: every estimator side by side",
        "",
        "Default parameters, early stopping on the validation split, figures on the test split; mean ± sample",
        "standard deviation over seeds. MovieLens-100K: 80,000 / 10,000 / 10,000 rows split by time, gAUC by",
        "`user_id` (impression-weighted). Criteo-10K: 8,000 / 1,000 / 1,000 rows, counts log-bucketed.",
        "Produced by `python benchmarks/side_by_side.py`; the device is named per row.",
        "",
    ]
    frame = pd.DataFrame(rows)
    order = list(MODELS)
    for dataset in [d for d in DATASETS if d in set(frame["data"])]:
        part = frame[frame["data"] == dataset]
        gauc = "test_gauc" in part and part["test_gauc"].notna().any()
        lines += [
            f"## {dataset}",
            "",
            "| model | device | seeds | test AUC | " + ("test gAUC | " if gauc else "") + "test logloss | "
            "best student test AUC | epochs | fit time |",
            "|---|---|---|---|" + ("---|" if gauc else "") + "---|---|---|---|",
        ]
        for (name, device), group in sorted(part.groupby(["model", "device"]), key=lambda g: order.index(g[0][0])):
            best = group["best_student_test_auc"] if "best_student_test_auc" in group else pd.Series(dtype=float)
            cells = [label(group.iloc[0]), device, str(len(group)), mean_std(group["test_auc"])]
            if gauc:
                cells.append(mean_std(group["test_gauc"]))
            cells += [
                mean_std(group["test_logloss"]),
                mean_std(best) if best.notna().all() and len(best) else "",
                f"{group['epochs'].mean():.0f}", f"{group['fit_seconds'].mean():.0f} s",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += raw_rows_block(rows)
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=["student", "dcnv2", "final", "kdef", "latest", "tf4ctr", "cetnet"],
                        choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (smoke runs)")
    add_run_options(parser, "results_side_by_side.md")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if args.merge:
        write_report([row for path in args.merge for row in read_json_rows(path)], output)
        print(f"wrote {output}")
        return
    rows = []
    for dataset in args.datasets:
        splits, groups = load(Path(args.data), dataset)
        for name in args.models:
            for seed in args.seeds:
                rows.append(run(dataset, name, seed, splits, groups, args.device, args.max_epochs))
                write_report(rows, output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
