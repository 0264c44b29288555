"""Daily retraining on MovieLens-100K in time order: retrain from scratch against a warm start on the new day only.

Writes docs/incremental.md and docs/incremental.png. Usage:
python benchmarks/incremental.py [--days 8] [--models kdef student] [--seeds 0 1] [--data ../shared/data]

The 100,000 ratings, sorted by time, are cut into ``--days`` consecutive chunks. Day 0 trains on chunk 0.
On each later day d, (a) a new encoder and model are fitted on chunks 0..d and (b) the model of day d - 1 is
warm-started on chunk d alone, its encoder grown with ``FieldEncoder.partial_fit`` (new users and items get
rows of their own, learned rows are kept); both are scored on chunk d + 1, the future. Early stopping uses the
newest tenth of chunk d for both, so they see the same validation rows and neither sees the test day. Run it on
an idle machine: it times every fit.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from skctr import FieldEncoder, KDEFClassifier, StudentClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_options, device_name, mean_std, raw_rows_block, read_json_rows, test_scores  # noqa: E402

MODELS = {
    "kdef": ("KDEFClassifier() (3 MLP students)", KDEFClassifier),
    "student": ("StudentClassifier() (one MLP)", StudentClassifier),
}
#: Both ways of training share every setting; 1024-row batches give a day's ~11k rows a dozen steps an epoch.
PARAMS = {"batch_size": 1024}
#: Warm starts fine-tune at a third of the learning rate that trains from scratch (chosen on days 1-4, seed 0).
WARM_LR_SHARE = 1 / 3
VALID_SHARE = 0.1


def load_days(folder: Path, n_days: int) -> list[pd.DataFrame]:
    frame = pd.concat([pd.read_parquet(folder / f"{s}.parquet") for s in ("train", "valid", "test")])
    frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    bounds = np.linspace(0, len(frame), n_days + 1).round().astype(int)
    return [frame.iloc[start:stop].reset_index(drop=True) for start, stop in zip(bounds[:-1], bounds[1:])]


def new_encoder() -> FieldEncoder:
    return FieldEncoder(sequence={"hist_items": {"target": "item_id", "max_len": 20}, "genres": {}},
                        sequence_order="newest_first", unknown_share_warning=None)  # new users are the norm here


def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["label", "ts"])


def split_valid(day: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day without its newest tenth, and that tenth (the early-stopping rows)."""
    cut = int(round(len(day) * (1 - VALID_SHARE)))
    return day.iloc[:cut], day.iloc[cut:]


def fit(model, encoder, train: pd.DataFrame, valid: pd.DataFrame) -> float:
    """Fit ``model`` on encoded ``train`` with ``valid`` for early stopping; the seconds taken, encoding included."""
    start = time.perf_counter()
    model.fit(encoder.transform(features(train)), train["label"].to_numpy(),
              eval_set=(encoder.transform(features(valid)), valid["label"].to_numpy()))
    return time.perf_counter() - start


def scores(model, encoder, test: pd.DataFrame) -> dict:
    probability = model.predict_proba(encoder.transform(features(test)))[:, 1]
    return test_scores(test["label"].to_numpy(), probability)


def run(name: str, seed: int, days: list[pd.DataFrame], device: str) -> list[dict]:
    """Rows of one model and seed: day 0, then per later day a retrained and a warm-started result."""
    estimator = MODELS[name][1]
    rows = []
    train, valid = split_valid(days[0])
    encoder = new_encoder().fit(features(train))
    model = estimator(random_state=seed, device=device, warm_start=True, **PARAMS)
    seconds = fit(model, encoder, train, valid)
    rows.append({"model": name, "seed": seed, "day": 0, "mode": "initial", "train_rows": len(train),
                 "fit_seconds": round(seconds, 2), "epochs": len(model.history_), **scores(model, encoder, days[1])})
    warm_model, warm_encoder = model.set_params(lr=model.lr * WARM_LR_SHARE), encoder
    for day in range(1, len(days) - 1):
        train, valid = split_valid(days[day])
        history = pd.concat([*days[:day], train])
        scratch_encoder = new_encoder().fit(features(history))
        scratch = estimator(random_state=seed, device=device, **PARAMS)
        seconds = fit(scratch, scratch_encoder, history, valid)
        rows.append({"model": name, "seed": seed, "day": day, "mode": "retrain", "train_rows": len(history),
                     "fit_seconds": round(seconds, 2), "epochs": len(scratch.history_),
                     **scores(scratch, scratch_encoder, days[day + 1])})
        start = time.perf_counter()
        warm_encoder = copy.deepcopy(warm_encoder).partial_fit(features(train))
        grow_seconds = time.perf_counter() - start
        seconds = fit(warm_model, warm_encoder, train, valid) + grow_seconds
        new_ids = {f.name: f.vocab_size for f in warm_encoder.field_spec_ if f.name in ("user_id", "item_id")}
        rows.append({"model": name, "seed": seed, "day": day, "mode": "warm_start", "train_rows": len(train),
                     "fit_seconds": round(seconds, 2), "epochs": len(warm_model.history_),
                     "vocabulary": new_ids, **scores(warm_model, warm_encoder, days[day + 1])})
        for row in rows[-2:]:
            print(json.dumps(row), flush=True)
    return rows


