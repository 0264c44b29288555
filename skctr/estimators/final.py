"""FINALClassifier: the factorized interaction network on its own, 1 block or 2 with self-distillation."""
from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..nn.final_net import FINALNet
from ._base import CTRClassifierBase
from ._docs import fill_doc
from .._validation import PositiveIntSequence, interval
from ._params import CORE_CONSTRAINTS, ENSEMBLE_CONSTRAINTS
from .student import StudentClassifier, student_estimator

GATE_INITS = ("identity", "default")
RESIDUALS = ("concat", "sum")


@fill_doc
class FINALClassifier(CTRClassifierBase):
    """FINAL: factorized interaction layers, a field gate and 2-block self-distillation (FINAL 2B).

    Block 1 reads the field-gated embedding, block 2 the raw one; the
    prediction is sigmoid of the mean of their logits, and each block is also
    trained towards that detached prediction (docs/algorithms.md, "FINAL"). With
    ``blocks=1`` it is FINAL 1B with a plain BCE loss. The defaults
    ``hidden_units=(400, 400)``, ``dropout=0.1`` and ``embedding_l2=0.1`` are
    the tuned BARS FINAL 2B settings on Frappe.

    Parameters
    ----------
    blocks : {2, 1}, default=2
        FINAL 1B or 2B.
    block2_hidden_units : sequence of int, default=(400,)
        Layer widths of block 2 (block 1 uses ``hidden_units``).
    residual : {"concat", "sum"}, default="concat"
        Factorized interaction output ``[h2, h1*h2]`` (same parameters as a
        Linear layer) or ``h2 + h1*h2``.
    field_gate : bool, default=True
        Gate block 1's input with a learned mixing of the fields.
    gate_init : {"identity", "default"}, default="identity"
        ``"identity"`` (W=0, b=1, the authors' intent) or ``"default"``
        (xavier W, zero b, what RecZoo's published runs actually had).
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
        Validation AUC and logloss of the prediction and of each block.
    calibration_ : ndarray of shape (blocks + 1, 2)
        Scale and shift of the logit of the prediction and of each block.
    best_student_index_ : int
        The block (0 or 1) with the better validation AUC.
    best_student_ : StudentClassifier
        That block with the embedding as a fitted one-block FINAL estimator.
    prediction_ : str
        What ``predict_proba`` returns: ``"ensemble"``, or the name of the
        member it predicts with (``best_student_``; see ``prediction``).

    Examples
    --------
    >>> from skctr import FINALClassifier, make_ctr
    >>> X, y = make_ctr(n_samples=3000, random_state=0)
    >>> clf = FINALClassifier(hidden_units=(32, 32), block2_hidden_units=(16,), max_epochs=2, random_state=0).fit(X, y)
    >>> list(clf.student_scores_.index)
    ['ensemble', 'block_1', 'block_2']
    >>> clf.best_student_.predict_proba(X.head(2)).shape
    (2, 2)
    """

    def __init__(
        self,
        blocks=2,
        *,
        block2_hidden_units=(400,),
        residual="concat",
        field_gate=True,
        gate_init="identity",
        prediction="auto",
        embedding_dim=16,
        hidden_units=(400, 400),
        dropout=0.1,
        batch_norm="auto",
        lr=1e-3,
        batch_size="auto",
        max_epochs=100,
        patience=3,
        embedding_l2=0.1,
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
        self.blocks = blocks
        self.block2_hidden_units = block2_hidden_units
        self.residual = residual
        self.field_gate = field_gate
        self.gate_init = gate_init
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
        "blocks": [interval(Integral, 1, 2, "both")],
        "block2_hidden_units": [PositiveIntSequence()],
        "residual": [StrOptions(set(RESIDUALS))],
        "field_gate": ["boolean"],
        "gate_init": [StrOptions(set(GATE_INITS))],
    }

    def _check_params(self):
        if self.residual == "concat":
            for name, units in (("hidden_units", self.hidden_units), ("block2_hidden_units", self.block2_hidden_units)):
                if any(u % 2 for u in units):
                    raise ValueError(f"{name} must hold even widths with residual='concat', got {tuple(units)}.")

    def _member_names(self):
        return ["block_1", "block_2"][: self.blocks]

    def _module_config(self, field_spec, device):
        params = {
            "hidden_units": tuple(self.hidden_units),
            "dropout": self.dropout,
            "batch_norm": self.batch_norm_,
            "residual": self.residual,
            "field_gate": self.field_gate,
            "gate_init": self.gate_init,
            "blocks": self.blocks,
            "block2_hidden_units": tuple(self.block2_hidden_units),
        }
        return FINALNet, {"field_spec": field_spec, "embedding_dim": self.embedding_dim, "final_params": params}

    def student_modules(self):
        check_is_fitted(self, "net_")
        return [("final", self.net_.module_.final)]

    def get_student(self, index: int) -> StudentClassifier:
        """Block ``index`` (0 or 1) with the embedding, as a fitted standalone estimator."""
        check_is_fitted(self, "net_")
        if not 0 <= index < self.blocks:
            raise IndexError(f"index must be in [0, {self.blocks}), got {index}.")
        module = self.net_.module_
        scores = self.student_scores_.iloc[[index + 1]]
        return student_estimator(self, module.embedding, module.block_as_student(index), scores, self.calibration_[index + 1])
