"""Peak memory of KDEFClassifier.fit on Frappe and of FieldEncoder on a large synthetic frame; writes docs/memory.md.

Usage: python benchmarks/memory.py [--rows 5000000] [--cardinality 1000000] [--data ../shared/data]
Each part runs in a fresh process and reports its peak resident set size (``ru_maxrss``) next to the
resident size just before the measured call, so the call's own cost is the difference. The encoder part
builds a frame of ``--rows`` rows: a categorical column with ``--cardinality`` distinct string values
(Zipf-like frequencies), two small categorical columns and a float column.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_part(data: str, fit_rows: int | None) -> dict:
    from skctr import KDEFClassifier

    frames = [pd.read_parquet(Path(data) / "frappe" / f"{s}.parquet") for s in ("train", "valid")]
    if fit_rows:
        frames[0] = frames[0].head(fit_rows)
    (X, y), (X_valid, y_valid) = [(f.drop(columns="label"), f["label"].to_numpy()) for f in frames]
    before = rss_mib()
    start = time.perf_counter()
    KDEFClassifier(max_epochs=2, random_state=0).fit(X, y, eval_set=(X_valid, y_valid))
    return {"part": f"KDEFClassifier().fit on Frappe, {len(X):,} rows, 2 epochs", "rows": len(X), "rss_before_mib": round(before),
            "peak_mib": round(peak_mib()), "seconds": round(time.perf_counter() - start, 1)}


def encoder_part(rows: int, cardinality: int) -> dict:
    from skctr import FieldEncoder

    rng = np.random.default_rng(0)
    ranks = np.minimum(rng.zipf(1.2, rows), cardinality) - 1
    ranks[:cardinality] = np.arange(cardinality)  # every value occurs at least once
    frame = pd.DataFrame({
        "item": pd.Series(ranks).map(lambda r: f"item{r}").astype(object),
        "country": rng.choice(["de", "fr", "us", "jp", "br"], rows).astype(object),
        "hour": rng.integers(0, 24, rows),
        "price": rng.lognormal(size=rows),
    })
    frame_mib = frame.memory_usage(deep=True).sum() / 2**20
    before = rss_mib()
    start = time.perf_counter()
    encoded = FieldEncoder().fit_transform(frame)
    seconds = time.perf_counter() - start
    vocab = {f.name: f.vocab_size for f in encoded.field_spec}
    return {"part": f"FieldEncoder().fit_transform, {rows:,} rows, {cardinality:,}-value column", "rows": rows,
            "frame_mib": round(frame_mib), "encoded_mib": round(encoded.nbytes / 2**20), "vocab_item": vocab["item"],
            "rss_before_mib": round(before), "peak_mib": round(peak_mib()), "seconds": round(seconds, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--cardinality", type=int, default=1_000_000)
    parser.add_argument("--fit-rows", type=int, default=None, help="fit on the first FIT_ROWS Frappe rows (default: all)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "memory.md"))
    parser.add_argument("--part", choices=["fit", "encoder"], help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.part:
        result = fit_part(args.data, args.fit_rows) if args.part == "fit" else encoder_part(args.rows, args.cardinality)
        print(json.dumps(result), flush=True)
        return
    results = []
    for part in ("fit", "encoder"):
        if part == "fit" and not (Path(args.data) / "frappe" / "train.parquet").exists():
            print(f"skipped the fit part: no data at {args.data}")
            continue
        child = subprocess.run(
            [sys.executable, __file__, "--part", part, "--rows", str(args.rows), "--cardinality", str(args.cardinality),
             "--data", args.data, *(["--fit-rows", str(args.fit_rows)] if args.fit_rows else [])],
            capture_output=True, text=True, check=True,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    lines = [
        "# Peak memory",
        "",
        f"Each part in a fresh process; {machine()}; {date.today()}. Produced by",
        f"`python benchmarks/memory.py --rows {args.rows} --cardinality {args.cardinality}`.",
        "",
        "| part | resident before (MiB) | peak (MiB) | time |",
        "|---|---|---|---|",
        *[f"| {r['part']} | {r['rss_before_mib']:,} | {r['peak_mib']:,} | {r['seconds']} s |" for r in results],
        "",
        "```",
        *[json.dumps(r) for r in results],
        "```",
        "",
    ]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
