"""Command line: ``skctr demo`` trains KDEF and reports ensemble, student and serving figures."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .datasets import make_ctr
from .estimators import KDEFClassifier
from .metrics import binary_scores


def _read_table(path: Path, label: str) -> tuple[pd.DataFrame, pd.Series]:
    if not path.exists():
        raise SystemExit(f"--data: no file at {path}")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix in (".csv", ".gz"):
        frame = pd.read_csv(path)
    else:
        raise SystemExit(f"--data: expected a .parquet or .csv file, got {path.name}")
    if label not in frame.columns:
        raise SystemExit(f"--label: column {label!r} is not in {path.name}; columns: {list(frame.columns)}")
    return frame.drop(columns=label), frame[label]


def _best_time(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _parameter_count(estimator) -> int:
    return sum(p.numel() for p in estimator.net_.module_.parameters())


def demo(args: argparse.Namespace) -> int:
    truth = None
    if args.data is None:
        X, y, truth = make_ctr(n_samples=args.n_samples, cardinality=(5, 200), return_truth=True, random_state=args.seed)
        source = f"make_ctr(n_samples={args.n_samples}, cardinality=(5, 200), random_state={args.seed})"
    else:
        X, y = _read_table(Path(args.data), args.label)
        source = f"{args.data} (label {args.label!r})"
    rows_train, rows_test = train_test_split(
        np.arange(len(y)), test_size=args.test_size, stratify=y, random_state=args.seed
    )
    X_train, X_test, y_train, y_test = X.iloc[rows_train], X.iloc[rows_test], y.iloc[rows_train], y.iloc[rows_test]
    print(f"data: {source}: {len(X_train)} training rows, {len(X_test)} held-out rows, {X.shape[1]} columns")
    model = KDEFClassifier(
        n_students=args.n_students, max_epochs=args.max_epochs, random_state=args.seed, verbose=args.verbose
    )
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    print(f"trained KDEFClassifier({args.n_students} students) in {seconds:.1f} s, {len(model.history_)} epochs")
    print("\nvalidation scores (the held-out part of the training rows used for early stopping):")
    print(model.student_scores_.to_string(float_format=lambda v: f"{v:.4f}"))

    y_test = np.searchsorted(model.classes_, np.asarray(y_test))
    ensemble_auc, ensemble_logloss = binary_scores(y_test, model.predict_proba(X_test)[:, 1])
    student = model.best_student_
    student_auc, student_logloss = binary_scores(y_test, student.predict_proba(X_test)[:, 1])
    print(f"\nheld-out rows: ensemble AUC {ensemble_auc:.4f} logloss {ensemble_logloss:.4f}; "
          f"best student (#{model.best_student_index_}) AUC {student_auc:.4f} logloss {student_logloss:.4f}")
    if truth is not None:
        bayes_auc, bayes_logloss = binary_scores(y_test, truth[rows_test])
        print(f"(the synthetic data's true click probabilities reach AUC {bayes_auc:.4f} logloss {bayes_logloss:.4f})")

    ensemble_time = _best_time(lambda: model.predict_proba(X_test))
    student_time = _best_time(lambda: student.predict_proba(X_test))
    print(f"serving {len(X_test)} rows: ensemble {ensemble_time * 1e3:.0f} ms, best student {student_time * 1e3:.0f} ms "
          f"({ensemble_time / student_time:.2f}x faster, {_parameter_count(student):,} of "
          f"{_parameter_count(model):,} parameters)")

    output = Path(args.output)
    joblib.dump(model, output)
    print(f"\nsaved the fitted model to {output} (joblib.load it and call predict_proba on a DataFrame)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skctr", description="Ensemble CTR prediction for scikit-learn.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="train KDEFClassifier and report ensemble, students and serving speed")
    run.add_argument("--data", help="a .parquet or .csv file of impressions (default: synthetic make_ctr data)")
    run.add_argument("--label", default="label", help="the 0/1 click column of --data (default: label)")
    run.add_argument("--n-samples", type=int, default=100_000, help="rows of synthetic data (default: 100000)")
    run.add_argument("--n-students", type=int, default=3, help="number of students (default: 3)")
    run.add_argument("--max-epochs", type=int, default=100, help="epoch limit (default: 100; early stopping ends sooner)")
    run.add_argument("--test-size", type=float, default=0.2, help="fraction of rows held out for the report (default: 0.2)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    run.add_argument("--output", default="skctr-demo.joblib", help="where to save the model (default: skctr-demo.joblib)")
    run.add_argument("--verbose", type=int, default=1, help="1 prints a row per epoch (default), 0 is quiet")
    run.set_defaults(handler=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
