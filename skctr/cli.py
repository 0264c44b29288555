"""Command line: train, evaluate, predict with and export skctr models; ``skctr demo`` shows the whole loop.

Commands::

    skctr train    --data train.parquet [--valid valid.parquet] --label click --model kdef --out model.joblib
    skctr train    --data today.parquet --label click --warm-start model.joblib --out model.joblib --force
    skctr evaluate --model model.joblib --data test.parquet --label click [--groups user_id] [--json]
    skctr predict  --model model.joblib --data new.parquet --out scores.parquet [--id-column request_id] [--positive-label 1]
    skctr export   --model model.joblib --out model.onnx [--best-student] [--format onnx|torchscript]
    skctr demo

Input files: ``.parquet`` (or a folder of parquet files), ``.csv``, ``.csv.gz`` and ``.tsv``.

The score ``predict`` writes is the probability of the label that sorts last (scikit-learn's
``classes_[1]``, 1 for 0/1 clicks); ``--positive-label`` picks the other one, and the output line says which.

Every file is written to a temporary file beside it and renamed into place: a failed or interrupted
command leaves no partial file.

Exit codes (scripts can rely on them):

* 0: success.
* 1: an unexpected error (the traceback is printed).
* 2: bad command line (unknown option, missing argument, bad choice, a number out of range).
* 3: bad input data: a missing or unreadable file, a missing label, group or id column, labels that
  are not two classes (or validation labels unseen in training), validation columns missing, a bad
  ``--param`` (or a device this machine lacks), a ``--positive-label`` that is not a class, an ``--out``
  that exists without ``--force``, is a folder or cannot be written, ``export --format onnx`` without
  the onnx extra.
* 4: a model file that is missing, unreadable, unfitted or not a skctr model.
* 130: interrupted (Ctrl-C); nothing is written.

Errors, usage errors included, are one line on stderr: ``skctr <command>: error: <message>``.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .datasets import make_ctr
from .estimators import CETNetClassifier, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier
from .estimators._base import CTRClassifierBase
from .metrics import binary_scores, gauc
from .preprocessing import FieldEncoder
from .preprocessing._source import open_table_source

USAGE_ERROR, INPUT_ERROR, MODEL_ERROR, INTERRUPTED = 2, 3, 4, 130
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
    if not (path.is_dir() or suffix in SUFFIXES):
        raise CommandError(f"{option}: expected a .parquet, .csv, .csv.gz or .tsv file or a folder of parquet files, "
                           f"got {path.name}")
    try:
        if path.is_dir() or suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as exc:  # any reader failure is the file's problem, reported as such
        raise CommandError(f"{option}: cannot read {path}: {exc}") from None
    if len(frame) == 0:
        raise CommandError(f"{option}: {path} has no rows")
    return frame


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
        # Every file's footer, not the first file's: files that disagree on columns or types fail here.
        return open_table_source(path).schema.names
    except Exception as exc:  # any reader failure is the file's problem, reported as such
        raise CommandError(f"--data: cannot read {path}: {exc}") from None


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    if _suffix(path) in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="\t" if _suffix(path) == ".tsv" else ",", index=False)


def _check_out(path: Path, force: bool, option: str = "--out") -> None:
    # Checked before any work: a long training run must not end in an unwritable path.
    if path.is_dir():
        raise CommandError(f"{option}: {path} is a folder; name the file to write, e.g. {path / 'model.joblib'}")
    if path.exists() and not force:
        raise CommandError(f"{option}: {path} exists; pass --force to overwrite it")
    if not path.parent.exists():
        raise CommandError(f"{option}: the folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise CommandError(f"{option}: {path.parent} is a file, not a folder")
    try:
        # Writing is the only test that sees permissions, read-only mounts and ACLs alike.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".skctr-probe-"):
            pass
    except OSError as exc:
        raise CommandError(f"{option}: cannot write in the folder {path.parent}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _atomic(path: Path, option: str = "--out"):
    """Yield a temporary path beside ``path``, renamed onto ``path`` when the block succeeds and removed otherwise.

    A failed or interrupted write thus never leaves a partial file. The temporary name ends with ``path``'s
    name, so writers that pick the format or compression from the suffix (pandas, joblib) pick the same.
    """
    temporary = path.with_name(f".skctr-{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as exc:  # e.g. a full disk
        raise CommandError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _load_model(path, option="--model"):
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{option}: no file at {path}", MODEL_ERROR)
    try:
        model = joblib.load(path)
    except Exception as exc:  # a damaged or foreign file
        raise CommandError(f"{option}: cannot load {path}: {exc}", MODEL_ERROR) from None
    estimator = model[-1] if isinstance(model, Pipeline) else model
    if not isinstance(estimator, CTRClassifierBase):
        raise CommandError(f"{option}: {path} holds a {type(model).__name__}, not a skctr model", MODEL_ERROR)
    try:
        check_is_fitted(estimator, "net_")
    except NotFittedError:
        raise CommandError(f"{option}: {path} holds an unfitted {type(estimator).__name__}", MODEL_ERROR) from None
    return model, estimator


def _plain(values) -> list:
    """Python values (``1``, not ``np.int64(1)``), as messages show them."""
    return [value.item() if isinstance(value, np.generic) else value for value in values]


def _positive_index(classes, value, option: str = "--positive-label") -> int:
    """Index in ``classes`` of the positive class ``value`` (a string from the command line); 1 without one.

    Labels read from CSV are often ints: a class is matched by its value or by its string form.
    """
    if value is None:
        return 1
    names = _plain(classes)
    matches = [i for i, name in enumerate(names) if name == value or str(name) == value]
    if len(matches) > 1:  # e.g. 1 and '1': which one is meant cannot be told
        raise CommandError(f"{option}: {value!r} matches several of the classes {names}")
    if not matches:
        raise CommandError(f"{option}: {value!r} is not one of the classes {names}")
    return matches[0]


def _positive_name(classes, index: int, label: str | None) -> str:
    """What the score is the probability of, e.g. ``P(click == 1)``."""
    return f"P({label or 'label'} == {_plain(classes)[index]!r})"


def _check_two_classes(y: pd.Series, label: str) -> None:
    if y.nunique() != 2:
        raise CommandError(f"--label: column {label!r} must hold two classes (e.g. 0/1), got {y.nunique()}: "
                           f"{sorted(map(str, y.unique()))[:5]}")


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


def _demo_data(args: argparse.Namespace):
    """``X, y``, the true click probabilities (synthetic data only) and a description of the source."""
    if args.data is None:
        X, y, truth = make_ctr(n_samples=args.n_samples, cardinality=(5, 200), return_truth=True, random_state=args.seed)
        return X, y, truth, f"make_ctr(n_samples={args.n_samples}, cardinality=(5, 200), random_state={args.seed})"
    X, y = _read_table(args.data, args.label)
    _check_two_classes(y, args.label)
    return X, y, None, f"{args.data} (label {args.label!r})"


def demo(args: argparse.Namespace) -> int:
    output = Path(args.output)
    _check_out(output, force=True, option="--output")
    X, y, truth, source = _demo_data(args)
    try:
        rows_train, rows_test = train_test_split(
            np.arange(len(y)), test_size=args.test_size, stratify=y, random_state=args.seed
        )
    except ValueError as exc:  # too few rows of a class to hold some out
        raise CommandError(f"--test-size: cannot hold out {args.test_size} of {len(y):,} rows: {exc}") from None
    X_train, X_test, y_train, y_test = X.iloc[rows_train], X.iloc[rows_test], y.iloc[rows_train], y.iloc[rows_test]
    print(f"data: {source}: {len(X_train)} training rows, {len(X_test)} held-out rows, {X.shape[1]} columns")
    model = KDEFClassifier(
        n_students=args.n_students, max_epochs=args.max_epochs, random_state=args.seed, verbose=args.verbose
    )
    start = time.perf_counter()
    try:
        model.fit(X_train, y_train)
    except (ValueError, TypeError) as exc:  # the estimator's checks of the data name the column at fault
        raise CommandError(f"{'--data' if args.data else '--n-samples'}: {exc}") from None
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

    with _atomic(output, "--output") as temporary:
        joblib.dump(model, temporary)
    print(f"\nsaved the fitted model to {output} (joblib.load it and call predict_proba on a DataFrame)")
    return 0


def _estimator(args: argparse.Namespace) -> CTRClassifierBase:
    """The estimator of ``--model`` (or the fitted one of ``--warm-start``) with ``--param``, checked before any
    data is read."""
    params = _parse_params(args.param)
    verbose = 1 if args.verbose or (not args.quiet and sys.stderr.isatty()) else 0
    if args.warm_start is None:
        model = MODELS[args.model or "kdef"](random_state=args.seed, verbose=verbose)
    else:
        model = _warm_start_model(args)
        params = {"warm_start": True, **params}
    try:
        model = model.set_params(random_state=args.seed, verbose=verbose, **params)
        # fit would check these (the device too), but only after reading the data
        model.validate_params()
    except ValueError as exc:
        raise CommandError(f"--param: {exc}") from None
    return model


def _warm_start_model(args: argparse.Namespace) -> CTRClassifierBase:
    model, estimator = _load_model(args.warm_start, "--warm-start")
    if model is not estimator:
        raise CommandError(f"--warm-start: {args.warm_start} holds a Pipeline; warm-start it in Python (warm_start=True "
                           "on its FieldEncoder and its model), or give a model saved by skctr train", MODEL_ERROR)
    if args.model is not None and not isinstance(estimator, MODELS[args.model]):
        raise CommandError(f"--model {args.model}: {args.warm_start} holds a {type(estimator).__name__}; "
                           "leave --model out to continue training it")
    return estimator


def _training_data(args: argparse.Namespace):
    """``X, y`` for fit, the training labels (None when streamed), the rows as printed, the feature columns."""
    if not args.stream:
        X, y = _read_table(args.data, args.label)
        _check_two_classes(y, args.label)
        return X, y, set(y.unique()), f"{len(X):,} rows", list(X.columns)
    if args.valid is None:
        raise CommandError("--stream needs --valid: training from a stream holds out no rows for early stopping")
    columns = _parquet_columns(args.data)
    if args.label not in columns:
        raise CommandError(f"--label: column {args.label!r} is not in {Path(args.data).name}; columns: {columns[:20]}")
    # The estimator checks the streamed labels as it reads them.
    return args.data, args.label, None, "streamed", [c for c in columns if c != args.label]


def _validation_data(args: argparse.Namespace, columns: list, labels) -> tuple[pd.DataFrame, pd.Series]:
    # Small enough for memory even when --data is streamed; read here so its errors name --valid.
    X, y = _read_table(args.valid, args.label, "--valid")
    missing = [column for column in columns if column not in X.columns]
    if missing:
        raise CommandError(f"--valid: columns {missing[:20]} of {Path(args.data).name} are not in "
                           f"{Path(args.valid).name}")
    unknown = sorted(map(str, set(y.unique()) - labels)) if labels else []
    if unknown:
        raise CommandError(f"--valid: labels {unknown[:5]} of {Path(args.valid).name} are not among the "
                           f"training labels {sorted(map(str, labels))}")
    return X, y


def _check_groups(frame: pd.DataFrame, column: str, path) -> None:
    if column not in frame.columns:
        raise CommandError(f"--groups: column {column!r} is not in {Path(path).name}")
    if frame[column].isna().any():
        raise CommandError(f"--groups: column {column!r} of {Path(path).name} has "
                           f"{int(frame[column].isna().sum())} missing values")


def train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out(out, args.force)
    model = _estimator(args)
    X, y, labels, rows, columns = _training_data(args)
    fit_kwargs, scored, scored_path = {}, X, args.data
    if args.valid is not None:
        scored, y_valid = _validation_data(args, columns, labels)
        scored_path, fit_kwargs["eval_set"] = args.valid, (scored, y_valid)
        labels = labels or set(y_valid.unique())  # streamed: the validation labels are all that is known
    if args.positive_label is not None:
        _positive_index(sorted(labels, key=str), args.positive_label)
    if args.groups:
        # The group AUC is computed on the validation rows, after training: check their groups first.
        _check_groups(scored, args.groups, scored_path)
        fit_kwargs["groups"] = args.groups
    start = time.perf_counter()
    try:
        model.fit(X, y, **fit_kwargs)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        # The estimator's checks of the data name the column at fault, not the file it is in.
        raise CommandError(f"{'--data' if args.valid is None else '--data/--valid'}: {exc}") from None
    seconds = time.perf_counter() - start
    how = f"warm-started from {args.warm_start}, trained" if args.warm_start else "trained"
    print(f"{how} {type(model).__name__} on {args.data} ({rows}) in {seconds:.1f} s, {len(model.history_)} epochs")
    print("validation scores:")
    print(model.student_scores_.to_string(float_format=lambda v: f"{v:.4f}"))
    with _atomic(out) as temporary:
        joblib.dump(model, temporary)
    print(f"wrote {out}")
    return 0


def _estimator_input(model, X):
    """``X`` as the estimator at the end of ``model`` sees it: through the Pipeline's steps before it."""
    return X if not isinstance(model, Pipeline) else model[:-1].transform(X)


