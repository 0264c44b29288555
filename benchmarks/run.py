"""Run every benchmark and write their pages plus benchmarks.md, the summary with machine, versions and date.

Usage: python -m benchmarks.run [--quick | --collect] [--out DIR] [--data ../shared/data]
The full mode reproduces the figures in docs/ (hours on a 2-core CPU; run it on an idle machine).
``--quick`` is a smoke run of every script on small settings (subsampled data, one epoch), a couple of
minutes, writing into a temporary folder unless ``--out`` is given; its figures prove nothing but that the
scripts run. ``--collect`` runs nothing and rebuilds benchmarks.md from the pages already in the folder
(for pages produced by running the scripts one at a time). Parts that need ../shared/data are skipped when
it is absent.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import skorch
import torch

from benchmarks import (
    baselines,
    cetnet_kl,
    frappe,
    fused_students,
    incremental,
    libraries,
    memory,
    movielens,
    out_of_core,
    parquet_big_vocabulary,
    robustness,
    scaling,
    serving,
    side_by_side,
    throughput,
    vocabulary_scaling,
)
from benchmarks._common import machine

ROOT = Path(__file__).resolve().parents[1]

#: (page, needs real data, script, full arguments, quick arguments)
PLAN = [
    ("results_frappe_all.md", True, frappe,
     ["--models", *frappe.MODELS, "--seeds", "0", "1", "2"],
     ["--models", "student", "kdef", "tf4ctr", "cetnet", "--rows", "2000", "--max-epochs", "1"]),
    ("results_movielens.md", True, movielens,
     ["--models", "cetnet", "cetnet_din", "interformer", "dhen", "din", "mlp", "--seeds", "0", "1", "2"],
     ["--models", "mlp_sparse", "--max-epochs", "1"]),
    ("cetnet_kl_frappe.md", True, cetnet_kl, ["--dataset", "frappe"],
     ["--dataset", "frappe", "--rows", "3000", "--max-epochs", "1", "--seeds", "0", "--configs", "sum-1", "parity-8"]),
    ("cetnet_kl_movielens.md", True, cetnet_kl, ["--dataset", "movielens"],
     ["--dataset", "movielens", "--rows", "10000", "--max-epochs", "1", "--seeds", "0", "--configs", "mean-0.1"]),
    ("results_side_by_side.md", True, side_by_side, ["--seeds", "0", "1", "2"],
     ["--datasets", "criteo10k", "--models", "student", "cetnet", "--max-epochs", "1"]),
    ("baselines.md", True, baselines, [], ["--datasets", "criteo10k"]),
    ("throughput.md", True, throughput, [], ["--rows", "20000", "--epochs", "1", "--repeats", "1"]),
    ("libraries.md", True, libraries, [], ["--rows", "4096", "--epochs", "1", "--repeats", "1"]),
    ("fused_students.md", False, fused_students, [], ["--students", "3", "--steps", "2", "--batch-size", "512"]),
    ("kdef_scaling.md", True, scaling,
     ["--students", "1", "2", "3", "4", "6", "8", "10", "--rows", "202027", "--max-epochs", "100", "--seeds", "0", "1", "2"], ["--students", "1", "2", "--rows", "2000", "--max-epochs", "1"]),
    ("serving.md", True, serving, [], ["--students", "2", "--repeats", "5", "--rows", "20000"]),
    ("memory.md", True, memory, [], ["--rows", "20000", "--cardinality", "5000", "--fit-rows", "5000"]),
    ("out_of_core.md", False, out_of_core, [], ["--rows", "15000", "--in-memory-rows", "15000"]),
    ("vocabulary_scaling.md", False, vocabulary_scaling, [],
     ["--rows", "10000", "--threads", "1", "--steps", "2"]),
    ("parquet_big_vocabulary.md", False, parquet_big_vocabulary, [],
     ["--rows", "20000", "--ids", "10000", "--valid-rows", "2000"]),
    ("incremental.md", True, incremental, [],
     ["--days", "4", "--models", "student", "--seeds", "0", "--max-epochs", "1"]),
    ("robustness.md", True, robustness, ["--seeds", "0", "1", "2"],
     ["--datasets", "criteo10k", "--models", "mlp", "--seeds", "0", "--max-epochs", "1"]),
]


#: Pages of earlier single-seed runs, summarised by ``--collect`` when present.
EXTRA_PAGES = [
    "results_frappe.md", "results_frappe_students.md", "results_frappe_tf4ctr.md", "results_frappe_cetnet.md",
    "results_frappe_seeds.md", "fused_students_cuda.md", "throughput_cuda.md", "mixed_precision.md",
]


def versions() -> str:
    return ", ".join(
        f"{name} {module.__version__}" for name, module in
        (("torch", torch), ("scikit-learn", sklearn), ("skorch", skorch), ("numpy", np), ("pandas", pd))
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke run: small settings, a couple of minutes")
    mode.add_argument("--collect", action="store_true", help="run nothing; summarise the pages already in --out")
    parser.add_argument("--out", default=None, help="folder for the pages (default: docs/, or a temporary folder with --quick)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    out = Path(args.out or (tempfile.mkdtemp(prefix="skctr-bench-") if args.quick else ROOT / "docs"))
    out.mkdir(parents=True, exist_ok=True)
    has_data = (Path(args.data) / "frappe" / "train.parquet").exists()
    sections = []
    for page, needs_data, script, full, quick in PLAN:
        if args.collect:
            continue
        if needs_data and not has_data:
            print(f"skipped {page}: no data at {args.data}")
            continue
        data = ["--data", args.data] if needs_data else []
        start = time.perf_counter()
        script.main([*(quick if args.quick else full), *data, "--output", str(out / page)])
        print(f"{page}: {time.perf_counter() - start:.0f} s", flush=True)
        sections.append(page)
    if args.collect:
        sections = [page for page in [p[0] for p in PLAN] + EXTRA_PAGES if (out / page).exists()]
    how = "--quick" if args.quick else "--collect" if args.collect else ""
    lines = [
        "# Benchmarks" + (" (quick smoke run: figures mean nothing)" if args.quick else ""),
        "",
        f"Summary written {date.today()} on {platform.platform()}; {machine()}; {versions()}.",
        f"Produced by `python -m benchmarks.run {how}`; each page below names its machine and the exact command",
        "of its script, and holds the per-run JSON rows.",
        "",
        *[f"- [{page}]({page})" for page in sections],
        "",
    ]
    for page in sections:
        body = (out / page).read_text().splitlines()
        lines += ["#" + line if line.startswith("#") else line for line in body]
    (out / "benchmarks.md").write_text("\n".join(lines))
    print(f"wrote {out / 'benchmarks.md'}")
    return out


if __name__ == "__main__":
    main()
