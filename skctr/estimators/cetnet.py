"""CETNetClassifier: the collaborative ensemble as a scikit-learn classifier."""
from __future__ import annotations

from collections import Counter
from numbers import Real

from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..nn.cetnet import CETNET_FUSIONS, CETNet
from ..nn.students import parse_student
from ._base import CTRClassifierBase
from ._docs import fill_doc
from .._validation import non_negative, positive
from ._params import CORE_CONSTRAINTS, ENSEMBLE_CONSTRAINTS
from .student import StudentClassifier, student_estimator

#: Default components: Meta's pair from the paper when there is a behaviour history, two tabular networks otherwise.
SEQUENCE_COMPONENTS = ("interformer", "dhen")
TABULAR_COMPONENTS = ("dcnv2", "final")


@fill_doc
class CETNetClassifier(CTRClassifierBase):
    """Collaborative ensemble (CETNet) of heterogeneous networks, each with its own embedding table.

    Every component network reads its own field embedding table (the
    multi-embedding paradigm) and gives a hidden vector and a logit. The
    confidence-based fusion weighs each component's hidden vector by a softmax
    over its negative prediction entropy (detached), concatenates them and
    reads the prediction out linearly. Training minimises the BCE of the fused
    prediction plus the BCE of every component plus ``kl_weight`` times a
    symmetric KL divergence between every pair of components' predictions, so
    the components learn together instead of one dominating. See
    docs/algorithms.md ("CETNet") and the CETNet paper.

    Parameters
    ----------
    components : list of str or (str, dict), or None, default=None
        The component networks by registry name, optionally with their own
        parameters, e.g. ``["din", ("dhen", {"num_layers": 3})]``. None picks
        ``["interformer", "dhen"]`` (the paper's best pair) when the data has
        a behaviour history (a sequence field with a ``target``: the user's
        earlier items, sharing the candidate item's vocabulary) and
        ``["dcnv2", "final"]`` otherwise, multi-valued attributes such as a
        genre list included.
    fusion : {"confidence", "concat", "sum", "mean"}, default="confidence"
        How hidden vectors are combined before the readout: confidence-weighted
        concatenation (the paper), plain concatenation, or the sum or mean
        (components of equal hidden width only; the paper's alternatives).
    temperature : float, default=1.0
        Temperature of the softmax over confidences; the paper's equations use 1.
    stop_gradient : bool, default=True
        Detach the confidences from the graph, as the paper does (False is its ablation).
    kl_weight : float, default=0.1
        Weight of the symmetric KL term (the paper's grid is 0.1, 0.5, 1).
    kl_reduction : {"mean", "sum"}, default="mean"
        Reduction of the KL term over the batch: ``"sum"`` is the paper's
        literal formula (its BCE terms are means, so the KL weighs about
        ``batch_size`` times more), ``"mean"`` puts it on the BCE terms' scale.
    shared_embedding : bool, default=False
        One embedding table read by every component (the paper's single-embedding ablation).
    {core_parameters}

    Attributes
    ----------
    classes_, encoder_, field_spec_, n_features_in_, feature_names_in_, net_, history_
        As in :class:`KDEFClassifier`.
    components_ : list of (str, dict)
        The component networks used (resolved from ``components``).
    batch_size_ : int
        The batch size training used (``batch_size`` with "auto" resolved).
    batch_norm_ : bool
        Whether the networks normalise (``batch_norm`` with "auto" resolved).
    student_scores_ : DataFrame
        Validation AUC and logloss of the fusion ("ensemble") and of every
        component; with ``groups`` in ``fit`` also the validation gAUC.
    calibration_ : ndarray of shape (n_components + 1, 2)
        Scale and shift of the logit of the fusion and of each component.
    best_student_index_ : int
        Index of the component with the best validation AUC.
    best_student_ : StudentClassifier
        That component with its own embedding table, a fitted standalone
        estimator for cheap serving.
    prediction_ : str
        What ``predict_proba`` returns: ``"ensemble"``, or the name of the
        member it predicts with (``best_student_``; see ``prediction``).

    Notes
    -----
    The paper writes its KL term as a sum over the samples while its BCE
    terms are batch means; ``kl_reduction`` offers both (``"sum"`` is the
    literal formula) and the default was chosen by measuring the paper's grid
    of ``kl_weight`` with each (docs/cetnet_kl_frappe.md,
    docs/cetnet_kl_movielens.md): the literal sum over-couples the
    components, loses AUC on Frappe at every weight and is unstable on
    MovieLens, so the default is the batch mean. Where the paper is silent, this
    implementation chooses: temperature 1; KL targets not detached, so both
    components of a pair move towards each other; the KL summed over pairs
    with the paper's factor 1/2; ``h_k`` is each component's last hidden
    vector (what its own logit layer reads), so a component's logit and the
    fusion read the same representation. Each table is ``embedding_dim``
    wide; the paper gives each component half the single-model width, i.e.
    ``embedding_dim=8`` against 16. docs/algorithms.md ("CETNet") lists every
    point.

    Examples
    --------
    >>> from skctr import CETNetClassifier, make_ctr
    >>> X, y = make_ctr(n_samples=3000, random_state=0)
    >>> clf = CETNetClassifier(components=["mlp", "pnn"], hidden_units=(32,), max_epochs=2, random_state=0).fit(X, y)
    >>> list(clf.student_scores_.index)
    ['ensemble', 'mlp', 'pnn']
    """

    def __init__(
        self,
        components=None,
        *,
        fusion="confidence",
        temperature=1.0,
        stop_gradient=True,
        kl_weight=0.1,
        kl_reduction="mean",
        shared_embedding=False,
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
        self.components = components
        self.fusion = fusion
        self.temperature = temperature
        self.stop_gradient = stop_gradient
        self.kl_weight = kl_weight
        self.kl_reduction = kl_reduction
        self.shared_embedding = shared_embedding
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
        "components": [None, list, tuple],
        "fusion": [StrOptions(set(CETNET_FUSIONS))],
        "temperature": [positive(Real)],
        "stop_gradient": ["boolean"],
        "kl_weight": [non_negative()],
        "kl_reduction": [StrOptions({"mean", "sum"})],
        "shared_embedding": ["boolean"],
    }

    def _check_params(self):
        if self.components is not None:
            if not self.components:
                raise ValueError("components must be None or a non-empty list of registry names or (name, params) pairs, got [].")
            for spec in self.components:
                parse_student(spec, "components")

    def _resolve_components(self, field_spec) -> list:
        if self.components is not None:
            return [parse_student(spec, "components") for spec in self.components]
        # A behaviour history is a sequence of the candidate's own ids; a multi-valued attribute (genres) is not.
        has_history = any(field.kind == "sequence" and field.target is not None for field in field_spec)
        return [parse_student(name) for name in (SEQUENCE_COMPONENTS if has_history else TABULAR_COMPONENTS)]

    def _member_names(self):
        names = [name for name, _ in self.components_]
        counts = Counter(names)
        return [f"{name}_{k}" if counts[name] > 1 else name for k, name in enumerate(names)]

    def _module_config(self, field_spec, device):
        self.components_ = self._resolve_components(field_spec)
        return CETNet, {
            "field_spec": field_spec,
            "embedding_dim": self.embedding_dim,
            "components": self.components_,
            "shared_params": self._shared_params(),
            "fusion": self.fusion,
            "temperature": self.temperature,
            "stop_gradient": self.stop_gradient,
            "kl_weight": self.kl_weight,
            "kl_reduction": self.kl_reduction,
            "shared_embedding": self.shared_embedding,
        }

    def get_student(self, index: int) -> StudentClassifier:
        """Component ``index`` with its own embedding table, as a fitted standalone estimator."""
        check_is_fitted(self, "net_")
        module = self.net_.module_
        if not 0 <= index < len(module.components):
            raise IndexError(f"index must be in [0, {len(module.components)}), got {index}.")
        scores = self.student_scores_.iloc[[index + 1]]
        return student_estimator(self, module.embedding_of(index), module.components[index], scores, self.calibration_[index + 1])

    def student_modules(self):
        check_is_fitted(self, "net_")
        return list(zip(self._member_names(), self.net_.module_.components))
