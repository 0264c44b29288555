"""Everything ``fit`` and ``predict`` accept, turned into the tensors the networks read.

``fit`` takes raw frames, encoded arrays (a FieldEncoder's output) or a
parquet source, with labels, an optional ``eval_set`` and ``groups``;
:func:`training_data` makes of them, in one pass, what training needs: the
learned input layout (:class:`FittedInput`), the training rows (in memory or
streamed), the validation rows and their groups. :func:`prediction_tensors`
encodes later input with that layout.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from ..fields import FieldSpec, field_spec_of, growth_mismatch, spec_mismatch
from ..preprocessing import FieldEncoder
from ..preprocessing._frames import as_pandas
from ..preprocessing._source import check_columns, is_table_source, iter_frames, open_table_source
from ._data import FieldTensors
from ._stream import FieldStream, stream_labels


@dataclass
class FittedInput:
    """What ``fit`` learned about its input; the estimator keeps each field as an attribute ending in ``_``."""

    classes: np.ndarray
    encoder: FieldEncoder | None
    field_spec: FieldSpec
    n_features_in: int
    feature_names_in: np.ndarray | None = None

    def encode_labels(self, y, what: str) -> np.ndarray:
        """``y`` as 0/1 floats against ``classes``; labels outside them are an error naming ``what``."""
        y = column_or_1d(y)
        unknown = ~np.isin(y, self.classes)
        if unknown.any():
            raise ValueError(f"{what} labels {np.unique(y[unknown])[:5].tolist()} are not among the classes of y {self.classes.tolist()}.")
        return np.searchsorted(self.classes, y).astype(np.float32)

    def encode(self, X, owner: str) -> np.ndarray:
        """Encoded rows of in-memory ``X``: raw rows through the fitted encoder, encoded ones checked against
        the fitted spec; input of the other kind than fit's is an error."""
        X = as_pandas(X)
        spec = field_spec_of(X)
        if self.encoder is not None:
            if spec is not None:
                raise ValueError(
                    f"X is already encoded (it carries a FieldSpec), but {owner} was fitted on raw rows and encodes "
                    "them itself with encoder_; pass the raw rows, not a FieldEncoder's output."
                )
            return self.encoder.transform(X)
        mismatch = None if spec is None else spec_mismatch(spec, self.field_spec)
        if mismatch:
            raise ValueError(
                f"X was encoded with a different FieldSpec than {owner} was fitted on ({mismatch}); "
                "encode it with the FieldEncoder the model was fitted after."
            )
        if isinstance(X, pd.DataFrame) and spec is None:
            _check_not_raw(X, owner)
        X = encoded_array(X)
        if X.ndim != 2:
            raise ValueError(
                f"Expected a 2-D table of rows, got an array of shape {X.shape}. Reshape your data, e.g. "
                "X.reshape(1, -1) for a single row."
            )
        if X.shape[1] != self.n_features_in:
            raise ValueError(f"X has {X.shape[1]} features, but {owner} is expecting {self.n_features_in} features as input.")
        return X

    def tensors(self, X, owner: str, y=None) -> FieldTensors:
        encoded = self.encode(X, owner)
        if encoded.shape[0] == 0:
            raise ValueError(f"X is empty: {owner} needs at least one sample to predict.")
        return FieldTensors.from_array(encoded, self.field_spec, y)


@dataclass
class TrainingData:
    """The output of :func:`training_data`."""

    input: FittedInput
    train: FieldTensors | FieldStream
    valid: FieldTensors
    valid_groups: np.ndarray | None