def evaluate(args: argparse.Namespace) -> int:
    model, estimator = _load_model(args.model)
    positive = _positive_index(estimator.classes_, args.positive_label)
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
    y01 = (np.searchsorted(estimator.classes_, y.to_numpy()) == positive).astype(int)
    if np.unique(y01).size < 2:
        print(f"skctr evaluate: warning: {Path(args.data).name} holds one class; AUC is undefined (nan, null in JSON)",
              file=sys.stderr)
    try:
        probabilities = {"model": model.predict_proba(X)[:, positive]}
        if hasattr(estimator, "best_student_"):
            student = estimator.best_student_.predict_proba(_estimator_input(model, X))
            probabilities["best_student"] = student[:, positive]
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


def _score_table(args: argparse.Namespace, model, estimator, X: pd.DataFrame, positive: int) -> pd.DataFrame:
    """The ``--id-column`` columns, ``score`` and, with ``--students``, every member's score."""
    try:
        scores = pd.DataFrame({column: X[column].to_numpy() for column in args.id_column or []})
        scores["score"] = model.predict_proba(X)[:, positive]
        if args.students:
            members = estimator.predict_proba_students(_estimator_input(model, X))  # P(classes_[1]) each
            members = members if positive == 1 else 1 - members
            for j, name in enumerate(estimator.student_scores_.index[1:]):
                scores[f"score_{name}"] = members[:, j]
    except (ValueError, TypeError) as exc:
        raise CommandError(f"--data: {exc}") from None
    return scores