def summary(rows) -> pd.DataFrame:
    """Per model and later day: mean AUC, logloss and fit seconds of both modes over seeds."""
    frame = pd.DataFrame([r for r in rows if r["mode"] != "initial"])
    return frame.groupby(["model", "day", "mode"])[["auc", "logloss", "fit_seconds"]].mean().unstack("mode")


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary(rows)
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, color in zip(models, ("tab:blue", "tab:orange")):
        part = table.loc[name]
        for mode, style in (("retrain", "o-"), ("warm_start", "s--")):
            label = f"{name}: {'retrain from scratch' if mode == 'retrain' else 'warm start on the new day'}"
            axes[0].plot(part.index, part[("auc", mode)], style, color=color, label=label)
            axes[1].plot(part.index, part[("fit_seconds", mode)], style, color=color, label=label)
    axes[0].set_ylabel("test AUC on the next day")
    axes[1].set_ylabel("fit seconds")
    for ax in axes:
        ax.set_xlabel("day")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_report(rows, output: Path, command: str, device: str) -> None:
    image = output.with_suffix(".png")
    plot(rows, image)
    table = summary(rows)
    n_days = max(r["day"] for r in rows) + 2
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "# Daily retraining: warm start against retraining from scratch",
        "",
        f"MovieLens-100K (all 100,000 ratings in time order, cut into {n_days} consecutive days of about "
        f"{100000 // n_days:,} rows); on each day the model is retrained from scratch on every day so far, or the "
        "previous day's model is warm-started on the new day alone (`warm_start=True`, its encoder grown with "
        "`FieldEncoder.partial_fit`), and both are scored on the next day. Early stopping reads the newest tenth of "
        f"the new day for both. Settings: defaults with {PARAMS}, warm starts at {WARM_LR_SHARE:.2g} of the learning "
        f"rate; seeds {seeds}; {device_name(device)}; "
        f"{date.today()}. Produced by `{command}`.",
        "",
        f"![test AUC and fit time per day]({image.name})",
        "",
        "| model | day | retrain AUC | warm AUC | warm - retrain | retrain logloss | warm logloss | retrain s | warm s | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, day), r in table.iterrows():
        lines.append(
            f"| {MODELS[name][0]} | {day} | {r[('auc', 'retrain')]:.4f} | {r[('auc', 'warm_start')]:.4f} | "
            f"{r[('auc', 'warm_start')] - r[('auc', 'retrain')]:+.4f} | {r[('logloss', 'retrain')]:.4f} | "
            f"{r[('logloss', 'warm_start')]:.4f} | {r[('fit_seconds', 'retrain')]:.1f} | "
            f"{r[('fit_seconds', 'warm_start')]:.1f} | {r[('fit_seconds', 'warm_start')] / r[('fit_seconds', 'retrain')]:.2f} |"
        )
    lines += ["", "Over all later days (mean ± standard deviation over days, each day averaged over seeds):", "",
              "| model | warm - retrain AUC | warm - retrain logloss | warm / retrain fit time (total) |",
              "|---|---|---|---|"]
    for name in dict.fromkeys(r["model"] for r in rows):
        part = table.loc[name]
        ratio = part[("fit_seconds", "warm_start")].sum() / part[("fit_seconds", "retrain")].sum()
        lines.append(f"| {MODELS[name][0]} | {mean_std(part[('auc', 'warm_start')] - part[('auc', 'retrain')], 4)} | "
                     f"{mean_std(part[('logloss', 'warm_start')] - part[('logloss', 'retrain')], 4)} | {ratio:.2f} |")
    lines += ["", *raw_rows_block(rows)]
    output.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["kdef", "student"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (quick runs)")
    add_run_options(parser, "incremental.md")
    args = parser.parse_args(argv)
    output = Path(args.output)
    command = f"python benchmarks/incremental.py --days {args.days} --models {' '.join(args.models)} " \
              f"--seeds {' '.join(map(str, args.seeds))}"
    if args.merge:
        rows = [row for path in args.merge for row in read_json_rows(path)]
        write_report(rows, output, command, args.device)
        return
    if args.max_epochs is not None:
        PARAMS["max_epochs"] = args.max_epochs
    days = load_days(Path(args.data) / "movielens100k", args.days)
    rows = []
    for seed in args.seeds:
        for name in args.models:
            rows += run(name, seed, days, args.device)
            write_report(rows, output, command, args.device)
    print(f"wrote {output} and {output.with_suffix('.png')}")


if __name__ == "__main__":
    main()