def training_data(X, y, *, sample_weight=None, class_weight=None, eval_set=None, groups=None, valid_size: float, seed,
                  owner: str, grow: FittedInput | None = None) -> TrainingData:
    """Learn the input layout from ``(X, y)`` and split off the validation rows (``eval_set``, or a holdout).

    Rows weigh ``sample_weight`` times their class's ``class_weight``; held-out rows keep their weights, and an
    ``eval_set`` of three (``X, y, sample_weight``) weighs its rows by its third element. With ``grow`` (a warm
    start), the layout is that one's with its vocabularies grown by ``X``, and ``y`` must hold its classes.
    """
    if is_table_source(X):
        return _streamed_training_data(X, y, eval_set, groups, owner, sample_weight, class_weight, grow)
    X = as_pandas(X)
    fitted, X_encoded, y_encoded = _labelled_input(X, y, owner, grow)
    classes = fitted.classes
    weight = row_weights(sample_weight, class_weight, classes[y_encoded.astype(int)], X_encoded)
    if eval_set is not None:
        valid = _eval_set_tensors(eval_set, fitted, owner)
        train = FieldTensors.from_array(X_encoded, fitted.field_spec, y_encoded, weight)
        valid_groups = _groups_of_eval_set(groups, eval_set[0])
    else:
        train_rows, valid_rows = stratified_holdout(y_encoded, classes, valid_size, seed)
        train = FieldTensors.from_array(X_encoded[train_rows], fitted.field_spec, y_encoded[train_rows],
                                        None if weight is None else weight[train_rows])
        valid = FieldTensors.from_array(X_encoded[valid_rows], fitted.field_spec, y_encoded[valid_rows],
                                        None if weight is None else weight[valid_rows])
        valid_groups = _groups_of_holdout(groups, X, valid_rows)
    _check_both_classes(valid)
    return TrainingData(fitted, train, valid, valid_groups)


def update_data(X, y, *, sample_weight=None, class_weight=None, classes=None, owner: str,
                grow: FittedInput | None = None) -> tuple[FittedInput, FieldTensors]:
    """The input layout and the rows of one ``partial_fit`` call: ``grow``'s layout grown by ``X``, or, on an
    unfitted model, one learned from ``X`` with ``classes`` (or ``y``'s) as the two classes."""
    if is_table_source(X):
        raise TypeError(
            f"{owner}.partial_fit takes in-memory rows (a DataFrame or an array); to update a model on a parquet "
            "table, fit it with warm_start=True, which streams the table."
        )
    if isinstance(class_weight, str):
        raise ValueError(
            "class_weight='balanced' needs the class counts of all the data, which partial_fit does not see; "
            "pass class_weight as a dict {label: weight}, or sample_weight."
        )
    X = as_pandas(X)
    if grow is None and classes is not None:
        grow = FittedInput(_two_classes(classes, owner), None, None, 0)
    fitted, X_encoded, y_encoded = _labelled_input(X, y, owner, grow)
    weight = _batch_weights(sample_weight, class_weight, fitted.classes[y_encoded.astype(int)], X_encoded)
    if weight is not None:
        _check_some_weight(weight)
    return fitted, FieldTensors.from_array(X_encoded, fitted.field_spec, y_encoded, weight)


def _two_classes(classes, owner: str) -> np.ndarray:
    classes = np.unique(column_or_1d(classes))
    if len(classes) != 2:
        raise ValueError(f"classes must hold the two class labels of {owner}, got {classes[:10].tolist()}.")
    return classes


def _labelled_input(X, y, owner: str, grow: FittedInput | None):
    """The input layout (learned, or ``grow``'s grown by ``X``), the encoded rows and the 0/1 labels."""
    if grow is None:
        classes, y_encoded = fit_labels(y, owner)
        fitted, X_encoded = _fit_input(X, classes, owner)
    else:
        y_encoded = grow.encode_labels(y, "y")
        fitted, X_encoded = _fit_input(X, grow.classes, owner) if grow.field_spec is None else _grown_input(X, grow, owner)
    if X_encoded.shape[0] != y_encoded.shape[0]:
        raise ValueError(f"X has {X_encoded.shape[0]} rows but y has {y_encoded.shape[0]}; they must match.")
    return fitted, X_encoded, y_encoded