def predict(args: argparse.Namespace) -> int:
    model, estimator = _load_model(args.model)
    out = Path(args.out)
    _check_out(out, args.force)
    if _suffix(out) not in SUFFIXES:
        raise CommandError(f"--out: expected a .parquet, .csv, .csv.gz or .tsv name, got {out.name}")
    if args.students and not hasattr(estimator, "best_student_"):
        raise CommandError(f"--students: a {type(estimator).__name__} is a single network; its score is the score column")
    positive = _positive_index(estimator.classes_, args.positive_label)
    X = _read_frame(args.data, "--data")
    if args.label and args.label in X.columns:
        X = X.drop(columns=args.label)
    missing = [c for c in args.id_column or [] if c not in X.columns]
    if missing:
        raise CommandError(f"--id-column: {missing} not in {Path(args.data).name}")
    scores = _score_table(args, model, estimator, X, positive)
    with _atomic(out) as temporary:
        _write_frame(scores, temporary)
    print(f"wrote {len(scores):,} scores to {out} (score is {_positive_name(estimator.classes_, positive, args.label)})")
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
        # Both files are written before either is renamed into place.
        with _atomic(out) as graph:
            (export_onnx if fmt == "onnx" else export_torchscript)(model, graph, student=args.best_student)
            if encoder is not None:
                with _atomic(vocabulary) as temporary:
                    encoder.save_vocabulary(temporary)
    except ImportError as exc:  # the onnx extra is not installed
        raise CommandError(f"--format {fmt}: {exc}") from None
    print(f"wrote {out} ({fmt}{', best student' if args.best_student else ''})")
    if encoder is not None:
        print(f"wrote {vocabulary} (encode raw rows with it: docs/vocabulary_format.md)")
    else:
        print("no vocabulary written: the model was fitted on encoded arrays; save that FieldEncoder's vocabulary")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error; the usage itself is one ``--help`` away."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer(low: int, high: int | None = None):
    """An argparse type: an int in [low, high], out of range a usage error naming the option."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {value}")
        return value
    return parse


def _fraction(text: str) -> float:
    """An argparse type: a float strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text}")
    return value


