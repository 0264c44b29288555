"""Command line: train, evaluate, predict with and export skctr models; ``skctr demo`` shows the whole loop.

Commands::

    skctr train    --data train.parquet [--valid valid.parquet] --label click --model kdef --out model.joblib
    skctr evaluate --model model.joblib --data test.parquet --label click [--groups user_id] [--json]
    skctr predict  --model model.joblib --data new.parquet --out scores.parquet [--id-column request_id]
    skctr export   --model model.joblib --out model.onnx [--best-student] [--format onnx|torchscript]
    skctr demo

Input files: ``.parquet`` (or a folder of parquet files), ``.csv``, ``.csv.gz`` and ``.tsv``.

Exit codes (scripts can rely on them):

* 0: success.
* 1: an unexpected error (the traceback is printed).
* 2: bad command line (unknown option, missing argument, bad choice).
* 3: bad input data: a missing or unreadable file, a missing label, group or id column, labels that
  are not two classes (or validation labels unseen in training), a bad ``--param``, an ``--out``
  that exists without ``--force`` or is a folder, ``export --format onnx`` without the onnx extra.
* 4: a model file that is missing, unreadable, or not a skctr model.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow.dataset
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from .datasets import make_ctr
from .estimators import CETNetClassifier, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier
from .estimators._base import CTRClassifierBase
from .metrics import binary_scores, gauc
from .preprocessing import FieldEncoder

INPUT_ERROR, MODEL_ERROR = 3, 4
MODELS = {
    "kdef": KDEFClassifier, "tf4ctr": TF4CTRClassifier, "cetnet": CETNetClassifier,
    "final": FINALClassifier, "student": StudentClassifier,
}
SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv")


class CommandError(Exception):
    """An error the user can fix, reported as one line on stderr with its exit code."""

    def __init__(self, message: str, code: int = INPUT_ERROR):
        super().__init__(message)
        self.code = code


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in SUFFIXES if name.endswith(s)), path.suffix.lower())


def _read_frame(path, option: str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise CommandError(f"{option}: no file or folder at {path}")
    suffix = _suffix(path)
    try:
        if path.is_dir() or suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".csv.gz"):
            return pd.read_csv(path)
        if suffix == ".tsv":
            return pd.read_csv(path, sep="\t")
    except Exception as exc:  # any reader failure is the file's problem, reported as such
        raise CommandError(f"{option}: cannot read {path}: {exc}") from None
    raise CommandError(f"{option}: expected a .parquet, .csv, .csv.gz or .tsv file or a folder of parquet files, got {path.name}")


def _read_table(path, label: str, option: str = "--data") -> tuple[pd.DataFrame, pd.Series]:
    frame = _read_frame(path, option)
    if label not in frame.columns:
        raise CommandError(
            f"--label: column {label!r} is not in {Path(path).name}; columns: {list(frame.columns)[:20]}"
        )
    y = frame[label]
    if y.isna().any():
        raise CommandError(f"--label: column {label!r} of {Path(path).name} has {int(y.isna().sum())} missing values")
    return frame.drop(columns=label), y


def _parquet_columns(path) -> list[str]:
    """Column names of the parquet file or folder that ``--data --stream`` names, from its metadata alone."""
    path = Path(path)
    if not path.exists():
        raise CommandError(f"--data: no file or folder at {path}")
    if not (path.is_dir() or _suffix(path) in (".parquet", ".pq")):
        raise CommandError(f"--data: --stream reads parquet (a file or a folder of parquet files), got {path.name}")
    try:
        return pyarrow.dataset.dataset(str(path), format="parquet").schema.names
    except Exception as exc:  # any reader failure is the file's problem, reported as such
        raise CommandError(f"--data: cannot read {path}: {exc}") from None


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    if _suffix(path) in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="\t" if _suffix(path) == ".tsv" else ",", index=False)


def _check_out(path: Path, force: bool) -> None:
    # Checked before any work: a long training run must not end in an unwritable path.
    if path.is_dir():
        raise CommandError(f"--out: {path} is a folder; name the file to write, e.g. {path / 'model.joblib'}")
    if path.exists() and not force:
        raise CommandError(f"--out: {path} exists; pass --force to overwrite it")
    if not path.parent.exists():
        raise CommandError(f"--out: the folder {path.parent} does not exist")


def _load_model(path):
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"--model: no file at {path}", MODEL_ERROR)
    try:
        model = joblib.load(path)
    except Exception as exc:  # a damaged or foreign file
        raise CommandError(f"--model: cannot load {path}: {exc}", MODEL_ERROR) from None
    estimator = model[-1] if isinstance(model, Pipeline) else model
    if not isinstance(estimator, CTRClassifierBase):
        raise CommandError(f"--model: {path} holds a {type(model).__name__}, not a skctr model", MODEL_ERROR)
    return model, estimator


def _parse_params(items) -> dict:
    params = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--param: expected KEY=VALUE, got {item!r}")
        try:
            params[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[key] = text  # a bare word such as fusion=concat is a string
    return params


def _scores(y, probability, groups) -> dict:
    auc, logloss = binary_scores(y, probability)
    scores = {"auc": auc, "logloss": logloss}
    if groups is not None:
        scores["gauc"] = gauc(y, probability, groups)
    return scores


def _undefined_as_null(scores: dict) -> dict:
    return {name: None if np.isnan(value) else value for name, value in scores.items()}


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
        X, y = _read_table(args.data, args.label)
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


def train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out(out, args.force)
    params = _parse_params(args.param)
    verbose = 1 if args.verbose or (not args.quiet and sys.stderr.isatty()) else 0
    try:
        model = MODELS[args.model](random_state=args.seed, verbose=verbose).set_params(**params)
        # fit would check these too, but only after reading the data
        model.validate_params()
    except ValueError as exc:
        raise CommandError(f"--param: {exc}") from None
    if args.stream:
        if args.valid is None:
            raise CommandError("--stream needs --valid: training from a stream holds out no rows for early stopping")
        columns = _parquet_columns(args.data)
        if args.label not in columns:
            raise CommandError(
                f"--label: column {args.label!r} is not in {Path(args.data).name}; columns: {columns[:20]}"
            )
        # The estimator checks the streamed labels as it reads them.
        X, y, labels, rows = args.data, args.label, None, "streamed"
    else:
        X, y = _read_table(args.data, args.label)
        if y.nunique() != 2:
            raise CommandError(f"--label: column {args.label!r} must hold two classes (e.g. 0/1), got {y.nunique()}: "
                               f"{sorted(map(str, y.unique()))[:5]}")
        labels, rows = set(y.unique()), f"{len(X):,} rows"
    fit_kwargs, scored, scored_path = {}, X, args.data
    if args.valid is not None:
        # Small enough for memory even when --data is streamed; read here so its errors name --valid.
        scored, y_valid = _read_table(args.valid, args.label, "--valid")
        scored_path = args.valid
        unknown = sorted(map(str, set(y_valid.unique()) - labels)) if labels else []
        if unknown:
            raise CommandError(f"--valid: labels {unknown[:5]} of {Path(args.valid).name} are not among the "
                               f"training labels {sorted(map(str, labels))}")
        fit_kwargs["eval_set"] = (scored, y_valid)
    if args.groups:
        # The group AUC is computed on the validation rows, after training: check their groups first.
        if args.groups not in scored.columns:
            raise CommandError(f"--groups: column {args.groups!r} is not in {Path(scored_path).name}")
        if scored[args.groups].isna().any():
            raise CommandError(f"--groups: column {args.groups!r} of {Path(scored_path).name} has "
                               f"{int(scored[args.groups].isna().sum())} missing values")
        fit_kwargs["groups"] = args.groups
    start = time.perf_counter()
    try:
        model.fit(X, y, **fit_kwargs)
    except (ValueError, FileNotFoundError) as exc:
        # Validation errors of the estimator name the column or parameter at fault.
        raise CommandError(str(exc)) from None
    seconds = time.perf_counter() - start
    print(f"trained {type(model).__name__} on {args.data} ({rows}) in {seconds:.1f} s, {len(model.history_)} epochs")
    print("validation scores:")
    print(model.student_scores_.to_string(float_format=lambda v: f"{v:.4f}"))
    joblib.dump(model, out)
    print(f"wrote {out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    model, estimator = _load_model(args.model)
    X, y = _read_table(args.data, args.label)
    groups = None
    if args.groups:
        if args.groups not in X.columns:
            raise CommandError(f"--groups: column {args.groups!r} is not in {Path(args.data).name}")
        groups = X[args.groups].to_numpy()
    unknown = ~np.isin(y.to_numpy(), estimator.classes_)
    if unknown.any():
        raise CommandError(f"--label: values {sorted(map(str, y[unknown].unique()))[:5]} are not classes of the model "
                           f"{estimator.classes_.tolist()}")
    y01 = np.searchsorted(estimator.classes_, y.to_numpy())
    if np.unique(y01).size < 2:
        print(f"skctr evaluate: warning: {Path(args.data).name} holds one class; AUC is undefined (nan, null in JSON)",
              file=sys.stderr)
    try:
        probabilities = {"model": model.predict_proba(X)[:, 1]}
        if hasattr(estimator, "best_student_"):
            features = X if not isinstance(model, Pipeline) else model[:-1].transform(X)
            probabilities["best_student"] = estimator.best_student_.predict_proba(features)[:, 1]
    except (ValueError, TypeError) as exc:
        raise CommandError(f"--data: {exc}") from None
    try:
        report = {"rows": len(y01), **{name: _scores(y01, p, groups) for name, p in probabilities.items()}}
    except ValueError as exc:  # only the group AUC can fail here, e.g. on missing groups
        raise CommandError(f"--groups: {exc}") from None
    if args.json:
        # NaN is not JSON: an undefined score is null
        print(json.dumps({key: _undefined_as_null(value) if isinstance(value, dict) else value
                          for key, value in report.items()}))
    else:
        print(f"{report['rows']:,} rows of {args.data}")
        for name in ("model", "best_student"):
            if name in report:
                print(f"{name:>12}: " + "  ".join(f"{k} {v:.5f}" for k, v in report[name].items()))
    return 0


def predict(args: argparse.Namespace) -> int:
    model, estimator = _load_model(args.model)
    out = Path(args.out)
    _check_out(out, args.force)
    if _suffix(out) not in SUFFIXES:
        raise CommandError(f"--out: expected a .parquet, .csv, .csv.gz or .tsv name, got {out.name}")
    if args.students and not hasattr(estimator, "best_student_"):
        raise CommandError(f"--students: a {type(estimator).__name__} is a single network; its score is the score column")
    X = _read_frame(args.data, "--data")
    if args.label and args.label in X.columns:
        X = X.drop(columns=args.label)
    missing = [c for c in args.id_column or [] if c not in X.columns]
    if missing:
        raise CommandError(f"--id-column: {missing} not in {Path(args.data).name}")
    try:
        scores = pd.DataFrame({column: X[column].to_numpy() for column in args.id_column or []})
        scores["score"] = model.predict_proba(X)[:, 1]
        if args.students:
            features = X if not isinstance(model, Pipeline) else model[:-1].transform(X)
            members = estimator.predict_proba_students(features)
            for j, name in enumerate(estimator.student_scores_.index[1:]):
                scores[f"score_{name}"] = members[:, j]
    except (ValueError, TypeError) as exc:
        raise CommandError(f"--data: {exc}") from None
    _write_frame(scores, out)
    print(f"wrote {len(scores):,} scores to {out}")
    return 0


def export(args: argparse.Namespace) -> int:
    from .serving import export_onnx, export_torchscript

    model, estimator = _load_model(args.model)
    out = Path(args.out)
    _check_out(out, args.force)
    encoder = model[0] if isinstance(model, Pipeline) and isinstance(model[0], FieldEncoder) else estimator.encoder_
    vocabulary = out.with_name(out.stem + ".vocabulary.json")
    if encoder is not None:
        _check_out(vocabulary, args.force)
    fmt = args.format or ("torchscript" if out.suffix.lower() in (".pt", ".pth", ".torchscript") else "onnx")
    if args.best_student and not hasattr(estimator, "best_student_"):
        raise CommandError(f"--best-student: a {type(estimator).__name__} is a single network; export it without the flag")
    try:
        (export_onnx if fmt == "onnx" else export_torchscript)(model, out, student=args.best_student)
    except ImportError as exc:  # the onnx extra is not installed
        raise CommandError(f"--format {fmt}: {exc}") from None
    print(f"wrote {out} ({fmt}{', best student' if args.best_student else ''})")
    if encoder is not None:
        encoder.save_vocabulary(vocabulary)
        print(f"wrote {vocabulary} (encode raw rows with it: docs/vocabulary_format.md)")
    else:
        print("no vocabulary written: the model was fitted on encoded arrays; save that FieldEncoder's vocabulary")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skctr", description="Ensemble CTR prediction for scikit-learn.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes:\n"
               "  0  success\n"
               "  1  unexpected error (traceback printed)\n"
               "  2  bad command line\n"
               "  3  bad input: missing or unreadable file, missing label/group/id column, labels not two classes,\n"
               "     bad --param, --out exists (use --force)\n"
               "  4  bad model file: missing, unreadable or not a skctr model",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    cmd = commands.add_parser("train", help="fit a model on a table of impressions and save it with joblib")
    cmd.add_argument("--data", required=True, help="training table (.parquet, folder of parquet, .csv, .csv.gz, .tsv)")
    cmd.add_argument("--valid", help="validation table for early stopping (default: a stratified part of --data)")
    cmd.add_argument("--label", default="label", help="the click column (default: label)")
    cmd.add_argument("--model", choices=sorted(MODELS), default="kdef", help="estimator (default: kdef)")
    cmd.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="an estimator parameter, e.g. --param n_students=6 --param hidden_units=(256,128); repeatable")
    cmd.add_argument("--groups", help="column for the validation group AUC (e.g. user_id)")
    cmd.add_argument("--stream", action="store_true",
                     help="train from --data (parquet) record batch by record batch, for tables larger than memory; needs --valid")
    cmd.add_argument("--out", required=True, help="where to write the model (.joblib)")
    cmd.add_argument("--force", action="store_true", help="overwrite --out")
    cmd.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    noise = cmd.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="epoch table and progress bar (default when stderr is a terminal)")
    noise.add_argument("--quiet", action="store_true", help="no epoch table or progress bar")
    cmd.set_defaults(handler=train)

    cmd = commands.add_parser("evaluate", help="AUC, logloss (and gAUC) of a saved model on a labelled table")
    cmd.add_argument("--model", required=True, help="a model saved by skctr train (or joblib.dump)")
    cmd.add_argument("--data", required=True, help="labelled table")
    cmd.add_argument("--label", default="label", help="the click column (default: label)")
    cmd.add_argument("--groups", help="column to compute the group AUC by (e.g. user_id)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    cmd.set_defaults(handler=evaluate)

    cmd = commands.add_parser("predict", help="write click probabilities for a table")
    cmd.add_argument("--model", required=True, help="a model saved by skctr train (or joblib.dump)")
    cmd.add_argument("--data", required=True, help="table to score")
    cmd.add_argument("--out", required=True, help="scores file (.parquet, .csv, .csv.gz or .tsv)")
    cmd.add_argument("--id-column", action="append", help="a column of --data to copy beside the scores; repeatable")
    cmd.add_argument("--label", help="a label column of --data to leave out, if present")
    cmd.add_argument("--students", action="store_true", help="also write every member network's probability")
    cmd.add_argument("--force", action="store_true", help="overwrite --out")
    cmd.set_defaults(handler=predict)

    cmd = commands.add_parser("export", help="write the network as ONNX (or TorchScript) and the vocabulary as JSON")
    cmd.add_argument("--model", required=True, help="a model saved by skctr train (or joblib.dump)")
    cmd.add_argument("--out", required=True, help="graph file (.onnx, or .pt for TorchScript)")
    cmd.add_argument("--format", choices=["onnx", "torchscript"], help="default: from the --out suffix")
    cmd.add_argument("--best-student", action="store_true", help="export the best student alone (the cheap one to serve)")
    cmd.add_argument("--force", action="store_true", help="overwrite --out")
    cmd.set_defaults(handler=export)

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
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"skctr {args.command}: error: {error}", file=sys.stderr)
        return error.code


if __name__ == "__main__":
    sys.exit(main())
