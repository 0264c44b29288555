"""End to end from parquet with a multi-million-value id column: rows/s and peak RSS of fit; writes docs/parquet_big_vocabulary.md.

Usage: python benchmarks/parquet_big_vocabulary.py [--rows 10000000] [--ids 5000000] [--valid-rows 200000]
A synthetic impression log is written part by part (never whole in memory): a ``user`` column of ``--ids``
string ids, each appearing ``--rows / --ids`` times in shuffled order, and eight context columns of 3 to 10,000
values, all strings as raw logs hold them; the click is drawn from a logistic model of per-value effects. The
validation file comes from the same model. ``StudentClassifier(max_epochs=1, random_state=0)`` with
its defaults (the encoder keeps every id; ``sparse_embeddings="auto"`` trains the big table row-sparse) is fitted
straight from the folder with the validation file as ``eval_set``, in a child process on 2 torch threads. Peak
RSS is the child's ``VmHWM``.
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

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
PART_ROWS = 1_000_000
CONTEXT_VALUES = (3, 7, 24, 100, 300, 1000, 3000, 10_000)

CHILD = r"""
import json, sys, time
folder = sys.argv[1]
import numpy as np, pandas as pd, torch
from sklearn.metrics import roc_auc_score
from skctr import StudentClassifier
torch.set_num_threads(2)
model = StudentClassifier(max_epochs=1, random_state=0)
valid = folder + "/valid.parquet"
start = time.perf_counter()
model.fit(folder + "/train", y="click", eval_set=(valid, "click"))
fit_seconds = time.perf_counter() - start
labels = pd.read_parquet(valid, columns=["click"])["click"].to_numpy()
auc = roc_auc_score(labels, model.predict_proba(valid)[:, 1])
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print(json.dumps({"fit_seconds": round(fit_seconds, 1), "epoch_seconds": round(model.history_[-1, "dur"], 1),
                  "user_vocabulary": next(f.vocab_size for f in model.field_spec_ if f.name == "user"),
                  "table_rows": sum(f.vocab_size for f in model.field_spec_ if f.is_indexed),
                  "sparse": model._sparse_tables(), "valid_auc": round(auc, 5),
                  "peak_rss_mib": round(int(status["VmHWM"].split()[0]) / 1024, 1)}))
"""


def log_rows(rng, users: np.ndarray, effects: dict) -> pa.Table:
    """Rows for the given user ids: context values drawn Zipf-like, the click from the per-value effects."""
    n = len(users)
    columns, logit = {"user": users}, effects["user"][users] - 1.5
    for i, size in enumerate(CONTEXT_VALUES):
        values = np.minimum(rng.zipf(1.3, n) - 1, size - 1)
        columns[f"c{i}"] = values
        logit = logit + effects[f"c{i}"][values]
    click = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    table = {name: pa.array(values).cast(pa.string()) for name, values in columns.items()}
    return pa.table({**table, "click": click})


def write_log(folder: Path, rows: int, ids: int, valid_rows: int) -> dict:
    rng = np.random.default_rng(0)
    effects = {"user": rng.normal(0, 0.8, ids)} | {f"c{i}": rng.normal(0, 0.4, size) for i, size in enumerate(CONTEXT_VALUES)}
    order = rng.permutation(np.arange(rows) % ids)  # every id rows / ids times, shuffled
    (folder / "train").mkdir(parents=True)
    for part, start in enumerate(range(0, rows, PART_ROWS)):
        pq.write_table(log_rows(rng, order[start:start + PART_ROWS], effects), folder / "train" / f"part{part:04d}.parquet",
                       row_group_size=100_000)
    pq.write_table(log_rows(rng, rng.integers(0, ids, valid_rows), effects), folder / "valid.parquet")
    disk = sum(p.stat().st_size for p in (folder / "train").glob("*.parquet"))
    return {"rows": rows, "ids": ids, "valid_rows": valid_rows, "disk_mib": round(disk / 2**20, 1)}


def fit_in_child(folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the fit failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(args, log: dict, fit: dict) -> str:
    rows_per_second = log["rows"] / fit["fit_seconds"]
    return "\n".join([
        f"# Fitting from parquet with a {log['ids']:,}-value id column",
        "",
        f"Produced by `python benchmarks/parquet_big_vocabulary.py --rows {args.rows} --ids {args.ids} --valid-rows {args.valid_rows}` on {date.today()}; "
        f"{sys.platform}, one process, 2 torch threads.",
        "",
        f"Log: {log['rows']:,} rows, a `user` column of {log['ids']:,} string ids ({log['rows'] // log['ids']} rows each) "
        f"and eight context columns of 3 to 10,000 values, {log['disk_mib']:,} MiB of parquet. "
        "`StudentClassifier(max_epochs=1, random_state=0)`, every other parameter its default, fitted from the folder "
        f"with a {log['valid_rows']:,}-row validation file as `eval_set`.",
        "",
        "| user vocabulary | table rows | row-sparse | fit (s) | rows/s (whole fit) | epoch (s) | peak RSS (MiB) | validation AUC |",
        "|---|---|---|---|---|---|---|---|",
        f"| {fit['user_vocabulary']:,} | {fit['table_rows']:,} | {fit['sparse']} | {fit['fit_seconds']:,} | "
        f"{rows_per_second:,.0f} | {fit['epoch_seconds']:,} | {fit['peak_rss_mib']:,.0f} | {fit['valid_auc']:.4f} |",
        "",
        "The fit time covers the encoder's streamed counting pass, the epoch and the validation scoring.",
        "",
        "```",
        json.dumps(log),
        json.dumps(fit),
        "```",
        "",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--ids", type=int, default=5_000_000)
    parser.add_argument("--valid-rows", type=int, default=200_000)
    parser.add_argument("--output", default=str(ROOT / "docs" / "parquet_big_vocabulary.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="skctr-vocab-") as tmp:
        start = time.perf_counter()
        log = write_log(Path(tmp), args.rows, args.ids, args.valid_rows)
        log["write_seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(log), flush=True)
        fit = fit_in_child(Path(tmp))
        print(json.dumps(fit), flush=True)
    Path(args.output).write_text(report(args, log, fit))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
