"""Defaults on every data set: each estimator as a new user fits it, against one MLP, LightGBM and one-hot logistic
regression; writes docs/robustness.md.

Usage: python benchmarks/robustness.py [--datasets criteo10k ...] [--models kdef lightgbm ...] [--seeds 0 1 2]
       python benchmarks/robustness.py --models mlp --params '{"batch_norm": true}'   (an ablation of the defaults)
       python benchmarks/robustness.py --merge docs/robustness.md part.md   (join reports, fit nothing)
Each data set is encoded as its README describes (list columns multi-valued, histories sharing the item's
vocabulary, Criteo's counts log-bucketed); every skctr estimator then runs with its default parameters and
``random_state=seed``, early-stopped on the validation split, scored on the test split. The baselines come from
benchmarks/baselines.py (LightGBM as in the published reference runs, logistic regression with C picked on
validation). Ranks are per data set, by mean test AUC (1 is best). Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from skctr import CETNetClassifier, FieldEncoder, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines  # noqa: E402
from _common import add_run_options, fit_and_score, machine, mean_std, raw_rows_block, read_json_rows  # noqa: E402

#: The encoder a user reading each data set's README would write, and the gAUC group column.
DATASETS = {
    "frappe": ({}, None),
    "movielens100k": (
        {"sequence": {"hist_items": {"target": "item_id", "max_len": 20}, "genres": {}}, "sequence_order": "newest_first"},
        "user_id",
    ),
    "movielens100k_binary": ({}, "user_id"),
    "criteo10k": ({"numeric": [f"I{i}" for i in range(1, 14)], "numeric_encoding": "log_bucket"}, None),
    "amazon_games": (
        {"sequence": {"hist_items": {"target": "item_id", "max_len": 20}}, "sequence_order": "newest_first"}, "user_id",
    ),
}
#: Columns that are not features.
NOT_FEATURES = ("label", "ts")
SKCTR_MODELS = {
    "mlp": ("StudentClassifier() (one MLP)", StudentClassifier),
    "kdef": ("KDEFClassifier() (3 MLPs)", KDEFClassifier),
    "kdef_latest": ('KDEFClassifier(students="latest")', lambda **kw: KDEFClassifier(students="latest", **kw)),
    "tf4ctr": ("TF4CTRClassifier()", TF4CTRClassifier),
    "cetnet": ("CETNetClassifier()", CETNetClassifier),
    "final": ("FINALClassifier() (FINAL 1B)", FINALClassifier),
}
BASELINES = {"lightgbm": "LightGBM", "logistic": "LogisticRegression (one-hot)"}
LABELS = {**{k: v[0] for k, v in SKCTR_MODELS.items()}, **BASELINES}


def read_splits(folder: Path, name: str) -> dict[str, pd.DataFrame]:
    return {s: pd.read_parquet(folder / name / f"{s}.parquet") for s in ("train", "valid", "test")}


def encoded_splits(frames: dict, name: str):
    """``[(X, y)]`` of train, valid and test through the data set's FieldEncoder (fitted on train), and the test
    groups."""
    options, group = DATASETS[name]
    features = {s: f.drop(columns=[c for c in NOT_FEATURES if c in f]) for s, f in frames.items()}
    encoder = FieldEncoder(**options).fit(features["train"])
    splits = [(encoder.transform(features[s]), frames[s]["label"].to_numpy()) for s in ("train", "valid", "test")]
    return splits, (frames["test"][group].to_numpy() if group else None)


def run_skctr(model: str, seed: int, splits, groups, max_epochs=None, device="auto", params=None) -> dict:
    estimator = SKCTR_MODELS[model][1](random_state=seed, device=device, **(params or {}))
    if max_epochs:
        estimator.set_params(max_epochs=max_epochs)
    row = fit_and_score(estimator, splits, groups)
    row.update(batch_size=estimator.batch_size_, batch_norm=estimator.batch_norm_)
    if hasattr(estimator, "prediction_"):
        row["prediction"] = estimator.prediction_
    return row


def run_baseline(model: str, seed: int, frames: dict, name: str) -> dict:
    rows = baselines.run_frames(frames, name, seed, models=[BASELINES[model]])
    return {k: v for k, v in rows[0].items() if k not in ("data", "model")}


def ranks(rows) -> dict:
    """``{(data, model): rank}`` of the models at their defaults, 1 for the highest mean test AUC of each data set."""
    defaults = [r for r in rows if not r.get("params")]
    if not defaults:  # an ablation run alone
        return {}
    table = pd.DataFrame(defaults).groupby(["data", "model"])["test_auc"].mean()
    return table.groupby(level="data").rank(ascending=False, method="min").astype(int).to_dict()


def summary_lines(rows) -> list[str]:
    rank = ranks(rows)
    lines = []
    for data in dict.fromkeys(r["data"] for r in rows):
        lines += [f"### {data}", "", "| rank | model | seeds | test AUC | test logloss | test gAUC | prediction from | fit time |",
                  "|---|---|---|---|---|---|---|---|"]
        models = sorted({r["model"] for r in rows if r["data"] == data and not r.get("params")}, key=lambda m: rank[(data, m)])
        for model in models:
            group = [r for r in rows if r["data"] == data and r["model"] == model and not r.get("params")]
            column = lambda key: mean_std([r[key] for r in group]) if all(key in r for r in group) else ""  # noqa: E731
            sources = ", ".join(sorted({r["prediction"] for r in group if "prediction" in r}))
            lines.append(
                f"| {rank[(data, model)]} | {LABELS[model]} | {len(group)} | {column('test_auc')} | {column('test_logloss')} | "
                f"{column('test_gauc')} | {sources} | {np.mean([r['fit_seconds'] for r in group]):.0f} s |"
            )
        lines.append("")
    return lines


def ablation_lines(rows) -> list[str]:
    """Every model run with changed parameters, next to the same model at its defaults."""
    changed = list(dict.fromkeys((r["data"], r["model"], json.dumps(r["params"])) for r in rows if r.get("params")))
    if not changed:
        return []
    lines = ["Ablations (the same models with parameters changed; the defaults' row first):", "",
             "| data | model | parameters | seeds | test AUC | test logloss |", "|---|---|---|---|---|---|"]
    # Each changed run follows the defaults' row of its data set and model.
    for data, model, params in dict.fromkeys(key for d, m, p in changed for key in ((d, m, "{}"), (d, m, p))):
        group = [r for r in rows if (r["data"], r["model"], json.dumps(r.get("params") or {})) == (data, model, params)]
        if group:
            lines.append(f"| {data} | {LABELS[model]} | `{params}` | {len(group)} | {mean_std([r['test_auc'] for r in group])} | "
                         f"{mean_std([r['test_logloss'] for r in group])} |")
    return lines + [""]


def mean_rank_lines(rows) -> list[str]:
    rank = ranks(rows)
    data_sets = list(dict.fromkeys(r["data"] for r in rows))
    lines = ["| model | " + " | ".join(data_sets) + " | mean rank |", "|---|" + "---|" * (len(data_sets) + 1)]
    for model in LABELS:
        cells = [rank.get((d, model)) for d in data_sets]
        if all(c is None for c in cells):
            continue
        known = [c for c in cells if c is not None]
        lines.append(f"| {LABELS[model]} | " + " | ".join("" if c is None else str(c) for c in cells)
                     + f" | {np.mean(known):.1f} |")
    return lines + [""]


def write_report(rows, path: Path) -> None:
    lines = [
        "# Defaults on every data set",
        "",
        f"Produced by `python benchmarks/robustness.py` on {machine()}, {date.today()}. Every data set of",
        "`../shared/data`, encoded as its README describes; every skctr estimator with its default parameters",
        "(`random_state=seed`), early-stopped on the validation split; test-split figures, mean ± sample standard",
        "deviation over seeds. \"prediction from\" is what the fitted estimator predicts with (`prediction_`: the",
        "ensemble, or its best member when that scored higher on validation). LightGBM and logistic regression are",
        "those of [baselines](baselines.md); list columns enter them as lengths (and history membership).",
        "",
        "Rank of every model on each data set (by mean test AUC, 1 is best):",
        "",
        *mean_rank_lines(rows),
        *summary_lines(rows),
        *ablation_lines(rows),
        *raw_rows_block(rows),
    ]
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (smoke runs)")
    parser.add_argument("--params", type=json.loads, default=None, help="JSON parameters for every skctr model (ablations)")
    add_run_options(parser, "robustness.md")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if args.merge:
        write_report([row for path in args.merge for row in read_json_rows(path)], output)
        print(f"wrote {output}")
        return
    models = [m for m in args.models if m != "lightgbm" or importlib.util.find_spec("lightgbm") is not None]
    rows = []
    for name in args.datasets:
        frames = read_splits(Path(args.data), name)
        splits, groups = encoded_splits(frames, name)
        for model in models:
            for seed in args.seeds:
                if model in SKCTR_MODELS:
                    result = run_skctr(model, seed, splits, groups, args.max_epochs, args.device, args.params)
                    result["params"] = args.params or {}
                else:
                    result = run_baseline(model, seed, frames, name)
                rows.append({"data": name, "model": model, "seed": seed, **result})
                print(json.dumps(rows[-1]), flush=True)
                write_report(rows, output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
