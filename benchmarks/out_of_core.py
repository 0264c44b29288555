"""Training from a parquet table larger than the memory the process may use; writes docs/out_of_core.md.

Usage: python benchmarks/out_of_core.py [--rows 30000000] [--limit-gib 4] [--in-memory-rows 30000000]
A synthetic CTR table (``skctr.make_ctr``, 10 string id columns, written part by part, so generating it never
holds it whole) is fitted by ``StudentClassifier(hidden_units=(64,), max_epochs=1)`` straight from its path,
with a validation file as ``eval_set``, then scored with ``predict_proba(path)``, in a child process whose
address space is capped at ``--limit-gib`` (``RLIMIT_AS``, set before torch is imported). For comparison, the
same fit from an in-memory DataFrame runs uncapped on the first ``--in-memory-rows`` rows, and the in-memory
size of the whole table is extrapolated from one part. Peak RSS is each child's ``VmHWM`` (not ``ru_maxrss``,
which a child inherits from the parent it was forked from).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PART_ROWS = 1_000_000

CHILD = r"""
import json, resource, sys, time
limit, mode, folder, rows = float(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
if limit > 0:
    cap = int(limit * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import numpy as np, pandas as pd, torch
from sklearn.metrics import roc_auc_score
from skctr import StudentClassifier
torch.set_num_threads(2)
model = StudentClassifier(hidden_units=(64,), max_epochs=1, random_state=0)
valid = folder + "/valid.parquet"
start = time.perf_counter()
if mode == "stream":
    model.fit(folder + "/train", y="click", eval_set=(valid, "click"))
    fit_seconds = time.perf_counter() - start
    proba = model.predict_proba(valid)[:, 1]
else:
    parts = sorted(__import__("glob").glob(folder + "/train/*.parquet"))[: -(-rows // 1_000_000)]
    frame = pd.concat([pd.read_parquet(p) for p in parts]).iloc[:rows]
    y = frame.pop("click").to_numpy()
    v = pd.read_parquet(valid)
    model.fit(frame, y, eval_set=(v.drop(columns="click"), v["click"].to_numpy()))
    fit_seconds = time.perf_counter() - start
    proba = model.predict_proba(v.drop(columns="click"))[:, 1]
labels = pd.read_parquet(valid, columns=["click"])["click"].to_numpy()
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print(json.dumps({"mode": mode, "fit_seconds": round(fit_seconds, 1), "valid_auc": round(roc_auc_score(labels, proba), 5),
                  "peak_rss_mib": round(int(status["VmHWM"].split()[0]) / 1024, 1),
                  "peak_address_space_mib": round(int(status["VmPeak"].split()[0]) / 1024, 1)}))
"""


def write_table(folder: Path, rows: int) -> dict:
    """Write ``rows`` training rows in parts of PART_ROWS, plus a 200,000-row validation file.

    One ``make_ctr`` draw (categorical dtype, compact) so every part follows the same click model; each part
    is turned into string ids only when written.
    """
    from skctr import make_ctr

    X, y = make_ctr(n_samples=rows + 200_000, random_state=0)
    (folder / "train").mkdir(parents=True, exist_ok=True)
    frame_bytes = 0
    for part, start in enumerate(range(0, rows, PART_ROWS)):
        stop = min(start + PART_ROWS, rows)
        frame = X.iloc[start:stop].astype(str).assign(click=y[start:stop])  # string ids, as raw logs hold them
        if part == 0:
            frame_bytes = int(frame.memory_usage(deep=True).sum()) / (stop - start)
        frame.to_parquet(folder / "train" / f"part{part:04d}.parquet", index=False, row_group_size=100_000)
    X.iloc[rows:].astype(str).assign(click=y[rows:]).to_parquet(folder / "valid.parquet", index=False)
    disk = sum(p.stat().st_size for p in (folder / "train").glob("*.parquet"))
    return {"rows": rows, "disk_mib": disk / 2**20, "frame_mib": frame_bytes * rows / 2**20}


def child(limit_gib: float, mode: str, folder: Path, rows: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(limit_gib), mode, str(folder), str(rows)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return {"mode": mode, "error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--limit-gib", type=float, default=4.0, help="address-space cap of the streaming fit (0: none)")
    parser.add_argument("--in-memory-rows", type=int, default=30_000_000)
    parser.add_argument("--output", default=str(ROOT / "docs" / "out_of_core.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skctr-ooc-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        table = write_table(folder, args.rows)
        table["write_seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(table), flush=True)
        stream = child(args.limit_gib, "stream", folder, args.rows)
        print(json.dumps(stream), flush=True)
        memory = child(0, "memory", folder, min(args.in_memory_rows, args.rows))
        print(json.dumps(memory), flush=True)
    in_memory_rows = min(args.in_memory_rows, args.rows)
    lines = [
        "# Out-of-core training",
        "",
        f"Produced by `python benchmarks/out_of_core.py --rows {args.rows} --limit-gib {args.limit_gib} "
        f"--in-memory-rows {args.in_memory_rows}` on {date.today()}; {sys.platform}, one process, 2 torch threads.",
        "",
        f"Table: {args.rows:,} rows of 10 string id columns and a label, {table['disk_mib']:,.0f} MiB of parquet; "
        f"as a pandas DataFrame it would take about {table['frame_mib']:,.0f} MiB (measured on one part of "
        f"{PART_ROWS:,} rows).",
        "",
        "| fit from | rows | address-space cap | peak RSS (MiB) | fit time (s) | validation AUC |",
        "|---|---|---|---|---|---|",
    ]
    for result, rows, cap in ((stream, args.rows, f"{args.limit_gib:g} GiB" if args.limit_gib else "none"),
                              (memory, in_memory_rows, "none")):
        if "error" in result:
            lines.append(f"| {result['mode']} | {rows:,} | {cap} | failed: {result['error']} | | |")
        else:
            label = "parquet path (streamed)" if result["mode"] == "stream" else "in-memory DataFrame"
            lines.append(f"| {label} | {rows:,} | {cap} | {result['peak_rss_mib']:,.0f} | {result['fit_seconds']:,.0f} | "
                         f"{result['valid_auc']:.4f} |")
    if "error" not in stream:
        lines += [
            "",
            f"The streamed fit's peak RSS is {table['frame_mib'] / stream['peak_rss_mib']:.1f}x smaller than the table "
            "as a DataFrame alone, before any encoding or tensors.",
        ]
    lines += ["", "```", json.dumps(table), json.dumps(stream), json.dumps(memory), "```", ""]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