def _grown_input(X, grow: FittedInput, owner: str) -> tuple[FittedInput, np.ndarray]:
    """Warm-start input: raw rows grow (a copy of) the fitted encoder; encoded rows must carry a grown spec."""
    spec = field_spec_of(X)
    if grow.encoder is not None and spec is None:
        encoder = _grown_encoder(grow, X)
        fitted = FittedInput(grow.classes, encoder, encoder.field_spec_, grow.n_features_in, grow.feature_names_in)
        return fitted, encoder.transform(X)
    if grow.encoder is not None or spec is None:
        return grow, grow.encode(X, owner)  # the error of raw rows given to the other kind of model
    mismatch = growth_mismatch(spec, grow.field_spec)
    if mismatch:
        raise ValueError(
            f"X's FieldSpec is not the one {owner} was fitted on with grown vocabularies ({mismatch}); to warm-start, "
            "grow the encoder with FieldEncoder.partial_fit (or FieldEncoder(warm_start=True) in a Pipeline) "
            "instead of fitting a new one."
        )
    fitted = FittedInput(grow.classes, None, spec, spec.n_columns, grow.feature_names_in)
    return fitted, encoded_array(X)


def _grown_encoder(grow: FittedInput, X, y=None) -> FieldEncoder:
    """A copy of the fitted encoder grown by ``X``: ``best_student_`` and users may hold the old one."""
    return copy.deepcopy(grow.encoder).partial_fit(X, y)


def prediction_tensors(X, fitted: FittedInput, owner: str) -> Iterator[FieldTensors]:
    """Encoded rows to predict: all of in-memory ``X`` at once, a table source one record batch at a time."""
    if not is_table_source(X):
        yield fitted.tensors(X, owner)
        return
    dataset = open_table_source(X)
    columns = None if fitted.feature_names_in is None else list(fitted.feature_names_in)
    if columns is not None:
        check_columns(dataset, columns, "X")
    empty = True
    for frame in iter_frames(dataset, columns):
        empty = False
        yield fitted.tensors(frame, owner)
    if empty:
        raise ValueError(f"X is empty: {owner} needs at least one sample to predict.")


def fit_labels(y, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """The two classes of ``y`` and ``y`` as 0/1 floats; anything but two labels without gaps is an error."""
    y = column_or_1d(y, warn=True)
    if y.shape[0] == 0:
        raise ValueError(f"{owner} needs at least one sample; y is empty.")
    if pd.isna(y).any():
        raise ValueError(f"y contains missing values (NaN/None) at rows {np.flatnonzero(pd.isna(y))[:5].tolist()}; drop or label them.")
    target_type = type_of_target(y, input_name="y", raise_unknown=True)
    if target_type not in ("binary", "multiclass"):
        raise ValueError(
            f"{owner} is a binary classifier: y must hold two class labels (e.g. 0/1 clicks), got {target_type} values."
        )
    classes = np.unique(y)
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported: {owner} needs two classes in y, got "
            f"{len(classes)} classes: {classes[:10].tolist()}."
        )
    if len(classes) < 2:
        raise ValueError(f"{owner} needs two classes in y, got 1 class: {classes.tolist()}.")
    return classes, np.searchsorted(classes, y).astype(np.float32)


def _fit_input(X, classes, owner: str) -> tuple[FittedInput, np.ndarray]:
    """Encode training input: fit a FieldEncoder on raw input, or take the spec an encoded array carries."""
    spec = field_spec_of(X)
    if spec is None:
        _warn_if_ids_in_floats(X)
        encoder = FieldEncoder()
        encoded = encoder.fit_transform(X)
        fitted = FittedInput(classes, encoder, encoder.field_spec_, encoder.n_features_in_,
                             getattr(encoder, "feature_names_in_", None))
    else:
        encoded = encoded_array(X)
        names = np.asarray(X.columns, dtype=object) if isinstance(X, pd.DataFrame) else None
        fitted = FittedInput(classes, None, spec, spec.n_columns, names)
    if encoded.shape[0] == 0:
        raise ValueError(f"{owner} needs at least one sample; X is empty.")
    return fitted, encoded


