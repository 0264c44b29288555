"""Training and prediction throughput of skctr against a bare torch loop on the same network; writes docs/throughput.md.

Usage: python benchmarks/throughput.py [--epochs 2] [--repeats 3] [--device auto] [--data ../shared/data]
The network is the CTR benchmarks' DNN: embedding 16, MLP [400, 400, 400] with batch norm and dropout 0.2,
batch 4096, on the Frappe training split, encoded once by FieldEncoder (encoding is not timed). The bare loop
is our practical ceiling: the same torch module, the same recipe (Adam, embedding L2, gradient-norm clipping
at 10), tensors made once, batches by slicing. skctr runs ``StudentClassifier.fit`` with a one-batch
eval_set and early stopping out of reach, so both do the same number of epochs. Medians over repeats, both
measured in one run. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from skctr import FieldEncoder, StudentClassifier
from skctr.nn import FieldEmbedding, SingleNetwork

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH = 4096
NETWORK = {"embedding_dim": 16, "hidden_units": (400, 400, 400), "dropout": 0.2, "batch_norm": True}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(spec, ids, values, y, epochs, device, seed=0):
    """Seconds to train ``epochs`` epochs and to predict every row once, with a plain torch loop."""
    torch.manual_seed(seed)
    shared = {k: NETWORK[k] for k in ("hidden_units", "dropout", "batch_norm")}
    model = SingleNetwork(spec, NETWORK["embedding_dim"], "mlp", shared).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tables = [m for m in model.modules() if isinstance(m, FieldEmbedding)]
    n = len(y)
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for rows in torch.randperm(n, device=device).split(BATCH):
            logit = model(ids[rows], values[rows])[0]
            loss = F.binary_cross_entropy_with_logits(logit, y[rows]) + 0.05 * sum(t.l2_penalty() for t in tables)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
    sync(device)
    train_seconds = time.perf_counter() - start
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        torch.cat([torch.sigmoid(model(i, v)[0]) for i, v in zip(ids.split(BATCH), values.split(BATCH))]).cpu()
    sync(device)
    return train_seconds, time.perf_counter() - start


def skctr_fit(X, y, epochs, device, seed=0):
    """Seconds of ``StudentClassifier.fit`` for ``epochs`` epochs and of ``predict_proba`` on every row."""
    model = StudentClassifier(
        **NETWORK, batch_size=BATCH, max_epochs=epochs, patience=epochs + 1, calibrate=False,
        device=str(device), random_state=seed,
    )
    eval_rows = np.random.RandomState(seed).choice(len(y), BATCH, replace=False)
    start = time.perf_counter()
    model.fit(X, y, eval_set=(X[eval_rows], y[eval_rows]))
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.predict_proba(X)
    return train_seconds, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None, help="use the first ROWS training rows (default: all)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "throughput.md"))
    args = parser.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    train = pd.read_parquet(Path(args.data) / "frappe" / "train.parquet")
    if args.rows:
        train = train.head(args.rows)
    y = train.pop("label").to_numpy()
    X = FieldEncoder().fit_transform(train)
    ids, values = (torch.as_tensor(a).to(device) for a in X.field_spec.split_columns(X))
    y_tensor = torch.tensor(y, dtype=torch.float32, device=device)
    runs = {"bare": [], "skctr": []}
    for repeat in range(args.repeats):  # interleaved, so drifting machine load hits both alike
        runs["bare"].append(bare_loop(X.field_spec, ids, values, y_tensor, args.epochs, device, repeat))
        runs["skctr"].append(skctr_fit(X, y, args.epochs, device, repeat))
    n = len(y)
    result = {"device": str(device), "rows": n, "epochs": args.epochs, "repeats": args.repeats}
    for name, times in runs.items():
        result[f"{name}_train_samples_per_s"] = round(n * args.epochs / statistics.median(t[0] for t in times))
        result[f"{name}_predict_samples_per_s"] = round(n / statistics.median(t[1] for t in times))
    result["train_ratio"] = round(result["skctr_train_samples_per_s"] / result["bare_train_samples_per_s"], 3)
    result["predict_ratio"] = round(result["skctr_predict_samples_per_s"] / result["bare_predict_samples_per_s"], 3)
    print(json.dumps(result), flush=True)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    lines = [
        "# Training and prediction throughput",
        "",
        f"DNN [400, 400, 400] (BN, dropout 0.2), embedding 16, batch 4096, Frappe train split ({n:,} rows),",
        f"{args.epochs} epochs, median of {args.repeats} interleaved repeats; {device_name}; {date.today()}.",
        f"Produced by `python benchmarks/throughput.py --epochs {args.epochs} --repeats {args.repeats}`.",
        "",
        "| loop | training samples/s | prediction samples/s |",
        "|---|---|---|",
        f"| bare torch loop over pre-made tensors (ceiling) | {result['bare_train_samples_per_s']:,} | {result['bare_predict_samples_per_s']:,} |",
        f"| skctr `StudentClassifier.fit` / `predict_proba` | {result['skctr_train_samples_per_s']:,} | {result['skctr_predict_samples_per_s']:,} |",
        f"| ratio skctr / bare | {result['train_ratio']} | {result['predict_ratio']} |",
        "",
        "skctr's figure includes everything `fit` does besides encoding: the tensor copy of the encoded array,",
        "skorch's callbacks (per-epoch validation on one batch, learning-rate schedule, early-stopping",
        "bookkeeping, best-weight copies). `predict_proba` includes the float64 sigmoid and the column stack.",
        "",
        "```",
        json.dumps(result),
        "```",
        "",
    ]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
