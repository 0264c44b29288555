"""The fit/predict machinery every skctr classifier shares.

The public estimators follow scikit-learn's conventions to the letter
(parameters stored verbatim, validated in ``fit`` against
``_parameter_constraints``, learned attributes ending in ``_``). Input goes
through :mod:`._inputs` once; training runs in the skorch net of
:mod:`._net`, kept as ``net_``.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from skorch.helper import predefined_split

from ._calibration import IDENTITY, fit_platt
from ..metrics import binary_scores
from ..nn import grown_optimizer_state, grown_state
from ..nn.optim import LazyAdam
from ._callbacks import member_scores
from ._data import FieldTensors
from ._device import check_device_available, data_parallel_shard, resolve_device
from ._inputs import FittedInput, prediction_tensors, training_data, update_data
from ._net import CTRNet, FitInterrupted
from ._params import CORE_CONSTRAINTS


#: With sparse_embeddings="auto", tables of this many rows or more (all fields together) train row-sparse.
SPARSE_TABLE_ROWS = 100_000
#: batch_size="auto" gives an epoch about this many optimizer steps, within BATCH_SIZE_RANGE (docs/defaults.md).
STEPS_PER_EPOCH = 32
BATCH_SIZE_RANGE = (256, 4096)
#: batch_norm="auto" normalises from this many training rows on; below, it costs AUC (docs/defaults.md).
BATCH_NORM_ROWS = 100_000


def auto_batch_size(n_rows: int) -> int:
    """The power of two nearest ``n_rows / STEPS_PER_EPOCH``, clipped to ``BATCH_SIZE_RANGE``."""
    low, high = BATCH_SIZE_RANGE
    return int(min(max(2 ** round(np.log2(max(n_rows, 1) / STEPS_PER_EPOCH)), low), high))


def _lineage(spec):
    return [field.lineage for field in spec]


@contextlib.contextmanager
def _seeded(device, seed):
    """Fork torch's generators (CPU and ``device``'s) and seed them with ``seed`` unless it is None."""
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)
        yield


class CTRClassifierBase(ClassifierMixin, BaseEstimator):
    """Fit/predict machinery shared by skctr's classifiers; not for direct use.

    Subclasses define ``__init__`` (calling nothing, storing parameters),
    ``_parameter_constraints`` (:data:`CORE_CONSTRAINTS` and their own rows),
    ``_check_params()`` for rules across parameters, ``_module_config(field_spec,
    device)`` returning the module factory and its keyword arguments, and
    ``_member_names()``.
    """

    #: Whether the model is an ensemble whose prediction differs from its members'.
    _is_ensemble = True
    _parameter_constraints: dict = CORE_CONSTRAINTS

    # ------------------------------------------------------------------ parameters
    def validate_params(self):
        """Check every parameter as ``fit`` does, without data: a ValueError names the first invalid one.

        Returns
        -------
        self
        """
        self._validate_params()
        check_device_available(self.device)
        self._check_params()
        return self

    def _check_params(self):
        """Rules that tie parameters together; the table in ``_parameter_constraints`` checks each alone."""

    def _shared_params(self) -> dict:
        return {"hidden_units": tuple(self.hidden_units), "dropout": self.dropout, "batch_norm": self.batch_norm_}

    def _resolve_size_rules(self, n_rows: int, keep_architecture: bool = False) -> None:
        """``batch_size_`` and ``batch_norm_``: the parameters, with "auto" decided by the training rows. A warm
        start keeps the fitted ``batch_norm_`` under "auto": the architecture must stay as trained."""
        self.batch_size_ = auto_batch_size(n_rows) if self.batch_size == "auto" else int(self.batch_size)
        if not (keep_architecture and self.batch_norm == "auto"):
            self.batch_norm_ = n_rows >= BATCH_NORM_ROWS if self.batch_norm == "auto" else bool(self.batch_norm)

    # ------------------------------------------------------------------ data
    def _adopt_input(self, fitted: FittedInput) -> None:
        self.classes_, self.encoder_, self.field_spec_ = fitted.classes, fitted.encoder, fitted.field_spec
        self.n_features_in_ = fitted.n_features_in
        if fitted.feature_names_in is not None:
            self.feature_names_in_ = fitted.feature_names_in
        elif hasattr(self, "feature_names_in_"):  # from an earlier fit on a frame
            del self.feature_names_in_

    @property
    def _fitted_input(self) -> FittedInput:
        return FittedInput(self.classes_, self.encoder_, self.field_spec_, self.n_features_in_,
                           getattr(self, "feature_names_in_", None))

    def _make_net(self, device, *, train_split, callbacks=None, verbose=0, shard=(0, 1), warm_start=False) -> CTRNet:
        factory, module_kwargs = self._module_config(self.field_spec_, str(device))
        return CTRNet(
            factory,
            **{f"module__{key}": value for key, value in module_kwargs.items()},
            member_names=self._member_names(),
            embedding_l2=self.embedding_l2,
            patience=self.patience,
            mixed_precision=self.mixed_precision,
            shard=shard,
            sparse_embeddings=self._sparse_tables(),
            optimizer=LazyAdam,
            optimizer__sparse_state_dtype=torch.bfloat16,
            lr=self.lr,
            batch_size=self.batch_size_,
            max_epochs=self.max_epochs,
            train_split=train_split,
            callbacks=list(callbacks) if callbacks else None,
            device=device,
            verbose=int(verbose),
            warm_start=warm_start,
        )

    def _sparse_tables(self) -> bool:
        """Whether the tables train row-sparse: ``sparse_embeddings``, with "auto" deciding by their rows."""
        if self.sparse_embeddings != "auto":
            return bool(self.sparse_embeddings)
        return sum(f.vocab_size for f in self.field_spec_ if f.is_indexed and f.target is None) >= SPARSE_TABLE_ROWS

    def fit(self, X, y, sample_weight=None, *, eval_set=None, groups=None):
        """Fit the model, selecting epochs on validation AUC.

        With ``warm_start=True`` on a fitted model, training continues from
        its weights on ``X`` instead of starting over (see ``warm_start``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw impressions (an encoder is fitted and kept as ``encoder_``) or
            the output of a fitted :class:`~skctr.preprocessing.FieldEncoder`.
        y : array-like of shape (n_samples,)
            Two class labels (0/1 clicks, booleans or any two values).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of every row (times ``class_weight``): every
            loss term is a weighted mean over the samples, so an integer
            weight k trains as k copies of the row and a zero weight as a
            dropped row. Held-out validation rows keep their weights. With a
            parquet path as ``X``, the name of its weight column.
        eval_set : tuple (X_valid, y_valid) or (X_valid, y_valid, sample_weight_valid), optional
            Validation data for early stopping, member scores and
            calibration, weighted by its third element when given. Without it
            a stratified ``valid_size`` fraction of ``X`` is held out.
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
        self.validate_params()
        seed = self._seed()
        device = resolve_device(self.device)
        shard = data_parallel_shard()
        if shard[1] > 1:
            # Every process must split, initialise and shuffle alike: they share rank 0's seed.
            box = [seed if seed is not None else int(np.random.randint(np.iinfo(np.int32).max))]
            torch.distributed.broadcast_object_list(box, src=0, device=torch.device(device) if device.startswith("cuda") else None)
            seed = box[0]
        trained = self.net_ if self.warm_start and hasattr(self, "net_") else None
        data = training_data(X, y, sample_weight=sample_weight, class_weight=self.class_weight, eval_set=eval_set,
                             groups=groups, valid_size=self.valid_size, seed=seed, owner=type(self).__name__,
                             grow=None if trained is None else self._fitted_input)
        self._adopt_input(data.input)
        train, valid, valid_groups = data.train, data.valid, data.valid_groups
        self._resolve_size_rules(len(train), keep_architecture=trained is not None)
        with _seeded(device, seed):
            self.net_ = self._make_net(
                device, train_split=predefined_split(valid), callbacks=self.callbacks,
                verbose=self.verbose if shard[0] == 0 else 0, shard=shard, warm_start=trained is not None,
            )
            if trained is not None:
                self.net_.initialize()
                self._continue_from(trained)
                self.net_.starting_score = self._validation_auc(valid)
            try:
                self.net_.fit(train, None)
            except FitInterrupted:
                # A model trained on a few batches must not pass for a fitted one.
                del self.net_
                raise KeyboardInterrupt(f"{type(self).__name__}.fit was interrupted; the model is not fitted.") from None
        if shard[1] > 1:
            # The fitted model is an ordinary one-process model on every rank: unwrap, stop sharding.
            self.net_.module_ = self.net_.network
            self.net_.shard = (0, 1)
        # The validation set is no longer needed; keep it out of pickles.
        self.net_.train_split = None
        self.net_.starting_score = None
        self._score_members(valid, valid_groups)
        self._correct_for_sampling()
        self._choose_best_student()
        return self

    def partial_fit(self, X, y, sample_weight=None, *, classes=None):
        """Update the model with one pass over ``X``: no validation, learning-rate schedule or early stopping.

        For streaming updates between full ``fit`` calls. New ids in raw rows
        grow ``encoder_`` and the embedding tables (learned rows kept, new
        rows initialised as a new table's are); the optimizer's state (Adam's
        moments, grown with the tables, zero for new rows) carries over from
        call to call and from ``fit``, and every call trains at ``lr``.
        Before the update, the rows are scored with the model as it stands,
        new ids on their untrained rows (progressive validation): that is
        ``student_scores_`` (left as it was when the rows hold one class),
        which chooses ``best_student_index_``; ``best_student_`` is rebuilt
        from the updated weights. The calibration is kept from the last
        ``fit``: partial_fit has no held-out data to fit one.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            New rows, raw or encoded like those of ``fit``.
        y : array-like of shape (n_samples,)
            Their labels, among ``classes_``.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights, as in ``fit`` (times a dict ``class_weight``;
            ``"balanced"`` needs all the data and is refused here).
        classes : array-like of shape (2,), optional
            The two class labels, needed on an unfitted model when ``y`` holds
            one of them; ignored once fitted.

        Returns
        -------
        self
        """
        self.validate_params()
        if data_parallel_shard()[1] > 1:
            raise RuntimeError(f"{type(self).__name__}.partial_fit runs in one process; under torchrun, use fit with "
                               "warm_start=True, which trains data-parallel.")
        fitted = hasattr(self, "net_")
        spec = self.field_spec_ if fitted else None
        new_input, rows = update_data(X, y, sample_weight=sample_weight, class_weight=self.class_weight,
                                      classes=classes, owner=type(self).__name__,
                                      grow=self._fitted_input if fitted else None)
        self._adopt_input(new_input)
        device = resolve_device(self.device) if not fitted else self.net_.device
        if not fitted:
            self._resolve_size_rules(len(rows))
            self.net_ = self._initialised_update_net(device)
            self.calibration_ = np.array([IDENTITY] * (1 + len(self._member_names())))
            self._correct_for_sampling()
        elif _lineage(self.field_spec_) != _lineage(spec):
            self._grow_net(device)
        self._score_progressively(rows)
        with _seeded(device, self._pass_seed()):
            self.net_.train_pass(rows, self.lr)
        self._choose_best_student()
        return self

    def _continue_from(self, trained: CTRNet) -> None:
        """Give the new, initialised ``net_`` the weights and Adam state of ``trained``, grown to the vocabularies
        of ``field_spec_``, at learning rate ``lr``."""
        try:
            state, table_rows = grown_state(trained.network, self.net_.network)
        except ValueError as exc:
            raise ValueError(
                f"{type(self).__name__} cannot continue the fitted network: {exc} A warm start or partial_fit keeps the "
                "architecture, so its parameters (embedding_dim, hidden_units, students, ...) must stay as fitted; "
                "set warm_start=False to train a new model."
            ) from None
        self.net_.network.load_state_dict(state)
        names = [name for name, _ in self.net_.network.named_parameters()]
        self.net_.optimizer_.load_state_dict(grown_optimizer_state(trained.optimizer_.state_dict(), names, table_rows))
        for group in self.net_.optimizer_.param_groups:
            group["lr"] = self.lr

    def _initialised_update_net(self, device) -> CTRNet:
        """A new, initialised net for ``field_spec_`` without validation data, as partial_fit trains."""
        with _seeded(device, self._seed()):
            net = self._make_net(device, train_split=None, callbacks=self.callbacks)
            net.initialize()
        return net

    def _grow_net(self, device):
        """A net on the grown ``field_spec_`` with the trained weights, optimizer state and history (partial_fit)."""
        old = self.net_
        self.net_ = self._initialised_update_net(device)
        self._continue_from(old)
        self.net_.history = old.history

    def _validation_auc(self, valid: FieldTensors) -> float:
        logits, _ = self._forward_dataset(valid)
        return binary_scores(valid.y.numpy(), torch.sigmoid(logits).numpy(), valid.weight_array())[0]

    def _score_progressively(self, rows: FieldTensors) -> None:
        """Score ``rows`` before learning from them; kept as ``student_scores_`` when they hold both classes."""
        y = rows.y.numpy()
        if np.unique(y).size < 2 and hasattr(self, "student_scores_"):
            return
        logits, member_logits = self._calibrated(*self._forward_dataset(rows))
        self.student_scores_ = member_scores(
            y, torch.sigmoid(logits).numpy(), torch.sigmoid(member_logits).numpy(), self._member_names(),
            ensemble=self._is_ensemble, sample_weight=rows.weight_array(),
        )

    def _correct_for_sampling(self) -> None:
        if self.negative_sampling_rate is not None:
            # Odds times r undo keeping a fraction r of the non-clicks: a shift of log(r) on every calibrated logit.
            self.calibration_[:, 1] += np.log(self.negative_sampling_rate)

    def _choose_best_student(self) -> None:
        """The member with the best validation AUC (lowest logloss where AUC is undefined), rebuilt from the
        current weights, and whether the model predicts with it (``prediction``)."""
        if not self._is_ensemble:
            return
        members = self.student_scores_.iloc[1:]
        auc = members["auc"].to_numpy()
        self.best_student_index_ = int(np.nanargmax(auc) if not np.isnan(auc).all() else np.argmin(members["logloss"].to_numpy()))
        self.best_student_ = self.get_student(self.best_student_index_)
        ensemble_auc = self.student_scores_["auc"].iloc[0]
        # NaN compares False: with an undefined AUC the fusion stays, as "auto" promises nothing better.
        member_wins = auc[self.best_student_index_] > ensemble_auc
        use_member = self.prediction == "best_student" or (self.prediction == "auto" and member_wins)
        self.prediction_ = self._member_names()[self.best_student_index_] if use_member else "ensemble"

    def _seed(self):
        """An int seed (or None) from ``random_state``; a RandomState gives its next draw."""
        if isinstance(self.random_state, np.random.RandomState):
            return self.random_state.randint(np.iinfo(np.int32).max)
        return self.random_state

    def _pass_seed(self):
        """The seed of partial_fit's next pass: ``random_state`` moved on by the epochs trained, so that passes
        shuffle differently but the same calls give the same model."""
        seed = self._seed()
        return None if seed is None else (seed + len(self.net_.history)) % np.iinfo(np.int32).max

    def _score_members(self, valid: FieldTensors, groups=None):
        """Fit the calibration (if asked) and score the prediction and every member on the validation data."""
        logits, member_logits = self._forward_dataset(valid)
        y, weight = valid.y.numpy(), valid.weight_array()
        columns = [logits.numpy()] + list(member_logits.numpy().T)
        self.calibration_ = np.array([fit_platt(z, y, weight) if self.calibrate else IDENTITY for z in columns])
        logits, member_logits = self._calibrated(logits, member_logits)
        self.student_scores_ = member_scores(
            y, torch.sigmoid(logits).numpy(), torch.sigmoid(member_logits).numpy(), self._member_names(),
            ensemble=self._is_ensemble, groups=groups, sample_weight=weight,
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
        # A table source comes one record batch at a time: memory holds the batch and the predictions.
        parts = [self._forward_dataset(t) for t in prediction_tensors(X, self._fitted_input, type(self).__name__)]
        logits, member_logits = self._calibrated(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        if getattr(self, "prediction_", "ensemble") != "ensemble":
            logits = member_logits[:, self.best_student_index_]
        return logits, member_logits

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