def _warn_if_ids_in_floats(X) -> None:
    """A float array without a FieldSpec whose columns hold whole numbers is likely ids that lost their spec."""
    if isinstance(X, pd.DataFrame) or not hasattr(X, "dtype") or np.asarray(X).dtype.kind != "f":
        return
    array = np.asarray(X)
    if array.ndim != 2 or not len(array):
        return
    with np.errstate(invalid="ignore"):
        whole = np.all((array == np.round(array)) | np.isnan(array), axis=0)
    counts = [len(np.unique(array[:, j][~np.isnan(array[:, j])])) for j in np.flatnonzero(whole)]
    suspects = [int(j) for j, n in zip(np.flatnonzero(whole), counts) if n > 2]
    if suspects:
        warnings.warn(
            f"Columns {[f'x{j}' for j in suspects[:10]]} of the float array X hold whole numbers only and are read as "
            "numeric features. If they are ids (e.g. a FieldEncoder's output that lost its FieldSpec), pass the FieldArray "
            "itself or a frame with integer id columns; if they are numbers, pass a DataFrame, which never warns.",
            UserWarning, stacklevel=4,
        )


def encoded_array(X) -> np.ndarray:
    """An encoded table as one numeric array (the pandas output holds its ids as categoricals)."""
    if isinstance(X, pd.DataFrame):
        return X.to_numpy(dtype=np.float64)
    return np.asarray(X)


def _check_not_raw(frame: pd.DataFrame, owner: str) -> None:
    """A frame without a FieldSpec given to a model fitted on encoded arrays must at least be numbers."""
    raw = [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c].dtype)
                                            or isinstance(frame[c].dtype, pd.CategoricalDtype))]
    if raw:
        raise ValueError(
            f"X holds raw values (columns {raw[:10]} are not numbers), but {owner} was fitted on encoded arrays; "
            "encode X with the FieldEncoder the model was fitted after, or fit a Pipeline(FieldEncoder(), model)."
        )


