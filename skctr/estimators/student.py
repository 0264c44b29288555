"""A single network from the registry as a classifier: the baseline, and what ``best_student_`` is."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..nn import SingleNetwork
from ..nn.students import explicit_spec, parse_student
from ._base import CTRClassifierBase
from ._docs import fill_doc
from ._params import CORE_CONSTRAINTS


@fill_doc
class StudentClassifier(CTRClassifierBase):
    """One CTR network (any registered student) on its own field embedding.

    Trained alone it is the single-model baseline (``student="mlp"`` is the
    DNN of the CTR benchmarks). An ensemble's ``best_student_`` and
    ``get_student(k)`` are instances of this class, fitted by extraction.

    Parameters
    ----------
    student : str or (str, dict), default="mlp"
        Registry name of the network, optionally with its own parameters,
        which take precedence over ``hidden_units``, ``dropout`` and
        ``batch_norm``; see :func:`skctr.nn.available_students`.
    {core_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; ``classes_[1]`` is the positive (click) class.
    encoder_ : FieldEncoder or None
        The encoder fitted on raw input; None when ``X`` came from a FieldEncoder.
    field_spec_ : FieldSpec
        Layout of the encoded input the network reads.
    n_features_in_ : int
        Number of input columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` had string column names.
    net_ : skorch.NeuralNetBinaryClassifier
        The trained skorch net (``net_.module_`` is the torch module).
    history_ : skorch.History
        Per-epoch training loss, validation AUC/logloss, learning rate.
    batch_size_ : int
        The batch size training used (``batch_size`` with "auto" resolved).
    batch_norm_ : bool
        Whether the networks normalise (``batch_norm`` with "auto" resolved).
    student_scores_ : DataFrame
        Validation AUC and logloss of the restored best epoch.
    calibration_ : ndarray of shape (2, 2)
        Scale and shift applied to the logit (rows: prediction, network;
        identity when ``calibrate=False``).

    See Also
    --------
    KDEFClassifier : an ensemble of such networks trained with knowledge transfer.

    Examples
    --------
    >>> from skctr import StudentClassifier
    >>> from skctr.datasets import make_ctr
    >>> X, y = make_ctr(n_samples=3000, random_state=0)
    >>> clf = StudentClassifier(hidden_units=(64, 64), max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X.head(2)).shape
    (2, 2)
    """

    _is_ensemble = False
    _parameter_constraints = {**CORE_CONSTRAINTS, "student": "no_validation"}  # a registry spec: _check_params

    def __init__(
        self,
        student="mlp",
        *,
        embedding_dim=16,
        hidden_units=(400, 400, 400),
        dropout=0.2,
        batch_norm="auto",
        lr=1e-3,
        batch_size="auto",
        max_epochs=100,
        patience=3,
        embedding_l2=0.05,
        valid_size=0.1,
        class_weight=None,
        negative_sampling_rate=None,
        calibrate=True,
        warm_start=False,
        sparse_embeddings="auto",
        device="auto",
        mixed_precision=None,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.student = student
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.embedding_l2 = embedding_l2
        self.valid_size = valid_size
        self.class_weight = class_weight
        self.negative_sampling_rate = negative_sampling_rate
        self.calibrate = calibrate
        self.warm_start = warm_start
        self.sparse_embeddings = sparse_embeddings
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _check_params(self):
        # internal: an extracted TF4CTR branch (best_student_) must clone and refit like any student.
        parse_student(self.student, "student", internal=True)

    def _member_names(self):
        return [parse_student(self.student, "student", internal=True)[0]]

    def _module_config(self, field_spec, device):
        return SingleNetwork, {
            "field_spec": field_spec,
            "embedding_dim": self.embedding_dim,
            "student": self.student,
            "shared_params": self._shared_params(),
        }

    def _adopt(self, ensemble, embedding, student, scores, calibration):
        """Become a fitted estimator made of ``ensemble``'s ``embedding`` and ``student`` modules."""
        check_is_fitted(ensemble, "net_")
        for name in ("classes_", "encoder_", "field_spec_", "n_features_in_", "feature_names_in_"):
            if hasattr(ensemble, name):
                setattr(self, name, getattr(ensemble, name))
        self.batch_size_, self.batch_norm_ = ensemble.batch_size_, ensemble.batch_norm_
        self.net_ = self._make_net(ensemble.net_.device, train_split=None)
        with torch.random.fork_rng(devices=[]):
            self.net_.initialize()
        self.net_.module_.embedding.load_state_dict(embedding.state_dict())
        self.net_.module_.student.load_state_dict(student.state_dict())
        self.net_.module_.eval()
        self.student_scores_ = scores
        self.calibration_ = np.array([calibration, calibration])
        return self


def student_estimator(ensemble, embedding, student, scores, calibration) -> StudentClassifier:
    """A fitted StudentClassifier equal to ``student`` on ``embedding`` taken from a fitted ensemble."""
    params = ensemble.get_params()
    core = {key: params[key] for key in StudentClassifier().get_params() if key in params and key != "student"}
    core["embedding_dim"] = embedding.embedding_dim
    core["batch_norm"] = ensemble.batch_norm_  # the architecture it was trained with, "auto" resolved
    return StudentClassifier(student=explicit_spec(student), **core)._adopt(ensemble, embedding, student, scores, calibration)
