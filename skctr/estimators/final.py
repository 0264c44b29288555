"""FINALClassifier: the factorized interaction network on its own, 1 block or 2 with self-distillation."""
from __future__ import annotations

import warnings
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
#: Block 2's widths by default; any other value with ``blocks=1`` warns, since only block 2 reads it.
BLOCK2_HIDDEN_UNITS = (400,)


@fill_doc
class FINALClassifier(CTRClassifierBase):
    """FINAL: factorized interaction layers on a field-gated embedding (FINAL 1B), or two blocks with self-distillation.

    Block 1 reads the field-gated embedding and is trained with a plain BCE
    loss. With ``blocks=2`` (FINAL 2B) a second block reads the raw embedding,
    the prediction is sigmoid of the mean of the two logits, and each block is
    also trained towards that detached prediction (docs/algorithms.md,
    "FINAL"). One block is the default because the two-block self-distillation
    loses on id-heavy data: on MovieLens in the ML-1M form it scores 0.8567
    test AUC against one block's 0.8761 (3 seeds; docs/defaults.md, "Why
    FINAL trains one block"). ``hidden_units=(400, 400)``, ``dropout=0.1``
    and ``embedding_l2=0.1`` are the BARS FINAL settings on Frappe.

    Parameters
    ----------
    blocks : {1, 2}, default=1
        FINAL 1B, or 2B (two blocks with self-distillation).
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
    >>> clf = FINALClassifier(blocks=2, hidden_units=(32, 32), block2_hidden_units=(16,), max_epochs=2, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> list(clf.student_scores_.index)
    ['ensemble', 'block_1', 'block_2']
    >>> clf.best_student_.predict_proba(X.head(2)).shape
    (2, 2)
    """

    def __init__(
        self,
        blocks=1,
        *,
        block2_hidden_units=BLOCK2_HIDDEN_UNITS,
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
        if self.blocks == 1 and tuple(self.block2_hidden_units) != BLOCK2_HIDDEN_UNITS:
            warnings.warn(
                f"block2_hidden_units={tuple(self.block2_hidden_units)} has no effect with blocks=1 (the default); "
                "set blocks=2 to train the second block.", UserWarning, stacklevel=3,
            )
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
