"""The estimator core shared by every skctr classifier.

The public estimators follow scikit-learn's conventions to the letter
(parameters stored verbatim, validation in ``fit``, learned attributes ending
in ``_``). Training itself runs in a skorch ``NeuralNetBinaryClassifier``
subclass created in ``fit`` and kept as ``net_``: skorch supplies the loop,
callbacks, history, device handling and CUDA-to-CPU unpickling, while this
module supplies the fast tensor data path, the CTR training recipe and the
per-member validation metrics.
"""
from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import (
    EpochTimer,
    GradientNormClipping,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.dataset import unpack_data
from skorch.helper import predefined_split
from skorch.utils import TeeGenerator

from ..nn import FieldEmbedding
from ..preprocessing import FieldEncoder, field_spec_of
from ..preprocessing._source import check_columns, is_table_source, iter_frames, open_table_source
from ._calibration import IDENTITY, fit_platt
from ._callbacks import MemberScoring, ReleasingLRScheduler, RestoringEarlyStopping, member_scores
from ._data import BatchIterator, FieldTensors
from ._stream import FieldStream, StreamBatchIterator, stream_labels

#: Gradient-norm clipping threshold of the CTR training recipe (FuxiCTR's); without it the first epochs crawl.
GRADIENT_CLIP_NORM = 10.0
#: Learning-rate floor when the rate is divided by 10 after each non-improving epoch.
MIN_LR = 1e-6
#: An epoch counts as an improvement only if validation AUC rises by more than this.
IMPROVEMENT_THRESHOLD = 1e-6
#: ``mixed_precision`` values and the autocast dtype of each.
MIXED_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}