def stratified_holdout(y_encoded, classes, valid_size: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``valid_size`` of each class, at least one row of each, so validation AUC is defined."""
    rng = np.random.RandomState(seed)
    train_rows, valid_rows = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y_encoded == label))
        if len(rows) < 2:
            raise ValueError(
                f"Class {classes[label]!r} has a single sample: it cannot be both trained on and held out "
                "for validation. Pass eval_set=(X_valid, y_valid) or more data."
            )
        n_valid = min(max(1, int(round(valid_size * len(rows)))), len(rows) - 1)
        valid_rows.append(rows[:n_valid])
        train_rows.append(rows[n_valid:])
    return np.sort(np.concatenate(train_rows)), np.sort(np.concatenate(valid_rows))


def row_weights(sample_weight, class_weight, labels, X) -> np.ndarray | None:
    """Each row's weight: ``sample_weight`` (checked: one finite non-negative number a row, not all zero) times
    its class's ``class_weight`` (None, "balanced" or a dict, as scikit-learn's classifiers take it)."""
    weight = _batch_weights(sample_weight, class_weight, labels, X)
    if weight is None:
        return None
    _check_some_weight(weight)
    unweighted = [label for label in np.unique(labels) if not weight[labels == label].sum() > 0]
    if unweighted:
        raise ValueError(
            f"sample_weight (times class_weight) is zero for every row of class {unweighted[0]!r}: the weighted data "
            "hold one class; give some of its rows a positive weight."
        )
    return weight


def _check_some_weight(weight: np.ndarray) -> None:
    if not weight.sum() > 0:
        raise ValueError("sample_weight (times class_weight) is zero for every row; give some rows a positive weight.")


def _batch_weights(sample_weight, class_weight, labels, X) -> np.ndarray | None:
    """``row_weights`` without the checks over the whole data (a record batch may hold one class)."""
    if sample_weight is None and class_weight is None:
        return None
    try:
        weight = np.ones(len(labels)) if sample_weight is None else _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True, allow_all_zero_weights=True)
    except ValueError as exc:  # scikit-learn's messages do not always say which input they mean
        raise ValueError(f"sample_weight: {exc}") from None
    if class_weight is not None:
        weight = weight * compute_sample_weight(class_weight, labels)
    return weight


def _eval_set_tensors(eval_set, fitted: FittedInput, owner: str) -> FieldTensors:
    """The encoded validation rows of ``eval_set`` (a pair, or a triple with weights); a table source in it is
    read whole."""
    if not (isinstance(eval_set, (tuple, list)) and len(eval_set) in (2, 3)):
        raise ValueError("eval_set must be a pair (X_valid, y_valid) or a triple (X_valid, y_valid, sample_weight_valid).")
    X_valid, y_valid = eval_set[:2]
    X_valid = X_valid if is_table_source(X_valid) else as_pandas(X_valid, "eval_set's X")
    if is_table_source(X_valid):
        X_valid, y_valid = _read_labelled_source(X_valid, y_valid, "eval_set")
    y_encoded = fitted.encode_labels(y_valid, "eval_set")
    encoded = fitted.encode(X_valid, owner)
    if len(encoded) != len(y_encoded):
        raise ValueError(f"eval_set: X_valid has {len(encoded)} rows but y_valid has {len(y_encoded)}.")
    weight = row_weights(eval_set[2] if len(eval_set) == 3 else None, None, y_encoded, encoded)
    return FieldTensors.from_array(encoded, fitted.field_spec, y_encoded, weight)


def _read_labelled_source(source, label, what: str):
    """A (small) table source read into memory, split into features and the ``label`` column."""
    dataset = open_table_source(source)
    if not isinstance(label, str):
        raise ValueError(f"{what}: with a parquet path or pyarrow Dataset, give the label as its column name.")
    check_columns(dataset, [label], what)
    frame = dataset.to_table().to_pandas()
    return frame.drop(columns=label), frame[label].to_numpy()


def _check_both_classes(valid: FieldTensors) -> None:
    if torch.unique(valid.y).numel() < 2:
        raise ValueError("The validation data hold a single class; validation AUC needs both. Pass a different eval_set or valid_size.")


def _groups_of_eval_set(groups, X_valid) -> np.ndarray | None:
    """The group of every ``eval_set`` row: ``groups`` must name a column of both X and the eval_set's X."""
    if groups is None:
        return None
    if not isinstance(groups, str):
        raise ValueError(
            "With eval_set, pass groups as a column name present in both X and eval_set's X: an array aligned "
            "with X gives no group for the validation rows."
        )
    if is_table_source(X_valid):
        X_valid = open_table_source(X_valid).to_table(columns=[groups]).to_pandas()
    return _group_column(X_valid, groups, "eval_set's X")


def _groups_of_holdout(groups, X, valid_rows) -> np.ndarray | None:
    """The group of every held-out row, from a column name of ``X`` or an array aligned with ``X``."""
    if groups is None:
        return None
    if isinstance(groups, str):
        return _group_column(X, groups, "X")[valid_rows]
    values = column_or_1d(np.asarray(groups, dtype=object))
    if len(values) != len(X):
        raise ValueError(f"groups has {len(values)} entries but X has {len(X)} rows; they must match.")
    if pd.isna(values).any():
        raise ValueError("groups contains missing values; give every row a group.")
    return values[valid_rows]


def _group_column(frame, name: str, where: str) -> np.ndarray:
    frame = as_pandas(frame)
    if not isinstance(frame, pd.DataFrame) or name not in frame.columns:
        raise ValueError(
            f"groups={name!r} is not a column of {where}; pass the name of a DataFrame column (e.g. the "
            "user id) or an array with the group of every row of X."
        )
    return frame[name].to_numpy()


