"""CETNet's KL term: the paper's sum over samples against the batch mean, over its grid of weights; embedding parity.

Usage: python benchmarks/cetnet_kl.py --dataset frappe [--seeds 0 1 2] [--threads 1] [--output PAGE]
       python benchmarks/cetnet_kl.py --dataset frappe --merge a.md b.md (runs split across processes)
The paper writes L_kl as a sum over the samples while its BCE terms are means; ``kl_reduction`` offers both.
Every (reduction, kl_weight) of the paper's grid {0.1, 0.5, 1} is fitted with default parameters otherwise, early
stopping on the validation split, figures on the test split. ``parity`` is CETNet with two tables of 8 (half the
single models' width, as the paper compares) against the default of two tables of 16. The page is rewritten after
every fit and a rerun skips the (config, seed) pairs it already holds, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from skctr import CETNetClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
import frappe  # noqa: E402
import movielens  # noqa: E402
from _common import ROOT, fit_and_score, mean_std, raw_rows_block, read_json_rows  # noqa: E402

GRID = [(reduction, weight) for reduction in ("mean", "sum") for weight in (0.1, 0.5, 1.0)]
CONFIGS = {f"{r}-{w:g}": {"kl_reduction": r, "kl_weight": w} for r, w in GRID}
CONFIGS["parity-8"] = {"embedding_dim": 8}


def load(dataset: str, data: Path):
    """Splits and the test rows' groups (None for Frappe)."""
    if dataset == "frappe":
        return frappe.load(data / "frappe"), None
    return movielens.load(data / "movielens100k")


def summary_lines(rows) -> list[str]:
    has_gauc = all("test_gauc" in r for r in rows)
    lines = ["| config | seeds | test AUC | test logloss |" + (" test gAUC |" if has_gauc else "") + " epochs |",
             "|---|---|---|---|" + ("---|" if has_gauc else "") + "---|"]
    for name in CONFIGS:
        group = [r for r in rows if r["config"] == name]
        if not group:
            continue
        cells = [mean_std([r["test_auc"] for r in group]), mean_std([r["test_logloss"] for r in group])]
        if has_gauc:
            cells.append(mean_std([r["test_gauc"] for r in group]))
        lines.append(f"| `{name}` | {len(group)} | " + " | ".join(cells) + f" | {np.mean([r['epochs'] for r in group]):.0f} |")
    return lines


def write_report(rows, path: Path, dataset: str):
    lines = [
        f"# CETNet: KL reduction and weight, embedding parity ({dataset})",
        "",
        f"Produced by `python benchmarks/cetnet_kl.py --dataset {dataset}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {'/'.join(map(str, sorted({r['threads'] for r in rows})))} thread(s) per fit. `mean-w` / `sum-w`:",
        "`CETNetClassifier(kl_reduction=..., kl_weight=w)`, every other parameter at its default (two tables of 16);",
        "`parity-8`: the default loss with `embedding_dim=8`, i.e. two tables of 8 against the single models' one of 16.",
        "Mean ± sample standard deviation over seeds; fit times are not comparable (the run shared the machine).",
        "",
        *summary_lines(rows),
        "",
        *raw_rows_block(rows),
    ]
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["frappe", "movielens"], required=True)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None, help="cap the epochs (smoke runs)")
    parser.add_argument("--rows", type=int, default=None, help="the first ROWS training rows (smoke runs)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=None)
    parser.add_argument("--merge", nargs="+", metavar="REPORT", help="join the raw rows of these reports into --output; fit nothing")
    args = parser.parse_args(argv)
    output = Path(args.output or ROOT / "docs" / f"cetnet_kl_{args.dataset}.md")
    if args.merge:
        write_report([row for path in args.merge for row in read_json_rows(path)], output, args.dataset)
        print(f"wrote {output}")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = read_json_rows(output) if output.exists() else []
    done = {(r["config"], r["seed"]) for r in rows}
    splits, groups = load(args.dataset, Path(args.data))
    if args.rows:
        splits[0] = (splits[0][0][: args.rows], splits[0][1][: args.rows])
    for seed in args.seeds:
        for name in args.configs:
            if (name, seed) in done:
                continue
            model = CETNetClassifier(random_state=seed, **CONFIGS[name])
            if args.max_epochs:
                model.set_params(max_epochs=args.max_epochs)
            row = {"config": name, "seed": seed, "threads": torch.get_num_threads(), **fit_and_score(model, splits, groups)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            write_report(rows, output, args.dataset)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