class CTRNet(NeuralNetBinaryClassifier):
    """skorch net running a skctr module with the CTR training recipe.

    Each epoch: shuffled tensor-slice batches, Adam, gradient norm clipped at
    10, ``embedding_l2 / 2 * sum(W**2)`` over every embedding table added to
    the training loss, validation AUC/logloss of the prediction and every
    member recorded, learning rate divided by 10 after each epoch without a
    validation-AUC gain, stop after ``patience`` such epochs in a row, best
    weights restored. With ``mixed_precision`` the forward passes run under
    ``torch.autocast`` in that dtype (losses in float32), and fp16 training
    scales the loss with a ``GradScaler``, unscaling before gradient clipping.
    """

    def __init__(self, module, *args, member_names=(), embedding_l2=0.0, patience=2, mixed_precision=None,
                 shard=(0, 1), **kwargs):
        super().__init__(module, *args, **kwargs)
        self.member_names = member_names
        self.embedding_l2 = embedding_l2
        self.patience = patience
        self.mixed_precision = mixed_precision
        self.shard = shard

    def initialize_module(self):
        super().initialize_module()
        if self.shard[1] > 1:
            # Data-parallel training: DistributedDataParallel broadcasts rank 0's initial weights and
            # all-reduces (averages) gradients during backward. The estimator unwraps it after fit.
            # DDP wants the module on its device already; skorch would move it only after this method.
            device = torch.device(self.device)
            device_ids = None
            if device.type == "cuda":
                device_ids = [torch.cuda.current_device() if device.index is None else device.index]
            self.module_ = torch.nn.parallel.DistributedDataParallel(self.module_.to(device), device_ids=device_ids)
        return self

    @property
    def network(self) -> torch.nn.Module:
        """The skctr module, inside its DistributedDataParallel wrapper or not."""
        return getattr(self.module_, "module", self.module_)

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_scoring", MemberScoring(list(self.member_names))),
            (
                "lr_plateau",
                ReleasingLRScheduler(
                    policy="ReduceLROnPlateau",
                    monitor="valid_auc",
                    mode="max",
                    factor=0.1,
                    patience=0,
                    threshold=IMPROVEMENT_THRESHOLD,
                    threshold_mode="abs",
                    min_lr=MIN_LR,
                ),
            ),
            (
                "early_stopping",
                RestoringEarlyStopping(
                    monitor="valid_auc",
                    lower_is_better=False,
                    patience=self.patience,
                    threshold=IMPROVEMENT_THRESHOLD,
                    threshold_mode="abs",
                    load_best=True,
                ),
            ),
            ("gradient_clipping", GradientNormClipping(GRADIENT_CLIP_NORM)),
            ("print_log", PrintLog()),
        ]
        if self.verbose:
            callbacks.insert(-1, ("progress_bar", ProgressBar()))
        return callbacks

    def get_iterator(self, dataset, training=False):
        # Validation is not sharded: every process scores the whole set, so early stopping agrees.
        shard = self.shard if training else (0, 1)
        iterator = StreamBatchIterator if isinstance(dataset, FieldStream) else BatchIterator
        return iterator(dataset, self.batch_size, shuffle=training, device=self.device, shard=shard)

    def infer(self, x, **fit_params):
        if self.mixed_precision is None:
            return super().infer(x, **fit_params)
        with torch.autocast(torch.device(self.device).type, dtype=MIXED_PRECISION[self.mixed_precision]):
            output = super().infer(x, **fit_params)
        # Losses, calibration and metrics read float32, whatever the layers computed in.
        return tuple(t.float() for t in output)

    def train_step(self, batch, **fit_params):
        if self.mixed_precision != "fp16":
            return super().train_step(batch, **fit_params)
        # fp16 gradients underflow without loss scaling; skorch's closure-based optimizer step cannot
        # host a GradScaler, so the step is spelled out here.
        if getattr(self, "grad_scaler_", None) is None:
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        self._zero_grad_optimizer()
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.grad_scaler_.scale(loss).backward()
        self.grad_scaler_.unscale_(self.optimizer_)  # clipping callbacks must see the true gradients
        self.notify(
            "on_grad_computed", named_parameters=TeeGenerator(self.get_all_learnable_params()), batch=batch, training=True
        )
        self.grad_scaler_.step(self.optimizer_)
        self.grad_scaler_.update()
        return {"loss": loss, "y_pred": y_pred}

    def on_train_end(self, net, **kwargs):
        # The scaler's state lives on the training device and only matters within one fit.
        self.grad_scaler_ = None

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = self.network.loss(y_pred, y_true)
        if training and self.embedding_l2:
            penalty = sum(m.l2_penalty() for m in self.module_.modules() if isinstance(m, FieldEmbedding))
            loss = loss + self.embedding_l2 * penalty
        return loss