def _streamed_training_data(X, y, eval_set, groups, owner: str, sample_weight=None, class_weight=None,
                            grow: FittedInput | None = None) -> TrainingData:
    """Out-of-core input: fit the encoder by streaming, read the validation data, stream the training rows.

    ``sample_weight`` names a weight column of the table (left out of the fields); ``class_weight="balanced"``
    is computed from the label column, read whole (one column). ``grow`` is a warm start's fitted layout.
    """
    dataset = open_table_source(X)
    weight_column = _weight_column(sample_weight, dataset)
    if not isinstance(y, str):
        raise ValueError(
            "With a parquet path or pyarrow Dataset as X, y must name its label column, "
            "e.g. fit('train.parquet', y='click')."
        )
    check_columns(dataset, [y], "y")
    if eval_set is None:
        raise ValueError(
            "Training from a parquet path or pyarrow Dataset needs eval_set=(X_valid, y_valid) for early stopping: "
            "a DataFrame and its labels, or a second path and its label column name."
        )
    label_counts = stream_labels(dataset, y)
    labels = np.array(list(label_counts))
    if grow is None:
        classes, _ = fit_labels(labels, owner)
        encoder = FieldEncoder().fit(_without(dataset, weight_column), y=y)
    elif grow.encoder is None:
        raise ValueError(f"{owner} was fitted on encoded arrays; a parquet table of raw rows cannot warm-start it.")
    else:
        classes = grow.classes
        grow.encode_labels(labels, f"Label column {y!r}")
        encoder = _grown_encoder(grow, _without(dataset, weight_column), y)
    if isinstance(class_weight, str):  # "balanced": n_samples / (2 * count), from the label column's counts
        absent = [label for label in classes if not label_counts.get(label)]
        if absent:
            raise ValueError(f"class_weight='balanced': label column {y!r} holds no row of class {absent[0]!r}.")
        n_rows = sum(label_counts.values())
        class_weight = {label: n_rows / (len(classes) * label_counts.get(label, 0)) for label in classes}
    fitted = FittedInput(classes, encoder, encoder.field_spec_, encoder.n_features_in_, encoder.feature_names_in_)
    valid = _eval_set_tensors(eval_set, fitted, owner)
    _check_both_classes(valid)
    if groups is not None and not isinstance(groups, str):
        raise ValueError("With a parquet path or pyarrow Dataset as X, pass groups as a column name of eval_set's X.")
    valid_groups = _groups_of_eval_set(groups, eval_set[0])
    features = list(fitted.feature_names_in)

    def encode(frame):
        labels = fitted.encode_labels(frame[y].to_numpy(), f"Label column {y!r}")
        weights = None if weight_column is None else frame[weight_column].to_numpy(dtype=np.float64, na_value=np.nan)
        weight = _batch_weights(weights, class_weight, fitted.classes[labels.astype(int)], labels)
        return FieldTensors.from_array(encoder.transform(frame[features]), fitted.field_spec, labels, weight)

    columns = features + [y] + ([weight_column] if weight_column else [])
    return TrainingData(fitted, FieldStream(dataset, columns, encode), valid, valid_groups)


def _weight_column(sample_weight, dataset) -> str | None:
    """The weight column a streamed fit reads, checked against the table."""
    if sample_weight is None:
        return None
    if not isinstance(sample_weight, str):
        raise ValueError(
            "With a parquet path or pyarrow Dataset as X, sample_weight must name its weight column, "
            "e.g. fit('train.parquet', y='click', sample_weight='weight')."
        )
    check_columns(dataset, [sample_weight], "sample_weight")
    return sample_weight


def _without(dataset, column):
    """``dataset`` without ``column`` (a weight column is no feature)."""
    if column is None:
        return dataset
    import pyarrow as pa

    schema = dataset.schema
    return dataset.replace_schema(pa.schema([f for f in schema if f.name != column], metadata=schema.metadata))
