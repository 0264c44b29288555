"""What every quality benchmark does: fit with early stopping on the validation split, score the test split."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import log_loss, roc_auc_score

from skctr.metrics import gauc


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


ROOT = Path(__file__).resolve().parents[1]


def add_run_options(parser, page: str) -> None:
    """The options every multi-run benchmark takes: device, merging of reports, data folder, output page."""
    parser.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument("--merge", nargs="+", metavar="REPORT", help="join the raw rows of these reports; fit nothing")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "docs" / page))


def device_name(device: str = "auto") -> str:
    """The GPU's name, or the CPU described by :func:`machine`, for ``device`` as the estimators resolve it."""
    resolved = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
    return torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else f"CPU ({machine()})"


def mean_std(values, digits=5) -> str:
    """``mean ± sample standard deviation``, or the value alone for a single run."""
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def raw_rows_block(rows) -> list[str]:
    """The lines of a report's raw rows: one JSON object per line in a fenced block, as :func:`read_json_rows` reads them."""
    return ["Raw rows (JSON):", "", "```", *[json.dumps(r) for r in rows], "```", ""]


def read_json_rows(path) -> list[dict]:
    """The raw rows of a report: one JSON object per line inside its first fenced block."""
    return [json.loads(line) for line in Path(path).read_text().split("```")[1].strip().splitlines()]


def test_scores(y, p, groups=None) -> dict:
    scores = {"auc": roc_auc_score(y, p), "logloss": log_loss(y, p)}
    if groups is not None:
        scores["gauc"] = gauc(y, p, groups)
    return scores


def fit_and_score(model, splits, test_groups=None) -> dict:
    """Fit on train with ``eval_set`` = valid; test scores of the model, of its best student and of every member."""
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = splits
    start = time.perf_counter()
    model.fit(X_train, y_train, eval_set=(X_valid, y_valid))
    seconds = time.perf_counter() - start
    history = model.history_
    row = {
        "epochs": len(history), "best_epoch": int(np.nanargmax(history[:, "valid_auc"])) + 1,
        "fit_seconds": round(seconds, 1), "seconds_per_epoch": round(float(np.mean(history[:, "dur"])), 1),
    }
    row.update({f"test_{k}": v for k, v in test_scores(y_test, model.predict_proba(X_test)[:, 1], test_groups).items()})
    if hasattr(model, "best_student_"):
        row["best_student"] = model.best_student_index_
        best = test_scores(y_test, model.best_student_.predict_proba(X_test)[:, 1], test_groups)
        row.update({f"best_student_test_{k}": v for k, v in best.items()})
        members = model.predict_proba_students(X_test)
        row["member_test"] = {
            name: {k: round(v, 5) for k, v in test_scores(y_test, members[:, j], test_groups).items()}
            for j, name in enumerate(model.student_scores_.index[1:])
        }
        start = time.perf_counter()
        model.predict_proba(X_test)
        ensemble_time = time.perf_counter() - start
        start = time.perf_counter()
        model.best_student_.predict_proba(X_test)
        row["best_student_speedup"] = round(ensemble_time / (time.perf_counter() - start), 2)
    return row
