"""``mixed_precision`` on Frappe: test AUC, logloss and seconds per epoch in float32, bf16 and fp16; writes
docs/mixed_precision.md.

Usage: python benchmarks/mixed_precision.py [--models student kdef] [--seeds 0] [--device cuda] [--data ../shared/data]
Meant for a GPU (bf16 needs Ampere or newer for speed); on a CPU without native bf16 the reduced precisions are
slower, not faster.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, fit_and_score, mean_std  # noqa: E402
from frappe import LABELS, MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = (None, "bf16", "fp16")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["student", "kdef"], choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--rows", type=int, default=None, help="train on the first ROWS training rows (smoke runs)")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "mixed_precision.md"))
    args = parser.parse_args(argv)
    splits = []
    for split in ("train", "valid", "test"):
        frame = pd.read_parquet(Path(args.data) / "frappe" / f"{split}.parquet")
        if split == "train" and args.rows:
            frame = frame.head(args.rows)
        splits.append((frame.drop(columns="label"), frame["label"].to_numpy()))
    rows = []
    for name in args.models:
        for precision in PRECISIONS:
            for seed in args.seeds:
                model = MODELS[name](seed).set_params(device=args.device, mixed_precision=precision)
                if args.max_epochs:
                    model.set_params(max_epochs=args.max_epochs)
                row = {"model": name, "precision": precision or "fp32", "seed": seed, "device": device_name(args.device),
                       **fit_and_score(model, splits)}
                row.pop("member_test", None)
                rows.append(row)
                print(json.dumps(row), flush=True)
    frame = pd.DataFrame(rows)
    lines = [
        "# Mixed precision",
        "",
        f"Frappe_x1, default parameters, `mixed_precision` as shown, on {rows[0]['device']}; {date.today()}.",
        f"Produced by `python benchmarks/mixed_precision.py --models {' '.join(args.models)} --seeds "
        f"{' '.join(map(str, args.seeds))} --device {args.device}`.",
        "",
        "| model | precision | seeds | test AUC | test logloss | epochs | s/epoch | speed vs fp32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.models:
        base = frame[(frame.model == name) & (frame.precision == "fp32")].seconds_per_epoch.mean()
        for precision in ("fp32", "bf16", "fp16"):
            part = frame[(frame.model == name) & (frame.precision == precision)]
            lines.append(
                f"| {LABELS[name]} | {precision} | {len(part)} | {mean_std(part.test_auc)} | {mean_std(part.test_logloss)} | "
                f"{part.epochs.mean():.0f} | {part.seconds_per_epoch.mean():.2f} | {base / part.seconds_per_epoch.mean():.2f}x |"
            )
    lines += ["", "```", *[json.dumps(r) for r in rows], "```", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