POSITIVE, SEED = _integer(1), _integer(0, 2**32 - 1)  # numpy's seeds are 32-bit
POSITIVE_LABEL_HELP = ("the class the score is the probability of (default: the label that sorts last, e.g. 1); "
                       "a class matches by its value or its string form, e.g. 1 for an int label")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="skctr", description="Ensemble CTR prediction for scikit-learn.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes:\n"
               "  0  success\n"
               "  1  unexpected error (traceback printed)\n"
               "  2  bad command line (unknown option, missing argument, number out of range)\n"
               "  3  bad input: missing or unreadable file, missing label/group/id column, labels not two classes,\n"
               "     bad --param or --positive-label, --out exists (use --force) or cannot be written\n"
               "  4  bad model file: missing, unreadable, unfitted or not a skctr model\n"
               "  130  interrupted (Ctrl-C): nothing written",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    cmd = commands.add_parser("train", help="fit a model on a table of impressions and save it with joblib")
    cmd.add_argument("--data", required=True, help="training table (.parquet, folder of parquet, .csv, .csv.gz, .tsv)")
    cmd.add_argument("--valid", help="validation table for early stopping (default: a stratified part of --data)")
    cmd.add_argument("--label", default="label", help="the click column (default: label)")
    cmd.add_argument("--model", choices=sorted(MODELS), help="estimator (default: kdef, or the --warm-start model's)")
    cmd.add_argument("--warm-start", metavar="MODEL", dest="warm_start",
                     help="a model saved by skctr train: continue training it on --data (new ids get embedding rows, "
                          "learned ones are kept) instead of starting over")
    cmd.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="an estimator parameter, e.g. --param n_students=6 --param hidden_units=(256,128); repeatable")
    cmd.add_argument("--groups", help="column for the validation group AUC (e.g. user_id)")
    cmd.add_argument("--stream", action="store_true",
                     help="train from --data (parquet) record batch by record batch, for tables larger than memory; needs --valid")
    cmd.add_argument("--out", required=True, help="where to write the model (.joblib)")
    cmd.add_argument("--force", action="store_true", help="overwrite --out")
    cmd.add_argument("--positive-label", metavar="VALUE",
                     help="fail before training unless VALUE is one of the labels (the class evaluate and "
                          "predict --positive-label VALUE will score)")
    cmd.add_argument("--seed", type=SEED, default=0, help="random_state (default: 0)")
    noise = cmd.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="epoch table and progress bar (default when stderr is a terminal)")
    noise.add_argument("--quiet", action="store_true", help="no epoch table or progress bar")
    cmd.set_defaults(handler=train)

    cmd = commands.add_parser("evaluate", help="AUC, logloss (and gAUC) of a saved model on a labelled table")
    cmd.add_argument("--model", required=True, help="a model saved by skctr train (or joblib.dump)")
    cmd.add_argument("--data", required=True, help="labelled table")
    cmd.add_argument("--label", default="label", help="the click column (default: label)")
    cmd.add_argument("--groups", help="column to compute the group AUC by (e.g. user_id)")
    cmd.add_argument("--positive-label", metavar="VALUE", help=POSITIVE_LABEL_HELP)
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    cmd.set_defaults(handler=evaluate)

    cmd = commands.add_parser("predict", help="write click probabilities for a table")
    cmd.add_argument("--model", required=True, help="a model saved by skctr train (or joblib.dump)")
    cmd.add_argument("--data", required=True, help="table to score")
    cmd.add_argument("--out", required=True, help="scores file (.parquet, .csv, .csv.gz or .tsv)")
    cmd.add_argument("--id-column", action="append", help="a column of --data to copy beside the scores; repeatable")
    cmd.add_argument("--label", help="a label column of --data to leave out, if present")
    cmd.add_argument("--positive-label", metavar="VALUE", help=POSITIVE_LABEL_HELP)
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
    run.add_argument("--n-samples", type=POSITIVE, default=100_000, help="rows of synthetic data (default: 100000)")
    run.add_argument("--n-students", type=POSITIVE, default=3, help="number of students (default: 3)")
    run.add_argument("--max-epochs", type=POSITIVE, default=100, help="epoch limit (default: 100; early stopping ends sooner)")
    run.add_argument("--test-size", type=_fraction, default=0.2,
                     help="fraction of rows held out for the report, between 0 and 1 (default: 0.2)")
    run.add_argument("--seed", type=SEED, default=0, help="random seed (default: 0)")
    run.add_argument("--output", default="skctr-demo.joblib", help="where to save the model (default: skctr-demo.joblib)")
    run.add_argument("--verbose", type=_integer(0), default=1, help="1 prints a row per epoch (default), 0 is quiet")
    run.set_defaults(handler=demo)
    return parser


def _one_line(command: str):
    """A ``warnings.showwarning`` printing each warning as one ``skctr <command>: warning: ...`` line."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"skctr {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)
    return show


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line(args.command)
            return args.handler(args)
    except CommandError as error:
        message = " ".join(str(error).split())  # some estimator messages span lines; the error is one
        print(f"skctr {args.command}: error: {message}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        # Every file is written atomically, so an interrupt leaves none behind, partial or whole.
        print(f"skctr {args.command}: interrupted: nothing written", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