def data_parallel_shard() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised torch.distributed process group; ``(0, 1)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def resolve_device(device) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    In data-parallel training each process takes its own GPU: torchrun's
    ``LOCAL_RANK`` (or the rank) modulo the visible GPUs.
    """
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        rank, world_size = data_parallel_shard()
        if world_size > 1:
            # Fewer GPUs than processes (a test, or a small model): processes share them round-robin.
            return f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
        return "cuda"
    return str(device)


def _check_both_classes(valid: FieldTensors) -> None:
    if torch.unique(valid.y).numel() < 2:
        raise ValueError("The validation data hold a single class; validation AUC needs both. Pass a different eval_set or valid_size.")


def _check_number(name, value, kind, low=None, high=None, low_open=False, high_open=False):
    valid = isinstance(value, kind) and not isinstance(value, (bool, np.bool_))
    if valid and low is not None:
        valid = value > low if low_open else value >= low
    if valid and high is not None:
        valid = value < high if high_open else value <= high
    if not valid:
        what = "an integer" if kind is numbers.Integral else "a number"
        bounds = f"{'(' if low_open else '['}{low}, {'inf)' if high is None else str(high) + (')' if high_open else ']')}"
        raise ValueError(f"{name} must be {what} in {bounds}, got {value!r}.")


def check_hidden_units(name, value):
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
        isinstance(u, numbers.Integral) and not isinstance(u, bool) and u > 0 for u in value
    ):
        raise ValueError(f"{name} must be a sequence of positive integers such as (400, 400, 400), got {value!r}.")


class CTRClassifierBase(ClassifierMixin, BaseEstimator):
    """Fit/predict machinery shared by skctr's classifiers; not for direct use.

    Subclasses define ``__init__`` (calling nothing, storing parameters),
    ``_check_params()``, ``_module_config(field_spec, device)`` returning the module
    factory and its keyword arguments, and ``_member_names()``.
    """

    #: Whether the model is an ensemble whose prediction differs from its members'.
    _is_ensemble = True

    # ------------------------------------------------------------------ parameters
    def _check_core_params(self):
        _check_number("embedding_dim", self.embedding_dim, numbers.Integral, 1)
        check_hidden_units("hidden_units", self.hidden_units)
        _check_number("dropout", self.dropout, numbers.Real, 0, 1, high_open=True)
        if not isinstance(self.batch_norm, (bool, np.bool_)):
            raise ValueError(f"batch_norm must be True or False, got {self.batch_norm!r}.")
        _check_number("lr", self.lr, numbers.Real, 0, low_open=True)
        _check_number("batch_size", self.batch_size, numbers.Integral, 1)
        _check_number("max_epochs", self.max_epochs, numbers.Integral, 1)
        _check_number("patience", self.patience, numbers.Integral, 1)
        _check_number("embedding_l2", self.embedding_l2, numbers.Real, 0)
        _check_number("valid_size", self.valid_size, numbers.Real, 0, 1, low_open=True, high_open=True)
        if not isinstance(self.calibrate, (bool, np.bool_)):
            raise ValueError(f"calibrate must be True or False, got {self.calibrate!r}.")
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision must be None, 'bf16' or 'fp16', got {self.mixed_precision!r}."
            )
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}.") from None
        if self.random_state is not None and not isinstance(self.random_state, (numbers.Integral, np.random.RandomState)):
            raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {self.random_state!r}.")
        _check_number("verbose", int(self.verbose) if isinstance(self.verbose, bool) else self.verbose, numbers.Integral, 0)
        if self.callbacks is not None and not isinstance(self.callbacks, (list, tuple)):
            raise ValueError(f"callbacks must be None or a list of skorch callbacks, got {self.callbacks!r}.")

    def _shared_params(self) -> dict:
        return {"hidden_units": tuple(self.hidden_units), "dropout": self.dropout, "batch_norm": self.batch_norm}

    # ------------------------------------------------------------------ data
    def _fit_labels(self, y) -> np.ndarray:
        name = type(self).__name__
        y = column_or_1d(y, warn=True)
        if y.shape[0] == 0:
            raise ValueError(f"{name} needs at least one sample; y is empty.")
        if pd.isna(y).any():
            raise ValueError(f"y contains missing values (NaN/None) at rows {np.flatnonzero(pd.isna(y))[:5].tolist()}; drop or label them.")
        target_type = type_of_target(y, input_name="y", raise_unknown=True)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"{name} is a binary classifier: y must hold two class labels (e.g. 0/1 clicks), got {target_type} values."
            )
        self.classes_ = np.unique(y)
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported: {name} needs two classes in y, got "
                f"{len(self.classes_)} classes: {self.classes_[:10].tolist()}."
            )
        if len(self.classes_) < 2:
            raise ValueError(f"{name} needs two classes in y, got 1 class: {self.classes_.tolist()}.")
        return np.searchsorted(self.classes_, y).astype(np.float32)

    def _fit_input(self, X) -> np.ndarray:
        """Encode training input; learns ``encoder_`` (raw input only) and ``field_spec_``."""
        spec = field_spec_of(X)
        if spec is None:
            self.encoder_ = FieldEncoder()
            encoded = self.encoder_.fit_transform(X)
            self.field_spec_ = self.encoder_.field_spec_
            self.n_features_in_ = self.encoder_.n_features_in_
            if hasattr(self.encoder_, "feature_names_in_"):
                self.feature_names_in_ = self.encoder_.feature_names_in_
        else:
            self.encoder_ = None
            self.field_spec_ = spec
            encoded = np.asarray(X)
            self.n_features_in_ = spec.n_columns
            if isinstance(X, pd.DataFrame):
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        if encoded.shape[0] == 0:
            raise ValueError(f"{type(self).__name__} needs at least one sample; X is empty.")
        return encoded

    def _check_width(self, X) -> None:
        if X.ndim != 2:
            raise ValueError(
                f"Expected a 2-D table of rows, got an array of shape {X.shape}. Reshape your data, e.g. "
                "X.reshape(1, -1) for a single row."
            )
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input."
            )

    def _encode(self, X) -> np.ndarray:
        if self.encoder_ is None:
            encoded = np.asarray(X)
            self._check_width(encoded)
            return encoded
        if not isinstance(X, pd.DataFrame):
            X = np.asarray(X)
            self._check_width(X)
        return self.encoder_.transform(X)

    def _dataset(self, X) -> FieldTensors:
        encoded = self._encode(X)
        if encoded.shape[0] == 0:
            raise ValueError(f"X is empty: {type(self).__name__} needs at least one sample to predict.")
        return FieldTensors.from_array(encoded, self.field_spec_)

    def _eval_set_tensors(self, eval_set) -> FieldTensors:
        """The encoded validation rows of ``eval_set``; a table source in it is read whole."""
        if not (isinstance(eval_set, (tuple, list)) and len(eval_set) == 2):
            raise ValueError("eval_set must be a pair (X_valid, y_valid).")
        X_valid, y_valid = eval_set
        if is_table_source(X_valid):
            X_valid, y_valid = self._read_labelled_source(X_valid, y_valid, "eval_set")
        y_valid = column_or_1d(y_valid)
        unknown = ~np.isin(y_valid, self.classes_)
        if unknown.any():
            raise ValueError(f"eval_set labels {np.unique(y_valid[unknown])[:5].tolist()} are not among the classes of y {self.classes_.tolist()}.")
        valid = FieldTensors.from_array(self._encode(X_valid), self.field_spec_, np.searchsorted(self.classes_, y_valid))
        if len(valid) != len(y_valid):
            raise ValueError(f"eval_set: X_valid has {len(valid)} rows but y_valid has {len(y_valid)}.")
        return valid

    @staticmethod
    def _read_labelled_source(source, label, what):
        """A (small) table source read into memory, split into features and the ``label`` column."""
        dataset = open_table_source(source)
        if not isinstance(label, str):
            raise ValueError(f"{what}: with a parquet path or pyarrow Dataset, give the label as its column name.")
        check_columns(dataset, [label], what)
        frame = dataset.to_table().to_pandas()
        return frame.drop(columns=label), frame[label].to_numpy()

    def _split(self, X_encoded, y_encoded, eval_set, seed):
        if eval_set is not None:
            valid = self._eval_set_tensors(eval_set)
            train = FieldTensors.from_array(X_encoded, self.field_spec_, y_encoded)
            valid_rows = None
        else:
            train_rows, valid_rows = self._stratified_holdout(y_encoded, seed)
            train = FieldTensors.from_array(X_encoded[train_rows], self.field_spec_, y_encoded[train_rows])
            valid = FieldTensors.from_array(X_encoded[valid_rows], self.field_spec_, y_encoded[valid_rows])
        _check_both_classes(valid)
        return train, valid, valid_rows

    def _validation_groups(self, groups, X, eval_set, valid_rows):
        """The group of every validation row, from a column name or an array aligned with ``X``."""
        if groups is None:
            return None
        if isinstance(groups, str):
            source = eval_set[0] if eval_set is not None else X
            where = "eval_set's X" if eval_set is not None else "X"
            if not isinstance(source, pd.DataFrame) or groups not in source.columns:
                raise ValueError(
                    f"groups={groups!r} is not a column of {where}; pass the name of a DataFrame column (e.g. the "
                    "user id) or an array with the group of every row of X."
                )
            values = source[groups].to_numpy()
            return values if eval_set is not None else values[valid_rows]
        if eval_set is not None:
            raise ValueError(
                "With eval_set, pass groups as a column name present in both X and eval_set's X: an array aligned "
                "with X gives no group for the validation rows."
            )
        values = column_or_1d(np.asarray(groups, dtype=object))
        if len(values) != len(X):
            raise ValueError(f"groups has {len(values)} entries but X has {len(X)} rows; they must match.")
        if pd.isna(values).any():
            raise ValueError("groups contains missing values; give every row a group.")
        return values[valid_rows]

    def _prepare_source(self, X, y, eval_set, groups):
        """Out-of-core input: fit the encoder by streaming, read the validation data, stream the training rows."""
        dataset = open_table_source(X)
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
        self._fit_labels(stream_labels(dataset, y))
        self.encoder_ = FieldEncoder().fit(dataset, y=y)
        self.field_spec_ = self.encoder_.field_spec_
        self.n_features_in_ = self.encoder_.n_features_in_
        self.feature_names_in_ = self.encoder_.feature_names_in_
        valid = self._eval_set_tensors(eval_set)
        _check_both_classes(valid)
        valid_groups = None
        if groups is not None:
            if not isinstance(groups, str):
                raise ValueError("With a parquet path or pyarrow Dataset as X, pass groups as a column name of eval_set's X.")
            X_valid = eval_set[0]
            if is_table_source(X_valid):
                X_valid = open_table_source(X_valid).to_table(columns=[groups]).to_pandas()
            valid_groups = self._validation_groups(groups, None, (X_valid, None), None)
        features = list(self.feature_names_in_)

        def encode(frame):
            labels = frame[y].to_numpy()
            unknown = ~np.isin(labels, self.classes_)
            if unknown.any():
                raise ValueError(f"Label column {y!r} holds {np.unique(labels[unknown])[:5].tolist()}, not a class of y.")
            return FieldTensors.from_array(
                self.encoder_.transform(frame[features]), self.field_spec_, np.searchsorted(self.classes_, labels)
            )

        return FieldStream(dataset, features + [y], encode), valid, valid_groups

    def _make_net(self, device, *, train_split, callbacks=None, verbose=0, shard=(0, 1)) -> CTRNet:
        factory, module_kwargs = self._module_config(self.field_spec_, str(device))
        return CTRNet(
            factory,
            **{f"module__{key}": value for key, value in module_kwargs.items()},
            member_names=self._member_names(),
            embedding_l2=self.embedding_l2,
            patience=self.patience,
            mixed_precision=self.mixed_precision,
            shard=shard,
            criterion=torch.nn.BCEWithLogitsLoss,
            optimizer=torch.optim.Adam,
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            train_split=train_split,
            callbacks=list(callbacks) if callbacks else None,
            device=device,
            verbose=int(verbose),
        )

    def _stratified_holdout(self, y_encoded, seed):
        """Hold out ``valid_size`` of each class, at least one row of each, so validation AUC is defined."""
        rng = np.random.RandomState(seed)
        train_rows, valid_rows = [], []
        for label in (0, 1):
            rows = rng.permutation(np.flatnonzero(y_encoded == label))
            if len(rows) < 2:
                raise ValueError(
                    f"Class {self.classes_[label]!r} has a single sample: it cannot be both trained on and held out "
                    "for validation. Pass eval_set=(X_valid, y_valid) or more data."
                )
            n_valid = min(max(1, int(round(self.valid_size * len(rows)))), len(rows) - 1)
            valid_rows.append(rows[:n_valid])
            train_rows.append(rows[n_valid:])
        return np.sort(np.concatenate(train_rows)), np.sort(np.concatenate(valid_rows))

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, eval_set=None, groups=None):
        """Fit the model, selecting epochs on validation AUC.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw impressions (an encoder is fitted and kept as ``encoder_``) or
            the output of a fitted :class:`~skctr.preprocessing.FieldEncoder`.
        y : array-like of shape (n_samples,)
            Two class labels (0/1 clicks, booleans or any two values).
        eval_set : tuple (X_valid, y_valid), optional
            Validation data for early stopping and member scores. Without it a
            stratified ``valid_size`` fraction of ``X`` is held out.
        groups : str or array-like of shape (n_samples,), optional
            The group of every row (e.g. the user), for the group AUC
            (:func:`skctr.metrics.gauc`) of the validation data in
            ``student_scores_``: a column name of ``X`` (and of ``eval_set``'s
            ``X``), or an array aligned with ``X`` when there is no
            ``eval_set``. Training and early stopping are unchanged.

        Returns
        -------
        self
        """
        self._check_core_params()
        self._check_params()
        seed = (
            self.random_state.randint(np.iinfo(np.int32).max)
            if isinstance(self.random_state, np.random.RandomState)
            else self.random_state
        )
        device = resolve_device(self.device)
        shard = data_parallel_shard()
        if shard[1] > 1:
            # Every process must split, initialise and shuffle alike: they share rank 0's seed.
            box = [seed if seed is not None else int(np.random.randint(np.iinfo(np.int32).max))]
            torch.distributed.broadcast_object_list(box, src=0, device=torch.device(device) if device.startswith("cuda") else None)
            seed = box[0]
        if is_table_source(X):
            train, valid, valid_groups = self._prepare_source(X, y, eval_set, groups)
        else:
            y_encoded = self._fit_labels(y)
            X_encoded = self._fit_input(X)
            if X_encoded.shape[0] != y_encoded.shape[0]:
                raise ValueError(f"X has {X_encoded.shape[0]} rows but y has {y_encoded.shape[0]}; they must match.")
            train, valid, valid_rows = self._split(X_encoded, y_encoded, eval_set, seed)
            valid_groups = self._validation_groups(groups, X, eval_set, valid_rows)
        devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            self.net_ = self._make_net(
                device, train_split=predefined_split(valid), callbacks=self.callbacks,
                verbose=self.verbose if shard[0] == 0 else 0, shard=shard,
            )
            self.net_.fit(train, None)
        if shard[1] > 1:
            # The fitted model is an ordinary one-process model on every rank: unwrap, stop sharding.
            self.net_.module_ = self.net_.network
            self.net_.shard = (0, 1)
        # The validation set is no longer needed; keep it out of pickles.
        self.net_.train_split = None
        self._score_members(valid, valid_groups)
        if self._is_ensemble:
            self.best_student_index_ = int(np.nanargmax(self.student_scores_["auc"].to_numpy()[1:]))
            self.best_student_ = self.get_student(self.best_student_index_)
        return self

    def _score_members(self, valid: FieldTensors, groups=None):
        """Fit the calibration (if asked) and score the prediction and every member on the validation data."""
        logits, member_logits = self._forward_dataset(valid)
        y = valid.y.numpy()
        columns = [logits.numpy()] + list(member_logits.numpy().T)
        self.calibration_ = np.array([fit_platt(z, y) if self.calibrate else IDENTITY for z in columns])
        logits, member_logits = self._calibrated(logits, member_logits)
        self.student_scores_ = member_scores(
            y, torch.sigmoid(logits).numpy(), torch.sigmoid(member_logits).numpy(), self._member_names(),
            ensemble=self._is_ensemble, groups=groups,
        )

    # ------------------------------------------------------------------ predict
    def _forward_dataset(self, dataset: FieldTensors):
        """Raw network logits: the prediction (n,) and every member (n, K)."""
        # Outputs stay on the device until the end: one copy to the host instead of one sync per batch.
        outputs = list(self.net_.forward_iter(dataset, device=self.net_.device))
        logits, member_logits = torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])
        return logits.double().cpu(), member_logits.double().cpu()

    def _calibrated(self, logits, member_logits):
        calibration = torch.as_tensor(self.calibration_, dtype=torch.float64)
        return logits * calibration[0, 0] + calibration[0, 1], member_logits * calibration[1:, 0] + calibration[1:, 1]

    def _predict_logits(self, X):
        check_is_fitted(self, "net_")
        if is_table_source(X):
            # One record batch at a time: memory holds the batch and the predictions, not the table.
            dataset = open_table_source(X)
            columns = list(self.feature_names_in_) if hasattr(self, "feature_names_in_") else None
            if columns is not None:
                check_columns(dataset, columns, "X")
            parts = [self._forward_dataset(self._dataset(frame)) for frame in iter_frames(dataset, columns)]
            if not parts:
                raise ValueError(f"X is empty: {type(self).__name__} needs at least one sample to predict.")
            return self._calibrated(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        return self._calibrated(*self._forward_dataset(self._dataset(X)))

    def decision_function(self, X) -> np.ndarray:
        """Logit of the positive class (``classes_[1]``) for each row."""
        return self._predict_logits(X)[0].numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, 2), columns ordered as ``classes_``."""
        positive = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        """Class labels, thresholding the positive-class probability at 0.5."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]

    def predict_proba_students(self, X) -> np.ndarray:
        """Positive-class probability of every member network, shape (n_samples, n_members)."""
        return torch.sigmoid(self._predict_logits(X)[1]).numpy()

    def student_modules(self) -> list[tuple[str, torch.nn.Module]]:
        """The fitted member networks as ``(name, torch module)`` pairs, e.g. for diagnostics.

        Read them, don't edit them: fused students (KDEF on CUDA) are handed out as copies.
        """
        check_is_fitted(self, "net_")
        return [(self._member_names()[0], self.net_.module_.student)]

    @property
    def history_(self):
        """skorch training history: per epoch losses, validation AUC/logloss (overall and per member), lr, time."""
        check_is_fitted(self, "net_")
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags


CORE_PARAMETERS_DOC = """\
    embedding_dim : int, default=16
        Width of every field embedding.
    hidden_units : sequence of int, default=(400, 400, 400)
        Hidden layer widths of the MLP networks.
    dropout : float, default=0.2
        Dropout rate after each hidden layer.
    batch_norm : bool, default=True
        Batch normalisation before each hidden activation.
    lr : float, default=1e-3
        Initial Adam learning rate; divided by 10 (down to 1e-6) after every
        epoch whose validation AUC does not improve.
    batch_size : int, default=4096
        Rows per training step.
    max_epochs : int, default=100
        Upper bound on epochs; early stopping usually ends training first.
    patience : int, default=2
        Stop after this many consecutive epochs without validation-AUC gain;
        the best epoch's weights are restored.
    embedding_l2 : float, default=0.05
        Coefficient of ``embedding_l2 / 2 * sum(W**2)`` over the whole
        embedding tables, added to every training step's loss (the CTR
        benchmarks' embedding regulariser; it matters a lot on sparse ids).
    valid_size : float, default=0.1
        Fraction of the training rows held out, stratified, for early stopping
        when ``fit`` gets no ``eval_set``.
    calibrate : bool, default=True
        After training, fit a scale and a shift of the logit (Platt scaling)
        of the prediction and of every member on the validation data. Ranking
        (AUC) is unchanged; logloss improves, since a network early-stopped on
        AUC has trained past its logloss optimum and is overconfident.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        ``"auto"`` uses CUDA when available. A model trained on a GPU
        unpickles and predicts on a CPU-only machine.
    mixed_precision : {None, "bf16", "fp16"}, default=None
        Run the networks' forward passes in bfloat16 or float16 through
        ``torch.autocast`` (losses and predictions stay float32/float64);
        ``"fp16"`` also scales the loss against gradient underflow. Meant for
        CUDA (bf16 on Ampere or newer); it is applied on a CPU too, where it
        is only fast with native bf16 support.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. With an int, CPU training is reproducible.
    verbose : int, default=0
        0 is silent; 1 prints a table row per epoch and a progress bar.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks, run after the built-in ones."""


def fill_doc(cls):
    """Insert the shared parameter documentation into a class docstring."""
    cls.__doc__ = cls.__doc__.replace("    {core_parameters}", CORE_PARAMETERS_DOC)
    return cls
