"""TF4CTRClassifier: the twin focus framework as a scikit-learn classifier."""
from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..nn.students import parse_student
from ..nn.tf4ctr import FUSION_MODES, SSEM_MODES, TF4CTR
from ._base import CTRClassifierBase
from ._docs import fill_doc
from .._validation import PositiveIntSequence, interval, non_negative, positive
from ._params import CORE_CONSTRAINTS, ENSEMBLE_CONSTRAINTS
from .student import StudentClassifier, student_estimator

@fill_doc
class TF4CTRClassifier(CTRClassifierBase):
    """TF4CTR: a simple and a complex encoder trained by the twin focus loss, dynamically fused.

    The sample selection embedding module feeds both encoders; the twin focus
    loss (``alpha``, ``c``, ``gamma``) up-weights easy samples for the simple
    encoder and hard ones for the complex encoder; the dynamic fusion module
    combines their outputs. The loss is the BCE of the fused prediction plus the
    twin focus loss (the TF4CTR paper; docs/algorithms.md, "TF4CTR").

    Parameters
    ----------
    ssem : {"ser", "gate", "moe", "share"}, default="ser"
        Sample selection embedding: two tables (the simple encoder's of width
        ``embedding_dim // 2``), a scalar gate per sample, two experts with two
        gates, or one shared table.
    fusion : {"wsf", "vote", "concat", "moe", "sum"}, default="wsf"
        Dynamic fusion: learnable weights starting at 0.5, Gumbel-softmax
        voting (noise in training only: at inference the noise-free softmax
        makes predictions deterministic, unlike the reference code), a linear
        head on both hidden vectors, a gated mixture, or the sum of logits.
    simple_hidden_units : sequence of int, default=(400, 400)
        Simple encoder widths (``hidden_units`` are the complex encoder's).
    simple_encoder, complex_encoder : str, (str, dict) or None, default=None
        A network from the student registry instead of the MLP encoder, e.g.
        ``simple_encoder="deepfm"`` or ``("xdeepfm", {"cin_hidden_units": [16]})``,
        under any ``fusion``: the hidden-vector fusions read the network's
        last hidden vector (see :class:`skctr.nn.students.base.StudentNetwork`).
    alpha : float, default=0.25
        Weight of the simple branch's term in the twin focus loss.
    c : float, default=0.8
        Focus offset in [0, 1]; the complex branch uses ``m = 2 - c``. Values
        above 1 are rejected: the complex factor's base would turn negative.
    gamma : float, default=2.0
        Focusing exponent (0 gives plain BCE on each branch).
    tau : float, default=0.8
        Temperature of the voting fusion.
    {core_parameters}

    Attributes
    ----------
    classes_, encoder_, field_spec_, n_features_in_, feature_names_in_, net_, history_
        As in :class:`KDEFClassifier`.
    batch_size_ : int
        The batch size training used (``batch_size`` with "auto" resolved).
    batch_norm_ : bool
        Whether the networks normalise (``batch_norm`` with "auto" resolved).
    student_scores_ : DataFrame
        Validation AUC and logloss of the fusion ("ensemble") and both branches.
    calibration_ : ndarray of shape (3, 2)
        Scale and shift of the logit of the fusion and of each branch.
    best_student_index_ : int
        0 for the simple branch, 1 for the complex one (better validation AUC).
    best_student_ : StudentClassifier
        That branch as a fitted standalone estimator: its embedding table and
        encoder, plus its part of the selection module under ``ssem`` "gate"
        or "moe" (see :meth:`get_student`).
    prediction_ : str
        What ``predict_proba`` returns: ``"ensemble"``, or the name of the
        member it predicts with (``best_student_``; see ``prediction``).

    Examples
    --------
    >>> from skctr import TF4CTRClassifier, make_ctr
    >>> X, y = make_ctr(n_samples=3000, random_state=0)
    >>> clf = TF4CTRClassifier(hidden_units=(32, 32), simple_hidden_units=(16,), max_epochs=2, random_state=0).fit(X, y)
    >>> list(clf.student_scores_.index)
    ['ensemble', 'simple', 'complex']
    """

    def __init__(
        self,
        ssem="ser",
        fusion="wsf",
        *,
        simple_hidden_units=(400, 400),
        alpha=0.25,
        c=0.8,
        gamma=2.0,
        tau=0.8,
        simple_encoder=None,
        complex_encoder=None,
        prediction="auto",
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
        self.ssem = ssem
        self.fusion = fusion
        self.simple_hidden_units = simple_hidden_units
        self.alpha = alpha
        self.c = c
        self.gamma = gamma
        self.tau = tau
        self.simple_encoder = simple_encoder
        self.complex_encoder = complex_encoder
        self.prediction = prediction
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

    _parameter_constraints = {
        **CORE_CONSTRAINTS,
        **ENSEMBLE_CONSTRAINTS,
        "ssem": [StrOptions(set(SSEM_MODES))],
        "fusion": [StrOptions(set(FUSION_MODES))],
        "simple_hidden_units": [PositiveIntSequence()],
        "simple_encoder": "no_validation",  # a registry spec or None: _check_params
        "complex_encoder": "no_validation",
        "alpha": [interval(Real, 0, 1, "both")],
        # c > 1 would give the complex branch's factor (2 - c - p_t) ** gamma a negative base.
        "c": [interval(Real, 0, 1, "both")],
        "gamma": [non_negative()],
        "tau": [positive(Real)],
    }

    def _check_params(self):
        for name in ("simple_encoder", "complex_encoder"):
            if getattr(self, name) is not None:
                parse_student(getattr(self, name), name)
        if self.ssem == "ser" and self.embedding_dim < 2:
            raise ValueError("embedding_dim must be at least 2 with ssem='ser' (the simple table has embedding_dim // 2).")

    def _member_names(self):
        return ["simple", "complex"]

    def _module_config(self, field_spec, device):
        return TF4CTR, {
            "field_spec": field_spec,
            "embedding_dim": self.embedding_dim,
            "ssem": self.ssem,
            "fusion": self.fusion,
            "simple_hidden_units": tuple(self.simple_hidden_units),
            "complex_hidden_units": tuple(self.hidden_units),
            "dropout": self.dropout,
            "batch_norm": self.batch_norm_,
            "alpha": self.alpha,
            "c": self.c,
            "gamma": self.gamma,
            "tau": self.tau,
            "simple_encoder": self.simple_encoder,
            "complex_encoder": self.complex_encoder,
        }

    def student_modules(self):
        check_is_fitted(self, "net_")
        module = self.net_.module_
        return [("simple", module.simple_encoder), ("complex", module.complex_encoder)]

    def get_student(self, index: int) -> StudentClassifier:
        """Branch ``index`` (0 simple, 1 complex) with what it reads, as a fitted standalone estimator.

        See :meth:`skctr.nn.TF4CTR.branch_as_student`; its predictions equal
        the branch's column of :meth:`predict_proba_students`.
        """
        check_is_fitted(self, "net_")
        embedding, network = self.net_.module_.branch_as_student(index)
        scores, calibration = self.student_scores_.iloc[[index + 1]], self.calibration_[index + 1]
        return student_estimator(self, embedding, network, scores, calibration)
