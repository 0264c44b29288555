"""Training throughput of K fused versus K looped MLP students; writes docs/fused_students.md.

Usage: python benchmarks/fused_students.py [--students 6] [--batch-size 4096] [--device auto]
One KDEF training step (forward, KDEF loss, backward, Adam) on a Frappe-sized field layout
(10 fields, embedding 16, students [400, 400, 400] with batch norm and dropout 0.2).
Run it on an idle machine; the figures are medians of timed steps after warm-up.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from skctr.nn import KDEF
from skctr.preprocessing import Field, FieldSpec

ROOT = Path(__file__).resolve().parents[1]


def step_seconds(model, ids, values, y, steps, device):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = model.loss(model(ids, values), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # warm-up steps are not timed
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", default=str(ROOT / "docs" / "fused_students.md"))
    args = parser.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    spec = FieldSpec(Field(f"f{i}", "categorical", 500) for i in range(10))
    shared = {"hidden_units": (400, 400, 400), "dropout": 0.2, "batch_norm": True}
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 500, (args.batch_size, 10), generator=generator).to(device)
    values = torch.zeros(args.batch_size, 0, device=device)
    y = torch.randint(0, 2, (args.batch_size,), generator=generator).float().to(device)
    rows = []
    for label, n, fuse in [("1 student", 1, False), (f"{args.students} looped", args.students, False), (f"{args.students} fused", args.students, True)]:
        torch.manual_seed(0)
        model = KDEF(spec, 16, ["mlp"] * n, shared_params=shared, fuse=fuse).to(device)
        seconds = step_seconds(model, ids, values, y, args.steps, device)
        rows.append((label, seconds, args.batch_size / seconds))
        print(f"{label}: {seconds * 1e3:.1f} ms/step, {args.batch_size / seconds:,.0f} samples/s", flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    one, looped, fused = (r[1] for r in rows)
    lines = [
        "# Fused MLP students",
        "",
        f"One KDEF training step, batch {args.batch_size}, 10 fields x 16, students [400, 400, 400] with BN and dropout,",
        f"median of {args.steps} steps after 3 warm-up steps, on {name}, torch {torch.__version__}.",
        "Produced by `python benchmarks/fused_students.py`.",
        "",
        "| students | ms/step | samples/s |",
        "|---|---|---|",
        *[f"| {label} | {s * 1e3:.1f} | {rate:,.0f} |" for label, s, rate in rows],
        "",
        f"Fused is {looped / fused:.2f}x the speed of looped; {args.students} fused cost {fused / one:.2f}x one student.",
        "",
    ]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
